// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The L7 proxy's plans (proxy_int.h): which VSs the proxy serves,
 * compiling an immutable, reference-counted picture of them from the
 * configuration and the health verdicts (main thread), its lookups, and
 * the registries of the state that outlives plans (l7_sched, l7_rs_state,
 * l7_vs_state: created on first sight, freed only at exit).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy_int.h"
#include "uapi/linux/exlb.h"

/* ---- which VSs the proxy serves ---- */

bool exlb_proxy_serves(const struct exlb_config *cfg,
		       const struct exlb_service *svc)
{
	if (exlb_service_is_subvs(svc) || !svc->enable)
		return false;
	/* fail closed: a VS held with EspEnabled=1 serves nothing */
	if (exlb_vs_refused(cfg, svc))
		return false;
	if (exlb_service_is_kernel_served(cfg, svc))
		return false;
	/* an SMTP VS with ESP: the mail proxy reads its RCPT TO (docs/esp.md) */
	if (svc->vstype == EXLB_VSTYPE_GEN && svc->esp_enabled &&
	    !svc->ssl_acceleration)
		return true;
	return svc->vstype == EXLB_VSTYPE_HTTP ||
	       svc->vstype == EXLB_VSTYPE_HTTP2 ||
	       svc->vstype == EXLB_VSTYPE_TLS ||
	       (svc->vstype == EXLB_VSTYPE_GEN && svc->ssl_acceleration);
}

/* ---- state that outlives plans (main thread creates, frees at exit) ---- */

static struct l7_sched *sched_state(struct exlb_proxy *p, uint32_t id)
{
	struct l7_sched *s;

	for (s = p->scheds; s; s = s->next)
		if (s->service_id == id)
			return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->service_id = id;
	pthread_mutex_init(&s->lock, NULL);
	s->next = p->scheds;
	p->scheds = s;
	return s;
}

static struct l7_rs_state *rs_state(struct exlb_proxy *p, uint32_t id)
{
	struct l7_rs_state *s;

	for (s = p->rs_states; s; s = s->next)
		if (s->rs_id == id)
			return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->rs_id = id;
	s->next = p->rs_states;
	p->rs_states = s;
	return s;
}

static struct l7_vs_state *vs_state(struct exlb_proxy *p, uint32_t id)
{
	struct l7_vs_state *s;

	for (s = p->vs_states; s; s = s->next)
		if (s->vs_id == id)
			return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->vs_id = id;
	s->next = p->vs_states;
	p->vs_states = s;
	return s;
}

void l7_states_free(struct exlb_proxy *p)
{
	while (p->scheds) {
		struct l7_sched *s = p->scheds;

		p->scheds = s->next;
		l7_persist_free(s->persist);
		pthread_mutex_destroy(&s->lock);
		free(s);
	}
	while (p->rs_states) {
		struct l7_rs_state *s = p->rs_states;

		p->rs_states = s->next;
		free(s);
	}
	while (p->vs_states) {
		struct l7_vs_state *s = p->vs_states;

		p->vs_states = s->next;
		free(s);
	}
}

/* ---- plans ---- */

/* What a plan's VS holds (not the VS itself). */
static void vs_release(struct l7_vs *vs)
{
	if (vs->tls)
		exlb_tls_vs_put(vs->tls);
	for (size_t r = 0; r < vs->nr_req_rules; r++)
		exlb_content_rule_free(vs->req_rules[r]);
	for (size_t r = 0; r < vs->nr_resp_rules; r++)
		exlb_content_rule_free(vs->resp_rules[r]);
	free(vs->req_rules);
	free(vs->resp_rules);
	/* a VS whose build failed half-way counts its SubVSs in nr_subvs */
	for (size_t s = 0; vs->subvs && s < vs->nr_subvs; s++) {
		for (size_t r = 0; r < vs->subvs[s].nr_rules; r++)
			exlb_content_rule_free(vs->subvs[s].rules[r]);
		free(vs->subvs[s].rules);
		free(vs->subvs[s].rs);
		if (vs->subvs[s].esp != vs->esp)
			esp_gate_free(vs->subvs[s].esp);
	}
	free(vs->subvs);
	esp_gate_free(vs->esp);
	memset(vs, 0, sizeof(*vs));
}

static void plan_free(struct l7_plan *p)
{
	for (size_t i = 0; i < p->nr_vs; i++)
		vs_release(&p->vs[i]);
	free(p->vs);
	free(p);
}

void l7_plan_get(struct l7_plan *p)
{
	atomic_fetch_add(&p->refs, 1);
}

void l7_plan_put(struct l7_plan *p)
{
	if (p && atomic_fetch_sub(&p->refs, 1) == 1)
		plan_free(p);
}

struct l7_vs *l7_plan_vs(struct l7_plan *p, uint32_t vs_id)
{
	for (size_t i = 0; p && i < p->nr_vs; i++)
		if (p->vs[i].id == vs_id)
			return &p->vs[i];
	return NULL;
}

struct l7_rs *l7_plan_rs(struct l7_plan *p, uint32_t vs_id, uint32_t rs_id)
{
	struct l7_vs *vs = l7_plan_vs(p, vs_id);

	for (size_t s = 0; vs && s < vs->nr_subvs; s++)
		for (size_t r = 0; r < vs->subvs[s].nr_rs; r++)
			if (vs->subvs[s].rs[r].id == rs_id)
				return &vs->subvs[s].rs[r];
	return NULL;
}

static void to_sockaddr(const struct exlb_addr *a, unsigned int port,
			struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = a->u.v6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_addr = a->u.v4;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
	}
}

/* Compiles the named rules; rules that do not exist or compile are logged and skipped. */
static int compile_rules(const struct exlb_config *cfg, const char (*names)[EXLB_RULE_NAME_SIZE],
			 unsigned int n, struct exlb_content_rule ***out, size_t *nr)
{
	struct exlb_err err;

	*nr = 0;
	*out = calloc(n ? n : 1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (unsigned int i = 0; i < n; i++) {
		const struct exlb_rule *rule = exlb_rule_find(cfg, names[i]);
		struct exlb_content_rule *c;

		if (!rule)
			continue;
		c = exlb_content_rule_compile(rule, &err);
		if (!c) {
			exlb_log(LOG_ERR, "proxy: rule %s: %s", rule->name, err.msg);
			continue;
		}
		(*out)[(*nr)++] = c;
	}
	return 0;
}

static int build_subvs(struct exlb_proxy *p, const struct exlb_config *cfg,
		       const struct exlb_runtime *rt, const struct exlb_service *svc,
		       struct l7_subvs *sv)
{
	size_t n = exlb_service_nr_rs(cfg, svc->id);
	struct exlb_health_timing timing;

	sv->id = svc->id;
	exlb_service_label(svc, sv->name, sizeof(sv->name));
	sv->schedule = svc->schedule;
	sv->persist = svc->persist;
	sv->persist_timeout = svc->persist_timeout;
	sv->persist_mask = svc->persist_mask;
	exlb_service_health_timing(cfg, svc, &timing);
	sv->connect_s = timing.retry_timeout ? timing.retry_timeout : 4;
	sv->sched = sched_state(p, svc->id);
	sv->rs = calloc(n ? n : 1, sizeof(*sv->rs));
	if (!sv->rs || !sv->sched)
		return -ENOMEM;
	l7_persist_configure(sv->sched, sv->persist == EXLB_PERSIST_SRC &&
			     sv->persist_timeout, sv->persist_timeout);
	for (size_t i = 0; i < cfg->nr_reals; i++) {
		const struct exlb_rs *rs = &cfg->reals[i];
		const struct exlb_rs_runtime *r;
		struct l7_rs *l = &sv->rs[sv->nr_rs];

		if (rs->service_id != svc->id)
			continue;
		l->id = rs->id;
		to_sockaddr(&rs->addr, rs->port, &l->addr, &l->addrlen);
		exlb_addr_port_format(&rs->addr, rs->port, l->label, sizeof(l->label));
		l->weight = rs->weight;
		l->limit = rs->limit;
		l->serving = exlb_rs_is_serving(cfg, rt, rs);
		r = exlb_runtime_rs_peek(rt, rs->id);
		l->failed = svc->check_type != EXLB_CHECKTYPE_NONE && r &&
			    r->health == EXLB_HEALTH_DOWN;
		l->draining = !rs->enable;
		l->st = rs_state(p, rs->id);
		if (!l->st)
			return -ENOMEM;
		/* passive health: a down RS starts counting afresh when it is back */
		if (l->failed)
			atomic_store(&l->st->connect_fails, 0);
		/* the drain time (finalpersist) counts from the disable */
		if (!l->draining)
			atomic_store(&l->st->drain_since_ms, 0);
		else if (!atomic_load(&l->st->drain_since_ms))
			atomic_store(&l->st->drain_since_ms, l7_now_ms());
		sv->nr_rs++;
	}
	return 0;
}

static int build_vs(struct exlb_proxy *p, const struct exlb_config *cfg,
		    const struct exlb_runtime *rt, const struct exlb_service *svc,
		    struct l7_vs *vs)
{
	const struct exlb_globals *g = &cfg->globals;
	struct exlb_err err;
	size_t nsub = exlb_service_nr_subvs(cfg, svc->id);
	unsigned int fwd;
	bool esp_err = false;

	vs->id = svc->id;
	exlb_service_describe(cfg, svc, vs->name, sizeof(vs->name));
	vs->kind = svc->vstype == EXLB_VSTYPE_GEN ? L7_VS_TUNNEL :
		   svc->vstype == EXLB_VSTYPE_TLS ? L7_VS_STARTTLS : L7_VS_HTTP;
	vs->starttls_mode = svc->starttls_mode;
	vs->server_init = svc->server_init;
	if (svc->vstype == EXLB_VSTYPE_GEN && svc->esp_enabled) {
		/* SMTP with ESP (port 25, no TLS: esp_settings_enforced()) */
		vs->kind = L7_VS_STARTTLS;
		vs->starttls_mode = 1;
	}
	vs->esp = esp_gate_new(svc, exlb_sso_find(cfg, svc->sso_domain),
			       &esp_err);
	if (esp_err)
		return -ENOMEM;
	to_sockaddr(&svc->vip, svc->port, &vs->vip, &vs->viplen);
	if (svc->ssl_acceleration) {
		vs->tls = exlb_tls_vs_get(p->tls, cfg, svc, &err);
		if (!vs->tls) {
			exlb_log(LOG_ERR, "proxy: %s (id %u): TLS: %s", vs->name, svc->id,
				 err.msg);
			return -EINVAL;
		}
		vs->reencrypt = svc->ssl_reencrypt;
	}
	vs->error_code = svc->error_code;
	snprintf(vs->error_url, sizeof(vs->error_url), "%s", svc->error_url);
	vs->idle_s = svc->idletime ? svc->idletime :
		     (g->conntimeout ? g->conntimeout : 660);
	vs->max_conns = svc->max_conns;
	vs->st = vs_state(p, svc->id);
	if (!vs->st)
		return -ENOMEM;

	/*
	 * The VS's AddVia picks the headers when set; else the global
	 * addforwardheader (0 X-ClientSide, 1 X-Forwarded-For, 2 none).
	 */
	fwd = svc->add_via;
	switch (fwd) {
	case 1:
		vs->fwd.x_forwarded_for = vs->fwd.via = true;
		break;
	case 2:
		break;
	case 3:
		vs->fwd.x_clientside = vs->fwd.via = true;
		break;
	case 4:
		vs->fwd.x_clientside = true;
		break;
	case 5:
		vs->fwd.x_forwarded_for = true;
		break;
	case 6:
		vs->fwd.via = true;
		break;
	default:	/* 0: legacy, follows the global */
		vs->fwd.x_forwarded_for = g->addforwardheader == 1;
		vs->fwd.x_clientside = g->addforwardheader == 0;
		break;
	}
	vs->fwd.expect100 = g->expect100;

	if (compile_rules(cfg, svc->request_rules, svc->nr_request_rules,
			  &vs->req_rules, &vs->nr_req_rules) ||
	    compile_rules(cfg, svc->response_rules, svc->nr_response_rules,
			  &vs->resp_rules, &vs->nr_resp_rules))
		return -ENOMEM;

	vs->has_subvs = nsub > 0;
	vs->subvs = calloc(nsub ? nsub : 1, sizeof(*vs->subvs));
	if (!vs->subvs)
		return -ENOMEM;
	vs->esp_any = vs->esp;
	if (!nsub) {
		vs->nr_subvs = 1;
		vs->subvs[0].esp = vs->esp;
		return build_subvs(p, cfg, rt, svc, &vs->subvs[0]);
	}
	for (size_t i = 0; i < cfg->nr_services; i++) {
		const struct exlb_service *sub = &cfg->services[i];
		struct l7_subvs *sv;

		if (sub->parent_id != svc->id)
			continue;
		sv = &vs->subvs[vs->nr_subvs++];
		sv->esp = esp_gate_new(sub, exlb_sso_find(cfg, sub->sso_domain),
				       &esp_err);
		if (esp_err || build_subvs(p, cfg, rt, sub, sv))
			return -ENOMEM;
		if (!vs->esp_any)
			vs->esp_any = sv->esp;
		if (!sub->enable)	/* a disabled SubVS takes nothing */
			sv->nr_rs = 0;
		if (compile_rules(cfg, sub->rules, sub->nr_rules, &sv->rules,
				  &sv->nr_rules))
			return -ENOMEM;
	}
	return 0;
}

struct l7_plan *l7_plan_build(struct exlb_proxy *p, const struct exlb_config *cfg,
			      const struct exlb_runtime *rt)
{
	struct l7_plan *plan = calloc(1, sizeof(*plan));
	size_t n = 0;

	if (!plan)
		return NULL;
	atomic_init(&plan->refs, 1);
	plan->generation = ++p->generation;
	plan->droponfail = cfg->globals.droponfail;
	plan->dropatdrainend = cfg->globals.dropatdrainend;
	plan->finalpersist = cfg->globals.finalpersist;
	for (size_t i = 0; i < cfg->nr_services; i++)
		n += exlb_proxy_serves(cfg, &cfg->services[i]);
	plan->vs = calloc(n ? n : 1, sizeof(*plan->vs));
	if (!plan->vs) {
		free(plan);
		return NULL;
	}
	for (size_t i = 0; i < cfg->nr_services; i++) {
		const struct exlb_service *svc = &cfg->services[i];
		struct l7_vs *vs = &plan->vs[plan->nr_vs];
		int err;

		if (!exlb_proxy_serves(cfg, svc))
			continue;
		err = build_vs(p, cfg, rt, svc, vs);
		if (err == -ENOMEM) {
			plan->nr_vs++;	/* free what it holds */
			l7_plan_put(plan);
			return NULL;
		}
		if (err) {
			/* this VS does not serve; the others do */
			vs_release(vs);
			continue;
		}
		plan->nr_vs++;
	}
	return plan;
}

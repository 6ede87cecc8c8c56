// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The whole-configuration check (exlb_config_check(), see config.h): the
 * rules between parameters, objects and files that no single operation can
 * see, run on every candidate configuration before it is written and made
 * current, and on the state file at start-up. A rule's own pattern is
 * rule_compile.c's, a VS's TLSType and CipherSet tls_proto.c's.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "uapi/linux/exlb.h"
#include "config.h"
#include "config_int.h"
#include "params.h"
#include "rule_compile.h"
#include "tls_proto.h"

/* A VS's TLS side: certificates, cipher set, re-encryption, header rules. */
static int check_vs_tls(const struct exlb_config *cfg,
			const struct exlb_service *svc, const char *label,
			struct exlb_err *err)
{
	char names[EXLB_VS_MAX_CERTS][EXLB_CERT_NAME_SIZE];
	size_t n = exlb_service_cert_names(svc, names, EXLB_VS_MAX_CERTS);
	char why[256];

	for (size_t i = 0; i < n; i++)
		if (!exlb_cert_find(cfg, names[i]))
			return exlb_err_set(err,
					    "VS %s: CertFile: no certificate named '%s' (exlbctl cert add)",
					    label, names[i]);
	if (!exlb_tls_cipher_set_check(svc->cipher_set, why, sizeof(why)))
		return exlb_err_set(err, "VS %s: CipherSet: %s (got '%s')", label,
				    why, svc->cipher_set);
	/*
	 * TLSType and CipherSet together, on every VS (also before
	 * SSLAcceleration is switched on): the protocol side of a context,
	 * built as the proxy builds it, and OpenSSL's word on whether any
	 * version can handshake (tls_proto.c).
	 */
	if (!exlb_tls_versions_check(svc->tls_type, svc->cipher_set, why,
				     sizeof(why)))
		return exlb_err_set(err, "VS %s: %s", label, why);
	if (svc->reencrypt_verify && !svc->ssl_reencrypt)
		return exlb_err_set(err,
				    "VS %s: ReencryptVerify: needs SSLReencrypt=1",
				    label);
	if (svc->reencrypt_verify && !svc->reverse_sni[0])
		return exlb_err_set(err,
				    "VS %s: ReencryptVerify: needs ReverseSNIHostname, the name the RS certificate must carry",
				    label);
	for (int l = 0; l < 2; l++) {
		unsigned int nr = l ? svc->nr_response_rules : svc->nr_request_rules;
		const char (*list)[EXLB_RULE_NAME_SIZE] =
			l ? svc->response_rules : svc->request_rules;

		for (unsigned int r = 0; r < nr; r++) {
			const struct exlb_rule *rule = exlb_rule_find(cfg, list[r]);

			if (!rule)
				return exlb_err_set(err, "VS %s: no rule named '%s'",
						    label, list[r]);
			if (rule->type == EXLB_RULE_MATCH)
				return exlb_err_set(err,
						    "VS %s: rule '%s' is a content rule, not a header rule (%s rules)",
						    label, list[r],
						    l ? "response" : "request");
		}
	}
	return 0;
}

/*
 * A security setting exlb does not enforce (EspEnabled=1 with settings
 * outside esp_settings_enforced()) is refused, never stored and ignored;
 * only a service held from exlbd's own older state file keeps it, and
 * serves nothing (exlb_vs_refused()).
 */
static int check_refused(const struct exlb_config *cfg,
			 const struct exlb_service *svc, const char *label,
			 struct exlb_err *err)
{
	char why[EXLB_ERR_SIZE - 64];

	if (svc->held || !exlb_service_refused(cfg, svc, why, sizeof(why)))
		return 0;
	return exlb_err_set(err, "%s %s: %s",
			    exlb_service_is_subvs(svc) ? "SubVS" : "VS", label, why);
}

/*
 * ESP on: the SSO domain the service names (Domain) must exist, and a
 * service that logs users on (InputAuthMode basic or form) must name one.
 */
static int check_esp_domain(const struct exlb_config *cfg,
			    const struct exlb_service *svc, const char *label,
			    struct exlb_err *err)
{
	const char *kind = exlb_service_is_subvs(svc) ? "SubVS" : "VS";

	if (!svc->esp_enabled || svc->held)
		return 0;
	if (svc->sso_domain[0] && !exlb_sso_find(cfg, svc->sso_domain))
		return exlb_err_set(err,
				    "%s %s: Domain: no SSO domain named '%s' (exlbctl sso add)",
				    kind, label, svc->sso_domain);
	if (!svc->sso_domain[0] &&
	    (svc->input_auth_mode == 1 || svc->input_auth_mode == 2))
		return exlb_err_set(err,
				    "%s %s: Domain: InputAuthMode %u logs users on against an SSO domain: name one (exlbctl sso add)",
				    kind, label, svc->input_auth_mode);
	return 0;
}

/* A service account needs its password and where to search. */
static int check_sso(const struct exlb_config *cfg, struct exlb_err *err)
{
	for (size_t i = 0; i < cfg->nr_sso; i++) {
		const struct exlb_sso_domain *d = &cfg->sso[i];
		char why[128];

		if (!exlb_check_cert_name(d->name, why, sizeof(why)))
			return exlb_err_set(err, "SSO domain name: %s (got '%s')",
					    why, d->name);
		for (size_t j = 0; j < i; j++)
			if (!strcasecmp(d->name, cfg->sso[j].name))
				return exlb_err_set(err, "SSO domain '%s' defined twice",
						    d->name);
		if (d->adminuser[0] && (!d->adminpass[0] || !d->ldap_base[0]))
			return exlb_err_set(err,
					    "SSO domain %s: adminuser (a service account that searches for users) needs adminpass and ldap_base",
					    d->name);
		if (!d->adminuser[0] && d->adminpass[0])
			return exlb_err_set(err,
					    "SSO domain %s: adminpass without adminuser",
					    d->name);
	}
	return 0;
}

/*
 * A VS's own AltSourceAddrs (Kemp's connection scaling): only with
 * localbind=1, on a VS exlb.ko serves, not Transparent, every address of
 * the VIP's family. Whether they are local is the kernel's check.
 */
static int check_alt_source(const struct exlb_config *cfg,
			    const struct exlb_service *svc, const char *label,
			    struct exlb_err *err)
{
	uint8_t addrs[EXLB_MAX_ALT_SOURCE_ADDRS][16];
	char why[128];
	int n, all;

	if (!cfg->globals.localbind)
		return exlb_err_set(err,
				    "VS %s: AltSourceAddrs: needs localbind=1 (connection scaling over 64K)",
				    label);
	if (svc->transparent)
		return exlb_err_set(err,
				    "VS %s: AltSourceAddrs: the RS sees the client with Transparent=1; set one or the other",
				    label);
	if (!exlb_service_is_kernel_served(cfg, svc))
		return exlb_err_set(err,
				    "VS %s: AltSourceAddrs: only for VSs exlb.ko serves (L4); the proxy connects from the host's own addresses",
				    label);
	all = exlb_alt_source_parse(svc->alt_source_addrs, AF_UNSPEC, addrs,
				    EXLB_MAX_ALT_SOURCE_ADDRS, why, sizeof(why));
	n = exlb_alt_source_parse(svc->alt_source_addrs, svc->vip.family,
				  addrs, EXLB_MAX_ALT_SOURCE_ADDRS, why,
				  sizeof(why));
	if (all < 0 || n < 0)
		return exlb_err_set(err, "VS %s: AltSourceAddrs: %s", label, why);
	if (n != all)
		return exlb_err_set(err,
				    "VS %s: AltSourceAddrs: every address must be of the VIP's family",
				    label);
	return 0;
}

static int check_service(const struct exlb_config *cfg,
			 const struct exlb_service *svc, struct exlb_err *err)
{
	const struct exlb_service *vs = svc;
	struct exlb_health_timing timing;
	char label[EXLB_NICKNAME_SIZE];

	exlb_service_label(svc, label, sizeof(label));
	if (check_refused(cfg, svc, label, err) ||
	    check_esp_domain(cfg, svc, label, err))
		return -1;
	if (exlb_service_is_subvs(svc)) {
		vs = exlb_service_by_id(cfg, svc->parent_id);
		if (!vs || exlb_service_is_subvs(vs))
			return exlb_err_set(err, "SubVS %s: its VS %u does not exist",
					    label, svc->parent_id);
		for (unsigned int r = 0; r < svc->nr_rules; r++) {
			const struct exlb_rule *rule =
				exlb_rule_find(cfg, svc->rules[r]);

			if (!rule)
				return exlb_err_set(err, "SubVS %s: no rule named '%s'",
						    label, svc->rules[r]);
			if (rule->type != EXLB_RULE_MATCH)
				return exlb_err_set(err,
						    "SubVS %s: rule '%s' is a header rule: only content rules select a SubVS",
						    label, svc->rules[r]);
		}
		if (svc->nr_request_rules || svc->nr_response_rules)
			return exlb_err_set(err,
					    "SubVS %s: header rules belong to its VS",
					    label);
	} else {
		if (!svc->vip.family || svc->port < 1 || svc->port > 65535)
			return exlb_err_set(err, "VS %u: needs a VIP and a port",
					    svc->id);
		if (svc->nr_rules)
			return exlb_err_set(err,
					    "VS %s: content rules select SubVSs, not VSs",
					    label);
		if (svc->vstype == EXLB_VSTYPE_TLS && !svc->starttls_mode)
			return exlb_err_set(err,
					    "VS %s: StartTLSMode: VStype tls needs one of 1 (smtp), 2 (smtp-always), 3 (ftp), 4 (imap), 6 (pop3)",
					    label);
		if (svc->vstype != EXLB_VSTYPE_TLS && svc->starttls_mode)
			return exlb_err_set(err,
					    "VS %s: StartTLSMode: only with VStype tls",
					    label);
		if (svc->ssl_reencrypt && !svc->ssl_acceleration)
			return exlb_err_set(err,
					    "VS %s: SSLReencrypt: needs SSLAcceleration=1",
					    label);
		/* the header only means something over TLS: not stored unused */
		if (svc->hsts && !svc->ssl_acceleration)
			return exlb_err_set(err,
					    "VS %s: StrictTransportSecurity: needs SSLAcceleration=1 (sent on TLS responses only)",
					    label);
		if (check_vs_tls(cfg, svc, label, err))
			return -1;
		if (svc->max_conns && exlb_service_is_kernel_served(cfg, svc))
			return exlb_err_set(err,
					    "VS %s: MaxConnsLimit: exlb.ko serves this VS and has no per-VS connection limit yet; limit its real servers (limit=N) instead",
					    label);
		if (svc->alt_source_addrs[0] &&
		    check_alt_source(cfg, svc, label, err))
			return -1;
		if (exlb_service_nr_subvs(cfg, svc->id) &&
		    exlb_service_nr_rs(cfg, svc->id))
			return exlb_err_set(err,
					    "VS %s: has SubVSs and real servers of its own",
					    label);
	}
	if (vs->vip.family == AF_INET && svc->persist_mask > 32)
		return exlb_err_set(err,
				    "%s: PersistMask: must be 0-32 for an IPv4 VS (got %u)",
				    label, svc->persist_mask);
	exlb_service_health_timing(cfg, svc, &timing);
	if (timing.retry_timeout >= timing.retry_interval)
		return exlb_err_set(err,
				    "%s: Timeout: must be less than RetryInterval (%u, %s), a check must end before the next (got %u, %s)",
				    label, timing.retry_interval,
				    timing.from_interval, timing.retry_timeout,
				    timing.from_timeout);
	if (exlb_service_nr_rs(cfg, svc->id) > EXLB_SERVICE_MAX_RS)
		return exlb_err_set(err, "%s: more than %d real servers", label,
				    EXLB_SERVICE_MAX_RS);
	return 0;
}

/*
 * The admin listener (docs/admin.md): on with AdminPort, at AdminAddress,
 * which is never a VIP -- whatever the port, and whether or not the
 * listener is on, so that neither a VS added later nor the listener can end
 * up sharing an address the VIPs are reached on.
 */
static int check_admin(const struct exlb_config *cfg, struct exlb_err *err)
{
	const struct exlb_globals *g = &cfg->globals;
	struct exlb_addr addr;

	for (size_t i = 0; i < cfg->nr_creds; i++) {
		const struct exlb_cred *c = &cfg->creds[i];
		char why[128];

		if (!exlb_check_cert_name(c->name, why, sizeof(why)))
			return exlb_err_set(err, "admin %s name: %s (got '%s')",
					    exlb_cred_kind_name(c->kind), why, c->name);
		if (c->kind == EXLB_CRED_USER ? c->hash[0] != '$' :
		    strlen(c->hash) != 64 ||
		    strspn(c->hash, "0123456789abcdef") != 64)
			return exlb_err_set(err, "admin %s '%s': hash: not a %s",
					    exlb_cred_kind_name(c->kind), c->name,
					    c->kind == EXLB_CRED_USER ? "crypt(3) string" :
					    "SHA-256 in lower-case hex");
		for (size_t j = 0; j < i; j++)
			if (cfg->creds[j].kind == c->kind &&
			    !strcmp(cfg->creds[j].name, c->name))
				return exlb_err_set(err, "admin %s '%s' defined twice",
						    exlb_cred_kind_name(c->kind), c->name);
	}
	/* AdminCert and AdminAddress hold even while the listener is off */
	if (g->admin_cert[0] && !exlb_cert_find(cfg, g->admin_cert))
		return exlb_err_set(err, "AdminCert: no certificate named '%s' (exlbctl cert add)",
				    g->admin_cert);
	if (g->admin_address[0] && exlb_addr_parse(g->admin_address, &addr))
		return exlb_err_set(err, "AdminAddress: must be an IPv4 or IPv6 address (got '%s')",
				    g->admin_address);
	if (g->admin_port && !g->admin_address[0])
		return exlb_err_set(err,
				    "AdminPort: needs AdminAddress, the one address the admin listener binds");
	if (!g->admin_address[0])
		return 0;
	for (size_t i = 0; i < cfg->nr_services; i++) {
		const struct exlb_service *s = &cfg->services[i];
		char label[EXLB_NICKNAME_SIZE];

		if (exlb_service_is_subvs(s) || !exlb_addr_equal(&s->vip, &addr))
			continue;
		return exlb_err_set(err,
				    "AdminAddress %s is the VIP of VS %s: the admin listener is never on a VIP",
				    g->admin_address,
				    exlb_service_label(s, label, sizeof(label)));
	}
	return 0;
}

/*
 * The HA pair (docs/ha.md): in HA mode keepalived needs the interface and
 * the peer to talk to; the peer is never one of our VIPs (it would be
 * itself after a takeover); unicast VRRP speaks one address family, so the
 * peer and every VIP share it, the VIPs of the other family travelling as
 * "excluded" addresses is a later refinement.
 */
static int check_ha(const struct exlb_config *cfg, struct exlb_err *err)
{
	const struct exlb_globals *g = &cfg->globals;
	struct exlb_addr peer;

	/*
	 * L4 connection sync runs between the pair: tcpfailover without HA
	 * mode is refused (set tcpfailover 0 before hamode 0); a sync
	 * interface other than haif needs the partner's address on it.
	 */
	if (g->tcpfailover && g->hamode == EXLB_HAMODE_NONE)
		return exlb_err_set(err,
				    "tcpfailover 1: needs hamode 1 or 2, L4 connection sync runs between the HA pair (set tcpfailover 0 before hamode 0)");
	if (g->tcpfailover && g->mcast[0] && strcmp(g->mcast, g->haif) &&
	    !g->mcastpeer[0])
		return exlb_err_set(err,
				    "tcpfailover 1: mcast %s is not haif, so it needs mcastpeer, the partner's address on %s",
				    g->mcast, g->mcast);
	/* partner holds even while hamode is 0, as AdminAddress does while off */
	if (g->hamode == EXLB_HAMODE_NONE && !g->partner[0])
		return 0;
	if (g->hamode != EXLB_HAMODE_NONE && !g->haif[0])
		return exlb_err_set(err,
				    "hamode %u: needs haif, the interface VRRP runs on and the VIPs are added to",
				    g->hamode);
	if (g->hamode != EXLB_HAMODE_NONE && !g->partner[0])
		return exlb_err_set(err,
				    "hamode %u: needs partner, the peer node's address for unicast VRRP",
				    g->hamode);
	if (exlb_addr_parse(g->partner, &peer))
		return exlb_err_set(err, "partner: must be an IPv4 or IPv6 address (got '%s')",
				    g->partner);
	for (size_t i = 0; i < cfg->nr_services; i++) {
		const struct exlb_service *s = &cfg->services[i];
		char label[EXLB_NICKNAME_SIZE];

		if (exlb_service_is_subvs(s))
			continue;
		exlb_service_label(s, label, sizeof(label));
		if (exlb_addr_equal(&s->vip, &peer))
			return exlb_err_set(err,
					    "partner %s is the VIP of VS %s: the partner is the other node's own address",
					    g->partner, label);
		if (g->hamode != EXLB_HAMODE_NONE && s->vip.family != peer.family)
			return exlb_err_set(err,
					    "VS %s: in HA mode every VIP has the partner's address family (partner %s)",
					    label, g->partner);
	}
	return 0;
}

int exlb_config_check(const struct exlb_config *cfg, struct exlb_err *err)
{
	const struct exlb_globals *g = &cfg->globals;

	if (g->retry_timeout >= g->retry_interval)
		return exlb_err_set(err,
				    "Timeout: must be less than RetryInterval (%u), a check must end before the next (got %u)",
				    g->retry_interval, g->retry_timeout);
	if (g->alt_source_addrs[0] && !g->localbind)
		return exlb_err_set(err,
				    "AltSourceAddrs: needs localbind=1 (connection scaling over 64K)");
	for (size_t i = 0; i < cfg->nr_certs; i++) {
		const struct exlb_cert *c = &cfg->certs[i];
		char why[128];

		if (!exlb_check_cert_name(c->name, why, sizeof(why)))
			return exlb_err_set(err, "certificate name: %s (got '%s')",
					    why, c->name);
		if (strlen(c->sha256) != 64 ||
		    strspn(c->sha256, "0123456789abcdef") != 64)
			return exlb_err_set(err,
					    "certificate '%s': sha256: must be 64 lower-case hex digits",
					    c->name);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(c->name, cfg->certs[j].name))
				return exlb_err_set(err, "certificate '%s' defined twice",
						    c->name);
	}
	if (check_sso(cfg, err))
		return -1;
	for (size_t i = 0; i < cfg->nr_rules; i++) {
		if (exlb_rule_check(&cfg->rules[i], err))
			return -1;
		for (size_t j = 0; j < i; j++)
			if (!strcasecmp(cfg->rules[i].name, cfg->rules[j].name))
				return exlb_err_set(err, "rule '%s' defined twice",
						    cfg->rules[i].name);
	}
	for (size_t i = 0; i < cfg->nr_services; i++) {
		const struct exlb_service *s = &cfg->services[i];

		if (!s->id || s->id >= cfg->next_id)
			return exlb_err_set(err, "service id %u out of range", s->id);
		for (size_t j = 0; j < i; j++) {
			const struct exlb_service *t = &cfg->services[j];
			char where[64];

			if (t->id == s->id)
				return exlb_err_set(err, "service id %u used twice",
						    s->id);
			if (!exlb_service_is_subvs(s) &&
			    !exlb_service_is_subvs(t) && s->port == t->port &&
			    exlb_addr_equal(&s->vip, &t->vip)) {
				exlb_addr_port_format(&s->vip, s->port, where,
						      sizeof(where));
				return exlb_err_set(err, "VS %s defined twice", where);
			}
		}
		if (check_service(cfg, s, err))
			return -1;
	}
	for (size_t i = 0; i < cfg->nr_reals; i++) {
		const struct exlb_rs *rs = &cfg->reals[i];
		const struct exlb_service *svc = exlb_service_by_id(cfg, rs->service_id);
		char where[64], label[EXLB_NICKNAME_SIZE];

		exlb_addr_port_format(&rs->addr, rs->port, where, sizeof(where));
		if (!svc)
			return exlb_err_set(err, "RS %s: its service %u does not exist",
					    where, rs->service_id);
		exlb_service_label(svc, label, sizeof(label));
		if (!rs->id || rs->id >= cfg->next_rs_id)
			return exlb_err_set(err, "RS id %u out of range", rs->id);
		if (exlb_rs_find_exact(cfg, rs->service_id, &rs->addr, rs->port,
				       rs->id))
			return exlb_err_set(err, "RS %s defined twice in %s", where,
					    label);
		for (size_t j = 0; j < i; j++)
			if (cfg->reals[j].id == rs->id)
				return exlb_err_set(err, "RS id %u used twice", rs->id);
		if (exlb_service_is_kernel_served(cfg, svc) &&
		    rs->addr.family != svc->vip.family)
			return exlb_err_set(err,
					    "RS %s: an L4 VS (%s) forwards within one address family",
					    where, label);
		if (rs->forward == EXLB_FORWARD_ROUTE &&
		    !exlb_service_is_kernel_served(cfg, svc))
			return exlb_err_set(err,
					    "forward: route works at L4 only, and %s is served at L7 (RS %s)",
					    label, where);
	}
	if (check_admin(cfg, err))
		return -1;
	return check_ha(cfg, err);
}

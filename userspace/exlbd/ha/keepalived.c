// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * keepalived as exlbd's child (docs/ha.md): its configuration, written
 * from exlbd's committed configuration (one VRRP instance for the node's
 * VIPs, unicast to the partner, priorities and preemption from hamode and
 * haprefered, timing from hatimeout), written atomically into exlbd's
 * runtime directory; the process, started in exlbd's network namespace,
 * reloaded with SIGHUP after a change, restarted with a backoff when it
 * exits (the supervision: ha/child.c), stopped (releasing the VIPs) when
 * hamode goes back to 0 or exlbd stops. Why a child and not a systemd
 * unit: docs/ha.md.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ha.h"

/* VRRP priorities: the first node wins an election, as Kemp's HA1 does. */
#define HA_PRIORITY_FIRST	150
#define HA_PRIORITY_SECOND	100
#define HA_STOP_WAIT_MS		5000	/* keepalived releasing the VIPs on exit */

static const char *const keepalived_paths[] = {
	"/usr/sbin/keepalived", "/sbin/keepalived",	/* Debian's */
};

/*
 * hatimeout T is the promise "the standby owns the VIPs T seconds after the
 * active node went silent". The backup declares the master down after
 * 3 x advert + skew (skew < advert, RFC 5798), so advert = T / 5 leaves
 * a fifth of T for the gratuitous ARPs and the first connection. Below one
 * second this needs VRRPv3 (centisecond intervals).
 */
static unsigned int advert_cs(unsigned int hatimeout)
{
	return (hatimeout ? hatimeout : 3) * 100 / 5;
}

/* Each VIP once; only VSs (SubVSs have none). */
static bool vip_seen(const struct exlb_config *cfg, size_t upto,
		     const struct exlb_addr *a)
{
	for (size_t i = 0; i < upto; i++) {
		const struct exlb_service *s = &cfg->services[i];

		if (!exlb_service_is_subvs(s) && exlb_addr_equal(&s->vip, a))
			return true;
	}
	return false;
}

char *exlb_keepalived_render(const struct exlb_config *cfg, const char *fifo)
{
	const struct exlb_globals *g = &cfg->globals;
	unsigned int adv = advert_cs(g->hatimeout);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	fprintf(f,
		"# Written by exlbd from its configuration (docs/ha.md): do not edit,\n"
		"# change the HA parameters with exlbctl set.\n"
		"global_defs {\n"
		"\tvrrp_version 3\n"
		"\tvrrp_notify_fifo %s\n"
		/* on takeover: 3 gratuitous ARPs / unsolicited NAs at once, 3 more 1 s later */
		"\tvrrp_garp_master_repeat 3\n"
		"\tvrrp_garp_master_delay 1\n"
		"\tvrrp_garp_interval 0.01\n"
		"\tvrrp_gna_interval 0.01\n"
		"}\n\n", fifo);
	fprintf(f,
		"vrrp_instance exlb {\n"
		"\tstate BACKUP\n"
		"\tinterface %s\n"
		"\tvirtual_router_id %u\n"
		"\tpriority %u\n"
		"\tadvert_int %u.%02u\n",
		g->haif, g->havhid,
		g->hamode == EXLB_HAMODE_FIRST ? HA_PRIORITY_FIRST :
						 HA_PRIORITY_SECOND,
		adv / 100, adv % 100);
	/*
	 * No Preferred Host: whoever is active stays active. Prefer First: the
	 * first node (higher priority) takes the VIPs back when it returns.
	 */
	if (!g->haprefered)
		fprintf(f, "\tnopreempt\n");
	/*
	 * Adverts only to and only from the partner (VRRPv3 has no
	 * authentication). keepalived drops an advert whose VIP list differs
	 * from its own, so a standby that has not taken the active node's
	 * last change yet (config sync, ha/sync.c) would take over and both
	 * would own VIPs: with skip_check_adv_addr it checks the list (and the
	 * source) on the first advert of a master only and keeps following it.
	 */
	fprintf(f, "\tunicast_peer {\n\t\t%s\n\t}\n\tcheck_unicast_src\n"
		"\tskip_check_adv_addr\n", g->partner);
	fprintf(f, "\tvirtual_ipaddress {\n");
	for (size_t i = 0; i < cfg->nr_services; i++) {
		const struct exlb_service *s = &cfg->services[i];
		char addr[INET6_ADDRSTRLEN];

		if (exlb_service_is_subvs(s) || !s->vip.family ||
		    vip_seen(cfg, i, &s->vip))
			continue;
		exlb_addr_format(&s->vip, addr, sizeof(addr));
		fprintf(f, "\t\t%s/%u dev %s\n", addr,
			s->vip.family == AF_INET6 ? 128 : 32, g->haif);
	}
	fprintf(f, "\t}\n}\n");
	if (fclose(f)) {
		free(text);
		return NULL;
	}
	return text;
}

/* Temp file + rename: keepalived never reads half a configuration. */
int exlb_ha_run_path(char *buf, size_t size, const char *dir, const char *name)
{
	return snprintf(buf, size, "%s/%s", dir, name) >= (int)size ? -1 : 0;
}

int exlb_ha_write_file(const char *path, const char *text)
{
	char tmp[300];
	size_t len = strlen(text);
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (write(fd, text, len) != (ssize_t)len || fsync(fd)) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) || rename(tmp, path)) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

static const char *keepalived_path(void)
{
	for (size_t i = 0; i < sizeof(keepalived_paths) / sizeof(keepalived_paths[0]); i++)
		if (!access(keepalived_paths[i], X_OK))
			return keepalived_paths[i];
	return NULL;
}

pid_t exlb_ha_spawn(const char *path, char *const argv[])
{
	pid_t parent = getpid(), child;
	sigset_t none;

	sigemptyset(&none);
	child = fork();
	if (child)
		return child;
	/* only async-signal-safe calls: exlbd has threads */
	prctl(PR_SET_PDEATHSIG, SIGTERM);	/* exlbd gone: the child goes too */
	if (getppid() != parent)
		_exit(0);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	/* listeners and the control socket stay exlbd's */
	close_range(3, ~0U, 0);
	execv(path, argv);
	_exit(127);
}

static void keepalived_start(void *ctx)
{
	struct exlb_ha *ha = ctx;
	const char *path = keepalived_path();
	char conf[300], pid[300], vrrp_pid[300];
	char *argv[] = { "keepalived", "--dont-fork", "--vrrp", "--log-console",
			 "--no-syslog", conf, pid, vrrp_pid, NULL };
	pid_t child;

	if (!path) {
		exlb_ha_set_role(ha->rt, EXLB_HA_ROLE_DOWN,
				 "keepalived is not installed (apt-get install keepalived)");
		return;
	}
	snprintf(conf, sizeof(conf), "--use-file=%s", ha->conf_path);
	snprintf(pid, sizeof(pid), "--pid=%s", ha->pid_path);
	snprintf(vrrp_pid, sizeof(vrrp_pid), "--vrrp_pid=%s", ha->vrrp_pid_path);
	child = exlb_ha_spawn(path, argv);
	if (child < 0) {
		exlb_log(LOG_ERR, "HA: cannot start keepalived: %s", strerror(errno));
		return;
	}
	exlb_child_started(&ha->keepalived, child);
	ha->rt->ha.keepalived_pid = child;
	exlb_log(LOG_NOTICE, "HA: keepalived started (pid %d, %s)", child,
		 ha->conf_path);
	exlb_ha_set_role(ha->rt, EXLB_HA_ROLE_STARTING, NULL);
}

/* ha/child.c restarts it after the backoff when @note is set */
static void keepalived_exited(void *ctx, const char *note)
{
	struct exlb_ha *ha = ctx;

	ha->rt->ha.keepalived_pid = 0;
	if (!note) {
		exlb_ha_set_role(ha->rt, EXLB_HA_ROLE_OFF, NULL);
		return;
	}
	exlb_ha_set_role(ha->rt, EXLB_HA_ROLE_DOWN, note);
	ha->rt->ha.restarts++;
}

static const struct exlb_child_ops keepalived_child = {
	.prefix = "HA: ",
	.name = "keepalived",
	.stop_wait_ms = HA_STOP_WAIT_MS,
	.start = keepalived_start,
	.exited = keepalived_exited,
};

/* SIGTERM, then a bounded wait: keepalived removes the VIPs and says goodbye (priority 0). */
static void keepalived_stop(struct exlb_ha *ha)
{
	exlb_child_stop(&ha->keepalived);
	ha->rt->ha.keepalived_pid = 0;
}

struct exlb_ha *exlb_ha_new(struct ev_loop *loop, const char *run_dir,
			    struct exlb_runtime *rt)
{
	struct exlb_ha *ha = calloc(1, sizeof(*ha));
	int n = 0;

	if (!ha)
		return NULL;
	ha->loop = loop;
	ha->rt = rt;
	ha->fifo_fd = -1;
	n |= exlb_ha_run_path(ha->conf_path, sizeof(ha->conf_path), run_dir, "keepalived.conf");
	n |= exlb_ha_run_path(ha->pid_path, sizeof(ha->pid_path), run_dir, "keepalived.pid");
	n |= exlb_ha_run_path(ha->vrrp_pid_path, sizeof(ha->vrrp_pid_path), run_dir,
			      "keepalived-vrrp.pid");
	n |= exlb_ha_run_path(ha->fifo_path, sizeof(ha->fifo_path), run_dir, "keepalived.fifo");
	if (n) {
		exlb_log(LOG_ERR, "HA: runtime directory path too long: %s", run_dir);
		free(ha);
		return NULL;
	}
	ha->ctd = exlb_ctd_new(loop, run_dir, rt);
	if (!ha->ctd) {
		free(ha);
		return NULL;
	}
	exlb_child_init(&ha->keepalived, loop, &keepalived_child, ha);
	rt->ha.role = EXLB_HA_ROLE_OFF;
	rt->ha.since = time(NULL);
	return ha;
}

void exlb_ha_apply(struct exlb_ha *ha, const struct exlb_config *cfg)
{
	char *text;

	if (!ha)
		return;
	/* first: its hold is in place before keepalived can add a VIP */
	exlb_ctd_apply(ha->ctd, cfg);
	if (cfg->globals.hamode == EXLB_HAMODE_NONE) {
		ha->keepalived.wanted = false;
		if (ha->keepalived.pid || ha->conf_text)
			exlb_log(LOG_NOTICE, "HA: hamode 0: stopping keepalived");
		keepalived_stop(ha);
		exlb_ha_fifo_close(ha);
		free(ha->conf_text);
		ha->conf_text = NULL;
		unlink(ha->conf_path);
		exlb_ha_set_role(ha->rt, EXLB_HA_ROLE_OFF, NULL);
		return;
	}
	ha->keepalived.wanted = true;
	text = exlb_keepalived_render(cfg, ha->fifo_path);
	if (!text) {
		exlb_log(LOG_ERR, "HA: out of memory writing keepalived's configuration");
		return;
	}
	if (ha->conf_text && !strcmp(text, ha->conf_text) && ha->keepalived.pid) {
		free(text);
		return;
	}
	if (exlb_ha_write_file(ha->conf_path, text)) {
		exlb_log(LOG_ERR, "HA: cannot write %s: %s", ha->conf_path,
			 strerror(errno));
		free(text);
		return;
	}
	free(ha->conf_text);
	ha->conf_text = text;
	if (ha->fifo_fd < 0 && exlb_ha_fifo_open(ha))
		return;
	if (ha->keepalived.pid) {
		exlb_log(LOG_NOTICE, "HA: keepalived's configuration changed: reloading it");
		kill(ha->keepalived.pid, SIGHUP);
	} else {
		exlb_child_ensure(&ha->keepalived);
	}
}

void exlb_ha_free(struct exlb_ha *ha)
{
	if (!ha)
		return;
	ha->keepalived.wanted = false;
	keepalived_stop(ha);
	exlb_ha_fifo_close(ha);
	exlb_ctd_free(ha->ctd);
	free(ha->conf_text);
	free(ha);
}

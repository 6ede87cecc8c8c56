// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * conntrackd as exlbd's child (docs/ha.md "L4 connections across a
 * failover"): with hamode 1/2 and tcpfailover 1, exlbd writes conntrackd's
 * configuration (FTFW over UDP to the partner on the sync interface, TCP
 * entries only) into its runtime directory, runs conntrackd, restarts it
 * with a backoff when it exits (the supervision: ha/child.c) and stops
 * it when HA or tcpfailover goes off. On keepalived's role changes it
 * drives conntrackd as conntrackd's own primary-backup.sh does, with one
 * addition, the takeover hold: while the node is not active, an nftables
 * table drops TCP segments other than a SYN sent to a VIP, before
 * conntrack sees them; on takeover the external
 * cache is committed into the kernel first and only then is the hold lifted.
 * keepalived adds the VIPs before it reports MASTER, so without the hold a
 * real server's segment arriving in between would meet no entry and be
 * answered with a RST by the local stack: that connection would be lost.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ha.h"

#define CTD_PORT		3780	/* conntrackd's own default */
#define CTD_CMD_MS		5000	/* a conntrackd -c/-f/... or nft run */
#define CTD_STOP_WAIT_MS	3000
#define CTD_HOLD_TABLE		"exlb_ha_hold"

static const char *const conntrackd_paths[] = {
	"/usr/sbin/conntrackd", "/sbin/conntrackd",	/* Debian's */
};
static const char *const nft_paths[] = { "/usr/sbin/nft", "/sbin/nft" };

struct exlb_ctd {
	struct exlb_runtime *rt;
	char run_dir[200];
	char conf_path[256], hold_path[256], lock_path[256], sock_path[256];
	unsigned int role;	/* the last role keepalived reported */
	char iface[16];		/* mcast, or haif */
	char peer[64];		/* mcastpeer, or partner */
	char *hold_text;	/* the hold for the current VIPs */
	char *hold_applied;	/* what nft was last given; NULL: no hold */
	struct exlb_child child;	/* wanted: hamode and tcpfailover */
};

static const char *const state_names[] = {
	[EXLB_CTD_OFF] = "off",
	[EXLB_CTD_RUNNING] = "running",
	[EXLB_CTD_DOWN] = "down",
	[EXLB_CTD_MISSING] = "not installed",
};

const char *exlb_ctd_state_name(unsigned int state)
{
	return state < sizeof(state_names) / sizeof(state_names[0]) ?
	       state_names[state] : "unknown";
}

static const char *find_exe(const char *const *paths, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!access(paths[i], X_OK))
			return paths[i];
	return NULL;
}

static const char *conntrackd_path(void)
{
	return find_exe(conntrackd_paths,
			sizeof(conntrackd_paths) / sizeof(conntrackd_paths[0]));
}

static void set_state(struct exlb_ctd *c, unsigned int state, const char *note)
{
	struct exlb_ha_ctd_status *st = &c->rt->ha.ctd;

	st->state = state;
	st->pid = c->child.pid;
	snprintf(st->note, sizeof(st->note), "%s", note ? note : "");
}

char *exlb_conntrackd_render(const char *iface, int family, const char *self,
			     const char *peer, const char *run_dir)
{
	const char *v = family == AF_INET6 ? "IPv6" : "IPv4";
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	fprintf(f,
		"# Written by exlbd from its configuration (docs/ha.md): do not edit,\n"
		"# change tcpfailover, mcast, mcastpeer with exlbctl set.\n"
		"Sync {\n"
		"\tMode FTFW {\n"
		/* the peer's entries wait outside the kernel until a takeover */
		"\t\tDisableExternalCache Off\n"
		"\t\tCommitTimeout 1800\n"
		"\t\tPurgeTimeout 5\n"
		"\t}\n"
		"\tUDP {\n"
		"\t\t%s_address %s\n"
		"\t\t%s_Destination_Address %s\n"
		"\t\tPort %u\n"
		"\t\tInterface %s\n"
		"\t\tSndSocketBuffer 1249280\n"
		"\t\tRcvSocketBuffer 1249280\n"
		"\t\tChecksum on\n"
		"\t}\n"
		"}\n", v, self, v, peer, CTD_PORT, iface);
	fprintf(f,
		"General {\n"
		"\tHashSize 8192\n"
		"\tHashLimit 131072\n"
		"\tLogFile %s/conntrackd.log\n"
		"\tSyslog off\n"
		"\tLockFile %s/conntrackd.lock\n"
		"\tUNIX {\n"
		"\t\tPath %s/conntrackd.ctl\n"
		"\t}\n"
		"\tNetlinkBufferSize 2097152\n"
		"\tNetlinkBufferSizeMaxGrowth 8388608\n",
		run_dir, run_dir, run_dir);
	/*
	 * TCP only (exlb.ko balances TCP). Not the VIPs in Address Ignore, as
	 * conntrackd.conf(5)'s firewall example has it: the connections to
	 * the VIPs are the ones to carry over; loopback and the sync link's
	 * own traffic are not.
	 */
	fprintf(f,
		"\tFilter From Userspace {\n"
		"\t\tProtocol Accept {\n"
		"\t\t\tTCP\n"
		"\t\t}\n"
		"\t\tAddress Ignore {\n"
		"\t\t\tIPv4_address 127.0.0.1\n"
		"\t\t\tIPv6_address ::1\n"
		"\t\t\t%s_address %s\n"
		"\t\t\t%s_address %s\n"
		"\t\t}\n"
		"\t\tState Accept {\n"
		"\t\t\tESTABLISHED CLOSED TIME_WAIT CLOSE_WAIT for TCP\n"
		"\t\t}\n"
		"\t}\n"
		"}\n", v, self, v, peer);
	if (fclose(f)) {
		free(text);
		return NULL;
	}
	return text;
}

char *exlb_ctd_hold_render(const struct exlb_config *cfg)
{
	static const int families[] = { AF_INET, AF_INET6 };
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	fprintf(f,
		"# Written by exlbd (docs/ha.md, the takeover hold): do not edit.\n"
		"table inet " CTD_HOLD_TABLE "\n"
		"delete table inet " CTD_HOLD_TABLE "\n"
		"table inet " CTD_HOLD_TABLE " {\n"
		"\tchain hold {\n"
		/* before conntrack (-200) and raw (-300): no entry is made */
		"\t\ttype filter hook prerouting priority -310; policy accept;\n");
	for (size_t k = 0; k < 2; k++) {
		bool any = false;

		for (size_t i = 0; i < cfg->nr_services; i++) {
			const struct exlb_service *s = &cfg->services[i];
			char addr[INET6_ADDRSTRLEN];
			bool seen = false;

			if (exlb_service_is_subvs(s) || s->vip.family != families[k])
				continue;
			for (size_t j = 0; j < i && !seen; j++)
				seen = !exlb_service_is_subvs(&cfg->services[j]) &&
				       exlb_addr_equal(&cfg->services[j].vip, &s->vip);
			if (seen)
				continue;
			exlb_addr_format(&s->vip, addr, sizeof(addr));
			fprintf(f, "%s%s", any ? ", " :
				families[k] == AF_INET ? "\t\tip daddr { " :
							 "\t\tip6 daddr { ", addr);
			any = true;
		}
		/*
		 * a new connection's SYN passes: only a mid-stream segment is
		 * held; the counter shows how many (nft list table inet exlb_ha_hold)
		 */
		if (any)
			fprintf(f, " } tcp flags & (syn | ack) != syn counter drop\n");
	}
	fprintf(f, "\t}\n}\n");
	if (fclose(f)) {
		free(text);
		return NULL;
	}
	return text;
}

/* Runs @path @argv, waits at most CTD_CMD_MS: its exit status, or -1. */
static int run_wait(const char *path, char *const argv[])
{
	pid_t pid = exlb_ha_spawn(path, argv);
	int st;

	if (pid < 0)
		return -1;
	for (int i = 0; i < CTD_CMD_MS; i++) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		if (r < 0)
			return -1;
		usleep(1000);
	}
	exlb_log(LOG_WARNING, "HA: %s %s did not finish in %d ms: killed",
		 argv[0], argv[3] ? argv[3] : argv[1], CTD_CMD_MS);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

/* conntrackd -C conf @opt, against the running daemon's UNIX socket */
static int ctl(struct exlb_ctd *c, const char *opt)
{
	const char *path = conntrackd_path();
	char *argv[] = { "conntrackd", "-C", c->conf_path, (char *)opt, NULL };
	int rc;

	if (!path)
		return -1;
	rc = run_wait(path, argv);
	if (rc)
		exlb_log(LOG_WARNING, "HA: conntrackd %s failed (status %d)", opt, rc);
	return rc;
}

/* The takeover hold on (the current VIPs) or off: nft, bounded. */
static void hold_set(struct exlb_ctd *c, bool on)
{
	static const char release[] =
		"table inet " CTD_HOLD_TABLE "\n"
		"delete table inet " CTD_HOLD_TABLE "\n";
	const char *nft = find_exe(nft_paths, sizeof(nft_paths) / sizeof(nft_paths[0]));
	const char *text = on ? c->hold_text : release;
	char *argv[] = { "nft", "-f", c->hold_path, NULL };

	if (!text)
		return;
	if (on && c->hold_applied && !strcmp(c->hold_applied, text))
		return;
	/* off: ours, or one a killed exlbd left (its file is still there) */
	if (!on && !c->hold_applied && access(c->hold_path, F_OK))
		return;
	if (!nft) {
		if (on)
			exlb_log(LOG_WARNING, "HA: nft is not installed: no takeover hold (apt-get install nftables)");
		return;
	}
	if (exlb_ha_write_file(c->hold_path, text) || run_wait(nft, argv)) {
		exlb_log(LOG_ERR, "HA: cannot %s the takeover hold (%s)",
			 on ? "set" : "lift", c->hold_path);
		return;
	}
	if (!on)
		unlink(c->hold_path);
	free(c->hold_applied);
	c->hold_applied = on ? strdup(text) : NULL;
	c->rt->ha.ctd.hold = on && c->hold_applied;
	exlb_log(LOG_INFO, "HA: takeover hold %s", on ? "set" : "lifted");
}

/*
 * This node's address towards @peer on @iface: the one the kernel would
 * send from (a connected UDP socket sends nothing). 0, or -1 with @why.
 */
static int route_source(const char *iface, const char *peer, int *family,
			char *out, size_t n, char *why, size_t wn)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	socklen_t len = sizeof(ss);
	int fd, rc = -1;

	if (inet_pton(AF_INET, peer, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(CTD_PORT);
		len = sizeof(*s4);
	} else if (inet_pton(AF_INET6, peer, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(CTD_PORT);
		len = sizeof(*s6);
	} else {
		snprintf(why, wn, "the peer '%s' is not an address", peer);
		return -1;
	}
	*family = ss.ss_family;
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, iface, strlen(iface)) ||
	    connect(fd, (struct sockaddr *)&ss, len) ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) ||
	    !inet_ntop(ss.ss_family, ss.ss_family == AF_INET ?
		       (void *)&s4->sin_addr : (void *)&s6->sin6_addr, out, n))
		snprintf(why, wn, "no address on %s towards %s: %s", iface, peer,
			 strerror(errno));
	else
		rc = 0;
	if (fd >= 0)
		close(fd);
	return rc;
}

static void ctd_start(void *ctx)
{
	struct exlb_ctd *c = ctx;
	const char *path = conntrackd_path();
	char *argv[] = { "conntrackd", "-C", c->conf_path, NULL };
	char self[INET6_ADDRSTRLEN], why[160];
	char *text;
	int family;
	pid_t pid;

	if (!path) {
		set_state(c, EXLB_CTD_MISSING,
			  "conntrackd is not installed (apt-get install conntrackd): L4 connections are not synced");
		return;
	}
	if (route_source(c->iface, c->peer, &family, self, sizeof(self), why,
			 sizeof(why))) {
		exlb_log(LOG_WARNING, "HA: conntrackd not started: %s; retrying in %u s",
			 why, c->child.backoff);
		set_state(c, EXLB_CTD_DOWN, why);
		exlb_child_retry(&c->child);
		return;
	}
	text = exlb_conntrackd_render(c->iface, family, self, c->peer, c->run_dir);
	if (!text || exlb_ha_write_file(c->conf_path, text)) {
		exlb_log(LOG_ERR, "HA: cannot write %s", c->conf_path);
		free(text);
		set_state(c, EXLB_CTD_DOWN, "cannot write conntrackd.conf");
		exlb_child_retry(&c->child);
		return;
	}
	free(text);
	/* ours is not running: a lock or socket left is a killed one's */
	unlink(c->lock_path);
	unlink(c->sock_path);
	pid = exlb_ha_spawn(path, argv);
	if (pid < 0) {
		exlb_log(LOG_ERR, "HA: cannot start conntrackd: %s", strerror(errno));
		set_state(c, EXLB_CTD_DOWN, "cannot start conntrackd");
		exlb_child_retry(&c->child);
		return;
	}
	exlb_child_started(&c->child, pid);
	exlb_log(LOG_NOTICE, "HA: conntrackd started (pid %d, %s, %s -> %s on %s)",
		 c->child.pid, c->conf_path, self, c->peer, c->iface);
	set_state(c, EXLB_CTD_RUNNING, NULL);
}

/* ha/child.c restarts it after the backoff when @note is set */
static void ctd_exited(void *ctx, const char *note)
{
	struct exlb_ctd *c = ctx;

	if (!note) {
		set_state(c, EXLB_CTD_OFF, NULL);
		return;
	}
	c->rt->ha.ctd.restarts++;
	set_state(c, EXLB_CTD_DOWN, note);
}

static const struct exlb_child_ops ctd_child = {
	.prefix = "HA: ",
	.name = "conntrackd",
	.exit_hint = " (see conntrackd.log)",
	.stop_wait_ms = CTD_STOP_WAIT_MS,
	.start = ctd_start,
	.exited = ctd_exited,
};

struct exlb_ctd *exlb_ctd_new(struct ev_loop *loop, const char *run_dir,
			      struct exlb_runtime *rt)
{
	struct exlb_ctd *c = calloc(1, sizeof(*c));
	int n = 0;

	if (!c)
		return NULL;
	c->rt = rt;
	c->role = EXLB_HA_ROLE_OFF;
	n |= snprintf(c->run_dir, sizeof(c->run_dir), "%s", run_dir) >=
	     (int)sizeof(c->run_dir);
	n |= exlb_ha_run_path(c->conf_path, sizeof(c->conf_path), run_dir, "conntrackd.conf");
	n |= exlb_ha_run_path(c->hold_path, sizeof(c->hold_path), run_dir, "takeover-hold.nft");
	n |= exlb_ha_run_path(c->lock_path, sizeof(c->lock_path), run_dir, "conntrackd.lock");
	n |= exlb_ha_run_path(c->sock_path, sizeof(c->sock_path), run_dir, "conntrackd.ctl");
	if (n) {
		exlb_log(LOG_ERR, "HA: runtime directory path too long: %s", run_dir);
		free(c);
		return NULL;
	}
	exlb_child_init(&c->child, loop, &ctd_child, c);
	rt->ha.ctd.state = EXLB_CTD_OFF;
	return c;
}

void exlb_ctd_apply(struct exlb_ctd *c, const struct exlb_config *cfg)
{
	const struct exlb_globals *g = &cfg->globals;
	const char *iface = g->mcast[0] ? g->mcast : g->haif;
	const char *peer = g->mcastpeer[0] ? g->mcastpeer : g->partner;
	bool moved;

	if (!c)
		return;
	if (g->hamode == EXLB_HAMODE_NONE || !g->tcpfailover) {
		if (c->child.wanted)
			exlb_log(LOG_NOTICE, "HA: tcpfailover or hamode off: stopping conntrackd");
		c->child.wanted = false;
		exlb_child_stop(&c->child);
		hold_set(c, false);
		if (c->rt->ha.ctd.state != EXLB_CTD_OFF)
			unlink(c->conf_path);
		set_state(c, EXLB_CTD_OFF, NULL);
		return;
	}
	moved = strcmp(iface, c->iface) || strcmp(peer, c->peer);
	snprintf(c->iface, sizeof(c->iface), "%s", iface);
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	c->child.wanted = true;
	free(c->hold_text);
	c->hold_text = exlb_ctd_hold_render(cfg);
	/* the hold for the current VIPs, before keepalived may add them */
	if (c->role != EXLB_HA_ROLE_ACTIVE)
		hold_set(c, true);
	if (c->child.pid && moved) {
		exlb_log(LOG_NOTICE, "HA: conntrackd's interface or peer changed: restarting it");
		exlb_child_stop(&c->child);
	}
	exlb_child_ensure(&c->child);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

/* primary-backup.sh "primary", the hold lifted once the commit is done */
static void takeover(struct exlb_ctd *c)
{
	struct exlb_ha_ctd_status *st = &c->rt->ha.ctd;
	long t0 = now_ms();

	if (c->child.pid) {
		if (!ctl(c, "-c")) {
			st->commits++;
			st->commit_ms = (unsigned int)(now_ms() - t0);
			st->committed_at = time(NULL);
			exlb_log(LOG_NOTICE, "HA: takeover: conntrackd committed the external cache in %u ms",
				 st->commit_ms);
		} else {
			snprintf(st->note, sizeof(st->note),
				 "conntrackd -c failed at the last takeover");
		}
	}
	/* from here the VIPs answer: every synced entry is in the kernel */
	hold_set(c, false);
	if (!c->child.pid)
		return;
	ctl(c, "-f");	/* flush the internal and external caches */
	ctl(c, "-R");	/* resync the internal cache with the kernel */
	ctl(c, "-B");	/* a bulk update to the peer */
}

void exlb_ctd_role(struct exlb_ctd *c, unsigned int role)
{
	if (!c)
		return;
	c->role = role;
	if (!c->child.wanted)
		return;
	if (role == EXLB_HA_ROLE_ACTIVE) {
		takeover(c);
		return;
	}
	/* not active: the hold back before any later takeover */
	hold_set(c, true);
	if (!c->child.pid)
		return;
	if (role == EXLB_HA_ROLE_STANDBY || role == EXLB_HA_ROLE_FAULT)
		ctl(c, "-t");	/* shorten the kernel's timers: old entries go */
	if (role == EXLB_HA_ROLE_STANDBY)
		ctl(c, "-n");	/* ask the active node for a resync */
}

void exlb_ctd_free(struct exlb_ctd *c)
{
	if (!c)
		return;
	c->child.wanted = false;
	exlb_child_stop(&c->child);
	if (c->hold_applied)
		hold_set(c, false);
	free(c->hold_text);
	free(c->hold_applied);
	free(c);
}

// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Unit tests of the HA pair's first stage (exlbd/ha/, docs/ha.md): the HA
 * globals and their rules in the whole-configuration check, the keepalived
 * configuration written from exlbd's (instance, priorities, preemption,
 * timing, unicast peer, VIPs), conntrackd's configuration and the takeover
 * hold (tcpfailover: ha/conntrackd.c), and the role record status shows.
 *
 * Plain C, TAP lines; exits non-zero if any check failed.
 */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uapi/linux/exlb.h>
#include "userspace/exlbd/config/config.h"
#include "userspace/exlbd/ha/ha.h"

#include "tap_report.h"

/*
 * set PARAM VALUE as exlbd does: on a copy, then the whole check; only a
 * copy that passes replaces *cfgp.
 */
static int set(struct exlb_config **cfgp, const char *param, const char *value,
	       struct exlb_err *err)
{
	struct exlb_config *copy = exlb_config_clone(*cfgp);

	if (!copy || exlb_global_set(copy, param, value, err) ||
	    exlb_config_check(copy, err)) {
		exlb_config_free(copy);
		return -1;
	}
	exlb_config_free(*cfgp);
	*cfgp = copy;
	return 0;
}

static struct exlb_config *with_vs(const char *vip)
{
	struct exlb_config *cfg = exlb_config_new();
	json_t *p = json_pack("{ss ss}", "VStype", "http", "CheckType", "none");
	struct exlb_err err;
	uint32_t id;

	if (exlb_vs_add(cfg, vip, "80", NULL, p, &id, &err))
		printf("# vs add %s: %s\n", vip, err.msg);
	json_decref(p);
	return cfg;
}

static void test_check(void)
{
	struct exlb_config *cfg = with_vs("198.18.0.10");
	struct exlb_err err;
	int rc;

	report(cfg->globals.hamode == 0 && cfg->globals.havhid == 1 &&
	       cfg->globals.hatimeout == 3 && cfg->globals.haprefered == 0,
	       "defaults: hamode 0, havhid 1, hatimeout 3, haprefered 0");
	report(!exlb_config_check(cfg, &err), "hamode 0 without haif or partner is fine");
	cfg->globals.hamode = EXLB_HAMODE_FIRST;
	rc = exlb_config_check(cfg, &err);
	report(rc && strstr(err.msg, "needs haif"), "hamode 1 needs haif (%s)", err.msg);
	snprintf(cfg->globals.haif, sizeof(cfg->globals.haif), "eth0");
	rc = exlb_config_check(cfg, &err);
	report(rc && strstr(err.msg, "needs partner"), "hamode 1 needs partner (%s)", err.msg);
	snprintf(cfg->globals.partner, sizeof(cfg->globals.partner), "198.18.0.10");
	rc = exlb_config_check(cfg, &err);
	report(rc && strstr(err.msg, "is the VIP of VS"), "the partner is never a VIP (%s)", err.msg);
	snprintf(cfg->globals.partner, sizeof(cfg->globals.partner), "fd00::2");
	rc = exlb_config_check(cfg, &err);
	report(rc && strstr(err.msg, "address family"),
	       "in HA mode the VIPs have the partner's family (%s)", err.msg);
	snprintf(cfg->globals.partner, sizeof(cfg->globals.partner), "198.18.0.2");
	report(!exlb_config_check(cfg, &err), "hamode 1, haif, partner: accepted");
	cfg->globals.hamode = 0;
	snprintf(cfg->globals.partner, sizeof(cfg->globals.partner), "198.18.0.10");
	rc = exlb_config_check(cfg, &err);
	report(rc && strstr(err.msg, "is the VIP of VS"),
	       "the partner is checked while hamode is 0 too (%s)", err.msg);
	exlb_config_free(cfg);

	cfg = exlb_config_new();
	rc = set(&cfg, "havhid", "0", &err);
	report(rc && cfg->globals.havhid == 1, "havhid 0 refused, unchanged (%s)", err.msg);
	rc = set(&cfg, "havhid", "255", &err);
	report(!rc && cfg->globals.havhid == 255, "havhid 255 accepted");
	rc = set(&cfg, "hatimeout", "4", &err);
	report(rc && cfg->globals.hatimeout == 3, "hatimeout 4 refused (%s)", err.msg);
	rc = set(&cfg, "HAMODE", "second", &err);
	report(rc && strstr(err.msg, "needs haif") && cfg->globals.hamode == 0,
	       "hamode second (case-insensitive, by name) refused without haif, unchanged (%s)",
	       err.msg);
	rc = set(&cfg, "haif", "eth0 x", &err);
	report(rc && !cfg->globals.haif[0], "haif with a space refused (%s)", err.msg);
	rc = set(&cfg, "hapreferred", "1", &err);
	report(!rc && cfg->globals.haprefered == 1, "hapreferred is an alias of Kemp's haprefered");
	exlb_config_free(cfg);
}

static void test_render(void)
{
	struct exlb_config *cfg = with_vs("198.18.0.10");
	json_t *p = json_pack("{ss}", "VStype", "gen");
	struct exlb_err err;
	uint32_t id;
	char *text;

	exlb_vs_add(cfg, "198.18.0.10", "443", NULL, p, &id, &err);
	exlb_vs_add(cfg, "198.18.0.11", "25", NULL, p, &id, &err);
	json_decref(p);
	cfg->globals.hamode = EXLB_HAMODE_FIRST;
	cfg->globals.havhid = 42;
	snprintf(cfg->globals.haif, sizeof(cfg->globals.haif), "front");
	snprintf(cfg->globals.partner, sizeof(cfg->globals.partner), "198.18.0.4");
	text = exlb_keepalived_render(cfg, "/run/exlb/keepalived.fifo");
	report(text && strstr(text, "vrrp_version 3") &&
	       strstr(text, "vrrp_notify_fifo /run/exlb/keepalived.fifo"),
	       "VRRPv3, state changes on exlbd's FIFO");
	report(text && strstr(text, "virtual_router_id 42\n") &&
	       strstr(text, "priority 150\n") && strstr(text, "state BACKUP\n") &&
	       strstr(text, "nopreempt\n"),
	       "first node: router id, priority 150, starts BACKUP, nopreempt (haprefered 0)");
	report(text && strstr(text, "advert_int 0.60\n"),
	       "hatimeout 3: adverts every 0.6 s (3 x 0.6 + skew < 3 s)");
	report(text && strstr(text, "unicast_peer {\n\t\t198.18.0.4\n\t}") &&
	       strstr(text, "check_unicast_src"),
	       "unicast to and only from the partner");
	report(text && strstr(text, "\tskip_check_adv_addr\n"),
	       "the VIP list is checked on a master's first advert only (config sync lag is no takeover)");
	{
		const char *a = text ? strstr(text, "198.18.0.10/32 dev front") : NULL;

		report(a && !strstr(a + 1, "198.18.0.10/32") &&
		       strstr(text, "198.18.0.11/32 dev front"),
		       "each VIP once, /32 on haif");
	}
	free(text);
	cfg->globals.hamode = EXLB_HAMODE_SECOND;
	cfg->globals.haprefered = 1;
	cfg->globals.hatimeout = 15;
	text = exlb_keepalived_render(cfg, "/f");
	report(text && strstr(text, "priority 100\n") && !strstr(text, "nopreempt") &&
	       strstr(text, "advert_int 3.00\n"),
	       "second node: priority 100, preemption (haprefered 1), hatimeout 15 -> 3 s adverts");
	free(text);
	exlb_config_free(cfg);

	cfg = with_vs("fd00::10");
	cfg->globals.hamode = EXLB_HAMODE_FIRST;
	snprintf(cfg->globals.haif, sizeof(cfg->globals.haif), "eth1");
	snprintf(cfg->globals.partner, sizeof(cfg->globals.partner), "fd00::2");
	text = exlb_keepalived_render(cfg, "/f");
	report(text && strstr(text, "fd00::10/128 dev eth1"), "an IPv6 VIP as /128");
	free(text);
	exlb_config_free(cfg);
}

/* tcpfailover, mcast, mcastpeer: the rules of the whole check */
static void test_tcpfailover_check(void)
{
	struct exlb_config *cfg = with_vs("198.18.0.10");
	struct exlb_err err;
	int rc;

	report(cfg->globals.tcpfailover == 0 && !cfg->globals.mcast[0] &&
	       !cfg->globals.mcastpeer[0], "tcpfailover 0, mcast and mcastpeer empty by default");
	rc = set(&cfg, "tcpfailover", "1", &err);
	report(rc && strstr(err.msg, "needs hamode 1 or 2") && !cfg->globals.tcpfailover,
	       "tcpfailover 1 without HA mode refused, unchanged (%s)", err.msg);
	set(&cfg, "haif", "front", &err);
	set(&cfg, "partner", "198.18.0.4", &err);
	set(&cfg, "hamode", "1", &err);
	rc = set(&cfg, "tcpfailover", "1", &err);
	report(!rc && cfg->globals.tcpfailover == 1, "tcpfailover 1 in HA mode accepted");
	rc = set(&cfg, "hamode", "0", &err);
	report(rc && strstr(err.msg, "set tcpfailover 0 before hamode 0") &&
	       cfg->globals.hamode == 1,
	       "hamode 0 while tcpfailover 1 refused, unchanged (%s)", err.msg);
	rc = set(&cfg, "mcast", "sync", &err);
	report(rc && strstr(err.msg, "needs mcastpeer") && !cfg->globals.mcast[0],
	       "mcast other than haif without mcastpeer refused (%s)", err.msg);
	rc = set(&cfg, "mcast", "front", &err);
	report(!rc, "mcast = haif needs no mcastpeer");
	rc = set(&cfg, "mcastpeer", "sync-peer", &err);
	report(rc && !cfg->globals.mcastpeer[0], "mcastpeer not an address refused (%s)", err.msg);
	rc = set(&cfg, "mcastpeer", "198.18.97.2", &err) || set(&cfg, "mcast", "sync", &err);
	report(!rc && !strcmp(cfg->globals.mcast, "sync"), "mcast sync with mcastpeer accepted");
	exlb_config_free(cfg);
}

static void test_conntrackd_render(void)
{
	struct exlb_config *cfg = with_vs("198.18.0.10");
	json_t *p = json_pack("{ss}", "VStype", "gen");
	struct exlb_err err;
	uint32_t id;
	char *text;

	text = exlb_conntrackd_render("sync", AF_INET, "198.18.97.1", "198.18.97.2",
				      "/run/exlb");
	report(text && strstr(text, "Mode FTFW {\n\t\tDisableExternalCache Off\n"),
	       "FTFW with the external cache");
	report(text && strstr(text, "\t\tIPv4_address 198.18.97.1\n") &&
	       strstr(text, "\t\tIPv4_Destination_Address 198.18.97.2\n") &&
	       strstr(text, "\t\tInterface sync\n") && strstr(text, "Port 3780\n"),
	       "UDP from this node to the peer on the sync interface");
	report(text && strstr(text, "LockFile /run/exlb/conntrackd.lock\n") &&
	       strstr(text, "Path /run/exlb/conntrackd.ctl\n") &&
	       strstr(text, "LogFile /run/exlb/conntrackd.log\n"),
	       "lock, control socket and log in exlbd's runtime directory");
	report(text && strstr(text, "Protocol Accept {\n\t\t\tTCP\n\t\t}") &&
	       strstr(text, "ESTABLISHED CLOSED TIME_WAIT CLOSE_WAIT for TCP"),
	       "TCP entries only, in the states worth carrying over");
	report(text && strstr(text, "IPv4_address 127.0.0.1\n\t\t\tIPv6_address ::1\n"
				    "\t\t\tIPv4_address 198.18.97.1\n\t\t\tIPv4_address 198.18.97.2\n\t\t}"),
	       "Address Ignore: loopback and the sync link's two ends, not the VIPs");
	free(text);
	text = exlb_conntrackd_render("eth1", AF_INET6, "fd00::1", "fd00::2", "/r");
	report(text && strstr(text, "IPv6_address fd00::1\n") &&
	       strstr(text, "IPv6_Destination_Address fd00::2\n"), "an IPv6 sync link");
	free(text);

	exlb_vs_add(cfg, "198.18.0.10", "443", NULL, p, &id, &err);
	exlb_vs_add(cfg, "198.18.0.11", "25", NULL, p, &id, &err);
	exlb_vs_add(cfg, "fd00::10", "25", NULL, p, &id, &err);
	json_decref(p);
	text = exlb_ctd_hold_render(cfg);
	report(text && strstr(text, "type filter hook prerouting priority -310;"),
	       "the hold: prerouting before conntrack and raw");
	report(text && strstr(text, "ip daddr { 198.18.0.10, 198.18.0.11 } tcp flags & (syn | ack) != syn counter drop\n") &&
	       strstr(text, "ip6 daddr { fd00::10 } tcp flags & (syn | ack) != syn counter drop\n"),
	       "the hold: every VIP once, everything but a SYN dropped");
	report(text && strstr(text, "table inet exlb_ha_hold\ndelete table inet exlb_ha_hold\n"),
	       "the hold replaces itself atomically");
	free(text);
	exlb_config_free(cfg);
}

static void test_role(void)
{
	struct exlb_runtime rt = { 0 };

	exlb_ha_set_role(&rt, EXLB_HA_ROLE_ACTIVE, NULL);
	report(rt.ha.role == EXLB_HA_ROLE_ACTIVE && rt.ha.since > 0 &&
	       !strcmp(exlb_ha_role_name(rt.ha.role), "active"),
	       "a role change is recorded with its time");
	rt.ha.since = 1;
	exlb_ha_set_role(&rt, EXLB_HA_ROLE_ACTIVE, "again");
	report(rt.ha.since == 1 && !strcmp(rt.ha.note, "again"),
	       "the same role again keeps its since, updates the note");
	report(!strcmp(exlb_ha_role_name(EXLB_HA_ROLE_FAULT), "fault") &&
	       !strcmp(exlb_ha_role_name(99), "unknown"), "role names");
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_check();
	test_render();
	test_tcpfailover_check();
	test_conntrackd_render();
	test_role();
	printf("1..%d\n", test_no);
	return failures ? 1 : 0;
}

// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The node's HA role (docs/ha.md): keepalived reports every VRRP state
 * change as a line on a FIFO (vrrp_notify_fifo), `INSTANCE "exlb" MASTER
 * 150`; exlbd reads it on its main loop, non-blocking, and records the
 * role and since when in the runtime record `exlbctl status` shows.
 * exlbd holds the FIFO open for writing too, so a restarting keepalived
 * never makes it read EOF.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ha.h"

static const char *const role_names[] = {
	[EXLB_HA_ROLE_OFF] = "off",
	[EXLB_HA_ROLE_STARTING] = "starting",
	[EXLB_HA_ROLE_ACTIVE] = "active",
	[EXLB_HA_ROLE_STANDBY] = "standby",
	[EXLB_HA_ROLE_FAULT] = "fault",
	[EXLB_HA_ROLE_DOWN] = "down",
};

const char *exlb_ha_role_name(unsigned int role)
{
	return role < sizeof(role_names) / sizeof(role_names[0]) ?
	       role_names[role] : "unknown";
}

void exlb_ha_set_role(struct exlb_runtime *rt, unsigned int role,
		      const char *note)
{
	snprintf(rt->ha.note, sizeof(rt->ha.note), "%s", note ? note : "");
	if (rt->ha.role == role)
		return;
	exlb_log(LOG_NOTICE, "HA: %s -> %s%s%s", exlb_ha_role_name(rt->ha.role),
		 exlb_ha_role_name(role), note ? ": " : "", note ? note : "");
	rt->ha.role = role;
	rt->ha.since = time(NULL);
}

/* One line from keepalived: INSTANCE "exlb" MASTER|BACKUP|FAULT|STOP prio */
static void fifo_line(struct exlb_ha *ha, const char *line)
{
	char kind[16], name[64], state[16];
	const char *note = NULL;
	unsigned int role;

	if (sscanf(line, "%15s \"%63[^\"]\" %15s", kind, name, state) != 3 ||
	    strcmp(kind, "INSTANCE") || strcmp(name, "exlb"))
		return;
	if (!strcmp(state, "MASTER")) {
		role = EXLB_HA_ROLE_ACTIVE;
	} else if (!strcmp(state, "BACKUP")) {
		role = EXLB_HA_ROLE_STANDBY;
	} else if (!strcmp(state, "FAULT")) {
		role = EXLB_HA_ROLE_FAULT;
		note = "VRRP fault: the HA interface is down";
	} else if (!strcmp(state, "STOP")) {
		role = EXLB_HA_ROLE_DOWN;
		note = "keepalived stopped";
	} else {
		return;
	}
	/*
	 * conntrackd first: on takeover the synced connections are committed
	 * into the kernel before the hold on the VIPs is lifted (docs/ha.md)
	 */
	exlb_ctd_role(ha->ctd, role);
	exlb_ha_set_role(ha->rt, role, note);
	/* a new standby pulls the active node's configuration at once */
	if (ha->on_role)
		ha->on_role(ha->on_role_ctx, ha->rt->ha.role);
}

static void on_fifo(struct ev_loop *loop, ev_io *w, int revents)
{
	struct exlb_ha *ha = w->data;
	char buf[512];
	ssize_t n;

	(void)loop;
	(void)revents;
	/* bounded: at most 16 reads per wake-up, the rest on the next */
	for (int i = 0; i < 16; i++) {
		n = read(ha->fifo_fd, buf, sizeof(buf));
		if (n <= 0)
			return;
		for (ssize_t j = 0; j < n; j++) {
			if (buf[j] != '\n') {
				if (ha->line_len < sizeof(ha->line) - 1)
					ha->line[ha->line_len++] = buf[j];
				continue;
			}
			ha->line[ha->line_len] = '\0';
			fifo_line(ha, ha->line);
			ha->line_len = 0;
		}
	}
}

int exlb_ha_fifo_open(struct exlb_ha *ha)
{
	struct stat st;

	if (!lstat(ha->fifo_path, &st) && !S_ISFIFO(st.st_mode))
		unlink(ha->fifo_path);
	if (mkfifo(ha->fifo_path, 0600) && errno != EEXIST)
		goto fail;
	/* O_RDWR: never EOF while keepalived restarts */
	ha->fifo_fd = open(ha->fifo_path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (ha->fifo_fd < 0)
		goto fail;
	ev_io_init(&ha->fifo_io, on_fifo, ha->fifo_fd, EV_READ);
	ha->fifo_io.data = ha;
	ev_io_start(ha->loop, &ha->fifo_io);
	return 0;
fail:
	exlb_log(LOG_ERR, "HA: notify FIFO %s: %s", ha->fifo_path, strerror(errno));
	return -1;
}

void exlb_ha_fifo_close(struct exlb_ha *ha)
{
	if (ha->fifo_fd < 0)
		return;
	ev_io_stop(ha->loop, &ha->fifo_io);
	close(ha->fifo_fd);
	ha->fifo_fd = -1;
	ha->line_len = 0;
}

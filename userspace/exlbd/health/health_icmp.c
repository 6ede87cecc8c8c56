// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The icmp check: one echo request per attempt, up when the matching echo
 * reply arrives within the timeout, IPv4 and IPv6.
 *
 * An unprivileged ping socket (SOCK_DGRAM, allowed by
 * net.ipv4.ping_group_range) is preferred: the kernel picks the id and
 * hands each socket only its own replies. Without it a raw socket (needs
 * CAP_NET_RAW) is used, filtered to echo replies from the connected address,
 * and our random id and sequence pick out our reply. Each attempt has its own
 * socket, so nothing is shared between attempts.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <linux/icmp.h>

#include "health_int.h"

#define PAYLOAD "exlb-healthcheck"

static uint16_t csum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t sum = 0;

	for (; len > 1; len -= 2, p += 2)
		sum += (p[0] << 8) | p[1];
	if (len)
		sum += p[0] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons(~sum & 0xffff);
}

static int open_socket(struct exlb_health *h, int family)
{
	int proto = family == AF_INET6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
	int *kind = &h->icmp_kind[family == AF_INET6];
	int fd = -1;

	if (*kind != SOCK_RAW) {
		fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    proto);
		if (fd >= 0) {
			*kind = SOCK_DGRAM;
			return fd;
		}
		if (*kind == SOCK_DGRAM)	/* worked before: a real error */
			return -1;
	}
	fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
	if (fd < 0)
		return -1;
	*kind = SOCK_RAW;

	/* a raw socket sees every ICMP message: keep only echo replies */
	if (family == AF_INET) {
		struct icmp_filter f = { .data = ~(1U << ICMP_ECHOREPLY) };

		setsockopt(fd, SOL_RAW, ICMP_FILTER, &f, sizeof(f));
	} else {
		struct icmp6_filter f;

		ICMP6_FILTER_SETBLOCKALL(&f);
		ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &f);
		setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &f, sizeof(f));
	}
	return fd;
}

int hc_icmp_start(struct hc_target *t)
{
	struct exlb_health *h = t->h;
	struct sockaddr_storage dst = t->addr;
	uint8_t pkt[8 + sizeof(PAYLOAD)];
	int fd;

	fd = open_socket(h, t->addr.ss_family);
	if (fd < 0) {
		hc_fail(t, "icmp socket: %s", strerror(errno));
		return -1;
	}
	/* connected: the kernel drops replies from other hosts */
	if (dst.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&dst)->sin6_port = 0;
	else
		((struct sockaddr_in *)&dst)->sin_port = 0;
	if (connect(fd, (struct sockaddr *)&dst, t->addrlen) < 0) {
		hc_fail(t, "icmp connect: %s", strerror(errno));
		close(fd);
		return -1;
	}

	t->echo_id = (uint16_t)(h->echo_seq * 7919u + (uintptr_t)t);
	t->echo_seq = ++h->echo_seq;
	memset(pkt, 0, sizeof(pkt));
	pkt[0] = t->addr.ss_family == AF_INET6 ? ICMP6_ECHO_REQUEST : ICMP_ECHO;
	pkt[4] = t->echo_id >> 8;
	pkt[5] = t->echo_id & 0xff;
	pkt[6] = t->echo_seq >> 8;
	pkt[7] = t->echo_seq & 0xff;
	memcpy(pkt + 8, PAYLOAD, sizeof(PAYLOAD));
	/* IPv4 raw needs our checksum; the kernel fills ICMPv6 and ping sockets */
	if (t->addr.ss_family == AF_INET) {
		uint16_t c = csum(pkt, sizeof(pkt));

		memcpy(pkt + 2, &c, 2);
	}
	if (send(fd, pkt, sizeof(pkt), 0) < 0) {
		hc_fail(t, "icmp send: %s", strerror(errno));
		close(fd);
		return -1;
	}
	t->fd = fd;
	return 0;
}

int hc_icmp_read(struct hc_target *t)
{
	bool raw4 = t->addr.ss_family == AF_INET &&
		    t->h->icmp_kind[0] == SOCK_RAW;
	bool dgram = t->h->icmp_kind[t->addr.ss_family == AF_INET6] == SOCK_DGRAM;
	uint8_t reply_type = t->addr.ss_family == AF_INET6 ?
			     ICMP6_ECHO_REPLY : ICMP_ECHOREPLY;
	uint8_t buf[1500], *p;
	int i;

	/* bounded: a flood of foreign replies cannot pin the loop here */
	for (i = 0; i < 16; i++) {
		ssize_t n = recv(t->fd, buf, sizeof(buf), 0);
		uint16_t id, seq;

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR)
				return 0;
			hc_fail(t, "icmp: %s", strerror(errno));
			return -1;
		}
		p = buf;
		if (raw4) {	/* raw IPv4 sockets deliver the IP header */
			size_t ihl = (buf[0] & 0x0f) * 4;

			if ((size_t)n < ihl + 8)
				continue;
			p += ihl;
			n -= ihl;
		}
		if (n < 8 || p[0] != reply_type || p[1] != 0)
			continue;
		id = (p[4] << 8) | p[5];
		seq = (p[6] << 8) | p[7];
		/* ping sockets rewrite the id and already filter on it */
		if (seq != t->echo_seq || (!dgram && id != t->echo_id))
			continue;
		snprintf(t->why, sizeof(t->why), "echo reply");
		return 1;
	}
	return 0;
}

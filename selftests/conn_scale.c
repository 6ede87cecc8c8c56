// SPDX-License-Identifier: GPL-2.0
/*
 * Many-socket helper for exlb_scale.sh (IPv4 only): holds tens of
 * thousands of TCP connections on one epoll loop per CPU, or sends a
 * bounded flood of SYNs from many source addresses.
 *
 *   conn_scale serve PORT STATUS
 *       Accepts on [::]:PORT (IPv4 too) and keeps every connection; closes it
 *       when the peer does. Twice a second STATUS (written whole, by
 *       rename) holds "open N" and one "ADDR N" line per peer address.
 *   conn_scale hold ADDR:PORT N STATUS SRC...
 *       Opens N connections, taking the source addresses in turn (the
 *       kernel picks the port), at most IN_FLIGHT at a time, two SYN retries.
 *       STATUS: "established N refused N failed N done 0|1", then holds
 *       them until SIGTERM and closes them with RSTs (no TIME_WAIT), at
 *       most CLOSE_BURST every 10 ms (an RST lost is never sent again).
 *   conn_scale one ADDR6 PORT SRC6 FILE
 *       One connection from SRC6 (the kernel picks the port) to
 *       [ADDR6]:PORT; once connected, FILE holds "SRC6 SPORT"; closed (FIN)
 *       at SIGTERM, or after 400 s.
 *   conn_scale syn ADDR6 PORT FIRST6 COUNT RATE
 *       Sends COUNT IPv6 SYNs to [ADDR6]:PORT from COUNT consecutive source
 *       addresses starting at FIRST6 (raw socket; the last 32 bits count
 *       up), the source ports counting up from 1024 too (a source NAT to
 *       one address then keeps each SYN's own), at most RATE a second
 *       (0 = no limit); prints how many went.
 *
 * hold and syn share the work among workers, one pinned to each CPU we may
 * run on (at most MAX_WORKERS; CONN_SCALE_WORKERS=N sets how many): a
 * packet sent into a veth is carried through every namespace it crosses
 * by the sending CPU's softirq, so one process keeps one CPU busy.
 *
 * hold is IPv4 only, one IPv6 only. Exit 0, or 1 with a message on stderr. Every loop is
 * bounded.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip6.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_FDS		200000
/*
 * Connections in progress at a time, all workers together: more only
 * queue up behind the CPUs. Under TCG on a busy host SYNs waited past
 * their 1 s retransmission timeout: 1546 of them with 2000 (the port
 * range's last SYNs are slow to refuse), 218-511 with 1000.
 */
#define IN_FLIGHT	500
/*
 * RSTs a worker sends back to back. Sent all at once, an RST lost on the
 * way is never sent again: in one CI run 749 of the 64,512 connections,
 * in one here 6291 of 70,000, stayed open at the real server (on a loaded
 * host; exlb_scale.sh now reports the input backlogs' drops while closing).
 */
#define CLOSE_BURST	64
#define MAX_PEERS	64
#define MAX_WORKERS	8

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void raise_nofile(void)
{
	struct rlimit rl = { MAX_FDS + 100, MAX_FDS + 100 };

	if (setrlimit(RLIMIT_NOFILE, &rl))
		die("setrlimit(RLIMIT_NOFILE)");
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Writes @text to @path whole: readers never see half a file. */
static void write_status(const char *path, const char *text)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		die(tmp);
	fputs(text, f);
	if (fclose(f) || rename(tmp, path))
		die(path);
}

static void parse_dst(const char *s, struct sockaddr_in *sin)
{
	char buf[64], *colon;

	snprintf(buf, sizeof(buf), "%s", s);
	colon = strrchr(buf, ':');
	if (!colon)
		exit(1);
	*colon = 0;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(atoi(colon + 1));
	if (inet_pton(AF_INET, buf, &sin->sin_addr) != 1) {
		fprintf(stderr, "bad address %s\n", s);
		exit(1);
	}
}

/* ---- workers --------------------------------------------------------- */

static int nworkers;
static int worker_cpu[MAX_WORKERS];
static pid_t worker_pid[MAX_WORKERS];

/* One worker per CPU of our affinity mask, at most @max (and MAX_WORKERS). */
static void workers_plan(long max)
{
	const char *env = getenv("CONN_SCALE_WORKERS");
	long want = env ? atol(env) : MAX_WORKERS;
	cpu_set_t set;
	int cpu;

	if (sched_getaffinity(0, sizeof(set), &set))
		die("sched_getaffinity");
	if (want > max)
		want = max;
	for (cpu = 0; cpu < CPU_SETSIZE && nworkers < want && nworkers < MAX_WORKERS; cpu++)
		if (CPU_ISSET(cpu, &set))
			worker_cpu[nworkers++] = cpu;
	if (!nworkers)
		worker_cpu[nworkers++] = sched_getcpu();
}

/* Memory the workers and the parent share (counters). */
static void *shared(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	return p;
}

/*
 * Forks the workers, each pinned to its CPU and ended with the parent.
 * Returns the worker's index in the worker, -1 in the parent.
 */
static int workers_fork(void)
{
	pid_t parent = getpid();
	cpu_set_t set;
	int i;

	for (i = 0; i < nworkers; i++) {
		worker_pid[i] = fork();
		if (worker_pid[i] < 0)
			die("fork");
		if (worker_pid[i])
			continue;
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) || getppid() != parent)
			exit(1);
		CPU_ZERO(&set);
		CPU_SET(worker_cpu[i], &set);
		if (sched_setaffinity(0, sizeof(set), &set))
			die("sched_setaffinity");
		return i;
	}
	return -1;
}

/* The parent's end: reaps the workers (after a SIGTERM if @term). */
static int workers_wait(bool term)
{
	int i, st, rc = 0;

	for (i = 0; term && i < nworkers; i++) {
		if (worker_pid[i] > 0)
			kill(worker_pid[i], SIGTERM);
	}
	for (i = 0; i < nworkers; i++) {
		if (worker_pid[i] > 0 &&
		    (waitpid(worker_pid[i], &st, 0) != worker_pid[i] ||
		     !WIFEXITED(st) || WEXITSTATUS(st)))
			rc = 1;
	}
	return rc;
}

/* ---- serve ----------------------------------------------------------- */

struct peer {
	struct in6_addr addr;
	bool used;
	long n;
};

static struct peer peers[MAX_PEERS];
static struct in6_addr fd_peer[MAX_FDS];

static void peer_add(const struct in6_addr *addr, int d)
{
	int i;

	for (i = 0; i < MAX_PEERS; i++) {
		if (!peers[i].used || !memcmp(&peers[i].addr, addr, sizeof(*addr))) {
			peers[i].addr = *addr;
			peers[i].used = true;
			peers[i].n += d;
			return;
		}
	}
}

static const char *peer_name(const struct in6_addr *a, char *buf, size_t len)
{
	if (IN6_IS_ADDR_V4MAPPED(a))
		return inet_ntop(AF_INET, &a->s6_addr[12], buf, len);
	return inet_ntop(AF_INET6, a, buf, len);
}

static int serve(int argc, char **argv)
{
	struct sockaddr_in6 sin = { .sin6_family = AF_INET6 };
	struct epoll_event ev, evs[256];
	int ls, ep, one = 1, zero = 0, i, n;
	double next = 0;
	long open_n = 0;

	if (argc != 2)
		return 2;
	raise_nofile();
	sin.sin6_port = htons(atoi(argv[0]));
	ls = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(ls, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) ||
	    bind(ls, (struct sockaddr *)&sin, sizeof(sin)) || listen(ls, 65535))
		die("listen");
	ep = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.fd = ls;
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev))
		die("epoll");
	while (!stop) {
		n = epoll_wait(ep, evs, 256, 200);
		for (i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == ls) {
				struct sockaddr_in6 peer;
				socklen_t plen;
				int c, k;

				for (k = 0; k < 512; k++) {
					plen = sizeof(peer);
					c = accept4(ls, (struct sockaddr *)&peer, &plen,
						    SOCK_NONBLOCK);
					if (c < 0)
						break;
					if (c >= MAX_FDS) {
						close(c);
						continue;
					}
					ev.events = EPOLLIN | EPOLLRDHUP;
					ev.data.fd = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
					fd_peer[c] = peer.sin6_addr;
					peer_add(&fd_peer[c], 1);
					open_n++;
				}
				continue;
			}
			/* data or EOF: these clients never send, so it is EOF */
			peer_add(&fd_peer[fd], -1);
			open_n--;
			close(fd);
		}
		if (now() >= next) {
			char text[8192], addr[INET6_ADDRSTRLEN];
			int len = snprintf(text, sizeof(text), "open %ld\n", open_n);

			for (i = 0; i < MAX_PEERS && peers[i].used; i++)
				len += snprintf(text + len, sizeof(text) - len,
						"%s %ld\n",
						peer_name(&peers[i].addr, addr,
							  sizeof(addr)),
						peers[i].n);
			write_status(argv[1], text);
			next = now() + 0.5;
		}
	}
	return 0;
}

/* ---- hold ------------------------------------------------------------ */

/* A worker's counts, written by it and read by the parent. */
struct hold_count {
	long est, refused, failed;
	int done;
};

#define SET(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define GET(x)		__atomic_load_n(&(x), __ATOMIC_RELAXED)

/*
 * Worker @w's share: connections w, w + nworkers, ... below @want, each
 * from source address argv[3 + i % nsrc]; holds them until SIGTERM.
 */
static void hold_worker(int w, struct hold_count *c, const struct sockaddr_in *dst,
			long want, char **src, int nsrc)
{
	long next_i = w, pending = 0, est = 0, refused = 0, failed = 0;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	long in_flight = IN_FLIGHT / nworkers;
	struct epoll_event ev, evs[256];
	static int fds[MAX_FDS];
	int ep, i, n, one = 1, syncnt = 2;
	struct linger lg = { 1, 0 };

	ep = epoll_create1(0);
	if (ep < 0)
		die("epoll");
	while (!stop && (next_i < want || pending)) {
		while (next_i < want && pending < in_flight) {
			int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

			if (fd < 0)
				die("socket");
			setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
				   sizeof(one));
			setsockopt(fd, IPPROTO_TCP, TCP_SYNCNT, &syncnt,
				   sizeof(syncnt));
			if (inet_pton(AF_INET, src[next_i % nsrc], &sin.sin_addr) != 1)
				exit(2);
			next_i += nworkers;
			if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)))
				die("bind");
			if (connect(fd, (struct sockaddr *)dst, sizeof(*dst)) &&
			    errno != EINPROGRESS) {
				if (errno == ECONNREFUSED)
					refused++;
				else
					failed++;
				close(fd);
				continue;
			}
			ev.events = EPOLLOUT;
			ev.data.fd = fd;
			epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
			pending++;
		}
		n = epoll_wait(ep, evs, 256, 200);
		for (i = 0; i < n; i++) {
			int fd = evs[i].data.fd, err = 0;
			socklen_t len = sizeof(err);

			getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
			epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
			pending--;
			if (!err) {
				fds[est++] = fd;
				continue;
			}
			if (err == ECONNREFUSED)
				refused++;
			else
				failed++;
			close(fd);
		}
		SET(c->est, est);
		SET(c->refused, refused);
		SET(c->failed, failed);
	}
	SET(c->done, 1);
	while (!stop)
		usleep(100000);
	for (i = 0; i < est; i++) {
		setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fds[i]);
		if (i % CLOSE_BURST == CLOSE_BURST - 1)
			usleep(10000);
	}
	exit(0);
}

static int hold(int argc, char **argv)
{
	long want, est, refused, failed, lost = 0;
	struct sockaddr_in dst;
	struct hold_count *c;
	int w, done, st;
	char text[256];

	if (argc < 4)
		return 2;
	raise_nofile();
	parse_dst(argv[0], &dst);
	want = atol(argv[1]);
	if (want <= 0 || want > MAX_FDS - 100)
		return 2;
	workers_plan(want);
	c = shared(nworkers * sizeof(*c));
	w = workers_fork();
	if (w >= 0)
		hold_worker(w, &c[w], &dst, want, argv + 3, argc - 3);
	do {
		usleep(100000);
		est = refused = failed = 0;
		done = 1;
		for (w = 0; w < nworkers; w++) {
			/* a worker gone early: its unfinished share failed */
			if (worker_pid[w] > 0 &&
			    waitpid(worker_pid[w], &st, WNOHANG) == worker_pid[w]) {
				fprintf(stderr, "hold: worker %d ended early\n", w);
				worker_pid[w] = 0;
				lost += (want - w + nworkers - 1) / nworkers -
					GET(c[w].est) - GET(c[w].refused) -
					GET(c[w].failed);
			}
			est += GET(c[w].est);
			refused += GET(c[w].refused);
			failed += GET(c[w].failed);
			done &= GET(c[w].done) || !worker_pid[w];
		}
		snprintf(text, sizeof(text),
			 "established %ld refused %ld failed %ld done %d\n",
			 est, refused, failed + lost, done);
		write_status(argv[2], text);
	} while (!stop && !done);
	while (!stop)
		usleep(100000);
	return workers_wait(true) || lost;
}

/* ---- one ------------------------------------------------------------- */

static int one(int argc, char **argv)
{
	struct sockaddr_in6 dst = { .sin6_family = AF_INET6 };
	struct sockaddr_in6 src = { .sin6_family = AF_INET6 };
	struct timeval tv = { .tv_sec = 30 };
	socklen_t len = sizeof(src);
	char addr[INET6_ADDRSTRLEN], text[128];
	double end;
	int fd;

	if (argc != 4)
		return 2;
	dst.sin6_port = htons(atoi(argv[1]));
	if (inet_pton(AF_INET6, argv[0], &dst.sin6_addr) != 1 ||
	    inet_pton(AF_INET6, argv[2], &src.sin6_addr) != 1)
		return 2;
	fd = socket(AF_INET6, SOCK_STREAM, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
	    bind(fd, (struct sockaddr *)&src, sizeof(src)))
		die("socket");
	if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)))
		die("connect");
	if (getsockname(fd, (struct sockaddr *)&src, &len))
		die("getsockname");
	snprintf(text, sizeof(text), "%s %u\n",
		 inet_ntop(AF_INET6, &src.sin6_addr, addr, sizeof(addr)),
		 ntohs(src.sin6_port));
	write_status(argv[3], text);
	end = now() + 400;
	while (!stop && now() < end)
		usleep(50000);
	close(fd);
	return 0;
}

/* ---- syn ------------------------------------------------------------- */

static uint16_t csum(const void *data, size_t len, uint32_t sum)
{
	const uint16_t *p = data;

	for (; len > 1; len -= 2)
		sum += *p++;
	if (len)
		sum += *(const uint8_t *)p;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static int syn(int argc, char **argv)
{
	struct {
		struct ip6_hdr ip;
		struct tcphdr tcp;
	} pkt;
	struct {
		struct in6_addr saddr, daddr;
		uint32_t len;
		uint8_t zero[3], next;
		struct tcphdr tcp;
	} ph;
	struct sockaddr_in6 dst = { .sin6_family = AF_INET6 };
	long count, i, n, sent = 0, *sent_by;
	struct in6_addr first;
	double t0, rate;
	uint32_t base;
	int fd, w;

	if (argc != 5)
		return 2;
	rate = atof(argv[4]);
	if (inet_pton(AF_INET6, argv[0], &dst.sin6_addr) != 1 ||
	    inet_pton(AF_INET6, argv[2], &first) != 1)
		return 2;
	count = atol(argv[3]);
	if (count <= 0 || count > 4000000)
		return 2;
	workers_plan(count);
	sent_by = shared(nworkers * sizeof(*sent_by));
	w = workers_fork();
	if (w < 0) {
		if (workers_wait(false))
			return 1;
		for (w = 0; w < nworkers; w++)
			sent += sent_by[w];
		printf("%ld\n", sent);
		return 0;
	}
	/* worker w: the sources w, w + nworkers, ..., its share of the rate */
	rate /= nworkers;
	/* IPPROTO_RAW: the header is ours (IPV6_HDRINCL implied) */
	fd = socket(AF_INET6, SOCK_RAW, IPPROTO_RAW);
	if (fd < 0)
		die("raw socket");
	memset(&pkt, 0, sizeof(pkt));
	pkt.ip.ip6_flow = htonl(6U << 28);
	pkt.ip.ip6_plen = htons(sizeof(pkt.tcp));
	pkt.ip.ip6_nxt = IPPROTO_TCP;
	pkt.ip.ip6_hlim = 64;
	pkt.ip.ip6_dst = dst.sin6_addr;
	pkt.tcp.dest = htons(atoi(argv[1]));
	pkt.tcp.doff = 5;
	pkt.tcp.syn = 1;
	pkt.tcp.window = htons(65535);
	memcpy(&base, &first.s6_addr[12], 4);
	t0 = now();
	for (i = w, n = 0; i < count; i += nworkers, n++) {
		uint32_t a = htonl(ntohl(base) + i);

		while (rate > 0 && (n % 64) == 0 && n > rate * (now() - t0))
			usleep(2000);

		pkt.ip.ip6_src = first;
		memcpy(&pkt.ip.ip6_src.s6_addr[12], &a, 4);
		pkt.tcp.source = htons(1024 + i % 64512);
		pkt.tcp.seq = htonl(0x10000000u + i);
		pkt.tcp.check = 0;
		memset(&ph, 0, sizeof(ph));
		ph.saddr = pkt.ip.ip6_src;
		ph.daddr = pkt.ip.ip6_dst;
		ph.len = htonl(sizeof(pkt.tcp));
		ph.next = IPPROTO_TCP;
		ph.tcp = pkt.tcp;
		pkt.tcp.check = csum(&ph, sizeof(ph), 0);
		if (sendto(fd, &pkt, sizeof(pkt), 0, (struct sockaddr *)&dst,
			   sizeof(dst)) == sizeof(pkt))
			sent++;
		else if (errno == ENOBUFS || errno == EAGAIN)
			usleep(1000);
	}
	sent_by[w] = sent;
	exit(0);
}

int main(int argc, char **argv)
{
	int rc = 2;

	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	if (argc >= 2 && !strcmp(argv[1], "serve"))
		rc = serve(argc - 2, argv + 2);
	else if (argc >= 2 && !strcmp(argv[1], "hold"))
		rc = hold(argc - 2, argv + 2);
	else if (argc >= 2 && !strcmp(argv[1], "one"))
		rc = one(argc - 2, argv + 2);
	else if (argc >= 2 && !strcmp(argv[1], "syn"))
		rc = syn(argc - 2, argv + 2);
	if (rc == 2)
		fprintf(stderr, "usage: see the top of conn_scale.c\n");
	return rc;
}

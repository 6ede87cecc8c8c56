// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Configuration sync of the HA pair (see sync.h, docs/ha.md "Configuration
 * sync"). The wire: one TLS 1.3 connection per exchange to the partner's
 * hasyncport, authenticated both ways by the pair's pre-shared key (PSK
 * identity "exlb-ha-sync", key = SHA-256 of a label and the pair secret,
 * ECDHE on top: psk_dhe_ke); one JSON line asked, one answered:
 *
 *   {"op":"push","generation":G,"config":{...},"certs":[...]} -> {"ok":true}
 *   {"op":"pull"}        (a standby asks the active node to push at once)
 *
 * The sender thread does pushes and pulls (retrying every second until one
 * works or a newer one replaces it), the listener thread answers the
 * partner (and nobody else), and what arrives is applied on the main loop.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "config/certs.h"
#include "config/hex.h"
#include "sync.h"

#define SYNC_MSG_MAX	(64u << 20)	/* a line: the config and its certs */
#define SYNC_IO_S	5		/* socket timeouts of an exchange */
#define SYNC_CONNECT_MS	2000
#define SYNC_RETRY_S	1
#define SYNC_APPLY_S	30		/* the listener waits this for the loop */

/* ---- the parts without threads ---- */

/* Each node's own (docs/ha.md): never taken from the partner. */
static const char *const local_params[] = {
	"hamode", "partner", "haif", "hasyncport", "AdminAddress",
	"tcpfailover", "mcast", "mcastpeer",
};

bool exlb_ha_sync_enabled(const struct exlb_config *cfg)
{
	return cfg->globals.hamode != EXLB_HAMODE_NONE &&
	       cfg->globals.hasyncport != 0;
}

bool exlb_ha_sync_param_local(const char *name)
{
	for (size_t i = 0; i < sizeof(local_params) / sizeof(local_params[0]); i++)
		if (!strcasecmp(name, local_params[i]))
			return true;
	/* the aliases of these (params.c) */
	return !strcasecmp(name, "hapeer");
}

void exlb_ha_sync_keep_local(struct exlb_config *next,
			     const struct exlb_config *cur)
{
	struct exlb_globals *n = &next->globals;
	const struct exlb_globals *c = &cur->globals;

	n->hamode = c->hamode;
	memcpy(n->partner, c->partner, sizeof(n->partner));
	memcpy(n->haif, c->haif, sizeof(n->haif));
	n->hasyncport = c->hasyncport;
	n->tcpfailover = c->tcpfailover;
	memcpy(n->mcast, c->mcast, sizeof(n->mcast));
	memcpy(n->mcastpeer, c->mcastpeer, sizeof(n->mcastpeer));
	memcpy(n->admin_address, c->admin_address, sizeof(n->admin_address));
}

bool exlb_ha_sync_refuses(const struct exlb_config *cfg, unsigned int role,
			  char *msg, size_t n)
{
	if (!exlb_ha_sync_enabled(cfg) || role != EXLB_HA_ROLE_STANDBY)
		return false;
	snprintf(msg, n, "this node is the HA standby; change the configuration on the active node %s",
		 cfg->globals.partner);
	return true;
}

void exlb_ha_sync_derive_key(const char *secret, unsigned char key[32])
{
	static const char label[] = "exlb HA configuration sync v1";
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int len = 32;

	/* label, its NUL, the secret: a key of its own for this use */
	if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(md, label, sizeof(label)) ||
	    !EVP_DigestUpdate(md, secret, strlen(secret)) ||
	    !EVP_DigestFinal_ex(md, key, &len))
		abort();	/* SHA-256 does not fail but for memory */
	EVP_MD_CTX_free(md);
}

int exlb_ha_sync_set_secret(const char *state_dir, const char *secret,
			    struct exlb_err *err)
{
	unsigned char key[32];
	char hex[65], path[PATH_MAX];
	size_t len = strlen(secret);
	json_t *doc;
	int rc;

	if (len < EXLB_HA_SYNC_SECRET_MIN || len > EXLB_HA_SYNC_SECRET_MAX)
		return exlb_err_set(err, "ha secret: %d to %d characters (got %zu)",
				    EXLB_HA_SYNC_SECRET_MIN,
				    EXLB_HA_SYNC_SECRET_MAX, len);
	for (const char *p = secret; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return exlb_err_set(err, "ha secret: no control characters");
	exlb_ha_sync_derive_key(secret, key);
	exlb_hex_encode(hex, key, sizeof(key));
	explicit_bzero(key, sizeof(key));
	doc = json_pack("{ss}", "psk", hex);
	explicit_bzero(hex, sizeof(hex));
	if (!doc)
		return exlb_err_set(err, "out of memory");
	snprintf(path, sizeof(path), "%s/%s", state_dir, EXLB_HA_SYNC_KEY_FILE);
	rc = exlb_json_write_atomic(doc, state_dir, path,
				    "." EXLB_HA_SYNC_KEY_FILE ".tmp", 0600, err);
	json_decref(doc);
	return rc;
}

int exlb_ha_sync_load_key(const char *state_dir, unsigned char key[32])
{
	char path[PATH_MAX];
	const char *hex;
	json_t *doc;
	int rc = -1;

	snprintf(path, sizeof(path), "%s/%s", state_dir, EXLB_HA_SYNC_KEY_FILE);
	doc = json_load_file(path, 0, NULL);
	hex = json_string_value(json_object_get(doc, "psk"));
	if (hex && strlen(hex) == 64) {
		rc = 0;
		for (int i = 0; i < 32; i++) {
			int hi = exlb_hex_digit(hex[2 * i]);
			int lo = exlb_hex_digit(hex[2 * i + 1]);

			if (hi < 0 || lo < 0)
				rc = -1;
			key[i] = (unsigned char)(hi << 4 | (lo & 15));
		}
	}
	json_decref(doc);
	return rc;
}

/* A file's text (NUL-terminated, malloc'ed), at most @max bytes. */
static char *read_text(const char *path, size_t max)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0;

	if (!f)
		return NULL;
	buf = malloc(max + 1);
	if (buf)
		len = fread(buf, 1, max + 1, f);
	if (!buf || ferror(f) || len > max) {
		free(buf);
		buf = NULL;
	} else {
		buf[len] = '\0';
	}
	fclose(f);
	return buf;
}

json_t *exlb_ha_sync_message(const struct exlb_store *st, uint64_t generation,
			     struct exlb_err *err)
{
	const struct exlb_config *cfg = st->config;
	json_t *certs = json_array(), *msg;
	char path[PATH_MAX];

	for (size_t i = 0; certs && i < cfg->nr_certs; i++) {
		char *crt, *key;

		snprintf(path, sizeof(path), "%s/%s/%s.crt", st->state_dir,
			 EXLB_CERTS_DIR, cfg->certs[i].name);
		crt = read_text(path, EXLB_CERT_MAX_PEM);
		snprintf(path, sizeof(path), "%s/%s/%s.key", st->state_dir,
			 EXLB_CERTS_DIR, cfg->certs[i].name);
		key = read_text(path, EXLB_CERT_MAX_PEM);
		if (!crt || !key) {
			free(crt);
			if (key)
				explicit_bzero(key, strlen(key));
			free(key);
			json_decref(certs);
			exlb_err_set(err, "certificate %s: cannot read %s",
				     cfg->certs[i].name, path);
			return NULL;
		}
		json_array_append_new(certs, json_pack("{ssssss}",
			"name", cfg->certs[i].name, "crt", crt, "key", key));
		free(crt);
		explicit_bzero(key, strlen(key));
		free(key);
	}
	msg = json_pack("{sssIsoso}", "op", "push",
			"generation", (json_int_t)generation,
			"config", exlb_config_to_json(cfg), "certs", certs);
	if (!msg)
		exlb_err_set(err, "out of memory");
	return msg;
}

static const json_t *msg_cert(const json_t *certs, const char *name)
{
	size_t i;
	json_t *c;

	json_array_foreach(certs, i, c)
		if (!strcmp(json_string_value(json_object_get(c, "name")) ?: "", name))
			return c;
	return NULL;
}

static bool has_cert(const struct exlb_config *cfg, const char *name,
		     const char *sha256)
{
	for (size_t i = 0; i < cfg->nr_certs; i++)
		if (!strcmp(cfg->certs[i].name, name) &&
		    (!sha256 || !strcmp(cfg->certs[i].sha256, sha256)))
			return true;
	return false;
}

/*
 * The certificate files @next names that this node lacks (or has other
 * ones of), installed undoably: every one parsed, checked against the
 * table's SHA-256, then written (exlb_cert_install()).
 */
static int install_certs(const struct exlb_store *st,
			 const struct exlb_config *next, const json_t *certs,
			 struct exlb_cert_txn **txns, struct exlb_err *err)
{
	for (size_t i = 0; i < next->nr_certs; i++) {
		const struct exlb_cert *c = &next->certs[i];
		const json_t *m;
		struct exlb_cert_pair pair;
		struct exlb_err why;
		int rc;

		if (has_cert(st->config, c->name, c->sha256))
			continue;	/* the same files are here */
		m = msg_cert(certs, c->name);
		if (!m)
			return exlb_err_set(err, "certificate %s: not in the push",
					    c->name);
		if (exlb_cert_parse(json_string_value(json_object_get(m, "crt")) ?: "",
				    json_string_value(json_object_get(m, "key")) ?: "",
				    &pair, &why))
			return exlb_err_set(err, "certificate %s: %s", c->name,
					    why.msg);
		rc = strcmp(pair.sha256, c->sha256) ?
		     exlb_err_set(err, "certificate %s: its files are not the ones the configuration names",
				  c->name) :
		     exlb_cert_install(st->state_dir, c->name, &pair, &txns[i], err);
		exlb_cert_pair_free(&pair);
		if (rc)
			return -1;
	}
	return 0;
}

int exlb_ha_sync_apply(struct exlb_store *st, const json_t *msg,
		       struct exlb_err *err)
{
	const json_t *doc = json_object_get(msg, "config");
	const json_t *certs = json_object_get(msg, "certs");
	struct exlb_config *next;
	struct exlb_cert_txn **txns;
	char (*gone)[EXLB_CERT_NAME_SIZE];
	size_t nr_gone = 0, nr;
	char what[160];
	int rc = -1;

	if (!json_is_object(doc) || !json_is_array(certs))
		return exlb_err_set(err, "push: \"config\" and \"certs\" expected");
	/* restore's checks: the document as a whole, then the commit's */
	next = exlb_config_from_json(doc, err);
	if (!next)
		return -1;
	exlb_ha_sync_keep_local(next, st->config);
	if (exlb_config_check(next, err)) {
		exlb_config_free(next);
		return -1;
	}
	nr = next->nr_certs;
	txns = calloc(nr + 1, sizeof(*txns));
	gone = calloc(st->config->nr_certs + 1, sizeof(*gone));
	if (!txns || !gone) {
		exlb_err_set(err, "out of memory");
		exlb_config_free(next);
		goto out;
	}
	for (size_t i = 0; i < st->config->nr_certs; i++)
		if (!has_cert(next, st->config->certs[i].name, NULL))
			memcpy(gone[nr_gone++], st->config->certs[i].name,
			       EXLB_CERT_NAME_SIZE);
	if (install_certs(st, next, certs, txns, err)) {
		exlb_config_free(next);
		goto undo;
	}
	snprintf(what, sizeof(what),
		 "HA sync: generation %lld from the active node applied: %zu services, %zu real servers, %zu certificates",
		 (long long)json_integer_value(json_object_get(msg, "generation")),
		 next->nr_services, next->nr_reals, next->nr_certs);
	/* frees next if it fails */
	if (exlb_store_commit(st, next, what, err))
		goto undo;
	for (size_t i = 0; i < nr; i++)
		exlb_cert_txn_end(txns[i], true);
	for (size_t i = 0; i < nr_gone; i++) {
		struct exlb_err why;

		/* leftover files are harmless: only the table counts */
		if (exlb_cert_remove_files(st->state_dir, gone[i], &why))
			exlb_log(LOG_WARNING, "%s", why.msg);
	}
	rc = 0;
	goto out;
undo:
	for (size_t i = 0; i < nr; i++)
		exlb_cert_txn_end(txns[i], false);
out:
	free(txns);
	free(gone);
	return rc;
}

/* ---- the threads ---- */

struct exlb_ha_sync {
	struct ev_loop *loop;
	struct exlb_store *store;
	struct exlb_runtime *rt;
	const char *state_dir;		/* the store's: fixed for its life */
	ev_async wake;			/* a thread has news for the loop */
	pthread_t sender, listener;
	bool threads;
	uint64_t next_gen;		/* the loop's: generations it made */

	pthread_mutex_t mu;		/* everything below */
	pthread_cond_t work;		/* the sender waits on it */
	pthread_cond_t applied;		/* the listener waits on it */
	bool stopping;
	/* the settings the threads work with (the loop sets them) */
	bool on;
	unsigned int role;		/* EXLB_HA_ROLE_* */
	char partner[64], haif[16];
	unsigned int port;
	unsigned int conf_gen;		/* bumped when the four above change */
	/* the sender's work */
	char *push;			/* the message line, or NULL */
	uint64_t push_gen;
	bool pull;
	/* a push the listener received, for the loop to apply */
	json_t *in_msg;
	bool in_done;
	int in_rc;
	struct exlb_err in_err;
	bool pull_asked;		/* the partner wants a push */
	struct exlb_ha_sync_status st;
	/* "persist" requests go to ha/persist_sync.c (under mu) */
	json_t *(*on_persist)(void *ctx, json_t *req, unsigned int role);
	void *on_persist_ctx;
};

/* Under mu: the last failure, for status and the log (once per change). */
static void set_error(struct exlb_ha_sync *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_error(struct exlb_ha_sync *s, const char *fmt, ...)
{
	char msg[sizeof(s->st.error)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (strcmp(msg, s->st.error))
		exlb_log(LOG_WARNING, "HA sync: %s", msg);
	memcpy(s->st.error, msg, sizeof(msg));
	ev_async_send(s->loop, &s->wake);
}

static void ssl_why(char *buf, size_t n)
{
	unsigned long e = ERR_get_error();

	if (e)
		ERR_error_string_n(e, buf, n);
	else
		snprintf(buf, n, "%s", errno ? strerror(errno) : "connection closed");
	ERR_clear_error();
}

static unsigned int psk_client(SSL *ssl, const char *hint, char *identity,
			       unsigned int max_identity, unsigned char *psk,
			       unsigned int max_psk)
{
	const unsigned char *key = SSL_get_app_data(ssl);

	(void)hint;
	if (!key || max_psk < 32 || max_identity < sizeof(EXLB_HA_SYNC_PSK_ID))
		return 0;
	memcpy(identity, EXLB_HA_SYNC_PSK_ID, sizeof(EXLB_HA_SYNC_PSK_ID));
	memcpy(psk, key, 32);
	return 32;
}

static unsigned int psk_server(SSL *ssl, const char *identity,
			       unsigned char *psk, unsigned int max_psk)
{
	const unsigned char *key = SSL_get_app_data(ssl);

	if (!key || max_psk < 32 || strcmp(identity, EXLB_HA_SYNC_PSK_ID))
		return 0;
	memcpy(psk, key, 32);
	return 32;
}

/* TLS 1.3 only, PSK only (no certificate: a wrong key fails the handshake). */
static SSL_CTX *sync_ctx(bool server)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());

	if (!ctx)
		return NULL;
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256")) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	if (server)
		SSL_CTX_set_psk_server_callback(ctx, psk_server);
	else
		SSL_CTX_set_psk_client_callback(ctx, psk_client);
	return ctx;
}

static int parse_addr(const char *text, unsigned int port,
		      struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		*len = sizeof(*a4);
		return 0;
	}
	if (inet_pton(AF_INET6, text, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		*len = sizeof(*a6);
		return 0;
	}
	return -1;
}

static void set_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = SYNC_IO_S };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* One line from @ssl (without its newline), malloc'ed; NULL: none. */
static char *ssl_read_line(SSL *ssl)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap), *nl;

	while (buf) {
		int n;

		if (len + 1 == cap) {
			char *grown = cap >= SYNC_MSG_MAX ? NULL : realloc(buf, cap * 2);

			if (!grown)
				break;
			buf = grown;
			cap *= 2;
		}
		n = SSL_read(ssl, buf + len, (int)(cap - 1 - len));
		if (n <= 0)
			break;
		len += n;
		buf[len] = '\0';
		nl = memchr(buf, '\n', len);
		if (nl) {
			*nl = '\0';
			return buf;
		}
	}
	free(buf);
	return NULL;
}

static int ssl_write_all(SSL *ssl, const char *text, size_t len)
{
	while (len) {
		int n = SSL_write(ssl, text, len > INT_MAX ? INT_MAX : (int)len);

		if (n <= 0)
			return -1;
		text += n;
		len -= n;
	}
	return 0;
}

/* A TCP connection to @ss within SYNC_CONNECT_MS; -1 + errno. */
static int connect_to(const struct sockaddr_storage *ss, socklen_t len)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)ss, len) && errno != EINPROGRESS)
		goto fail;
	if (poll(&p, 1, SYNC_CONNECT_MS) != 1) {
		errno = ETIMEDOUT;
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) || soerr) {
		errno = soerr ? soerr : errno;
		goto fail;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	set_timeouts(fd);
	return fd;
fail:
	soerr = errno;
	close(fd);
	errno = soerr;
	return -1;
}

/*
 * One exchange with the partner: @line out, its answer in. 0, or -1 with
 * why in @why. @reached: the TLS handshake worked (the pair key matches).
 */
static int exchange(SSL_CTX *ctx, const char *state_dir, const char *partner,
		    unsigned int port, const char *line, bool *reached,
		    json_t **reply, char *why, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t len;
	unsigned char key[32];
	SSL *ssl = NULL;
	char *answer = NULL, tls[96];
	json_t *doc = NULL;
	int fd = -1, rc = -1;

	*reached = false;
	if (parse_addr(partner, port, &ss, &len)) {
		snprintf(why, n, "partner '%s' is not an address", partner);
		return -1;
	}
	if (exlb_ha_sync_load_key(state_dir, key)) {
		snprintf(why, n, "no pair secret (exlbctl ha secret): sync refused");
		return -1;
	}
	fd = connect_to(&ss, len);
	if (fd < 0) {
		snprintf(why, n, "cannot connect to %s port %u: %s", partner,
			 port, strerror(errno));
		goto out;
	}
	ssl = SSL_new(ctx);
	if (!ssl || !SSL_set_fd(ssl, fd) || !SSL_set_app_data(ssl, key)) {
		snprintf(why, n, "out of memory");
		goto out;
	}
	errno = 0;
	if (SSL_connect(ssl) != 1) {
		ssl_why(tls, sizeof(tls));
		snprintf(why, n, "TLS with %.40s failed (not the same pair secret?): %s",
			 partner, tls);
		goto out;
	}
	*reached = true;
	if (ssl_write_all(ssl, line, strlen(line))) {
		ssl_why(tls, sizeof(tls));
		snprintf(why, n, "sending to %s: %s", partner, tls);
		goto out;
	}
	answer = ssl_read_line(ssl);
	doc = answer ? json_loads(answer, 0, NULL) : NULL;
	if (!doc) {
		snprintf(why, n, "%s did not answer", partner);
		goto out;
	}
	if (!json_is_true(json_object_get(doc, "ok"))) {
		snprintf(why, n, "%s refused it: %s", partner,
			 json_string_value(json_object_get(doc, "error")) ?: "?");
		goto out;
	}
	rc = 0;
	SSL_shutdown(ssl);
	if (reply)
		*reply = json_incref(doc);
out:
	explicit_bzero(key, sizeof(key));
	json_decref(doc);
	free(answer);
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	return rc;
}

static void *sender_main(void *arg)
{
	struct exlb_ha_sync *s = arg;
	SSL_CTX *ctx = sync_ctx(false);

	pthread_mutex_lock(&s->mu);
	while (!s->stopping) {
		char partner[64], why[sizeof(s->st.error)], *line;
		unsigned int port = s->port;
		uint64_t gen = s->push_gen;
		bool is_push = s->push, reached = false;
		struct timespec ts;
		int rc;

		if (!s->on || !ctx || (!s->push && !s->pull)) {
			if (!ctx && s->on)
				set_error(s, "no TLS context (OpenSSL)");
			pthread_cond_wait(&s->work, &s->mu);
			continue;
		}
		memcpy(partner, s->partner, sizeof(partner));
		line = strdup(is_push ? s->push : "{\"op\":\"pull\"}\n");
		pthread_mutex_unlock(&s->mu);
		rc = line ? exchange(ctx, s->state_dir, partner, port, line,
				     &reached, NULL, why, sizeof(why)) : -1;
		if (!line)
			snprintf(why, sizeof(why), "out of memory");
		free(line);
		pthread_mutex_lock(&s->mu);
		s->st.peer_reachable = !rc || reached;
		if (!rc) {
			s->st.error[0] = '\0';
			if (is_push) {
				s->st.acked = gen;
				s->st.acked_at = time(NULL);
				if (s->push && s->push_gen == gen) {
					free(s->push);
					s->push = NULL;
				}
			} else {
				s->pull = false;
			}
			ev_async_send(s->loop, &s->wake);
			continue;
		}
		if (is_push)
			set_error(s, "push of generation %llu: %s",
				  (unsigned long long)gen, why);
		else
			set_error(s, "pull: %s", why);
		/* again in a second, unless told otherwise meanwhile */
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += SYNC_RETRY_S;
		if (!s->stopping)
			pthread_cond_timedwait(&s->work, &s->mu, &ts);
	}
	pthread_mutex_unlock(&s->mu);
	SSL_CTX_free(ctx);
	return NULL;
}

/* The listening socket: any address on haif (SO_BINDTODEVICE), @port. */
static int listen_open(int family, const char *haif, unsigned int port,
		       char *why, size_t n)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_storage ss = { 0 };
	socklen_t len = family == AF_INET ? sizeof(struct sockaddr_in) :
			sizeof(struct sockaddr_in6);
	int one = 1;

	if (family == AF_INET) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons(port);
	} else {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
	}
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one))) ||
	    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, haif, strlen(haif)) ||
	    bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 4)) {
		snprintf(why, n, "cannot listen on port %u of %s: %s", port, haif,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static bool same_host(const struct sockaddr_storage *a,
		      const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		       &((const struct sockaddr_in6 *)b)->sin6_addr,
		       sizeof(struct in6_addr));
}

/* Under mu: the listener's answer to one request of the partner. */
static json_t *answer_request(struct exlb_ha_sync *s, json_t *req)
{
	const char *op = json_string_value(json_object_get(req, "op")) ?: "";
	struct timespec ts;

	if (!strcmp(op, "pull")) {
		s->pull_asked = true;
		ev_async_send(s->loop, &s->wake);
		json_decref(req);
		return json_pack("{sb}", "ok", 1);
	}
	if (!strcmp(op, "persist") && s->on_persist)
		return s->on_persist(s->on_persist_ctx, req, s->role);
	if (strcmp(op, "push")) {
		json_decref(req);
		return json_pack("{sbss}", "ok", 0, "error", "unknown op");
	}
	if (s->role == EXLB_HA_ROLE_ACTIVE) {
		json_decref(req);
		return json_pack("{sbss}", "ok", 0, "error",
				 "this node is active: it takes no configuration from its partner");
	}
	/* the main loop applies it: wait, bounded, for its verdict */
	json_decref(s->in_msg);
	s->in_msg = req;
	s->in_done = false;
	ev_async_send(s->loop, &s->wake);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += SYNC_APPLY_S;
	while (!s->in_done && !s->stopping &&
	       pthread_cond_timedwait(&s->applied, &s->mu, &ts) != ETIMEDOUT)
		;
	if (!s->in_done)
		return json_pack("{sbss}", "ok", 0, "error", "not applied in time");
	if (s->in_rc)
		return json_pack("{sbss}", "ok", 0, "error", s->in_err.msg);
	return json_pack("{sb}", "ok", 1);
}

/* One connection from the partner: TLS, one request, one answer. */
static void serve(struct exlb_ha_sync *s, SSL_CTX *ctx, int fd,
		  const char *partner)
{
	unsigned char key[32];
	char tls[160], *line = NULL, *text = NULL;
	SSL *ssl = NULL;
	json_t *req, *answer;

	set_timeouts(fd);
	if (exlb_ha_sync_load_key(s->state_dir, key)) {
		pthread_mutex_lock(&s->mu);
		set_error(s, "refused a connection from %s: no pair secret (exlbctl ha secret)",
			  partner);
		pthread_mutex_unlock(&s->mu);
		return;
	}
	ssl = SSL_new(ctx);
	if (!ssl || !SSL_set_fd(ssl, fd) || !SSL_set_app_data(ssl, key))
		goto out;
	errno = 0;
	if (SSL_accept(ssl) != 1) {
		ssl_why(tls, sizeof(tls));
		pthread_mutex_lock(&s->mu);
		set_error(s, "TLS from %s failed (not the same pair secret?): %s",
			  partner, tls);
		pthread_mutex_unlock(&s->mu);
		goto out;
	}
	line = ssl_read_line(ssl);
	req = line ? json_loads(line, 0, NULL) : NULL;
	pthread_mutex_lock(&s->mu);
	answer = req ? answer_request(s, req) :
		 json_pack("{sbss}", "ok", 0, "error", "not a JSON line");
	pthread_mutex_unlock(&s->mu);
	text = answer ? json_dumps(answer, JSON_COMPACT) : NULL;
	json_decref(answer);
	if (text && !ssl_write_all(ssl, text, strlen(text)) &&
	    !ssl_write_all(ssl, "\n", 1))
		SSL_shutdown(ssl);
out:
	explicit_bzero(key, sizeof(key));
	free(text);
	free(line);
	SSL_free(ssl);
}

static void *listener_main(void *arg)
{
	struct exlb_ha_sync *s = arg;
	SSL_CTX *ctx = sync_ctx(true);
	unsigned int bound = (unsigned int)-1;
	struct sockaddr_storage peer;
	socklen_t peer_len;
	char partner[64], why[160];
	int fd = -1;

	pthread_mutex_lock(&s->mu);
	while (!s->stopping) {
		struct sockaddr_storage from;
		socklen_t from_len = sizeof(from);
		struct pollfd p;
		int c;

		if (bound != s->conf_gen || (fd < 0 && s->on)) {
			if (fd >= 0)
				close(fd);
			fd = -1;
			bound = s->conf_gen;
			memcpy(partner, s->partner, sizeof(partner));
			if (s->on && ctx &&
			    !parse_addr(partner, s->port, &peer, &peer_len)) {
				fd = listen_open(peer.ss_family, s->haif, s->port,
						 why, sizeof(why));
				if (fd < 0)
					set_error(s, "%s", why);
			}
		}
		pthread_mutex_unlock(&s->mu);
		/* 200 ms: how soon it sees a stop or a new setting */
		p = (struct pollfd){ .fd = fd, .events = POLLIN };
		if (fd < 0)
			poll(NULL, 0, 1000);
		else if (poll(&p, 1, 200) == 1 &&
			 (c = accept4(fd, (struct sockaddr *)&from, &from_len,
				      SOCK_CLOEXEC)) >= 0) {
			char who[INET6_ADDRSTRLEN] = "?";

			if (from.ss_family == AF_INET)
				inet_ntop(AF_INET, &((struct sockaddr_in *)&from)->sin_addr,
					  who, sizeof(who));
			else
				inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&from)->sin6_addr,
					  who, sizeof(who));
			if (same_host(&from, &peer)) {
				serve(s, ctx, c, partner);
			} else {
				pthread_mutex_lock(&s->mu);
				set_error(s, "refused a connection from %s: not the partner",
					  who);
				pthread_mutex_unlock(&s->mu);
			}
			close(c);
		}
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	if (fd >= 0)
		close(fd);
	SSL_CTX_free(ctx);
	return NULL;
}

/* ---- on the main loop ---- */

/* The active node: the current configuration to the partner. */
static void queue_push(struct exlb_ha_sync *s)
{
	struct exlb_err err;
	json_t *msg;
	char *text;

	if (!exlb_ha_sync_enabled(s->store->config) ||
	    s->rt->ha.role != EXLB_HA_ROLE_ACTIVE)
		return;
	msg = exlb_ha_sync_message(s->store, ++s->next_gen, &err);
	text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
	json_decref(msg);
	pthread_mutex_lock(&s->mu);
	if (!text) {
		set_error(s, "push of generation %llu: %s",
			  (unsigned long long)s->next_gen,
			  msg ? "out of memory" : err.msg);
	} else {
		size_t len = strlen(text);
		char *line = realloc(text, len + 2);

		if (line) {
			memcpy(line + len, "\n", 2);
			free(s->push);
			s->push = line;
			s->push_gen = s->next_gen;
			s->st.sent = s->next_gen;
			pthread_cond_signal(&s->work);
		} else {
			free(text);
		}
	}
	pthread_mutex_unlock(&s->mu);
}

/* Copies what the threads see into the runtime record (status). */
static void publish(struct exlb_ha_sync *s)
{
	pthread_mutex_lock(&s->mu);
	s->role = s->rt->ha.role;	/* also keepalived.c's down/starting */
	s->rt->ha.sync = s->st;
	pthread_mutex_unlock(&s->mu);
}

static void on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
	struct exlb_ha_sync *s = w->data;
	json_t *msg;
	bool pull;
	struct exlb_err err = { "" };
	int rc;

	(void)loop;
	(void)revents;
	pthread_mutex_lock(&s->mu);
	msg = s->in_msg;
	s->in_msg = NULL;
	pull = s->pull_asked;
	s->pull_asked = false;
	pthread_mutex_unlock(&s->mu);
	if (msg) {
		/* the commit calls exlb_ha_sync_changed(): not under mu */
		rc = s->rt->ha.role == EXLB_HA_ROLE_ACTIVE ?
		     exlb_err_set(&err, "this node is active: it takes no configuration from its partner") :
		     exlb_ha_sync_apply(s->store, msg, &err);
		if (!rc)
			exlb_runtime_prune(s->rt, s->store->config);
		pthread_mutex_lock(&s->mu);
		s->in_rc = rc;
		s->in_err = err;
		s->in_done = true;
		if (rc) {
			set_error(s, "refused generation %lld from %s: %s",
				  (long long)json_integer_value(json_object_get(msg, "generation")),
				  s->partner, err.msg);
		} else {
			s->st.received = json_integer_value(json_object_get(msg, "generation"));
			s->st.received_at = time(NULL);
			s->st.peer_reachable = true;
			s->st.error[0] = '\0';
		}
		pthread_cond_broadcast(&s->applied);
		pthread_mutex_unlock(&s->mu);
		json_decref(msg);
	}
	if (pull)
		queue_push(s);
	publish(s);
}

/* The settings the threads follow, from the current configuration. */
static void follow_config(struct exlb_ha_sync *s)
{
	const struct exlb_globals *g = &s->store->config->globals;
	bool on = exlb_ha_sync_enabled(s->store->config);

	pthread_mutex_lock(&s->mu);
	if (on != s->on || s->port != g->hasyncport ||
	    strcmp(s->partner, g->partner) || strcmp(s->haif, g->haif)) {
		s->on = on;
		s->port = g->hasyncport;
		memcpy(s->partner, g->partner, sizeof(s->partner));
		memcpy(s->haif, g->haif, sizeof(s->haif));
		s->conf_gen++;
		s->st.on = on;
		if (!on) {
			free(s->push);
			s->push = NULL;
			s->pull = false;
			s->st.error[0] = '\0';
		}
		pthread_cond_signal(&s->work);
	}
	pthread_mutex_unlock(&s->mu);
}

void exlb_ha_sync_changed(struct exlb_ha_sync *s)
{
	if (!s)
		return;
	follow_config(s);
	queue_push(s);
	publish(s);
}

void exlb_ha_sync_role(void *ctx, unsigned int role)
{
	struct exlb_ha_sync *s = ctx;

	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->role = role;
	if (role != EXLB_HA_ROLE_ACTIVE) {
		/* never the old active's configuration onto the new one */
		free(s->push);
		s->push = NULL;
	}
	s->pull = s->on && role == EXLB_HA_ROLE_STANDBY;
	pthread_cond_signal(&s->work);
	pthread_mutex_unlock(&s->mu);
	if (role == EXLB_HA_ROLE_ACTIVE)
		queue_push(s);
}

struct exlb_ha_sync *exlb_ha_sync_new(struct ev_loop *loop,
				      struct exlb_store *store,
				      struct exlb_runtime *rt)
{
	struct exlb_ha_sync *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->loop = loop;
	s->store = store;
	s->rt = rt;
	s->state_dir = store->state_dir;
	s->role = rt->ha.role;
	/* generations grow across restarts of a node: they start at its clock */
	s->next_gen = (uint64_t)time(NULL) * 1000;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->work, NULL);
	pthread_cond_init(&s->applied, NULL);
	ev_async_init(&s->wake, on_wake);
	s->wake.data = s;
	ev_async_start(loop, &s->wake);
	follow_config(s);
	if (pthread_create(&s->sender, NULL, sender_main, s))
		goto fail;
	if (pthread_create(&s->listener, NULL, listener_main, s)) {
		pthread_mutex_lock(&s->mu);
		s->stopping = true;
		pthread_cond_signal(&s->work);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->sender, NULL);
		goto fail;
	}
	s->threads = true;
	publish(s);
	return s;
fail:
	exlb_log(LOG_ERR, "HA sync: cannot start its threads");
	ev_async_stop(loop, &s->wake);
	free(s);
	return NULL;
}

void exlb_ha_sync_free(struct exlb_ha_sync *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_cond_broadcast(&s->work);
	pthread_cond_broadcast(&s->applied);
	pthread_mutex_unlock(&s->mu);
	if (s->threads) {
		pthread_join(s->sender, NULL);
		pthread_join(s->listener, NULL);
	}
	ev_async_stop(s->loop, &s->wake);
	json_decref(s->in_msg);
	free(s->push);
	pthread_cond_destroy(&s->work);
	pthread_cond_destroy(&s->applied);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* ---- the channel for ha/persist_sync.c ---- */

SSL_CTX *exlb_ha_sync_client_ctx(void)
{
	return sync_ctx(false);
}

bool exlb_ha_sync_peer(struct exlb_ha_sync *s, char *partner, size_t n,
		       unsigned int *port, unsigned int *role)
{
	bool on;

	pthread_mutex_lock(&s->mu);
	on = s->on;
	snprintf(partner, n, "%s", s->partner);
	*port = s->port;
	*role = s->role;
	pthread_mutex_unlock(&s->mu);
	return on;
}

int exlb_ha_sync_exchange(struct exlb_ha_sync *s, SSL_CTX *ctx,
			  const char *line, json_t **reply, char *why, size_t n)
{
	unsigned int port, role;
	char partner[64];
	bool reached;

	*reply = NULL;
	if (!exlb_ha_sync_peer(s, partner, sizeof(partner), &port, &role)) {
		snprintf(why, n, "sync is off");
		return -1;
	}
	return exchange(ctx, s->state_dir, partner, port, line, &reached,
			reply, why, n);
}

void exlb_ha_sync_on_persist(struct exlb_ha_sync *s,
			     json_t *(*fn)(void *ctx, json_t *req,
					   unsigned int role),
			     void *ctx)
{
	pthread_mutex_lock(&s->mu);
	s->on_persist = fn;
	s->on_persist_ctx = ctx;
	pthread_mutex_unlock(&s->mu);
}

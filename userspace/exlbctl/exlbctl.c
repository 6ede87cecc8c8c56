// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * exlbctl: the command line of exlb. It turns `exlbctl OBJECT VERB ARGS`
 * into one request to exlbd's control socket and prints the answer as text
 * or, with -j, as JSON. It knows no rules of its own: exlbd validates
 * everything. The parameter table (exlbd/config/params.c) is linked in only to
 * write --help and to feed bash completion.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "userspace/exlbd/config/params.h"
#include "certfile.h"
#include "password.h"

#define DEFAULT_SOCKET	"/run/exlb/exlbd.sock"
#define MAX_POSITIONAL	3

static bool json_output;

struct verb;
typedef void (*print_fn)(const struct verb *v, json_t *result);

struct verb {
	const char *object;
	const char *name;
	const char *cmd;			/* control protocol command */
	const char *positional[MAX_POSITIONAL];	/* "?x" = optional */
	unsigned int scope;			/* Key=Value parameters taken */
	const char *usage;
	const char *help;
	print_fn print;
};

/* Key=Value words a verb takes as arguments of its own (not parameters). */
static const char *verb_actions(const struct verb *v)
{
	if (!strcmp(v->cmd, "cert.add") || !strcmp(v->cmd, "template.import"))
		return "replace";
	if (!strcmp(v->cmd, "template.export"))
		return "name";
	if (!strcmp(v->cmd, "admin.user.add"))
		return "role replace";
	if (!strcmp(v->cmd, "admin.apikey.add"))
		return "role";
	return NULL;
}

/* Whether @word (@len bytes) is one of @v's actions: its name in @out. */
static bool is_action(const struct verb *v, const char *word, size_t len,
		      char *out, size_t n)
{
	const char *a = verb_actions(v);

	while (a && *a) {
		size_t l = strcspn(a, " ");

		if (l == len && !strncasecmp(a, word, len)) {
			snprintf(out, n, "%.*s", (int)l, a);
			return true;
		}
		a += l + (a[l] == ' ');
	}
	return false;
}

static void print_nothing(const struct verb *v, json_t *result);
static void print_id(const struct verb *v, json_t *result);
static void print_services(const struct verb *v, json_t *result);
static void print_reals(const struct verb *v, json_t *result);
static void print_rules(const struct verb *v, json_t *result);
static void print_globals(const struct verb *v, json_t *result);
static void print_status(const struct verb *v, json_t *result);
static void print_stats(const struct verb *v, json_t *result);
static void print_document(const struct verb *v, json_t *result);
static void print_certs(const struct verb *v, json_t *result);
static void print_sso(const struct verb *v, json_t *result);
static void print_templates(const struct verb *v, json_t *result);
static void print_template(const struct verb *v, json_t *result);
static void print_applied(const struct verb *v, json_t *result);
static void print_imported(const struct verb *v, json_t *result);
static void print_version(const struct verb *v, json_t *result);
static void print_restored(const struct verb *v, json_t *result);
static void print_creds(const struct verb *v, json_t *result);
static void print_apikey(const struct verb *v, json_t *result);

#define SVC EXLB_SCOPE_SERVICE

static const struct verb verbs[] = {
	{ "vs", "add", "vs.add", { "vip", "?port", "?prot" }, EXLB_SCOPE_VS,
	  "VIP PORT [tcp] [Key=Value ...]  |  VIP [PORT] template=NAME [Key=Value ...]",
	  "Adds a virtual service and prints its id. With template=NAME (Kemp's \"Use Template\") the template's VSs, SubVSs and rules are created; PORT defaults to the template's.",
	  print_id },
	{ "vs", "mod", "vs.mod", { "vs" }, SVC, "VS Key=Value ...",
	  "Changes parameters of a VS (or SubVS).", print_nothing },
	{ "vs", "del", "vs.del", { "vs" }, 0, "VS",
	  "Deletes a VS with its SubVSs and real servers.", print_nothing },
	{ "vs", "show", "vs.show", { "?vs" }, 0, "[VS]",
	  "Lists the VSs, or shows every parameter of one.", print_services },
	{ "subvs", "add", "subvs.add", { "vs" }, EXLB_SCOPE_SUBVS,
	  "VS [Key=Value ...]",
	  "Adds a SubVS to a VS and prints its id.", print_id },
	{ "subvs", "mod", "subvs.mod", { "subvs" }, EXLB_SCOPE_SUBVS,
	  "SUBVS Key=Value ...", "Changes parameters of a SubVS.", print_nothing },
	{ "subvs", "del", "subvs.del", { "subvs" }, 0, "SUBVS",
	  "Deletes a SubVS with its real servers.", print_nothing },
	{ "subvs", "show", "subvs.show", { "?subvs" }, 0, "[SUBVS]",
	  "Lists the SubVSs, or shows every parameter of one.", print_services },
	{ "rs", "add", "rs.add", { "vs", "rs" }, EXLB_SCOPE_RS,
	  "VS|SUBVS ADDR [port=N] [Key=Value ...] [addtoallsubvs=1]",
	  "Adds a real server; addtoallsubvs=1 adds it to every SubVS of the VS.",
	  print_nothing },
	{ "rs", "mod", "rs.mod", { "vs", "rs" }, EXLB_SCOPE_RS,
	  "VS|SUBVS ADDR[:PORT] Key=Value ...",
	  "Changes a real server (newport=N changes its port).", print_nothing },
	{ "rs", "enable", "rs.enable", { "vs", "rs" }, 0, "VS|SUBVS ADDR[:PORT]",
	  "Lets a real server take new connections again.", print_nothing },
	{ "rs", "disable", "rs.disable", { "vs", "rs" }, 0, "VS|SUBVS ADDR[:PORT]",
	  "Drains a real server: no new connections, open ones continue.",
	  print_nothing },
	{ "rs", "del", "rs.del", { "vs", "rs" }, 0, "VS|SUBVS ADDR[:PORT]",
	  "Deletes a real server; its connections are reset.", print_nothing },
	{ "rs", "show", "rs.show", { "vs" }, 0, "VS|SUBVS",
	  "Lists the real servers of a service.", print_reals },
	{ "rule", "add", "rule.add", { "name" }, EXLB_SCOPE_RULE,
	  "NAME [Key=Value ...]", "Adds a content rule (type=content) or a header rule (type=addheader, deleteheader, replaceheader, modifyurl).", print_nothing },
	{ "rule", "mod", "rule.mod", { "name" }, EXLB_SCOPE_RULE,
	  "NAME Key=Value ...", "Changes a content rule.", print_nothing },
	{ "rule", "del", "rule.del", { "name" }, 0, "NAME",
	  "Deletes a content rule that no SubVS uses.", print_nothing },
	{ "rule", "show", "rule.show", { "?name" }, 0, "[NAME]",
	  "Lists the content rules.", print_rules },
	{ "rule", "attach", "rule.attach", { "subvs", "rule", "?list" }, 0,
	  "SUBVS NAME | VS NAME request|response",
	  "Makes a content rule select a SubVS, or adds a header rule to a VS's requests or responses.",
	  print_nothing },
	{ "rule", "detach", "rule.detach", { "subvs", "rule", "?list" }, 0,
	  "SUBVS|VS NAME [request|response]",
	  "Removes a rule from a SubVS or VS.", print_nothing },
	{ "sso", "add", "sso.add", { "name" }, EXLB_SCOPE_SSO,
	  "NAME [Key=Value ...] [password-file FILE|-]",
	  "Adds an SSO domain (Kemp's Manage SSO, client side): the LDAP directory ESP services (Domain=NAME) log users on against (docs/esp.md). The service account's password (adminpass) comes from password-file's first line (- = standard input), never from the command line.",
	  print_nothing },
	{ "sso", "mod", "sso.mod", { "name" }, EXLB_SCOPE_SSO,
	  "NAME Key=Value ... [password-file FILE|-]",
	  "Changes an SSO domain; password-file sets the service account's password (adminpass).",
	  print_nothing },
	{ "sso", "del", "sso.del", { "name" }, 0, "NAME",
	  "Deletes an SSO domain no service with EspEnabled=1 uses.", print_nothing },
	{ "sso", "list", "sso.list", { NULL }, 0, "",
	  "Lists the SSO domains.", print_sso },
	{ "sso", "show", "sso.show", { "name" }, 0, "NAME",
	  "Shows an SSO domain's settings (adminpass: only whether it is set).",
	  print_sso },
	{ "cert", "add", "cert.add", { "name", "cert", "?key" }, 0,
	  "NAME CERT.pem KEY.pem | NAME FILE.pfx  [password-file FILE|-] [replace=1]",
	  "Installs a certificate (leaf, then chain) and its key, from PEM files or a PKCS#12 file (.pfx/.p12, as Exchange exports it); an encrypted .pfx or PEM key is decrypted here with the password of password-file's first line (- = standard input; password-file=FILE works too), or one asked on the terminal without echo (never on the command line); replace=1 replaces one live.",
	  print_nothing },
	{ "cert", "list", "cert.list", { NULL }, 0, "",
	  "Lists the certificates and the VSs using them.", print_certs },
	{ "cert", "show", "cert.show", { "name" }, 0, "NAME",
	  "Shows one certificate.", print_certs },
	{ "cert", "del", "cert.del", { "name" }, 0, "NAME",
	  "Deletes a certificate no VS uses.", print_nothing },
	{ "template", "list", "template.list", { NULL }, 0, "",
	  "Lists the templates: built-in and imported.", print_templates },
	{ "template", "show", "template.show", { "name" }, 0, "NAME",
	  "Shows a template: its VSs, SubVSs, rules and parameters.", print_template },
	{ "template", "apply", "template.apply", { "name" }, EXLB_SCOPE_VS,
	  "NAME vip VIP [port PORT] [rs ADDR[:PORT]]... [cert CERT] [Key=Value ...]",
	  "Creates every VS of a template at VIP, atomically; rs adds a real server to all SubVSs of the main VS (or to it), cert sets CertFile of its TLS VSs, Key=Value changes the main VS.",
	  print_applied },
	{ "template", "import", "template.import", { "file" }, 0, "FILE [replace=1]",
	  "Imports the templates of a file (docs/templates.md) into exlbd's state directory.",
	  print_imported },
	{ "template", "export", "template.export", { "vs" }, 0, "VS [name=NAME]",
	  "Prints a template file that recreates a VS with its SubVSs and rules (not its VIP, servers or certificates).",
	  print_document },
	{ "template", "delete", "template.delete", { "name" }, 0, "NAME",
	  "Deletes an imported template.", print_nothing },
	{ "template", "del", "template.delete", { "name" }, 0, "NAME",
	  "Deletes an imported template (same as delete).", print_nothing },
	{ "admin user", "add", "admin.user.add", { "name" }, 0,
	  "NAME [role=read-only|admin] [password-file FILE|-] [replace=1]",
	  "Adds a user of the admin listener (docs/admin.md); role defaults to read-only. The password comes from password-file's first line (- = standard input; password-file=FILE works too) or a prompt on the terminal that does not echo, asked twice; never from the command line. replace=1 changes an existing user's password and role.",
	  print_nothing },
	{ "admin user", "del", "admin.user.del", { "name" }, 0, "NAME",
	  "Deletes a user of the admin listener.", print_nothing },
	{ "admin user", "list", "admin.user.list", { NULL }, 0, "",
	  "Lists the admin listener's users and their roles.", print_creds },
	{ "admin apikey", "add", "admin.apikey.add", { "name" }, 0,
	  "NAME [role=read-only|admin]",
	  "Makes a random API key and prints it: the only time it is shown (exlbd keeps its hash). Use it as `Authorization: Bearer KEY`, an `apikey:` header or Kemp's apikey= parameter.",
	  print_apikey },
	{ "admin apikey", "del", "admin.apikey.del", { "name" }, 0, "NAME",
	  "Deletes an API key.", print_nothing },
	{ "admin apikey", "list", "admin.apikey.list", { NULL }, 0, "",
	  "Lists the API keys' names and roles (never the keys).", print_creds },
	{ "ha", "secret", "ha.secret", { NULL }, 0, "[password-file FILE|-]",
	  "Sets this node's pair secret for configuration sync (docs/ha.md): at least 16 characters, the same on both nodes, from password-file's first line (- = standard input) or asked twice on the terminal; never from the command line, never shown again. Then `set hasyncport PORT` on both nodes.",
	  print_nothing },
	{ "set", NULL, "set", { "param", "value" }, 0, "PARAM VALUE",
	  "Sets a global parameter (Kemp `set`); PARAM=VALUE works too.",
	  print_nothing },
	{ "get", NULL, "get", { "?param" }, 0, "[PARAM]",
	  "Prints a global parameter, or all of them.", print_globals },
	{ "status", NULL, "status", { NULL }, 0, "",
	  "The View/Modify Services table: services, status, real servers.",
	  print_status },
	{ "stats", NULL, "stats", { NULL }, 0, "[--rate [SECONDS]]",
	  "Connection and traffic counters per service and real server; with --rate, per second over SECONDS (default 5, at least 2: the proxy's counters refresh every 2 s).",
	  print_stats },
	{ "save", NULL, "save", { NULL }, 0, "",
	  "Prints the whole configuration as JSON (docs/config-format.md).",
	  print_document },
	{ "version", NULL, "version", { NULL }, 0, "",
	  "Prints the versions of exlbctl and of the running exlbd.",
	  print_version },
	{ "restore", NULL, "restore", { "?file" }, 0, "[--dry-run] [FILE | < FILE]",
	  "Replaces the whole configuration with the JSON of FILE or stdin, atomically; --dry-run only checks it (OK or the error, exit 0 or 1).",
	  print_restored },
};

#define NR_VERBS (sizeof(verbs) / sizeof(verbs[0]))

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
	va_list ap;

	fputs("exlbctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void usage_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void usage_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("exlbctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see exlbctl --help)\n", stderr);
	exit(2);
}

/* ---- help ---- */

static void print_params_help(unsigned int scope)
{
	printf("\nParameters (Kemp names, case-insensitive Key=Value):\n");
	for (size_t i = 0; i < exlb_nr_params; i++) {
		const struct exlb_param *p = &exlb_params[i];
		char values[512], name[64];
		const char *v = values;

		if (!(p->scope & scope))
			continue;
		exlb_param_describe(p, values, sizeof(values));
		if (!strncmp(v, "must be ", 8))
			v += 8;
		snprintf(name, sizeof(name), "%s%s%s", p->name,
			 p->aliases ? " | " : "", p->aliases ? p->aliases : "");
		printf("  %-22s %s%s\n      %s; default %s\n", name, p->help,
		       p->refused ? " [only 0: not implemented yet, refused]" :
		       (p->flags & EXLB_PF_NOT_ACTED) ? " [stored only: acts with EspEnabled=1]" : "",
		       v, !p->def ? "set by the command" : p->def[0] ? p->def : "empty");
	}
	if (scope & EXLB_SCOPE_RS)
		printf("  %-22s %s\n", "addtoallsubvs", "1 = add to every SubVS of the VS (rs add)");
}

static void verb_help(const struct verb *v)
{
	printf("Usage: exlbctl [-j] %s%s%s %s\n%s\n", v->object, v->name ? " " : "",
	       v->name ? v->name : "", v->usage, v->help);
	if (v->scope)
		print_params_help(v->scope);
	if (!strcmp(v->object, "set") || !strcmp(v->object, "get"))
		print_params_help(EXLB_SCOPE_GLOBAL);
	if (verb_actions(v) && !strchr(verb_actions(v), ' '))
		printf("\nAlso: %s=%s\n", verb_actions(v),
		       !strcmp(verb_actions(v), "name") ? "NAME" : "0|1");
	if (!strcmp(v->cmd, "vs.add"))
		printf("\nAlso: template=NAME (exlbctl template list)\n");
}

static void object_help(const char *object)
{
	printf("Usage:\n");
	for (size_t i = 0; i < NR_VERBS; i++)
		if (!strcmp(verbs[i].object, object))
			printf("  exlbctl [-j] %s %s %s\n", object,
			       verbs[i].name ? verbs[i].name : "", verbs[i].usage);
	printf("\n`exlbctl %s VERB --help` lists the parameters.\n", object);
}

static void main_help(void)
{
	printf("Usage: exlbctl [-j] [-s SOCKET] OBJECT VERB [ARGS]\n"
	       "The command line of exlb; talks to exlbd.\n\n"
	       "  -j, --json        JSON output\n"
	       "  -s, --socket P    control socket (default $EXLB_SOCKET or %s)\n"
	       "  -h, --help        help (also after any OBJECT or VERB)\n"
	       "      --version     print \"exlbctl VERSION\" (`exlbctl version`: exlbd's too)\n\n"
	       "A VS is named by id, VIP:PORT or nickname; a SubVS by id, nickname or\n"
	       "VS/NICKNAME. Parameters are Kemp's names and value codes.\n\n",
	       DEFAULT_SOCKET);
	for (size_t i = 0; i < NR_VERBS; i++)
		printf("  exlbctl %s%s%s %s\n", verbs[i].object,
		       verbs[i].name ? " " : "", verbs[i].name ? verbs[i].name : "",
		       verbs[i].usage);
}

/* ---- talking to exlbd ---- */

/* A failed connect names the fix, not only the errno. */
static void connect_fail(const char *socket_path, int e)
{
	if (e == EACCES || e == EPERM)
		fail("cannot reach exlbd at %s: %s: add yourself to group exlb "
		     "(usermod -aG exlb USER, then log in again) or run as root",
		     socket_path, strerror(e));
	if (e == ENOENT || e == ECONNREFUSED)
		fail("cannot reach exlbd at %s: %s: is exlbd running? "
		     "systemctl status exlbd", socket_path, strerror(e));
	fail("cannot reach exlbd at %s: %s", socket_path, strerror(e));
}

static json_t *call(const char *socket_path, json_t *request)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval timeout = { .tv_sec = 60 };
	char *text = json_dumps(request, JSON_COMPACT);
	char *buf = NULL;
	size_t len = 0, cap = 0;
	json_error_t jerr;
	json_t *answer;
	int fd;

	if (!text)
		fail("out of memory");
	if (strlen(socket_path) >= sizeof(sun.sun_path))
		fail("socket path too long: %s", socket_path);
	strcpy(sun.sun_path, socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)))
		connect_fail(socket_path, errno);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));

	for (size_t off = 0, total = strlen(text); off <= total;) {
		/* the terminating NUL goes out as the newline */
		ssize_t n;

		if (off == total) {
			n = send(fd, "\n", 1, MSG_NOSIGNAL);
			if (n == 1)
				break;
		} else {
			n = send(fd, text + off, total - off, MSG_NOSIGNAL);
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail("cannot send to exlbd: %s", strerror(errno));
		if (off < total)
			off += n;
	}
	free(text);

	for (;;) {
		ssize_t n;

		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			if (!buf)
				fail("out of memory");
		}
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail("no answer from exlbd: %s", strerror(errno));
		if (n == 0)
			fail("exlbd closed the connection without answering");
		len += n;
		if (memchr(buf + len - n, '\n', n))
			break;
	}
	close(fd);
	buf[len] = 0;
	answer = json_loads(buf, JSON_DISABLE_EOF_CHECK, &jerr);
	free(buf);
	if (!answer)
		fail("bad answer from exlbd: %s", jerr.text);
	return answer;
}

/* ---- text output ---- */

/* Columns padded to the widest cell, two spaces apart. */
struct table {
	size_t cols, rows;
	char **cells;
};

static void table_add(struct table *t, const char **row)
{
	t->cells = realloc(t->cells, (t->rows + 1) * t->cols * sizeof(char *));
	if (!t->cells)
		fail("out of memory");
	for (size_t c = 0; c < t->cols; c++)
		t->cells[t->rows * t->cols + c] = strdup(row[c] ? row[c] : "");
	t->rows++;
}

static void table_print(struct table *t)
{
	size_t width[16] = { 0 };

	for (size_t r = 0; r < t->rows; r++)
		for (size_t c = 0; c < t->cols; c++)
			if (strlen(t->cells[r * t->cols + c]) > width[c])
				width[c] = strlen(t->cells[r * t->cols + c]);
	for (size_t r = 0; r < t->rows; r++) {
		for (size_t c = 0; c < t->cols; c++) {
			const char *cell = t->cells[r * t->cols + c];

			if (c == t->cols - 1)
				printf("%s\n", cell);
			else
				printf("%-*s  ", (int)width[c], cell);
			free(t->cells[r * t->cols + c]);
		}
	}
	free(t->cells);
	t->cells = NULL;
	t->rows = 0;
}

static const char *jstr(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	static char num[8][32];
	static int slot;

	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		slot = (slot + 1) % 8;
		snprintf(num[slot], sizeof(num[slot]), "%lld",
			 (long long)json_integer_value(v));
		return num[slot];
	}
	if (json_is_real(v)) {
		slot = (slot + 1) % 8;
		snprintf(num[slot], sizeof(num[slot]), "%.1f", json_real_value(v));
		return num[slot];
	}
	if (json_is_boolean(v))
		return json_is_true(v) ? "yes" : "no";
	return "";
}

static void addr_port(json_t *obj, char *buf, size_t n)
{
	const char *addr = jstr(obj, "addr")[0] ? jstr(obj, "addr") : jstr(obj, "vip");

	if (strchr(addr, ':'))
		snprintf(buf, n, "[%s]:%s", addr, jstr(obj, "port"));
	else
		snprintf(buf, n, "%s:%s", addr, jstr(obj, "port"));
}

static void print_nothing(const struct verb *v, json_t *result)
{
	(void)v;
	(void)result;
}

static void print_id(const struct verb *v, json_t *result)
{
	(void)v;
	printf("%s\n", jstr(result, "id"));
}

/* Every parameter of an object in table order, with labels of coded values. */
static void print_params(json_t *obj, unsigned int scope, const char *indent)
{
	const char *key;
	json_t *value;
	/* with ESP on, its settings act (or the service would be refused) */
	bool esp = !strcmp(jstr(obj, "EspEnabled"), "1");

	json_object_foreach(obj, key, value) {
		const struct exlb_param *p = exlb_param_find(key, scope, NULL);
		const char *text = jstr(obj, key);
		const char *label = NULL;

		if (!p)
			continue;
		if (p->type == EXLB_PT_ENUM && (p->flags & EXLB_PF_NUMERIC_CODE))
			for (const struct exlb_param_code *c = p->codes; c->name; c++)
				if (!strcmp(c->name, text))
					label = c->label;
		printf("%s%-20s %s%s%s%s%s\n", indent, p->name,
		       p->type == EXLB_PT_STRING && !text[0] ? "\"\"" : text,
		       label ? " (" : "", label ? label : "", label ? ")" : "",
		       p->refused && strcmp(text, "0") ? "   [refused: not implemented yet]" :
		       (p->flags & EXLB_PF_NOT_ACTED) && !esp ? "   [stored only]" : "");
	}
}

static void print_rs_table(json_t *list, const char *indent)
{
	struct table t = { .cols = 7 };
	const char *head[] = { "Real Server", "Weight", "Limit", "Forward",
			       "Enabled", "Critical", "Id" };
	size_t i;
	json_t *rs;
	char where[80], first[96];

	if (!json_array_size(list))
		return;
	snprintf(first, sizeof(first), "%s%s", indent, head[0]);
	head[0] = first;
	table_add(&t, head);
	json_array_foreach(list, i, rs) {
		char cell[96];
		const char *row[7];

		addr_port(rs, where, sizeof(where));
		snprintf(cell, sizeof(cell), "%s%s", indent, where);
		row[0] = cell;
		row[1] = jstr(rs, "weight");
		row[2] = jstr(rs, "limit");
		row[3] = jstr(rs, "forward");
		row[4] = !strcmp(jstr(rs, "enable"), "1") ? "yes" : "no (drain)";
		row[5] = !strcmp(jstr(rs, "critical"), "1") ? "yes" : "no";
		row[6] = jstr(rs, "id");
		table_add(&t, row);
	}
	table_print(&t);
}

static void print_service_detail(json_t *svc)
{
	bool subvs = json_object_get(svc, "parent") != NULL;
	json_t *rules = json_object_get(svc, "rules");
	json_t *sub, *rule, *timing;
	size_t i;
	char where[80];

	if (subvs) {
		printf("SubVS %s of VS %s  %s\n", jstr(svc, "id"), jstr(svc, "parent"),
		       jstr(svc, "NickName"));
	} else {
		addr_port(svc, where, sizeof(where));
		printf("VS %s  %s tcp  %s\n", jstr(svc, "id"), where,
		       jstr(svc, "NickName"));
	}
	print_params(svc, subvs ? EXLB_SCOPE_SUBVS : EXLB_SCOPE_VS, "  ");
	timing = json_object_get(svc, "health_timing");
	if (timing) {
		json_t *from = json_object_get(timing, "from");

		printf("  %-20s RetryInterval %s s (%s), Timeout %s s (%s), RetryCount %s (%s)\n",
		       "health timing", jstr(timing, "RetryInterval"),
		       jstr(from, "RetryInterval"), jstr(timing, "Timeout"),
		       jstr(from, "Timeout"), jstr(timing, "RetryCount"),
		       jstr(from, "RetryCount"));
	}
	if (json_array_size(rules)) {
		printf("  %-20s", "rules");
		json_array_foreach(rules, i, rule)
			printf(" %s", json_string_value(rule));
		printf("\n");
	}
	for (int l = 0; l < 2; l++) {
		const char *key = l ? "response_rules" : "request_rules";
		json_t *list = json_object_get(svc, key);

		if (!json_array_size(list))
			continue;
		printf("  %-20s", l ? "response rules" : "request rules");
		json_array_foreach(list, i, rule)
			printf(" %s", json_string_value(rule));
		printf("\n");
	}
	if (json_object_get(svc, "certificate") &&
	    strcmp(jstr(svc, "certificate"), "-"))
		printf("  %-20s %s\n", "certificate", jstr(svc, "certificate"));
	print_rs_table(json_object_get(svc, "rs"), "  ");
	json_array_foreach(json_object_get(svc, "subvs"), i, sub)
		printf("  SubVS %-4s %s (%zu real servers)\n", jstr(sub, "id"),
		       jstr(sub, "NickName"), json_array_size(json_object_get(sub, "rs")));
}

static void print_services(const struct verb *v, json_t *result)
{
	struct table t = { .cols = 7 };
	const char *head[] = { "Id", "Address", "Name", "Type", "Schedule",
			       "Persist", "Real Servers" };
	size_t i;
	json_t *svc;

	(void)v;
	if (json_is_object(result)) {
		print_service_detail(result);
		return;
	}
	table_add(&t, head);
	json_array_foreach(result, i, svc) {
		char where[80], count[64];
		const char *row[7];
		size_t subvs = json_array_size(json_object_get(svc, "subvs"));

		if (json_object_get(svc, "parent"))
			snprintf(where, sizeof(where), "SubVS of %s", jstr(svc, "parent"));
		else
			addr_port(svc, where, sizeof(where));
		if (subvs)
			snprintf(count, sizeof(count), "%zu SubVSs", subvs);
		else
			snprintf(count, sizeof(count), "%zu",
				 json_array_size(json_object_get(svc, "rs")));
		row[0] = jstr(svc, "id");
		row[1] = where;
		row[2] = jstr(svc, "NickName");
		row[3] = json_object_get(svc, "VStype") ? jstr(svc, "VStype") : "-";
		row[4] = jstr(svc, "Schedule");
		row[5] = jstr(svc, "Persist");
		row[6] = count;
		table_add(&t, row);
	}
	table_print(&t);
}

static void print_reals(const struct verb *v, json_t *result)
{
	(void)v;
	print_rs_table(result, "");
}

static void print_rules(const struct verb *v, json_t *result)
{
	struct table t = { .cols = 9 };
	const char *head[] = { "Name", "Type", "Match", "Pattern", "NoCase",
			       "Negate", "Header", "IncHost/IncQuery",
			       "Replacement" };
	size_t i;
	json_t *rule, *list = result;

	(void)v;
	if (json_is_object(result)) {
		list = json_array();
		json_array_append(list, result);
	}
	table_add(&t, head);
	json_array_foreach(list, i, rule) {
		char inc[16];
		const char *row[9];

		snprintf(inc, sizeof(inc), "%s/%s", jstr(rule, "inchost"),
			 jstr(rule, "incquery"));
		row[0] = jstr(rule, "name");
		row[1] = jstr(rule, "type");
		row[2] = jstr(rule, "matchtype");
		row[3] = jstr(rule, "pattern");
		row[4] = jstr(rule, "nocase");
		row[5] = jstr(rule, "negate");
		row[6] = jstr(rule, "header")[0] ? jstr(rule, "header") : "(URL)";
		row[7] = inc;
		row[8] = jstr(rule, "replacement");
		table_add(&t, row);
	}
	table_print(&t);
	if (list != result)
		json_decref(list);
}

static void print_sso(const struct verb *v, json_t *result)
{
	struct table t = { .cols = 5 };
	const char *head[] = { "Name", "Auth", "Servers", "Logon format",
			       "Bind" };
	size_t i;
	json_t *d;

	if (!strcmp(v->name, "show")) {
		printf("%-20s %s\n", "name", jstr(result, "name"));
		print_params(result, EXLB_SCOPE_SSO, "");
		return;
	}
	table_add(&t, head);
	json_array_foreach(result, i, d) {
		const char *row[] = { jstr(d, "name"), jstr(d, "auth_type"),
				      jstr(d, "server")[0] ? jstr(d, "server") : "(none)",
				      jstr(d, "logon_fmt"),
				      jstr(d, "adminuser")[0] ? "service account" : "user" };

		table_add(&t, row);
	}
	table_print(&t);
}

static void print_globals(const struct verb *v, json_t *result)
{
	(void)v;
	if (json_object_size(result) == 1) {
		const char *key;
		json_t *value;

		json_object_foreach(result, key, value)
			printf("%s\n", jstr(result, key));
		return;
	}
	print_params(result, EXLB_SCOPE_GLOBAL, "");
}

static void service_path(json_t *vs, json_t *sub, char *buf, size_t n)
{
	char where[80];
	const char *name = jstr(vs, "name");

	if (!name[0]) {
		addr_port(vs, where, sizeof(where));
		name = where;
	}
	if (sub)
		snprintf(buf, n, "%s/%s", name,
			 jstr(sub, "name")[0] ? jstr(sub, "name") : jstr(sub, "id"));
	else
		snprintf(buf, n, "%s", name);
}

static void status_rs_rows(struct table *t, json_t *vs, json_t *sub)
{
	json_t *list = json_object_get(sub ? sub : vs, "rs"), *rs;
	size_t i;

	json_array_foreach(list, i, rs) {
		char path[200], where[80];
		const char *row[8];

		service_path(vs, sub, path, sizeof(path));
		addr_port(rs, where, sizeof(where));
		row[0] = path;
		row[1] = where;
		row[2] = jstr(rs, "health");
		row[3] = !strcmp(jstr(rs, "enable"), "1") ? "yes" : "no (drain)";
		row[4] = jstr(rs, "weight");
		row[5] = jstr(rs, "active");
		row[6] = jstr(rs, "inactive");
		row[7] = jstr(rs, "reason");
		table_add(t, row);
	}
}

/* Configuration sync's line under the role: generations, partner, error. */
static void print_ha_sync(json_t *sync)
{
	const char *error = jstr(sync, "error");

	if (!json_is_true(json_object_get(sync, "on"))) {
		printf("HA sync: off\n");
		return;
	}
	printf("HA sync: port %s, partner %s, sent %s, confirmed %s, received %s%s%s\n",
	       jstr(sync, "port"),
	       json_is_true(json_object_get(sync, "peer_reachable")) ?
	       "reachable" : "not reachable",
	       jstr(sync, "sent"), jstr(sync, "acked"), jstr(sync, "received"),
	       *error ? "; last error: " : "", error);
}

/* Persistence sync's line: records sent, received, installed, dropped. */
static void print_ha_persist(json_t *persist)
{
	const char *error = jstr(persist, "error");

	if (!json_is_object(persist))
		return;
	printf("HA persistence sync: records sent %s, received %s (installed %s, dropped %s)%s%s\n",
	       jstr(persist, "sent"), jstr(persist, "received"),
	       jstr(persist, "installed"), jstr(persist, "dropped"),
	       *error ? "; last error: " : "", error);
}

/* L4 connection sync (tcpfailover): conntrackd's state, its last commit. */
static void print_ha_conntrackd(json_t *ctd)
{
	const char *note = jstr(ctd, "note"), *at = jstr(ctd, "committed_at");

	if (!json_is_true(json_object_get(ctd, "on")))
		return;
	printf("HA conntrackd: %s", jstr(ctd, "state"));
	if (json_integer_value(json_object_get(ctd, "pid")))
		printf(" (pid %s)", jstr(ctd, "pid"));
	printf(", restarted %s times, takeover hold %s", jstr(ctd, "restarts"),
	       json_is_true(json_object_get(ctd, "hold")) ? "on" : "off");
	if (*at)
		printf(", last commit %s (%s ms)", at, jstr(ctd, "commit_ms"));
	printf("%s%s\n", *note ? "; " : "", note);
}

/*
 * The HA pair first, as `wg show` puts what matters first: this node's role
 * and since when (docs/ha.md). Nothing for a single node.
 */
static void print_ha(json_t *ha)
{
	const char *note = jstr(ha, "note");

	if (!ha || !strcmp(jstr(ha, "mode"), "none"))
		return;
	printf("HA: %s (hamode %s, partner %s) since %s (%s s)%s%s\n",
	       jstr(ha, "role"), jstr(ha, "mode"), jstr(ha, "partner"),
	       jstr(ha, "since"), jstr(ha, "for_s"), *note ? ": " : "", note);
	print_ha_sync(json_object_get(ha, "sync"));
	if (json_is_true(json_object_get(json_object_get(ha, "sync"), "on")))
		print_ha_persist(json_object_get(ha, "persist"));
	print_ha_conntrackd(json_object_get(ha, "conntrackd"));
	putchar('\n');
}

static void print_status(const struct verb *v, json_t *result)
{
	struct table t = { .cols = 7 }, r = { .cols = 8 };
	const char *head[] = { "Virtual IP Address", "Prot", "Name", "Layer",
			       "Certificate Installed", "Status", "Real Servers" };
	const char *rhead[] = { "Service", "Real Server", "Health", "Enabled",
				"Weight", "Active", "Inactive", "Reason" };
	json_t *kernel = json_object_get(result, "kernel");
	json_t *vs, *sub, *item;
	size_t i, j, k;

	(void)v;
	print_ha(json_object_get(result, "ha"));
	if (!json_is_true(json_object_get(kernel, "available")))
		printf("%s\n\n", jstr(kernel, "note"));
	if (!json_array_size(json_object_get(result, "vs"))) {
		printf("no virtual services\n");
		return;
	}
	table_add(&t, head);
	table_add(&r, rhead);
	json_array_foreach(json_object_get(result, "vs"), i, vs) {
		char where[80], servers[1024] = "";
		size_t len = 0;
		const char *row[7];
		json_t *names = json_object_get(vs, "subvs_names");

		addr_port(vs, where, sizeof(where));
		if (json_array_size(names)) {
			json_array_foreach(names, k, item)
				len += snprintf(servers + len, len < sizeof(servers) ?
						sizeof(servers) - len : 0, "%s%s",
						k ? ", " : "", json_string_value(item));
		} else {
			json_array_foreach(json_object_get(vs, "rs"), k, item) {
				char rs[80];

				addr_port(item, rs, sizeof(rs));
				len += snprintf(servers + len, len < sizeof(servers) ?
						sizeof(servers) - len : 0, "%s%s",
						k ? ", " : "", rs);
			}
		}
		row[0] = where;
		row[1] = jstr(vs, "prot");
		row[2] = jstr(vs, "name");
		row[3] = jstr(vs, "layer");
		row[4] = jstr(vs, "certificate");
		row[5] = jstr(vs, "status");
		row[6] = servers;
		table_add(&t, row);
		status_rs_rows(&r, vs, NULL);
		json_array_foreach(json_object_get(vs, "subvs"), j, sub)
			status_rs_rows(&r, vs, sub);
	}
	table_print(&t);
	if (r.rows > 1) {
		printf("\n");
		table_print(&r);
	} else {
		table_print(&r);	/* frees the header row */
	}
}

static void stats_row(struct table *t, const char *service, const char *rs,
		      json_t *c)
{
	const char *row[] = { service, rs, jstr(c, "conns"), jstr(c, "active"),
			      jstr(c, "inactive"), jstr(c, "pkts_in"),
			      jstr(c, "pkts_out"), jstr(c, "bytes_in"),
			      jstr(c, "bytes_out"), jstr(c, "requests") };

	table_add(t, row);
}

/* The content rules whose regex gave up on a request (only those). */
static void print_rule_limits(json_t *result)
{
	struct table t = { .cols = 2 };
	const char *head[] = { "Rule", "PCRE2 limit hits (counted as no match)" };
	json_t *rule;
	size_t i;

	json_array_foreach(json_object_get(result, "rules"), i, rule) {
		const char *row[] = { jstr(rule, "name"), jstr(rule, "limit_hits") };

		if (json_integer_value(json_object_get(rule, "limit_hits")) <= 0)
			continue;
		if (!t.rows)
			table_add(&t, head);
		table_add(&t, row);
	}
	if (!t.rows)
		return;
	printf("\n");
	table_print(&t);
}

/* stats --rate SECONDS: 0 = cumulative counters (the default) */
static unsigned int rate_interval;

/* The counters that only grow; active and inactive are gauges. */
static const char *const cumulative[] = { "conns", "pkts_in", "pkts_out",
					  "bytes_in", "bytes_out", "requests",
					  NULL };

static json_t *by_id(json_t *list, json_t *like)
{
	json_int_t id = json_integer_value(json_object_get(like, "id"));
	json_t *item;
	size_t i;

	json_array_foreach(list, i, item)
		if (json_integer_value(json_object_get(item, "id")) == id)
			return item;
	return NULL;
}

/*
 * @now's cumulative counters become per-second rates since @before (the
 * same object @secs earlier; VSs, SubVSs and RSs matched by id). Something
 * new, or a counter that went back (exlb.ko recreated a service), counts
 * from 0.
 */
static void to_rates(json_t *now, json_t *before, double secs)
{
	static const char *const lists[] = { "vs", "subvs", "rs", NULL };
	json_t *item;
	size_t i;

	for (int k = 0; cumulative[k]; k++) {
		json_int_t n = json_integer_value(json_object_get(now, cumulative[k]));
		json_int_t b = json_integer_value(json_object_get(before, cumulative[k]));

		if (!json_object_get(now, cumulative[k]))
			continue;
		json_object_set_new(now, cumulative[k],
				    json_real((double)(b <= n ? n - b : n) / secs));
	}
	for (int l = 0; lists[l]; l++)
		json_array_foreach(json_object_get(now, lists[l]), i, item)
			to_rates(item, by_id(json_object_get(before, lists[l]), item),
				 secs);
}

static void print_stats(const struct verb *v, json_t *result)
{
	struct table t = { .cols = 10 };
	const char *head[] = { "Service", "Real Server", "Conns", "Active",
			       "Inactive", "PktsIn", "PktsOut", "BytesIn",
			       "BytesOut", "Requests" };
	const char *rate_head[] = { "Service", "Real Server", "Conns/s", "Active",
				    "Inactive", "PktsIn/s", "PktsOut/s",
				    "BytesIn/s", "BytesOut/s", "Requests/s" };
	json_t *kernel = json_object_get(result, "kernel");
	json_t *vs, *sub, *rs, *proxy;
	size_t i, j, k;
	char path[200], where[80];

	(void)v;
	if (!json_is_true(json_object_get(kernel, "available")))
		printf("%s\n\n", jstr(kernel, "note"));
	if (rate_interval)
		printf("rates over %u s (Active, Inactive: now)\n\n", rate_interval);
	table_add(&t, rate_interval ? rate_head : head);
	json_array_foreach(json_object_get(result, "vs"), i, vs) {
		service_path(vs, NULL, path, sizeof(path));
		stats_row(&t, path, "(all)", vs);
		json_array_foreach(json_object_get(vs, "rs"), k, rs) {
			addr_port(rs, where, sizeof(where));
			stats_row(&t, path, where, rs);
		}
		json_array_foreach(json_object_get(vs, "subvs"), j, sub) {
			service_path(vs, sub, path, sizeof(path));
			stats_row(&t, path, "(all)", sub);
			json_array_foreach(json_object_get(sub, "rs"), k, rs) {
				addr_port(rs, where, sizeof(where));
				stats_row(&t, path, where, rs);
			}
		}
	}
	stats_row(&t, "total", "", result);
	table_print(&t);
	proxy = json_object_get(result, "proxy");
	if (proxy)
		printf("\nL7 proxy: descriptor limit %s, %s kept for health checks and control; at the limit: %s connections refused, %s accept pauses, %s server/pipe descriptors not opened\n",
		       jstr(proxy, "fd_limit"), jstr(proxy, "fd_reserve"),
		       jstr(proxy, "conns_refused"), jstr(proxy, "accept_pauses"),
		       jstr(proxy, "fd_short"));
	if (proxy)
		printf("L7 proxy: %s connections closed at once by a VS's MaxConnsLimit, "
		       "%s requests tried on another RS after a connect failure\n",
		       jstr(proxy, "conns_over_limit"), jstr(proxy, "connect_retries"));
	print_rule_limits(result);
}

static void print_cert_detail(json_t *c)
{
	json_t *item;
	size_t i;

	printf("certificate %s\n", jstr(c, "name"));
	printf("  %-10s %s\n", "subject", jstr(c, "subject"));
	printf("  %-10s %s\n", "issuer", jstr(c, "issuer"));
	printf("  %-10s", "names");
	json_array_foreach(json_object_get(c, "sans"), i, item)
		printf(" %s", json_string_value(item));
	printf("\n  %-10s %s\n", "notBefore", jstr(c, "notBefore"));
	printf("  %-10s %s\n", "notAfter", jstr(c, "notAfter"));
	printf("  %-10s %s\n", "sha256", jstr(c, "sha256"));
	printf("  %-10s %s\n", "key", jstr(c, "key"));
	printf("  %-10s %s\n", "chain", jstr(c, "chain"));
	printf("  %-10s", "used by");
	json_array_foreach(json_object_get(c, "used_by"), i, item)
		printf(" %s", json_string_value(item));
	printf("\n");
	if (jstr(c, "error")[0])
		printf("  %-10s %s\n", "ERROR", jstr(c, "error"));
}

static void print_certs(const struct verb *v, json_t *result)
{
	struct table t = { .cols = 6 };
	const char *head[] = { "Name", "CN", "SANs", "Not After", "SHA-256",
			       "Used By" };
	json_t *c, *item;
	size_t i, k;

	(void)v;
	if (json_is_object(result)) {
		print_cert_detail(result);
		return;
	}
	if (!json_array_size(result)) {
		printf("no certificates\n");
		return;
	}
	table_add(&t, head);
	json_array_foreach(result, i, c) {
		char sans[512] = "", users[512] = "";
		size_t len = 0;
		const char *row[6];

		json_array_foreach(json_object_get(c, "sans"), k, item)
			len += snprintf(sans + len, len < sizeof(sans) ?
					sizeof(sans) - len : 0, "%s%s",
					k ? "," : "", json_string_value(item));
		len = 0;
		json_array_foreach(json_object_get(c, "used_by"), k, item)
			len += snprintf(users + len, len < sizeof(users) ?
					sizeof(users) - len : 0, "%s%s",
					k ? ", " : "", json_string_value(item));
		row[0] = jstr(c, "name");
		row[1] = jstr(c, "error")[0] ? "(files unreadable)" : jstr(c, "cn");
		row[2] = sans;
		row[3] = jstr(c, "notAfter");
		row[4] = jstr(c, "sha256");
		row[5] = users[0] ? users : "-";
		table_add(&t, row);
	}
	table_print(&t);
}

static void print_templates(const struct verb *v, json_t *result)
{
	struct table t = { .cols = 6 };
	const char *head[] = { "Name", "Set", "Source", "Ports", "SubVSs", "Note" };
	json_t *tmpl, *vs, *item;
	size_t i, k;

	(void)v;
	table_add(&t, head);
	json_array_foreach(json_object_get(result, "templates"), i, tmpl) {
		char ports[128] = "", subvs[32];
		size_t len = 0, nr_subvs = 0;
		const char *row[6];

		json_array_foreach(json_object_get(tmpl, "vs"), k, vs) {
			len += snprintf(ports + len, len < sizeof(ports) ?
					sizeof(ports) - len : 0, "%s%s%s",
					k ? " " : "", jstr(vs, "port"),
					json_is_true(json_object_get(vs, "main")) &&
					json_array_size(json_object_get(tmpl, "vs")) > 1 ?
					"*" : "");
			nr_subvs += json_integer_value(json_object_get(vs, "subvs"));
		}
		snprintf(subvs, sizeof(subvs), "%zu", nr_subvs);
		row[0] = jstr(tmpl, "name");
		row[1] = jstr(tmpl, "set");
		row[2] = jstr(tmpl, "source");
		row[3] = ports;
		row[4] = subvs;
		/* the ESP templates with pre-authentication: listed, but apply refuses them for now */
		row[5] = jstr(tmpl, "refused")[0] ? "refused: an ESP setting not implemented yet" : "";
		table_add(&t, row);
	}
	if (t.rows > 1)
		table_print(&t);
	else {
		table_print(&t);
		printf("no templates in %s or %s\n", jstr(result, "builtin_dir"),
		       jstr(result, "imported_dir"));
	}
	json_array_foreach(json_object_get(result, "errors"), i, item)
		fprintf(stderr, "exlbctl: warning: %s\n", json_string_value(item));
}

/* The parameters of a template's VS or SubVS, "Key Value" per line. */
static void print_template_params(json_t *obj, unsigned int scope,
				  const char *indent)
{
	json_t *shown = json_object();
	const char *key;
	json_t *value;

	/* in table order, with the labels of coded values, like vs show */
	json_object_foreach(obj, key, value)
		if (exlb_param_find(key, scope, NULL))
			json_object_set(shown, exlb_param_find(key, scope, NULL)->name,
					value);
	print_params(shown, scope, indent);
	json_decref(shown);
}

static void print_template(const struct verb *v, json_t *result)
{
	json_t *vs, *sub, *rule, *item;
	size_t i, j, k;

	(void)v;
	printf("template %s\n  %-20s %s (%s, %s)\n", jstr(result, "name"), "from",
	       jstr(result, "set"), jstr(result, "source"), jstr(result, "file"));
	if (jstr(result, "description")[0])
		printf("  %-20s %s\n", "description", jstr(result, "description"));
	if (jstr(result, "refused")[0])
		printf("  %-20s %s\n", "refused", jstr(result, "refused"));
	json_array_foreach(json_object_get(result, "rules"), i, rule)
		printf("  rule %-15s %s %s%s\n", jstr(rule, "name"),
		       jstr(rule, "matchtype")[0] ? jstr(rule, "matchtype") : "regex",
		       jstr(rule, "pattern"),
		       !strcmp(jstr(rule, "nocase"), "1") ? " nocase" : "");
	json_array_foreach(json_object_get(result, "vs"), i, vs) {
		printf("  VS port %s %s%s\n", jstr(vs, "port"),
		       jstr(vs, "prot")[0] ? jstr(vs, "prot") : "tcp",
		       json_is_true(json_object_get(vs, "main")) ? "  (main)" : "");
		print_template_params(vs, EXLB_SCOPE_VS, "    ");
		json_array_foreach(json_object_get(vs, "subvs"), j, sub) {
			printf("    SubVS %s\n", jstr(sub, "NickName"));
			print_template_params(sub, EXLB_SCOPE_SUBVS, "      ");
			if (json_array_size(json_object_get(sub, "rules"))) {
				printf("      %-20s", "rules");
				json_array_foreach(json_object_get(sub, "rules"), k, item)
					printf(" %s", json_string_value(item));
				printf("\n");
			}
		}
	}
}

static void print_applied(const struct verb *v, json_t *result)
{
	json_t *vs;
	size_t i;

	(void)v;
	json_array_foreach(json_object_get(result, "vs"), i, vs) {
		char where[80];
		size_t nr_rs = json_array_size(json_object_get(vs, "rs"));
		json_t *sub;
		size_t j;

		json_array_foreach(json_object_get(vs, "subvs"), j, sub)
			nr_rs += json_array_size(json_object_get(sub, "rs"));
		addr_port(vs, where, sizeof(where));
		printf("%-4s %-22s %s (%zu SubVSs, %zu real servers)\n",
		       jstr(vs, "id"), where, jstr(vs, "NickName"),
		       json_array_size(json_object_get(vs, "subvs")), nr_rs);
	}
}

static void print_imported(const struct verb *v, json_t *result)
{
	json_t *name;
	size_t i;

	(void)v;
	json_array_foreach(json_object_get(result, "imported"), i, name)
		printf("%s\n", json_string_value(name));
}

static void print_version(const struct verb *v, json_t *result)
{
	(void)v;
	printf("exlbctl %s\nexlbd %s\n", EXLB_VERSION, jstr(result, "version"));
}

/* restore prints nothing; restore --dry-run what it checked */
static void print_restored(const struct verb *v, json_t *result)
{
	(void)v;
	if (json_is_object(result))
		printf("OK: %s services, %s real servers, %s rules; nothing applied\n",
		       jstr(result, "services"), jstr(result, "reals"),
		       jstr(result, "rules"));
}

static void print_document(const struct verb *v, json_t *result)
{
	(void)v;
	json_dumpf(result, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	printf("\n");
}

/* ---- argv to request ---- */

static void print_creds(const struct verb *v, json_t *result)
{
	struct table t = { .cols = 2 };
	const char *head[] = { "Name", "Role" };
	json_t *c;
	size_t i;

	(void)v;
	if (!json_array_size(result)) {
		printf("none\n");
		return;
	}
	table_add(&t, head);
	json_array_foreach(result, i, c) {
		const char *row[] = { jstr(c, "name"), jstr(c, "role") };

		table_add(&t, row);
	}
	table_print(&t);
}

static void print_apikey(const struct verb *v, json_t *result)
{
	(void)v;
	printf("%s\n", jstr(result, "key"));
	fprintf(stderr, "exlbctl: API key '%s' (%s): shown only now, store it\n",
		jstr(result, "name"), jstr(result, "role"));
}

/*
 * admin user add: the new password (password.c: password-file FILE, - =
 * standard input, or asked twice on the terminal) travels to exlbd, which
 * keeps only its hash.
 */
static void add_password(json_t *args, const char *file)
{
	char need[160], label[160], err[PATH_MAX + 256];
	struct exlbctl_password_source src = {
		.file = file, .label = label, .need = need, .confirm = true,
	};
	struct exlbctl_password pw;

	snprintf(label, sizeof(label), "admin user %s", jstr(args, "name"));
	snprintf(need, sizeof(need), "admin user add %s needs a password",
		 jstr(args, "name"));
	if (exlbctl_password_read(&pw, &src, err, sizeof(err)))
		fail("%s", err);
	json_object_set_new(args, "password", json_string(pw.text));
	exlbctl_password_wipe(&pw);
	if (!json_is_string(json_object_get(args, "password")))
		fail("the password is not UTF-8 text");
}

/* ha secret: the pair secret, as a password is read (password.c) */
static void ha_secret(json_t *args, const char *file)
{
	char err[PATH_MAX + 256];
	struct exlbctl_password_source src = {
		.file = file, .label = "the HA pair secret",
		.need = "ha secret needs the pair secret", .confirm = true,
	};
	struct exlbctl_password pw;

	if (exlbctl_password_read(&pw, &src, err, sizeof(err)))
		fail("%s", err);
	json_object_set_new(args, "secret", json_string(pw.text));
	exlbctl_password_wipe(&pw);
	if (!json_is_string(json_object_get(args, "secret")))
		fail("the secret is not UTF-8 text");
}

/*
 * sso add|mod: adminpass (the service account's password, exlbd binds with
 * it) only from password-file FILE (- = standard input), never argv.
 */
static void sso_adminpass(json_t *args, const char *file)
{
	char need[160], label[160], err[PATH_MAX + 256];
	struct exlbctl_password_source src = {
		.file = file, .label = label, .need = need,
	};
	json_t *params = json_object_get(args, "params");
	struct exlbctl_password pw;
	const char *key;
	json_t *value;

	json_object_foreach(params, key, value) {
		const struct exlb_param *p = exlb_param_find(key, EXLB_SCOPE_SSO, NULL);

		if (p && (p->flags & EXLB_PF_SECRET))
			usage_fail("sso: %s: no password on the command line: every user can read it (ps, /proc) and it stays in the shell's history; put it in a file (password-file FILE, first line; - = standard input)",
				   p->name);
	}
	if (!file)
		return;
	snprintf(label, sizeof(label), "SSO domain %s adminpass", jstr(args, "name"));
	snprintf(need, sizeof(need), "sso %s needs the adminpass", jstr(args, "name"));
	if (exlbctl_password_read(&pw, &src, err, sizeof(err)))
		fail("%s", err);
	if (!params) {
		params = json_object();
		json_object_set_new(args, "params", params);
	}
	json_object_set_new(params, "adminpass", json_string(pw.text));
	exlbctl_password_wipe(&pw);
	if (!json_is_string(json_object_get(params, "adminpass")))
		fail("the password is not UTF-8 text");
}

static const struct verb *find_verb(const char *object, const char *name)
{
	for (size_t i = 0; i < NR_VERBS; i++)
		if (!strcmp(verbs[i].object, object) &&
		    (!verbs[i].name || (name && !strcmp(verbs[i].name, name))))
			return &verbs[i];
	return NULL;
}

static bool object_exists(const char *object)
{
	for (size_t i = 0; i < NR_VERBS; i++)
		if (!strcmp(verbs[i].object, object))
			return true;
	return false;
}

static json_t *read_stdin_json(void)
{
	json_error_t jerr;
	json_t *doc = json_loadf(stdin, JSON_REJECT_DUPLICATES, &jerr);

	if (!doc)
		fail("restore: stdin line %d: %s", jerr.line, jerr.text);
	return doc;
}

static json_t *read_json_file(const char *path)
{
	json_error_t jerr;
	json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);

	if (!doc)
		fail("%s:%d: %s", path, jerr.line, jerr.text);
	return doc;
}

/* template apply NAME vip VIP [port PORT] [rs ADDR]... [cert CERT] [Key=Value ...] */
static json_t *build_apply_args(const struct verb *v, int argc, char **argv)
{
	json_t *args = json_object(), *params = json_object(), *rs = json_array();

	if (argc < 1 || strchr(argv[0], '='))
		usage_fail("template apply: missing NAME (usage: %s)", v->usage);
	json_object_set_new(args, "name", json_string(argv[0]));
	for (int i = 1; i < argc; i++) {
		const char *word = argv[i];
		char *eq = strchr(argv[i], '=');

		if (eq && eq != argv[i]) {
			*eq = 0;
			if (json_object_get(params, argv[i]))
				usage_fail("%s: given twice", argv[i]);
			json_object_set_new(params, argv[i], json_string(eq + 1));
			continue;
		}
		if (strcmp(word, "vip") && strcmp(word, "port") &&
		    strcmp(word, "rs") && strcmp(word, "cert"))
			usage_fail("template apply: unexpected '%s' (usage: %s)", word,
				   v->usage);
		if (++i == argc)
			usage_fail("template apply: %s needs a value", word);
		if (!strcmp(word, "rs")) {
			json_array_append_new(rs, json_string(argv[i]));
			continue;
		}
		if (json_object_get(args, word))
			usage_fail("template apply: %s given twice", word);
		json_object_set_new(args, word, json_string(argv[i]));
	}
	if (!json_object_get(args, "vip"))
		usage_fail("template apply: missing vip VIP (usage: %s)", v->usage);
	if (json_array_size(rs))
		json_object_set_new(args, "rs", rs);
	else
		json_decref(rs);
	if (json_object_size(params))
		json_object_set_new(args, "params", params);
	else
		json_decref(params);
	return args;
}

/* password-file FILE of cert add and admin user add (never a password) */
static const char *password_file;

static json_t *build_args(const struct verb *v, int argc, char **argv)
{
	json_t *args, *params;
	int pos = 0;

	if (!strcmp(v->cmd, "template.apply"))
		return build_apply_args(v, argc, argv);
	args = json_object();
	params = json_object();

	/* `set droponfail=1` */
	if (!strcmp(v->cmd, "set") && argc == 1 && strchr(argv[0], '=')) {
		char *eq = strchr(argv[0], '=');

		*eq = 0;
		json_object_set_new(args, "param", json_string(argv[0]));
		json_object_set_new(args, "value", json_string(eq + 1));
		json_decref(params);
		return args;
	}
	for (int i = 0; i < argc; i++) {
		const char *slot = pos < MAX_POSITIONAL ? v->positional[pos] : NULL;
		char *eq = strchr(argv[i], '=');
		bool optional = slot && slot[0] == '?';
		char action[32];

		/* an action of the verb (cert add replace=1) */
		if (eq && is_action(v, argv[i], (size_t)(eq - argv[i]), action,
				    sizeof(action))) {
			json_object_set_new(args, action, json_string(eq + 1));
			continue;
		}
		/* a positional argument, unless an optional one that looks like Key=Value */
		if (slot && !(optional && eq && v->scope)) {
			json_object_set_new(args, slot + optional, json_string(argv[i]));
			pos++;
			continue;
		}
		if (!v->scope)
			usage_fail("%s%s%s: unexpected argument '%s'", v->object,
				   v->name ? " " : "", v->name ? v->name : "", argv[i]);
		if (!eq || eq == argv[i])
			usage_fail("expected Key=Value, got '%s'", argv[i]);
		*eq = 0;
		if (json_object_get(params, argv[i]))
			usage_fail("%s: given twice", argv[i]);
		json_object_set_new(params, argv[i], json_string(eq + 1));
	}
	for (; pos < MAX_POSITIONAL && v->positional[pos]; pos++)
		if (v->positional[pos][0] != '?')
			usage_fail("%s%s%s: missing %s (usage: %s)", v->object,
				   v->name ? " " : "", v->name ? v->name : "",
				   v->positional[pos], v->usage);
	if (json_object_size(params))
		json_object_set_new(args, "params", params);
	else
		json_decref(params);
	if (!strcmp(v->cmd, "restore")) {
		const char *file = jstr(args, "file");

		json_object_set_new(args, "config", file[0] ?
				    read_json_file(file) : read_stdin_json());
		json_object_del(args, "file");
	}
	if (!strcmp(v->cmd, "template.import")) {
		/* like certificates, the document travels, not the path */
		json_object_set_new(args, "template",
				    read_json_file(jstr(args, "file")));
		json_object_del(args, "file");
	}
	if (!strcmp(v->cmd, "admin.user.add"))
		add_password(args, password_file);
	if (!strcmp(v->cmd, "ha.secret"))
		ha_secret(args, password_file);
	if (!strcmp(v->cmd, "sso.add") || !strcmp(v->cmd, "sso.mod"))
		sso_adminpass(args, password_file);
	if (!strcmp(v->cmd, "cert.add")) {
		/*
		 * exlbd may not see our files: the PEM text travels, decrypted
		 * here (certfile.c) so no password ever reaches exlbd
		 */
		struct exlbctl_cert_text t;
		char err[512];

		if (exlbctl_cert_read(jstr(args, "cert"),
				      jstr(args, "key")[0] ? jstr(args, "key") : NULL,
				      password_file, &t, err, sizeof(err)))
			fail("%s", err);
		json_object_set_new(args, "cert", json_string(t.cert_pem));
		json_object_set_new(args, "key", json_string(t.key_pem));
		exlbctl_cert_text_free(&t);
		if (!json_is_string(json_object_get(args, "cert")) ||
		    !json_is_string(json_object_get(args, "key")))
			fail("certificate or key: not UTF-8 text (PEM expected)");
	}
	return args;
}

/*
 * cert add and admin user add: password-file FILE or password-file=FILE
 * (- = standard input) taken out of the arguments, for password.c. A
 * password itself is refused: argv is readable by every user (ps,
 * /proc/PID/cmdline) and stays in shell history.
 */
static int take_password_file(const char *verb, char **rest, int nr_rest)
{
	for (int i = 2; i < nr_rest; i++) {
		const char *file = NULL;
		int words = 0;

		if (!strcasecmp(rest[i], "password") || !strncasecmp(rest[i], "password=", 9) ||
		    !strcasecmp(rest[i], "pass") || !strncasecmp(rest[i], "pass=", 5))
			usage_fail("%s: no password on the command line: every "
				   "user can read it (ps, /proc) and it stays in the shell's "
				   "history; put it in a file (password-file FILE, first "
				   "line; - = standard input) or leave it out to be asked "
				   "on the terminal", verb);
		if (!strcasecmp(rest[i], "password-file")) {
			if (i + 1 == nr_rest)
				usage_fail("%s: password-file needs a FILE (- = standard input)",
					   verb);
			file = rest[i + 1];
			words = 2;
		} else if (!strncasecmp(rest[i], "password-file=", 14)) {
			file = rest[i] + 14;
			words = 1;
		}
		if (!words)
			continue;
		if (!file[0])
			usage_fail("%s: password-file needs a FILE (- = standard input)",
				   verb);
		if (password_file)
			usage_fail("%s: password-file given twice", verb);
		password_file = file;
		memmove(&rest[i], &rest[i + words],
			(nr_rest - i - words) * sizeof(rest[0]));
		nr_rest -= words;
		i--;
	}
	return nr_rest;
}

/* For bash completion: `exlbctl __params vs` prints "Name=" per parameter. */
static int complete_params(const char *object)
{
	unsigned int scope = !strcmp(object, "vs") ? SVC :
			     !strcmp(object, "subvs") ? EXLB_SCOPE_SUBVS :
			     !strcmp(object, "rs") ? EXLB_SCOPE_RS :
			     !strcmp(object, "rule") ? EXLB_SCOPE_RULE :
			     !strcmp(object, "sso") ? EXLB_SCOPE_SSO :
			     EXLB_SCOPE_GLOBAL;

	for (size_t i = 0; i < exlb_nr_params; i++)
		if (exlb_params[i].scope & scope)
			printf("%s%s\n", exlb_params[i].name,
			       scope == EXLB_SCOPE_GLOBAL ? "" : "=");
	if (scope == EXLB_SCOPE_RS)
		printf("addtoallsubvs=\n");
	return 0;
}

int main(int argc, char **argv)
{
	const char *socket_path = getenv("EXLB_SOCKET");
	const struct verb *v;
	const char *cmd;
	char *rest[256];
	int nr_rest = 0;
	bool help = false;
	json_t *request, *answer;

	if (!socket_path || !socket_path[0])
		socket_path = DEFAULT_SOCKET;
	/* -j and --help may come anywhere (`exlbctl vs show OWA -j`) */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-j") || !strcmp(argv[i], "--json")) {
			json_output = true;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			help = true;
		} else if (nr_rest == 0 && !strcmp(argv[i], "--version")) {
			printf("exlbctl %s\n", EXLB_VERSION);
			return 0;
		} else if (nr_rest == 0 &&
			   (!strcmp(argv[i], "-s") || !strcmp(argv[i], "--socket"))) {
			if (++i == argc)
				usage_fail("%s needs a path", argv[i - 1]);
			socket_path = argv[i];
		} else if (nr_rest == 0 && argv[i][0] == '-') {
			usage_fail("unknown option '%s'", argv[i]);
		} else if (nr_rest < 256) {
			rest[nr_rest++] = argv[i];
		} else {
			usage_fail("too many arguments");
		}
	}
	if (nr_rest == 0) {
		main_help();
		return help ? 0 : 2;
	}
	if (!strcmp(rest[0], "__params"))
		return complete_params(nr_rest > 1 ? rest[1] : "");
	if (!strcmp(rest[0], "help")) {
		main_help();
		return 0;
	}
	/* `admin user add`: the object is two words */
	if (!strcmp(rest[0], "admin") && nr_rest == 1) {
		object_help("admin user");
		object_help("admin apikey");
		return help ? 0 : 2;
	}
	if (!strcmp(rest[0], "admin") && nr_rest > 1) {
		static char object[32];

		snprintf(object, sizeof(object), "admin %s", rest[1]);
		rest[1] = object;
		memmove(rest, rest + 1, --nr_rest * sizeof(rest[0]));
	}
	if (!object_exists(rest[0]))
		usage_fail("unknown object '%s'", rest[0]);
	v = find_verb(rest[0], nr_rest > 1 ? rest[1] : NULL);
	if (!v) {
		if (help || nr_rest == 1) {
			object_help(rest[0]);
			return help ? 0 : 2;
		}
		usage_fail("unknown verb '%s %s'", rest[0], rest[1]);
	}
	if (help) {
		verb_help(v);
		return 0;
	}
	cmd = v->cmd;

	if (!strcmp(v->cmd, "cert.add"))
		nr_rest = take_password_file("cert add", rest, nr_rest);
	if (!strcmp(v->cmd, "admin.user.add"))
		nr_rest = take_password_file("admin user add", rest, nr_rest);
	if (!strcmp(v->cmd, "ha.secret"))
		nr_rest = take_password_file("ha secret", rest, nr_rest);
	if (!strcmp(v->cmd, "sso.add") || !strcmp(v->cmd, "sso.mod"))
		nr_rest = take_password_file(v->cmd, rest, nr_rest);
	/* restore --dry-run: the same document to exlbd's checks only */
	if (!strcmp(v->cmd, "restore"))
		for (int i = 1; i < nr_rest; i++)
			if (!strcmp(rest[i], "--dry-run") || !strcmp(rest[i], "-n")) {
				memmove(&rest[i], &rest[i + 1],
					(nr_rest - i - 1) * sizeof(rest[0]));
				nr_rest--;
				cmd = "restore.check";
				break;
			}
	/* stats --rate [SECONDS]: two snapshots, the difference per second */
	if (!strcmp(v->cmd, "stats") && nr_rest > 1 && !strcmp(rest[1], "--rate")) {
		char *end = NULL;

		rate_interval = 5;
		if (nr_rest > 2) {
			unsigned long n = strtoul(rest[2], &end, 10);

			if (*end || n < 2 || n > 3600)
				usage_fail("stats --rate: SECONDS is 2..3600 (exlbd refreshes the proxy's counters every 2 s; got '%s')",
					   rest[2]);
			rate_interval = (unsigned int)n;
		}
		nr_rest = 1;
	}
	request = json_pack("{ssso}", "cmd", cmd, "args",
			    build_args(v, nr_rest - (v->name ? 2 : 1),
				       rest + (v->name ? 2 : 1)));
	if (rate_interval) {
		json_t *before = call(socket_path, request);

		if (!json_is_true(json_object_get(before, "ok")))
			fail("%s", jstr(before, "error"));
		sleep(rate_interval);
		answer = call(socket_path, request);
		to_rates(json_object_get(answer, "result"),
			 json_object_get(before, "result"), rate_interval);
		json_decref(before);
	} else {
		answer = call(socket_path, request);
	}
	json_decref(request);
	if (!json_is_true(json_object_get(answer, "ok")))
		fail("%s", jstr(answer, "error")[0] ? jstr(answer, "error") :
			   "exlbd answered with an error");
	if (json_output) {
		json_t *result = json_object_get(answer, "result");

		if (!json_is_null(result)) {
			json_dumpf(result, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
			printf("\n");
		}
	} else {
		v->print(v, json_object_get(answer, "result"));
	}
	json_decref(answer);
	return 0;
}

// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The Kemp parameter table (see params.h) and the one parser/formatter that
 * every parameter goes through. Ranges and codes follow Kemp
 * (shared/reference/kemp-parameters.md); the choices where Kemp is unclear
 * are written down in docs/config-format.md.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>

#include "uapi/linux/exlb.h"
#include "config.h"
#include "params.h"

/* ---- value codes ---- */

static const struct exlb_param_code vstype_codes[] = {
	{ "gen", EXLB_VSTYPE_GEN, "generic", "generic TCP" },
	{ "http", EXLB_VSTYPE_HTTP, NULL, "HTTP/HTTPS" },
	{ "http2", EXLB_VSTYPE_HTTP2, NULL, "HTTP/2" },
	{ "tls", EXLB_VSTYPE_TLS, "starttls", "STARTTLS" },
	{ "ts", EXLB_VSTYPE_TS, NULL, "Remote Terminal" },
	{ "log", EXLB_VSTYPE_LOG, "logi", "Log Insight" },
	{ NULL }
};

static const struct exlb_param_code schedule_codes[] = {
	{ "rr", EXLB_SCHED_RR, "roundrobin", "round robin" },
	{ "wrr", EXLB_SCHED_WRR, NULL, "weighted round robin" },
	{ "lc", EXLB_SCHED_LC, "leastconn", "least connection" },
	{ "wlc", EXLB_SCHED_WLC, NULL, "weighted least connection" },
	{ NULL }
};

static const struct exlb_param_code persist_codes[] = {
	{ "none", EXLB_PERSIST_NONE, NULL, "no persistence" },
	{ "src", EXLB_PERSIST_SRC, "sourceip", "source IP address" },
	{ NULL }
};

static const struct exlb_param_code server_init_codes[] = {
	{ "0", 0, "none", "none" },
	{ "1", 1, "smtp", "SMTP" },
	{ "2", 2, "ssh", "SSH" },
	{ "3", 3, "other", "other server-speaks-first" },
	{ "4", 4, "imap4 imap", "IMAP4" },
	{ "5", 5, "mysql", "MySQL" },
	{ "6", 6, "pop3 pop", "POP3" },
	{ NULL }
};

static const struct exlb_param_code starttls_codes[] = {
	{ "0", 0, "none", "none" },
	{ "1", 1, "smtp", "SMTP (if requested)" },
	{ "2", 2, "smtp-always", "SMTP (always)" },
	{ "3", 3, "ftp", "FTP" },
	{ "4", 4, "imap imap4", "IMAP" },
	{ "6", 6, "pop3 pop", "POP3" },
	{ NULL }
};

static const struct exlb_param_code checktype_codes[] = {
	{ "none", EXLB_CHECKTYPE_NONE, NULL, "no check: always up" },
	{ "tcp", EXLB_CHECKTYPE_TCP, NULL, "TCP connect" },
	{ "icmp", EXLB_CHECKTYPE_ICMP, NULL, "ICMP echo" },
	{ "http", EXLB_CHECKTYPE_HTTP, NULL, "HTTP request" },
	{ "https", EXLB_CHECKTYPE_HTTPS, NULL, "HTTPS request" },
	{ "smtp", EXLB_CHECKTYPE_SMTP, NULL, "SMTP greeting" },
	{ "imap", EXLB_CHECKTYPE_IMAP, "imap4", "IMAP greeting" },
	{ "pop3", EXLB_CHECKTYPE_POP3, "pop", "POP3 greeting" },
	{ NULL }
};

static const struct exlb_param_code check_method_codes[] = {
	{ "0", 0, "head", "HEAD" },
	{ "1", 1, "get", "GET" },
	{ "2", 2, "post", "POST" },
	{ "3", 3, "options", "OPTIONS" },
	{ NULL }
};

static const struct exlb_param_code add_via_codes[] = {
	{ "0", 0, NULL, "X-Forwarded-For (legacy)" },
	{ "1", 1, NULL, "X-Forwarded-For + Via" },
	{ "2", 2, NULL, "none" },
	{ "3", 3, NULL, "X-ClientSide + Via" },
	{ "4", 4, NULL, "X-ClientSide" },
	{ "5", 5, NULL, "X-Forwarded-For" },
	{ "6", 6, NULL, "Via" },
	{ NULL }
};

static const struct exlb_param_code input_auth_codes[] = {
	{ "0", 0, "delegate", "delegate to server" },
	{ "1", 1, "basic", "basic authentication" },
	{ "2", 2, "form", "form based" },
	{ "4", 4, "cert", "client certificate" },
	{ "5", 5, "ntlm", "NTLM" },
	{ NULL }
};

static const struct exlb_param_code output_auth_codes[] = {
	{ "0", 0, "none", "none" },
	{ "1", 1, "basic", "basic authentication" },
	{ "2", 2, "form", "form based" },
	{ "3", 3, "kcd", "Kerberos constrained delegation" },
	{ NULL }
};

/* Kemp's auth_type values for an LDAP SSO domain (RADIUS, KCD... are refused). */
static const struct exlb_param_code sso_auth_codes[] = {
	{ "LDAP-Unencrypted", EXLB_SSO_LDAP_UNENCRYPTED, "ldap", "ldap://, plain text" },
	{ "LDAP-StartTLS", EXLB_SSO_LDAP_STARTTLS, "starttls", "ldap:// with StartTLS" },
	{ "LDAP-LDAPS", EXLB_SSO_LDAP_LDAPS, "ldaps", "ldaps:// (TLS from the start)" },
	{ NULL }
};

static const struct exlb_param_code sso_logon_codes[] = {
	{ "Notspecified", EXLB_LOGON_NOTSPECIFIED, "none not-specified", "the name as typed" },
	{ "Principalname", EXLB_LOGON_PRINCIPALNAME, "upn", "user@logon_domain" },
	{ "Username", EXLB_LOGON_USERNAME, "domain\\user", "LOGON_DOMAIN\\user" },
	{ "Usernameonly", EXLB_LOGON_USERNAMEONLY, "user", "user, any domain part removed" },
	{ NULL }
};

static const struct exlb_param_code sso_tout_codes[] = {
	{ "idle", EXLB_SSO_TOUT_IDLE, "idle-time", "idle time" },
	{ "max", EXLB_SSO_TOUT_MAX, "max-duration", "max duration" },
	{ NULL }
};

static const struct exlb_param_code forward_codes[] = {
	{ "nat", EXLB_FORWARD_NAT, "masq", "NAT" },
	{ "route", EXLB_FORWARD_ROUTE, "dr", "direct routing (L4 only)" },
	{ NULL }
};

static const struct exlb_param_code matchtype_codes[] = {
	{ "regex", EXLB_MATCH_REGEX, NULL, "regular expression /.../" },
	{ "prefix", EXLB_MATCH_PREFIX, NULL, "starts with" },
	{ "postfix", EXLB_MATCH_POSTFIX, NULL, "ends with" },
	{ NULL }
};

/* Kemp's rule types: its API takes the numbers, its UI the long names. */
static const struct exlb_param_code ruletype_codes[] = {
	{ "content", EXLB_RULE_MATCH, "0 match matchcontentrule",
	  "content match (selects a SubVS)" },
	{ "addheader", EXLB_RULE_ADD_HEADER, "1 addheaderrule",
	  "add header: replacement" },
	{ "deleteheader", EXLB_RULE_DELETE_HEADER, "2 deleteheaderrule",
	  "delete headers whose name matches pattern" },
	{ "replaceheader", EXLB_RULE_REPLACE_HEADER, "3 replaceheaderrule",
	  "replace pattern by replacement in header's value" },
	{ "modifyurl", EXLB_RULE_MODIFY_URL, "4 modifyurlrule",
	  "replace pattern by replacement in the request target" },
	{ NULL }
};

static const struct exlb_param_code expect100_codes[] = {
	{ "0", 0, NULL, "RFC-2616 compliant" },
	{ "1", 1, NULL, "require 100-Continue" },
	{ "2", 2, NULL, "RFC-7231 compliant" },
	{ NULL }
};

static const struct exlb_param_code forward_header_codes[] = {
	{ "0", 0, NULL, "X-ClientSide" },
	{ "1", 1, NULL, "X-Forwarded-For" },
	{ "2", 2, NULL, "none" },
	{ NULL }
};

/* ---- string checks ---- */

static bool check_path(const char *v, char *why, size_t n)
{
	if (v[0] != '/') {
		snprintf(why, n, "must be a path starting with '/'");
		return false;
	}
	if (strpbrk(v, " \t")) {
		snprintf(why, n, "must be a path without spaces");
		return false;
	}
	return true;
}

/* Up to 16 status codes 100-599 separated by spaces or commas. */
static bool check_codes(const char *v, char *why, size_t n)
{
	const char *p = v;
	int count = 0;

	while (*p) {
		char *end;
		long code;

		if (*p == ' ' || *p == ',') {
			p++;
			continue;
		}
		errno = 0;
		code = strtol(p, &end, 10);
		if (end == p || errno || code < 100 || code > 599 ||
		    (*end && *end != ' ' && *end != ',') || ++count > 16) {
			snprintf(why, n,
				 "must be up to 16 HTTP status codes 100-599, separated by spaces");
			return false;
		}
		p = end;
	}
	return true;
}

static bool check_hostname(const char *v, char *why, size_t n)
{
	for (const char *p = v; *p; p++) {
		if (!isalnum((unsigned char)*p) && !strchr(".-_:[]", *p)) {
			snprintf(why, n, "must be a host name");
			return false;
		}
	}
	return true;
}

/*
 * UserPwdChangeURL: the link ESP's logon page shows when the directory
 * says the password expired or must be changed (docs/esp.md). Empty; an
 * absolute https:// URL (a host, an optional port, no user information);
 * or a path on this host ('/', not "//" nor "/\", which a browser reads as
 * another host). Printable ASCII without blanks, quotes, '<', '>', '\' or
 * '`' (the table refuses control characters): it goes into an href.
 */
static bool check_pwd_change_url(const char *v, char *why, size_t n)
{
	const char *p = v, *auth_end;

	if (!*v)
		return true;
	for (; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f ||
		    strchr("\"<>\\`", *p))
			goto bad;
	if (v[0] == '/') {
		if (v[1] == '/')
			goto bad;
		return true;
	}
	if (strncasecmp(v, "https://", 8))
		goto bad;
	p = v + 8;
	auth_end = p + strcspn(p, "/?#");
	if (auth_end == p)
		goto bad;
	if (*p == '[') {	/* [IPv6]:port */
		const char *close = memchr(p, ']', (size_t)(auth_end - p));

		if (!close || close == p + 1 ||
		    strspn(p + 1, "0123456789abcdefABCDEF:.") != (size_t)(close - p - 1))
			goto bad;
		p = close + 1;
	} else {
		size_t len = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				       "abcdefghijklmnopqrstuvwxyz0123456789.-");

		if (!len || *p == '.' || *p == '-')
			goto bad;
		p += len;
	}
	if (*p == ':') {
		size_t d = strspn(p + 1, "0123456789");

		if (!d || d > 5 || atoi(p + 1) < 1 || atoi(p + 1) > 65535)
			goto bad;
		p += 1 + d;
	}
	if (p == auth_end)
		return true;
bad:
	snprintf(why, n, "must be an https:// URL or a path starting with one '/' (printable ASCII, no blanks, quotes, '<', '>', '\\' or '`'; no user@ part)");
	return false;
}

/*
 * UserPwdChangeMsg: text for a page (HTML-escaped there), so printable:
 * valid UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF) without C1 controls or DEL; the table refuses C0 controls.
 */
static bool check_printable_utf8(const char *v, char *why, size_t n)
{
	const unsigned char *p = (const unsigned char *)v;

	while (*p) {
		unsigned int cp, extra, i;

		if (*p < 0x80) {
			if (*p == 0x7f)
				goto bad;
			p++;
			continue;
		}
		if (*p >= 0xc2 && *p <= 0xdf)
			cp = *p & 0x1f, extra = 1;
		else if (*p >= 0xe0 && *p <= 0xef)
			cp = *p & 0x0f, extra = 2;
		else if (*p >= 0xf0 && *p <= 0xf4)
			cp = *p & 0x07, extra = 3;
		else
			goto bad;
		for (i = 1; i <= extra; i++) {
			if ((p[i] & 0xc0) != 0x80)
				goto bad;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if ((extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff ||
		    (cp >= 0x80 && cp <= 0x9f))
			goto bad;
		p += extra + 1;
	}
	return true;
bad:
	snprintf(why, n, "must be printable text (UTF-8, no control characters)");
	return false;
}

/* AdminAddress: empty, or one IPv4/IPv6 address that is not a wildcard. */
static bool check_admin_address(const char *v, char *why, size_t n)
{
	unsigned char buf[sizeof(struct in6_addr)];
	static const unsigned char zero[sizeof(struct in6_addr)];

	if (!*v)
		return true;
	if (inet_pton(AF_INET, v, buf) == 1) {
		if (!memcmp(buf, zero, 4))
			goto wildcard;
		return true;
	}
	if (inet_pton(AF_INET6, v, buf) == 1) {
		if (!memcmp(buf, zero, 16))
			goto wildcard;
		return true;
	}
	snprintf(why, n, "must be an IPv4 or IPv6 address");
	return false;
wildcard:
	/* every local address would include the VIPs: never on a VIP */
	snprintf(why, n, "must be one address, not a wildcard (it would listen on the VIPs too)");
	return false;
}

/* AdminCert: empty (the self-signed certificate) or a certificate name. */
static bool check_admin_cert(const char *v, char *why, size_t n)
{
	return !*v || exlb_check_cert_name(v, why, n);
}

/* ---- the HA pair (ha/, docs/ha.md): codes and checks ---- */

static const struct exlb_param_code hamode_codes[] = {
	{ "0", EXLB_HAMODE_NONE, "none off", "Non HA Mode" },
	{ "1", EXLB_HAMODE_FIRST, "first", "HA (First) Mode" },
	{ "2", EXLB_HAMODE_SECOND, "second", "HA (Second) Mode" },
	{ NULL }
};

static const struct exlb_param_code haprefered_codes[] = {
	{ "0", 0, "none nopreempt", "No Preferred Host (no preemption)" },
	{ "1", 1, "first preempt", "Prefer First HA (the first node preempts)" },
	{ NULL }
};

/* Kemp's HA Timeout choices, in seconds: how long until the standby takes over. */
static const struct exlb_param_code hatimeout_codes[] = {
	{ "3", 3, NULL, "3 seconds" },
	{ "6", 6, NULL, "6 seconds" },
	{ "9", 9, NULL, "9 seconds" },
	{ "12", 12, NULL, "12 seconds" },
	{ "15", 15, NULL, "15 seconds" },
	{ NULL }
};

/* haif: empty or a Linux interface name (what keepalived's `interface` takes). */
static bool check_haif(const char *v, char *why, size_t n)
{
	size_t len = strlen(v);

	if (!len)
		return true;
	if (len > 15 || !strcmp(v, ".") || !strcmp(v, "..") ||
	    strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@") != len) {
		snprintf(why, n, "must be an interface name: up to 15 of A-Z a-z 0-9 . _ - @");
		return false;
	}
	return true;
}

/* partner: empty or one IPv4/IPv6 address (unicast VRRP goes to it). */
static bool check_partner(const char *v, char *why, size_t n)
{
	unsigned char buf[sizeof(struct in6_addr)];

	if (!*v || inet_pton(AF_INET, v, buf) == 1 ||
	    inet_pton(AF_INET6, v, buf) == 1)
		return true;
	snprintf(why, n, "must be the peer's IPv4 or IPv6 address");
	return false;
}

/* A named set or an OpenSSL cipher list; the TLS engine resolves it. */
static bool check_cipher_set(const char *v, char *why, size_t n)
{
	if (!v[0])
		goto bad;
	for (const char *p = v; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_-:+!.@=", *p))
			goto bad;
	return true;
bad:
	snprintf(why, n,
		 "must be BestPractices, Intermediate_compatibility, Backward_compatibility, Default, ECDSA_BestPractices or an OpenSSL cipher list");
	return false;
}

bool exlb_sso_server_next(const char *list, size_t *pos, char *out, size_t n)
{
	const char *p = list + *pos;
	size_t len;

	p += strspn(p, " ,");
	len = strcspn(p, " ,");
	if (!len || len >= n)
		return false;
	memcpy(out, p, len);
	out[len] = 0;
	*pos = p + len - list;
	return true;
}

/* "host", "host:port", "[v6]" or "[v6]:port"; host: letters, digits, . - _ */
static bool sso_server_ok(const char *s)
{
	const char *port = NULL;
	unsigned long num;
	char *end;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close == s + 1 ||
		    strspn(s + 1, "0123456789abcdefABCDEF:.") != (size_t)(close - s - 1))
			return false;
		if (close[1] == ':')
			port = close + 2;
		else if (close[1])
			return false;
	} else {
		size_t len = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				       "abcdefghijklmnopqrstuvwxyz0123456789.-_");

		if (!len || s[0] == '-' || s[0] == '.')
			return false;
		if (s[len] == ':')
			port = s + len + 1;
		else if (s[len])
			return false;
	}
	if (!port)
		return true;
	if (!isdigit((unsigned char)*port))
		return false;
	num = strtoul(port, &end, 10);
	return !*end && num >= 1 && num <= 65535;
}

bool exlb_check_sso_servers(const char *v, char *why, size_t n)
{
	char one[300];
	size_t pos = 0;
	unsigned int count = 0;

	while (v[pos + strspn(v + pos, " ,")]) {
		if (!exlb_sso_server_next(v, &pos, one, sizeof(one)) ||
		    !sso_server_ok(one) || ++count > EXLB_SSO_MAX_SERVERS) {
			snprintf(why, n,
				 "must be up to %d servers host[:port] or [IPv6]:port, separated by spaces, tried in order",
				 EXLB_SSO_MAX_SERVERS);
			return false;
		}
	}
	return true;
}

/* ldap_ca: empty (the system's CAs) or an absolute file name. */
static bool check_abs_path(const char *v, char *why, size_t n)
{
	if (!*v || (v[0] == '/' && !strstr(v, "/../")))
		return true;
	snprintf(why, n, "must be an absolute file name (a PEM CA file)");
	return false;
}

/* A DN or a name of the directory: no control characters (the table checks). */
static bool check_logon_domain(const char *v, char *why, size_t n)
{
	for (const char *p = v; *p; p++) {
		if (!isalnum((unsigned char)*p) && !strchr(".-_", *p)) {
			snprintf(why, n, "must be a domain name (letters, digits, '.', '-', '_')");
			return false;
		}
	}
	return true;
}

bool exlb_check_cert_name(const char *v, char *why, size_t n)
{
	size_t len = strlen(v);

	if (len < 1 || len > EXLB_CERT_NAME_SIZE - 1 ||
	    strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		      "0123456789._-") != len || v[0] == '.') {
		snprintf(why, n,
			 "must be 1-%d letters, digits, '.', '_' or '-', not starting with '.'",
			 EXLB_CERT_NAME_SIZE - 1);
		return false;
	}
	return true;
}

/*
 * CertFile: certificate names separated by spaces or commas (Kemp's form);
 * that each exists is a whole-configuration check (config.c).
 */
static bool check_cert_list(const char *v, char *why, size_t n)
{
	char name[EXLB_CERT_NAME_SIZE + 1];
	const char *p = v;
	unsigned int count = 0;

	while (*p) {
		size_t len;

		p += strspn(p, " ,");
		len = strcspn(p, " ,");
		if (!len)
			break;
		if (len >= sizeof(name) || ++count > EXLB_VS_MAX_CERTS) {
			snprintf(why, n,
				 "must be up to %d certificate names separated by spaces or commas",
				 EXLB_VS_MAX_CERTS);
			return false;
		}
		memcpy(name, p, len);
		name[len] = 0;
		if (!exlb_check_cert_name(name, why, n))
			return false;
		p += len;
	}
	return true;
}

/*
 * Names that cannot be mistaken for the other ways of naming a service:
 * not all digits (an id), no '/' (VS/SubVS paths).
 */
bool exlb_check_nickname(const char *v, char *why, size_t n)
{
	if (v[0] && strspn(v, "0123456789") == strlen(v)) {
		snprintf(why, n, "must not be all digits (that names a service id)");
		return false;
	}
	if (strchr(v, '/')) {
		snprintf(why, n, "must not contain '/'");
		return false;
	}
	return true;
}

bool exlb_check_rule_name(const char *v, char *why, size_t n)
{
	if (!v[0]) {
		snprintf(why, n, "must not be empty");
		return false;
	}
	for (const char *p = v; *p; p++) {
		if (!isalnum((unsigned char)*p) && !strchr("_-.", *p)) {
			snprintf(why, n, "must be letters, digits, '_', '-' or '.'");
			return false;
		}
	}
	return true;
}

/* ---- the table ---- */

#define SVC_UINT(f)	.offset = offsetof(struct exlb_service, f)
int exlb_alt_source_parse(const char *list, int family, uint8_t (*out)[16],
			  size_t max, char *why, size_t n)
{
	char buf[EXLB_ALT_SOURCE_SIZE], *tok, *save = NULL;
	size_t count = 0;

	if (strlen(list) >= sizeof(buf)) {
		snprintf(why, n, "too long");
		return -1;
	}
	strcpy(buf, list);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		uint8_t a[16] = { 0 };
		int fam = strchr(tok, ':') ? AF_INET6 : AF_INET;

		if (inet_pton(fam, tok, a) != 1) {
			snprintf(why, n, "'%s' is not an IP address", tok);
			return -1;
		}
		if (family != AF_UNSPEC && fam != family)
			continue;
		for (size_t i = 0; i < count; i++)
			if (!memcmp(out[i], a, 16)) {
				snprintf(why, n, "%s given twice", tok);
				return -1;
			}
		if (count == max) {
			snprintf(why, n, "more than %zu addresses", max);
			return -1;
		}
		memcpy(out[count++], a, 16);
	}
	return (int)count;
}

static bool check_alt_source(const char *value, char *why, size_t n)
{
	uint8_t addrs[EXLB_MAX_ALT_SOURCE_ADDRS][16];

	return exlb_alt_source_parse(value, AF_UNSPEC, addrs,
				     EXLB_MAX_ALT_SOURCE_ADDRS, why, n) >= 0;
}

#define SVC_STR(f)	.offset = offsetof(struct exlb_service, f), \
			.size = sizeof(((struct exlb_service *)0)->f)
#define RS_UINT(f)	.offset = offsetof(struct exlb_rs, f)
#define RULE_UINT(f)	.offset = offsetof(struct exlb_rule, f)
#define RULE_STR(f)	.offset = offsetof(struct exlb_rule, f), \
			.size = sizeof(((struct exlb_rule *)0)->f)
#define SSO_UINT(f)	.offset = offsetof(struct exlb_sso_domain, f)
#define SSO_STR(f)	.offset = offsetof(struct exlb_sso_domain, f), \
			.size = sizeof(((struct exlb_sso_domain *)0)->f)
#define GLOBAL(f)	.offset = offsetof(struct exlb_globals, f)
#define GLOBAL_STR(f)	.offset = offsetof(struct exlb_globals, f), \
			.size = sizeof(((struct exlb_globals *)0)->f)

#define SVC	EXLB_SCOPE_SERVICE
#define VS_ONLY	EXLB_SCOPE_VS
#define ESP	EXLB_PF_NOT_ACTED

const struct exlb_param exlb_params[] = {
	/* ---- virtual services and SubVSs ---- */
	{ "NickName", NULL, EXLB_PT_STRING, SVC, 0, SVC_STR(nickname),
	  .def = "", .check = exlb_check_nickname,
	  .help = "name shown in status; names the service on the command line" },
	{ "VStype", NULL, EXLB_PT_ENUM, VS_ONLY, 0, SVC_UINT(vstype),
	  .codes = vstype_codes, .def = "gen", .help = "service type" },
	{ "Enable", NULL, EXLB_PT_BOOL, SVC, 0, SVC_UINT(enable),
	  .def = "1", .help = "service accepts connections" },
	{ "ForceL7", NULL, EXLB_PT_BOOL, VS_ONLY, 0, SVC_UINT(force_l7),
	  .def = "1", .help = "Kemp's force layer 7 (gen services are served at L4 by the kernel either way)" },
	{ "Transparent", NULL, EXLB_PT_BOOL, SVC, 0, SVC_UINT(transparent),
	  .def = "0", .help = "real server sees the client address" },
	{ "SubnetOriginating", NULL, EXLB_PT_BOOL, SVC, 0,
	  SVC_UINT(subnet_originating), .def = "0",
	  .help = "real server sees the LB's address on its subnet (when not Transparent)" },
	{ "AltSourceAddrs", NULL, EXLB_PT_STRING, VS_ONLY, 0,
	  SVC_STR(alt_source_addrs), .def = "", .check = check_alt_source,
	  .help = "alternate source addresses (a,b,...) the RS sees, past 64k connections; needs localbind=1" },
	{ "ServerInit", NULL, EXLB_PT_ENUM, VS_ONLY, EXLB_PF_NUMERIC_CODE,
	  SVC_UINT(server_init), .codes = server_init_codes, .def = "0",
	  .help = "protocol where the server speaks first" },
	{ "StartTLSMode", NULL, EXLB_PT_ENUM, VS_ONLY, EXLB_PF_NUMERIC_CODE,
	  SVC_UINT(starttls_mode), .codes = starttls_codes, .def = "0",
	  .help = "STARTTLS protocol (VStype tls)" },
	{ "Schedule", NULL, EXLB_PT_ENUM, SVC, 0, SVC_UINT(schedule),
	  .codes = schedule_codes, .def = "rr", .help = "scheduling method" },
	{ "Persist", NULL, EXLB_PT_ENUM, SVC, 0, SVC_UINT(persist),
	  .codes = persist_codes, .def = "none", .help = "persistence mode" },
	{ "PersistTimeout", NULL, EXLB_PT_UINT, SVC, EXLB_PF_MINUTES,
	  SVC_UINT(persist_timeout), .min = 0, .max = EXLB_MAX_PERSIST_TIMEOUT,
	  .unit = "seconds", .def = "360",
	  .help = "persistence lifetime, rounded down to minutes; < 60 = off" },
	{ "PersistMask", NULL, EXLB_PT_UINT, SVC, 0, SVC_UINT(persist_mask),
	  .min = 0, .max = 128, .unit = "prefix bits", .def = "0",
	  .help = "clients in one prefix share a persistence record; 0 = whole address" },
	{ "Idletime", NULL, EXLB_PT_UINT, SVC, 0, SVC_UINT(idletime),
	  .min = 0, .max = EXLB_MAX_IDLE_TIMEOUT, .unit = "seconds", .def = "0",
	  .help = "idle connection timeout; 0 = global conntimeout" },
	{ "MaxConnsLimit", NULL, EXLB_PT_UINT, VS_ONLY, 0, SVC_UINT(max_conns),
	  .min = 0, .max = 100000000, .unit = "connections", .def = "0",
	  .help = "concurrent client connections of a VS served by exlbd's proxy; more are closed at once; 0 = no limit" },
	{ "CheckType", NULL, EXLB_PT_ENUM, SVC, 0, SVC_UINT(check_type),
	  .codes = checktype_codes, .def = "tcp", .help = "health check" },
	{ "CheckUrl", NULL, EXLB_PT_STRING, SVC, 0, SVC_STR(check_url),
	  .def = "/", .check = check_path, .help = "HTTP(S) check path" },
	{ "CheckUseGet", NULL, EXLB_PT_ENUM, SVC, EXLB_PF_NUMERIC_CODE,
	  SVC_UINT(check_use_get), .codes = check_method_codes, .def = "0",
	  .help = "HTTP check method" },
	{ "CheckUse1.1", "Checkversion", EXLB_PT_BOOL, SVC, 0,
	  SVC_UINT(check_use_11), .def = "0",
	  .help = "HTTP check version: 0 HTTP/1.0, 1 HTTP/1.1" },
	{ "CheckHost", NULL, EXLB_PT_STRING, SVC, 0, SVC_STR(check_host),
	  .def = "", .check = check_hostname,
	  .help = "Host header and SNI of HTTP(S) checks; empty = RS address" },
	{ "CheckCodes", NULL, EXLB_PT_STRING, SVC, 0, SVC_STR(check_codes),
	  .def = "", .check = check_codes,
	  .help = "HTTP status codes accepted besides 2xx" },
	{ "CheckPort", NULL, EXLB_PT_UINT, SVC, EXLB_PF_ZERO_OR_RANGE,
	  SVC_UINT(check_port), .min = 3, .max = 65530, .def = "0",
	  .help = "check port; 0 = the RS port" },
	{ "SSLAcceleration", NULL, EXLB_PT_BOOL, VS_ONLY, 0,
	  SVC_UINT(ssl_acceleration), .def = "0",
	  .help = "terminate TLS on the LB" },
	{ "SSLReencrypt", NULL, EXLB_PT_BOOL, VS_ONLY, 0,
	  SVC_UINT(ssl_reencrypt), .def = "0",
	  .help = "re-encrypt to the real servers (with SSLAcceleration)" },
	{ "TLSType", NULL, EXLB_PT_UINT, VS_ONLY, 0, SVC_UINT(tls_type),
	  .min = 0, .max = 31, .unit = "(bitmask)", .def = "1",
	  .help = "disabled protocols: 1 SSLv3, 2 TLS1.0, 4 TLS1.1, 8 TLS1.2, 16 TLS1.3; the TLS versions left on must be contiguous" },
	{ "CipherSet", NULL, EXLB_PT_STRING, VS_ONLY, 0, SVC_STR(cipher_set),
	  .def = "BestPractices", .check = check_cipher_set,
	  .help = "named cipher set or OpenSSL cipher list" },
	{ "NeedHostName", NULL, EXLB_PT_BOOL, VS_ONLY, 0,
	  SVC_UINT(need_host_name), .def = "0", .help = "require SNI" },
	{ "CertFile", NULL, EXLB_PT_STRING, VS_ONLY, 0, SVC_STR(cert_file),
	  .def = "", .check = check_cert_list,
	  .help = "certificates (exlbctl cert add): the first is the default, the others are chosen by SNI; empty = self-signed" },
	{ "ReverseSNIHostname", NULL, EXLB_PT_STRING, VS_ONLY, 0,
	  SVC_STR(reverse_sni), .def = "", .check = check_hostname,
	  .help = "SNI sent to the real servers when re-encrypting; empty = none" },
	{ "ReencryptVerify", NULL, EXLB_PT_BOOL, VS_ONLY, 0,
	  SVC_UINT(reencrypt_verify), .def = "0",
	  .help = "re-encryption verifies the RS certificate (system CAs, ReverseSNIHostname) [exlb]" },
	{ "StrictTransportSecurity", "HSTS", EXLB_PT_UINT, VS_ONLY, 0,
	  SVC_UINT(hsts), .min = 0, .max = 63072000, .unit = "seconds",
	  .def = "0",
	  .help = "Strict-Transport-Security max-age added to TLS responses (needs SSLAcceleration=1); 0 = off [exlb]" },
	{ "ErrorCode", NULL, EXLB_PT_UINT, SVC, EXLB_PF_ZERO_OR_RANGE,
	  SVC_UINT(error_code), .min = 200, .max = 505, .def = "0",
	  .help = "HTTP status sent when no RS is available; 0 = 503 Service Unavailable" },
	{ "ErrorUrl", NULL, EXLB_PT_STRING, SVC, 0, SVC_STR(error_url),
	  .def = "", .help = "redirect URL (3xx; %h host, %s path) or message text" },
	{ "AddVia", NULL, EXLB_PT_ENUM, SVC, EXLB_PF_NUMERIC_CODE,
	  SVC_UINT(add_via), .codes = add_via_codes, .def = "0",
	  .help = "client address headers added to requests" },
	/* Kemp's global health timing, overridden per VS or SubVS (0 = inherit) */
	{ "RetryInterval", NULL, EXLB_PT_UINT, SVC,
	  EXLB_PF_ZERO_OR_RANGE | EXLB_PF_INHERIT, SVC_UINT(retry_interval),
	  .min = 9, .max = 120, .unit = "seconds", .def = "0",
	  .help = "health check interval; 0 = inherit (SubVS: its VS, then the global)" },
	{ "Timeout", NULL, EXLB_PT_UINT, SVC,
	  EXLB_PF_ZERO_OR_RANGE | EXLB_PF_INHERIT, SVC_UINT(retry_timeout),
	  .min = 4, .max = 60, .unit = "seconds", .def = "0",
	  .help = "health check timeout; 0 = inherit (SubVS: its VS, then the global)" },
	{ "RetryCount", NULL, EXLB_PT_UINT, SVC,
	  EXLB_PF_ZERO_OR_RANGE | EXLB_PF_INHERIT, SVC_UINT(retry_count),
	  .min = 2, .max = 15, .def = "0",
	  .help = "failed checks before a real server is down; 0 = inherit (SubVS: its VS, then the global)" },

	/*
	 * Edge Security Pack (docs/esp.md): EspEnabled=1 is accepted only
	 * where every ESP setting of the service is enforced
	 * (exlb_esp_refused(), below); elsewhere it is refused (fail closed:
	 * nothing may reach a real server without the protection its
	 * settings ask for). The others act only with ESP on, as on a
	 * LoadMaster: with EspEnabled=0 they are inert, stored and shown.
	 */
	{ "EspEnabled", "EnableESP", EXLB_PT_BOOL, SVC, 0,
	  SVC_UINT(esp_enabled), .def = "0", .help = "ESP: enable (only where its settings are enforced: docs/esp.md)" },
	{ "ESPLogs", "ESPLog", EXLB_PT_UINT, SVC, ESP, SVC_UINT(esp_logs),
	  .min = 0, .max = 7, .unit = "(bitmask)", .def = "0",
	  .help = "ESP: logs, 1 user access, 2 security, 4 connection" },
	{ "InputAuthMode", NULL, EXLB_PT_ENUM, SVC, ESP | EXLB_PF_NUMERIC_CODE,
	  SVC_UINT(input_auth_mode), .codes = input_auth_codes, .def = "0",
	  .help = "ESP: client authentication" },
	{ "OutputAuthMode", NULL, EXLB_PT_ENUM, SVC, ESP | EXLB_PF_NUMERIC_CODE,
	  SVC_UINT(output_auth_mode), .codes = output_auth_codes, .def = "0",
	  .help = "ESP: server authentication" },
	{ "AllowedHosts", NULL, EXLB_PT_STRING, SVC, ESP, SVC_STR(allowed_hosts),
	  .def = "", .help = "ESP: allowed virtual hosts" },
	{ "AllowedDirectories", NULL, EXLB_PT_STRING, SVC, ESP,
	  SVC_STR(allowed_directories), .def = "",
	  .help = "ESP: allowed directories" },
	{ "ExcludedDirectories", NULL, EXLB_PT_STRING, SVC, ESP,
	  SVC_STR(excluded_directories), .def = "",
	  .help = "ESP: directories without authentication" },
	{ "Logoff", NULL, EXLB_PT_STRING, SVC, ESP, SVC_STR(logoff), .def = "",
	  .help = "ESP: logoff string" },
	{ "SingleSignOnMessage", NULL, EXLB_PT_STRING, SVC, ESP,
	  SVC_STR(sso_message), .def = "", .help = "ESP: SSO form message" },
	{ "UserPwdChangeURL", NULL, EXLB_PT_STRING, SVC, ESP,
	  SVC_STR(pwd_change_url), .def = "", .check = check_pwd_change_url,
	  .help = "ESP: form logon page's link when the password expired or must be changed (https:// URL or /path)" },
	{ "UserPwdChangeMsg", NULL, EXLB_PT_STRING, SVC, ESP,
	  SVC_STR(pwd_change_msg), .def = "", .check = check_printable_utf8,
	  .help = "ESP: the message shown with UserPwdChangeURL" },
	{ "Domain", NULL, EXLB_PT_STRING, SVC, ESP, SVC_STR(sso_domain),
	  .def = "", .help = "ESP: SSO domain" },
	{ "SMTPAllowedDomains", "Smtpallow", EXLB_PT_STRING, SVC, ESP,
	  SVC_STR(smtp_allowed_domains), .def = "",
	  .help = "ESP: permitted SMTP domains" },

	/* ---- real servers ---- */
	{ "port", "rsport newport", EXLB_PT_UINT, EXLB_SCOPE_RS, 0, RS_UINT(port),
	  .min = 1, .max = 65535, .def = NULL,
	  .help = "real server port; default the VS port" },
	{ "weight", NULL, EXLB_PT_UINT, EXLB_SCOPE_RS, 0, RS_UINT(weight),
	  .min = 0, .max = EXLB_MAX_WEIGHT, .def = "1000",
	  .help = "relative weight; 0 = no new connections" },
	{ "limit", NULL, EXLB_PT_UINT, EXLB_SCOPE_RS, 0, RS_UINT(limit),
	  .min = 0, .max = EXLB_MAX_LIMIT, .unit = "connections", .def = "0",
	  .help = "maximum open connections; 0 = no limit" },
	{ "forward", NULL, EXLB_PT_ENUM, EXLB_SCOPE_RS, 0, RS_UINT(forward),
	  .codes = forward_codes, .def = "nat", .help = "forwarding method" },
	{ "enable", NULL, EXLB_PT_BOOL, EXLB_SCOPE_RS, 0, RS_UINT(enable),
	  .def = "1", .help = "0 = drain: no new connections" },
	{ "critical", NULL, EXLB_PT_BOOL, EXLB_SCOPE_RS, 0, RS_UINT(critical),
	  .def = "0", .help = "the service is down while this RS is down" },

	/* ---- content rules ---- */
	{ "matchtype", NULL, EXLB_PT_ENUM, EXLB_SCOPE_RULE, 0,
	  RULE_UINT(matchtype), .codes = matchtype_codes, .def = "regex",
	  .help = "how pattern matches" },
	{ "pattern", NULL, EXLB_PT_STRING, EXLB_SCOPE_RULE, 0,
	  RULE_STR(pattern), .def = "", .help = "what to match" },
	{ "nocase", NULL, EXLB_PT_BOOL, EXLB_SCOPE_RULE, 0, RULE_UINT(nocase),
	  .def = "0", .help = "ignore case" },
	{ "negate", NULL, EXLB_PT_BOOL, EXLB_SCOPE_RULE, 0, RULE_UINT(negate),
	  .def = "0", .help = "match when the pattern does not" },
	{ "header", NULL, EXLB_PT_STRING, EXLB_SCOPE_RULE, 0, RULE_STR(header),
	  .def = "", .help = "header to match; empty = the URL" },
	{ "inchost", NULL, EXLB_PT_BOOL, EXLB_SCOPE_RULE, 0, RULE_UINT(inchost),
	  .def = "0", .help = "prefix the URL with the Host header" },
	{ "incquery", NULL, EXLB_PT_BOOL, EXLB_SCOPE_RULE, 0,
	  RULE_UINT(incquery), .def = "0", .help = "include the query string" },
	{ "type", "ruletype", EXLB_PT_ENUM, EXLB_SCOPE_RULE, 0, RULE_UINT(type),
	  .codes = ruletype_codes, .def = "content",
	  .help = "what the rule does (Kemp: 0-4 or the names)" },
	{ "replacement", NULL, EXLB_PT_STRING, EXLB_SCOPE_RULE, 0,
	  RULE_STR(replacement), .def = "",
	  .help = "header rules: the new text ($1.. refer to groups of pattern)" },

	/*
	 * ---- SSO domains (exlbctl sso; Kemp's adddomain/moddomain names,
	 * docs/esp.md). [exlb] marks what Kemp keeps elsewhere or lacks.
	 */
	{ "auth_type", "authtype", EXLB_PT_ENUM, EXLB_SCOPE_SSO, 0,
	  SSO_UINT(auth_type), .codes = sso_auth_codes, .def = "LDAP-StartTLS",
	  .help = "how exlbd talks to the directory" },
	{ "server", "ldap_endpoint", EXLB_PT_STRING, EXLB_SCOPE_SSO, 0,
	  SSO_STR(server), .def = "", .check = exlb_check_sso_servers,
	  .help = "LDAP servers host[:port], space separated, tried in order (failover); port 389, ldaps 636" },
	{ "timeout", "server_timeout", EXLB_PT_UINT, EXLB_SCOPE_SSO, 0,
	  SSO_UINT(timeout), .min = 1, .max = 60, .unit = "seconds", .def = "5",
	  .help = "per server: connecting, TLS, and each operation; then the next server" },
	{ "ldap_ca", "cacert", EXLB_PT_STRING, EXLB_SCOPE_SSO, 0,
	  SSO_STR(ldap_ca), .def = "", .check = check_abs_path,
	  .help = "PEM file of the CAs that verify the directory's certificate (StartTLS, ldaps); empty = system CAs [exlb]" },
	{ "logon_fmt", "logonfmt", EXLB_PT_ENUM, EXLB_SCOPE_SSO, 0,
	  SSO_UINT(logon_fmt), .codes = sso_logon_codes, .def = "Principalname",
	  .help = "how a typed logon name becomes the directory's" },
	{ "logon_domain", "logondomain", EXLB_PT_STRING, EXLB_SCOPE_SSO, 0,
	  SSO_STR(logon_domain), .def = "", .check = check_logon_domain,
	  .help = "domain of Principalname (user@DOMAIN) and Username (DOMAIN\\user)" },
	{ "adminuser", "ldap_admin", EXLB_PT_STRING, EXLB_SCOPE_SSO, 0,
	  SSO_STR(adminuser), .def = "",
	  .help = "service account (DN) that searches for the user's entry; empty = bind as the user" },
	{ "adminpass", "ldap_password", EXLB_PT_STRING, EXLB_SCOPE_SSO,
	  EXLB_PF_SECRET, SSO_STR(adminpass), .def = "",
	  .help = "the service account's password (kept, never shown)" },
	{ "ldap_base", "basedn", EXLB_PT_STRING, EXLB_SCOPE_SSO, 0,
	  SSO_STR(ldap_base), .def = "",
	  .help = "where the service account searches users (subtree) [exlb]" },
	{ "max_failed_auths", "maxfailedauths", EXLB_PT_UINT, EXLB_SCOPE_SSO, 0,
	  SSO_UINT(max_failed_auths), .min = 0, .max = 999, .def = "0",
	  .help = "failed logons of a user before it is blocked; 0 = no limit" },
	{ "reset_fail_tout", "resetfailtout", EXLB_PT_UINT, EXLB_SCOPE_SSO, 0,
	  SSO_UINT(reset_fail_tout), .min = 1, .max = 86400, .unit = "seconds",
	  .def = "60", .help = "a user's failed-logon count restarts after this long without one" },
	{ "unblock_tout", "unblocktout", EXLB_PT_UINT, EXLB_SCOPE_SSO, 0,
	  SSO_UINT(unblock_tout), .min = 1, .max = 86400, .unit = "seconds",
	  .def = "1800", .help = "how long a blocked user stays blocked" },
	{ "sess_tout_type", "sesstouttype", EXLB_PT_ENUM, EXLB_SCOPE_SSO, 0,
	  SSO_UINT(sess_tout_type), .codes = sso_tout_codes, .def = "idle",
	  .help = "sessions end after the idle time or the max duration" },
	{ "sess_tout_idle_pub", NULL, EXLB_PT_UINT, EXLB_SCOPE_SSO, 0,
	  SSO_UINT(sess_tout_idle_pub), .min = 60, .max = 604800,
	  .unit = "seconds", .def = "900", .help = "session idle time, public computer" },
	{ "sess_tout_duration_pub", NULL, EXLB_PT_UINT, EXLB_SCOPE_SSO, 0,
	  SSO_UINT(sess_tout_duration_pub), .min = 60, .max = 604800,
	  .unit = "seconds", .def = "1800", .help = "session max duration, public computer" },
	{ "sess_tout_idle_priv", NULL, EXLB_PT_UINT, EXLB_SCOPE_SSO, 0,
	  SSO_UINT(sess_tout_idle_priv), .min = 60, .max = 604800,
	  .unit = "seconds", .def = "900", .help = "session idle time, private computer" },
	{ "sess_tout_duration_priv", NULL, EXLB_PT_UINT, EXLB_SCOPE_SSO, 0,
	  SSO_UINT(sess_tout_duration_priv), .min = 60, .max = 604800,
	  .unit = "seconds", .def = "28800", .help = "session max duration, private computer" },

	/* ---- globals ---- */
	{ "droponfail", NULL, EXLB_PT_BOOL, EXLB_SCOPE_GLOBAL, 0,
	  GLOBAL(droponfail), .def = "0",
	  .help = "reset a real server's connections when it fails" },
	{ "dropatdrainend", NULL, EXLB_PT_BOOL, EXLB_SCOPE_GLOBAL, 0,
	  GLOBAL(dropatdrainend), .def = "0",
	  .help = "reset a disabled real server's connections at drain end" },
	{ "finalpersist", NULL, EXLB_PT_UINT, EXLB_SCOPE_GLOBAL,
	  EXLB_PF_ZERO_OR_RANGE, GLOBAL(finalpersist), .min = 60, .max = 86400,
	  .unit = "seconds", .def = "0", .help = "connection drain time" },
	{ "conntimeout", NULL, EXLB_PT_UINT, EXLB_SCOPE_GLOBAL, 0,
	  GLOBAL(conntimeout), .min = 0, .max = 86400, .unit = "seconds",
	  .def = "660", .help = "default idle timeout; 0 = 660" },
	{ "expect100", NULL, EXLB_PT_ENUM, EXLB_SCOPE_GLOBAL,
	  EXLB_PF_NUMERIC_CODE, GLOBAL(expect100), .codes = expect100_codes,
	  .def = "0", .help = "100-Continue handling" },
	{ "addforwardheader", NULL, EXLB_PT_ENUM, EXLB_SCOPE_GLOBAL,
	  EXLB_PF_NUMERIC_CODE, GLOBAL(addforwardheader),
	  .codes = forward_header_codes, .def = "1",
	  .help = "additional L7 header" },
	{ "subnetoriginating", NULL, EXLB_PT_BOOL, EXLB_SCOPE_GLOBAL, 0,
	  GLOBAL(subnetoriginating), .def = "0",
	  .help = "subnet originating requests for every service" },
	/* connection scaling past 64k (docs/config-format.md, issue 15) */
	{ "localbind", NULL, EXLB_PT_BOOL, EXLB_SCOPE_GLOBAL, 0,
	  GLOBAL(localbind), .def = "0",
	  .help = "connection scaling over 64K: VSs use AltSourceAddrs" },
	{ "AltSourceAddrs", NULL, EXLB_PT_STRING, EXLB_SCOPE_GLOBAL, 0,
	  GLOBAL_STR(alt_source_addrs), .def = "", .check = check_alt_source,
	  .help = "default alternate source addresses (a,b,...) of L4 VSs without their own; needs localbind=1" },
	{ "RetryInterval", NULL, EXLB_PT_UINT, EXLB_SCOPE_GLOBAL, 0,
	  GLOBAL(retry_interval), .min = 9, .max = 120, .unit = "seconds",
	  .def = "9", .help = "health check interval" },
	{ "Timeout", NULL, EXLB_PT_UINT, EXLB_SCOPE_GLOBAL, 0,
	  GLOBAL(retry_timeout), .min = 4, .max = 60, .unit = "seconds",
	  .def = "4", .help = "health check timeout" },
	{ "RetryCount", NULL, EXLB_PT_UINT, EXLB_SCOPE_GLOBAL, 0,
	  GLOBAL(retry_count), .min = 2, .max = 15, .def = "2",
	  .help = "failed checks before a real server is down" },
	{ "AdminAddress", NULL, EXLB_PT_STRING, EXLB_SCOPE_GLOBAL, 0,
	  GLOBAL_STR(admin_address), .def = "", .check = check_admin_address,
	  .help = "admin listener (HTTPS, /metrics) address; never a VIP" },
	{ "AdminPort", NULL, EXLB_PT_UINT, EXLB_SCOPE_GLOBAL,
	  EXLB_PF_ZERO_OR_RANGE, GLOBAL(admin_port), .min = 1, .max = 65535,
	  .def = "0", .help = "admin listener port; 0 = off" },
	{ "AdminCert", NULL, EXLB_PT_STRING, EXLB_SCOPE_GLOBAL, 0,
	  GLOBAL_STR(admin_cert), .def = "", .check = check_admin_cert,
	  .help = "admin listener certificate (exlbctl cert add); empty = self-signed" },
	/* ---- the HA pair (docs/ha.md); exlb names where Kemp has none ---- */
	{ "hamode", NULL, EXLB_PT_ENUM, EXLB_SCOPE_GLOBAL, EXLB_PF_NUMERIC_CODE,
	  GLOBAL(hamode), .codes = hamode_codes, .def = "0",
	  .help = "HA mode: 0 single node, 1 first, 2 second of the pair" },
	{ "haprefered", "hapreferred", EXLB_PT_ENUM, EXLB_SCOPE_GLOBAL,
	  EXLB_PF_NUMERIC_CODE, GLOBAL(haprefered), .codes = haprefered_codes,
	  .def = "0", .help = "Switch to Preferred Server: 1 = the first node takes the VIPs back" },
	{ "havhid", NULL, EXLB_PT_UINT, EXLB_SCOPE_GLOBAL, 0, GLOBAL(havhid),
	  .min = 1, .max = 255, .def = "1",
	  .help = "HA Virtual ID (VRRP virtual router id), unique per pair on a network" },
	{ "hatimeout", NULL, EXLB_PT_ENUM, EXLB_SCOPE_GLOBAL,
	  EXLB_PF_NUMERIC_CODE, GLOBAL(hatimeout), .codes = hatimeout_codes,
	  .def = "3", .help = "seconds without the active node before the standby takes over" },
	{ "haif", NULL, EXLB_PT_STRING, EXLB_SCOPE_GLOBAL, 0, GLOBAL_STR(haif),
	  .def = "", .check = check_haif,
	  .help = "interface VRRP runs on and the VIPs are added to" },
	{ "partner", "hapeer", EXLB_PT_STRING, EXLB_SCOPE_GLOBAL, 0,
	  GLOBAL_STR(partner), .def = "", .check = check_partner,
	  .help = "Partner Name/IP: the peer node's address (unicast VRRP)" },
	{ "hasyncport", NULL, EXLB_PT_UINT, EXLB_SCOPE_GLOBAL,
	  EXLB_PF_ZERO_OR_RANGE, GLOBAL(hasyncport), .min = 1, .max = 65535,
	  .def = "0",
	  .help = "configuration sync: TCP port on haif, the same on both nodes; 0 = off (needs exlbctl ha secret) [exlb]" },
	{ "tcpfailover", NULL, EXLB_PT_BOOL, EXLB_SCOPE_GLOBAL, 0,
	  GLOBAL(tcpfailover), .def = "0",
	  .help = "Inter-HA L4 TCP connection updates: exlbd runs conntrackd (needs hamode 1 or 2)" },
	{ "mcast", NULL, EXLB_PT_STRING, EXLB_SCOPE_GLOBAL, 0, GLOBAL_STR(mcast),
	  .def = "", .check = check_haif,
	  .help = "interface of the HA sync traffic (conntrackd); empty = haif" },
	{ "mcastpeer", NULL, EXLB_PT_STRING, EXLB_SCOPE_GLOBAL, 0,
	  GLOBAL_STR(mcastpeer), .def = "", .check = check_partner,
	  .help = "the partner's address on mcast (conntrackd's peer); empty = partner [exlb]" },
};

const size_t exlb_nr_params = sizeof(exlb_params) / sizeof(exlb_params[0]);

const char *exlb_scope_name(unsigned int scope)
{
	if (scope & EXLB_SCOPE_VS)
		return "VS";
	if (scope & EXLB_SCOPE_SUBVS)
		return "SubVS";
	if (scope & EXLB_SCOPE_RS)
		return "RS";
	if (scope & EXLB_SCOPE_RULE)
		return "rule";
	if (scope & EXLB_SCOPE_SSO)
		return "SSO domain";
	return "global";
}

/* Is @word one of the space-separated words of @list (case-insensitive)? */
static bool in_word_list(const char *list, const char *word)
{
	size_t len = strlen(word);

	while (list && *list) {
		size_t wl = strcspn(list, " ");

		if (wl == len && !strncasecmp(list, word, len))
			return true;
		list += wl;
		list += strspn(list, " ");
	}
	return false;
}

static bool param_named(const struct exlb_param *p, const char *name)
{
	return !strcasecmp(p->name, name) || in_word_list(p->aliases, name);
}

const struct exlb_param *exlb_param_find(const char *name, unsigned int scope,
					 const struct exlb_param **other_scope)
{
	if (other_scope)
		*other_scope = NULL;
	for (size_t i = 0; i < exlb_nr_params; i++) {
		const struct exlb_param *p = &exlb_params[i];

		if (!param_named(p, name))
			continue;
		if (p->scope & scope)
			return p;
		if (other_scope && !*other_scope)
			*other_scope = p;
	}
	return NULL;
}

static unsigned int *uint_field(const struct exlb_param *p, void *obj)
{
	return (unsigned int *)((char *)obj + p->offset);
}

static char *str_field(const struct exlb_param *p, void *obj)
{
	return (char *)obj + p->offset;
}

unsigned int exlb_param_uint(const struct exlb_param *p, const void *obj)
{
	return *uint_field(p, (void *)obj);
}

void exlb_param_describe(const struct exlb_param *p, char *buf, size_t n)
{
	size_t len;

	switch (p->type) {
	case EXLB_PT_BOOL:
		snprintf(buf, n, "must be 0 or 1");
		break;
	case EXLB_PT_UINT:
		if (p->flags & EXLB_PF_ZERO_OR_RANGE)
			snprintf(buf, n, "must be 0%s or %u-%u%s%s",
				 (p->flags & EXLB_PF_INHERIT) ? " (inherit)" : "",
				 p->min, p->max, p->unit ? " " : "",
				 p->unit ? p->unit : "");
		else
			snprintf(buf, n, "must be %u-%u%s%s", p->min, p->max,
				 p->unit ? " " : "", p->unit ? p->unit : "");
		break;
	case EXLB_PT_ENUM:
		len = snprintf(buf, n, "must be one of ");
		for (const struct exlb_param_code *c = p->codes; c->name && len < n;
		     c++) {
			if (p->flags & EXLB_PF_NUMERIC_CODE)
				len += snprintf(buf + len, n - len, "%s%s (%s)",
						c == p->codes ? "" : ", ",
						c->name, c->label);
			else
				len += snprintf(buf + len, n - len, "%s%s",
						c == p->codes ? "" : ", ",
						c->name);
		}
		break;
	case EXLB_PT_STRING:
		snprintf(buf, n, "must be at most %zu characters", p->size - 1);
		break;
	}
}

static bool parse_uint(const char *text, unsigned long *out)
{
	char *end;

	if (!isdigit((unsigned char)text[0]))
		return false;
	errno = 0;
	*out = strtoul(text, &end, 10);
	return !errno && !*end && *out <= 0xffffffffUL;
}

static bool parse_bool(const char *text, unsigned int *out)
{
	static const char *const yes[] = { "1", "yes", "y", "on", "true" };
	static const char *const no[] = { "0", "no", "n", "off", "false" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcasecmp(text, yes[i])) {
			*out = 1;
			return true;
		}
		if (!strcasecmp(text, no[i])) {
			*out = 0;
			return true;
		}
	}
	return false;
}

static const struct exlb_param_code *find_code(const struct exlb_param *p,
					       const char *text)
{
	for (const struct exlb_param_code *c = p->codes; c->name; c++)
		if (!strcasecmp(c->name, text) || in_word_list(c->aliases, text))
			return c;
	return NULL;
}

bool exlb_param_set(const struct exlb_param *p, void *obj, const char *text,
		    char *err, size_t n)
{
	char why[256];
	unsigned long num;
	unsigned int value;
	const struct exlb_param_code *code;

	switch (p->type) {
	case EXLB_PT_BOOL:
		if (!parse_bool(text, &value))
			goto bad;
		*uint_field(p, obj) = value;
		return true;
	case EXLB_PT_UINT:
		if (!parse_uint(text, &num))
			goto bad;
		if (!(num == 0 && (p->flags & EXLB_PF_ZERO_OR_RANGE)) &&
		    (num < p->min || num > p->max))
			goto bad;
		if (p->flags & EXLB_PF_MINUTES)
			num = num < 60 ? 0 : num - num % 60;
		*uint_field(p, obj) = num;
		return true;
	case EXLB_PT_ENUM:
		code = find_code(p, text);
		if (!code)
			goto bad;
		*uint_field(p, obj) = code->value;
		return true;
	case EXLB_PT_STRING:
		if (strlen(text) >= p->size)
			goto bad;
		for (const char *c = text; *c; c++) {
			if ((unsigned char)*c < 0x20 || *c == 0x7f) {
				snprintf(err, n,
					 "%s: must not contain control characters",
					 p->name);
				return false;
			}
		}
		if (p->check && !p->check(text, why, sizeof(why))) {
			snprintf(err, n, "%s: %s (got '%s')", p->name, why, text);
			return false;
		}
		strcpy(str_field(p, obj), text);
		return true;
	}
bad:
	exlb_param_describe(p, why, sizeof(why));
	if (p->type == EXLB_PT_STRING)
		snprintf(err, n, "%s: %s (got %zu)", p->name, why, strlen(text));
	else
		snprintf(err, n, "%s: %s (got '%.64s')", p->name, why, text);
	return false;
}

/*
 * The accepted set of ESP: what exlb enforces today. One line per enforced
 * combination; anything else with EspEnabled=1 is refused with the why.
 */
static bool esp_http(const struct exlb_service *vs)
{
	return vs->vstype == EXLB_VSTYPE_HTTP || vs->vstype == EXLB_VSTYPE_HTTP2;
}

/* Kemp's SMTP VS with ESP: port 25 (guide 4.9), or our STARTTLS SMTP proxy. */
static bool esp_smtp(const struct exlb_service *svc, const struct exlb_service *vs)
{
	if (svc != vs)
		return false;
	if (vs->vstype == EXLB_VSTYPE_TLS)
		return vs->starttls_mode == 1 || vs->starttls_mode == 2;
	return vs->vstype == EXLB_VSTYPE_GEN && vs->port == 25 &&
	       !vs->ssl_acceleration;
}

bool esp_settings_enforced(const struct exlb_service *svc,
			   const struct exlb_service *vs, char *why, size_t n)
{
	if (!esp_http(vs) && !esp_smtp(svc, vs)) {
		snprintf(why, n, "ESP is enforced on HTTP services (VStype http, the gates of docs/esp.md) and SMTP VSs (port 25 or VStype tls with StartTLSMode 1/2: SMTPAllowedDomains) only");
		return false;
	}
	/*
	 * client side: 0 delegate (the gates alone); 1 Basic, 2 form (a
	 * logon page and a session cookie) against the SSO domain, on HTTP
	 * services (check.c: Domain must name one)
	 */
	if ((svc->input_auth_mode == 1 || svc->input_auth_mode == 2) &&
	    !esp_http(vs)) {
		snprintf(why, n, "InputAuthMode=%u: the %s logon is enforced on HTTP services only; use InputAuthMode=0",
			 svc->input_auth_mode,
			 svc->input_auth_mode == 1 ? "Basic" : "form");
		return false;
	}
	if (svc->input_auth_mode > 2) {
		snprintf(why, n, "InputAuthMode=%u: pre-authentication against the directory is not implemented yet in this mode; use InputAuthMode=0 (delegate: the AllowedHosts/AllowedDirectories gates, authentication left to Exchange), 1 (Basic against the SSO domain) or 2 (form logon against the SSO domain)",
			 svc->input_auth_mode);
		return false;
	}
	/*
	 * server side: 0 none (no Authorization is forwarded), 1 Basic (the
	 * Basic logon's header unchanged, or one made from the form logon's
	 * session): 1 needs the credentials of a logon
	 */
	if (svc->output_auth_mode == 1 && svc->input_auth_mode != 1 &&
	    svc->input_auth_mode != 2) {
		snprintf(why, n, "OutputAuthMode=1: passes on the credentials of the Basic or form logon: needs InputAuthMode=1 or 2");
		return false;
	}
	/*
	 * 2 Form: exlbd logs the user on to Exchange's form (POST
	 * /owa/auth.owa) with the form logon's credentials: only after one
	 */
	if (svc->output_auth_mode == 2 && svc->input_auth_mode != 2) {
		snprintf(why, n, "OutputAuthMode=2: logs the user on to Exchange's form with the credentials of ESP's form logon: needs InputAuthMode=2 (there is no form logon to pass on); use OutputAuthMode=0 or 1");
		return false;
	}
	if (svc->output_auth_mode > 2) {
		snprintf(why, n, "OutputAuthMode=%u: not implemented yet; use OutputAuthMode=0 (none), 1 (Basic: the logon's credentials passed on) or 2 (Form, with InputAuthMode=2)",
			 svc->output_auth_mode);
		return false;
	}
	return true;
}

bool exlb_esp_refused(const struct exlb_service *svc,
		      const struct exlb_service *vs, char *why, size_t n)
{
	char detail[320];

	if (!svc->esp_enabled || !vs ||
	    esp_settings_enforced(svc, vs, detail, sizeof(detail)))
		return false;
	snprintf(why, n, "EspEnabled=1: %s; exlb refuses ESP rather than serve without what it asks for (docs/esp.md)",
		 detail);
	return true;
}

const struct exlb_param *exlb_params_refused(unsigned int scope,
					     const void *obj)
{
	for (size_t i = 0; i < exlb_nr_params; i++) {
		const struct exlb_param *p = &exlb_params[i];

		if ((p->scope & scope) && p->refused &&
		    p->type != EXLB_PT_STRING && exlb_param_uint(p, obj))
			return p;
	}
	return NULL;
}

void exlb_params_defaults(unsigned int scope, void *obj)
{
	char err[256];

	for (size_t i = 0; i < exlb_nr_params; i++) {
		const struct exlb_param *p = &exlb_params[i];

		/* a SubVS has no VS-only fields: they stay zero */
		if ((p->scope & scope) && p->def)
			exlb_param_set(p, obj, p->def, err, sizeof(err));
	}
}

static const struct exlb_param_code *stored_code(const struct exlb_param *p,
						 const void *obj)
{
	unsigned int v = exlb_param_uint(p, obj);

	for (const struct exlb_param_code *c = p->codes; c->name; c++)
		if (c->value == v)
			return c;
	return NULL;
}

void exlb_param_format(const struct exlb_param *p, const void *obj,
		       char *buf, size_t n)
{
	const struct exlb_param_code *c;

	switch (p->type) {
	case EXLB_PT_BOOL:
	case EXLB_PT_UINT:
		snprintf(buf, n, "%u", exlb_param_uint(p, obj));
		break;
	case EXLB_PT_ENUM:
		c = stored_code(p, obj);
		if (c)
			snprintf(buf, n, "%s", c->name);
		else
			snprintf(buf, n, "%u", exlb_param_uint(p, obj));
		break;
	case EXLB_PT_STRING:
		snprintf(buf, n, "%s", str_field(p, (void *)obj));
		break;
	}
}

const char *exlb_param_label(const struct exlb_param *p, const void *obj)
{
	const struct exlb_param_code *c;

	if (p->type != EXLB_PT_ENUM)
		return NULL;
	c = stored_code(p, obj);
	return c ? c->label : NULL;
}

bool exlb_param_is_default(const struct exlb_param *p, const void *obj)
{
	char now[1100];
	char def[1100];
	/* large enough for any object: parse the default into a scratch copy */
	static union {
		struct exlb_service svc;
		struct exlb_rs rs;
		struct exlb_rule rule;
		struct exlb_globals g;
		struct exlb_sso_domain sso;
	} scratch;
	char err[256];

	if (!p->def)
		return false;
	if (!exlb_param_set(p, &scratch, p->def, err, sizeof(err)))
		return false;
	exlb_param_format(p, obj, now, sizeof(now));
	exlb_param_format(p, &scratch, def, sizeof(def));
	return !strcmp(now, def);
}

/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The Edge Security Pack's view of a request: the request target split into
 * authority and path, the path normalised the way a gate must see it before
 * matching AllowedDirectories, the Host normalised before matching
 * AllowedHosts, Kemp's wildcard lists, and the SMTP recipient domain. Pure
 * functions over strings, no allocation: gate.c decides with them,
 * mail_proto.c checks RCPT TO with them, test_esp_path.c tests every trick.
 *
 * Why each step (docs/esp.md "How a path is checked"): the real servers are
 * IIS, which decodes a path once, takes '\' for '/', removes dot-segments
 * and compares case-insensitively; a gate that matched the raw bytes would
 * let "/owa/..%2fecp/" past an "/owa/ and below" rule to ECP. What cannot be mapped
 * to one meaning with certainty is refused: a second level of encoding of
 * '/', '\', '.' or NUL, a NUL, ';' path parameters, segments of dots and
 * spaces other than "." and "..", %u encodings, bytes that are not UTF-8.
 * And the real server is sent exactly what was checked: the normalised
 * path, percent-encoded again (esp_path_encode()), never the client's bytes.
 */
#ifndef EXLB_ESP_PATH_H
#define EXLB_ESP_PATH_H

#include <stdbool.h>
#include <stddef.h>

#define ESP_PATH_MAX	4096	/* a longer normalised path is refused */
#define ESP_HOST_MAX	256

/* A request target, split (pointers into it). */
struct esp_target {
	const char *authority;	/* absolute-form only, else NULL */
	size_t authority_len;
	const char *path;	/* "/..." up to '?' (never empty) */
	size_t path_len;
	const char *query;	/* from '?' on, or NULL */
	size_t query_len;
};

/*
 * Splits @t (origin-form "/p?q" or absolute-form "http[s]://host/p?q").
 * NULL, or why the target is refused ("*", authority-form, a fragment, a
 * scheme other than http/https, userinfo in the authority).
 */
const char *esp_target_split(const char *t, size_t len, struct esp_target *out);

/*
 * The normalised form of the raw path @p (no query) into @out (@cap >=
 * ESP_PATH_MAX): percent-decoded once, '\' as '/', "//" collapsed,
 * dot-segments removed (RFC 3986 5.2.4), always starting with '/'. NULL, or
 * why it is refused.
 */
const char *esp_path_normalise(const char *p, size_t len, char *out, size_t cap);

/*
 * @path (normalised) percent-encoded for the real server: every byte other
 * than unreserved, sub-delims, ':', '@' and '/' as %XX. Returns the length,
 * or 0 when @cap is too small.
 */
size_t esp_path_encode(const char *path, char *out, size_t cap);

/*
 * A Host header value or absolute-form authority as compared: port and
 * one trailing dot removed, lower case; an IPv6 literal keeps its brackets.
 * NULL, or why it is refused (empty, bad characters, a bad port).
 */
const char *esp_host_normalise(const char *h, size_t len, char *out, size_t cap);

/*
 * Whether @s matches one of the patterns of @list (separated by blanks,
 * commas, semicolons or newlines): Kemp's shell wildcards ('*' matches
 * anything, '/' included; '?' one character), case-insensitive. An empty
 * list matches nothing. @host: the patterns are hosts (a trailing dot of
 * a pattern is ignored).
 */
bool esp_list_match(const char *list, const char *s, bool host);

/*
 * SMTP: the domain of the address in a RCPT TO line's argument @arg ("TO:<a@b>
 * NOTIFY=..."), lower case, into @out. NULL, or why the address is refused
 * (no angle brackets, no domain, a source route, a quoted local part, '@'
 * twice, bad characters).
 */
const char *esp_rcpt_domain(const char *arg, size_t len, char *out, size_t cap);

#endif

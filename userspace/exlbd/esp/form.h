/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * ESP's form logon (InputAuthMode=2) without the proxy: the logon page
 * exlbd serves, the strict parser of what it POSTs to /lm_auth_proxy, the
 * check that the destination it goes back to is a path on this host (no
 * open redirect), the answers of a logon (302 with the session cookie)
 * and the session cookie in a request's Cookie header (found, and taken
 * out before the request goes to a real server). The sessions themselves
 * are session.c's; the flow is l7/proxy_conn.c's.
 */
#ifndef EXLB_ESP_FORM_H
#define EXLB_ESP_FORM_H

#include <stdbool.h>
#include <stddef.h>

#include "esp/ldap.h"
#include "esp/session.h"
#include "l7/http1.h"

#define ESP_FORM_PATH		"/lm_auth_proxy"	/* Kemp's */
#define ESP_FORM_BODY_MAX	4096	/* bytes of a logon POST's body */
#define ESP_DEST_MAX		2048	/* bytes of the destination */

/* What a logon POST carries. */
struct esp_form {
	char user[ESP_NAME_MAX + 1];
	size_t user_len;
	char pw[ESP_PASSWORD_MAX + 1];
	size_t pw_len;
	char dest[ESP_DEST_MAX + 1];	/* NUL-terminated, valid (below) */
	bool private_pc;		/* flags=4: a private computer */
};

/*
 * Parses an application/x-www-form-urlencoded body: name=value pairs
 * separated by '&', '+' for a blank, %XX (two hex digits) for a byte.
 * Fields: username, password (both required), destination (default "/",
 * must pass esp_dest_valid()), flags ("0" public, "4" private; default
 * public); other names are ignored. Refused (-1, @why set): a pair without
 * '=', an empty pair, a bad %, a raw byte outside printable ASCII, a
 * field twice, a value too long, a missing field, a bad flags or
 * destination. @f is wiped on failure.
 */
int esp_form_parse(const char *body, size_t len, struct esp_form *f,
		   const char **why);

/*
 * Whether @d (@len bytes) may be a Location after the logon: a path on
 * this host: starts with one '/' (not "//" nor "/\": those are another
 * host to a browser), printable ASCII without blanks or '\'.
 */
bool esp_dest_valid(const char *d, size_t len);

/* Wipes what a form holds (the password). */
void esp_form_wipe(struct esp_form *f);

/*
 * The value of the session cookie in a Cookie header's @value: true with
 * *@v / *@vlen set when there is one (the first).
 */
bool esp_cookie_get(const char *value, size_t len, const char **v,
		    size_t *vlen);

/*
 * @value without the session cookie, into @out (@cap bytes, NUL-terminated),
 * the other cookies kept in their order, "; " between them. Returns the
 * length, or (size_t)-1 if @out is too small.
 */
size_t esp_cookie_strip(const char *value, size_t len, char *out, size_t cap);

/* The attributes of a new session cookie (docs/esp.md "The cookie's flags"). */
#define ESP_COOKIE_ATTRS	"; Path=/; HttpOnly; Secure; SameSite=Lax"

/* Set-Cookie's value that ends the session cookie at the browser. */
extern const char esp_cookie_clear[];

/* The line shown with UserPwdChangeURL when UserPwdChangeMsg is empty. */
#define ESP_PWD_CHANGE_DEFAULT	"Your password has expired or must be changed."

/*
 * The logon page as a whole response (@status, Connection: close): the
 * service's @message (SingleSignOnMessage, HTML-escaped), @error (a
 * generic line, or NULL), user name, password, the public/private choice
 * and @dest (escaped) in a hidden field, POSTed to ESP_FORM_PATH. No
 * script, no external asset, a strict Content-Security-Policy.
 * @pwd_url (UserPwdChangeURL, validated by the parameter table; NULL or
 * empty: none): the password must be changed -- @pwd_msg (or
 * ESP_PWD_CHANGE_DEFAULT when empty) and a link to @pwd_url, both
 * escaped, the page's one link. @head_only: a HEAD request (no body).
 * 0 or -1 (no memory).
 */
int esp_form_page(unsigned int status, const char *message, const char *dest,
		  const char *error, const char *pwd_url, const char *pwd_msg,
		  bool head_only, struct exlb_buf *out);

/* 302 to @dest (valid) with the new session's cookie @cookie. 0 or -1. */
int esp_form_redirect(const char *dest, const char *cookie,
		      struct exlb_buf *out);

#endif

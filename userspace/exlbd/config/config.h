/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The configuration model of exlbd: globals, virtual services (VS), SubVSs,
 * real servers (RS) and content rules; the operations that change it; its
 * JSON form (docs/config-format.md) and the state file.
 *
 * Changes are atomic: a request works on a copy (exlb_config_clone()), the
 * copy is checked as a whole (exlb_config_check()) and written to disk, and
 * only then replaces the current configuration (exlb_store_commit()). A
 * failing request leaves memory and disk as they were.
 *
 * Runtime state (health verdicts, connection counters) is kept apart from
 * configuration in struct exlb_runtime, keyed by RS and service id: it is
 * never persisted and survives configuration swaps.
 */
#ifndef EXLB_CONFIG_H
#define EXLB_CONFIG_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <syslog.h>
#include <time.h>

#include <jansson.h>

#define EXLB_CONFIG_FORMAT	"exlb-config"
#define EXLB_CONFIG_VERSION	1
#define EXLB_STATE_FILE		"config.json"
/* The system group that may read the control socket and the access log. */
#define EXLB_GROUP		"exlb"

#define EXLB_NICKNAME_SIZE	128
#define EXLB_ALT_SOURCE_SIZE	1024	/* AltSourceAddrs: a comma-separated list */
#define EXLB_RULE_NAME_SIZE	64
#define EXLB_SUBVS_MAX_RULES	32
#define EXLB_SERVICE_MAX_RS	256	/* = EXLB_MAX_REALS of the kernel */
#define EXLB_MAX_SERVICES	4096
#define EXLB_MAX_RULES		1024
#define EXLB_ERR_SIZE		512
#define EXLB_CERT_NAME_SIZE	65	/* [A-Za-z0-9._-]{1,64} */
#define EXLB_MAX_CERTS		1024
#define EXLB_VS_MAX_CERTS	16	/* names in one CertFile */


/*
 * One line naming what went wrong; every operation fills it on failure
 * (exlb_err_set(), log.c: always returns -1).
 */
struct exlb_err {
	char msg[EXLB_ERR_SIZE];
};

int exlb_err_set(struct exlb_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

struct exlb_addr {
	int family;		/* AF_INET, AF_INET6; 0 = none (a SubVS) */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} u;
};

/* Kemp's `set param=` values. */
struct exlb_globals {
	unsigned int droponfail;
	unsigned int dropatdrainend;
	unsigned int finalpersist;
	unsigned int conntimeout;
	unsigned int expect100;
	unsigned int addforwardheader;
	unsigned int subnetoriginating;
	unsigned int localbind;
	/* AltSourceAddrs: default alternate source addresses (with localbind) */
	char alt_source_addrs[EXLB_ALT_SOURCE_SIZE];
	unsigned int retry_interval;	/* RetryInterval */
	unsigned int retry_timeout;	/* Timeout */
	unsigned int retry_count;	/* RetryCount */
	/* the admin listener (admin/admin.c, docs/admin.md); AdminPort 0 = off */
	char admin_address[64];		/* AdminAddress: one IP address */
	unsigned int admin_port;	/* AdminPort */
	char admin_cert[EXLB_CERT_NAME_SIZE];	/* AdminCert: "" = self-signed */
	/*
	 * The HA pair (ha/, docs/ha.md): Kemp's names. VRRP by keepalived,
	 * run and configured by exlbd while hamode is not 0.
	 */
	unsigned int hamode;		/* hamode: EXLB_HAMODE_* */
	unsigned int haprefered;	/* haprefered: 1 = first preempts */
	unsigned int havhid;		/* havhid: VRRP virtual router id */
	unsigned int hatimeout;		/* hatimeout: seconds to take over */
	char haif[16];			/* haif: interface of VRRP and the VIPs */
	char partner[64];		/* partner: the peer's address */
	/* configuration sync (ha/sync.c): its TCP port on both nodes; 0 = off */
	unsigned int hasyncport;	/* hasyncport [exlb] */
	/*
	 * L4 connection sync (ha/conntrackd.c): conntrackd run by exlbd while
	 * tcpfailover is 1, its UDP on mcast (empty: haif) to mcastpeer
	 * (empty: partner). Node-local, as hamode.
	 */
	unsigned int tcpfailover;	/* tcpfailover: Inter-HA L4 TCP connection updates */
	char mcast[16];			/* mcast: the interface of the HA sync traffic */
	char mcastpeer[64];		/* mcastpeer [exlb]: the partner's address on mcast */
};

/* Kemp's HA Mode codes (hamode) */
enum exlb_hamode {
	EXLB_HAMODE_NONE, EXLB_HAMODE_FIRST, EXLB_HAMODE_SECOND,
};

/* Value codes stored in the unsigned fields (params.c names them). */
enum exlb_vstype {
	EXLB_VSTYPE_GEN, EXLB_VSTYPE_HTTP, EXLB_VSTYPE_HTTP2,
	EXLB_VSTYPE_TLS, EXLB_VSTYPE_TS, EXLB_VSTYPE_LOG,
};

enum exlb_checktype {		/* same order as health.h enum exlb_check_type */
	EXLB_CHECKTYPE_NONE, EXLB_CHECKTYPE_TCP, EXLB_CHECKTYPE_ICMP,
	EXLB_CHECKTYPE_HTTP, EXLB_CHECKTYPE_HTTPS, EXLB_CHECKTYPE_SMTP,
	EXLB_CHECKTYPE_IMAP, EXLB_CHECKTYPE_POP3,
};

enum exlb_matchtype {
	EXLB_MATCH_REGEX, EXLB_MATCH_PREFIX, EXLB_MATCH_POSTFIX,
};

/* Kemp's rule types (addrule type=); 0 selects a SubVS, the others edit heads. */
enum exlb_ruletype {
	EXLB_RULE_MATCH,		/* MatchContentRule (content switching) */
	EXLB_RULE_ADD_HEADER,		/* AddHeaderRule: header: replacement */
	EXLB_RULE_DELETE_HEADER,	/* DeleteHeaderRule: headers matching pattern */
	EXLB_RULE_REPLACE_HEADER,	/* ReplaceHeaderRule: pattern -> replacement in header's value */
	EXLB_RULE_MODIFY_URL,		/* ModifyURLRule: pattern -> replacement in the target */
};

/*
 * A VS or a SubVS. Schedule, Persist and forward hold the kernel's enum
 * values (uapi/linux/exlb.h), so kernel.c copies them as they are.
 */
struct exlb_service {
	uint32_t id;		/* Kemp's index; VS and SubVS share the space */
	uint32_t parent_id;	/* 0 for a VS; the VS of a SubVS */
	struct exlb_addr vip;	/* none for a SubVS */
	unsigned int port;	/* 0 for a SubVS */
	unsigned int protocol;	/* IPPROTO_TCP */

	char nickname[EXLB_NICKNAME_SIZE];
	unsigned int vstype;
	unsigned int force_l7;
	unsigned int transparent;
	unsigned int subnet_originating;
	/* AltSourceAddrs: SNAT source addresses past 64k (with localbind) */
	char alt_source_addrs[EXLB_ALT_SOURCE_SIZE];
	unsigned int server_init;
	unsigned int starttls_mode;
	unsigned int persist;
	unsigned int persist_timeout;
	unsigned int persist_mask;
	unsigned int schedule;
	unsigned int idletime;
	unsigned int max_conns;		/* MaxConnsLimit: proxied VSs only; 0 = none */
	unsigned int enable;

	unsigned int check_type;
	char check_url[256];
	unsigned int check_use_get;
	unsigned int check_use_11;
	char check_host[256];
	char check_codes[128];
	unsigned int check_port;

	unsigned int ssl_acceleration;
	unsigned int ssl_reencrypt;
	unsigned int tls_type;
	char cipher_set[512];
	unsigned int need_host_name;
	char cert_file[1024];		/* CertFile: names, first = default */
	char reverse_sni[256];		/* ReverseSNIHostname */
	unsigned int reencrypt_verify;	/* ReencryptVerify */
	unsigned int hsts;		/* StrictTransportSecurity max-age */
	unsigned int error_code;
	char error_url[512];
	unsigned int add_via;

	/* Health timing overrides; 0 = inherit (SubVS: its VS, then global). */
	unsigned int retry_interval;	/* RetryInterval */
	unsigned int retry_timeout;	/* Timeout */
	unsigned int retry_count;	/* RetryCount */

	/*
	 * Edge Security Pack (docs/esp.md): EspEnabled=1 only where every
	 * setting is enforced (esp_settings_enforced(), params.c): the gates
	 * of HTTP services (esp/gate.c) and SMTPAllowedDomains; the others
	 * are inert with ESP off, as on a LoadMaster, and only stored.
	 */
	unsigned int esp_enabled;
	unsigned int esp_logs;
	unsigned int input_auth_mode;
	unsigned int output_auth_mode;
	char allowed_hosts[1024];
	char allowed_directories[1024];
	char excluded_directories[1024];
	char logoff[256];
	char sso_message[512];
	char pwd_change_url[512];	/* UserPwdChangeURL: https://... or /path */
	char pwd_change_msg[512];	/* UserPwdChangeMsg: printable UTF-8 */
	char sso_domain[256];
	char smtp_allowed_domains[1024];

	/* Content rules selecting this SubVS, in order (SubVS only). */
	unsigned int nr_rules;
	char rules[EXLB_SUBVS_MAX_RULES][EXLB_RULE_NAME_SIZE];

	/* Header rules (types 1-4) applied in order, VS only. */
	unsigned int nr_request_rules;
	char request_rules[EXLB_SUBVS_MAX_RULES][EXLB_RULE_NAME_SIZE];
	unsigned int nr_response_rules;
	char response_rules[EXLB_SUBVS_MAX_RULES][EXLB_RULE_NAME_SIZE];

	/*
	 * Not configuration (never in JSON): loaded from exlbd's own state
	 * file with a refused setting (EspEnabled=1 with settings exlb does
	 * not enforce, from an older exlb). Such a service is kept so nothing is lost, but its VS serves
	 * nothing (exlb_vs_refused()); any change to it clears this, and then
	 * the check refuses the setting like a new request.
	 */
	bool held;
};

struct exlb_rs {
	uint32_t id;		/* unique over all services; health target id */
	uint32_t service_id;	/* the VS or SubVS it serves */
	struct exlb_addr addr;
	unsigned int port;
	unsigned int weight;
	unsigned int limit;
	unsigned int forward;
	unsigned int enable;
	unsigned int critical;
};

struct exlb_rule {
	char name[EXLB_RULE_NAME_SIZE];
	unsigned int matchtype;
	char pattern[512];
	unsigned int nocase;
	unsigned int negate;
	char header[128];
	unsigned int inchost;
	unsigned int incquery;
	unsigned int type;		/* enum exlb_ruletype */
	char replacement[512];		/* header rules: the new text ($1.. refer to groups) */
};

/*
 * An installed certificate (exlbctl cert add). The PEM files live in
 * STATE_DIR/certs (certs.c); the configuration keeps what identifies them,
 * so that adding, replacing or deleting one is an ordinary atomic change and
 * the TLS contexts (tls.c) can tell when one was replaced.
 */
struct exlb_cert {
	char name[EXLB_CERT_NAME_SIZE];
	char sha256[65];	/* of the leaf's DER, lower-case hex */
	char not_after[32];	/* the leaf's notAfter, "2027-01-31T12:00:00Z" */
};

/*
 * A user or an API key of the admin listener (exlbctl admin user|apikey,
 * docs/admin.md). Only a hash is kept: a user's password as a crypt(3)
 * string (yescrypt), an API key as the SHA-256 of the key (hex); hashing
 * and verification are config/credentials.c's.
 */
enum exlb_cred_kind { EXLB_CRED_USER, EXLB_CRED_APIKEY };
enum exlb_role { EXLB_ROLE_READONLY, EXLB_ROLE_ADMIN };
#define EXLB_CRED_NAME_SIZE	65	/* [A-Za-z0-9._-]{1,64} */
#define EXLB_CRED_HASH_SIZE	160
#define EXLB_MAX_CREDS		256

struct exlb_cred {
	char name[EXLB_CRED_NAME_SIZE];
	unsigned int kind;		/* enum exlb_cred_kind */
	unsigned int role;		/* enum exlb_role */
	char hash[EXLB_CRED_HASH_SIZE];
};

/*
 * An SSO domain (Kemp's "Manage SSO", client side; exlbctl sso, docs/esp.md):
 * the directory that an ESP service (its Domain parameter) checks logons
 * against. Field names follow Kemp's adddomain/moddomain parameters;
 * params.c has the table. adminpass is a secret: it is kept in the state
 * file (exlbd must bind with it) but never shown.
 */
#define EXLB_SSO_NAME_SIZE	65	/* [A-Za-z0-9._-]{1,64} */
#define EXLB_MAX_SSO_DOMAINS	64
#define EXLB_SSO_MAX_SERVERS	8

enum exlb_sso_auth_type {
	EXLB_SSO_LDAP_UNENCRYPTED,	/* ldap:// */
	EXLB_SSO_LDAP_STARTTLS,		/* ldap:// + StartTLS */
	EXLB_SSO_LDAP_LDAPS,		/* ldaps:// */
};

enum exlb_sso_logon_fmt {
	EXLB_LOGON_NOTSPECIFIED,	/* as typed */
	EXLB_LOGON_PRINCIPALNAME,	/* user@logon_domain */
	EXLB_LOGON_USERNAME,		/* LOGON_DOMAIN\user */
	EXLB_LOGON_USERNAMEONLY,	/* user: any domain part removed */
};

enum exlb_sso_tout_type { EXLB_SSO_TOUT_IDLE, EXLB_SSO_TOUT_MAX };

struct exlb_sso_domain {
	char name[EXLB_SSO_NAME_SIZE];
	unsigned int auth_type;		/* enum exlb_sso_auth_type */
	char server[512];		/* "host[:port] ...": failover order */
	unsigned int timeout;		/* seconds per server and operation */
	char ldap_ca[256];		/* CA file (PEM) for TLS; "" = system CAs */
	unsigned int logon_fmt;		/* enum exlb_sso_logon_fmt */
	char logon_domain[256];
	char adminuser[256];		/* service account DN; "" = user bind */
	char adminpass[256];		/* its password (secret) */
	char ldap_base[512];		/* search base with a service account */
	unsigned int max_failed_auths;	/* 0 = no limit */
	unsigned int reset_fail_tout;	/* seconds: failures older are forgotten */
	unsigned int unblock_tout;	/* seconds a blocked user stays blocked */
	unsigned int sess_tout_type;	/* enum exlb_sso_tout_type */
	unsigned int sess_tout_idle_pub;
	unsigned int sess_tout_duration_pub;
	unsigned int sess_tout_idle_priv;
	unsigned int sess_tout_duration_priv;
};

/*
 * The whole configuration: flat arrays of plain structs, so a copy is a few
 * memcpy. Services are in creation order (a SubVS after its VS); each
 * service's RSs are in the order they were added.
 */
struct exlb_config {
	struct exlb_globals globals;
	uint32_t next_id;
	uint32_t next_rs_id;
	struct exlb_service *services;
	size_t nr_services;
	struct exlb_rs *reals;
	size_t nr_reals;
	struct exlb_rule *rules;
	size_t nr_rules;
	struct exlb_cert *certs;	/* by name, in the order added */
	size_t nr_certs;
	struct exlb_cred *creds;	/* admin users and API keys */
	size_t nr_creds;
	struct exlb_sso_domain *sso;	/* SSO domains, in the order added */
	size_t nr_sso;
};

struct exlb_config *exlb_config_new(void);
struct exlb_config *exlb_config_clone(const struct exlb_config *cfg);
void exlb_config_free(struct exlb_config *cfg);

/* Cross-parameter rules over the whole configuration (check.c). 0 or -1 + err. */
int exlb_config_check(const struct exlb_config *cfg, struct exlb_err *err);

/* ---- lookups ---- */

struct exlb_service *exlb_service_by_id(const struct exlb_config *cfg,
					uint32_t id);
/*
 * A VS or SubVS named by id ("3"), VIP:PORT ("198.18.0.10:443",
 * "[2001:db8::1]:443"), VS/SubVS nickname path ("OWA/EWS" -- the parent's
 * nickname or VIP:PORT, a slash, the SubVS nickname) or a nickname that is
 * unique.
 */
struct exlb_service *exlb_service_find(const struct exlb_config *cfg,
				       const char *name, struct exlb_err *err);
bool exlb_service_is_subvs(const struct exlb_service *svc);
size_t exlb_service_nr_subvs(const struct exlb_config *cfg, uint32_t vs_id);
size_t exlb_service_nr_rs(const struct exlb_config *cfg, uint32_t service_id);
/* "OWA", or "198.18.0.10:443" when it has no nickname; for messages. */
const char *exlb_service_label(const struct exlb_service *svc, char *buf,
			       size_t n);
/*
 * For log lines: "VS 198.18.0.10:443 (OWA)", "SubVS EWS (id 4) of VS
 * 198.18.0.10:443 (OWA)"; and an RS: "rs 198.18.0.21:443 in " and its
 * service's description.
 */
const char *exlb_service_describe(const struct exlb_config *cfg,
				  const struct exlb_service *svc, char *buf,
				  size_t n);
const char *exlb_rs_describe(const struct exlb_config *cfg,
			     const struct exlb_rs *rs, char *buf, size_t n);
/*
 * A RS of @svc by "ADDR" (if only one port of it is used there) or
 * "ADDR:PORT" / "[v6]:PORT".
 */
struct exlb_rs *exlb_rs_find(const struct exlb_config *cfg,
			     const struct exlb_service *svc, const char *name,
			     struct exlb_err *err);
struct exlb_rs *exlb_rs_by_id(const struct exlb_config *cfg, uint32_t id);
struct exlb_rule *exlb_rule_find(const struct exlb_config *cfg,
				 const char *name);
/* An SSO domain by name (case-insensitive, as Kemp's), or NULL. */
struct exlb_sso_domain *exlb_sso_find(const struct exlb_config *cfg,
				      const char *name);

/*
 * Served by the kernel (plain L4 NAT): a VS (not a SubVS) of VStype gen
 * without SSLAcceleration, ErrorCode, SubVSs or EspEnabled (an SMTP VS
 * with ESP is exlbd's mail proxy: it reads RCPT TO). ForceL7 does not matter: the
 * client cannot tell, and Transparent/SubnetOriginating still decide the
 * source address the RS sees.
 */
bool exlb_service_is_kernel_served(const struct exlb_config *cfg,
				   const struct exlb_service *svc);
/*
 * A setting of @svc that exlb refuses: a parameter with a ->refused text
 * set to non-zero, or EspEnabled=1 with settings exlb does not enforce
 * (exlb_esp_refused()). True with "Param=value: why" in @why.
 */
bool exlb_service_refused(const struct exlb_config *cfg,
			  const struct exlb_service *svc, char *why, size_t n);
/*
 * Fail closed: @vs (or the VS of a SubVS) has a refused setting in itself
 * or one of its SubVSs (a service held from an older state file), so
 * neither the kernel nor the proxy serves it, whatever Enable says.
 */
bool exlb_vs_refused(const struct exlb_config *cfg,
		     const struct exlb_service *vs);
/*
 * The health timing a service's checks use: its own RetryInterval, Timeout
 * and RetryCount where set, else (a SubVS) its VS's, else the globals.
 * from_* say where each came from: "SubVS", "VS" or "global".
 */
struct exlb_health_timing {
	unsigned int retry_interval, retry_timeout, retry_count;
	const char *from_interval, *from_timeout, *from_count;
};

void exlb_service_health_timing(const struct exlb_config *cfg,
				const struct exlb_service *svc,
				struct exlb_health_timing *t);

/* The enabled kernel-served VSs, in order; returns how many (<= max). */
size_t exlb_config_kernel_services(const struct exlb_config *cfg,
				   const struct exlb_service **out, size_t max);

/* ---- operations: each changes @cfg (a copy) or fails leaving it as it was ---- */

/* @params: a JSON object of Kemp name -> value (string, integer or bool). */
int exlb_vs_add(struct exlb_config *cfg, const char *vip, const char *port,
		const char *prot, json_t *params, uint32_t *id,
		struct exlb_err *err);
int exlb_subvs_add(struct exlb_config *cfg, struct exlb_service *vs,
		   json_t *params, uint32_t *id, struct exlb_err *err);
int exlb_service_mod(struct exlb_config *cfg, struct exlb_service *svc,
		     json_t *params, struct exlb_err *err);
/* Deletes a VS with its SubVSs and RSs, or one SubVS with its RSs. */
int exlb_service_del(struct exlb_config *cfg, uint32_t id,
		     struct exlb_err *err);
/*
 * Adds RS @addr to @svc; with addtoallsubvs=1 to every SubVS of @svc (a VS)
 * or of @svc's parent (a SubVS). port (alias rsport) defaults to the VS port.
 */
int exlb_rs_add(struct exlb_config *cfg, struct exlb_service *svc,
		const char *addr, json_t *params, struct exlb_err *err);
/* newport=N changes the port; otherwise the RS parameters. */
int exlb_rs_mod(struct exlb_config *cfg, struct exlb_service *svc,
		struct exlb_rs *rs, json_t *params, struct exlb_err *err);
int exlb_rs_del(struct exlb_config *cfg, uint32_t rs_id, struct exlb_err *err);
int exlb_rule_add(struct exlb_config *cfg, const char *name, json_t *params,
		  struct exlb_err *err);
int exlb_rule_mod(struct exlb_config *cfg, struct exlb_rule *rule,
		  json_t *params, struct exlb_err *err);
int exlb_rule_del(struct exlb_config *cfg, const char *name,
		  struct exlb_err *err);
/* SSO domains (exlbctl sso add|mod|del): a domain an ESP service names stays. */
int exlb_sso_add(struct exlb_config *cfg, const char *name, json_t *params,
		 struct exlb_err *err);
int exlb_sso_mod(struct exlb_config *cfg, struct exlb_sso_domain *d,
		 json_t *params, struct exlb_err *err);
int exlb_sso_del(struct exlb_config *cfg, const char *name,
		 struct exlb_err *err);
int exlb_rule_attach(struct exlb_config *cfg, struct exlb_service *subvs,
		     const char *rule, struct exlb_err *err);
int exlb_rule_detach(struct exlb_config *cfg, struct exlb_service *subvs,
		     const char *rule, struct exlb_err *err);
/*
 * Rules on a service, by list: content rules select a SubVS (Kemp
 * addrsrule); header rules (types 1-4) edit a VS's requests or responses
 * (Kemp addrequestrule / addresponserule).
 */
enum exlb_rule_list {
	EXLB_RULES_CONTENT,
	EXLB_RULES_REQUEST,
	EXLB_RULES_RESPONSE,
};

int exlb_rule_attach_to(struct exlb_config *cfg, struct exlb_service *svc,
			const char *rule, enum exlb_rule_list list,
			struct exlb_err *err);
/* Without @list (-1): the first list of @svc that has the rule. */
int exlb_rule_detach_from(struct exlb_config *cfg, struct exlb_service *svc,
			  const char *rule, int list, struct exlb_err *err);

/* ---- certificates (the table; the files are certs.c's) ---- */

const struct exlb_cert *exlb_cert_find(const struct exlb_config *cfg,
				       const char *name);
/* Adds @cert, or replaces the entry of that name if @replace. */
int exlb_cert_set(struct exlb_config *cfg, const struct exlb_cert *cert,
		  bool replace, struct exlb_err *err);
/* Refused while a VS's CertFile names it. */
int exlb_cert_del(struct exlb_config *cfg, const char *name,
		  struct exlb_err *err);
/*
 * The certificate names of @vs's CertFile, in order (first = default);
 * returns how many (<= max). 0 with SSLAcceleration = self-signed.
 */
size_t exlb_service_cert_names(const struct exlb_service *vs,
			       char names[][EXLB_CERT_NAME_SIZE], size_t max);
/* Does @vs's CertFile name @cert? */
bool exlb_service_uses_cert(const struct exlb_service *vs, const char *cert);
json_t *exlb_cert_to_json(const struct exlb_cert *cert);
/* A credential as in the state file (hash included) or for a listing (without). */
json_t *exlb_cred_to_json(const struct exlb_cred *c, bool with_hash);
const char *exlb_role_name(unsigned int role);
const char *exlb_cred_kind_name(unsigned int kind);
/* "read-only"/"readonly"/"ro" or "admin"; -1 otherwise. */
int exlb_role_parse(const char *text);
const struct exlb_cred *exlb_cred_find(const struct exlb_config *cfg,
				       unsigned int kind, const char *name);

/* Kemp `set param=value`. */
int exlb_global_set(struct exlb_config *cfg, const char *param,
		    const char *value, struct exlb_err *err);

/* ---- JSON (json.c) ---- */

json_t *exlb_globals_to_json(const struct exlb_globals *g);
/* A VS with its SubVSs and RSs, or a SubVS with its RSs and rules. */
json_t *exlb_service_to_json(const struct exlb_config *cfg,
			     const struct exlb_service *svc);
json_t *exlb_rs_to_json(const struct exlb_rs *rs);
json_t *exlb_rule_to_json(const struct exlb_rule *rule);
/*
 * An SSO domain: as in the state file (@with_secrets: adminpass too) or for
 * show (adminpass only says whether it is set: true/false).
 */
json_t *exlb_sso_to_json(const struct exlb_sso_domain *d, bool with_secrets);
/* The whole document, as in the state file and `exlbctl save`. */
json_t *exlb_config_to_json(const struct exlb_config *cfg);
/* Parses and checks a whole document; NULL + err if anything is wrong. */
struct exlb_config *exlb_config_from_json(const json_t *doc,
					  struct exlb_err *err);
/*
 * The same for exlbd's own state file at start: a service with a refused
 * setting (EspEnabled=1 from an older exlb) is logged and held (see
 * exlb_service.held) instead of failing the whole load, so the other VSs
 * keep serving. Anything else wrong still fails.
 */
struct exlb_config *exlb_config_from_state(const json_t *doc,
					   struct exlb_err *err);

/* ---- addresses ---- */

void exlb_addr_format(const struct exlb_addr *a, char *buf, size_t n);
/* "ADDR:PORT", with brackets for IPv6. */
void exlb_addr_port_format(const struct exlb_addr *a, unsigned int port,
			   char *buf, size_t n);
int exlb_addr_parse(const char *text, struct exlb_addr *a);
bool exlb_addr_equal(const struct exlb_addr *a, const struct exlb_addr *b);

/* ---- the current configuration and its state file (store.c) ---- */

/* Called after a change is applied and on disk (main.c: kernel, health). */
typedef void (*exlb_config_changed_fn)(void *ctx,
				       const struct exlb_config *old_cfg,
				       const struct exlb_config *new_cfg);

struct exlb_store {
	struct exlb_config *config;	/* current: applied and on disk */
	char *state_dir;
	char *state_path;
	exlb_config_changed_fn changed;
	void *changed_ctx;
};

/* Loads STATE_DIR/config.json, or starts empty if there is none. */
int exlb_store_open(struct exlb_store *st, const char *state_dir,
		    struct exlb_err *err);
void exlb_store_close(struct exlb_store *st);
/*
 * Makes @next current: checks it, writes it (temp file, fsync, rename,
 * fsync of the directory), swaps, logs @what, calls the hook. On failure
 * @next is freed and the current configuration stays, in memory and on disk.
 */
int exlb_store_commit(struct exlb_store *st, struct exlb_config *next,
		      const char *what, struct exlb_err *err);
int exlb_config_write_file(const struct exlb_config *cfg, const char *dir,
			   const char *path, struct exlb_err *err);
/*
 * Writes @doc to @path so that a crash leaves the old file or the new one
 * whole: a temp file @dir/@tmp_name with @mode, fsync, rename over @path,
 * fsync of @dir. @path must be in @dir. -1 + "cannot write PATH: why".
 */
int exlb_json_write_atomic(const json_t *doc, const char *dir,
			   const char *path, const char *tmp_name,
			   unsigned int mode, struct exlb_err *err);
/* write(2) of all @len bytes, across short writes and EINTR; 0 or -1 + errno. */
int exlb_write_all(int fd, const void *buf, size_t len);

/* ---- runtime state, apart from configuration (runtime.c) ---- */

enum exlb_health_state {
	EXLB_HEALTH_UNKNOWN,	/* no verdict yet */
	EXLB_HEALTH_UP,
	EXLB_HEALTH_DOWN,
};

struct exlb_counters {
	uint64_t conns;		/* connections ever scheduled */
	uint32_t active;	/* open, established */
	uint32_t inactive;	/* open, other TCP states */
	uint64_t pkts_in, pkts_out, bytes_in, bytes_out;
	uint64_t requests;	/* HTTP requests forwarded (L7) */
};

struct exlb_rs_runtime {
	uint32_t rs_id;
	enum exlb_health_state health;
	char reason[128];
	struct exlb_counters counters;
	/* the last health check: how long it took, its reason's class */
	double check_s;		/* 0: none yet */
	char reason_class[16];
};

/*
 * The L7 termination codes (access log "term", l7/accesslog.c): who ended
 * a request and in which phase; index = who * EXLB_TERM_PHASES + phase.
 */
#define EXLB_TERM_WHO		"CSPLDKcs-"
#define EXLB_TERM_PHASE		"RCHD-"
#define EXLB_TERM_WHOS		9
#define EXLB_TERM_PHASES	5
#define EXLB_TERM_CODES		(EXLB_TERM_WHOS * EXLB_TERM_PHASES)

/* A VS's L7 figures beyond the per-RS counters (the proxy's, every tick). */
struct exlb_vs_l7 {
	uint32_t vs_id;
	uint64_t tls_full, tls_resumed;	/* client handshakes */
	uint64_t ktls_tx, ktls_rx;	/* client connections with kTLS that way */
	uint64_t term[EXLB_TERM_CODES];
};

/* A SubVS's (or a VS's without SubVSs) L7 persistence records. */
struct exlb_persist_count {
	uint32_t service_id;
	uint64_t records;
};

#define EXLB_MAX_WORKERS_SHOWN	64

/* Configuration sync (ha/sync.c, status "ha"."sync"), copied from its threads. */
struct exlb_ha_sync_status {
	bool on;		/* hamode and hasyncport set */
	bool peer_reachable;	/* the last exchange with the partner worked */
	uint64_t sent, acked;	/* generations queued for the partner, confirmed */
	uint64_t received;	/* the generation last applied here */
	time_t acked_at, received_at;
	char error[192];	/* the last failure; "" once an exchange works */
};

/* Persistence sync (ha/persist_sync.c, status "ha"."persist"): records. */
struct exlb_ha_persist_status {
	uint64_t sent;		/* records the partner confirmed (active node) */
	uint64_t received;	/* records the partner sent here (standby) */
	uint64_t installed;	/* of those, put into this node's tables */
	uint64_t dropped;	/* not: unknown SubVS or RS, RS not serving, full */
	time_t sent_at, received_at;
	char error[192];	/* the last failure; "" once an exchange works */
};

/* conntrackd, run by exlbd (ha/conntrackd.c, status "ha"."conntrackd"). */
enum exlb_ctd_state {
	EXLB_CTD_OFF,		/* tcpfailover 0 or hamode 0 */
	EXLB_CTD_RUNNING,
	EXLB_CTD_DOWN,		/* exited or could not start: restarting */
	EXLB_CTD_MISSING,	/* conntrackd is not installed */
};

struct exlb_ha_ctd_status {
	unsigned int state;	/* EXLB_CTD_* */
	int pid;		/* 0: not running */
	unsigned int restarts;	/* exits exlbd restarted it after */
	bool hold;		/* the takeover hold is in place (non-SYN TCP to the VIPs dropped) */
	uint64_t commits;	/* takeovers: external cache committed */
	unsigned int commit_ms;	/* how long the last commit took */
	time_t committed_at;
	char note[160];		/* why it is down, or the last failure */
};

struct exlb_runtime {
	/*
	 * Called by status (ctl.c) before it reads what follows: exlbd
	 * --worker-user asks its worker process for current figures (main.c).
	 * NULL: nothing to ask.
	 */
	void (*refresh)(void *ctx);
	void *refresh_ctx;
	bool kernel_available;	/* the kernel data plane is programmed */
	char kernel_note[128];	/* why not, for status */
	struct exlb_rs_runtime *rs;
	size_t nr_rs;
	/* the L7 proxy's descriptor budget and its shortages (status "proxy") */
	struct {
		bool present;
		unsigned int fd_limit, fd_reserve;
		uint64_t conns_refused, accept_pauses, fd_short;
		uint64_t conns_over_limit;	/* MaxConnsLimit closed them */
		uint64_t connect_retries;	/* requests tried on another RS */
		uint64_t ktls_conns, userspace_conns;	/* client TLS relays */
		unsigned int nr_workers;
		/* each worker's event loop: how late its timer fired, s */
		double lag[EXLB_MAX_WORKERS_SHOWN], lag_max[EXLB_MAX_WORKERS_SHOWN];
		/*
		 * exlbd --worker-user: the L7 worker process and the
		 * directory process (docs/privsep.md)
		 */
		struct exlb_proc_status {
			bool on;
			int pid;		/* 0: none running */
			unsigned int exits;	/* it died and was restarted */
			unsigned int sigsys;	/* of those: killed by its filter */
			char user[64];
			char last_exit[160];	/* "killed by signal 31 (SIGSYS...)" */
		} process, directory;
	} proxy;
	struct exlb_vs_l7 *vs_l7;
	size_t nr_vs_l7;
	/* persistence records per service: the L7 proxy's, exlb.ko's */
	struct exlb_persist_count *persist;
	size_t nr_persist;
	struct exlb_persist_count *kernel_persist;
	size_t nr_kernel_persist;
	/* the HA pair's VRRP role as keepalived reports it (ha/, status "ha") */
	struct {
		unsigned int role;	/* EXLB_HA_ROLE_* */
		time_t since;		/* when it last changed (wall clock) */
		int keepalived_pid;	/* 0: not running */
		unsigned int restarts;	/* keepalived exits exlbd restarted */
		char note[128];		/* what keepalived said last, or why it is down */
		struct exlb_ha_sync_status sync;
		struct exlb_ha_persist_status persist;
		struct exlb_ha_ctd_status ctd;
	} ha;
};

enum exlb_ha_role {
	EXLB_HA_ROLE_OFF,	/* hamode 0: a single node */
	EXLB_HA_ROLE_STARTING,	/* keepalived runs, no state reported yet */
	EXLB_HA_ROLE_ACTIVE,	/* VRRP MASTER: owns the VIPs */
	EXLB_HA_ROLE_STANDBY,	/* VRRP BACKUP */
	EXLB_HA_ROLE_FAULT,	/* VRRP FAULT: its interface is down */
	EXLB_HA_ROLE_DOWN,	/* keepalived is not running (restarting) */
};

/* The runtime record of RS @rs_id, created on first use (NULL: no memory). */
struct exlb_rs_runtime *exlb_runtime_rs(struct exlb_runtime *rt,
					uint32_t rs_id);
const struct exlb_rs_runtime *exlb_runtime_rs_peek(
	const struct exlb_runtime *rt, uint32_t rs_id);
/* Records a health verdict; logs a line if it changed. */
void exlb_runtime_set_health(struct exlb_runtime *rt,
			     const struct exlb_config *cfg, uint32_t rs_id,
			     bool up, const char *reason);
/* Forgets RSs that no longer exist in @cfg. */
void exlb_runtime_prune(struct exlb_runtime *rt, const struct exlb_config *cfg);
void exlb_runtime_free(struct exlb_runtime *rt);

/* An RS takes new connections: enabled, weight > 0, health up (or CheckType none). */
bool exlb_rs_is_serving(const struct exlb_config *cfg,
			const struct exlb_runtime *rt, const struct exlb_rs *rs);
/* Kemp's Status column: "Up", "Down", "Redirect", "Disabled"; "Refused" (exlb_vs_refused()). */
const char *exlb_service_status(const struct exlb_config *cfg,
				const struct exlb_runtime *rt,
				const struct exlb_service *svc);

/* ---- errors and logging (log.c) ---- */

/*
 * One line to stderr per state change: "exlbd: " and the text, written
 * with a single write(2) so that lines of different threads never mix
 * (a line longer than EXLB_LOG_LINE_MAX is cut and ends in "...").
 * @pri is a syslog priority (<syslog.h>): LOG_ERR for a refused
 * configuration or a failed kernel program, LOG_WARNING for an RS going
 * down, LOG_NOTICE for an RS coming up, start and stop, LOG_INFO for
 * changes made, LOG_DEBUG for per-connection events. When stderr is the
 * journal's stream (JOURNAL_STREAM names it), each line starts with
 * sd-daemon's "<N>" so `journalctl -p warning` sees it; elsewhere stderr
 * stays plain text. A line names a VS by VIP:port and NickName, an RS by
 * address:port and its VS or SubVS (exlb_rs_describe()).
 */
#define EXLB_LOG_LINE_MAX	2048
void exlb_log(int pri, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The lines' prefix instead of "exlbd" (the worker process: with its pid). */
void exlb_log_set_tag(const char *tag);

/*
 * A log line for an event that may repeat thousands of times a second (a
 * descriptor shortage): every event is counted, and at most one line per
 * interval reports how many came since the previous line. Any thread; a
 * zeroed struct is ready (its first event is reported at once).
 */
struct exlb_log_limit {
	atomic_uint_least64_t events;	/* ever */
	atomic_uint_least64_t reported;	/* events covered by lines written */
	atomic_uint_least64_t next_ms;	/* CLOCK_MONOTONIC: no line before */
};
/* Counts one event; returns how many events to report in a line now, or 0. */
uint64_t exlb_log_limit_hit(struct exlb_log_limit *ll, unsigned int interval_ms);

#endif

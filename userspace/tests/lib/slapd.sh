# SPDX-License-Identifier: GPL-2.0 OR MIT
# shellcheck shell=bash
#
# The test directory of the ESP logon tests: one OpenLDAP slapd with a
# small AD-like directory (userPrincipalName, sAMAccountName under a tiny
# schema of ours), ppolicy, ldap:// with StartTLS and ldaps:// with a
# certificate of a test CA. Users (password = NAME-pw): alice and dave
# valid, bob locked by ppolicy (pwdAccountLockedTime), carol with an
# expired password (pwdMaxAge, old pwdChangedTime); the service account
# cn=svc,ou=system,dc=exlb,dc=test (svc-secret) may read the people.
# Source it after lib/tap.sh (report, check, wait_for).
#
#   slapd_fixture ADDR PORT_LDAP PORT_LDAPS [DEBUG] [NS]
#       makes everything under $tmp (the CA $tmp/exlb-test-ca.pem, another
#       CA $tmp/other-ca.pem), starts slapd on ADDR (in network namespace
#       NS if given; stderr to $tmp/slapd.log, slapd's -d DEBUG: 0 by
#       default, 256 logs every operation, "BIND dn=..." for each bind),
#       sets slapd_pid, and reports the fixture's own checks (TAP).
#
#   slapd_sso_args ADDR PORT PASSFILE
#       sets SSO_ARGS: the `exlbctl sso add NAME` arguments of an SSO domain
#       on this directory at ADDR:PORT (plain LDAP, user principal names
#       @exlb.test, the service account, whose password it writes to
#       PASSFILE); a test appends its own limits and timeouts.
#
#   slapd_binds
#       how many binds slapd has logged so far (with DEBUG 256): a test
#       compares two counts to tell whether a logon asked the directory.
#
# SLAPD, SLAPADD: the binaries (/usr/sbin/...).

slapd_sso_args() {
	echo 'svc-secret' >"$3"
	SSO_ARGS=(server="$1:$2" auth_type=LDAP-Unencrypted timeout=2
		logon_fmt=Principalname logon_domain=exlb.test
		adminuser=cn=svc,ou=system,dc=exlb,dc=test
		ldap_base=ou=people,dc=exlb,dc=test password-file "$3")
}

slapd_binds() { grep -c ' BIND dn=' "$tmp/slapd.log"; }

slapd_fixture() {
	local addr=$1 P_LDAP=$2 P_LDAPS=$3 debug=${4:-0} ns=${5:-}
	local -a run=()
	[ -n "$ns" ] && run=(ip netns exec "$ns")
	SLAPD=${SLAPD:-/usr/sbin/slapd}
	SLAPADD=${SLAPADD:-/usr/sbin/slapadd}
	# ---- the test CA, the server's certificate ($addr, localhost), another CA
	mkcert() {
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$1" \
			-keyout "$tmp/$1.key" -out "$tmp/$1.pem" 2>/dev/null
	}
	mkcert exlb-test-ca && mkcert other-ca &&
	openssl req -newkey rsa:2048 -nodes -subj /CN=localhost \
		-keyout "$tmp/server.key" -out "$tmp/server.csr" 2>/dev/null &&
	printf 'subjectAltName=IP:%s,DNS:localhost\n' "$addr" >"$tmp/san.ext" &&
	openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/exlb-test-ca.pem" \
		-CAkey "$tmp/exlb-test-ca.key" -CAcreateserial -days 2 \
		-extfile "$tmp/san.ext" -out "$tmp/server.pem" 2>/dev/null
	check "test CA and server certificate made" test -s "$tmp/server.pem"
	chmod 0644 "$tmp"/*.key

	# ---- slapd: the AD attributes, ppolicy, the directory
	cat >"$tmp/ad.schema" <<'EOF'
attributetype ( 1.2.840.113556.1.4.656 NAME 'userPrincipalName'
	EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName'
	EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.4203.666.11.99.1 NAME 'exlbTestADUser' AUXILIARY
	MAY ( userPrincipalName $ sAMAccountName ) )
EOF
	mkdir -p "$tmp/db"
	cat >"$tmp/slapd.conf" <<EOF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include $tmp/ad.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
pidfile $tmp/slapd.pid
TLSCACertificateFile $tmp/exlb-test-ca.pem
TLSCertificateFile $tmp/server.pem
TLSCertificateKeyFile $tmp/server.key
database mdb
maxsize 16777216
suffix "dc=exlb,dc=test"
rootdn "cn=admin,dc=exlb,dc=test"
rootpw admin-not-used
directory $tmp/db
overlay ppolicy
ppolicy_default "cn=default,ou=policies,dc=exlb,dc=test"
ppolicy_use_lockout
access to attrs=userPassword by anonymous auth by * none
access to * by dn.exact="cn=svc,ou=system,dc=exlb,dc=test" read by self read by * none
EOF
	now=$(date -u +%Y%m%d%H%M%SZ)
	user() { # NAME PASSWORD [extra attribute lines]
		printf 'dn: uid=%s,ou=people,dc=exlb,dc=test\nobjectClass: inetOrgPerson\nobjectClass: exlbTestADUser\nuid: %s\ncn: %s\nsn: %s\nuserPrincipalName: %s@exlb.test\nsAMAccountName: %s\nuserPassword: %s\n' \
			"$1" "$1" "$1" "$1" "$1" "$1" "$2"
		shift 2
		printf '%s\n' "$@"
		echo
	}
	{
		printf 'dn: dc=exlb,dc=test\nobjectClass: dcObject\nobjectClass: organization\ndc: exlb\no: exlb test\n\n'
		for ou in people system policies; do
			printf 'dn: ou=%s,dc=exlb,dc=test\nobjectClass: organizationalUnit\nou: %s\n\n' "$ou" "$ou"
		done
		printf 'dn: cn=default,ou=policies,dc=exlb,dc=test\nobjectClass: organizationalRole\nobjectClass: pwdPolicy\ncn: default\npwdAttribute: userPassword\npwdMaxAge: 315360000\npwdLockout: TRUE\npwdMaxFailure: 0\npwdGraceAuthNLimit: 0\n\n'
		printf 'dn: cn=svc,ou=system,dc=exlb,dc=test\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: svc\nuserPassword: svc-secret\npwdChangedTime: %s\n\n' "$now"
		user alice alice-pw "pwdChangedTime: $now"
		user dave dave-pw "pwdChangedTime: $now"
		user bob bob-pw "pwdChangedTime: $now" "pwdAccountLockedTime: 000001010000Z"
		user carol carol-pw "pwdChangedTime: 20000101000000Z"
	} >"$tmp/data.ldif"
	"$SLAPADD" -f "$tmp/slapd.conf" -l "$tmp/data.ldif" >"$tmp/slapadd.log" 2>&1
	report $? "slapadd loaded the test directory$( [ -s "$tmp/slapadd.log" ] && tail -1 "$tmp/slapadd.log" | sed 's/^/: /')"

	"${run[@]}" "$SLAPD" -f "$tmp/slapd.conf" -h "ldap://$addr:$P_LDAP/ ldaps://$addr:$P_LDAPS/" \
		-d "$debug" >"$tmp/slapd.log" 2>&1 &
	slapd_pid=$!
	quiet() { "$@" >/dev/null 2>&1; }
	wait_for 10 quiet "${run[@]}" ldapsearch -x -H "ldap://$addr:$P_LDAP" -b "" -s base -LLL namingContexts
	report $? "slapd answers on $addr:$P_LDAP (after ${WAITED:-?} s)"
	# the fixture itself, with the OpenLDAP tools: ppolicy locks bob
	LDAPTLS_CACERT=$tmp/exlb-test-ca.pem "${run[@]}" ldapwhoami -x -ZZ -H "ldap://$addr:$P_LDAP" \
		-D uid=alice,ou=people,dc=exlb,dc=test -w alice-pw >"$tmp/who" 2>&1
	report $? "fixture: ldapwhoami -ZZ as alice: $(head -1 "$tmp/who")"
	"${run[@]}" ldapwhoami -x -e ppolicy -H "ldap://$addr:$P_LDAP" \
		-D uid=bob,ou=people,dc=exlb,dc=test -w bob-pw >"$tmp/who" 2>&1
	grep -qi 'locked' "$tmp/who"
	report $? "fixture: bob is locked by ppolicy: $(tr '\n' ' ' <"$tmp/who" | cut -c1-120)"
}

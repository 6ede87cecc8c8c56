#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# exlbd + exlbctl end to end, on the host, no root needed: starts exlbd with
# a fresh state directory, its own socket, --no-kernel and no health checks
# (lib/exlbd.sh's exlbd_start), drives exlbctl through the documented forms,
# and checks what it prints (JSON parsed with python3), that bad values are
# refused with the parameter named and nothing changed, that save/restore
# round-trips and that a restart restores the configuration. Prints TAP "ok N - ..." lines; exits non-zero on failure.
#
# EXLBD and EXLBCTL name the binaries (default: userspace/build/...).

set -u

# Belt and braces for the network rule: the services this test configures
# name 198.18.x.y addresses that exist nowhere on the host. As root, run in
# a private network namespace with nothing but a loopback, so nothing the
# daemon might send can leave (the control socket is a file: it still works).
if [ "$(id -u)" = 0 ] && [ -z "${EXLB_PRIVATE_NETNS:-}" ] && command -v unshare >/dev/null; then
	EXLB_PRIVATE_NETNS=1 exec unshare -n "$0" "$@"
fi
# The one VS that is served for real listens on 127.0.0.1 (TLSType below).
[ "${EXLB_PRIVATE_NETNS:-}" = 1 ] && ip link set lo up 2>/dev/null
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/tap.sh
source "$here/lib/tap.sh"
# shellcheck source=lib/exlbd.sh
source "$here/lib/exlbd.sh"
EXLBD=${EXLBD:-$here/../build/exlbd}
EXLBCTL=${EXLBCTL:-$here/../build/exlbctl}

T=$(mktemp -d)
state=$T/state		# exlbd_start's --state-dir
SOCK=$T/exlbd.sock
DAEMON_PID=

cleanup() {
	exlbd_kill
	[ -n "${esp_pid:-}" ] && kill "$esp_pid" 2>/dev/null && wait "$esp_pid" 2>/dev/null
	[ -n "${journal_pid:-}" ] && kill "$journal_pid" 2>/dev/null && wait "$journal_pid" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

echo "TAP version 13"
exlbd_start "exlbd starts with --state-dir, --socket, --no-kernel" --access-log "$T/access.log"

# ---- the forms of the issue ----
id=$(ctl vs add 198.18.0.10 443 tcp nickname=OWA Schedule=lc Persist=src PersistTimeout=3600 Idletime=1800 2>"$T/err")
check "vs add prints the new id" [ "$id" = 1 ]
ctl vs show 198.18.0.10:443 -j >"$T/vs.json" 2>"$T/err"
check "vs add stored Kemp values" json 'j["NickName"]=="OWA" and j["Schedule"]=="lc" and j["Persist"]=="src" and j["PersistTimeout"]==3600 and j["Idletime"]==1800' <"$T/vs.json"

check "vs mod by VIP:PORT" cfg vs mod 198.18.0.10:443 Schedule=rr
ctl vs show OWA -j | json 'j["Schedule"]=="rr"'
check "the change is visible by nickname" [ $? -eq 0 ]

check "vs mod VStype=http" cfg vs mod OWA VStype=http SSLAcceleration=1 CipherSet=BestPractices
sub=$(ctl subvs add 198.18.0.10:443 nickname=EWS CheckType=https CheckUrl=/ews/healthcheck.htm 2>"$T/err")
check "subvs add prints the SubVS id" [ "$sub" = 2 ]
owa=$(ctl subvs add OWA nickname=OWA-Sub CheckType=https CheckUrl=/owa/healthcheck.htm)
check "rs add to a SubVS by VS/NICKNAME" cfg rs add OWA/EWS 198.18.1.11 port=443 weight=1000 limit=0
check "rs add addtoallsubvs=1" cfg rs add "$sub" 198.18.1.12 port=443 addtoallsubvs=1
ctl vs show OWA -j >"$T/vs.json"
check "addtoallsubvs put 198.18.1.12 in both SubVSs" json '[len(s["rs"]) for s in j["subvs"]]==[2,1] and j["subvs"][1]["rs"][0]["addr"]=="198.18.1.12"' <"$T/vs.json"

check "rs disable" cfg rs disable OWA/EWS 198.18.1.11
ctl rs show OWA/EWS -j | json '[r["enable"] for r in j]==[0,1]'
check "rs disable drained it (enable 0)" [ $? -eq 0 ]
check "rs enable" cfg rs enable OWA/EWS 198.18.1.11
check "rs mod weight=" cfg rs mod OWA/EWS 198.18.1.11:443 weight=500
ctl rs show OWA/EWS -j | json 'j[0]["weight"]==500 and j[0]["enable"]==1'
check "rs enable and mod took effect" [ $? -eq 0 ]
check "rs del" cfg rs del "$owa" 198.18.1.12
ctl rs show "$owa" -j | json 'j==[]'
check "rs del removed it" [ $? -eq 0 ]

check "set droponfail 1" cfg set droponfail 1
check "get droponfail prints 1" [ "$(ctl get droponfail)" = 1 ]
check "set Kemp spelling RetryInterval=20" cfg set RetryInterval=20
ctl get -j | json 'j["droponfail"]==1 and j["RetryInterval"]==20 and j["conntimeout"]==660'
check "get -j has every global" [ $? -eq 0 ]

imap=$(ctl vs add 198.18.0.10 143 tcp nickname=IMAP VStype=gen ServerInit=Imap4 SubnetOriginating=1 CheckType=imap4 CheckPort=143)
check "an L4 VS with the guide's IMAP values" cfg rs add "$imap" 198.18.1.11

ctl status >"$T/status.txt"
check "status: the View/Modify Services columns" grep -Eq "Virtual IP Address  Prot  Name.*Layer  Certificate Installed  Status +Real Servers" "$T/status.txt"
check "status: the HTTPS VS lists its SubVSs by name (self-signed: no CertFile)" grep -Eq "198.18.0.10:443 +tcp +OWA +L7 +self-signed +Down +EWS, OWA-Sub" "$T/status.txt"
check "status: --no-kernel shows the data plane unavailable" grep -q "kernel data plane unavailable" "$T/status.txt"
ctl status -j >"$T/status.json"
check "status -j: layers, health and counts per RS" json 'j["kernel"]["available"] is False and [v["layer"] for v in j["vs"]]==["L7","L4"] and j["vs"][1]["served_by"]=="kernel" and j["vs"][0]["subvs"][0]["rs"][0]["health"]=="unchecked" and j["vs"][0]["subvs"][0]["rs"][0]["active"]==0' <"$T/status.json"
ctl stats -j | json '"conns" in j and j["vs"][0]["subvs"][0]["rs"][0]["bytes_in"]==0'
check "stats -j has counters" [ $? -eq 0 ]
check "stats text" bash -c "'$EXLBCTL' -s '$SOCK' stats | grep -q '^total'"

# an L4 VS that would be Up (CheckType none) serves nothing without the kernel
smtp=$(ctl vs add 198.18.0.10 25 tcp nickname=SMTP CheckType=none)
ctl rs add "$smtp" 198.18.1.11 >/dev/null
ctl status -j | json '[v["status"] for v in j["vs"] if v["name"]=="SMTP"]==["Down (kernel unavailable)"]'
check "status: a kernel-served VS is 'Down (kernel unavailable)' with --no-kernel" [ $? -eq 0 ]
check "status text shows it too" bash -c "'$EXLBCTL' -s '$SOCK' status | grep -Eq '198.18.0.10:25 +tcp +SMTP +L4 +- +Down \\(kernel unavailable\\)'"
ctl vs del SMTP >/dev/null

# ---- health timing per VS / SubVS (Kemp's globals with per-VS override) ----
check "subvs mod Timeout= RetryCount= (per-SubVS health timing)" cfg subvs mod OWA/EWS Timeout=6 RetryCount=3
ctl subvs show OWA/EWS -j | json 'j["Timeout"]==6 and j["RetryCount"]==3 and "RetryInterval" not in j and j["health_timing"]=={"RetryInterval":20,"Timeout":6,"RetryCount":3,"from":{"RetryInterval":"global","Timeout":"SubVS","RetryCount":"SubVS"}}'
check "subvs show -j: own values, the rest inherited from the globals" [ $? -eq 0 ]
check "vs mod RetryInterval= reaches its SubVSs" cfg vs mod OWA RetryInterval=15
ctl subvs show OWA/EWS | grep -q "health timing  *RetryInterval 15 s (VS), Timeout 6 s (SubVS), RetryCount 3 (SubVS)"
check "subvs show prints the effective timing and where it comes from" [ $? -eq 0 ]
expect_fail "Timeout=3 on a VS" "Timeout: must be 0 (inherit) or 4-60 seconds" ctl vs mod OWA Timeout=3
expect_fail "SubVS Timeout not below RetryInterval" "Timeout: must be less than RetryInterval (15, VS)" ctl subvs mod OWA/EWS Timeout=15
check "RetryInterval=0 inherits again" cfg vs mod OWA RetryInterval=0

# ---- bad values: refused, parameter named, nothing changed ----
expect_fail "Schedule=xx" "Schedule: must be one of rr, wrr, lc, wlc (got 'xx')" ctl vs mod OWA Schedule=xx
expect_fail "Idletime=86401" "Idletime: must be 0-86400" ctl vs mod OWA Schedule=lc Idletime=86401
expect_fail "rs weight=70000" "weight: must be 0-65535" ctl rs add OWA/EWS 198.18.1.20 weight=70000
expect_fail "TLSType on a SubVS" "TLSType: not a SubVS parameter" ctl subvs mod OWA/EWS TLSType=3
expect_fail "unknown parameter" "unknown VS parameter 'Colour'" ctl vs mod OWA Colour=blue
expect_fail "duplicate VS" "exists" ctl vs add 198.18.0.10 443 tcp
expect_fail "prot udp" "prot: must be tcp" ctl vs add 198.18.0.11 53 udp
expect_fail "set finalpersist 30" "finalpersist: must be 0 or 60-86400" ctl set finalpersist 30
expect_fail "unknown VS" "no VS or SubVS named 'Nope'" ctl vs del Nope
expect_fail "VStype tls without StartTLSMode" "StartTLSMode" ctl vs mod IMAP VStype=StartTLS
expect_fail "missing argument" "missing rs" ctl rs add OWA/EWS
ctl vs mod IMAP VStype=StartTLS StartTLSMode=Imap >/dev/null 2>"$T/err"
check "VStype StartTLS with StartTLSMode Imap together" [ $? -eq 0 ]
ctl vs mod IMAP VStype=gen StartTLSMode=0 >/dev/null

# ---- Edge Security Pack: EspEnabled=1 only where every setting is enforced (docs/esp.md) ----
ESP_ERR="EspEnabled=1: InputAuthMode=5: pre-authentication against the directory is not implemented yet"
ctl vs show -j >"$T/vs-before.json"
expect_fail "vs add EspEnabled=1 on a generic VS that is not SMTP" "VS 198.18.0.10:8025: EspEnabled=1: ESP is enforced on HTTP services" ctl vs add 198.18.0.10 8025 tcp EspEnabled=1
expect_fail "vs mod EspEnabled=1 InputAuthMode=5" "VS OWA: $ESP_ERR" ctl vs mod OWA EspEnabled=1 InputAuthMode=5
expect_fail "subvs add EnableESP=1 (the guide's spelling) InputAuthMode=5" "SubVS ESP-AP: $ESP_ERR" ctl subvs add OWA nickname=ESP-AP EnableESP=1 InputAuthMode=5
expect_fail "subvs mod EspEnabled=1 OutputAuthMode=2 without the form logon" "SubVS EWS: EspEnabled=1: OutputAuthMode=2: logs the user on to Exchange's form with the credentials of ESP's form logon: needs InputAuthMode=2" ctl subvs mod OWA/EWS EspEnabled=1 ESPLogs=7 OutputAuthMode=2
ctl vs show -j >"$T/vs-after.json"
check "vs show lists the same services, unchanged, after the four refusals" cmp -s "$T/vs-before.json" "$T/vs-after.json"
expect_fail "subvs mod UserPwdChangeURL that is not https:// nor a path" "UserPwdChangeURL: must be an https:// URL or a path starting with one '/'" ctl subvs mod OWA/EWS 'UserPwdChangeURL=javascript:alert(1)'
check "the other ESP parameters with EspEnabled=0 are stored (inert, as on a LoadMaster)" cfg subvs mod OWA/EWS ESPLogs=7 AllowedHosts=mail.example.com UserPwdChangeURL=https://pw.example.com/change 'UserPwdChangeMsg=Password expired'
ctl subvs show OWA/EWS >"$T/esp.txt"
check "subvs show marks them [stored only], EspEnabled 0 is not" bash -c "grep -Eq '^ *ESPLogs +7 +\\[stored only\\]' '$T/esp.txt' && grep -Eq '^ *AllowedHosts +mail.example.com +\\[stored only\\]' '$T/esp.txt' && grep -Eq '^ *UserPwdChangeURL +https://pw.example.com/change +\\[stored only\\]' '$T/esp.txt' && grep -Eq '^ *EspEnabled +0\$' '$T/esp.txt'"
check "subvs mod EspEnabled=1 with InputAuthMode=0 (the gates alone) is accepted" cfg subvs mod OWA/EWS EspEnabled=1 'AllowedDirectories=/ews/*'
ctl subvs show OWA/EWS >"$T/esp.txt"
check "with ESP on, subvs show no longer marks them [stored only]" bash -c "grep -Eq '^ *AllowedHosts +mail.example.com\$' '$T/esp.txt' && grep -Eq '^ *UserPwdChangeURL +https://pw.example.com/change\$' '$T/esp.txt' && grep -Eq '^ *UserPwdChangeMsg +Password expired\$' '$T/esp.txt' && grep -Eq '^ *EspEnabled +1\$' '$T/esp.txt'"
ctl subvs mod OWA/EWS EspEnabled=0 ESPLogs=0 AllowedHosts= AllowedDirectories= UserPwdChangeURL= UserPwdChangeMsg= >/dev/null
ctl save | python3 -c 'import json,sys; j=json.load(sys.stdin); j["vs"][0]["subvs"][0].update(EspEnabled=1, InputAuthMode=5); print(json.dumps(j))' >"$T/esp.json"
expect_fail "restore of a document with EspEnabled=1 InputAuthMode=5" "SubVS EWS: $ESP_ERR" ctl restore <"$T/esp.json"

# ---- content rules ----
check "rule add" cfg rule add EWS matchtype=regex 'pattern=/^\/ews.*/' nocase=1
check "rule attach" cfg rule attach OWA/EWS EWS
expect_fail "a rule in use" "detach it first" ctl rule del EWS
ctl subvs show OWA/EWS -j | json 'j["rules"]==["EWS"]'
check "the SubVS lists its rule" [ $? -eq 0 ]

# ---- certificates (made here with openssl; nothing leaves the host) ----
mkcert() { # NAME CN SAN [rsa]
	local alg="-newkey ec -pkeyopt ec_paramgen_curve:P-256"
	[ "${4:-}" = rsa ] && alg="-newkey rsa:2048"
	# shellcheck disable=SC2086
	openssl req -x509 $alg -nodes -keyout "$T/$1.key" -out "$T/$1.crt" \
		-days 30 -subj "/CN=$2" -addext "subjectAltName=$3" 2>/dev/null
}
fp() { openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr A-F a-f; }
certs_state() { (cd "$state/certs" && ls -l --time-style=+ . && cat ./*.crt) 2>/dev/null; }
# expect_fail_certs NAME PATTERN COMMAND...: expect_fail, and the files stay
expect_fail_certs() {
	certs_state >"$T/certs-before"
	expect_fail "$@"
	certs_state >"$T/certs-after"
	check "$1: certificate files unchanged" cmp -s "$T/certs-before" "$T/certs-after"
}
if command -v openssl >/dev/null; then
	mkcert mail mail.example.com "DNS:mail.example.com,DNS:autodiscover.example.com"
	mkcert mail2 mail.example.com "DNS:mail.example.com" rsa
	mkcert spare spare.example.com "DNS:spare.example.com"
	check "cert add NAME CERT KEY" cfg cert add mail "$T/mail.crt" "$T/mail.key"
	ctl cert list -j >"$T/certs.json"
	check "cert list -j: name, CN, SANs, sha256, notAfter, used by" json "len(j)==1 and j[0]['name']=='mail' and j[0]['cn']=='mail.example.com' and j[0]['sans']==['mail.example.com','autodiscover.example.com'] and j[0]['sha256']=='$(fp "$T/mail.crt")' and j[0]['notAfter'].endswith('Z') and j[0]['used_by']==[]" <"$T/certs.json"
	check "cert list (text) has a row for mail" bash -c "'$EXLBCTL' -s '$SOCK' cert list | grep -Eq '^mail +mail.example.com +mail.example.com,autodiscover.example.com'"
	check "the key is stored 0600" [ "$(stat -c %a "$state/certs/mail.key")" = 600 ]
	check "the certificate is stored 0644" [ "$(stat -c %a "$state/certs/mail.crt")" = 644 ]
	check "the state file has the certificates table" json "j['certificates'][0]['name']=='mail' and len(j['certificates'][0]['sha256'])==64" <"$state/config.json"
	expect_fail_certs "cert add an existing name" "exists: give replace=1" ctl cert add mail "$T/spare.crt" "$T/spare.key"
	expect_fail_certs "cert add a key of another certificate" "key: does not match" ctl cert add other "$T/mail.crt" "$T/spare.key"
	expect_fail_certs "cert add garbage" "certificate: cannot parse" ctl cert add other "$T/status.txt" "$T/spare.key"
	expect_fail_certs "cert add a bad name" "name: must be" ctl cert add "bad/name" "$T/spare.crt" "$T/spare.key"
	expect_fail_certs "CertFile naming an unknown certificate" "CertFile: no certificate named 'nope'" ctl vs mod OWA CertFile=mail,nope
	check "vs mod CertFile=mail" cfg vs mod OWA CertFile=mail
	check "status: Certificate Installed names it" bash -c "'$EXLBCTL' -s '$SOCK' status | grep -Eq '198.18.0.10:443 +tcp +OWA +L7 +mail +Down'"
	expect_fail_certs "cert del of a certificate in use" "used by VS OWA" ctl cert del mail
	check "cert add replace=1 (live)" cfg cert add mail "$T/mail2.crt" "$T/mail2.key" replace=1
	ctl cert show mail -j | json "j['sha256']=='$(fp "$T/mail2.crt")' and j['used_by']==['OWA'] and j['key'].startswith('RSA')"
	check "cert show: the replacement, still used by OWA" [ $? -eq 0 ]
	check "the files hold the replacement" [ "$(fp "$state/certs/mail.crt")" = "$(fp "$T/mail2.crt")" ]
	check "no leftover temporary or old files" bash -c "! ls -A '$state/certs' | grep -Eq '^\\.(tmp|old)'"
	check "cert add spare" cfg cert add spare "$T/spare.crt" "$T/spare.key"
	check "cert del spare" cfg cert del spare
	check "cert del removed the files" bash -c '[ ! -e "$1" ] && [ ! -e "$2" ]' _ \
		"$state/certs/spare.crt" "$state/certs/spare.key"
	expect_fail "cert show of a deleted certificate" "no certificate named 'spare'" ctl cert show spare

	# .pfx and encrypted PEM keys, decoded by exlbctl (docs/tls.md
	# "Importing a .pfx"): a leaf issued by an intermediate of a root, as
	# a CA-issued Exchange certificate
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
		-subj /CN=Test-Root -addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=keyCertSign -keyout "$T/root.key" -out "$T/root.crt" 2>/dev/null
	printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign\n' >"$T/ca.ext"
	printf 'subjectAltName=DNS:pfx.example.com\n' >"$T/leaf.ext"
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=Test-Inter \
		-keyout "$T/inter.key" -out "$T/inter.csr" 2>/dev/null
	openssl x509 -req -in "$T/inter.csr" -CA "$T/root.crt" -CAkey "$T/root.key" \
		-CAcreateserial -days 30 -extfile "$T/ca.ext" -out "$T/inter.crt" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj /CN=pfx.example.com \
		-keyout "$T/pfx.key" -out "$T/pfx.csr" 2>/dev/null
	openssl x509 -req -in "$T/pfx.csr" -CA "$T/inter.crt" -CAkey "$T/inter.key" \
		-CAcreateserial -days 30 -extfile "$T/leaf.ext" -out "$T/pfx.crt" 2>/dev/null
	# the chain root first in the .pfx: exlbctl puts it in issuing order
	cat "$T/root.crt" "$T/inter.crt" >"$T/chain-root-first.crt"
	cat "$T/pfx.crt" "$T/inter.crt" "$T/root.crt" >"$T/pfx-chain.crt"
	printf 'Exchange export %s\n' "$$" >"$T/pw"
	echo wrong >"$T/badpw"
	openssl pkcs12 -export -in "$T/pfx.crt" -inkey "$T/pfx.key" -certfile "$T/chain-root-first.crt" \
		-passout file:"$T/pw" -out "$T/new.pfx"
	openssl pkcs12 -export -legacy -in "$T/pfx.crt" -inkey "$T/pfx.key" \
		-certfile "$T/chain-root-first.crt" -passout file:"$T/pw" -out "$T/old.pfx"
	openssl pkey -in "$T/pfx.key" -aes256 -passout file:"$T/pw" -out "$T/pkcs8.key"
	openssl pkey -in "$T/pfx.key" -traditional -des3 -passout file:"$T/pw" -out "$T/trad.key"
	info_new=$(openssl pkcs12 -in "$T/new.pfx" -info -noout -passin file:"$T/pw" 2>&1)
	info_old=$(openssl pkcs12 -legacy -in "$T/old.pfx" -info -noout -passin file:"$T/pw" 2>&1)
	check "fixtures: new.pfx AES-256 with PBKDF2 (OpenSSL 3's default), old.pfx RC2-40 and 3DES (-legacy)" \
		bash -c '[[ $1 == *PBKDF2* && $1 == *AES-256-CBC* && $2 == *40BitRC2* ]]' _ "$info_new" "$info_old"
	check "old.pfx needs OpenSSL's legacy provider: openssl without -legacy cannot read it" \
		bash -c "! openssl pkcs12 -in '$T/old.pfx' -info -noout -passin file:'$T/pw' >/dev/null 2>&1"
	check "fixtures: an encrypted PKCS#8 key and a legacy encrypted PEM key (3DES)" bash -c \
		"grep -q 'BEGIN ENCRYPTED PRIVATE KEY' '$T/pkcs8.key' && grep -q 'Proc-Type: 4,ENCRYPTED' '$T/trad.key'"
	subjects() { openssl crl2pkcs7 -nocrl -certfile "$1" | openssl pkcs7 -print_certs -noout |
		sed -n 's/^subject=//p' | tr -d ' ' | paste -sd' '; }
	want_chain="CN=pfx.example.com CN=Test-Inter CN=Test-Root"
	for c in "pfx-new:new.pfx" "pfx-old:old.pfx" "pem-pkcs8:pfx-chain.crt pkcs8.key" "pem-trad:pfx-chain.crt trad.key"; do
		name=${c%%:*} files=()
		for f in ${c#*:}; do files+=("$T/$f"); done
		check "cert add $name ${c#*:} password-file FILE" cfg cert add "$name" "${files[@]}" password-file "$T/pw"
		got=$(subjects "$state/certs/$name.crt")
		check "$name: stored leaf, then chain in issuing order ($got)" [ "$got" = "$want_chain" ]
		check "$name: the stored key is unencrypted PKCS#8 and is the leaf's" bash -c \
			'[ "$(head -n 1 "$1")" = "-----BEGIN PRIVATE KEY-----" ] && [ "$(openssl pkey -in "$1" -pubout)" = "$(openssl x509 -in "$2" -noout -pubkey)" ]' \
			_ "$state/certs/$name.key" "$T/pfx.crt"
		ctl cert show "$name" -j | json "j['sha256']=='$(fp "$T/pfx.crt")' and j['chain']==2 and j['key']=='RSA 2048'"
		check "$name: cert show -j: the leaf's sha256, chain 2, key RSA 2048 (its type only)" [ $? -eq 0 ]
	done
	# no key material in cert show or cert list, in any form
	keyline=$(sed -n 2p "$state/certs/pfx-new.key")
	{ ctl cert show pfx-new; ctl cert show pfx-new -j; ctl cert list; ctl cert list -j; } >"$T/shown.txt"
	check "cert show/list print no private key (no PEM key header, no line of the stored key)" \
		bash -c "[ -n '$keyline' ] && ! grep -q 'PRIVATE' '$T/shown.txt' && ! grep -qF -- '$keyline' '$T/shown.txt'"
	for name in pfx-old pem-pkcs8 pem-trad; do ctl cert del "$name" >/dev/null; done
	# password-file=- (either spelling, as admin user add takes it): the
	# password is standard input's first line
	ctl cert add pfx-stdin "$T/new.pfx" password-file=- <"$T/pw" 2>"$T/err"
	rc=$?
	check "cert add NAME FILE.pfx password-file=- takes the password from standard input (rc $rc)" \
		bash -c '[ "$1" = 0 ] && [ -n "$2" ] && [ "$2" = "$3" ]' \
		_ "$rc" "$(fp "$state/certs/pfx-stdin.crt" 2>/dev/null)" "$(fp "$T/pfx.crt")"
	ctl cert del pfx-stdin >/dev/null 2>&1
	ctl cert list -j >"$T/certlist-before.json"
	expect_fail_certs "cert add password-file=- with nothing on standard input" "password-file - (standard input): no password" \
		bash -c '"$1" -s "$2" cert add bad "$3" password-file=- </dev/null' _ "$EXLBCTL" "$SOCK" "$T/new.pfx"
	expect_fail_certs "cert add of a .pfx with a wrong password" "wrong password for $T/new.pfx" \
		ctl cert add bad "$T/new.pfx" password-file "$T/badpw"
	expect_fail_certs "cert add of an encrypted PKCS#8 key with a wrong password" "wrong password for $T/pkcs8.key" \
		ctl cert add bad "$T/pfx-chain.crt" "$T/pkcs8.key" password-file "$T/badpw"
	expect_fail_certs "cert add of a legacy encrypted key with a wrong password" "wrong password for $T/trad.key" \
		ctl cert add bad "$T/pfx-chain.crt" "$T/trad.key" password-file "$T/badpw"
	expect_fail_certs "cert add with a password on the command line" "no password on the command line: every user can read it" \
		ctl cert add bad "$T/new.pfx" password "$(cat "$T/pw")"
	# setsid: no controlling terminal, whoever runs the test (exlbctl asks
	# on /dev/tty, not on stdin)
	expect_fail_certs "cert add of a .pfx, no password-file, no terminal" "is encrypted: give password-file FILE" \
		setsid -w "$EXLBCTL" -s "$SOCK" cert add bad "$T/new.pfx" </dev/null
	expect_fail_certs "cert add of a .pfx with a key file too" "it holds the key, give no key file" \
		ctl cert add bad "$T/new.pfx" "$T/pfx.key" password-file "$T/pw"
	ctl cert list -j >"$T/certlist-after.json"
	check "after the refused imports cert list is unchanged" cmp -s "$T/certlist-before.json" "$T/certlist-after.json"
	# a .pfx whose key matches none of its certificates (openssl pkcs12
	# will not write one; python's cryptography writes a key with CA certs)
	if python3 -c 'import cryptography' 2>/dev/null; then
		python3 - "$T" <<'EOF'
import sys
from cryptography import x509
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption, load_pem_private_key, pkcs12)
d = sys.argv[1]
key = load_pem_private_key(open(d + "/inter.key", "rb").read(), None)
leaf = x509.load_pem_x509_certificate(open(d + "/pfx.crt", "rb").read())
pw = open(d + "/pw", "rb").read().rstrip(b"\n")
open(d + "/mismatch.pfx", "wb").write(pkcs12.serialize_key_and_certificates(
    b"mismatch", key, None, [leaf], BestAvailableEncryption(pw)))
EOF
		expect_fail_certs "cert add of a .pfx whose key matches no certificate in it" "its private key does not match its certificate" \
			ctl cert add bad "$T/mismatch.pfx" password-file "$T/pw"
	else
		report 0 "# SKIP a .pfx whose key matches no certificate: python3 cryptography not installed"
	fi
	# the prompt: on a terminal, echo off, nothing typed shows
	cat >"$T/prompt.py" <<'EOF'
import os, pty, sys
# prompt.py PASSWORD CMD...: runs CMD on a terminal, types PASSWORD once
# it asks; prints what the terminal showed; exits with CMD's status
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
seen = b""
while b"Password for" not in seen:
    chunk = os.read(fd, 1024)
    if not chunk:
        break
    seen += chunk
os.write(fd, sys.argv[1].encode() + b"\n")
try:
    while True:
        chunk = os.read(fd, 1024)
        if not chunk:
            break
        seen += chunk
except OSError:
    pass
sys.stdout.write(seen.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
EOF
	timeout 20 python3 "$T/prompt.py" "$(cat "$T/pw")" "$EXLBCTL" -s "$SOCK" cert add prompted "$T/new.pfx" >"$T/tty.txt"
	rc=$?
	check "cert add on a terminal asks for the password (rc $rc) and does not echo it" bash -c \
		'[ "$1" = 0 ] && grep -q "Password for $2" "$3" && ! grep -qF "$4" "$3" && [ -n "$5" ] && [ "$5" = "$6" ]' \
		_ "$rc" "$T/new.pfx" "$T/tty.txt" "$(cat "$T/pw")" "$(fp "$state/certs/prompted.crt" 2>/dev/null)" "$(fp "$T/pfx.crt")"
	ctl cert del prompted >/dev/null
	# the prompt is on the terminal (/dev/tty) even when standard input is
	# something else, here /dev/null
	timeout 20 python3 "$T/prompt.py" "$(cat "$T/pw")" bash -c 'exec "$@" </dev/null' _ \
		"$EXLBCTL" -s "$SOCK" cert add prompted "$T/new.pfx" >"$T/tty.txt"
	rc=$?
	check "cert add, stdin not the terminal: asks on the terminal (rc $rc), no echo" bash -c \
		'[ "$1" = 0 ] && grep -q "Password for $2" "$3" && ! grep -qF "$4" "$3" && [ -n "$5" ] && [ "$5" = "$6" ]' \
		_ "$rc" "$T/new.pfx" "$T/tty.txt" "$(cat "$T/pw")" "$(fp "$state/certs/prompted.crt" 2>/dev/null)" "$(fp "$T/pfx.crt")"
	ctl cert del prompted >/dev/null 2>&1
	ctl cert del pfx-new >/dev/null
	ctl vs add 198.18.0.10 8443 tcp nickname=Self VStype=http SSLAcceleration=1 >/dev/null
	check "vs show: a VS without CertFile says self-signed certificate" bash -c "'$EXLBCTL' -s '$SOCK' vs show Self | grep -q 'certificate  *self-signed certificate'"
	check "status: and Certificate Installed says self-signed" bash -c "'$EXLBCTL' -s '$SOCK' status | grep -Eq '198.18.0.10:8443 +tcp +Self +L7 +self-signed'"
	ctl vs del Self >/dev/null
	expect_fail "CipherSet naming no known cipher" "CipherSet: must be" ctl vs mod OWA CipherSet=NOSUCHCIPHER
	check "CipherSet with a custom OpenSSL list" cfg vs mod OWA CipherSet=ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256
	check "CipherSet back to BestPractices" cfg vs mod OWA CipherSet=BestPractices
	expect_fail "ReencryptVerify without ReverseSNIHostname" "ReencryptVerify: needs" ctl vs mod OWA SSLReencrypt=1 ReencryptVerify=1
	# TLSType with CipherSet (docs/tls.md "Versions and sets together")
	expect_fail "TLSType with a hole (vs mod)" "TLSType: 8 disables TLS 1.2 but leaves TLS 1.0 and TLS 1.3 on" ctl vs mod OWA TLSType=8
	expect_fail "TLSType with a hole (vs add)" "TLSType: 4 disables TLS 1.1" ctl vs add 198.18.0.10 8444 tcp VStype=http SSLAcceleration=1 TLSType=4
	expect_fail "TLSType=24 with BestPractices" "TLSType 24 with CipherSet BestPractices: no version can handshake" ctl vs mod OWA TLSType=24
	check "TLSType=24 with Backward_compatibility" cfg vs mod OWA TLSType=24 CipherSet=Backward_compatibility
	expect_fail "CipherSet=BestPractices under TLSType=24" "no version can handshake" ctl vs mod OWA CipherSet=BestPractices
	check "TLSType and CipherSet back together" cfg vs mod OWA TLSType=1 CipherSet=BestPractices
	ctl save | python3 -c 'import json,sys; j=json.load(sys.stdin); j["vs"][0]["TLSType"]=5; print(json.dumps(j))' >"$T/hole.json"
	expect_fail "restore with a TLSType hole" "TLSType: 5 disables TLS 1.1" ctl restore <"$T/hole.json"
	# An accepted odd combination served for real: a VS on loopback
	# (nothing else is reached), clients pinned to one version each.
	tport=$((20000 + $$ % 20000))
	ctl vs add 127.0.0.1 "$tport" tcp nickname=Odd VStype=http SSLAcceleration=1 TLSType=3 CipherSet=Backward_compatibility >/dev/null
	# the version negotiated, empty if the handshake failed; the client
	# takes every suite at level 0, so only the server can refuse
	hs() {
		timeout 5 openssl s_client -brief -connect "127.0.0.1:$tport" "$1" \
			-cipher 'DEFAULT@SECLEVEL=0' </dev/null 2>&1 | sed -n 's/^Protocol version: //p'
	}
	v12=
	for _ in $(seq 50); do v12=$(hs -tls1_2); [ -n "$v12" ] && break; sleep 0.1; done
	v11=$(hs -tls1_1); v10=$(hs -tls1)
	check "TLSType=3 Backward_compatibility: TLS 1.2 ('$v12') and 1.1 ('$v11') served, TLS 1.0 refused ('$v10')" \
		test "$v12" = TLSv1.2 -a "$v11" = TLSv1.1 -a -z "$v10"
	ctl vs del Odd >/dev/null
else
	diag "openssl not found: certificate checks skipped"
fi

# ---- header rules on a VS ----
check "rule add type=addheader" cfg rule add XFO type=addheader header=X-Frame-Options replacement=SAMEORIGIN
expect_fail "a header rule attached without request/response" "attach it to a VS with 'request' or 'response'" ctl rule attach OWA XFO
check "rule attach VS NAME response" cfg rule attach OWA XFO response
ctl vs show OWA -j | json 'j["response_rules"]==["XFO"] and j["request_rules"]==[]'
check "vs show -j lists the response rules" [ $? -eq 0 ]
expect_fail "a header rule in use" "detach it first" ctl rule del XFO

# ---- save, delete, restore ----
ctl save >"$T/saved.json"
check "save prints the documented document" json 'j["format"]=="exlb-config" and j["version"]==1 and len(j["vs"])==2' <"$T/saved.json"
check "vs del" cfg vs del OWA
ctl vs show -j | json 'len(j)==1'
check "vs del removed the VS with its SubVSs" [ $? -eq 0 ]
check "restore < file" cfg restore <"$T/saved.json"
ctl save >"$T/restored.json"
check "save > f; vs del; restore < f gives back the same configuration" cmp -s "$T/saved.json" "$T/restored.json"
echo '{"format":"exlb-config","version":1,"vs":[{"vip":"1.2.3.4","port":80,"Schedule":"fast"}]}' >"$T/bad.json"
expect_fail "restore of a bad document" "vs\[0\]: Schedule: must be one of" ctl restore <"$T/bad.json"

# ---- checking a saved configuration: restore --dry-run, exlbd --check
# (one validation path: exlb_config_from_json(), as restore)
ctl save >"$T/dry-before.json"
cp "$state/config.json" "$T/dry-state-before.json"
out=$(ctl restore --dry-run "$T/saved.json" 2>"$T/err")
rc=$?
check "restore --dry-run FILE of a good document: exit 0, prints OK ($out)" \
	bash -c '[ "$1" = 0 ] && [[ $2 == "OK: "*" services, "*"; nothing applied" ]]' _ "$rc" "$out"
out=$(ctl restore --dry-run <"$T/saved.json" 2>"$T/err")
check "restore --dry-run < FILE: the same ($out)" bash -c '[[ $1 == "OK: "* ]]' _ "$out"
ctl save | python3 -c 'import json,sys; j=json.load(sys.stdin); j["vs"][0]["NoSuchParam"]=1; print(json.dumps(j))' >"$T/unknown.json"
ctl save | python3 -c 'import json,sys; j=json.load(sys.stdin); j["vs"][0]["vip"]="198.18.0.300"; print(json.dumps(j))' >"$T/badaddr.json"
# (esp.json, EspEnabled=1, and bad.json, Schedule=fast, from above)
for f in unknown:NoSuchParam badaddr:"vip: must be an IPv4" esp:EspEnabled bad:Schedule; do
	out=$(ctl restore --dry-run "$T/${f%%:*}.json" 2>&1)
	rc=$?
	check "restore --dry-run of ${f%%:*}.json: exit 1, the error names ${f#*:} ($out)" \
		bash -c '[ "$1" = 1 ] && grep -q -- "$2" <<<"$3"' _ "$rc" "${f#*:}" "$out"
	out=$("$EXLBD" --check "$T/${f%%:*}.json" 2>&1)
	rc=$?
	check "exlbd --check ${f%%:*}.json: exit 1, the same error ($out)" \
		bash -c '[ "$1" = 1 ] && grep -q -- "$2" <<<"$3"' _ "$rc" "${f#*:}" "$out"
done
out=$("$EXLBD" --check "$T/saved.json" 2>&1)
rc=$?
check "exlbd --check of a good document: exit 0, OK ($out)" \
	bash -c '[ "$1" = 0 ] && [[ $2 == *": OK: "*" services, "* ]]' _ "$rc" "$out"
ctl save >"$T/dry-after.json"
check "nothing applied: save and the state file are as before the checks" bash -c \
	"cmp -s '$T/dry-before.json' '$T/dry-after.json' && cmp -s '$T/dry-state-before.json' '$state/config.json'"

# ---- several clients, partial lines ----
python3 - "$SOCK" <<'EOF' >"$T/clients.txt" 2>&1
import json, socket, sys, time
path = sys.argv[1]
a = socket.socket(socket.AF_UNIX); a.connect(path)
b = socket.socket(socket.AF_UNIX); b.connect(path)
req = json.dumps({"cmd": "get", "args": {"param": "droponfail"}}).encode() + b"\n"
a.sendall(req[:7]); time.sleep(0.1)          # a stalls mid-line
b.sendall(req + req)                          # b is served meanwhile, twice
fb = b.makefile("rb")
r1, r2 = json.loads(fb.readline()), json.loads(fb.readline())
a.sendall(req[7:])
ra = json.loads(a.makefile("rb").readline())
ok = all(r == {"ok": True, "result": {"droponfail": 1}} for r in (r1, r2, ra))
print("good" if ok else "bad: %r %r %r" % (r1, r2, ra))
EOF
check "two clients, one sending half a line, are both served in order" grep -q good "$T/clients.txt"

# ---- restart ----
exlbd_stop_checked
exlbd_start "exlbd starts again on the same state directory" --access-log "$T/access.log"
ctl save >"$T/after-restart.json"
check "a restart of exlbd restores the same configuration" cmp -s "$T/saved.json" "$T/after-restart.json"
check "the state file is config.json in the state directory" json 'j["format"]=="exlb-config"' <"$state/config.json"
check "one log line per change" grep -q "vs 1 (OWA) changed: Schedule=rr" "$T/exlbd.log"

# A state file with a combination that cannot handshake: exlbd does not
# start, and says why (docs/config-format.md: nothing is loaded).
mkdir -p "$T/bad-state"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); j["vs"][0]["TLSType"]=8; print(json.dumps(j))' \
	"$state/config.json" >"$T/bad-state/config.json"
timeout 20 "$EXLBD" --state-dir "$T/bad-state" --socket "$T/bad.sock" --no-kernel 2>"$T/bad.log"
rc=$?
check "config.json with TLSType=8: exlbd refuses to start (rc $rc): $(grep -m1 TLSType "$T/bad.log")" \
	bash -c "[ $rc != 0 ] && [ $rc != 124 ] && grep -q 'TLSType: 8 disables TLS 1.2' '$T/bad.log'"

# A state file an older exlb wrote with EspEnabled=1 InputAuthMode=5
# (docs/esp.md): exlbd starts, that VS serves nothing (an error in the
# log), the other VS serves; a change to the held SubVS must drop the
# refused setting (EspEnabled=0), which releases it. Both VSs listen on loopback only.
p1=$((21000 + $$ % 19000)) p2=$((21000 + ($$ + 1) % 19000))
mkdir -p "$T/esp-state"
python3 - "$p1" "$p2" >"$T/esp-state/config.json" <<'EOF'
import json, sys
p1, p2 = int(sys.argv[1]), int(sys.argv[2])
print(json.dumps({"format": "exlb-config", "version": 1, "vs": [
    {"id": 1, "vip": "127.0.0.1", "port": p1, "prot": "tcp", "NickName": "OldESP",
     "VStype": "http", "subvs": [{"id": 2, "NickName": "OWA", "EspEnabled": 1,
                                  "ESPLogs": 7, "InputAuthMode": 5, "OutputAuthMode": 2}]},
    {"id": 3, "vip": "127.0.0.1", "port": p2, "prot": "tcp", "NickName": "Plain",
     "VStype": "http"}]}))
EOF
"$EXLBD" --state-dir "$T/esp-state" --socket "$T/esp.sock" --no-kernel 2>"$T/esp.log" &
esp_pid=$!
ectl() { "$EXLBCTL" -s "$T/esp.sock" "$@"; }
# connects PORT: a TCP connection to 127.0.0.1:PORT is accepted
connects() { python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2).close()' "$1" 2>/dev/null; }
wait_for 5 ectl get droponfail >/dev/null 2>&1
ectl status -j >"$T/esp-status.json" 2>"$T/err"
check "state file with EspEnabled=1: exlbd starts, that VS is Refused, the other is not" json \
	'[(v["name"], v["status"]) for v in j["vs"]]==[("OldESP","Refused"),("Plain","Down")]' <"$T/esp-status.json"
check "the log names the held SubVS and what to do: $(grep -m1 'from the state file: EspEnabled=1' "$T/esp.log")" \
	grep -q "error: SubVS 2 (OWA): from the state file: $ESP_ERR.*VS 127.0.0.1:$p1 serves nothing" "$T/esp.log"
wait_for 5 connects "$p2"
rc=$?
# after positive evidence that the proxy serves this configuration
held_closed() { [ "$rc" = 0 ] && ! connects "$p1"; }
check "the other VS accepts connections (:$p2, rc $rc), the held one does not: nothing listens on :$p1" held_closed
ectl subvs show OldESP/OWA -j 2>"$T/err" | json 'j["EspEnabled"]==1 and j["ESPLogs"]==7 and j["InputAuthMode"]==5'
check "nothing of the file is lost: subvs show still has its ESP values" [ $? -eq 0 ]
ectl subvs mod OldESP/OWA Idletime=60 >/dev/null 2>"$T/err"
check "a change to the held SubVS that keeps its refused setting is refused: $(cat "$T/err")" grep -q "SubVS OWA: $ESP_ERR" "$T/err"
check "subvs mod EspEnabled=0 releases it" ectl subvs mod OldESP/OWA EspEnabled=0
check "then the VS is served: :$p1 accepts connections" wait_for 5 connects "$p1"
kill "$esp_pid" && wait "$esp_pid"
esp_pid=

# ---- help ----
check "--help on a verb lists Kemp parameters" bash -c "'$EXLBCTL' vs add --help | grep -q 'PersistTimeout'"
"$EXLBCTL" -s "$T/none.sock" status >/dev/null 2>"$T/err"
rc=$? lines=$(wc -l <"$T/err")
check "no daemon: one-line error ($lines), non-zero exit ($rc)" bash -c '[ "$1" -ne 0 ] && [ "$2" -eq 1 ]' _ "$rc" "$lines"
check "no daemon: the error asks 'is exlbd running? systemctl status exlbd': $(cat "$T/err")" \
	grep -q "is exlbd running? systemctl status exlbd" "$T/err"
# a socket exlbctl may not open: as root, run it as nobody (the test's
# directory is 0700); otherwise a directory without permissions
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	setpriv --reuid=65534 --regid=65534 --clear-groups "$EXLBCTL" -s "$SOCK" status >/dev/null 2>"$T/err"
else
	mkdir -m 000 "$T/closed"
	"$EXLBCTL" -s "$T/closed/exlbd.sock" status >/dev/null 2>"$T/err"
fi
check "permission denied: the error says 'add yourself to group exlb': $(cat "$T/err")" \
	grep -q "Permission denied: add yourself to group exlb" "$T/err"

# ---- --version: NAME and the version both Makefiles use (tools/version)
want=$("$here/../../tools/version")
EXLBADM=${EXLBADM:-$here/../build/exlbadm}
for b in "$EXLBD" "$EXLBCTL" "$EXLBADM"; do
	name=$(basename "$b")
	out=$("$b" --version 2>&1)
	rc=$?
	check "$name --version prints '$name $want' (got '$out', rc $rc)" [ "$out" = "$name $want" -a "$rc" = 0 ]
done
out=$(ctl version 2>&1 | paste -sd,)
check "exlbctl version: exlbctl's and the running exlbd's ('$out')" [ "$out" = "exlbctl $want,exlbd $want" ]

# ---- log priorities (docs/operations.md "Logs"): with stderr the journal's
# stream, sd-daemon "<N>" prefixes; an RS going down is <4> and names it.
# The journal's stream is stood in for by a file: JOURNAL_STREAM holds
# its device:inode as systemd would. The VS and RS are on loopback: the
# health check reaches nothing else (a closed port: connection refused).
jport=$((22000 + $$ % 18000)) jrs=$((22000 + ($$ + 7) % 18000))
: >"$T/journal.log"
JOURNAL_STREAM=$(stat -c '%d:%i' "$T/journal.log") env -u EXLBD_NO_HEALTH_CHECKS \
	"$EXLBD" --state-dir "$T/journal-state" --socket "$T/journal.sock" --no-kernel \
	>/dev/null 2>>"$T/journal.log" &
journal_pid=$!
jctl() { "$EXLBCTL" -s "$T/journal.sock" "$@"; }
for _ in $(seq 50); do jctl get droponfail >/dev/null 2>&1 && break; sleep 0.1; done
jctl vs add 127.0.0.1 "$jport" tcp nickname=JournalVS VStype=http CheckType=tcp >/dev/null
jctl rs add JournalVS 127.0.0.1 port="$jrs" >/dev/null
jctl vs mod JournalVS Schedule=fast >/dev/null 2>&1
down_re="^<4>exlbd: rs 127.0.0.1:$jrs in VS 127.0.0.1:$jport (JournalVS) down: "
for _ in $(seq 300); do grep -q "$down_re" "$T/journal.log" && break; sleep 0.1; done
check "journal: the RS going down is a <4> (warning) line naming RS, VIP:port and NickName: $(grep -m1 'down: ' "$T/journal.log")" \
	grep -q "$down_re" "$T/journal.log"
check "journal: start is <5> (notice), a change <6> (info), a refused change <3> (error)" bash -c \
	"grep -q '^<5>exlbd: started: ' '$T/journal.log' && grep -q '^<6>exlbd: vs 1 added' '$T/journal.log' &&
	 grep -q '^<3>exlbd: refused vs.mod: .*Schedule' '$T/journal.log'"
kill "$journal_pid" && wait "$journal_pid"
check "journal: every line has a priority prefix" bash -c "! grep -v '^<[0-7]>exlbd: ' '$T/journal.log'"
# JOURNAL_STREAM naming another file (inherited, stderr redirected): plain
JOURNAL_STREAM=$(stat -c '%d:%i' "$T/journal.log") env -u EXLBD_NO_HEALTH_CHECKS \
	"$EXLBD" --state-dir "$T/journal-state" --socket "$T/journal.sock" --no-kernel \
	>/dev/null 2>"$T/plain.log" &
journal_pid=$!
for _ in $(seq 50); do grep -q 'started: ' "$T/plain.log" && break; sleep 0.1; done
kill "$journal_pid" && wait "$journal_pid"
journal_pid=
check "stderr not the journal's stream: plain lines ('$(head -n 1 "$T/plain.log")'), as the main daemon's log" bash -c \
	"grep -q '^exlbd: started: ' '$T/plain.log' && ! grep -q '^<' '$T/plain.log' && ! grep -q '^<' '$T/exlbd.log'"

exlbd_stop_checked
tap_end

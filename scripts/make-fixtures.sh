#!/usr/bin/env bash
# Regenerates the static PEM fixtures in test/fixtures/ with the system `openssl` CLI (3.0.x).
#
#   bash scripts/make-fixtures.sh            # writes test/fixtures/*.pem, verifies them, prints a summary
#   FIXTURES_DIR=/tmp/x bash scripts/make-fixtures.sh
#
# Every certificate is generated from an explicit, self-contained config (not the system openssl.cnf), so the
# extensions are the same on every machine. Keys are new on every run: the fixtures are committed once and
# only regenerated when something about them has to change. The script fails (exit 1) if any check fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${FIXTURES_DIR:-$ROOT/test/fixtures}"
DAYS=3650
OPENSSL="${OPENSSL:-openssl}"

command -v "$OPENSSL" >/dev/null || { echo "make-fixtures: '$OPENSSL' not found" >&2; exit 1; }
echo "make-fixtures: $("$OPENSSL" version) -> $OUT"

mkdir -p "$OUT"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# Minimal config: no prompts, the DN comes from -subj. Extension sections are selected with -extensions.
cat >"$TMP/openssl.cnf" <<'EOF'
[ req ]
distinguished_name = req_dn
prompt             = no
string_mask        = utf8only
[ req_dn ]
CN = placeholder

[ self_leaf ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth, clientAuth
subjectKeyIdentifier   = hash
subjectAltName         = DNS:${ENV::FIX_CN}

[ self_leaf_rsa ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = serverAuth, clientAuth
subjectKeyIdentifier   = hash
subjectAltName         = DNS:${ENV::FIX_CN}

[ root_ca ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash

[ inter_ca ]
basicConstraints       = critical, CA:TRUE, pathlen:0
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ server_leaf ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
subjectAltName         = DNS:localhost, IP:127.0.0.1

[ client_leaf ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
subjectAltName         = DNS:client.test

[ rsa_leaf ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = serverAuth, clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
subjectAltName         = @rsa_leaf_san
[ rsa_leaf_san ]
DNS.1 = localhost
IP.1  = 127.0.0.1
IP.2  = ::1
EOF
# Many SANs so that leaf + intermediate is well over 3 KB and must be fragmented at any usual MTU.
for i in $(seq 2 41); do
  printf 'DNS.%d = host-%02d.fragmentation.rsa4096.chain.test\n' "$i" "$i" >>"$TMP/openssl.cnf"
done

# `openssl ca` database, only used for the expired certificate (x509 -req in 3.0 cannot set explicit dates).
mkdir -p "$TMP/ca/newcerts"
: >"$TMP/ca/index.txt"
cat >>"$TMP/openssl.cnf" <<EOF

[ ca ]
default_ca = fixture_ca
[ fixture_ca ]
dir              = $TMP/ca
database         = \$dir/index.txt
new_certs_dir    = \$dir/newcerts
serial           = \$dir/serial
default_md       = sha256
policy           = policy_any
unique_subject   = no
copy_extensions  = none
email_in_dn      = no
[ policy_any ]
commonName       = supplied
EOF
"$OPENSSL" rand -hex 16 | sed 's/^./7/' >"$TMP/ca/serial"

export OPENSSL_CONF="$TMP/openssl.cnf"
export FIX_CN=unused
CNF=(-config "$TMP/openssl.cnf")

# Run an openssl command quietly; show its output only when it fails.
ossl() {
  if ! "$OPENSSL" "$@" >"$TMP/cmd.log" 2>&1; then
    echo "make-fixtures: openssl $* failed:" >&2; cat "$TMP/cmd.log" >&2; return 1
  fi
}

serial() { echo "0x$("$OPENSSL" rand -hex 16 | sed 's/^./7/')"; }   # positive 128-bit serial

keygen() { # keygen <type> <out>
  case "$1" in
    p256)    ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:named_curve -out "$2" ;;
    rsa2048) ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$2" ;;
    rsa4096) ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:4096 -out "$2" ;;
    ed25519) ossl genpkey -algorithm ED25519 -out "$2" ;;
    *) echo "unknown key type $1" >&2; return 1 ;;
  esac
  chmod 644 "$2"
}

selfsigned() { # selfsigned <keytype> <ext> <cn> <cert> <key>
  keygen "$1" "$5"
  local md=(-sha256); [ "$1" = ed25519 ] && md=()
  FIX_CN="$3" ossl req "${CNF[@]}" -new -x509 -key "$5" -subj "/CN=$3" -days "$DAYS" \
    "${md[@]}" -extensions "$2" -set_serial "$(serial)" -out "$4"
}

signed() { # signed <keytype> <ext> <subject> <cert> <key> <ca-cert> <ca-key>
  keygen "$1" "$5"
  ossl req "${CNF[@]}" -new -key "$5" -subj "$3" -out "$TMP/req.csr"
  ossl x509 -req -in "$TMP/req.csr" -CA "$6" -CAkey "$7" -set_serial "$(serial)" -days "$DAYS" \
    -sha256 -extfile "$TMP/openssl.cnf" -extensions "$2" -out "$4"
}

cd "$OUT"

echo "== self-signed pairs"
selfsigned p256    self_leaf     ec.test      ec-cert.pem       ec-key.pem
selfsigned rsa2048 self_leaf_rsa rsa2048.test rsa2048-cert.pem  rsa2048-key.pem
selfsigned ed25519 self_leaf     ed25519.test ed25519-cert.pem  ed25519-key.pem

echo "== P-256 CA chain"
selfsigned p256 root_ca "openssl-dtls test CA" ca-cert.pem ca-key.pem
signed p256 server_leaf "/CN=localhost"   server-cert.pem server-key.pem ca-cert.pem ca-key.pem
signed p256 client_leaf "/CN=client.test" client-cert.pem client-key.pem ca-cert.pem ca-key.pem

echo "== expired leaf (valid 2020-01-01 .. 2020-02-01, same CA)"
keygen p256 expired-key.pem
ossl req "${CNF[@]}" -new -key expired-key.pem -subj "/CN=expired.test" -out "$TMP/expired.csr"
ossl ca "${CNF[@]}" -batch -notext -cert ca-cert.pem -keyfile ca-key.pem \
  -startdate 20200101000000Z -enddate 20200201000000Z -extfile "$TMP/openssl.cnf" -extensions server_leaf \
  -in "$TMP/expired.csr" -out expired-cert.pem
dates="$("$OPENSSL" x509 -in expired-cert.pem -noout -dates | tr '\n' ' ')"
echo "  $dates"

echo "== RSA-4096 chain: root -> intermediate -> leaf (3 x RSA-4096 keygen, takes a few seconds)"
selfsigned rsa4096 root_ca "openssl-dtls RSA-4096 root" rsa4096-root-cert.pem "$TMP/rsa4096-root-key.pem"
signed rsa4096 inter_ca "/CN=openssl-dtls RSA-4096 intermediate" rsa4096-inter-cert.pem "$TMP/rsa4096-inter-key.pem" \
  rsa4096-root-cert.pem "$TMP/rsa4096-root-key.pem"
signed rsa4096 rsa_leaf "/CN=localhost" rsa4096-leaf-cert.pem rsa4096-leaf-key.pem \
  rsa4096-inter-cert.pem "$TMP/rsa4096-inter-key.pem"
cat rsa4096-leaf-cert.pem rsa4096-inter-cert.pem >rsa4096-chain.pem
# The root and intermediate keys are deliberately not kept: tests only need to trust the root and present the
# chain; nothing else may be signed with them.

echo "== verification"
FAIL=0
check_ok() { # check_ok <label> <verify args...>
  local label="$1"; shift
  local out
  if out="$("$OPENSSL" verify "$@" 2>&1)" && [[ "$out" == *": OK" ]]; then
    printf '  %-34s OK\n' "$label"
  else
    printf '  %-34s FAILED: %s\n' "$label" "$out"; FAIL=1
  fi
}
check_fails_with() { # check_fails_with <label> <expected text> <verify args...>
  local label="$1" want="$2"; shift 2
  local out
  if out="$("$OPENSSL" verify "$@" 2>&1)"; then
    printf '  %-34s UNEXPECTED OK\n' "$label"; FAIL=1
  elif [[ "$out" == *"$want"* ]]; then
    printf '  %-34s rejected as expected (%s)\n' "$label" "$want"
  else
    printf '  %-34s FAILED for the wrong reason: %s\n' "$label" "$out"; FAIL=1
  fi
}
check_key() { # check_key <cert> <key>: the key belongs to the certificate
  local a b
  a="$("$OPENSSL" x509 -in "$1" -noout -pubkey)"
  b="$("$OPENSSL" pkey -in "$2" -pubout)"
  if [ "$a" = "$b" ]; then printf '  %-34s key matches\n' "$1"; else printf '  %-34s KEY MISMATCH (%s)\n' "$1" "$2"; FAIL=1; fi
}

check_ok "ec-cert.pem (self-signed)"      -CAfile ec-cert.pem ec-cert.pem
check_ok "rsa2048-cert.pem (self-signed)" -CAfile rsa2048-cert.pem rsa2048-cert.pem
check_ok "ed25519-cert.pem (self-signed)" -CAfile ed25519-cert.pem ed25519-cert.pem
check_ok "ca-cert.pem"                    -CAfile ca-cert.pem ca-cert.pem
check_ok "server-cert.pem"                -CAfile ca-cert.pem -purpose sslserver server-cert.pem
check_ok "client-cert.pem"                -CAfile ca-cert.pem -purpose sslclient client-cert.pem
check_fails_with "expired-cert.pem" "certificate has expired" -CAfile ca-cert.pem expired-cert.pem
# Expiry must be its only problem (the CA itself was issued today, so -attime 2020 would fail on the CA).
check_ok "expired-cert.pem, time not checked" -CAfile ca-cert.pem -no_check_time expired-cert.pem
check_ok "rsa4096-inter-cert.pem"         -CAfile rsa4096-root-cert.pem rsa4096-inter-cert.pem
check_ok "rsa4096-leaf-cert.pem"          -CAfile rsa4096-root-cert.pem -untrusted rsa4096-inter-cert.pem \
                                          -purpose sslserver rsa4096-leaf-cert.pem
check_ok "rsa4096-chain.pem (as untrusted)" -CAfile rsa4096-root-cert.pem -untrusted rsa4096-chain.pem rsa4096-leaf-cert.pem
check_fails_with "rsa4096 leaf without intermediate" "unable to get local issuer certificate" \
  -CAfile rsa4096-root-cert.pem rsa4096-leaf-cert.pem
check_fails_with "server-cert.pem vs wrong CA" "unable to get local issuer certificate" \
  -CAfile rsa4096-root-cert.pem server-cert.pem
for pair in ec rsa2048 ed25519 ca server client expired; do check_key "$pair-cert.pem" "$pair-key.pem"; done
check_key rsa4096-leaf-cert.pem rsa4096-leaf-key.pem

chain_der=$(( $("$OPENSSL" x509 -in rsa4096-leaf-cert.pem -outform DER | wc -c) + $("$OPENSSL" x509 -in rsa4096-inter-cert.pem -outform DER | wc -c) ))
if [ "$chain_der" -le 3072 ]; then echo "  rsa4096 chain is only $chain_der bytes DER (want > 3072)"; FAIL=1; fi

echo "== summary"
for f in *.pem; do
  if "$OPENSSL" x509 -in "$f" -noout 2>/dev/null; then
    subj="$("$OPENSSL" x509 -in "$f" -noout -subject -nameopt oneline | sed 's/^subject=//')"
    end="$("$OPENSSL" x509 -in "$f" -noout -enddate | sed 's/^notAfter=//')"
    ncert="$(grep -c 'BEGIN CERTIFICATE' "$f")"
    der="$("$OPENSSL" x509 -in "$f" -outform DER | wc -c)"
    printf '  %-24s cert x%s  %-38s until %-24s leaf DER %5s B\n' "$f" "$ncert" "$subj" "$end" "$der"
  else
    printf '  %-24s key  %s\n' "$f" "$("$OPENSSL" pkey -in "$f" -noout -text 2>/dev/null | head -1)"
  fi
done
echo "  rsa4096 chain (leaf + intermediate): $chain_der bytes DER"

if [ "$FAIL" -ne 0 ]; then echo "make-fixtures: FAILED" >&2; exit 1; fi
echo "make-fixtures: all checks passed"

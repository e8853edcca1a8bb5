#!/usr/bin/env bash
# nginx demanding client certificates: `mtls-ca export nginx` writes a complete config, nginx runs
# it in the foreground on a free port, curl with and without a client certificate.
# Needs: mtls-ca, nginx (Debian: nginx-light), curl.
# Runs in a temporary directory; the binary comes from $MTLS_CA or PATH.
set -euo pipefail
# The binary ($MTLS_CA or PATH), a temporary working directory (cwd from here on), cleanup.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"

NGINX="${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}"

# 1. CA, server and client certificates, and a CRL (nginx checks revocation with it).
mtls-ca init --cn 'Example Root CA'
mtls-ca issue server --cn api.example.com --san 127.0.0.1 --out api
mtls-ca issue client --cn alice --out alice
mtls-ca issue client --cn mallory --out mallory
mtls-ca revoke --cert mallory.crt --reason key-compromise
mtls-ca crl

# 2. A free port (nothing answers on it).
port=$((20000 + RANDOM % 20000))
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done

# 3. The export: nginx.conf (a server {} block) and nginx-main.conf (a complete config around it),
#    with copies of every file they reference.
mtls-ca export nginx --server api --crl pki/crl.pem --listen "127.0.0.1:$port" --out gw
"$NGINX" -t -q -p "$PWD/gw" -c "$PWD/gw/nginx-main.conf" -e stderr
"$NGINX" -p "$PWD/gw" -c "$PWD/gw/nginx-main.conf" -e stderr > /dev/null 2> nginx.log &
pids+=($!)
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
url="https://127.0.0.1:$port/"

# 4. alice: 200 and a body naming her. No certificate or a revoked one: nginx answers 400.
curl -sS --fail --cacert pki/ca.crt --cert alice.fullchain.crt --key alice.key "$url"
status="$(curl -s -o /dev/null -w '%{http_code}' --cacert pki/ca.crt "$url")"
[ "$status" = 400 ] || { echo "error: no certificate got HTTP $status" >&2; exit 1; }
status="$(curl -s -o /dev/null -w '%{http_code}' --cacert pki/ca.crt \
  --cert mallory.fullchain.crt --key mallory.key "$url")"
[ "$status" = 400 ] || { echo "error: a revoked certificate got HTTP $status" >&2; exit 1; }

# 5. What nginx logged, explained.
mtls-ca explain gw/error.log || true
echo "ok: nginx accepts alice and refuses a missing or revoked certificate"

#!/usr/bin/env bash
# The basic workflow: a CA, a server certificate, a client certificate, and mutual TLS with curl
# against `mtls-ca serve` (a test HTTPS server that demands a client certificate).
# Needs: mtls-ca, curl.
# Runs in a temporary directory; the binary comes from $MTLS_CA or PATH.
set -euo pipefail
# The binary: $MTLS_CA if set (a path or a name on PATH), else mtls-ca from PATH.
MTLS_CA="${MTLS_CA:-mtls-ca}"
if [[ "$MTLS_CA" == */* ]]; then MTLS_CA="$(cd "$(dirname "$MTLS_CA")" && pwd)/$(basename "$MTLS_CA")"; fi
command -v "$MTLS_CA" >/dev/null || { echo "error: $MTLS_CA not found: set MTLS_CA or put mtls-ca on PATH" >&2; exit 2; }
mtls-ca() { "$MTLS_CA" "$@"; }
unset MTLS_CA_DIR
# Everything happens in a temporary directory, removed at exit (or in $MTLS_CA_EXAMPLE_DIR, kept:
# the tests check the certificates made there).
work="${MTLS_CA_EXAMPLE_DIR:-$(mktemp -d)}"
pids=()   # servers started in the background, stopped at exit
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -n "${MTLS_CA_EXAMPLE_DIR:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

# Starts `mtls-ca serve ARGS` on a free port in the background and sets $port once it listens.
start_serve() {
  "$MTLS_CA" serve --listen 127.0.0.1:0 "$@" > /dev/null 2> serve.log &
  pids+=($!)
  for _ in $(seq 100); do
    port="$(sed -n 's#.*listening on https://127\.0\.0\.1:\([0-9]*\)/.*#\1#p' serve.log)"
    [ -n "$port" ] && return 0
    sleep 0.1
  done
  echo "error: mtls-ca serve did not start:" >&2
  cat serve.log >&2
  return 1
}

# 1. A root CA in ./pki (ca.crt, ca.key 0600, store.db).
mtls-ca init --cn 'Example Root CA'

# 2. A server certificate for 127.0.0.1 and a client certificate for alice.
mtls-ca issue server --cn api.example.com --san 127.0.0.1 --out server
mtls-ca issue client --cn alice --out alice

# 3. A server that demands a client certificate from this CA.
start_serve --server server
url="https://127.0.0.1:$port/"

# 4. With alice's certificate: accepted, and the server says who she is.
body="$(curl -sS --cacert pki/ca.crt --cert alice.fullchain.crt --key alice.key "$url")"
echo "$body"
grep -q 'CN=alice' <<<"$body"

# 5. Without a client certificate: refused.
if curl -sS --cacert pki/ca.crt "$url" 2>/dev/null; then
  echo "error: the server let a client without a certificate in" >&2
  exit 1
fi
echo "ok: mutual TLS works, and a client without a certificate is refused"

#!/usr/bin/env bash
# Rolling a root CA over without an outage: `ca rotate` makes a new root, keeps the old one for
# verification, and ca-bundle.crt trusts both during the overlap; then old certificates are renewed.
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

# 1. The old root, a server and a client (alice) issued by it.
mtls-ca init --cn 'Example Root CA'
mtls-ca issue server --cn api.example.com --san 127.0.0.1 --out server
mtls-ca issue client --cn alice --out alice

# 2. Rotate: the new root replaces pki/ca.crt; the old one is kept as pki/ca-<serial prefix>.crt
#    and pki/ca-bundle.crt holds both.
mtls-ca ca rotate
mtls-ca inspect pki/ca-bundle.crt

# 3. A client issued after the rotation (bob, by the new root).
mtls-ca issue client --cn bob --out bob

# 4. The server trusts the bundle during the overlap: old and new clients both get in.
start_serve --server server --ca pki/ca-bundle.crt
url="https://127.0.0.1:$port/"
for who in alice bob; do
  curl -sS --cacert pki/ca-bundle.crt --cert "$who.fullchain.crt" --key "$who.key" "$url" \
    | grep -q "CN=$who"
done

# 5. Renew what the old root issued (`list` shows which CA issued each certificate), then the old
#    root can be dropped from the bundle when it expires.
mtls-ca renew --cert alice.crt
mtls-ca renew --cert server.crt
mtls-ca verify alice.crt --ca pki/ca.crt --purpose client
mtls-ca verify server.crt --ca pki/ca.crt --host api.example.com
mtls-ca list
echo "ok: both generations work during the overlap, and the renewed certificates chain to the new root"

#!/usr/bin/env bash
# The basic workflow: a CA, a server certificate, a client certificate, and mutual TLS with curl
# against `mtls-ca serve` (a test HTTPS server that demands a client certificate).
# Needs: mtls-ca, curl.
# Runs in a temporary directory; the binary comes from $MTLS_CA or PATH.
set -euo pipefail
# The binary ($MTLS_CA or PATH), a temporary working directory (cwd from here on), cleanup.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"

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

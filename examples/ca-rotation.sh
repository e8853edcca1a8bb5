#!/usr/bin/env bash
# Rolling a root CA over without an outage: `ca rotate` makes a new root, keeps the old one for
# verification, and ca-bundle.crt trusts both during the overlap; then old certificates are renewed.
# Needs: mtls-ca, curl.
# Runs in a temporary directory; the binary comes from $MTLS_CA or PATH.
set -euo pipefail
# The binary ($MTLS_CA or PATH), a temporary working directory (cwd from here on), cleanup.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"

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

#!/usr/bin/env bash
# A root CA that stays offline and an intermediate (issuing) CA that signs the leaves: the chain
# files each side needs, checked with `mtls-ca verify` the way a rustls peer checks them.
# Needs: mtls-ca.
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

# 1. The root (keep its key offline in real life) and an intermediate below it.
mtls-ca init --cn 'Example Root CA'
mtls-ca --dir pki/issuing init --parent pki --cn 'Example Issuing CA'
#    pki/issuing/ca-chain.crt = the intermediate, then the root.

# 2. Leaves from the intermediate. STEM.fullchain.crt = leaf + intermediate (never the root):
#    that is what a server presents and what a client sends.
mtls-ca --dir pki/issuing issue server --cn api.example.com --out api
mtls-ca --dir pki/issuing issue client --cn billing-service --out billing

# 3. Peers trust only the root; the intermediate travels in the fullchain.
mtls-ca verify api.fullchain.crt --ca pki/ca.crt --host api.example.com
mtls-ca verify billing.fullchain.crt --ca pki/ca.crt --purpose client

# 4. The leaf alone is not enough: the peer cannot build the path (exit 1, with the fix).
if mtls-ca verify api.crt --ca pki/ca.crt --host api.example.com; then
  echo "error: a leaf without its intermediate verified" >&2
  exit 1
fi

# 5. The root's store records the intermediate; the intermediate's store records the leaves.
mtls-ca list
mtls-ca --dir pki/issuing list
echo "ok: root -> intermediate -> leaf chains verify"

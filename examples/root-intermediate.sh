#!/usr/bin/env bash
# A root CA that stays offline and an intermediate (issuing) CA that signs the leaves: the chain
# files each side needs, checked with `mtls-ca verify` the way a rustls peer checks them.
# Needs: mtls-ca.
# Runs in a temporary directory; the binary comes from $MTLS_CA or PATH.
set -euo pipefail
# The binary ($MTLS_CA or PATH), a temporary working directory (cwd from here on), cleanup.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"

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

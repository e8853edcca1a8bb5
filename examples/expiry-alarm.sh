#!/usr/bin/env bash
# A CI or cron expiry alarm: `list --expiring-within` exits 1 when certificates expire inside the
# window, and `renew --expiring-within` renews exactly those.
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

mtls-ca init --cn 'Example Root CA'
mtls-ca issue server --cn api.example.com --out api --days 10
mtls-ca issue client --cn alice --out alice --days 365

# 1. The alarm: exit 1 and the list of what expires within 30 days (api only).
if mtls-ca list --expiring-within 30d > expiring.txt; then
  echo "error: the alarm did not fire" >&2
  exit 1
fi
cat expiring.txt
grep -q 'api.example.com' expiring.txt
if grep -q 'alice' expiring.txt; then echo "error: alice is not due" >&2; exit 1; fi

# 2. In CI, fail the job, or renew in cron (new files replace the old ones, kept as *.bak):
mtls-ca renew --expiring-within 30d --days 90

# 3. Nothing is due any more: exit 0.
mtls-ca list --expiring-within 30d
echo "ok: the alarm fired for api.example.com only, and is quiet after the renewal"

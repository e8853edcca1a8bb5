#!/usr/bin/env bash
# A CI or cron expiry alarm: `list --expiring-within` exits 1 when certificates expire inside the
# window, and `renew --expiring-within` renews exactly those.
# Needs: mtls-ca.
# Runs in a temporary directory; the binary comes from $MTLS_CA or PATH.
set -euo pipefail
# The binary ($MTLS_CA or PATH), a temporary working directory (cwd from here on), cleanup.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"

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

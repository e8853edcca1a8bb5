#!/usr/bin/env bash
# Bulk issuance: one certificate per line of a CSV (or JSON-lines) file, in one process, with
# every file written all or nothing per chunk.
# Needs: mtls-ca.
# Runs in a temporary directory; the binary comes from $MTLS_CA or PATH.
set -euo pipefail
# The binary ($MTLS_CA or PATH), a temporary working directory (cwd from here on), cleanup.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"

mtls-ca init --cn 'Example Root CA'

# 1. 200 clients: cn,sans,out (header optional, `sans` separated by `;`).
{
  echo "cn,sans,out"
  for i in $(seq 1 200); do
    echo "svc$i,svc$i.internal.example.com,svc$i"
  done
} > clients.csv

# 2. Issue them all into ./clients (keys 0600).
mtls-ca issue client --batch clients.csv --out-dir clients

# 3. Every line got a certificate, a key and a fullchain, and the store has a record for each.
[ "$(ls clients/*.crt | grep -vc fullchain)" = 200 ]
[ "$(ls clients/*.key | wc -l)" = 200 ]
[ "$(mtls-ca --json list --status valid | grep -c '"profile": "client"')" = 200 ]

# 4. A bad line stops its chunk before anything of it is written, and names the line.
printf 'cn,sans,out\nok1,,ok1\nbad,not a name!,bad\n' > bad.csv
if mtls-ca issue client --batch bad.csv --out-dir bad 2> bad.err; then
  echo "error: a bad batch line was accepted" >&2
  exit 1
fi
cat bad.err
[ ! -e bad/ok1.crt ]
echo "ok: 200 clients issued in one run; a bad line writes nothing"

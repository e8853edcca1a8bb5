#!/usr/bin/env bash
# Bulk issuance: one certificate per line of a CSV (or JSON-lines) file, in one process, with
# every file written all or nothing per chunk.
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

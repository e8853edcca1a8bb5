# Sourced by every examples/*.sh: the binary, a temporary working directory, and cleanup.
# Not an example itself (the tests run examples/*.sh only).
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


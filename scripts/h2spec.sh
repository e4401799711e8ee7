#!/usr/bin/env bash
# Runs every default h2spec case (h2spec v2.2.1, 145 cases) against the probe server on Tern's
# own HTTP/2 engine (tests/src/bin/h2spec-server.rs) on 127.0.0.1, and fails on any failure.
# h2spec comes from interop/peers/install.sh (or $H2SPEC). Prints h2spec's summary line
# ("145 tests, N passed, N skipped, N failed"). `-o` is h2spec's timeout; `-t` would be TLS.
set -euo pipefail
cd "$(dirname "$0")/.."
h2spec="${H2SPEC:-$PWD/interop/.peers/bin/h2spec}"
if [ ! -x "$h2spec" ]; then
    echo "h2spec not found at $h2spec: run interop/peers/install.sh (or set H2SPEC)" >&2
    exit 2
fi
cargo build --quiet --locked -p tern-tests --bin h2spec-server
out="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null || true; rm -rf "$out"' EXIT
target/debug/h2spec-server 127.0.0.1:0 >"$out/server" 2>&1 &
server=$!
for _ in $(seq 100); do
    grep -q '^listening on ' "$out/server" && break
    sleep 0.1
done
addr="$(sed -n 's/^listening on //p' "$out/server")"
if [ -z "$addr" ]; then
    echo "the h2spec server did not start:" >&2
    cat "$out/server" >&2
    exit 1
fi
status=0
"$h2spec" -h "${addr%:*}" -p "${addr##*:}" -o 2 >"$out/report" 2>&1 || status=$?
if grep -q '^Failures:' "$out/report"; then
    sed -n '/^Failures:/,$p' "$out/report"
else
    tail -n 1 "$out/report"
fi
summary="$(grep -E '^[0-9]+ tests, ' "$out/report" || true)"
if [ -z "$summary" ]; then
    echo "h2spec gave no summary (exit $status):" >&2
    tail -n 20 "$out/report" >&2
    exit 1
fi
case "$summary" in
    *", 0 failed") ;;
    *) exit 1 ;;
esac
[ "$status" -eq 0 ]

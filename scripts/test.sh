#!/usr/bin/env bash
# Runs every test of the project. On first use it creates .venv with the Python peers (grpcio)
# from PyPI and generates their stubs; everything else comes from crates.io through cargo.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

venv=.venv
if ! "$venv/bin/python" -c 'import grpc, grpc_tools, grpc_status, opentelemetry.proto' 2>/dev/null; then
    step "creating $venv with grpcio (scripts/requirements.txt)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/requirements.txt
fi
export TERN_PYTHON="$PWD/$venv/bin/python"

step "generating Python stubs for examples/hello"
"$TERN_PYTHON" -m grpc_tools.protoc -I examples/hello/proto \
    --python_out=examples/hello/python --grpc_python_out=examples/hello/python \
    examples/hello/proto/hello.proto

step "installing the peers: grpc-go, grpc-java, grpc-js, grpc_health_probe (interop/peers/install.sh)"
interop/peers/install.sh
export TERN_PEERS="$PWD/interop/.peers/bin"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

step "cargo test"
cargo test --workspace --locked

step "h2spec: every default case against the probe server on Tern's HTTP/2 engine (scripts/h2spec.sh)"
scripts/h2spec.sh

step "examples: each feature example runs its server and client and checks what it explains"
for example in deadlines compression errors health_reflection tls in_memory interceptors; do
    echo "-- $example"
    cargo run --quiet --locked -p tern-features --example "$example"
done

step "real-world protos: 26 googleapis packages from npm through tern gen and build.rs, built and run"
tests/realworld/run.sh

step "interop matrix: Tern against grpc-go, grpc-java, grpcio and grpc-js, both directions, in cleartext, TLS and mutual TLS"
"$TERN_PYTHON" interop/run.py --skip-install

step "benchmark harness: one scenario of each kind from freshly built programs (no figures kept)"
"$TERN_PYTHON" bench/run.py --check

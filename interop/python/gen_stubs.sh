#!/usr/bin/env bash
# Generates the grpcio stubs of the interop protos next to the Python drivers. The protos import
# each other as grpc/testing/*.proto, and generating them in that layout would make a
# grpc/testing package that the real grpc package hides; so they are compiled from a flat copy
# (same proto package, same wire names) into flat modules.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python="${1:?usage: gen_stubs.sh PYTHON}"
flat="$(mktemp -d)"
trap 'rm -rf "$flat"' EXIT
for f in empty messages test; do
    sed -e 's|import "grpc/testing/\([a-z]*\).proto";|import "\1.proto";|' \
        "$here/../proto/grpc/testing/$f.proto" > "$flat/$f.proto"
done
"$python" -m grpc_tools.protoc -I "$flat" --python_out="$here" --grpc_python_out="$here" \
    "$flat/empty.proto" "$flat/messages.proto" "$flat/test.proto"

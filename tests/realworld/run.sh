#!/usr/bin/env bash
# Real-world protos: fetches googleapis from npm (google-proto-files, pinned below; not checked
# in), compiles the packages listed in packages.txt with `tern gen` and with a build.rs
# (tests/realworld/crate), checks both wrote the same code, builds it and runs a program that
# serves and calls one of the generated services.
#
#   tests/realworld/run.sh            uses target/realworld as its work directory
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work="$root/target/realworld"
version=6.0.1

mkdir -p "$work"
if [ ! -d "$work/protos-$version" ]; then
    echo "fetching google-proto-files@$version from npm"
    rm -rf "$work/npm" && mkdir -p "$work/npm"
    (cd "$work/npm" && npm pack --silent "google-proto-files@$version" >/dev/null)
    mkdir -p "$work/unpack"
    tar -xzf "$work/npm/google-proto-files-$version.tgz" -C "$work/unpack"
    mv "$work/unpack/package" "$work/protos-$version"
    rm -rf "$work/unpack" "$work/npm"
fi
protos="$work/protos-$version"

# Every .proto of each listed package, relative to the import root.
list="$work/protos.txt"
: > "$list"
grep -v '^\s*#' "$here/packages.txt" | grep -v '^\s*$' | while read -r package; do
    if [ ! -d "$protos/$package" ]; then
        echo "packages.txt names $package, which google-proto-files@$version does not have" >&2
        exit 1
    fi
    (cd "$protos" && find "$package" -maxdepth 1 -name '*.proto' | sort) >> "$list"
done
count=$(wc -l < "$list")
echo "compiling $count .proto files of $(grep -cv '^\s*\(#\|$\)' "$here/packages.txt") googleapis packages"

# tern gen, as a person would run it.
cargo build --quiet -p tern-cli --bin tern
gen="$work/gen"
rm -rf "$gen" && mkdir -p "$gen"
args=()
while read -r proto; do args+=(--proto "$protos/$proto"); done < "$list"
"$root/target/debug/tern" gen -I "$protos" --out "$gen" "${args[@]}"

# The same protos through build.rs; it checks that it wrote what tern gen did. The crate is a
# workspace of its own, so it takes the main workspace's lock file for the same versions.
cp "$root/Cargo.lock" "$here/crate/Cargo.lock"
TERN_REALWORLD_ROOT="$protos" TERN_REALWORLD_LIST="$list" TERN_REALWORLD_GEN="$gen" \
    CARGO_TARGET_DIR="$work/target" \
    cargo run --quiet --manifest-path "$here/crate/Cargo.toml"

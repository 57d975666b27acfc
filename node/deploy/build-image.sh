#!/usr/bin/env bash
# Builds the `keel:latest` image from this machine's release binary: copies the binary and every
# library `ldd` says it loads (with the dynamic loader) into a staging root, then builds
# Dockerfile on it. Usage: node/deploy/build-image.sh [TAG]
set -euo pipefail
cd "$(dirname "$0")/../.."
tag="${1:-keel:latest}"
bash .ci/setup
cargo build --release -p keel-node
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/rootfs/usr/local/bin" "$stage/rootfs/home/keel" "$stage/rootfs/tmp"
cp target/release/keel "$stage/rootfs/usr/local/bin/keel"
# Every resolved library path, and the loader (the line without "=>").
ldd target/release/keel | awk '/=> \// { print $3 } /ld-linux/ && !/=>/ { print $1 }' | while read -r lib; do
  mkdir -p "$stage/rootfs$(dirname "$lib")"
  cp -L "$lib" "$stage/rootfs$lib"
done
cp node/deploy/Dockerfile "$stage/Dockerfile"
docker build -q -t "$tag" "$stage" >/dev/null
echo "built $tag ($(docker image inspect -f '{{.Size}}' "$tag") bytes)"

#!/usr/bin/env bash
# Container images from the OS packages, with no container registry:
#   taxi-base:bookworm   Debian bookworm (debootstrap --variant=minbase, ca-certificates),
#                        imported with `podman import`; made again only when its recipe
#                        changes (the label taxi.base.stamp), so reruns take seconds
#   taxi:latest          the release binary at /usr/local/bin/taxi, user 10001, read-only
#                        root file system friendly (deploy/Containerfile.taxi: the same
#                        runtime as deploy/Dockerfile's final stage)
#   taxi-redis:latest    Debian's redis-server with deploy/redis/redis.conf
#                        (deploy/Containerfile.redis)
# The last two are `podman build --pull=never` from the base: a Containerfile says what is
# in an image, layers are cached, and nothing is pulled.
# Usage: scripts/images.sh [--binary PATH]
#   --binary PATH   put this `taxi` release binary in the image (else
#                   `cargo build --release --locked -p taxi` builds one)
# Installs podman, runc, netavark, aardvark-dns and debootstrap if missing (as root or through
# sudo); podman's settings are target/deploy/containers.conf (scripts/podman-env.sh).
# TAXI_DEBIAN_MIRROR overrides the mirror (default http://deb.debian.org/debian).
set -euo pipefail
cd "$(dirname "$0")/.."

binary=""
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="${2:?--binary needs a path}"; shift 2 ;;
    *) echo "usage: $0 [--binary PATH]" >&2; exit 2 ;;
  esac
done

# shellcheck source=scripts/podman-env.sh
. scripts/podman-env.sh

suite=bookworm
mirror="${TAXI_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
include=ca-certificates
base="localhost/taxi-base:$suite"

started=$SECONDS
# The base: its recipe's hash is its stamp; the same recipe is not made twice.
stamp=$(printf '%s\n' "$suite" minbase "$include" "$mirror" "v1" | sha256sum | cut -c1-16)
have=$(podman image inspect --format '{{index .Labels "taxi.base.stamp"}}' "$base" 2>/dev/null || true)
if [ "$have" != "$stamp" ]; then
  echo "images: debootstrap $suite (minbase, $include) from $mirror" >&2
  rootfs="$deploy_dir/rootfs"
  rm -rf "$rootfs"
  debootstrap --variant=minbase --include="$include" "$suite" "$rootfs" "$mirror" \
    >"$deploy_dir/debootstrap.log" 2>&1 || {
    tail -20 "$deploy_dir/debootstrap.log" >&2
    exit 1
  }
  # Package caches are build leftovers, not part of an image.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | podman import --quiet --change "LABEL taxi.base.stamp=$stamp" \
    --change 'CMD ["/bin/bash"]' - "$base" >/dev/null
  rm -rf "$rootfs"
  echo "images: $base made in $((SECONDS - started)) s" >&2
else
  echo "images: $base is up to date (stamp $stamp)" >&2
fi

if [ -z "$binary" ]; then
  cargo build --release --locked -p taxi
  binary="${CARGO_TARGET_DIR:-target}/release/taxi"
fi
[ -x "$binary" ] || { echo "images: $binary is not an executable" >&2; exit 2; }

context="$deploy_dir/taxi-context"
rm -rf "$context"
mkdir -p "$context"
cp "$binary" "$context/taxi"
sha=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
built=$SECONDS
podman build --quiet --pull=never --build-arg BASE="$base" --label taxi.image=taxi \
  --label "taxi.git_sha=$sha" -f deploy/Containerfile.taxi -t taxi:latest "$context" >/dev/null
podman build --quiet --pull=never --build-arg BASE="$base" --label taxi.image=taxi-redis \
  -f deploy/Containerfile.redis -t taxi-redis:latest deploy/redis >/dev/null
rm -rf "$context"
# The images these replaced (untagged now), not anyone else's.
podman image prune -f --filter label=taxi.image >/dev/null
echo "images: taxi:latest and taxi-redis:latest built in $((SECONDS - built)) s" \
  "(all images: $((SECONDS - started)) s)" >&2

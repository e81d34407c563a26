#!/usr/bin/env bash
# Builds every CPU image from infra/docker/Dockerfile unchanged with buildah (vfs storage, chroot
# isolation: Docker and podman cannot run containers on this machine), with the pinned node base
# replaced by a local stand-in (Debian bookworm from debootstrap plus this machine's Node and npm,
# tagged with the base's name, --pull=never). Then it starts each image's own entrypoint inside its
# root filesystem (buildah mount + chroot, sharing the host's loopback) with the environment
# infra/compose.yaml gives it, beside a nats-server and a PostgreSQL of its own on loopback ports, and
# runs a small sweep end to end through them. It checks the GPU Dockerfile's stages statically.
# Slow (minutes per image) and disk-heavy (vfs copies every layer): not part of .ci/run.
#   sudo bash infra/test/build.sh [--skip-build|--build-only]   (logs and the measured times in $CACHE)
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE=${UNLEARN_INFRA_CACHE:-/var/tmp/unlearn-infra}
STORE=(--storage-driver vfs --root "$CACHE/storage" --runroot "$CACHE/run")
BASE=docker.io/library/node:20-bookworm-slim
TARGETS=(coordinator worker dashboard)
mkdir -p "$CACHE"
log() { printf '[build.sh %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
[ "$(id -u)" = 0 ] || { log "run as root (buildah mount and chroot need it)"; exit 2; }

need=()
command -v buildah >/dev/null || need+=(buildah)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
bah() { buildah "${STORE[@]}" "$@"; }

# --- the stand-in base: what node:20-bookworm-slim provides (Node and npm under /usr/local, user node
# with uid 1000), from the Debian archive and this machine's Node binary.
standin() {
  local rootfs="$CACHE/bookworm-rootfs"
  if [ ! -d "$rootfs" ]; then
    log "debootstrap bookworm (minbase) into $rootfs"
    rm -rf "$rootfs.tmp"
    debootstrap --variant=minbase bookworm "$rootfs.tmp" http://deb.debian.org/debian >"$CACHE/debootstrap.log" 2>&1
    rm -rf "$rootfs.tmp/var/cache/apt/archives/"*.deb "$rootfs.tmp/var/lib/apt/lists/"*
    mv "$rootfs.tmp" "$rootfs"
  fi
  local node npm
  node=$(command -v node)
  npm=$(dirname "$(readlink -f "$(command -v npm)")")/..
  log "stand-in $BASE: $rootfs + $node ($("$node" --version)) + npm $(npm --version)"
  local ctr mnt
  ctr=$(bah from scratch)
  mnt=$(bah mount "$ctr")
  cp -a "$rootfs/." "$mnt/"
  install -D -m 0755 "$node" "$mnt/usr/local/bin/node"
  mkdir -p "$mnt/usr/local/lib/node_modules"
  cp -a "$(readlink -f "$npm")" "$mnt/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$mnt/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$mnt/usr/local/bin/npx"
  chroot "$mnt" sh -c 'groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node'
  # This machine reaches the npm registry through a TLS-intercepting proxy: the stand-in trusts what
  # the machine trusts (NODE_EXTRA_CA_CERTS), as a base image behind such a proxy would have to.
  local ca=()
  if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "$NODE_EXTRA_CA_CERTS" ]; then
    install -D -m 0644 "$NODE_EXTRA_CA_CERTS" "$mnt/usr/local/share/ca-certificates/machine-ca.crt"
    ca=(--env NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/machine-ca.crt)
  fi
  bah umount "$ctr" >/dev/null
  bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "${ca[@]}" \
    --env "NODE_VERSION=$("$node" --version | tr -d v)" --cmd node "$ctr"
  bah commit --quiet "$ctr" "$BASE" >/dev/null
  bah rm "$ctr" >/dev/null
}

build() {
  local target=$1 started
  started=$(date +%s)
  log "building unlearn-$target (target $target of infra/docker/Dockerfile)"
  # The Dockerfile is used as it is; only its NODE_IMAGE argument names the stand-in (a local image
  # cannot carry the upstream digest).
  bah bud --quiet --layers --isolation chroot --pull=never --network host \
    --build-arg "NODE_IMAGE=$BASE" --target "$target" \
    -f infra/docker/Dockerfile --ignorefile infra/docker/Dockerfile.dockerignore \
    -t "localhost/unlearn-$target:test" . >"$CACHE/bud-$target.log" 2>&1 ||
    { tail -40 "$CACHE/bud-$target.log" >&2; return 1; }
  echo "$target $(($(date +%s) - started))" >>"$CACHE/times"
  log "unlearn-$target built in $(($(date +%s) - started)) s"
}

if [ "${1:-}" != "--skip-build" ]; then
  : >"$CACHE/times"
  t0=$(date +%s)
  bah inspect --type image "$BASE" >/dev/null 2>&1 || standin
  echo "standin $(($(date +%s) - t0))" >>"$CACHE/times"
  for t in "${TARGETS[@]}"; do build "$t"; done
fi
bah images --format '{{.Name}}:{{.Tag}} {{.Size}}' | grep -E 'unlearn-|node' | tee "$CACHE/sizes" >&2 || true

# --- the images' entrypoints, run beside a nats-server and a PostgreSQL, in a network namespace of
# their own (ports as compose has them, nothing reachable from outside), then a sweep through them.
[ "${1:-}" = "--build-only" ] && exit 0
exec unshare --net --mount bash infra/test/cluster.sh "$CACHE"

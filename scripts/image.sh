#!/usr/bin/env bash
# The gateway's container image (deploy/Containerfile), built with buildah: no Docker engine, and
# no base image from a registry. The image holds this machine's node (Node 20, the version the
# project runs on), the shared libraries node and the native addons link against, the compiled
# gateway and its production dependencies; nothing else (no shell, no package manager).
#
#   scripts/image.sh install          buildah from Debian's packages (apt). Idempotent.
#   scripts/image.sh stage DIR        writes the build context into DIR (empty or absent): what
#                                     deploy/Containerfile copies. Needs node and npm only.
#   scripts/image.sh build [TAG]      stage into a temp dir, then `buildah build`; prints the
#                                     image id on stdout. TAG defaults to
#                                     localhost/globalchat:<package.json version>.
#
# Environment: NODE_BIN, the node binary to put in the image (default: `node` on PATH); its
# major version must be within package.json "engines" (">=LOW <HIGH"); the native addons are
# picked for its ABI, and the gateway picks its transport at start (uws where a native build
# exists for that ABI, else ws + node:http).
#
# dist/ is built first if it is stale (scripts/ensure-built.mjs, as `npm start` does). The
# dependencies are installed into the context with `npm ci --omit=dev --offline`: from npm's
# cache, which this checkout's own install filled; nothing is fetched.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONTAINERFILE="$ROOT/deploy/Containerfile"
# The runtime user; deploy/Containerfile and the Kubernetes manifests name the same ids.
APP_UID=10001
APP_GID=10001

log() { echo "image: $*" >&2; }

apt_install() {
  log "apt-get install $*"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
  fi
}

cmd_install() {
  command -v buildah >/dev/null || apt_install buildah
}

# Copies file $1 (following links) and, where it is reached through a symlink, the link too,
# into rootfs $2 at the same absolute path.
copy_lib() {
  local file=$1 rootfs=$2 real
  real="$(readlink -f "$file")"
  mkdir -p "$rootfs$(dirname "$real")"
  cp -n "$real" "$rootfs$real"
  if [[ "$real" != "$file" && ! -e "$rootfs$file" ]]; then
    mkdir -p "$rootfs$(dirname "$file")"
    ln -s "$real" "$rootfs$file"
  fi
}

# Every shared library ELF file $1 needs (ldd's resolved paths and the loader).
needed_libs() {
  ldd "$1" | awk '/=> \// { print $3 } /^[[:space:]]*\/[^ ]+ \(/ { print $1 }'
}

cmd_stage() {
  local ctx=${1:?usage: image.sh stage DIR}
  local node_bin=${NODE_BIN:-$(command -v node)}
  [[ -x "$node_bin" ]] || { log "no node binary (set NODE_BIN)"; exit 1; }
  if [[ -e "$ctx" ]] && [[ -n "$(ls -A "$ctx")" ]]; then
    log "$ctx is not empty"
    exit 1
  fi

  local major wanted abi
  major="$("$node_bin" -p 'process.versions.node.split(".")[0]')"
  abi="$("$node_bin" -p process.versions.modules)"
  wanted="$(node -p "require('$ROOT/package.json').engines.node")"
  # The engines range is ">=LOW <HIGH": the image's node major must be within it.
  local low high
  low="$(sed -E 's/^>=([0-9]+) <([0-9]+)$/\1/' <<<"$wanted")"
  high="$(sed -E 's/^>=([0-9]+) <([0-9]+)$/\2/' <<<"$wanted")"
  if ! [[ "$low" =~ ^[0-9]+$ && "$high" =~ ^[0-9]+$ ]] || ((major < low || major >= high)); then
    log "$node_bin is Node $major; package.json engines wants $wanted"
    exit 1
  fi

  (cd "$ROOT" && "$node_bin" scripts/ensure-built.mjs)

  mkdir -p "$ctx/rootfs" "$ctx/app" "$ctx/data"
  local app="$ctx/app" rootfs="$ctx/rootfs"

  # The application: dist/ and the dependencies package.json lists, nothing from devDependencies.
  cp -r "$ROOT/dist" "$app/dist"
  # tsc's source maps are read only with --enable-source-maps, which production does not use; the
  # web app's (under web/public) are served to browsers and listed in its manifest: they stay.
  find "$app/dist" -name '*.js.map' ! -path '*/web/public/*' -delete
  cp "$ROOT/package.json" "$ROOT/package-lock.json" "$app/"
  log "npm ci --omit=dev --offline"
  # npm 11 may reject this lockfile in `npm ci` where `npm install` accepts it (as in .ci/run).
  (cd "$app" && { npm ci --omit=dev --offline --no-audit --no-fund --loglevel=error >/dev/null ||
    npm install --omit=dev --offline --no-audit --no-fund --loglevel=error >/dev/null; })
  rm -f "$app/package-lock.json"
  # Native builds for other platforms, ABIs and for musl would only make the image larger:
  # uWebSockets.js loads binaries/uws_<platform>_<arch>_<abi>.node (its dist/*.node are unused).
  local uws="$app/node_modules/uWebSockets.js"
  if [[ -d "$uws/binaries" ]]; then
    find "$uws/binaries" -name '*.node' ! -name "uws_linux_x64_$abi.node" -delete
    find "$uws/dist" -name '*.node' -delete
    [[ -f "$uws/binaries/uws_linux_x64_$abi.node" ]] ||
      log "warning: uWebSockets.js has no binary for ABI $abi; the gateway will use its ws + node:http transport"
  fi
  find "$app/node_modules" -name '*.node' \( -name '*musl*' -o -path '*darwin*' -o -path '*win32*' \
    -o -path '*arm*' \) -delete

  # The runtime: node, and every shared library node or a native addon loads.
  mkdir -p "$rootfs/usr/local/bin"
  cp "$(readlink -f "$node_bin")" "$rootfs/usr/local/bin/node"
  local elf lib
  while IFS= read -r elf; do
    while IFS= read -r lib; do copy_lib "$lib" "$rootfs"; done < <(needed_libs "$elf")
  done < <(echo "$node_bin"; find "$app/node_modules" -name '*.node')

  mkdir -p "$rootfs/etc" "$rootfs/tmp"
  chmod 1777 "$rootfs/tmp"
  cat >"$rootfs/etc/passwd" <<EOF
root:x:0:0:root:/root:/usr/sbin/nologin
chat:x:$APP_UID:$APP_GID:chat gateway:/data:/usr/sbin/nologin
EOF
  cat >"$rootfs/etc/group" <<EOF
root:x:0:
chat:x:$APP_GID:
EOF
  # glibc's resolver reads this; files first so /etc/hosts (written by the runtime) wins.
  echo 'hosts: files dns' >"$rootfs/etc/nsswitch.conf"
  log "staged $(du -sh "$ctx" | cut -f1) in $ctx (node $("$node_bin" -v), ABI $abi)"
}

cmd_build() {
  command -v buildah >/dev/null || { log "buildah not installed (scripts/image.sh install)"; exit 1; }
  local version tag
  version="$(node -p "require('$ROOT/package.json').version")"
  tag=${1:-localhost/globalchat:$version}
  BUILD_CTX="$(mktemp -d "${TMPDIR:-/tmp}/globalchat-image.XXXXXX")"
  trap 'rm -rf "$BUILD_CTX"' EXIT
  cmd_stage "$BUILD_CTX"
  log "buildah build -t $tag"
  buildah build --quiet --layers=false -f "$CONTAINERFILE" -t "$tag" "$BUILD_CTX" >/dev/null
  buildah images --noheading --format '{{.ID}}' "$tag" | head -n 1
}

case "${1:-}" in
install) cmd_install ;;
stage) cmd_stage "${2:-}" ;;
build) cmd_build "${2:-}" ;;
*)
  echo "usage: $0 install|stage DIR|build [TAG]" >&2
  exit 2
  ;;
esac

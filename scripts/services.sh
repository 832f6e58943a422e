#!/usr/bin/env bash
# Project-local services for development and tests. Everything binds to 127.0.0.1 and keeps its
# state under .state/.
#
#   scripts/services.sh install   redis-server, nats-server, Java 17, Maven, chromium, buildah
#                                 (apt), and Cassandra jars from Maven Central into
#                                 .state/cassandra/lib. Idempotent.
#   scripts/services.sh install-browser   only chromium (/usr/bin/chromium, for test/browser.test.ts)
#   scripts/services.sh install-emoji-font   Debian's colour emoji font, for scripts/screenshots.ts
#                                 (without it Chromium draws most emoji as empty boxes)
#   scripts/services.sh start     dev instances in the background (pid files under .state/)
#   scripts/services.sh stop      stops only the pids in those files
#   scripts/services.sh status
#
# Dev ports (fixed, so a dev config can name them):
#   redis      127.0.0.1:16379
#   nats       127.0.0.1:14222  (JetStream on, monitoring on 127.0.0.1:18222)
#   cassandra  127.0.0.1:19042  CQL, datacenter dc1 (internode 17000)
#
# Tests do not use these: test/helpers/* start their own servers on free ports.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/.state"
CASS_LIB="$STATE/cassandra/lib"
CASS_POM="$ROOT/scripts/cassandra/pom.xml"

REDIS_PORT=16379
NATS_PORT=14222
NATS_MONITOR_PORT=18222
CASSANDRA_PORT=19042

log() { echo "services: $*" >&2; }

# apt-get install, running `apt-get update` only if the first attempt fails (stale lists).
apt_install() {
  log "apt-get install $*"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
  fi
}

java17() {
  # Cassandra 5.0 runs on Java 11 or 17 only; prefer an explicit 17 over whatever `java` is.
  local j
  for j in /usr/lib/jvm/java-17-openjdk-*/bin/java; do
    [[ -x "$j" ]] && { echo "$j"; return 0; }
  done
  if command -v java >/dev/null && java -version 2>&1 | grep -q 'version "17\.'; then
    command -v java
    return 0
  fi
  return 1
}

cassandra_version() {
  sed -n 's:.*<cassandra.version>\(.*\)</cassandra.version>.*:\1:p' "$CASS_POM"
}

cmd_install() {
  local pkgs=()
  command -v redis-server >/dev/null || pkgs+=(redis-server)
  command -v nats-server >/dev/null || pkgs+=(nats-server)
  java17 >/dev/null || pkgs+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null || pkgs+=(maven)
  # Debian's chromium for the browser tests (playwright-core drives it; nothing is downloaded).
  [[ -x /usr/bin/chromium ]] || pkgs+=(chromium)
  # buildah builds the container image (scripts/image.sh, test/integration/container-image.test.ts).
  command -v buildah >/dev/null || pkgs+=(buildah)
  if ((${#pkgs[@]} > 0)); then apt_install "${pkgs[@]}"; fi
  java17 >/dev/null || { log "no Java 17 found after install"; exit 1; }

  local version marker
  version="$(cassandra_version)"
  marker="$CASS_LIB/.cassandra-$version.done"
  if [[ -f "$marker" ]]; then
    return 0
  fi
  log "fetching cassandra-all $version and its dependencies into $CASS_LIB"
  rm -rf "$CASS_LIB"
  mkdir -p "$CASS_LIB"
  if ! mvn -B -Dstyle.color=never -f "$CASS_POM" dependency:copy-dependencies \
    -DoutputDirectory="$CASS_LIB" >"$STATE/cassandra/mvn.log" 2>&1; then
    tail -n 40 "$STATE/cassandra/mvn.log" >&2
    exit 1
  fi
  ls "$CASS_LIB"/cassandra-all-"$version".jar "$CASS_LIB"/jamm-*.jar >/dev/null
  touch "$marker"
}

# True if the pid in file $1 is alive and its command line contains $2 (guards against a
# recycled pid belonging to someone else).
pid_running() {
  local file=$1 name=$2 pid
  [[ -f "$file" ]] || return 1
  pid="$(cat "$file")"
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$name"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local port=$1 what=$2 i
  for ((i = 0; i < 100; i++)); do
    port_open "$port" && return 0
    sleep 0.1
  done
  log "$what did not open port $port"
  return 1
}

start_redis() {
  local dir="$STATE/redis"
  mkdir -p "$dir"
  if pid_running "$dir/redis.pid" redis-server; then log "redis already running"; return; fi
  nohup redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no \
    >>"$dir/redis.log" 2>&1 &
  echo $! >"$dir/redis.pid"
  wait_port "$REDIS_PORT" redis
  log "redis on 127.0.0.1:$REDIS_PORT"
}

start_nats() {
  local dir="$STATE/nats"
  mkdir -p "$dir"
  if pid_running "$dir/nats.pid" nats-server; then log "nats already running"; return; fi
  cat >"$dir/nats.conf" <<EOF
server_name: "dev"
listen: "127.0.0.1:$NATS_PORT"
http: "127.0.0.1:$NATS_MONITOR_PORT"
jetstream { store_dir: "$dir/jetstream" }
EOF
  nohup nats-server -c "$dir/nats.conf" >>"$dir/nats.log" 2>&1 &
  echo $! >"$dir/nats.pid"
  wait_port "$NATS_PORT" nats
  log "nats on 127.0.0.1:$NATS_PORT"
}

start_cassandra() {
  local pidfile="$STATE/cassandra/dev/cassandra.pid"
  if pid_running "$pidfile" CassandraDaemon; then log "cassandra already running"; return; fi
  (cd "$ROOT" && npx --no-install tsx scripts/cassandra/dev.ts)
}

stop_one() {
  local file=$1 name=$2 pid i
  if ! pid_running "$file" "$name"; then
    rm -f "$file"
    return
  fi
  pid="$(cat "$file")"
  kill "$pid"
  # Cassandra flushes on SIGTERM; give it time before giving up on a clean stop.
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  rm -f "$file"
  log "stopped $name (pid $pid)"
}

status_one() {
  local file=$1 name=$2 port=$3
  if pid_running "$file" "$name"; then
    local open=closed
    port_open "$port" && open=open
    echo "$name: running, pid $(cat "$file"), 127.0.0.1:$port $open"
  else
    echo "$name: stopped"
  fi
}

case "${1:-}" in
install) cmd_install ;;
install-browser)
  if [[ ! -x /usr/bin/chromium ]]; then apt_install chromium; fi
  ;;
install-emoji-font)
  if [[ ! -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ]]; then apt_install fonts-noto-color-emoji; fi
  ;;
start)
  cmd_install
  start_redis
  start_nats
  start_cassandra
  ;;
stop)
  stop_one "$STATE/cassandra/dev/cassandra.pid" CassandraDaemon
  stop_one "$STATE/nats/nats.pid" nats-server
  stop_one "$STATE/redis/redis.pid" redis-server
  ;;
status)
  status_one "$STATE/redis/redis.pid" redis-server "$REDIS_PORT"
  status_one "$STATE/nats/nats.pid" nats-server "$NATS_PORT"
  status_one "$STATE/cassandra/dev/cassandra.pid" CassandraDaemon "$CASSANDRA_PORT"
  ;;
*)
  echo "usage: $0 install|install-browser|start|stop|status" >&2
  exit 2
  ;;
esac

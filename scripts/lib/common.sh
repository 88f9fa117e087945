# Shared by the scripts in scripts/: private servers on free loopback ports,
# the service binary, and cleanup of exactly the processes started here.
# Source it; it sets a trap that stops them on exit.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=$(mktemp -d)
STARTED_PIDS=()

cleanup() {
  for pid in "${STARTED_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${STARTED_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

need() {
  command -v "$1" >/dev/null || { echo "$1 not found: apt-get install $2" >&2; exit 1; }
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND until it succeeds.
wait_for() {
  local seconds=$1 what=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then echo "timed out after ${seconds}s waiting for $what" >&2; exit 1; fi
    sleep 0.1
  done
}

# start_redis: a redis-server without persistence; sets REDIS_PORT, REDIS_PID, REDIS_URL.
start_redis() {
  need redis-server redis-server
  REDIS_PORT=$(free_port)
  mkdir -p "$WORK/redis"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$WORK/redis" --logfile "$WORK/redis/log" &
  STARTED_PIDS+=($!)
  REDIS_PID=$!
  REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
  wait_for 10 redis-server redis-cli -p "$REDIS_PORT" ping
}

redis_cli() { redis-cli -p "$REDIS_PORT" "$@"; }

# cpu_ticks PID: CPU time the process used so far (user + system), in clock
# ticks (getconf CLK_TCK a second).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# us_per_op TICKS OPS: microseconds of CPU per operation.
us_per_op() { python3 -c "print(f'{$1 * 1e6 / $(getconf CLK_TCK) / $2:.2f}')"; }

# build_loadgen: builds the player-simulation load generator (benches/loadgen.rs);
# loadgen ARGS...: runs it.
build_loadgen() { (cd "$ROOT" && cargo bench --no-run --quiet --bench loadgen 2>/dev/null); }
loadgen() { (cd "$ROOT" && cargo bench --quiet --bench loadgen -- "$@"); }

# build_service PROFILE: builds the binary (release or debug); sets SERVICE_BIN.
build_service() {
  local profile=${1:-release}
  if [ "$profile" = release ]; then
    (cd "$ROOT" && cargo build --release --quiet --bin streamlease)
  else
    (cd "$ROOT" && cargo build --quiet --bin streamlease)
  fi
  SERVICE_BIN="$ROOT/target/$profile/streamlease"
}

# start_service [VAR=value ...]: the service on a free port, with the given
# environment; sets SERVICE_URL.
start_service() {
  local log="$WORK/service.$RANDOM.log"
  env STREAMLEASE_BIND=127.0.0.1:0 RUST_LOG="${RUST_LOG:-warn,streamlease::startup=info}" "$@" \
    "$SERVICE_BIN" 2>"$log" &
  STARTED_PIDS+=($!)
  wait_for 30 "the service to listen" grep -q "listening on" "$log"
  SERVICE_URL=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$log" | head -1)
  wait_for 10 "/healthz" curl -sf "$SERVICE_URL/healthz"
}

# metric NAME_AND_LABELS: one sample's value from the service's /metrics.
metric() {
  curl -s "$SERVICE_URL/metrics" | awk -v series="$1" '$1 == series { print $2 }'
}

# load_library: loads the lease scripts into the private Redis, the function
# library the service prints (`--print-redis-library`; built in debug when no
# SERVICE_BIN is set yet); prints its version: the scripts are then called
# as FCALL NAME_VERSION (acquire_VERSION, heartbeat_VERSION, ...).
load_library() {
  [ -n "${SERVICE_BIN:-}" ] || build_service debug
  "$SERVICE_BIN" --print-redis-library | redis_cli -x function load replace | sed 's/^streamlease_//'
}

# load_noop: loads a function `noop` that returns 1: the cost of an FCALL
# itself, to compare the scripts with.
load_noop() {
  redis_cli function load replace "#!lua name=noop
redis.register_function('noop', function() return 1 end)" >/dev/null
}

# make_leases URL FILE COUNT PREFIX [BODY]: a lease for each of COUNT users
# PREFIX-1..COUNT (the acquire's JSON BODY, by default stream title-1),
# taken at once (a lease without heartbeats expires in a TTL); their paths
# into FILE, one a line.
make_leases() {
  local body=${5:-'{"stream_id":"title-1"}'}
  seq 1 "$3" | xargs -P 8 -I{} curl -s -X POST "$1/v1/users/$4-{}/leases" \
    -H 'Content-Type: application/json' -d "$body" -o "$WORK/lease-$4-{}.json"
  for i in $(seq 1 "$3"); do
    sed -E "s#.*\"lease_id\":\"([0-9a-f-]{36})\".*#/v1/users/$4-$i/leases/\1\n#" "$WORK/lease-$4-$i.json"
  done > "$2"
}

# make_leases_with_tokens URL FILE PREFIX: as make_leases, 200 users, from a
# service signing lease tokens: "path lease_token" lines into FILE (those
# scripts/wrk/heartbeat-lease-token.lua takes).
make_leases_with_tokens() {
  seq 1 200 | xargs -P 8 -I{} curl -s -X POST "$1/v1/users/$3-{}/leases" \
    -H 'Content-Type: application/json' -d '{"stream_id":"title-1"}' -o "$WORK/lease-$3-{}.json"
  for i in $(seq 1 200); do
    sed -n -E 's#^\{"lease_id":"([0-9a-f-]{36})","user_id":"([^"]+)".*"lease_token":"([^"]+)".*#/v1/users/\2/leases/\1 \3\n#p' \
      "$WORK/lease-$3-$i.json"
  done > "$2"
}


#!/usr/bin/env bash
# Instructions per operation, counted by valgrind's callgrind: repeatable
# where CPU time on a shared machine is not (the same binary and load give
# the same counts within a percent or two, whatever else the machine does).
#
#   Redis:   the heartbeat script (a live lease among 3 of one user), the
#            same on leases of two classes each, and a no-op function (an
#            FCALL that returns 1), all from redis-benchmark -P 16, and the
#            ratios.
#   Service: a Redis-store heartbeat and a /healthz exchange (embedded
#            store), both from wrk (16 connections, 10 s), and their ratio;
#            and, on an instance with CORS on, the heartbeat as the browser
#            client sends it (CORS, browser headers:
#            scripts/wrk/heartbeat-sdk.lua) against a bare one there; and
#            with lease tokens on (ES256, HS256), as the client sends them
#            (scripts/wrk/heartbeat-lease-token.lua: signed every other
#            heartbeat), and ES256 signed on every one.
#
# Only user-space instructions are counted: the kernel's share (sockets,
# wake-ups) is not, and it is larger for the cheaper operation of each pair,
# so these ratios run higher than the CPU-time ratios of scripts/bench.sh.
# Use them to compare two versions of the code, not as the targets.
#
# Usage: scripts/instructions.sh [redis]   (needs valgrind, wrk, redis-tools;
#        about 3 minutes; `redis`: the scripts only, about 1 minute)
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

need valgrind valgrind
need wrk wrk
need redis-benchmark redis-tools
need openssl openssl
ulimit -n 20000
[ "${1:-}" = redis ] || build_service release
mkdir -p "$WORK/cg"

# under_callgrind VAR=value... -- COMMAND...: starts COMMAND under callgrind;
# sets CG_PID.
under_callgrind() {
  local env=()
  while [ "$1" != -- ]; do env+=("$1"); shift; done
  shift
  env "${env[@]}" valgrind --tool=callgrind --callgrind-out-file="$WORK/cg/out.%p" "$@" >/dev/null \
    2>>"$WORK/cg/valgrind.log" &
  STARTED_PIDS+=($!)
  CG_PID=$!
}

# instructions_per OPS COMMAND...: counts from zero while the load COMMAND
# runs; prints instructions per operation, OPS being a command that prints
# how many operations the load made.
instructions_per() {
  local ops=$1; shift
  callgrind_control -z "$CG_PID" >/dev/null
  "$@" >/dev/null
  rm -f "$WORK"/cg/out."$CG_PID".*
  callgrind_control -d "$CG_PID" >/dev/null
  local total
  total=$(cat "$WORK"/cg/out."$CG_PID".* | awk '/^summary:/ { n += $2 } END { printf "%d\n", n }')
  echo $((total / $($ops)))
}

# Redis, under callgrind.
REDIS_PORT=$(free_port)
mkdir -p "$WORK/redis"
under_callgrind -- redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK/redis"
REDIS_PID=$CG_PID
REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
wait_for 60 redis-server redis_cli ping
version=$(load_library)
load_noop
# User u holds 3 leases with no class; user c 3 leases of classes uhd and
# mobile each.
for user in u c; do
  classes=''
  limits=''
  [ "$user" = c ] && classes=uhd,mobile && limits=uhd=3,mobile=3
  for n in 1 2 3; do
    lease=6f9619ff-8b86-4011-b42d-00c04fc9640$n
    redis_cli fcall "acquire_$version" 3 "sl:{$user}:l" "sl:{$user}:e" "sl:{$user}:limit" '' '' "$lease" "title-12345$n" \
      "$(python3 -c 'import uuid; print(uuid.uuid4())')" 3600000 3 deny '' "$classes" "$limits" >/dev/null
  done
done
CALLS=20000
calls() { echo "$CALLS"; }
heartbeat_of() {
  instructions_per calls redis-benchmark -p "$REDIS_PORT" -c 4 -P 16 -n "$CALLS" -q \
    fcall "heartbeat_$version" 3 "sl:{$1}:l" "sl:{$1}:e" "sl:{$1}:limit" '' "$lease" 3600000 3
}
redis_heartbeat=$(heartbeat_of u)
redis_heartbeat_classes=$(heartbeat_of c)
redis_noop=$(instructions_per calls redis-benchmark -p "$REDIS_PORT" -c 4 -P 16 -n "$CALLS" -q fcall noop 0)
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
echo "redis_instructions heartbeat_script=$redis_heartbeat noop_script=$redis_noop ratio=$(ratio "$redis_heartbeat" "$redis_noop")"
echo "redis_instructions heartbeat_script_two_classes=$redis_heartbeat_classes" \
  "against_no_class=$(ratio "$redis_heartbeat_classes" "$redis_heartbeat")"
[ "${1:-}" = redis ] && exit 0

# The service, under callgrind, on a plain Redis.
kill "$REDIS_PID"
start_redis
requests() { awk '/requests in/ { print $1 }' "$WORK/wrk.txt"; }
wrk_into() { wrk -t1 -c16 -d10s "$@" > "$WORK/wrk.txt"; }
serve_under_callgrind() {
  local log="$WORK/service.$RANDOM.log"
  under_callgrind STREAMLEASE_BIND=127.0.0.1:0 STREAMLEASE_WORKERS=2 STREAMLEASE_METRICS_REFRESH_MS=3600000 \
    RUST_LOG=warn,streamlease::startup=info "$@" -- "$SERVICE_BIN"
  wait_for 120 "the service under callgrind" grep -q "listening on" "$WORK/cg/valgrind.log"
  SERVICE_URL=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$WORK/cg/valgrind.log" | tail -1)
  : > "$WORK/cg/valgrind.log"
}
serve_under_callgrind
healthz=$(instructions_per requests wrk_into "$SERVICE_URL/healthz")
kill "$CG_PID"
serve_under_callgrind REDIS_URL="$REDIS_URL"
make_leases "$SERVICE_URL" "$WORK/leases" 200 i
heartbeat=$(LEASES="$WORK/leases" instructions_per requests wrk_into -s "$ROOT/scripts/wrk/heartbeat.lua" "$SERVICE_URL")
kill "$CG_PID"
# The same leases, through an instance with CORS on (a key prefix of its own
# is not needed: the leases are the first instance's, on the same Redis).
serve_under_callgrind REDIS_URL="$REDIS_URL" STREAMLEASE_CORS_ORIGINS=https://player.example
bare_cors=$(LEASES="$WORK/leases" instructions_per requests wrk_into -s "$ROOT/scripts/wrk/heartbeat.lua" "$SERVICE_URL")
sdk=$(LEASES="$WORK/leases" instructions_per requests wrk_into -s "$ROOT/scripts/wrk/heartbeat-sdk.lua" "$SERVICE_URL")
kill "$CG_PID"
# An instance with classes configured: the same leases (no class), and as
# many more naming two classes each.
serve_under_callgrind REDIS_URL="$REDIS_URL" STREAMLEASE_CLASSES=uhd=3,mobile=3
make_leases "$SERVICE_URL" "$WORK/classed" 200 c '{"stream_id":"title-1","classes":["uhd","mobile"]}'
unclassed=$(LEASES="$WORK/leases" instructions_per requests wrk_into -s "$ROOT/scripts/wrk/heartbeat.lua" "$SERVICE_URL")
classed=$(LEASES="$WORK/classed" instructions_per requests wrk_into -s "$ROOT/scripts/wrk/heartbeat.lua" "$SERVICE_URL")
kill "$CG_PID"
# Lease tokens: instances that sign them, each with leases of its own.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/lease-key.pem" 2>/dev/null
serve_under_callgrind REDIS_URL="$REDIS_URL" STREAMLEASE_LEASE_TOKEN_KEY_FILE="$WORK/lease-key.pem"
make_leases_with_tokens "$SERVICE_URL" "$WORK/es-tokens" es
es256=$(LEASES="$WORK/es-tokens" instructions_per requests wrk_into -s "$ROOT/scripts/wrk/heartbeat-lease-token.lua" "$SERVICE_URL")
es256_every=$(EVERY=1 LEASES="$WORK/es-tokens" instructions_per requests wrk_into -s "$ROOT/scripts/wrk/heartbeat-lease-token.lua" "$SERVICE_URL")
kill "$CG_PID"
serve_under_callgrind REDIS_URL="$REDIS_URL" STREAMLEASE_LEASE_TOKEN_SECRET=instructions-secret-of-32-bytes-long
make_leases_with_tokens "$SERVICE_URL" "$WORK/hs-tokens" hs
hs256=$(LEASES="$WORK/hs-tokens" instructions_per requests wrk_into -s "$ROOT/scripts/wrk/heartbeat-lease-token.lua" "$SERVICE_URL")

echo "service_instructions heartbeat_redis_store=$heartbeat healthz=$healthz ratio=$(ratio "$heartbeat" "$healthz")"
echo "service_instructions heartbeat_as_the_client_sends_it=$sdk bare_with_cors_on=$bare_cors ratio=$(ratio "$sdk" "$bare_cors")"
echo "service_instructions with_classes_configured: heartbeat_two_classes=$classed no_class=$unclassed" \
  "ratio=$(ratio "$classed" "$unclassed")"
echo "service_instructions lease_tokens: es256=$es256 hs256=$hs256 es256_signed_every_time=$es256_every off=$heartbeat" \
  "es256/off=$(ratio "$es256" "$heartbeat") hs256/off=$(ratio "$hs256" "$heartbeat")"

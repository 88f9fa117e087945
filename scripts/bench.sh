#!/usr/bin/env bash
# One benchmark run, side by side on this machine (service, Redis and load
# generators share its cores):
#   1. the Redis ceiling: redis-benchmark running the service's heartbeat
#      function by FCALL, -P 1 and -P 16, at the service's concurrency;
#   2. the HTTP ceiling: GET /healthz under wrk at the same connections;
#   3. heartbeats through the service (Redis store, embedded store), bare
#      and as the browser client sends them (scripts/wrk/heartbeat-sdk.lua),
#      and acquire+release pairs;
#   4. ratios of 3 to 1 and 2, and heartbeat latency at 50% of peak rate
#      (player simulation, coordinated-omission aware);
#   5. service RSS with 10,000 keep-alive connections, Redis memory per live
#      lease (scripts/redis-memory.sh on a fresh Redis: the run above leaves
#      tombstones of every release behind), Redis calls per heartbeat;
#   6. CPU per operation, from /proc (user + system time of the process over
#      a run, divided by the operations in it): the service per heartbeat and
#      per /healthz exchange, Redis per heartbeat and per no-op function call,
#      and their ratios. Unlike throughput, these hold on a noisy machine;
#   7. the service's CPU per heartbeat with a player token: RS256 (the
#      identity provider's key, from a JWKS file) and HS256 (a shared
#      secret), beside none (3.), on the Redis store; and RS256 with a new
#      token on every request, which the cache of verified tokens cannot
#      serve: what each heartbeat would cost without it;
#   8. the service's CPU per heartbeat with lease tokens on, ES256 and HS256,
#      as the browser client sends them (its token back in Lease-Token, a
#      new one signed every other heartbeat: scripts/wrk/heartbeat-lease-
#      token.lua), beside lease tokens off; and ES256 signed on every
#      heartbeat, the worst case.
# Everything listens on loopback, is bounded in time, and stops on exit.
#
# Usage: scripts/bench.sh   (CONNECTIONS=64 SECONDS_PER_RUN=10)
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

CONNECTIONS=${CONNECTIONS:-64}
RUN=${SECONDS_PER_RUN:-10}
need wrk wrk
need redis-benchmark redis-tools
need curl curl
need python3 python3
need openssl openssl
ulimit -n 20000

say() { echo "$@" >&2; }
rps() { awk '/^Requests\/sec:/ { printf "%d", $2 }'; }
total_requests() { awk '/requests in/ { print $1 }'; }
calls() { redis_cli info commandstats | awk -F'[=,]' '/^cmdstat_fcall:/ { print $2 }'; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }


say "building (release)..."
build_service release
build_loadgen

start_redis

say "1. Redis ceiling"
version=$(load_library)
load_noop
lease=6f9619ff-8b86-4011-b42d-00c04fc964ff
redis_cli fcall "acquire_$version" 3 'sl:{ceiling}:l' 'sl:{ceiling}:e' 'sl:{ceiling}:limit' \
  '' '' "$lease" title-1 '' 3600000 3 deny '' '' '' >/dev/null
ceiling() {
  redis-benchmark -p "$REDIS_PORT" -c "$CONNECTIONS" -n "$2" -P "$1" --csv \
    fcall "heartbeat_$version" 3 'sl:{ceiling}:l' 'sl:{ceiling}:e' 'sl:{ceiling}:limit' '' "$lease" 3600000 3 |
    awk -F'","' 'NR == 2 { printf "%d", $2 }'
}
redis_p1=$(ceiling 1 $((RUN * 40000)))
before=$(cpu_ticks "$REDIS_PID")
redis_p16=$(ceiling 16 $((RUN * 100000)))
redis_us_script=$(us_per_op $(($(cpu_ticks "$REDIS_PID") - before)) $((RUN * 100000)))
before=$(cpu_ticks "$REDIS_PID")
redis-benchmark -p "$REDIS_PORT" -c "$CONNECTIONS" -n $((RUN * 200000)) -P 16 -q fcall noop 0 >/dev/null
redis_us_noop=$(us_per_op $(($(cpu_ticks "$REDIS_PID") - before)) $((RUN * 200000)))

say "2. HTTP ceiling"
start_service STREAMLEASE_METRICS_REFRESH_MS=3600000
embedded=$SERVICE_URL
embedded_pid=${STARTED_PIDS[-1]}
before=$(cpu_ticks "$embedded_pid")
wrk -t1 -c"$CONNECTIONS" -d"${RUN}s" "$embedded/healthz" > "$WORK/healthz.txt"
service_us_healthz=$(us_per_op $(($(cpu_ticks "$embedded_pid") - before)) "$(total_requests < "$WORK/healthz.txt")")
healthz=$(rps < "$WORK/healthz.txt")

say "3. through the service"
start_service REDIS_URL="$REDIS_URL" STREAMLEASE_METRICS_REFRESH_MS=3600000 STREAMLEASE_CORS_ORIGINS=https://player.example
redis_svc=$SERVICE_URL
redis_pid=${STARTED_PIDS[-1]}
make_leases "$redis_svc" "$WORK/leases-redis" 1000 hb
make_leases "$embedded" "$WORK/leases-embedded" 1000 hb
calls_before=$(calls)
service_before=$(cpu_ticks "$redis_pid")
redis_before=$(cpu_ticks "$REDIS_PID")
LEASES="$WORK/leases-redis" wrk -t1 -c"$CONNECTIONS" -d"${RUN}s" -s "$ROOT/scripts/wrk/heartbeat.lua" "$redis_svc" > "$WORK/hb-redis.txt" &
wrk_pid=$!
# Mid-run, the service's CPU per thread: shows what bounds the Redis store.
sleep $((RUN / 2))
# Share of a core each thread of PID used over one second, from /proc (top's
# per-thread view of a process is not to be trusted here).
thread_cpu() {
  local pid=$1 tick
  tick=$(getconf CLK_TCK)
  snapshot() { for t in /proc/"$pid"/task/*; do echo "$(basename "$t") $(tr ' ' '_' < "$t/comm") $(awk '{ print $14 + $15 }' "$t/stat")"; done; }
  snapshot > "$WORK/cpu.1"
  sleep 1
  snapshot > "$WORK/cpu.2"
  join "$WORK/cpu.1" "$WORK/cpu.2" | awk -v tick="$tick" '{ printf "%s %.0f%%, ", $2, ($5 - $3) * 100 / tick }'
}
threads=$(thread_cpu "$redis_pid")
redis_cpu=$(thread_cpu "$REDIS_PID")
wait "$wrk_pid"
heartbeats=$(total_requests < "$WORK/hb-redis.txt")
service_us_hb=$(us_per_op $(($(cpu_ticks "$redis_pid") - service_before)) "$heartbeats")
redis_us_hb=$(us_per_op $(($(cpu_ticks "$REDIS_PID") - redis_before)) "$heartbeats")
calls_per_heartbeat=$(python3 -c "print(f'{($(calls) - $calls_before) / $(total_requests < "$WORK/hb-redis.txt"):.3f}')")
hb_redis=$(rps < "$WORK/hb-redis.txt")
# The same leases, heartbeated as the browser client does it.
service_before=$(cpu_ticks "$redis_pid")
LEASES="$WORK/leases-redis" wrk -t1 -c"$CONNECTIONS" -d"${RUN}s" -s "$ROOT/scripts/wrk/heartbeat-sdk.lua" "$redis_svc" > "$WORK/hb-sdk.txt"
service_us_hb_sdk=$(us_per_op $(($(cpu_ticks "$redis_pid") - service_before)) "$(total_requests < "$WORK/hb-sdk.txt")")
before=$(cpu_ticks "$embedded_pid")
LEASES="$WORK/leases-embedded" wrk -t1 -c"$CONNECTIONS" -d"${RUN}s" -s "$ROOT/scripts/wrk/heartbeat.lua" "$embedded" > "$WORK/hb-embedded.txt"
service_us_hb_embedded=$(us_per_op $(($(cpu_ticks "$embedded_pid") - before)) "$(total_requests < "$WORK/hb-embedded.txt")")
hb_embedded=$(rps < "$WORK/hb-embedded.txt")
pairs_redis=$(($(wrk -t1 -c"$CONNECTIONS" -d"${RUN}s" -s "$ROOT/scripts/wrk/acquire-release.lua" "$redis_svc" | rps) / 2))
pairs_embedded=$(($(wrk -t1 -c"$CONNECTIONS" -d"${RUN}s" -s "$ROOT/scripts/wrk/acquire-release.lua" "$embedded" | rps) / 2))

say "4. latency at 50% of peak"
latency() {
  loadgen --url "$1" --players 5000 --connections "$CONNECTIONS" --rate "$(($2 / 2))" --duration-s "$RUN" \
    --abandon 0.1 --user-prefix "$3" | tail -1
}
lat_redis=$(latency "$redis_svc" "$hb_redis" lat)
lat_embedded=$(latency "$embedded" "$hb_embedded" lat)
field() { sed -E "s/.* $1=([0-9]+).*/\1/" <<<"$2"; }

say "5. RSS with 10,000 connections, memory per lease"
LEASES="$WORK/leases-redis" wrk -t2 -c10000 -d"${RUN}s" -s "$ROOT/scripts/wrk/heartbeat.lua" "$redis_svc" > "$WORK/10k.txt" 2>&1 || true
rss_10k=$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$redis_pid/status")
hb_10k=$(rps < "$WORK/10k.txt")
errors_10k=$(awk '/Socket errors/ { print }' "$WORK/10k.txt")
per_lease=$("$ROOT/scripts/redis-memory.sh" 20000 3 | sed -n 's/^bytes_per_live_lease=\([0-9]*\).*/\1/p')

say "7. heartbeats with player tokens"
SECRET=bench-secret-bench-secret-bench-secret
mkdir -p "$WORK/tokens"
python3 "$ROOT/scripts/lib/tokens.py" 200 "$WORK/tokens" "$SECRET" 4000
# with_tokens URL KIND: a lease per user, taken with the user's own token;
# "path token" lines into $WORK/leases-KIND.
with_tokens() {
  while read -r user token; do
    curl -s -X POST "$1/v1/users/$user/leases" -H 'Content-Type: application/json' \
      -H "Authorization: Bearer $token" -d '{"stream_id":"title-1"}' |
      sed -E "s#.*\"lease_id\":\"([0-9a-f-]{36})\".*#/v1/users/$user/leases/\1 $token\n#"
  done < "$WORK/tokens/$2.tokens" > "$WORK/leases-$2"
}
# service_us_with KIND URL PID [ONCE]: service CPU per heartbeat with KIND
# tokens (ONCE=1: each token sent once, on the leases of the rs256 run).
service_us_with() {
  if [ "${4:-0}" = 1 ]; then
    # Each user's one lease, heartbeated with each of the user's tokens.
    awk 'NR == FNR { split($1, p, "/"); path[p[4]] = $1; next } { print path[$1], $2 }' \
      "$WORK/leases-rs256" "$WORK/tokens/$1.tokens" > "$WORK/leases-$1"
  else
    with_tokens "$2" "$1"
  fi
  local before
  before=$(cpu_ticks "$3")
  ONCE=${4:-0} LEASES="$WORK/leases-$1" wrk -t1 -c"$CONNECTIONS" -d"${RUN}s" -s "$ROOT/scripts/wrk/heartbeat-token.lua" "$2" > "$WORK/hb-$1.txt"
  grep -q "Non-2xx" "$WORK/hb-$1.txt" && say "$1 heartbeats: $(grep Non-2xx "$WORK/hb-$1.txt")"
  us_per_op $(($(cpu_ticks "$3") - before)) "$(total_requests < "$WORK/hb-$1.txt")"
}
# The same bare heartbeats as in 3., again now, so the ratios below compare
# runs minutes apart rather than the length of this script.
before=$(cpu_ticks "$redis_pid")
LEASES="$WORK/leases-redis" wrk -t1 -c"$CONNECTIONS" -d"${RUN}s" -s "$ROOT/scripts/wrk/heartbeat.lua" "$redis_svc" > "$WORK/hb-plain.txt"
service_us_hb_plain=$(us_per_op $(($(cpu_ticks "$redis_pid") - before)) "$(total_requests < "$WORK/hb-plain.txt")")
start_service REDIS_URL="$REDIS_URL" STREAMLEASE_METRICS_REFRESH_MS=3600000 STREAMLEASE_KEY_PREFIX=rs \
  STREAMLEASE_JWT_JWKS_FILE="$WORK/tokens/jwks.json" STREAMLEASE_ADMIN_TOKEN=bench-admin
service_us_hb_rs256=$(service_us_with rs256 "$SERVICE_URL" "${STARTED_PIDS[-1]}")
service_us_hb_rs256_fresh=$(service_us_with rs256-fresh "$SERVICE_URL" "${STARTED_PIDS[-1]}" 1)
start_service REDIS_URL="$REDIS_URL" STREAMLEASE_METRICS_REFRESH_MS=3600000 STREAMLEASE_KEY_PREFIX=hs \
  STREAMLEASE_JWT_SECRET="$SECRET" STREAMLEASE_ADMIN_TOKEN=bench-admin
service_us_hb_hs256=$(service_us_with hs256 "$SERVICE_URL" "${STARTED_PIDS[-1]}")

say "8. heartbeats with lease tokens"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/lease-key.pem" 2>/dev/null
# lease_token_us URL PID PREFIX [EVERY]: service CPU per heartbeat.
lease_token_us() {
  local before
  before=$(cpu_ticks "$2")
  EVERY=${4:-0} LEASES="$WORK/leases-$3" wrk -t1 -c"$CONNECTIONS" -d"${RUN}s" \
    -s "$ROOT/scripts/wrk/heartbeat-lease-token.lua" "$1" > "$WORK/hb-lt-$3.txt"
  grep -q "Non-2xx" "$WORK/hb-lt-$3.txt" && say "$3 heartbeats: $(grep Non-2xx "$WORK/hb-lt-$3.txt")"
  us_per_op $(($(cpu_ticks "$2") - before)) "$(total_requests < "$WORK/hb-lt-$3.txt")"
}
start_service REDIS_URL="$REDIS_URL" STREAMLEASE_METRICS_REFRESH_MS=3600000 STREAMLEASE_KEY_PREFIX=lt-off
make_leases "$SERVICE_URL" "$WORK/leases-lt-off" 200 lt-off
before=$(cpu_ticks "${STARTED_PIDS[-1]}")
LEASES="$WORK/leases-lt-off" wrk -t1 -c"$CONNECTIONS" -d"${RUN}s" -s "$ROOT/scripts/wrk/heartbeat.lua" "$SERVICE_URL" \
  > "$WORK/hb-lt-off.txt"
service_us_lt_off=$(us_per_op $(($(cpu_ticks "${STARTED_PIDS[-1]}") - before)) "$(total_requests < "$WORK/hb-lt-off.txt")")
start_service REDIS_URL="$REDIS_URL" STREAMLEASE_METRICS_REFRESH_MS=3600000 STREAMLEASE_KEY_PREFIX=lt-es \
  STREAMLEASE_LEASE_TOKEN_KEY_FILE="$WORK/lease-key.pem"
make_leases_with_tokens "$SERVICE_URL" "$WORK/leases-lt-es" lt-es
service_us_lt_es256=$(lease_token_us "$SERVICE_URL" "${STARTED_PIDS[-1]}" lt-es)
service_us_lt_es256_every=$(lease_token_us "$SERVICE_URL" "${STARTED_PIDS[-1]}" lt-es 1)
start_service REDIS_URL="$REDIS_URL" STREAMLEASE_METRICS_REFRESH_MS=3600000 STREAMLEASE_KEY_PREFIX=lt-hs \
  STREAMLEASE_LEASE_TOKEN_SECRET="$SECRET"
make_leases_with_tokens "$SERVICE_URL" "$WORK/leases-lt-hs" lt-hs
service_us_lt_hs256=$(lease_token_us "$SERVICE_URL" "${STARTED_PIDS[-1]}" lt-hs)

mark() { python3 -c "print('ok' if $1 else 'MISSED')"; }
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
cat <<TABLE

streamlease bench — $(date -u +%Y-%m-%d), $(nproc) cores ($cpu), $(redis-server --version | awk '{print $3}'), $CONNECTIONS connections, ${RUN}s per run
Service, Redis and load generators share these cores.

| # | Measure | Result | Target |
|---|---|---|---|
| 1 | Redis ceiling: heartbeat script, redis-benchmark -P 1 | $redis_p1 /s | |
| 1 | Redis ceiling: heartbeat script, redis-benchmark -P 16 | $redis_p16 /s | |
| 2 | HTTP ceiling: GET /healthz, wrk | $healthz /s | |
| 3 | Heartbeats through the service, Redis store | $hb_redis /s | |
| 3 | Heartbeats through the service, embedded store | $hb_embedded /s | |
| 3 | Acquire+release pairs, Redis store | $pairs_redis /s | |
| 3 | Acquire+release pairs, embedded store | $pairs_embedded /s | |
| 4 | Heartbeat (Redis store) / Redis -P 16 ceiling | $(ratio "$hb_redis" "$redis_p16") | ≥ 0.70 $(mark "$hb_redis / $redis_p16 >= 0.7") |
| 4 | Heartbeat (Redis store) / Redis -P 1 ceiling | $(ratio "$hb_redis" "$redis_p1") | |
| 4 | Heartbeat (embedded) / /healthz ceiling | $(ratio "$hb_embedded" "$healthz") | ≥ 0.80 $(mark "$hb_embedded / $healthz >= 0.8") |
| 4 | Heartbeat latency at $(($hb_redis / 2))/s, Redis store: p50 / p99 / p99.9 | $(field heartbeat_p50_us "$lat_redis") / $(field heartbeat_p99_us "$lat_redis") / $(field heartbeat_p999_us "$lat_redis") µs | p99 ≤ 2000 µs $(mark "$(field heartbeat_p99_us "$lat_redis") <= 2000") |
| 4 | Heartbeat latency at $(($hb_embedded / 2))/s, embedded: p50 / p99 / p99.9 | $(field heartbeat_p50_us "$lat_embedded") / $(field heartbeat_p99_us "$lat_embedded") / $(field heartbeat_p999_us "$lat_embedded") µs | p99 ≤ 2000 µs $(mark "$(field heartbeat_p99_us "$lat_embedded") <= 2000") |
| 4 | Load generator: errors / over-admitted acquires (Redis, embedded) | $(field errors "$lat_redis") / $(field over_admitted "$lat_redis"), $(field errors "$lat_embedded") / $(field over_admitted "$lat_embedded") | 0 / 0 |
| 5 | Service peak RSS, 10,000 keep-alive connections heartbeating ($hb_10k /s) | $rss_10k MiB | ≤ 64 MiB $(mark "$rss_10k <= 64") |
| 5 | Redis used_memory per live lease (20,000 users × 3) | $per_lease B | ≤ 250 B $(mark "$per_lease <= 250") |
| 5 | Redis calls per heartbeat (FCALL calls / requests) | $calls_per_heartbeat | 1 $(mark "abs($calls_per_heartbeat - 1) < 0.01") |
| 6 | Service CPU per /healthz exchange (floor) | $service_us_healthz µs | |
| 6 | Service CPU per heartbeat, Redis store | $service_us_hb µs | |
| 6 | Service CPU per heartbeat, embedded store | $service_us_hb_embedded µs | |
| 6 | Service CPU per heartbeat as the browser client sends it (CORS, browser headers), Redis store | $service_us_hb_sdk µs | |
| 6 | Service CPU: the browser client's heartbeat / a bare one | $(ratio "$service_us_hb_sdk" "$service_us_hb") | ≤ 1.05 $(mark "$service_us_hb_sdk / $service_us_hb <= 1.05") |
| 6 | Service CPU: heartbeat (Redis store) / /healthz | $(ratio "$service_us_hb" "$service_us_healthz") | ≤ 1.50 $(mark "$service_us_hb / $service_us_healthz <= 1.5") |
| 6 | Redis CPU per no-op function call, redis-benchmark -P 16 (floor) | $redis_us_noop µs | |
| 6 | Redis CPU per heartbeat script, redis-benchmark -P 16 | $redis_us_script µs | |
| 6 | Redis CPU per heartbeat through the service | $redis_us_hb µs | |
| 6 | Redis CPU: heartbeat through the service / no-op | $(ratio "$redis_us_hb" "$redis_us_noop") | ≤ 3.00 $(mark "$redis_us_hb / $redis_us_noop <= 3.0") |
| 6 | Redis CPU: heartbeat script / no-op, both -P 16 | $(ratio "$redis_us_script" "$redis_us_noop") | |
| 7 | Service CPU per heartbeat with no token, Redis store (3. again) | $service_us_hb_plain µs | |
| 7 | Service CPU per heartbeat with an HS256 player token, Redis store | $service_us_hb_hs256 µs | |
| 7 | Service CPU per heartbeat with an RS256 player token (JWKS), Redis store | $service_us_hb_rs256 µs | |
| 7 | Service CPU per heartbeat with an RS256 token sent for the first time (verified, not cached) | $service_us_hb_rs256_fresh µs | |
| 7 | Service CPU: RS256 / HS256 / RS256 sent once, each / no token | $(ratio "$service_us_hb_rs256" "$service_us_hb_plain") / $(ratio "$service_us_hb_hs256" "$service_us_hb_plain") / $(ratio "$service_us_hb_rs256_fresh" "$service_us_hb_plain") | |
| 8 | Service CPU per heartbeat, lease tokens off, Redis store | $service_us_lt_off µs | |
| 8 | Service CPU per heartbeat, ES256 lease tokens as the client sends it (signed every other) | $service_us_lt_es256 µs | |
| 8 | Service CPU per heartbeat, HS256 lease tokens as the client sends it | $service_us_lt_hs256 µs | |
| 8 | Service CPU per heartbeat, ES256 signed on every heartbeat (worst case) | $service_us_lt_es256_every µs | |
| 8 | Service CPU: ES256 / off | $(ratio "$service_us_lt_es256" "$service_us_lt_off") | ≤ 1.20 $(mark "$service_us_lt_es256 / $service_us_lt_off <= 1.2") |
| 8 | Service CPU: HS256 / off, ES256 every heartbeat / off | $(ratio "$service_us_lt_hs256" "$service_us_lt_off") / $(ratio "$service_us_lt_es256_every" "$service_us_lt_off") | |
TABLE
echo
echo "CPU during the Redis-store heartbeat run: service threads ${threads%, }; ${redis_cpu%, }."
echo "(Each worker, actix-rt|system, drives its own Redis connection.)"
[ -z "$errors_10k" ] || echo "10k-connection run: $errors_10k"

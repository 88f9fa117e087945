#!/usr/bin/env bash
# Overload: the service at several times the heartbeat rate this machine
# sustains, on the Redis store, and what it does with the excess.
#
#   1. What the box sustains: heartbeats with shedding off, as fast as 64
#      connections get answers (10 s).
#   2. LOAD x that rate for SECONDS_AT_LOAD, shedding at its default, from
#      CONNECTIONS connections: PLAYERS players heartbeating as the SDK
#      does (with their restore body), plus new users acquiring at 5% of
#      the heartbeat rate. The load generator charges each request from
#      when it was due (benches/loadgen.rs), splits successful answers from
#      503 refusals and counts refusals without Retry-After.
#   3. After it: one heartbeat per player (retried after a 503 as
#      Retry-After says): each must renew or restore, never 404.
#   The service's peak RSS, and its shed counts per operation from /metrics.
#
# Service, Redis and the load generator share this machine's cores: the
# sustained rate is what the three together reach here.
#
# Usage: scripts/overload.sh   (LOAD=3 SECONDS_AT_LOAD=60 PLAYERS=20000 CONNECTIONS=2000;
#                               about 2 minutes plus the build)
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

LOAD=${LOAD:-3}
AT_LOAD=${SECONDS_AT_LOAD:-60}
PLAYERS=${PLAYERS:-20000}
CONNECTIONS=${CONNECTIONS:-2000}
need redis-server redis-server
need curl curl
need python3 python3
ulimit -n 20000

say() { echo "$@" >&2; }
field() { sed -E "s/.* $1=([0-9.]+).*/\1/" <<<"$2"; }

say "building (release)..."
build_service release
build_loadgen

start_redis

say "1. what this machine sustains (shedding off)"
start_service REDIS_URL="$REDIS_URL" STREAMLEASE_SHED_STORE_CALLS=0 STREAMLEASE_METRICS_REFRESH_MS=3600000
sustained=$(loadgen --url "$SERVICE_URL" --players 5000 --connections 64 --rate 1000000 --duration-s 10 \
  --abandon 0 --user-prefix ceiling | tail -1)
rate=$(field heartbeat_rps "$sustained")
kill "${STARTED_PIDS[-1]}"
wait "${STARTED_PIDS[-1]}" 2>/dev/null || true
redis_cli flushall >/dev/null

offered=$(python3 -c "print(int($rate * $LOAD))")
say "2. $LOAD x $rate = $offered heartbeats/s for ${AT_LOAD}s, from $CONNECTIONS connections"
start_service REDIS_URL="$REDIS_URL" STREAMLEASE_METRICS_REFRESH_MS=5000
service_pid=${STARTED_PIDS[-1]}
# Where the machine's CPU went: the whole machine (/proc/stat), the
# service, Redis; the rest is mostly the load generator.
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
before=($(machine_ticks) $(cpu_ticks "$service_pid") $(cpu_ticks "$REDIS_PID") $SECONDS)
run=$(loadgen --url "$SERVICE_URL" --players "$PLAYERS" --connections "$CONNECTIONS" --rate "$offered" \
  --duration-s "$AT_LOAD" --abandon 0 --restore-body --acquire-rate "$((offered / 20))" --verify \
  --user-prefix overload 2> "$WORK/loadgen.txt" | tail -1)
after=($(machine_ticks) $(cpu_ticks "$service_pid") $(cpu_ticks "$REDIS_PID") $SECONDS)
tick=$(getconf CLK_TCK)
cores_used() { python3 -c "print(f'{($1) / $tick / max(1, ${after[3]} - ${before[3]}):.2f}')"; }
machine_cores=$(cores_used "${after[0]} - ${before[0]}")
service_cores=$(cores_used "${after[1]} - ${before[1]}")
redis_cores=$(cores_used "${after[2]} - ${before[2]}")
rest_cores=$(python3 -c "print(f'{$machine_cores - $service_cores - $redis_cores:.2f}')")
grep -E "^(acquire|heartbeat|release|after)" "$WORK/loadgen.txt" >&2 || true
rss=$(awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$service_pid/status")
shed() { metric "streamlease_lease_operations_total{operation=\"$1\",outcome=\"shed\"}"; }

mark() { python3 -c "print('ok' if $1 else 'MISSED')"; }
ok_p99_ms=$(python3 -c "print(f'{$(field heartbeat_ok_p99_us "$run") / 1000:.1f}')")
refused_max_ms=$(python3 -c "print(f'{max($(field heartbeat_refused_max_us "$run"), $(field acquire_refused_max_us "$run")) / 1000:.1f}')")
cat <<TABLE

streamlease overload — $(date -u +%Y-%m-%d), $(nproc) cores, $(redis-server --version | awk '{print $3}'), Redis store
Sustained (shedding off, 64 connections): $rate heartbeats/s. Offered: $offered/s ($LOAD x) for ${AT_LOAD}s from $CONNECTIONS connections, plus $((offered / 20)) acquires/s.

| Measure | Result | Target |
|---|---|---|
| Heartbeats answered 200 | $(field heartbeat_ok "$run") ($(field heartbeat_ok_rps "$run")/s) | |
| Heartbeats answered 200: p99, from when due | $ok_p99_ms ms | ≤ 250 ms $(mark "$ok_p99_ms <= 250") |
| Heartbeats refused (503) | $(field heartbeat_refused "$run") ($(field heartbeat_refused_share "$run") of heartbeats) | |
| Acquires refused (503) | $(field acquire_refused_share "$run") of $(field acquire_mixed "$run") acquires | more than heartbeats $(mark "$(field acquire_refused_share "$run") >= $(field heartbeat_refused_share "$run")") |
| Slowest refusal (503), from when due | $refused_max_ms ms | ≤ 50 ms $(mark "$refused_max_ms <= 50") |
| 503s without Retry-After | $(field refused_without_retry_after "$run") | 0 $(mark "$(field refused_without_retry_after "$run") == 0") |
| After the run: renewed / restored / 404 / other | $(field verify_renewed "$run") / $(field verify_restored "$run") / $(field verify_404 "$run") / $(field verify_other "$run") | no 404 $(mark "$(field verify_404 "$run") == 0") |
| Shed by the service (acquire / release / heartbeat) | $(shed acquire) / $(shed release) / $(shed heartbeat) | |
| Service peak RSS | $rss MiB | < 300 MiB $(mark "$rss < 300") |
| Requests the load generator sent, all kinds | $(field requests_sent_rps "$run")/s of $((offered + offered / 20))/s offered | |
| Cores busy over the run (of $(nproc)): service / Redis / rest (load generator) | $service_cores / $redis_cores / $rest_cores | |
TABLE

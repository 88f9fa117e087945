#!/usr/bin/env bash
# Measures what the census costs Redis with one instance and with three on
# the same Redis: the fleet takes one census per refresh period (the census
# lease), so three instances should cost Redis about what one does.
#
# Fills a private redis-server with USERS users x 3 live leases, runs one
# instance for PERIODS refresh periods and reads Redis' CPU time over them,
# then two more instances for as long, and prints Redis CPU per period.
#
# Usage: scripts/census-fleet.sh [USERS] [PERIODS]   (default 100000 6)
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

USERS=${1:-100000}
PERIODS=${2:-6}
REFRESH_MS=2000
need python3 python3
need curl curl

build_service release
start_redis
python3 "$ROOT/scripts/lib/fill_redis.py" "acquire_$(load_library)" "$USERS" 3 3600000 | redis_cli --pipe >/dev/null

# redis_cpu_per_period: Redis CPU (ms) per refresh period, over PERIODS periods.
redis_cpu_per_period() {
  local before after
  before=$(cpu_ticks "$REDIS_PID")
  sleep $((PERIODS * REFRESH_MS / 1000))
  after=$(cpu_ticks "$REDIS_PID")
  python3 -c "print(round(($after - $before) * 1000 / $(getconf CLK_TCK) / $PERIODS))"
}

start_service REDIS_URL="$REDIS_URL" STREAMLEASE_METRICS_REFRESH_MS=$REFRESH_MS
first=$SERVICE_URL
census='streamlease_store_request_duration_seconds_count{operation="census"}'
wait_for 60 "the first census" sh -c "curl -s $first/metrics | grep -q '^$census [1-9]'"
one=$(redis_cpu_per_period)
start_service REDIS_URL="$REDIS_URL" STREAMLEASE_METRICS_REFRESH_MS=$REFRESH_MS
start_service REDIS_URL="$REDIS_URL" STREAMLEASE_METRICS_REFRESH_MS=$REFRESH_MS
three=$(redis_cpu_per_period)
echo "users=$USERS refresh_ms=$REFRESH_MS periods=$PERIODS"
echo "redis_cpu_ms_per_period one_instance=$one three_instances=$three ratio=$(python3 -c "print(round($three / max($one, 1), 2))")"

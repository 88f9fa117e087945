#!/usr/bin/env bash
# Measures one metrics census (the refresh of the store-wide gauges) with
# USERS users x 3 live leases in Redis, through the release binary.
#
# Fills a private redis-server with the service's own acquire script, starts
# the service on it with a short refresh, waits for CENSUSES censuses and
# reads their duration from the service's own histogram
# streamlease_store_request_duration_seconds{operation="census"}.
#
# Usage: scripts/census-time.sh [USERS] [CENSUSES]   (default 100000 5)
# Exits 1 when any census took 1 s or more.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

USERS=${1:-100000}
CENSUSES=${2:-5}
need python3 python3
need curl curl

build_service release
start_redis
python3 "$ROOT/scripts/lib/fill_redis.py" "$(load_script acquire)" "$USERS" 3 3600000 | redis_cli --pipe >/dev/null
start_service REDIS_URL="$REDIS_URL" STREAMLEASE_METRICS_REFRESH_MS=2000

census='{operation="census"}'
count() { metric "streamlease_store_request_duration_seconds_count$census"; }
enough() { [ "$(count)" -ge "$CENSUSES" ]; }
wait_for $((CENSUSES * 5 + 30)) "$CENSUSES censuses" enough

total=$(count)
sum=$(metric "streamlease_store_request_duration_seconds_sum$census")
under_1s=$(metric "streamlease_store_request_duration_seconds_bucket{operation=\"census\",le=\"1\"}")
echo "users=$USERS leases=$((USERS * 3)) active_leases_gauge=$(metric streamlease_active_leases)"
echo "censuses=$total mean_seconds=$(python3 -c "print(round($sum / $total, 3))") under_1s=$under_1s/$total"
[ "$under_1s" = "$total" ] || { echo "a census took 1 s or more" >&2; exit 1; }

#!/usr/bin/env bash
# Measures the metrics census (the refresh of the store-wide gauges) with
# USERS users x 3 live leases in Redis, through the release binary: how long
# one takes at the configured pace, what it costs Redis per user, and which
# share of Redis' time it took while it ran.
#
# Fills a private redis-server with the service's own acquire script, starts
# the service on it with a short refresh and STREAMLEASE_CENSUS_REDIS_PERCENT
# = PERCENT, waits for CENSUSES censuses, reads their duration from the
# service's own histogram streamlease_store_request_duration_seconds
# {operation="census"} and Redis' CPU time from /proc over them (nothing
# else runs against this Redis, so that is the census' cost).
#
# Usage: scripts/census-time.sh [USERS] [CENSUSES] [PERCENT]   (default 100000 5 20)
# Exits 1 when the census kept Redis busier than PERCENT allows (+ 5 points
# for /proc's tick granularity and the census lock and summary calls).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

USERS=${1:-100000}
CENSUSES=${2:-5}
PERCENT=${3:-20}
need python3 python3
need curl curl

build_service release
start_redis
python3 "$ROOT/scripts/lib/fill_redis.py" "acquire_$(load_library)" "$USERS" 3 3600000 | redis_cli --pipe >/dev/null
start_service REDIS_URL="$REDIS_URL" STREAMLEASE_METRICS_REFRESH_MS=100 STREAMLEASE_CENSUS_REDIS_PERCENT="$PERCENT"

census='{operation="census"}'
count() { metric "streamlease_store_request_duration_seconds_count$census" | cut -d. -f1; }
sum() { metric "streamlease_store_request_duration_seconds_sum$census"; }
# The first census counts from startup; measure from its end.
censuses_at_least() { [ "$(count)" -ge "$1" ]; }
wait_for 600 "the first census" censuses_at_least 1
first=$(count)
first_sum=$(sum)
redis_before=$(cpu_ticks "$REDIS_PID")
wall_before=$(date +%s.%N)
wait_for $((CENSUSES * 120 + 60)) "$CENSUSES censuses" censuses_at_least $((first + CENSUSES))
redis_ticks=$(($(cpu_ticks "$REDIS_PID") - redis_before))
wall=$(python3 -c "print($(date +%s.%N) - $wall_before)")
taken=$(($(count) - first))
busy=$(python3 -c "print($(sum) - $first_sum)")

echo "users=$USERS leases=$((USERS * 3)) active_leases_gauge=$(metric streamlease_active_leases) census_redis_percent=$PERCENT"
python3 - "$redis_ticks" "$(getconf CLK_TCK)" "$taken" "$busy" "$wall" "$USERS" "$PERCENT" <<'PY'
import sys
ticks, hz, taken, busy, wall, users, percent = map(float, sys.argv[1:])
redis_s = ticks / hz
share = 100 * redis_s / wall
print(f"censuses={int(taken)} mean_seconds={busy / taken:.3f}")
print(f"redis_cpu_us_per_user={redis_s * 1e6 / taken / users:.2f} redis_busy_percent_while_counting={share:.1f}")
if share > percent + 5:
    sys.exit(f"the census kept Redis {share:.1f}% busy, over its {percent:.0f}%")
PY

#!/usr/bin/env bash
# The sizing scenario: PLAYERS players (3 per user) acquire leases through
# one instance on one Redis, then heartbeat every 30 s for SECONDS seconds
# (1,000,000 players: 33,333 heartbeats/s), with the metrics census on at
# its default refresh. TTL 90 s, so a heartbeat may be late by a minute
# before its lease is lost.
#
# Prints the heartbeat rate held against the target, latency (p50, p99,
# p99.9, counted from when each heartbeat was due), errors (a 404 here is a
# lease lost while its renewal queued) and over-admitted acquires, the
# census duration, Redis memory per lease, and the CPU each process spent
# per operation, with the whole machine's: what sizes a deployment.
#
# Usage: scripts/million.sh [PLAYERS] [SECONDS]   (default 1000000 60)
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

PLAYERS=${1:-1000000}
RUN=${2:-60}
INTERVAL_MS=30000
need python3 python3
need curl curl
ulimit -n 20000

build_service release
build_loadgen
start_redis
start_service REDIS_URL="$REDIS_URL" STREAMLEASE_LEASE_TTL_MS=90000 STREAMLEASE_HEARTBEAT_INTERVAL_MS=$INTERVAL_MS
service_pid=${STARTED_PIDS[-1]}

loadgen --url "$SERVICE_URL" --players "$PLAYERS" \
  --players-per-user 3 --interval-ms $INTERVAL_MS --duration-s "$RUN" --connections 64 --abandon 0 \
  --user-prefix m > "$WORK/loadgen.out" 2> "$WORK/loadgen.err" &
loadgen_pid=$!

# Heartbeats answered so far, whatever the answer (a lost lease's 404 costs
# CPU too).
heartbeat_ops() {
  curl -s "$SERVICE_URL/metrics" | awk '/^streamlease_lease_operations_total\{operation="heartbeat"/ { n += $2 } END { print n + 0 }'
}

# The heartbeat phase starts once every player holds its lease.
wait_for 1800 "every player's lease" grep -q "heartbeating every" "$WORK/loadgen.err"
# machine_ticks: CPU time every process on the machine used so far (user,
# nice, system, irq, softirq), in clock ticks: the rest of the budget is the
# load generator, the kernel's share of the network, and anything else.
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
service_before=$(cpu_ticks "$service_pid")
redis_before=$(cpu_ticks "$REDIS_PID")
machine_before=$(machine_ticks)
heartbeats_before=$(heartbeat_ops)
# Every player holds its lease now (the census gauge may still show an
# older count), so memory per lease is per player.
leases=$PLAYERS
memory=$(redis_cli info memory | awk -F: '/^used_memory:/ { print $2 + 0 }')
sleep $((RUN - 5))
heartbeats=$(( $(heartbeat_ops) - heartbeats_before ))
service_us=$(us_per_op $(($(cpu_ticks "$service_pid") - service_before)) "$heartbeats")
redis_us=$(us_per_op $(($(cpu_ticks "$REDIS_PID") - redis_before)) "$heartbeats")
machine_us=$(us_per_op $(($(machine_ticks) - machine_before)) "$heartbeats")
wait "$loadgen_pid"

result=$(tail -1 "$WORK/loadgen.out")
field() { sed -E "s/.* $1=([0-9.]+).*/\1/" <<<"$result"; }
census_sum=$(metric 'streamlease_store_request_duration_seconds_sum{operation="census"}')
census_count=$(metric 'streamlease_store_request_duration_seconds_count{operation="census"}')
target=$(field heartbeat_target_rps)
held=$(field heartbeat_rps)
cat <<REPORT
players=$PLAYERS users=$((PLAYERS / 3)) seconds=$RUN
heartbeats_per_s held=$held target=$target share=$(python3 -c "print(round($held / $target, 3))")
heartbeat_latency_us p50=$(field heartbeat_p50_us) p99=$(field heartbeat_p99_us) p999=$(field heartbeat_p999_us)
errors=$(field errors) over_admitted=$(field over_admitted)
census censuses=$census_count mean_seconds=$(python3 -c "print(round($census_sum / max($census_count, 1), 2))")
redis_memory_per_lease_bytes=$(python3 -c "print(round($memory / max($leases, 1)))") (used_memory $memory, $leases leases)
cpu_per_heartbeat_us service=$service_us redis=$redis_us machine=$machine_us (over $heartbeats heartbeats in $((RUN - 5)) s)
cores_needed_at_target service=$(python3 -c "print(round($service_us * $target / 1e6, 2))") redis=$(python3 -c "print(round($redis_us * $target / 1e6, 2))") machine=$(python3 -c "print(round($machine_us * $target / 1e6, 2))") of $(nproc)
REPORT

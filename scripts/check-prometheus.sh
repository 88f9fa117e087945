#!/usr/bin/env bash
# Checks /metrics the way operators consume it:
#   1. `promtool check metrics` finds no problem in a busy instance's output;
#   2. a real Prometheus server on loopback scrapes the instance, and its query
#      API returns the per-user values the lease API reports.
# Everything runs on private loopback ports and stops on exit.
#
# Usage: scripts/check-prometheus.sh [release|debug]   (default debug)
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

need promtool prometheus
need prometheus prometheus
need curl curl
need python3 python3

build_service "${1:-debug}"
start_redis
start_service REDIS_URL="$REDIS_URL" STREAMLEASE_METRICS_REFRESH_MS=200

# Some of everything a real day brings: acquires, denials, heartbeats,
# releases, bad requests, unknown routes.
acquire() {
  curl -s -X POST "$SERVICE_URL/v1/users/$1/leases" -H 'Content-Type: application/json' -d "{\"stream_id\":\"$2\"}"
}
lease_id() { sed -E 's/.*"lease_id":"([0-9a-f-]{36})".*/\1/'; }
alice=$(acquire alice movie | lease_id)
acquire alice series >/dev/null
for s in a b c d; do acquire bob "$s" >/dev/null; done
curl -s -X POST "$SERVICE_URL/v1/users/alice/leases/$alice/heartbeat" >/dev/null
short=$(acquire carol x | lease_id)
curl -s -X DELETE "$SERVICE_URL/v1/users/carol/leases/$short" >/dev/null
curl -s -X POST "$SERVICE_URL/v1/users/carol/leases/$short/heartbeat" >/dev/null
curl -s -X POST "$SERVICE_URL/v1/users/bad%20id/leases" -d 'x' >/dev/null
curl -s "$SERVICE_URL/nowhere" >/dev/null

curl -s "$SERVICE_URL/metrics" > "$WORK/metrics.txt"
if ! problems=$(promtool check metrics < "$WORK/metrics.txt" 2>&1) || [ -n "$problems" ]; then
  echo "promtool check metrics found problems:" >&2
  echo "$problems" >&2
  exit 1
fi
echo "promtool check metrics: no problems ($(grep -vc '^#' "$WORK/metrics.txt") samples)"

prom_port=$(free_port)
cat > "$WORK/prometheus.yml" <<YML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: streamlease
    static_configs:
      - targets: ["${SERVICE_URL#http://}"]
YML
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" >"$WORK/prometheus.log" 2>&1 &
STARTED_PIDS+=($!)

# query EXPR: the single value Prometheus returns for EXPR, or nothing.
query() {
  curl -s --get "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$1" |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if len(r)==1 else "")'
}
answers() { [ "$(query "$1")" = "$2" ]; }

for user in alice bob; do
  active=$(curl -s "$SERVICE_URL/v1/users/$user/leases" | sed -E 's/.*"active":([0-9]+).*/\1/' | head -1)
  expr="max by (user_id) (streamlease_user_active_leases{user_id=\"$user\"})"
  wait_for 60 "Prometheus to report $user at $active" answers "$expr" "$active"
  echo "Prometheus: $expr = $active, as GET /v1/users/$user/leases says"
done
wait_for 30 "users at their limit" answers 'sum(streamlease_users_at_limit)' 1
echo "Prometheus: sum(streamlease_users_at_limit) = 1 (bob)"

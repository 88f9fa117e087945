#!/usr/bin/env bash
# Measures Redis memory per live lease as the service stores it.
#
# Starts a private redis-server on a free loopback port, writes USERS users x
# LEASES_PER_USER live leases with the service's own acquire script (the same
# .lua files, joined as src/store/redis/scripts.rs joins them), and reports
# (used_memory after - before) / leases. Ids: see lib/fill_redis.py.
#
# Usage: [CLASSES=uhd,mobile] scripts/redis-memory.sh [USERS] [LEASES_PER_USER]
#        (default 100000 3; with CLASSES, every lease names those classes)
# Exits 1 when a lease costs more than BUDGET bytes (default 250, the SPEC's).
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"

USERS=${1:-100000}
PER_USER=${2:-3}
BUDGET=${BUDGET:-250}
need python3 python3

start_redis
acquire="acquire_$(load_library)"
before=$(redis_cli info memory | awk -F: '/^used_memory:/ {print $2+0}')
python3 "$ROOT/scripts/lib/fill_redis.py" "$acquire" "$USERS" "$PER_USER" 3600000 | redis_cli --pipe >/dev/null
after=$(redis_cli info memory | awk -F: '/^used_memory:/ {print $2+0}')

leases=$((USERS * PER_USER))
per_lease=$(((after - before) / leases))
echo "users=$USERS leases_per_user=$PER_USER keys=$(redis_cli dbsize) leases_key_encoding=$(redis_cli object encoding 'sl:{user-00000000}:l')"
echo "one user's leases key: $(redis_cli memory usage 'sl:{user-00000000}:l') bytes (MEMORY USAGE)"
echo "used_memory grew by $((after - before)) bytes for $leases leases"
echo "bytes_per_live_lease=$per_lease (budget $BUDGET)"
if ((per_lease > BUDGET)); then
  echo "over budget: the storage layout needs a look (docs/design.md, Storage)" >&2
  exit 1
fi

#!/usr/bin/env bash
# Measures Redis memory per live lease as the service stores it.
#
# Starts a private redis-server on a free loopback port, writes USERS users x
# LEASES_PER_USER live leases with the service's own acquire script (the same
# .lua files, joined the same way as src/store/redis/scripts.rs joins them),
# and reports (used_memory after - before) / leases. Typical ids: user
# "user-00012345", stream "title-123456", device a UUID, lease a UUID.
#
# Usage: scripts/redis-memory.sh [USERS] [LEASES_PER_USER]   (default 100000 3)
# Exits 1 when a lease costs more than BUDGET bytes (default 250, the SPEC's).
set -euo pipefail

BUDGET=${BUDGET:-250}
USERS=${1:-100000}
PER_USER=${2:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LUA="$ROOT/src/store/redis/lua"

command -v redis-server >/dev/null || { echo "redis-server not found: apt-get install redis-server" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 not found" >&2; exit 1; }

WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" \
  --daemonize yes --pidfile "$WORK/redis.pid" --logfile "$WORK/redis.log"
cleanup() { kill "$(cat "$WORK/redis.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
cli() { redis-cli -p "$PORT" "$@"; }
for _ in $(seq 100); do cli ping >/dev/null 2>&1 && break; sleep 0.05; done

# The script exactly as the service builds it: prelude, newline, body.
{ cat "$LUA/prelude.lua"; echo; cat "$LUA/acquire.lua"; } > "$WORK/acquire.lua"
SHA=$(cli -x script load < "$WORK/acquire.lua")
before=$(cli info memory | awk -F: '/^used_memory:/ {print $2+0}')

python3 - "$SHA" "$USERS" "$PER_USER" <<'PY' | cli --pipe >/dev/null
import sys, uuid
sha, users, per_user = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out = sys.stdout.buffer
def command(*args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    out.write(b"".join(parts))
for u in range(users):
    user = "user-%08d" % u
    keys = ["sl:{%s}:l" % user, "sl:{%s}:e" % user, "sl:{%s}:limit" % user]
    for n in range(per_user):
        command("EVALSHA", sha, "3", *keys, str(uuid.uuid4()), "title-%06d" % (u * 7 + n),
                str(uuid.uuid4()), "3600000", str(per_user), "deny")
PY

after=$(cli info memory | awk -F: '/^used_memory:/ {print $2+0}')
leases=$((USERS * PER_USER))
live=$(cli dbsize)
encoding=$(cli object encoding 'sl:{user-00000000}:l')
sample=$(cli memory usage 'sl:{user-00000000}:l')
per_lease=$(( (after - before) / leases ))
echo "users=$USERS leases_per_user=$PER_USER keys=$live leases_key_encoding=$encoding"
echo "one user's leases key: $sample bytes (MEMORY USAGE)"
echo "used_memory grew by $((after - before)) bytes for $leases leases"
echo "bytes_per_live_lease=$per_lease (budget $BUDGET)"
if (( per_lease > BUDGET )); then
  echo "over budget: the storage layout needs a look (README, Storage)" >&2
  exit 1
fi

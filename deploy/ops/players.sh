#!/bin/sh
# Simulated viewers for the compose stack: 20 users on the two instances.
# Each round a user starts a stream (refused once at the limit), the held
# streams heartbeat, one is released and one is abandoned now and then.
# STREAMLEASE_A and STREAMLEASE_B point it elsewhere (both may be one instance).
set -u
a=${STREAMLEASE_A:-http://streamlease-a:8080}
b=${STREAMLEASE_B:-http://streamlease-b:8080}
held=""
round=0
while :; do
  round=$((round + 1))
  base=$a
  [ $((round % 2)) -eq 0 ] && base=$b
  user="viewer$((round % 20))"
  lease=$(curl -s -X POST "$base/v1/users/$user/leases" -H 'content-type: application/json' \
    -d "{\"stream_id\":\"s$round\",\"device_id\":\"d$((round % 7))\"}" |
    sed -n 's/.*"lease_id":"\([0-9a-f-]*\)".*/\1/p')
  [ -n "$lease" ] && held="$held $user/$lease"
  kept=""
  for entry in $held; do
    if curl -s -o /dev/null -w '%{http_code}' -X POST "$base/v1/users/${entry%/*}/leases/${entry#*/}/heartbeat" |
      grep -q '^200$'; then
      kept="$kept $entry"
    fi
  done
  held=$kept
  set -- $held
  if [ $((round % 3)) -eq 0 ] && [ $# -gt 0 ]; then
    curl -s -o /dev/null -X DELETE "$base/v1/users/${1%/*}/leases/${1#*/}"
    shift
  fi
  # Every fifth round one stream is abandoned: never renewed, it expires.
  [ $((round % 5)) -eq 0 ] && [ $# -gt 0 ] && shift
  held="$*"
  sleep 1
done

"""Writes RESP to stdout that creates USERS x PER_USER live leases through the
service's acquire function (FCALL FUNCTION), for `redis-cli --pipe`.

Typical ids: user "user-00012345", stream "title-123456", device and lease
UUIDs. With CLASSES set (e.g. "uhd,mobile"), every lease names those
classes, each configured with a limit of PER_USER.
Usage: [CLASSES=a,b] fill_redis.py FUNCTION USERS PER_USER TTL_MS [PREFIX]
(FUNCTION: acquire_VERSION, VERSION as scripts/lib/common.sh's load_library prints it)
"""
import os
import sys
import uuid

function, users, per_user, ttl = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
prefix = sys.argv[5] if len(sys.argv) > 5 else "sl"
out = sys.stdout.buffer
classes = os.environ.get("CLASSES", "")
class_limits = ",".join("%s=%d" % (c, per_user) for c in classes.split(",") if c)


def command(*args):
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        arg = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    out.write(b"".join(parts))


for u in range(users):
    user = "user-%08d" % u
    keys = ["%s:{%s}:l" % (prefix, user), "%s:{%s}:e" % (prefix, user), "%s:{%s}:limit" % (prefix, user)]
    for n in range(per_user):
        stream = "title-%06d" % (u * 7 + n)
        # ARGV: now ('' = Redis TIME), deadline ('' = none), lease id, stream,
        # device, TTL, default limit, on_limit, device name, classes, class
        # limits (see acquire.lua).
        command("FCALL", function, "3", *keys, "", "", str(uuid.uuid4()), stream, str(uuid.uuid4()), ttl, str(per_user),
                "deny", "", classes, class_limits)

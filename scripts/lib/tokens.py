#!/usr/bin/env python3
"""Player tokens for the benchmark: an RSA key and its JWKS, and for each
user an RS256 token signed with it (by the openssl CLI) and an HS256 token;
and FRESH more RS256 tokens, spread over the same users, none the same
(a token a request defeats the service's cache of verified tokens).

Usage: tokens.py USERS DIR SECRET FRESH
Writes DIR/rsa.pem, DIR/jwks.json, DIR/rs256.tokens, DIR/hs256.tokens and
DIR/rs256-fresh.tokens (one "user token" a line; users bench-tok-1..USERS;
tokens live an hour).
"""
import base64
import hashlib
import hmac
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main() -> None:
    users, out, secret = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode()
    key = f"{out}/rsa.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key],
                   check=True, capture_output=True)
    modulus = subprocess.run(["openssl", "rsa", "-in", key, "-modulus", "-noout"], check=True,
                             capture_output=True, text=True).stdout.strip().split("=", 1)[1]
    jwk = {"kty": "RSA", "kid": "bench", "alg": "RS256", "use": "sig", "n": b64(bytes.fromhex(modulus)), "e": "AQAB"}
    with open(f"{out}/jwks.json", "w") as f:
        json.dump({"keys": [jwk]}, f)
    now = int(time.time())

    def rs256(user: str, nonce: int) -> str:
        claims = {"sub": user, "iat": now, "exp": now + 3600, "jti": str(nonce)}
        signing = f"{b64(json.dumps({'alg': 'RS256', 'kid': 'bench', 'typ': 'JWT'}).encode())}.{b64(json.dumps(claims).encode())}"
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing.encode(),
                                   check=True, capture_output=True).stdout
        return f"{user} {signing}.{b64(signature)}\n"

    names = [f"bench-tok-{n}" for n in range(1, users + 1)]
    fresh = int(sys.argv[4])
    with ThreadPoolExecutor(max_workers=4) as pool:
        with open(f"{out}/rs256.tokens", "w") as f:
            f.writelines(pool.map(rs256, names, range(users)))
        with open(f"{out}/rs256-fresh.tokens", "w") as f:
            f.writelines(pool.map(rs256, (names[n % users] for n in range(fresh)), range(users, users + fresh)))
    with open(f"{out}/hs256.tokens", "w") as f:
        for user in names:
            claims = {"sub": user, "iat": now, "exp": now + 3600}
            signing = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{b64(json.dumps(claims).encode())}"
            f.write(f"{user} {signing}.{b64(hmac.new(secret, signing.encode(), hashlib.sha256).digest())}\n")


if __name__ == "__main__":
    main()

// Verifies a lease token with `jose`, a library independent of the
// service, as an edge or a license proxy would: against a JWKS (fetched
// from a URL, or read from a file) or an HS256 secret.
//
//   node test/lease-token/verify.mjs jwks-url  <url>    <token>
//   node test/lease-token/verify.mjs jwks-file <path>   <token>
//   node test/lease-token/verify.mjs secret    <secret> <token>
//
// Prints one line of JSON: {"header": ..., "payload": ...}, or {"error": ...}.
import { readFileSync } from "node:fs";
import { createLocalJWKSet, jwtVerify } from "jose";

const [how, where, token] = process.argv.slice(2);

async function key() {
  switch (how) {
    case "jwks-url": {
      const answer = await fetch(where);
      if (!answer.ok) throw new Error(`JWKS answered ${answer.status}`);
      return createLocalJWKSet(await answer.json());
    }
    case "jwks-file":
      return createLocalJWKSet(JSON.parse(readFileSync(where, "utf8")));
    case "secret":
      return new TextEncoder().encode(where);
    default:
      throw new Error(`unknown key source ${how}`);
  }
}

try {
  const algorithms = how === "secret" ? ["HS256"] : ["ES256"];
  const { payload, protectedHeader } = await jwtVerify(token, await key(), { algorithms });
  console.log(JSON.stringify({ header: protectedHeader, payload }));
} catch (error) {
  console.log(JSON.stringify({ error: `${error.code ?? error.name}: ${error.message}` }));
}

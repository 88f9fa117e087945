// Lease tokens checked at the edge (njs, Debian's libnginx-mod-http-js):
// media is served only to a request carrying a valid token for its stream.
//
// The token comes in `Authorization: Bearer <token>`, or in the `lease_token`
// query parameter for players that cannot set headers. It must be a compact
// JWS signed by a key the service publishes (ES256, looked up by `kid` in
// the JWKS that the internal location /_lease_token_keys serves, fetched
// from the service and cached, or read from a file), or by the shared secret
// in $lease_token_secret (HS256); it must not have expired; and its `sid`
// must be the stream the path names: /media/<stream_id>/... Otherwise the
// answer is 403 with a small JSON body saying why. Nothing here calls the
// service per request.

const MEDIA_PREFIX = "/media/";
// DER of a P-256 public key (SubjectPublicKeyInfo), before the point.
const SPKI_P256_PREFIX = Buffer.from("3059301306072a8648ce3d020106082a8648ce3d030107034200", "hex");

function refuse(r, reason) {
  r.headersOut["Content-Type"] = "application/json";
  r.headersOut["Cache-Control"] = "no-store";
  r.headersOut["Access-Control-Allow-Origin"] = "*";
  r.return(403, JSON.stringify({ error: "lease_token_refused", reason: reason }) + "\n");
}

function tokenOf(r) {
  const auth = r.headersIn.Authorization;
  if (auth && auth.startsWith("Bearer ")) return auth.slice(7).trim();
  return r.args.lease_token || null;
}

// The stream a media path names: /media/<stream_id>/<file>.
function streamOf(uri) {
  if (!uri.startsWith(MEDIA_PREFIX)) return null;
  const rest = uri.slice(MEDIA_PREFIX.length);
  const slash = rest.indexOf("/");
  return slash > 0 ? rest.slice(0, slash) : null;
}

function decodeJson(part) {
  return JSON.parse(Buffer.from(part, "base64url").toString());
}

async function publishedKey(r, kid) {
  const reply = await r.subrequest("/_lease_token_keys");
  if (reply.status !== 200) throw new Error("keys unavailable: " + reply.status);
  const jwks = JSON.parse(reply.responseText);
  const jwk = (jwks.keys || []).find((k) => k.kid === kid && k.kty === "EC" && k.crv === "P-256");
  if (!jwk) return null;
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x, "base64url"), Buffer.from(jwk.y, "base64url")]);
  const spki = Buffer.concat([SPKI_P256_PREFIX, point]);
  return crypto.subtle.importKey("spki", spki, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
}

async function signatureHolds(r, header, signed, signature) {
  if (header.alg === "ES256" && header.kid) {
    const key = await publishedKey(r, header.kid);
    if (!key) return "unknown_key";
    const ok = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, signature, signed);
    return ok ? null : "bad_signature";
  }
  const secret = r.variables.lease_token_secret;
  if (header.alg === "HS256" && secret) {
    const key = await crypto.subtle.importKey("raw", Buffer.from(secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    const ok = await crypto.subtle.verify("HMAC", key, signature, signed);
    return ok ? null : "bad_signature";
  }
  return "unsupported_algorithm";
}

async function guard(r) {
  const stream = streamOf(r.uri);
  if (!stream) return refuse(r, "not_a_media_path");
  const token = tokenOf(r);
  if (!token) return refuse(r, "no_token");
  const parts = token.split(".");
  if (parts.length !== 3 || token.length > 4096) return refuse(r, "malformed");
  let header, claims;
  try {
    header = decodeJson(parts[0]);
    claims = decodeJson(parts[1]);
  } catch (e) {
    return refuse(r, "malformed");
  }
  try {
    const signed = Buffer.from(parts[0] + "." + parts[1]);
    const problem = await signatureHolds(r, header, signed, Buffer.from(parts[2], "base64url"));
    if (problem) return refuse(r, problem);
  } catch (e) {
    r.error("lease token check failed: " + e.message);
    return refuse(r, "keys_unavailable");
  }
  if (typeof claims.exp !== "number" || claims.exp <= Date.now() / 1000) return refuse(r, "expired");
  if (claims.sid !== stream) return refuse(r, "another_stream");
  r.internalRedirect("@media");
}

export default { guard };

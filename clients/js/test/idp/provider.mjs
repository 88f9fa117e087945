// A real OpenID provider for the service's tests (tests/api/identity.rs):
// oidc-provider on a loopback port, publishing RS256, ES256 and EdDSA keys
// made for the run at its jwks_uri. The test drives it over stdin, one JSON
// command per line, and reads one JSON answer per line on stdout:
//
//   {"op":"sign","alg":"ES256","claims":{...}}   a token from the newest key of alg
//   {"op":"forge","kind":"...","claims":{...}}    a token the service must refuse
//   {"op":"rotate"}    new keys published beside the old ones
//   {"op":"retire"}    only the newest keys published
//   {"op":"stop"} / {"op":"start"}    the provider gone from its port, and back
//   {"op":"fetches"}   how many times its JWKS was fetched
//
// The first line out is {"issuer", "jwks_uri"}. Tokens are signed with jose,
// an implementation independent of the service's.
import http from 'node:http';
import readline from 'node:readline';
import Provider from 'oidc-provider';
import * as jose from 'jose';

const ALGS = ['RS256', 'ES256', 'EdDSA'];
let generation = 0;
/** Every key made, newest generation last. */
const keys = [];
let published = [];

async function makeKeys() {
  generation += 1;
  const made = await Promise.all(
    ALGS.map(async (alg) => {
      const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true, crv: alg === 'EdDSA' ? 'Ed25519' : undefined });
      const jwk = { ...(await jose.exportJWK(privateKey)), kid: `${alg}-${generation}`, alg, use: 'sig' };
      return { alg, kid: jwk.kid, privateKey, publicKey, jwk, generation };
    }),
  );
  keys.push(...made);
  return made;
}

function newest(alg) {
  return keys.filter((k) => k.alg === alg).at(-1);
}

let provider;
let fetches = 0;
let server;
let port = 0;

function makeProvider(issuer) {
  return new Provider(issuer, {
    jwks: { keys: published.map((k) => k.jwk) },
    clients: [{ client_id: 'streamlease-tests', client_secret: 'not-used', redirect_uris: ['http://127.0.0.1/cb'] }],
  });
}

function listen() {
  return new Promise((resolve) => {
    server = http.createServer((req, res) => {
      if (req.url.startsWith('/jwks')) fetches += 1;
      provider.callback()(req, res);
    });
    server.listen(port, '127.0.0.1', () => {
      port = server.address().port;
      resolve();
    });
  });
}

function stop() {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

async function sign(key, claims, header = {}) {
  return new jose.SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header }).sign(key.privateKey);
}

/** Tokens the service must refuse, each made the way an attacker would. */
async function forge(kind, claims) {
  const rsa = newest('RS256');
  const now = Math.floor(Date.now() / 1000);
  switch (kind) {
    case 'hs256-with-public-key': {
      // Alg confusion: the RSA public key, as published, used as an HMAC secret.
      const pem = await jose.exportSPKI(rsa.publicKey);
      return new jose.SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: rsa.kid }).sign(new TextEncoder().encode(pem));
    }
    case 'none':
      return new jose.UnsecuredJWT(claims).encode();
    case 'tampered': {
      const [head, , signature] = (await sign(rsa, claims)).split('.');
      const body = Buffer.from(JSON.stringify({ ...claims, sub: `${claims.sub}-not` })).toString('base64url');
      return `${head}.${body}.${signature}`;
    }
    case 'expired':
      return sign(rsa, { ...claims, iat: now - 7200, exp: now - 3600 });
    case 'too-long-lived':
      return sign(rsa, { ...claims, iat: now, exp: now + 400 * 86400 });
    case 'unknown-kid':
      return sign({ ...rsa, kid: `made-up-${Math.random().toString(36).slice(2)}` }, claims);
    default:
      throw new Error(`unknown forgery ${kind}`);
  }
}

async function answer(command) {
  switch (command.op) {
    case 'sign':
      return { token: await sign(newest(command.alg), command.claims) };
    case 'forge':
      return { token: await forge(command.kind, command.claims) };
    case 'rotate': {
      const made = await makeKeys();
      published = [...made, ...published];
      await stop();
      provider = makeProvider(`http://127.0.0.1:${port}`);
      await listen();
      return { kids: made.map((k) => k.kid) };
    }
    case 'retire':
      published = published.filter((k) => k.generation === generation);
      await stop();
      provider = makeProvider(`http://127.0.0.1:${port}`);
      await listen();
      return { kids: published.map((k) => k.kid) };
    case 'stop':
      await stop();
      return { stopped: true };
    case 'start':
      await listen();
      return { started: true };
    case 'fetches':
      return { count: fetches };
    default:
      throw new Error(`unknown op ${command.op}`);
  }
}

published = await makeKeys();
// The port first, then the issuer that names it.
provider = makeProvider('http://127.0.0.1');
await listen();
await stop();
provider = makeProvider(`http://127.0.0.1:${port}`);
await listen();
const issuer = `http://127.0.0.1:${port}`;
const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
process.stdout.write(`${JSON.stringify({ issuer, jwks_uri: discovery.jwks_uri })}\n`);

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  try {
    process.stdout.write(`${JSON.stringify(await answer(JSON.parse(line)))}\n`);
  } catch (error) {
    process.stdout.write(`${JSON.stringify({ error: String(error) })}\n`);
  }
}
await stop();
process.exit(0);

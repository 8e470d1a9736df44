// openid-client (panva; v6, on oauth4webapi) as an independent client of
// proofkey: PAR (RFC 9126) + DPoP (RFC 9449) + PKCE S256 (RFC 7636) +
// refresh, for a public client.
//
// Usage: node openid-client-dpop-par.mjs ISSUER CLIENT_ID REDIRECT_URI
//   (or OC_ISSUER, OC_CLIENT_ID, OC_REDIRECT_URI; OC_SCOPE defaults to
//   "openid offline_access"; OC_STDIN_TIMEOUT_MS to 60000).
//
// Protocol on stdout, one JSON object a line:
//   1. {"authorization_url": ..., "jkt": ...} after discovery and the
//      pushed request (the browser part is the caller's);
//   then it reads the callback URL, one line, from stdin;
//   2. {"result": {...}}: what it saw, and every HTTP exchange it made
//      (method, path, DPoP proof claims, status, OAuth error).
// Any error: a message on stderr, exit status 1.
import { once } from 'node:events';
import { createInterface } from 'node:readline';

import * as client from 'openid-client';

const [issuer, clientId, redirectUri] = [
  process.argv[2] ?? process.env.OC_ISSUER,
  process.argv[3] ?? process.env.OC_CLIENT_ID,
  process.argv[4] ?? process.env.OC_REDIRECT_URI,
];
const scope = process.env.OC_SCOPE ?? 'openid offline_access';
const stdinTimeout = Number(process.env.OC_STDIN_TIMEOUT_MS ?? 60000);

function b64urlJson(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

/** The claims of a JWT, unverified (we only report what was issued). */
function jwtPayload(jwt) {
  const parts = String(jwt).split('.');
  if (parts.length !== 3) throw new Error(`not a JWS: ${jwt}`);
  return b64urlJson(parts[1]);
}

/** RFC 7638 thumbprint of an EC or OKP public key. */
async function thumbprint(publicKey) {
  const jwk = await crypto.subtle.exportKey('jwk', publicKey);
  const members = jwk.kty === 'EC'
    ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
    : jwk.kty === 'OKP'
      ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x }
      : { e: jwk.e, kty: jwk.kty, n: jwk.n };
  const digest = await crypto.subtle.digest(
    'SHA-256',
    new TextEncoder().encode(JSON.stringify(members)),
  );
  return Buffer.from(digest).toString('base64url');
}

// Every exchange, as the wire saw it: what openid-client sent, what
// proofkey answered. The caller asserts on it (a nonce retry happened, the
// PAR request carried a proof...).
const exchanges = [];
async function loggingFetch(url, options) {
  const headers = new Headers(options?.headers);
  const entry = {
    method: options?.method ?? 'GET',
    path: new URL(url).pathname,
  };
  const proof = headers.get('dpop');
  if (proof) {
    const [h, c] = proof.split('.');
    const header = b64urlJson(h);
    const claims = b64urlJson(c);
    entry.dpop = {
      typ: header.typ,
      alg: header.alg,
      htm: claims.htm,
      htu: claims.htu,
      nonce: claims.nonce ?? null,
      ath: claims.ath !== undefined,
    };
  }
  const auth = headers.get('authorization');
  if (auth) entry.authorization_scheme = auth.split(' ')[0];
  const response = await fetch(url, options);
  entry.status = response.status;
  entry.dpop_nonce_header = response.headers.has('dpop-nonce');
  const challenge = response.headers.get('www-authenticate');
  if (challenge) entry.www_authenticate = challenge;
  if (response.status >= 400) {
    try {
      entry.error = (await response.clone().json()).error ?? null;
    } catch {
      entry.error = null;
    }
  } else if (response.headers.get('content-type')?.startsWith('application/json')) {
    // token_type as proofkey sent it: oauth4webapi lowercases it.
    const body = await response.clone().json().catch(() => ({}));
    if (body.token_type !== undefined) entry.token_type = body.token_type;
  }
  exchanges.push(entry);
  return response;
}

async function readLine() {
  const rl = createInterface({ input: process.stdin, terminal: false });
  try {
    const [line] = await once(rl, 'line', {
      signal: AbortSignal.timeout(stdinTimeout),
    });
    return line.trim();
  } finally {
    rl.close();
  }
}

function describe(err) {
  const parts = [err?.stack ?? String(err)];
  for (const k of ['code', 'error', 'error_description', 'status']) {
    if (err?.[k] !== undefined) parts.push(`${k}: ${err[k]}`);
  }
  const cause = err?.cause;
  if (cause instanceof Error) parts.push(`cause: ${cause.stack ?? cause}`);
  else if (cause !== undefined) parts.push(`cause: ${JSON.stringify(cause)}`);
  return parts.join('\n');
}

async function main() {
  if (!issuer || !clientId || !redirectUri) {
    throw new Error('usage: openid-client-dpop-par.mjs ISSUER CLIENT_ID REDIRECT_URI');
  }
  const config = await client.discovery(
    new URL(issuer),
    clientId,
    { redirect_uris: [redirectUri] },
    client.None(),
    {
      execute: [client.allowInsecureRequests],
      [client.customFetch]: loggingFetch,
      timeout: 20,
    },
  );
  const meta = config.serverMetadata();

  const keyPair = await client.randomDPoPKeyPair();
  const jkt = await thumbprint(keyPair.publicKey);
  const DPoP = client.getDPoPHandle(config, keyPair);

  const codeVerifier = client.randomPKCECodeVerifier();
  const codeChallenge = await client.calculatePKCECodeChallenge(codeVerifier);
  const state = client.randomState();
  const authorizationUrl = await client.buildAuthorizationUrlWithPAR(
    config,
    {
      redirect_uri: redirectUri,
      scope,
      state,
      code_challenge: codeChallenge,
      code_challenge_method: 'S256',
    },
    { DPoP },
  );
  console.log(JSON.stringify({ authorization_url: authorizationUrl.href, jkt }));

  const callback = new URL(await readLine());
  const tokens = await client.authorizationCodeGrant(
    config,
    callback,
    { pkceCodeVerifier: codeVerifier, expectedState: state, idTokenExpected: true },
    undefined,
    { DPoP },
  );
  // oauth4webapi hands token_type lowercased; the wire's is in `exchanges`.
  if (tokens.token_type !== 'dpop') {
    throw new Error(`token_type ${tokens.token_type}, not DPoP`);
  }
  const idClaims = tokens.claims();
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, idClaims.sub, { DPoP });

  if (!tokens.refresh_token) throw new Error('no refresh token');
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP });
  if (refreshed.token_type !== 'dpop') {
    throw new Error(`refreshed token_type ${refreshed.token_type}, not DPoP`);
  }
  const userinfo2 = await client.fetchUserInfo(config, refreshed.access_token, idClaims.sub, { DPoP });

  const wireTokenTypes = exchanges
    .filter((e) => e.path === new URL(meta.token_endpoint).pathname && e.status === 200)
    .map((e) => e.token_type);
  const at1 = jwtPayload(tokens.access_token);
  const at2 = jwtPayload(refreshed.access_token);
  const result = {
    openid_client: (await import('openid-client/package.json', { with: { type: 'json' } })).default.version,
    issuer: meta.issuer,
    jkt,
    // As proofkey sent them (the two successful token responses).
    token_type: wireTokenTypes[0] ?? null,
    refreshed_token_type: wireTokenTypes[1] ?? null,
    // As openid-client returned them.
    library_token_type: tokens.token_type,
    library_refreshed_token_type: refreshed.token_type,
    id_token_sub: idClaims.sub,
    userinfo_sub: userinfo.sub,
    refreshed_userinfo_sub: userinfo2.sub,
    refresh_token_present: typeof tokens.refresh_token === 'string',
    refreshed_refresh_token_present: typeof refreshed.refresh_token === 'string',
    // The refresh tokens themselves, so the test can look up their state
    // (rotated, bound) in the server's store: throwaway test credentials.
    refresh_token: tokens.refresh_token,
    refreshed_refresh_token: refreshed.refresh_token ?? null,
    access_token_cnf_jkt: at1.cnf?.jkt ?? null,
    refreshed_access_token_cnf_jkt: at2.cnf?.jkt ?? null,
    access_token_jti: at1.jti ?? null,
    refreshed_access_token_jti: at2.jti ?? null,
    scope: tokens.scope ?? null,
    exchanges,
  };
  console.log(JSON.stringify({ result }));
}

try {
  await main();
  process.exit(0);
} catch (err) {
  console.error(`openid-client-dpop-par: ${describe(err)}`);
  if (exchanges.length) console.error(`exchanges: ${JSON.stringify(exchanges)}`);
  process.exit(1);
}

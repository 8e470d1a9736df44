// The official MCP TypeScript SDK's client against an MCP server protected
// by proofkey, as an MCP host application would run it:
//
//   node mcp-client.mjs MCP_URL dcr|cimd USERNAME PASSWORD
//
// The SDK does everything OAuth itself: the MCP server's 401 and its
// protected resource metadata (RFC 9728), the authorization server's
// metadata (RFC 8414), the client's registration, PKCE (RFC 7636), the
// `resource` indicator (RFC 8707) at /authorize and /token. This script
// only plays the user (browser.mjs signs in and allows) and watches.
//
// Registration: `dcr` registers at the registration endpoint (RFC 7591);
// `cimd` uses a client ID metadata document (draft-ietf-oauth-client-id-
// metadata-document) this script serves over https at
// https://localhost:PORT/client.json with the certificate in
// MCP_CIMD_CERT / MCP_CIMD_KEY (default: Debian's snakeoil pair, issued to
// localhost, which proofkey must be told to trust with --outbound-ca-file).
//
// It prints one JSON object per line, each with an "event" (what it saw),
// and exits 0 only if everything went as the specifications say.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

import { authorizeInBrowser } from './browser.mjs';

const [mcpUrlArg, mode, username, password] = process.argv.slice(2);
if (!mcpUrlArg || !['dcr', 'cimd'].includes(mode) || username === undefined || password === undefined) {
  console.error('usage: node mcp-client.mjs MCP_URL dcr|cimd USERNAME PASSWORD');
  process.exit(2);
}
const mcpUrl = new URL(mcpUrlArg);
const CLIENT_NAME = 'proofkey interop: MCP TypeScript SDK';

const report = (event, fields) => console.log(JSON.stringify({ event, ...fields }));
// A whole run takes seconds; a hang is a failure, not a stuck test.
setTimeout(() => {
  report('failed', { error: 'no result within 90 s' });
  process.exit(1);
}, 90_000).unref();
function check(condition, message) {
  if (!condition) throw new Error(message);
}
const listen = (server, host, port = 0) =>
  new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server.address().port));
  });

/** Every HTTP request the SDK makes, with its body and answer status. */
const requests = [];
async function watchingFetch(input, init = {}) {
  const url = new URL(input instanceof Request ? input.url : input);
  const method = init.method ?? (input instanceof Request ? input.method : 'GET');
  const body = init.body instanceof URLSearchParams || typeof init.body === 'string' ? String(init.body) : undefined;
  const response = await fetch(input, init);
  requests.push({ method, url, body, status: response.status });
  return response;
}

/** The loopback redirect URI (RFC 8252 §7.3): receives the authorization response. */
let deliverCallback;
const callbackReached = new Promise((resolve) => (deliverCallback = resolve));
const callbackServer = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (url.pathname !== '/callback') {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain' }).end('You can close this window.');
  deliverCallback(url.searchParams);
});
const redirectUri = `http://127.0.0.1:${await listen(callbackServer, '127.0.0.1')}/callback`;

/** `cimd`: the client metadata document, over https on localhost. */
let cimd;
if (mode === 'cimd') {
  const cert = process.env.MCP_CIMD_CERT ?? '/etc/ssl/certs/ssl-cert-snakeoil.pem';
  const key = process.env.MCP_CIMD_KEY ?? '/etc/ssl/private/ssl-cert-snakeoil.key';
  const tls = { cert: readFileSync(cert), key: readFileSync(key) };
  cimd = { fetches: [], servers: [https.createServer(tls), https.createServer(tls)] };
  const port = await listen(cimd.servers[0], '127.0.0.1');
  // `localhost` may resolve to ::1 first; listen there too where there is IPv6.
  await listen(cimd.servers[1], '::1', port).catch(() => cimd.servers.pop().close());
  cimd.url = `https://localhost:${port}/client.json`;
  cimd.document = {
    client_id: cimd.url,
    client_name: CLIENT_NAME,
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  };
  for (const server of cimd.servers) {
    server.on('request', (req, res) => {
      cimd.fetches.push({ path: req.url, userAgent: req.headers['user-agent'] });
      if (req.method !== 'GET' || req.url !== '/client.json') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=60' });
      res.end(JSON.stringify(cimd.document));
    });
  }
}

/** The SDK's OAuthClientProvider, in memory, as a desktop MCP host keeps one. */
class Provider {
  client = undefined;
  storedTokens = undefined;
  verifier = undefined;
  authorizationUrl = undefined;
  lastState = undefined;

  get redirectUrl() {
    return redirectUri;
  }
  get clientMetadataUrl() {
    return cimd?.url;
  }
  get clientMetadata() {
    // The registration request's body (RFC 7591 §2), for `dcr`.
    return {
      client_name: CLIENT_NAME,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  state() {
    return (this.lastState = crypto.randomUUID());
  }
  clientInformation() {
    return this.client;
  }
  saveClientInformation(info) {
    this.client = info;
  }
  tokens() {
    return this.storedTokens;
  }
  saveTokens(tokens) {
    this.storedTokens = tokens;
  }
  redirectToAuthorization(url) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(verifier) {
    this.verifier = verifier;
  }
  codeVerifier() {
    check(this.verifier, 'the SDK asked for a code verifier it never saved');
    return this.verifier;
  }
  invalidateCredentials(scope) {
    report('invalidate_credentials', { scope });
    if (scope === 'all' || scope === 'client') this.client = undefined;
    if (scope === 'all' || scope === 'tokens') this.storedTokens = undefined;
    if (scope === 'all' || scope === 'verifier') this.verifier = undefined;
  }
}

function jwtClaims(jwt) {
  const parts = jwt.split('.');
  check(parts.length === 3, `the access token is not a JWT (${parts.length} parts)`);
  return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
}

const toolJson = (result) => result.structuredContent ?? JSON.parse(result.content?.[0]?.text ?? 'null');

async function run() {
  const provider = new Provider();
  const transportOptions = { authProvider: provider, fetch: watchingFetch };
  const first = new StreamableHTTPClientTransport(mcpUrl, transportOptions);
  try {
    await new Client({ name: 'proofkey-interop', version: '1.0.0' }).connect(first);
    throw new Error('the MCP server answered without a token');
  } catch (e) {
    if (!(e instanceof UnauthorizedError)) throw e;
  }
  check(provider.authorizationUrl, 'the SDK did not start an authorization');

  // Discovery, as the SDK did it.
  const prmRequest = requests.find((r) => r.url.pathname.startsWith('/.well-known/oauth-protected-resource'));
  check(prmRequest?.status === 200, 'the SDK did not fetch the protected resource metadata');
  const prm = await (await fetch(prmRequest.url)).json();
  const asRequest = requests.find((r) => r.status === 200 && /^\/\.well-known\/(oauth-authorization-server|openid-configuration)/.test(r.url.pathname));
  check(asRequest, 'the SDK did not fetch the authorization server metadata');
  const asMetadata = await (await fetch(asRequest.url)).json();
  report('discovery', {
    protected_resource_metadata: prmRequest.url.href,
    resource: prm.resource,
    authorization_servers: prm.authorization_servers,
    authorization_server_metadata: asRequest.url.href,
    registration_endpoint: asMetadata.registration_endpoint ?? null,
    client_id_metadata_document_supported: asMetadata.client_id_metadata_document_supported ?? false,
  });
  check(prm.authorization_servers?.includes(asMetadata.issuer), `the metadata's issuer ${asMetadata.issuer} is not among the resource's authorization servers`);

  // Registration.
  const registrations = requests.filter((r) => r.method === 'POST' && asMetadata.registration_endpoint && r.url.href === asMetadata.registration_endpoint);
  const clientId = provider.client?.client_id;
  if (mode === 'dcr') {
    check(registrations.length === 1 && registrations[0].status === 201, `expected one registration (201), saw ${JSON.stringify(registrations)}`);
    report('registration', { registration: 'dcr', client_id: clientId, token_endpoint_auth_method: provider.client.token_endpoint_auth_method ?? null });
  } else {
    check(registrations.length === 0, 'the SDK registered although it had a client ID metadata document');
    check(clientId === cimd.url, `the client id is ${clientId}, not the document's URL`);
    report('registration', { registration: 'cimd', client_id: clientId });
  }

  // The authorization request, and the user.
  const authorization = provider.authorizationUrl;
  const asked = Object.fromEntries(authorization.searchParams);
  report('authorization_request', {
    endpoint: `${authorization.origin}${authorization.pathname}`,
    client_id: asked.client_id,
    resource: asked.resource ?? null,
    scope: asked.scope ?? null,
    code_challenge_method: asked.code_challenge_method ?? null,
  });
  check(asked.client_id === clientId, 'the authorization request names another client');
  check(asked.resource === prm.resource, `resource at /authorize is ${asked.resource}, not ${prm.resource}`);
  check(asked.code_challenge_method === 'S256' && asked.code_challenge, 'no S256 code challenge at /authorize');
  const { redirect, pages } = await authorizeInBrowser(authorization, { username, password });
  report('user', { pages });
  if (cimd) {
    const documentFetches = cimd.fetches.filter((f) => f.path === '/client.json');
    report('client_metadata_document', { url: cimd.url, fetches: documentFetches.length, user_agent: documentFetches[0]?.userAgent ?? null });
    check(documentFetches.length > 0, 'the authorization server never fetched the client metadata document');
  }
  check(redirect.href.startsWith(redirectUri), `redirected to ${redirect.href}, not to ${redirectUri}`);
  await fetch(redirect); // the browser lands on the loopback redirect URI
  const response = await callbackReached;
  if (response.get('error')) throw new Error(`authorization error: ${response.get('error')}: ${response.get('error_description') ?? ''}`);
  check(response.get('state') === provider.lastState, 'the state came back changed');
  check(response.get('iss') === null || response.get('iss') === asMetadata.issuer, `iss ${response.get('iss')} is not the issuer (RFC 9207)`);
  report('authorization_response', { code: response.get('code') ? 'present' : 'missing', iss: response.get('iss') });

  // The token request: the SDK's own, on the transport that got the 401.
  await first.finishAuth(response.get('code'));
  const tokenRequest = requests.find((r) => r.method === 'POST' && r.url.href === asMetadata.token_endpoint);
  const sent = new URLSearchParams(tokenRequest?.body ?? '');
  report('token_request', {
    status: tokenRequest?.status ?? null,
    grant_type: sent.get('grant_type'),
    resource: sent.get('resource'),
    code_verifier: sent.get('code_verifier') ? 'present' : 'missing',
    client_id: sent.get('client_id'),
  });
  check(tokenRequest?.status === 200, 'no successful token request');
  check(sent.get('resource') === prm.resource, `resource at /token is ${sent.get('resource')}, not ${prm.resource}`);
  const tokens = provider.storedTokens;
  const claims = jwtClaims(tokens.access_token);
  report('access_token', {
    token_type: tokens.token_type,
    iss: claims.iss,
    aud: claims.aud,
    client_id: claims.client_id,
    scope: claims.scope ?? tokens.scope ?? null,
    refresh_token: tokens.refresh_token ? 'present' : 'missing',
  });
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  check(audiences.length === 1 && audiences[0] === prm.resource, `the token's aud is ${JSON.stringify(claims.aud)}, not ${prm.resource}`);
  check(claims.iss === asMetadata.issuer, `the token's iss is ${claims.iss}`);
  check(claims.client_id === clientId, `the token's client_id is ${claims.client_id}`);

  // The MCP session, with the token.
  const client = new Client({ name: 'proofkey-interop', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(mcpUrl, transportOptions));
  const { tools } = await client.listTools();
  report('tools', { names: tools.map((t) => t.name) });
  const added = await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } });
  report('tool_call', { name: 'add', arguments: { a: 2, b: 3 }, is_error: added.isError ?? false, result: toolJson(added) });
  check(!added.isError && toolJson(added)?.sum === 5, `add(2, 3) gave ${JSON.stringify(added)}`);
  const who = await client.callTool({ name: 'whoami', arguments: {} });
  report('tool_call', { name: 'whoami', is_error: who.isError ?? false, result: toolJson(who) });
  check(!who.isError && toolJson(who)?.client_id === clientId, `whoami gave ${JSON.stringify(who)}`);
  await client.close();
  report('ok', { registration: mode });
}

let failed = false;
try {
  await run();
} catch (e) {
  failed = true;
  report('failed', { error: String(e?.stack ?? e) });
  for (const r of requests) report('request', { method: r.method, url: r.url.href, status: r.status, body: r.body ?? null });
}
callbackServer.close();
for (const server of cimd?.servers ?? []) server.close();
process.exit(failed ? 1 : 0);

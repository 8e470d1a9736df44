// The authorization code flow with PKCE (RFC 7636, S256) and `state`, the
// user's claims from /userinfo (cross-origin, CORS), refresh with rotation,
// and sign-out (refresh token revoked, then OpenID Connect RP-Initiated
// Logout). oauth4webapi does the protocol; this file is the app around it.
import * as oauth from './node_modules/oauth4webapi/build/index.js';

// sessionStorage keys: what must survive the redirect to the server and back.
const PENDING_LOGIN = 'proofkey-spa:login';
const PENDING_LOGOUT = 'proofkey-spa:logout';

const $ = (id) => document.getElementById(id);

// Set by main() from config.json and the server's discovery document.
let config, issuer, client, redirectUri, options, as;
const clientAuth = oauth.None(); // a public client: no secret to keep

// Tokens live in this variable only: gone when the tab reloads or closes.
let tokens = null;
let refreshes = 0;

function show(state, message) {
  const status = $('status');
  status.dataset.state = state;
  status.textContent = message;
  $('login').hidden = state === 'signed-in';
  $('refresh').hidden = state !== 'signed-in';
  $('logout').hidden = state !== 'signed-in';
  $('session').hidden = state !== 'signed-in';
}

function fail(e) {
  console.error(e);
  const error = $('error');
  error.hidden = false;
  error.textContent = e.error ? `${e.error}: ${e.error_description ?? ''}` : String(e.message ?? e);
}

// A short SHA-256 fingerprint, to tell tokens apart without showing them.
async function fingerprint(token) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token));
  return Array.from(new Uint8Array(digest).slice(0, 6), (b) => b.toString(16).padStart(2, '0')).join('');
}

async function login() {
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  sessionStorage.setItem(PENDING_LOGIN, JSON.stringify({ verifier, state, nonce }));
  const url = new URL(as.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: redirectUri,
    scope: config.scope,
    state,
    nonce,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  });
  location.assign(url);
}

// Back from /authorize: check state and iss, redeem the code.
async function callback(params) {
  const pending = JSON.parse(sessionStorage.getItem(PENDING_LOGIN) ?? 'null');
  sessionStorage.removeItem(PENDING_LOGIN);
  history.replaceState(null, '', redirectUri); // the code is single-use: drop it from the address bar
  if (!pending) throw new Error('no sign-in was started in this tab');
  const checked = oauth.validateAuthResponse(as, client, params, pending.state);
  const response = await oauth.authorizationCodeGrantRequest(
    as, client, clientAuth, checked, redirectUri, pending.verifier, options);
  const result = await oauth.processAuthorizationCodeResponse(as, client, response, {
    expectedNonce: pending.nonce,
    requireIdToken: true,
  });
  const { sub } = oauth.getValidatedIdTokenClaims(result);
  tokens = { ...result, sub };
}

async function userinfo() {
  const response = await oauth.userInfoRequest(as, client, tokens.access_token, options);
  const claims = await oauth.processUserInfoResponse(as, client, tokens.sub, response);
  $('userinfo').textContent = JSON.stringify(claims, null, 2);
  $('access-token').textContent = await fingerprint(tokens.access_token);
  $('expires-in').textContent = String(tokens.expires_in ?? '?');
  $('refreshes').textContent = String(refreshes);
  show('signed-in', `Signed in as ${claims.name ?? claims.preferred_username ?? claims.sub}.`);
}

// The server rotates refresh tokens: the old one is dead after this call,
// so the new one must replace it.
async function refresh() {
  const response = await oauth.refreshTokenGrantRequest(
    as, client, clientAuth, tokens.refresh_token, options);
  const result = await oauth.processRefreshTokenResponse(as, client, response);
  tokens = {
    ...tokens,
    ...result,
    refresh_token: result.refresh_token ?? tokens.refresh_token,
    id_token: result.id_token ?? tokens.id_token,
  };
  refreshes += 1;
  await userinfo();
}

async function logout() {
  // Revoking the refresh token ends the grant (RFC 7009), then the
  // server's session ends at its logout endpoint.
  const revoked = await oauth.revocationRequest(as, client, clientAuth, tokens.refresh_token, options);
  await oauth.processRevocationResponse(revoked);
  const state = oauth.generateRandomState();
  sessionStorage.setItem(PENDING_LOGOUT, state);
  const url = new URL(as.end_session_endpoint);
  url.search = new URLSearchParams({
    id_token_hint: tokens.id_token,
    post_logout_redirect_uri: redirectUri,
    state,
  });
  tokens = null;
  location.assign(url);
}

function on(id, action) {
  $(id).addEventListener('click', () => action().catch(fail));
}

async function main() {
  on('login', login);
  on('refresh', refresh);
  on('logout', logout);
  config = await (await fetch('config.json')).json();
  issuer = new URL(config.issuer);
  client = { client_id: config.client_id };
  // The page itself, without query: registered as the redirect URI and as
  // the post-logout redirect URI.
  redirectUri = new URL(location.pathname, location.origin).href;
  // oauth4webapi refuses plain http; allow it for a local issuer only.
  const local = ['127.0.0.1', 'localhost', '[::1]'].includes(issuer.hostname);
  options = local ? { [oauth.allowInsecureRequests]: true } : {};
  as = await oauth.processDiscoveryResponse(
    issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...options }));
  const params = new URLSearchParams(location.search);
  if (params.has('code') || params.has('error')) {
    await callback(params);
    await userinfo();
    return;
  }
  const loggedOut = sessionStorage.getItem(PENDING_LOGOUT);
  if (loggedOut !== null && params.has('state')) {
    sessionStorage.removeItem(PENDING_LOGOUT);
    history.replaceState(null, '', redirectUri);
    if (params.get('state') !== loggedOut) throw new Error('wrong state on return from sign-out');
    show('signed-out', 'You are signed out.');
    return;
  }
  show('signed-out', 'Not signed in.');
}

main().catch((e) => {
  show('error', 'Something went wrong.');
  fail(e);
});

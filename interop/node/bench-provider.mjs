// node-oidc-provider configured as the peer of the load benchmark
// (bench/compare.sh): a public PKCE client (ID tokens RS256), a second one
// whose ID tokens are ES256, a confidential client for introspection and
// client_credentials, its default in-memory store, and signing keys made
// at start: RSA-2048 and P-256, as proofkey's.
// Usage: node bench-provider.mjs PORT SECRET   (prints "ready ISSUER")
// Development interactions: any login and password are accepted.
import { generateKeyPairSync } from 'node:crypto';
import Provider, { interactionPolicy } from 'oidc-provider';

const port = Number(process.argv[2] ?? 3000);
const secret = process.argv[3] ?? 'bench-secret-bench-secret-bench-secret';
const issuer = `http://127.0.0.1:${port}`;

// node asks native clients for consent at every authorization request
// (its `native_client_prompt` check); proofkey remembers consent per user,
// client and scope. The benchmark measures the remembered-consent path on
// both, so that one check is removed; everything else is node's default.
const policy = interactionPolicy.base();
policy.get('consent').checks.remove('native_client_prompt');

const jwk = (type, options, alg) => ({
  ...generateKeyPairSync(type, options).privateKey.export({ format: 'jwk' }),
  alg,
  use: 'sig',
  kid: alg,
});
const jwks = {
  keys: [
    jwk('rsa', { modulusLength: 2048 }, 'RS256'),
    jwk('ec', { namedCurve: 'P-256' }, 'ES256'),
  ],
};

const provider = new Provider(issuer, {
  jwks,
  interactions: { policy },
  clients: [
    {
      client_id: 'bench-cli',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      redirect_uris: ['http://127.0.0.1/callback'],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    },
    {
      client_id: 'bench-es256',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      redirect_uris: ['http://127.0.0.1/callback'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      id_token_signed_response_alg: 'ES256',
    },
    {
      client_id: 'bench-svc',
      client_secret: secret,
      token_endpoint_auth_method: 'client_secret_basic',
      redirect_uris: [],
      grant_types: ['client_credentials'],
      response_types: [],
    },
  ],
  // `api`: the scope of the plain OAuth flow (no openid, no ID token).
  scopes: ['openid', 'offline_access', 'api'],
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
    clientCredentials: { enabled: true },
  },
  // proofkey issues a refresh token when offline_access is granted; node
  // wants prompt=consent for that, which a chain of silent flows cannot
  // send. Issue one to the public client always, as proofkey does here.
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  cookies: { keys: ['proofkey-bench-only'] },
});
provider.proxy = false;

provider.listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});

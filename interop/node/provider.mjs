// node-oidc-provider as an independent interop peer for proofkey's tests.
// Usage: node provider.mjs PORT   (prints "ready ISSUER" when listening)
// Development interactions: any login and password are accepted.
import Provider from 'oidc-provider';

const port = Number(process.argv[2] ?? 3000);
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'proofkey-cli',
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    redirect_uris: ['http://127.0.0.1/callback'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
  }],
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    revocation: { enabled: true },
  },
  cookies: { keys: ['proofkey-interop-test-only'] },
  // Keep the development warnings off the test output.
  renderError: undefined,
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});

// A real OpenID Connect provider (the npm package oidc-provider) for tests/test_app_oidc.py, on loopback only.
//
// Everything comes from the environment the test sets:
//   OIDC_ISSUER         http://localhost:<port> (the port the test chose free; bound on 127.0.0.1)
//   OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URI   the one registered client (stratify)
//   OIDC_ACCOUNTS       JSON {account id: {claims...}}: the fixed test accounts and the claims they carry
// Sign-in uses the package's development interactions (a login form, then a consent form); an account
// id that is not in OIDC_ACCOUNTS cannot sign in. PKCE is required of every client; claims asked for
// by scope go into the ID token itself (conformIdTokenClaims: false), where stratify reads them.
// Prints one line "oidc-provider listening <issuer>" once it accepts connections.
import Provider from 'oidc-provider';

const need = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`provider.mjs: ${name} is not set`);
    process.exit(2);
  }
  return value;
};

const issuer = need('OIDC_ISSUER');
const accounts = JSON.parse(need('OIDC_ACCOUNTS'));
const port = Number(new URL(issuer).port);

const provider = new Provider(issuer, {
  clients: [{
    client_id: need('OIDC_CLIENT_ID'),
    client_secret: need('OIDC_CLIENT_SECRET'),
    redirect_uris: [need('OIDC_REDIRECT_URI')],
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  scopes: ['openid', 'profile', 'groups'],
  claims: { openid: ['sub'], profile: ['preferred_username', 'name'], groups: ['groups'] },
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['stratify-test-provider-cookie-signing-key'] },
  async findAccount(ctx, id) {
    if (!Object.hasOwn(accounts, id)) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...accounts[id] }; } };
  },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening ${issuer}`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

// An OpenID Connect provider (oidc-provider 9) whose every login runs actionsd's
// post-login flow. Settings come from the environment; see README.md.
import * as http from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Provider from 'oidc-provider';

import { actionsdFromEnv } from './lib/actionsd.js';
import { LoginFlow, Outcomes } from './lib/login.js';
import { UserStore, TEST_USER } from './lib/users.js';
import { DemoApp, DEMO_CLIENT } from './lib/demo_app.js';

const env = process.env;
const port = Number(env.PORT || 3000);
const issuer = env.ISSUER || `http://localhost:${port}`;
const dataDir = env.OIDC_DATA_DIR || join(dirname(fileURLToPath(import.meta.url)), '.data');
const apiIdentifier = env.OIDC_API || 'urn:example:api';
const apiScopes = (env.OIDC_API_SCOPES || 'read:messages write:messages').split(' ');
// oidc-provider puts only declared claims in ID tokens: name every custom claim actions set.
const customClaims = (env.OIDC_CUSTOM_CLAIMS || 'https://example.com/roles').split(',').filter(Boolean);
const GRANT_TTL_S = 14 * 24 * 3600;
const log = (line) => console.log(`[oidc-provider] ${line}`);

mkdirSync(dataDir, { recursive: true });

// Signing key and cookie keys are made on first start and kept, so tokens and sessions
// survive a restart.
function secrets() {
  const file = join(dataDir, 'keys.json');
  if (!existsSync(file)) {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), use: 'sig', alg: 'RS256' };
    writeFileSync(file, JSON.stringify({ jwks: { keys: [jwk] }, cookieKeys: [randomBytes(32).toString('hex')] }), { mode: 0o600 });
  }
  return JSON.parse(readFileSync(file, 'utf8'));
}

const users = new UserStore(join(dataDir, 'users.json'));
users.ensure(TEST_USER);
const outcomes = new Outcomes(GRANT_TTL_S * 1000);
const { jwks, cookieKeys } = secrets();
const redirectUris = [`${issuer}/app/callback`, ...(env.OIDC_REDIRECT_URIS || '').split(',').filter(Boolean)];

const claims = {
  openid: ['sub', ...customClaims],
  email: ['email', 'email_verified'],
  profile: ['name', 'given_name', 'family_name', 'nickname', 'updated_at'],
};
const oidcScopes = new Set([...Object.keys(claims), 'offline_access']);

const provider = new Provider(issuer, {
  clients: [{ ...DEMO_CLIENT, redirect_uris: redirectUris }],
  jwks,
  cookies: { keys: cookieKeys },
  claims,
  // Custom claims are issued under the `openid` scope; without this the code flow would
  // keep every scope-bound claim for /userinfo and out of the ID token.
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => apiIdentifier,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, resource) => {
        if (resource !== apiIdentifier) throw new Provider.errors.InvalidTarget();
        return { scope: apiScopes.join(' '), accessTokenFormat: 'jwt', audience: apiIdentifier };
      },
    },
  },
  // Never reuse a grant: each authorization request must pass the consent prompt, where
  // the post-login flow runs (lib/login.js).
  loadExistingGrant: async (ctx) => {
    const grantId = ctx.oidc.result?.consent?.grantId;
    return grantId ? ctx.oidc.provider.Grant.find(grantId) : undefined;
  },
  async findAccount(ctx, sub, token) {
    const user = users.find(sub);
    if (!user) return undefined;
    return {
      accountId: sub,
      async claims() {
        const { user_id: _id, password: _pw, app_metadata: _a, user_metadata: _u, roles: _r, ...profile } = user;
        const custom = (token && outcomes.get(token.grantId)?.idTokenClaims) || {};
        return { ...profile, nickname: user.email.split('@')[0], ...custom, sub };
      },
    };
  },
  extraTokenClaims: async (ctx, token) => outcomes.get(token.grantId)?.accessTokenClaims,
  formats: {
    customizers: {
      // The access token's scope: what the grant allows of the request, plus the scopes
      // actions added (a request cannot ask for those in advance).
      async jwt(ctx, token, jwt) {
        const decided = outcomes.get(token.grantId);
        if (!decided) return;
        const scopes = new Set(String(jwt.payload.scope || '').split(' ').filter(Boolean));
        decided.addedScopes.forEach((s) => scopes.add(s));
        decided.removedScopes.forEach((s) => scopes.delete(s));
        jwt.payload.scope = [...scopes].join(' ');
        token.scope = jwt.payload.scope;
      },
    },
  },
  pkce: { required: () => false },
  ttl: {
    AccessToken: 3600, AuthorizationCode: 60, IdToken: 3600, Interaction: 3600,
    Grant: GRANT_TTL_S, RefreshToken: GRANT_TTL_S, Session: GRANT_TTL_S,
  },
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    ctx.body = `<!doctype html><title>Error</title><h1>${out.error}</h1><p>${String(out.error_description || '').replace(/[<&]/g, '')}</p>`;
  },
});
provider.on('server_error', (ctx, err) => log(`server error: ${err.stack}`));
for (const customClaim of customClaims) log(`ID tokens may carry ${customClaim}`);

const actionsd = actionsdFromEnv(env);
const login = new LoginFlow({ provider, users, actionsd, outcomes, apiIdentifier, oidcScopes, log });
const demo = new DemoApp({ issuer, redirectUri: `${issuer}/app/callback`, scope: `openid profile email ${apiScopes[0]}` });
const callback = provider.callback();

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, issuer);
  try {
    if (await login.handle(req, res, url)) return;
    if (await demo.handle(req, res, url)) return;
  } catch (err) {
    log(`request failed: ${err.stack}`);
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
    res.end('Internal error');
    return;
  }
  callback(req, res);
});

server.listen(port, '127.0.0.1', () => {
  log(`listening on ${issuer} (discovery: ${issuer}/.well-known/openid-configuration)`);
  log(`demo app: ${issuer}/app  test user: ${TEST_USER.email} / ${TEST_USER.password}`);
  log(`post-login flow at ${actionsd.base}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));

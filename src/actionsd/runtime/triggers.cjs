// The `api` object each trigger hands to action code, after Auth0's documented API.
// Every call records a command on the running action and folds into the flow's outcome:
// access.deny ends the flow; metadata writes merge by top-level key (null deletes) and
// show in event.user for later actions; for custom claims the later action wins and
// reserved claims are dropped.
'use strict';
const crypto = require('node:crypto');

const HANDLERS = {
  'post-login': ['onExecutePostLogin', 'onContinuePostLogin'],
  'credentials-exchange': ['onExecuteCredentialsExchange'],
  'pre-user-registration': ['onExecutePreUserRegistration'],
  'post-user-registration': ['onExecutePostUserRegistration'],
  'post-change-password': ['onExecutePostChangePassword'],
  'send-phone-message': ['onExecuteSendPhoneMessage'],
  'password-reset-post-challenge': ['onExecutePostChallenge', 'onContinuePostChallenge'],
  'custom-email-provider': ['onExecuteCustomEmailProvider'],
  'custom-phone-provider': ['onExecuteCustomPhoneProvider'],
  'custom-token-exchange': ['onExecuteCustomTokenExchange'],
  'password-hash-migration': ['onExecutePasswordHashMigration'],
  'event-stream': ['onExecuteEventStream'],
  'mcp-tool': ['onExecuteMcpTool'],
};
const handlerName = (trigger) => (HANDLERS[trigger] || [])[0];
const continueName = (trigger) => (HANDLERS[trigger] || [])[1];

// Claims a custom claim may not set (OIDC/JWT registered claims and Auth0's own).
const RESERVED_CLAIMS = new Set([
  'iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti', 'azp', 'nonce', 'auth_time', 'at_hash',
  'c_hash', 'acr', 'amr', 'sub_jwk', 'cnf', 'sid', 'scope', 'gty', 'permissions', 'org_id',
  'org_name', 'client_id', 'act', 'may_act',
]);
const CACHE_VALUE_LIMIT = 4096;
const CACHE_DEFAULT_TTL_MS = 15 * 60 * 1000;

function b64url(buf) {
  return Buffer.from(buf).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}

function signHs256(payload, secret) {
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(payload));
  const sig = b64url(crypto.createHmac('sha256', secret).update(`${header}.${body}`).digest());
  return `${header}.${body}.${sig}`;
}

function verifyHs256(token, secret) {
  const parts = String(token || '').split('.');
  if (parts.length !== 3) throw new Error('The token is malformed');
  const expected = b64url(crypto.createHmac('sha256', secret).update(`${parts[0]}.${parts[1]}`).digest());
  const a = Buffer.from(expected);
  const b = Buffer.from(parts[2]);
  if (a.length !== b.length || !crypto.timingSafeEqual(a, b)) throw new Error('The token signature is invalid');
  const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString());
  if (header.alg !== 'HS256') throw new Error('The token algorithm must be HS256');
  const payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString());
  if (typeof payload.exp === 'number' && payload.exp * 1000 < Date.now()) throw new Error('The token has expired');
  return payload;
}

function makeApi(trigger, state, action, spec) {
  const out = state.outcome;
  const record = (name, args) => action.commands.push({ name, args });
  const api = {};
  const chain = (name, fn) => (...args) => { fn(...args); record(name, args); return api; };

  const cacheFor = () => {
    state.cache[spec.action_id] = state.cache[spec.action_id] || {};
    return state.cache[spec.action_id];
  };
  api.cache = {
    get(key) {
      const entry = cacheFor()[key];
      if (!entry || entry.expires_at <= Date.now()) return undefined;
      return { value: entry.value, expires_at: entry.expires_at };
    },
    set(key, value, options = {}) {
      if (typeof value !== 'string') return { type: 'error', code: 'INVALID_VALUE' };
      if (value.length > CACHE_VALUE_LIMIT) return { type: 'error', code: 'VALUE_TOO_LARGE' };
      const expires_at = options.expires_at || Date.now() + (options.ttl || CACHE_DEFAULT_TTL_MS);
      const record_ = { value, expires_at };
      cacheFor()[key] = record_;
      (state.cacheWrites = state.cacheWrites || []).push({ action_id: spec.action_id, key, value, expires_at });
      record('cache.set', [key, value, options]);
      return { type: 'success', record: record_ };
    },
    delete(key) {
      const existing = cacheFor()[key];
      delete cacheFor()[key];
      (state.cacheWrites = state.cacheWrites || []).push({ action_id: spec.action_id, key, value: null, expires_at: 0 });
      record('cache.delete', [key]);
      return { type: 'success', record: existing };
    },
  };

  const setMetadata = (kind) => (name, value) => {
    if (typeof name !== 'string' || !name) throw new TypeError(`${kind} name must be a non-empty string`);
    const user = (state.event.user = state.event.user || {});
    const live = (user[kind] = user[kind] || {});
    if (value === null || value === undefined) delete live[name];
    else live[name] = value;
    out.user = out.user || {};
    out.user[kind] = out.user[kind] || {};
    out.user[kind][name] = value === undefined ? null : value;
  };
  const userApi = () => ({
    setAppMetadata: chain('user.setAppMetadata', setMetadata('app_metadata')),
    setUserMetadata: chain('user.setUserMetadata', setMetadata('user_metadata')),
  });
  const claims = (target) => chain(`${target}.setCustomClaim`, (name, value) => {
    if (RESERVED_CLAIMS.has(name)) return; // Auth0 drops these silently
    out[target] = out[target] || { claims: {} };
    out[target].claims = out[target].claims || {};
    out[target].claims[name] = value;
  });
  const scopes = (verb) => chain(`accessToken.${verb}`, (scope) => {
    out.accessToken = out.accessToken || { claims: {} };
    const key = verb === 'addScope' ? 'added_scopes' : 'removed_scopes';
    const other = verb === 'addScope' ? 'removed_scopes' : 'added_scopes';
    out.accessToken[key] = [...new Set([...(out.accessToken[key] || []), scope])];
    out.accessToken[other] = (out.accessToken[other] || []).filter((s) => s !== scope);
  });
  const redirectApi = () => ({
    sendUserTo: chain('redirect.sendUserTo', (url, options = {}) => {
      const target = new URL(url);
      for (const [k, v] of Object.entries(options.query || {})) target.searchParams.set(k, String(v));
      out.redirect = { url: target.toString() };
    }),
    encodeToken(options) {
      const now = Math.floor(Date.now() / 1000);
      const payload = {
        ...(options.payload || {}), iat: now, exp: now + (options.expiresInSeconds || 900),
        sub: (state.event.user || {}).user_id, iss: (state.event.request || {}).hostname,
      };
      record('redirect.encodeToken', []);
      return signHs256(payload, options.secret);
    },
    validateToken(options) {
      const param = options.tokenParameterName || 'session_token';
      const request = state.event.request || {};
      const token = (request.query || {})[param] || (request.body || {})[param];
      record('redirect.validateToken', [param]);
      return verifyHs256(token, options.secret);
    },
  });
  const authenticationApi = () => ({
    challengeWith: chain('authentication.challengeWith', (factor, options = {}) => {
      out.authentication = { ...(out.authentication || {}), challenge: { factors: [factor], ...options } };
    }),
    challengeWithAny: chain('authentication.challengeWithAny', (factors) => {
      out.authentication = { ...(out.authentication || {}), challenge: { factors } };
    }),
    enrollWith: chain('authentication.enrollWith', (factor, options = {}) => {
      out.authentication = { ...(out.authentication || {}), enroll: { factors: [factor], ...options } };
    }),
    enrollWithAny: chain('authentication.enrollWithAny', (factors) => {
      out.authentication = { ...(out.authentication || {}), enroll: { factors } };
    }),
    recordMethod: chain('authentication.recordMethod', (providerUrl) => {
      out.authentication = { ...(out.authentication || {}) };
      out.authentication.methods = [...(out.authentication.methods || []), providerUrl];
    }),
    setPrimaryUser: chain('authentication.setPrimaryUser', (userId) => {
      out.authentication = { ...(out.authentication || {}), primary_user: userId };
    }),
  });
  const notificationApi = () => ({
    drop: chain('notification.drop', (reason) => { out.notification = { action: 'drop', reason }; }),
    retry: chain('notification.retry', (reason) => { out.notification = { action: 'retry', reason }; }),
  });

  switch (trigger) {
    case 'post-login':
      api.access = { deny: chain('access.deny', (reason) => { out.denied = { reason }; }) };
      api.accessToken = { setCustomClaim: claims('accessToken'), addScope: scopes('addScope'), removeScope: scopes('removeScope') };
      api.idToken = { setCustomClaim: claims('idToken') };
      api.user = userApi();
      api.multifactor = {
        enable: chain('multifactor.enable', (provider, options = {}) => { out.multifactor = { provider, ...options }; }),
      };
      api.redirect = redirectApi();
      api.authentication = authenticationApi();
      api.samlResponse = {
        setAttribute: chain('samlResponse.setAttribute', (name, value) => {
          out.saml = out.saml || { attributes: {} };
          out.saml.attributes[name] = value;
        }),
      };
      api.session = {
        revoke: chain('session.revoke', (reason) => { out.session = { revoke: true, reason }; out.denied = { reason }; }),
      };
      break;
    case 'credentials-exchange':
      api.access = { deny: chain('access.deny', (code, reason) => { out.denied = { code, reason }; }) };
      api.accessToken = { setCustomClaim: claims('accessToken') };
      break;
    case 'pre-user-registration':
      api.access = { deny: chain('access.deny', (reason, userMessage) => { out.denied = { reason, user_message: userMessage }; }) };
      api.user = userApi();
      api.validation = {
        error: chain('validation.error', (code, message) => { out.denied = { code, reason: message, validation: true }; }),
      };
      break;
    case 'password-reset-post-challenge':
      api.access = { deny: chain('access.deny', (reason) => { out.denied = { reason }; }) };
      api.authentication = authenticationApi();
      api.redirect = redirectApi();
      break;
    case 'custom-email-provider':
    case 'custom-phone-provider':
      api.notification = notificationApi();
      break;
    default:
      break; // post-user-registration, post-change-password, send-phone-message: cache only
  }
  return api;
}

module.exports = { makeApi, handlerName, continueName, RESERVED_CLAIMS };

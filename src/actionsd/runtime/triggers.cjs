// The `api` object each trigger hands to action code, after Auth0's type definitions and
// test harness (auth0/auth0-actions): the same methods per trigger, the same argument checks
// and error messages, folded into the flow's outcome for the identity server.
//
// Contract with the runtime (this file runs in every action realm and in the protocol realm,
// so it is self-contained and requires only node: built-ins):
// - makeApi(trigger, state, action, spec, liveEvent?) builds one action's api.
//   state = {event, outcome, cache, cacheWrites}: everything the methods read and change.
//   Cross-action rules are read from state only (the primary user in outcome, the scope set
//   in outcome, metadata in state.event), so replaying an action's commands on a fresh api
//   over the same state reproduces its effect and its errors.
// - Every state-changing call pushes {name, args} on action.commands; calls that change no
//   state push {name, args, replay: false}. cache.set is recorded with its effective absolute
//   expiry (options {expires_at}) so that replaying it later gives the same record.
// - spec.handler names the running handler (onExecute… or onContinue…); recordMethod needs it.
// - liveEvent, when given, is the event object the running handler holds: the methods Auth0
//   documents as updating the event "in real time" update it as well as state.event.
'use strict';
const crypto = require('node:crypto');
const { Buffer } = require('node:buffer');

// ==== handlers ===============================================================================

const HANDLERS = {
  'post-login': ['onExecutePostLogin', 'onContinuePostLogin'],
  'credentials-exchange': ['onExecuteCredentialsExchange'],
  'pre-user-registration': ['onExecutePreUserRegistration', 'onContinuePreUserRegistration'],
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

// ==== limits (Auth0's harness constants) =====================================================

const LIMITS = {
  scopeLength: 280,
  scopeCount: 1000,
  userId: 128, // setPrimaryUser
  samlBytes: 102400,
  promptOptionsBytes: 24 * 1024,
  cacheKeyBytes: 64,
  cacheValueBytes: 4096,
  cacheTotalBytes: 16 * 1024 + 256,
  cacheDefaultTtlMs: 15 * 60 * 1000,
  tokenLifetimeSeconds: 15 * 60,
  metadataKeys: 25,
  metadataKeyLength: 255,
  metadataValueLength: 255,
  // Per execution of one action. Auth0 publishes no figure for its side-effect limit
  // (MaxSideEffectsExceeded); this one lets 1,000 scopes be added with room to spare.
  sideEffects: 2000,
  recordedReads: 2000, // reads past this still answer, they are just not recorded
};
const NO_REDIRECT_PROTOCOLS = ['oauth2-resource-owner', 'oauth2-refresh-token', 'oauth2-password', 'oauth2-webauthn'];

// ==== schema checks, reported as Auth0's codecs report them ==================================
// A schema is a small JSON-schema subset; errors come out in the order Auth0's compiled
// validators produce them and are formatted as its `validate` helper formats them:
// "<prefix>: <last path segment> <message>[, <message>]; …".

const str = (max, min, pattern) => ({ type: 'string', max, min, pattern });
const num = { type: 'number' };
const bool = { type: 'boolean' };
const oneOf = (...values) => ({ enum: values });
const obj = (properties, required = [], extra = {}) => ({ type: 'object', properties, required, ...extra });
const codePoints = (s) => [...s].length;
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

function check(schema, value, path, errors) {
  if (schema.enum) {
    if (!schema.enum.includes(value)) errors.push([path, 'must be equal to one of the allowed values']);
    return;
  }
  switch (schema.type) {
    case 'string':
      if (typeof value !== 'string') { errors.push([path, 'must be string']); return; }
      if (schema.max !== undefined && codePoints(value) > schema.max) errors.push([path, `must NOT have more than ${schema.max} characters`]);
      if (schema.min !== undefined && codePoints(value) < schema.min) errors.push([path, `must NOT have fewer than ${schema.min} characters`]);
      if (schema.pattern && !new RegExp(schema.pattern, 'u').test(value)) errors.push([path, `must match pattern "${schema.pattern}"`]);
      return;
    case 'number':
      if (!(typeof value === 'number' && Number.isFinite(value))) errors.push([path, 'must be number']);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') errors.push([path, 'must be boolean']);
      return;
    case 'array':
      if (!Array.isArray(value)) { errors.push([path, 'must be array']); return; }
      if (schema.maxItems !== undefined && value.length > schema.maxItems) errors.push([path, `must NOT have more than ${schema.maxItems} items`]);
      value.forEach((item, i) => check(schema.items, item, `${path}/${i}`, errors));
      return;
    case 'samlValue':
      checkSamlValue(value, path, errors);
      return;
    case 'object': {
      if (!isObject(value)) { errors.push([path, 'must be object']); return; }
      const keys = Object.keys(value);
      if (schema.maxProperties !== undefined && keys.length > schema.maxProperties) errors.push([path, `must NOT have more than ${schema.maxProperties} properties`]);
      for (const name of schema.required) {
        if (value[name] === undefined) errors.push([path, `must have required property '${name}'`]);
      }
      if (schema.closed) {
        for (const key of keys) if (!(key in schema.properties)) errors.push([path, 'must NOT have additional properties']);
      }
      if (schema.keyPattern) {
        for (const key of keys) if (!new RegExp(schema.keyPattern, 'u').test(key)) errors.push([path, 'must NOT have additional properties']);
      }
      for (const [name, sub] of Object.entries(schema.properties)) {
        if (value[name] !== undefined) check(sub, value[name], `${path}/${name}`, errors);
      }
      return;
    }
    default:
      return; // any value
  }
}

function checkSamlValue(value, path, errors) {
  const scalar = (v) => typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean';
  if (!scalar(value) && value !== null && !Array.isArray(value)) errors.push([path, 'must be string,number,boolean,null,array']);
  if (typeof value === 'string' && codePoints(value) > 2048) errors.push([path, 'must NOT have more than 2048 characters']);
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      if (!scalar(item)) errors.push([`${path}/${i}`, 'must be string,number,boolean']);
      if (typeof item === 'string' && codePoints(item) > 2048) errors.push([`${path}/${i}`, 'must NOT have more than 2048 characters']);
    });
  }
}

function validate(schema, value, prefix) {
  const errors = [];
  check(schema, value, '', errors);
  if (!errors.length) return;
  const byPath = new Map();
  for (const [path, message] of errors) {
    if (byPath.has(path)) byPath.set(path, `${byPath.get(path)}, ${message}`);
    else byPath.set(path, `${path.split('/').pop()} ${message}`);
  }
  throw new Error(`${prefix ? `${prefix}: ` : ''}${[...byPath.values()].join('; ')}`);
}

const closed = (properties, required = []) => obj(properties, required, { closed: true });
const promptOptions = closed({
  fields: { type: 'object', properties: {}, required: [], maxProperties: 24, keyPattern: '^[a-zA-Z_][a-zA-Z0-9_]{0,49}$' },
  vars: { type: 'object', properties: {}, required: [], maxProperties: 24 },
});
const SCHEMAS = {
  validationError: closed({ errorCode: str(100), errorMessage: str(100) }, ['errorCode', 'errorMessage']),
  renderPrompt: closed({ promptId: str(48), promptOptions }, ['promptId']),
  revokeRefreshToken: closed({ message: str(1024) }),
  revokeSession: closed({ message: str(), options: closed({ preserveRefreshTokens: bool }) }),
  cookieMode: closed({ mode: oneOf('persistent', 'non-persistent') }, ['mode']),
  expiration: closed({ absolute: num, inactivity: num }),
  samlAttribute: closed({ attribute: str(1024), value: { type: 'samlValue' } }, ['attribute', 'value']),
  samlConfiguration: closed({
    RelayState: str(512), audience: str(2048), authnContextClassRef: str(512), cert: str(4096),
    createUpnClaim: bool, destination: str(2048), digestAlgorithm: oneOf('sha256', 'sha1'),
    encryptionAlgorithm: oneOf('aes256-gcm', 'aes256-cbc'), encryptionCert: str(4096),
    encryptionPublicKey: str(4096), includeAttributeNameFormat: bool, issuer: str(512), key: str(4096),
    lifetimeInSeconds: num, mapIdentities: bool, mapUnknownClaimsAsIs: bool, nameIdentifierFormat: str(512),
    nameIdentifierProbes: { type: 'array', maxItems: 10, items: str(512) },
    passthroughClaimsWithNoMapping: bool, recipient: str(2048), signResponse: bool,
    signatureAlgorithm: oneOf('rsa-sha256', 'rsa-sha1'), signingCert: str(4096), typedAttributes: bool,
  }),
  setUserId: closed({ user_id: str(255, 1, '^[a-zA-Z0-9@._+-]{1,255}$') }, ['user_id']),
  cteDeny: closed({ code: str(1024, 1), reason: str(4096, 1) }, ['code', 'reason']),
  cteReject: closed({ reason: str(4096, 1) }, ['reason']),
  cteMetadata: closed({ key: str(), value: {} }, ['key']),
  cteOrganization: closed({ organization_id_or_name: str(50, 1) }, ['organization_id_or_name']),
  cteUserById: closed({ user_id: str(512, 1) }, ['user_id']),
  cteUserByConnection: obj({
    connection_name: str(512, 1),
    options: closed({
      creationBehavior: oneOf('create_if_not_exists', 'none'),
      updateBehavior: oneOf('replace', 'none'),
    }, ['creationBehavior', 'updateBehavior']),
    user_attributes: obj({
      email: str(), email_verified: bool, family_name: str(150, 1), given_name: str(150, 1),
      name: str(300, 1), nickname: str(300, 1), phone_number: str(), phone_verified: bool,
      picture: str(), user_id: str(255, 1), username: str(128, 1), verify_email: bool,
    }, ['user_id'], { maxProperties: 24 }),
  }, ['connection_name', 'user_attributes', 'options'], { closed: true }),
};

// ==== small helpers ==========================================================================

const clone = (value) => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)));
const section = (out, name) => (out[name] = isObject(out[name]) ? out[name] : {});

function addQuery(base, options) {
  const url = new URL(base);
  if (options && options.query) {
    for (const param in options.query) url.searchParams.set(param, options.query[param]);
  }
  return url.href;
}

function b64url(buf) {
  return Buffer.from(buf).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}

function signHs256(payload, secret) {
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(payload));
  const sig = b64url(crypto.createHmac('sha256', secret).update(`${header}.${body}`).digest());
  return `${header}.${body}.${sig}`;
}

// Why a session token is not acceptable, or null when it is.
function tokenProblem(token, secret, expected) {
  const parts = String(token).split('.');
  if (parts.length !== 3) return 'the token is malformed';
  let header;
  let payload;
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString());
    payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString());
  } catch (_) {
    return 'the token is malformed';
  }
  if (!header || header.alg !== 'HS256') return 'the token must be signed with HS256';
  const good = Buffer.from(b64url(crypto.createHmac('sha256', String(secret)).update(`${parts[0]}.${parts[1]}`).digest()));
  const given = Buffer.from(parts[2]);
  if (good.length !== given.length || !crypto.timingSafeEqual(good, given)) return 'invalid signature';
  if (!isObject(payload)) return 'the token payload must be an object';
  if (typeof payload.exp === 'number' && payload.exp * 1000 <= Date.now()) return 'the token has expired';
  if (payload.iss !== expected.issuer) return `unexpected "iss" claim value`;
  if (payload.sub !== expected.sub) return `unexpected "sub" claim value`;
  if (payload.state !== expected.state) return `unexpected "state" claim value`;
  return { payload };
}

// Auth0's session/refresh-token metadata rules, checked on the whole resulting object.
function metadataProblem(metadata) {
  const entries = Object.entries(metadata);
  if (entries.length > LIMITS.metadataKeys) return 'Metadata must not contain more than 25 entries';
  for (const [key, value] of entries) {
    if (key.length > LIMITS.metadataKeyLength) return 'All metadata keys must be at most 255 characters long';
    if (key.includes('\x00')) return 'Metadata keys must not contain null bytes (\x00)';
    if (!/^[a-zA-Z0-9_-]{1,255}$/.test(key)) return 'Metadata keys may only include letters, numbers, underscores, or hyphens';
    if (value.length > LIMITS.metadataValueLength) return 'All metadata values must be at most 255 characters long';
    if (value.includes('\x00')) return 'Metadata values must not contain null bytes (\x00)';
  }
  return null;
}

// The metadata after setting key to value (null deletes), or null when nothing changes.
function withMetadataKey(current, key, value) {
  const metadata = { ...current };
  if (value === null) {
    if (!(key in metadata)) return null;
    delete metadata[key];
    return metadata;
  }
  if (typeof value !== 'string') throw new Error('Invalid metadata: Metadata value must be a string');
  metadata[key] = value;
  const problem = metadataProblem(metadata);
  if (problem) throw new Error(`Invalid metadata: ${problem}`);
  return metadata;
}

function validScope(scope) {
  if (typeof scope !== 'string') throw new TypeError('The value for the scope must be a string.');
  const trimmed = scope.trim();
  if (trimmed.length === 0) throw new Error('The value for the scope is required.');
  if (trimmed.length > LIMITS.scopeLength) throw new Error(`The value for the scope exceeds the allowed maximum of ${LIMITS.scopeLength} characters.`);
  if (/\s/.test(trimmed)) throw new Error('The value for the scope must not have whitespace.');
  return trimmed;
}
const tooManyScopes = () => new Error(`The number of scopes exceeds the allowed maximum of ${LIMITS.scopeCount}.`);

// The methods that only read: recorded (replay: false) but never replayed. A command list
// may mark no other method so, or its record could claim calls that never applied.
const READS = new Set([
  'cache.get', 'groups.getUserGroups', 'groups.hasGroupMembership', 'redirect.canRedirect',
  'redirect.encodeToken', 'redirect.validateToken', 'roles.getUserEffectiveRoles',
  'roles.getUserEffectiveRolesByIds', 'roles.getUserEffectiveRolesByNames', 'rules.wasExecuted',
]);

// ==== makeApi ================================================================================

function makeApi(trigger, state, action, spec, liveEvent) {
  spec = spec || {};
  const out = state.outcome;
  const event = () => (state.event = isObject(state.event) ? state.event : {});
  const live = isObject(liveEvent) ? liveEvent : null;
  let api = null; // made once the trigger's namespaces are known, below
  const builders = {};
  const ns = (name, build) => { builders[name] = build; };
  const perAction = { redirected: false, rendered: false };

  // Trailing undefined arguments are dropped: JSON would turn them into null, which some
  // methods treat differently on replay.
  const argsOf = (args) => {
    const list = [...args];
    while (list.length && list[list.length - 1] === undefined) list.pop();
    return clone(list);
  };
  // The counters live in this closure: nothing the action holds can reach or reset them,
  // and replaying a report on a fresh api counts again from zero.
  let sideEffects = 0;
  let reads = 0;
  const exhausted = () => sideEffects >= LIMITS.sideEffects;
  const spend = () => {
    if (exhausted()) {
      throw new Error(`MaxSideEffectsExceeded: an action may make at most ${LIMITS.sideEffects} api calls that change the transaction.`);
    }
  };
  const record = (name, args) => {
    sideEffects++;
    action.commands.push({ name, args: argsOf(args) });
  };
  const read = (name, args) => {
    if (!READS.has(name)) throw new Error(`${name} is not a read-only method`);
    if (reads >= LIMITS.recordedReads) return;
    reads++;
    action.commands.push({ name, args: argsOf(args), replay: false });
  };
  // A state-changing method: runs fn (which throws on bad arguments), then records the call.
  const command = (name, fn, returnsApi) => (...args) => {
    spend();
    const result = fn(...args);
    record(name, args);
    return returnsApi ? api : result;
  };
  // Writes that Auth0 makes visible in the event at once, for later actions and this one.
  const setInEvent = (path, value) => {
    for (const target of live ? [event(), live] : [event()]) {
      let node = target;
      for (const key of path.slice(0, -1)) node = node[key] = isObject(node[key]) ? node[key] : {};
      node[path[path.length - 1]] = clone(value);
    }
  };

  // ---- api.cache: per action, best effort; kept by the server between executions ---------
  const cacheFor = () => {
    state.cache = state.cache || {};
    return (state.cache[spec.action_id] = state.cache[spec.action_id] || {});
  };
  const cacheWrite = (key, value, expiresAt) => {
    (state.cacheWrites = state.cacheWrites || []).push({ action_id: spec.action_id, key, value, expires_at: expiresAt });
  };
  ns('cache', () => ({
    get(key) {
      read('cache.get', [key]);
      const entry = cacheFor()[key];
      if (!entry || entry.expires_at < Date.now()) return undefined;
      return { value: entry.value, expires_at: entry.expires_at };
    },
    set(key, value, options) {
      const entries = cacheFor();
      const keyBytes = Buffer.byteLength(key, 'utf-8');
      const valueBytes = Buffer.byteLength(value, 'utf-8');
      if (keyBytes > LIMITS.cacheKeyBytes) return { type: 'error', code: 'CacheKeySizeExceeded' };
      if (valueBytes > LIMITS.cacheValueBytes) return { type: 'error', code: 'CacheValueSizeExceeded' };
      const used = Buffer.byteLength(Object.keys(entries).join('') + Object.values(entries).map((e) => e.value).join(''), 'utf-8');
      if (used + keyBytes + valueBytes > LIMITS.cacheTotalBytes) return { type: 'error', code: 'CacheSizeExceeded' };
      const now = Date.now();
      const finite = (n) => typeof n === 'number' && Number.isFinite(n);
      let expiresAt;
      if (options && options.ttl !== undefined) {
        if (!finite(options.ttl)) return { type: 'error', code: 'InvalidExpiry' };
        expiresAt = now + Math.floor(options.ttl);
      }
      if (options && options.expires_at !== undefined) {
        if (!finite(options.expires_at)) return { type: 'error', code: 'InvalidExpiry' };
        const absolute = Math.floor(options.expires_at);
        expiresAt = expiresAt === undefined ? absolute : Math.min(expiresAt, absolute);
      }
      if (expiresAt === undefined) expiresAt = now + LIMITS.cacheDefaultTtlMs;
      if (expiresAt <= now) return { type: 'error', code: 'ItemAlreadyExpired' };
      if (!Number.isSafeInteger(expiresAt)) return { type: 'error', code: 'InvalidExpiry' };
      // As Auth0's cache: the write is refused, not thrown, once no side effect is left.
      if (exhausted()) return { type: 'error', code: 'MaxSideEffectsExceeded' };
      entries[key] = { value, expires_at: expiresAt };
      cacheWrite(key, value, expiresAt);
      record('cache.set', [key, value, { expires_at: expiresAt }]);
      return { type: 'success', record: { value, expires_at: expiresAt } };
    },
    delete(key) {
      const entries = cacheFor();
      if (!Object.prototype.hasOwnProperty.call(entries, key)) return { type: 'error', code: 'CacheKeyDoesNotExist' };
      if (exhausted()) return { type: 'error', code: 'MaxSideEffectsExceeded' };
      delete entries[key];
      cacheWrite(key, null, 0);
      record('cache.delete', [key]);
      return { type: 'success' };
    },
  }));

  // ---- user metadata: merged by key (null deletes), later actions see it in event.user ---
  const setMetadata = (kind, guard) => (key, value) => {
    if (guard && !isObject(event().user && event().user[kind])) {
      throw new Error(kind === 'app_metadata'
        ? 'Unexpected app_metadata format. Must be a valid JSON object'
        : 'Unexpected user_metadata format. Must be a valid JSON object.');
    }
    const user = (event().user = isObject(event().user) ? event().user : {});
    const current = (user[kind] = isObject(user[kind]) ? user[kind] : {});
    if (value === null || value === undefined) delete current[key];
    else current[key] = clone(value);
    const merged = section(section(out, 'user'), kind);
    merged[key] = value === undefined ? null : clone(value);
  };

  // ---- custom claims: the later call wins; Auth0 refuses only `scope` on login tokens ----
  const claims = (target, refuseScope) => (key, value) => {
    if (refuseScope && key === 'scope') throw new Error('The "scope" claim cannot be set.');
    section(section(out, target), 'claims')[key] = clone(value);
  };

  // ---- access-token scopes: accumulated; at most 1,000 added over the whole flow --------
  const modifyScope = (op) => (scope) => {
    const trimmed = validScope(scope);
    const token = section(out, 'accessToken');
    const added = new Set(token.added_scopes || []);
    const removed = new Set(token.removed_scopes || []);
    if (op === 'add') { added.add(trimmed); removed.delete(trimmed); } else { removed.add(trimmed); added.delete(trimmed); }
    if (added.size > LIMITS.scopeCount) throw tooManyScopes();
    token.added_scopes = [...added];
    token.removed_scopes = [...removed];
  };

  // ---- transaction target scopes: the resulting set, visible in event.transaction -------
  const targetScopes = (initial) => {
    const current = () => {
      const tx = out.transaction;
      if (tx && Array.isArray(tx.target_scopes)) return tx.target_scopes;
      return [...new Set(initial())];
    };
    const store = (scopes) => {
      section(out, 'transaction').target_scopes = scopes;
      setInEvent(['transaction', 'target_scopes'], scopes);
    };
    return {
      addTargetScope: command('transaction.addTargetScope', (scope) => {
        const trimmed = validScope(scope);
        const set = new Set(current());
        if (!set.has(trimmed) && set.size >= LIMITS.scopeCount) throw tooManyScopes();
        set.add(trimmed);
        store([...set]);
      }),
      removeTargetScope: command('transaction.removeTargetScope', (scope) => {
        const trimmed = validScope(scope);
        store(current().filter((s) => s !== trimmed));
      }),
      setTargetScopes: command('transaction.setTargetScopes', (scopes) => {
        if (!Array.isArray(scopes)) throw new TypeError('The value for scopes must be an array.');
        for (const scope of scopes) validScope(scope);
        const unique = [...new Set(scopes.map((s) => s.trim()))];
        if (unique.length > LIMITS.scopeCount) throw tooManyScopes();
        store(unique);
      }),
      clearTargetScopes: command('transaction.clearTargetScopes', () => store([])),
    };
  };

  // ---- transaction metadata: shared by later actions in event.transaction.metadata ------
  const setTransactionMetadata = command('transaction.setMetadata', (key, value) => {
    if (typeof key !== 'string' || key.length === 0) throw new Error('The transaction metadata key must be a non-empty string.');
    if (value !== null && !['string', 'number', 'boolean'].includes(typeof value)) {
      throw new Error('The transaction metadata value must be a string, number, boolean or null.');
    }
    const tx = isObject(event().transaction) ? event().transaction : {};
    const metadata = isObject(tx.metadata) ? { ...tx.metadata } : {};
    if (value === null) delete metadata[key];
    else metadata[key] = value;
    section(out, 'transaction').metadata = metadata;
    setInEvent(['transaction', 'metadata'], metadata);
  });

  // ---- redirect and prompt: the flow suspends after the action; onContinue… resumes it ---
  const redirectApi = (withCanRedirect, returnsApi) => {
    const redirect = {
      encodeToken(options) {
        const request = event().request || {};
        const now = Math.floor(Date.now() / 1000);
        if (!options || typeof options.secret !== 'string' || !options.secret) {
          throw new Error('A secret is required to encode a session token.');
        }
        const payload = {
          iat: now, iss: request.hostname, sub: (event().user || {}).user_id,
          exp: now + (options.expiresInSeconds ?? LIMITS.tokenLifetimeSeconds), ip: request.ip,
          ...options.payload,
        };
        read('redirect.encodeToken', [{ payload: options.payload, expiresInSeconds: options.expiresInSeconds }]);
        return signHs256(payload, options.secret);
      },
      sendUserTo: (url, options) => {
        if (perAction.rendered) throw new Error('Redirect and render commands cannot be used in the same action.');
        spend();
        const href = addQuery(url, options);
        perAction.redirected = true;
        out.redirect = { url: href };
        record('redirect.sendUserTo', [url, options]);
        return returnsApi ? api : undefined;
      },
      validateToken(options) {
        const name = (options && options.tokenParameterName) || 'session_token';
        const request = event().request || {};
        const params = { ...(request.query || {}), ...(request.body || {}) };
        const token = params[name];
        read('redirect.validateToken', [{ tokenParameterName: name }]);
        if (!token) throw new Error(`There is no parameter called '${name}' available in either the POST body or query string.`);
        const verdict = tokenProblem(token, options.secret, {
          issuer: request.hostname, sub: (event().user || {}).user_id, state: params.state,
        });
        if (typeof verdict === 'string') throw new Error(`The session token is invalid: ${verdict}`);
        return verdict.payload;
      },
    };
    if (withCanRedirect) {
      redirect.canRedirect = () => {
        read('redirect.canRedirect', []);
        const query = (event().request || {}).query || {};
        if (query.prompt === 'none') return false;
        return !NO_REDIRECT_PROTOCOLS.includes((event().transaction && event().transaction.protocol) || 'unknown-protocol');
      };
    }
    return redirect;
  };
  const promptApi = () => ({
    render: (promptId, promptOptions) => {
      if (perAction.redirected) throw new Error('Redirect and render commands cannot be used in the same action.');
      if (perAction.rendered) throw new Error('Only 1 render command per action is allowed.');
      const options = promptOptions || {};
      validate(SCHEMAS.renderPrompt, { promptId, promptOptions: options });
      if (Buffer.byteLength(JSON.stringify(options), 'utf-8') > LIMITS.promptOptionsBytes) {
        throw new Error(`The total size of the prompt options exceeds the limit of ${LIMITS.promptOptionsBytes} bytes.`);
      }
      spend();
      perAction.rendered = true;
      out.redirect = { prompt: { id: promptId, fields: clone(options.fields) || {}, vars: clone(options.vars) || {} } };
      record('prompt.render', [promptId, promptOptions]);
    },
  });

  // ---- access ----------------------------------------------------------------------------
  const deny = (build) => (...args) => { out.denied = build(...args); };

  // ---- authentication (MFA, linking): the later call wins, methods accumulate -----------
  const authentication = (full) => {
    const auth = () => section(out, 'authentication');
    const methods = {
      challengeWith: command('authentication.challengeWith', (factor, options) => {
        auth().challenge = { factors: [clone(factor)], ...clone(options || {}) };
      }),
      challengeWithAny: command('authentication.challengeWithAny', (factors) => {
        auth().challenge = { factors: clone(factors) };
      }),
    };
    if (!full) return methods;
    return {
      ...methods,
      enrollWith: command('authentication.enrollWith', (factor, options) => {
        auth().enroll = { factors: [clone(factor)], ...clone(options || {}) };
      }),
      enrollWithAny: command('authentication.enrollWithAny', (factors) => {
        auth().enroll = { factors: clone(factors) };
      }),
      recordMethod: command('authentication.recordMethod', (providerUrl) => {
        if (spec.handler !== continueName(trigger)) {
          throw new Error('api.authentication.recordMethod() may only be called in onContinuePostLogin.');
        }
        let url;
        try { url = new URL(providerUrl); } catch (_) { url = null; }
        if (!url || !['http:', 'https:'].includes(url.protocol)) {
          throw new Error('The provider_url must be an http: or https: URL.');
        }
        auth().methods = [...(auth().methods || []), providerUrl];
      }, true),
      setPrimaryUser: command('authentication.setPrimaryUser', (primaryUserId) => {
        if (out.authentication && out.authentication.primary_user !== undefined) {
          throw new Error('The primary user can only be altered once per transaction');
        }
        if (typeof primaryUserId !== 'string' || primaryUserId.length === 0) {
          throw new Error('The provided primary_user_id must be a non-empty string');
        }
        if (primaryUserId.length > LIMITS.userId) throw new Error('The provided primary_user_id exceeds the maximum length.');
        auth().primary_user = primaryUserId;
      }),
    };
  };

  // ---- SAML response: attributes and settings, the later call wins -----------------------
  const samlApi = () => {
    const saml = () => section(out, 'saml');
    const setting = (method, key) => command(`samlResponse.${method}`, (value) => {
      const config = { [key]: value };
      validate(SCHEMAS.samlConfiguration, config);
      section(saml(), 'config')[key] = clone(value);
    }, true);
    const samlResponse = {
      setAttribute: command('samlResponse.setAttribute', (attribute, value) => {
        value = value === undefined ? null : value;
        const attributes = { ...((out.saml && out.saml.attributes) || {}), [attribute]: value };
        if (Buffer.byteLength(JSON.stringify(attributes)) > LIMITS.samlBytes) {
          throw new Error(`The total size of the SAML attributes exceeds the limit of ${LIMITS.samlBytes} bytes.`);
        }
        validate(SCHEMAS.samlAttribute, { attribute, value });
        section(saml(), 'attributes')[attribute] = clone(value);
      }, true),
    };
    const settings = {
      setAudience: 'audience', setRecipient: 'recipient', setCreateUpnClaim: 'createUpnClaim',
      setPassthroughClaimsWithNoMapping: 'passthroughClaimsWithNoMapping', setMapUnknownClaimsAsIs: 'mapUnknownClaimsAsIs',
      setMapIdentities: 'mapIdentities', setSignatureAlgorithm: 'signatureAlgorithm', setDigestAlgorithm: 'digestAlgorithm',
      setDestination: 'destination', setLifetimeInSeconds: 'lifetimeInSeconds', setSignResponse: 'signResponse',
      setNameIdentifierFormat: 'nameIdentifierFormat', setNameIdentifierProbes: 'nameIdentifierProbes',
      setAuthnContextClassRef: 'authnContextClassRef', setSigningCert: 'signingCert',
      setIncludeAttributeNameFormat: 'includeAttributeNameFormat', setTypedAttributes: 'typedAttributes',
      setEncryptionCert: 'encryptionCert', setEncryptionPublicKey: 'encryptionPublicKey', setCert: 'cert', setKey: 'key',
      setRelayState: 'RelayState', setIssuer: 'issuer', setEncryptionAlgorithm: 'encryptionAlgorithm',
    };
    for (const [method, key] of Object.entries(settings)) samlResponse[method] = setting(method, key);
    const nameIdFormat = samlResponse.setNameIdentifierFormat;
    samlResponse.setNameIdentifierFormat = (format = 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified') => nameIdFormat(format);
    return samlResponse;
  };

  // ---- session and refresh token: earliest expiry wins, metadata replaced as a whole -----
  const expiry = (target, prefix) => {
    const earliest = (field, value) => {
      const node = section(out, target);
      node[field] = node[field] === undefined ? value : Math.min(node[field], value);
    };
    return {
      setExpiresAt: command(`${prefix}.setExpiresAt`, (absolute) => {
        if (target === 'refresh_token') onlineGuard('setExpiresAt');
        if (!absolute) throw new Error('Either inactivity or absolute expiration time must be provided');
        validate(SCHEMAS.expiration, { absolute });
        earliest('expires_at', absolute);
      }),
      setIdleExpiresAt: command(`${prefix}.setIdleExpiresAt`, (inactivity) => {
        if (target === 'refresh_token') onlineGuard('setIdleExpiresAt');
        if (!inactivity) throw new Error('Either inactivity or absolute expiration time must be provided');
        validate(SCHEMAS.expiration, { inactivity });
        earliest('idle_expires_at', inactivity);
      }),
    };
  };
  const onlineGuard = (method) => {
    if (event().refresh_token && event().refresh_token.access === 'online') {
      throw new Error(`Cannot call ${method} on an online refresh token.`);
    }
  };
  const sessionApi = () => {
    const session = () => (isObject(event().session) ? event().session : null);
    const storeMetadata = (metadata) => {
      section(out, 'session').metadata = clone(metadata);
      setInEvent(['session', 'metadata'], metadata);
    };
    return {
      revoke: command('session.revoke', (reason, options) => {
        validate(SCHEMAS.revokeSession, { message: reason, options });
        section(out, 'session').revoke = { reason, preserveRefreshTokens: !!(options && options.preserveRefreshTokens) };
        out.denied = { reason };
      }),
      ...expiry('session', 'session'),
      setCookieMode: command('session.setCookieMode', (mode) => {
        if (!mode) throw new Error('Cookie mode must be provided');
        if (!['persistent', 'non-persistent'].includes(mode)) {
          throw new Error(`Invalid cookie mode: ${mode}. Valid values are 'persistent' and 'non-persistent'.`);
        }
        validate(SCHEMAS.cookieMode, { mode });
        section(out, 'session').cookie_mode = mode;
        const current = session();
        if (current && Object.keys(current).length > 0) setInEvent(['session', 'cookie'], { ...(current.cookie || {}), mode });
      }),
      setMetadata: command('session.setMetadata', (key, value) => {
        try {
          const current = session();
          if (!current) throw new Error('Cannot set metadata on a session that does not exist.');
          if (typeof key !== 'string') throw new Error('Invalid metadata: Metadata key must be a string');
          const metadata = withMetadataKey(isObject(current.metadata) ? current.metadata : {}, key, value);
          if (metadata) storeMetadata(metadata);
        } catch (e) {
          throw new Error(`Failed to set session metadata: ${e instanceof Error ? e.message : String(e)}`);
        }
      }),
      deleteMetadata: command('session.deleteMetadata', (key) => {
        const current = session();
        if (!current || !isObject(current.metadata) || !(key in current.metadata)) return;
        const metadata = { ...current.metadata };
        delete metadata[key];
        storeMetadata(metadata);
      }),
      evictMetadata: command('session.evictMetadata', () => {
        if (!session()) return;
        storeMetadata({});
      }),
    };
  };
  const refreshTokenApi = () => {
    // Metadata may be set before a refresh token exists; it then lives in the outcome only.
    const currentMetadata = () => {
      if (out.refresh_token && isObject(out.refresh_token.metadata)) return { ...out.refresh_token.metadata };
      const token = event().refresh_token;
      return token && isObject(token.metadata) ? { ...token.metadata } : {};
    };
    const storeMetadata = (metadata) => {
      section(out, 'refresh_token').metadata = clone(metadata);
      if (isObject(event().refresh_token)) setInEvent(['refresh_token', 'metadata'], metadata);
    };
    return {
      revoke: command('refreshToken.revoke', (reason) => {
        validate(SCHEMAS.revokeRefreshToken, { message: reason });
        section(out, 'refresh_token').revoke = { reason };
        out.denied = { reason };
      }),
      ...expiry('refresh_token', 'refreshToken'),
      setMetadata: command('refreshToken.setMetadata', (key, value) => {
        try {
          onlineGuard('setMetadata');
          if (typeof key !== 'string') throw new Error('Invalid metadata: Metadata key must be a string');
          const metadata = withMetadataKey(currentMetadata(), key, value);
          if (metadata) storeMetadata(metadata);
        } catch (e) {
          throw new Error(`Failed to set refresh token metadata: ${e instanceof Error ? e.message : String(e)}`);
        }
      }),
      deleteMetadata: command('refreshToken.deleteMetadata', (key) => {
        onlineGuard('deleteMetadata');
        const metadata = currentMetadata();
        if (!(key in metadata)) return;
        delete metadata[key];
        storeMetadata(metadata);
      }),
      evictMetadata: command('refreshToken.evictMetadata', () => {
        onlineGuard('evictMetadata');
        if (Object.keys(currentMetadata()).length === 0) return;
        storeMetadata({});
      }),
    };
  };

  // ---- roles and groups: answered from the event, the only tenant data actionsd has -----
  const pageOf = (items, from, take) => {
    const start = from ? Number.parseInt(from, 10) || 0 : 0;
    const size = take || 100;
    const page = items.slice(start, start + size);
    return start + size < items.length ? { page, next: String(start + size) } : { page };
  };
  const paging = ({ from, take } = {}) => {
    if (from !== undefined && typeof from !== 'string') throw new Error('The "from" parameter must be a string if provided.');
    if (take !== undefined && (typeof take !== 'number' || !Number.isInteger(take) || take <= 0)) {
      throw new Error('The "take" parameter must be a positive integer if provided.');
    }
    return { from, take };
  };
  const nonEmpty = (name, list) => {
    if (!list || !Array.isArray(list) || !list.length) throw new Error(`The "${name}" parameter must be a non-empty array of strings.`);
  };
  const roleNames = () => {
    const authorization = event().authorization;
    return authorization && Array.isArray(authorization.roles) ? authorization.roles.filter((r) => typeof r === 'string') : [];
  };
  const rolesApi = () => ({
    async getUserEffectiveRoles(params) {
      const { from, take } = paging(params);
      read('roles.getUserEffectiveRoles', [params]);
      const { page, next } = pageOf(roleNames().map((name) => ({ name })), from, take);
      return next ? { roles: page, next } : { roles: page };
    },
    async getUserEffectiveRolesByIds(ids) {
      nonEmpty('ids', ids);
      read('roles.getUserEffectiveRolesByIds', [ids]);
      return { roles: [] }; // the event carries role names only, never ids
    },
    async getUserEffectiveRolesByNames(names) {
      nonEmpty('names', names);
      read('roles.getUserEffectiveRolesByNames', [names]);
      return { roles: roleNames().filter((name) => names.includes(name)).map((name) => ({ name })) };
    },
  });
  const groupsApi = () => ({
    async getUserGroups(params) {
      paging(params);
      read('groups.getUserGroups', [params]);
      return { groups: [] }; // no event field or setting carries group memberships
    },
    async hasGroupMembership(groups) {
      nonEmpty('groups', groups);
      read('groups.hasGroupMembership', [groups]);
      return { memberships: {} };
    },
  });

  // ---- notification (custom email/phone providers): the later call wins -----------------
  const notificationApi = () => ({
    drop: command('notification.drop', (reason) => { out.notification = { action: 'drop', reason }; }),
    retry: command('notification.retry', (reason) => { out.notification = { action: 'retry', reason }; }),
  });

  // ==== per trigger =========================================================================
  switch (trigger) {
    case 'post-login': {
      ns('access', () => ({ deny: command('access.deny', deny((reason) => ({ reason })), true) }));
      ns('accessToken', () => ({
        setCustomClaim: command('accessToken.setCustomClaim', claims('accessToken', true), true),
        addScope: command('accessToken.addScope', modifyScope('add')),
        removeScope: command('accessToken.removeScope', modifyScope('remove')),
      }));
      ns('authentication', () => authentication(true));
      ns('groups', () => groupsApi());
      ns('roles', () => rolesApi());
      ns('idToken', () => ({ setCustomClaim: command('idToken.setCustomClaim', claims('idToken', true), true) }));
      ns('multifactor', () => ({
        enable: command('multifactor.enable', (provider, options) => {
          out.multifactor = { provider };
          if (options && options.allowRememberBrowser !== undefined) out.multifactor.allowRememberBrowser = options.allowRememberBrowser;
          if (options && options.providerOptions !== undefined) out.multifactor.providerOptions = clone(options.providerOptions);
        }, true),
      }));
      ns('prompt', () => promptApi());
      ns('refreshToken', () => refreshTokenApi());
      ns('session', () => sessionApi());
      ns('redirect', () => redirectApi(true, true));
      ns('samlResponse', () => samlApi());
      ns('user', () => ({
        setAppMetadata: command('user.setAppMetadata', setMetadata('app_metadata', true), true),
        setUserMetadata: command('user.setUserMetadata', setMetadata('user_metadata', true), true),
      }));
      ns('validation', () => ({
        error: command('validation.error', (errorCode, errorMessage) => {
          validate(SCHEMAS.validationError, { errorCode, errorMessage });
          out.denied = { code: errorCode, reason: errorMessage, validation: true };
        }, true),
      }));
      ns('rules', () => ({
        wasExecuted(ruleId) {
          read('rules.wasExecuted', [ruleId]);
          return false; // actionsd runs no Rules
        },
      }));
      ns('transaction', () => ({
        setMetadata: setTransactionMetadata,
        ...targetScopes(() => ((event().transaction || {}).target_scopes || [])),
      }));
      break;
    }
    case 'credentials-exchange':
      ns('access', () => ({ deny: command('access.deny', deny((code, reason) => ({ code, reason })), true) }));
      ns('accessToken', () => ({ setCustomClaim: command('accessToken.setCustomClaim', claims('accessToken', false), true) }));
      ns('transaction', () => targetScopes(() => ((event().accessToken || {}).scope || [])));
      break;
    case 'pre-user-registration':
      ns('access', () => ({ deny: command('access.deny', deny((reason, userMessage) => ({ reason, user_message: userMessage })), true) }));
      ns('user', () => ({
        setAppMetadata: command('user.setAppMetadata', setMetadata('app_metadata', false), true),
        setUserMetadata: command('user.setUserMetadata', setMetadata('user_metadata', false), true),
        setUserId: command('user.setUserId', (userId) => {
          validate(SCHEMAS.setUserId, { user_id: userId }, 'Invalid setUserId arguments');
          section(out, 'user').user_id = userId;
        }, true),
      }));
      ns('validation', () => ({
        error: command('validation.error', (errorCode, errorMessage) => {
          validate(SCHEMAS.validationError, { errorCode, errorMessage }, 'Failed to add validation error');
          out.denied = { code: errorCode, reason: errorMessage, validation: true };
        }, true),
      }));
      break;
    case 'password-reset-post-challenge':
      ns('access', () => ({ deny: command('access.deny', deny((reason) => ({ reason }))) }));
      ns('authentication', () => authentication(false));
      ns('prompt', () => promptApi());
      ns('redirect', () => redirectApi(false, false));
      ns('transaction', () => ({
        setResultUrl: command('transaction.setResultUrl', (url, options) => {
          section(out, 'transaction').result_url = addQuery(url, options);
        }),
      }));
      break;
    case 'custom-token-exchange': {
      const auth = () => section(out, 'authentication');
      ns('access', () => ({
        deny: command('access.deny', (code, reason) => {
          validate(SCHEMAS.cteDeny, { code, reason }, 'Invalid deny arguments');
          out.denied = { code, reason };
        }),
        rejectInvalidSubjectToken: command('access.rejectInvalidSubjectToken', (reason) => {
          validate(SCHEMAS.cteReject, { reason }, 'Invalid rejectInvalidSubjectToken arguments');
          out.denied = { code: 'invalid_request', reason, invalid_subject_token: true };
        }),
      }));
      ns('authentication', () => ({
        setUserById: command('authentication.setUserById', (userId) => {
          validate(SCHEMAS.cteUserById, { user_id: userId }, 'Invalid setUserById arguments');
          auth().user = { user_id: userId };
        }),
        setUserByConnection: command('authentication.setUserByConnection', (connectionName, userAttributes, options) => {
          validate(SCHEMAS.cteUserByConnection, { connection_name: connectionName, user_attributes: userAttributes, options }, 'Invalid setUserByConnection arguments');
          auth().user = { connection_name: connectionName, user_attributes: clone(userAttributes), options: clone(options) };
        }),
        setOrganization: command('authentication.setOrganization', (organization) => {
          validate(SCHEMAS.cteOrganization, { organization_id_or_name: organization }, 'Invalid setOrganization arguments');
          auth().organization = organization;
        }),
        setActor: command('authentication.setActor', (actor) => {
          validateActor(actor);
          auth().actor = clone(actor);
        }),
      }));
      const cteMetadata = (kind, method) => command(`user.${method}`, (key, value) => {
        validate(SCHEMAS.cteMetadata, { key, value }, `Invalid ${method} arguments`);
        section(section(out, 'user'), kind)[key] = value === undefined ? null : clone(value);
      });
      ns('user', () => ({
        setAppMetadata: cteMetadata('app_metadata', 'setAppMetadata'),
        setUserMetadata: cteMetadata('user_metadata', 'setUserMetadata'),
      }));
      ns('transaction', () => ({ setMetadata: setTransactionMetadata }));
      break;
    }
    case 'custom-email-provider':
    case 'custom-phone-provider':
      ns('notification', () => notificationApi());
      break;
    default:
      // post-user-registration, post-change-password, send-phone-message, event-stream,
      // password-hash-migration, mcp-tool: the cache only.
      break;
  }
  api = Object.create(namespaceProto(trigger, builders));
  Object.defineProperty(api, BUILDERS, { value: builders });
  return api;
}

// An api's namespaces are built when the action first touches them (most actions use one
// or two) through getters on a prototype shared by every api with the same namespaces, so
// that making an api allocates next to nothing.
const BUILDERS = Symbol('namespaces');
const protos = new Map();
function namespaceProto(trigger, builders) {
  let proto = protos.get(trigger);
  if (proto) return proto;
  proto = {};
  for (const name of Object.keys(builders)) {
    Object.defineProperty(proto, name, {
      enumerable: true,
      get() {
        // `this` may be an object made from the api (Object.create(api)): build on the api.
        let api = this;
        while (api !== null && !Object.hasOwn(api, BUILDERS)) api = Object.getPrototypeOf(api);
        if (api === null) return undefined;
        if (Object.hasOwn(api, name)) return api[name];
        const value = api[BUILDERS][name]();
        Object.defineProperty(api, name, { value, enumerable: true, writable: true, configurable: true });
        return value;
      },
    });
  }
  protos.set(trigger, Object.freeze(proto));
  return proto;
}

// The namespace names of an api, own (touched) or not yet built.
const namespaces = (api) => Object.keys(Object.getPrototypeOf(api));

// Custom token exchange: the actor of a delegated session (at most five levels).
function validateActor(actor) {
  const level = (source) => {
    if (typeof source.sub !== 'string' || source.sub.length === 0) throw new Error('The actor object must contain a sub claim.');
    if (source.sub.length > 512) throw new Error('Invalid setActor arguments: sub must NOT have more than 512 characters');
    const custom = Object.keys(source).filter((k) => !['sub', 'act', 'type'].includes(k));
    if (custom.length > 5) throw new Error('No more than 5 custom properties are allowed in the actor object.');
    for (const key of custom) {
      const value = source[key];
      if (!['string', 'number', 'boolean'].includes(typeof value)) {
        throw new Error('Custom property in an actor object must be a string, number, or boolean.');
      }
      if (key.length > 64) throw new Error('Custom property key in an actor object must NOT have more than 64 characters.');
      if (typeof value === 'string' && value.length > 64) {
        throw new Error('Custom string property value in an actor object must NOT have more than 64 characters.');
      }
    }
  };
  if (!isObject(actor)) throw new Error('The actor must be a plain object.');
  level(actor);
  let source = actor;
  for (let depth = 2; depth <= 5; depth++) {
    if (source.act === undefined) return;
    if (!isObject(source.act)) throw new Error('The act claim must be a plain object.');
    level(source.act);
    source = source.act;
  }
  if (source.act !== undefined) throw new Error('Actor nesting must not exceed 5 levels.');
}

// ==== the methods of each trigger's api, for the coverage table =============================

function methods(trigger) {
  const api = makeApi(trigger, { event: {}, outcome: {}, cache: {} }, { commands: [] }, {});
  const names = [];
  const walk = (node, prefix) => {
    for (const [key, value] of Object.entries(node)) {
      if (typeof value === 'function') names.push(`${prefix}${key}`);
      else if (isObject(value)) walk(value, `${prefix}${key}.`);
    }
  };
  for (const name of namespaces(api)) walk({ [name]: api[name] }, '');
  return names.sort();
}

module.exports = { makeApi, namespaces, READS, handlerName, continueName, methods, TRIGGERS: Object.keys(HANDLERS), LIMITS };

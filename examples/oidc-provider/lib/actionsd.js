// The provider's only link to actionsd: a client-credentials token with the
// `execute:actions` scope (seed.js asks for management scopes instead), then
// `POST /actionsd/v1/triggers/post-login/execute` to run the flow and
// `POST /actionsd/v1/executions/{id}/continue` to resume it after a redirect.
import * as http from 'node:http';
import * as https from 'node:https';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

// Refresh the token this long before it expires, so a login never uses a stale one.
const EXPIRY_MARGIN_MS = 30_000;

export class ActionsdError extends Error {}

export function actionsdFromEnv(env, scope = 'execute:actions') {
  const dataDir = env.ACTIONSD_DATA_DIR || join(env.HOME || '.', '.local/share/actionsd');
  let clientId = env.ACTIONSD_CLIENT_ID;
  let clientSecret = env.ACTIONSD_CLIENT_SECRET;
  if (!clientId || !clientSecret) {
    const file = join(dataDir, 'admin-client.json');
    if (!existsSync(file)) {
      throw new ActionsdError(`no actionsd credentials: set ACTIONSD_CLIENT_ID/SECRET or start actionsd serve (${file} is missing)`);
    }
    ({ client_id: clientId, client_secret: clientSecret } = JSON.parse(readFileSync(file, 'utf8')));
  }
  const caFile = env.ACTIONSD_CA_FILE || join(dataDir, 'tls', 'ca.pem');
  return new Actionsd({
    url: env.ACTIONSD_URL || 'https://localhost:8443',
    clientId,
    clientSecret,
    ca: existsSync(caFile) ? readFileSync(caFile) : undefined,
    scope,
  });
}

export class Actionsd {
  constructor({ url, clientId, clientSecret, ca, scope }) {
    this.base = new URL(url);
    this.scope = scope;
    this.clientId = clientId;
    this.clientSecret = clientSecret;
    this.ca = ca;
    this.token = undefined;
  }

  fire(event) {
    return this.#call('/actionsd/v1/triggers/post-login/execute', { event });
  }

  resume(executionId, { query, body }) {
    return this.#call(`/actionsd/v1/executions/${encodeURIComponent(executionId)}/continue`, { query, body });
  }

  // Any call with this client's token; answers { status, json }.
  async request(method, path, payload) {
    const token = await this.#accessToken();
    return this.#send(method, path, payload, { authorization: `Bearer ${token}` });
  }

  async #call(path, payload) {
    const { status, json } = await this.request('POST', path, payload);
    if (status !== 200) throw new ActionsdError(`actionsd answered ${status} on ${path}: ${json?.message || ''}`);
    return json;
  }

  async #accessToken() {
    if (this.token && this.token.expiresAt > Date.now() + EXPIRY_MARGIN_MS) return this.token.value;
    const { status, json } = await this.#send('POST', '/oauth/token', {
      grant_type: 'client_credentials',
      client_id: this.clientId,
      client_secret: this.clientSecret,
      audience: new URL('/api/v2/', this.base).toString(),
      scope: this.scope,
    });
    if (status !== 200) throw new ActionsdError(`actionsd refused the token request (${status}): ${json?.error_description || ''}`);
    const granted = new Set(json.scope.split(' '));
    const missing = this.scope.split(' ').filter((s) => !granted.has(s));
    if (missing.length) throw new ActionsdError(`the actionsd client lacks the scopes ${missing.join(' ')}`);
    this.token = { value: json.access_token, expiresAt: Date.now() + json.expires_in * 1000 };
    return this.token.value;
  }

  #send(method, path, payload, headers = {}) {
    const url = new URL(path, this.base);
    const body = Buffer.from(payload === undefined ? '' : JSON.stringify(payload));
    const lib = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = lib.request(url, {
        method,
        ca: this.ca,
        headers: { 'content-type': 'application/json', 'content-length': body.length, ...headers },
      }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            resolve({ status: res.statusCode, json: text ? JSON.parse(text) : undefined });
          } catch {
            reject(new ActionsdError(`actionsd answered ${res.statusCode} with a body that is not JSON`));
          }
        });
      });
      req.on('error', (err) => reject(new ActionsdError(`cannot reach actionsd at ${this.base}: ${err.message}`)));
      req.end(body);
    });
  }
}

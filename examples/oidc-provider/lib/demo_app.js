// A relying party for trying the provider by hand: /app links to the authorization
// endpoint, /app/callback swaps the code for tokens and shows what they carry. It trusts
// the tokens because it just fetched them from its own provider over loopback; a real
// app verifies them against the JWKS.
import { randomBytes } from 'node:crypto';
import { appHome, appResult } from './views.js';

export const DEMO_CLIENT = {
  client_id: 'demo-app',
  client_secret: 'demo-app-secret',
  client_name: 'Demo App',
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
};

const decode = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));

function send(res, html) {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

export class DemoApp {
  constructor({ issuer, redirectUri, scope }) {
    Object.assign(this, { issuer, redirectUri, scope });
    this.states = new Set();
  }

  signInUrl() {
    const state = randomBytes(16).toString('base64url');
    this.states.add(state);
    const url = new URL('/auth', this.issuer);
    url.search = new URLSearchParams({
      client_id: DEMO_CLIENT.client_id,
      response_type: 'code',
      redirect_uri: this.redirectUri,
      scope: this.scope,
      state,
      nonce: randomBytes(16).toString('base64url'),
    }).toString();
    return url.toString();
  }

  async handle(req, res, url) {
    if (url.pathname === '/' || url.pathname === '/app') {
      send(res, appHome({ signInUrl: this.signInUrl() }));
      return true;
    }
    if (url.pathname !== '/app/callback') return false;
    const q = url.searchParams;
    if (!this.states.delete(q.get('state'))) {
      send(res, appResult({ error: 'invalid_state', description: 'This answer does not match a sign-in the app started.', signInUrl: this.signInUrl() }));
      return true;
    }
    if (q.get('error')) {
      send(res, appResult({ error: q.get('error'), description: q.get('error_description'), signInUrl: this.signInUrl() }));
      return true;
    }
    const answer = await fetch(new URL('/token', this.issuer), {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${DEMO_CLIENT.client_id}:${DEMO_CLIENT.client_secret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: q.get('code'), redirect_uri: this.redirectUri }),
    });
    const body = await answer.json();
    if (!answer.ok) {
      send(res, appResult({ error: body.error, description: body.error_description, signInUrl: this.signInUrl() }));
      return true;
    }
    send(res, appResult({
      tokens: { scope: body.scope, idToken: decode(body.id_token), accessToken: decode(body.access_token) },
      signInUrl: this.signInUrl(),
    }));
    return true;
  }
}

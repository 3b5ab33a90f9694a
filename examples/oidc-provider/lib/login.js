// The interaction routes: the login page, and the step that runs actionsd's post-login
// flow once per authorization request and turns its outcome into the grant and tokens.
//
// oidc-provider asks for interactions in two prompts: `login` (no session yet) and
// `consent` (no grant for this request). `loadExistingGrant` (server.js) never reuses a
// grant, so every authorization request, signed-in session or not, reaches the consent
// prompt exactly once: that is where the flow fires. The resume step of the
// authorization endpoint runs after each prompt, so firing there would run it twice.
import { randomBytes } from 'node:crypto';
import { postLoginEvent } from './event.js';
import { loginPage, errorPage } from './views.js';

const REDIRECT_TTL_MS = 10 * 60 * 1000;

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  return Object.fromEntries(new URLSearchParams(text));
}

function send(res, status, html) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

function redirect(res, location, status = 302) {
  res.writeHead(status, { location, 'cache-control': 'no-store' });
  res.end();
}

// What each login's flow decided, by grant id, until the grant expires.
export class Outcomes {
  constructor(ttlMs) {
    this.ttlMs = ttlMs;
    this.entries = new Map();
  }

  set(grantId, outcome) {
    const now = Date.now();
    for (const [id, entry] of this.entries) if (entry.expiresAt < now) this.entries.delete(id);
    this.entries.set(grantId, { ...outcome, expiresAt: now + this.ttlMs });
  }

  get(grantId) {
    return this.entries.get(grantId);
  }
}

export class LoginFlow {
  constructor({ provider, users, actionsd, outcomes, apiIdentifier, oidcScopes, log }) {
    Object.assign(this, { provider, users, actionsd, outcomes, apiIdentifier, oidcScopes, log });
    this.redirects = new Map(); // state -> { uid, executionId, url, expiresAt }
  }

  // Answers the request if it is one of ours; false lets the provider take it.
  async handle(req, res, url) {
    if (url.pathname === '/continue') return this.#bounceContinue(req, res, url);
    const match = url.pathname.match(/^\/interaction\/([\w-]+)(\/login|\/continue)?$/);
    if (!match) return false;
    try {
      const details = await this.provider.interactionDetails(req, res);
      if (details.uid !== match[1]) throw new Error('interaction mismatch');
      if (match[2] === '/login' && req.method === 'POST') await this.#login(req, res, details);
      else if (match[2] === '/continue') await this.#continue(req, res, url, details);
      else if (details.prompt.name === 'login') await this.#showLogin(res, details);
      else await this.#runFlow(req, res, details);
    } catch (err) {
      this.log(`interaction failed: ${err.message}`);
      send(res, 400, errorPage('Sign-in failed', 'This sign-in has expired or is not valid. Go back to the app and sign in again.'));
    }
    return true;
  }

  async #showLogin(res, details, { email, error } = {}) {
    const client = await this.provider.Client.find(details.params.client_id);
    send(res, error ? 401 : 200, loginPage({ uid: details.uid, clientName: client?.clientName || details.params.client_id, email, error }));
  }

  async #login(req, res, details) {
    const { email = '', password = '' } = await readBody(req);
    const user = this.users.authenticate(email, password);
    if (!user) return this.#showLogin(res, details, { email, error: 'Wrong email or password.' });
    return this.provider.interactionFinished(req, res, {
      login: { accountId: user.user_id, amr: ['pwd'] },
    }, { mergeWithLastSubmission: false });
  }

  async #runFlow(req, res, details) {
    const pending = [...this.redirects.values()].find((r) => r.uid === details.uid);
    if (pending) return redirect(res, pending.url); // a reload while the redirect is out
    const user = this.users.find(details.session.accountId);
    const client = await this.provider.Client.find(details.params.client_id);
    const event = postLoginEvent({ user, client, req, interaction: details, apiIdentifier: this.apiIdentifier });
    const result = await this.actionsd.fire(event);
    return this.#conclude(req, res, details, result);
  }

  // The way back from api.redirect.sendUserTo is Auth0's `/continue?state=...`. The
  // interaction cookie only travels to /interaction/<uid>/..., so bounce there; 307 keeps
  // a POSTed form.
  #bounceContinue(req, res, url) {
    const entry = this.redirects.get(url.searchParams.get('state'));
    if (!entry || entry.expiresAt < Date.now()) {
      send(res, 400, errorPage('Sign-in failed', 'There is no sign-in waiting to continue.'));
      return true;
    }
    redirect(res, `/interaction/${entry.uid}/continue${url.search}`, 307);
    return true;
  }

  async #continue(req, res, url, details) {
    const state = url.searchParams.get('state');
    const entry = this.redirects.get(state);
    if (!entry || entry.uid !== details.uid) throw new Error('no redirect is waiting for this state');
    this.redirects.delete(state);
    const query = Object.fromEntries(url.searchParams);
    const body = req.method === 'POST' ? await readBody(req) : undefined;
    const result = await this.actionsd.resume(entry.executionId, { query, body });
    return this.#conclude(req, res, details, result);
  }

  async #conclude(req, res, details, result) {
    const { outcome } = result;
    if (result.status === 'suspended') {
      const state = randomBytes(24).toString('base64url');
      const target = new URL(outcome.redirect.url);
      target.searchParams.set('state', state);
      this.redirects.set(state, {
        uid: details.uid, executionId: result.execution_id, url: target.toString(), expiresAt: Date.now() + REDIRECT_TTL_MS,
      });
      return redirect(res, target.toString());
    }
    const accountId = details.session.accountId;
    // Writes made before a deny or an error are kept, as the actions did run.
    this.users.applyMetadata(accountId, outcome.user);
    const refusal = result.error?.message || outcome.denied?.reason;
    if (result.error || outcome.denied) {
      return this.provider.interactionFinished(req, res, {
        error: 'access_denied', error_description: refusal || 'Access denied',
      }, { mergeWithLastSubmission: false });
    }
    const grantId = await this.#grant(details, outcome, accountId);
    return this.provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  // A fresh grant per login with what was asked for, less the scopes actions removed and
  // plus those they added; the claims wait beside it for the token endpoint.
  async #grant(details, outcome, accountId) {
    const { params } = details;
    const at = outcome.accessToken || {};
    const removed = new Set(at.removed_scopes || []);
    const requested = String(params.scope || '').split(' ').filter((s) => s && !removed.has(s));
    const isOidc = (s) => this.oidcScopes.has(s);
    const grant = new this.provider.Grant({ accountId, clientId: params.client_id });
    grant.addOIDCScope(requested.filter(isOidc).join(' '));
    const resource = params.resource || this.apiIdentifier;
    grant.addResourceScope(resource, [...requested.filter((s) => !isOidc(s)), ...(at.added_scopes || [])].join(' '));
    // Rejected, not just left out, so that the consent prompt counts them as answered.
    if (removed.size) {
      grant.rejectOIDCScope([...removed].filter(isOidc).join(' '));
      grant.rejectResourceScope(resource, [...removed].filter((s) => !isOidc(s)).join(' '));
    }
    const grantId = await grant.save();
    this.outcomes.set(grantId, {
      idTokenClaims: outcome.idToken?.claims || {},
      accessTokenClaims: at.claims || {},
      addedScopes: at.added_scopes || [],
      removedScopes: [...removed],
    });
    return grantId;
  }
}

// The provider's few pages, as plain HTML strings.
const escape = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const STYLE = `
  body { font: 16px/1.5 system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #1d2330; }
  main { max-width: 26rem; margin: 8vh auto; background: #fff; padding: 2rem; border-radius: 8px;
         box-shadow: 0 1px 4px rgba(0,0,0,.12); }
  main.wide { max-width: 60rem; }
  label { display: block; margin-top: 1rem; font-weight: 600; }
  input { width: 100%; box-sizing: border-box; padding: .5rem; font: inherit; margin-top: .25rem; }
  button, .button { margin-top: 1.5rem; padding: .6rem 1.2rem; font: inherit; background: #3949ab;
           color: #fff; border: 0; border-radius: 4px; cursor: pointer; text-decoration: none;
           display: inline-block; }
  .error { color: #b00020; background: #fdecee; padding: .5rem .75rem; border-radius: 4px; }
  .hint { color: #5f6b7a; font-size: .9rem; }
  pre { background: #f4f5f7; padding: .75rem; overflow-x: auto; font-size: .85rem; }`;

export function page(title, body, { wide = false } = {}) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)}</title><style>${STYLE}</style></head>
<body><main class="${wide ? 'wide' : ''}">${body}</main></body></html>`;
}

export function loginPage({ uid, clientName, email = '', error = '' }) {
  return page('Sign in', `
<h1>Sign in</h1>
<p>to continue to <strong>${escape(clientName)}</strong></p>
${error ? `<p class="error" role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login" autocomplete="off">
  <label for="email">Email</label>
  <input id="email" name="email" type="email" required autofocus value="${escape(email)}">
  <label for="password">Password</label>
  <input id="password" name="password" type="password" required>
  <button type="submit">Sign in</button>
</form>
<p class="hint">Every sign-in runs actionsd's post-login flow.</p>`);
}

export function errorPage(title, message) {
  return page(title, `<h1>${escape(title)}</h1><p class="error" role="alert">${escape(message)}</p>`);
}

export function appHome({ signInUrl }) {
  return page('Demo app', `
<h1>Demo app</h1>
<p>A relying party of the example provider. Signing in runs the post-login actions bound in actionsd.</p>
<a class="button" href="${escape(signInUrl)}">Sign in</a>`);
}

export function appResult({ error, description, tokens, signInUrl }) {
  if (error) {
    return page('Sign-in refused', `
<h1>Sign-in refused</h1>
<p class="error" role="alert"><strong>${escape(error)}</strong>: ${escape(description)}</p>
<a class="button" href="${escape(signInUrl)}">Try again</a>`);
  }
  return page('Signed in', `
<h1>Signed in</h1>
<p>Granted scope: <code id="scope">${escape(tokens.scope)}</code></p>
<h2>ID token</h2><pre id="id-token">${escape(JSON.stringify(tokens.idToken, null, 2))}</pre>
<h2>Access token</h2><pre id="access-token">${escape(JSON.stringify(tokens.accessToken, null, 2))}</pre>
<a class="button" href="${escape(signInUrl)}">Sign in again</a>`, { wide: true });
}

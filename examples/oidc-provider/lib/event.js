// The post-login event, in Auth0's shape, from what the provider knows at the end of a
// login: the user, the client, the browser's request and the authorization request.
import { eventUser } from './users.js';

const CONNECTION = { id: 'con_local', name: 'local-users', strategy: 'auth0', metadata: {} };

const list = (value) => (value ? String(value).split(' ').filter(Boolean) : []);

export function postLoginEvent({ user, client, req, interaction, apiIdentifier }) {
  const params = interaction.params;
  const host = req.headers.host || '';
  const loginTime = interaction.lastSubmission?.login?.ts;
  return {
    user: eventUser(user),
    client: { client_id: client.clientId, name: client.clientName || client.clientId, metadata: {} },
    connection: CONNECTION,
    request: {
      ip: req.socket.remoteAddress,
      hostname: host.replace(/:\d+$/, ''),
      method: req.method,
      user_agent: req.headers['user-agent'],
      language: (req.headers['accept-language'] || '').split(',')[0].split(';')[0] || undefined,
      query: { ...params },
      geoip: {},
    },
    transaction: {
      protocol: 'oidc-basic-profile',
      requested_scopes: list(params.scope),
      redirect_uri: params.redirect_uri,
      response_type: list(params.response_type),
      response_mode: params.response_mode || 'query',
      state: params.state,
      nonce: params.nonce,
      acr_values: list(params.acr_values),
      ui_locales: list(params.ui_locales),
      login_hint: params.login_hint,
      prompt: list(params.prompt),
      locale: 'en',
    },
    authentication: {
      methods: [{ name: 'pwd', timestamp: new Date((loginTime || Date.now() / 1000) * 1000).toISOString() }],
    },
    authorization: { roles: user.roles || [] },
    resource_server: { identifier: params.resource || apiIdentifier },
    session: { id: interaction.session?.uid },
    stats: { logins_count: user.logins_count },
    tenant: { id: 'local' },
  };
}

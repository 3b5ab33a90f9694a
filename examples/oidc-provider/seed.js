// `make demo`'s first step: wait for actionsd, and when nothing is bound to post-login
// yet, bind one sample action so that the first sign-in already shows its effect.
import { setTimeout as sleep } from 'node:timers/promises';
import { actionsdFromEnv } from './lib/actionsd.js';

const NAME = 'demo-add-roles';
const CODE = `exports.onExecutePostLogin = async (event, api) => {
  api.idToken.setCustomClaim('https://example.com/roles', event.authorization.roles);
  api.accessToken.setCustomClaim('https://example.com/roles', event.authorization.roles);
  api.user.setAppMetadata('demo_logins', (event.user.app_metadata.demo_logins || 0) + 1);
};
`;

// A first start writes the credentials file a moment after it starts listening.
async function ready() {
  for (let i = 0; ; i += 1) {
    try {
      const client = actionsdFromEnv(process.env, 'read:actions create:actions update:actions');
      return [client, await client.request('GET', '/api/v2/actions/triggers/post-login/bindings')];
    } catch (err) {
      if (i === 150) throw err;
      await sleep(200);
    }
  }
}

async function ok(answer, what) {
  const { status, json } = await answer;
  if (status >= 300) throw new Error(`${what}: ${status} ${json?.message || ''}`);
  return json;
}

const [client, { json: bound }] = await ready();
if (bound.bindings.length) {
  console.log(`[seed] post-login already has ${bound.bindings.length} bound action(s); leaving them.`);
} else {
  const action = await ok(client.request('POST', '/api/v2/actions/actions', {
    name: NAME, supported_triggers: [{ id: 'post-login', version: 'v3' }], code: CODE,
  }), 'create the sample action');
  for (let state = action.status; state !== 'built'; ) {
    if (state === 'failed') throw new Error('the sample action did not build');
    await sleep(100);
    ({ status: state } = await ok(client.request('GET', `/api/v2/actions/actions/${action.id}`), 'read it'));
  }
  await ok(client.request('POST', `/api/v2/actions/actions/${action.id}/deploy`), 'deploy it');
  await ok(client.request('PATCH', '/api/v2/actions/triggers/post-login/bindings', {
    bindings: [{ ref: { type: 'action_id', value: action.id } }],
  }), 'bind it');
  console.log(`[seed] bound ${NAME} to post-login.`);
}

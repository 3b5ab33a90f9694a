"""The runtime's replay contract: calling each recorded command on a fresh `api` over the
same starting state reproduces the action's effect (outcome, event, cache), so a separate
realm can rebuild the outcome from the commands alone. Run in a real JavaScript engine."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from actionsd.runtime.pool import deno_executable
from actionsd.triggers.events import sample

TRIGGERS_CJS = Path(__file__).resolve().parents[1] / "src" / "actionsd" / "runtime" / "triggers.cjs"

SCRIPT = """
const { makeApi } = require(%(path)s);
const start = %(event)s;
const fresh = () => ({ event: JSON.parse(JSON.stringify(start)), outcome: {}, cache: {} });
const spec = { action_id: 'act_1', handler: 'onExecutePostLogin' };
const live = fresh();
const action = { commands: [] };
const api = makeApi('post-login', live, action, spec, {});
const tryIt = (fn) => { try { fn(); } catch (_) { /* refused calls record nothing */ } };
tryIt(() => api.accessToken.addScope(' read:a '));
tryIt(() => api.accessToken.addScope('a b'));
tryIt(() => api.accessToken.removeScope('write:a'));
tryIt(() => api.idToken.setCustomClaim('https://x/n', { deep: [1, 2] }));
tryIt(() => api.user.setAppMetadata('plan', 'team'));
tryIt(() => api.user.setUserMetadata('theme', undefined));
tryIt(() => api.authentication.setPrimaryUser('auth0|p'));
tryIt(() => api.authentication.setPrimaryUser('auth0|q'));
tryIt(() => api.samlResponse.setAttribute('a', ['x', 1]).samlResponse.setNameIdentifierFormat());
tryIt(() => api.session.setExpiresAt(2e12));
tryIt(() => api.session.setExpiresAt(1.5e12));
tryIt(() => api.session.setMetadata('device', 'laptop'));
tryIt(() => api.session.revoke('bye'));
tryIt(() => api.refreshToken.setMetadata('k', 'v'));
tryIt(() => api.transaction.setMetadata('step', 3));
tryIt(() => api.transaction.setTargetScopes(['x', 'y']));
tryIt(() => api.transaction.removeTargetScope('x'));
tryIt(() => api.cache.set('k', 'v', { ttl: 60000 }));
tryIt(() => api.cache.set('gone', 'v'));
tryIt(() => api.cache.delete('gone'));
tryIt(() => api.prompt.render('pid', { fields: { a: 1 } }));
api.cache.get('k');

const again = fresh();
const replayed = makeApi('post-login', again, { commands: [] }, spec, undefined);
for (const c of action.commands) {
  if (c.replay === false) continue;
  const [group, method] = c.name.split('.');
  replayed[group][method](...c.args);
}
console.log(JSON.stringify({ live, again, commands: action.commands }));
"""


def run(script: str) -> dict[str, object]:
    node = shutil.which("node")
    command = [node, "-e", script] if node else [deno_executable(), "eval", script]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60).stdout
    result: dict[str, object] = json.loads(out)
    return result


@pytest.mark.parametrize(
    "event", [sample("post-login"), {"user": {"app_metadata": {}, "user_metadata": {}}}]
)
def test_replaying_the_commands_reproduces_the_state(event: dict[str, object]) -> None:
    result = run(SCRIPT % {"path": json.dumps(str(TRIGGERS_CJS)), "event": json.dumps(event)})
    live, again = result["live"], result["again"]
    assert isinstance(live, dict) and isinstance(again, dict)
    assert again["outcome"] == live["outcome"]
    assert again["event"] == live["event"]
    assert again["cache"] == live["cache"]
    assert again["cacheWrites"] == live["cacheWrites"]
    outcome = live["outcome"]
    assert isinstance(outcome, dict)
    assert outcome["authentication"] == {"primary_user": "auth0|p"}
    assert outcome["session"]["expires_at"] == 1.5e12


LAZY = """
const { makeApi } = require(%(path)s);
const state = { event: { user: { app_metadata: {} } }, outcome: {}, cache: {} };
const api = makeApi('post-login', state, { commands: [] }, { action_id: 'a' });
const seen = { before: Object.keys(api), has: 'user' in api && 'samlResponse' in api };
const { idToken } = api;
Object.create(api).user.setAppMetadata('k', 1);
idToken.setCustomClaim('https://x/c', 2);
seen.after = Object.keys(api).sort();
seen.same = api.user === api.user;
seen.outcome = state.outcome;
console.log(JSON.stringify(seen));
"""


def test_namespaces_are_built_on_first_use_and_behave_as_properties() -> None:
    seen = run(LAZY % {"path": json.dumps(str(TRIGGERS_CJS))})
    assert seen["before"] == [] and seen["has"] is True
    assert seen["after"] == ["idToken", "user"] and seen["same"] is True
    assert seen["outcome"] == {
        "user": {"app_metadata": {"k": 1}},
        "idToken": {"claims": {"https://x/c": 2}},
    }

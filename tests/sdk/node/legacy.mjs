// The legacy Auth0 Node SDK (auth0 4.x, unmodified, installed as "auth0-legacy"), as its
// users still run it: a domain, client credentials, HTTPS trusted through
// NODE_EXTRA_CA_CERTS. Every step asserts; any failure exits non-zero with the reason.
import assert from "node:assert/strict";
import { ManagementClient, ManagementApiError } from "auth0-legacy";

const { ACTIONSD_DOMAIN: domain, ACTIONSD_CLIENT_ID: clientId, ACTIONSD_CLIENT_SECRET: clientSecret } = process.env;
const client = new ManagementClient({ domain, clientId, clientSecret });
const CODE = "exports.onExecutePostLogin = async (event, api) => {};";
const step = (name) => console.log(`ok - ${name}`);

async function built(id) {
  const deadline = Date.now() + 20000;
  for (;;) {
    const { data } = await client.actions.get({ id });
    if (data.status === "built") return data;
    assert.ok(Date.now() < deadline, `never built: ${JSON.stringify(data)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const made = [];
for (const name of ["legacy-one", "legacy-two"]) {
  const { data } = await client.actions.create({
    name,
    supported_triggers: [{ id: "post-login", version: "v3" }],
    code: CODE,
  });
  await built(data.id);
  const { data: version } = await client.actions.deploy({ id: data.id });
  assert.equal(version.number, 1);
  made.push(data);
}
const [one, two] = made;
assert.equal((await client.actions.get({ id: one.id })).data.deployed_version.number, 1);
step("created, built and deployed two actions");

const { data: bound } = await client.actions.updateTriggerBindings(
  { triggerId: "post-login" },
  {
    bindings: [
      { ref: { type: "action_name", value: "legacy-one" }, display_name: "One" },
      { ref: { type: "action_id", value: two.id } },
    ],
  },
);
assert.deepEqual(bound.bindings.map((b) => b.display_name), ["One", "legacy-two"]);
step("bound with updateTriggerBindings");

const ids = bound.bindings.map((b) => b.id);
const { data: reordered } = await client.actions.updateTriggerBindings(
  { triggerId: "post-login" },
  { bindings: [ids[1], ids[0]].map((value) => ({ ref: { type: "binding_id", value } })) },
);
assert.deepEqual(reordered.bindings.map((b) => b.id), [ids[1], ids[0]]);
const { data: listed } = await client.actions.getTriggerBindings({ triggerId: "post-login" });
assert.deepEqual(listed.bindings.map((b) => b.action.name), ["legacy-two", "legacy-one"]);
step("reordered by binding_id and read back");

let failed;
try {
  await client.actions.updateTriggerBindings(
    { triggerId: "post-login" },
    { bindings: [{ ref: { type: "action_name", value: "no-such-action" } }] },
  );
} catch (err) {
  failed = err;
}
assert.ok(failed instanceof ManagementApiError, `not a ManagementApiError: ${failed}`);
assert.equal(failed.statusCode, 404);
assert.equal(failed.message, "The action with name 'no-such-action' referenced by bindings[0] does not exist.");
const { data: still } = await client.actions.getTriggerBindings({ triggerId: "post-login" });
assert.deepEqual(still.bindings.map((b) => b.id), [ids[1], ids[0]]);
step("a bad ref changes nothing");

await client.actions.updateTriggerBindings({ triggerId: "post-login" }, { bindings: [] });
for (const action of made) await client.actions.delete({ id: action.id });
const { data: left } = await client.actions.getAll({ per_page: 100 });
assert.ok(!left.actions.some((a) => a.name.startsWith("legacy-")), JSON.stringify(left));
step("unbound and deleted");

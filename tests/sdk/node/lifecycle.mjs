// Drives actionsd with the official, unmodified Auth0 Node SDK, as a user would:
// a domain, client credentials, HTTPS trusted through NODE_EXTRA_CA_CERTS.
// Every step asserts; any failure exits non-zero with the reason.
import assert from "node:assert/strict";
import { ManagementClient, ManagementError } from "auth0";

const { ACTIONSD_DOMAIN: domain, ACTIONSD_CLIENT_ID: clientId, ACTIONSD_CLIENT_SECRET: clientSecret } = process.env;
const client = new ManagementClient({ domain, clientId, clientSecret });
const CODE = "exports.onExecutePostLogin = async (event, api) => {};";
const trigger = [{ id: "post-login", version: "v3" }];

const step = (name) => console.log(`ok - ${name}`);

async function all(pagePromise) {
  const items = [];
  for await (const item of await pagePromise) items.push(item);
  return items;
}

async function built(id) {
  const deadline = Date.now() + 20000;
  for (;;) {
    const action = await client.actions.get(id);
    if (action.status === "built") return action;
    assert.ok(Date.now() < deadline, `never built: ${JSON.stringify(action)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function deployed(name) {
  const action = await client.actions.create({ name, supported_triggers: trigger, code: CODE });
  await built(action.id);
  await client.actions.deploy(action.id);
  return action;
}

async function failure(promise) {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ManagementError, `not a ManagementError: ${err}`);
    return err;
  }
  assert.fail("the call should have failed");
}

const [one, two, three] = [await deployed("node-one"), await deployed("node-two"), await deployed("node-three")];
step("created, built and deployed three actions");

const bound = await client.actions.triggers.bindings.updateMany("post-login", {
  bindings: [
    { ref: { type: "action_id", value: one.id }, display_name: "First" },
    { ref: { type: "action_name", value: "node-two" } },
    { ref: { type: "action_id", value: three.id } },
  ],
});
assert.deepEqual(Object.keys(bound), ["bindings"]);
assert.deepEqual(bound.bindings.map((b) => b.display_name), ["First", "node-two", "node-three"]);
step("bound in order by action_id and action_name");

// The SDK pages until an empty page: a wrong envelope would hang or duplicate here.
const listed = await all(client.actions.triggers.bindings.list("post-login", { per_page: 2 }));
assert.deepEqual(listed.map((b) => b.action.name), ["node-one", "node-two", "node-three"]);
step("paged through bindings");

const ids = bound.bindings.map((b) => b.id);
const reordered = await client.actions.triggers.bindings.updateMany("post-login", {
  bindings: [ids[2], ids[0], ids[1]].map((value) => ({ ref: { type: "binding_id", value } })),
});
assert.deepEqual(reordered.bindings.map((b) => b.id), [ids[2], ids[0], ids[1]]);
assert.deepEqual(reordered.bindings.map((b) => b.display_name), ["node-three", "First", "node-two"]);
step("reordered by binding_id");

const unbound = await client.actions.triggers.bindings.updateMany("post-login", {
  bindings: [ids[2], ids[1]].map((value) => ({ ref: { type: "binding_id", value } })),
});
assert.deepEqual(unbound.bindings.map((b) => b.action.name), ["node-three", "node-two"]);
step("unbound one action");

await client.actions.update(one.id, { code: CODE + "\n// v2" });
await built(one.id);
const v2 = await client.actions.deploy(one.id);
assert.equal(v2.number, 2);
const versions = await all(client.actions.versions.list(one.id));
assert.deepEqual(versions.map((v) => v.number), [2, 1]);
const rolled = await client.actions.versions.deploy(one.id, versions[1].id, { update_draft: true });
assert.equal(rolled.number, 3);
const afterRollback = await client.actions.get(one.id);
assert.equal(afterRollback.deployed_version.number, 3);
assert.equal(afterRollback.all_changes_deployed, true);
step("versions listed and rolled back");

const triggers = await client.actions.triggers.list();
assert.ok(triggers.triggers.some((t) => t.id === "post-login" && t.status === "CURRENT"));
const actions = await all(client.actions.list({ per_page: 2 }));
assert.ok(["node-one", "node-two", "node-three"].every((n) => actions.some((a) => a.name === n)));
step("listed triggers and actions");

let err = await failure(client.actions.get("00000000-0000-4000-8000-000000000000"));
assert.equal(err.statusCode, 404);
assert.deepEqual(err.body, { statusCode: 404, error: "Not Found", message: "That action does not exist." });
err = await failure(client.actions.delete(three.id));
assert.equal(err.statusCode, 409);
assert.equal(err.body.message, "Unable to delete an action bound to a trigger.");
const draft = await client.actions.create({ name: "node-draft", supported_triggers: trigger, code: CODE });
err = await failure(client.actions.triggers.bindings.updateMany("post-login", {
  bindings: [{ ref: { type: "action_id", value: draft.id } }],
}));
assert.equal(err.statusCode, 400);
assert.equal(err.body.message, "Trying to create a binding for an action that has not been deployed yet");
err = await failure(client.actions.create({ name: "bad", supported_triggers: trigger, colour: "red" }));
assert.equal(err.statusCode, 400);
assert.equal(err.body.errorCode, "invalid_body");
const still = await all(client.actions.triggers.bindings.list("post-login"));
assert.deepEqual(still.map((b) => b.id), [ids[2], ids[1]]);
step("errors carry Auth0's bodies and change nothing");

const stranger = new ManagementClient({ domain, token: "not-a-token" });
err = await failure(stranger.actions.triggers.list());
assert.equal(err.statusCode, 401);
assert.equal(err.body.message, "Invalid token");
const reader = new ManagementClient({ domain, token: process.env.ACTIONSD_READ_TOKEN });
err = await failure(reader.actions.create({ name: "nope", supported_triggers: trigger }));
assert.equal(err.statusCode, 403);
assert.deepEqual(err.body, {
  statusCode: 403,
  error: "Forbidden",
  message: "Insufficient scope, expected any of: create:actions",
  errorCode: "insufficient_scope",
});
step("401 and 403");

await client.actions.delete(three.id, { force: true });
await client.actions.triggers.bindings.updateMany("post-login", { bindings: [] });
for (const id of [one.id, two.id, draft.id]) await client.actions.delete(id);
assert.deepEqual(await all(client.actions.triggers.bindings.list("post-login")), []);
step("cleaned up");

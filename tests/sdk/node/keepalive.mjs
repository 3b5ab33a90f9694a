// A user's script with the official Node SDK: one call, a synchronous step (say a
// deploy-cli import run in-process), then the next call on the pooled connection.
import assert from "node:assert/strict";
import diagnostics_channel from "node:diagnostics_channel";
import { ManagementClient } from "auth0";

const { ACTIONSD_DOMAIN: domain, ACTIONSD_CLIENT_ID: clientId, ACTIONSD_CLIENT_SECRET: clientSecret } = process.env;
const pauseMs = Number(process.env.ACTIONSD_PAUSE_MS);
const client = new ManagementClient({ domain, clientId, clientSecret });
let connections = 0;
diagnostics_channel.channel("undici:client:connected").subscribe(() => connections++);

assert.ok((await client.actions.triggers.list()).triggers.length > 0);
const before = connections;
// Blocks the event loop: the pooled connection sits idle and nothing can replace it.
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, pauseMs);
assert.ok((await client.actions.triggers.list()).triggers.length > 0);
assert.ok(before > 0, "connections are counted");
assert.equal(connections, before, "the second call opened a new connection");
console.log(`ok - a pooled connection was reused after ${pauseMs} ms`);

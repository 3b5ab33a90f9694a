"""Hostile action code against a real ``actionsd serve``, through the public endpoints only:
every attack of the sandbox issue (one realm shared by all actions, what an execution
leaves behind, memory and output limits, the server reached from its own actions,
overload), default settings and the production network setting (``public``).

One worker process (``ACTIONSD_RUNTIME_WORKERS=1``): attacker and victim always meet in
the same process, the worst case for anything shared."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

import actionsd.runtime
from tests.conftest import fresh_postgres
from tests.helpers import create_action, wait_status
from tests.runtime_helpers import bind, execution, fire, handler, pong_server, root
from tests.servers import CliServer, free_port

PL = "post-login"
SCOPES = "read:actions create:actions update:actions delete:actions execute:actions"
RUNTIME_DIR = Path(actionsd.runtime.__file__).parent


def start(tmp: Path, backend: str, **env: str) -> CliServer:
    url = fresh_postgres("attacks") if backend == "postgres" else ""
    settings = {
        "ACTIONSD_RUNTIME_WORKERS": "1",
        "ACTIONSD_EXECUTION_TIMEOUT_SECONDS": "3",
        "ACTIONSD_RUNTIME_RSS_MB": "400",
        **env,
    }
    return CliServer(tmp, database_url=url, extra=["--no-tls"], env=settings).start()


def client(server: CliServer) -> httpx.Client:
    return httpx.Client(
        base_url=f"http://{server.domain}/api/v2",
        headers={"Authorization": f"Bearer {server.token(SCOPES)}"},
        timeout=30,
    )


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def serve(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CliServer]:
    server = start(tmp_path_factory.mktemp(f"attacks-{request.param}"), request.param)
    yield server
    server.stop()


@pytest.fixture
def api(serve: CliServer) -> Iterator[httpx.Client]:
    with client(serve) as api:
        api.patch(f"/actions/triggers/{PL}/bindings", json={"bindings": []})
        for action in api.get("/actions/actions", params={"per_page": 100}).json()["actions"]:
            api.delete(f"/actions/actions/{action['id']}", params={"force": "true"})
        yield api


def draft(api: httpx.Client, body: str, **create: Any) -> str:
    """A built (never deployed) action whose handler is ``body``; its id."""
    action = create_action(api, code=handler(PL, body), **create)
    assert wait_status(api, action["id"])["status"] == "built"
    return str(action["id"])


def test_run(api: httpx.Client, action_id: str, event: dict[str, Any]) -> dict[str, Any]:
    response = api.post(f"/actions/actions/{action_id}/test", json={"payload": {"event": event}})
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()["payload"]
    return payload


test_run.__test__ = False  # type: ignore[attr-defined]


def claims(result: dict[str, Any]) -> dict[str, Any]:
    assert "error" not in result, (result["error"], result["results"])
    found: dict[str, Any] = result["outcome"].get("idToken", {}).get("claims", {})
    return found


# ---- §2: one realm shared by every action -------------------------------------------------

SPY = """
globalThis.stolen = globalThis.stolen || [];
if (!globalThis.patched) {
  globalThis.patched = true;
  const parse = JSON.parse, stringify = JSON.stringify, freeze = Object.freeze;
  JSON.parse = function (text, ...rest) { globalThis.stolen.push(String(text)); return parse(text, ...rest); };
  JSON.stringify = function (value, ...rest) { const out = stringify(value, ...rest); globalThis.stolen.push(String(out)); return out; };
  Object.freeze = function (o) { try { globalThis.stolen.push(stringify(o)); } catch (e) {} return freeze(o); };
}
console.log('STOLEN:' + globalThis.stolen.join('|'));
"""


def test_a_draft_cannot_read_later_actions_secrets_or_events(api: httpx.Client) -> None:
    spy = draft(api, SPY)
    test_run(api, spy, {})
    bind(
        api,
        PL,
        handler(PL, "api.idToken.setCustomClaim('https://x/v', event.secrets.KEY.length);"),
        secrets=[{"name": "KEY", "value": "victim-secret-0451"}],
    )
    result = fire(api, PL, {"user": {"email": "victim-event@example.com"}})
    assert claims(result) == {"https://x/v": 18}
    logs = test_run(api, spy, {})["logs"]
    assert "victim-secret-0451" not in logs and "victim-event@example.com" not in logs, logs


def test_a_draft_cannot_drop_another_actions_deny(api: httpx.Client) -> None:
    eraser = draft(
        api,
        """
        const stringify = JSON.stringify;
        JSON.stringify = function (value, ...rest) {
          if (value && value.outcome) delete value.outcome.denied;
          return stringify(value, ...rest);
        };
        Object.defineProperty(Object.prototype, 'denied', { set() {}, get() { return undefined; }, configurable: true });
        """,
    )
    test_run(api, eraser, {})
    bind(api, PL, handler(PL, "api.access.deny('no entry');"))
    result = fire(api, PL, {"user": {}})
    assert result["outcome"].get("denied") == {"reason": "no entry"}, result


def test_a_draft_cannot_pollute_other_actions_prototypes(api: httpx.Client) -> None:
    polluter = draft(api, "Object.prototype.isAdmin = true; Array.prototype.includes = () => true;")
    test_run(api, polluter, {})
    bind(
        api,
        PL,
        handler(
            PL,
            "api.idToken.setCustomClaim('https://x/p', [String(({}).isAdmin), ['a'].includes('root')]);",
        ),
    )
    assert claims(fire(api, PL, {"user": {}})) == {"https://x/p": ["undefined", False]}


def test_a_draft_cannot_patch_built_in_modules_for_others(api: httpx.Client) -> None:
    patcher = draft(
        api,
        "require('crypto').timingSafeEqual = () => true; require('node:crypto').createHmac = require('crypto').createHash;",
    )
    test_run(api, patcher, {})
    bind(
        api,
        PL,
        handler(
            PL,
            """
            let valid;
            try { api.redirect.validateToken({ secret: 'the-real-secret' }); valid = true; }
            catch (e) { valid = false; }
            api.idToken.setCustomClaim('https://x/valid', valid);
            """,
        ),
    )
    forged = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9." + "A" * 43
    event = {"user": {}, "request": {"query": {"session_token": forged}}}
    assert claims(fire(api, PL, event)) == {"https://x/valid": False}


def test_an_action_cannot_forge_its_own_outcome(api: httpx.Client) -> None:
    """Tampering with its own realm's api or built-ins changes nothing: the commands are
    replayed, with every check, where the action cannot reach."""
    bind(
        api,
        PL,
        handler(
            PL,
            """
            // Slip a command its own api would refuse into what the realm reports.
            const push = Array.prototype.push;
            Array.prototype.push = function (...items) {
              if (items[0] && items[0].name === 'idToken.setCustomClaim') {
                push.call(this, { name: 'idToken.setCustomClaim', args: ['scope', 'admin'] });
              }
              return push.apply(this, items);
            };
            api.idToken.setCustomClaim('https://x/ok', 1);
            """,
        ),
    )
    result = fire(api, PL, {"user": {}})
    assert "refused" in result["error"]["message"], result
    assert result["outcome"].get("idToken") is None, "none of the action's commands apply"


def test_a_forged_command_cannot_name_an_inherited_member(api: httpx.Client) -> None:
    """The api's namespaces are built on first use from a shared prototype: a command may
    still name only a namespace and a method of the trigger, never what objects inherit."""
    bind(
        api,
        PL,
        handler(
            PL,
            """
            // Its own api's prototype changed, and a forged command slipped in.
            try { Object.getPrototypeOf(api).access = { deny() {} }; } catch (_) {}
            if (!globalThis.patched) {
              globalThis.patched = true;
              const push = Array.prototype.push;
              Array.prototype.push = function (...items) {
                if (items[0] && items[0].name === 'idToken.setCustomClaim') {
                  push.call(this, { name: globalThis.forged, args: [{}] });
                }
                return push.apply(this, items);
              };
            }
            globalThis.forged = event.request.query.name;
            api.idToken.setCustomClaim('https://x/ok', 1);
            """,
        ),
        handler(PL, "api.access.deny('the second action still denies');"),
    )
    for name in ("constructor", "__proto__.polluted", "hasOwnProperty", "idToken.constructor"):
        result = fire(api, PL, {"user": {}, "request": {"query": {"name": name}}})
        assert "does not exist" in result["error"]["message"], (name, result)
        assert result["outcome"].get("idToken") is None, "none of the action's commands apply"
    # Without the forged command, the tampering changes nothing for the action after it.
    tamper = "try { Object.defineProperty(Object.getPrototypeOf(api), 'access', { get: () => ({}) }); } catch (_) {}"
    bind(api, PL, handler(PL, tamper), handler(PL, "api.access.deny('no');"))
    assert fire(api, PL, {"user": {}})["outcome"]["denied"] == {"reason": "no"}


def test_a_command_cannot_pass_itself_off_as_a_read(api: httpx.Client) -> None:
    """Reads are recorded but not replayed; a state change marked as one would make the
    execution record claim a call that never applied."""
    bind(
        api,
        PL,
        handler(
            PL,
            """
            const push = Array.prototype.push;
            Array.prototype.push = function (...items) {
              if (items[0] && items[0].name === 'cache.get') {
                push.call(this, { name: 'access.deny', args: ['never applied'], replay: false });
              }
              return push.apply(this, items);
            };
            api.cache.get('k');
            """,
        ),
    )
    result = fire(api, PL, {"user": {}})
    assert "only read-only methods" in result["error"]["message"], result
    assert result["results"][0]["response"]["commands"] == [], result
    assert "denied" not in result["outcome"]


@pytest.mark.parametrize(
    "call",
    [
        "idToken.setCustomClaim('https://x/deep', v)",
        "redirect.encodeToken({ secret: 's'.repeat(32), expiresInSeconds: 60, payload: { v } })",
    ],
)
def test_arguments_nested_too_deep_fail_the_action_not_the_server(
    api: httpx.Client, call: str
) -> None:
    """A value nested more deeply than the server's JSON reader goes (a state change or a
    recorded read) fails that action, as a refused call does: the flow answers at once
    with that action's error, and the next flow runs."""
    deep = f"let v = 1; for (let i = 0; i < 1100; i++) v = [v]; api.{call};"
    bind(
        api,
        PL,
        handler(PL, "api.idToken.setCustomClaim('https://x/before', 1);"),
        handler(PL, deep),
        handler(PL, "api.idToken.setCustomClaim('https://x/after', event.user.name || 1);"),
    )
    started = time.monotonic()
    result = fire(api, PL, {"user": {}})
    assert time.monotonic() - started < 5, "answered at once, not at a timeout"
    errors = [r.get("error") for r in result["results"]]
    assert len(errors) == 2 and errors[0] is None, result  # the third never runs
    assert "nest" in errors[1]["msg"], errors
    assert "https://x/deep" not in result["outcome"].get("idToken", {}).get("claims", {})
    again = fire(api, PL, {"user": {"name": "n"}})
    assert again["results"][0].get("error") is None, again


def test_lone_surrogates_in_logs_claims_and_names_reach_the_answer_replaced(
    api: httpx.Client,
) -> None:
    """Half of a UTF-16 pair in a log line, a claim's value or its name (strings no UTF-8
    text can hold) reaches the answer and the record as U+FFFD, and fails nothing."""
    bind(
        api,
        PL,
        handler(
            PL,
            "console.log('half \\ud800 here');"
            "api.idToken.setCustomClaim('https://x/v', '\\udc00x');"
            "api.idToken.setCustomClaim('https://x/\\ud83d', 1);",
        ),
        handler(PL, "api.idToken.setCustomClaim('https://x/after', 2);"),
    )
    result = fire(api, PL, {"user": {}})
    assert [r.get("error") for r in result["results"]] == [None, None], result
    assert result["outcome"]["idToken"]["claims"] == {
        "https://x/v": "\ufffdx",
        "https://x/\ufffd": 1,
        "https://x/after": 2,
    }
    assert "half \ufffd here" in result["results"][0]["response"]["logs"]
    stored = execution(api, result["execution_id"])
    assert "half \ufffd here" in stored["results"][0]["response"]["logs"]


def test_a_forged_continue_body_cannot_set_the_prompts_id_or_vars(api: httpx.Client) -> None:
    """After api.prompt.render, the browser's post is the prompt's fields only: its id and
    vars stay the render call's, a `__proto__` member is a field like any other, and a
    flow suspended by a redirect gets no event.prompt from what is posted."""
    report = "api.idToken.setCustomClaim('https://x/p', { prompt: event.prompt, polluted: ({}).polluted === undefined ? null : 'yes' });"
    render = "api.prompt.render('pick', { fields: { colour: 'red' }, vars: { tier: 'gold' } });"
    code = handler(PL, render) + handler(PL, report).replace(
        "onExecutePostLogin", "onContinuePostLogin"
    )
    forged = {
        "id": "other",
        "vars": {"tier": "platinum"},
        "prompt": {"id": "x", "vars": {"tier": "platinum"}},
        "__proto__": {"polluted": True},
        "a b": 1,
        "colour": "blue",
    }
    bind(api, PL, code)
    first = fire(api, PL, {"user": {}})
    assert first["status"] == "suspended", first
    cont = f"{root(api)}/actionsd/v1/executions/{first['execution_id']}/continue"
    second = api.post(cont, json={"query": {"id": "q", "vars": "q"}, "body": forged}).json()
    seen = claims(second)["https://x/p"]
    assert seen["polluted"] is None, "no prototype was touched"
    prompt = seen["prompt"]
    assert (prompt["id"], prompt["vars"]) == ("pick", {"tier": "gold"}), prompt
    assert prompt["fields"]["colour"] == "blue" and "a b" not in prompt["fields"], prompt

    api.patch(f"/actions/triggers/{PL}/bindings", json={"bindings": []})
    redirect = "api.redirect.sendUserTo('https://idp.example/step');"
    bind(
        api,
        PL,
        handler(PL, redirect)
        + handler(PL, report).replace("onExecutePostLogin", "onContinuePostLogin"),
    )
    first = fire(api, PL, {"user": {}})
    cont = f"{root(api)}/actionsd/v1/executions/{first['execution_id']}/continue"
    second = api.post(cont, json={"body": forged}).json()
    assert claims(second)["https://x/p"]["prompt"] is None, second


def test_drafts_and_deployed_versions_never_share_a_realm(api: httpx.Client) -> None:
    code = "globalThis.seen = (globalThis.seen || 0) + 1; api.idToken.setCustomClaim('https://x/n', globalThis.seen);"
    (action,) = bind(api, PL, handler(PL, code))
    assert claims(fire(api, PL, {"user": {}})) == {"https://x/n": 1}
    assert claims(fire(api, PL, {"user": {}})) == {"https://x/n": 2}, "module scope persists"
    payload = test_run(api, action["id"], {})
    assert payload["outcome"]["idToken"]["claims"] == {"https://x/n": 1}, payload
    assert claims(fire(api, PL, {"user": {}})) == {"https://x/n": 3}


def test_an_action_reads_only_its_own_dependencies(api: httpx.Client, serve: CliServer) -> None:
    probe = """
    const fs = require('fs'); const out = {};
    for (const p of event.paths) { try { fs.readdirSync(p); out[p] = 'read'; } catch (e) { out[p] = e.name; } }
    api.idToken.setCustomClaim('https://x/r', out);
    """
    (other,) = bind(
        api,
        PL,
        handler(PL, "require('is-number');"),
        dependencies=[{"name": "is-number", "version": "7.0.0"}],
    )
    builds = serve.data_dir / "builds"
    paths = [str(builds), str(RUNTIME_DIR), str(serve.data_dir)]
    bind(api, PL, handler(PL, probe), dependencies=[{"name": "is-odd", "version": "3.0.1"}])
    # Every build folder but the probe's own (which holds is-odd).
    paths += [str(p) for p in builds.iterdir() if not (p / "node_modules" / "is-odd").exists()]
    seen = claims(fire(api, PL, {"paths": paths}))["https://x/r"]
    assert [p for p, v in seen.items() if v == "read"] == [], seen
    assert other


# ---- §3: what an execution starts ends with it -------------------------------------------


def test_timers_and_rejections_of_one_execution_never_reach_another(api: httpx.Client) -> None:
    bind(
        api,
        PL,
        handler(
            PL,
            """
            setInterval(() => console.log('LEAKED-INTERVAL'), 5);
            setTimeout(() => { Promise.reject(new Error('LATE-REJECTION')); }, 100);
            require('timers').setInterval(() => console.log('LEAKED-NODE-TIMER'), 5);
            """,
        ),
    )
    fire(api, PL, {"user": {}})
    api.patch(f"/actions/triggers/{PL}/bindings", json={"bindings": []})
    bind(
        api,
        PL,
        handler(
            PL,
            "await new Promise((r) => setTimeout(r, 400)); api.idToken.setCustomClaim('https://x/ok', 1);",
        ),
    )
    result = fire(api, PL, {"user": {}})
    assert claims(result) == {"https://x/ok": 1}
    assert "LEAKED" not in result["results"][0]["response"]["logs"], result


# Every built-in the realm's timer bookkeeping could go through, patched to lose track.
UNTRACKED = """
if (!globalThis.patched) {
  globalThis.patched = true;
  globalThis.ticks = 0;
  const { AsyncLocalStorage } = require('node:async_hooks');
  Map.prototype.get = function () { return undefined; };
  Map.prototype.set = function () { return this; };
  Set.prototype.add = function () { return this; };
  Set.prototype[Symbol.iterator] = function* () {};
  globalThis.push = Array.prototype.push;
  Array.prototype.push = function () { return this.length; };
  Object.defineProperty(Array.prototype, '0', { set() {}, configurable: true });
  AsyncLocalStorage.prototype.getStore = function () { return undefined; };
  AsyncLocalStorage.prototype.run = function (store, fn, ...args) { return fn(...args); };
  setInterval(() => { globalThis.ticks++; }, 5);
  return;
}
const before = globalThis.ticks;
await new Promise((r) => setTimeout(r, 200));
// The api records calls with these: put back, to report.
delete Array.prototype[0];
Array.prototype.push = globalThis.push;
api.idToken.setCustomClaim('https://x/ticks', globalThis.ticks - before);
"""


def test_an_action_cannot_keep_its_timers_past_its_execution(api: httpx.Client) -> None:
    """The realm keeps each execution's timers where an action cannot reach: with the
    built-ins the bookkeeping could use patched away, its interval still ends with it."""
    bind(api, PL, handler(PL, UNTRACKED))
    fire(api, PL, {"user": {}})
    assert claims(fire(api, PL, {"user": {}})) == {"https://x/ticks": 0}


def test_a_late_rejection_fails_no_later_execution_of_the_same_action(api: httpx.Client) -> None:
    """Work that is not a timer (here a digest off the thread) outlives its execution; when
    it rejects, the execution running then is not the one to blame."""
    code = """
    if (event.request.query.first) {
      crypto.subtle.digest('SHA-256', new Uint8Array(16e6)).then(() => { throw new Error('LATE-REJECTION'); });
      return;
    }
    await new Promise((r) => setTimeout(r, 1500));
    api.idToken.setCustomClaim('https://x/ok', 1);
    """
    bind(api, PL, handler(PL, code))
    fire(api, PL, {"user": {}, "request": {"query": {"first": "1"}}})
    result = fire(api, PL, {"user": {}})
    assert "error" not in result, result
    assert claims(result) == {"https://x/ok": 1}


def test_a_lingering_callback_cannot_stall_the_next_flow(api: httpx.Client) -> None:
    bind(api, PL, handler(PL, "setTimeout(() => { while (true) {} }, 50);"))
    fire(api, PL, {"user": {}})
    api.patch(f"/actions/triggers/{PL}/bindings", json={"bindings": []})
    bind(api, PL, handler(PL, "api.idToken.setCustomClaim('https://x/ok', 1);"))
    time.sleep(0.2)
    started = time.monotonic()
    assert claims(fire(api, PL, {"user": {}})) == {"https://x/ok": 1}
    assert time.monotonic() - started < 2.5


LISTEN = """
const out = {};
const tries = {
  deno_serve: () => Deno.serve({ port: event.ports[0], hostname: '127.0.0.1', onListen() {} }, () => new Response('pwn')),
  deno_listen: () => Deno.listen({ port: event.ports[1], hostname: '127.0.0.1' }),
  node_http: () => require('http').createServer((q, s) => s.end('pwn')).listen(event.ports[2], '127.0.0.1'),
  node_net: () => new (require('net').Server)().listen(event.ports[3], '127.0.0.1'),
  udp: () => require('dgram').createSocket('udp4').bind(event.ports[4]),
  web_worker: () => new Worker('data:text/javascript,while(true){}', { type: 'module' }),
  node_worker: () => new (require('worker_threads').Worker)('while(true){}', { eval: true }),
  deno_kill: () => Deno.kill(Deno.pid, 'SIGKILL'),
  process_kill: () => process.kill(process.pid, 'SIGKILL'),
  signal: () => Deno.addSignalListener('SIGTERM', () => {}),
};
for (const [k, f] of Object.entries(tries)) { try { f(); out[k] = 'done'; } catch (e) { out[k] = String(e.message); } }
api.idToken.setCustomClaim('https://x/l', out);
"""


def test_no_listening_sockets_sub_workers_or_signals(api: httpx.Client) -> None:
    ports = [free_port() for _ in range(5)]
    bind(api, PL, handler(PL, LISTEN))
    result = fire(api, PL, {"ports": ports})
    outcome = claims(result)["https://x/l"]
    assert all(v != "done" for v in outcome.values()), outcome
    for port in ports[:4]:
        with socket.socket() as s:
            s.settimeout(1)
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"something listens on {port}"
    # The worker survived the kill attempts: the next flow runs in-band.
    assert "error" not in fire(api, PL, {"ports": [free_port() for _ in range(5)]})


EARLY_ANSWER = """
// Answer this run in the realm's stead (a realm's first run is number 1), then keep the
// thread busy as if the execution were over.
const tries = [
  () => postMessage({ id: '1', logs: 'forged\\n', commands: [], error: null }),
  () => Object.getPrototypeOf(globalThis).postMessage({ id: '1', logs: 'forged\\n', commands: [], error: null }),
  () => self.postMessage.call(globalThis, { id: '1', logs: 'forged\\n', commands: [], error: null }),
];
const refused = [typeof postMessage];
for (const t of tries) { try { t(); } catch (e) { refused.push(String(e.message)); } }
api.idToken.setCustomClaim('https://x/refused', refused);
const until = Date.now() + 1500;
while (Date.now() < until) {}
"""


def test_an_action_cannot_answer_for_its_realm_and_run_on(api: httpx.Client) -> None:
    """Only the realm's own code answers a run: an action that posts an answer itself
    would end its execution early and keep its thread busy past every deadline."""
    bind(api, PL, handler(PL, EARLY_ANSWER))
    started = time.monotonic()
    result = fire(api, PL, {"user": {}})
    took = time.monotonic() - started
    assert "forged" not in result["results"][0]["response"]["logs"], result
    refused = claims(result)["https://x/refused"]
    assert refused[0] == "undefined", "as in Node.js, there is no postMessage"
    assert len(refused) == 4, f"every way to post threw: {refused}"
    assert took >= 1.4, "the execution lasted as long as the action's code ran"


# Every built-in a realm's channel could hand its buffer to, patched to look for it; the
# last run's catch is reported, since a run's own request was read before it started.
CHANNEL_SPY = """
if (!globalThis.caught) {
  const caught = (globalThis.caught = []);
  const apply = Reflect.apply;
  const shared = (x) => {
    try { return x instanceof SharedArrayBuffer || (ArrayBuffer.isView(x) && x.buffer instanceof SharedArrayBuffer); }
    catch (_) { return false; }
  };
  const spy = (owner, name) => {
    const original = owner[name];
    if (typeof original !== 'function') return;
    owner[name] = function (...args) {
      if (shared(this) || args.some(shared)) caught.push(name);
      return apply(original, this, args);
    };
  };
  const typed = Object.getPrototypeOf(Uint8Array.prototype);
  for (const name of ['load', 'store', 'notify', 'wait', 'waitAsync', 'exchange', 'compareExchange', 'add']) spy(Atomics, name);
  for (const name of ['parse', 'stringify']) spy(JSON, name);
  for (const name of ['encode', 'encodeInto']) spy(TextEncoder.prototype, name);
  spy(TextDecoder.prototype, 'decode');
  for (const name of ['subarray', 'slice', 'set', 'fill', 'at', 'join']) spy(typed, name);
  for (const name of ['grow', 'slice']) spy(SharedArrayBuffer.prototype, name);
  for (const name of ['call', 'apply', 'bind']) spy(Function.prototype, name);
  for (const name of ['then', 'catch', 'finally']) spy(Promise.prototype, name);
  for (const name of ['byteLength', 'maxByteLength', 'growable']) {
    const { get } = Object.getOwnPropertyDescriptor(SharedArrayBuffer.prototype, name);
    Object.defineProperty(SharedArrayBuffer.prototype, name, { get() { caught.push(name); return apply(get, this, []); } });
  }
  // The answer itself, were it written through the action's realm's prototypes.
  Object.prototype.toJSON = function () {
    if (this !== null && typeof this === 'object' && 'commands' in this && 'logs' in this) caught.push('toJSON');
    return this;
  };
}
// Larger than the channel's first size: the answer grows it.
api.idToken.setCustomClaim('https://x/big', 'b'.repeat(300 * 1024));
api.idToken.setCustomClaim('https://x/caught', globalThis.caught.slice());
"""


def runtime_worker(server: CliServer) -> psutil.Process:
    """The server's one runtime worker process."""
    assert server.proc is not None
    children = psutil.Process(server.proc.pid).children(recursive=True)
    (worker,) = [p for p in children if str(RUNTIME_DIR / "worker.cjs") in p.cmdline()]
    return worker


def test_an_action_cannot_reach_its_realms_channel(api: httpx.Client) -> None:
    """A run and its answer cross through a buffer only the realm's own code holds, with
    built-ins it took before any action loaded: an action that patches every one of them
    never sees the buffer, and so can never answer a run in its realm's stead."""
    bind(api, PL, handler(PL, CHANNEL_SPY))
    for _ in range(3):
        result = claims(fire(api, PL, {"user": {}}))
        assert result["https://x/caught"] == [], "the channel's buffer reached action code"
        assert len(result["https://x/big"]) == 300 * 1024


def test_a_realm_asleep_between_runs_is_ended_whole(tmp_path: Path) -> None:
    """A realm waits for its next run asleep in Atomics.wait, where terminating it would
    leave its thread behind: realms evicted by newer ones must take their threads along."""
    server = start(tmp_path, "sqlite", ACTIONSD_RUNTIME_REALMS="2")
    try:
        with client(server) as api:
            made = [
                create_action(
                    api, code=handler(PL, f"api.idToken.setCustomClaim('https://x/n', {n});")
                )
                for n in range(8)
            ]
            for n, action in enumerate(made):
                assert wait_status(api, action["id"])["status"] == "built"
                result = test_run(api, action["id"], {"user": {}})
                assert result["outcome"]["idToken"]["claims"] == {"https://x/n": n}, result
                if n == 1:
                    worker = runtime_worker(server)
                    threads = worker.num_threads()
            assert worker.is_running()
            # Two warm realms before and after six evictions: their threads, not eight.
            assert worker.num_threads() <= threads + 1, (threads, worker.num_threads())
    finally:
        server.stop()


# Work that is not a timer, left running when the handler returns: a digest after digest.
LEFT_RUNNING = """
if (!globalThis.looping) {
  globalThis.looping = true;
  globalThis.ticks = 0;
  (async () => { for (;;) { await crypto.subtle.digest('SHA-256', new Uint8Array(64)); globalThis.ticks++; } })();
}
api.idToken.setCustomClaim('https://x/ticks', globalThis.ticks);
"""


def test_work_an_execution_leaves_running_sleeps_with_its_realm(
    serve: CliServer, api: httpx.Client
) -> None:
    """Between its runs a realm is asleep: what an execution left running (no timer, so
    nothing clears it) goes on only while its own action runs again, and takes no CPU
    from the other realms of its worker meanwhile."""
    bind(api, PL, handler(PL, LEFT_RUNNING))
    worker = runtime_worker(serve)
    first = claims(fire(api, PL, {"user": {}}))["https://x/ticks"]
    before = sum(worker.cpu_times()[:2])
    time.sleep(1)
    idle = sum(worker.cpu_times()[:2]) - before
    second = claims(fire(api, PL, {"user": {}}))["https://x/ticks"]
    assert idle < 0.2, f"the worker used {idle:.2f} s of CPU while nothing ran"
    assert second - first < 200, f"{second - first} digests ran between two executions"


# ---- §4: memory and output limits ----------------------------------------------------------


def test_array_buffers_count_against_the_memory_limit(api: httpx.Client) -> None:
    bind(
        api,
        PL,
        handler(
            PL,
            "globalThis.hold = globalThis.hold || []; const b = new Uint8Array(64 * 1024 * 1024); b.fill(1); globalThis.hold.push(b);",
        ),
    )
    errors = []
    for _ in range(12):
        result = fire(api, PL, {"user": {}})
        if "error" in result:
            errors.append(result["error"]["message"])
            break
    assert errors == ["The action exceeded its memory limit"], errors
    api.patch(f"/actions/triggers/{PL}/bindings", json={"bindings": []})
    bind(api, PL, handler(PL, "api.idToken.setCustomClaim('https://x/ok', 1);"))
    assert claims(fire(api, PL, {"user": {}})) == {"https://x/ok": 1}


def test_warm_realms_of_other_actions_never_fail_an_innocent_one(tmp_path: Path) -> None:
    """Each warm realm holds some 15 MB of its process: actions that each ran once must
    not add up to a memory failure of whichever action happens to run next."""
    server = start(tmp_path, "sqlite", ACTIONSD_RUNTIME_RSS_MB="160")
    try:
        with client(server) as api:
            for n in range(10):
                bind(api, PL, handler(PL, f"api.idToken.setCustomClaim('https://x/n', {n});"))
                result = fire(api, PL, {"user": {}})
                assert "error" not in result, (n, result["error"])
                assert claims(result) == {"https://x/n": n}
    finally:
        server.stop()


def test_outcome_and_commands_are_capped(tmp_path: Path) -> None:
    # A worker of its own: the module's worker may already hold enough warm realms that
    # this action's 20 MB copies cross the process's memory limit first.
    server = start(tmp_path, "sqlite")
    try:
        with client(server) as api:
            blob = "api.user.setAppMetadata('blob', 'x'.repeat(20 * 1024 * 1024));"
            bind(api, PL, handler(PL, blob))
            started = time.monotonic()
            result = fire(api, PL, {"user": {}})
            assert "exceeds 1 MB" in result["error"]["message"], result
            assert result["outcome"].get("user") is None, "nothing of a refused action applies"
            assert time.monotonic() - started < 10
            api.patch(f"/actions/triggers/{PL}/bindings", json={"bindings": []})
            claims = "for (let i = 0; i < 5000; i++) api.idToken.setCustomClaim('c' + i, i);"
            bind(api, PL, handler(PL, claims))
            result = fire(api, PL, {"user": {}})
            assert result["error"]["message"].startswith("MaxSideEffectsExceeded"), result
            assert len(result["outcome"]["idToken"]["claims"]) == 2000, "the calls before apply"
    finally:
        server.stop()


def test_the_side_effect_limit_cannot_be_dodged_or_forged_past(api: httpx.Client) -> None:
    """The counter is not the command list: hiding calls from the list (a patched
    Array.prototype.push) still spends them, and a report padded with copies of a command
    is replayed on a fresh api, which applies no more than the limit."""
    hide = """
    const push = Array.prototype.push;
    Array.prototype.push = function (...items) {
      if (items[0] && items[0].name === 'cache.set') return this.length;
      return push.apply(this, items);
    };
    const codes = [];
    for (let i = 0; i < 2100; i++) { const r = api.cache.set('k', 'v'); codes[i] = r.type === 'success' ? 'ok' : r.code; }
    Array.prototype.push = push;
    console.log(JSON.stringify({ ok: codes.filter((c) => c === 'ok').length, then: [...new Set(codes.slice(2000))] }));
    """
    bind(api, PL, handler(PL, hide))
    result = fire(api, PL, {"user": {}})
    assert "error" not in result, result
    logs = json.loads(result["results"][0]["response"]["logs"])
    assert logs == {"ok": 2000, "then": ["MaxSideEffectsExceeded"]}, logs

    api.patch(f"/actions/triggers/{PL}/bindings", json={"bindings": []})
    pad = """
    const push = Array.prototype.push;
    Array.prototype.push = function (...items) {
      if (items[0] && items[0].name === 'idToken.setCustomClaim') { push.apply(this, items); push.apply(this, items); }
      return push.apply(this, items);
    };
    for (let i = 0; i < 1000; i++) api.idToken.setCustomClaim('https://x/c' + i, i);
    Array.prototype.push = push;
    """
    bind(api, PL, handler(PL, pad))
    result = fire(api, PL, {"user": {}})
    message = result["error"]["message"]
    assert "refused" in message and "MaxSideEffectsExceeded" in message, result
    assert result["outcome"].get("idToken") is None, "none of the padded report applies"


# ---- §5: the server from its own actions -----------------------------------------------------

CONNECT = """
const out = {};
const http = require('http'), net = require('net');
const nodeGet = (u) => new Promise((res) => { http.get(u, (r) => { r.resume(); res('reached ' + r.statusCode); }).on('error', (e) => res('refused: ' + e.message)); });
const netConnect = (host, port) => new Promise((res) => { const s = net.connect(port, host, () => { s.end(); res('reached'); }); s.on('error', (e) => res('refused: ' + e.message)); });
for (const u of event.urls) {
  try { const r = await fetch(u, { signal: AbortSignal.timeout(2000) }); out['fetch ' + u] = 'reached ' + r.status; } catch (e) { out['fetch ' + u] = 'refused: ' + e.message; }
}
for (const [h, p] of event.hosts) {
  try { const c = await Deno.connect({ hostname: h, port: p }); c.close(); out['connect ' + h] = 'reached'; } catch (e) { out['connect ' + h] = 'refused: ' + e.message; }
  out['net ' + h] = await netConnect(h, p);
  out['http ' + h] = await nodeGet(`http://${h.includes(':') ? '[' + h + ']' : h}:${p}/.well-known/jwks.json`);
}
api.idToken.setCustomClaim('https://x/c', out);
"""


def own_addresses() -> list[str]:
    from actionsd.runtime.network import local_addresses

    v4, v6 = local_addresses()
    return [a for a in v4 if not a.startswith("127.")] + v6


def spellings(port: int) -> tuple[list[str], list[list[Any]]]:
    """The server's address in every spelling: names, numeric forms, IPv6, 0.0.0.0 and
    this machine's own interface addresses."""
    hosts = ["127.0.0.1", "localhost", "vm", "0.0.0.0", "::1", "::ffff:127.0.0.1", "127.0.0.2"]
    hosts += own_addresses()
    urls = [
        f"http://{h}:{port}/.well-known/jwks.json"
        for h in (
            "127.0.0.1",
            "localhost",
            "vm",
            "0.0.0.0",
            "127.1",
            "2130706433",
            "0x7f000001",
            "[::1]",
            "[::ffff:127.0.0.1]",
            "[::ffff:7f00:1]",
        )
    ]
    urls += [f"http://{h if ':' not in h else '[' + h + ']'}:{port}/" for h in own_addresses()]
    resolvable = [h for h in hosts if h != "vm" or _resolves("vm")]
    return urls, [[h, port] for h in resolvable]


def _resolves(name: str) -> bool:
    try:
        socket.getaddrinfo(name, None)
        return True
    except OSError:
        return False


def test_actions_cannot_reach_the_server_itself(api: httpx.Client, serve: CliServer) -> None:
    urls, hosts = spellings(serve.port)
    bind(api, PL, handler(PL, CONNECT))
    outcome = claims(fire(api, PL, {"urls": urls, "hosts": hosts}))["https://x/c"]
    reached = {k: v for k, v in outcome.items() if v.startswith("reached")}
    assert not reached, reached


@pytest.fixture
def pong() -> Iterator[int]:
    with pong_server() as port:
        yield port


def test_default_network_reaches_other_hosts(api: httpx.Client, pong: int) -> None:
    """Auth0's default: the internet is open (loopback stands in for it here)."""
    bind(api, PL, handler(PL, CONNECT))
    outcome = claims(fire(api, PL, {"urls": [f"http://127.0.0.1:{pong}/"], "hosts": []}))
    assert outcome["https://x/c"] == {f"fetch http://127.0.0.1:{pong}/": "reached 200"}


def test_public_network_setting_refuses_every_non_public_address(tmp_path: Path, pong: int) -> None:
    server = start(tmp_path, "sqlite", ACTIONSD_RUNTIME_NETWORK="public")
    try:
        with client(server) as api:
            urls, hosts = spellings(pong)
            urls += [
                f"http://169.254.169.254:{pong}/latest/meta-data/",
                f"http://10.0.0.1:{pong}/",
                f"http://172.16.0.1:{pong}/",
                f"http://192.168.0.1:{pong}/",
                f"http://100.64.0.1:{pong}/",
                f"http://[fe80::1]:{pong}/",
                # Cloud metadata over IPv6 (AWS, Google Cloud) and through NAT64.
                f"http://[fd00:ec2::254]:{pong}/latest/meta-data/",
                f"http://[fd20:ce::254]:{pong}/computeMetadata/v1/",
                f"http://[64:ff9b::a9fe:a9fe]:{pong}/latest/meta-data/",
            ]
            hosts += [["169.254.169.254", pong], ["10.1.2.3", pong]]
            bind(api, PL, handler(PL, CONNECT))
            outcome = claims(fire(api, PL, {"urls": urls, "hosts": hosts}))["https://x/c"]
            reached = {k: v for k, v in outcome.items() if not v.startswith("refused")}
            assert not reached, reached
            # Refused by the permission, before any packet: IPv4 forms and names.
            checked = {k: v for k, v in outcome.items() if "fe80" not in k}
            assert all("net access" in v or "fetch failed" in v for v in checked.values()), checked
    finally:
        server.stop()


# ---- §6: overload ---------------------------------------------------------------------------


def test_overload_answers_503_and_records_every_execution(tmp_path: Path) -> None:
    server = start(tmp_path, "sqlite", ACTIONSD_RUNTIME_QUEUE_LIMIT="1")
    try:
        with client(server) as api:
            bind(api, PL, handler(PL, "await new Promise((r) => setTimeout(r, 1500));"))
            url = f"{root(api)}/actionsd/v1/triggers/{PL}/execute"
            with ThreadPoolExecutor(5) as pool:
                answers = list(pool.map(lambda _: api.post(url, json={"event": {}}), range(5)))
            codes = sorted(a.status_code for a in answers)
            assert 500 not in codes and 503 in codes and 200 in codes, codes
            busy = next(a for a in answers if a.status_code == 503).json()
            assert busy["statusCode"] == 503 and busy["error"] == "Service Unavailable", busy
            time.sleep(0.5)
            listed = api.get(
                f"{root(api)}/actionsd/v1/executions", params={"trigger_id": PL, "per_page": 20}
            ).json()["executions"]
            assert len(listed) == 5, json.dumps(listed)[:2000]
    finally:
        server.stop()


# ---- §7: what held before still holds (in the new realms) ------------------------------------


def test_dynamic_import_and_remote_code_are_refused(api: httpx.Client) -> None:
    bind(
        api,
        PL,
        handler(
            PL,
            """
            const out = {};
            for (const u of ['file:///etc/passwd', 'https://deno.land/x/x.ts', 'data:text/javascript,export default 1']) {
              try { await import(u); out[u] = 'imported'; } catch (e) { out[u] = e.name; }
            }
            api.idToken.setCustomClaim('https://x/i', out);
            """,
        ),
    )
    outcome = claims(fire(api, PL, {"user": {}}))["https://x/i"]
    assert "imported" not in list(outcome.values())[:2], outcome


def test_syntax_errors_fail_at_run_time_in_band(api: httpx.Client) -> None:
    action_id = draft(api, "api.idToken.setCustomClaim('x', 1);")
    broken = 'exports.onExecutePostLogin = async (event, api) => {\n\tconsole.log(event)\n};"\n'
    api.patch(f"/actions/actions/{action_id}", json={"code": broken})
    assert wait_status(api, action_id)["status"] == "built", "a build never checks syntax"
    payload = test_run(api, action_id, {})
    assert payload["error"]["name"] == "SyntaxError", payload

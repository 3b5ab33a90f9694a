"""Trigger flows in real Deno workers: binding order, how commands combine, secrets,
redirects, executions, the test endpoint."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.helpers import by_id, deploy, error
from tests.runtime_helpers import bind, execution, fire, handler, pong_server, root
from tests.servers import InProcessServer

PL = "post-login"


def test_actions_run_in_binding_order_and_later_claim_wins(api: httpx.Client) -> None:
    a, b, c = bind(
        api,
        PL,
        handler(PL, "console.log('first'); api.idToken.setCustomClaim('https://x/who', 'first');"),
        handler(
            PL,
            "console.log('second'); api.idToken.setCustomClaim('https://x/who', 'second'); api.accessToken.setCustomClaim('https://x/n', 2);",
        ),
        handler(PL, "console.log('third');"),
    )
    result = fire(api, PL, {"user": {"user_id": "auth0|1"}})
    assert result["status"] == "final" and "error" not in result
    assert [r["action_name"] for r in result["results"]] == [a["name"], b["name"], c["name"]]
    assert [r["response"]["logs"] for r in result["results"]] == ["first\n", "second\n", "third\n"]
    assert result["outcome"]["idToken"]["claims"] == {"https://x/who": "second"}
    assert result["outcome"]["accessToken"]["claims"] == {"https://x/n": 2}

    # Reorder: the order of the PATCH is the order of execution.
    bindings = api.get(f"/actions/triggers/{PL}/bindings").json()["bindings"]
    api.patch(
        f"/actions/triggers/{PL}/bindings",
        json={
            "bindings": [
                {"ref": {"type": "binding_id", "value": x["id"]}} for x in reversed(bindings)
            ]
        },
    )
    again = fire(api, PL, {"user": {}})
    assert [r["response"]["logs"] for r in again["results"]] == ["third\n", "second\n", "first\n"]
    assert again["outcome"]["idToken"]["claims"] == {"https://x/who": "first"}


def test_deny_stops_later_actions(api: httpx.Client) -> None:
    bind(
        api,
        PL,
        handler(PL, "api.user.setAppMetadata('step', 1);"),
        handler(PL, "api.access.deny('no entry');"),
        handler(PL, "api.user.setAppMetadata('step', 3);"),
    )
    result = fire(api, PL, {"user": {}})
    assert result["outcome"]["denied"] == {"reason": "no entry"}
    assert len(result["results"]) == 2
    assert result["outcome"]["user"]["app_metadata"] == {"step": 1}


def test_metadata_merges_and_later_actions_see_it(api: httpx.Client) -> None:
    bind(
        api,
        PL,
        handler(PL, "api.user.setUserMetadata('a', 1); api.user.setUserMetadata('keep', 'x');"),
        handler(PL, "api.user.setUserMetadata('b', event.user.user_metadata.a + 1);"),
        handler(
            PL,
            "api.user.setUserMetadata('a', null); api.user.setAppMetadata('seen_b', event.user.user_metadata.b);",
        ),
    )
    result = fire(api, PL, {"user": {"user_metadata": {"old": True}}})
    assert result["outcome"]["user"] == {
        "user_metadata": {"a": None, "keep": "x", "b": 2},
        "app_metadata": {"seen_b": 2},
    }


def test_only_the_scope_claim_is_refused(api: httpx.Client) -> None:
    # Auth0's harness refuses `scope` alone; other names, `sub` included, are the tenant's call.
    bind(
        api,
        PL,
        handler(
            PL,
            "api.idToken.setCustomClaim('sub', 'mine'); api.idToken.setCustomClaim('https://x/ok', 1); api.accessToken.setCustomClaim('scope', 'admin');",
        ),
    )
    result = fire(api, PL, {"user": {}})
    assert result["error"]["message"] == 'The "scope" claim cannot be set.'
    assert result["outcome"]["idToken"]["claims"] == {"sub": "mine", "https://x/ok": 1}
    assert "accessToken" not in result["outcome"]


def test_thrown_error_fails_the_execution(api: httpx.Client) -> None:
    bind(
        api,
        PL,
        handler(PL, "api.idToken.setCustomClaim('https://x/a', 1);"),
        handler(PL, "throw new TypeError('boom');"),
        handler(PL, "api.idToken.setCustomClaim('https://x/c', 3);"),
    )
    result = fire(api, PL, {"user": {}})
    assert result["error"]["name"] == "TypeError" and result["error"]["message"] == "boom"
    assert len(result["results"]) == 2
    assert result["results"][1]["error"] == {"id": "TypeError", "msg": "boom", "url": ""}


def test_secrets_of_action_and_binding(api: httpx.Client) -> None:
    (action,) = bind(
        api,
        PL,
        handler(
            PL,
            "api.idToken.setCustomClaim('https://x/s', event.secrets.API_KEY + '/' + event.secrets.REGION);",
        ),
        secrets=[{"name": "API_KEY", "value": "k-123"}, {"name": "REGION", "value": "eu"}],
    )
    assert fire(api, PL, {"user": {}})["outcome"]["idToken"]["claims"]["https://x/s"] == "k-123/eu"
    api.patch(
        f"/actions/triggers/{PL}/bindings",
        json={"bindings": [by_id(action["id"], secrets=[{"name": "REGION", "value": "us"}])]},
    )
    assert fire(api, PL, {"user": {}})["outcome"]["idToken"]["claims"]["https://x/s"] == "k-123/us"


def test_a_new_deploy_runs_at_once(api: httpx.Client) -> None:
    (action,) = bind(api, PL, handler(PL, "api.idToken.setCustomClaim('https://x/v', 1);"))
    assert fire(api, PL, {})["outcome"]["idToken"]["claims"]["https://x/v"] == 1
    api.patch(
        f"/actions/actions/{action['id']}",
        json={"code": handler(PL, "api.idToken.setCustomClaim('https://x/v', 2);")},
    )
    assert fire(api, PL, {})["outcome"]["idToken"]["claims"]["https://x/v"] == 1, (
        "an undeployed draft does not run"
    )
    deploy(api, action["id"])
    assert fire(api, PL, {})["outcome"]["idToken"]["claims"]["https://x/v"] == 2


def test_redirect_suspends_and_continue_resumes(api: httpx.Client) -> None:
    bind(
        api,
        PL,
        handler(PL, "api.user.setAppMetadata('before', true);"),
        "exports.onExecutePostLogin = async (event, api) => {"
        "  const token = api.redirect.encodeToken({secret: event.secrets.S, payload: {step: 'mfa'}});"
        "  api.redirect.sendUserTo('https://consent.example/ask', {query: {session_token: token}});"
        "};"
        "exports.onContinuePostLogin = async (event, api) => {"
        "  const payload = api.redirect.validateToken({secret: event.secrets.S, tokenParameterName: 'session_token'});"
        "  api.idToken.setCustomClaim('https://x/answer', event.request.query.answer + ':' + payload.step);"
        "};",
        handler(PL, "api.user.setAppMetadata('after', event.user.app_metadata.before);"),
        secrets=[{"name": "S", "value": "shared-secret"}],
    )
    first = fire(api, PL, {"user": {"user_id": "u1"}, "request": {"hostname": "login.example"}})
    assert first["status"] == "suspended"
    url = first["outcome"]["redirect"]["url"]
    assert url.startswith("https://consent.example/ask?session_token=")
    token = url.split("session_token=")[1]
    assert execution(api, first["execution_id"])["status"] == "suspended"

    resumed = api.post(
        f"{root(api)}/actionsd/v1/executions/{first['execution_id']}/continue",
        json={"query": {"answer": "yes", "session_token": token}},
    )
    assert resumed.status_code == 200, resumed.text
    body = resumed.json()
    assert body["status"] == "final" and body["execution_id"] == first["execution_id"]
    assert body["outcome"]["idToken"]["claims"]["https://x/answer"] == "yes:mfa"
    assert body["outcome"]["user"]["app_metadata"] == {"before": True, "after": True}, [
        (r["action_name"], r.get("error"), r["response"]["commands"]) for r in body["results"]
    ]
    assert len(body["results"]) == 4  # action 2 appears for its execute and its continue
    again = api.post(
        f"{root(api)}/actionsd/v1/executions/{first['execution_id']}/continue", json={}
    )
    assert again.status_code == 409

    # A forged token fails the continue handler, so the flow fails.
    second = fire(api, PL, {"user": {"user_id": "u1"}})
    forged = api.post(
        f"{root(api)}/actionsd/v1/executions/{second['execution_id']}/continue",
        json={"query": {"session_token": token[:-3] + "abc"}},
    )
    assert "signature" in forged.json()["error"]["message"]


def test_execution_record(api: httpx.Client) -> None:
    (action,) = bind(api, PL, handler(PL, "console.log('hello from', event.user.email);"))
    result = fire(api, PL, {"user": {"email": "ada@example.com"}})
    record = execution(api, result["execution_id"])
    assert record["trigger_id"] == PL and record["status"] == "final"
    (entry,) = record["results"]
    assert entry["action_name"] == action["name"]
    assert entry["response"]["logs"] == "hello from ada@example.com\n"
    assert entry["started_at"] <= entry["ended_at"]
    assert error(api.get("/actions/executions/nope"))["message"] == "That execution does not exist."


def test_a_trigger_with_nothing_bound_never_waits_for_a_worker(
    server: InProcessServer, api: httpx.Client
) -> None:
    assert server.state.runtime is not None
    workers = server.state.runtime.pool.size
    bind(api, PL, handler(PL, "await new Promise((r) => setTimeout(r, 3000));"))
    url = f"{root(api)}/actionsd/v1/triggers/{PL}/execute"
    with ThreadPoolExecutor(workers) as pool:
        held = [pool.submit(api.post, url, json={"event": {}}) for _ in range(workers)]
        time.sleep(0.5)  # every worker is in a three-second flow now
        answer = fire(api, "credentials-exchange", {"client": {"client_id": "c"}})
        assert not any(flow.done() for flow in held), "it waited for a worker"
        assert all(flow.result().status_code == 200 for flow in held)
    assert answer["status"] == "final" and answer["results"] == [], answer
    assert answer["outcome"] == {} and "error" not in answer, answer
    record = execution(api, answer["execution_id"])
    assert record["trigger_id"] == "credentials-exchange" and record["results"] == [], record


def test_test_endpoint_runs_the_draft(api: httpx.Client) -> None:
    (action,) = bind(api, PL, handler(PL, "console.log('deployed');"))
    api.patch(
        f"/actions/actions/{action['id']}",
        json={
            "code": handler(PL, "console.log('draft', event.user.email); api.access.deny('nope');")
        },
    )
    from tests.helpers import wait_status

    wait_status(api, action["id"], ("built",))
    response = api.post(
        f"/actions/actions/{action['id']}/test",
        json={"payload": {"event": {"user": {"email": "t@example.com"}}}},
    )
    assert response.status_code == 200, response.text
    payload = response.json()["payload"]
    assert payload["logs"] == "draft t@example.com\n"
    assert payload["commands"] == [{"name": "access.deny", "args": ["nope"]}]
    assert set(payload["stats"]) >= {
        "total_request_duration_ms",
        "action_duration_ms",
        "boot_duration_ms",
    }

    api.patch(f"/actions/actions/{action['id']}", json={"code": handler(PL, "null.boom;")})
    wait_status(api, action["id"], ("built",))
    thrown = api.post(f"/actions/actions/{action['id']}/test", json={"payload": {"user": {}}})
    assert thrown.status_code == 200, "Auth0 answers 200 with the error inside the payload"
    assert thrown.json()["payload"]["error"]["name"] == "TypeError"
    assert "stack" in thrown.json()["payload"]["error"]


def test_recent_executions_per_trigger(server: InProcessServer, api: httpx.Client) -> None:
    bind(api, PL, handler(PL, "console.log('one');"), handler(PL, "console.log('two');"))
    (other,) = bind(api, "post-change-password", handler("post-change-password", ""))
    fired = [fire(api, PL, {"user": {"user_id": f"auth0|{i}"}})["execution_id"] for i in range(3)]
    elsewhere = fire(api, "post-change-password")["execution_id"]
    base = f"{root(api)}/actionsd/v1/executions"

    # Newest first, not yet flushed ones included, each with its per-action results.
    recent = api.get(base, params={"trigger_id": PL, "per_page": 3})
    assert recent.status_code == 200, recent.text
    listed = recent.json()["executions"]
    assert [e["id"] for e in listed] == fired[::-1]
    assert all(e["trigger_id"] == PL and e["status"] == "final" for e in listed)
    assert [r["response"]["logs"] for r in listed[0]["results"]] == ["one\n", "two\n"]
    assert listed[0] == execution(api, fired[-1])
    two = api.get(base, params={"trigger_id": PL, "per_page": 2}).json()["executions"]
    assert [e["id"] for e in two] == fired[:0:-1]
    mine = api.get(base, params={"trigger_id": "post-change-password"}).json()["executions"]
    assert mine[0]["id"] == elsewhere and mine[0]["results"][0]["action_name"] == other["name"]
    assert fired[0] not in {e["id"] for e in mine}

    # Bad queries are refused in Auth0's shape; the scope is read:actions.
    for params in ({}, {"trigger_id": "nope"}, {"trigger_id": PL, "per_page": 0}):
        bad = api.get(base, params=params)
        assert bad.status_code == 400 and error(bad)["errorCode"] == "invalid_query_string"
    unscoped = {"Authorization": f"Bearer {server.token(['update:actions'])}"}
    assert api.get(base, params={"trigger_id": PL}, headers=unscoped).status_code == 403


def test_a_kept_alive_connection_closed_while_its_realm_slept_is_not_reused(
    api: httpx.Client,
) -> None:
    """A realm sleeps between runs and reads nothing from its sockets: a connection its
    fetch keeps alive, which the other side closes meanwhile, must not fail the next run."""
    seen: list[int] = []
    # An idle connection is closed after half a second.
    with pong_server(keep_alive=0.5, seen=seen) as port:
        fetch = "const r = await fetch(event.url); api.idToken.setCustomClaim('https://x/r', await r.text());"
        bind(api, PL, handler(PL, fetch))
        answers = []
        for gap in (0, 0, 1.5, 0, 1.5):
            time.sleep(gap)
            result = fire(api, PL, {"url": f"http://127.0.0.1:{port}/"})
            answers.append(result["outcome"]["idToken"]["claims"]["https://x/r"])
    assert answers == ["pong"] * 5
    assert seen[0] == seen[1], "back to back, the connection is kept alive"
    assert len(set(seen)) == 3, "after each gap, a new one"

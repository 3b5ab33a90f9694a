"""Hostile input: oversized, deeply nested, undecodable, huge or repetitive bodies get a
clear 400 or 413, nothing is stored, and the server stays well."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.helpers import error
from tests.runtime_helpers import bind, handler, root

TRIGGERS = [{"id": "post-login", "version": "v3"}]


def post_raw(
    api: httpx.Client, content: bytes | Iterator[bytes], path: str = "/actions/actions"
) -> httpx.Response:
    return api.post(path, content=content, headers={"content-type": "application/json"})


def assert_nothing_stored(api: httpx.Client) -> None:
    assert api.get("/actions/actions").json()["actions"] == []


def test_oversized_body_is_413_before_parsing(api: httpx.Client) -> None:
    body = json.dumps(
        {"name": "x", "supported_triggers": TRIGGERS, "code": "x" * (2 * 1024 * 1024)}
    ).encode()
    response = post_raw(api, body)
    assert response.status_code == 413
    assert error(response) == {
        "statusCode": 413,
        "error": "Request Entity Too Large",
        "message": "Payload content length greater than maximum allowed: 1048576",
    }
    assert_nothing_stored(api)


def test_oversized_chunked_body_is_413(api: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "x", "supported_triggers": [{"id": "post-login"}], "code": "'
        for _ in range(40):
            yield b"y" * 65536
        yield b'"}'

    response = post_raw(api, chunks())
    assert response.status_code == 413
    assert_nothing_stored(api)


@pytest.mark.parametrize(
    "content",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
        b'{"name": "\xff\xfe"}',
        b"\x00\x01\x02",
        b"",
    ],
    ids=["deep-array", "deep-object", "invalid-utf8", "binary", "empty"],
)
def test_unparseable_bodies(api: httpx.Client, content: bytes) -> None:
    response = post_raw(api, content)
    assert response.status_code == 400, response.text
    body = error(response)
    assert body["message"] in (
        "Invalid request payload JSON format",
        "Payload validation error: 'Expected type object but found type null'.",
    )
    assert_nothing_stored(api)


def test_huge_values_are_refused_without_echoing_them(api: httpx.Client) -> None:
    name = "\x00" + "n" * 500_000
    response = api.post("/actions/actions", json={"name": name, "supported_triggers": TRIGGERS})
    assert response.status_code == 400
    assert len(response.content) < 1000, "the offending value is not echoed back whole"
    assert_nothing_stored(api)


def test_ten_thousand_element_arrays(api: httpx.Client) -> None:
    secrets = [{"name": f"S{i}", "value": "v"} for i in range(10_000)]
    response = api.post(
        "/actions/actions", json={"name": "x", "supported_triggers": TRIGGERS, "secrets": secrets}
    )
    assert response.status_code == 400
    assert "Array is too long (10000), maximum 30" in error(response)["message"]
    refs = [{"ref": {"type": "action_id", "value": "x"}}] * 10_000
    patched = api.patch("/actions/triggers/post-login/bindings", json={"bindings": refs})
    assert patched.status_code == 400
    assert "Array is too long (10000), maximum 20" in error(patched)["message"]
    assert api.get("/actions/triggers/post-login/bindings").json() == {
        "bindings": [],
        "per_page": 20,
    }
    assert_nothing_stored(api)


def test_server_is_still_well(api: httpx.Client) -> None:
    post_raw(api, b"[" * 100_000)
    assert api.get("/actions/triggers").status_code == 200


def test_event_numbers_json_cannot_carry_exactly_still_run(api: httpx.Client) -> None:
    """An integer beyond 64 bits and a NaN (Python's JSON reader accepts both) reach the
    action as JavaScript would read them, instead of failing the flow."""
    bind(
        api,
        "post-login",
        handler(
            "post-login",
            "const m = event.user.app_metadata;"
            "api.idToken.setCustomClaim('https://x/big', [typeof m.big, m.big > 1e29]);"
            "api.idToken.setCustomClaim('https://x/nan', m.nan);",
        ),
    )
    body = b'{"event": {"user": {"app_metadata": {"big": ' + b"1" + b"0" * 30 + b', "nan": NaN}}}}'
    response = api.post(
        f"{root(api)}/actionsd/v1/triggers/post-login/execute",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert [r.get("error") for r in result["results"]] == [None], result
    assert result["outcome"]["idToken"]["claims"] == {
        "https://x/big": ["number", True],
        "https://x/nan": None,
    }


def test_half_a_utf16_pair_in_an_event_reaches_the_action_and_comes_back_replaced(
    api: httpx.Client,
) -> None:
    bind(
        api,
        "post-login",
        handler("post-login", "api.idToken.setCustomClaim('https://x/n', event.user.name);"),
    )
    response = api.post(
        f"{root(api)}/actionsd/v1/triggers/post-login/execute",
        content=b'{"event": {"user": {"name": "a\\ud800b"}}}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["outcome"]["idToken"]["claims"] == {"https://x/n": "a\ufffdb"}


def nested(depth: int) -> str:
    """JSON text of an object ``depth`` levels deep (``{"a": 1}`` is one level)."""
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize("depth", [65, 600, 1500])
def test_caller_json_nested_too_deep_for_the_runtime_is_a_400(
    api: httpx.Client, depth: int
) -> None:
    """An event, a test payload or a continue body nested deeper than the runtime reads
    (64 levels; Python's own recursion gave way near 480 and answered 500) is refused
    with Auth0's wording before anything runs or is recorded."""
    code = (
        handler("post-login", "api.redirect.sendUserTo('https://idp.example/step');")
        + "exports.onContinuePostLogin = async () => {};"
    )
    (action,) = bind(api, "post-login", code)
    base = root(api)
    headers = {"content-type": "application/json"}
    calls = {
        "event": f"{base}/actionsd/v1/triggers/post-login/execute",
        "payload": f"/actions/actions/{action['id']}/test",
    }
    listed = f"{base}/actionsd/v1/executions?trigger_id=post-login&per_page=100"
    before = {e["id"] for e in api.get(listed).json()["executions"]}
    for name, url in calls.items():
        content = '{"' + name + '": ' + nested(depth) + "}"
        response = api.post(url, content=content, headers=headers)
        assert response.status_code == 400, (name, response.text)
        assert error(response)["message"] in (
            f"Payload validation error: 'Nested more than 64 levels deep' on property {name}.",
            "Invalid request payload JSON format",  # deeper than the body's parser reads
        ), (name, response.text)
    first = api.post(calls["event"], json={"event": {}}).json()
    cont = f"{base}/actionsd/v1/executions/{first['execution_id']}/continue"
    refused = api.post(cont, content='{"body": ' + nested(depth) + "}", headers=headers)
    assert refused.status_code == 400, refused.text
    assert error(refused)["message"] in (
        "Payload validation error: 'Nested more than 64 levels deep' on property body.",
        "Invalid request payload JSON format",
    ), refused.text
    # Nothing ran: the suspended flow still continues, and it is the only one recorded.
    done = api.post(cont, json={"body": {}})
    assert done.status_code == 200 and done.json()["status"] == "final", done.text
    deadline = time.monotonic() + 10
    while True:  # records are written behind the flow
        now = {e["id"]: e["status"] for e in api.get(listed).json()["executions"]}
        if now.get(first["execution_id"]) == "final" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert set(now) - before == {first["execution_id"]}, now


def test_caller_json_64_levels_deep_still_runs(api: httpx.Client) -> None:
    bind(
        api,
        "post-login",
        handler(
            "post-login",
            "let v = event.user; let n = 1; while (v.a !== 1) { v = v.a; n++; } api.idToken.setCustomClaim('https://x/d', n);",
        ),
    )
    # The event is one level, user 63 more: {"user": {"a": ... {"a": 1}}}.
    body = '{"event": {"user": ' + nested(63) + "}}"
    response = api.post(
        f"{root(api)}/actionsd/v1/triggers/post-login/execute",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["outcome"]["idToken"]["claims"] == {"https://x/d": 63}

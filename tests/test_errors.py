"""Every failure answers in Auth0's body format and changes nothing."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import make_settings
from tests.helpers import create_action, error
from tests.servers import InProcessServer

TRIGGERS = [{"id": "post-login", "version": "v3"}]


def test_malformed_json(api: httpx.Client) -> None:
    response = api.post(
        "/actions/actions", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert error(response) == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "Invalid request payload JSON format",
    }
    assert response.headers["content-type"] == "application/json; charset=utf-8"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"supported_triggers": TRIGGERS},
            "Payload validation error: 'Missing required property: name'.",
        ),
        (
            {"name": "x", "supported_triggers": TRIGGERS, "colour": "red"},
            "Payload validation error: 'Additional properties not allowed: colour'.",
        ),
        (
            {"name": 7, "supported_triggers": TRIGGERS},
            "Payload validation error: 'Expected type string but found type integer' on property name.",
        ),
        (
            {"name": "x", "supported_triggers": []},
            "Payload validation error: 'Array is too short (0), minimum 1' on property supported_triggers.",
        ),
        (
            {"name": "x", "supported_triggers": [{"id": "post-logout"}]},
            "Payload validation error: 'No enum match for: \"post-logout\"' on property supported_triggers[0].id.",
        ),
        (
            {"name": "x", "supported_triggers": TRIGGERS, "deploy": "yes"},
            "Payload validation error: 'Expected type boolean but found type string' on property deploy.",
        ),
        (
            {"name": "x", "supported_triggers": TRIGGERS, "code": "x" * (100 * 1024 + 1)},
            "Payload validation error: 'String is too long (102401 chars), maximum 102400' on property code.",
        ),
        (
            {
                "name": "x",
                "supported_triggers": TRIGGERS,
                "secrets": [{"name": f"S{i}", "value": "v"} for i in range(31)],
            },
            "Payload validation error: 'Array is too long (31), maximum 30' on property secrets.",
        ),
        (
            {
                "name": "x",
                "supported_triggers": TRIGGERS,
                "dependencies": [{"name": f"d{i}", "version": "1"} for i in range(11)],
            },
            "Payload validation error: 'Array is too long (11), maximum 10' on property dependencies.",
        ),
        ([], "Payload validation error: 'Expected type object but found type array'."),
    ],
    ids=[
        "missing",
        "unknown-field",
        "wrong-type",
        "empty-triggers",
        "bad-enum",
        "bool-type",
        "code-size",
        "secret-limit",
        "dependency-limit",
        "not-object",
    ],
)
def test_invalid_bodies(api: httpx.Client, body: object, message: str) -> None:
    response = api.post("/actions/actions", json=body)
    assert response.status_code == 400
    assert error(response) == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": message,
        "errorCode": "invalid_body",
    }
    assert api.get("/actions/actions").json()["actions"] == []


def test_invalid_query(api: httpx.Client) -> None:
    for params in ({"per_page": "many"}, {"per_page": 101}, {"page": -1}, {"triggerId": "nope"}):
        response = api.get("/actions/actions", params=params)
        assert response.status_code == 400, params
        assert error(response)["errorCode"] == "invalid_query_string"
        assert error(response)["message"].startswith("Query validation error: ")


def test_unknown_route_and_method(api: httpx.Client) -> None:
    missing = api.get("/actions/whatever")
    assert missing.status_code == 404
    assert error(missing) == {"statusCode": 404, "error": "Not Found", "message": "Not Found"}
    wrong = api.put("/actions/actions", json={})
    assert wrong.status_code == 405
    assert error(wrong) == {
        "statusCode": 405,
        "error": "Method Not Allowed",
        "message": "Method Not Allowed",
    }


def test_null_bodies_are_tolerated(api: httpx.Client) -> None:
    """The Go SDK sends the literal body `null` on GET, DELETE and deploy."""
    null = {"content": b"null", "headers": {"content-type": "application/json"}}
    action = create_action(api)
    assert api.request("GET", f"/actions/actions/{action['id']}", **null).status_code == 200  # type: ignore[arg-type]
    assert api.request("GET", "/actions/actions", **null).status_code == 200  # type: ignore[arg-type]
    assert api.request("DELETE", f"/actions/actions/{action['id']}", **null).status_code == 204  # type: ignore[arg-type]


def test_execution_not_found(api: httpx.Client) -> None:
    response = api.get("/actions/executions/M9IqRp9wQLaYNrSwz6YPTTIwMjEwNDA0")
    assert response.status_code == 404
    assert error(response) == {
        "statusCode": 404,
        "error": "Not Found",
        "message": "That execution does not exist.",
    }


def test_rate_limit_headers_and_429(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, "sqlite", rate_limit_burst=3, rate_limit_per_second=0.01, build_worker=False
    )
    server = InProcessServer(settings).start()
    try:
        with server.client() as client:
            seen = [client.get("/actions/triggers") for _ in range(4)]
        assert [r.status_code for r in seen] == [200, 200, 200, 429]
        assert [r.headers["x-ratelimit-remaining"] for r in seen[:3]] == ["2", "1", "0"]
        assert all(r.headers["x-ratelimit-limit"] == "3" for r in seen)
        assert int(seen[3].headers["x-ratelimit-reset"]) > 0
        assert int(seen[3].headers["retry-after"]) >= 1
        assert seen[3].json() == {
            "statusCode": 429,
            "error": "Too Many Requests",
            "message": "Global limit has been reached",
            "errorCode": "too_many_requests",
        }
    finally:
        server.stop()


def test_action_limit(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "sqlite", max_actions=2)
    server = InProcessServer(settings).start()
    try:
        with server.client() as client:
            create_action(client)
            create_action(client)
            third = client.post(
                "/actions/actions", json={"name": "third", "supported_triggers": TRIGGERS}
            )
            assert third.status_code == 400
            assert "maximum number of actions (2)" in error(third)["message"]
            assert client.get("/actions/actions").json()["total"] == 2
    finally:
        server.stop()


def test_huge_page_numbers_are_refused_not_overflowed(api: httpx.Client) -> None:
    """Found by schemathesis: ?page=10**20 overflowed SQLite's integer offset (500)."""
    for path in ("/actions/actions", "/actions/triggers/post-login/bindings", "/actions/modules"):
        response = api.get(path, params={"page": 10**20, "per_page": 10})
        assert response.status_code == 400, (path, response.text)
        assert error(response)["errorCode"] == "invalid_query_string"

"""PATCH bindings' shortcut below FastAPI (api/shortcuts.py): it answers exactly as the
regular route does, and it really answers (the route is not reached) in the plain case."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from actionsd.api.shortcuts import ShortcutMiddleware
from actionsd.app import create_app
from actionsd.auth import tokens
from actionsd.bindings.views import SHORTCUTS
from tests.conftest import fresh_postgres, make_settings
from tests.helpers import by_binding, by_id, by_name, create_action, deployed_action
from tests.servers import InProcessServer

PATH = "/actions/triggers/post-login/bindings"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def twins(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[InProcessServer, InProcessServer]]:
    """Two fresh servers, alike but for the shortcut."""
    servers = []
    for on in (True, False):
        overrides: dict[str, Any] = {"shortcuts": on}
        if request.param == "postgres":
            overrides["database_url"] = fresh_postgres(f"shortcut_{on}")
        servers.append(
            InProcessServer(make_settings(tmp_path / str(on), "sqlite", **overrides)).start()
        )
    yield servers[0], servers[1]
    for srv in servers:
        srv.stop()


def world(api: httpx.Client) -> dict[str, Any]:
    """The same actions on either server: three deployed, one draft, one elsewhere."""
    return {
        "a": deployed_action(api, "a"),
        "b": deployed_action(api, "b"),
        "c": deployed_action(api, "c"),
        "draft": create_action(api, "draft"),
        "other": deployed_action(api, "other", trigger="credentials-exchange", version="v2"),
    }


Call = Callable[[httpx.Client, dict[str, Any], str], httpx.Response]


def patch(body: Any, **headers: str) -> Call:
    def call(api: httpx.Client, _: dict[str, Any], token: str) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        sent.update({k.replace("_", "-"): v for k, v in headers.items()})
        return api.patch(PATH, content=content, headers={k: v for k, v in sent.items() if v})

    return call


def refs(make: Callable[[dict[str, Any], httpx.Client], list[Any]], **headers: str) -> Call:
    def call(api: httpx.Client, made: dict[str, Any], token: str) -> httpx.Response:
        return patch({"bindings": make(made, api)}, **headers)(api, made, token)

    return call


def current_ids(api: httpx.Client) -> list[str]:
    return [b["id"] for b in api.get(PATH).json()["bindings"]]


def etag(api: httpx.Client) -> str:
    return api.get(PATH).headers["etag"]


CASES: list[tuple[str, Call]] = [
    ("by id, name", refs(lambda m, _: [by_id(m["a"]["id"]), by_name("b", display_name="B")])),
    ("keep by binding id", refs(lambda m, api: [by_binding(i) for i in current_ids(api)[::-1]])),
    ("secrets", refs(lambda m, _: [by_id(m["c"]["id"], secrets=[{"name": "K", "value": "v"}])])),
    ("if-match current", lambda api, m, t: refs(lambda *_: [], if_match=etag(api))(api, m, t)),
    ("empty list", patch({"bindings": []})),
    ("unknown action", refs(lambda m, _: [by_id("00000000-0000-4000-8000-000000000000")])),
    ("not deployed", refs(lambda m, _: [by_id(m["draft"]["id"])])),
    ("other trigger", refs(lambda m, _: [by_id(m["other"]["id"])])),
    ("twice", refs(lambda m, _: [by_id(m["a"]["id"]), by_name("a")])),
    ("stale if-match", refs(lambda m, _: [by_id(m["a"]["id"])], if_match='"0"')),
    ("bad if-match", refs(lambda m, _: [by_id(m["a"]["id"])], if_match="nonsense")),
    ("wrong shape", patch({"bindings": {"ref": 1}})),
    ("extra member", patch({"bindings": [], "extra": True})),
    ("bad ref type", patch({"bindings": [{"ref": {"type": "nope", "value": "x"}}]})),
    ("not json", patch(b'{"bindings": [')),
    ("text/plain", patch({"bindings": []}, content_type="text/plain")),
    ("no content type", patch({"bindings": []}, content_type="")),
    ("vendor json type", patch({"bindings": []}, content_type="application/vnd.x+json")),
    ("no token", patch({"bindings": []}, authorization="")),
    ("bad token", patch({"bindings": []}, authorization="Bearer not.a.token")),
]


# GET bindings: (path under /actions/triggers, query string, token scopes or None for none)
GETS: list[tuple[str, str, tuple[str, ...] | None]] = [
    ("post-login", "", ("read:actions",)),
    ("post-login", "page=0&per_page=2", ("read:actions",)),
    ("post-login", "page=1&per_page=1", ("read:actions",)),
    ("post-login", "page=7", ("read:actions",)),
    ("post-login", "per_page=01", ("read:actions",)),
    ("post-login", "per_page=0", ("read:actions",)),
    ("post-login", "per_page=101", ("read:actions",)),
    ("post-login", "per_page=abc", ("read:actions",)),
    ("post-login", "per_page=", ("read:actions",)),
    ("post-login", "page=-1", ("read:actions",)),
    ("post-login", "page=1&page=0", ("read:actions",)),
    ("post-login", "other=1", ("read:actions",)),
    ("credentials-exchange", "", ("read:actions",)),
    ("custom-token-exchange", "", ("read:actions",)),
    ("not-a-trigger", "", ("read:actions",)),
    ("post-login", "", ("update:actions",)),
    ("post-login", "", None),
]


def get_cases(srv: InProcessServer) -> list[tuple[str, httpx.Response]]:
    out = []
    for trigger, query, scopes in GETS:
        headers = {"Authorization": f"Bearer {srv.token(scopes)}"} if scopes else {}
        url = f"{srv.url}/api/v2/actions/triggers/{trigger}/bindings" + (f"?{query}" * bool(query))
        out.append((f"GET {trigger}?{query} {scopes}", httpx.get(url, headers=headers)))
    return out


def normalised(response: httpx.Response) -> tuple[int, Any, dict[str, str]]:
    text = STAMP.sub("<time>", UUID.sub("<id>", response.text))
    headers = {
        k: v
        for k, v in response.headers.items()
        if k in ("content-type", "etag", "www-authenticate", "x-ratelimit-limit")
    }
    return response.status_code, json.loads(text) if text else None, headers


def test_the_shortcut_answers_as_the_route_does(
    twins: tuple[InProcessServer, InProcessServer],
) -> None:
    answers = []
    for srv in twins:
        with srv.client() as api:
            made = world(api)
            token = srv.token()
            unscoped = srv.token(["read:actions"])
            got = [(name, normalised(call(api, made, token))) for name, call in CASES]
            got.append(("no scope", normalised(patch({"bindings": []})(api, made, unscoped))))
            got += [(name, normalised(r)) for name, r in get_cases(srv)]
            answers.append(got)
    with_shortcut, without = answers
    for (name, mine), (_, theirs) in zip(with_shortcut, without, strict=True):
        assert mine == theirs, name
    statuses = {name: answer[0] for name, answer in with_shortcut}
    assert statuses["by id, name"] == statuses["keep by binding id"] == 200
    assert {statuses[n] for n in ("not deployed", "other trigger", "twice")} == {400}
    assert statuses["stale if-match"] == 412 and statuses["no scope"] == 403
    assert statuses["GET post-login?page=1&per_page=1 ('read:actions',)"] == 200
    assert statuses["GET post-login?per_page=0 ('read:actions',)"] == 400


# ---- the shortcut itself, driven as an ASGI application ---------------------------------


class Route:
    """Stands in for the regular route: records what reaches it."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def asgi_patch(
    app: Any,
    shortcut: ShortcutMiddleware,
    token: str,
    chunks: list[bytes],
    method: str = "PATCH",
    **headers: str,
) -> tuple[int, dict[bytes, bytes], bytes]:
    sent = {"content-type": "application/json", "authorization": f"Bearer {token}", **headers}
    scope = {
        "type": "http",
        "method": method,
        "path": "/api/v2" + PATH,
        "query_string": b"per_page=5",
        "headers": [(k.encode(), v.encode()) for k, v in sent.items()],
        "app": app,
    }
    incoming: list[dict[str, Any]] = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ] or [{"type": "http.disconnect"}]
    out: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        out.append(message)

    await shortcut(scope, receive, send)
    return out[0]["status"], dict(out[0].get("headers", [])), out[1]["body"]


def test_the_plain_case_never_reaches_the_route(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, "sqlite"))

    async def scenario() -> None:
        async with app.router.lifespan_context(app):
            state = app.state.actionsd
            token = tokens.issue(
                state.keys,
                domain=state.settings.domains[0],
                client_id="test",
                scopes=["read:actions", "create:actions", "update:actions"],
                lifetime_s=600,
            )
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://test/api/v2",
                headers={"Authorization": f"Bearer {token}"},
            ) as api:
                ids = []
                for name in ("x", "y"):
                    made = await api.post(
                        "/actions/actions",
                        json={
                            "name": name,
                            "supported_triggers": [{"id": "post-login", "version": "v3"}],
                            "code": "exports.onExecutePostLogin = async () => {};",
                        },
                    )
                    ids.append(made.json()["id"])
                for action_id in ids:
                    while (await api.get(f"/actions/actions/{action_id}")).json()[
                        "status"
                    ] != "built":
                        await asyncio.sleep(0.02)
                    assert (await api.post(f"/actions/actions/{action_id}/deploy")).is_success

                route = Route()
                shortcut = ShortcutMiddleware(route, SHORTCUTS)
                body = json.dumps({"bindings": [by_id(ids[1]), by_id(ids[0])]}).encode()
                # In two chunks, as a chunked upload arrives.
                status, headers, answer = await asgi_patch(
                    app, shortcut, token, [body[:10], body[10:]]
                )
                assert (status, route.bodies) == (200, [])
                assert headers[b"etag"] and headers[b"content-length"] == str(len(answer)).encode()
                listed = (await api.get(PATH)).json()["bindings"]
                assert [b["action"]["name"] for b in listed] == ["y", "x"]
                assert json.loads(answer)["bindings"] == listed
                status, headers, answer = await asgi_patch(app, shortcut, token, [b""], "GET")
                assert (status, route.bodies) == (200, [])
                assert json.loads(answer) == {"bindings": listed, "total": 2, "per_page": 5}

                # Refused by the domain or the token: answered here, with Auth0's body.
                status, _, answer = await asgi_patch(
                    app, shortcut, token, [json.dumps({"bindings": [by_name("nope")]}).encode()]
                )
                assert (status, route.bodies) == (404, [])
                assert "does not exist" in json.loads(answer)["message"]
                status, headers, _ = await asgi_patch(app, shortcut, "forged", [body])
                assert (status, headers[b"www-authenticate"], route.bodies) == (401, b"Bearer", [])

                # Not parsed exactly as the route would: handed on, body intact.
                for chunks, extra in (
                    ([b'{"bindings": 1}'], {}),
                    ([b"{", b"]"], {}),
                    ([body], {"content-type": "text/plain"}),
                ):
                    route.bodies.clear()
                    status, _, _ = await asgi_patch(app, shortcut, token, chunks, **extra)
                    assert (status, route.bodies) == (299, [b"".join(chunks)])
                route.bodies.clear()
                status, _, _ = await asgi_patch(app, shortcut, token, [])  # the client left
                assert (status, route.bodies) == (299, [b""])
                listed_after = (await api.get(PATH)).json()["bindings"]
                assert listed_after == listed, "nothing refused or handed on wrote anything"

    asyncio.run(scenario())

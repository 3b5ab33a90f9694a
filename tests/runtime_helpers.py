"""Helpers for runtime tests: bind real code to a trigger, fire it over HTTP."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from tests.helpers import create_action, deploy, wait_status

_n = itertools.count()
VERSIONS = {
    "post-login": "v3",
    "credentials-exchange": "v2",
    "pre-user-registration": "v2",
    "post-user-registration": "v2",
    "post-change-password": "v2",
    "send-phone-message": "v2",
    "password-reset-post-challenge": "v1",
    "custom-email-provider": "v1",
    "custom-phone-provider": "v1",
}


def deployed(api: httpx.Client, trigger: str, code: str, **create: Any) -> dict[str, Any]:
    """Create, build and deploy one action of ``trigger``."""
    action = create_action(
        api,
        f"{trigger}-{next(_n)}",
        trigger=trigger,
        version=VERSIONS.get(trigger, "v1"),
        code=code,
        **create,
    )
    built = wait_status(api, action["id"])
    assert built["status"] == "built", built
    deploy(api, action["id"])
    return action


def bind(api: httpx.Client, trigger: str, *codes: str, **create: Any) -> list[dict[str, Any]]:
    """Create, build, deploy and bind one action per code, in order."""
    made = [deployed(api, trigger, code, **create) for code in codes]
    refs = [{"ref": {"type": "action_id", "value": a["id"]}} for a in made]
    response = api.patch(f"/actions/triggers/{trigger}/bindings", json={"bindings": refs})
    assert response.status_code == 200, response.text
    return made


def fire(
    api: httpx.Client,
    trigger: str,
    event: dict[str, Any] | None = None,
    action_id: str | None = None,
) -> dict[str, Any]:
    """Fire the trigger's bound flow, or an entity-bound trigger's ``action_id``."""
    body: dict[str, Any] = {"event": event or {}}
    if action_id is not None:
        body["action_id"] = action_id
    response = api.post(f"{root(api)}/actionsd/v1/triggers/{trigger}/execute", json=body)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def root(api: httpx.Client) -> str:
    return str(api.base_url).rstrip("/").removesuffix("/api/v2")


def execution(api: httpx.Client, execution_id: str) -> dict[str, Any]:
    """The stored record (written behind the flow, so it may take a moment)."""
    deadline = time.monotonic() + 10
    while True:
        response = api.get(f"/actions/executions/{execution_id}")
        if response.status_code == 200:
            body: dict[str, Any] = response.json()
            return body
        assert time.monotonic() < deadline, response.text
        time.sleep(0.02)


HANDLERS = {
    "post-login": "onExecutePostLogin",
    "credentials-exchange": "onExecuteCredentialsExchange",
    "pre-user-registration": "onExecutePreUserRegistration",
    "post-user-registration": "onExecutePostUserRegistration",
    "post-change-password": "onExecutePostChangePassword",
    "send-phone-message": "onExecuteSendPhoneMessage",
    "password-reset-post-challenge": "onExecutePostChallenge",
    "custom-email-provider": "onExecuteCustomEmailProvider",
    "custom-phone-provider": "onExecuteCustomPhoneProvider",
    "custom-token-exchange": "onExecuteCustomTokenExchange",
    "event-stream": "onExecuteEventStream",
    "password-hash-migration": "onExecutePasswordHashMigration",
    "mcp-tool": "onExecuteMcpTool",
}


def handler(trigger: str, body: str) -> str:
    return f"exports.{HANDLERS[trigger]} = async (event, api) => {{ {body} }};"


@contextmanager
def pong_server(keep_alive: float | None = None, seen: list[int] | None = None) -> Iterator[int]:
    """A local HTTP server (not actionsd) on 127.0.0.1 answering "pong"; its port. With
    ``keep_alive``, connections stay open until idle for that many seconds; ``seen``
    collects each request's client port, one per connection."""

    class Pong(BaseHTTPRequestHandler):
        if keep_alive is not None:
            protocol_version = "HTTP/1.1"
            timeout = keep_alive

        def do_GET(self) -> None:
            if seen is not None:
                seen.append(self.client_address[1])
            self.send_response(200)
            self.send_header("Content-Length", "4")
            self.end_headers()
            self.wfile.write(b"pong")

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Pong)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield int(httpd.server_address[1])
    finally:
        httpd.shutdown()

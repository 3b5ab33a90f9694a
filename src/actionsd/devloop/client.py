"""The developer-loop commands as clients of a running server: where it is, a token
for it, and the Management API calls they share (actions by name, waiting for builds).

A server is found through its data directory (``server.json`` that ``actionsd serve``
writes, the admin client's credentials and the local CA beside it), or given by
``--url`` with client credentials or a token."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

SERVER_FILE = "server.json"
WAITING = ("pending", "building")


class ClientError(Exception):
    """The command cannot go on: no server, refused credentials, an API error."""


@dataclass(frozen=True)
class Target:
    url: str
    verify: ssl.SSLContext | bool
    token: str | None = None
    client_id: str | None = None
    client_secret: str | None = None


def target_from_data_dir(data_dir: Path) -> Target:
    from actionsd.auth.clients import CREDENTIALS_FILE  # (imports the database layer)

    server_file = data_dir / SERVER_FILE
    if not server_file.exists():
        raise ClientError(
            f"No server has run with the data directory {data_dir} (no {SERVER_FILE}): "
            "start one with `actionsd serve`, or pass --url."
        )
    url = json.loads(server_file.read_text())["url"]
    creds = json.loads((data_dir / CREDENTIALS_FILE).read_text())
    ca = data_dir / "tls" / "ca.pem"
    return Target(
        url=url,
        verify=trusting(ca if ca.exists() else None),
        client_id=creds["client_id"],
        client_secret=creds["client_secret"],
    )


def target_from_url(
    url: str,
    *,
    token: str | None,
    client_id: str | None,
    client_secret: str | None,
    ca_cert: Path | None,
) -> Target:
    if not token and not (client_id and client_secret):
        raise ClientError("--url needs --token, or --client-id and --client-secret.")
    return Target(url.rstrip("/"), trusting(ca_cert), token, client_id, client_secret)


def trusting(ca_cert: Path | None) -> ssl.SSLContext | bool:
    """The system's trust (and SSL_CERT_FILE's) plus the given CA."""
    context = httpx.create_ssl_context()
    if ca_cert is not None:
        context.load_verify_locations(cafile=str(ca_cert))
    return context


def connect(target: Target, timeout: float | None = 60.0) -> httpx.Client:
    """An HTTP client of the server carrying a bearer token (one from the token
    endpoint when the target has client credentials)."""
    token = target.token
    if token is None:
        domain = urlsplit(target.url).netloc
        try:
            answer = httpx.post(
                f"{target.url}/oauth/token",
                json={
                    "grant_type": "client_credentials",
                    "client_id": target.client_id,
                    "client_secret": target.client_secret,
                    "audience": f"https://{domain}/api/v2/",
                },
                verify=target.verify,
                timeout=timeout,
            )
        except httpx.HTTPError as exc:
            raise ClientError(f"Cannot reach the server at {target.url}: {exc}") from None
        if answer.status_code != 200:
            raise ClientError(f"The server refused the client credentials: {answer.text}")
        token = answer.json()["access_token"]
    return httpx.Client(
        base_url=target.url,
        headers={"Authorization": f"Bearer {token}"},
        verify=target.verify,
        timeout=timeout,
    )


def call(api: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    """One API call's JSON body; ClientError with the server's message otherwise."""
    return _checked(api, method, path, **kwargs).json()


def call_empty(api: httpx.Client, method: str, path: str, **kwargs: Any) -> None:
    """An API call answering no body (204)."""
    _checked(api, method, path, **kwargs)


def _checked(api: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    try:
        response = api.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise ClientError(f"Cannot reach the server at {api.base_url}: {exc}") from None
    if response.status_code >= 400:
        try:
            message = response.json().get("message") or response.text
        except ValueError:
            message = response.text
        raise ClientError(f"{method} {path} answered {response.status_code}: {message}")
    return response


def find_action(api: httpx.Client, name_or_id: str) -> dict[str, Any]:
    """The action with that id, else the one with that name."""
    response = api.get(f"/api/v2/actions/actions/{name_or_id}")
    if response.status_code == 200:
        found: dict[str, Any] = response.json()
        return found
    listed = call(api, "GET", "/api/v2/actions/actions", params={"actionName": name_or_id})
    for action in listed.get("actions", []):
        if action["name"] == name_or_id:
            return dict(action)
    raise ClientError(f"No action has the id or name {name_or_id!r}.")


Progress = Callable[[list[str], float], None]


def wait_built(
    fetch: Callable[[], list[tuple[str, str]]], progress: Progress, timeout: float
) -> None:
    """Poll ``fetch`` (name and build status of each action) until none is pending or
    building, telling ``progress`` which still are and for how long."""
    started = time.monotonic()
    waited = False
    while True:
        waiting = [name for name, status in fetch() if status in WAITING]
        elapsed = time.monotonic() - started
        if not waiting:
            if waited:
                progress([], elapsed)
            return
        waited = True
        if elapsed > timeout:
            raise ClientError(f"Still building after {timeout:.0f} s: {', '.join(waiting)}")
        progress(waiting, elapsed)
        time.sleep(0.25)


def bound_builds(api: httpx.Client, trigger_id: str) -> Callable[[], list[tuple[str, str]]]:
    """The deployed versions' build states of the trigger's bound actions."""

    def fetch() -> list[tuple[str, str]]:
        listed = call(
            api, "GET", f"/api/v2/actions/triggers/{trigger_id}/bindings", params={"per_page": 100}
        )
        return [
            (
                b.get("display_name") or b["action"]["name"],
                (b["action"].get("deployed_version") or {}).get("status", "built"),
            )
            for b in listed.get("bindings", [])
        ]

    return fetch


def draft_build(api: httpx.Client, action_id: str) -> Callable[[], list[tuple[str, str]]]:
    def fetch() -> list[tuple[str, str]]:
        action = call(api, "GET", f"/api/v2/actions/actions/{action_id}")
        return [(str(action["name"]), str(action["status"]))]

    return fetch


def deployed_build(api: httpx.Client, action_id: str) -> Callable[[], list[tuple[str, str]]]:
    def fetch() -> list[tuple[str, str]]:
        found = call(api, "GET", f"/api/v2/actions/actions/{action_id}")
        return [(str(found["name"]), (found.get("deployed_version") or {}).get("status", "built"))]

    return fetch


def fire(
    api: httpx.Client,
    trigger_id: str,
    event: dict[str, Any],
    action: str | None,
    progress: Progress,
    build_timeout: float,
) -> dict[str, Any]:
    """Fire the trigger once what it runs is built: its bound actions, or, for an
    entity-bound trigger, the deployed version of ``action`` (a name or an id)."""
    request: dict[str, Any] = {"event": event}
    if action is None:
        wait_built(bound_builds(api, trigger_id), progress, build_timeout)
    else:
        request["action_id"] = find_action(api, action)["id"]
        wait_built(deployed_build(api, request["action_id"]), progress, build_timeout)
    answer: dict[str, Any] = call(
        api, "POST", f"/actionsd/v1/triggers/{trigger_id}/execute", json=request
    )
    return answer


STREAM = "/actionsd/v1/executions/stream"


def stream(
    api: httpx.Client, params: dict[str, Any], *, follow: bool, retry_seconds: float = 1.0
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The stream's events: ``("execution", body)``, ``("live", {})`` once caught up (the
    end, unless ``follow``), and, when ``follow`` and the connection drops,
    ``("lost", {})`` before it connects again, resuming after the last event seen."""
    from httpx_sse import connect_sse

    last_id: str | None = None
    while True:
        headers = {"Last-Event-ID": last_id} if last_id else {}
        try:
            with connect_sse(api, "GET", STREAM, params=params, headers=headers) as source:
                if source.response.status_code != 200:
                    source.response.read()
                    raise ClientError(
                        f"the stream answered {source.response.status_code}: {source.response.text}"
                    )
                for message in source.iter_sse():
                    last_id = message.id or last_id
                    if message.event == "live":
                        yield "live", {}
                        if not follow:
                            return
                    elif message.event == "execution":
                        yield "execution", message.json()
        except httpx.TransportError as exc:
            if not follow or last_id is None:
                raise ClientError(f"Cannot reach the server at {api.base_url}: {exc}") from None
        if not follow:
            raise ClientError("The stream ended before it caught up.")
        yield "lost", {}
        time.sleep(retry_seconds)

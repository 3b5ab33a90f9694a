"""Small helpers the API tests share: create, wait for the build, deploy."""

from __future__ import annotations

import itertools
import time
from typing import Any

import httpx

_names = itertools.count()
CODE = "exports.onExecutePostLogin = async (event, api) => {};"


def create_action(
    api: httpx.Client,
    name: str | None = None,
    trigger: str = "post-login",
    version: str = "v3",
    code: str = CODE,
    **extra: Any,
) -> dict[str, Any]:
    body = {
        "name": name or f"action-{next(_names)}",
        "supported_triggers": [{"id": trigger, "version": version}],
        "code": code,
        **extra,
    }
    response = api.post("/actions/actions", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def wait_status(
    api: httpx.Client, action_id: str, wanted: tuple[str, ...] = ("built", "failed")
) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        action: dict[str, Any] = api.get(f"/actions/actions/{action_id}").json()
        if action["status"] in wanted:
            return action
        assert time.monotonic() < deadline, f"build never finished: {action}"
        time.sleep(0.02)


def deploy(api: httpx.Client, action_id: str) -> dict[str, Any]:
    wait_status(api, action_id, ("built",))
    response = api.post(f"/actions/actions/{action_id}/deploy")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def deployed_action(api: httpx.Client, name: str | None = None, **kwargs: Any) -> dict[str, Any]:
    action = create_action(api, name, **kwargs)
    deploy(api, action["id"])
    result: dict[str, Any] = api.get(f"/actions/actions/{action['id']}").json()
    return result


def patch_bindings(api: httpx.Client, trigger: str, refs: list[dict[str, Any]]) -> httpx.Response:
    return api.patch(f"/actions/triggers/{trigger}/bindings", json={"bindings": refs})


def by_id(action_id: str, **extra: Any) -> dict[str, Any]:
    return {"ref": {"type": "action_id", "value": action_id}, **extra}


def by_name(name: str, **extra: Any) -> dict[str, Any]:
    return {"ref": {"type": "action_name", "value": name}, **extra}


def by_binding(binding_id: str, **extra: Any) -> dict[str, Any]:
    return {"ref": {"type": "binding_id", "value": binding_id}, **extra}


def error(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert set(body) <= {"statusCode", "error", "message", "errorCode"}, body
    assert body["statusCode"] == response.status_code
    return body

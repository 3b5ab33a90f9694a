"""Actions Modules (Auth0 Early Access): the ten operations, their envelopes and errors,
and ``require('actions:<name>')`` in real flows with the module's own secrets."""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers import error
from tests.runtime_helpers import bind, fire, handler

PL = "post-login"
LOGGER = "module.exports = { tag: (s) => `[${actions.secrets.PREFIX}] ${s}`, hasActionSecret: () => typeof event };"


def create_module(api: httpx.Client, name: str = "logger", **extra: Any) -> dict[str, Any]:
    body = {"name": name, "code": LOGGER, "secrets": [{"name": "PREFIX", "value": "v1"}], **extra}
    response = api.post("/actions/modules", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_module_lifecycle(api: httpx.Client) -> None:
    assert api.get("/actions/modules", params={"per_page": 100}).json() == {
        "modules": [],
        "total": 0,
        "page": 0,
        "per_page": 100,
    }
    module = create_module(api, dependencies=[{"name": "is-number", "version": "7.0.0"}])
    assert module["all_changes_published"] is False and module["actions_using_module_total"] == 0
    assert "latest_version" not in module
    assert module["secrets"][0]["name"] == "PREFIX" and "value" not in module["secrets"][0]
    assert len(module["created_at"]) == 27, "the Modules service prints microseconds"
    assert error(api.post("/actions/modules", json={"name": "logger", "code": ""})) == {
        "statusCode": 409,
        "error": "Conflict",
        "message": "An action module with the same name already exists.",
    }

    v1 = api.post(f"/actions/modules/{module['id']}/versions")
    assert v1.status_code == 200, v1.text
    assert v1.json()["version_number"] == 1 and v1.json()["module_id"] == module["id"]
    nothing = api.post(f"/actions/modules/{module['id']}/versions")
    assert (
        nothing.status_code == 409
        and error(nothing)["message"] == "No draft version is available to publish."
    )

    patched = api.patch(f"/actions/modules/{module['id']}", json={"code": LOGGER + "\n// 2"}).json()
    assert (
        patched["all_changes_published"] is False
        and patched["latest_version"]["version_number"] == 1
    )
    assert (
        api.patch(f"/actions/modules/{module['id']}", json={"name": "renamed"}).status_code == 400
    ), "names are immutable"
    v2 = api.post(f"/actions/modules/{module['id']}/versions").json()
    versions = api.get(f"/actions/modules/{module['id']}/versions").json()
    assert [v["version_number"] for v in versions["versions"]] == [2, 1]
    assert versions["total"] == 2 and versions["page"] == 0 and versions["per_page"] == 20
    assert (
        api.get(f"/actions/modules/{module['id']}/versions/{v2['id']}")
        .json()["code"]
        .endswith("// 2")
    )

    rolled = api.post(
        f"/actions/modules/{module['id']}/rollback", json={"module_version_id": v1.json()["id"]}
    )
    assert rolled.status_code == 200 and not rolled.json()["code"].endswith("// 2")
    again = api.post(
        f"/actions/modules/{module['id']}/rollback", json={"module_version_id": v1.json()["id"]}
    )
    assert again.status_code == 409
    assert error(again)["message"] == "The specified version is already the current draft version."

    listed = api.get("/actions/modules").json()
    assert listed["total"] == 1 and [m["name"] for m in listed["modules"]] == ["logger"]
    assert api.get("/actions/modules/nope").status_code == 404


def test_actions_pin_module_versions_and_require_them(api: httpx.Client) -> None:
    module = create_module(api, "greeter", publish=True)
    version = module["latest_version"]
    assert version["version_number"] == 1
    (action,) = bind(
        api,
        PL,
        handler(
            PL,
            "const g = require('actions:greeter'); api.idToken.setCustomClaim('https://x/g', g.tag(event.secrets.WHO)); api.idToken.setCustomClaim('https://x/iso', g.hasActionSecret());",
        ),
        secrets=[{"name": "WHO", "value": "ada"}],
        modules=[{"module_id": module["id"], "module_version_id": version["id"]}],
    )
    read = api.get(f"/actions/actions/{action['id']}").json()
    assert read["modules"] == [
        {
            "module_id": module["id"],
            "module_name": "greeter",
            "module_version_id": version["id"],
            "module_version_number": 1,
        }
    ]
    claims = fire(api, PL, {"user": {}})["outcome"]["idToken"]["claims"]
    assert claims == {"https://x/g": "[v1] ada", "https://x/iso": "undefined"}, (
        "module secrets are the module's own"
    )

    # A new module version changes nothing until the action pins it.
    api.patch(
        f"/actions/modules/{module['id']}", json={"secrets": [{"name": "PREFIX", "value": "v2"}]}
    )
    api.post(f"/actions/modules/{module['id']}/versions")
    assert fire(api, PL, {"user": {}})["outcome"]["idToken"]["claims"]["https://x/g"] == "[v1] ada"

    uses = api.get(f"/actions/modules/{module['id']}/actions").json()
    assert uses == {
        "actions": [
            {
                "action_id": action["id"],
                "action_name": action["name"],
                "module_version_id": version["id"],
                "module_version_number": 1,
            }
        ],
        "total": 1,
        "per_page": 50,
    }
    assert api.get(f"/actions/modules/{module['id']}").json()["actions_using_module_total"] == 1
    in_use = api.delete(f"/actions/modules/{module['id']}")
    assert in_use.status_code == 412
    assert (
        error(in_use)["message"]
        == "The Actions Module cannot be deleted because it is in use by one or more actions."
    )

    api.patch(f"/actions/triggers/{PL}/bindings", json={"bindings": []})
    api.delete(f"/actions/actions/{action['id']}")
    assert api.delete(f"/actions/modules/{module['id']}").status_code == 204
    assert api.get(f"/actions/modules/{module['id']}").status_code == 404


def test_unknown_module_reference_is_refused(api: httpx.Client) -> None:
    response = api.post(
        "/actions/actions",
        json={
            "name": "x",
            "supported_triggers": [{"id": PL, "version": "v3"}],
            "modules": [{"module_id": "nope", "module_version_id": "nope"}],
        },
    )
    assert response.status_code == 400
    assert api.get("/actions/actions").json()["actions"] == []


def test_require_of_a_module_the_action_does_not_pin(api: httpx.Client) -> None:
    bind(api, PL, handler(PL, "require('actions:elsewhere');"))
    assert "does not use that module" in fire(api, PL, {"user": {}})["error"]["message"]

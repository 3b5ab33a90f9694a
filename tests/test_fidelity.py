"""Behaviours seen in live Auth0 answers (recordings of the Go SDK, Terraform and
deploy-cli) that the rest of the suite does not pin: each test names its source, and
docs/compatibility.md lists them."""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers import CODE, create_action, deploy, wait_status
from tests.test_modules import create_module

OTHER_CODE = "exports.onExecutePostLogin = async (event, api) => { /* other */ };"


def read(api: httpx.Client, action_id: str) -> dict[str, Any]:
    body: dict[str, Any] = api.get(f"/actions/actions/{action_id}").json()
    return body


def patch(api: httpx.Client, action_id: str, **body: Any) -> dict[str, Any]:
    response = api.patch(f"/actions/actions/{action_id}", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_rollback_answers_as_deploy_does_and_is_effective_at_once(api: httpx.Client) -> None:
    # TestActionManager_DeployVersion.yaml #5: a roll-back's answer has the deploy's shape.
    action = create_action(api)
    v1 = deploy(api, action["id"])
    patch(api, action["id"], code=OTHER_CODE)
    deploy(api, action["id"])
    for body in (None, {"update_draft": True}):
        rolled = api.post(f"/actions/actions/{action['id']}/versions/{v1['id']}/deploy", json=body)
        assert rolled.status_code == 200, rolled.text
        answer = rolled.json()
        assert answer["deployed"] is False and "built_at" not in answer
        assert answer["action"]["all_changes_deployed"] is False
        now = read(api, action["id"])
        assert now["deployed_version"]["id"] == answer["id"]
        assert now["deployed_version"]["deployed"] is True
        assert "built_at" in now["deployed_version"]
    # update_draft made the draft the deployed version's copy.
    assert now["all_changes_deployed"] is True


def test_a_patch_that_changes_nothing_keeps_all_changes_deployed(api: httpx.Client) -> None:
    """deploy-cli PATCHes every action of its YAML on each import; Auth0 keeps the
    unchanged ones deployed."""
    action = create_action(
        api,
        secrets=[{"name": "KEY", "value": "one"}],
        dependencies=[{"name": "lodash", "version": "4.17.21"}],
    )
    deploy(api, action["id"])
    assert read(api, action["id"])["all_changes_deployed"] is True
    # What deploy-cli sends back from an export: everything, secrets without values.
    same = patch(
        api,
        action["id"],
        name=action["name"],
        code=CODE,
        runtime=action["runtime"],
        dependencies=[{"name": "lodash", "version": "4.17.21"}],
        secrets=[{"name": "KEY"}],
        supported_triggers=action["supported_triggers"],
    )
    assert same["all_changes_deployed"] is True
    assert patch(api, action["id"], name="renamed")["all_changes_deployed"] is True
    assert wait_status(api, action["id"])["all_changes_deployed"] is True

    assert patch(api, action["id"], code=OTHER_CODE)["all_changes_deployed"] is False
    assert patch(api, action["id"], code=CODE)["all_changes_deployed"] is True, (
        "back to the deployed content"
    )
    changes: list[dict[str, Any]] = [
        {"secrets": [{"name": "KEY"}, {"name": "NEW", "value": "x"}]},
        {"secrets": [{"name": "KEY", "value": "two"}]},
        {"dependencies": [{"name": "lodash", "version": "4.17.20"}]},
        {"runtime": "node18-actions"},
    ]
    for change in changes:
        assert patch(api, action["id"], **change)["all_changes_deployed"] is False, change
        # Undo, as far as the draft can be undone.
        assert (
            patch(
                api,
                action["id"],
                secrets=[{"name": "KEY", "value": "one"}],
                dependencies=[{"name": "lodash", "version": "4.17.21"}],
                runtime=action["runtime"],
            )["all_changes_deployed"]
            is True
        )


def test_a_patch_of_a_never_deployed_action_has_changes_not_deployed(api: httpx.Client) -> None:
    action = create_action(api)
    assert patch(api, action["id"], code=CODE)["all_changes_deployed"] is False


def test_secrets_keep_their_order(api: httpx.Client) -> None:
    # Live Auth0: a PATCH of [bar, foo] on an action that had [foo] answers [foo, bar].
    action = create_action(api, secrets=[{"name": "foo", "value": "1"}])
    updated = patch(api, action["id"], secrets=[{"name": "bar", "value": "2"}, {"name": "foo"}])
    assert [s["name"] for s in updated["secrets"]] == ["foo", "bar"]
    updated = patch(
        api,
        action["id"],
        secrets=[{"name": "zed", "value": "3"}, {"name": "bar"}, {"name": "abc", "value": "4"}],
    )
    assert [s["name"] for s in updated["secrets"]] == ["bar", "zed", "abc"], (
        "a dropped secret goes, the others keep their places, new ones follow in sent order"
    )
    assert [s["name"] for s in read(api, action["id"])["secrets"]] == ["bar", "zed", "abc"]


def test_module_lists_past_the_last_page_count_zero(api: httpx.Client) -> None:
    # Live Auth0 (recorded 2026): one version, page=1&per_page=50 answers total 0.
    module = create_module(api)
    assert api.post(f"/actions/modules/{module['id']}/versions").status_code == 200
    versions = f"/actions/modules/{module['id']}/versions"
    assert api.get(versions, params={"page": 1, "per_page": 50}).json() == {
        "versions": [],
        "total": 0,
        "page": 1,
        "per_page": 50,
    }
    assert api.get(versions, params={"page": 0, "per_page": 50}).json()["total"] == 1
    # The module list is the same service's envelope: the same rule.
    past = api.get("/actions/modules", params={"page": 1, "per_page": 50}).json()
    assert past == {"modules": [], "total": 0, "page": 1, "per_page": 50}
    assert api.get("/actions/modules", params={"page": 0, "per_page": 50}).json()["total"] == 1


KNOWN_NOT_SERVED = ("login-post-identifier", "signup-post-identifier", "post-credential-validation")


def test_trigger_ids_the_clients_know_but_the_catalogue_does_not_serve(api: httpx.Client) -> None:
    """In Auth0's spec enum (the first two) or the official SDKs' (the third), absent
    from the live GET /actions/triggers: known ids with nothing bound and nothing to
    bind, never "No enum match"."""
    served = {t["id"] for t in api.get("/actions/triggers").json()["triggers"]}
    other = create_action(api)
    for trigger in KNOWN_NOT_SERVED:
        assert trigger not in served
        bindings = f"/actions/triggers/{trigger}/bindings"
        assert api.get(bindings).json() == {"bindings": [], "per_page": 20}
        assert api.patch(bindings, json={"bindings": []}).json() == {"bindings": []}
        assert api.get("/actions/actions", params={"triggerId": trigger}).json() == {
            "actions": [],
            "per_page": 20,
        }
        for ref in ({"id": trigger}, {"id": trigger, "version": "v1"}):
            refused = api.post(
                "/actions/actions", json={"name": f"on-{trigger}", "supported_triggers": [ref]}
            )
            assert refused.status_code == 400
            assert refused.json() == {
                "statusCode": 400,
                "error": "Bad Request",
                "message": f"The trigger '{trigger}' is not available on this tenant.",
            }
        moved = api.patch(
            f"/actions/actions/{other['id']}", json={"supported_triggers": [{"id": trigger}]}
        )
        assert moved.status_code == 400, moved.text
    assert api.get("/actions/triggers/no-such-trigger/bindings").status_code == 400

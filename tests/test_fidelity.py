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


FORM = {"content-type": "application/x-www-form-urlencoded"}


def invalid_body(message: str) -> dict[str, Any]:
    return {
        "statusCode": 400,
        "error": "Bad Request",
        "message": f"Payload validation error: '{message}",
        "errorCode": "invalid_body",
    }


def test_form_bodies_are_read_as_flat_fields(api: httpx.Client) -> None:
    """Auth0's spec lists application/x-www-form-urlencoded for every write: fields are
    strings, so string members can be sent that way and the others get their type's
    message (never "Expected type object but found type object")."""
    action = create_action(api, secrets=[{"name": "KEY", "value": "v"}])
    path = f"/actions/actions/{action['id']}"
    edited = api.patch(path, content="name=from-a-form&code=" + "%2F%2F%20edited", headers=FORM)
    assert edited.status_code == 200, edited.text
    assert edited.json()["name"] == "from-a-form" and edited.json()["code"] == "// edited"

    created = api.post(
        "/actions/actions", content="name=new&supported_triggers=post-login", headers=FORM
    )
    assert created.json() == invalid_body(
        "Expected type array but found type string' on property supported_triggers."
    )
    repeated = api.patch(path, content="secrets=A&secrets=B", headers=FORM)
    assert repeated.json() == invalid_body(
        "Expected type object but found type string' on property secrets[0]."
    )
    unknown = api.patch(path, content="colour=blue", headers=FORM)
    assert unknown.json() == invalid_body("Additional properties not allowed: colour'.")
    bindings = api.patch(
        "/actions/triggers/post-login/bindings", content="bindings=x", headers=FORM
    )
    assert bindings.json() == invalid_body(
        "Expected type array but found type string' on property bindings."
    )

    wait_status(api, action["id"], ("built",))
    deployed = api.post(f"{path}/deploy", content="", headers=FORM)
    assert deployed.status_code == 200, deployed.text
    version = deployed.json()["id"]
    rolled = api.post(f"{path}/versions/{version}/deploy", content="", headers=FORM)
    assert rolled.status_code == 200, rolled.text
    flag = api.post(f"{path}/versions/{version}/deploy", content="update_draft=true", headers=FORM)
    assert flag.json() == invalid_body(
        "Expected type boolean but found type string' on property update_draft."
    )
    assert read(api, action["id"])["name"] == "from-a-form"


def test_json_sent_as_a_form_and_other_formats_are_refused_clearly(api: httpx.Client) -> None:
    action = create_action(api)
    path = f"/actions/actions/{action['id']}"
    # What `curl -X PATCH -d '{...}'` sends: JSON labelled as a form.
    as_form = api.patch(path, content='{"name": "renamed"}', headers=FORM)
    assert as_form.json() == invalid_body(
        "The body is JSON but its Content-Type is application/x-www-form-urlencoded: "
        "send it with Content-Type: application/json'."
    )
    as_text = api.patch(path, content='{"name": "renamed"}', headers={"content-type": "text/plain"})
    assert as_text.status_code == 415
    assert as_text.json() == {
        "statusCode": 415,
        "error": "Unsupported Media Type",
        "message": "Unsupported Media Type: text/plain. Send the body as application/json "
        "(or application/x-www-form-urlencoded).",
    }
    assert read(api, action["id"])["name"] == action["name"], "refusals change nothing"
    # A JSON type with a suffix or a charset is JSON.
    for kind in ("application/json; charset=utf-8", "application/merge-patch+json"):
        response = api.patch(path, content='{"name": "renamed"}', headers={"content-type": kind})
        assert response.status_code == 200, (kind, response.text)

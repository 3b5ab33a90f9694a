"""Actions and versions over HTTP: create, build status, edit, deploy, roll back, delete."""

from __future__ import annotations

import httpx

from tests.helpers import (
    by_id,
    create_action,
    deploy,
    deployed_action,
    error,
    patch_bindings,
    wait_status,
)

ACTION_KEYS = {
    "id",
    "name",
    "supported_triggers",
    "created_at",
    "updated_at",
    "code",
    "dependencies",
    "runtime",
    "status",
    "secrets",
    "all_changes_deployed",
}


def test_create_returns_pending_draft_that_builds(api: httpx.Client) -> None:
    created = create_action(
        api,
        "first",
        secrets=[{"name": "API_KEY", "value": "s3cr3t"}],
        dependencies=[
            {"name": "lodash", "version": "4.17.21", "registry_url": "https://r.example"}
        ],
    )
    assert set(created) == ACTION_KEYS
    assert created["status"] == "pending"
    assert created["runtime"] == "node22"  # post-login v3's default runtime
    assert created["all_changes_deployed"] is False
    assert created["secrets"] == [
        {"name": "API_KEY", "updated_at": created["secrets"][0]["updated_at"]}
    ]
    assert created["dependencies"][0]["registry_url"] == "https://r.example"
    assert created["created_at"].endswith("Z") and len(created["created_at"]) == 30

    built = wait_status(api, created["id"])
    assert built["status"] == "built"
    # As Auth0 does, the built draft lists its dependencies without registry_url.
    assert built["dependencies"] == [{"name": "lodash", "version": "4.17.21"}]
    assert "s3cr3t" not in api.get(f"/actions/actions/{created['id']}").text


def test_deploy_creates_numbered_versions_and_current_version(api: httpx.Client) -> None:
    action = create_action(api)
    first = deploy(api, action["id"])
    assert first["number"] == 1 and first["status"] == "built"
    assert first["action"]["id"] == action["id"]
    read = api.get(f"/actions/actions/{action['id']}").json()
    assert read["all_changes_deployed"] is True
    assert read["deployed_version"]["id"] == first["id"]
    assert read["deployed_version"]["deployed"] is True
    assert "action" not in read["deployed_version"]
    assert read["current_version"]["status"] == "BUILT"
    assert read["current_version"]["number"] == 1

    edited = api.patch(
        f"/actions/actions/{action['id']}",
        json={"code": "exports.onExecutePostLogin = async () => { /* 2 */ };"},
    )
    assert edited.status_code == 200
    body = edited.json()
    assert body["status"] == "pending"
    assert body["all_changes_deployed"] is False
    assert body["deployed_version"]["id"] == first["id"], (
        "a PATCH must not touch the deployed version"
    )

    second = deploy(api, action["id"])
    assert second["number"] == 2
    versions = api.get(f"/actions/actions/{action['id']}/versions").json()
    assert [v["number"] for v in versions["versions"]] == [2, 1]
    assert [v["deployed"] for v in versions["versions"]] == [True, False]
    assert versions["total"] == 2 and "page" not in versions and versions["per_page"] == 20


def test_rollback_creates_a_new_version_from_an_old_one(api: httpx.Client) -> None:
    action = create_action(api, code="exports.onExecutePostLogin = async () => { /* v1 */ };")
    v1 = deploy(api, action["id"])
    api.patch(
        f"/actions/actions/{action['id']}",
        json={"code": "exports.onExecutePostLogin = async () => { /* v2 */ };"},
    )
    deploy(api, action["id"])

    # The Go SDK sends a literal JSON null as the body; the Node SDK sends {} or nothing.
    rolled = api.post(
        f"/actions/actions/{action['id']}/versions/{v1['id']}/deploy",
        content=b"null",
        headers={"content-type": "application/json"},
    )
    assert rolled.status_code == 200, rolled.text
    body = rolled.json()
    assert body["number"] == 3 and body["code"].endswith("/* v1 */ };")
    read = api.get(f"/actions/actions/{action['id']}").json()
    assert read["deployed_version"]["number"] == 3
    assert read["code"].endswith("/* v2 */ };"), "update_draft defaults to false"
    assert read["all_changes_deployed"] is False

    again = api.post(
        f"/actions/actions/{action['id']}/versions/{v1['id']}/deploy", json={"update_draft": True}
    )
    assert again.json()["number"] == 4
    read = api.get(f"/actions/actions/{action['id']}").json()
    assert read["code"].endswith("/* v1 */ };") and read["all_changes_deployed"] is True
    assert read["status"] == "built"


def test_version_read_and_unknown_version(api: httpx.Client) -> None:
    action = create_action(api)
    v1 = deploy(api, action["id"])
    one = api.get(f"/actions/actions/{action['id']}/versions/{v1['id']}").json()
    assert one["id"] == v1["id"] and one["deployed"] is True and "built_at" in one
    missing = api.get(
        f"/actions/actions/{action['id']}/versions/00000000-0000-4000-8000-000000000000"
    )
    assert missing.status_code == 404
    assert error(missing)["message"] == "The action version does not exist."


def test_unknown_action_is_404_everywhere(api: httpx.Client) -> None:
    ghost = "3f2b9c52-0000-4000-8000-000000000000"
    for method, path in [
        ("GET", f"/actions/actions/{ghost}"),
        ("PATCH", f"/actions/actions/{ghost}"),
        ("DELETE", f"/actions/actions/{ghost}"),
        ("POST", f"/actions/actions/{ghost}/deploy"),
        ("GET", f"/actions/actions/{ghost}/versions"),
    ]:
        response = api.request(method, path, json={} if method == "PATCH" else None)
        assert response.status_code == 404, (method, path)
        assert error(response) == {
            "statusCode": 404,
            "error": "Not Found",
            "message": "That action does not exist.",
        }


def test_delete_bound_action_needs_force(api: httpx.Client) -> None:
    keep = deployed_action(api, "keep-a")
    doomed = deployed_action(api, "doomed")
    keep_b = deployed_action(api, "keep-b")
    assert (
        patch_bindings(
            api, "post-login", [by_id(keep["id"]), by_id(doomed["id"]), by_id(keep_b["id"])]
        ).status_code
        == 200
    )

    refused = api.delete(f"/actions/actions/{doomed['id']}")
    assert refused.status_code == 409
    assert error(refused) == {
        "statusCode": 409,
        "error": "Conflict",
        "message": "Unable to delete an action bound to a trigger.",
    }
    assert api.get(f"/actions/actions/{doomed['id']}").status_code == 200

    forced = api.delete(f"/actions/actions/{doomed['id']}", params={"force": "true"})
    assert forced.status_code == 204 and forced.content == b""
    names = [
        b["action"]["name"]
        for b in api.get("/actions/triggers/post-login/bindings").json()["bindings"]
    ]
    assert names == ["keep-a", "keep-b"]
    assert api.get(f"/actions/actions/{doomed['id']}").status_code == 404
    assert api.delete(f"/actions/actions/{doomed['id']}").status_code == 404


def test_list_filters_order_and_paging(api: httpx.Client) -> None:
    a = deployed_action(api, "alpha")
    create_action(api, "beta")
    create_action(api, "gamma", trigger="credentials-exchange", version="v2")

    everything = api.get("/actions/actions").json()
    assert [x["name"] for x in everything["actions"]] == ["alpha", "beta", "gamma"]
    assert everything["total"] == 3 and everything["per_page"] == 20 and "page" not in everything

    assert [
        x["name"]
        for x in api.get("/actions/actions", params={"triggerId": "credentials-exchange"}).json()[
            "actions"
        ]
    ] == ["gamma"]
    assert [
        x["id"] for x in api.get("/actions/actions", params={"deployed": "true"}).json()["actions"]
    ] == [a["id"]]
    assert api.get("/actions/actions", params={"actionName": "beta"}).json()["total"] == 1
    assert api.get("/actions/actions", params={"installed": "true"}).json() == {
        "actions": [],
        "per_page": 20,
    }

    page1 = api.get("/actions/actions", params={"page": 1, "per_page": 2}).json()
    assert [x["name"] for x in page1["actions"]] == ["gamma"]
    assert page1["total"] == 3 and page1["page"] == 1 and page1["per_page"] == 2
    # Past the end: no total, or Terraform and Go SDK v1 page forever.
    assert api.get("/actions/actions", params={"page": 5, "per_page": 2}).json() == {
        "actions": [],
        "page": 5,
        "per_page": 2,
    }


def test_update_semantics(api: httpx.Client) -> None:
    action = create_action(api, secrets=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
    aid = action["id"]
    # Secrets sent replace the set; one sent without a value keeps its old value.
    updated = api.patch(
        f"/actions/actions/{aid}", json={"secrets": [{"name": "B"}, {"name": "C", "value": "3"}]}
    ).json()
    assert [s["name"] for s in updated["secrets"]] == ["B", "C"]
    assert (
        api.patch(f"/actions/actions/{aid}", json={"dependencies": []}).json()["dependencies"] == []
    )
    renamed = api.patch(f"/actions/actions/{aid}", json={"name": "renamed"}).json()
    assert renamed["name"] == "renamed" and renamed["secrets"][0]["name"] == "B"

    bad_runtime = api.patch(f"/actions/actions/{aid}", json={"runtime": "node12"})
    assert bad_runtime.status_code == 400
    assert error(bad_runtime)["message"] == "runtime is not supported"


def test_runtime_and_trigger_validation_on_create(api: httpx.Client) -> None:
    bad = api.post(
        "/actions/actions",
        json={
            "name": "x",
            "supported_triggers": [{"id": "post-login", "version": "v3"}],
            "runtime": "node16",
        },
    )
    assert bad.status_code == 400 and error(bad)["message"] == "runtime is not supported"
    # A deprecated version whose advertised default runtime is retired gets a live one.
    old = create_action(api, "old", version="v2")
    assert old["runtime"] in ("node18", "node22")
    unknown = api.post(
        "/actions/actions",
        json={"name": "y", "supported_triggers": [{"id": "post-login", "version": "v9"}]},
    )
    assert unknown.status_code == 400


def test_changing_trigger_of_bound_action_is_refused(api: httpx.Client) -> None:
    action = deployed_action(api)
    assert patch_bindings(api, "post-login", [by_id(action["id"])]).status_code == 200
    response = api.patch(
        f"/actions/actions/{action['id']}",
        json={"supported_triggers": [{"id": "credentials-exchange", "version": "v2"}]},
    )
    assert response.status_code == 400
    assert error(response)["message"] == "can't upgrade to this trigger."


def test_duplicate_names_conflict(api: httpx.Client) -> None:
    create_action(api, "same")
    response = api.post(
        "/actions/actions",
        json={"name": "same", "supported_triggers": [{"id": "post-login", "version": "v3"}]},
    )
    assert response.status_code == 409
    assert api.get("/actions/actions").json()["total"] == 1


def test_create_with_deploy(api: httpx.Client) -> None:
    created = create_action(api, deploy=True)
    assert created["all_changes_deployed"] is True
    assert created["deployed_version"]["number"] == 1
    assert created["deployed_version"]["deployed"] is True
    assert created["current_version"]["status"] == "PENDING"
    deadline_action = wait_status(api, created["id"])
    assert deadline_action["status"] == "built"


def test_version_limit_prunes_oldest(server: object, api: httpx.Client) -> None:
    from tests.servers import InProcessServer

    assert isinstance(server, InProcessServer)
    limit = server.state.limits.max_versions_per_action
    action = create_action(api)
    for _ in range(limit + 2):
        deploy(api, action["id"])
    versions = api.get(f"/actions/actions/{action['id']}/versions", params={"per_page": 100}).json()
    numbers = [v["number"] for v in versions["versions"]]
    assert len(numbers) == limit and numbers[0] == limit + 2 and numbers[-1] == 3

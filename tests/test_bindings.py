"""PATCH/GET /actions/triggers/{triggerId}/bindings: ordered, atomic, validated."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.helpers import (
    by_binding,
    by_id,
    by_name,
    create_action,
    deployed_action,
    error,
    patch_bindings,
)


def names(api: httpx.Client, trigger: str = "post-login") -> list[str]:
    body = api.get(f"/actions/triggers/{trigger}/bindings", params={"per_page": 100}).json()
    return [b["display_name"] for b in body["bindings"]]


def snapshot(api: httpx.Client, trigger: str = "post-login") -> list[dict[str, Any]]:
    return list(
        api.get(f"/actions/triggers/{trigger}/bindings", params={"per_page": 100}).json()[
            "bindings"
        ]
    )


@pytest.fixture
def three(api: httpx.Client) -> list[dict[str, Any]]:
    return [deployed_action(api, n) for n in ("one", "two", "three")]


def test_bind_in_order_with_each_ref_type(api: httpx.Client, three: list[dict[str, Any]]) -> None:
    one, _, three_ = three
    response = patch_bindings(
        api,
        "post-login",
        [by_id(one["id"]), by_name("two"), by_id(three_["id"], display_name="Third")],
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"bindings"}, "PATCH answers with the list only"
    assert [b["display_name"] for b in body["bindings"]] == ["one", "two", "Third"]
    binding = body["bindings"][0]
    assert set(binding) == {
        "id",
        "trigger_id",
        "action",
        "created_at",
        "updated_at",
        "display_name",
    }
    assert binding["trigger_id"] == "post-login"
    assert set(binding["action"]) == {
        "id",
        "name",
        "supported_triggers",
        "created_at",
        "updated_at",
        "all_changes_deployed",
        "current_version",
        "deployed_version",
    }
    assert "secrets" not in binding["action"] and "code" not in binding["action"]

    # Reorder by binding id: ids and creation times survive, the order is the new one.
    ids = [b["id"] for b in body["bindings"]]
    reordered = patch_bindings(
        api, "post-login", [by_binding(ids[2]), by_binding(ids[0]), by_binding(ids[1])]
    ).json()
    assert [b["id"] for b in reordered["bindings"]] == [ids[2], ids[0], ids[1]]
    assert [b["display_name"] for b in reordered["bindings"]] == ["Third", "one", "two"]
    assert reordered["bindings"][1]["created_at"] == body["bindings"][0]["created_at"]
    assert names(api) == ["Third", "one", "two"]

    # An action_id ref always makes a new binding, even for an action already bound.
    rebound = patch_bindings(api, "post-login", [by_id(one["id"])]).json()
    assert rebound["bindings"][0]["id"] not in ids


def test_empty_list_unbinds_everything(api: httpx.Client, three: list[dict[str, Any]]) -> None:
    patch_bindings(api, "post-login", [by_id(a["id"]) for a in three])
    response = patch_bindings(api, "post-login", [])
    assert response.json() == {"bindings": []}
    assert api.get("/actions/triggers/post-login/bindings").json() == {
        "bindings": [],
        "per_page": 20,
    }


def test_remove_one_keeps_the_rest(api: httpx.Client, three: list[dict[str, Any]]) -> None:
    """The Auth0 Dashboard removes an action by PATCHing the survivors as binding ids
    without display names; the survivors keep their names."""
    body = patch_bindings(
        api, "post-login", [by_id(a["id"], display_name=f"B-{a['name']}") for a in three]
    ).json()
    survivors = [body["bindings"][0]["id"], body["bindings"][2]["id"]]
    after = patch_bindings(api, "post-login", [by_binding(i) for i in survivors]).json()
    assert [b["display_name"] for b in after["bindings"]] == ["B-one", "B-three"]


@pytest.mark.parametrize(
    ("make_refs", "status", "message"),
    [
        (
            lambda a, u, o: [by_id(a["id"]), by_id("00000000-0000-4000-8000-00000000dead")],
            404,
            "does not exist",
        ),
        (lambda a, u, o: [by_id(a["id"]), by_name("no such action")], 404, "does not exist"),
        (
            lambda a, u, o: [by_id(a["id"]), by_binding("00000000-0000-4000-8000-00000000beef")],
            400,
            "is not bound",
        ),
        (
            lambda a, u, o: [by_id(a["id"]), by_id(u["id"])],
            400,
            "Trying to create a binding for an action that has not been deployed yet",
        ),
        (
            lambda a, u, o: [by_id(a["id"]), by_id(o["id"])],
            400,
            "Trying to create a binding between an incompatible action and trigger.",
        ),
        (lambda a, u, o: [by_id(a["id"]), by_name(a["name"])], 400, "bound twice"),
    ],
    ids=[
        "unknown-id",
        "unknown-name",
        "unknown-binding",
        "not-deployed",
        "incompatible",
        "duplicate",
    ],
)
def test_bad_refs_change_nothing(
    api: httpx.Client, make_refs: Any, status: int, message: str
) -> None:
    a = deployed_action(api, "bound")
    keep = deployed_action(api, "kept")
    undeployed = create_action(api, "draft-only")
    other = deployed_action(api, "other-trigger", trigger="credentials-exchange", version="v2")
    patch_bindings(api, "post-login", [by_id(keep["id"])])
    before = snapshot(api)

    response = patch_bindings(api, "post-login", make_refs(a, undeployed, other))
    assert response.status_code == status, response.text
    body = error(response)
    assert message in body["message"]
    assert "errorCode" not in body, "the Actions service's own errors carry no errorCode"
    assert snapshot(api) == before, "a refused PATCH must leave the list untouched"


def test_binding_limit_is_enforced(server: Any, api: httpx.Client) -> None:
    limit = server.state.limits.max_bindings_per_trigger
    actions = [deployed_action(api) for _ in range(limit + 1)]
    ok = patch_bindings(api, "post-login", [by_id(a["id"]) for a in actions[:limit]])
    assert ok.status_code == 200 and len(ok.json()["bindings"]) == limit
    too_many = patch_bindings(api, "post-login", [by_id(a["id"]) for a in actions])
    assert too_many.status_code == 400
    assert error(too_many) == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": f"Payload validation error: 'Array is too long ({limit + 1}), maximum {limit}' on property bindings.",
        "errorCode": "invalid_body",
    }
    assert len(snapshot(api)) == limit


def test_entity_bound_triggers_refuse_patch_but_list_empty(api: httpx.Client) -> None:
    response = patch_bindings(api, "custom-token-exchange", [])
    assert response.status_code == 400
    assert "entity-bound" in error(response)["message"]
    assert api.get("/actions/triggers/custom-token-exchange/bindings").json() == {
        "bindings": [],
        "per_page": 20,
    }


def test_wrong_shape_is_invalid_body(api: httpx.Client) -> None:
    response = api.patch(
        "/actions/triggers/post-login/bindings",
        json={"bindings": [{"id_type": "action_id", "id_value": "x"}]},
    )
    assert response.status_code == 400
    body = error(response)
    assert body["errorCode"] == "invalid_body"
    assert body["message"].startswith("Payload validation error: ")
    bad_type = api.patch(
        "/actions/triggers/post-login/bindings",
        json={"bindings": [{"ref": {"type": "action_slug", "value": "x"}}]},
    )
    assert (
        error(bad_type)["message"]
        == "Payload validation error: 'No enum match for: \"action_slug\"' on property bindings[0].ref.type."
    )


def test_paging_envelope_and_zero_omission(api: httpx.Client, three: list[dict[str, Any]]) -> None:
    patch_bindings(api, "post-login", [by_id(a["id"]) for a in three])
    first = api.get(
        "/actions/triggers/post-login/bindings", params={"page": 0, "per_page": 2}
    ).json()
    assert {k: v for k, v in first.items() if k != "bindings"} == {"total": 3, "per_page": 2}
    second = api.get(
        "/actions/triggers/post-login/bindings", params={"page": 1, "per_page": 2}
    ).json()
    assert [b["display_name"] for b in second["bindings"]] == ["three"]
    assert {k: v for k, v in second.items() if k != "bindings"} == {
        "total": 3,
        "page": 1,
        "per_page": 2,
    }
    past = api.get(
        "/actions/triggers/post-login/bindings", params={"page": 2, "per_page": 2}
    ).json()
    assert past == {"bindings": [], "page": 2, "per_page": 2}


def test_unknown_trigger_in_path(api: httpx.Client) -> None:
    response = api.get("/actions/triggers/not-a-trigger/bindings")
    assert response.status_code == 400
    assert error(response)["errorCode"] == "invalid_uri"


def test_deploy_takes_effect_in_bound_flow_without_rebinding(api: httpx.Client) -> None:
    action = deployed_action(api, "evolving")
    patch_bindings(api, "post-login", [by_id(action["id"])])
    api.patch(
        f"/actions/actions/{action['id']}",
        json={"code": "exports.onExecutePostLogin = async () => { /* 2 */ };"},
    )
    from tests.helpers import deploy

    deploy(api, action["id"])
    bound = snapshot(api)[0]["action"]
    assert bound["deployed_version"]["number"] == 2
    assert bound["current_version"]["code"].endswith("/* 2 */ };")


def test_if_match_refuses_a_stale_list(api: httpx.Client, three: list[dict[str, Any]]) -> None:
    first = api.get("/actions/triggers/post-login/bindings")
    etag = first.headers["etag"]
    ok = api.patch(
        "/actions/triggers/post-login/bindings",
        json={"bindings": [by_id(three[0]["id"])]},
        headers={"If-Match": etag},
    )
    assert ok.status_code == 200 and ok.headers["etag"] != etag
    stale = api.patch(
        "/actions/triggers/post-login/bindings",
        json={"bindings": [by_id(three[1]["id"])]},
        headers={"If-Match": etag},
    )
    assert stale.status_code == 412
    assert error(stale)["error"] == "Precondition Failed"
    assert names(api) == ["one"]


def test_binding_secrets_are_never_returned(api: httpx.Client) -> None:
    action = deployed_action(api, "with-secret")
    response = patch_bindings(
        api,
        "post-login",
        [by_id(action["id"], secrets=[{"name": "TOKEN", "value": "very-secret-value"}])],
    )
    assert response.status_code == 200
    assert "very-secret-value" not in response.text
    assert "very-secret-value" not in api.get("/actions/triggers/post-login/bindings").text


def test_patch_answers_with_the_actions_as_they_are_now(api: httpx.Client) -> None:
    """The PATCH response renders each bound action from a memo; whatever changed in the
    action since (draft edited, redeployed, renamed) shows, exactly as GET renders it."""
    from tests.helpers import deploy

    action = deployed_action(api, "memo")
    body = {"bindings": [by_id(action["id"], display_name="step")]}

    def patch_matches_get() -> dict[str, Any]:
        patched = api.patch("/actions/triggers/post-login/bindings", json=body)
        assert patched.status_code == 200, patched.text
        listed = snapshot(api)
        assert [b["action"] for b in patched.json()["bindings"]] == [b["action"] for b in listed]
        bound: dict[str, Any] = listed[0]["action"]
        return bound

    first = patch_matches_get()
    assert first["all_changes_deployed"] is True
    api.patch(
        f"/actions/actions/{action['id']}",
        json={"code": "exports.onExecutePostLogin = async () => { /* 2 */ };"},
    )
    edited = patch_matches_get()
    assert edited["all_changes_deployed"] is False
    assert edited["deployed_version"]["number"] == 1
    deploy(api, action["id"])
    redeployed = patch_matches_get()
    assert redeployed["deployed_version"]["number"] == 2
    assert redeployed["all_changes_deployed"] is True
    api.patch(f"/actions/actions/{action['id']}", json={"name": "memo-renamed"})
    assert patch_matches_get()["name"] == "memo-renamed"


def test_a_burst_of_gets_after_a_change_renders_the_list_once(
    server: Any, api: httpx.Client, three: list[dict[str, Any]]
) -> None:
    assert patch_bindings(api, "post-login", [by_id(a["id"]) for a in three]).status_code == 200
    before = server.state.responses.renders
    url = "/actions/triggers/post-login/bindings?per_page=7"  # a page nothing rendered yet
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: api.get(url), range(48)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1
    assert server.state.responses.renders == before + 1

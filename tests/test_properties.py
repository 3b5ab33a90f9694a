"""Property-based test: random sequences of create, deploy, bind, reorder and delete,
sent over HTTP, keep the invariants of the bindings:

* every bound action exists, is deployed and supports the trigger;
* the list is exactly the one last PATCHed successfully (minus force-deleted actions);
* a refused PATCH or delete changes nothing.

A small model predicts the outcome of every request before it is sent."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from tests.helpers import create_action, deploy

TRIGGER = "post-login"
GHOST = "00000000-0000-4000-8000-00000000f00d"


@dataclass
class Model:
    actions: dict[str, dict[str, object]] = field(default_factory=dict)  # id -> facts
    bound: list[tuple[str, str]] = field(default_factory=list)  # (binding id, action id)


def test_bindings_state_machine(api: httpx.Client) -> None:
    class Bindings(RuleBasedStateMachine):
        action_ids = Bundle("action_ids")

        def __init__(self) -> None:
            super().__init__()
            self.model = Model()
            api.patch(f"/actions/triggers/{TRIGGER}/bindings", json={"bindings": []})
            for action in api.get("/actions/actions", params={"per_page": 100}).json()["actions"]:
                api.delete(f"/actions/actions/{action['id']}", params={"force": "true"})

        @rule(target=action_ids, other_trigger=st.booleans())
        def create(self, other_trigger: bool) -> str:
            trigger, version = ("credentials-exchange", "v2") if other_trigger else (TRIGGER, "v3")
            action = create_action(api, trigger=trigger, version=version)
            self.model.actions[action["id"]] = {
                "trigger": trigger,
                "deployed": False,
                "name": action["name"],
            }
            return str(action["id"])

        @rule(action_id=action_ids)
        def deploy(self, action_id: str) -> None:
            if action_id not in self.model.actions:
                assert api.post(f"/actions/actions/{action_id}/deploy").status_code == 404
                return
            deploy(api, action_id)
            self.model.actions[action_id]["deployed"] = True

        @rule(
            refs=st.lists(
                st.tuples(
                    st.sampled_from(["action_id", "action_name", "binding_id", "ghost"]),
                    st.integers(0, 50),
                ),
                max_size=6,
            ),
            action_pool=st.lists(action_ids, max_size=6),
        )
        def replace(self, refs: list[tuple[str, int]], action_pool: list[str]) -> None:
            body, expected, valid = [], [], True
            for kind, pick in refs:
                if (
                    kind == "ghost"
                    or (kind != "binding_id" and not action_pool)
                    or (kind == "binding_id" and not self.model.bound)
                ):
                    body.append({"ref": {"type": "action_id", "value": GHOST}})
                    valid = False
                    continue
                if kind == "binding_id":
                    binding_id, action_id = self.model.bound[pick % len(self.model.bound)]
                    body.append({"ref": {"type": "binding_id", "value": binding_id}})
                else:
                    action_id = action_pool[pick % len(action_pool)]
                    facts = self.model.actions.get(action_id)
                    value = (
                        action_id if kind == "action_id" or facts is None else str(facts["name"])
                    )
                    body.append(
                        {"ref": {"type": "action_id" if facts is None else kind, "value": value}}
                    )
                facts = self.model.actions.get(action_id)
                if facts is None or not facts["deployed"] or facts["trigger"] != TRIGGER:
                    valid = False
                expected.append(action_id)
            if len(set(expected)) != len(expected):
                valid = False
            response = api.patch(f"/actions/triggers/{TRIGGER}/bindings", json={"bindings": body})
            if valid:
                assert response.status_code == 200, response.text
                self.model.bound = [
                    (b["id"], b["action"]["id"]) for b in response.json()["bindings"]
                ]
                assert [a for _, a in self.model.bound] == expected
            else:
                assert response.status_code in (400, 404), response.text

        @rule(data=st.data())
        def reorder(self, data: st.DataObject) -> None:
            order = data.draw(st.permutations(self.model.bound))
            body = [{"ref": {"type": "binding_id", "value": b}} for b, _ in order]
            response = api.patch(f"/actions/triggers/{TRIGGER}/bindings", json={"bindings": body})
            assert response.status_code == 200, response.text
            self.model.bound = list(order)

        @rule(action_id=action_ids, force=st.booleans())
        def delete(self, action_id: str, force: bool) -> None:
            response = api.delete(
                f"/actions/actions/{action_id}", params={"force": str(force).lower()}
            )
            if action_id not in self.model.actions:
                assert response.status_code == 404
                return
            if any(a == action_id for _, a in self.model.bound) and not force:
                assert response.status_code == 409
                return
            assert response.status_code == 204
            del self.model.actions[action_id]
            self.model.bound = [(b, a) for b, a in self.model.bound if a != action_id]

        @invariant()
        def list_matches_model(self) -> None:
            bindings = api.get(
                f"/actions/triggers/{TRIGGER}/bindings", params={"per_page": 100}
            ).json()["bindings"]
            assert [(b["id"], b["action"]["id"]) for b in bindings] == self.model.bound
            for b in bindings:
                facts = self.model.actions[b["action"]["id"]]
                assert facts["deployed"] and facts["trigger"] == TRIGGER
                assert b["action"]["deployed_version"]["deployed"] is True

    run_state_machine_as_test(
        Bindings,
        settings=settings(
            max_examples=20,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )

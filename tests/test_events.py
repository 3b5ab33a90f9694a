"""The rule that fills a flow's event: the caller's event over the trigger's defaults,
objects merged key by key, and nothing of the caller's shared with the result."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from actionsd.triggers import events

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=24,
)
OBJECTS = st.dictionaries(st.text(max_size=4), JSON, max_size=5)


def reference(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """The rule as first written, with copy.deepcopy."""
    merged = dict(base)
    for key, value in over.items():
        below = merged.get(key)
        if isinstance(value, dict) and isinstance(below, dict):
            merged[key] = reference(below, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def containers(value: Any) -> list[int]:
    """The ids of every object and array in ``value``, itself included."""
    if isinstance(value, dict):
        return [id(value), *(i for v in value.values() for i in containers(v))]
    if isinstance(value, list):
        return [id(value), *(i for v in value for i in containers(v))]
    return []


@given(base=OBJECTS, over=OBJECTS)
def test_merge_is_the_rule_and_shares_nothing_with_the_callers_event(
    base: dict[str, Any], over: dict[str, Any]
) -> None:
    before = copy.deepcopy(over)
    merged = events.merge(base, over)
    assert merged == reference(base, over)
    assert not set(containers(merged)) & set(containers(over))
    assert over == before


def test_a_flows_event_is_its_own() -> None:
    caller = {"user": {"identities": [{"provider": "auth0"}], "app_metadata": {"plan": "pro"}}}
    event = events.with_defaults("post-login", caller)
    event["user"]["identities"][0]["provider"] = "changed"
    event["user"]["app_metadata"]["plan"] = "changed"
    assert caller == {
        "user": {"identities": [{"provider": "auth0"}], "app_metadata": {"plan": "pro"}}
    }
    # The defaults fill what the caller left out, and the caller's values win.
    assert event["user"]["user_metadata"] == {} and "ip" in event["request"]

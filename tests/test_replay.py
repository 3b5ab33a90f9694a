"""Replay of real traffic: the Go SDK's recordings against live Auth0 tenants
(``shared/reference/recordings``). For each cassette, the same requests in the same order
must get the same status and a response of the same JSON shape: the same member names
at every level, the same JSON types, the same omitted zeros, the same list lengths.

Ids and names cannot match a recording's, so recorded ids are mapped to ours as our
responses reveal them. Differences we accept, each for a stated reason:

* ``registry_url`` in dependency entries: Auth0 shows it only until the build ends, so
  whether it appears depends on how fast a build is. It is ignored.
* ``GET /actions/triggers``: the 2023 cassettes carry the catalogue of that year (node12
  and node16, six triggers, no ``binding_policy``). We serve today's catalogue, so there we
  check that every recorded trigger id is served and each entry has the recorded members.
* Requests that name a retired runtime (``node12``, ``node16``: Auth0 removed them in
  2025 and today's catalogue no longer lists them) are replayed with ``node22``.
* Calls outside the Actions API (token-exchange profiles, connections) are skipped, and
  so is ``POST .../test``: its recorded answer is an error thrown inside Auth0's own
  runtime code for an empty action, which no faithful runtime reproduces
  (``test_runtime_flows.py`` covers the endpoint).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from tests.conftest import REFERENCE
from tests.helpers import create_action, wait_status

RECORDINGS = REFERENCE / "recordings" / "go-auth0-v1.45.0"
CASSETTES = sorted(RECORDINGS.glob("*.yaml"))
# Every cassette of shared/reference (README.md there): fewer means the reference data
# is missing or moved, and the replay would prove nothing.
EXPECTED_CASSETTES = 21
ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# Cassettes recorded on a tenant that already held actions: how many to create first.
SEEDED = {"TestApplyActionsListDefaultsWithNilOptions.yaml": 19}
RETIRED_RUNTIME = re.compile(r'"runtime":"node1[26]"')


def shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def strip_registry_url(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strip_registry_url(v) for k, v in value.items() if k != "registry_url"}
    if isinstance(value, list):
        return [strip_registry_url(v) for v in value]
    return value


def compare(ours: Any, recorded: Any, where: str = "$") -> None:
    if isinstance(recorded, dict):
        assert isinstance(ours, dict), f"{where}: expected an object, got {ours!r}"
        missing = set(recorded) - set(ours)
        extra = set(ours) - set(recorded)
        assert not missing and not extra, (
            f"{where}: missing {sorted(missing)}, extra {sorted(extra)}"
        )
        for key in recorded:
            compare(ours[key], recorded[key], f"{where}.{key}")
    elif isinstance(recorded, list):
        assert isinstance(ours, list), f"{where}: expected an array"
        assert len(ours) == len(recorded), f"{where}: {len(ours)} items, recorded {len(recorded)}"
        for i, (o, r) in enumerate(zip(ours, recorded, strict=True)):
            compare(o, r, f"{where}[{i}]")
    else:
        assert shape(ours) == shape(recorded), f"{where}: {ours!r} vs recorded {recorded!r}"


def learn_ids(ours: Any, recorded: Any, mapping: dict[str, str]) -> None:
    if isinstance(recorded, dict) and isinstance(ours, dict):
        for key, value in recorded.items():
            if key in ours:
                learn_ids(ours[key], value, mapping)
    elif isinstance(recorded, list) and isinstance(ours, list):
        for o, r in zip(ours, recorded, strict=False):
            learn_ids(o, r, mapping)
    elif isinstance(recorded, str) and isinstance(ours, str) and ID.match(recorded):
        mapping.setdefault(recorded, ours)


def substitute(text: str, mapping: dict[str, str]) -> str:
    for recorded, ours in mapping.items():
        text = text.replace(recorded, ours)
    return text


def check_triggers(ours: dict[str, Any], recorded: dict[str, Any]) -> None:
    served = {t["id"] for t in ours["triggers"]}
    assert {t["id"] for t in recorded["triggers"]} <= served
    for entry in ours["triggers"]:
        assert set(entry) >= {"id", "version", "status", "runtimes", "compatible_triggers"}


def statuses(action: dict[str, Any]) -> tuple[Any, Any]:
    return action.get("status"), (action.get("deployed_version") or {}).get("status")


def wait_until_like(api: httpx.Client, action_id: str, recorded: dict[str, Any]) -> None:
    """Builds are asynchronous here as there: before comparing a GET, let our draft and
    deployed version reach the build states the recording shows."""
    wanted = statuses(recorded)
    deadline = time.monotonic() + 20
    while True:
        ours = api.get(f"/actions/actions/{action_id}").json()
        if all(w != "built" or o == "built" for w, o in zip(wanted, statuses(ours), strict=True)):
            return
        assert time.monotonic() < deadline, f"builds never reached {wanted}: {ours}"
        time.sleep(0.02)


def test_the_recordings_are_there() -> None:
    assert len(CASSETTES) == EXPECTED_CASSETTES, (
        f"{RECORDINGS} holds {len(CASSETTES)} cassettes, expected {EXPECTED_CASSETTES}"
    )


# Never an empty parameter set (pytest would skip it): without cassettes, the one case
# is a missing file and fails.
@pytest.mark.parametrize(
    "cassette", CASSETTES or [RECORDINGS / "missing.yaml"], ids=lambda c: c.stem
)
def test_replay(api: httpx.Client, cassette: Path) -> None:
    interactions = yaml.safe_load(cassette.read_text())["interactions"]
    for _ in range(SEEDED.get(cassette.name, 0)):
        create_action(api)
    mapping: dict[str, str] = {}
    replayed = 0
    for number, interaction in enumerate(interactions):
        request, response = interaction["request"], interaction["response"]
        url = urlsplit(request["url"])
        if not url.path.startswith("/api/v2/actions/") or url.path.endswith("/test"):
            continue
        path = substitute(url.path.removeprefix("/api/v2"), mapping)
        query = substitute(url.query, mapping)
        body = substitute((request.get("body") or "").strip(), mapping)
        body = RETIRED_RUNTIME.sub('"runtime":"node22"', body)
        recorded_body = yaml.safe_load(response["body"]) if response["body"] else None
        # Hard-coded ids the tenant never knew (executions, deleted actions) stay as they are.
        action_match = re.match(r"^/actions/actions/([^/]+)", path)
        if action_match and request["method"] == "POST" and path.endswith("/deploy"):
            wait_status(api, action_match.group(1), ("built",))
        if request["method"] == "GET" and action_match and isinstance(recorded_body, dict):
            wait_until_like(api, action_match.group(1), recorded_body)

        ours = api.request(
            request["method"],
            path + (f"?{query}" if query else ""),
            content=body.encode() if body else None,
            headers={"content-type": "application/json"} if body else {},
        )
        label = f"{cassette.name} #{number}: {request['method']} {path}"
        assert ours.status_code == response["code"], f"{label}: {ours.status_code} {ours.text}"
        replayed += 1
        if not response["body"]:
            assert ours.content == b"", label
            continue
        ours_body = ours.json()
        learn_ids(ours_body, recorded_body, mapping)
        if path == "/actions/triggers":
            check_triggers(ours_body, recorded_body)
        elif cassette.name in SEEDED:
            assert {k for k in ours_body if k != "actions"} == {
                k for k in recorded_body if k != "actions"
            }, label
            assert len(ours_body["actions"]) == len(recorded_body["actions"]), label
        else:
            try:
                compare(strip_registry_url(ours_body), strip_registry_url(recorded_body))
            except AssertionError as exc:
                raise AssertionError(f"{label}: {exc}") from None
    assert replayed > 0

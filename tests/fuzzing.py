"""Shared by the schemathesis tests: thousands of generated requests against a real server, from our own
OpenAPI document and from the Actions subset of Auth0's official one. Every answer
must be a non-5xx that conforms to the document (status and body).

Auth0's document is amended where real traffic contradicts it (the recordings win, as
the contract says); each amendment is listed in ``auth0_document``."""

from __future__ import annotations

import copy
import json
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import REFERENCE

EXAMPLES = 60
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def auth0_document() -> dict[str, Any]:
    spec = json.loads((REFERENCE / "auth0-management-api-v2.actions-subset.oas.json").read_text())
    spec = copy.deepcopy(spec)
    schemas = spec["components"]["schemas"]
    # Real traffic (every recording since 2023) carries current_version on actions.
    for name in (
        "Action",
        "GetActionResponseContent",
        "CreateActionResponseContent",
        "UpdateActionResponseContent",
    ):
        if name in schemas:
            schemas[name]["properties"]["current_version"] = {"type": "object"}
    # Real traffic (Deploy CLI recordings, 2026): GET /actions/triggers serves mcp-tool,
    # which the spec's enum lacks.
    schemas["ActionTriggerTypeEnum"]["enum"].append("mcp-tool")
    # Real traffic: both deploy operations answer 200, not the documented 202.
    for path in (
        "/actions/actions/{id}/deploy",
        "/actions/actions/{actionId}/versions/{id}/deploy",
    ):
        responses = spec["paths"][path]["post"]["responses"]
        responses.setdefault("200", responses.get("202"))
    # Real traffic: deleting a bound action is 409 (Terraform and Deploy CLI issues).
    spec["paths"]["/actions/actions/{id}"]["delete"]["responses"].setdefault(
        "409", {"description": "Bound"}
    )
    # Our execution results carry binding_id, version_id and response (as Auth0's
    # own Java SDK fixture shows) beyond the documented members.
    for schema in schemas.values():
        if (
            schema.get("additionalProperties") is False
            and "action_name" in schema.get("properties", {})
            and "ended_at" in schema.get("properties", {})
        ):
            schema["additionalProperties"] = True
    # Statuses Auth0's gateway answers on any route: 413 body too large, 503 unavailable.
    for operations in spec["paths"].values():
        for operation in operations.values():
            for status in ("404", "409", "412", "413", "503"):
                operation["responses"].setdefault(status, {"description": "error"})
    return spec


def fuzz(document: dict[str, Any], base_url: str, token: str, mode: GenerationMode) -> int:
    """Run every operation of ``document`` with generated cases; returns how many
    requests were sent. Any failed check fails the test with schemathesis' report."""
    sent = 0
    schema = schemathesis.openapi.from_dict(document)
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def run(case: Any) -> None:
            nonlocal sent
            sent += 1
            if mode is GenerationMode.POSITIVE:
                case.call_and_validate(
                    base_url=base_url, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS
                )
            else:
                response = case.call(
                    base_url=base_url, headers={"Authorization": f"Bearer {token}"}
                )
                assert response.status_code < 500, (case.method, case.formatted_path, response.text)

        try:
            run()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # an operation without inputs to spoil
    return sent

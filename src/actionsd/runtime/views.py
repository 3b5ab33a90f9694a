"""HTTP routes of the runtime: Auth0's test and executions endpoints, and actionsd's
entry point for identity servers (``/actionsd/v1``, outside Auth0's namespace)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from actionsd import errors
from actionsd.api.deps import State, requires
from actionsd.api.errors import JSON, json_body
from actionsd.auth.tokens import EXECUTE_SCOPE
from actionsd.runtime import executions
from actionsd.triggers import catalog

router = APIRouter()
OUT: dict[str, Any] = {"response_model_exclude_none": True}


class TestActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    payload: dict[str, Any]


class TestActionOut(BaseModel):
    payload: dict[str, Any]


class ExecutionOut(BaseModel):
    id: str
    trigger_id: str
    status: str
    results: list[dict[str, Any]]
    created_at: str
    updated_at: str


class ExecutionListOut(BaseModel):
    executions: list[ExecutionOut]


class FireIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    event: dict[str, Any] = Field(description="The trigger's event object, as Auth0 documents it.")
    action_id: str | None = Field(
        default=None,
        description="Entity-bound triggers only (custom-token-exchange, event-stream, "
        "password-hash-migration, mcp-tool): the action whose deployed version runs, as the "
        "entity that names it would run it. Other triggers run their bound actions.",
    )


class ContinueIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    query: dict[str, Any] | None = Field(
        default=None, description="Query of the request that came back."
    )
    body: dict[str, Any] | None = Field(
        default=None,
        description="Form body of the request that came back; after api.prompt.render, "
        "its members are the prompt's fields (event.prompt.fields).",
    )


class FlowOut(BaseModel):
    execution_id: str
    trigger_id: str
    status: str = Field(description="final, or suspended while a redirect is out.")
    outcome: dict[str, Any] = Field(
        description="The combined commands: denied, user metadata changes, idToken and "
        "accessToken claims and scopes, multifactor, redirect, authentication, notification."
    )
    results: list[dict[str, Any]]
    error: dict[str, Any] | None = None


@router.post(
    "/api/v2/actions/actions/{id}/test",
    response_model=TestActionOut,
    operation_id="post_test_action",
    tags=["actions"],
    dependencies=[requires("create:actions")],
)
def test_action(state: State, id: str, body: TestActionIn) -> Any:
    """Run the action's draft once against a payload (200 even when the code throws)."""
    runtime = state.require_runtime()
    with state.read() as conn:
        return runtime.test(conn, id, body.payload)


@router.get(
    "/api/v2/actions/executions/{id}",
    response_model=ExecutionOut,
    operation_id="get_execution",
    tags=["triggers"],
    dependencies=[requires("read:actions")],
    **OUT,
)
def read_execution(state: State, id: str) -> Any:
    """Retrieve an execution record (kept ten days)."""
    row = state.require_runtime().store.load(id)
    if row is None:
        raise errors.NotFound(errors.EXECUTION_NOT_FOUND)
    return executions.render(row)


@router.get(
    "/actionsd/v1/executions",
    response_model=ExecutionListOut,
    operation_id="actionsd_list_executions",
    tags=["runtime (actionsd)"],
    dependencies=[requires("read:actions")],
    **OUT,
)
def list_executions(
    state: State,
    trigger_id: Annotated[str, Query(description="The trigger whose executions to list.")],
    per_page: Annotated[int, Query(ge=1, le=100, description="How many, newest first.")] = 20,
) -> Any:
    """The trigger's most recent executions (kept ten days), newest first. Not part of
    Auth0's API, which can only fetch one execution by id: the dashboard's executions
    view reads this, with the same ``read:actions`` scope."""
    if trigger_id not in catalog.TRIGGER_IDS:
        raise errors.InvalidQuery(
            f"Query validation error: 'Invalid value {trigger_id}' on property trigger_id."
        )
    rows = state.require_runtime().store.recent(trigger_id, per_page)
    return {"executions": [executions.render(r) for r in rows]}


@router.post(
    "/actionsd/v1/triggers/{triggerId}/execute",
    response_model=FlowOut,
    operation_id="actionsd_execute_trigger",
    tags=["runtime (actionsd)"],
    dependencies=[requires(EXECUTE_SCOPE)],
    **OUT,
)
async def execute_trigger(
    state: State,
    triggerId: Annotated[str, Path(description="The trigger to fire, e.g. post-login.")],
    body: FireIn,
) -> Any:
    """Fire a trigger: run its bound actions in binding order against the event and
    answer the combined commands and the execution id; an entity-bound trigger runs the
    deployed version of ``action_id``. Not part of Auth0's API: the entry point for
    identity servers (scope ``execute:actions``)."""
    # On the event loop: the worker's pipes are awaited there, no thread per login. The
    # result is plain JSON already (FlowOut documents it); encoding it once is enough.
    runtime = state.require_runtime()
    result = await runtime.afire(triggerId, body.event, body.action_id)
    return Response(json_body(result.as_json()), media_type=JSON)


@router.post(
    "/actionsd/v1/executions/{id}/continue",
    response_model=FlowOut,
    operation_id="actionsd_continue_execution",
    tags=["runtime (actionsd)"],
    dependencies=[requires(EXECUTE_SCOPE)],
    **OUT,
)
def continue_execution(
    state: State, id: str, body: Annotated[ContinueIn | None, Body()] = None
) -> Any:
    """Resume a flow that a redirect or a prompt suspended (``api.redirect.sendUserTo``,
    ``api.prompt.render``): that action's ``onContinue…`` handler runs, then the rest of
    the flow."""
    params = body.model_dump(exclude_none=True) if body is not None else {}
    return state.require_runtime().resume(id, params).as_json()

"""HTTP routes of actions and their versions. Handlers only parse, open the request's
transaction and call the service."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response

from actionsd.actions import service
from actionsd.actions.models import (
    ActionListOut,
    ActionOut,
    CreateActionIn,
    DeployVersionIn,
    TriggerId,
    UpdateActionIn,
    VersionListOut,
    VersionOut,
)
from actionsd.api.deps import AppState, Page, PerPage, State, requires
from actionsd.api.errors import JSON

router = APIRouter(prefix="/api/v2/actions", tags=["actions"])
OUT: dict[str, Any] = {"response_model_exclude_none": True}


@router.get(
    "/actions",
    response_model=ActionListOut,
    operation_id="get_actions",
    dependencies=[requires("read:actions")],
    **OUT,
)
async def list_actions(
    state: State,
    triggerId: TriggerId | None = None,
    actionName: str | None = None,
    deployed: bool | None = None,
    installed: bool | None = None,
    page: Page = 0,
    per_page: PerPage = 20,
) -> Any:
    """Retrieve all actions, oldest first."""
    filters: dict[str, Any] = {
        "trigger_id": triggerId,
        "action_name": actionName,
        "deployed": deployed,
        "installed": installed,
        "page": page,
        "per_page": per_page,
    }
    # Served from this process's rendering while the actions counter (moved by every
    # write to an action or version, and by builds) has not moved; one read decides.
    body, _ = await state.responses.serve(
        ("actions", *filters.values()),
        service.actions_counter_now(state.engine),
        lambda: _render_actions(state, filters),
    )
    return Response(body, media_type=JSON)


def _render_actions(state: AppState, filters: dict[str, Any]) -> tuple[bytes, int]:
    """A page of actions as validated JSON, and the counter it was read at."""
    with state.read() as conn:
        counter = service.actions_counter(conn)
        result = service.list_actions(conn, **filters)
    return ActionListOut.model_validate(result).model_dump_json(exclude_none=True).encode(), counter


@router.post(
    "/actions",
    status_code=201,
    response_model=ActionOut,
    operation_id="post_action",
    dependencies=[requires("create:actions")],
    **OUT,
)
async def create_action(state: State, body: CreateActionIn) -> Any:
    """Create an action; its draft is built in the background."""
    result = await state.writing(lambda conn: service.create_action(conn, body, state.limits))
    state.wake_builder()
    return result


@router.get(
    "/actions/{id}",
    response_model=ActionOut,
    operation_id="get_action",
    dependencies=[requires("read:actions")],
    **OUT,
)
def read_action(state: State, id: str) -> Any:
    """Retrieve an action by its id."""
    with state.read() as conn:
        return service.get_action(conn, id)


@router.patch(
    "/actions/{id}",
    response_model=ActionOut,
    operation_id="patch_action",
    dependencies=[requires("update:actions")],
    **OUT,
)
async def update_action(state: State, id: str, body: UpdateActionIn) -> Any:
    """Update the draft of an action; bound flows keep running the deployed version."""
    result = await state.writing(lambda conn: service.update_action(conn, id, body, state.limits))
    state.wake_builder()
    return result


@router.delete(
    "/actions/{id}",
    status_code=204,
    response_class=Response,
    operation_id="delete_action",
    dependencies=[requires("delete:actions")],
)
async def delete_action(state: State, id: str, force: bool = False) -> Response:
    """Delete an action and its versions; ``force`` detaches it from triggers first."""
    await state.writing(lambda conn: service.delete_action(conn, id, force=force))
    return Response(status_code=204)


@router.post(
    "/actions/{id}/deploy",
    response_model=VersionOut,
    operation_id="post_deploy_action",
    dependencies=[requires("create:actions")],
    **OUT,
)
async def deploy_action(state: State, id: str) -> Any:
    """Deploy the built draft as a new version (200, as Auth0 answers; its spec says 202)."""
    return await state.writing(lambda conn: service.deploy_action(conn, id, state.limits))


@router.get(
    "/actions/{actionId}/versions",
    response_model=VersionListOut,
    operation_id="get_action_versions",
    dependencies=[requires("read:actions")],
    **OUT,
)
def list_versions(
    state: State,
    actionId: str,
    page: Page = 0,
    per_page: PerPage = 20,
) -> Any:
    """Retrieve the versions of an action, newest first."""
    with state.read() as conn:
        return service.list_versions(conn, actionId, page=page, per_page=per_page)


@router.get(
    "/actions/{actionId}/versions/{id}",
    response_model=VersionOut,
    operation_id="get_action_version",
    dependencies=[requires("read:actions")],
    **OUT,
)
def read_version(state: State, actionId: str, id: str) -> Any:
    """Retrieve one version of an action."""
    with state.read() as conn:
        return service.get_version(conn, actionId, id)


@router.post(
    "/actions/{actionId}/versions/{id}/deploy",
    response_model=VersionOut,
    operation_id="post_deploy_draft_version",
    dependencies=[requires("create:actions")],
    **OUT,
)
async def rollback(
    state: State,
    actionId: str,
    id: str,
    body: Annotated[DeployVersionIn | None, Body()] = None,
) -> Any:
    """Roll back: deploy a copy of an earlier version as a new version."""
    update_draft = body.update_draft if body is not None else False
    return await state.writing(
        lambda conn: service.rollback(
            conn, actionId, id, update_draft=update_draft, limits=state.limits
        )
    )

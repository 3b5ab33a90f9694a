"""HTTP routes of Actions Modules (Auth0 Early Access, ten operations)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from actionsd.api.deps import Page, PerPage, State, requires
from actionsd.modules import service
from actionsd.modules.models import (
    CreateModuleIn,
    ModuleActionListOut,
    ModuleListOut,
    ModuleOut,
    ModuleVersionListOut,
    ModuleVersionOut,
    RollbackModuleIn,
    UpdateModuleIn,
)

router = APIRouter(prefix="/api/v2/actions/modules", tags=["modules"])
OUT: dict[str, Any] = {"response_model_exclude_none": True}
OptionalPerPage = Annotated[
    int | None, Query(ge=1, le=100, description="Results per page; paging is off if not sent.")
]


@router.get(
    "",
    response_model=ModuleListOut,
    operation_id="get_action_modules",
    dependencies=[requires("read:actions")],
    **OUT,
)
def list_modules(state: State, page: Page = 0, per_page: OptionalPerPage = None) -> Any:
    """Retrieve all actions modules."""
    with state.read() as conn:
        return service.list_modules(conn, page=page, per_page=per_page)


@router.post(
    "",
    status_code=201,
    response_model=ModuleOut,
    operation_id="post_action_module",
    dependencies=[requires("create:actions")],
    **OUT,
)
async def create_module(state: State, body: CreateModuleIn) -> Any:
    """Create a module; ``publish: true`` publishes version 1 at once."""
    return await state.writing(lambda conn: service.create_module(conn, body))


@router.get(
    "/{id}",
    response_model=ModuleOut,
    operation_id="get_action_module",
    dependencies=[requires("read:actions")],
    **OUT,
)
def read_module(state: State, id: str) -> Any:
    """Retrieve a module."""
    with state.read() as conn:
        return service.get_module(conn, id)


@router.patch(
    "/{id}",
    response_model=ModuleOut,
    operation_id="patch_action_module",
    dependencies=[requires("update:actions")],
    **OUT,
)
async def update_module(state: State, id: str, body: UpdateModuleIn) -> Any:
    """Update a module's draft (its name cannot change)."""
    return await state.writing(lambda conn: service.update_module(conn, id, body))


@router.delete(
    "/{id}",
    status_code=204,
    response_class=Response,
    operation_id="delete_action_module",
    dependencies=[requires("delete:actions")],
)
async def delete_module(state: State, id: str) -> Response:
    """Delete a module and its versions (412 while an action uses it)."""
    await state.writing(lambda conn: service.delete_module(conn, id))
    return Response(status_code=204)


@router.get(
    "/{id}/actions",
    response_model=ModuleActionListOut,
    operation_id="get_action_module_actions",
    dependencies=[requires("read:actions")],
    **OUT,
)
def list_module_actions(state: State, id: str, page: Page = 0, per_page: PerPage = 50) -> Any:
    """The actions that use a module, with the version each pins."""
    with state.read() as conn:
        return service.list_module_actions(conn, id, page=page, per_page=per_page)


@router.post(
    "/{id}/rollback",
    response_model=ModuleOut,
    operation_id="post_action_module_rollback",
    dependencies=[requires("update:actions")],
    **OUT,
)
async def rollback_module(state: State, id: str, body: RollbackModuleIn) -> Any:
    """Copy a published version's code, dependencies and secrets into the draft."""
    return await state.writing(lambda conn: service.rollback(conn, id, body.module_version_id))


@router.get(
    "/{id}/versions",
    response_model=ModuleVersionListOut,
    operation_id="get_action_module_versions",
    dependencies=[requires("read:actions")],
    **OUT,
)
def list_module_versions(state: State, id: str, page: Page = 0, per_page: PerPage = 20) -> Any:
    """The published versions of a module, newest first."""
    with state.read() as conn:
        return service.list_versions(conn, id, page=page, per_page=per_page)


@router.post(
    "/{id}/versions",
    response_model=ModuleVersionOut,
    operation_id="post_action_module_version",
    dependencies=[requires("update:actions")],
    **OUT,
)
async def publish_module(state: State, id: str) -> Any:
    """Publish the draft as a new immutable version (200)."""
    return await state.writing(lambda conn: service.publish(conn, id))


@router.get(
    "/{id}/versions/{versionId}",
    response_model=ModuleVersionOut,
    operation_id="get_action_module_version",
    dependencies=[requires("read:actions")],
    **OUT,
)
def read_module_version(state: State, id: str, versionId: str) -> Any:
    """Retrieve one published version of a module."""
    with state.read() as conn:
        return service.get_version(conn, id, versionId)

"""HTTP routes of triggers, bindings and executions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Response
from pydantic import BaseModel

from actionsd import errors
from actionsd.actions.models import TriggerId
from actionsd.api.deps import AppState, Page, PerPage, State, requires
from actionsd.api.errors import JSON
from actionsd.bindings import service
from actionsd.bindings.models import BindingListOut, UpdateBindingsIn, UpdatedBindingsOut
from actionsd.triggers.catalog import CATALOG

router = APIRouter(prefix="/api/v2/actions", tags=["triggers"])
OUT: dict[str, Any] = {"response_model_exclude_none": True}
TriggerPath = Annotated[TriggerId, Path(description="An actions extensibility point.")]


class CompatibleTriggerOut(BaseModel):
    id: str
    version: str


class TriggerOut(BaseModel):
    id: str
    version: str
    status: str
    runtimes: list[str]
    default_runtime: str | None = None
    compatible_triggers: list[CompatibleTriggerOut]
    binding_policy: str


class TriggerListOut(BaseModel):
    triggers: list[TriggerOut]


def _etag(revision: int) -> str:
    return f'"{revision}"'


@router.get(
    "/triggers",
    response_model=TriggerListOut,
    operation_id="get_triggers",
    dependencies=[requires("read:actions")],
    **OUT,
)
def list_triggers() -> Any:
    """Retrieve the set of triggers currently available within actions (no paging)."""
    return {"triggers": [t.as_json() for t in CATALOG]}


@router.get(
    "/triggers/{triggerId}/bindings",
    response_model=BindingListOut,
    operation_id="get_bindings",
    dependencies=[requires("read:actions")],
    **OUT,
)
async def list_bindings(
    state: State,
    triggerId: TriggerPath,
    page: Page = 0,
    per_page: PerPage = 20,
) -> Any:
    """Retrieve the actions bound to a trigger, in the order in which they execute.

    The ``ETag`` names the list's revision; send it back as ``If-Match`` on PATCH to
    refuse (412) a replacement of a list that changed since (an actionsd extension)."""
    # One small indexed read decides whether the rendered page is still current; the
    # rendering runs only on a miss.
    body, current = await state.responses.serve(
        ("bindings", triggerId, page, per_page),
        service.current_version_now(state.engine, triggerId),
        lambda: _render_bindings(state, triggerId, page, per_page),
    )
    return Response(body, media_type=JSON, headers={"ETag": _etag(current[0])})


def _render_bindings(
    state: AppState, trigger_id: str, page: int, per_page: int
) -> tuple[bytes, tuple[int, int]]:
    with state.read() as conn:
        result = service.list_bindings(conn, trigger_id, page=page, per_page=per_page)
        current = service.version(conn, trigger_id)
    body = BindingListOut.model_validate(result).model_dump_json(exclude_none=True).encode()
    return body, current


@router.patch(
    "/triggers/{triggerId}/bindings",
    response_model=UpdatedBindingsOut,
    operation_id="patch_bindings",
    dependencies=[requires("update:actions")],
    **OUT,
)
async def replace_bindings(
    state: State,
    triggerId: TriggerPath,
    body: UpdateBindingsIn,
    if_match: Annotated[str | None, Header()] = None,
) -> Any:
    """Replace the whole ordered list of actions bound to a trigger, atomically."""
    expected = _parse_if_match(if_match)
    written, revision = await state.writing(
        lambda conn: service.replace_bindings(
            conn, triggerId, body.bindings, state.limits, expected_revision=expected
        )
    )
    # Rendered after the commit, validated against the response model and encoded by
    # pydantic in one step.
    result = UpdatedBindingsOut.model_validate({"bindings": written.render()})
    answer = result.model_dump_json(exclude_none=True)
    return Response(answer, media_type=JSON, headers={"ETag": _etag(revision)})


def _parse_if_match(value: str | None) -> int | None:
    if value is None or value.strip() == "*":
        return None
    tag = value.strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise errors.PreconditionFailed("If-Match must be an ETag returned by GET bindings.")
    return int(tag)

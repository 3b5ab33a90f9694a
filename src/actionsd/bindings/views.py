"""HTTP routes of triggers, bindings and executions."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Response
from pydantic import BaseModel, ValidationError

from actionsd import errors
from actionsd.actions.models import TriggerId
from actionsd.api.deps import AppState, Page, PerPage, State, authorize, requires
from actionsd.api.shortcuts import Answer, Call, Shortcut
from actionsd.bindings import at_once, service
from actionsd.bindings.models import BindingListOut, UpdateBindingsIn, UpdatedBindingsOut
from actionsd.db.raw import RawSql, Steps
from actionsd.triggers.catalog import CATALOG, TRIGGER_IDS

router = APIRouter(prefix="/api/v2/actions", tags=["triggers"])
OUT: dict[str, Any] = {"response_model_exclude_none": True}
JSON = "application/json; charset=utf-8"
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
    body, revision = await _list(state, triggerId, page, per_page)
    return Response(body, media_type=JSON, headers={"ETag": _etag(revision)})


async def _list(state: AppState, trigger_id: str, page: int, per_page: int) -> tuple[bytes, int]:
    """The page's body and the list's revision."""
    # One small indexed read decides whether the rendered page is still current; it
    # runs on the event loop (no threadpool hop), the rendering only on a miss.
    body, current = await state.responses.serve(
        ("bindings", trigger_id, page, per_page),
        state.fast_reader().arevision(trigger_id),
        lambda: _render_bindings(state, trigger_id, page, per_page),
    )
    return body, current[0]


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
    replaced = await _replace(state, triggerId, body, if_match)
    return Response(replaced.render(), media_type=JSON, headers={"ETag": _etag(replaced.revision)})


async def _replace(
    state: AppState, trigger_id: str, body: UpdateBindingsIn, if_match: str | None
) -> service.Replaced:
    expected = _parse_if_match(if_match)
    replaced = await _write_list(state, trigger_id, body, expected)
    state.bindings_replaced()
    return replaced


async def _write_list(
    state: AppState, trigger_id: str, body: UpdateBindingsIn, expected: int | None
) -> service.Replaced:
    # Lists that refer to actions only (the usual PATCH): checked against the actions as
    # last read, and concurrent ones of one trigger written together.
    replaced = await at_once.replace_bindings(
        state.fetch,
        state.action_lookup,
        state.list_writer,
        trigger_id,
        body.bindings,
        state.limits,
        expected_revision=expected,
    )
    if replaced is not None:
        return replaced

    def write(sql: RawSql) -> Steps[service.Replaced]:
        return service.replace_bindings(
            sql, trigger_id, body.bindings, state.limits, expected_revision=expected
        )

    # Render the result after this returns (the commit): the writer is free for the next
    # one. The rendering is list_bindings' shape, checked against this route's
    # response_model by the schema tests.
    return await state.in_writer(write)


# The two routes' plain calls, answered below FastAPI (api/shortcuts.py): the routes
# above answer everything else, and hold the OpenAPI entries.
BINDINGS_PATH = re.compile(r"/api/v2/actions/triggers/(?P<trigger>[^/]+)/bindings")


async def list_bindings_shortcut(state: AppState, call: Call) -> Answer | None:
    trigger_id = call.path["trigger"]
    paging = _paging(call.query)
    if trigger_id not in TRIGGER_IDS or paging is None:
        return None  # the route words the error
    authorize(state, call.headers.get("authorization"), "read:actions")
    page_body, revision = await _list(state, trigger_id, *paging)
    return Answer(page_body, [(b"etag", _etag(revision).encode())])


def _paging(query: bytes) -> tuple[int, int] | None:
    """(page, per_page) from a query string of at most those two, each once, in the
    routes' bounds (Page, PerPage); None for anything else."""
    values = {"page": 0, "per_page": 20}
    seen = set()
    for part in query.split(b"&") if query else ():
        name, _, value = part.partition(b"=")
        key = name.decode("latin-1")
        if key not in values or key in seen or not value.isdigit() or len(value) > 6:
            return None
        seen.add(key)
        values[key] = int(value)
    if values["page"] > 100_000 or not 1 <= values["per_page"] <= 100:
        return None
    return values["page"], values["per_page"]


async def replace_bindings_shortcut(state: AppState, call: Call) -> Answer | None:
    trigger_id = call.path["trigger"]
    if trigger_id not in TRIGGER_IDS or not _is_json(call.headers.get("content-type")):
        return None  # the route words the error (or parses the untyped body)
    authorize(state, call.headers.get("authorization"), "update:actions")
    try:
        payload = UpdateBindingsIn.model_validate_json(call.body)
    except ValidationError:
        return None  # the route words the error as Auth0 does
    replaced = await _replace(state, trigger_id, payload, call.headers.get("if-match"))
    return Answer(replaced.render(), [(b"etag", _etag(replaced.revision).encode())])


SHORTCUTS = [
    Shortcut("GET", BINDINGS_PATH, list_bindings_shortcut),
    Shortcut("PATCH", BINDINGS_PATH, replace_bindings_shortcut),
]


def _is_json(content_type: str | None) -> bool:
    """What FastAPI parses as a JSON body (it also parses a body sent without a type;
    that rare case takes the regular route)."""
    if content_type is None:
        return False
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


def _parse_if_match(value: str | None) -> int | None:
    if value is None or value.strip() == "*":
        return None
    tag = value.strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise errors.PreconditionFailed("If-Match must be an ETag returned by GET bindings.")
    return int(tag)

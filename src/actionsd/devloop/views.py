"""HTTP routes of the developer loop, under ``/actionsd/v1`` (not Auth0's API): each
trigger's sample event, and the live stream of executions (Auth0's Real-time Logs)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Header, Path, Query
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, Field

from actionsd.actions.models import TriggerId
from actionsd.api.deps import State, requires
from actionsd.devloop.feed import ExecutionFeed, latest_seq
from actionsd.runtime import executions

router = APIRouter(prefix="/actionsd/v1", tags=["developer loop (actionsd)"])
# How often a stream looks for new rows; a flow's record reaches the table ~20 ms after
# its answer (runtime.executions), so an execution shows within a quarter second.
POLL_SECONDS = 0.25


class SampleEventOut(BaseModel):
    trigger_id: str
    event: dict[str, Any] = Field(description="Auth0's documented event object, filled in.")


class LiveExecution(BaseModel):
    """An execution as stored (``GET /api/v2/actions/executions/{id}``) and its combined
    outcome; ``seq`` is also the event's id (send it back as ``Last-Event-ID``)."""

    seq: int
    id: str
    trigger_id: str
    status: str
    outcome: dict[str, Any]
    results: list[dict[str, Any]]
    created_at: str
    updated_at: str


class CaughtUp(BaseModel):
    """The ``live`` event: everything before this point has been sent."""

    seq: int


@router.get(
    "/triggers/{triggerId}/sample-event",
    response_model=SampleEventOut,
    operation_id="actionsd_get_sample_event",
    dependencies=[requires("read:actions")],
)
def sample_event(
    triggerId: Annotated[TriggerId, Path(description="The trigger, e.g. post-login.")],
) -> Any:
    """The trigger's sample event, as ``actionsd fire`` and the dashboard start from."""
    from actionsd.triggers import events

    return {"trigger_id": triggerId, "event": events.sample(triggerId)}


def _event(row: dict[str, Any]) -> ServerSentEvent:
    body = {**executions.render(row), "outcome": row["outcome"], "seq": row["seq"]}
    return ServerSentEvent(event="execution", id=str(row["seq"]), data=body)


@router.get(
    "/executions/stream",
    response_class=EventSourceResponse,
    operation_id="actionsd_stream_executions",
    dependencies=[requires("read:actions")],
)
async def stream_executions(
    state: State,
    trigger_id: Annotated[
        TriggerId | None, Query(description="Only this trigger's executions.")
    ] = None,
    history: Annotated[
        int, Query(ge=0, le=100, description="Begin with this many past executions.")
    ] = 0,
    last_event_id: Annotated[
        str | None, Header(description="Resume after this event (sent by EventSource).")
    ] = None,
) -> AsyncIterator[LiveExecution | CaughtUp]:
    """Server-Sent Events: an ``execution`` event for every execution any server process
    stores from now on (a resumed flow's final record too), oldest first; ``history``
    past ones before them, then one ``live`` event when the stream has caught up. A
    client that attaches later gets what follows; a slow reader only delays its own
    stream (each reads the executions table on its own)."""
    resume = last_event_id.isdigit() if last_event_id else False
    after = int(last_event_id) if resume and last_event_id else None
    if after is None:
        after = await anyio.to_thread.run_sync(latest_seq, state.engine)
    feed = ExecutionFeed(state.engine, after, trigger_id)
    if not resume:
        for row in await anyio.to_thread.run_sync(feed.history, history):
            yield _event(row)  # type: ignore[misc]
    live = ServerSentEvent(event="live", id=str(feed.cursor), data={"seq": feed.cursor})
    yield live  # type: ignore[misc]
    while True:
        rows, more = await anyio.to_thread.run_sync(feed.poll)
        for row in rows:
            yield _event(row)  # type: ignore[misc]
        if not more:
            await anyio.sleep(POLL_SECONDS)

"""A trigger's list replaced without reading under the lock, and concurrent
replacements of one list written together.

The locked path (``service.replace_bindings``) reads the trigger's list and the actions
it refers to under the trigger's lock, checks, and writes. Here a list that refers to
actions only (by id or name; the usual PATCH) is checked against the actions as this
process last read them (``ActionLookup``); the write then only confirms, under the lock,
that the actions counter has not moved since they were read, and swaps the list
(``swap``). On PostgreSQL that is one call of migration 0007's function: one round
trip, the lock held only inside the database. On SQLite it is ``swap_steps`` in the
process's write transaction. Every rule stays in the server.

``ListWriter`` combines the PATCHes of one trigger that arrive while its last list is
being written: one write and one commit for all of them (see its docstring).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from actionsd import errors
from actionsd.actions.service import Limits
from actionsd.bindings import service
from actionsd.bindings.models import BindingItemIn
from actionsd.db.raw import LastBatch, RawSql, Steps, record
from actionsd.util import now_ns

T = TypeVar("T")
# A swap's answers that are not a revision.
STALE_ACTIONS, REVISION_CHANGED, NO_TRIGGER = -1, -2, -3
ATTEMPTS = 4  # checks against moving actions before the locked path takes over
REPLACE = (
    "SELECT actionsd_replace_bindings(?, ?, ?, ?, ?, ?::text[], ?::text[], ?::text[], "
    "?::text[], ?::bigint[])"
)
# One statement (one snapshot): the counter, the trigger's revision, the actions.
READ_ACTIONS = (
    "SELECT c.value AS actions_counter, t.revision AS trigger_revision, "
    + ", ".join(f"a.{column.strip()}" for column in service.ACTION_COLUMNS.split(","))
    + " FROM counters c JOIN triggers t ON t.id = ? LEFT JOIN actions a ON {where} "
    "WHERE c.name = 'actions'"
)
Fetch = Callable[[str, Any], Awaitable[list[dict[str, Any]]]]


class Connections(Protocol):
    """Runs ``work`` on a connection of the process's PostgreSQL writer pool."""

    def __call__(self, work: Callable[[RawSql], Awaitable[T]]) -> Awaitable[T]: ...


class ActionLookup:
    """The actions PATCHes referred to, as this process last read them, and the actions
    counter they were read at. A list checked against them is written only if the
    counter has not moved since (the function confirms it under the lock), and a
    refusal is only ever worded from a fresh read."""

    LIMIT = 10_000

    def __init__(self) -> None:
        self.counter: int | None = None
        self._by_id: dict[str, Any] = {}
        self._by_name: dict[str, Any] = {}

    def get(self, ids: tuple[str, ...], names: tuple[str, ...]) -> tuple[int, list[Any]] | None:
        if self.counter is None:
            return None
        try:
            found = [self._by_id[i] for i in ids] + [self._by_name[n] for n in names]
        except KeyError:
            return None
        return self.counter, found

    def put(self, counter: int, found: list[Any]) -> None:
        if counter != self.counter or len(self._by_id) > self.LIMIT:
            self.counter, self._by_id, self._by_name = counter, {}, {}
        for action in found:
            self._by_id[action.id] = action
            self._by_name[action.name] = action


@dataclass
class Planned:
    """One PATCH's new list, checked against the actions at ``counter``; ``answer``
    gets its revision (or the function's refusal)."""

    rows: list[tuple[Any, ...]]
    counter: int
    expected_revision: int | None
    now: int
    answer: asyncio.Future[int] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


Swap = Callable[[str, Planned, int], Awaitable[int]]


def postgres_swap(connections: Connections) -> Swap:
    """The swap on PostgreSQL: one call of the function (migration 0007)."""

    async def swap(trigger_id: str, last: Planned, count: int) -> int:
        params = (trigger_id, last.expected_revision, last.counter, count, last.now)
        answer = await connections(lambda sql: sql.afetch(REPLACE, (*params, *_columns(last))))
        return int(next(iter(answer[0].values())))

    return swap


def swap_steps(trigger_id: str, last: Planned, count: int) -> Steps[int]:
    """The swap as steps, for a write transaction that already holds the database's
    write lock (SQLite): what the PostgreSQL function does, statement for statement."""
    locked, counters = yield [
        ("SELECT revision FROM triggers WHERE id = ?", (trigger_id,)),
        ("SELECT value FROM counters WHERE name = 'actions'", ()),
    ]
    if not locked:
        return NO_TRIGGER
    current = int(locked[0]["revision"])
    if last.expected_revision is not None and last.expected_revision != current:
        return REVISION_CHANGED
    if not counters or int(counters[0]["value"]) != last.counter:
        return STALE_ACTIONS
    yield LastBatch(service.list_writes(trigger_id, current + count, last.rows))
    return current + count


def _columns(last: Planned) -> list[list[Any]]:
    """The stored list as columns: binding ids, action ids, display names, secrets,
    created_at (the function's arrays)."""
    return [[row[i] for row in last.rows] for i in (0, 3, 4, 5, 6)]


class ListWriter:
    """Writes this process's checked lists. While a trigger's list is being written,
    the PATCHes of that trigger that arrive wait, and are then written by one swap: one
    commit under one lock for all of them. Each gets a revision of its own, in arrival
    order, and the list of the last one is stored; the others' lists were the trigger's
    for no time at all, as if each PATCH had come right after the one before it (none
    of them depends on the list it replaces). A PATCH with If-Match, or checked at
    another actions counter than the one before it, gets a swap of its own. Without
    concurrent PATCHes of one trigger, each is written at once."""

    def __init__(self, swap: Swap) -> None:
        self._swap = swap
        self._waiting: dict[str, list[Planned]] = {}
        self._flushes: set[asyncio.Task[None]] = set()
        self.swaps = 0  # made so far (for tests)

    async def write(self, trigger_id: str, planned: Planned) -> int:
        waiting = self._waiting.get(trigger_id)
        if waiting is None:
            waiting = self._waiting[trigger_id] = []
            task = asyncio.get_running_loop().create_task(self._flush(trigger_id))
            self._flushes.add(task)  # the loop keeps only a weak reference to tasks
            task.add_done_callback(self._flushes.discard)
        waiting.append(planned)
        return await planned.answer

    async def _flush(self, trigger_id: str) -> None:
        batch: list[Planned] = []
        try:
            while batch := self._waiting[trigger_id]:
                self._waiting[trigger_id] = []
                while batch:
                    group = _first_group(batch)
                    await self._write(trigger_id, group)
                    del batch[: len(group)]
        finally:
            # Normally nothing is left. If this task was cancelled (shutdown), no PATCH
            # may wait for ever, and the next one must start a flush of its own.
            left = batch + self._waiting.pop(trigger_id, [])
            _fail(left, errors.ServiceUnavailable("The write was interrupted; try again."))

    async def _write(self, trigger_id: str, group: list[Planned]) -> None:
        self.swaps += 1
        try:
            revision = await self._swap(trigger_id, group[-1], len(group))
        except Exception as failed:  # every PATCH of the swap answers with it
            _fail(group, failed)
            return
        first = revision - len(group) + 1
        for offset, planned in enumerate(group):
            if not planned.answer.done():  # not given up on by its request
                planned.answer.set_result(first + offset if revision >= 0 else revision)


def _fail(planned: list[Planned], failure: Exception) -> None:
    for one in planned:
        if not one.answer.done():
            one.answer.set_exception(failure)


def _first_group(batch: list[Planned]) -> list[Planned]:
    """The PATCHes at the head of ``batch`` that go in one swap: a run checked at one
    counter, without If-Match (or one with If-Match, alone)."""
    head = batch[0]
    if head.expected_revision is not None:
        return [head]
    size = 1
    for planned in batch[1:]:
        if planned.expected_revision is not None or planned.counter != head.counter:
            break
        size += 1
    return batch[:size]


async def replace_bindings(
    fetch: Fetch,
    lookup: ActionLookup,
    writer: ListWriter,
    trigger_id: str,
    items: list[BindingItemIn],
    limits: Limits,
    *,
    expected_revision: int | None = None,
) -> service.Replaced | None:
    """``service.replace_bindings`` for lists that refer to actions only, written by
    ``writer`` (``fetch`` runs one read statement). None when the list keeps bindings
    by id (their state is read under the lock) or the actions kept changing under it:
    the caller then takes the locked path."""
    service.check_request(trigger_id, items, limits)
    by_id, by_name, by_binding = service.refs(items)
    if by_binding:
        return None
    for attempt in range(ATTEMPTS):
        cached = lookup.get(by_id, by_name) if attempt == 0 else None
        if cached is None:
            where, params = service.actions_where(trigger_id, by_id, by_name, (), "a.")
            read = await fetch(READ_ACTIONS.format(where=where), (trigger_id, *params))
            counter = int(read[0]["actions_counter"])
            # Refusals are worded from this read, in the locked path's order.
            service.check_revision(expected_revision, int(read[0]["trigger_revision"]))
            found = [_action(row) for row in read if row["id"] is not None]
            lookup.put(counter, found)
        else:
            counter, found = cached
        try:
            resolved = service.resolve(trigger_id, items, {}, found)
        except errors.DomainError:
            if cached is None:
                raise
            continue  # refuse only after a fresh read
        now = now_ns()
        rows = service.rows_of(trigger_id, resolved, now)
        actions = [action for _, action, _ in resolved]
        bound, unrendered = service.memoised(actions)
        versions: list[Any] = []
        if unrendered:
            versions = await fetch(*service.versions_query(unrendered))
            if len(versions) != len(unrendered):
                continue  # deleted since the actions were read
        revision = await writer.write(trigger_id, Planned(rows, counter, expected_revision, now))
        if revision == REVISION_CHANGED:
            raise errors.PreconditionFailed(service.IF_MATCH_FAILED)
        if revision >= 0:
            return service.Replaced(trigger_id, revision, rows, actions, bound, versions)
        # STALE_ACTIONS: an action changed since it was read; read again.
    return None


def _action(row: dict[str, Any]) -> Any:
    values = dict(row)
    del values["actions_counter"], values["trigger_revision"]
    return record(values)

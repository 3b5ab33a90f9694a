"""Request dependencies: the application state and per-route scope checks."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import Depends, Query, Request
from sqlalchemy.engine import Connection, Engine

from actionsd import errors
from actionsd.actions.service import Limits
from actionsd.api.cache import ResponseCache
from actionsd.auth import tokens
from actionsd.auth.keys import KeyStore
from actionsd.bindings import at_once
from actionsd.bindings.at_once import ActionLookup, ListWriter
from actionsd.config import Settings
from actionsd.db.engine import (
    BUSY_TIMEOUT_MS,
    LoopWriter,
    WriterBusy,
    sqlite_lock,
    transaction,
)
from actionsd.db.fastread import AsyncPgPool, FastReader
from actionsd.db.housekeeping import BindingsVacuum
from actionsd.db.raw import RawSql, Steps

if TYPE_CHECKING:
    from actionsd.api.ratelimit import TokenBucket
    from actionsd.runtime.service import Runtime


T = TypeVar("T")
# How long a loop writer pauses before it tries SQLite's lock again: doubling, capped.
FIRST_PAUSE, LAST_PAUSE = 0.0002, 0.002


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    keys: KeyStore
    limits: Limits
    bucket: TokenBucket
    # Called after a write that leaves work for the build worker.
    wake_builder: Callable[[], None] = field(default=lambda: None)
    runtime: Runtime | None = None
    verified: tokens.VerifiedCache = field(default_factory=tokens.VerifiedCache)
    responses: ResponseCache = field(default_factory=ResponseCache)
    reader: FastReader | None = None
    # The usual PATCH's path (bindings.at_once): the actions PATCHes referred to, and
    # the writer of their lists.
    action_lookup: ActionLookup = field(default_factory=ActionLookup)
    _list_writer: ListWriter | None = None
    _loop_writer: LoopWriter | None = None
    _pg_writers: AsyncPgPool | None = None
    _vacuum: BindingsVacuum | None = None

    async def in_writer(self, steps: Callable[[RawSql], Steps[T]]) -> T:
        """Run a write (``steps``, see ``db.raw.Steps``) in one transaction, for hot
        write routes, without a thread where possible.

        SQLite: on the event loop itself, on its own plain connection, with this
        process's writer lock. A write is a few hundred microseconds, and on the loop
        no statement waits for a GIL hand-off (on a writer thread, under load, each
        did). While a background writer or another process has the lock, the write
        tries again after short pauses (up to SQLite's busy timeout, then 503).
        PostgreSQL: on async connections on the loop (on writer threads a PATCH cost 2
        ms of CPU, mostly thread hand-offs)."""
        loop = asyncio.get_running_loop()
        if self.postgres:
            return await self.on_pg_writer(lambda sql: sql.arun(steps(sql)))
        lock = sqlite_lock(self.engine)
        deadline = loop.time() + BUSY_TIMEOUT_MS / 1000
        pause = FIRST_PAUSE
        while True:
            # Usually the lock is free and the whole write runs now, synchronously: no
            # other loop writer can come between. Otherwise a background writer of this
            # process, or another process, writes: try again after a short pause, the
            # loop serving meanwhile. (Queueing writers on an asyncio lock, or waiting
            # in a thread, made convoys: a hand-over waited for a turn of the loop, a
            # thread lost the lock to the loop, and p99 grew by the run. SQLite's own
            # busy handler sleeps 10 to 100 ms at a time once it has waited a little.)
            if lock.acquire(blocking=False):
                try:
                    return self._write_now(steps)
                except WriterBusy:
                    pass  # another process has SQLite's lock
                finally:
                    lock.release()
            if loop.time() > deadline:
                raise sqlite3.OperationalError("database is locked")
            await asyncio.sleep(pause)
            pause = min(pause * 2, LAST_PAUSE)

    @property
    def postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    async def on_pg_writer(self, work: Callable[[RawSql], Awaitable[T]]) -> T:
        """``work`` on one of the loop's PostgreSQL writer connections (autocommit: it
        begins a transaction itself if it needs one)."""
        if self._pg_writers is None:
            # Two: one write holds a trigger's lock while the next one is ready.
            # More only queue on PostgreSQL's row locks (8 took p99 from 38 to 309 ms).
            self._pg_writers = AsyncPgPool(self.engine.url.render_as_string(hide_password=False), 2)
        async with self._pg_writers.connection() as conn:
            return await work(RawSql(conn))

    @property
    def list_writer(self) -> ListWriter:
        """Writes checked lists of bindings (``bindings.at_once``)."""
        if self._list_writer is None:
            if self.postgres:
                swap = at_once.postgres_swap(self.on_pg_writer)
            else:

                async def swap(trigger_id: str, last: at_once.Planned, count: int) -> int:
                    return await self.in_writer(
                        lambda _: at_once.swap_steps(trigger_id, last, count)
                    )

            self._list_writer = ListWriter(swap)
        return self._list_writer

    async def fetch(self, query: str, params: Any) -> list[dict[str, Any]]:
        """One read statement, outside any transaction, without a thread."""
        if self.postgres:
            return await self.on_pg_writer(lambda sql: sql.afetch(query, params))
        return self.fast_reader().rows(query, params)

    def bindings_replaced(self) -> None:
        """After each replacement of a list: PostgreSQL's table is vacuumed every so
        often (``db.housekeeping``)."""
        if not self.postgres:
            return
        if self._vacuum is None:
            self._vacuum = BindingsVacuum(self.engine.url.render_as_string(hide_password=False))
        self._vacuum.replaced()

    def _write_now(self, steps: Callable[[RawSql], Steps[T]]) -> T:
        """The write, in one transaction on the loop's own SQLite connection; the caller
        holds this process's writer lock. WriterBusy if another process has SQLite's."""
        if self._loop_writer is None:
            self._loop_writer = LoopWriter(self.engine)
        with self._loop_writer.transaction() as conn:
            sql = RawSql(conn)
            return sql.run(steps(sql))

    async def aclose(self) -> None:
        """Close the database connections this state opened itself (at shutdown)."""
        if self.reader is not None:
            await self.reader.aclose()
        if self._pg_writers is not None:
            await self._pg_writers.aclose()
        if self._vacuum is not None:
            await self._vacuum.aclose()
        if self._loop_writer is not None:
            self._loop_writer.close()

    def fast_reader(self) -> FastReader:
        if self.reader is None:
            self.reader = FastReader(self.engine.url.render_as_string(hide_password=False))
        return self.reader

    def require_runtime(self) -> Runtime:
        if self.runtime is None:
            raise errors.ServiceUnavailable("The action runtime is turned off on this server.")
        return self.runtime

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with transaction(self.engine, write=False) as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with transaction(self.engine, write=True) as conn:
            yield conn


async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.actionsd
    return state


State = Annotated[AppState, Depends(get_state)]


def authorize(state: AppState, authorization: str | None, scope: str) -> tokens.Claims:
    """The claims of a valid bearer token carrying ``scope``: 401 or 403 otherwise."""
    claims = tokens.verify(state.keys, authorization, state.settings.domains, state.verified)
    if scope not in claims.scopes:
        raise errors.Forbidden(f"Insufficient scope, expected any of: {scope}")
    return claims


def requires(scope: str) -> Any:
    """A route dependency: a valid bearer token carrying ``scope`` (403 otherwise)."""

    # async: a (usually cached) token check must not cost a threadpool hop per request.
    async def check(request: Request, state: State) -> tokens.Claims:
        return authorize(state, request.headers.get("authorization"), scope)

    check.required_scope = scope  # type: ignore[attr-defined]
    return Depends(check)


# Paging parameters shared by every list. Auth0 does not document a maximum for the
# Actions lists; 100 is what its own tools ask for and what we allow.
Page = Annotated[
    int,
    Query(ge=0, le=100_000, description="Page index of the results to return. First page is 0."),
]
PerPage = Annotated[
    int, Query(ge=1, le=100, description="Number of results per page. Defaults to 20.")
]

"""Hot-path reads on raw driver connections, outside SQLAlchemy.

SQLAlchemy's statement machinery costs a few hundred microseconds per query, which is
most of a flow's or a cached GET's budget (see docs/benchmarks.md); the one query those
need, a trigger's revision and the actions counter, goes straight to the driver. A small
bounded pool of autocommit connections serves every thread, so each read sees every
committed write of every process, and a busy server never opens more than ``size``.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
from collections.abc import AsyncIterator, Callable
from typing import Any

import sqlalchemy as sa


class FastReader:
    def __init__(self, url: str, size: int = 4) -> None:
        self._url = sa.make_url(url)
        self._sqlite = self._url.get_backend_name() == "sqlite"
        # A local file answers in microseconds and never waits on a network.
        self.local = self._sqlite
        self._idle: queue.LifoQueue[Any] = queue.LifoQueue()
        for _ in range(size):
            self._idle.put(None)  # a slot; connected on first use
        self._apg = AsyncPgPool(url, 4)
        mark = "?" if self._sqlite else "%s"
        self.revision_sql = (
            f"SELECT (SELECT revision FROM triggers WHERE id = {mark}), "
            "(SELECT value FROM counters WHERE name = 'actions')"
        )

    def _connect(self) -> Any:
        if self._sqlite:
            conn = sqlite3.connect(
                self._url.database or ":memory:", isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA busy_timeout=30000")
            return conn
        import psycopg

        return psycopg.connect(
            self._url.set(drivername="postgresql").render_as_string(hide_password=False),
            autocommit=True,
            connect_timeout=5,
        )

    async def arevision(self, trigger_id: str) -> tuple[int, int]:
        """``revision`` from the event loop: inline for SQLite, and for PostgreSQL on
        async connections, so neither a round trip nor a reconnect holds the loop.

        On PostgreSQL, concurrent callers share reads: a caller joins the read of its
        trigger that has not been sent yet (there is one while every connection is
        busy), or starts one. Every read is sent after each of its callers arrived, so
        it sees every write acknowledged before any of them asked."""
        if self.local:
            return self.revision(trigger_id)
        waiting = self._waiting()
        shared = waiting.get(trigger_id)
        if shared is None:
            shared = asyncio.get_running_loop().create_future()
            waiting[trigger_id] = shared
            task = asyncio.get_running_loop().create_task(self._read_for(trigger_id, shared))
            self._reads.add(task)  # the loop keeps only a weak reference to tasks
            task.add_done_callback(self._reads.discard)
        return await asyncio.shield(shared)

    async def _read_for(self, trigger_id: str, shared: asyncio.Future[tuple[int, int]]) -> None:
        def sent() -> None:
            # From here on the read is as good as sent: later callers start another.
            if self._waiting().get(trigger_id) is shared:
                del self._waiting()[trigger_id]

        try:
            async with self._apg.connection(on_ready=sent) as conn:
                cursor = await conn.execute(self.revision_sql, (trigger_id,))
                row = await cursor.fetchone()
        except Exception as exc:
            sent()
            shared.set_exception(exc)
            shared.exception()  # retrieved here: no "never retrieved" warning if unawaited
            return
        assert row is not None
        shared.set_result((int(row[0] or 0), int(row[1] or 0)))

    async def aactions_counter(self) -> int:
        """The actions counter alone (no trigger), as ``arevision`` reads it."""
        return (await self.arevision(""))[1]

    def _waiting(self) -> dict[str, asyncio.Future[tuple[int, int]]]:
        loop = asyncio.get_running_loop()
        if getattr(self, "_loop", None) is not loop:
            self._loop = loop
            self._unsent: dict[str, asyncio.Future[tuple[int, int]]] = {}
            self._reads: set[asyncio.Task[None]] = set()
        return self._unsent

    def revision(self, trigger_id: str) -> tuple[int, int]:
        """(the trigger's revision, the actions counter): anything derived from the
        trigger's bindings and their actions that was cached under both is current."""
        row = self._read(self.revision_sql, (trigger_id,))[1][0]
        return int(row[0] or 0), int(row[1] or 0)

    def rows(self, query: str, params: Any) -> list[dict[str, Any]]:
        """One statement's rows, keyed by column name (``?`` marks)."""
        if not self._sqlite:
            query = query.replace("?", "%s")
        names, rows = self._read(query, params)
        return [dict(zip(names, row, strict=True)) for row in rows]

    def _read(self, query: str, params: Any) -> tuple[list[str], list[Any]]:
        """A statement's column names and rows, on a connection of the pool."""
        conn = self._idle.get()
        try:
            if conn is None:
                conn = self._connect()
            cursor = conn.execute(query, params)
            names = [d[0] for d in cursor.description or ()]
            rows: list[Any] = cursor.fetchall()
        except Exception:
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
            self._idle.put(None)  # reconnect next time (database restarted, etc.)
            raise
        self._idle.put(conn)
        return names, rows

    async def aclose(self) -> None:
        """Close the idle connections (at shutdown)."""
        while True:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                break
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
        await self._apg.aclose()


class AsyncPgPool:
    """A few autocommit psycopg connections for the event loop (made on first use,
    replaced after a failure). Transactions are explicit: ``conn.transaction()``."""

    def __init__(self, url: str, size: int) -> None:
        self._dsn = sa.make_url(url).set(drivername="postgresql")
        self._size = size
        self._loop: asyncio.AbstractEventLoop | None = None

    def _idle(self) -> asyncio.Queue[Any]:
        """Async connections belong to one event loop (one per server process)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop = loop
            self._queue: asyncio.Queue[Any] = asyncio.Queue()
            for _ in range(self._size):
                self._queue.put_nowait(None)  # a slot; connected on first use
        return self._queue

    async def aclose(self) -> None:
        """Close the idle connections (at shutdown, on the loop that made them)."""
        if self._loop is not asyncio.get_running_loop():
            return
        while not self._queue.empty():
            conn = self._queue.get_nowait()
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()

    @contextlib.asynccontextmanager
    async def connection(self, on_ready: Callable[[], object] | None = None) -> AsyncIterator[Any]:
        """A connection of the pool; ``on_ready`` runs once one is ours, before use."""
        import psycopg

        idle = self._idle()
        conn = await idle.get()
        if on_ready is not None:
            on_ready()
        try:
            if conn is None or conn.closed:
                conn = await psycopg.AsyncConnection.connect(
                    self._dsn.render_as_string(hide_password=False),
                    autocommit=True,
                    connect_timeout=5,
                )
            yield conn
        except BaseException:
            # A domain error raised after the transaction rolled back leaves a good
            # connection behind; anything else (a lost connection, a cancelled query)
            # costs a new one.
            idle_now = psycopg.pq.TransactionStatus.IDLE
            if conn is not None and (conn.broken or conn.info.transaction_status != idle_now):
                with contextlib.suppress(Exception):
                    await conn.close()
                conn = None
            idle.put_nowait(conn)
            raise
        idle.put_nowait(conn)

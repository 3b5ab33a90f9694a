"""Engine construction and the one-transaction-per-request helper."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

try:
    import fcntl
except ImportError:  # Windows: threads of one process queue, processes in SQLite
    fcntl = None  # type: ignore[assignment]

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from actionsd import jsontext

if TYPE_CHECKING:
    import psycopg

WRITE = "actionsd_write"
# JSON columns in and out through the same encoder as the rest of the hot paths.
_JSON: dict[str, Any] = {
    "json_serializer": jsontext.dumps_text,
    "json_deserializer": jsontext.loads,
}
BUSY_TIMEOUT_MS = 30000


def create_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get WAL and write transactions that take the
    write lock up front (``BEGIN IMMEDIATE``), so two writers queue instead of failing
    with "database is locked" when one upgrades a read lock."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            pool_size=8,
            max_overflow=8,
            **_JSON,
        )
        _sqlite_events(engine)
        return engine
    return sa.create_engine(url, pool_size=10, max_overflow=10, **_JSON)


def writer_threads(engine: Engine) -> int:
    """How many write transactions a server process runs at once. SQLite admits one
    writer; PostgreSQL's PATCHes of distinct triggers overlap, and four threads kept
    that gain without the long tail of more (docs/benchmarks.md)."""
    return 1 if engine.dialect.name == "sqlite" else 4


def _sqlite_events(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event, not the driver, decide how transactions open.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # On the driver's connection: a statement through SQLAlchemy cost as much as the
        # read it opens. A lock not had in time is SQLAlchemy's error, as elsewhere.
        begin = "BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE) else "BEGIN"
        try:
            conn.connection.dbapi_connection.execute(begin)  # type: ignore[union-attr]
        except sqlite3.OperationalError as busy:
            raise sa.exc.OperationalError(begin, None, busy) from busy


class _SqliteWriter:
    """SQLite admits one writer at a time. Writers queue here instead of in SQLite's busy
    handler, which sleeps in growing steps (figures in docs/benchmarks.md): threads of
    this process on a lock, then processes on an exclusive ``flock`` of a file beside
    the database, which the kernel hands to the next waiter as soon as it is released."""

    def __init__(self, database: str | None) -> None:
        self._threads = threading.Lock()
        self._path = f"{database}-writer" if database and database != ":memory:" else None
        self._fd: int | None = None

    def __enter__(self) -> None:
        self._threads.acquire()
        try:
            if self._path is not None and fcntl is not None:
                if self._fd is None:
                    self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise

    def __exit__(self, *_: object) -> None:
        try:
            if self._fd is not None and fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()


_sqlite_writers: dict[str, _SqliteWriter] = {}
_registry_lock = threading.Lock()


def _writer_lock(engine: Engine) -> contextlib.AbstractContextManager[Any]:
    if engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    with _registry_lock:
        key = str(engine.url)
        if key not in _sqlite_writers:
            _sqlite_writers[key] = _SqliteWriter(engine.url.database)
        return _sqlite_writers[key]


@contextlib.contextmanager
def transaction(engine: Engine, *, write: bool) -> Iterator[Connection]:
    """One database transaction: committed when the block ends, rolled back on error.

    This is where SQLite and PostgreSQL differ for writers. On SQLite a write
    transaction holds the whole database from its first statement (``BEGIN
    IMMEDIATE``, after the writers' lock), so rows need no locks of their own
    and SQLAlchemy drops ``with_for_update()``; on PostgreSQL it begins plainly and
    ``with_for_update()`` locks the rows it reads."""
    if write:
        with _writer_lock(engine), _transaction(engine, write=True) as conn:
            yield conn
    else:
        with _transaction(engine, write=False) as conn:
            yield conn


def committed(
    engine: Engine, statement: sa.Executable, params: dict[str, Any] | None = None
) -> Any:
    """The one row ``statement`` reads from what is committed now, outside any caller's
    transaction: what a cache checks an entry against before serving it. A single
    statement needs no transaction: PostgreSQL runs it in autocommit, and SQLite on a
    connection of its own in autocommit (a pooled connection and a transaction cost a
    login dearly: docs/benchmarks.md)."""
    if engine.dialect.name == "sqlite":
        return _latest_reader(engine).one(statement, params or {})
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        return conn.execute(statement, params or {}).one()


async def committed_now(
    engine: Engine, statement: sa.Executable, params: dict[str, Any] | None = None
) -> Any:
    """``committed`` from the event loop, without leaving it. SQLite answers a small
    read from a local file in microseconds, so it runs inline; PostgreSQL's is awaited
    on a connection of the loop's own (a threadpool hop per check cost more CPU than the
    query: docs/benchmarks.md)."""
    if engine.dialect.name == "sqlite":
        return committed(engine, statement, params)
    return await _async_reader(engine).one(statement, params or {})


class _Statements:
    """Module-level statements compiled once for one dialect, as the driver takes them."""

    def __init__(self, dialect: sa.Dialect) -> None:
        self._dialect = dialect
        self._compiled: dict[int, tuple[sa.Executable, Any, str, tuple[str, ...]]] = {}

    def __call__(self, statement: sa.Executable, params: dict[str, Any]) -> tuple[str, Any]:
        entry = self._compiled.get(id(statement))
        if entry is None or entry[0] is not statement:
            compiled = statement.compile(dialect=self._dialect)  # type: ignore[attr-defined]
            entry = (statement, compiled, str(compiled), tuple(compiled.positiontup or ()))
            self._compiled[id(statement)] = entry
        _, compiled, sql, order = entry
        values = compiled.construct_params(params)
        return sql, ([values[name] for name in order] if order else values)


class _LatestReader:
    """One SQLite connection, in autocommit, that only ever runs single-row reads."""

    def __init__(self, engine: Engine) -> None:
        self._statements = _Statements(engine.dialect)
        self._connection = engine.raw_connection()  # configured as every pooled one
        self._lock = threading.Lock()

    def one(self, statement: sa.Executable, params: dict[str, Any]) -> tuple[Any, ...]:
        sql, values = self._statements(statement, params)
        with self._lock:
            row = self._connection.driver_connection.execute(sql, values).fetchone()  # type: ignore[union-attr]
        if row is None:
            raise sa.exc.NoResultFound("No row was found when one was required")
        return tuple(row)

    def close(self) -> None:
        self._connection.close()


class _AsyncLatestReader:
    """PostgreSQL: one psycopg connection of an event loop's own, in autocommit, for
    single-row reads; opened on first use and again after it failed.

    Reads of the same row that arrive while an earlier one holds the connection share
    the next query: it is sent after each of them arrived, so it reads what was
    committed by then, and a burst of requests pays for one query instead of one each
    (docs/benchmarks.md)."""

    def __init__(self, engine: Engine) -> None:
        self._statements = _Statements(engine.dialect)
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()
        # Queries waiting for the connection, not yet sent, by (statement, values).
        self._waiting: dict[tuple[str, str], asyncio.Task[tuple[Any, ...]]] = {}

    async def one(self, statement: sa.Executable, params: dict[str, Any]) -> tuple[Any, ...]:
        sql, values = self._statements(statement, params)
        key = (sql, repr(values))
        query = self._waiting.get(key)
        if query is None or query.done():  # done while waiting: cancelled with the loop
            query = asyncio.ensure_future(self._query(key, sql, values))
            # Retrieved even if every reader that waited for it went away meanwhile.
            query.add_done_callback(lambda q: q.cancelled() or q.exception())
            self._waiting[key] = query
        # A reader that goes away does not cancel the query the others wait for.
        return await asyncio.shield(query)

    async def _query(self, key: tuple[str, str], sql: str, values: Any) -> tuple[Any, ...]:
        import psycopg  # only PostgreSQL deployments pay for loading it

        async with self._lock:
            # Sent from here on: a reader arriving now needs a query of its own.
            if self._waiting.get(key) is asyncio.current_task():
                del self._waiting[key]
            try:
                if self._connection is None or self._connection.closed:
                    self._connection = await psycopg.AsyncConnection.connect(
                        self._conninfo, autocommit=True
                    )
                row = await (await self._connection.execute(sql, values)).fetchone()
            except psycopg.Error as failure:
                self.close()
                # The same error as every other database failure, mapped in one place.
                raise sa.exc.OperationalError(sql, values, failure) from failure

        if row is None:
            raise sa.exc.NoResultFound("No row was found when one was required")
        return tuple(row)

    def close(self) -> None:
        # Synchronous, so that it can run when the engine is disposed.
        if self._connection is not None:
            self._connection.pgconn.finish()
            self._connection = None


_readers: weakref.WeakKeyDictionary[Engine, _LatestReader] = weakref.WeakKeyDictionary()


_async_readers: weakref.WeakKeyDictionary[
    Engine, weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _AsyncLatestReader]
] = weakref.WeakKeyDictionary()


def _async_reader(engine: Engine) -> _AsyncLatestReader:
    loop = asyncio.get_running_loop()
    with _registry_lock:
        per_loop = _async_readers.get(engine)
        if per_loop is None:
            per_loop = _async_readers[engine] = weakref.WeakKeyDictionary()
            if not event.contains(engine, "engine_disposed", _close_readers):
                event.listen(engine, "engine_disposed", _close_readers)
        reader = per_loop.get(loop)
        if reader is None:
            reader = per_loop[loop] = _AsyncLatestReader(engine)
    return reader


def _latest_reader(engine: Engine) -> _LatestReader:
    reader = _readers.get(engine)
    if reader is None:
        with _registry_lock:
            reader = _readers.get(engine)
            if reader is None:
                reader = _readers[engine] = _LatestReader(engine)
                if not event.contains(engine, "engine_disposed", _close_readers):
                    event.listen(engine, "engine_disposed", _close_readers)
    return reader


def _close_readers(engine: Engine) -> None:
    """A disposed engine may be used again: its readers are opened afresh then."""
    with _registry_lock:
        readers = [_readers.pop(engine, None), *_async_readers.pop(engine, {}).values()]
    for reader in readers:
        if reader is not None:
            reader.close()


@contextlib.contextmanager
def _transaction(engine: Engine, *, write: bool) -> Iterator[Connection]:
    with engine.connect() as conn:
        if write:
            conn = conn.execution_options(**{WRITE: True})
        elif conn.dialect.name == "postgresql":
            # A read sees one snapshot across its statements (a list and its total, the
            # bindings and their actions), never half of a concurrent write.
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn

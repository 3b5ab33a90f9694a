"""Engine construction and the one-transaction-per-request helper."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

WRITE = "actionsd_write"
BUSY_TIMEOUT_MS = 30000


class WriterBusy(Exception):
    """SQLite's write lock is taken (by another process) and the caller would not wait."""


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
        )
        _sqlite_events(engine)
        return engine
    return sa.create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


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
        if conn.get_execution_options().get(WRITE):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


_sqlite_writers: dict[str, threading.Lock] = {}
_registry_lock = threading.Lock()


def _writer_lock(engine: Engine) -> contextlib.AbstractContextManager[Any]:
    """SQLite admits one writer at a time. Threads of one process queue on a lock here,
    in order, instead of in SQLite's busy handler, which sleeps in growing steps (that
    took concurrent PATCHes from ~2 ms each to over a second at p99)."""
    if engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    return sqlite_lock(engine)


def sqlite_lock(engine: Engine) -> threading.Lock:
    """This process's SQLite writer lock (one per database file)."""
    with _registry_lock:
        return _sqlite_writers.setdefault(str(engine.url), threading.Lock())


@contextlib.contextmanager
def transaction(engine: Engine, *, write: bool) -> Iterator[Connection]:
    """One database transaction: committed when the block ends, rolled back on error."""
    if write:
        with _writer_lock(engine), _transaction(engine, write=True) as conn:
            yield conn
    else:
        with _transaction(engine, write=False) as conn:
            yield conn


class LoopWriter:
    """One plain ``sqlite3`` connection for the writes the event loop runs itself.

    Its busy timeout is 0: ``BEGIN IMMEDIATE`` either takes SQLite's write lock at once
    or fails with ``WriterBusy`` before anything ran (another process has it). The
    caller holds this process's writer lock (``sqlite_lock``). Without SQLAlchemy's
    pool, events and transaction objects, a short write costs a fraction less."""

    def __init__(self, engine: Engine) -> None:
        database = engine.url.database or ""
        self._conn = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            self._conn.execute(f"PRAGMA {pragma}")
        self._conn.execute("PRAGMA busy_timeout=0")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as busy:
            raise WriterBusy() from busy
        try:
            yield self._conn
        except BaseException:
            self._conn.rollback()
            raise
        self._conn.commit()

    def close(self) -> None:
        self._conn.close()


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

"""Driver-level SQL for the hottest write path, in any transaction: SQLAlchemy's, a
plain ``sqlite3`` one, or an async psycopg one.

Statements go straight to the driver's cursor, skipping SQLAlchemy's compilation and
execution context (measured: most of the time of this route's locked section); the
price is writing the placeholders and JSON handling per dialect, which this module does
in one place."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Generator
from types import SimpleNamespace
from typing import Any, TypeVar

import orjson
from psycopg.pq import TransactionStatus
from sqlalchemy.engine import Connection

T = TypeVar("T")
IDLE = TransactionStatus.IDLE
Batch = list[tuple[str, Any]]
# A write written once for every driver: a generator that yields the batches of
# statements it needs run and receives each batch's rows; ``run`` drives it on a sync
# connection, ``arun`` on an async one.
Steps = Generator[Batch, list[list[dict[str, Any]]], T]


class LastBatch(list[tuple[str, Any]]):
    """A write's last batch, so marked by its steps: on PostgreSQL the COMMIT travels
    with it (no round trip of its own with the trigger's lock held)."""


class RawSql:
    def __init__(self, conn: Connection | sqlite3.Connection | Any) -> None:
        """Over a SQLAlchemy transaction (its driver connection: statements join it, and
        SQLAlchemy still commits), a plain ``sqlite3`` one (``LoopWriter``), or an async
        psycopg connection (``abatch``/``arun``)."""
        if isinstance(conn, sqlite3.Connection):
            self.postgres = False
            self._driver: Any = conn
        elif not isinstance(conn, Connection):
            self.postgres = True
            self._driver = conn
        else:
            self.postgres = conn.dialect.name == "postgresql"
            self._driver = conn.connection.dbapi_connection

    def _q(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.postgres else sql

    @staticmethod
    def marks(n: int) -> str:
        return ",".join("?" * n)

    def batch(self, statements: list[tuple[str, Any]]) -> list[list[dict[str, Any]]]:
        """Run the statements in order and answer each one's rows (empty for writes; a
        list of parameter tuples means executemany). On PostgreSQL they travel as one
        pipeline: one round trip instead of one each."""
        cursors = []
        pipeline = self._pipeline()
        with pipeline:
            for sql, params in statements:
                cur = self._driver.cursor()
                if isinstance(params, list):
                    cur.executemany(self._q(sql), params)
                else:
                    cur.execute(self._q(sql), params)
                cursors.append(cur)
        return [_rows(cur, cur.fetchall() if cur.description else []) for cur in cursors]

    async def abatch(
        self, statements: list[tuple[str, Any]], *, before: str = "", after: str = ""
    ) -> list[list[dict[str, Any]]]:
        """``batch`` on an async psycopg connection (one pipeline, one round trip), with
        a statement of no rows ``before`` and ``after`` them (BEGIN, COMMIT) if given."""
        cursors = []
        async with self._driver.pipeline():
            if before:
                await self._driver.execute(before)
            for sql, params in statements:
                cur = self._driver.cursor()
                if isinstance(params, list):
                    await cur.executemany(self._q(sql), params)
                else:
                    await cur.execute(self._q(sql), params)
                cursors.append(cur)
            if after:
                await self._driver.execute(after)
        return [_rows(cur, await cur.fetchall() if cur.description else []) for cur in cursors]

    async def afetch(self, sql: str, params: Any) -> list[dict[str, Any]]:
        """One statement on an async psycopg connection, on its own (no pipeline, no
        transaction around it beyond the statement's own): its rows."""
        cur = await self._driver.execute(self._q(sql), params)
        return _rows(cur, await cur.fetchall() if cur.description else [])

    def run(self, steps: Steps[T]) -> T:
        """Drive ``steps`` (see ``Steps``), each batch with ``batch``."""
        try:
            statements = next(steps)
            while True:
                statements = steps.send(self.batch(statements))
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    async def arun(self, steps: Steps[T]) -> T:
        """Drive ``steps`` as one transaction on an autocommit async connection: BEGIN
        goes with the first batch, COMMIT with the ``LastBatch`` (or after the last
        one), ROLLBACK on any failure. A read-then-write is two round trips."""
        conn = self._driver
        before, committed = "BEGIN", False
        try:
            statements = next(steps)
            while True:
                committed = isinstance(statements, LastBatch)
                rows = await self.abatch(
                    statements, before=before, after="COMMIT" if committed else ""
                )
                before = ""
                statements = steps.send(rows)
        except StopIteration as done:
            if not committed and not before:  # a transaction was begun, and is still open
                await conn.execute("COMMIT")
            return done.value  # type: ignore[no-any-return]
        except BaseException:
            if not conn.broken and conn.info.transaction_status != IDLE:
                with contextlib.suppress(Exception):
                    await conn.execute("ROLLBACK")
            raise

    def _pipeline(self) -> contextlib.AbstractContextManager[Any]:
        if self.postgres:
            return self._driver.pipeline()  # type: ignore[no-any-return]
        return contextlib.nullcontext()

    def for_update(self, share: bool = False) -> str:
        """The row-lock clause (SQLite's write lock already covers the transaction)."""
        if not self.postgres:
            return ""
        return " FOR SHARE" if share else " FOR UPDATE"


def _rows(cursor: Any, rows: list[Any]) -> list[dict[str, Any]]:
    """A statement's rows as dicts keyed by column name (none for a write)."""
    if cursor.description is None:
        return []
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in rows]


def decode(value: Any) -> Any:
    """A JSON column as read by the driver: text on SQLite, decoded on PostgreSQL."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def encode(value: Any) -> str:
    return orjson.dumps(value).decode()


def record(row: dict[str, Any], json_columns: tuple[str, ...] = ()) -> SimpleNamespace:
    """A row as an attribute object, JSON columns decoded, booleans as booleans."""
    values = dict(row)
    for column in json_columns:
        if column in values:
            values[column] = decode(values[column])
    if "all_changes_deployed" in values:
        values["all_changes_deployed"] = bool(values["all_changes_deployed"])
    return SimpleNamespace(**values)

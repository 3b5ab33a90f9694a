"""Driver-level SQL inside a SQLAlchemy transaction, for the hottest write path.

Statements go straight to the driver's cursor, skipping SQLAlchemy's compilation and
execution context (measured: most of the time of this route's locked section); the
price is writing the placeholders and JSON handling per dialect, which this module does
in one place."""

from __future__ import annotations

import json
import sqlite3
from types import SimpleNamespace
from typing import Any

from sqlalchemy.engine import Connection


class RawSql:
    def __init__(self, conn: Connection | sqlite3.Connection) -> None:
        """Over a SQLAlchemy transaction (its driver connection: statements join it, and
        SQLAlchemy still commits) or a plain ``sqlite3`` one (``LoopWriter``)."""
        if isinstance(conn, sqlite3.Connection):
            self.postgres = False
            self._cursor: Any = conn.cursor()
        else:
            self.postgres = conn.dialect.name == "postgresql"
            self._cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]

    def _q(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.postgres else sql

    @staticmethod
    def marks(n: int) -> str:
        return ",".join("?" * n)

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """The rows as dicts keyed by column name."""
        cur = self._cursor
        cur.execute(self._q(sql), params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def run(self, sql: str, params: tuple[Any, ...] | list[tuple[Any, ...]] = ()) -> None:
        if isinstance(params, list):
            self._cursor.executemany(self._q(sql), params)
        else:
            self._cursor.execute(self._q(sql), params)

    def for_update(self, share: bool = False) -> str:
        """The row-lock clause (SQLite's write lock already covers the transaction)."""
        if not self.postgres:
            return ""
        return " FOR SHARE" if share else " FOR UPDATE"


def decode(value: Any) -> Any:
    """A JSON column as read by the driver: text on SQLite, decoded on PostgreSQL."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def encode(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def record(row: dict[str, Any], json_columns: tuple[str, ...] = ()) -> SimpleNamespace:
    """A row as an attribute object, JSON columns decoded, booleans as booleans."""
    values = dict(row)
    for column in json_columns:
        if column in values:
            values[column] = decode(values[column])
    if "all_changes_deployed" in values:
        values["all_changes_deployed"] = bool(values["all_changes_deployed"])
    return SimpleNamespace(**values)

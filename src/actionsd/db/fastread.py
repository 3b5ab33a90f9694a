"""Hot-path reads on raw driver connections, one per thread, outside SQLAlchemy.

SQLAlchemy's statement machinery costs a few hundred microseconds per query, which is
most of a flow's budget (see docs/benchmarks.md); the one query every flow needs, a
trigger's revision, goes straight to the driver. Connections are the thread's own, in
autocommit mode, so each read sees every committed write of every process.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

import sqlalchemy as sa


class FastReader:
    def __init__(self, url: str) -> None:
        self._url = sa.make_url(url)
        self._local = threading.local()
        self._sqlite = self._url.get_backend_name() == "sqlite"
        mark = "?" if self._sqlite else "%s"
        self.revision_sql = (
            f"SELECT (SELECT revision FROM triggers WHERE id = {mark}), "
            "(SELECT value FROM counters WHERE name = 'deploys')"
        )

    def _connection(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._sqlite:
                conn = sqlite3.connect(
                    self._url.database or ":memory:", isolation_level=None, check_same_thread=False
                )
                conn.execute("PRAGMA busy_timeout=30000")
            else:
                import psycopg

                conn = psycopg.connect(
                    self._url.set(drivername="postgresql").render_as_string(hide_password=False),
                    autocommit=True,
                )
            self._local.conn = conn
        return conn

    def revision(self, trigger_id: str) -> tuple[int, int]:
        """(the trigger's revision, the deploy counter): a flow cached under both is
        current."""
        try:
            row = self._connection().execute(self.revision_sql, (trigger_id,)).fetchone()
        except Exception:
            self._local.conn = None  # reconnect on the next call (server restart, etc.)
            raise
        return int(row[0] or 0), int(row[1] or 0)

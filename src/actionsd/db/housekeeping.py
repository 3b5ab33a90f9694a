"""PostgreSQL upkeep the server does itself: VACUUM of the bindings table.

Every PATCH of a trigger's bindings deletes its rows and inserts new ones, so a steady
stream of PATCHes leaves thousands of dead rows a second. Autovacuum visits a database
about once a minute; by then the table is megabytes of dead rows for a handful of live
ones, and once the planner's statistics say "a few rows" it scans all of them on every
PATCH and GET (measured: PATCH fell from 2,020 to 300 req/s within a minute, and came
back after each autovacuum). Each server process vacuums the table after every so many
of its own replacements, on a connection of its own, without waiting for a lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import sqlalchemy as sa

log = logging.getLogger("actionsd.db")

VACUUM = "VACUUM (SKIP_LOCKED) bindings, triggers"


class BindingsVacuum:
    def __init__(self, url: str, *, every: int = 1000, interval: float = 1.0) -> None:
        """VACUUM after ``every`` replacements by this process, at most once per
        ``interval`` seconds."""
        self._dsn = sa.make_url(url).set(drivername="postgresql")
        self._every = every
        self._interval = interval
        self._count = 0
        self._last = 0.0
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None
        self.runs = 0  # completed VACUUMs (for tests and the curious)

    def replaced(self) -> None:
        """Count one replacement of a list; start a VACUUM when one is due."""
        self._count += 1
        if self._count < self._every or self._task is not None:
            return
        loop = asyncio.get_running_loop()
        if loop.time() - self._last < self._interval:
            return
        self._count = 0
        self._task = loop.create_task(self._vacuum())

    async def _vacuum(self) -> None:
        import psycopg

        try:
            if self._conn is None or self._conn.closed:
                self._conn = await psycopg.AsyncConnection.connect(
                    self._dsn.render_as_string(hide_password=False),
                    autocommit=True,
                    connect_timeout=5,
                )
            await self._conn.execute(VACUUM)
            self.runs += 1
        except Exception as exc:  # the database is away: the next one tries again
            log.warning("VACUUM of bindings failed: %s", exc)
            await self._close()
        finally:
            self._last = asyncio.get_running_loop().time()
            self._task = None

    async def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None

    async def aclose(self) -> None:
        """Finish a running VACUUM and close the connection (at shutdown)."""
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
        await self._close()

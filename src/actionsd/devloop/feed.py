"""Follow the executions table as rows arrive, for the live stream.

The stream reads the database, not the memory of the process that serves it: every
server process (``--workers N``, several hosts) writes its executions there, so each
stream carries them all, and no execution ever waits for a stream's reader.

Rows are followed by ``seq`` (migration 0010). On PostgreSQL numbers are taken when a
row is inserted but become visible at commit, so a smaller number can appear after a
larger one, and a rolled-back or deleted row leaves a hole for good. A feed hands each
row on as soon as it sees it, remembers what it handed on above its cursor, and moves
the cursor over a hole only once the hole is ``GAP_SECONDS`` old."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from actionsd.db.engine import transaction
from actionsd.db.schema import executions

GAP_SECONDS = 10.0
BATCH = 200
COLUMNS = (
    executions.c.seq,
    executions.c.id,
    executions.c.trigger_id,
    executions.c.status,
    executions.c.results,
    executions.c.outcome,
    executions.c.created_at,
    executions.c.updated_at,
)


def latest_seq(engine: Engine) -> int:
    with transaction(engine, write=False) as conn:
        return int(conn.execute(sa.select(sa.func.max(executions.c.seq))).scalar() or 0)


class ExecutionFeed:
    """New execution rows, oldest first, each once. ``after``: start behind this
    sequence number (the newest one, to get only what follows)."""

    def __init__(self, engine: Engine, after: int, trigger_id: str | None = None) -> None:
        self._engine = engine
        self._trigger_id = trigger_id
        self.cursor = after  # every number up to here is handed on or given up
        self._seen: set[int] = set()  # handed on, above the cursor
        self._holes: dict[int, float] = {}  # missing above the cursor: since when

    def history(self, count: int) -> list[dict[str, Any]]:
        """The last ``count`` rows up to the cursor (of the trigger, if one is set)."""
        if count <= 0:
            return []
        stmt = sa.select(*COLUMNS).where(executions.c.seq <= self.cursor)
        if self._trigger_id is not None:
            stmt = stmt.where(executions.c.trigger_id == self._trigger_id)
        stmt = stmt.order_by(executions.c.seq.desc()).limit(count)
        with transaction(self._engine, write=False) as conn:
            rows = [dict(r._mapping) for r in conn.execute(stmt)]
        return rows[::-1]

    def poll(self) -> tuple[list[dict[str, Any]], bool]:
        """The rows not handed on yet, and whether more are waiting (a full batch)."""
        stmt = (
            sa.select(*COLUMNS)
            .where(executions.c.seq > self.cursor)
            .order_by(executions.c.seq)
            .limit(BATCH)
        )
        with transaction(self._engine, write=False) as conn:
            rows = [dict(r._mapping) for r in conn.execute(stmt)]
        fresh = [r for r in rows if r["seq"] not in self._seen]
        self._seen.update(r["seq"] for r in fresh)
        self._advance(time.monotonic())
        if self._trigger_id is not None:
            fresh = [r for r in fresh if r["trigger_id"] == self._trigger_id]
        return fresh, len(rows) == BATCH

    def _advance(self, now: float) -> None:
        top = max(self._seen, default=self.cursor)
        for seq in range(self.cursor + 1, top):
            if seq not in self._seen:
                self._holes.setdefault(seq, now)
        while self._seen or self._holes:
            nxt = self.cursor + 1
            if nxt in self._seen:
                self._seen.discard(nxt)
                self._holes.pop(nxt, None)  # filled late
            elif nxt in self._holes and now - self._holes[nxt] >= GAP_SECONDS:
                del self._holes[nxt]
            else:
                break
            self.cursor = nxt

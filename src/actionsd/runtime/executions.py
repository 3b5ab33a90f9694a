"""Execution records: written behind the flow (a flow's answer never waits for the
disk), read back by ``GET /actions/executions/{id}``, kept ten days.

Suspended flows are written at once instead: their state is what a later continue call
resumes from, possibly in another server process."""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from actionsd.db.engine import transaction
from actionsd.db.schema import executions
from actionsd.util import fmt_ts, now_ns

log = logging.getLogger("actionsd.runtime")
# Records are written at most this late (read back from memory meanwhile): each batch
# costs a transaction, so larger ones cost the login path less (docs/benchmarks.md).
FLUSH_SECONDS = 0.1
BATCH = 256


class ExecutionStore:
    def __init__(self, engine: Engine, retention_days: int) -> None:
        self._engine = engine
        self._retention_ns = retention_days * 86400 * 1_000_000_000
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._pending: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="actionsd-executions", daemon=True)
        self._thread.start()
        self._writes = 0
        self._replace: set[str] = set()

    def record(self, row: dict[str, Any], *, now: bool = False, replace: bool = False) -> None:
        """Store an execution row; ``replace`` for one stored before (a resumed flow),
        ``now`` to write synchronously."""
        if replace:
            self._replace.add(row["id"])
        if now:
            self._write([row])
            return
        with self._lock:
            self._pending[row["id"]] = row
        self._queue.put(row)

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            # Sleep, then take what came meanwhile: waiting on the queue instead would
            # wake this thread (and take the GIL) once per execution.
            time.sleep(FLUSH_SECONDS)
            batch = [first]
            stop = False
            while len(batch) < BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._flush(batch)
            if stop:
                return

    def _flush(self, batch: list[dict[str, Any]]) -> None:
        try:
            self._write(batch)
        except Exception:
            log.exception("could not store %d execution records", len(batch))
        with self._lock:
            for row in batch:
                if self._pending.get(row["id"]) is row:
                    del self._pending[row["id"]]

    def _write(self, rows: list[dict[str, Any]]) -> None:
        # A batch may hold a resumed execution twice (suspended, then final): keep the last.
        latest = list({r["id"]: r for r in rows}.values())
        with self._lock:
            replaced = [r["id"] for r in latest if r["id"] in self._replace]
            self._replace.difference_update(replaced)
        with transaction(self._engine, write=True) as conn:
            if replaced:
                conn.execute(executions.delete().where(executions.c.id.in_(replaced)))
            conn.execute(executions.insert(), latest)
            self._writes += 1
            if self._writes % 1000 == 1:  # now and then, forget what is past retention
                conn.execute(
                    executions.delete().where(
                        executions.c.created_at < now_ns() - self._retention_ns
                    )
                )

    def load(self, execution_id: str) -> dict[str, Any] | None:
        with self._lock:
            pending = self._pending.get(execution_id)
        if pending is not None:
            return pending
        with transaction(self._engine, write=False) as conn:
            row = conn.execute(sa.select(executions).where(executions.c.id == execution_id)).first()
        if row is None or row.created_at < now_ns() - self._retention_ns:
            return None
        return dict(row._mapping)

    def recent(self, trigger_id: str, limit: int) -> list[dict[str, Any]]:
        """The trigger's latest executions, newest first, including any not yet flushed."""
        cutoff = now_ns() - self._retention_ns
        with self._lock:
            pending = [r for r in self._pending.values() if r["trigger_id"] == trigger_id]
        stmt = (
            sa.select(executions)
            .where(executions.c.trigger_id == trigger_id, executions.c.created_at >= cutoff)
            .order_by(executions.c.created_at.desc(), executions.c.id.desc())
            .limit(limit)
        )
        with transaction(self._engine, write=False) as conn:
            stored = [dict(row._mapping) for row in conn.execute(stmt)]
        merged = {r["id"]: r for r in stored} | {r["id"]: r for r in pending}
        ordered = sorted(merged.values(), key=lambda r: (r["created_at"], r["id"]), reverse=True)
        return ordered[:limit]

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)


def render(row: dict[str, Any]) -> dict[str, Any]:
    """Auth0's execution shape, with our per-action extras (binding, version, logs)."""
    return {
        "id": row["id"],
        "trigger_id": row["trigger_id"],
        "status": row["status"],
        "results": row["results"],
        "created_at": fmt_ts(row["created_at"]),
        "updated_at": fmt_ts(row["updated_at"]),
    }

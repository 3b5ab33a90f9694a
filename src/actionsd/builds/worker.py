"""The build worker: claims drafts and versions whose status is ``pending``, builds them
with a :class:`~actionsd.builds.builder.Builder` and records ``built`` or ``failed``.

Claims are compare-and-set updates in the database, so any number of server processes
can run a worker without building one thing twice; a claim older than ``STALE_CLAIM_NS``
(its process died mid-build) is taken over. A result is only written if the claim still
holds, so an edit made during a build is never overwritten by that build's outcome.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from actionsd.builds.builder import Builder, BuildInput
from actionsd.db.engine import transaction
from actionsd.db.schema import (
    action_module_versions,
    action_versions,
    actions,
    bump_actions_counter,
)
from actionsd.util import now_ns

log = logging.getLogger("actionsd.builds")

STALE_CLAIM_NS = 60 * 1_000_000_000
TABLES = (actions, action_versions)


class BuildWorker:
    def __init__(self, engine: Engine, builder: Builder, poll_seconds: float = 0.5) -> None:
        self._engine = engine
        self._builder = builder
        self._poll = poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="actionsd-builds", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._builder.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self.run_once()
            except Exception:  # keep the worker alive; the claim goes stale and is retried
                log.exception("build step failed")
                worked = False
            if not worked:
                self._wake.wait(self._poll)
                self._wake.clear()

    def run_pending(self) -> int:
        """Build everything that is waiting; returns how many builds ran."""
        count = 0
        while self.run_once():
            count += 1
        return count

    def run_once(self) -> bool:
        for table in TABLES:
            claim = self._claim(table)
            if claim is not None:
                row_id, token, item = claim
                errors = self._builder.build(item)
                self._finish(table, row_id, token, [e.as_json() for e in errors])
                return True
        return False

    def _claim(self, table: sa.Table) -> tuple[str, int, BuildInput] | None:
        now = now_ns()
        waiting = sa.or_(
            table.c.status == "pending",
            sa.and_(table.c.status == "building", table.c.build_claimed_at < now - STALE_CLAIM_NS),
        )
        # Look before taking the write lock: an idle poll must not take it (on SQLite this
        # thread held it for tens of milliseconds while waiting for the GIL, and every
        # request's write waited meanwhile).
        with transaction(self._engine, write=False) as conn:
            if conn.execute(sa.select(table.c.id).where(waiting).limit(1)).first() is None:
                return None
        with transaction(self._engine, write=True) as conn:
            row: Any = conn.execute(
                sa.select(
                    table.c.id, table.c.code, table.c.runtime, table.c.dependencies, table.c.modules
                )
                .where(waiting)
                .order_by(table.c.updated_at)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if row is None:
                return None
            conn.execute(
                table.update()
                .where(table.c.id == row.id)
                .values(status="building", build_claimed_at=now)
            )
            conn.execute(bump_actions_counter())  # "building" shows in cached lists
            module_deps: tuple[list[dict[str, Any]], ...] = ()
            if row.modules:
                versions = [m["module_version_id"] for m in row.modules]
                module_deps = tuple(
                    list(r.dependencies)
                    for r in conn.execute(
                        sa.select(action_module_versions.c.dependencies).where(
                            action_module_versions.c.id.in_(versions)
                        )
                    )
                )
        return row.id, now, BuildInput(row.code, row.runtime, list(row.dependencies), module_deps)

    def _finish(self, table: sa.Table, row_id: str, token: int, errors: list[Any]) -> None:
        now = now_ns()
        values: dict[str, Any] = {
            "status": "failed" if errors else "built",
            "build_errors": errors,
            "built_at": None if errors else now,
            "build_claimed_at": None,
        }
        if table is action_versions:  # a version's updated_at moves when its build ends
            values["updated_at"] = now
        with transaction(self._engine, write=True) as conn:
            conn.execute(
                table.update()
                .where(
                    table.c.id == row_id,
                    table.c.status == "building",
                    table.c.build_claimed_at == token,
                )
                .values(**values)
            )
            conn.execute(bump_actions_counter())

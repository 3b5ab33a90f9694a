"""The build worker: claims drafts and versions that wait for a build, builds them with a
:class:`~actionsd.builds.builder.Builder` and records the outcome.

Status, as on Auth0: ``pending`` → ``building`` → ``built``; an install that fails goes
``retrying`` → ``building`` again, up to ``retries`` more times, then ``failed`` with
its ``errors``. A dependency the builder refuses fails at once: trying again cannot help.

Up to ``concurrency`` builds run at once, so a dependency that hangs holds one slot until
its timeout, not every build. A retrying row gives its slot back while it waits.

Claims are compare-and-set updates in the database, so any number of server processes
can run a worker without building one thing twice; a claim older than ``stale_after_s``
(its process died mid-build) is taken over. A result is only written if the claim still
holds, so an edit made during a build is never overwritten by that build's outcome.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from actionsd.builds.builder import Builder, BuildError, BuildInput
from actionsd.config import Settings
from actionsd.db.engine import transaction
from actionsd.db.schema import (
    action_module_versions,
    action_versions,
    actions,
    bump_actions_counter,
)
from actionsd.util import now_ns

log = logging.getLogger("actionsd.builds")

NS = 1_000_000_000
STALE_CLAIM_NS = 60 * NS
TABLES = (actions, action_versions)


@dataclass(frozen=True)
class Claim:
    table: sa.Table
    row_id: str
    token: int  # the claim's build_claimed_at: the result is written only while it holds
    attempt: int
    item: BuildInput


class BuildWorker:
    def __init__(
        self,
        engine: Engine,
        builder: Builder,
        poll_seconds: float = 0.5,
        *,
        concurrency: int = 1,
        retries: int = 0,
        retry_backoff_s: float = 0.0,
        stale_after_s: float = STALE_CLAIM_NS / NS,
    ) -> None:
        self._engine = engine
        self._builder = builder
        self._poll = poll_seconds
        self._concurrency = max(1, concurrency)
        self._retries = max(0, retries)
        self._backoff = retry_backoff_s
        self._stale_ns = int(stale_after_s * NS)
        self._slots = threading.Semaphore(self._concurrency)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    @classmethod
    def from_settings(cls, engine: Engine, builder: Builder, settings: Settings) -> BuildWorker:
        return cls(
            engine,
            builder,
            settings.build_poll_seconds,
            concurrency=settings.build_concurrency,
            retries=settings.build_retries,
            retry_backoff_s=settings.build_retry_backoff_seconds,
            # A live build ends within its timeout: only an older claim is a dead one's.
            stale_after_s=settings.build_timeout_seconds + 60,
        )

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="actionsd-build")
        self._thread = threading.Thread(target=self._loop, name="actionsd-builds", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._builder.close()  # ends installs in progress, so the slots come back
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def _loop(self) -> None:
        assert self._pool is not None
        while not self._stop.is_set():
            if not self._slots.acquire(timeout=self._poll):
                continue
            try:
                claim = self._claim_any()
            except Exception:  # keep the worker alive; the claim goes stale and is retried
                log.exception("build claim failed")
                claim = None
            if claim is None:
                self._slots.release()
                self._wake.wait(self._poll)
                self._wake.clear()
                continue
            self._pool.submit(self._run_and_release, claim)

    def _run_and_release(self, claim: Claim) -> None:
        try:
            self._run(claim)
        except Exception:
            log.exception("build step failed")
        finally:
            self._slots.release()
            self._wake.set()  # the freed slot may take the next waiting build

    def run_pending(self) -> int:
        """Build everything that is waiting now, here; returns how many builds ran."""
        count = 0
        while self.run_once():
            count += 1
        return count

    def run_once(self) -> bool:
        claim = self._claim_any()
        if claim is None:
            return False
        self._run(claim)
        return True

    def _run(self, claim: Claim) -> None:
        errors = self._builder.build(claim.item)
        self._finish(claim, errors)

    def _claim_any(self) -> Claim | None:
        for table in TABLES:
            claim = self._claim(table)
            if claim is not None:
                return claim
        return None

    def _claim(self, table: sa.Table) -> Claim | None:
        now = now_ns()
        waiting = sa.or_(
            table.c.status == "pending",
            sa.and_(table.c.status == "retrying", table.c.build_claimed_at <= now),
            sa.and_(table.c.status == "building", table.c.build_claimed_at < now - self._stale_ns),
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
                    table.c.id,
                    table.c.status,
                    table.c.build_attempts,
                    table.c.code,
                    table.c.runtime,
                    table.c.dependencies,
                    table.c.modules,
                )
                .where(waiting)
                .order_by(table.c.updated_at)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if row is None:
                return None
            # An edit puts a row back to pending: its count starts again.
            attempt = 1 if row.status == "pending" else row.build_attempts + 1
            conn.execute(
                table.update()
                .where(table.c.id == row.id)
                .values(status="building", build_claimed_at=now, build_attempts=attempt)
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
        item = BuildInput(row.code, row.runtime, list(row.dependencies), module_deps)
        return Claim(table, row.id, now, attempt, item)

    def _finish(self, claim: Claim, errors: list[BuildError]) -> None:
        table, now = claim.table, now_ns()
        retry = bool(errors) and all(e.retryable for e in errors) and claim.attempt <= self._retries
        values: dict[str, Any]
        if errors and self._stop.is_set():  # cut short by a shutdown: the next start rebuilds
            values = {"status": "pending", "build_errors": [], "build_claimed_at": None}
            retry = True
        elif retry:
            wait_s = self._backoff * 2 ** (claim.attempt - 1)
            values = {
                "status": "retrying",
                "build_errors": [],
                "build_claimed_at": now + int(wait_s * NS),
            }
        else:
            values = {
                "status": "failed" if errors else "built",
                "build_errors": [e.as_json() for e in errors],
                "built_at": None if errors else now,
                "build_claimed_at": None,
            }
            if table is action_versions:  # a version's updated_at moves when its build ends
                values["updated_at"] = now
        with transaction(self._engine, write=True) as conn:
            written = conn.execute(
                table.update()
                .where(
                    table.c.id == claim.row_id,
                    table.c.status == "building",
                    table.c.build_claimed_at == claim.token,
                )
                .values(**values)
            ).rowcount
            conn.execute(bump_actions_counter())
        if errors and written:
            kind = "draft" if table is actions else "version"
            log.warning(
                "build of %s %s %s (attempt %d): %s",
                kind,
                claim.row_id,
                "will be retried" if retry else "failed",
                claim.attempt,
                "; ".join(e.msg for e in errors),
            )

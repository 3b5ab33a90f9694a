"""The worker pool's queue, driven from the event loop as the execute route drives it,
against real Deno workers: a worker freed on the loop goes to the longest waiting
execution, a wait has a bound, and a waiter that leaves never loses a worker."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actionsd.runtime.pool import PoolBusy, Sandbox, WorkerFailure, WorkerPool, worker_cores

SLOW = (
    "exports.onExecutePostLogin = async (event, api) => {"
    " await new Promise((resolve) => setTimeout(resolve, event.ms));"
    " api.idToken.setCustomClaim('https://x/n', event.n); };"
)


def run(pool: WorkerPool, ms: int, n: int) -> Any:
    """An execution of one action that waits ``ms`` and then sets claim ``n``."""
    message, code = flow(ms, n)
    return pool.arun(message, 10, code)


def flow(ms: int, n: int) -> tuple[dict[str, Any], dict[str, str]]:
    action: dict[str, Any] = {
        "binding_id": "b",
        "action_id": "a",
        "action_name": "slow",
        "version_id": "v",
        "deps_dir": None,
        "secrets": {},
    }
    message = {
        "type": "flow",
        "trigger": "post-login",
        "event": {"ms": ms, "n": n},
        "actions": [action],
        "start": 0,
        "outcome": {},
        "cache": {},
        "deadline_ms": 10_000,
    }
    return message, {"v": SLOW}


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[WorkerPool]:
    sandbox = Sandbox((), "off", 128, 1024, 4, tmp_path / "deno")
    workers = WorkerPool(sandbox, 1, queue_limit=4, wait_seconds=0.5)
    yield workers
    workers.close()


def claim(reply: dict[str, Any]) -> Any:
    assert reply["ok"], reply
    return reply["outcome"]["idToken"]["claims"]["https://x/n"]


def test_a_worker_freed_on_the_loop_goes_to_the_waiting_executions_in_order(
    pool: WorkerPool,
) -> None:
    async def main() -> list[Any]:
        runs = []
        for n in range(3):
            runs.append(asyncio.create_task(run(pool, 100, n)))
            await asyncio.sleep(0.01)  # queued in this order
        return [claim(r) for r in await asyncio.gather(*runs)]

    assert asyncio.run(main()) == [0, 1, 2]


def test_a_wait_longer_than_its_bound_is_busy_and_the_worker_stays_usable(
    pool: WorkerPool,
) -> None:
    async def main() -> tuple[Any, BaseException | dict[str, Any], Any]:
        holder = asyncio.create_task(run(pool, 1500, 1))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        waited = await asyncio.gather(run(pool, 0, 2), return_exceptions=True)
        assert time.monotonic() - started < 1.2  # the bound (0.5 s), not the holder's 1.5 s
        held = claim(await holder)
        return held, waited[0], claim(await run(pool, 0, 3))

    held, waited, after = asyncio.run(main())
    assert held == 1 and isinstance(waited, PoolBusy) and after == 3


def test_a_waiter_cancelled_after_the_hand_over_passes_the_worker_on(
    pool: WorkerPool,
) -> None:
    async def main() -> Any:
        holder = asyncio.create_task(run(pool, 200, 1))
        await asyncio.sleep(0.05)
        leaving = asyncio.create_task(run(pool, 0, 2))
        await asyncio.sleep(0.05)
        await holder  # frees the worker: handed to ``leaving``, whose task has not run yet
        leaving.cancel()
        # Cancelled, or done just before: either way the worker must not be lost.
        await asyncio.gather(leaving, return_exceptions=True)
        return claim(await asyncio.wait_for(run(pool, 0, 3), 5))

    assert asyncio.run(main()) == 3


def cores_of(pid: int) -> set[frozenset[int]]:
    """The core sets of every thread of process ``pid``."""
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.add(frozenset(os.sched_getaffinity(int(task.name))))
    return found


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores")
def test_a_workers_threads_and_its_realms_share_the_core_of_its_slot(tmp_path: Path) -> None:
    allowed = sorted(os.sched_getaffinity(0))
    core = allowed[-1]
    assert worker_cores() == allowed[len(allowed) // 2 :]  # the upper half, odd counts too
    sandbox = Sandbox((), "off", 128, 1024, 4, tmp_path / "deno")
    workers = WorkerPool(sandbox, 1, cores=[core])
    try:
        message, code = flow(0, 1)
        assert claim(workers.run(message, 10, code)) == 1  # a realm thread started meanwhile
        (worker,) = workers._all
        assert cores_of(worker.proc.pid) == {frozenset({core})}
        # A replacement keeps the slot's core.
        worker.proc.kill()
        with pytest.raises(WorkerFailure):
            workers.run(message, 10, code)
        (replacement,) = workers._all
        assert replacement is not worker
        assert claim(workers.run(message, 10, code)) == 1
        assert cores_of(replacement.proc.pid) == {frozenset({core})}
    finally:
        workers.close()


def test_without_cores_a_worker_keeps_the_servers_affinity(pool: WorkerPool) -> None:
    message, code = flow(0, 1)
    assert claim(pool.run(message, 10, code)) == 1
    (worker,) = pool._all
    assert cores_of(worker.proc.pid) == {frozenset(os.sched_getaffinity(0))}


def test_a_worker_found_dead_fails_its_flow_and_is_replaced(pool: WorkerPool) -> None:
    """A worker that died between flows (killed, out of memory) fails the next flow
    with a WorkerFailure, not the pipe's error, and the flow after runs on a new one."""
    message, code = flow(0, 1)
    assert claim(pool.run(message, 10, code)) == 1
    (worker,) = pool._all
    worker.proc.kill()
    worker.proc.wait()  # gone before the request is written
    with pytest.raises(WorkerFailure):
        pool.run(message, 10, code)
    assert claim(pool.run(message, 10, code)) == 1

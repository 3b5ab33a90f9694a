"""The worker pool's queue, driven from the event loop as the execute route drives it,
against real Deno workers: a worker freed on the loop goes to the longest waiting
execution, a wait has a bound, and a waiter that leaves never loses a worker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actionsd.runtime.pool import PoolBusy, Sandbox, WorkerPool

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

"""What a cache checks an entry against: ``db.engine.committed`` and ``committed_now``
read on connections of their own, and must see every commit at once, survive a
disposed engine, and recover from a check cut off mid-way."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from actionsd.actions.service import _ACTIONS_COUNTER
from actionsd.app import bootstrap
from actionsd.db.engine import committed, committed_now, transaction
from actionsd.db.schema import bump_actions_counter
from tests.conftest import make_settings

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _engine(tmp_path: Path, backend: str) -> Engine:
    state, _ = bootstrap(make_settings(tmp_path, backend))
    return state.engine


def _bump(engine: Engine) -> None:
    with transaction(engine, write=True) as conn:
        conn.execute(bump_actions_counter())


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_commit_is_seen_at_once_from_threads_and_the_loop(
    tmp_path: Path, backend: str
) -> None:
    engine = _engine(tmp_path, backend)

    async def check() -> None:
        for _ in range(5):
            (before,) = committed(engine, _ACTIONS_COUNTER)
            (looped,) = await committed_now(engine, _ACTIONS_COUNTER)
            assert looped == before
            _bump(engine)
            (after,) = await committed_now(engine, _ACTIONS_COUNTER)
            assert after == before + 1
            assert committed(engine, _ACTIONS_COUNTER) == (after,)

    asyncio.run(check())
    engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_disposed_engine_checks_again_on_fresh_connections(tmp_path: Path, backend: str) -> None:
    engine = _engine(tmp_path, backend)

    async def check() -> int:
        (value,) = await committed_now(engine, _ACTIONS_COUNTER)
        return int(value)

    first = asyncio.run(check())
    engine.dispose()
    _bump(engine)
    assert asyncio.run(check()) == first + 1
    assert committed(engine, _ACTIONS_COUNTER) == (first + 1,)
    engine.dispose()


@pytest.mark.postgres
def test_a_check_cancelled_mid_query_leaves_the_next_one_working(tmp_path: Path) -> None:
    engine = _engine(tmp_path, "postgres")

    async def check() -> None:
        (start,) = await committed_now(engine, _ACTIONS_COUNTER)
        for turn in range(40):
            task = asyncio.ensure_future(committed_now(engine, _ACTIONS_COUNTER))
            for _ in range(turn % 8):  # cut off at each point of its way
                await asyncio.sleep(0)
            task.cancel()  # unless it is done already
            with contextlib.suppress(asyncio.CancelledError):
                await task
            _bump(engine)
            (now,) = await committed_now(engine, _ACTIONS_COUNTER)
            start += 1
            assert now == start

    asyncio.run(check())
    engine.dispose()


@pytest.mark.postgres
def test_concurrent_checks_share_a_query_sent_after_each_arrived(tmp_path: Path) -> None:
    """Checks waiting for the loop's connection share the next query, and never one sent
    before they arrived: every check sees each commit made before it started."""
    from actionsd.db import engine as db_engine

    engine = _engine(tmp_path, "postgres")
    sent = 0
    original = db_engine._AsyncLatestReader._query

    async def counted(self: object, *args: object) -> tuple[object, ...]:
        nonlocal sent
        sent += 1
        return await original(self, *args)  # type: ignore[arg-type]

    async def check() -> None:
        (start,) = await committed_now(engine, _ACTIONS_COUNTER)
        for turn in range(30):
            early = [
                asyncio.ensure_future(committed_now(engine, _ACTIONS_COUNTER)) for _ in range(8)
            ]
            for _ in range(turn % 6):  # the first query at each point of its way
                await asyncio.sleep(0)
            _bump(engine)  # committed before the checks below start
            start += 1
            late = [
                asyncio.ensure_future(committed_now(engine, _ACTIONS_COUNTER)) for _ in range(8)
            ]
            late[turn % 8].cancel()  # a reader going away leaves the others theirs
            early_values = [v for (v,) in await asyncio.gather(*early)]
            late_values = await asyncio.gather(*late, return_exceptions=True)
            assert all(v in (start - 1, start) for v in early_values), early_values
            for n, value in enumerate(late_values):
                if n == turn % 8:
                    assert isinstance(value, asyncio.CancelledError)
                else:
                    assert value == (start,), (turn, late_values)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(db_engine._AsyncLatestReader, "_query", counted)
        asyncio.run(check())
    assert sent <= 30 * 4, f"{sent} queries for 480 checks: they were not shared"
    engine.dispose()

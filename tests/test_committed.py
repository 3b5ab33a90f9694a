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

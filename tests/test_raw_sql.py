"""RawSql.arun on PostgreSQL: BEGIN travels with the first batch and COMMIT with the last
one; a failure between them rolls back and leaves the connection idle and usable."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from actionsd.config import Settings
from actionsd.db.raw import LastBatch, RawSql, Steps
from tests.conftest import fresh_postgres

pytestmark = pytest.mark.postgres


def dsn() -> str:
    url = sa.make_url(Settings(database_url=fresh_postgres("raw")).effective_database_url)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def read_then_write(value: int, *, last: bool, fail: bool = False) -> Steps[int]:
    (rows,) = yield [("SELECT count(*) AS n FROM t WHERE v >= ?", (0,))]
    writes = [("INSERT INTO t (v) VALUES (?)", (value,))]
    if fail:
        raise ValueError("refused after the reads")
    yield LastBatch(writes) if last else writes
    return int(rows[0]["n"])


def test_one_transaction_two_round_trips_and_rollback_on_failure() -> None:
    async def scenario(url: str) -> None:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await conn.execute("CREATE TABLE t (v integer NOT NULL)")
            sql = RawSql(conn)
            assert await sql.arun(read_then_write(1, last=True)) == 0
            assert await sql.arun(read_then_write(2, last=False)) == 1
            with pytest.raises(ValueError):
                await sql.arun(read_then_write(3, last=True, fail=True))
            idle = psycopg.pq.TransactionStatus.IDLE
            assert conn.info.transaction_status == idle
            with pytest.raises(psycopg.errors.NotNullViolation):
                await sql.arun(read_then_write(None, last=True))  # type: ignore[arg-type]
            assert conn.info.transaction_status == idle
            # Seen from another connection: exactly the two committed writes.
            async with await psycopg.AsyncConnection.connect(url) as other:
                cur = await other.execute("SELECT v FROM t ORDER BY v")
                values: list[Any] = [r[0] for r in await cur.fetchall()]
            assert values == [1, 2]

    asyncio.run(scenario(dsn()))

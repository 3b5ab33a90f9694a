"""Writers of one SQLite file in several processes queue on one file lock beside the
database, not in SQLite's busy handler (which sleeps in growing steps): a write
transaction holds that lock, and writers of two processes never fail or lose a write."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

from actionsd.db.engine import create_engine, transaction

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock")

HOLDER = textwrap.dedent(
    """
    import sys
    import sqlalchemy as sa
    from actionsd.db.engine import create_engine, transaction
    engine = create_engine(sys.argv[1])
    with transaction(engine, write=True) as conn:
        conn.execute(sa.text("UPDATE counter SET n = n + 1"))
        print("holding", flush=True)
        sys.stdin.readline()
    print("done", flush=True)
    """
)

COUNTER = textwrap.dedent(
    """
    import sys
    import sqlalchemy as sa
    from actionsd.db.engine import create_engine, transaction
    engine = create_engine(sys.argv[1])
    for _ in range(int(sys.argv[2])):
        with transaction(engine, write=True) as conn:
            n = conn.execute(sa.text("SELECT n FROM counter")).scalar_one()
            conn.execute(sa.text("UPDATE counter SET n = :n"), {"n": n + 1})
    """
)


def _database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    with transaction(create_engine(url), write=True) as conn:
        conn.execute(sa.text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        conn.execute(sa.text("INSERT INTO counter VALUES (0)"))
    return url


def _python(code: str, *args: str, **kw: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=env,
        text=True,
        **kw,  # type: ignore[call-overload]
    )


def _lock_free(path: Path) -> bool:
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def test_a_write_transaction_holds_the_writers_file_lock(tmp_path: Path) -> None:
    url = _database(tmp_path)
    lock = tmp_path / "db.sqlite-writer"
    holder = _python(HOLDER, url, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline().strip() == "holding"
        assert not _lock_free(lock)  # another process's writer waits on it
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "done"
        assert _lock_free(lock)
    finally:
        holder.kill()
        holder.wait()


def test_writers_of_two_processes_and_this_one_lose_nothing(tmp_path: Path) -> None:
    url = _database(tmp_path)
    others = [_python(COUNTER, url, "150") for _ in range(2)]
    engine = create_engine(url)
    for _ in range(150):
        with transaction(engine, write=True) as conn:
            n = conn.execute(sa.text("SELECT n FROM counter")).scalar_one()
            conn.execute(sa.text("UPDATE counter SET n = :n"), {"n": n + 1})
    assert [p.wait(timeout=120) for p in others] == [0, 0]
    with transaction(engine, write=False) as conn:
        assert conn.execute(sa.text("SELECT n FROM counter")).scalar_one() == 450

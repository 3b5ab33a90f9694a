"""The live stream of executions (``GET /actionsd/v1/executions/stream``) and the table
feed behind it: every process's executions, each once, in order, to every client from
the moment it attaches."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from httpx_sse import connect_sse

from actionsd.db.engine import create_engine, transaction
from actionsd.db.migrate import upgrade
from actionsd.db.schema import executions
from actionsd.devloop import feed as feed_module
from actionsd.devloop.feed import ExecutionFeed, latest_seq
from actionsd.runtime.executions import ExecutionStore
from tests.conftest import fresh_postgres, make_settings
from tests.runtime_helpers import bind, handler
from tests.servers import CliServer

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def row(execution_id: str, trigger: str = "post-login", **extra: Any) -> dict[str, Any]:
    return {
        "id": execution_id,
        "trigger_id": trigger,
        "status": "final",
        "results": [],
        "outcome": {},
        "state": None,
        "created_at": time.time_ns(),
        "updated_at": time.time_ns(),
        **extra,
    }


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    url = fresh_postgres("feed") if request.param == "postgres" else ""
    made = create_engine(make_settings(tmp_path, "sqlite", database_url=url).effective_database_url)
    upgrade(made)
    yield made
    made.dispose()


def insert(engine: sa.Engine, *rows: dict[str, Any]) -> None:
    with transaction(engine, write=True) as conn:
        conn.execute(executions.insert(), list(rows))


def ids(rows: list[dict[str, Any]]) -> list[str]:
    return [r["id"] for r in rows]


def test_feed_gives_each_new_row_once_in_write_order(engine: sa.Engine) -> None:
    insert(engine, row("before"))
    feed = ExecutionFeed(engine, latest_seq(engine))
    assert feed.poll() == ([], False), "a feed starts after what is there"
    insert(engine, row("a"), row("b"))
    insert(engine, row("c", trigger="credentials-exchange"))
    rows, more = feed.poll()
    assert ids(rows) == ["a", "b", "c"] and not more
    assert feed.poll()[0] == []
    only_login = ExecutionFeed(engine, 0, "post-login")
    assert ids(only_login.poll()[0]) == ["before", "a", "b"]
    assert ids(ExecutionFeed(engine, latest_seq(engine), "post-login").history(2)) == ["a", "b"]


def test_replaced_row_is_a_new_entry(engine: sa.Engine) -> None:
    """A resumed flow's row is deleted and inserted again (runtime.executions): even as
    the newest row, it gets a number after the old one, so followers see it again."""
    store = ExecutionStore(engine, retention_days=10)
    try:
        store.record(row("flow", status="suspended"), now=True)
        feed = ExecutionFeed(engine, latest_seq(engine) - 1)
        assert [r["status"] for r in feed.poll()[0]] == ["suspended"]
        store.record(row("flow"), now=True, replace=True)
        assert [(r["id"], r["status"]) for r in feed.poll()[0]] == [("flow", "final")]
    finally:
        store.close()


@pytest.mark.postgres
def test_feed_waits_at_a_hole_and_gives_the_late_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL numbers rows at insert and shows them at commit: a row with a smaller
    number can show up after a bigger one. It is still handed on, once; a hole that
    stays (a rolled-back insert) is given up after GAP_SECONDS."""
    engine = create_engine(
        make_settings(
            tmp_path, "sqlite", database_url=fresh_postgres("feed")
        ).effective_database_url
    )
    upgrade(engine)
    feed = ExecutionFeed(engine, 0)
    slow = engine.connect()
    slow_tx = slow.begin()
    slow.execute(executions.insert(), [row("slow")])  # takes number 1, not committed
    insert(engine, row("quick"))  # number 2, committed
    assert ids(feed.poll()[0]) == ["quick"]
    assert feed.cursor == 0, "the cursor waits below the hole"
    slow_tx.commit()
    slow.close()
    assert ids(feed.poll()[0]) == ["slow"]
    assert feed.poll()[0] == [] and feed.cursor == 2

    rolled = engine.connect()
    rolled_tx = rolled.begin()
    rolled.execute(executions.insert(), [row("never")])  # number 3, rolled back
    rolled_tx.rollback()
    rolled.close()
    insert(engine, row("after"))
    assert ids(feed.poll()[0]) == ["after"] and feed.cursor == 2
    monkeypatch.setattr(feed_module, "GAP_SECONDS", 0.0)
    assert feed.poll()[0] == [] and feed.cursor == 4
    engine.dispose()


# ---- the stream, as users attach to it ------------------------------------------------


class Listener:
    """A raw SSE client in a thread, like a dashboard tab."""

    def __init__(self, server: CliServer, token: str, **params: Any) -> None:
        self.events: list[tuple[str, Any]] = []
        self.live = threading.Event()
        self._stop = False
        verify = ssl.create_default_context(cafile=str(server.ca_file))
        self._client = httpx.Client(
            base_url=f"https://{server.domain}",
            headers={"Authorization": f"Bearer {token}"},
            verify=verify,
            timeout=httpx.Timeout(10, read=None),
        )
        self._params = params
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self.live.wait(10), "the stream did not open"

    def _run(self) -> None:
        try:
            self._read()
        except httpx.HTTPError:
            if not self._stop:
                raise

    def _read(self) -> None:
        with connect_sse(
            self._client, "GET", "/actionsd/v1/executions/stream", params=self._params
        ) as source:
            assert source.response.status_code == 200
            for message in source.iter_sse():
                if message.event == "live":
                    self.live.set()
                else:
                    self.events.append((message.event, message.json()))
                if self._stop:
                    return

    def ids(self) -> list[str]:
        return [e["id"] for kind, e in self.events if kind == "execution"]

    def close(self) -> None:
        self._stop = True
        self._client.close()


def wait_for(check: Any, what: str, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def execute(server: CliServer, token: str, email: str = "") -> str:
    """Fire post-login on a fresh connection (with --workers, the processes take
    turns accepting)."""
    answer = httpx.post(
        f"https://{server.domain}/actionsd/v1/triggers/post-login/execute",
        json={"event": {"user": {"email": email}} if email else {}},
        headers={"Authorization": f"Bearer {token}"},
        verify=ssl.create_default_context(cafile=str(server.ca_file)),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["execution_id"])


def follow_logs(server: CliServer) -> subprocess.Popen[str]:
    """``actionsd logs --follow --json``, as a user runs it, once it is following."""
    argv = ["logs", "--follow", "--json", "--last", "0", "--data-dir", str(server.data_dir)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "actionsd.cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    assert "following" in proc.stderr.readline()
    return proc


@pytest.fixture(params=BACKENDS)
def two_process_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CliServer]:
    url = fresh_postgres("stream") if request.param == "postgres" else ""
    server = CliServer(tmp_path / "data", database_url=url, extra=["--workers", "2"]).start()
    yield server
    server.stop()


def test_two_clients_one_late_see_every_process_executions(two_process_server: CliServer) -> None:
    server = two_process_server
    verify = ssl.create_default_context(cafile=str(server.ca_file))
    token = server.token(scopes="read:actions create:actions update:actions execute:actions")
    base = f"https://{server.domain}"
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=f"{base}/api/v2", headers=headers, verify=verify, timeout=30) as api:
        bind(api, "post-login", handler("post-login", "console.log('hi', event.user.email);"))

    early = follow_logs(server)
    try:
        assert early.stdout is not None
        # A client that reads nothing holds no one up.
        stalled = httpx.Client(base_url=base, headers=headers, verify=verify, timeout=30)
        stalled_response = stalled.send(
            stalled.build_request("GET", "/actionsd/v1/executions/stream"), stream=True
        )
        assert stalled_response.status_code == 200

        first = [execute(server, token, f"first-{i}@example.com") for i in range(12)]
        lines = [json.loads(early.stdout.readline()) for _ in range(12)]
        # Stored (records are written behind the flow): a client attaching now comes
        # after them.
        late = Listener(server, token)
        second = [execute(server, token, f"second-{i}@example.com") for i in range(3)]
        lines += [json.loads(early.stdout.readline()) for _ in range(3)]
        # Each once; in the order they were stored, which across two processes that
        # write behind their flows need not be the order they ran in.
        assert sorted(e["id"] for e in lines) == sorted(first + second)
        logs = {e["results"][0]["response"]["logs"] for e in lines}
        assert "hi first-0@example.com\n" in logs and len(logs) == 15
        wait_for(lambda: len(late.ids()) >= 3, f"late client got {late.ids()}")
        time.sleep(0.5)
        assert sorted(late.ids()) == sorted(second), "a late client gets what follows, only that"
        late.close()
        stalled_response.close()
        stalled.close()
    finally:
        early.terminate()
        early.wait(10)


def test_stream_resumes_after_last_event_id_and_checks_scope(two_process_server: CliServer) -> None:
    server = two_process_server
    verify = ssl.create_default_context(cafile=str(server.ca_file))
    base = f"https://{server.domain}"
    reader = server.token(scopes="read:actions")
    refused = httpx.get(
        f"{base}/actionsd/v1/executions/stream",
        headers={"Authorization": f"Bearer {server.token(scopes='execute:actions')}"},
        verify=verify,
    )
    assert refused.status_code == 403 and refused.json()["errorCode"] == "insufficient_scope"
    bad = httpx.get(
        f"{base}/actionsd/v1/executions/stream",
        params={"trigger_id": "no-such-trigger"},
        headers={"Authorization": f"Bearer {reader}"},
        verify=verify,
    )
    assert bad.status_code == 400 and bad.json()["statusCode"] == 400

    runner = server.token(scopes="execute:actions")
    made = [execute(server, runner) for _ in range(3)]
    # Records are written behind the flows: wait until all three are stored.
    deadline = time.monotonic() + 10
    while len((history := Listener(server, reader, history=3)).ids()) < 3:
        history.close()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # Stored (and so numbered) in the order the two processes wrote them behind their
    # flows, not necessarily the order they ran in.
    stored = history.ids()
    assert sorted(stored) == sorted(made), "history comes before the live marker"
    seqs = [e["seq"] for _, e in history.events]
    history.close()

    with (
        httpx.Client(base_url=base, verify=verify, timeout=httpx.Timeout(10, read=None)) as http,
        connect_sse(
            http,
            "GET",
            "/actionsd/v1/executions/stream",
            headers={"Authorization": f"Bearer {reader}", "Last-Event-ID": str(seqs[0])},
        ) as source,
    ):
        resumed: list[str] = []
        for message in source.iter_sse():
            if message.event == "execution":
                resumed.append(message.json()["id"])
            if len(resumed) == 2:
                break
        assert resumed == stored[1:]


def test_logs_follow_outlives_a_server_restart(tmp_path: Path) -> None:
    """``logs --follow`` connects again when the server comes back and resumes after the
    last event it saw: what was stored meanwhile is not lost."""
    server = CliServer(tmp_path / "data").start()
    follower = follow_logs(server)
    try:
        assert follower.stdout is not None and follower.stderr is not None
        runner = server.token(scopes="execute:actions")
        before = execute(server, runner)
        assert json.loads(follower.stdout.readline())["id"] == before
        server.stop()
        assert "went away" in follower.stderr.readline()
        server.start()
        after = [execute(server, runner) for _ in range(2)]
        got = [json.loads(follower.stdout.readline())["id"] for _ in range(2)]
        assert sorted(got) == sorted(after)
    finally:
        follower.terminate()
        follower.wait(10)
        server.stop()


def test_a_stalled_reader_holds_up_neither_flows_nor_other_readers(tmp_path: Path) -> None:
    """One client opens the stream and reads nothing while 150 executions of 60 kB of
    console output each go by: 9 MB, more than the loopback socket buffers and the
    server's transport hold, so its stream is stopped by back-pressure. Every flow still
    answers, and a reading client gets every execution."""
    server = CliServer(tmp_path / "data").start()
    try:
        verify = ssl.create_default_context(cafile=str(server.ca_file))
        token = server.token(scopes="read:actions create:actions update:actions execute:actions")
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(
            base_url=f"https://{server.domain}/api/v2", headers=headers, verify=verify, timeout=30
        ) as api:
            bind(api, "post-login", handler("post-login", "console.log('x'.repeat(60000));"))
        stalled = httpx.Client(
            base_url=f"https://{server.domain}", headers=headers, verify=verify, timeout=30
        )
        stalled_response = stalled.send(
            stalled.build_request("GET", "/actionsd/v1/executions/stream"), stream=True
        )
        reader = Listener(server, token)
        fired = [execute(server, token) for _ in range(150)]
        wait_for(lambda: len(reader.ids()) >= 150, f"the reader got {len(reader.ids())}", 60)
        assert sorted(reader.ids()) == sorted(fired)
        reader.close()
        stalled_response.close()
        stalled.close()
    finally:
        server.stop()

"""Faults: the database going away and coming back; the server killed mid-write."""

from __future__ import annotations

import random
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import sqlalchemy as sa

from actionsd.config import Settings
from tests.conftest import fresh_postgres
from tests.pgcluster import PrivateCluster
from tests.servers import CliServer
from tests.test_concurrency import DOMAIN, mint

EXTRA = ["--no-tls", "--public-url", f"http://{DOMAIN}"]
CODE = "exports.onExecutePostLogin = async () => {};"


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    pg = PrivateCluster()
    yield pg
    pg.destroy()


def client(server: CliServer, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"http://{server.domain}", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def test_database_outage_is_503_and_recovers(tmp_path: Path, cluster: PrivateCluster) -> None:
    server = CliServer(tmp_path / "d", database_url=cluster.url, extra=EXTRA).start()
    try:
        api = client(server, mint(server))
        assert (
            api.post(
                "/api/v2/actions/actions",
                json={
                    "name": "before",
                    "supported_triggers": [{"id": "post-login", "version": "v3"}],
                    "code": CODE,
                },
            ).status_code
            == 201
        )
        assert api.get("/readyz").status_code == 200
        assert (
            api.get("/api/v2/actions/triggers/post-login/bindings").status_code == 200
        )  # now cached

        cluster.stop()
        down = api.get("/api/v2/actions/actions")
        assert down.status_code == 503, down.text
        assert down.json() == {
            "statusCode": 503,
            "error": "Service Unavailable",
            "message": "The database is unavailable; try again.",
        }
        write = api.post(
            "/api/v2/actions/actions",
            json={"name": "during", "supported_triggers": [{"id": "post-login", "version": "v3"}]},
        )
        assert write.status_code == 503
        ready = api.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["database"].startswith(
            "unavailable"
        )
        assert api.get("/healthz").status_code == 200, "the process itself is fine"

        cluster.start()
        deadline = time.monotonic() + 30
        while api.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "did not recover"
            time.sleep(0.2)
        names = [a["name"] for a in api.get("/api/v2/actions/actions").json()["actions"]]
        assert names == ["before"], "nothing of the failed write was stored"
    finally:
        server.stop()


def writer(api: httpx.Client, stop: threading.Event, acked: dict[str, Any], seed: int) -> None:
    """Create, deploy and bind until stopped; remember every acknowledged write."""
    rng = random.Random(seed)
    n = 0
    while not stop.is_set():
        n += 1
        try:
            name = f"w{seed}-{n}"
            r = api.post(
                "/api/v2/actions/actions",
                json={
                    "name": name,
                    "supported_triggers": [{"id": "post-login", "version": "v3"}],
                    "code": CODE,
                    "deploy": rng.random() < 0.5,
                },
            )
            if r.status_code == 201:
                acked["created"][r.json()["id"]] = name
            deployed = [i for i, _ in list(acked["created"].items())[-8:]]
            if deployed and rng.random() < 0.5:
                refs = [
                    {"ref": {"type": "action_id", "value": i}}
                    for i in rng.sample(deployed, min(3, len(deployed)))
                ]
                body = {"bindings": refs}
                acked["attempted"].append(tuple(x["ref"]["value"] for x in refs))
                p = api.patch("/api/v2/actions/triggers/post-login/bindings", json=body)
                if p.status_code == 200:
                    acked["patched"].append(tuple(b["action"]["id"] for b in p.json()["bindings"]))
                    acked["revisions"].append(int(p.headers["etag"].strip('"')))
        except httpx.HTTPError:
            return  # the server died under us


def check_invariants(url: str) -> None:
    engine = sa.create_engine(Settings(database_url=url).effective_database_url)
    with engine.connect() as conn:
        orphans = conn.exec_driver_sql(
            "SELECT count(*) FROM bindings b LEFT JOIN actions a ON a.id = b.action_id WHERE a.id IS NULL"
        ).scalar()
        assert orphans == 0
        undeployed = conn.exec_driver_sql(
            "SELECT count(*) FROM bindings b JOIN actions a ON a.id = b.action_id WHERE a.deployed_version_id IS NULL"
        ).scalar()
        assert undeployed == 0
        dangling = conn.exec_driver_sql(
            "SELECT count(*) FROM actions a LEFT JOIN action_versions v ON v.id = a.deployed_version_id "
            "WHERE a.deployed_version_id IS NOT NULL AND v.id IS NULL"
        ).scalar()
        assert dangling == 0
        duplicates = conn.exec_driver_sql(
            "SELECT count(*) FROM (SELECT action_id, number FROM action_versions GROUP BY action_id, number HAVING count(*) > 1) d"
        ).scalar()
        assert duplicates == 0
    engine.dispose()


def postgres_integrity_check(url: str) -> None:
    """PostgreSQL's own checks (amcheck, installed by .ci/postgres.sh): every table's
    pages and tuples, and every B-tree index against its table (each heap tuple
    indexed)."""
    engine = sa.create_engine(Settings(database_url=url).effective_database_url)
    with engine.connect() as conn:
        present = conn.exec_driver_sql(
            "SELECT 1 FROM pg_proc WHERE proname = 'verify_heapam' "
            "AND pronamespace = 'amcheck'::regnamespace"
        ).first()
        assert present, "amcheck is missing from the test database: run .ci/postgres.sh"
        tables = (
            conn.exec_driver_sql(
                "SELECT c.oid::regclass::text FROM pg_class c "
                "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'"
            )
            .scalars()
            .all()
        )
        assert "bindings" in tables
        for table in tables:
            damage = conn.exec_driver_sql(
                f"SELECT * FROM amcheck.verify_heapam('{table}'::regclass)"
            ).all()
            assert damage == [], f"{table}: {damage}"
        indexes = (
            conn.exec_driver_sql(
                "SELECT c.oid FROM pg_class c JOIN pg_am am ON am.oid = c.relam "
                "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'i' "
                "AND am.amname = 'btree'"
            )
            .scalars()
            .all()
        )
        assert indexes
        for index in indexes:
            # Raises on any inconsistency; heapallindexed: every heap tuple is indexed.
            conn.exec_driver_sql(f"SELECT amcheck.bt_index_check({index}, true)")
    engine.dispose()


def verify_survivors(db_url: str, acked: dict[str, Any]) -> None:
    """Every acknowledged create exists; the list is one that was submitted whole, and the
    trigger's revision is at least the highest one an acknowledged PATCH reported (acks
    from several threads arrive in any order, so revisions, not lists, say which came
    last)."""
    engine = sa.create_engine(Settings(database_url=db_url).effective_database_url)
    with engine.connect() as conn:
        stored = set(conn.exec_driver_sql("SELECT id FROM actions").scalars())
        listed = tuple(
            conn.exec_driver_sql(
                "SELECT action_id FROM bindings WHERE trigger_id = 'post-login' ORDER BY position"
            ).scalars()
        )
        revision = conn.exec_driver_sql(
            "SELECT revision FROM triggers WHERE id = 'post-login'"
        ).scalar()
    engine.dispose()
    lost = set(acked["created"]) - stored
    assert not lost, f"acknowledged creates lost: {lost}"
    if acked["patched"]:
        assert listed in set(acked["attempted"]), "the list was mixed"
        assert revision >= max(acked["revisions"]), "an acknowledged PATCH was lost"


def test_a_killed_server_leaves_no_action_workers_behind(tmp_path: Path) -> None:
    server = CliServer(tmp_path / "orphans", extra=EXTRA).start()
    assert server.proc is not None
    workers = [
        p for p in psutil.Process(server.proc.pid).children(recursive=True) if "deno" in p.name()
    ]
    assert workers, "the runtime's workers run as the server's children"
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait()
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, f"orphaned workers: {alive}"


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_sigkill_during_writes_loses_nothing_acknowledged(tmp_path: Path, backend: str) -> None:
    url = fresh_postgres("crash") if backend == "postgres" else ""
    data_dir = tmp_path / "crash"
    db_url = url or f"sqlite:///{data_dir / 'actionsd.db'}"
    rng = random.Random(11)
    acked: dict[str, Any] = {"created": {}, "patched": [], "attempted": [], "revisions": []}
    token = ""
    for round_ in range(4):
        server = CliServer(data_dir, database_url=url, extra=EXTRA).start()
        token = token or mint(server)  # signing keys live in the database: still valid
        stop = threading.Event()
        threads = [
            threading.Thread(
                target=writer, args=(client(server, token), stop, acked, round_ * 10 + i)
            )
            for i in range(3)
        ]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.5, 1.5))
        assert server.proc is not None
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()
        stop.set()
        for t in threads:
            t.join()
        verify_survivors(db_url, acked)
        check_invariants(db_url)
        if backend == "sqlite":
            with sqlite3.connect(data_dir / "actionsd.db") as db:
                assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        else:
            postgres_integrity_check(db_url)
    # And the server starts again on what the last kill left.
    server = CliServer(data_dir, database_url=url, extra=EXTRA).start()
    try:
        api = client(server, token)
        some = list(acked["created"])[-5:]
        assert all(api.get(f"/api/v2/actions/actions/{i}").status_code == 200 for i in some)
    finally:
        server.stop()
    assert len(acked["created"]) > 10, "the rounds did write something"


@pytest.mark.postgres
def test_connection_lost_inside_a_patch_is_503_and_the_next_one_works(tmp_path: Path) -> None:
    """A PATCH's connection is killed while it waits for the trigger's lock: the answer
    is Auth0's 503 (not a 500), the list is untouched, and the next PATCH succeeds on a
    fresh connection."""
    from tests.conftest import make_settings
    from tests.runtime_helpers import bind, handler
    from tests.servers import InProcessServer

    url = fresh_postgres("lost_connection")
    srv = InProcessServer(make_settings(tmp_path, "sqlite", database_url=url)).start()
    engine = sa.create_engine(Settings(database_url=url).effective_database_url)
    try:
        with srv.client() as api:
            made = bind(api, "post-login", handler("post-login", ""), handler("post-login", ""))
            before = api.get("/actions/triggers/post-login/bindings").json()["bindings"]
            flipped = {
                "bindings": [{"ref": {"type": "action_id", "value": a["id"]}} for a in made[::-1]]
            }
            with engine.connect() as holder:
                holder.exec_driver_sql(
                    "SELECT revision FROM triggers WHERE id = 'post-login' FOR UPDATE"
                )
                result: dict[str, httpx.Response] = {}
                patcher = threading.Thread(
                    target=lambda: result.update(
                        r=api.patch("/actions/triggers/post-login/bindings", json=flipped)
                    )
                )
                patcher.start()
                waiting = None
                for _ in range(200):  # until the PATCH waits for the lock
                    # Activity is a snapshot per transaction: take a fresh one each time.
                    holder.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
                    waiting = holder.exec_driver_sql(
                        "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND pid <> pg_backend_pid()"
                    ).scalar()
                    if waiting:
                        break
                    time.sleep(0.02)
                assert waiting, "the PATCH never waited for the trigger's lock"
                holder.exec_driver_sql(f"SELECT pg_terminate_backend({int(waiting)})")
                patcher.join(timeout=30)
                holder.rollback()
            lost = result["r"]
            assert lost.status_code == 503, lost.text
            assert lost.json() == {
                "statusCode": 503,
                "error": "Service Unavailable",
                "message": "The database is unavailable; try again.",
            }
            after = api.get("/actions/triggers/post-login/bindings").json()["bindings"]
            assert [b["id"] for b in after] == [b["id"] for b in before]
            again = api.patch("/actions/triggers/post-login/bindings", json=flipped)
            assert again.status_code == 200, again.text
            names = [b["action"]["name"] for b in again.json()["bindings"]]
            assert names == [a["name"] for a in made[::-1]]
    finally:
        engine.dispose()
        srv.stop()


@pytest.mark.postgres
def test_stopping_the_server_closes_its_postgres_connections(tmp_path: Path) -> None:
    """The server's PostgreSQL connections are closed at shutdown, not left for the
    process exit to drop."""
    from tests.conftest import make_settings
    from tests.runtime_helpers import bind, handler
    from tests.servers import InProcessServer

    url = fresh_postgres("shutdown")
    srv = InProcessServer(make_settings(tmp_path, "sqlite", database_url=url)).start()
    engine = sa.create_engine(Settings(database_url=url).effective_database_url)
    others = (
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    try:
        with srv.client() as api:
            (action,) = bind(api, "post-login", handler("post-login", ""))
            for _ in range(3):
                api.get("/actions/triggers/post-login/bindings").raise_for_status()
                api.patch(
                    "/actions/triggers/post-login/bindings",
                    json={"bindings": [{"ref": {"type": "action_id", "value": action["id"]}}]},
                ).raise_for_status()
        with engine.connect() as conn:
            assert conn.execute(sa.text(others)).scalar_one() > 0
    finally:
        srv.stop()
    left = -1
    with engine.connect() as conn:
        for _ in range(100):
            conn.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
            left = conn.execute(sa.text(others)).scalar_one()
            if left == 0:
                break
            time.sleep(0.05)
    engine.dispose()
    assert left == 0, "connections left open after the server stopped"


def _deno_workers(server: CliServer) -> list[psutil.Process]:
    assert server.proc is not None
    children = psutil.Process(server.proc.pid).children(recursive=True)
    return [p for p in children if "deno" in p.name()]


@pytest.mark.parametrize(("env", "expected"), [({}, 2), ({"ACTIONSD_RUNTIME_WORKERS": "2"}, 4)])
def test_server_processes_share_the_default_action_workers(
    tmp_path: Path, env: dict[str, str], expected: int
) -> None:
    """With ``--workers 2`` and no setting, the default two action workers are the
    server's, one per process; a value that is set is each process's."""
    server = CliServer(tmp_path / "split", extra=[*EXTRA, "--workers", "2"], env=env).start()
    try:
        deadline = time.monotonic() + 30
        while len(_deno_workers(server)) < expected and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # none beyond the expected number comes up late
        assert len(_deno_workers(server)) == expected
    finally:
        server.stop()

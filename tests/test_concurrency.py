"""Concurrent conflicting writes through several server processes sharing one database.

* Concurrent PATCHes of one trigger's bindings serialise: every GET during the storm
  sees exactly one of the submitted lists (or the initial one), never a mix, and the final
  list is exactly the answer of one acknowledged PATCH.
* Concurrent deploys of one action never produce two versions with the same number.
* Caches of one server follow writes made through another; no read is older than a
  write acknowledged before it; PATCHes see action changes made elsewhere.

PostgreSQL: two ``actionsd serve`` processes. SQLite: one process (its writes already
queue on the database's write lock).
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import fresh_postgres, make_settings
from tests.helpers import (
    by_id,
    by_name,
    create_action,
    deploy,
    deployed_action,
    patch_bindings,
    wait_status,
)
from tests.runtime_helpers import bind, handler
from tests.servers import CliServer, InProcessServer

DOMAIN = "actions.test"
PATCHES = 240
DEPLOYS = 40


def mint(server: CliServer) -> str:
    return server.token(domain=DOMAIN)


@pytest.mark.parametrize(
    ("backend", "processes"),
    [("sqlite", 1), ("sqlite", 2), pytest.param("postgres", 2, marks=pytest.mark.postgres)],
)
def test_conflicting_writes_serialise(tmp_path: Path, backend: str, processes: int) -> None:
    url = fresh_postgres("concurrency") if backend == "postgres" else ""
    extra = ["--no-tls", "--public-url", f"http://{DOMAIN}"]
    first = CliServer(tmp_path / "a", database_url=url, extra=extra).start()
    # A second server process: on PostgreSQL with its own data directory, on SQLite
    # sharing the database file (the writers of both meet on SQLite's lock).
    servers = [first]
    if processes == 2:
        second = tmp_path / ("b" if backend == "postgres" else "a")
        servers.append(CliServer(second, database_url=url, extra=extra).start())
    try:
        token = mint(first)
        clients = [
            httpx.Client(
                base_url=f"http://{s.domain}/api/v2",
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            )
            for s in servers
        ]
        api = clients[0]
        ids = []
        for i in range(6):
            action = api.post(
                "/actions/actions",
                json={
                    "name": f"c{i}",
                    "supported_triggers": [{"id": "post-login", "version": "v3"}],
                    "code": "exports.onExecutePostLogin = async () => {};",
                },
            ).json()
            ids.append(action["id"])
        for action_id in ids:
            while api.get(f"/actions/actions/{action_id}").json()["status"] != "built":
                pass
            assert api.post(f"/actions/actions/{action_id}/deploy").status_code == 200

        rng = random.Random(7)
        submitted = [tuple(rng.sample(ids, rng.randint(1, len(ids)))) for _ in range(PATCHES)]
        allowed = {(), *submitted}
        acknowledged: list[dict[str, Any]] = []
        seen: list[tuple[str, ...]] = []
        lock = threading.Lock()

        def patch(n: int) -> None:
            client = clients[n % len(clients)]
            body = {"bindings": [{"ref": {"type": "action_id", "value": a}} for a in submitted[n]]}
            response = client.patch("/actions/triggers/post-login/bindings", json=body)
            assert response.status_code == 200, response.text
            with lock:
                acknowledged.append(response.json())

        def read(n: int) -> None:
            client = clients[n % len(clients)]
            body = client.get(
                "/actions/triggers/post-login/bindings", params={"per_page": 100}
            ).json()
            listed = tuple(b["action"]["id"] for b in body["bindings"])
            assert body.get("total", 0) == len(listed), (
                "a list and its total come from one snapshot"
            )
            with lock:
                seen.append(listed)

        versions: list[int] = []

        def deploy(n: int) -> None:
            response = clients[n % len(clients)].post(f"/actions/actions/{ids[0]}/deploy")
            assert response.status_code == 200, response.text
            with lock:
                versions.append(response.json()["number"])

        jobs = (
            [(patch, n) for n in range(PATCHES)]
            + [(read, n) for n in range(120)]
            + [(deploy, n) for n in range(DEPLOYS)]
        )
        rng.shuffle(jobs)
        with ThreadPoolExecutor(16) as pool:
            for future in [pool.submit(fn, n) for fn, n in jobs]:
                future.result()

        assert len(acknowledged) == PATCHES
        assert all(s in allowed for s in seen), "a GET saw a list nobody submitted"
        final = api.get("/actions/triggers/post-login/bindings", params={"per_page": 100}).json()[
            "bindings"
        ]
        winners = [
            r for r in acknowledged if [b["id"] for b in r["bindings"]] == [b["id"] for b in final]
        ]
        assert len(winners) == 1, "the final list is the answer of exactly one PATCH"
        assert sorted(versions) == list(range(2, DEPLOYS + 2)), (
            "deploy numbers are unique and contiguous"
        )
        listed = api.get(f"/actions/actions/{ids[0]}/versions", params={"per_page": 100}).json()[
            "versions"
        ]
        numbers = [v["number"] for v in listed]
        assert len(numbers) == len(set(numbers)) == DEPLOYS + 1
        for client in clients:
            client.close()
    finally:
        for server in servers:
            server.stop()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_rate_limit_bucket_is_shared_by_all_processes(tmp_path: Path, backend: str) -> None:
    url = fresh_postgres("ratelimit") if backend == "postgres" else ""
    extra = ["--no-tls", "--public-url", f"http://{DOMAIN}"]
    env = {"ACTIONSD_RATE_LIMIT_BURST": "10", "ACTIONSD_RATE_LIMIT_PER_SECOND": "0.001"}
    db = url or f"sqlite:///{tmp_path / 'shared.db'}"
    servers = [
        CliServer(tmp_path / name, database_url=db, extra=extra, env=env).start()
        for name in ("a", "b")
    ]
    try:
        token = mint(servers[0])
        statuses = []
        for n in range(30):
            server = servers[n % 2]
            response = httpx.get(
                f"http://{server.domain}/api/v2/actions/triggers",
                headers={"Authorization": f"Bearer {token}"},
            )
            statuses.append(response.status_code)
            assert response.headers["x-ratelimit-limit"] == "10"
        assert statuses.count(200) == 10, statuses
        assert statuses.count(429) == 20
    finally:
        for server in servers:
            server.stop()


def test_sqlite_write_held_by_another_process_waits_off_the_event_loop(tmp_path: Path) -> None:
    """While another process holds SQLite's write lock, a PATCH waits for it and the
    server keeps answering meanwhile; the write lands once the lock is free."""
    settings = make_settings(tmp_path, "sqlite")
    srv = InProcessServer(settings).start()
    try:
        with srv.client() as api:
            (action,) = bind(api, "post-login", handler("post-login", ""))
            other = sqlite3.connect(settings.data_dir / "actionsd.db", isolation_level=None)
            other.execute("BEGIN IMMEDIATE")  # what a second server process would hold
            body = {"bindings": [{"ref": {"type": "action_id", "value": action["id"]}}]}
            body["bindings"][0]["display_name"] = "while locked"
            with ThreadPoolExecutor(1) as pool:
                pending = pool.submit(api.patch, "/actions/triggers/post-login/bindings", json=body)
                for _ in range(5):
                    health = httpx.get(srv.url + "/healthz", timeout=5)
                    assert health.status_code == 200
                assert not pending.done()  # still waiting for the other process
                other.execute("COMMIT")
                answer = pending.result(timeout=30)
            assert answer.status_code == 200, answer.text
            listed = api.get("/actions/triggers/post-login/bindings").json()["bindings"]
            assert [b["display_name"] for b in listed] == ["while locked"]
    finally:
        srv.stop()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_cached_action_lists_follow_writes_made_elsewhere(tmp_path: Path, backend: str) -> None:
    """Each server keeps rendered action lists; a write through one server shows at once
    in the list another server answers (two servers, one database)."""
    url = fresh_postgres("lists") if backend == "postgres" else ""
    writer = InProcessServer(make_settings(tmp_path / "a", "sqlite", database_url=url)).start()
    shared = writer.settings.effective_database_url.replace("+psycopg", "")
    reader = InProcessServer(make_settings(tmp_path / "b", "sqlite", database_url=shared)).start()
    try:
        with writer.client() as w, reader.client() as r:

            def listed() -> dict[str, Any]:
                return {a["id"]: a for a in r.get("/actions/actions").json()["actions"]}

            assert listed() == {}
            action = create_action(w, "listed")
            assert action["id"] in listed()  # created elsewhere
            wait_status(w, action["id"])
            assert listed()[action["id"]]["status"] == "built"  # the build finished
            w.patch(f"/actions/actions/{action['id']}", json={"name": "renamed"})
            assert listed()[action["id"]]["name"] == "renamed"
            wait_status(w, action["id"])
            deploy(w, action["id"])
            entry = listed()[action["id"]]
            assert entry["deployed_version"]["number"] == 1 and entry["all_changes_deployed"]
            by_trigger = r.get("/actions/actions", params={"deployed": "true"}).json()
            assert [a["id"] for a in by_trigger["actions"]] == [action["id"]]
            w.delete(f"/actions/actions/{action['id']}")
            assert listed() == {}
    finally:
        reader.stop()
        writer.stop()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_no_read_is_older_than_a_write_acknowledged_before_it(tmp_path: Path, backend: str) -> None:
    """Server A replaces a list again and again; clients of server B read it all the
    while (B shares revision reads between concurrent requests). Every GET's revision
    must be at least that of every PATCH acknowledged before the GET was sent."""
    url = fresh_postgres("fresh_reads") if backend == "postgres" else ""
    writer = InProcessServer(make_settings(tmp_path / "a", "sqlite", database_url=url)).start()
    shared = writer.settings.effective_database_url.replace("+psycopg", "")
    reader = InProcessServer(make_settings(tmp_path / "b", "sqlite", database_url=shared)).start()
    acked: list[tuple[float, int]] = []
    reads: list[tuple[float, int]] = []
    done = threading.Event()
    try:
        with writer.client() as w:
            made = bind(w, "post-login", handler("post-login", ""), handler("post-login", ""))
            refs = [{"ref": {"type": "action_id", "value": a["id"]}} for a in made]

            def write() -> None:
                try:
                    # At least 60 PATCHes, and on until the readers have read 200 times
                    # (PATCHes can be faster than GETs through another server).
                    deadline = time.monotonic() + 60
                    n = 0
                    while n < 60 or (len(reads) < 200 and time.monotonic() < deadline):
                        n += 1
                        order = refs if n % 2 else refs[::-1]
                        answer = w.patch(
                            "/actions/triggers/post-login/bindings", json={"bindings": order}
                        )
                        assert answer.status_code == 200, answer.text
                        acked.append((time.monotonic(), int(answer.headers["etag"].strip('"'))))
                finally:
                    done.set()

            def read() -> None:
                with reader.client() as r:
                    while not done.is_set():
                        sent = time.monotonic()
                        answer = r.get("/actions/triggers/post-login/bindings")
                        assert answer.status_code == 200, answer.text
                        reads.append((sent, int(answer.headers["etag"].strip('"'))))

            with ThreadPoolExecutor(6) as pool:
                futures = [pool.submit(write)] + [pool.submit(read) for _ in range(5)]
                for future in futures:
                    future.result()
    finally:
        reader.stop()
        writer.stop()
    assert len(acked) >= 60 and len(reads) >= 200
    for sent, seen in reads:
        floor = max((rev for at, rev in acked if at < sent), default=0)
        assert seen >= floor, f"a GET sent after revision {floor} was acknowledged saw {seen}"


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_patches_see_action_changes_made_through_another_server(
    tmp_path: Path, backend: str
) -> None:
    """Server A binds actions; server B renames, deletes, redeploys and first deploys
    them. A's next PATCHes see every change: the new version, the draft now deployed,
    the old name gone and the new one found, the deleted action gone."""
    url = fresh_postgres("seen") if backend == "postgres" else ""
    first = InProcessServer(make_settings(tmp_path / "a", "sqlite", database_url=url)).start()
    shared = first.settings.effective_database_url.replace("+psycopg", "")
    second = InProcessServer(make_settings(tmp_path / "b", "sqlite", database_url=shared)).start()
    trigger = "post-login"
    try:
        with first.client() as a, second.client() as b:
            renamed, deleted, redeployed = (deployed_action(b, f"seen-{i}") for i in range(3))
            draft = create_action(b, "seen-draft")
            everything = [by_name(renamed["name"]), by_id(deleted["id"]), by_id(redeployed["id"])]
            assert patch_bindings(a, trigger, everything).status_code == 200
            refused = patch_bindings(a, trigger, [by_id(draft["id"])])
            assert refused.status_code == 400, refused.text

            assert b.patch(
                f"/actions/actions/{renamed['id']}", json={"name": "seen-new"}
            ).is_success
            assert patch_bindings(b, trigger, []).status_code == 200
            assert b.delete(f"/actions/actions/{deleted['id']}").status_code == 204
            code = "exports.onExecutePostLogin = async () => { /* 2 */ };"
            assert b.patch(f"/actions/actions/{redeployed['id']}", json={"code": code}).is_success
            deploy(b, redeployed["id"])
            deploy(b, draft["id"])

            latest = patch_bindings(a, trigger, [by_id(redeployed["id"]), by_id(draft["id"])])
            assert latest.status_code == 200, latest.text
            shown = latest.json()["bindings"]
            assert shown[0]["action"]["current_version"]["number"] == 2
            assert shown[1]["action"]["id"] == draft["id"]
            old_name = patch_bindings(a, trigger, [by_name(renamed["name"])])
            assert old_name.status_code == 404, old_name.text
            new_name = patch_bindings(a, trigger, [by_name("seen-new")])
            assert new_name.status_code == 200, new_name.text
            assert new_name.json()["bindings"][0]["action"]["name"] == "seen-new"
            gone = patch_bindings(a, trigger, [by_id(deleted["id"])])
            assert gone.status_code == 404, gone.text
            listed = b.get(f"/actions/triggers/{trigger}/bindings").json()["bindings"]
            assert [x["id"] for x in listed] == [x["id"] for x in new_name.json()["bindings"]]
    finally:
        second.stop()
        first.stop()

"""The stack's floor: what bare FastAPI + SQLAlchemy Core + SQLite reach on this machine
for the shapes of actionsd's calls, with none of actionsd (no middleware, no auth, no
rendering), each against the same app's trivial endpoint in the same run.

    .venv/bin/python benchmarks/floor.py

Calls, at 16 connections: a sync PATCH with a five-item body answering a constant (the
threadpool hop and body validation alone); the same as ``async def``; a sync PATCH that
writes five rows under a lock the way a bindings PATCH does (UPDATE ... RETURNING, a
SELECT, DELETE, INSERT); and that write on one thread of its own (an ``async def``
route and a limiter of 1). Nothing here is asserted; figures are in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Literal

import anyio
import anyio.to_thread
import httpx
import sqlalchemy as sa
from fastapi import Depends, FastAPI, Request, Response
from pydantic import BaseModel, ConfigDict

ROOT = Path(__file__).resolve().parents[1]
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
ANSWER = b'{"bindings":[]}'


class Ref(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["action_id", "action_name", "binding_id"]
    value: str


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ref: Ref
    display_name: str | None = None


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bindings: list[Item]


async def bearer(request: Request) -> str:
    return request.headers.get("authorization", "")


def make_app() -> FastAPI:
    """The app uvicorn serves (``--factory``); its database file is FLOOR_DB."""
    engine = sa.create_engine(
        f"sqlite:///{os.environ['FLOOR_DB']}",
        connect_args={"check_same_thread": False},
        pool_size=8,
        max_overflow=8,
    )

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi: Any, _record: Any) -> None:
        dbapi.isolation_level = None
        dbapi.execute("PRAGMA journal_mode=WAL")
        dbapi.execute("PRAGMA synchronous=NORMAL")

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.connection.dbapi_connection.execute("BEGIN IMMEDIATE")

    meta = sa.MetaData()
    lists = sa.Table(
        "lists", meta, sa.Column("id", sa.String, primary_key=True), sa.Column("rev", sa.Integer)
    )
    items = sa.Table(
        "items", meta, sa.Column("id", sa.String, primary_key=True), sa.Column("name", sa.String)
    )
    rows = sa.Table(
        "rows",
        meta,
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("list_id", sa.String, index=True),
        sa.Column("position", sa.Integer),
        sa.Column("item_id", sa.String),
        sa.Column("name", sa.String),
    )
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(lists.insert(), [{"id": "post-login", "rev": 0}])
        conn.execute(items.insert(), [{"id": f"a{i}", "name": f"n{i}"} for i in range(20)])
    key = sa.bindparam("key")
    bump = (
        lists.update().where(lists.c.id == key).values(rev=lists.c.rev + 1).returning(lists.c.rev)
    )
    referred = sa.select(items).where(items.c.id.in_(sa.bindparam("ids", expanding=True)))
    clear = rows.delete().where(rows.c.list_id == key)
    lock = threading.Lock()  # SQLite's one writer, queued in the process
    one_thread = anyio.CapacityLimiter(1)

    def write(list_id: str, body: Body) -> None:
        with lock, engine.connect() as conn, conn.begin():
            conn.execute(bump, {"key": list_id}).scalar_one()
            found = {
                r.id: r
                for r in conn.execute(referred, {"ids": [i.ref.value for i in body.bindings]})
            }
            conn.execute(clear, {"key": list_id})
            conn.execute(
                rows.insert(),
                [
                    {
                        "id": str(uuid.uuid4()),
                        "list_id": list_id,
                        "position": n,
                        "item_id": found[i.ref.value].id,
                        "name": i.display_name,
                    }
                    for n, i in enumerate(body.bindings)
                ],
            )

    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.patch("/constant/{list_id}", dependencies=[Depends(bearer)])
    def constant(list_id: str, body: Body) -> Any:  # noqa: ARG001 -- validated, not used
        return Response(ANSWER, media_type="application/json")

    @app.patch("/constant-async/{list_id}", dependencies=[Depends(bearer)])
    async def constant_async(list_id: str, body: Body) -> Any:  # noqa: ARG001 -- as above
        return Response(ANSWER, media_type="application/json")

    @app.patch("/write/{list_id}", dependencies=[Depends(bearer)])
    def write_route(list_id: str, body: Body) -> Any:
        write(list_id, body)
        return Response(ANSWER, media_type="application/json")

    @app.patch("/write-one-thread/{list_id}", dependencies=[Depends(bearer)])
    async def write_one_thread(list_id: str, body: Body) -> Any:
        await anyio.to_thread.run_sync(write, list_id, body, limiter=one_thread)
        return Response(ANSWER, media_type="application/json")

    return app


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from benchmarks.http_api import cpu_seconds, wrk
    from tests.servers import free_port

    port = free_port()
    database = Path(tempfile.mkdtemp(prefix="bench-floor-")) / "floor.db"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "benchmarks.floor:make_app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--loop",
            "asyncio",
        ],
        cwd=ROOT,
        env={**os.environ, "FLOOR_DB": str(database)},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(base + "/healthz")
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        body = json.dumps(
            {
                "bindings": [
                    {"ref": {"type": "action_id", "value": f"a{i}"}, "display_name": f"b{i}"}
                    for i in range(5)
                ]
            }
        )
        patch = {"method": "PATCH", "body": body, "token": "x"}
        calls = [
            ("trivial (/healthz)", "/healthz", {}),
            ("PATCH, constant answer", "/constant/post-login", patch),
            ("PATCH, constant answer, async def", "/constant-async/post-login", patch),
            ("PATCH, five rows written", "/write/post-login", patch),
            ("PATCH, five rows written on one thread", "/write-one-thread/post-login", patch),
        ]
        print("| call | req/s | p50 / p99 ms | x trivial | CPU ms/req |")
        print("|---|---|---|---|---|")
        trivial = 0.0
        for label, path, options in calls:
            wrk(base + path, connections=16, seconds=2, **options)
            before = cpu_seconds(server.pid)
            r = wrk(base + path, connections=16, seconds=SECONDS, **options)
            cpu = (cpu_seconds(server.pid) - before) / (r["rps"] * SECONDS) * 1000
            trivial = trivial or r["rps"]
            print(
                f"| {label} | {r['rps']:,.0f} | {r['p50']:.1f} / {r['p99']:.1f} | {r['rps'] / trivial:.3f} | {cpu:.2f} |"
            )
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()

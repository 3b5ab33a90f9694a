"""Shared fixtures. Every API test runs against a real server over real HTTP, once on
a SQLite file and once on PostgreSQL (``ACTIONSD_TEST_PG_URL``; ``.ci/run`` installs and
starts a server and sets it). Without that variable the PostgreSQL runs are skipped,
unless ``ACTIONSD_REQUIRE_PG=1`` (CI) turns the skip into a failure."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from actionsd.config import Settings
from actionsd.db.schema import (
    action_module_versions,
    action_modules,
    action_versions,
    actions,
    bindings,
    counters,
)
from tests.servers import InProcessServer, free_port, postgres_for_worker, reset_postgres

PG_URL = os.environ.get("ACTIONSD_TEST_PG_URL", "")
REQUIRE_PG = os.environ.get("ACTIONSD_REQUIRE_PG") == "1"
REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"


def pg_url_or_skip() -> str:
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("ACTIONSD_REQUIRE_PG=1 but ACTIONSD_TEST_PG_URL is not set")
        pytest.skip("PostgreSQL tests need ACTIONSD_TEST_PG_URL")
    return PG_URL


def worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def fresh_postgres(purpose: str) -> str:
    """An empty PostgreSQL database for this worker and purpose."""
    url = postgres_for_worker(pg_url_or_skip(), f"{worker_id()}_{purpose}")
    reset_postgres(url)
    return url


def make_settings(tmp: Path, backend: str, **overrides: object) -> Settings:
    database_url = fresh_postgres("api") if backend == "postgres" else ""
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": free_port(),
        "data_dir": tmp,
        "database_url": database_url,
        "tls": False,
        "build_poll_seconds": 0.05,
        # A failed install fails at once; tests of retries ask for them.
        "build_retries": 0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[InProcessServer]:
    settings = make_settings(tmp_path_factory.mktemp(f"server-{request.param}"), request.param)
    srv = InProcessServer(settings).start()
    yield srv
    srv.stop()


@pytest.fixture
def api(server: InProcessServer) -> Iterator[httpx.Client]:
    """A client with every scope, on a server whose actions and bindings are empty."""
    yield from emptied(server)


def emptied(server: InProcessServer) -> Iterator[httpx.Client]:
    """Empty ``server`` of actions, bindings and modules; then a client with every scope."""
    with server.state.write() as conn:
        conn.execute(bindings.delete())
        conn.execute(action_versions.delete())
        conn.execute(actions.delete())
        conn.execute(action_module_versions.delete())
        conn.execute(action_modules.delete())
        # As every write to actions does: a list this server rendered before is stale.
        conn.execute(
            counters.update().where(counters.c.name == "actions").values(value=counters.c.value + 1)
        )
    with server.client() as client:
        yield client


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    server = InProcessServer(
        make_settings(tmp_path_factory.mktemp("fuzz"), "sqlite", runtime_workers=1)
    ).start()
    yield server
    server.stop()

"""Nothing acknowledged is lost across a restart; the schema is the migrations'."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from actionsd.db.engine import create_engine
from actionsd.db.migrate import alembic_config, upgrade
from actionsd.db.schema import metadata
from tests.conftest import fresh_postgres, make_settings
from tests.helpers import by_id, deployed_action, patch_bindings
from tests.servers import InProcessServer


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_restart_keeps_everything(tmp_path: Path, backend: str) -> None:
    settings = make_settings(tmp_path, backend)
    first = InProcessServer(settings).start()
    with first.client() as api:
        a = deployed_action(api, "persisted-a")
        b = deployed_action(api, "persisted-b")
        patch_bindings(api, "post-login", [by_id(b["id"]), by_id(a["id"])])
        before = api.get("/actions/triggers/post-login/bindings").json()
        token = first.token()
    first.stop()

    second = InProcessServer(
        settings.model_copy(update={"database_url": settings.database_url})
    ).start()
    try:
        with second.client() as api:
            api.headers["Authorization"] = f"Bearer {token}"  # keys survive too
            assert api.get("/actions/triggers/post-login/bindings").json() == before
            assert api.get(f"/actions/actions/{a['id']}").json()["deployed_version"]["number"] == 1
    finally:
        second.stop()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_migrations_match_the_table_definitions(tmp_path: Path, backend: str) -> None:
    url = fresh_postgres("schema") if backend == "postgres" else f"sqlite:///{tmp_path / 'm.db'}"
    engine = create_engine(
        make_settings(tmp_path, "sqlite", database_url=url).effective_database_url
    )
    upgrade(engine)
    upgrade(engine)  # idempotent
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []
        if backend == "sqlite":
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        assert sa.inspect(conn).has_table("alembic_version")
    engine.dispose()


@pytest.mark.postgres
def test_the_bindings_function_of_0007_is_dropped_by_0009(tmp_path: Path) -> None:
    """PATCH writes through the service's statements only; a database migrated through
    0007 loses that function at 0009, and gets it back if downgraded."""
    url = fresh_postgres("function")
    engine = create_engine(
        make_settings(tmp_path, "sqlite", database_url=url).effective_database_url
    )
    cfg = alembic_config()
    exists = "SELECT count(*) FROM pg_proc WHERE proname = 'actionsd_replace_bindings'"

    def migrate(step: Any, to: str) -> int:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            step(cfg, to)
            return int(conn.exec_driver_sql(exists).scalar_one())

    try:
        assert migrate(command.upgrade, "0007") == 1
        assert migrate(command.upgrade, "head") == 0
        assert migrate(command.downgrade, "0008") == 1
        assert migrate(command.upgrade, "head") == 0
    finally:
        engine.dispose()

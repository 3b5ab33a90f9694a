"""The official Auth0 Node SDK (``auth0`` v7 on npm, and the legacy 4.x, both
unmodified) against ``actionsd serve`` over HTTPS: ``sdk/node/lifecycle.mjs`` and
``sdk/node/legacy.mjs`` run a lifecycle each and assert every step."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from actionsd.builds.builder import node_executable
from tests.conftest import fresh_postgres
from tests.servers import CliServer
from tests.test_sdk_python import cli_token

pytestmark = pytest.mark.sdk
SDK_DIR = Path(__file__).parent / "sdk" / "node"


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def cli_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CliServer]:
    if not (SDK_DIR / "node_modules" / "auth0").exists():
        pytest.fail("tests/sdk/node has no node_modules: run `make test` (it runs npm ci)")
    url = fresh_postgres("nodesdk") if request.param == "postgres" else ""
    server = CliServer(
        tmp_path_factory.mktemp(f"nodesdk-{request.param}"), database_url=url
    ).start()
    yield server
    server.stop()


def run_script(cli_server: CliServer, script: str) -> str:
    """Run one of sdk/node's scripts against the server; its output, once it passed."""
    env = {**cli_server.client_env(), "ACTIONSD_READ_TOKEN": cli_token(cli_server, "read:actions")}
    result = subprocess.run(
        [node_executable(), script],
        cwd=SDK_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return result.stdout


def test_node_sdk_lifecycle(cli_server: CliServer) -> None:
    assert run_script(cli_server, "lifecycle.mjs").count("ok - ") == 10


def test_legacy_node_sdk_v4(cli_server: CliServer) -> None:
    """auth0 4.x, still in use: bindings through ``actions.updateTriggerBindings``."""
    assert run_script(cli_server, "legacy.mjs").count("ok - ") == 5

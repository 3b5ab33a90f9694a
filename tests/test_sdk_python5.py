"""auth0-python 5.x, unmodified, against ``actionsd serve`` over HTTPS. It cannot share
the suite's interpreter with 6.x (both are the ``auth0`` package), so it runs in its own
virtualenv, which ``make test`` creates (tests/sdk/python5/requirements.txt); the script
``sdk/python5/lifecycle.py`` asserts every step."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import fresh_postgres
from tests.servers import CliServer

pytestmark = pytest.mark.sdk
SDK_DIR = Path(__file__).parent / "sdk" / "python5"
PYTHON = SDK_DIR / ".venv" / "bin" / "python"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def cli_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CliServer]:
    if not PYTHON.exists():
        pytest.fail("tests/sdk/python5 has no .venv: run `make test` (it creates it)")
    url = fresh_postgres("pysdk5") if request.param == "postgres" else ""
    server = CliServer(tmp_path, database_url=url).start()
    yield server
    server.stop()


def test_python_sdk_v5_lifecycle(cli_server: CliServer) -> None:
    result = subprocess.run(
        [str(PYTHON), "lifecycle.py"],
        cwd=SDK_DIR,
        env=cli_server.client_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert result.stdout.count("ok - ") == 6, result.stdout

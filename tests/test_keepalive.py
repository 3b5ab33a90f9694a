"""Idle keep-alive connections stay open: a client that pauses between two calls reuses
its pooled connection (a user's Node SDK script failed its next call with ``fetch
failed`` against uvicorn's default 5 s). The tests set the idle limit so their pauses
stay short; the default is checked on its own."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from actionsd.builds.builder import node_executable
from actionsd.config import Settings
from tests.servers import CliServer

pytestmark = pytest.mark.sdk
SDK_DIR = Path(__file__).parent / "sdk" / "node"


def pause_between_calls(tmp_path: Path, keep_alive_s: int, pause_ms: int) -> str:
    """Run the SDK script against a server with that idle limit; its output and errors."""
    if not (SDK_DIR / "node_modules" / "auth0").exists():
        pytest.fail("tests/sdk/node has no node_modules: run `make test` (it runs npm ci)")
    server = CliServer(tmp_path, env={"ACTIONSD_KEEP_ALIVE_SECONDS": str(keep_alive_s)}).start()
    try:
        result = subprocess.run(
            [node_executable(), "keepalive.mjs"],
            cwd=SDK_DIR,
            env={**server.client_env(), "ACTIONSD_PAUSE_MS": str(pause_ms)},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        server.stop()
    return result.stdout + result.stderr


def test_a_pooled_connection_is_reused_after_a_pause(tmp_path: Path) -> None:
    # Node's fetch keeps an idle connection 4 s on its side: the pause stays below that,
    # above the first test's limit below, within the limit set here.
    output = pause_between_calls(tmp_path, keep_alive_s=4, pause_ms=2500)
    assert "ok - a pooled connection was reused after 2500 ms" in output, output


def test_the_idle_limit_is_the_setting(tmp_path: Path) -> None:
    # The same pause past a 1 s limit: the connection is gone, the call fails or has to
    # open another one.
    output = pause_between_calls(tmp_path, keep_alive_s=1, pause_ms=2500)
    assert "ok - " not in output, output
    assert "fetch failed" in output or "opened a new connection" in output, output


def test_the_default_idle_limit_is_at_least_a_minute() -> None:
    assert Settings().keep_alive_seconds >= 60

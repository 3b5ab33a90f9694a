"""``actionsd trust`` and ``--uninstall`` for real, as root: Debian's system store
(``update-ca-certificates``, then ``openssl verify`` and curl against the system bundle)
and the NSS database a headless Chromium reads, without --ignore-certificate-errors: the
dashboard is refused before ``trust``, loads after it, and is refused again after
``--uninstall``.

The machine's own trust store is never touched: each command runs in a mount namespace
of its own in which copies of /etc/ssl/certs and /usr/local/share/ca-certificates stand
in for them (the copies carry the state from one command to the next), with HOME a
temporary directory. Needs root, unshare, update-ca-certificates, certutil
(libnss3-tools), curl and Debian's chromium; skips without them unless
ACTIONSD_REQUIRE_TRUST=1 (CI)."""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from actionsd.trust import LocalCa
from tests.e2e.test_dashboard import CHROMIUM, CHROMIUM_ARGS
from tests.servers import CliServer

SYSTEM_DIRS = (Path("/etc/ssl/certs"), Path("/usr/local/share/ca-certificates"))
BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# Opens a page in a fresh headless Chromium; prints "loaded STATUS TITLE" or "refused ERROR".
OPEN_PAGE = """
import sys
from playwright.sync_api import Error, sync_playwright
with sync_playwright() as pw:
    browser = pw.chromium.launch(executable_path=sys.argv[1], args=sys.argv[3:])
    page = browser.new_page()
    try:
        response = page.goto(sys.argv[2], timeout=20000)
        print("loaded", response.status if response else None, page.title())
    except Error as exc:
        print("refused", exc.message.splitlines()[0])
    browser.close()
"""


def _missing() -> list[str]:
    missing = [
        t
        for t in ("unshare", "update-ca-certificates", "certutil", "curl", "openssl")
        if shutil.which(t) is None
    ]
    if not Path(CHROMIUM).exists():
        missing.append("chromium")
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        missing.append("root on Linux")
    return missing


@dataclass
class Machine:
    """Commands run against copies of the system's trust store, as root, HOME a temp dir."""

    copies: dict[Path, Path]
    home: Path

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        mounts = " && ".join(
            f"mount --bind {shlex.quote(str(copy))} {shlex.quote(str(real))}"
            for real, copy in self.copies.items()
        )
        env = {**os.environ, "HOME": str(self.home)}
        env.pop("SUDO_USER", None)
        return subprocess.run(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                f'{mounts} && exec "$@"',
                "sh",
                *argv,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def browser(self, url: str) -> str:
        done = self.run(sys.executable, "-c", OPEN_PAGE, CHROMIUM, url, *CHROMIUM_ARGS)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def verifies(self, cert: Path) -> bool:
        done = self.run("openssl", "verify", "-CAfile", str(BUNDLE), str(cert))
        return done.returncode == 0 and done.stdout.strip().endswith(": OK")


@pytest.fixture
def machine(tmp_path: Path) -> Iterator[Machine]:
    missing = _missing()
    if missing:
        reason = "the trust test needs " + ", ".join(missing)
        if os.environ.get("ACTIONSD_REQUIRE_TRUST") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    copies = {}
    for real in SYSTEM_DIRS:
        copy = tmp_path / "system" / real.relative_to("/")
        copy.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-a", str(real), str(copy)], check=True)
        copies[real] = copy
    home = tmp_path / "home"
    home.mkdir()
    before = hashlib.sha256(BUNDLE.read_bytes()).hexdigest()
    yield Machine(copies, home)
    assert hashlib.sha256(BUNDLE.read_bytes()).hexdigest() == before, "the real store changed"


def test_trust_then_uninstall_in_system_store_and_chromium(
    machine: Machine, tmp_path: Path
) -> None:
    server = CliServer(tmp_path / "data").start()
    try:
        dashboard = f"https://{server.domain}/dashboard/"
        ca = LocalCa.load(server.ca_file)
        cert = server.data_dir / "tls" / "server.pem"
        trust = [sys.executable, "-m", "actionsd.cli", "trust", "--data-dir", str(server.data_dir)]
        nssdb = f"sql:{machine.home / '.pki' / 'nssdb'}"

        assert not machine.verifies(cert)
        assert "ERR_CERT_AUTHORITY_INVALID" in machine.browser(dashboard)

        done = machine.run(*trust)
        assert done.returncode == 0, done.stdout + done.stderr
        anchor = machine.copies[SYSTEM_DIRS[1]] / f"actionsd-local-ca-{ca.fingerprint[:16]}.crt"
        assert anchor.read_bytes() == server.ca_file.read_bytes()
        assert machine.verifies(cert)
        curl = machine.run("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", dashboard)
        assert curl.stdout == "200", curl.stderr
        assert machine.run("certutil", "-L", "-d", nssdb, "-n", ca.nickname).returncode == 0
        assert machine.browser(dashboard) == "loaded 200 actionsd"
        # Twice is the same as once.
        assert machine.run(*trust).returncode == 0
        assert machine.browser(dashboard) == "loaded 200 actionsd"

        done = machine.run(*trust, "--uninstall")
        assert done.returncode == 0, done.stdout + done.stderr
        assert not anchor.exists()
        assert not machine.verifies(cert)
        assert machine.run("curl", "-sS", dashboard).returncode != 0
        assert machine.run("certutil", "-L", "-d", nssdb, "-n", ca.nickname).returncode != 0
        assert "ERR_CERT_AUTHORITY_INVALID" in machine.browser(dashboard)
    finally:
        server.stop()

"""Real actionsd servers for the tests: uvicorn on a free loopback port, in a thread of
the test process (``InProcessServer``) or as the ``actionsd serve`` command
(``CliServer``)."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI

from actionsd.api.deps import AppState
from actionsd.app import create_app
from actionsd.auth import tokens
from actionsd.auth.tokens import ALL_SCOPES, EXECUTE_SCOPE
from actionsd.builds.builder import Builder
from actionsd.config import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgres_for_worker(url: str, worker: str) -> str:
    """A database of its own for one pytest-xdist worker (created on first use)."""
    base = sa.make_url(Settings(database_url=url).effective_database_url)
    name = f"{base.database}_{worker}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if exists.first() is None:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def reset_postgres(url: str) -> None:
    """Drop everything in the test database, so migrations run from scratch."""
    engine = sa.create_engine(Settings(database_url=url).effective_database_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


class InProcessServer:
    def __init__(self, settings: Settings, builder: Builder | None = None) -> None:
        self.settings = settings
        self.app: FastAPI = create_app(settings, builder)
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=settings.port, log_level="warning", lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    @property
    def state(self) -> AppState:
        state: AppState = self.app.state.actionsd
        return state

    def start(self) -> InProcessServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)

    def token(self, scopes: list[str] | tuple[str, ...] = ALL_SCOPES, **overrides: Any) -> str:
        return tokens.issue(
            self.state.keys,
            domain=self.settings.domains[0],
            client_id="test-client",
            scopes=list(scopes),
            lifetime_s=overrides.get("lifetime_s", 600),
        )

    def client(
        self, scopes: list[str] | tuple[str, ...] = (*ALL_SCOPES, EXECUTE_SCOPE)
    ) -> httpx.Client:
        return httpx.Client(
            base_url=self.url + "/api/v2",
            headers={"Authorization": f"Bearer {self.token(scopes)}"},
            timeout=30,
        )


class CliServer:
    """``actionsd serve`` in a child process, HTTPS with its own local CA."""

    def __init__(
        self,
        data_dir: Path,
        database_url: str = "",
        extra: list[str] | None = None,
        env: dict[str, str] | None = None,
    ):
        self.env = env or {}
        self.data_dir = data_dir
        self.port = free_port()
        self.database_url = database_url
        self.extra = extra or []
        self.proc: subprocess.Popen[str] | None = None
        self.log = data_dir / "server.log"

    @property
    def domain(self) -> str:
        return f"localhost:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self.data_dir / "tls" / "ca.pem"

    def token(self, scopes: str = "", domain: str = "") -> str:
        """A token from ``actionsd token`` against this server's data directory."""
        argv = [sys.executable, "-m", "actionsd.cli", "token", "--data-dir", str(self.data_dir)]
        if scopes:
            argv += ["--scopes", scopes]
        if domain:
            argv += ["--domain", domain]
        return subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()

    def https_client(self, path: str = "") -> httpx.Client:
        """A client of this server at ``path``, trusting its CA, with an admin token."""
        return httpx.Client(
            base_url=f"https://{self.domain}{path}",
            verify=ssl.create_default_context(cafile=str(self.ca_file)),
            headers={"authorization": f"Bearer {self.token()}"},
            timeout=30,
        )

    def credentials(self) -> dict[str, str]:
        creds: dict[str, str] = json.loads((self.data_dir / "admin-client.json").read_text())
        return creds

    def client_env(self) -> dict[str, str]:
        """The environment of an SDK script run as a user runs one: PATH, the local CA
        trusted, and ``ACTIONSD_DOMAIN``/``_CLIENT_ID``/``_CLIENT_SECRET``."""
        creds = self.credentials()
        return {
            "PATH": os.environ.get("PATH", ""),
            "NODE_EXTRA_CA_CERTS": str(self.ca_file),
            "SSL_CERT_FILE": str(self.ca_file),
            "ACTIONSD_DOMAIN": self.domain,
            "ACTIONSD_CLIENT_ID": creds["client_id"],
            "ACTIONSD_CLIENT_SECRET": creds["client_secret"],
        }

    def start(self) -> CliServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "ACTIONSD_BUILD_POLL_SECONDS": "0.05", **self.env}
        cmd = [
            sys.executable,
            "-m",
            "actionsd.cli",
            "serve",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            *self.extra,
        ]
        if self.database_url:
            cmd += ["--database-url", self.database_url]
        log = self.log.open("w")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True, env=env)
        scheme = "http" if "--no-tls" in self.extra else "https"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"actionsd serve exited:\n{self.log.read_text()}")
            try:
                verify: Any = (
                    ssl.create_default_context(cafile=str(self.ca_file))
                    if scheme == "https"
                    else False
                )
                httpx.get(
                    f"{scheme}://{self.domain}/.well-known/jwks.json", verify=verify, timeout=2
                )
                return self
            except (httpx.HTTPError, OSError):
                time.sleep(0.1)
        raise RuntimeError(f"actionsd serve did not come up:\n{self.log.read_text()}")

    def stop(self, sig: int | None = None) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig if sig is not None else signal.SIGTERM)
            try:
                self.proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                # Clients of the tests may hold keep-alive connections open: SIGINT
                # after a stop signal is uvicorn's "stop now".
                self.proc.send_signal(signal.SIGINT)
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()

"""actionsd inside a test run: a server on a temporary SQLite, over HTTPS with its own
CA, in a thread of the test process. The pytest plugin (``devloop.pytest_plugin``)
hands it to tests as the ``actionsd`` fixture; other test runners can use it as is::

    server = LocalServer.start(Path(tempfile.mkdtemp()))
    ... ManagementClient(domain=server.domain, ...) ...
    server.stop()
"""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import certifi
import uvicorn

from actionsd.devloop import client


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalServer:
    """A running server. ``domain`` is what the Auth0 SDKs take (``localhost:PORT``);
    ``trust_env()`` names the environment variables that make Python's and Node's
    HTTPS clients trust its CA."""

    def __init__(self, data_dir: Path, app: Any, server: uvicorn.Server, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.domain = f"localhost:{port}"
        self.url = f"https://{self.domain}"
        self.ca_file = data_dir / "tls" / "ca.pem"
        creds = json.loads((data_dir / "admin-client.json").read_text())
        self.client_id: str = creds["client_id"]
        self.client_secret: str = creds["client_secret"]
        self._app = app
        self._server = server
        self._thread: threading.Thread | None = None
        # The system's CAs and this server's: other HTTPS calls of the code under
        # test keep working while the variables point here.
        self.ca_bundle = data_dir / "tls" / "ca-bundle.pem"
        self.ca_bundle.write_text(Path(certifi.where()).read_text() + self.ca_file.read_text())
        target = client.Target(
            self.url, client.trusting(self.ca_file), None, self.client_id, self.client_secret
        )
        self.http = client.connect(target)  # every scope, execute:actions too
        self.token: str = self.http.headers["Authorization"].removeprefix("Bearer ")

    @classmethod
    def start(cls, data_dir: Path, **settings: Any) -> LocalServer:
        """Serve from ``data_dir`` (made if missing); ``settings``: more of
        :class:`actionsd.config.Settings`, e.g. ``runtime_workers=1``."""
        from actionsd.app import create_app
        from actionsd.config import Settings
        from actionsd.tls import ensure_local_tls

        port = _free_port()
        values: dict[str, Any] = {
            "build_poll_seconds": 0.05,
            **settings,
            # Never the environment's ACTIONSD_* server: this one is the test's own.
            "host": "127.0.0.1",
            "port": port,
            "data_dir": data_dir,
            "database_url": "",
            "public_url": "",
            "tls": True,
            "tls_cert": None,
            "tls_key": None,
        }
        config = Settings(**values)
        tls = ensure_local_tls(data_dir)
        app = create_app(config)
        uvicorn_config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            ssl_certfile=str(tls.cert),
            ssl_keyfile=str(tls.key),
            log_level="warning",
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(uvicorn_config)
        thread = threading.Thread(target=server.run, name="actionsd", daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("actionsd did not start")
            time.sleep(0.02)
        local = cls(data_dir, app, server, port)
        local._thread = thread
        return local

    def stop(self) -> None:
        self.http.close()
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)

    def trust_env(self) -> dict[str, str]:
        return {
            "SSL_CERT_FILE": str(self.ca_bundle),
            "REQUESTS_CA_BUNDLE": str(self.ca_bundle),
            "NODE_EXTRA_CA_CERTS": str(self.ca_file),
        }

    def fire(
        self,
        trigger: str,
        event: dict[str, Any] | None = None,
        *,
        sample: bool = True,
        action: str | None = None,
    ) -> dict[str, Any]:
        """Run the trigger's flow as ``actionsd fire`` does (``event`` merged over the
        sample event unless ``sample=False``; waits for bound actions' builds) and
        answer the execution: ``outcome``, ``results``, ``execution_id``, ``error``.
        An entity-bound trigger runs ``action`` (name or id), as ``fire --action``."""
        body = event or {}
        if sample:
            from actionsd.triggers import events

            body = events.merge(events.sample(trigger), body)
        return client.fire(self.http, trigger, body, action, lambda *_: None, 120)

    def reset(self) -> None:
        """Back to an empty server: no actions (so no bindings), modules or executions.
        Through the API, so the server's caches move on with it."""
        from actionsd.db.schema import executions

        api = "/api/v2/actions"
        while listed := client.call(self.http, "GET", f"{api}/actions", params={"per_page": 100})[
            "actions"
        ]:
            for action in listed:
                client.call_empty(self.http, "DELETE", f"{api}/actions/{action['id']}?force=true")
        for module in client.call(self.http, "GET", f"{api}/modules").get("modules", []):
            client.call_empty(self.http, "DELETE", f"{api}/modules/{module['id']}")
        with self._app.state.actionsd.engine.begin() as conn:
            conn.execute(executions.delete())

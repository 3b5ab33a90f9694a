"""A small npm registry on 127.0.0.1 for build tests: real npm, pointed at it with
``npm_config_registry``, installs from it over real HTTP. It serves each package's
document and tarball as the registry does; a package can be made to hang (its document
never comes), and a package's manifest can name any dependency, as a published one can.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def tarball(name: str, version: str, dependencies: dict[str, str] | None = None) -> bytes:
    manifest = {"name": name, "version": version, "main": "index.js"}
    if dependencies:
        manifest["dependencies"] = dependencies  # type: ignore[assignment]
    files = {
        "package/package.json": json.dumps(manifest).encode(),
        "package/index.js": f"module.exports = {json.dumps(name)};\n".encode(),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class Registry:
    def __init__(self) -> None:
        self.packages: dict[str, tuple[str, bytes, dict[str, str]]] = {}
        self.hanging: set[str] = set()
        self.released = threading.Event()  # set at the end: hanging requests end too
        self.requests: list[str] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/"

    def publish(self, name: str, version: str, dependencies: dict[str, str] | None = None) -> None:
        self.packages[name] = (version, tarball(name, version, dependencies), dependencies or {})

    def _document(self, name: str) -> dict[str, Any]:
        version, data, dependencies = self.packages[name]
        dist = {
            "tarball": f"{self.url}{name}/-/{name}-{version}.tgz",
            "shasum": hashlib.sha1(data).hexdigest(),
            "integrity": "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode(),
        }
        entry = {"name": name, "version": version, "dependencies": dependencies, "dist": dist}
        return {"name": name, "dist-tags": {"latest": version}, "versions": {version: entry}}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0].strip("/")
                registry.requests.append(path)
                name = path.split("/")[0]
                if name in registry.hanging:
                    registry.released.wait()
                    return
                if name not in registry.packages:
                    self._send(404, b'{"error":"Not found"}')
                elif "/-/" in path:
                    self._send(200, registry.packages[name][1], "application/octet-stream")
                else:
                    self._send(200, json.dumps(registry._document(name)).encode())

            def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@contextmanager
def running_registry() -> Iterator[Registry]:
    registry = Registry()
    thread = threading.Thread(target=registry._httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield registry
    finally:
        registry.released.set()
        registry._httpd.shutdown()
        registry._httpd.server_close()

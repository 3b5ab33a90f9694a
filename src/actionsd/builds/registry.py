"""Which dependencies a build may install: packages of the npm registry, nothing else.

Auth0 installs public npm packages only. npm itself takes much more as a "version": a
path (``file:../..``, ``./x``), a link, a git or GitHub source, a tarball URL, an alias
(``npm:other@1``), a workspace. Each of those reads from the server's disk or fetches
from anywhere, so a dependency is accepted only as a valid package name and a semver
version, a semver range or a dist-tag. The API refuses anything else (actions/models.py)
and the builder checks again before it installs (a row may predate this rule).

Semver ranges are parsed by ``node-semver``, a port of the library npm itself uses.
"""

from __future__ import annotations

import re

import nodesemver

MAX_NAME_CHARS = 214  # npm's own limit
# One name part as npm allows it for packages old and new: URL-safe characters, not
# starting with "." or "_".
_PART = r"[A-Za-z0-9~-][A-Za-z0-9._~-]*"
_NAME = re.compile(rf"^(?:@{_PART}/)?{_PART}$")
_BLOCKED_NAMES = {"node_modules", "favicon.ico"}
# A dist-tag ("latest", "next", "beta"): npm reads a spec that is neither a version nor
# a range as a tag. Stricter than npm: a letter first, then letters, digits, ".", "_", "-".
_TAG = re.compile(r"^[A-Za-z][A-Za-z0-9._-]*$")
# npm reads a spec ending like this as a tarball on disk, whatever comes before.
_TARBALL = re.compile(r"\.(?:tgz|tar|tar\.gz)$", re.IGNORECASE)
# No registry version or range holds one of these; every path, URL, git source, alias
# and workspace spec does.
_NOT_IN_A_VERSION = frozenset(':/\\@#"')
QUOTE_LIMIT = 64


def _quoted(value: str) -> str:
    text = value if len(value) <= QUOTE_LIMIT else value[:QUOTE_LIMIT] + "…"
    return f'"{text}"'


def name_problem(name: str) -> str | None:
    """Why ``name`` is not an npm package name, or None when it is one."""
    if len(name) > MAX_NAME_CHARS or name.lower() in _BLOCKED_NAMES or not _NAME.match(name):
        return f"{_quoted(name)} is not a valid npm package name"
    return None


def version_problem(spec: str) -> str | None:
    """Why ``spec`` is not a registry version, range or dist-tag, or None when it is."""
    if spec.isascii() and spec.isprintable() and not _NOT_IN_A_VERSION & set(spec):
        if nodesemver.valid_range(spec, loose=False) is not None:
            return None
        if _TAG.match(spec) and not _TARBALL.search(spec):
            return None
    return (
        f"Only npm registry packages are supported: {_quoted(spec)} is not a version, "
        "range or dist-tag"
    )


def dependency_problem(name: str, version: str) -> str | None:
    return name_problem(name) or version_problem(version)

"""Rendered responses kept per process, each under the database version it was read at.

A hit is served only if the version read now (one raw query, see ``db.fastread``) equals
the one stored, so no process serves a list older than a write acknowledged by any
process. Entries are JSON bytes already validated against the response model."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from actionsd import errors

V = TypeVar("V")

MAX_ENTRIES = 4096


@dataclass(frozen=True)
class Entry:
    version: Any
    body: bytes


class ResponseCache:
    def __init__(self) -> None:
        self._entries: dict[Any, Entry] = {}
        self._lock = threading.Lock()

    def get(self, key: Any, version: Any) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None or entry.version != version:
            return None
        return entry.body

    def put(self, key: Any, version: Any, body: bytes) -> None:
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = Entry(version, body)

    async def serve(
        self, key: Any, current: Awaitable[V], render: Callable[[], tuple[bytes, V]]
    ) -> tuple[bytes, V]:
        """The body for ``key``: the stored one if ``current`` (the database version
        read now, on the event loop) still matches, else ``render()``'s (on the
        threadpool; it reads the version in its own snapshot), stored for next time."""
        try:
            version = await current
        except Exception as exc:  # the database is down or restarting
            raise errors.ServiceUnavailable("The database is unavailable; try again.") from exc
        cached = self.get(key, version)
        if cached is not None:
            return cached, version
        body, version = await run_in_threadpool(render)
        self.put(key, version, body)
        return body, version

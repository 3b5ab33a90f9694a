"""Rendered responses kept per process, each under the database version it was read at.

A hit is served only if the version read now (one query) equals the one stored, so no
process serves a list older than a write acknowledged by any process. Entries are JSON
bytes already validated against the response model."""

from __future__ import annotations

import asyncio
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
        # Renderings under way, by (key, version), on the event loop.
        self._rendering: dict[Any, asyncio.Future[Any]] = {}
        self.renders = 0  # completed (for tests)

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
        committed now) still matches, else ``render()``'s (on the threadpool; it reads
        the version in its own snapshot), stored for next time.

        Requests that miss at the same version share one rendering: after a write,
        the first request of a burst renders and the rest wait for it (each rendering
        them all at once kept every connection waiting for up to a second)."""
        try:
            version = await current
        except Exception as exc:  # the database is down or restarting
            raise errors.ServiceUnavailable("The database is unavailable; try again.") from exc
        cached = self.get(key, version)
        if cached is not None:
            return cached, version
        flight = (key, version)
        rendering = self._rendering.get(flight)
        if rendering is None:
            # A task of its own: a request that goes away does not fail the others.
            rendering = asyncio.ensure_future(self._render(key, render))
            self._rendering[flight] = rendering
            rendering.add_done_callback(lambda done: self._landed(flight, done))
        return await asyncio.shield(rendering)

    async def _render(self, key: Any, render: Callable[[], tuple[bytes, V]]) -> tuple[bytes, V]:
        body, version = await run_in_threadpool(render)
        self.put(key, version, body)
        self.renders += 1
        return body, version

    def _landed(self, flight: Any, done: asyncio.Future[Any]) -> None:
        self._rendering.pop(flight, None)
        if not done.cancelled():
            done.exception()  # retrieved, even if every request waiting went away

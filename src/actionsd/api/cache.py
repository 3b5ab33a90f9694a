"""Rendered responses kept per process, each under the database version it was read at.

A hit is served only if the version read now (one raw query, see ``db.fastread``) equals
the one stored, so no process serves a list older than a write acknowledged by any
process. Entries are JSON bytes already validated against the response model."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

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

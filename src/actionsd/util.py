"""Small helpers shared by the domain packages: ids, timestamps, list envelopes."""

from __future__ import annotations

import functools
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

_clock_lock = threading.Lock()
_last_ns = 0


def now_ns() -> int:
    """Wall-clock nanoseconds, strictly increasing within this process, so that rows
    created in one request sort in the order they were written."""
    global _last_ns
    with _clock_lock:
        value = max(time.time_ns(), _last_ns + 1)
        _last_ns = value
        return value


def fmt_ts(ns: int | None) -> str | None:
    """RFC 3339 UTC with nanoseconds, as Auth0's Actions service prints times."""
    if ns is None:
        return None
    return _fmt_ns(ns)


# Stored timestamps repeat in every rendering of the rows that hold them; formatting
# them was the largest single cost of rendering a bindings list.
@functools.lru_cache(maxsize=65536)
def _fmt_ns(ns: int) -> str:
    seconds, frac = divmod(ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{frac:09d}Z"


def fmt_ts_us(ns: int | None) -> str | None:
    """RFC 3339 UTC with microseconds, as Auth0's Modules service prints times."""
    if ns is None:
        return None
    seconds, frac = divmod(ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{frac // 1000:06d}Z"


def new_id() -> str:
    return str(uuid.uuid4())


def envelope(key: str, items: list[Any], *, total: int, page: int, per_page: int) -> dict[str, Any]:
    """A list response with the Actions service's zero-omission rule (contract §1.3):
    ``total`` appears only when the page holds at least one item, ``page`` only when it
    is not 0, ``per_page`` always. Go SDK v1 and Terraform page while ``total`` is set,
    so an out-of-range page must not carry it."""
    body: dict[str, Any] = {key: items}
    if items:
        body["total"] = total
    if page:
        body["page"] = page
    body["per_page"] = per_page
    return body

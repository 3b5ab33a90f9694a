"""JSON text on the hot paths (the worker's pipe, responses, JSON columns), with orjson:
a login encodes and decodes JSON several times, and the standard library's encoder cost
more than a trivial action's own work (docs/benchmarks.md)."""

from __future__ import annotations

import json
import math
from typing import Any

import orjson


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON; NaN and infinities, which JSON has no words for, as null.
    orjson refuses integers beyond 64 bits and half of a UTF-16 pair, which a caller's
    JSON may hold: those values take the standard library, which keeps every digit and
    escapes what UTF-8 cannot hold."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(_finite(value), separators=(",", ":")).encode()


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def dumps_text(value: Any) -> str:
    return dumps(value).decode()


def loads(text: bytes | str) -> Any:
    """For text this server or its worker wrote (never a caller's body: orjson reads an
    integer beyond 64 bits as a float)."""
    return orjson.loads(text)

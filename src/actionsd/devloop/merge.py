"""Build the event a command sends: the sample, a file merged over it, then ``--set``.

Merging is the flow defaults' rule (``triggers.events.merge``): objects merge key by
key, recursively; anything else (arrays, strings, numbers, ``null``) replaces.
``--set PATH=VALUE`` sets one value: PATH is dot-separated keys (a number indexes an
existing array; missing objects on the way are created), VALUE is read as JSON when it
parses as JSON, else taken as the string it is (so ``=5`` is a number, ``=true`` a
boolean, ``=pro`` and ``='"5"'`` strings)."""

from __future__ import annotations

import json
from typing import Any

from actionsd.triggers.events import merge


class EventError(ValueError):
    """An --event or --set that cannot be applied."""


def parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def apply_set(event: dict[str, Any], assignment: str) -> dict[str, Any]:
    path, sep, raw = assignment.partition("=")
    keys = path.split(".")
    if not sep or not all(keys):
        raise EventError(f"--set takes PATH=VALUE (e.g. user.email=a@example.com): {assignment!r}")
    value = parse_value(raw)
    root: dict[str, Any] = json.loads(json.dumps(event))  # a copy to change
    node: Any = root
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        where = ".".join(keys[: depth + 1])
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise EventError(f"--set {path}: {where} is not an element of the array")
            index = int(key)
            if last:
                node[index] = value
            else:
                node = node[index]
        elif isinstance(node, dict):
            if last:
                node[key] = value
            else:
                if node.get(key) is None:
                    node[key] = {}
                node = node[key]
        else:
            raise EventError(f"--set {path}: {'.'.join(keys[:depth])} is not an object")
    return root


def build_event(
    sample: dict[str, Any], given: dict[str, Any] | None, assignments: list[str]
) -> dict[str, Any]:
    event: dict[str, Any] = merge(sample, given) if given is not None else sample
    for assignment in assignments:
        event = apply_set(event, assignment)
    return event

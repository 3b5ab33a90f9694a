"""Executions as people read them, for ``actionsd fire``, ``test`` and ``logs``: each
action in binding order with its console output, commands and duration, then the
combined outcome. Exit statuses follow the same reading (``status_of``)."""

from __future__ import annotations

import json
from typing import Any

COMPLETED, FAILED, DENIED = 0, 1, 3


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def command(cmd: dict[str, Any]) -> str:
    args = ", ".join(_json(a) for a in cmd.get("args") or [])
    return f"api.{cmd.get('name', '?')}({args})"


def _duration(result: dict[str, Any]) -> str:
    ms = ((result.get("response") or {}).get("stats") or {}).get("action_duration_ms")
    return f"{ms:.1f} ms" if isinstance(ms, int | float) else ""


def _error_text(error: dict[str, Any]) -> str:
    name = error.get("name") or error.get("id") or "Error"
    message = error.get("message") or error.get("msg") or ""
    return f"{name}: {message}" if message else str(name)


def action_lines(index: int, result: dict[str, Any]) -> list[str]:
    response = result.get("response") or {}
    error = result.get("error")
    head = f"{index}. {result.get('action_name') or '(unnamed)'}"
    lines = [f"{head}  {'FAILED' if error else 'ok'}  {_duration(result)}".rstrip()]
    for line in (response.get("logs") or "").rstrip("\n").splitlines():
        lines.append(f"   console | {line}")
    for cmd in response.get("commands") or []:
        lines.append(f"   command | {command(cmd)}")
    if error:
        lines.append(f"   error   | {_error_text(response.get('error') or error)}")
    return lines


def status_of(execution: dict[str, Any]) -> int:
    """0 completed, 1 an action failed, 3 access denied."""
    if execution.get("error") or any(r.get("error") for r in execution.get("results") or []):
        return FAILED
    if (execution.get("outcome") or {}).get("denied"):
        return DENIED
    return COMPLETED


def outcome_lines(execution: dict[str, Any]) -> list[str]:
    outcome = execution.get("outcome") or {}
    status = status_of(execution)
    if status == FAILED:
        failed = next((r for r in execution.get("results") or [] if r.get("error")), None)
        name = failed.get("action_name") if failed else None
        verdict = f"failed in {name}" if name else "failed"
    elif status == DENIED:
        verdict = f"access denied: {_json(outcome['denied'])}"
    elif execution.get("status") == "suspended":
        url = (outcome.get("redirect") or {}).get("url", "")
        verdict = f"suspended: redirecting to {url}"
    else:
        verdict = "completed"
    lines = [f"outcome: {verdict}"]
    lines += [f"   {key}: {_json(value)}" for key, value in outcome.items() if key != "denied"]
    return lines


def execution_text(execution: dict[str, Any], header: str) -> str:
    """``execution``: the execute endpoint's answer or a stored/streamed execution."""
    results = execution.get("results") or []
    lines = [header]
    for i, result in enumerate(results, 1):
        lines += action_lines(i, result)
    if not results:
        lines.append("(no actions bound)")
    lines += outcome_lines(execution)
    return "\n".join(lines)


def test_text(action_name: str, payload: dict[str, Any]) -> str:
    """The Test tab's answer (``POST /actions/{id}/test``'s payload)."""
    result = {
        "action_name": action_name,
        "error": payload.get("error"),
        "response": {
            "logs": payload.get("logs"),
            "commands": payload.get("commands"),
            "stats": payload.get("stats"),
            "error": payload.get("error"),
        },
    }
    lines = ["test of the draft", *action_lines(1, result)]
    lines += outcome_lines({"results": [result], "outcome": payload.get("outcome")})
    return "\n".join(lines)

"""docs/compatibility.md's table of `api` methods per trigger is generated from the runtime
itself (triggers.cjs, evaluated by a real JavaScript engine), so it cannot drift.

Run with ACTIONSD_WRITE_DOCS=1 to rewrite the table after a change to the runtime.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from actionsd.runtime.pool import deno_executable
from tests.runtime_helpers import VERSIONS

ROOT = Path(__file__).resolve().parents[1]
TRIGGERS_CJS = ROOT / "src" / "actionsd" / "runtime" / "triggers.cjs"
DOC = ROOT / "docs" / "compatibility.md"
START, END = "<!-- api-methods:start -->", "<!-- api-methods:end -->"
ENTITY_BOUND = ("custom-token-exchange", "event-stream", "password-hash-migration", "mcp-tool")
# Methods in Auth0's type definitions (auth0/auth0-actions, src/<trigger>/<version>/index.d.ts).
AUTH0_COUNTS = {
    "post-login": 72,
    "credentials-exchange": 9,
    "pre-user-registration": 8,
    "post-user-registration": 3,
    "post-change-password": 3,
    "send-phone-message": 3,
    "password-reset-post-challenge": 11,
    "custom-email-provider": 5,
    "custom-phone-provider": 5,
    "custom-token-exchange": 12,
    "event-stream": 3,
}


def runtime_methods() -> dict[str, list[str]]:
    script = (
        f"const t = require({json.dumps(str(TRIGGERS_CJS))});"
        "console.log(JSON.stringify(Object.fromEntries(t.TRIGGERS.map((x) => [x, t.methods(x)]))));"
    )
    node = shutil.which("node")
    command = [node, "-e", script] if node else [deno_executable(), "eval", script]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60).stdout
    methods: dict[str, list[str]] = json.loads(out)
    return methods


def table(methods: dict[str, list[str]]) -> str:
    versions = {**VERSIONS, **dict.fromkeys(ENTITY_BOUND, "v1")}
    lines = [
        "| trigger | Auth0's definition | actionsd | methods |",
        "|---|---|---|---|",
    ]
    for trigger, names in methods.items():
        auth0 = AUTH0_COUNTS.get(trigger)
        reference = f"{auth0}" if auth0 is not None else "none published"
        listed = ", ".join(f"`{n}`" for n in names)
        lines.append(f"| {trigger} {versions[trigger]} | {reference} | {len(names)} | {listed} |")
    return "\n".join(lines)


def test_coverage_table_matches_the_runtime() -> None:
    methods = runtime_methods()
    for trigger, count in AUTH0_COUNTS.items():
        assert len(methods[trigger]) == count, (trigger, methods[trigger])
    text = DOC.read_text()
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    wanted = f"{before}{START}\n{table(methods)}\n{END}{after}"
    if os.environ.get("ACTIONSD_WRITE_DOCS") == "1":
        DOC.write_text(wanted)
        return
    assert text == wanted, "docs/compatibility.md is stale: run with ACTIONSD_WRITE_DOCS=1"

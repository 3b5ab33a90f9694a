"""The runtime: fires a trigger, running the deployed versions of its bound actions in
binding order in a warm worker, and keeps the execution record.

:class:`Runtime` is also the Python API for identity servers that embed actionsd::

    runtime = Runtime.open(settings)
    result = runtime.fire("post-login", {"user": {...}, "request": {...}})
    if result.outcome.get("denied"): ...
    if result.status == "suspended":  # api.redirect.sendUserTo
        result = runtime.resume(result.execution_id, {"query": {"state": "..."}})
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from actionsd import errors
from actionsd.actions.service import load_action
from actionsd.bindings.service import current_version, current_version_now
from actionsd.builds.npm import deps_key
from actionsd.config import Settings
from actionsd.db.engine import transaction
from actionsd.db.schema import action_module_versions, action_versions, actions, bindings
from actionsd.runtime.executions import ExecutionStore
from actionsd.runtime.pool import PoolBusy, Sandbox, WorkerFailure, WorkerPool, worker_cores
from actionsd.triggers import catalog
from actionsd.triggers.events import answered_prompt, copied, with_defaults
from actionsd.util import now_ns

RUNNABLE = (
    "post-login",
    "credentials-exchange",
    "pre-user-registration",
    "post-user-registration",
    "post-change-password",
    "send-phone-message",
    "password-reset-post-challenge",
    "custom-email-provider",
    "custom-phone-provider",
)
RESUMABLE = ("post-login", "password-reset-post-challenge")
# Entity-bound triggers have no trigger bindings: an entity (a token exchange profile, an
# event stream, ...) names one action, so firing one names that action.
ENTITY_BOUND = tuple(
    t for t in catalog.TRIGGER_IDS if catalog.binding_policy(t) == catalog.ENTITY_BOUND
)
TESTABLE = (*RUNNABLE, *ENTITY_BOUND)
BUSY = "Too many executions are waiting for the action runtime; try again shortly."


@dataclass
class FlowResult:
    execution_id: str
    trigger_id: str
    status: str  # final | suspended
    outcome: dict[str, Any]
    results: list[dict[str, Any]]
    error: dict[str, Any] | None = None
    event: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        body = {
            "execution_id": self.execution_id,
            "trigger_id": self.trigger_id,
            "status": self.status,
            "outcome": self.outcome,
            "results": self.results,
        }
        if self.error is not None:
            body["error"] = self.error
        return body


@dataclass(frozen=True)
class _Flow:
    revision: tuple[int, int]
    actions: list[dict[str, Any]]
    code: dict[str, str]
    failures: dict[str, str]  # version id -> why it cannot run
    modules: list[dict[str, Any]]  # the module versions the actions pin


def _secret_map(items: list[dict[str, Any]]) -> dict[str, str]:
    return {s["name"]: s.get("value", "") for s in items}


def _module_refs(refs: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """``require('actions:<name>')`` lookups: module name -> pinned version."""
    return {
        r["module_name"]: {"version_id": r["module_version_id"], "name": r["module_name"]}
        for r in refs
    }


class Runtime:
    def __init__(self, engine: Engine, settings: Settings, builds_dir: Path) -> None:
        self.engine = engine
        self.settings = settings
        self.builds_dir = builds_dir
        sandbox = Sandbox(
            readable=(builds_dir,),
            network=settings.runtime_network,
            memory_mb=settings.runtime_memory_mb,
            rss_mb=settings.runtime_rss_mb,
            max_realms=settings.runtime_realms,
            deno_dir=settings.data_dir / "deno",
            server_ports=(settings.port,),
        )
        self.pool = WorkerPool(
            sandbox,
            settings.runtime_workers,
            queue_limit=settings.runtime_queue_limit,
            wait_seconds=settings.execution_timeout_seconds,
            cores=worker_cores() if settings.runtime_cpu_pinning else (),
        )
        self.store = ExecutionStore(engine, settings.execution_retention_days)
        self._flows: dict[str, _Flow] = {}
        self._lock = threading.Lock()
        # api.cache: best effort, as Auth0 documents it; per action, in this process.
        self._cache: dict[str, dict[str, dict[str, Any]]] = {}

    @classmethod
    def open(cls, settings: Settings) -> Runtime:
        """A runtime for in-process use, on the database ``settings`` names."""
        from actionsd.app import bootstrap

        state, _ = bootstrap(settings)
        return cls(state.engine, settings, settings.data_dir / "builds")

    def close(self) -> None:
        self.store.close()
        self.pool.close()

    # ---- flows -------------------------------------------------------------------------

    def _deps_dir(self, dependencies: list[dict[str, Any]]) -> str | None:
        key = deps_key(dependencies)
        return None if key is None else str(self.builds_dir / key)

    def _flow(self, trigger_id: str) -> _Flow:
        """The trigger's runnable flow, re-read only when its revision moved (every
        PATCH of its bindings and every deploy of a bound action moves it)."""
        return self._cached_flow(trigger_id, current_version(self.engine, trigger_id))

    def _cached(self, trigger_id: str, revision: tuple[int, int]) -> _Flow | None:
        cached = self._flows.get(trigger_id)
        return cached if cached is not None and cached.revision == revision else None

    def _cached_flow(self, trigger_id: str, revision: tuple[int, int]) -> _Flow:
        cached = self._cached(trigger_id, revision)
        if cached is not None:
            return cached
        with transaction(self.engine, write=False) as conn:
            return self._load_flow(conn, trigger_id, revision)

    _DEPLOYED = (
        actions.c.id.label("action_id"),
        actions.c.name.label("action_name"),
        action_versions.c.id.label("version_id"),
        action_versions.c.code,
        action_versions.c.dependencies,
        action_versions.c.secrets,
        action_versions.c.status,
        action_versions.c.modules,
    )

    def _load_flow(self, conn: Connection, trigger_id: str, revision: tuple[int, int]) -> _Flow:
        rows = conn.execute(
            sa.select(
                bindings.c.id.label("binding_id"),
                bindings.c.secrets.label("binding_secrets"),
                *self._DEPLOYED,
            )
            .join(actions, actions.c.id == bindings.c.action_id)
            .join(action_versions, action_versions.c.id == actions.c.deployed_version_id)
            .where(bindings.c.trigger_id == trigger_id)
            .order_by(bindings.c.position)
        )
        flow = self._flow_of(conn, list(rows), revision)
        with self._lock:
            self._flows[trigger_id] = flow
        return flow

    def _action_flow(self, trigger_id: str, action_id: str) -> _Flow:
        """An entity-bound trigger's flow: the named action's deployed version alone.
        Read each time, since no revision covers it."""
        with transaction(self.engine, write=False) as conn:
            action = load_action(conn, action_id)
            if action.trigger_id != trigger_id:
                raise errors.BusinessRule(
                    f"The action '{action_id}' is not an action of the trigger '{trigger_id}'."
                )
            row = conn.execute(
                sa.select(
                    sa.null().label("binding_id"),
                    sa.null().label("binding_secrets"),
                    *self._DEPLOYED,
                )
                .join(action_versions, action_versions.c.id == actions.c.deployed_version_id)
                .where(actions.c.id == action_id)
            ).first()
            if row is None:
                raise errors.BusinessRule(f"The action '{action_id}' has no deployed version.")
            return self._flow_of(conn, [row], (0, 0))

    def _flow_of(self, conn: Connection, rows: list[Any], revision: tuple[int, int]) -> _Flow:
        specs, code, failures, pinned = [], {}, {}, []
        for r in rows:
            specs.append(
                {
                    "binding_id": r.binding_id,
                    "action_id": r.action_id,
                    "action_name": r.action_name,
                    "version_id": r.version_id,
                    "deps_dir": self._deps_dir(r.dependencies),
                    "secrets": {**_secret_map(r.secrets), **_secret_map(r.binding_secrets or [])},
                    "modules": _module_refs(r.modules),
                }
            )
            pinned.extend(r.modules)
            code[r.version_id] = r.code
            if r.status != "built":
                failures[r.version_id] = (
                    "The deployed version failed to build"
                    if r.status == "failed"
                    else "The deployed version is still being built"
                )
        return _Flow(revision, specs, code, failures, self._modules(conn, pinned))

    def _modules(self, conn: Connection, refs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The code, secrets and dependency folder of each pinned module version."""
        ids = {r["module_version_id"] for r in refs}
        if not ids:
            return []
        rows = conn.execute(
            sa.select(action_module_versions).where(action_module_versions.c.id.in_(ids))
        )
        return [
            {
                "version_id": v.id,
                "code": v.code,
                "secrets": _secret_map(v.secrets),
                "deps_dir": self._deps_dir(v.dependencies),
            }
            for v in rows
        ]

    def fire(
        self, trigger_id: str, event: dict[str, Any], action_id: str | None = None
    ) -> FlowResult:
        """Run the trigger's flow for ``event``; the result combines every action's
        commands. An entity-bound trigger (custom-token-exchange, event-stream, ...) runs
        the deployed version of ``action_id``, as its entity would. Raises BusinessRule
        for a trigger the runtime does not run or a missing/extra ``action_id``, and
        InvalidBody for an event nested deeper than events.MAX_NESTING."""
        run = self._fresh_run(trigger_id, event, self._flow_for(trigger_id, action_id))
        return run if isinstance(run, FlowResult) else self._run(**run)

    async def afire(
        self, trigger_id: str, event: dict[str, Any], action_id: str | None = None
    ) -> FlowResult:
        """:meth:`fire` from the event loop. A trigger's flow: its revision check is one
        small read awaited on the loop (db.engine.committed_now), and the flow is
        re-read in a thread only when its revision moved. The worker's pipes are awaited
        on the loop."""
        if action_id is not None:
            flow = await asyncio.to_thread(self._flow_for, trigger_id, action_id)
        else:
            self._check_runnable(trigger_id, None)
            revision = await current_version_now(self.engine, trigger_id)
            cached = self._cached(trigger_id, revision)
            if cached is None:
                cached = await asyncio.to_thread(self._cached_flow, trigger_id, revision)
            flow = cached
        run = self._fresh_run(trigger_id, event, flow)
        return run if isinstance(run, FlowResult) else await self._arun(**run)

    def _flow_for(self, trigger_id: str, action_id: str | None) -> _Flow:
        self._check_runnable(trigger_id, action_id)
        if action_id is not None:
            return self._action_flow(trigger_id, action_id)
        return self._flow(trigger_id)

    @staticmethod
    def _check_runnable(trigger_id: str, action_id: str | None) -> None:
        if trigger_id in ENTITY_BOUND:
            if action_id is None:
                raise errors.BusinessRule(
                    f"The trigger '{trigger_id}' is entity-bound and has no bindings: "
                    "name the deployed action to run (action_id)."
                )
        elif trigger_id not in RUNNABLE:
            raise errors.BusinessRule(f"The trigger '{trigger_id}' cannot be fired here.")
        elif action_id is not None:
            raise errors.BusinessRule(
                f"The trigger '{trigger_id}' runs its bound actions; action_id is only "
                "for entity-bound triggers."
            )

    def _fresh_run(
        self, trigger_id: str, event: dict[str, Any], flow: _Flow
    ) -> dict[str, Any] | FlowResult:
        """The arguments of ``_run`` for a new execution, or its result when there is
        nothing to send to a worker: no action bound, or a bound version that cannot run."""
        filled = with_defaults(trigger_id, event)  # first: it refuses an event nested too deep
        blocked = [a for a in flow.actions if a["version_id"] in flow.failures]
        if blocked:
            first = blocked[0]
            message = flow.failures[first["version_id"]]
            return self._finish_error(trigger_id, event, first, message)
        run: dict[str, Any] = {
            "execution_id": secrets.token_urlsafe(24),
            "trigger_id": trigger_id,
            "event": filled,
            "actions": flow.actions,
            "code": flow.code,
            "start": 0,
            "created_at": now_ns(),
            "previous": [],
            "outcome": {},
            "modules": flow.modules,
        }
        if not flow.actions:
            # What a worker answers for an empty flow, without waiting for one: a trigger
            # with nothing bound is fired on every login all the same (docs/runtime.md).
            return self._finish({"ok": True, "results": [], "outcome": {}}, **run)
        return run

    def resume(self, execution_id: str, params: dict[str, Any]) -> FlowResult:
        """Continue a flow suspended by a redirect or a rendered prompt: the suspending
        action's ``onContinue…`` handler runs with ``params`` (query/body) in
        ``event.request``, then the actions after it. After a prompt, ``event.prompt``
        carries its id and vars and the posted ``body`` as its fields."""
        params = {k: copied(v, k) for k, v in params.items()}  # refuses what nests too deep
        row = self.store.load(execution_id)
        if row is None:
            raise errors.NotFound(errors.EXECUTION_NOT_FOUND)
        if row["status"] != "suspended" or not row.get("state"):
            raise errors.Conflict("That execution is not waiting to be continued.")
        state = row["state"]
        event = state["event"]
        if state.get("prompt"):
            event = {**event, "prompt": answered_prompt(state["prompt"], params.get("body"))}
        code = self._code_for(state["actions"])
        with transaction(self.engine, write=False) as conn:
            pinned = [
                {"module_version_id": ref["version_id"]}
                for a in state["actions"]
                for ref in (a.get("modules") or {}).values()
            ]
            modules = self._modules(conn, pinned)
        return self._run(
            execution_id=execution_id,
            trigger_id=row["trigger_id"],
            event=event,
            actions=state["actions"],
            code=code,
            start=state["index"],
            created_at=row["created_at"],
            previous=row["results"],
            outcome=state["outcome"],
            resume={k: v for k, v in params.items() if k in ("query", "body")},
            modules=modules,
        )

    def _code_for(self, specs: list[dict[str, Any]]) -> dict[str, str]:
        ids = [s["version_id"] for s in specs]
        with transaction(self.engine, write=False) as conn:
            rows = conn.execute(
                sa.select(action_versions.c.id, action_versions.c.code).where(
                    action_versions.c.id.in_(ids)
                )
            )
            return {r.id: r.code for r in rows}

    def _run(self, **run: Any) -> FlowResult:
        message, culprit = self._message(**run)
        try:
            reply = self.pool.run(message, self.settings.execution_timeout_seconds, run["code"])
        except (PoolBusy, WorkerFailure) as failure:
            return self._failed(failure, culprit, **run)
        return self._finish(reply, **run)

    async def _arun(self, **run: Any) -> FlowResult:
        message, culprit = self._message(**run)
        try:
            reply = await self.pool.arun(
                message, self.settings.execution_timeout_seconds, run["code"]
            )
        except (PoolBusy, WorkerFailure) as failure:
            return self._failed(failure, culprit, **run)
        if reply.get("suspended_at") is not None:  # its record is written before answering
            return await asyncio.to_thread(lambda: self._finish(reply, **run))
        return self._finish(reply, **run)

    def _message(
        self,
        *,
        trigger_id: str,
        event: dict[str, Any],
        actions: list[dict[str, Any]],
        start: int,
        outcome: dict[str, Any],
        resume: dict[str, Any] | None = None,
        modules: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The worker's request for a flow, and the action blamed if it gets no answer."""
        timeout = self.settings.execution_timeout_seconds
        message: dict[str, Any] = {
            "type": "flow",
            "trigger": trigger_id,
            "event": event,
            "actions": actions,
            "start": start,
            "outcome": outcome,
            "cache": {a["action_id"]: self._cache.get(a["action_id"], {}) for a in actions},
            "deadline_ms": int(timeout * 1000),
            "modules": modules or [],
        }
        if resume is not None:
            message["resume"] = resume
        culprit = (
            actions[start] if len(actions) > start else {"action_name": "", "binding_id": None}
        )
        return message, culprit

    def _failed(
        self,
        failure: PoolBusy | WorkerFailure,
        culprit: dict[str, Any],
        *,
        execution_id: str,
        trigger_id: str,
        event: dict[str, Any],
        created_at: int,
        **_: Any,
    ) -> FlowResult:
        if isinstance(failure, PoolBusy):
            self._finish_error(trigger_id, event, culprit, BUSY, execution_id, created_at)
            raise errors.ServiceUnavailable(BUSY) from None
        return self._finish_error(
            trigger_id, event, culprit, failure.message, execution_id, created_at
        )

    def _finish(
        self,
        reply: dict[str, Any],
        *,
        execution_id: str,
        trigger_id: str,
        event: dict[str, Any],
        actions: list[dict[str, Any]],
        start: int,
        created_at: int,
        previous: list[dict[str, Any]],
        **_: Any,
    ) -> FlowResult:
        """The execution's record and result from the worker's reply."""
        culprit = (
            actions[start] if len(actions) > start else {"action_name": "", "binding_id": None}
        )
        if not reply.get("ok"):
            error = reply.get("error") or {}
            message_ = f"The action worker refused the flow: {error.get('message')}"
            return self._finish_error(
                trigger_id, event, culprit, message_, execution_id, created_at
            )
        self._apply_cache(reply.get("cache_writes") or [])
        results = [*previous, *(self._result(r) for r in reply["results"])]
        failed = next((r for r in reply["results"] if r.get("error")), None)
        suspended_at = reply.get("suspended_at")
        status = "suspended" if suspended_at is not None and failed is None else "final"
        now = now_ns()
        row: dict[str, Any] = {
            "id": execution_id,
            "trigger_id": trigger_id,
            "status": status,
            "results": results,
            "outcome": reply["outcome"],
            "state": None,
            "created_at": created_at,
            "updated_at": now,
        }
        if status == "suspended":
            row["state"] = {
                "event": reply["event"],
                "actions": actions,
                "index": suspended_at,
                "outcome": {k: v for k, v in reply["outcome"].items() if k != "redirect"},
                # What api.prompt.render asked for: event.prompt on the way back is built
                # from it, never from what the browser posts.
                "prompt": (reply["outcome"].get("redirect") or {}).get("prompt"),
            }
        self.store.record(row, now=status == "suspended", replace=bool(previous))
        return FlowResult(
            execution_id=execution_id,
            trigger_id=trigger_id,
            status=status,
            outcome=reply["outcome"],
            results=results,
            error=failed.get("error") if failed else None,
            event=reply.get("event", event),
        )

    def _finish_error(
        self,
        trigger_id: str,
        event: dict[str, Any],
        action: dict[str, Any],
        message: str,
        execution_id: str | None = None,
        created_at: int | None = None,
    ) -> FlowResult:
        now = now_ns()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        error = {"id": "runtime_error", "msg": message, "url": ""}
        result = {
            "action_name": action.get("action_name", ""),
            "binding_id": action.get("binding_id"),
            "version_id": action.get("version_id"),
            "error": error,
            "started_at": stamp,
            "ended_at": stamp,
        }
        replace = execution_id is not None
        execution_id = execution_id or secrets.token_urlsafe(24)
        self.store.record(
            {
                "id": execution_id,
                "trigger_id": trigger_id,
                "status": "final",
                "results": [result],
                "outcome": {},
                "state": None,
                "created_at": created_at or now,
                "updated_at": now,
            },
            replace=replace,
        )
        return FlowResult(
            execution_id,
            trigger_id,
            "final",
            {},
            [result],
            {"name": "Error", "message": message},
            event,
        )

    @staticmethod
    def _result(raw: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {
            "action_name": raw["action_name"],
            "binding_id": raw.get("binding_id"),
            "version_id": raw.get("version_id"),
            "started_at": raw["started_at"],
            "ended_at": raw["ended_at"],
            "response": {
                "logs": raw.get("logs", ""),
                "commands": raw.get("commands", []),
                "stats": {"action_duration_ms": round(raw.get("duration_ms", 0), 3)},
            },
        }
        if raw.get("error"):
            err = raw["error"]
            result["error"] = {
                "id": err.get("name") or "Error",
                "msg": err.get("message", ""),
                "url": "",
            }
            result["response"]["error"] = {"name": err.get("name"), "message": err.get("message")}
        return result

    def _apply_cache(self, writes: list[dict[str, Any]]) -> None:
        for w in writes:
            entries = self._cache.setdefault(w["action_id"], {})
            if w["value"] is None:
                entries.pop(w["key"], None)
            else:
                entries[w["key"]] = {"value": w["value"], "expires_at": w["expires_at"]}

    # ---- POST /actions/actions/{id}/test -------------------------------------------------

    def test(self, conn: Connection, action_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Run the action's draft once against ``payload`` (Auth0: the event, or an object
        whose ``event`` member is the event). Answers Auth0's ``{payload: …}``."""
        row = load_action(conn, action_id)
        if row.status != "built":
            raise errors.BusinessRule(
                "A draft must be in the 'built' state before it can be tested."
            )
        trigger = catalog.find(row.trigger_id, row.trigger_version)
        if row.trigger_id not in TESTABLE or trigger is None:
            raise errors.BusinessRule(
                f"Actions of the trigger '{row.trigger_id}' cannot be tested here."
            )
        event = copied(
            payload["event"]
            if set(payload) == {"event"} and isinstance(payload["event"], dict)
            else payload,
            "payload",
        )
        draft_id = f"draft-{row.id}-{row.updated_at}"
        spec = {
            "binding_id": None,
            "action_id": row.id,
            "action_name": row.name,
            "version_id": draft_id,
            "deps_dir": self._deps_dir(row.dependencies),
            "secrets": _secret_map(row.secrets),
        }
        started = time.perf_counter()
        message = {
            "type": "flow",
            "trigger": row.trigger_id,
            "event": event,
            "actions": [spec],
            "start": 0,
            "outcome": {},
            "cache": {},
            "deadline_ms": int(self.settings.execution_timeout_seconds * 1000),
        }
        body: dict[str, Any]
        try:
            reply = self.pool.run(
                message, self.settings.execution_timeout_seconds, {draft_id: row.code}
            )
            result = reply["results"][0] if reply.get("results") else {}
            body = {
                "logs": result.get("logs", ""),
                "commands": result.get("commands", []),
                "outcome": reply.get("outcome", {}),
            }
            if result.get("error"):
                body["error"] = result["error"]
            action_ms = result.get("duration_ms", 0)
        except PoolBusy:
            raise errors.ServiceUnavailable(BUSY) from None
        except WorkerFailure as failure:
            body = {"error": {"name": "Error", "message": failure.message}}
            action_ms = (time.perf_counter() - started) * 1000
        total_ms = (time.perf_counter() - started) * 1000
        body["stats"] = {
            "total_request_duration_ms": round(total_ms),
            "total_runtime_execution_duration_ms": round(total_ms),
            "runtime_processing_duration_ms": max(0, round(total_ms - action_ms)),
            "action_duration_ms": round(action_ms),
            "runtime_external_call_duration_ms": 0,
            "boot_duration_ms": 0,
            "network_duration_ms": 0,
        }
        return {"payload": body}

"""Turn stored rows into Auth0's JSON shapes (contract §5).

Rows are anything with the columns as attributes (SQLAlchemy rows, mostly)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Row

from actionsd.util import fmt_ts


def trigger_refs(row: Any) -> list[dict[str, Any]]:
    return [{"id": row.trigger_id, "version": row.trigger_version}]


def secrets_out(secrets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Names and times only: a secret's value never leaves the server."""
    return [{"name": s["name"], "updated_at": fmt_ts(s["updated_at"])} for s in secrets]


def dependencies_out(deps: list[dict[str, Any]], *, built: bool) -> list[dict[str, Any]]:
    # Auth0 echoes registry_url until the build has resolved the dependency.
    if built:
        return [{"name": d["name"], "version": d["version"]} for d in deps]
    return list(deps)


def version(v: Any, *, deployed_id: str | None, action: Any | None = None) -> dict[str, Any]:
    built = v.status == "built"
    body: dict[str, Any] = {
        "id": v.id,
        "code": v.code,
        "dependencies": dependencies_out(v.dependencies, built=built),
        "deployed": v.id == deployed_id,
        "number": v.number,
        "built_at": fmt_ts(v.built_at),
        "secrets": secrets_out(v.secrets),
        "status": v.status,
        "created_at": fmt_ts(v.created_at),
        "updated_at": fmt_ts(v.updated_at),
        "runtime": v.runtime,
        "supported_triggers": trigger_refs(v),
    }
    if v.modules:
        body["modules"] = v.modules
    if v.build_errors:
        body["errors"] = v.build_errors
    if action is not None:
        body["action"] = action_base(action)
    return body


def deploy_answer(v: Any, action: Any) -> dict[str, Any]:
    """What both deploy operations answer. Auth0 switches a deployment over after it has
    answered: the new version is not ``deployed`` yet, has no ``built_at`` yet, and the
    embedded action has ``all_changes_deployed: false`` (every recorded deploy and
    roll-back). Ours is effective before the answer leaves; a GET shows it."""
    body = version(v, deployed_id=None, action=action)
    del body["built_at"]
    body["action"]["all_changes_deployed"] = False
    return body


def action_base(a: Any) -> dict[str, Any]:
    return {
        "id": a.id,
        "name": a.name,
        "supported_triggers": trigger_refs(a),
        "created_at": fmt_ts(a.created_at),
        "updated_at": fmt_ts(a.updated_at),
        "all_changes_deployed": a.all_changes_deployed,
    }


def current_version(v: Any) -> dict[str, Any]:
    return {
        "id": v.id,
        "code": v.code,
        "runtime": v.runtime,
        "status": v.status.upper(),
        "number": v.number,
        "build_time": fmt_ts(v.built_at),
        "created_at": fmt_ts(v.created_at),
        "updated_at": fmt_ts(v.updated_at),
    }


def action(a: Row[Any], deployed: Row[Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": a.id,
        "name": a.name,
        "supported_triggers": trigger_refs(a),
        "created_at": fmt_ts(a.created_at),
        "updated_at": fmt_ts(a.updated_at),
        "code": a.code,
        "dependencies": dependencies_out(a.dependencies, built=a.status == "built"),
        "runtime": a.runtime,
        "status": a.status,
        "secrets": secrets_out(a.secrets),
        "all_changes_deployed": a.all_changes_deployed,
    }
    if a.modules:
        body["modules"] = a.modules
    if deployed is not None:
        body["current_version"] = current_version(deployed)
        body["deployed_version"] = version(deployed, deployed_id=deployed.id)
    return body


def bound_action(a: Any, deployed: Any | None) -> dict[str, Any]:
    """The reduced action Auth0 embeds in a binding: no code, secrets or draft status."""
    body = action_base(a)
    if deployed is not None:
        body["current_version"] = current_version(deployed)
        body["deployed_version"] = version(deployed, deployed_id=deployed.id)
    return body

"""Actions Modules: shared code with a mutable draft and immutable published versions,
pinned by actions (``require('actions:<name>')``). Auth0 Early Access semantics:
publishing copies the draft into version N+1; a roll-back copies a version back into the
draft without creating one; a module in use cannot be deleted."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from actionsd import errors
from actionsd.db.schema import action_module_versions, action_modules, action_versions, actions
from actionsd.modules.models import CreateModuleIn, ModuleSecretIn, UpdateModuleIn
from actionsd.util import envelope, fmt_ts_us, new_id, now_ns

MODULE_NOT_FOUND = "The action module does not exist."
MODULE_VERSION_NOT_FOUND = "The action module version does not exist."
NAME_TAKEN = "An action module with the same name already exists."
IN_USE = "The Actions Module cannot be deleted because it is in use by one or more actions."
TOO_MANY_VERSIONS = (
    "Maximum number of module versions reached. Consolidate versions used in actions "
    "before creating new ones."
)
NOTHING_TO_PUBLISH = "No draft version is available to publish."
ALREADY_DRAFT = "The specified version is already the current draft version."
MAX_MODULES = 100
MAX_VERSIONS = 50


def _secrets(items: list[ModuleSecretIn], now: int) -> list[dict[str, Any]]:
    seen = set()
    for s in items:
        if s.name in seen:
            raise errors.InvalidBody(
                f"Payload validation error: 'Duplicate secret name: {s.name}' on property secrets."
            )
        seen.add(s.name)
    return [{"name": s.name, "value": s.value, "updated_at": now} for s in items]


def _secrets_out(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"name": s["name"], "updated_at": fmt_ts_us(s["updated_at"])} for s in items]


def _deps_out(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"name": d["name"], "version": d["version"]} for d in items]


def load(conn: Connection, module_id: str, *, for_update: bool = False) -> Row[Any]:
    stmt = sa.select(action_modules).where(action_modules.c.id == module_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        raise errors.NotFound(MODULE_NOT_FOUND)
    return row


def _latest(conn: Connection, module_id: str) -> Row[Any] | None:
    return conn.execute(
        sa.select(action_module_versions)
        .where(action_module_versions.c.module_id == module_id)
        .order_by(action_module_versions.c.version_number.desc())
        .limit(1)
    ).first()


def _usage(conn: Connection) -> dict[str, set[str]]:
    """Module id -> ids of actions whose deployed version uses it."""
    rows = conn.execute(
        sa.select(actions.c.id, action_versions.c.modules)
        .join(action_versions, action_versions.c.id == actions.c.deployed_version_id)
        .where(sa.cast(action_versions.c.modules, sa.Text) != "[]")
    )
    usage: dict[str, set[str]] = {}
    for r in rows:
        for ref in r.modules:
            usage.setdefault(ref["module_id"], set()).add(r.id)
    return usage


def _render(m: Row[Any], latest: Row[Any] | None, users: int, *, full: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": m.id,
        "name": m.name,
        "code": m.code,
        "dependencies": _deps_out(m.dependencies),
        "secrets": _secrets_out(m.secrets),
        "actions_using_module_total": users,
        "all_changes_published": m.all_changes_published,
        "created_at": fmt_ts_us(m.created_at),
        "updated_at": fmt_ts_us(m.updated_at),
    }
    if full and latest is not None:
        body["latest_version"] = {
            "id": latest.id,
            "version_number": latest.version_number,
            "code": latest.code,
            "dependencies": _deps_out(latest.dependencies),
            "secrets": _secrets_out(latest.secrets),
        }
    return body


def render_version(v: Row[Any]) -> dict[str, Any]:
    return {
        "id": v.id,
        "module_id": v.module_id,
        "version_number": v.version_number,
        "code": v.code,
        "secrets": _secrets_out(v.secrets),
        "dependencies": _deps_out(v.dependencies),
        "created_at": fmt_ts_us(v.created_at),
    }


def get_module(conn: Connection, module_id: str) -> dict[str, Any]:
    m = load(conn, module_id)
    return _render(m, _latest(conn, module_id), len(_usage(conn).get(module_id, ())), full=True)


def list_modules(conn: Connection, *, page: int, per_page: int | None) -> dict[str, Any]:
    """Auth0: paging is off unless ``per_page`` is sent; module lists keep their zeros."""
    total = conn.execute(sa.select(sa.func.count()).select_from(action_modules)).scalar_one()
    stmt = sa.select(action_modules).order_by(action_modules.c.created_at, action_modules.c.id)
    if per_page is not None:
        stmt = stmt.limit(per_page).offset(page * per_page)
    rows = list(conn.execute(stmt))
    usage = _usage(conn)
    items = [_render(m, None, len(usage.get(m.id, ())), full=False) for m in rows]
    return _page("modules", items, total, page, per_page or len(items))


def _page(key: str, items: list[Any], total: int, page: int, per_page: int) -> dict[str, Any]:
    """The Modules service's list envelope: every member always, zeros included, and
    ``total`` 0 on a page past the end (live Auth0: a module with one version answers
    ``page=1&per_page=50`` with ``total: 0``)."""
    return {key: items, "total": total if items else 0, "page": page, "per_page": per_page}


def create_module(conn: Connection, body: CreateModuleIn) -> dict[str, Any]:
    count = conn.execute(sa.select(sa.func.count()).select_from(action_modules)).scalar_one()
    if count >= MAX_MODULES:
        raise errors.BusinessRule(
            f"You have reached the maximum number of action modules ({MAX_MODULES})."
        )
    if conn.execute(
        sa.select(action_modules.c.id).where(action_modules.c.name == body.name)
    ).first():
        raise errors.Conflict(NAME_TAKEN)
    now = now_ns()
    module_id = new_id()
    conn.execute(
        action_modules.insert().values(
            id=module_id,
            name=body.name,
            code=body.code,
            dependencies=[d.model_dump() for d in body.dependencies],
            secrets=_secrets(body.secrets, now),
            all_changes_published=False,
            created_at=now,
            updated_at=now,
        )
    )
    if body.publish:
        publish(conn, module_id)
    return get_module(conn, module_id)


def update_module(conn: Connection, module_id: str, body: UpdateModuleIn) -> dict[str, Any]:
    load(conn, module_id, for_update=True)
    now = now_ns()
    changes: dict[str, Any] = {"all_changes_published": False, "updated_at": now}
    if body.code is not None:
        changes["code"] = body.code
    if body.secrets is not None:
        changes["secrets"] = _secrets(body.secrets, now)
    if body.dependencies is not None:
        changes["dependencies"] = [d.model_dump() for d in body.dependencies]
    conn.execute(action_modules.update().where(action_modules.c.id == module_id).values(**changes))
    return get_module(conn, module_id)


def _referencing_actions(conn: Connection, module_id: str) -> list[tuple[Row[Any], dict[str, Any]]]:
    """Actions whose draft pins a version of the module, with the pinned reference."""
    rows = conn.execute(
        sa.select(actions)
        .where(sa.cast(actions.c.modules, sa.Text) != "[]")
        .order_by(actions.c.created_at, actions.c.id)
    )
    found = []
    for a in rows:
        for ref in a.modules:
            if ref["module_id"] == module_id:
                found.append((a, ref))
    return found


def delete_module(conn: Connection, module_id: str) -> None:
    load(conn, module_id, for_update=True)
    if _referencing_actions(conn, module_id) or module_id in _usage(conn):
        raise errors.PreconditionFailed(IN_USE)
    conn.execute(
        action_module_versions.delete().where(action_module_versions.c.module_id == module_id)
    )
    conn.execute(action_modules.delete().where(action_modules.c.id == module_id))


def publish(conn: Connection, module_id: str) -> dict[str, Any]:
    m = load(conn, module_id, for_update=True)
    latest = _latest(conn, module_id)
    if latest is not None and m.all_changes_published:
        raise errors.Conflict(NOTHING_TO_PUBLISH)
    count = conn.execute(
        sa.select(sa.func.count())
        .select_from(action_module_versions)
        .where(action_module_versions.c.module_id == module_id)
    ).scalar_one()
    if count >= MAX_VERSIONS:
        raise errors.PreconditionFailed(TOO_MANY_VERSIONS)
    version_id = new_id()
    conn.execute(
        action_module_versions.insert().values(
            id=version_id,
            module_id=module_id,
            version_number=(latest.version_number if latest else 0) + 1,
            code=m.code,
            dependencies=m.dependencies,
            secrets=m.secrets,
            created_at=now_ns(),
        )
    )
    conn.execute(
        action_modules.update()
        .where(action_modules.c.id == module_id)
        .values(all_changes_published=True)
    )
    return get_version(conn, module_id, version_id)


def _version(conn: Connection, module_id: str, version_id: str) -> Row[Any]:
    v = conn.execute(
        sa.select(action_module_versions).where(
            action_module_versions.c.module_id == module_id,
            action_module_versions.c.id == version_id,
        )
    ).first()
    if v is None:
        raise errors.NotFound(MODULE_VERSION_NOT_FOUND)
    return v


def get_version(conn: Connection, module_id: str, version_id: str) -> dict[str, Any]:
    load(conn, module_id)
    return render_version(_version(conn, module_id, version_id))


def list_versions(conn: Connection, module_id: str, *, page: int, per_page: int) -> dict[str, Any]:
    load(conn, module_id)
    where = action_module_versions.c.module_id == module_id
    total = conn.execute(
        sa.select(sa.func.count()).select_from(action_module_versions).where(where)
    )
    rows = conn.execute(
        sa.select(action_module_versions)
        .where(where)
        .order_by(action_module_versions.c.version_number.desc())
        .limit(per_page)
        .offset(page * per_page)
    )
    items = [render_version(v) for v in rows]
    return _page("versions", items, total.scalar_one(), page, per_page)


def rollback(conn: Connection, module_id: str, version_id: str) -> dict[str, Any]:
    m = load(conn, module_id, for_update=True)
    v = _version(conn, module_id, version_id)
    same = (m.code, m.dependencies, [(s["name"], s["value"]) for s in m.secrets]) == (
        v.code,
        v.dependencies,
        [(s["name"], s["value"]) for s in v.secrets],
    )
    if same:
        raise errors.Conflict(ALREADY_DRAFT)
    latest = _latest(conn, module_id)
    conn.execute(
        action_modules.update()
        .where(action_modules.c.id == module_id)
        .values(
            code=v.code,
            dependencies=v.dependencies,
            secrets=v.secrets,
            all_changes_published=latest is not None and latest.id == v.id,
            updated_at=now_ns(),
        )
    )
    return get_module(conn, module_id)


def list_module_actions(
    conn: Connection, module_id: str, *, page: int, per_page: int
) -> dict[str, Any]:
    load(conn, module_id)
    found = _referencing_actions(conn, module_id)
    items = [
        {
            "action_id": a.id,
            "action_name": a.name,
            "module_version_id": ref["module_version_id"],
            "module_version_number": ref["module_version_number"],
        }
        for a, ref in found[page * per_page : (page + 1) * per_page]
    ]
    return envelope("actions", items, total=len(found), page=page, per_page=per_page)


def resolve_refs(conn: Connection, refs: list[Any]) -> list[dict[str, Any]]:
    """Action ``modules`` references, checked and enriched with name and number."""
    resolved = []
    for ref in refs:
        row = conn.execute(
            sa.select(action_modules.c.name, action_module_versions.c.version_number)
            .join(action_modules, action_modules.c.id == action_module_versions.c.module_id)
            .where(
                action_module_versions.c.id == ref.module_version_id,
                action_module_versions.c.module_id == ref.module_id,
            )
        ).first()
        if row is None:
            raise errors.BusinessRule(
                f"The action module version '{ref.module_version_id}' of module "
                f"'{ref.module_id}' does not exist."
            )
        resolved.append(
            {
                "module_id": ref.module_id,
                "module_name": row.name,
                "module_version_id": ref.module_version_id,
                "module_version_number": row.version_number,
            }
        )
    if len({r["module_id"] for r in resolved}) != len(resolved):
        raise errors.BusinessRule("An action can use each module only once.")
    return resolved

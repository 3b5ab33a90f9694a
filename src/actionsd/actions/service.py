"""Actions and their versions: create, edit the draft, deploy, roll back, delete.

Every function takes an open connection inside the request's single transaction and
either finishes its whole change or raises a :class:`~actionsd.errors.DomainError`
before writing anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, Row

from actionsd import errors
from actionsd.actions import render
from actionsd.actions.models import CreateActionIn, SecretIn, TriggerIn, UpdateActionIn
from actionsd.db.engine import committed_now
from actionsd.db.schema import (
    action_versions,
    actions,
    bindings,
    bump_actions_counter,
    counters,
    triggers,
)
from actionsd.modules.service import resolve_refs
from actionsd.triggers import catalog
from actionsd.util import envelope, new_id, now_ns

# The draft's members that a version snapshots.
VERSIONED_FIELDS = (
    "trigger_id",
    "trigger_version",
    "code",
    "runtime",
    "dependencies",
    "secrets",
    "modules",
)


@dataclass(frozen=True)
class Limits:
    max_actions: int = 100
    max_bindings_per_trigger: int = 20
    max_versions_per_action: int = 50


# ---- reads -----------------------------------------------------------------------------


def load_action(conn: Connection, action_id: str, *, for_update: bool = False) -> Row[Any]:
    """The action row; raises NotFound with Auth0's text when there is none."""
    stmt = sa.select(actions).where(actions.c.id == action_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        raise errors.NotFound(errors.ACTION_NOT_FOUND)
    return row


def deployed_versions(conn: Connection, rows: list[Row[Any]]) -> dict[str, Row[Any]]:
    """The deployed version row of each given action that has one, by version id."""
    ids = {r.deployed_version_id for r in rows if r.deployed_version_id}
    if not ids:
        return {}
    found = conn.execute(sa.select(action_versions).where(action_versions.c.id.in_(ids)))
    return {v.id: v for v in found}


def get_action(conn: Connection, action_id: str) -> dict[str, Any]:
    row = load_action(conn, action_id)
    return render.action(row, deployed_versions(conn, [row]).get(row.deployed_version_id))


def list_actions(
    conn: Connection,
    *,
    trigger_id: str | None,
    action_name: str | None,
    deployed: bool | None,
    installed: bool | None,
    page: int,
    per_page: int,
) -> dict[str, Any]:
    conditions: list[sa.ColumnElement[bool]] = []
    if trigger_id is not None:
        conditions.append(actions.c.trigger_id == trigger_id)
    if action_name is not None:
        conditions.append(actions.c.name == action_name)
    # Auth0's service treats these booleans protobuf-style: false means "no filter".
    if deployed:
        conditions.append(actions.c.deployed_version_id.is_not(None))
    if installed:
        # No marketplace integrations are installed on a self-hosted server.
        conditions.append(sa.false())
    total = conn.execute(sa.select(sa.func.count()).select_from(actions).where(*conditions))
    rows = list(
        conn.execute(
            sa.select(actions)
            .where(*conditions)
            .order_by(actions.c.created_at, actions.c.id)
            .limit(per_page)
            .offset(page * per_page)
        )
    )
    deployed_rows = deployed_versions(conn, rows)
    items = [render.action(r, deployed_rows.get(r.deployed_version_id)) for r in rows]
    return envelope("actions", items, total=total.scalar_one(), page=page, per_page=per_page)


def list_versions(conn: Connection, action_id: str, *, page: int, per_page: int) -> dict[str, Any]:
    action = load_action(conn, action_id)
    where = action_versions.c.action_id == action_id
    total = conn.execute(sa.select(sa.func.count()).select_from(action_versions).where(where))
    rows = conn.execute(
        sa.select(action_versions)
        .where(where)
        .order_by(action_versions.c.number.desc())
        .limit(per_page)
        .offset(page * per_page)
    )
    items = [render.version(v, deployed_id=action.deployed_version_id, action=action) for v in rows]
    return envelope("versions", items, total=total.scalar_one(), page=page, per_page=per_page)


def get_version(conn: Connection, action_id: str, version_id: str) -> dict[str, Any]:
    action = load_action(conn, action_id)
    v = _load_version(conn, action_id, version_id)
    return render.version(v, deployed_id=action.deployed_version_id, action=action)


def _load_version(conn: Connection, action_id: str, version_id: str) -> Row[Any]:
    v = conn.execute(
        sa.select(action_versions).where(
            action_versions.c.action_id == action_id, action_versions.c.id == version_id
        )
    ).first()
    if v is None:
        raise errors.NotFound(errors.VERSION_NOT_FOUND)
    return v


# ---- validation helpers ------------------------------------------------------------------


def _resolve_trigger(ref: TriggerIn) -> catalog.TriggerVersion:
    found = catalog.find(ref.id, ref.version)
    if found is None and not catalog.is_served(ref.id):
        raise errors.BusinessRule(f"The trigger '{ref.id}' is not available on this tenant.")
    if found is None:
        version = ref.version or "(current)"
        raise errors.BusinessRule(f"The trigger '{ref.id}' has no version '{version}'.")
    return found


def _check_runtime(trigger: catalog.TriggerVersion, runtime: str) -> None:
    if runtime not in trigger.runtimes:
        raise errors.BusinessRule(errors.RUNTIME_UNSUPPORTED)


def _check_name_free(conn: Connection, name: str, *, except_id: str | None = None) -> None:
    stmt = sa.select(actions.c.id).where(actions.c.name == name)
    if except_id is not None:
        stmt = stmt.where(actions.c.id != except_id)
    if conn.execute(stmt).first() is not None:
        raise errors.Conflict(f"An action with the name '{name}' already exists.")


def _secrets(
    incoming: list[SecretIn], existing: list[dict[str, Any]], now: int
) -> list[dict[str, Any]]:
    """The new secret list: a value sent replaces the old one, a secret sent without a
    value keeps its old value; every secret sent gets a new ``updated_at``. Secrets
    that stay keep their place and new names follow, in the order sent (as Auth0 keeps
    them, whatever order a client sends)."""
    old = {s["name"]: s["value"] for s in existing}
    sent: dict[str, SecretIn] = {}
    for s in incoming:
        if s.name in sent:
            raise errors.InvalidBody(
                f"Payload validation error: 'Duplicate secret name: {s.name}' on property secrets."
            )
        sent[s.name] = s
    order = [name for name in old if name in sent]
    order += [name for name in sent if name not in old]
    return [{"name": name, "value": _value(sent[name], old), "updated_at": now} for name in order]


def _value(secret: SecretIn, old: dict[str, str]) -> str:
    return secret.value if secret.value is not None else old.get(secret.name, "")


def _dependencies(deps: list[Any]) -> list[dict[str, Any]]:
    return [d.model_dump(exclude_none=True) for d in deps]


# ---- writes ------------------------------------------------------------------------------


def create_action(conn: Connection, body: CreateActionIn, limits: Limits) -> dict[str, Any]:
    trigger = _resolve_trigger(body.supported_triggers[0])
    runtime = body.runtime if body.runtime is not None else trigger.creation_runtime
    _check_runtime(trigger, runtime)
    modules = resolve_refs(conn, body.modules)
    count = conn.execute(sa.select(sa.func.count()).select_from(actions)).scalar_one()
    if count >= limits.max_actions:
        raise errors.BusinessRule(
            f"You have reached the maximum number of actions ({limits.max_actions}) "
            "for this tenant."
        )
    _check_name_free(conn, body.name)
    now = now_ns()
    action_id = new_id()
    values: dict[str, Any] = {
        "id": action_id,
        "name": body.name,
        "trigger_id": trigger.id,
        "trigger_version": trigger.version,
        "code": body.code,
        "runtime": runtime,
        "dependencies": _dependencies(body.dependencies),
        "secrets": _secrets(body.secrets, [], now),
        "modules": modules,
        "status": "pending",
        "build_errors": [],
        "built_at": None,
        "build_claimed_at": None,
        "all_changes_deployed": False,
        "deployed_version_id": None,
        "created_at": now,
        "updated_at": now,
    }
    conn.execute(actions.insert().values(**values))
    conn.execute(bump_actions_counter())
    if body.deploy:
        # Auth0 deploys at once: version 1 starts "pending" and is built in the background.
        version_id = _insert_version(
            conn, action_id, values, number=1, status="pending", built_at=None
        )
        conn.execute(
            actions.update()
            .where(actions.c.id == action_id)
            .values(deployed_version_id=version_id, all_changes_deployed=True)
        )
    return get_action(conn, action_id)


def update_action(
    conn: Connection, action_id: str, body: UpdateActionIn, limits: Limits
) -> dict[str, Any]:
    del limits  # no limit applies to an edit beyond the schema's
    row = load_action(conn, action_id, for_update=True)
    fields = body.model_fields_set
    now = now_ns()
    changes: dict[str, Any] = {}
    if body.name is not None and body.name != row.name:
        _check_name_free(conn, body.name, except_id=action_id)
        changes["name"] = body.name
    trigger = catalog.find(row.trigger_id, row.trigger_version)
    if body.supported_triggers is not None:
        trigger = _resolve_trigger(body.supported_triggers[0])
        if trigger.id != row.trigger_id and _is_bound(conn, action_id):
            raise errors.BusinessRule(errors.TRIGGER_UPGRADE)
        changes["trigger_id"] = trigger.id
        changes["trigger_version"] = trigger.version
    if trigger is None:  # a stored trigger the catalogue no longer has
        raise errors.BusinessRule(errors.RUNTIME_UNSUPPORTED)
    if body.runtime is not None:
        _check_runtime(trigger, body.runtime)
        changes["runtime"] = body.runtime
    elif row.runtime not in trigger.runtimes:
        changes["runtime"] = trigger.creation_runtime
    if body.code is not None:
        changes["code"] = body.code
    if body.dependencies is not None:
        changes["dependencies"] = _dependencies(body.dependencies)
    if body.secrets is not None:
        changes["secrets"] = _secrets(body.secrets, row.secrets, now)
    if "modules" in fields and body.modules is not None:
        changes["modules"] = resolve_refs(conn, body.modules)
    # Any edit puts the draft back through the build. It stays "all changes deployed"
    # when it ends equal to the deployed version (Auth0 does so: deploy-cli PATCHes every
    # action on each import, most of them unchanged).
    deployed = deployed_versions(conn, [row]).get(row.deployed_version_id)
    unchanged = deployed is not None and (
        _content({**row._mapping, **changes}) == _content(deployed._mapping)
    )
    changes.update(
        status="pending",
        build_errors=[],
        built_at=None,
        build_claimed_at=None,
        all_changes_deployed=unchanged,
        updated_at=now,
    )
    conn.execute(actions.update().where(actions.c.id == action_id).values(**changes))
    conn.execute(bump_actions_counter())
    return get_action(conn, action_id)


def _is_bound(conn: Connection, action_id: str) -> bool:
    stmt = sa.select(bindings.c.id).where(bindings.c.action_id == action_id).limit(1)
    return conn.execute(stmt).first() is not None


def delete_action(conn: Connection, action_id: str, *, force: bool) -> None:
    # Lock order is trigger, then action, as in replace_bindings: the action can only be
    # bound to its own trigger, whose row serialises changes to that list.
    trigger_id = load_action(conn, action_id).trigger_id
    conn.execute(sa.select(triggers.c.id).where(triggers.c.id == trigger_id).with_for_update())
    load_action(conn, action_id, for_update=True)
    bound_triggers = [
        r.trigger_id
        for r in conn.execute(
            sa.select(bindings.c.trigger_id).where(bindings.c.action_id == action_id).distinct()
        )
    ]
    if bound_triggers and not force:
        raise errors.Conflict(errors.ACTION_BOUND)
    if bound_triggers:
        # Detach: the other bindings of those triggers keep their order.
        conn.execute(bindings.delete().where(bindings.c.action_id == action_id))
        conn.execute(
            triggers.update()
            .where(triggers.c.id.in_(bound_triggers))
            .values(revision=triggers.c.revision + 1)
        )
    conn.execute(action_versions.delete().where(action_versions.c.action_id == action_id))
    conn.execute(actions.delete().where(actions.c.id == action_id))
    conn.execute(bump_actions_counter())


def _insert_version(
    conn: Connection,
    action_id: str,
    source: dict[str, Any] | Row[Any],
    *,
    number: int,
    status: str,
    built_at: int | None,
) -> str:
    """Store an immutable version whose content is copied from ``source`` (the draft row
    or an earlier version row)."""
    content = source if isinstance(source, dict) else source._mapping
    now = now_ns()
    version_id = new_id()
    conn.execute(
        action_versions.insert().values(
            id=version_id,
            action_id=action_id,
            number=number,
            status=status,
            build_errors=[],
            built_at=built_at,
            build_claimed_at=None,
            created_at=now,
            updated_at=now,
            **{key: content[key] for key in VERSIONED_FIELDS},
        )
    )
    return version_id


def _next_number(conn: Connection, action_id: str) -> int:
    stmt = sa.select(sa.func.max(action_versions.c.number)).where(
        action_versions.c.action_id == action_id
    )
    return int(conn.execute(stmt).scalar_one() or 0) + 1


def _prune_versions(conn: Connection, action_id: str, keep: int, deployed_id: str) -> None:
    """Past the per-action limit Auth0 deletes the oldest versions that are not deployed."""
    ids = [
        r.id
        for r in conn.execute(
            sa.select(action_versions.c.id)
            .where(action_versions.c.action_id == action_id)
            .order_by(action_versions.c.number.desc())
        )
    ]
    kept = ids[:keep] if deployed_id in ids[:keep] else [*ids[: keep - 1], deployed_id]
    doomed = [i for i in ids if i not in kept]
    if doomed:
        conn.execute(action_versions.delete().where(action_versions.c.id.in_(doomed)))


def deploy_action(conn: Connection, action_id: str, limits: Limits) -> dict[str, Any]:
    """Snapshot the built draft as version max+1 and make it the deployed one."""
    row = load_action(conn, action_id, for_update=True)
    if row.status != "built":
        raise errors.BusinessRule(errors.DRAFT_NOT_BUILT)
    version_id = _insert_version(
        conn,
        action_id,
        row,
        number=_next_number(conn, action_id),
        status="built",
        built_at=row.built_at,
    )
    return _make_deployed(conn, action_id, version_id, all_changes_deployed=True, limits=limits)


def rollback(
    conn: Connection, action_id: str, version_id: str, *, update_draft: bool, limits: Limits
) -> dict[str, Any]:
    """Deploy a copy of an earlier version as a new version (Auth0's roll-back)."""
    row = load_action(conn, action_id, for_update=True)
    source = _load_version(conn, action_id, version_id)
    if source.status != "built":
        raise errors.BusinessRule(
            "A version must be in the 'built' state before it can be deployed."
        )
    new_version = _insert_version(
        conn,
        action_id,
        source,
        number=_next_number(conn, action_id),
        status="built",
        built_at=source.built_at,
    )
    if update_draft:
        conn.execute(
            actions.update()
            .where(actions.c.id == action_id)
            .values(
                code=source.code,
                runtime=source.runtime,
                dependencies=source.dependencies,
                secrets=source.secrets,
                modules=source.modules,
                trigger_id=source.trigger_id,
                trigger_version=source.trigger_version,
                status="built",
                build_errors=[],
                built_at=source.built_at,
                build_claimed_at=None,
                updated_at=now_ns(),
            )
        )
        same = True
    else:
        same = row.status == "built" and _content(row._mapping) == _content(source._mapping)
    return _make_deployed(conn, action_id, new_version, all_changes_deployed=same, limits=limits)


def _content(c: Mapping[Any, Any]) -> tuple[Any, ...]:
    """What a draft and a version (their columns) must share for the version to run the
    draft's changes: a secret's value counts as well as its name (the version runs with
    the value it was deployed with); a dependency's informative ``registry_url`` does not."""
    secrets = sorted((s["name"], s["value"]) for s in c["secrets"])
    deps = [(d["name"], d["version"]) for d in c["dependencies"]]
    return (
        c["code"],
        c["runtime"],
        deps,
        secrets,
        c["modules"],
        c["trigger_id"],
        c["trigger_version"],
    )


def _make_deployed(
    conn: Connection, action_id: str, version_id: str, *, all_changes_deployed: bool, limits: Limits
) -> dict[str, Any]:
    conn.execute(
        actions.update()
        .where(actions.c.id == action_id)
        .values(deployed_version_id=version_id, all_changes_deployed=all_changes_deployed)
    )
    # Runtimes and response caches notice through the actions counter. (Not the trigger
    # rows: a PATCH holds those while it share-locks actions, so touching them here,
    # under this action's lock, could deadlock.)
    conn.execute(bump_actions_counter())
    _prune_versions(conn, action_id, limits.max_versions_per_action, version_id)
    action = load_action(conn, action_id)
    version = _load_version(conn, action_id, version_id)
    return render.deploy_answer(version, action)


_ACTIONS_COUNTER = sa.select(
    sa.select(counters.c.value).where(counters.c.name == "actions").scalar_subquery()
)


def actions_counter(conn: Connection) -> int:
    """The counter every write to an action or version moves (see ``db.schema``)."""
    return int(conn.execute(_ACTIONS_COUNTER).scalar_one() or 0)


async def actions_counter_now(engine: Engine) -> int:
    """``actions_counter`` as committed now, from the event loop."""
    (value,) = await committed_now(engine, _ACTIONS_COUNTER)
    return int(value or 0)

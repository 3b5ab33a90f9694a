"""A trigger's ordered bindings: read a page, or replace the whole list at once.

``replace_bindings`` is the heart of the product: the submitted list, in order, becomes
the trigger's execution order. It validates every reference first and then swaps the
list in the same transaction, under a lock on the trigger's row, so concurrent PATCHes
serialise and a refused PATCH leaves the previous list exactly as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from actionsd import errors
from actionsd.actions import render
from actionsd.actions.service import Limits, actions_counter, deployed_versions
from actionsd.bindings.models import BindingItemIn
from actionsd.db.raw import Batch, LastBatch, RawSql, Steps, encode, record
from actionsd.db.schema import actions, bindings, triggers
from actionsd.triggers import catalog
from actionsd.util import envelope, fmt_ts, new_id, now_ns


def ensure_triggers(conn: Connection) -> None:
    """Create the lock row of every trigger id the API accepts (idempotent)."""
    present = {r.id for r in conn.execute(sa.select(triggers.c.id))}
    missing = [{"id": t, "revision": 0} for t in catalog.TRIGGER_IDS if t not in present]
    if missing:
        conn.execute(triggers.insert(), missing)


def _render(rows: list[Row[Any]], action_rows: dict[str, Row[Any]], conn: Connection) -> list[Any]:
    deployed = deployed_versions(conn, list(action_rows.values()))
    out = []
    for b in rows:
        a = action_rows[b.action_id]
        action = render.bound_action(a, deployed.get(a.deployed_version_id))
        out.append(_binding(b.id, b.trigger_id, action, b.created_at, b.updated_at, b.display_name))
    return out


def _binding(
    binding_id: str,
    trigger_id: str,
    action: Any,
    created_at: int,
    updated_at: int,
    display_name: str,
) -> dict[str, Any]:
    """One binding as Auth0 shows it; ``action`` already rendered (a dict or a JSON
    fragment)."""
    return {
        "id": binding_id,
        "trigger_id": trigger_id,
        "action": action,
        "created_at": fmt_ts(created_at),
        "updated_at": fmt_ts(updated_at),
        "display_name": display_name,
    }


def _actions_by_id(conn: Connection, ids: set[str]) -> dict[str, Row[Any]]:
    if not ids:
        return {}
    return {a.id: a for a in conn.execute(sa.select(actions).where(actions.c.id.in_(ids)))}


def revision(conn: Connection, trigger_id: str) -> int:
    stmt = sa.select(triggers.c.revision).where(triggers.c.id == trigger_id)
    return int(conn.execute(stmt).scalar_one_or_none() or 0)


def version(conn: Connection, trigger_id: str) -> tuple[int, int]:
    """What ``FastReader.revision`` reads, in this transaction's snapshot."""
    return revision(conn, trigger_id), actions_counter(conn)


def list_bindings(conn: Connection, trigger_id: str, *, page: int, per_page: int) -> dict[str, Any]:
    where = bindings.c.trigger_id == trigger_id
    total = conn.execute(sa.select(sa.func.count()).select_from(bindings).where(where))
    rows = list(
        conn.execute(
            sa.select(bindings)
            .where(where)
            .order_by(bindings.c.position)
            .limit(per_page)
            .offset(page * per_page)
        )
    )
    items = _render(rows, _actions_by_id(conn, {r.action_id for r in rows}), conn)
    return envelope("bindings", items, total=total.scalar_one(), page=page, per_page=per_page)


ACTION_COLUMNS = (
    "id, name, trigger_id, trigger_version, created_at, updated_at, all_changes_deployed, "
    "deployed_version_id"
)
VERSION_COLUMNS = (
    "id, code, dependencies, number, built_at, secrets, status, created_at, updated_at, "
    "runtime, trigger_id, trigger_version, modules, build_errors"
)
VERSION_JSON = ("dependencies", "secrets", "modules", "build_errors")


def replace_bindings(
    sql: RawSql,
    trigger_id: str,
    items: list[BindingItemIn],
    limits: Limits,
    *,
    expected_revision: int | None = None,
) -> Steps[Replaced]:
    """Replace the trigger's list, as steps for ``RawSql.run``/``arun`` (one batch of
    reads, one of writes); ``.render()`` the result once committed. Driver-level SQL:
    this is the hottest write path. ``sql`` only words the statements."""
    check_request(trigger_id, items, limits)
    # Two round trips under the lock on PostgreSQL (each batch is one pipeline): read
    # everything the new list needs, then write it. The lock on the trigger's row makes
    # concurrent replacements of one list run one after the other. The lock and the
    # reads stay separate statements: in READ COMMITTED each statement reads from when
    # it starts, so the reads after the lock see the list the PATCH we waited for left
    # (a join with the locked row would read from before the wait).
    by_id, by_name, by_binding = refs(items)
    where, params = actions_where(trigger_id, by_id, by_name, by_binding)
    locked, existing_rows, found = yield (
        [
            (f"SELECT revision FROM triggers WHERE id = ?{sql.for_update()}", (trigger_id,)),
            (
                "SELECT id, action_id, display_name, secrets, created_at FROM bindings "
                "WHERE trigger_id = ?",
                (trigger_id,),
            ),
            # Share-lock the actions being bound: a concurrent delete waits for this
            # PATCH (or this PATCH sees the action gone); a deploy cannot interleave.
            (f"SELECT {ACTION_COLUMNS} FROM actions WHERE {where}{sql.for_update(True)}", params),
        ]
    )
    current_revision = int(locked[0]["revision"])
    check_revision(expected_revision, current_revision)
    existing = {r["id"]: record(r, ("secrets",)) for r in existing_rows}
    resolved = resolve(trigger_id, items, existing, [record(r) for r in found])
    now = now_ns()
    new_rows = rows_of(trigger_id, resolved, now)
    writes = list_writes(trigger_id, current_revision + 1, new_rows)
    # The deployed versions only of actions whose rendering is not memoised yet, read
    # with the writes (no round trip of their own).
    actions = [action for _, action, _ in resolved]
    bound, unrendered = memoised(actions)
    if unrendered:
        writes.append(versions_query(unrendered))
    written = yield LastBatch(writes)
    versions = written[-1] if unrendered else []
    return Replaced(trigger_id, current_revision + 1, new_rows, actions, bound, versions)


def check_request(trigger_id: str, items: list[BindingItemIn], limits: Limits) -> None:
    """What a list is refused for before anything is read."""
    policy = catalog.binding_policy(trigger_id)
    if policy == catalog.ENTITY_BOUND:
        raise errors.BusinessRule(
            f"Tenants cannot manage the bindings of the entity-bound trigger '{trigger_id}'."
        )
    if len(items) > limits.max_bindings_per_trigger:
        raise errors.InvalidBody(
            f"Payload validation error: 'Array is too long ({len(items)}), maximum "
            f"{limits.max_bindings_per_trigger}' on property bindings."
        )


IF_MATCH_FAILED = "The bindings of this trigger changed since they were read (If-Match failed)."


def check_revision(expected: int | None, current: int | None) -> None:
    if expected is not None and expected != current:
        raise errors.PreconditionFailed(IF_MATCH_FAILED)


def refs(items: list[BindingItemIn]) -> tuple[tuple[str, ...], ...]:
    """The list's references: (action ids, action names, binding ids), each once."""
    return tuple(
        tuple({i.ref.value for i in items if i.ref.type == kind})
        for kind in ("action_id", "action_name", "binding_id")
    )


def rows_of(
    trigger_id: str, resolved: list[tuple[BindingItemIn, Any, Any | None]], now: int
) -> list[tuple[Any, ...]]:
    """The new list's rows, in order."""
    new_rows = []
    for position, (item, action, kept) in enumerate(resolved):
        if kept is not None:
            secrets = kept.secrets if item.secrets is None else _secrets(item, now)
            binding_id, created_at = kept.id, kept.created_at
            display_name = item.display_name or kept.display_name
        else:
            secrets = _secrets(item, now) if item.secrets else []
            binding_id, created_at = new_id(), now
            display_name = item.display_name or action.name
        new_rows.append(
            (
                binding_id,
                trigger_id,
                position,
                action.id,
                display_name,
                encode(secrets),
                created_at,
                now,
            )
        )
    return new_rows


def list_writes(trigger_id: str, revision: int, rows: list[tuple[Any, ...]]) -> Batch:
    """The statements that make ``rows`` the trigger's list at ``revision`` (under its
    lock): the old list out, the new one in, one INSERT for all its rows (on
    PostgreSQL, executemany sends one per row)."""
    writes: Batch = [
        ("DELETE FROM bindings WHERE trigger_id = ?", (trigger_id,)),
        ("UPDATE triggers SET revision = ? WHERE id = ?", (revision, trigger_id)),
    ]
    if rows:
        writes.append(
            (
                "INSERT INTO bindings (id, trigger_id, position, action_id, display_name, "
                "secrets, created_at, updated_at) VALUES "
                + ", ".join([f"({RawSql.marks(8)})"] * len(rows)),
                tuple(value for row in rows for value in row),
            )
        )
    return writes


def memoised(actions: list[Any]) -> tuple[list[orjson.Fragment | None], tuple[str, ...]]:
    """Each action's memoised rendering (or None), and the deployed versions to read for
    the others."""
    bound = [render.BOUND_ACTIONS.get(a) for a in actions]
    unrendered = tuple(
        {a.deployed_version_id for a, b in zip(actions, bound, strict=True) if b is None}
    )
    return bound, unrendered


def versions_query(version_ids: tuple[str, ...]) -> tuple[str, Any]:
    return (
        f"SELECT {VERSION_COLUMNS} FROM action_versions "
        f"WHERE id IN ({RawSql.marks(len(version_ids))})",
        version_ids,
    )


@dataclass(frozen=True)
class Replaced:
    """What a replacement wrote, to be rendered after the transaction (and its lock)."""

    trigger_id: str
    revision: int  # the list's new revision (its ETag)
    rows: list[tuple[Any, ...]]
    actions: list[Any]
    bound: list[orjson.Fragment | None]  # each action's memoised rendering, if it was
    versions: list[Any]  # the deployed versions of the others

    def render(self) -> bytes:
        """The PATCH response body, Auth0's shape without nulls."""
        versions = {v["id"]: record(v, VERSION_JSON) for v in self.versions}
        rendered = []
        for row, action, bound in zip(self.rows, self.actions, self.bound, strict=True):
            binding_id, _, _, _, display_name, _, created_at, updated_at = row
            if bound is None:
                bound = render.BOUND_ACTIONS.put(action, versions[action.deployed_version_id])
            rendered.append(
                _binding(binding_id, self.trigger_id, bound, created_at, updated_at, display_name)
            )
        return orjson.dumps({"bindings": rendered})


def _secrets(item: BindingItemIn, now: int) -> list[dict[str, Any]]:
    return [{"name": s.name, "value": s.value or "", "updated_at": now} for s in item.secrets or []]


def actions_where(
    trigger_id: str,
    ids: tuple[str, ...],
    names: tuple[str, ...],
    binding_ids: tuple[str, ...],
    alias: str = "",
) -> tuple[str, tuple[Any, ...]]:
    """The actions a list refers to: by id, by name, or through one of the trigger's
    bindings (``alias``: the actions table's, with its dot)."""
    clauses: list[str] = []
    params: tuple[Any, ...] = ()
    if ids:
        clauses.append(f"{alias}id IN ({RawSql.marks(len(ids))})")
        params += ids
    if names:
        clauses.append(f"{alias}name IN ({RawSql.marks(len(names))})")
        params += names
    if binding_ids:
        clauses.append(
            f"{alias}id IN (SELECT action_id FROM bindings WHERE trigger_id = ? "
            f"AND id IN ({RawSql.marks(len(binding_ids))}))"
        )
        params += (trigger_id, *binding_ids)
    return (" OR ".join(clauses) or "1 = 0"), params


def resolve(
    trigger_id: str,
    items: list[BindingItemIn],
    existing: dict[str, Any],
    found: list[Any],
) -> list[tuple[BindingItemIn, Any, Any | None]]:
    """Every ref, resolved to (item, action, kept binding or None), or the first error.
    Nothing is written here."""
    action_by_id = {a.id: a for a in found}
    action_by_name = {a.name: a for a in found}

    result: list[tuple[BindingItemIn, Any, Any | None]] = []
    seen_actions: set[str] = set()
    seen_bindings: set[str] = set()
    for index, item in enumerate(items):
        ref = item.ref
        where_ref = f"bindings[{index}]"
        kept = None
        if ref.type == "binding_id":
            kept = existing.get(ref.value)
            if kept is None:
                raise errors.BusinessRule(
                    f"The binding '{ref.value}' referenced by {where_ref} is not bound to "
                    f"the trigger '{trigger_id}'."
                )
            if ref.value in seen_bindings:
                raise errors.BusinessRule(f"The binding '{ref.value}' is referenced twice.")
            seen_bindings.add(ref.value)
            action = action_by_id[kept.action_id]
        else:
            candidate = (action_by_id if ref.type == "action_id" else action_by_name).get(ref.value)
            if candidate is None:
                kind = "id" if ref.type == "action_id" else "name"
                raise errors.NotFound(
                    f"The action with {kind} '{ref.value}' referenced by {where_ref} "
                    "does not exist."
                )
            action = candidate
        if action.trigger_id != trigger_id:
            raise errors.BusinessRule(errors.BINDING_INCOMPATIBLE)
        if action.deployed_version_id is None:
            raise errors.BusinessRule(errors.BINDING_NOT_DEPLOYED)
        if action.id in seen_actions:
            raise errors.BusinessRule(
                f"The action '{action.name}' is bound twice ({where_ref}); an action can be "
                "bound to a trigger only once."
            )
        seen_actions.add(action.id)
        result.append((item, action, kept))
    return result

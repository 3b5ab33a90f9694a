"""A trigger's ordered bindings: read a page, or replace the whole list at once.

``replace_bindings`` is the heart of the product: the submitted list, in order, becomes
the trigger's execution order. In the request's one write transaction, under a lock on
the trigger's row, it reads what the list refers to, validates every reference, and
only then swaps the list, so concurrent PATCHes serialise and a refused PATCH leaves the
previous list exactly as it was. Every PATCH takes this path, whatever its refs.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, Row

from actionsd import errors
from actionsd.actions import render
from actionsd.actions.service import Limits
from actionsd.bindings.models import BindingItemIn
from actionsd.db.engine import committed, committed_now
from actionsd.db.schema import action_versions, actions, bindings, counters, triggers
from actionsd.triggers import catalog
from actionsd.util import envelope, fmt_ts, new_id, now_ns


def ensure_triggers(conn: Connection) -> None:
    """Create the lock row of every trigger id the API accepts (idempotent)."""
    present = {r.id for r in conn.execute(sa.select(triggers.c.id))}
    missing = [{"id": t, "revision": 0} for t in catalog.TRIGGER_IDS if t not in present]
    if missing:
        conn.execute(triggers.insert(), missing)


@dataclass(frozen=True)
class Bindings:
    """Bindings as read or written, with their actions and those actions' deployed
    versions; ``render()`` needs no database, so a write renders after its commit."""

    rows: list[Any]
    actions: dict[str, Any]
    versions: dict[str, Any]

    def render(self) -> list[dict[str, Any]]:
        """As Auth0 shows them (GET's page and PATCH's answer alike)."""
        out = []
        for b in self.rows:
            a = self.actions[b.action_id]
            out.append(
                {
                    "id": b.id,
                    "trigger_id": b.trigger_id,
                    "action": render.bound_action(a, self.versions.get(a.deployed_version_id)),
                    "created_at": fmt_ts(b.created_at),
                    "updated_at": fmt_ts(b.updated_at),
                    "display_name": b.display_name,
                }
            )
        return out


# Built once (building a statement costs more than running it on SQLite).
_TRIGGER_KEY: sa.BindParameter[str] = sa.bindparam("trigger_key")
_VERSION = sa.select(
    sa.select(triggers.c.revision).where(triggers.c.id == _TRIGGER_KEY).scalar_subquery(),
    sa.select(counters.c.value).where(counters.c.name == "actions").scalar_subquery(),
)


def version(conn: Connection, trigger_id: str) -> tuple[int, int]:
    """(the trigger's revision, the actions counter), in one statement: anything derived
    from the trigger's bindings and their actions that was read under both is current.
    The revision moves with every PATCH of the list, the counter with every write to an
    action, a version or a build. An unknown trigger id reads as revision 0."""
    return _pair(conn.execute(_VERSION, {"trigger_key": trigger_id}).one())


def current_version(engine: Engine, trigger_id: str) -> tuple[int, int]:
    """``version`` as committed now, outside any transaction of the caller's."""
    return _pair(committed(engine, _VERSION, {"trigger_key": trigger_id}))


async def current_version_now(engine: Engine, trigger_id: str) -> tuple[int, int]:
    """``current_version`` from the event loop."""
    return _pair(await committed_now(engine, _VERSION, {"trigger_key": trigger_id}))


def _pair(row: Any) -> tuple[int, int]:
    revision, counter = row
    return int(revision or 0), int(counter or 0)


# Actions with their deployed versions, in one statement: only the columns a binding
# shows. PATCH share-locks the actions its list refers to (on PostgreSQL): a concurrent
# delete or deploy of one of them waits for the PATCH, or the PATCH sees it done.
_ACTION_COLUMNS = (
    "id",
    "name",
    "trigger_id",
    "trigger_version",
    "created_at",
    "updated_at",
    "all_changes_deployed",
    "deployed_version_id",
)
_VERSION_COLUMNS = tuple(
    c.name for c in action_versions.c if c.name not in ("action_id", "build_claimed_at")
)
_WITH_DEPLOYED = sa.select(
    *(actions.c[name] for name in _ACTION_COLUMNS),
    *(action_versions.c[name].label(f"v_{name}") for name in _VERSION_COLUMNS),
).select_from(
    actions.outerjoin(action_versions, action_versions.c.id == actions.c.deployed_version_id)
)
_BOUND = _WITH_DEPLOYED.where(actions.c.id.in_(sa.bindparam("ids", expanding=True)))
_REFERRED = _WITH_DEPLOYED.where(
    sa.or_(
        actions.c.id.in_(sa.bindparam("ids", expanding=True)),
        actions.c.name.in_(sa.bindparam("names", expanding=True)),
    )
).with_for_update(read=True, of=actions)


_VERSION_AT = len(_ACTION_COLUMNS)  # where the version's columns start in a row


def _deployed_of(found: list[Row[Any]]) -> dict[str, Any]:
    """The deployed versions joined to ``_WITH_DEPLOYED``'s actions, by id."""
    return {
        row.v_id: SimpleNamespace(**dict(zip(_VERSION_COLUMNS, row[_VERSION_AT:], strict=True)))
        for row in found
        if row.v_id is not None
    }


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
    found = list(conn.execute(_BOUND, {"ids": list({r.action_id for r in rows})}))
    items = Bindings(rows, {a.id: a for a in found}, _deployed_of(found)).render()
    return envelope("bindings", items, total=total.scalar_one(), page=page, per_page=per_page)


# PATCH's statements, built once too.
# Locks the trigger's row (on PostgreSQL; SQLite's write transaction already holds the
# whole database) and moves its revision, in one statement.
_BUMP = (
    triggers.update()
    .where(triggers.c.id == _TRIGGER_KEY)
    .values(revision=triggers.c.revision + 1)
    .returning(triggers.c.revision)
)
_LIST = sa.select(bindings).where(bindings.c.trigger_id == _TRIGGER_KEY)
_CLEAR = bindings.delete().where(bindings.c.trigger_id == _TRIGGER_KEY)


def replace_bindings(
    conn: Connection,
    trigger_id: str,
    items: list[BindingItemIn],
    limits: Limits,
    *,
    expected_revision: int | None = None,
) -> tuple[Bindings, int]:
    """Replace the trigger's list with ``items``, in order, in the caller's write
    transaction: the new list (render it once committed: the lock is free sooner) and
    its revision (its ETag). A refusal raises, and the caller's rollback undoes the
    revision's move."""
    check_request(trigger_id, items, limits)
    # The trigger's lock makes concurrent replacements of one list run one after the
    # other. The reads after it stay separate statements: in READ COMMITTED each
    # statement reads from when it starts, so they see the list the PATCH we waited for
    # left.
    key = {"trigger_key": trigger_id}
    revision = int(conn.execute(_BUMP, key).scalar_one())
    check_revision(expected_revision, revision - 1)
    by_id, by_name, by_binding = refs(items)
    existing: dict[str, Row[Any]] = {}
    if by_binding:
        existing = {b.id: b for b in conn.execute(_LIST, key)}
    kept_actions = {existing[b].action_id for b in by_binding if b in existing}
    found = list(conn.execute(_REFERRED, {"ids": [*by_id, *kept_actions], "names": by_name}))
    resolved = resolve(trigger_id, items, existing, found)
    new_rows = rows_of(trigger_id, resolved, now_ns())
    conn.execute(_CLEAR, key)
    if new_rows:
        conn.execute(bindings.insert(), new_rows)
    written = [SimpleNamespace(**row) for row in new_rows]
    return Bindings(written, {a.id: a for _, a, _ in resolved}, _deployed_of(found)), revision


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
) -> list[dict[str, Any]]:
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
            {
                "id": binding_id,
                "trigger_id": trigger_id,
                "position": position,
                "action_id": action.id,
                "display_name": display_name,
                "secrets": secrets,
                "created_at": created_at,
                "updated_at": now,
            }
        )
    return new_rows


def _secrets(item: BindingItemIn, now: int) -> list[dict[str, Any]]:
    return [{"name": s.name, "value": s.value or "", "updated_at": now} for s in item.secrets or []]


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

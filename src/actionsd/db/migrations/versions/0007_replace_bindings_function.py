"""PostgreSQL: a trigger's bindings replaced in one statement (``bindings.at_once``).

A PATCH whose list refers to actions (by id or name) is checked in the server against
the actions as read at one value of the actions counter; this function then, under the
trigger's row lock, confirms the counter has not moved (or reports so), and swaps the
list. One round trip, and the lock is held only inside the database. Every rule stays in
the server: the function only confirms what the server's check relied on.

``p_count`` PATCHes written together move the revision by that many; the list given is
the last one's. Returns the list's new revision, or -1 (the actions changed since they
were read: read again), -2 (the revision is not ``p_revision``: If-Match failed), -3
(no such trigger row).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

CREATE = """
CREATE OR REPLACE FUNCTION actionsd_replace_bindings(
    p_trigger text,
    p_revision bigint,
    p_counter bigint,
    p_count bigint,
    p_now bigint,
    p_ids text[],
    p_action_ids text[],
    p_display_names text[],
    p_secrets text[],
    p_created bigint[]
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    current_revision bigint;
BEGIN
    -- Each statement below reads from when it starts: after this lock, the newest list.
    SELECT revision INTO current_revision FROM triggers WHERE id = p_trigger FOR UPDATE;
    IF NOT FOUND THEN
        RETURN -3;
    END IF;
    IF p_revision IS NOT NULL AND p_revision <> current_revision THEN
        RETURN -2;
    END IF;
    -- A write to a bound action waits for this one, or this one for it (and then sees
    -- the counter it moved).
    PERFORM 1 FROM actions WHERE id = ANY (p_action_ids) FOR SHARE;
    IF (SELECT value FROM counters WHERE name = 'actions') IS DISTINCT FROM p_counter THEN
        RETURN -1;
    END IF;
    DELETE FROM bindings WHERE trigger_id = p_trigger;
    INSERT INTO bindings (
        id, trigger_id, position, action_id, display_name, secrets, created_at, updated_at
    )
    SELECT b.id, p_trigger, (b.n - 1)::int, b.action_id, b.display_name, b.secrets::json,
           b.created_at, p_now
    FROM unnest(p_ids, p_action_ids, p_display_names, p_secrets, p_created)
         WITH ORDINALITY AS b(id, action_id, display_name, secrets, created_at, n);
    UPDATE triggers SET revision = current_revision + p_count WHERE id = p_trigger;
    RETURN current_revision + p_count;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CREATE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP FUNCTION IF EXISTS actionsd_replace_bindings("
            "text, bigint, bigint, bigint, bigint, text[], text[], text[], text[], bigint[])"
        )

"""SQLAlchemy Core tables. The schema itself is owned by the Alembic migrations in
``migrations/``; a test checks that both agree.

Timestamps are integers of nanoseconds since the epoch: Auth0's Actions service prints
nanosecond RFC 3339 times, and integers sort and compare the same on every dialect.
JSON columns hold arrays that are always read and written whole.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

actions = sa.Table(
    "actions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("trigger_id", sa.String(64), nullable=False, index=True),
    sa.Column("trigger_version", sa.String(16), nullable=False),
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("runtime", sa.String(32), nullable=False),
    sa.Column("dependencies", sa.JSON, nullable=False),
    # [{name, value, updated_at}] -- values are write-only through the API.
    sa.Column("secrets", sa.JSON, nullable=False),
    sa.Column("modules", sa.JSON, nullable=False),
    # Build status of the draft: pending, building, retrying, built, failed.
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("build_errors", sa.JSON, nullable=False),
    sa.Column("built_at", sa.BigInteger, nullable=True),
    # While building: when the claim was taken; while retrying: when to try again.
    sa.Column("build_claimed_at", sa.BigInteger, nullable=True),
    sa.Column("build_attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("all_changes_deployed", sa.Boolean, nullable=False),
    sa.Column("deployed_version_id", sa.String(36), nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False, index=True),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

action_versions = sa.Table(
    "action_versions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "action_id",
        sa.String(36),
        sa.ForeignKey("actions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("trigger_id", sa.String(64), nullable=False),
    sa.Column("trigger_version", sa.String(16), nullable=False),
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("runtime", sa.String(32), nullable=False),
    sa.Column("dependencies", sa.JSON, nullable=False),
    sa.Column("secrets", sa.JSON, nullable=False),
    sa.Column("modules", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("build_errors", sa.JSON, nullable=False),
    sa.Column("built_at", sa.BigInteger, nullable=True),
    # While building: when the claim was taken; while retrying: when to try again.
    sa.Column("build_claimed_at", sa.BigInteger, nullable=True),
    sa.Column("build_attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("action_id", "number", name="uq_action_versions_number"),
)

# One row per trigger id: the lock that serialises PATCHes of its bindings, and the
# revision counter behind optimistic concurrency.
triggers = sa.Table(
    "triggers",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("revision", sa.BigInteger, nullable=False),
)

bindings = sa.Table(
    "bindings",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "trigger_id",
        sa.String(64),
        sa.ForeignKey("triggers.id"),
        nullable=False,
    ),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column(
        "action_id",
        sa.String(36),
        sa.ForeignKey("actions.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("display_name", sa.String(255), nullable=False),
    sa.Column("secrets", sa.JSON, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Index("ix_bindings_trigger_position", "trigger_id", "position"),
)

clients = sa.Table(
    "clients",
    metadata,
    sa.Column("client_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    # sha256 of the secret: secrets are 256-bit random strings, so a slow hash adds nothing.
    sa.Column("secret_sha256", sa.String(64), nullable=False),
    sa.Column("scopes", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)

signing_keys = sa.Table(
    "signing_keys",
    metadata,
    sa.Column("kid", sa.String(64), primary_key=True),
    sa.Column("private_pem", sa.Text, nullable=False),
    sa.Column("public_jwk", sa.JSON, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    # NULL while the key may sign; set when rotated out (it still verifies until expiry).
    sa.Column("retired_at", sa.BigInteger, nullable=True),
)

executions = sa.Table(
    "executions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("trigger_id", sa.String(64), nullable=False, index=True),
    # final or suspended (waiting for a redirect to come back)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("results", sa.JSON, nullable=False),
    sa.Column("outcome", sa.JSON, nullable=False),
    # What a suspended flow needs to resume; NULL once final.
    sa.Column("state", sa.JSON, nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False, index=True),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    # Assigned by the database on insert, in write order (migration 0009).
    sa.Column("seq", sa.BigInteger, server_default=sa.FetchedValue()),
    sa.Index("ix_executions_trigger_created", "trigger_id", "created_at"),
    sa.Index("ix_executions_seq", "seq"),
)

action_modules = sa.Table(
    "action_modules",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("dependencies", sa.JSON, nullable=False),
    sa.Column("secrets", sa.JSON, nullable=False),
    sa.Column("all_changes_published", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

action_module_versions = sa.Table(
    "action_module_versions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "module_id",
        sa.String(36),
        sa.ForeignKey("action_modules.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("version_number", sa.Integer, nullable=False),
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("dependencies", sa.JSON, nullable=False),
    sa.Column("secrets", sa.JSON, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("module_id", "version_number", name="uq_module_versions_number"),
)

# Counters bumped by writes that readers must notice. "actions" moves with every write
# to an action or version (and every finished build), so runtimes re-read their cached
# flows and cached responses are revalidated.
counters = sa.Table(
    "counters",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)


def bump_actions_counter() -> sa.Update:
    """The statement every write to actions or versions runs last (the counter row is
    always the last lock a transaction takes, so it cannot deadlock)."""
    return counters.update().where(counters.c.name == "actions").values(value=counters.c.value + 1)


# Token buckets shared by every server process (each leases tokens in small batches).
rate_limits = sa.Table(
    "rate_limits",
    metadata,
    sa.Column("bucket", sa.String(64), primary_key=True),
    sa.Column("tokens", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

"""Initial schema: actions, versions, triggers, bindings, clients, signing keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "actions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("trigger_id", sa.String(64), nullable=False, index=True),
        sa.Column("trigger_version", sa.String(16), nullable=False),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("runtime", sa.String(32), nullable=False),
        sa.Column("dependencies", sa.JSON, nullable=False),
        sa.Column("secrets", sa.JSON, nullable=False),
        sa.Column("modules", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("build_errors", sa.JSON, nullable=False),
        sa.Column("built_at", sa.BigInteger, nullable=True),
        sa.Column("build_claimed_at", sa.BigInteger, nullable=True),
        sa.Column("all_changes_deployed", sa.Boolean, nullable=False),
        sa.Column("deployed_version_id", sa.String(36), nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False, index=True),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "action_versions",
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
        sa.Column("build_claimed_at", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("action_id", "number", name="uq_action_versions_number"),
    )
    op.create_table(
        "triggers",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("revision", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "bindings",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("trigger_id", sa.String(64), sa.ForeignKey("triggers.id"), nullable=False),
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
    )
    op.create_index("ix_bindings_trigger_position", "bindings", ["trigger_id", "position"])
    op.create_table(
        "clients",
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("scopes", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("private_pem", sa.Text, nullable=False),
        sa.Column("public_jwk", sa.JSON, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("retired_at", sa.BigInteger, nullable=True),
    )


def downgrade() -> None:
    for table in ("signing_keys", "clients", "bindings", "triggers", "action_versions", "actions"):
        op.drop_table(table)

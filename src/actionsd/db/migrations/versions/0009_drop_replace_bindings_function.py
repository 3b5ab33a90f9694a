"""PostgreSQL: drop 0007's bindings function. Every PATCH of a trigger's bindings now
takes one path, the rules in ``bindings/service.py`` in the request's transaction; a
second statement of the write in SQL had nothing left to call it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SIGNATURE = "text, bigint, bigint, bigint, bigint, text[], text[], text[], text[], bigint[]"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS actionsd_replace_bindings({SIGNATURE})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # 0007's own definition, not a copy of it.
        path = Path(__file__).with_name("0007_replace_bindings_function.py")
        spec = importlib.util.spec_from_file_location("migration_0007", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        op.execute(module.CREATE)

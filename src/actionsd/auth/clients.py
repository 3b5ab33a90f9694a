"""OAuth clients allowed to ask for Management API tokens (client credentials)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from actionsd.auth.tokens import ALL_SCOPES, EXECUTE_SCOPE
from actionsd.db.schema import clients
from actionsd.util import now_ns

ADMIN_NAME = "actionsd admin"
CREDENTIALS_FILE = "admin-client.json"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def ensure_admin(conn: Connection, data_dir: Path) -> Path | None:
    """Create the admin client on first start and write its credentials to a file that
    only the owner can read. Returns the file when it was just created."""
    if conn.execute(sa.select(clients.c.client_id).where(clients.c.name == ADMIN_NAME)).first():
        return None
    client_id = secrets.token_urlsafe(24)
    client_secret = secrets.token_urlsafe(48)
    conn.execute(
        clients.insert().values(
            client_id=client_id,
            name=ADMIN_NAME,
            secret_sha256=_digest(client_secret),
            scopes=" ".join((*ALL_SCOPES, EXECUTE_SCOPE)),
            created_at=now_ns(),
        )
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / CREDENTIALS_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"client_id": client_id, "client_secret": client_secret}, fh, indent=2)
    return path


def admin_client_id(conn: Connection) -> str | None:
    stmt = sa.select(clients.c.client_id).where(clients.c.name == ADMIN_NAME)
    return conn.execute(stmt).scalar_one_or_none()


def authenticate(conn: Connection, client_id: str, client_secret: str) -> list[str] | None:
    """The client's granted scopes, or None when the credentials are wrong."""
    row = conn.execute(sa.select(clients).where(clients.c.client_id == client_id)).first()
    # Compare a digest even for an unknown client, so timing does not tell which it was.
    expected = row.secret_sha256 if row else _digest(secrets.token_urlsafe(16))
    if not hmac.compare_digest(expected, _digest(client_secret)) or row is None:
        return None
    return str(row.scopes).split()

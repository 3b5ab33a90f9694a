"""RS256 signing keys, kept in the database so every server process signs and verifies
with the same ones. ``kid`` is the key's RFC 7638 thumbprint; retired keys keep
verifying, so a rotation never invalidates tokens already issued."""

from __future__ import annotations

import threading
import time
from typing import Any

import sqlalchemy as sa
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy.engine import Engine

from actionsd.db.engine import transaction
from actionsd.db.schema import signing_keys
from actionsd.util import now_ns

# A token naming a kid we do not know makes us re-read the table (another process may
# have rotated), but forged kids cannot make us do so more than once a second.
_MISS_RELOAD_INTERVAL_S = 1.0


class KeyStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._keys: dict[str, RSAKey] = {}
        self._public = KeySet([])
        self._signing_kid: str | None = None
        self._miss_reload_at = -_MISS_RELOAD_INTERVAL_S

    def ensure_signing_key(self) -> None:
        """Create the first key if the table has none, then load all of them."""
        with transaction(self._engine, write=True) as conn:
            active = conn.execute(
                sa.select(signing_keys.c.kid).where(signing_keys.c.retired_at.is_(None))
            ).first()
            if active is None:
                self._insert(conn, RSAKey.generate_key(2048, private=True))
        self.reload()

    def rotate(self) -> str:
        """Retire the signing key(s) and start signing with a new one; returns its kid."""
        key = RSAKey.generate_key(2048, private=True)
        with transaction(self._engine, write=True) as conn:
            conn.execute(
                signing_keys.update()
                .where(signing_keys.c.retired_at.is_(None))
                .values(retired_at=now_ns())
            )
            kid = self._insert(conn, key)
        self.reload()
        return kid

    @staticmethod
    def _insert(conn: sa.Connection, key: RSAKey) -> str:
        kid = key.thumbprint()
        public = {**key.as_dict(private=False), "kid": kid, "alg": "RS256", "use": "sig"}
        pem = key.as_pem(private=True).decode()
        conn.execute(
            signing_keys.insert().values(
                kid=kid, private_pem=pem, public_jwk=public, created_at=now_ns(), retired_at=None
            )
        )
        return kid

    def reload(self) -> None:
        with transaction(self._engine, write=False) as conn:
            rows = list(conn.execute(sa.select(signing_keys).order_by(signing_keys.c.created_at)))
        keys = {r.kid: RSAKey.import_key(r.private_pem, {"kid": r.kid}) for r in rows}
        public = KeySet([RSAKey.import_key(r.public_jwk) for r in rows])
        active = [r.kid for r in rows if r.retired_at is None]
        with self._lock:
            self._keys = keys
            self._public = public
            self._signing_kid = active[-1] if active else None

    def signing_key(self) -> tuple[str, RSAKey]:
        with self._lock:
            if self._signing_kid is None:
                raise RuntimeError("no signing key: call ensure_signing_key() first")
            return self._signing_kid, self._keys[self._signing_kid]

    def verification_keys(self, kid: str | None) -> KeySet:
        """The public keys to verify with; re-read the table once if ``kid`` is new."""
        with self._lock:
            now = time.monotonic()
            reload = (
                kid is not None
                and kid not in self._keys
                and now - self._miss_reload_at >= _MISS_RELOAD_INTERVAL_S
            )
            if reload:
                self._miss_reload_at = now
        if reload:
            self.reload()
        with self._lock:
            return KeySet(
                [RSAKey.import_key(k.as_dict(private=False)) for k in self._keys.values()]
            )

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            keys = list(self._keys.items())
        return {
            "keys": [
                {**key.as_dict(private=False), "kid": kid, "alg": "RS256", "use": "sig"}
                for kid, key in keys
            ]
        }

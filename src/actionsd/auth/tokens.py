"""Issue and verify the Management API's bearer tokens (RS256 JWTs)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from joserfc import errors as jose_errors
from joserfc import jwt
from joserfc.jws import extract_compact

from actionsd import errors
from actionsd.auth.keys import KeyStore
from actionsd.util import new_id

ALL_SCOPES = ("read:actions", "create:actions", "update:actions", "delete:actions")
# actionsd's own scope, outside Auth0's API: firing triggers from an identity server.
EXECUTE_SCOPE = "execute:actions"

# Auth0's 401 texts (contract §2.2).
MISSING_AUTH = "Missing authentication"
BAD_HEADER = "Bad HTTP authentication header format"
INVALID_TOKEN = "Invalid token"
BAD_SIGNATURE = "Invalid signature received for JSON Web Token validation"
EXPIRED = "Expired token received for JSON Web Token validation"


@dataclass(frozen=True)
class Claims:
    subject: str
    scopes: frozenset[str]
    issuer: str


def issuer_for(domain: str) -> str:
    return f"https://{domain}/"


def audience_for(domain: str) -> str:
    return f"https://{domain}/api/v2/"


def issue(
    keys: KeyStore, *, domain: str, client_id: str, scopes: list[str], lifetime_s: int
) -> str:
    kid, key = keys.signing_key()
    now = int(time.time())
    claims = {
        "iss": issuer_for(domain),
        "sub": f"{client_id}@clients",
        "aud": audience_for(domain),
        "iat": now,
        "exp": now + lifetime_s,
        "jti": new_id(),
        "scope": " ".join(scopes),
        "gty": "client-credentials",
        "azp": client_id,
    }
    return jwt.encode({"alg": "RS256", "typ": "JWT", "kid": kid}, claims, key, algorithms=["RS256"])


class VerifiedCache:
    """Tokens already verified, until they expire: an RSA verification per request is
    the largest fixed cost of a call. Keyed by the whole token string, so a cached
    entry is only ever used for the exact token that was verified."""

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._entries: dict[str, tuple[Claims, float]] = {}

    def get(self, token: str) -> Claims | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        if entry[1] <= time.time():
            self._entries.pop(token, None)
            return None
        return entry[0]

    def put(self, token: str, claims: Claims, exp: float) -> None:
        if len(self._entries) >= self._size:
            self._entries.clear()
        self._entries[token] = (claims, exp)


def verify(
    keys: KeyStore,
    authorization: str | None,
    domains: list[str],
    cache: VerifiedCache | None = None,
) -> Claims:
    """The token's claims, or Unauthorized with the text Auth0 gives for that failure.
    Only RS256 is accepted: ``alg: none`` and HS256-signed-with-the-public-key fail."""
    if cache is not None and authorization and authorization.startswith("Bearer "):
        hit = cache.get(authorization[7:].strip())
        if hit is not None:
            return hit
    if not authorization:
        raise errors.Unauthorized(MISSING_AUTH)
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise errors.Unauthorized(BAD_HEADER)
    token = token.strip()
    try:
        header = extract_compact(token.encode()).protected
    except (jose_errors.JoseError, ValueError, UnicodeDecodeError):
        raise errors.Unauthorized(INVALID_TOKEN) from None
    if header.get("alg") != "RS256":
        raise errors.Unauthorized(INVALID_TOKEN)
    kid = header.get("kid")
    try:
        decoded = jwt.decode(token, keys.verification_keys(kid), algorithms=["RS256"])
    except jose_errors.BadSignatureError:
        raise errors.Unauthorized(BAD_SIGNATURE) from None
    except (jose_errors.JoseError, ValueError, KeyError):
        raise errors.Unauthorized(INVALID_TOKEN) from None
    claims: dict[str, Any] = decoded.claims
    issuers = [issuer_for(d) for d in domains]
    try:
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "values": issuers},
            exp={"essential": True},
        ).validate(claims)
    except jose_errors.ExpiredTokenError:
        raise errors.Unauthorized(EXPIRED) from None
    except jose_errors.JoseError:
        raise errors.Unauthorized(INVALID_TOKEN) from None
    # The audience must be the API of the very domain that issued the token.
    expected_aud = claims["iss"] + "api/v2/"
    aud = claims.get("aud")
    auds = aud if isinstance(aud, list) else [aud]
    if expected_aud not in auds:
        raise errors.Unauthorized(f"Bad audience: {' '.join(str(a) for a in auds)}")
    scope = claims.get("scope", "")
    if not isinstance(scope, str):
        raise errors.Unauthorized(INVALID_TOKEN)
    verified = Claims(
        subject=str(claims.get("sub", "")),
        scopes=frozenset(scope.split()),
        issuer=claims["iss"],
    )
    if cache is not None:
        cache.put(token, verified, float(claims["exp"]))
    return verified

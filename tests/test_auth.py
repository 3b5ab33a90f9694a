"""Bearer tokens: issued by /oauth/token, verified on every request, scoped per route."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from actionsd.auth.tokens import ALL_SCOPES, EXECUTE_SCOPE
from tests.helpers import error
from tests.servers import InProcessServer


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(server: InProcessServer, **changes: Any) -> dict[str, Any]:
    domain = server.settings.domains[0]
    now = int(time.time())
    base = {
        "iss": f"https://{domain}/",
        "aud": f"https://{domain}/api/v2/",
        "sub": "attacker@clients",
        "iat": now,
        "exp": now + 600,
        "scope": " ".join(ALL_SCOPES),
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def signed(
    server: InProcessServer,
    payload: dict[str, Any],
    key: RSAKey | None = None,
    kid: str | None = None,
) -> str:
    real_kid, real_key = server.state.keys.signing_key()
    return jwt.encode(
        {"alg": "RS256", "kid": kid or real_kid}, payload, key or real_key, algorithms=["RS256"]
    )


def call(
    server: InProcessServer, token: str | None, method: str = "GET", path: str = "/actions/actions"
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.request(
        method, server.url + "/api/v2" + path, headers=headers, json={} if method != "GET" else None
    )


def assert_401(response: httpx.Response, message: str) -> None:
    assert response.status_code == 401, response.text
    assert error(response) == {"statusCode": 401, "error": "Unauthorized", "message": message}
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_valid_token_passes(server: InProcessServer) -> None:
    assert call(server, signed(server, claims(server))).status_code == 200


def test_missing_and_malformed_headers(server: InProcessServer) -> None:
    assert_401(call(server, None), "Missing authentication")
    response = httpx.get(
        server.url + "/api/v2/actions/actions", headers={"Authorization": "Basic abc"}
    )
    assert_401(response, "Bad HTTP authentication header format")
    assert_401(call(server, "not.a.jwt"), "Invalid token")


ATTACKS = {
    "expired": lambda s: signed(
        s, claims(s, exp=int(time.time()) - 10, iat=int(time.time()) - 700)
    ),
    "wrong-issuer": lambda s: signed(s, claims(s, iss="https://evil.example/")),
    "no-exp": lambda s: signed(s, claims(s, exp=None)),
    "not-yet-valid": lambda s: signed(s, claims(s, nbf=int(time.time()) + 3600)),
    "foreign-key-same-kid": lambda s: signed(
        s, claims(s), key=RSAKey.generate_key(2048, private=True)
    ),
    "unknown-kid": lambda s: signed(
        s, claims(s), key=RSAKey.generate_key(2048, private=True), kid="nope"
    ),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_forged_or_stale_tokens_are_refused(
    server: InProcessServer, api: httpx.Client, attack: str
) -> None:
    token = ATTACKS[attack](server)
    response = call(server, token, "POST", "/actions/actions")
    assert response.status_code == 401, response.text
    assert api.get("/actions/actions").json()["actions"] == [], "nothing may be created"


def test_expired_token_message(server: InProcessServer) -> None:
    token = signed(server, claims(server, exp=int(time.time()) - 10, iat=int(time.time()) - 700))
    assert_401(call(server, token), "Expired token received for JSON Web Token validation")


def test_bad_signature_message(server: InProcessServer) -> None:
    token = signed(server, claims(server), key=RSAKey.generate_key(2048, private=True))
    assert_401(call(server, token), "Invalid signature received for JSON Web Token validation")


def test_tampered_payload(server: InProcessServer) -> None:
    header, _, signature = signed(server, claims(server, scope="read:actions")).split(".")
    forged = b64(json.dumps(claims(server)).encode())
    assert_401(
        call(server, f"{header}.{forged}.{signature}"),
        "Invalid signature received for JSON Web Token validation",
    )


def test_alg_none_is_refused(server: InProcessServer) -> None:
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims(server)).encode())
    assert_401(call(server, f"{header}.{body}."), "Invalid token")


def test_hs256_signed_with_public_key_is_refused(server: InProcessServer) -> None:
    kid, key = server.state.keys.signing_key()
    public_pem = key.as_pem(private=False)
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = b64(json.dumps(claims(server)).encode())
    mac = hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    assert_401(call(server, f"{header}.{body}.{b64(mac)}"), "Invalid token")


def test_token_for_another_audience(server: InProcessServer) -> None:
    token = signed(server, claims(server, aud="https://other.example/api/v2/"))
    assert_401(call(server, token), "Bad audience: https://other.example/api/v2/")


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/actions/actions", "read:actions"),
        ("POST", "/actions/actions", "create:actions"),
        ("PATCH", "/actions/actions/x", "update:actions"),
        ("DELETE", "/actions/actions/x", "delete:actions"),
        ("POST", "/actions/actions/x/deploy", "create:actions"),
        ("POST", "/actions/actions/x/versions/y/deploy", "create:actions"),
        ("GET", "/actions/triggers", "read:actions"),
        ("PATCH", "/actions/triggers/post-login/bindings", "update:actions"),
        ("GET", "/actions/executions/abc", "read:actions"),
    ],
)
def test_each_route_requires_its_scope(
    server: InProcessServer, method: str, path: str, scope: str
) -> None:
    others = [s for s in ALL_SCOPES if s != scope]
    response = call(server, server.token(others), method, path)
    assert response.status_code == 403
    assert error(response) == {
        "statusCode": 403,
        "error": "Forbidden",
        "message": f"Insufficient scope, expected any of: {scope}",
        "errorCode": "insufficient_scope",
    }
    assert call(server, server.token([scope]), method, path).status_code != 403


def test_every_api_route_declares_a_scope(server: InProcessServer) -> None:
    """Secure by default: a route under /api/v2 or /actionsd without a scope is a bug."""
    from fastapi.routing import APIRoute

    for route in server.app.routes:
        if isinstance(route, APIRoute) and route.path.startswith(("/api/v2", "/actionsd/")):
            scopes = [getattr(d.dependency, "required_scope", None) for d in route.dependencies]
            assert any(scopes), route.path


def token_request(server: InProcessServer, form: bool, **fields: str) -> httpx.Response:
    if form:
        return httpx.post(server.url + "/oauth/token", data=fields)
    return httpx.post(server.url + "/oauth/token", json=fields)


@pytest.mark.parametrize("form", [False, True], ids=["json", "form"])
def test_client_credentials_grant(server: InProcessServer, form: bool) -> None:
    creds = json.loads((server.settings.data_dir / "admin-client.json").read_text())
    audience = f"https://{server.settings.domains[0]}/api/v2/"
    response = token_request(
        server, form, grant_type="client_credentials", audience=audience, **creds
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    assert body["scope"].split() == [*ALL_SCOPES, EXECUTE_SCOPE]
    assert call(server, body["access_token"]).status_code == 200

    narrowed = token_request(
        server,
        form,
        grant_type="client_credentials",
        audience=audience,
        scope="read:actions",
        **creds,
    ).json()
    assert narrowed["scope"] == "read:actions"
    assert call(server, narrowed["access_token"], "POST", "/actions/actions").status_code == 403


def test_token_endpoint_refusals(server: InProcessServer) -> None:
    creds = json.loads((server.settings.data_dir / "admin-client.json").read_text())
    audience = f"https://{server.settings.domains[0]}/api/v2/"
    wrong = token_request(
        server,
        False,
        grant_type="client_credentials",
        audience=audience,
        client_id=creds["client_id"],
        client_secret="nope",
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "access_denied"
    other = token_request(
        server, False, grant_type="client_credentials", audience="https://x/api/v2/", **creds
    )
    assert other.status_code == 403 and other.json() == {
        "error": "access_denied",
        "error_description": "Service not found: https://x/api/v2/",
    }
    grant = token_request(server, False, grant_type="password", audience=audience, **creds)
    assert grant.status_code == 403 and grant.json()["error"] == "unsupported_grant_type"


def test_jwks_verifies_issued_tokens(server: InProcessServer) -> None:
    keys = httpx.get(server.url + "/.well-known/jwks.json").json()["keys"]
    assert keys and all({"kid", "kty", "n", "e", "alg"} <= set(k) for k in keys)
    assert all("d" not in k for k in keys), "private members must never be published"
    kid, _ = server.state.keys.signing_key()
    assert kid in {k["kid"] for k in keys}


def test_cached_verification_still_expires(server: InProcessServer) -> None:
    token = signed(server, claims(server, exp=int(time.time()) + 2))
    assert call(server, token).status_code == 200
    assert call(server, token).status_code == 200  # served from the verification cache
    time.sleep(2.2)
    assert_401(call(server, token), "Expired token received for JSON Web Token validation")

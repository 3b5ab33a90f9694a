"""The server as its own issuer: ``POST /oauth/token`` (client credentials) and the
JSON Web Key Set that verifies its tokens."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from actionsd.api.deps import State
from actionsd.auth import clients, tokens

router = APIRouter(tags=["oauth"])


class TokenOut(BaseModel):
    access_token: str
    scope: str
    expires_in: int
    token_type: str


class JwksOut(BaseModel):
    keys: list[dict[str, Any]]


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


async def _form(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if "json" in request.headers.get("content-type", ""):
        try:
            parsed = json.loads(raw or b"{}")
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return dict(parse_qsl(raw.decode("utf-8", "replace")))


@router.post(
    "/oauth/token",
    response_model=TokenOut,
    operation_id="post_token",
    responses={401: {"description": "Wrong client credentials"}, 403: {"description": "Refused"}},
)
async def issue_token(request: Request, state: State) -> Any:
    """Client-credentials grant, JSON or form-encoded, as Auth0's token endpoint."""
    form = await _form(request)
    grant = form.get("grant_type")
    if grant != "client_credentials":
        return _oauth_error(403, "unsupported_grant_type", f"Unsupported grant type: {grant}")
    client_id, secret = form.get("client_id"), form.get("client_secret")
    if not isinstance(client_id, str) or not isinstance(secret, str):
        return _oauth_error(401, "access_denied", "Unauthorized")
    audience = form.get("audience")
    domain = next((d for d in state.domains if tokens.audience_for(d) == audience), None)
    if domain is None:
        return _oauth_error(403, "access_denied", f"Service not found: {audience}")
    with state.read() as conn:
        granted = clients.authenticate(conn, client_id, secret)
    if granted is None:
        return _oauth_error(401, "access_denied", "Unauthorized")
    asked = form.get("scope")
    scopes = granted if not asked else [s for s in str(asked).split() if s in granted]
    token = tokens.issue(
        state.keys,
        domain=domain,
        client_id=client_id,
        scopes=scopes,
        lifetime_s=state.settings.token_lifetime_seconds,
    )
    return {
        "access_token": token,
        "scope": " ".join(scopes),
        "expires_in": state.settings.token_lifetime_seconds,
        "token_type": "Bearer",
    }


@router.get("/.well-known/jwks.json", response_model=JwksOut, operation_id="get_jwks")
def jwks(state: State) -> Any:
    """The public keys that verify this server's tokens."""
    return state.keys.jwks()

"""A small OpenID Connect provider in Python (Flask + Authlib) that runs actionsd's
post-login flow in process, through the ``Runtime`` API, once per login.

    runtime = Runtime.open(Settings(data_dir=..., database_url=...))
    app = create_app(runtime, issuer="http://localhost:5000")
    app.run(port=5000)

Users, clients and codes live in memory: this is a recipe to copy from, not a product.
See docs/oidc.md."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import AccessDeniedError, ClientMixin, grants
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from authlib.oidc.core import AuthorizationCodeMixin
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask, Response, redirect, render_template_string, request, session
from joserfc.jwk import KeySet, RSAKey

from actionsd.runtime.service import FlowResult, Runtime

TEST_USER = {"email": "jane@example.com", "password": "actionsd-demo", "name": "Jane Doe"}
LOGIN_PAGE = """<!doctype html><meta charset=utf-8><title>Sign in</title>
<h1>Sign in</h1>{% if error %}<p role=alert>{{ error }}</p>{% endif %}
<form method=post><label>Email <input name=email type=email></label>
<label>Password <input name=password type=password></label><button>Sign in</button></form>"""


@dataclass
class Client(ClientMixin):  # type: ignore[misc]
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    name: str = "Python App"

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        return scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "client_secret_basic"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class Login:
    """A signed-in user and what this login's post-login flow decided."""

    user: dict[str, Any]
    outcome: dict[str, Any]

    def get_user_id(self) -> str:
        return str(self.user["user_id"])


@dataclass
class Code(AuthorizationCodeMixin):  # type: ignore[misc]
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    login: Login
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time


def final_scope(requested: str, outcome: dict[str, Any]) -> str:
    """The scope the login grants: as asked, plus what actions added, less what they
    removed (``api.accessToken.addScope`` / ``removeScope``)."""
    at = outcome.get("accessToken") or {}
    removed = set(at.get("removed_scopes") or [])
    scopes = [s for s in requested.split() if s not in removed]
    scopes += [s for s in at.get("added_scopes") or [] if s not in scopes]
    return " ".join(scopes)


def post_login_event(user: dict[str, Any], client: Client, query: dict[str, str]) -> dict[str, Any]:
    """Auth0's post-login event, from the user, the client, the browser's request and the
    authorization request."""
    public = {k: v for k, v in user.items() if k != "password"}
    return {
        "user": public,
        "client": {"client_id": client.client_id, "name": client.name, "metadata": {}},
        "connection": {"id": "con_python", "name": "python-users", "strategy": "auth0"},
        "request": {
            "ip": request.remote_addr,
            "hostname": request.host.split(":")[0],
            "method": request.method,
            "user_agent": request.user_agent.string,
            "query": query,
            "geoip": {},
        },
        "transaction": {
            "protocol": "oidc-basic-profile",
            "requested_scopes": query.get("scope", "").split(),
            "redirect_uri": query.get("redirect_uri"),
            "response_type": query.get("response_type", "").split(),
            "state": query.get("state"),
            "nonce": query.get("nonce"),
        },
        "authorization": {"roles": user.get("roles", [])},
        "stats": {"logins_count": user["logins_count"]},
    }


def create_app(runtime: Runtime, *, issuer: str, clients: list[Client] | None = None) -> Flask:
    app = Flask(__name__)
    app.secret_key = secrets.token_bytes(32)
    key = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(8), "use": "sig"})
    jwks = KeySet([key])
    users: dict[str, dict[str, Any]] = {
        "auth0|jane": {
            "user_id": "auth0|jane",
            "email": TEST_USER["email"],
            "password": TEST_USER["password"],
            "name": TEST_USER["name"],
            "email_verified": True,
            "roles": ["editor"],
            "app_metadata": {},
            "user_metadata": {},
            "logins_count": 0,
        }
    }
    registered = {c.client_id: c for c in clients or []}
    codes: dict[str, Code] = {}

    class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]

        def save_authorization_code(self, code: str, req: Any) -> None:
            login: Login = req.user
            codes[code] = Code(
                code=code,
                client_id=req.client.client_id,
                redirect_uri=req.payload.redirect_uri,
                scope=final_scope(req.payload.scope or "", login.outcome),
                nonce=req.payload.data.get("nonce"),
                login=login,
            )

        def query_authorization_code(self, code: str, client: Client) -> Code | None:
            found = codes.get(code)
            return found if found and found.client_id == client.client_id else None

        def delete_authorization_code(self, authorization_code: Code) -> None:
            codes.pop(authorization_code.code, None)

        def authenticate_user(self, authorization_code: Code) -> Login:
            return authorization_code.login

    class IdToken(OpenIDCode):  # type: ignore[misc]
        def exists_nonce(self, nonce: str, req: Any) -> bool:
            return any(c.nonce == nonce for c in codes.values())

        def resolve_client_private_key(self, client: Client) -> RSAKey:
            return key

        def get_client_claims(self, client: Client) -> dict[str, Any]:
            return {"iss": issuer}

        def get_encode_header(self, client: Client) -> dict[str, Any]:
            return {"alg": "RS256", "kid": key.kid}

        def generate_user_info(self, login: Login, scope: str) -> dict[str, Any]:
            user = login.user
            info: dict[str, Any] = {"sub": user["user_id"]}
            if "email" in scope.split():
                info.update(email=user["email"], email_verified=user["email_verified"])
            if "profile" in scope.split():
                info["name"] = user["name"]
            # Custom claims of the ID token; registered claims were already dropped.
            info.update((login.outcome.get("idToken") or {}).get("claims") or {})
            info["sub"] = user["user_id"]
            return info

    class AccessTokens(JWTBearerTokenGenerator):  # type: ignore[misc]
        def get_jwks(self) -> KeySet:
            return jwks

        def get_extra_claims(
            self, client: Client, grant_type: str, login: Login, scope: str
        ) -> Any:
            return (login.outcome.get("accessToken") or {}).get("claims") or {}

    server = AuthorizationServer(
        app, query_client=registered.get, save_token=lambda token, req: None
    )
    server.register_grant(CodeGrant, [IdToken(require_nonce=False)])
    server.register_token_generator("default", AccessTokens(issuer))

    def finish(user: dict[str, Any], result: FlowResult) -> Response:
        """The end of the flow: keep its metadata writes, then refuse or issue the code."""
        outcome = result.outcome
        for kind in ("app_metadata", "user_metadata"):
            for name, value in ((outcome.get("user") or {}).get(kind) or {}).items():
                if value is None:
                    user[kind].pop(name, None)
                else:
                    user[kind][name] = value
        grant = server.get_consent_grant(end_user=user)
        if result.error or outcome.get("denied"):
            reason = (result.error or {}).get("message") or outcome["denied"].get("reason")
            error = AccessDeniedError(
                description=reason,
                state=grant.request.payload.state,
                redirect_uri=grant.redirect_uri,
            )
            response: Response = server.handle_error_response(grant.request, error)
            return response
        granted: Response = server.create_authorization_response(
            grant_user=Login(user, outcome), grant=grant
        )
        return granted

    @app.route("/authorize", methods=["GET", "POST"])
    def authorize() -> Any:
        query = request.args.to_dict()
        done = session.pop("resumed", None)
        if done is not None:  # back from /continue: the flow has already run
            return finish(users[done["user_id"]], FlowResult(**done["result"]))
        grant = server.get_consent_grant(end_user=None)
        if request.method == "GET":
            return render_template_string(LOGIN_PAGE)
        user = next((u for u in users.values() if u["email"] == request.form.get("email")), None)
        if user is None or not secrets.compare_digest(
            user["password"], request.form.get("password", "")
        ):
            return render_template_string(LOGIN_PAGE, error="Wrong email or password."), 401
        user["logins_count"] += 1
        result = runtime.fire("post-login", post_login_event(user, grant.client, query))
        if result.status == "suspended":  # api.redirect.sendUserTo
            state = secrets.token_urlsafe(24)
            session["pending"] = {
                "state": state,
                "execution_id": result.execution_id,
                "user_id": user["user_id"],
                "query": query,
            }
            target = result.outcome["redirect"]["url"]
            return redirect(target + ("&" if "?" in target else "?") + urlencode({"state": state}))
        return finish(user, result)

    @app.route("/continue", methods=["GET", "POST"])
    def resume() -> Any:
        pending = session.get("pending")
        if pending is None or request.values.get("state") != pending["state"]:
            return "There is no sign-in waiting to continue.", 400
        del session["pending"]
        params: dict[str, Any] = {"query": request.args.to_dict()}
        if request.method == "POST":
            params["body"] = request.form.to_dict()
        result = runtime.resume(pending["execution_id"], params)
        if result.status == "suspended":
            return "A second redirect in one login is not supported here.", 400
        # The authorization request is answered at /authorize, with the flow's result.
        session["resumed"] = {
            "user_id": pending["user_id"],
            "result": {
                "execution_id": result.execution_id,
                "trigger_id": result.trigger_id,
                "status": result.status,
                "outcome": result.outcome,
                "results": [],
                "error": result.error,
            },
        }
        return redirect("/authorize?" + urlencode(pending["query"]))

    @app.post("/token")
    def token() -> Any:
        return server.create_token_response()

    @app.get("/jwks")
    def keys() -> Any:
        return jwks.as_dict(private=False)

    return app

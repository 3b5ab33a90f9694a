"""The Python recipe (``examples/python-idp``, Flask + Authlib): real logins over HTTP
through an identity server that fires the post-login flow in process with ``Runtime``,
on the database of a real actionsd server where the actions are deployed and bound.
The test is the relying party: it swaps the code and verifies the ID token."""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from werkzeug.serving import make_server

from actionsd.runtime.service import Runtime
from tests.conftest import make_settings
from tests.helpers import by_id, deployed_action, patch_bindings
from tests.servers import InProcessServer, free_port

RECIPE = Path(__file__).resolve().parents[1] / "examples" / "python-idp" / "idp.py"
NS = "https://py.test/"
REDIRECT = "http://127.0.0.1:9/cb"  # never visited: the test reads the redirect itself


def load_recipe() -> ModuleType:
    spec = importlib.util.spec_from_file_location("python_idp", RECIPE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


idp = load_recipe()


@pytest.fixture(scope="module")
def actionsd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    server = InProcessServer(make_settings(tmp_path_factory.mktemp("py-idp"), "sqlite")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api(actionsd: InProcessServer) -> Iterator[httpx.Client]:
    with actionsd.client() as client:
        yield client


@pytest.fixture(scope="module")
def issuer(actionsd: InProcessServer) -> Iterator[str]:
    runtime = Runtime.open(actionsd.settings)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = idp.create_app(
        runtime, issuer=url, clients=[idp.Client("py-app", "py-secret", [REDIRECT])]
    )
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield url
    server.shutdown()
    runtime.close()


def deploy(api: httpx.Client, name: str, body: str, on_continue: str = "") -> str:
    code = f"exports.onExecutePostLogin = async (event, api) => {{ {body} }};"
    if on_continue:
        code += f"\nexports.onContinuePostLogin = async (event, api) => {{ {on_continue} }};"
    return str(deployed_action(api, name, code=code)["id"])


def bind(api: httpx.Client, *ids: str) -> None:
    response = patch_bindings(api, "post-login", [by_id(i) for i in ids])
    assert response.status_code == 200, response.text


class Browser:
    """An HTTP client with a cookie jar, signing in as a browser would."""

    def __init__(self, issuer: str, scope: str = "openid email") -> None:
        self.issuer = issuer
        self.http = httpx.Client(base_url=issuer, follow_redirects=False)
        self.query = {
            "client_id": "py-app",
            "response_type": "code",
            "redirect_uri": REDIRECT,
            "scope": scope,
            "state": "st-1",
            "nonce": "nonce-1",
        }

    def sign_in(self, password: str = "actionsd-demo") -> httpx.Response:
        page = self.http.get("/authorize", params=self.query)
        assert page.status_code == 200 and "Sign in" in page.text, page.text
        return self.http.post(
            "/authorize",
            params=self.query,
            data={"email": "jane@example.com", "password": password},
        )

    @staticmethod
    def answer(response: httpx.Response) -> dict[str, str]:
        assert response.status_code == 302, response.text
        location = response.headers["location"]
        assert location.startswith(REDIRECT), location
        return dict(parse_qsl(urlsplit(location).query))

    def tokens(self, response: httpx.Response) -> dict[str, Any]:
        answer = self.answer(response)
        assert answer["state"] == "st-1" and "code" in answer, answer
        swapped = self.http.post(
            "/token",
            auth=("py-app", "py-secret"),
            data={
                "grant_type": "authorization_code",
                "code": answer["code"],
                "redirect_uri": REDIRECT,
            },
        )
        assert swapped.status_code == 200, swapped.text
        body: dict[str, Any] = swapped.json()
        keys = KeySet.import_key_set(self.http.get("/jwks").json())
        id_token = jwt.decode(body["id_token"], keys)
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": "py-app"},
            nonce={"essential": True, "value": "nonce-1"},
        ).validate(id_token.claims)
        access = jwt.decode(body["access_token"], keys)
        return {"id": id_token.claims, "access": access.claims, "scope": body["scope"]}


def custom(claims: dict[str, Any]) -> dict[str, Any]:
    return {k.removeprefix(NS): v for k, v in claims.items() if k.startswith(NS)}


def test_claims_in_binding_order_metadata_and_scopes(api: httpx.Client, issuer: str) -> None:
    first = deploy(
        api,
        "py-first",
        f"api.idToken.setCustomClaim('{NS}color', 'blue');"
        f"api.idToken.setCustomClaim('{NS}seen', event.user.app_metadata.seen || 0);"
        "api.user.setAppMetadata('seen', (event.user.app_metadata.seen || 0) + 1);"
        f"api.accessToken.setCustomClaim('{NS}tier', 'gold');"
        "api.accessToken.addScope('reports:export');"
        "api.accessToken.removeScope('email');",
    )
    second = deploy(api, "py-second", f"api.idToken.setCustomClaim('{NS}color', 'green');")
    bind(api, first, second)

    browser = Browser(issuer)
    assert browser.sign_in("wrong").status_code == 401
    tokens = browser.tokens(browser.sign_in())
    assert custom(tokens["id"]) == {"color": "green", "seen": 0}
    assert tokens["access"][NS + "tier"] == "gold"
    assert tokens["scope"].split() == ["openid", "reports:export"]
    assert "email" not in tokens["id"]  # removed from the granted scope

    bind(api, second, first)
    again = Browser(issuer).tokens(Browser(issuer).sign_in())
    assert custom(again["id"]) == {"color": "blue", "seen": 1}


def test_deny_refuses_the_login(api: httpx.Client, issuer: str) -> None:
    bind(api, deploy(api, "py-deny", "api.access.deny('Not today');"))
    browser = Browser(issuer)
    answer = browser.answer(browser.sign_in())
    assert answer == {
        "error": "access_denied",
        "error_description": "Not today",
        "state": "st-1",
    }


def test_redirect_and_continue(api: httpx.Client, issuer: str) -> None:
    step = deploy(
        api,
        "py-step",
        "api.redirect.sendUserTo('https://step.example/confirm');",
        on_continue=f"api.idToken.setCustomClaim('{NS}answer', event.request.query.answer);",
    )
    after = deploy(api, "py-after", f"api.idToken.setCustomClaim('{NS}after', true);")
    bind(api, step, after)
    browser = Browser(issuer)
    out = browser.sign_in()
    assert out.status_code == 302
    target = urlsplit(out.headers["location"])
    assert (target.netloc, target.path) == ("step.example", "/confirm")
    state = dict(parse_qsl(target.query))["state"]
    # The external page sends the user back (the test plays its part: nothing is sent to
    # step.example). A state that is not the one handed out is refused.
    assert browser.http.get("/continue", params={"state": "forged"}).status_code == 400
    back = browser.http.get("/continue", params={"state": state, "answer": "yes"})
    assert back.status_code == 302, back.text
    tokens = browser.tokens(browser.http.get(back.headers["location"]))
    assert custom(tokens["id"]) == {"answer": "yes", "after": True}
    # Spent: coming back twice does not log in twice.
    assert browser.http.get("/continue", params={"state": state}).status_code == 400

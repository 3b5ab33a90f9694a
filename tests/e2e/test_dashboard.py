"""The dashboard in a real headless Chromium against ``actionsd serve``: sign in, create
and deploy actions, edit secrets, test, diff and roll back, drag actions into the
post-login flow, reorder, save, meet a conflicting change, run the flow and read its
execution. What the page did is checked through the API, not only on screen.

Screenshots of every page land in ``test-artifacts/dashboard/`` (phone widths too).
Needs Debian's chromium (``.ci/run`` installs it); without it the test skips, unless
``ACTIONSD_REQUIRE_BROWSER=1`` (CI) turns the skip into a failure."""

from __future__ import annotations

import os
import shutil
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from actionsd.dashboard.views import built
from tests.servers import CliServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
# Without the background-networking switches Chromium keeps dialling Google's hosts.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADD_ROLES = """exports.onExecutePostLogin = async (event, api) => {
  console.log('roles for ' + event.user.email);
  api.idToken.setCustomClaim('https://example.com/roles', event.authorization.roles);
};
"""
USES_MS = """const ms = require('ms');
exports.onExecutePostLogin = async (event, api) => {
  console.log('one minute is ' + ms('1m') + ' ms');
};
"""
AUDIT = """exports.onExecutePostLogin = async (event, api) => {
  console.log('audit ' + event.user.user_id + ' ' + (event.secrets.AUDIT_KEY ? 'keyed' : 'open'));
};
"""


def _require_browser() -> None:
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append("Debian's chromium")
    if not built():
        missing.append("the built dashboard (make ui)")
    if missing:
        reason = "the dashboard test needs " + " and ".join(missing)
        if os.environ.get("ACTIONSD_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliServer]:
    _require_browser()
    srv = CliServer(tmp_path_factory.mktemp("dashboard")).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def api(server: CliServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"https://{server.domain}",
        verify=ssl.create_default_context(cafile=str(server.ca_file)),
        headers={"authorization": f"Bearer {server.token()}"},
        timeout=30,
    ) as client:
        yield client


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    _require_browser()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(
            ignore_https_errors=True, viewport={"width": 1280, "height": 860}
        )
        context.set_default_timeout(20_000)
        pg = context.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        yield pg
        context.close()
        browser.close()
        assert errors == [], f"uncaught errors in the page: {errors}"


# Whether a <select> is wide enough for its chosen option's text (plus its arrow).
TEXT_FITS = """select => {
  const probe = document.createElement("span");
  probe.style.font = getComputedStyle(select).font;
  probe.style.whiteSpace = "pre";
  probe.textContent = select.options[select.selectedIndex].text;
  document.body.append(probe);
  const needed = probe.getBoundingClientRect().width;
  probe.remove();
  const style = getComputedStyle(select);
  const room = select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return needed + 16 <= room;
}"""


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def set_code(page: Page, code: str) -> None:
    """Replace the editor's text as a paste would (typing would trigger auto-closing)."""
    editor = page.locator(".cm-content").first
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(code)


def create_and_deploy(page: Page, server: CliServer, name: str, code: str) -> str:
    page.goto(f"https://{server.domain}/dashboard/#/actions")
    page.get_by_role("button", name="Create action").first.click()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Trigger").select_option("post-login")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    set_code(page, code)
    expect(page.get_by_text("Unsaved changes")).to_be_visible()
    page.get_by_role("button", name="Save & deploy").click()
    expect(page.get_by_text("Deployed as version 1.")).to_be_visible()
    expect(page.locator(".badge[data-state=deployed]")).to_be_visible()
    return str(page.url.split("#/actions/")[1].split("/")[0])


def flow_names(page: Page) -> list[str]:
    names: list[str] = page.locator("[data-step]").evaluate_all(
        "els => els.map(e => e.dataset.step)"
    )
    return names


def bound_names(api: httpx.Client) -> list[str]:
    body = api.get("/api/v2/actions/triggers/post-login/bindings").json()
    return [b["action"]["name"] for b in body["bindings"]]


def test_dashboard_end_to_end(page: Page, server: CliServer, api: httpx.Client) -> None:
    base = f"https://{server.domain}"

    # Sign-in: a wrong secret is refused in words, the right one lets us in.
    page.goto(base + "/")
    expect(page).to_have_url(f"{base}/dashboard/")
    expect(page.get_by_role("form", name="Sign in")).to_be_visible()
    shot(page, "01-sign-in")
    creds = server.credentials()
    page.get_by_label("Client ID").fill(creds["client_id"])
    page.get_by_label("Client secret").fill("not-the-secret")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong client id or client secret")
    page.get_by_label("Client secret").fill(creds["client_secret"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Actions", exact=True)).to_be_visible()
    expect(page.get_by_text("No actions yet")).to_be_visible()
    shot(page, "02-actions-empty")

    # Create, edit, deploy two actions.
    roles_id = create_and_deploy(page, server, "Add roles", ADD_ROLES)
    shot(page, "03-action-editor")
    audit_id = create_and_deploy(page, server, "Audit", AUDIT)
    deployed = api.get(f"/api/v2/actions/actions/{roles_id}").json()
    assert deployed["deployed_version"]["number"] == 1
    assert deployed["code"] == ADD_ROLES

    # A secret: written through the page, never shown back.
    page.goto(f"{base}/dashboard/#/actions/{audit_id}/settings")
    page.get_by_label("Secret name").fill("AUDIT_KEY")
    page.get_by_label("Secret value").fill("s3cr3t-value")
    page.get_by_role("form", name="Add secret").get_by_role("button", name="Add").click()
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("value hidden")).to_be_visible()
    assert "s3cr3t-value" not in page.content()
    secrets = api.get(f"/api/v2/actions/actions/{audit_id}").json()["secrets"]
    assert [s["name"] for s in secrets] == ["AUDIT_KEY"]
    # The saved draft now differs from what is live, and says so until deployed.
    expect(page.locator(".badge[data-state=changed]")).to_be_visible()
    shot(page, "04-dependencies-secrets")
    page.get_by_role("button", name="Deploy", exact=True).click()
    expect(page.get_by_text("Deployed as version 2.")).to_be_visible()

    # Test against the sample event; the result is shown.
    page.goto(f"{base}/dashboard/#/actions/{roles_id}/test")
    page.get_by_role("button", name="Run test").click()
    result = page.get_by_test_id("test-result")
    expect(result).to_contain_text("Ran without error")
    expect(result).to_contain_text("https://example.com/roles")
    expect(result).to_contain_text("roles for j+smith@example.com")
    shot(page, "05-test")

    # A second version, its diff against version 1, and a rollback to version 1.
    page.goto(f"{base}/dashboard/#/actions/{roles_id}")
    set_code(page, ADD_ROLES.replace("roles for", "v2 roles for"))
    page.get_by_role("button", name="Save & deploy").click()
    expect(page.get_by_text("Deployed as version 2.")).to_be_visible()
    page.get_by_role("tab", name="Versions").click()
    page.get_by_role("button", name="Version 1", exact=True).click()
    expect(page.get_by_test_id("diff").locator(".diff-add")).to_contain_text("v2 roles for")
    expect(page.get_by_test_id("diff").locator(".diff-del")).to_contain_text("roles for")
    shot(page, "06-versions-diff")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_label("Rolling back also resets the draft").check()
    page.get_by_role("button", name="Roll back to v1").click()
    expect(page.get_by_text("version 3, a copy of version 1, is live")).to_be_visible()
    versions = api.get(f"/api/v2/actions/actions/{roles_id}/versions").json()["versions"]
    live = [v for v in versions if v["deployed"]]
    assert [v["number"] for v in live] == [3] and live[0]["code"] == ADD_ROLES
    assert api.get(f"/api/v2/actions/actions/{roles_id}").json()["code"] == ADD_ROLES

    # An npm dependency, really installed by the build and used by the code.
    ms_id = create_and_deploy(page, server, "Durations", USES_MS.replace("require('ms')", "{}"))
    page.goto(f"{base}/dashboard/#/actions/{ms_id}/settings")
    page.get_by_label("Package name").fill("ms")
    page.get_by_label("Package version").fill("2.1.3")
    page.get_by_role("form", name="Add dependency").get_by_role("button", name="Add").click()
    expect(page.get_by_role("list", name="Dependencies")).to_contain_text("ms@2.1.3")
    page.get_by_role("tab", name="Code").click()
    set_code(page, USES_MS)
    page.get_by_role("button", name="Save & deploy").click()
    expect(page.get_by_text("Deployed as version 2.")).to_be_visible(timeout=120_000)
    assert api.get(f"/api/v2/actions/actions/{ms_id}").json()["dependencies"] == [
        {"name": "ms", "version": "2.1.3"}
    ]
    page.get_by_role("tab", name="Test").click()
    page.get_by_role("button", name="Run test").click()
    expect(page.get_by_test_id("test-result")).to_contain_text("one minute is 60000 ms")

    # Code that does not parse: the editor warns, and the draft still builds (as on
    # Auth0, such code fails when it runs, not when it builds).
    page.get_by_role("tab", name="Code").click()
    set_code(page, "exports.onExecutePostLogin = async (event, api) => {")
    expect(page.locator(".cm-lintRange-warning").first).to_be_attached()
    expect(page.locator(".cm-lint-marker-warning").first).to_be_visible()
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator(".badge[data-state=changed]")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("button", name="Deploy", exact=True)).to_be_enabled()
    shot(page, "07-syntax-warning")

    # The actions list shows each with its status.
    page.goto(f"{base}/dashboard/#/actions")
    expect(page.locator("tr[data-action='Add roles'] .badge")).to_have_attribute(
        "data-state", "deployed"
    )
    expect(page.locator("tr[data-action='Durations'] .badge")).to_have_attribute(
        "data-state", "changed"
    )
    shot(page, "08-actions-list")

    # Flows: drag both in (the second above the first), reorder by keyboard, save.
    page.goto(f"{base}/dashboard/#/flows/post-login")
    expect(page.get_by_text("Drag an action here")).to_be_visible()
    shot(page, "09-flow-empty")
    flow = page.get_by_test_id("flow")
    page.locator("[data-library='Add roles']").drag_to(flow)
    expect(page.locator("[data-step]")).to_have_count(1)
    page.locator("[data-library='Audit']").drag_to(
        page.locator("[data-step='Add roles']"), target_position={"x": 40, "y": 3}
    )
    assert flow_names(page) == ["Audit", "Add roles"]
    page.locator("[data-step='Add roles']").drag_to(
        page.locator("[data-step='Audit']"), target_position={"x": 40, "y": 3}
    )
    assert flow_names(page) == ["Add roles", "Audit"]
    page.locator("[data-step='Add roles']").focus()
    page.keyboard.press("Alt+ArrowDown")
    assert flow_names(page) == ["Audit", "Add roles"]
    expect(page.get_by_test_id("announcement")).to_contain_text("moved to position 2 of 2")
    assert bound_names(api) == []  # nothing is stored before Save
    patches: list[str] = []
    page.on("request", lambda r: patches.append(r.url) if r.method == "PATCH" else None)
    page.get_by_role("button", name="Save flow").click()
    expect(page.get_by_text("now runs 2 actions")).to_be_visible()
    assert patches == [f"{base}/api/v2/actions/triggers/post-login/bindings"]
    assert bound_names(api) == ["Audit", "Add roles"]
    shot(page, "10-flow-saved")

    # Someone else changes the flow; our next save is refused and the conflict shown.
    other = {
        "bindings": [{"ref": {"type": "action_name", "value": "Add roles"}, "display_name": "x"}]
    }
    assert api.patch("/api/v2/actions/triggers/post-login/bindings", json=other).status_code == 200
    page.locator("[data-step='Audit']").focus()
    page.keyboard.press("Alt+ArrowDown")
    page.get_by_role("button", name="Save flow").click()
    expect(page.get_by_text("Someone else changed this flow")).to_be_visible()
    expect(page.get_by_test_id("theirs")).to_contain_text("x")
    assert bound_names(api) == ["Add roles"]  # their change stands
    shot(page, "11-flow-conflict")
    page.get_by_role("button", name="Replace theirs with mine").click()
    expect(page.get_by_text("now runs 2 actions")).to_be_visible()
    assert bound_names(api) == ["Add roles", "Audit"]

    # Removing, by keyboard or by dragging back to the library, stays local until Save.
    page.locator("[data-step='Audit']").focus()
    page.keyboard.press("Delete")
    assert flow_names(page) == ["Add roles"]
    page.locator("[data-step='Add roles']").drag_to(page.get_by_test_id("library"))
    assert flow_names(page) == []
    expect(page.get_by_text("Unsaved changes")).to_be_visible()
    page.get_by_role("button", name="Discard").click()
    assert flow_names(page) == ["Add roles", "Audit"]
    assert bound_names(api) == ["Add roles", "Audit"]

    # Executions: run the flow from the page and read each action's result and logs.
    page.goto(f"{base}/dashboard/#/executions/post-login")
    expect(page.get_by_text("No executions yet")).to_be_visible()
    # The trigger picker shows its whole label ("Login / Post Login (post-login)").
    assert page.get_by_label("Trigger").evaluate(TEXT_FITS), "the trigger picker cuts its label"
    page.get_by_text("Run this flow with a sample event").click()
    page.get_by_role("button", name="Run flow").click()
    expect(page.get_by_test_id("run-result")).to_contain_text(
        "The flow ran its 2 actions, in order."
    )
    row = page.locator("[data-execution]").first
    expect(row).to_contain_text("Just ran")
    # The 44-line sample event scrolls in its own box: the newest run is in view.
    assert row.evaluate("e => e.getBoundingClientRect().top < window.innerHeight"), "below the fold"
    # A click on the newest run opens it (the run did not open it, so this does not close it).
    row.get_by_role("button").first.click()
    expect(row.get_by_role("button").first).to_have_attribute("aria-expanded", "true")
    expect(row.get_by_role("table", name="Action results")).to_contain_text("Add roles")
    expect(row).to_contain_text("audit auth0|5f7c8ec7c33c6c004bbafe82 keyed")
    execution_id = row.get_attribute("data-execution")
    stored = api.get(f"/api/v2/actions/executions/{execution_id}").json()
    assert [r["action_name"] for r in stored["results"]] == ["Add roles", "Audit"]
    shot(page, "12-executions")

    # Entity-bound triggers have no flow to arrange; the page says so, without an error.
    page.goto(f"{base}/dashboard/#/flows/custom-token-exchange")
    expect(page.get_by_text("bound to other objects")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_count(0)
    options = page.get_by_label("Trigger").locator("option").all_inner_texts()
    assert any("post-login" in o for o in options)
    assert not any("custom-token-exchange" in o for o in options)

    # Phone width: nothing runs off the side.
    page.set_viewport_size({"width": 390, "height": 844})
    for route, name in [
        ("actions", "13-phone-actions"),
        ("flows/post-login", "14-phone-flow"),
        (f"actions/{roles_id}", "15-phone-editor"),
        ("executions/post-login", "16-phone-executions"),
    ]:
        page.goto(f"{base}/dashboard/#/{route}")
        page.wait_for_load_state("networkidle")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{route} is {overflow}px wider than a phone"
        shot(page, name)

    # Signing out forgets the token.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("form", name="Sign in")).to_be_visible()


def test_a_read_only_token_gets_read_only_views(
    page: Page, server: CliServer, api: httpx.Client
) -> None:
    """Signed in with a read:actions token, nothing offers a change the API would refuse
    (runs after the end-to-end test, on the actions and flow it made)."""
    base = f"https://{server.domain}"
    page.set_viewport_size({"width": 1280, "height": 860})
    page.goto(f"{base}/dashboard/")
    page.get_by_role("tab", name="Access token").click()
    page.get_by_label("Access token").fill(server.token(scopes="read:actions"))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("read-only")).to_be_visible()
    expect(page.get_by_role("table", name="Actions")).to_contain_text("Add roles")
    expect(page.get_by_role("button", name="Create action")).to_have_count(0)

    roles = next(a for a in api.get("/api/v2/actions/actions").json()["actions"]
                 if a["name"] == "Add roles")  # fmt: skip
    page.goto(f"{base}/dashboard/#/actions/{roles['id']}")
    expect(page.get_by_role("heading", name="Add roles")).to_be_visible()
    editor = page.locator(".cm-content").first
    expect(editor).to_have_attribute("aria-readonly", "true")
    editor.click()
    page.keyboard.type("typed")
    expect(page.get_by_text("Unsaved changes")).to_have_count(0)
    for name in ("Save draft", "Deploy", "Save & deploy", "Delete action"):
        expect(page.get_by_role("button", name=name, exact=True)).to_have_count(0)
    page.goto(f"{base}/dashboard/#/actions/{roles['id']}/settings")
    expect(page.get_by_role("form", name="Add secret")).to_have_count(0)
    expect(page.get_by_role("form", name="Add dependency")).to_have_count(0)
    page.goto(f"{base}/dashboard/#/actions/{roles['id']}/versions")
    expect(page.get_by_role("list", name="Versions")).to_be_visible()
    expect(page.get_by_role("button", name="Roll back", exact=False)).to_have_count(0)
    page.goto(f"{base}/dashboard/#/actions/{roles['id']}/test")
    expect(page.get_by_role("button", name="Run test")).to_be_disabled()
    shot(page, "17-read-only-action")

    page.goto(f"{base}/dashboard/#/flows/post-login")
    expect(page.get_by_test_id("flow")).to_contain_text("Add roles")
    expect(page.get_by_role("button", name="Save flow")).to_have_count(0)
    expect(page.get_by_role("button", name="Add", exact=False)).to_have_count(0)
    assert page.locator("[data-step][draggable=true]").count() == 0
    before = bound_names(api)
    page.locator("[data-step]").first.focus()
    page.keyboard.press("Delete")
    assert flow_names(page) == before, "the keyboard does not edit a read-only flow"
    shot(page, "18-read-only-flow")

    expect(page.get_by_role("button", name="Edit Add roles")).to_have_count(0)

    page.goto(f"{base}/dashboard/#/executions/post-login")
    expect(page.get_by_role("list", name="Executions")).to_be_visible()
    expect(page.get_by_text("Run this flow with a sample event")).to_have_count(0)

    # Actions Modules: listed and readable, nothing to create, publish, roll back or delete.
    made = api.post(
        "/api/v2/actions/modules", json={"name": "ro-module", "code": "module.exports = 1;"}
    )
    assert made.status_code == 201, made.text
    module_id = made.json()["id"]
    assert api.post(f"/api/v2/actions/modules/{module_id}/versions").status_code == 200
    page.goto(f"{base}/dashboard/#/modules")
    expect(page.get_by_role("table", name="Modules")).to_contain_text("ro-module")
    expect(page.get_by_role("button", name="Create module")).to_have_count(0)
    page.goto(f"{base}/dashboard/#/modules/{module_id}/code")
    expect(page.get_by_text("Read-only", exact=True)).to_be_visible()
    for name in ("Save draft", "Publish", "Save & publish", "Delete module"):
        expect(page.get_by_role("button", name=name, exact=True)).to_have_count(0)
    page.goto(f"{base}/dashboard/#/modules/{module_id}/versions")
    expect(page.get_by_role("list", name="Versions")).to_contain_text("Version 1")
    expect(page.get_by_role("button", name="Roll back", exact=False)).to_have_count(0)
    shot(page, "19-read-only-module")
    page.get_by_role("button", name="Sign out").click()

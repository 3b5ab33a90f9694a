"""The dashboard's Modules pages, binding editing in Flows and the execution detail page,
in a real headless Chromium against ``actionsd serve``, each page at laptop (1366x768)
and phone (390x844) width. What the page did is checked through the Management API and
by running the flow. One server and one browser serve every test here; the actions are
made through the API (no dependencies, so no npm install) to keep the module cheap.

Screenshots land in ``test-artifacts/dashboard/pages-*.png``."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.e2e.test_dashboard import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    _require_browser,
    set_code,
)
from tests.helpers import create_action, deploy, wait_status
from tests.runtime_helpers import execution, fire
from tests.servers import CliServer

LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
GREETER_V1 = "module.exports = { tag: (s) => '[' + actions.secrets.PREFIX + '] ' + s };\n"
GREETER_V2 = "module.exports = { tag: (s) => '<' + actions.secrets.PREFIX + '> ' + s };\n"
GREET = """exports.onExecutePostLogin = async (event, api) => {
  api.idToken.setCustomClaim('https://example.com/who', event.secrets.WHO);
};
"""
AUDIT = """exports.onExecutePostLogin = async (event, api) => {
  console.log('audit key=' + (event.secrets.AUDIT_KEY || 'none'));
};
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliServer]:
    _require_browser()
    srv = CliServer(tmp_path_factory.mktemp("dashboard-pages")).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def token(server: CliServer) -> str:
    """The admin client's token (its scopes include running flows), from /oauth/token as
    the sign-in page gets one: quicker than a child process running `actionsd token`."""
    creds = server.credentials()
    answer = httpx.post(
        f"https://{server.domain}/oauth/token",
        json={
            "grant_type": "client_credentials",
            "client_id": creds["client_id"],
            "client_secret": creds["client_secret"],
            "audience": f"https://{server.domain}/api/v2/",
        },
        verify=ssl.create_default_context(cafile=str(server.ca_file)),
    )
    assert answer.status_code == 200, answer.text
    issued: str = answer.json()["access_token"]
    return issued


@pytest.fixture(scope="module")
def api(server: CliServer, token: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"https://{server.domain}/api/v2",
        verify=ssl.create_default_context(cafile=str(server.ca_file)),
        headers={"authorization": f"Bearer {token}"},
        timeout=30,
    ) as client:
        yield client


@pytest.fixture(scope="module")
def page(server: CliServer, token: str) -> Iterator[Page]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(ignore_https_errors=True, viewport=LAPTOP)
        context.set_default_timeout(20_000)
        pg = context.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.goto(f"https://{server.domain}/dashboard/")
        expect(pg.get_by_role("form", name="Sign in")).to_be_visible()
        fits_both_widths(pg)
        pg.get_by_role("tab", name="Access token").click()
        pg.get_by_label("Access token").fill(token)
        pg.get_by_role("button", name="Sign in").click()
        expect(pg.get_by_role("heading", name="Actions", exact=True)).to_be_visible()
        yield pg
        context.close()
        browser.close()
        assert errors == [], f"uncaught errors in the page: {errors}"


def go(page: Page, server: CliServer, route: str) -> None:
    page.goto(f"https://{server.domain}/dashboard/#/{route}")


def fits_both_widths(page: Page, name: str | None = None) -> None:
    """Nothing runs off the side at phone or laptop width; with a name, a screenshot of
    each (the page is left at laptop width)."""
    for label, size in (("phone", PHONE), ("laptop", LAPTOP)):
        page.set_viewport_size(size)  # reading scrollWidth lays the page out again
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{page.url} is {overflow}px too wide at {label} width"
        if name:
            page.screenshot(path=str(ARTIFACTS / f"pages-{name}-{label}.png"), full_page=True)


def module_named(api: httpx.Client, name: str) -> dict[str, Any]:
    found = [m for m in api.get("/actions/modules").json()["modules"] if m["name"] == name]
    assert len(found) == 1, found
    module: dict[str, Any] = api.get(f"/actions/modules/{found[0]['id']}").json()
    return module


def version_numbers(api: httpx.Client, module_id: str) -> list[int]:
    versions = api.get(f"/actions/modules/{module_id}/versions").json()["versions"]
    return [v["version_number"] for v in versions]


def test_modules(page: Page, server: CliServer, api: httpx.Client) -> None:
    go(page, server, "modules")
    expect(page.get_by_text("No modules yet")).to_be_visible()
    fits_both_widths(page, "modules-empty")

    # Create, give it a secret, publish version 1.
    page.get_by_role("button", name="Create module").first.click()
    page.get_by_label("Name").fill("greeter")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.get_by_role("heading", name="greeter")).to_be_visible()
    set_code(page, GREETER_V1)
    page.get_by_role("tab", name="Dependencies & secrets").click()
    page.get_by_label("Secret name").fill("PREFIX")
    page.get_by_label("Secret value").fill("alpha-secret")
    page.get_by_role("form", name="Add secret").get_by_role("button", name="Add").click()
    page.get_by_role("button", name="Save & publish").click()
    expect(page.get_by_text("Published as version 1.")).to_be_visible()
    expect(page.get_by_text("value hidden")).to_be_visible()
    assert "alpha-secret" not in page.content()
    module = module_named(api, "greeter")
    assert version_numbers(api, module["id"]) == [1]
    assert module["code"] == GREETER_V1 and [s["name"] for s in module["secrets"]] == ["PREFIX"]

    # Version 2 from an edited draft.
    page.get_by_role("tab", name="Code").click()
    set_code(page, GREETER_V2)
    page.get_by_role("button", name="Save & publish").click()
    expect(page.get_by_text("Published as version 2.")).to_be_visible()
    assert version_numbers(api, module["id"]) == [2, 1]
    expect(page.get_by_role("button", name="Publish", exact=True)).to_be_disabled()

    # The draft's secrets are replaced as a whole: a kept one needs its value again.
    page.get_by_role("tab", name="Dependencies & secrets").click()
    page.get_by_label("Secret name").fill("REGION")
    page.get_by_label("Secret value").fill("eu")
    page.get_by_role("form", name="Add secret").get_by_role("button", name="Add").click()
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("alert")).to_contain_text("Enter the value of PREFIX again")
    assert [s["name"] for s in api.get(f"/actions/modules/{module['id']}").json()["secrets"]] == [
        "PREFIX"
    ], "nothing is sent while a value is missing"
    page.get_by_label("New value for PREFIX").fill("beta-secret")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("Saved. Publish the draft")).to_be_visible()
    saved = api.get(f"/actions/modules/{module['id']}").json()
    assert [s["name"] for s in saved["secrets"]] == ["PREFIX", "REGION"]
    assert saved["all_changes_published"] is False
    fits_both_widths(page, "module-secrets")

    # Roll back: version 1 comes back into the draft; no version is made.
    page.get_by_role("tab", name="Versions").click()
    page.get_by_role("button", name="Version 1", exact=True).click()
    expect(page.get_by_test_id("diff").locator(".diff-del")).to_contain_text("'['")
    fits_both_widths(page, "module-versions")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Roll back to v1").click()
    expect(page.get_by_text("The draft now holds version 1's code")).to_be_visible()
    rolled = api.get(f"/actions/modules/{module['id']}").json()
    assert rolled["code"] == GREETER_V1 and [s["name"] for s in rolled["secrets"]] == ["PREFIX"]
    assert version_numbers(api, module["id"]) == [2, 1]
    # Rolling back to what the draft already holds: Auth0's refusal, in words.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Roll back to v1").click()
    expect(page.get_by_role("alert")).to_contain_text("already the current draft version")

    # Used by: an action pinning version 2; while it does, the module cannot be deleted.
    v2 = api.get(f"/actions/modules/{module['id']}/versions").json()["versions"][0]
    tagger = create_action(
        api,
        "Tagger",
        code="const g = require('actions:greeter');\n" + GREET,
        modules=[{"module_id": module["id"], "module_version_id": v2["id"]}],
    )
    page.get_by_role("tab", name="Used by").click()
    expect(page.locator("tr[data-user='Tagger']")).to_contain_text("v2")
    fits_both_widths(page, "module-used-by")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete module").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "cannot be deleted because it is in use by one or more actions"
    )
    assert api.get(f"/actions/modules/{module['id']}").status_code == 200
    page.get_by_role("tab", name="Code").click()
    fits_both_widths(page, "module-code")
    assert api.delete(f"/actions/actions/{tagger['id']}").status_code == 204

    # A module no action uses is deleted.
    go(page, server, "modules")
    page.get_by_role("button", name="Create module").click()
    page.get_by_label("Name").fill("scratch")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.get_by_role("heading", name="scratch")).to_be_visible()
    scratch = module_named(api, "scratch")
    page.get_by_role("tab", name="Versions").click()
    expect(page.get_by_text("No versions yet")).to_be_visible()
    page.get_by_role("tab", name="Used by").click()
    expect(page.get_by_text("No action uses this module")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete module").click()
    expect(page.get_by_role("table", name="Modules")).to_be_visible()
    expect(page.locator("tr[data-module]")).to_have_count(1)
    assert api.get(f"/actions/modules/{scratch['id']}").status_code == 404
    fits_both_widths(page, "modules-list")

    # A module that does not exist: said in words.
    go(page, server, "modules/no-such-module")
    expect(page.get_by_role("alert")).to_have_text("The action module does not exist.")


def bindings(api: httpx.Client) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api.get("/actions/triggers/post-login/bindings").json()[
        "bindings"
    ]
    return found


def claims_and_logs(api: httpx.Client) -> tuple[dict[str, Any], str]:
    ran = fire(api, "post-login", {"user": {"user_id": "auth0|pages"}})
    logs = "".join(r["response"]["logs"] for r in execution(api, ran["execution_id"])["results"])
    return ran["outcome"]["idToken"]["claims"], logs


def test_flow_binding_names_and_secrets(page: Page, server: CliServer, api: httpx.Client) -> None:
    greet = create_action(api, "Greet", code=GREET, secrets=[{"name": "WHO", "value": "action"}])
    audit = create_action(api, "Audit", code=AUDIT)
    deploy(api, greet["id"])
    deploy(api, audit["id"])
    body = {
        "bindings": [
            {"ref": {"type": "action_id", "value": greet["id"]}},
            {
                "ref": {"type": "action_id", "value": audit["id"]},
                "secrets": [{"name": "AUDIT_KEY", "value": "k1"}],
            },
        ]
    }
    assert api.patch("/actions/triggers/post-login/bindings", json=body).status_code == 200
    ids = [b["id"] for b in bindings(api)]
    assert claims_and_logs(api) == ({"https://example.com/who": "action"}, "audit key=k1\n")

    # Rename Greet's binding and give it a secret that wins over the action's own.
    go(page, server, "flows/post-login")
    page.get_by_role("button", name="Edit Greet").click()
    editor = page.get_by_role("group", name="Binding of Greet")
    editor.get_by_label("Display name").fill("Greet the user")
    editor.get_by_role("button", name="Replace this binding's secrets").click()
    expect(editor).to_contain_text("they win over its own secrets of the same name (WHO)")
    editor.get_by_label("Secret name").fill("WHO")
    editor.get_by_label("Secret value").fill("binding-secret")
    editor.get_by_role("form", name="Add secret").get_by_role("button", name="Add").click()
    expect(page.get_by_text("Unsaved changes")).to_be_visible()
    fits_both_widths(page, "flow-binding-editor")
    assert [b["display_name"] for b in bindings(api)] == ["Greet", "Audit"], "stored on Save only"
    page.get_by_role("button", name="Save flow").click()
    expect(page.get_by_text("now runs 2 actions")).to_be_visible()
    saved = bindings(api)
    assert [b["display_name"] for b in saved] == ["Greet the user", "Audit"]
    assert [b["id"] for b in saved] == ids, "both bindings are kept, not made anew"
    assert claims_and_logs(api) == (
        {"https://example.com/who": "binding-secret"},
        "audit key=k1\n",
    ), "Greet's binding secret is used and Audit's is untouched"
    assert "binding-secret" not in page.content()
    expect(page.locator("[data-step='Greet']")).to_contain_text("Greet the user")

    # Editing Audit's name alone keeps the secrets of both bindings.
    page.get_by_role("button", name="Edit Audit").click()
    editor = page.get_by_role("group", name="Binding of Audit")
    expect(editor).to_contain_text("The secrets this binding holds are kept")
    editor.get_by_label("Display name").fill("Audit log")
    page.get_by_role("button", name="Save flow").click()
    expect(page.get_by_text("now runs 2 actions")).to_be_visible()
    assert [b["display_name"] for b in bindings(api)] == ["Greet the user", "Audit log"]
    assert claims_and_logs(api) == ({"https://example.com/who": "binding-secret"}, "audit key=k1\n")

    # Clearing a binding's secrets: the action's own value is back.
    page.get_by_role("button", name="Edit Greet").click()
    editor = page.get_by_role("group", name="Binding of Greet")
    editor.get_by_role("button", name="Replace this binding's secrets").click()
    expect(editor).to_contain_text("replaces this binding's secrets with none")
    page.get_by_role("button", name="Save flow").click()
    expect(page.get_by_text("now runs 2 actions")).to_be_visible()
    assert claims_and_logs(api) == ({"https://example.com/who": "action"}, "audit key=k1\n")


def test_execution_detail_by_id(
    page: Page, server: CliServer, api: httpx.Client, token: str
) -> None:
    """Runs after the flow test, whose flow runs left executions."""
    go(page, server, "executions/post-login")
    rows = page.locator("[data-execution]")
    expect(rows.first).to_be_visible()
    newest = rows.first.get_attribute("data-execution")
    fits_both_widths(page, "executions-list")
    rows.first.get_by_role("link", name="Details").click()
    expect(page).to_have_url(f"https://{server.domain}/dashboard/#/execution/{newest}")
    results = page.get_by_role("list", name="Action results")
    expect(results.locator("[data-result='Audit']")).to_contain_text("audit key=k1")
    expect(results.locator("[data-result='Greet']")).to_contain_text("idToken.setCustomClaim")
    fits_both_widths(page, "execution-detail")

    # The link works on its own: reloaded, or opened in a new tab, which signs in first
    # (the token lives in the tab) and then shows the execution.
    page.reload()
    expect(page.locator("[data-result='Audit']")).to_contain_text("audit key=k1")
    fresh = page.context.new_page()
    fresh.goto(page.url)
    fresh.get_by_role("tab", name="Access token").click()
    fresh.get_by_label("Access token").fill(token)
    fresh.get_by_role("button", name="Sign in").click()
    expect(fresh.locator("[data-result='Greet']")).to_be_visible()
    fresh.close()

    # The live view: a run fired elsewhere shows up, and links to its page.
    go(page, server, "executions/post-login")
    expect(page.get_by_label("Live")).to_be_checked()
    expect(rows.first).to_have_attribute("data-execution", str(newest))
    expect(page.get_by_test_id("live-state")).to_have_text("following new runs")
    ran = fire(api, "post-login", {"user": {"user_id": "auth0|live"}})
    live = page.locator(f"[data-execution='{ran['execution_id']}']")
    expect(live).to_be_visible()
    live.get_by_role("link", name="Details").click()
    expect(page).to_have_url(f"https://{server.domain}/dashboard/#/execution/{ran['execution_id']}")
    expect(page.locator("[data-result='Audit']")).to_be_visible()

    # By id from the list's box, and an id nobody knows, in words.
    go(page, server, "executions/post-login")
    page.get_by_label("Execution id").fill("no-such-execution")
    page.get_by_role("button", name="Open").click()
    expect(page.get_by_role("alert")).to_contain_text("No execution has the id “no-such-execution”")
    fits_both_widths(page, "execution-unknown")


def test_the_older_pages_fit_both_widths(page: Page, server: CliServer, api: httpx.Client) -> None:
    """Actions, an action, the flow and the executions, at laptop and phone width, with
    the data the tests above left."""
    greet = next(a for a in api.get("/actions/actions").json()["actions"] if a["name"] == "Greet")
    for route in ("actions", f"actions/{greet['id']}", "flows/post-login", "executions/post-login"):
        go(page, server, route)
        expect(page.get_by_role("heading").first).to_be_visible()
        fits_both_widths(page)
    go(page, server, "actions/no-such-action")
    expect(page.get_by_role("alert")).to_be_visible()
    assert "{" not in page.get_by_role("alert").inner_text(), "errors are words, not JSON"


def test_an_entity_bound_action_is_tested_from_its_page(
    page: Page, server: CliServer, api: httpx.Client
) -> None:
    """Entity-bound triggers have no flow, but their actions run under /test like any
    other: the Test tab offers a sample event and shows the commands."""
    code = "exports.onExecuteCustomTokenExchange = async (event, api) => { api.authentication.setUserById('auth0|' + event.transaction.subject_token_type.length); };"
    action = create_action(
        api, name="Exchange", trigger="custom-token-exchange", version="v1", code=code
    )
    wait_status(api, action["id"])
    go(page, server, f"actions/{action['id']}/test")
    page.get_by_role("button", name="Run test").click()
    result = page.get_by_test_id("test-result")
    expect(result).to_contain_text("Ran without error")
    expect(result).to_contain_text("authentication.setUserById")
    expect(result).to_contain_text("auth0|21")
    go(page, server, "executions/custom-token-exchange")
    expect(page.get_by_text("Run this flow with a sample event")).to_have_count(0)

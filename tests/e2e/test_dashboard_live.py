"""The Executions page's live view in a real headless Chromium: executions fired from
the command line show up on the open page, without a refresh."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.e2e.test_dashboard import CHROMIUM, CHROMIUM_ARGS, _require_browser
from tests.servers import CliServer


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliServer]:
    _require_browser()
    srv = CliServer(tmp_path_factory.mktemp("dashboard-live")).start()
    try:
        yield srv
    finally:
        srv.stop()


def test_executions_page_follows_the_stream(server: CliServer) -> None:
    base = f"https://{server.domain}"
    creds = server.credentials()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(ignore_https_errors=True).new_page()
        page.set_default_timeout(20_000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(base + "/dashboard/")
        page.get_by_label("Client ID").fill(creds["client_id"])
        page.get_by_label("Client secret").fill(creds["client_secret"])
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Actions", exact=True)).to_be_visible()
        page.goto(f"{base}/dashboard/#/executions/post-login")
        expect(page.get_by_text("No executions yet")).to_be_visible()
        expect(page.get_by_label("Live")).to_be_checked()
        page.wait_for_timeout(500)  # the stream is open

        for _ in range(2):
            fired = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "actionsd.cli",
                    "fire",
                    "post-login",
                    "--json",
                    "--data-dir",
                    str(server.data_dir),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            execution_id = json.loads(fired.stdout)["execution_id"]
            expect(page.locator(f"[data-execution='{execution_id}']")).to_be_visible()
        expect(page.locator("[data-execution]")).to_have_count(2)
        browser.close()
        assert errors == []

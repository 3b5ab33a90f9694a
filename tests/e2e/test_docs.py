"""/docs (Swagger UI) and /redoc render in a headless Chromium that may fetch nothing but
the server itself: their files come with the package, so they work offline. Any request
to another origin is refused and reported."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Route, expect, sync_playwright

from tests.e2e.test_dashboard import CHROMIUM, CHROMIUM_ARGS, _require_browser
from tests.servers import CliServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliServer]:
    _require_browser()
    srv = CliServer(tmp_path_factory.mktemp("docs"), extra=["--no-tls"]).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.mark.parametrize(
    ("path", "rendered"),
    [("/docs", ".swagger-ui .info .title"), ("/redoc", "h1")],
)
def test_docs_render_with_no_network(server: CliServer, path: str, rendered: str) -> None:
    elsewhere: list[str] = []

    def only_this_server(route: Route) -> None:
        if urlsplit(route.request.url).netloc == server.domain:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.route("**/*", only_this_server)
        page.goto(f"http://{server.domain}{path}")
        expect(page.locator(rendered).first).to_contain_text("actionsd", timeout=20_000)
        # The operations are listed, read from /openapi.json.
        expect(page.get_by_text("/api/v2/actions/actions").first).to_be_attached()
        browser.close()
    assert elsewhere == [], f"{path} asked other hosts for {elsewhere}"

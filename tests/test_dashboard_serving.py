"""How the server hands out the dashboard: the page itself is tested in a browser
(tests/e2e); this is the HTTP side — redirect, caching, the security policy, and the
page shown when a source install has no built front end."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from actionsd.dashboard import views
from tests.conftest import make_settings
from tests.servers import InProcessServer


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    if not views.built():
        pytest.skip("the dashboard is not built (make ui)")
    srv = InProcessServer(make_settings(tmp_path_factory.mktemp("web"), "sqlite")).start()
    try:
        with httpx.Client(base_url=srv.url, timeout=10) as client:
            yield client
    finally:
        srv.stop()


def test_root_redirects_to_the_dashboard(web: httpx.Client) -> None:
    answer = web.get("/")
    assert answer.status_code == 307 and answer.headers["location"] == "/dashboard/"


def test_page_is_revalidated_and_assets_are_immutable(web: httpx.Client) -> None:
    page = web.get("/dashboard/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assets = re.findall(r'(?:src|href)="(/dashboard/assets/[^"]+)"', page.text)
    assert {Path(a).suffix for a in assets} == {".js", ".css"}
    for asset in assets:
        answer = web.get(asset)
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert web.get("/dashboard/assets/nothing-here.js").status_code == 404


def test_dashboard_needs_no_token_but_the_api_does(web: httpx.Client) -> None:
    assert web.get("/dashboard/").status_code == 200
    assert web.get("/api/v2/actions/actions").status_code == 401


def test_a_source_install_without_the_build_says_how_to_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "STATIC", tmp_path / "absent")
    srv = InProcessServer(make_settings(tmp_path, "sqlite")).start()
    try:
        answer = httpx.get(srv.url + "/dashboard/", timeout=10)
        assert answer.status_code == 503 and "make ui" in answer.text
        api = httpx.get(srv.url + "/api/v2/actions/triggers", timeout=10)
        assert api.status_code == 401  # the API is there either way
    finally:
        srv.stop()


def test_the_wheel_carries_the_built_dashboard(tmp_path: Path) -> None:
    """pip users get the page without Node: the wheel holds the built assets, although
    they are not in git (the build hook adds them)."""
    if not views.built():
        pytest.skip("the dashboard is not built (make ui)")
    root = Path(__file__).resolve().parents[1]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(root), "--no-deps", "-q", "-w", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("actionsd-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "actionsd/dashboard/static/index.html" in names
    assert any(
        n.startswith("actionsd/dashboard/static/assets/") and n.endswith(".js") for n in names
    )
    assert not any("node_modules" in n for n in names)

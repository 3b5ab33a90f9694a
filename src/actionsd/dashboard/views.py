"""Serve the built dashboard. Assets carry content hashes in their names and are cached
for good; ``index.html`` is revalidated so a new build shows at the next load."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

STATIC = Path(__file__).parent / "static"
PREFIX = "/dashboard"

# Same-origin only: the page loads nothing from elsewhere and talks to this server alone.
# CodeMirror writes its styles into <style> elements, hence 'unsafe-inline' for styles.
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)

NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>actionsd</title>
<body style="font-family: system-ui; max-width: 40rem; margin: 4rem auto; line-height: 1.5">
<h1>The dashboard is not built</h1>
<p>This copy of actionsd was installed from a source checkout without its front end.
Run <code>make ui</code> in the checkout (it needs Node.js) and reload this page.
The API under <code>/api/v2</code> works either way.</p></body>"""


class _Assets(StaticFiles):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                path = scope.get("path", "")
                cache = "public, max-age=31536000, immutable" if "/assets/" in path else "no-cache"
                message.setdefault("headers", [])
                message["headers"] += [
                    (b"cache-control", cache.encode()),
                    (b"content-security-policy", POLICY.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                ]
            await send(message)

        await super().__call__(scope, receive, send_with_headers)


def built() -> bool:
    return (STATIC / "index.html").is_file()


def install(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False, response_model=None)
    async def root() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=307)

    if built():
        app.mount(PREFIX, _Assets(directory=STATIC, html=True), name="dashboard")
        return

    @app.get(f"{PREFIX}/{{rest:path}}", include_in_schema=False, response_model=None)
    async def not_built(rest: str) -> HTMLResponse:  # noqa: ARG001 (the path is not used)
        return HTMLResponse(NOT_BUILT, status_code=503)

"""Hot routes answered below the framework.

A shortcut is a plain ASGI handler for one route, in front of the regular FastAPI route,
which stays the definition of the endpoint (its OpenAPI entry, parameters and schemas).
The handler answers the plain case itself, or declines (returns None) a request it does
not parse exactly as the route would (a body that does not validate, an unusual content
type): that request goes on, body replayed, to the route. A declined request has touched
nothing. A failure raised by the handler is answered by ``api.errors.error_response``,
the same mapping every route's failures go through.

Why: on PATCH bindings, FastAPI's routing, dependency resolution and its middleware
layers took more CPU than the write itself (docs/benchmarks.md). The outer middlewares
(rate limit, body size) still run for shortcut answers: this one sits inside them.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from actionsd.api.errors import error_response

if TYPE_CHECKING:
    from actionsd.api.deps import AppState


JSON = b"application/json; charset=utf-8"


@dataclass(frozen=True)
class Answer:
    """A 200 with a JSON body (content type and length are added)."""

    body: bytes
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


@dataclass(frozen=True)
class Call:
    """What a handler gets of the request."""

    path: re.Match[str]  # the shortcut's pattern, matched against the path
    query: bytes  # the raw query string
    headers: Headers
    body: bytes  # whole


# The answer, or None to hand the request on to the regular route.
Handler = Callable[["AppState", Call], Awaitable[Answer | None]]


@dataclass(frozen=True)
class Shortcut:
    method: str
    path: re.Pattern[str]  # matched in full against the request path
    handler: Handler


class ShortcutMiddleware:
    def __init__(self, app: ASGIApp, shortcuts: Sequence[Shortcut]) -> None:
        self.app = app
        self.shortcuts = tuple(shortcuts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for shortcut in self.shortcuts:
                if scope["method"] == shortcut.method:
                    match = shortcut.path.fullmatch(scope["path"])
                    if match is not None:
                        await self._try(shortcut, match, scope, receive, send)
                        return
        await self.app(scope, receive, send)

    async def _try(
        self, shortcut: Shortcut, match: re.Match[str], scope: Scope, receive: Receive, send: Send
    ) -> None:
        messages: list[Message] = []
        chunks: list[bytes] = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        answer: Answer | None = None
        if messages[-1]["type"] == "http.request":  # else the client left: the route sees it
            try:
                call = Call(
                    match, scope.get("query_string", b""), Headers(scope=scope), b"".join(chunks)
                )
                answer = await shortcut.handler(scope["app"].state.actionsd, call)
            except Exception as exc:
                await error_response(exc)(scope, replay, send)
                return
        if answer is None:
            await self.app(scope, replay, send)
            return
        headers = [
            (b"content-length", str(len(answer.body)).encode()),
            (b"content-type", JSON),
            *answer.headers,
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})

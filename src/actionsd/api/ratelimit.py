"""Auth0-style rate limiting: a token bucket for the Management API, reported in
``x-ratelimit-limit``/``-remaining``/``-reset`` on every response and answered with
Auth0's 429 body when empty. The bucket lives in this process; sharing it across server
processes through the database belongs to the scale-out work."""

from __future__ import annotations

import json
import math
import threading
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from actionsd import errors
from actionsd.api.errors import body_for

PREFIX = "/api/v2/"


class TokenBucket:
    def __init__(self, burst: int, per_second: float) -> None:
        self.burst = burst
        self.per_second = per_second
        self._tokens = float(burst)
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> tuple[bool, int, int]:
        """(allowed, tokens left, UNIX second at which the next token arrives)."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.per_second)
            self._stamp = now
            allowed = self._tokens >= 1
            if allowed:
                self._tokens -= 1
            wait = 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.per_second
            reset = math.ceil(time.time() + wait)
            return allowed, int(self._tokens), reset


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, bucket: TokenBucket) -> None:
        self.app = app
        self.bucket = bucket

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        allowed, remaining, reset = self.bucket.take()
        headers = [
            (b"x-ratelimit-limit", str(self.bucket.burst).encode()),
            (b"x-ratelimit-remaining", str(remaining).encode()),
            (b"x-ratelimit-reset", str(reset).encode()),
        ]
        if not allowed:
            retry = max(1, reset - int(time.time()))
            body = json.dumps(body_for(429, errors.RATE_LIMITED, "too_many_requests")).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 429,
                    "headers": [
                        (b"content-type", b"application/json; charset=utf-8"),
                        (b"content-length", str(len(body)).encode()),
                        (b"retry-after", str(retry).encode()),
                        *headers,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)

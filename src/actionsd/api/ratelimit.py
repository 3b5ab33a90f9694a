"""Auth0-style rate limiting: a token bucket for the tenant's Management API, reported in
``x-ratelimit-limit``/``-remaining``/``-reset`` on every response and answered with
Auth0's 429 body when empty.

The bucket is a row in the database, shared by every server process: a process leases
tokens from it in batches (5% of the burst, at least one) and spends them locally, so the
database sees one write per batch, not per request. All processes together never spend
more than the bucket holds; tokens leased by one process and not yet spent are not
available to the others meanwhile."""

from __future__ import annotations

import json
import math
import threading
import time

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from actionsd import errors
from actionsd.api.errors import body_for
from actionsd.db.engine import transaction
from actionsd.db.schema import rate_limits

PREFIX = "/api/v2/"


class TokenBucket:
    def __init__(
        self, burst: int, per_second: float, engine: Engine, bucket: str = "tenant"
    ) -> None:
        self.burst = burst
        self.per_second = per_second
        self._engine = engine
        self._bucket = bucket
        self._lease = max(1, int(burst * 0.05))
        self._local = 0.0  # leased, not yet spent
        self._shared = float(burst)  # what the row held after our last lease
        self._lock = threading.Lock()

    def _lease_more(self) -> None:
        """Move up to one batch of tokens from the shared row into this process."""
        now = time.time()
        with transaction(self._engine, write=True) as conn:
            row = conn.execute(
                sa.select(rate_limits.c.tokens, rate_limits.c.updated_at)
                .where(rate_limits.c.bucket == self._bucket)
                .with_for_update()
            ).first()
            if row is None:
                tokens, stamp = float(self.burst), now
                conn.execute(
                    rate_limits.insert().values(bucket=self._bucket, tokens=tokens, updated_at=now)
                )
            else:
                tokens, stamp = row.tokens, row.updated_at
            tokens = min(float(self.burst), tokens + max(0.0, now - stamp) * self.per_second)
            take = min(float(self._lease), math.floor(tokens))
            conn.execute(
                rate_limits.update()
                .where(rate_limits.c.bucket == self._bucket)
                .values(tokens=tokens - take, updated_at=now)
            )
        self._local += take
        self._shared = tokens - take

    def needs_lease(self) -> bool:
        return self._local < 1

    def take(self) -> tuple[bool, int, int]:
        """(allowed, tokens left, UNIX second at which the next token arrives)."""
        with self._lock:
            if self._local < 1:
                self._lease_more()
            allowed = self._local >= 1
            if allowed:
                self._local -= 1
            left = self._local + self._shared
            wait = 0.0 if left >= 1 else (1 - left) / self.per_second
            return allowed, int(left), math.ceil(time.time() + wait)


class RateLimitMiddleware:
    """Applies the bucket on the application's state (created with the database)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        bucket: TokenBucket = scope["app"].state.actionsd.bucket
        # Usually a local decrement; now and then a lease, which touches the database.
        if bucket.needs_lease():
            allowed, remaining, reset = await run_in_threadpool(bucket.take)
        else:
            allowed, remaining, reset = bucket.take()
        headers = [
            (b"x-ratelimit-limit", str(bucket.burst).encode()),
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

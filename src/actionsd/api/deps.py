"""Request dependencies: the application state and per-route scope checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends, Query, Request
from sqlalchemy.engine import Connection, Engine

from actionsd import errors
from actionsd.actions.service import Limits
from actionsd.api.cache import ResponseCache
from actionsd.auth import tokens
from actionsd.auth.keys import KeyStore
from actionsd.config import Settings
from actionsd.db.engine import transaction, writer_threads

if TYPE_CHECKING:
    from actionsd.api.ratelimit import TokenBucket
    from actionsd.runtime.service import Runtime

T = TypeVar("T")


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    keys: KeyStore
    limits: Limits
    bucket: TokenBucket
    # Called after a write that leaves work for the build worker.
    wake_builder: Callable[[], None] = field(default=lambda: None)
    runtime: Runtime | None = None
    verified: tokens.VerifiedCache = field(default_factory=tokens.VerifiedCache)
    responses: ResponseCache = field(default_factory=ResponseCache)
    _writers: anyio.CapacityLimiter | None = None
    # Every host[:port] a token may be issued for; worked out once, not per request.
    domains: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.domains = self.settings.domains

    def require_runtime(self) -> Runtime:
        if self.runtime is None:
            raise errors.ServiceUnavailable("The action runtime is turned off on this server.")
        return self.runtime

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with transaction(self.engine, write=False) as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with transaction(self.engine, write=True) as conn:
            yield conn

    async def writing(self, work: Callable[[Connection], T]) -> T:
        """``work`` in one write transaction, on a thread of the writers' own few: write
        routes await this instead of taking the shared threadpool, where sixteen
        concurrent writes queued on the database's lock while contending for the GIL
        with the one that held it (docs/benchmarks.md)."""
        if self._writers is None:
            self._writers = anyio.CapacityLimiter(writer_threads(self.engine))
        return await anyio.to_thread.run_sync(self._write, work, limiter=self._writers)

    def _write(self, work: Callable[[Connection], T]) -> T:
        with self.write() as conn:
            return work(conn)


async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.actionsd
    return state


State = Annotated[AppState, Depends(get_state)]


def requires(scope: str) -> Any:
    """A route dependency: a valid bearer token carrying ``scope`` (403 otherwise)."""

    # async: a (usually cached) token check must not cost a threadpool hop per request.
    async def check(request: Request, state: State) -> tokens.Claims:
        authorization = request.headers.get("authorization")
        claims = tokens.verify(state.keys, authorization, state.domains, state.verified)
        if scope not in claims.scopes:
            raise errors.Forbidden(f"Insufficient scope, expected any of: {scope}")
        return claims

    check.required_scope = scope  # type: ignore[attr-defined]
    return Depends(check)


# Paging parameters shared by every list. Auth0 does not document a maximum for the
# Actions lists; 100 is what its own tools ask for and what we allow.
Page = Annotated[
    int,
    Query(ge=0, le=100_000, description="Page index of the results to return. First page is 0."),
]
PerPage = Annotated[
    int, Query(ge=1, le=100, description="Number of results per page. Defaults to 20.")
]

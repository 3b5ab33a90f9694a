"""The application factory. Nothing is created at import time: ``create_app(settings)``
builds the engine, migrates, and wires the state in its lifespan."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from actionsd import __version__
from actionsd.actions import views as action_views
from actionsd.actions.service import Limits
from actionsd.api import docs, health, openapi
from actionsd.api import errors as api_errors
from actionsd.api.deps import AppState
from actionsd.api.forms import FormBodyMiddleware
from actionsd.api.limits import BodyLimitMiddleware
from actionsd.api.ratelimit import RateLimitMiddleware, TokenBucket
from actionsd.auth import clients
from actionsd.auth import views as auth_views
from actionsd.auth.keys import KeyStore
from actionsd.bindings import service as binding_service
from actionsd.bindings import views as binding_views
from actionsd.builds.builder import Builder
from actionsd.builds.npm import NpmBuilder
from actionsd.builds.worker import BuildWorker
from actionsd.config import Settings
from actionsd.dashboard import views as dashboard
from actionsd.db import migrate
from actionsd.db.engine import create_engine, transaction
from actionsd.devloop import views as devloop_views
from actionsd.modules import views as module_views
from actionsd.runtime import views as runtime_views
from actionsd.runtime.service import Runtime

log = logging.getLogger("actionsd")


def bootstrap(settings: Settings) -> tuple[AppState, Path | None]:
    """Open the database, migrate it and make sure the first-start objects exist.
    Returns the state and, on first start, the file holding the admin credentials."""
    engine = create_engine(settings.effective_database_url)
    migrate.upgrade(engine)
    with transaction(engine, write=True) as conn:
        binding_service.ensure_triggers(conn)
        created = clients.ensure_admin(conn, settings.data_dir)
    keys = KeyStore(engine)
    keys.ensure_signing_key()
    limits = Limits(
        max_actions=settings.max_actions,
        max_bindings_per_trigger=settings.max_bindings_per_trigger,
        max_versions_per_action=settings.max_versions_per_action,
    )
    bucket = TokenBucket(settings.rate_limit_burst, settings.rate_limit_per_second, engine)
    state = AppState(settings=settings, engine=engine, keys=keys, limits=limits, bucket=bucket)
    return state, created


def create_app_from_env() -> FastAPI:
    """The factory ``actionsd serve --workers N`` hands to each server process: the
    settings travel as ACTIONSD_* environment variables."""
    return create_app(Settings())


def create_app(settings: Settings, builder: Builder | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state, created = bootstrap(settings)
        if created is not None:
            log.warning("created the admin client; its credentials are in %s", created)
        builds_dir = settings.data_dir / "builds"
        worker = BuildWorker.from_settings(
            state.engine,
            builder or NpmBuilder(settings.data_dir, settings.build_timeout_seconds),
            settings,
        )
        state.wake_builder = worker.wake
        if settings.runtime:
            state.runtime = Runtime(state.engine, settings, builds_dir)
        app.state.actionsd = state
        app.state.build_worker = worker
        if settings.build_worker:
            worker.start()
        # What startup built lives as long as the process: keep it out of the cyclic
        # collector's full passes, which walked it all with the loop stopped (seen as p99
        # spikes under load; docs/benchmarks.md).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            worker.stop()
            if state.runtime is not None:
                state.runtime.close()
            state.engine.dispose()

    app = FastAPI(
        title="actionsd",
        version=__version__,
        description=(
            "A self-hosted, Auth0-compatible Actions server: the Actions endpoints of "
            "Auth0's Management API v2 under /api/v2, and its own token issuer."
        ),
        lifespan=lifespan,
        default_response_class=api_errors.Auth0JSONResponse,
        # Served offline by docs.install.
        docs_url=None,
        redoc_url=None,
    )
    api_errors.install(app)
    # Routes match in the order they are added, one by one: the login path first, then
    # what tools read most (matching showed in an execute's profile: docs/benchmarks.md).
    app.include_router(runtime_views.router)
    app.include_router(binding_views.router)
    app.include_router(action_views.router)
    app.include_router(module_views.router)
    app.include_router(auth_views.router)
    app.include_router(devloop_views.router)
    app.include_router(health.router)
    openapi.install(app)
    docs.install(app)
    dashboard.install(app)
    app.add_middleware(FormBodyMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RateLimitMiddleware)
    return app

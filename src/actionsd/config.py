"""Typed settings. Every field can be set from the environment as ``ACTIONSD_<NAME>``."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "actionsd"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ACTIONSD_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8443
    data_dir: Path = Field(default_factory=default_data_dir)
    # Empty means "SQLite file actionsd.db in data_dir".
    database_url: str = ""
    tls: bool = True
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # Public base URL the SDKs use (``https://{domain}``). Empty: derived from host/port.
    public_url: str = ""
    # More ``host[:port]`` names under which this server is reached; tokens are issued for
    # and accepted from each (Auth0 tenants have one domain, a laptop has several names).
    extra_domains: list[str] = Field(default_factory=list)

    token_lifetime_seconds: int = 86400
    # Largest request body accepted; larger ones are refused (413) before parsing.
    max_body_bytes: int = 1024 * 1024
    # How long an idle keep-alive connection stays open. Clients pool connections and
    # reuse them after long pauses (Auth0's edge keeps them open); uvicorn's own 5 s
    # broke the next call of a client that paused longer. Longer than the 60 s idle
    # limit common to proxies, so one in front never reuses a connection we dropped.
    keep_alive_seconds: int = 75

    # Token bucket for the Management API (Auth0 sends x-ratelimit-* on every response).
    rate_limit_burst: int = 10000
    rate_limit_per_second: float = 10000.0

    # Limits from Auth0's entity-limit policy, raisable for load tests.
    max_actions: int = 100
    max_bindings_per_trigger: int = 20
    max_versions_per_action: int = 50

    # Background build worker (tests that step builds by hand turn it off).
    build_worker: bool = True
    build_poll_seconds: float = 0.5
    # Builds that run at once: one whose dependency hangs holds only its own slot.
    build_concurrency: int = Field(default=4, ge=1)
    # The time one build may take, npm installs and lock waits included (docs/runtime.md).
    build_timeout_seconds: float = Field(default=120.0, gt=0)
    # A failed install is tried again this many times, after the backoff, doubled each
    # time (Auth0: building → retrying → building → … → failed).
    build_retries: int = Field(default=2, ge=0)
    build_retry_backoff_seconds: float = Field(default=5.0, ge=0)

    # The action runtime: warm Deno worker processes run the flows, each action version
    # in a realm of its own (docs/runtime.md).
    runtime: bool = True
    runtime_engine: str = "deno"
    runtime_workers: int = 2
    # Each worker's threads on one core, the workers on the upper half of the cores
    # (docs/runtime.md, "Workers and cores"); off by default with several server processes.
    runtime_cpu_pinning: bool = True
    # internet (Auth0's default: anywhere but this server's own ports), public (no
    # loopback, private or link-local address), off. true/false mean internet/off.
    runtime_network: str = "internet"
    runtime_memory_mb: int = 128
    # The whole worker process (ArrayBuffers included); above it the execution fails
    # and the process is replaced.
    runtime_rss_mb: int = 1024
    # Action versions kept warm per worker process (one realm each).
    runtime_realms: int = 32
    # Executions that may wait for a busy worker; more are answered 503.
    runtime_queue_limit: int = 64
    # Auth0: 20 s per trigger execution.
    execution_timeout_seconds: float = 20.0
    execution_retention_days: int = 10

    @field_validator("runtime_network", mode="before")
    @classmethod
    def _network_mode(cls, value: object) -> str:
        aliases = {"true": "internet", "1": "internet", "false": "off", "0": "off"}
        mode = str(value).lower()
        mode = aliases.get(mode, mode)
        if mode not in ("internet", "public", "off"):
            raise ValueError("runtime_network must be internet, public or off")
        return mode

    @field_validator("runtime_engine")
    @classmethod
    def _deno_only(cls, value: str) -> str:
        if value != "deno":
            # Node's worker_threads cannot hold per-realm permissions (docs/runtime.md).
            raise ValueError("the only runtime engine is deno")
        return value

    @field_validator("database_url")
    @classmethod
    def _normalise_postgres(cls, value: str) -> str:
        if value.startswith("postgres://"):
            value = "postgresql://" + value.removeprefix("postgres://")
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'actionsd.db'}"

    @property
    def effective_public_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        scheme = "https" if self.tls else "http"
        host = "localhost" if self.host in ("127.0.0.1", "0.0.0.0", "::", "::1") else self.host
        return f"{scheme}://{host}:{self.port}"

    @property
    def domains(self) -> list[str]:
        """Every ``host[:port]`` this server answers for, the public one first."""
        primary = self.effective_public_url.split("://", 1)[1]
        names = [primary]
        if not self.public_url:
            names.append(f"127.0.0.1:{self.port}")
        names.extend(self.extra_domains)
        return list(dict.fromkeys(names))

"""The ``actionsd`` command line."""

from __future__ import annotations

import errno
import json
import logging
import os
import shlex
import shutil
import socket
import sys
from pathlib import Path
from typing import Annotated, Any

import psutil
import typer
import uvicorn
from uvicorn.supervisors import Multiprocess

from actionsd import __version__
from actionsd.config import Settings, default_data_dir
from actionsd.devloop import commands as devloop

app = typer.Typer(
    help="actionsd: a self-hosted, Auth0-compatible Actions server.",
    no_args_is_help=True,
    add_completion=False,
    # Click's plain help: Typer's rich panels read "[default: ...]" in a help text as
    # markup (and drop it), and show every flag as taking a value ("--no-tls <bool>").
    rich_markup_mode=None,
)

SERVER_FILE = "server.json"

DataDir = Annotated[
    Path | None,
    typer.Option(
        envvar="ACTIONSD_DATA_DIR",
        help=f"Where the database, keys and certificates live [default: {default_data_dir()}].",
    ),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        envvar="ACTIONSD_DATABASE_URL",
        help="SQLAlchemy URL; e.g. postgresql://user:pw@host/db. Default: SQLite in the data dir.",
    ),
]


def _settings(**values: Any) -> Settings:
    """Settings from the options given; unset ones come from ACTIONSD_* or defaults."""
    given: dict[str, Any] = {k: v for k, v in values.items() if v is not None}
    return Settings(**given)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"actionsd: {message}", err=True)
    return typer.Exit(1)


def _served(settings: Settings) -> dict[str, Any]:
    """What ``serve`` recorded in the data dir. A dir no server has used is refused: a
    mistyped ``--data-dir`` must not quietly become a new identity the server rejects."""
    path = settings.data_dir / SERVER_FILE
    if not path.exists():
        raise _fail(
            f"{settings.data_dir} has never been served (there is no {SERVER_FILE} in it).\n"
            "Pass the --data-dir your server uses, or start one on this directory first: "
            f"{_self_command()} serve --data-dir {shlex.quote(str(settings.data_dir))}"
        )
    recorded: dict[str, Any] = json.loads(path.read_text())
    return recorded


def _self_command() -> str:
    """This executable as a command that runs from any directory: ``actionsd`` when that
    is what PATH finds, its absolute path otherwise (``.venv/bin/actionsd`` is not)."""
    argv0 = Path(sys.argv[0])
    if argv0.name != "actionsd":
        return f"{shlex.quote(sys.executable)} -m actionsd.cli"
    found = shutil.which("actionsd")
    if found and Path(found).resolve() == argv0.resolve():
        return "actionsd"
    return shlex.quote(str(argv0.absolute()))


def _check_port_free(host: str, port: int) -> None:
    """Refuse plainly, before the banner, when something already listens on the port."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind, proto) as probe:
        # As uvicorn binds: connections lingering in TIME_WAIT do not count as taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
        else:
            return
    raise _fail(
        f"port {port} on {host} is already in use{_listener(port)}.\n"
        "Stop that server, or choose another port with --port (or ACTIONSD_PORT)."
    )


def _listener(port: int) -> str:
    """Who listens on the port, when the system lets us see it (own processes, or all
    of them as root)."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return ""
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            if conn.pid is None:
                return ""
            try:
                command = " ".join(psutil.Process(conn.pid).cmdline())
            except psutil.Error:
                return f" by process {conn.pid}"
            return f" by process {conn.pid} ({command})"
    return ""


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"actionsd {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """actionsd: a self-hosted, Auth0-compatible Actions server."""


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(envvar="ACTIONSD_HOST", help="Address to listen on.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="ACTIONSD_PORT", help="Port to listen on.")] = 8443,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    no_tls: Annotated[
        bool,
        typer.Option(
            "--no-tls", envvar="ACTIONSD_NO_TLS", help="Serve plain HTTP (behind a TLS proxy)."
        ),
    ] = False,
    tls_cert: Annotated[
        Path | None,
        typer.Option(
            envvar="ACTIONSD_TLS_CERT",
            help="PEM certificate chain to serve instead of the local CA's.",
        ),
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option(envvar="ACTIONSD_TLS_KEY", help="PEM private key for --tls-cert.")
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(
            envvar="ACTIONSD_PUBLIC_URL",
            help="URL clients use (https://actions.example.com); sets token issuer and audience.",
        ),
    ] = None,
    log_level: Annotated[
        str, typer.Option(envvar="ACTIONSD_LOG_LEVEL", help="Log level.")
    ] = "info",
    workers: Annotated[
        int,
        typer.Option(
            envvar="ACTIONSD_WORKERS",
            min=1,
            help="Server processes; they share all state through the database.",
        ),
    ] = 1,
) -> None:
    """Start the server (HTTPS with a local CA by default, SQLite by default)."""
    from actionsd.app import bootstrap, create_app
    from actionsd.tls import ensure_local_tls

    if (tls_cert is None) != (tls_key is None):
        raise typer.BadParameter("--tls-cert and --tls-key go together")
    settings = _settings(
        host=host,
        port=port,
        data_dir=data_dir,
        database_url=database_url,
        tls=not no_tls,
        tls_cert=tls_cert,
        tls_key=tls_key,
        public_url=public_url,
    )
    _check_port_free(settings.host, settings.port)
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    state, created = bootstrap(settings)
    state.engine.dispose()

    ssl: dict[str, str] = {}
    trust_lines: list[str] = []
    if settings.tls:
        if settings.tls_cert and settings.tls_key:
            ssl = {"ssl_certfile": str(settings.tls_cert), "ssl_keyfile": str(settings.tls_key)}
        else:
            local = ensure_local_tls(settings.data_dir)
            ssl = {"ssl_certfile": str(local.cert), "ssl_keyfile": str(local.key)}
            trust_lines = [
                f"export NODE_EXTRA_CA_CERTS={local.ca_cert}",
                f"export SSL_CERT_FILE={local.ca_cert}",
                f"export REQUESTS_CA_BUNDLE={local.ca_cert}",
            ]
    _write_server_file(settings)
    _banner(settings, created, trust_lines)
    common: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": log_level.lower(),
        # Idle keep-alive connections must not hold a stop up for long.
        "timeout_graceful_shutdown": 5,
        "timeout_keep_alive": settings.keep_alive_seconds,
        # The standard library's event loop, not uvloop: same throughput, but under many
        # connections uvloop left some requests unread for a long time (docs/benchmarks.md).
        "loop": "asyncio",
        **ssl,
    }
    if workers == 1:
        uvicorn.run(create_app(settings), **common)
        return
    # Each process builds its app from the environment (the options as ACTIONSD_*).
    for name, value in settings.model_dump(exclude={"extra_domains"}).items():
        if value is not None:
            os.environ[f"ACTIONSD_{name.upper()}"] = str(value)
    os.environ["ACTIONSD_EXTRA_DOMAINS"] = json.dumps(settings.extra_domains)
    if "runtime_workers" not in settings.model_fields_set:
        # Unless set, the default number of action workers is the server's, shared by its
        # processes: more Deno workers than cores measured slower (docs/benchmarks.md).
        os.environ["ACTIONSD_RUNTIME_WORKERS"] = str(max(1, settings.runtime_workers // workers))
    if "runtime_cpu_pinning" not in settings.model_fields_set:
        # Every process would pin its workers to the same cores (docs/benchmarks.md).
        os.environ["ACTIONSD_RUNTIME_CPU_PINNING"] = "false"
    config = _SharedSocketConfig(
        "actionsd.app:create_app_from_env", factory=True, workers=workers, **common
    )
    Multiprocess(config, sockets=[config.bind_socket()]).run()


class _SharedSocketConfig(uvicorn.Config):
    """The listening socket ``--workers`` processes share, with TCP_NODELAY set on it:
    accepted connections inherit it, and the standard library's loop sets it only on
    sockets it made itself (without it, every answer waited ~44 ms for a delayed ACK)."""

    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


def _write_server_file(settings: Settings) -> None:
    """What ``actionsd token`` needs to mint tokens this server accepts: its domains and
    its database (the URL may hold a password, so the file is the owner's only)."""
    path = settings.data_dir / SERVER_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(
            {
                "url": settings.effective_public_url,
                "domains": settings.domains,
                "database_url": settings.database_url,
            },
            fh,
            indent=2,
        )


def _banner(settings: Settings, created: Path | None, trust_lines: list[str]) -> None:
    url = settings.effective_public_url
    domain = settings.domains[0]
    lines = [
        f"actionsd serving {url}/api/v2  (API docs: {url}/docs)",
        f"  database: {settings.effective_database_url.split('@')[-1]}",
        f"  SDK domain: {domain}",
        f"  dashboard: {url}/dashboard/  (sign in with the admin client's credentials)",
    ]
    creds = settings.data_dir / "admin-client.json"
    lines.append(
        (
            "  admin client created; credentials (client_id/client_secret) in "
            if created
            else "  admin client credentials in "
        )
        + str(creds)
    )
    data_dir = shlex.quote(str(settings.data_dir))
    lines.append(f"  a token for local use: {_self_command()} token --data-dir {data_dir}")
    if trust_lines:
        lines.append(
            f"  trust the local CA in browsers and curl: {_self_command()} trust "
            f"--data-dir {data_dir}"
        )
        lines.append("  and in Node and Python clients:")
        lines += [f"    {line}" for line in trust_lines]
    typer.echo("\n".join(lines), err=True)


@app.command()
def token(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    scopes: Annotated[
        str,
        typer.Option(envvar="ACTIONSD_TOKEN_SCOPES", help="Space-separated scopes to grant."),
    ] = "read:actions create:actions update:actions delete:actions",
    domain: Annotated[
        str | None,
        typer.Option(
            envvar="ACTIONSD_TOKEN_DOMAIN", help="Domain the token is for [default: the server's]."
        ),
    ] = None,
) -> None:
    """Print a fresh access token of the admin client (and nothing else) on stdout."""
    from actionsd.app import bootstrap
    from actionsd.auth import clients, tokens
    from actionsd.db.engine import transaction

    settings = _settings(data_dir=data_dir, database_url=database_url)
    recorded = _served(settings)
    if database_url is None and recorded.get("database_url"):
        settings = settings.model_copy(update={"database_url": recorded["database_url"]})
    domains = recorded.get("domains") or settings.domains
    state, _ = bootstrap(settings)
    with transaction(state.engine, write=False) as conn:
        client_id = clients.admin_client_id(conn)
    assert client_id is not None
    value = tokens.issue(
        state.keys,
        domain=domain or domains[0],
        client_id=client_id,
        scopes=scopes.split(),
        lifetime_s=settings.token_lifetime_seconds,
    )
    state.engine.dispose()
    typer.echo(value)


@app.command("rotate-keys")
def rotate_keys(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Start signing tokens with a new key; tokens signed by older keys stay valid."""
    from actionsd.app import bootstrap

    settings = _settings(data_dir=data_dir, database_url=database_url)
    recorded = _served(settings)
    if database_url is None and recorded.get("database_url"):
        settings = settings.model_copy(update={"database_url": recorded["database_url"]})
    state, _ = bootstrap(settings)
    typer.echo(state.keys.rotate())
    state.engine.dispose()


@app.command()
def trust(
    data_dir: DataDir = None,
    uninstall: Annotated[
        bool, typer.Option("--uninstall", help="Remove the CA from the stores instead.")
    ] = False,
) -> None:
    """Trust the local CA in the system store and in Chromium's and Firefox's NSS
    databases, so that browsers and curl accept https://localhost (as mkcert -install).
    The system store needs root: sudo is asked for when needed."""
    from actionsd import trust as stores

    settings = _settings(data_dir=data_dir)
    _served(settings)
    pem = settings.data_dir / "tls" / "ca.pem"
    if not pem.exists():
        raise _fail(
            f"{settings.data_dir} has no local CA ({pem}): its server has its own "
            "certificate or serves plain HTTP."
        )
    ca = stores.LocalCa.load(pem)
    if os.geteuid() == 0 and os.environ.get("SUDO_USER"):
        typer.echo(
            f"Under sudo, the browsers' databases in {Path.home()} are the ones changed; "
            "run without sudo to change yours (sudo is asked for the system store)."
        )
    try:
        if uninstall:
            stores.uninstall(ca, Path.home(), typer.echo)
            typer.echo(f"The local CA ({ca.nickname}) is no longer trusted.")
        else:
            stores.install(ca, Path.home(), typer.echo)
            typer.echo(
                f"The local CA ({ca.nickname}) is trusted: restart open browsers.\n"
                "Node and Python's requests keep their own CA lists: set NODE_EXTRA_CA_CERTS "
                f"and REQUESTS_CA_BUNDLE to {pem} for them."
            )
    except stores.TrustError as exc:
        raise _fail(str(exc)) from exc


devloop.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()

"""``actionsd fire``, ``test``, ``sample-event`` and ``logs``: the developer loop on
the command line, as clients of a running server (``devloop.client``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from actionsd.config import default_data_dir
from actionsd.devloop import client, merge, render
from actionsd.triggers import catalog
from actionsd.triggers.catalog import TRIGGER_IDS

EXIT_CODES = (
    "Exit status: 0 the flow completed and access was not denied; 1 an action failed; "
    "3 access was denied; 2 it could not run (bad arguments, no server, an API error)."
)

DataDir = Annotated[
    Path | None,
    typer.Option(
        envvar="ACTIONSD_DATA_DIR",
        help=f"Find the server through its data directory (default: {default_data_dir()}).",
        rich_help_panel="Server",
    ),
]
Url = Annotated[
    str | None,
    typer.Option(
        envvar="ACTIONSD_URL",
        help="The server's URL instead (https://host:port); needs a token or credentials.",
        rich_help_panel="Server",
    ),
]
ClientId = Annotated[
    str | None,
    typer.Option(envvar="ACTIONSD_CLIENT_ID", help="With --url.", rich_help_panel="Server"),
]
ClientSecret = Annotated[
    str | None,
    typer.Option(envvar="ACTIONSD_CLIENT_SECRET", help="With --url.", rich_help_panel="Server"),
]
Token = Annotated[
    str | None,
    typer.Option(
        envvar="ACTIONSD_TOKEN", help="With --url: a bearer token.", rich_help_panel="Server"
    ),
]
CaCert = Annotated[
    Path | None,
    typer.Option(
        envvar="ACTIONSD_CA_CERT",
        help="With --url: a CA certificate to trust besides the system's.",
        rich_help_panel="Server",
    ),
]
EventFile = Annotated[
    str | None,
    typer.Option(
        "--event",
        help="A JSON object merged over the sample event: a file, or - for stdin.",
        show_default=False,
    ),
]
Sets = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="PATH=VALUE, applied after --event, e.g. user.app_metadata.plan=pro; "
        "VALUE is JSON when it parses as JSON (5, true, null, {...}), else a string.",
        show_default=False,
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the server's answer as JSON.")]
BuildTimeout = Annotated[
    float, typer.Option(help="Seconds to wait for actions that are still building.")
]


def _target(
    data_dir: Path | None,
    url: str | None,
    client_id: str | None,
    client_secret: str | None,
    token: str | None,
    ca_cert: Path | None,
) -> client.Target:
    if url:
        return client.target_from_url(
            url, token=token, client_id=client_id, client_secret=client_secret, ca_cert=ca_cert
        )
    return client.target_from_data_dir(data_dir or default_data_dir())


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _trigger(trigger: str) -> str:
    if trigger not in TRIGGER_IDS:
        raise _fail(f"unknown trigger {trigger!r}; one of: {', '.join(TRIGGER_IDS)}")
    return trigger


def _event(trigger: str, event_file: str | None, sets: list[str] | None) -> dict[str, Any]:
    from actionsd.triggers import events

    given: Any = None
    if event_file is not None:
        try:
            text = sys.stdin.read() if event_file == "-" else Path(event_file).read_text()
            given = json.loads(text)
        except (OSError, ValueError) as exc:
            raise _fail(f"--event {event_file}: {exc}") from None
        if not isinstance(given, dict):
            raise _fail(f"--event {event_file}: the event must be a JSON object")
    try:
        return merge.build_event(events.sample(trigger), given, sets or [])
    except merge.EventError as exc:
        raise _fail(str(exc)) from None


def _progress(waiting: list[str], elapsed: float) -> None:
    if waiting:
        message = f"waiting for {', '.join(waiting)} to build ({elapsed:.0f} s)"
    else:
        message = f"built ({elapsed:.1f} s)"
    # One line, rewritten in place on a terminal; a line per poll would flood a log.
    if sys.stderr.isatty():
        typer.echo(f"\r\033[K{message}", err=True, nl=not waiting)
    elif not waiting or elapsed == 0 or int(elapsed * 4) % 20 == 0:
        typer.echo(message, err=True)


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def fire(
    trigger: Annotated[str, typer.Argument(help="The trigger, e.g. post-login.")],
    action: Annotated[
        str | None,
        typer.Option(
            help="Entity-bound triggers (custom-token-exchange, event-stream, "
            "password-hash-migration, mcp-tool): the action to run, by name or id.",
            show_default=False,
        ),
    ] = None,
    event: EventFile = None,
    set_: Sets = None,
    as_json: AsJson = False,
    build_timeout: BuildTimeout = 300.0,
    data_dir: DataDir = None,
    url: Url = None,
    client_id: ClientId = None,
    client_secret: ClientSecret = None,
    token: Token = None,
    ca_cert: CaCert = None,
) -> None:
    """Run the trigger's bound flow on the running server with its sample event."""
    body = _event(_trigger(trigger), event, set_)
    if catalog.binding_policy(trigger) == catalog.ENTITY_BOUND and action is None:
        raise _fail(f"{trigger} is entity-bound and has no bindings: name the action (--action)")
    try:
        target = _target(data_dir, url, client_id, client_secret, token, ca_cert)
        with client.connect(target) as api:
            result = client.fire(api, trigger, body, action, _progress, build_timeout)
    except client.ClientError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        _print_json(result)
    else:
        typer.echo(render.execution_text(result, f"{trigger}  execution {result['execution_id']}"))
    raise typer.Exit(render.status_of(result))


def test(
    action: Annotated[str, typer.Argument(help="The action's name or id.")],
    event: EventFile = None,
    set_: Sets = None,
    as_json: AsJson = False,
    build_timeout: BuildTimeout = 300.0,
    data_dir: DataDir = None,
    url: Url = None,
    client_id: ClientId = None,
    client_secret: ClientSecret = None,
    token: Token = None,
    ca_cert: CaCert = None,
) -> None:
    """Run one action's draft, as the dashboard's Test tab does."""
    try:
        target = _target(data_dir, url, client_id, client_secret, token, ca_cert)
        with client.connect(target) as api:
            found = client.find_action(api, action)
            trigger = found["supported_triggers"][0]["id"]
            body = _event(trigger, event, set_)
            client.wait_built(client.draft_build(api, found["id"]), _progress, build_timeout)
            path = f"/api/v2/actions/actions/{found['id']}/test"
            answer = client.call(api, "POST", path, json={"payload": body})
    except client.ClientError as exc:
        raise _fail(str(exc)) from None
    payload = answer.get("payload") or {}
    if as_json:
        _print_json(answer)
    else:
        typer.echo(render.test_text(found["name"], payload))
    failed = {"error": payload.get("error"), "outcome": payload.get("outcome")}
    raise typer.Exit(render.status_of(failed))


def sample_event(
    trigger: Annotated[str, typer.Argument(help="The trigger, e.g. post-login.")],
) -> None:
    """Print the trigger's sample event (the one fire and test start from) as JSON."""
    from actionsd.triggers import events

    _print_json(events.sample(_trigger(trigger)))


def logs(
    trigger: Annotated[
        str | None, typer.Option(help="Only this trigger's executions.", show_default=False)
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing executions as they happen.")
    ] = False,
    last: Annotated[int, typer.Option(min=0, max=100, help="Past executions to show first.")] = 10,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per execution and line.")
    ] = False,
    data_dir: DataDir = None,
    url: Url = None,
    client_id: ClientId = None,
    client_secret: ClientSecret = None,
    token: Token = None,
    ca_cert: CaCert = None,
) -> None:
    """Show executions as they happen (Auth0's Real-time Logs)."""
    params: dict[str, Any] = {"history": last}
    if trigger is not None:
        params["trigger_id"] = _trigger(trigger)
    try:
        target = _target(data_dir, url, client_id, client_secret, token, ca_cert)
        with client.connect(target, timeout=None) as api:
            lost = False
            for kind, execution in client.stream(api, params, follow=follow):
                if kind == "live" and follow:
                    typer.echo("following executions (Ctrl-C stops)", err=True)
                elif kind == "lost" and not lost:
                    typer.echo("the server went away; connecting again", err=True)
                lost = kind == "lost"
                if kind != "execution":
                    continue
                if as_json:
                    typer.echo(json.dumps(execution, ensure_ascii=False))
                    continue
                header = (
                    f"{execution['created_at']}  {execution['trigger_id']}  "
                    f"execution {execution['id']}"
                )
                typer.echo(render.execution_text(execution, header) + "\n")
    except client.ClientError as exc:
        raise _fail(str(exc)) from None
    except KeyboardInterrupt:
        return


FIRE_HELP = (
    "Run the trigger's bound flow on the running server with its sample event, "
    "merged with --event and then each --set. An entity-bound trigger has no bindings: "
    "--action names the action whose deployed version runs.\n\n"
    "Prints each bound action in binding order (console output, commands, duration), "
    "then the combined outcome; --json prints the execution exactly as "
    "POST /actionsd/v1/triggers/TRIGGER/execute answers it. While bound actions are "
    "still building it says so and waits."
)
TEST_HELP = (
    "Run one action's draft, as the dashboard's Test tab does "
    "(POST /api/v2/actions/actions/ID/test), with the sample event of its trigger "
    "merged with --event and then each --set.\n\n"
    'Prints its console output, commands and duration; --json prints the answer ({"payload": ...}).'
)
LOGS_HELP = (
    "Show executions (Auth0's Real-time Logs): trigger, every action's console output, "
    "commands, result and duration.\n\n"
    "The last few (--last), then with --follow each new one as it happens, whichever "
    "server process ran it. Ctrl-C stops."
)


def register(app: typer.Typer) -> None:
    app.command(help=FIRE_HELP, epilog=EXIT_CODES)(fire)
    app.command(help=TEST_HELP, epilog=EXIT_CODES)(test)
    app.command("sample-event")(sample_event)
    app.command(help=LOGS_HELP)(logs)

"""``actionsd fire``, ``test``, ``sample-event`` and ``logs`` as a user runs them: the
command in a child process against ``actionsd serve`` (HTTPS, its local CA), found
through the data directory or given by --url."""

from __future__ import annotations

import json
import re
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from actionsd.builds.builder import BuildError, BuildInput
from actionsd.builds.npm import NpmBuilder
from actionsd.cli import app
from actionsd.triggers import events
from tests.conftest import make_settings
from tests.helpers import by_id, create_action, deploy, patch_bindings, wait_status
from tests.runtime_helpers import handler
from tests.servers import CliServer, InProcessServer

PL = "post-login"
SNAPSHOTS = Path(__file__).parent / "snapshots"
GREET = """
console.log(`hello ${event.user.email}`);
console.log(`plan: ${event.user.app_metadata.plan}`);
api.idToken.setCustomClaim("https://example.com/plan", event.user.app_metadata.plan);
"""
REPORTS = 'api.accessToken.addScope("read:reports"); api.user.setAppMetadata("seen", true);'
SHOW_EVENT = "console.log(JSON.stringify(event));"


def actionsd(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "actionsd.cli", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliServer]:
    server = CliServer(tmp_path_factory.mktemp("devloop") / "data").start()
    yield server
    server.stop()


@pytest.fixture
def api(served: CliServer) -> Iterator[httpx.Client]:
    verify = ssl.create_default_context(cafile=str(served.ca_file))
    token = served.token(scopes="read:actions create:actions update:actions delete:actions")
    with httpx.Client(
        base_url=f"https://{served.domain}/api/v2",
        headers={"Authorization": f"Bearer {token}"},
        verify=verify,
        timeout=30,
    ) as client:
        yield client


def flow(api: httpx.Client, *actions: tuple[str, str]) -> list[dict[str, Any]]:
    """Bind these (name, handler body) actions to post-login, in order, replacing what
    was bound; an action of that name is made once and reused."""
    made = []
    existing = {a["name"]: a for a in api.get("/actions/actions?per_page=100").json()["actions"]}
    for name, body in actions:
        action = existing.get(name) or create_action(api, name, code=handler(PL, body))
        if "deployed_version" not in action:
            deploy(api, action["id"])
        made.append(action)
    response = patch_bindings(api, PL, [by_id(a["id"]) for a in made])
    assert response.status_code == 200, response.text
    return made


def fire(
    served: CliServer, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return actionsd("fire", PL, "--data-dir", str(served.data_dir), *args, stdin=stdin)


def normalised(text: str) -> str:
    text = re.sub(r"execution \S+", "execution <id>", text)
    return re.sub(r"\d+\.\d ms", "<n> ms", text)


def test_fire_prints_each_action_then_the_outcome(served: CliServer, api: httpx.Client) -> None:
    flow(api, ("greet", GREET), ("reports", REPORTS))
    done = fire(
        served, "--set", "user.email=ada@example.com", "--set", "user.app_metadata.plan=pro"
    )
    assert done.returncode == 0, done.stderr
    snapshot = SNAPSHOTS / "fire_post_login.txt"
    assert normalised(done.stdout) == snapshot.read_text(), done.stdout


def test_fire_json_is_the_execute_endpoints_answer(served: CliServer, api: httpx.Client) -> None:
    flow(api, ("greet", GREET), ("reports", REPORTS))
    done = fire(served, "--json", "--set", "user.app_metadata.plan=team")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    sample = events.sample(PL)
    sample["user"]["app_metadata"]["plan"] = "team"
    token = served.token(scopes="execute:actions")
    direct = httpx.post(
        f"https://{served.domain}/actionsd/v1/triggers/{PL}/execute",
        json={"event": sample},
        headers={"Authorization": f"Bearer {token}"},
        verify=ssl.create_default_context(cafile=str(served.ca_file)),
    ).json()

    def comparable(answer: dict[str, Any]) -> dict[str, Any]:
        answer = {**answer, "execution_id": "<id>"}
        answer["results"] = [
            {**r, "started_at": "", "ended_at": "", "response": {**r["response"], "stats": {}}}
            for r in answer["results"]
        ]
        return answer

    assert set(printed) == {"execution_id", "trigger_id", "status", "outcome", "results"}
    assert comparable(printed) == comparable(direct)
    assert printed["outcome"]["idToken"]["claims"] == {"https://example.com/plan": "team"}
    stored = api.get(f"/actions/executions/{printed['execution_id']}")
    assert stored.status_code == 200 and stored.json()["results"] == printed["results"]


def test_fire_runs_an_entity_bound_triggers_action_by_name(
    served: CliServer, api: httpx.Client
) -> None:
    """custom-token-exchange and the other entity-bound triggers have no bindings: --action
    names the action whose deployed version runs, against the trigger's sample event."""
    cte = "custom-token-exchange"
    name = "exchange-by-name"
    existing = {a["name"] for a in api.get("/actions/actions?per_page=100").json()["actions"]}
    if name not in existing:
        body = "api.authentication.setUserById(event.transaction.subject_token);"
        made = create_action(api, name, trigger=cte, version="v1", code=handler(cte, body))
        deploy(api, made["id"])
    data_dir = str(served.data_dir)
    done = actionsd("fire", cte, "--action", name, "--json", "--data-dir", data_dir)
    assert done.returncode == 0, done.stderr
    subject = events.sample(cte)["transaction"]["subject_token"]
    assert json.loads(done.stdout)["outcome"] == {"authentication": {"user": {"user_id": subject}}}
    # Refused before any request is made: in process, no second interpreter to start.
    refused = CliRunner().invoke(app, ["fire", cte, "--data-dir", data_dir])
    assert refused.exit_code == 2 and "--action" in refused.output, refused.output


def test_fire_exit_status_for_a_failed_action_and_a_denial(
    served: CliServer, api: httpx.Client
) -> None:
    flow(api, ("greet", GREET), ("broken", "throw new TypeError('no plan for you');"))
    failed = fire(served)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "2. broken  FAILED" in failed.stdout
    assert "error   | TypeError: no plan for you" in failed.stdout
    assert "outcome: failed in broken" in failed.stdout
    assert json.loads(fire(served, "--json").stdout)["error"]["message"] == "no plan for you"

    flow(api, ("deny", "api.access.deny('blocked');"), ("greet", GREET))
    denied = fire(served)
    assert denied.returncode == 3, denied.stdout + denied.stderr
    assert 'command | api.access.deny("blocked")' in denied.stdout
    assert 'outcome: access denied: {"reason": "blocked"}' in denied.stdout
    assert "greet" not in denied.stdout, "a denial stops the flow"
    assert fire(served, "--json").returncode == 3

    flow(api)
    empty = fire(served)
    assert empty.returncode == 0 and "(no actions bound)" in empty.stdout


def test_event_file_then_each_set_merge_over_the_sample(
    served: CliServer, api: httpx.Client, tmp_path: Path
) -> None:
    flow(api, ("show-event", SHOW_EVENT))
    given = tmp_path / "event.json"
    given.write_text(
        json.dumps(
            {
                "user": {"user_metadata": {"theme": "dark"}, "email": "file@example.com"},
                "request": {"ip": "10.0.0.1"},
            }
        )
    )
    done = fire(
        served,
        "--json",
        "--event",
        str(given),
        "--set",
        "user.email=set@example.com",
        "--set",
        "user.app_metadata.plan=pro",
        "--set",
        "user.logins_count=5",
        "--set",
        "user.email_verified=false",
        "--set",
        'user.name="123"',
        "--set",
        "user.identities.0.provider=github",
        "--set",
        'transaction.metadata={"a": [1, 2]}',
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(json.loads(done.stdout)["results"][0]["response"]["logs"])
    sample = events.sample(PL)
    user = seen["user"]
    assert user["email"] == "set@example.com", "--set comes after --event"
    assert user["user_metadata"] == {**sample["user"]["user_metadata"], "theme": "dark"}
    assert user["app_metadata"] == {**sample["user"]["app_metadata"], "plan": "pro"}
    assert user["logins_count"] == 5 and user["email_verified"] is False
    assert user["name"] == "123"
    assert user["identities"][0]["provider"] == "github"
    assert user["identities"][0]["user_id"] == sample["user"]["identities"][0]["user_id"]
    assert seen["transaction"]["metadata"] == {"a": [1, 2]}
    assert seen["request"]["ip"] == "10.0.0.1"
    assert seen["request"]["geoip"] == sample["request"]["geoip"], "the rest is the sample's"

    piped = fire(served, "--json", "--event", "-", stdin='{"user": {"email": "stdin@example.com"}}')
    assert (
        json.loads(json.loads(piped.stdout)["results"][0]["response"]["logs"])["user"]["email"]
        == "stdin@example.com"
    )

    for bad, says in (
        (["--set", "no-equals-sign"], "PATH=VALUE"),
        (["--set", "user.email.x=1"], "user.email is not an object"),
        (["--set", "user.identities.9.x=1"], "not an element"),
        (["--event", "-"], "--event -"),
    ):
        refused = fire(served, *bad, stdin="[1]")
        assert refused.returncode == 2 and says in refused.stderr, (bad, refused.stderr)


def test_test_runs_a_draft_by_name_or_id(served: CliServer, api: httpx.Client) -> None:
    made = create_action(api, "draft-only", code=handler(PL, GREET))
    by_name = actionsd(
        "test",
        "draft-only",
        "--set",
        "user.email=t@example.com",
        "--data-dir",
        str(served.data_dir),
    )
    assert by_name.returncode == 0, by_name.stderr
    assert "console | hello t@example.com" in by_name.stdout
    assert 'command | api.idToken.setCustomClaim("https://example.com/plan", ' in by_name.stdout
    by_id_json = actionsd("test", made["id"], "--json", "--data-dir", str(served.data_dir))
    payload = json.loads(by_id_json.stdout)["payload"]
    assert payload["logs"].startswith(f"hello {events.sample(PL)['user']['email']}\n")
    assert set(payload["stats"]) >= {"action_duration_ms", "total_request_duration_ms"}

    api.patch(f"/actions/actions/{made['id']}", json={"code": handler(PL, "api.access.deny('x');")})
    assert actionsd("test", "draft-only", "--data-dir", str(served.data_dir)).returncode == 3
    api.patch(f"/actions/actions/{made['id']}", json={"code": handler(PL, "throw new Error('t');")})
    thrown = actionsd("test", "draft-only", "--data-dir", str(served.data_dir))
    assert thrown.returncode == 1 and "error   | Error: t" in thrown.stdout
    missing = actionsd("test", "no-such-action", "--data-dir", str(served.data_dir))
    assert missing.returncode == 2 and "no-such-action" in missing.stderr


def test_sample_event_prints_the_sample_the_server_serves(served: CliServer) -> None:
    printed = actionsd("sample-event", PL)
    assert printed.returncode == 0
    assert json.loads(printed.stdout) == events.sample(PL)
    token = served.token(scopes="read:actions")
    served_sample = httpx.get(
        f"https://{served.domain}/actionsd/v1/triggers/{PL}/sample-event",
        headers={"Authorization": f"Bearer {token}"},
        verify=ssl.create_default_context(cafile=str(served.ca_file)),
    )
    assert served_sample.json() == {"trigger_id": PL, "event": events.sample(PL)}
    unknown = actionsd("sample-event", "no-such-trigger")
    assert unknown.returncode == 2 and "unknown trigger" in unknown.stderr


def test_logs_prints_the_last_executions(served: CliServer, api: httpx.Client) -> None:
    flow(api, ("greet", GREET))
    fired = [
        json.loads(fire(served, "--json", "--set", f"user.email=log{i}@example.com").stdout)
        for i in range(2)
    ]
    done = actionsd("logs", "--trigger", PL, "--last", "2", "--data-dir", str(served.data_dir))
    assert done.returncode == 0, done.stderr
    for i, result in enumerate(fired):
        assert f"post-login  execution {result['execution_id']}" in done.stdout
        assert f"console | hello log{i}@example.com" in done.stdout
    assert done.stdout.index(fired[0]["execution_id"]) < done.stdout.index(fired[1]["execution_id"])


def test_url_with_client_credentials_and_a_ca(served: CliServer, api: httpx.Client) -> None:
    flow(api, ("deny", "api.access.deny('blocked');"))
    creds = served.credentials()
    remote = ["--url", f"https://{served.domain}", "--ca-cert", str(served.ca_file)]
    done = actionsd(
        "fire",
        PL,
        *remote,
        "--client-id",
        creds["client_id"],
        "--client-secret",
        creds["client_secret"],
        "--json",
    )
    assert done.returncode == 3, done.stderr
    assert json.loads(done.stdout)["outcome"]["denied"] == {"reason": "blocked"}
    wrong = actionsd("fire", PL, *remote, "--client-id", creds["client_id"], "--client-secret", "x")
    assert wrong.returncode == 2 and "refused the client credentials" in wrong.stderr
    untrusted = actionsd("fire", PL, "--url", f"https://{served.domain}", "--token", "t")
    assert untrusted.returncode == 2 and "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr


def test_commands_without_a_server_say_so(tmp_path: Path) -> None:
    for command in (["fire", PL], ["test", "x"], ["logs"]):
        done = actionsd(*command, "--data-dir", str(tmp_path))
        assert done.returncode == 2 and "actionsd serve" in done.stderr, done.stderr
    assert "needs --token" in actionsd("fire", PL, "--url", "https://localhost:1").stderr


class GatedBuilder:
    """The real builder, holding back code marked ``/* slow */`` until the test opens
    the gate: a build that takes as long as the test needs."""

    def __init__(self, data_dir: Path) -> None:
        self.inner = NpmBuilder(data_dir)
        self.gate = threading.Event()

    def build(self, item: BuildInput) -> list[BuildError]:
        if "/* slow */" in item.code:
            self.gate.wait(60)
        return self.inner.build(item)

    def close(self) -> None:
        self.gate.set()
        self.inner.close()


def test_fire_waits_for_bound_actions_to_build(tmp_path: Path) -> None:
    builder = GatedBuilder(tmp_path)
    server = InProcessServer(make_settings(tmp_path, "sqlite"), builder=builder).start()
    try:
        with server.client() as api:
            quick = create_action(api, "quick", code=handler(PL, "console.log('quick');"))
            wait_status(api, quick["id"])
            deploy(api, quick["id"])
            slow = create_action(
                api, "slow", code=handler(PL, "console.log('slow'); /* slow */"), deploy=True
            )
            assert (
                patch_bindings(api, PL, [by_id(quick["id"]), by_id(slow["id"])]).status_code == 200
            )
        token = server.token(("read:actions", "execute:actions"))
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "actionsd.cli",
                "fire",
                PL,
                "--url",
                server.url,
                "--token",
                token,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None
        assert "waiting for slow to build" in proc.stderr.readline()
        builder.gate.set()
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, out + err
        assert re.search(r"built \(\d+\.\d s\)", err), err
        assert "console | quick" in out and "console | slow" in out
    finally:
        server.stop()
        builder.close()

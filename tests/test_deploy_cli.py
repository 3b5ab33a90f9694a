"""auth0-deploy-cli (``a0deploy`` 8.44, unmodified, from tests/sdk/node) against
``actionsd serve`` over HTTPS, as a team moving its tenant's YAML to actionsd runs it:
export, edit the YAML (reorder a trigger's bindings, change one action's code), import,
export again. deploy-cli manages a whole tenant; ``AUTH0_INCLUDED_ONLY`` limits it to
actions and triggers, and the calls it still makes outside the Actions API are pinned
below."""

from __future__ import annotations

import json
import os
import re
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from actionsd.auth.tokens import ALL_SCOPES, EXECUTE_SCOPE
from actionsd.builds.builder import node_executable
from tests.conftest import fresh_postgres
from tests.servers import CliServer

pytestmark = pytest.mark.sdk
SDK_DIR = Path(__file__).parent / "sdk" / "node"
A0DEPLOY = SDK_DIR / "node_modules" / "auth0-deploy-cli" / "lib" / "index.js"
ACCESS = re.compile(r'"(GET|POST|PATCH|PUT|DELETE) (/[^ ?"]*)')


def claim(name: str, value: str) -> str:
    return (
        "exports.onExecutePostLogin = async (event, api) => {\n"
        f"  api.idToken.setCustomClaim('https://x/{name}', {value});\n"
        "};\n"
    )


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def cli_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CliServer]:
    if not A0DEPLOY.exists():
        pytest.fail("tests/sdk/node has no auth0-deploy-cli: run `make test` (it runs npm ci)")
    url = fresh_postgres("deploycli") if request.param == "postgres" else ""
    server = CliServer(tmp_path_factory.mktemp(f"deploycli-{request.param}"), database_url=url)
    yield server.start()
    server.stop()


@pytest.fixture
def api(cli_server: CliServer) -> Iterator[httpx.Client]:
    token = cli_server.token(scopes=" ".join((*ALL_SCOPES, EXECUTE_SCOPE)))
    with httpx.Client(
        base_url=f"https://{cli_server.domain}/api/v2",
        headers={"Authorization": f"Bearer {token}"},
        verify=ssl.create_default_context(cafile=str(cli_server.ca_file)),
        timeout=30,
    ) as client:
        yield client


def a0deploy(server: CliServer, work: Path, *args: str) -> str:
    creds = server.credentials()
    config = work / "config.json"
    config.write_text(
        json.dumps(
            {
                "AUTH0_DOMAIN": server.domain,
                "AUTH0_CLIENT_ID": creds["client_id"],
                "AUTH0_CLIENT_SECRET": creds["client_secret"],
                "AUTH0_INCLUDED_ONLY": ["actions", "triggers"],
            }
        )
    )
    result = subprocess.run(
        [node_executable(), str(A0DEPLOY), *args, "--config_file", str(config)],
        cwd=work,
        env={"PATH": os.environ.get("PATH", ""), "NODE_EXTRA_CA_CERTS": str(server.ca_file)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"a0deploy {args[0]}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def export(server: CliServer, work: Path) -> dict[str, Any]:
    out = work / "export"
    a0deploy(server, work, "export", "--format", "yaml", "--output_folder", str(out))
    tenant: dict[str, Any] = yaml.safe_load((out / "tenant.yaml").read_text())
    return tenant


def create(api: httpx.Client, name: str, code: str, **extra: Any) -> dict[str, Any]:
    body = {"name": name, "supported_triggers": [{"id": "post-login", "version": "v3"}]}
    response = api.post("/actions/actions", json={**body, "code": code, **extra})
    assert response.status_code == 201, response.text
    action: dict[str, Any] = response.json()
    return action


def wait_built(api: httpx.Client, action_id: str) -> None:
    deadline = time.monotonic() + 30
    while api.get(f"/actions/actions/{action_id}").json()["status"] != "built":
        assert time.monotonic() < deadline
        time.sleep(0.05)


def fire(api: httpx.Client) -> dict[str, Any]:
    root = str(api.base_url).rstrip("/").removesuffix("/api/v2")
    response = api.post(f"{root}/actionsd/v1/triggers/post-login/execute", json={"event": {}})
    assert response.status_code == 200, response.text
    claims: dict[str, Any] = response.json()["outcome"]["idToken"]["claims"]
    return claims


def test_export_edit_import_export(
    cli_server: CliServer, api: httpx.Client, tmp_path: Path
) -> None:
    first = create(
        api,
        "dc-first",
        claim("first", "event.secrets.KEY"),
        secrets=[{"name": "KEY", "value": "k-1"}, {"name": "OTHER", "value": "o-1"}],
    )
    second = create(api, "dc-second", claim("second", "'v1'"))
    third = create(api, "dc-third", claim("third", "'v1'"))
    actions = (first, second, third)
    for action in actions:
        wait_built(api, action["id"])
        assert api.post(f"/actions/actions/{action['id']}/deploy").status_code == 200
    refs = [{"ref": {"type": "action_id", "value": a["id"]}} for a in actions]
    bound = api.patch("/actions/triggers/post-login/bindings", json={"bindings": refs})
    assert bound.status_code == 200, bound.text
    assert fire(api) == {
        "https://x/first": "k-1",
        "https://x/second": "v1",
        "https://x/third": "v1",
    }

    tenant = export(cli_server, tmp_path)
    exported = {a["name"]: a for a in tenant["actions"]}
    assert set(exported) == {"dc-first", "dc-second", "dc-third"}
    assert all(a["deployed"] is True for a in exported.values()), exported
    assert exported["dc-first"]["secrets"] == [{"name": "KEY"}, {"name": "OTHER"}], (
        "exported by name, without values"
    )
    assert [b["action_name"] for b in tenant["triggers"]["post-login"]] == [
        "dc-first",
        "dc-second",
        "dc-third",
    ]

    # The edit a team makes: a new order, new code for one action. And one action left
    # to deploy by hand (deployed: false): deploy-cli still PATCHes it, unchanged.
    bindings = {b["action_name"]: b for b in tenant["triggers"]["post-login"]}
    tenant["triggers"]["post-login"] = [bindings[n] for n in ("dc-third", "dc-first", "dc-second")]
    by_name = {a["name"]: a for a in tenant["actions"]}
    by_name["dc-third"]["deployed"] = False
    export_dir = tmp_path / "export"
    (export_dir / exported["dc-second"]["code"]).write_text(claim("second", "'v2'"))
    (export_dir / "tenant.yaml").write_text(yaml.safe_dump(tenant))
    versions_before = {
        a["id"]: api.get(f"/actions/actions/{a['id']}/versions").json()["total"] for a in actions
    }
    a0deploy(cli_server, tmp_path, "import", "--input_file", str(export_dir / "tenant.yaml"))

    (tmp_path / "again").mkdir()
    again = export(cli_server, tmp_path / "again")
    reexported = {a["name"]: a for a in again["actions"]}
    assert [b["action_name"] for b in again["triggers"]["post-login"]] == [
        "dc-third",
        "dc-first",
        "dc-second",
    ]
    assert all(a["deployed"] is True for a in reexported.values()), reexported
    assert reexported["dc-first"]["secrets"] == [{"name": "KEY"}, {"name": "OTHER"}]
    # The secrets kept their values through an import that sent only their names, and
    # the edited code runs.
    assert fire(api) == {
        "https://x/first": "k-1",
        "https://x/second": "v2",
        "https://x/third": "v1",
    }
    for action in actions:
        read = api.get(f"/actions/actions/{action['id']}").json()
        # The one PATCHed without a deploy stays deployed: its draft did not change.
        assert read["all_changes_deployed"] is True, read
        # deploy-cli deploys every action its YAML marks deployed, changed or not.
        redeployed = action is not third
        assert read["deployed_version"]["number"] == versions_before[action["id"]] + redeployed
    # What it calls outside the Actions API with AUTH0_INCLUDED_ONLY=[actions, triggers]
    # (our own calls here are /api/v2/actions/… and /actionsd/…; the server's start-up
    # probe is the JWKS).
    calls = {f"{m} {p}" for m, p in ACCESS.findall(cli_server.log.read_text())}
    outside = {
        c
        for c in calls
        if not c.split()[1].startswith(("/api/v2/actions/", "/actionsd/", "/.well-known/"))
    }
    assert outside == {"POST /oauth/token"}, sorted(calls)

"""The official auth0-python SDK (v6, unmodified) against ``actionsd serve``, the way a
user points it: a domain, client credentials, HTTPS trusted through the local CA."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from auth0.management import ManagementClient
from auth0.management.core.api_error import ApiError

from tests.conftest import fresh_postgres
from tests.servers import CliServer

pytestmark = pytest.mark.sdk
CODE = "exports.onExecutePostLogin = async (event, api) => {};"


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def cli_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CliServer]:
    url = fresh_postgres("pysdk") if request.param == "postgres" else ""
    server = CliServer(tmp_path_factory.mktemp(f"pysdk-{request.param}"), database_url=url).start()
    yield server
    server.stop()


@pytest.fixture
def client(cli_server: CliServer, monkeypatch: pytest.MonkeyPatch) -> ManagementClient:
    monkeypatch.setenv("SSL_CERT_FILE", str(cli_server.ca_file))
    creds = cli_server.credentials()
    return ManagementClient(
        domain=cli_server.domain, client_id=creds["client_id"], client_secret=creds["client_secret"]
    )


def cli_token(server: CliServer, scopes: str) -> str:
    return server.token(scopes=scopes)


def built(client: ManagementClient, action_id: str) -> Any:
    deadline = time.monotonic() + 20
    while (action := client.actions.get(action_id)).status != "built":
        assert time.monotonic() < deadline, action
        time.sleep(0.05)
    return action


def deployed(client: ManagementClient, name: str) -> Any:
    action = client.actions.create(
        name=name,
        supported_triggers=[{"id": "post-login", "version": "v3"}],
        code=CODE,
        secrets=[{"name": "KEY", "value": "value"}],
    )
    built(client, action.id)
    client.actions.deploy(action.id)
    return action


def fails(call: Any) -> ApiError:
    with pytest.raises(ApiError) as info:
        call()
    return info.value


def test_full_lifecycle(client: ManagementClient) -> None:
    one, two, three = (deployed(client, f"py-{n}") for n in ("one", "two", "three"))

    # Bind in order with each kind of ref.
    result = client.actions.triggers.bindings.update_many(
        "post-login",
        bindings=[
            {"ref": {"type": "action_id", "value": one.id}, "display_name": "First"},
            {"ref": {"type": "action_name", "value": "py-two"}},
            {"ref": {"type": "action_id", "value": three.id}},
        ],
    )
    assert [b.display_name for b in result.bindings] == ["First", "py-two", "py-three"]
    # The SDK pages until an empty page: a wrong envelope would loop or duplicate.
    listed = list(client.actions.triggers.bindings.list("post-login", per_page=2))
    assert [b.action.name for b in listed] == ["py-one", "py-two", "py-three"]

    ids = [b.id for b in result.bindings]
    reordered = client.actions.triggers.bindings.update_many(
        "post-login",
        bindings=[{"ref": {"type": "binding_id", "value": i}} for i in (ids[2], ids[0], ids[1])],
    )
    assert [b.id for b in reordered.bindings] == [ids[2], ids[0], ids[1]]
    unbound = client.actions.triggers.bindings.update_many(
        "post-login",
        bindings=[{"ref": {"type": "binding_id", "value": i}} for i in (ids[2], ids[1])],
    )
    assert [b.display_name for b in unbound.bindings] == ["py-three", "py-two"]

    # Versions and roll back.
    client.actions.update(one.id, code=CODE + "\n// v2")
    built(client, one.id)
    client.actions.deploy(one.id)
    versions = list(client.actions.versions.list(one.id))
    assert [v.number for v in versions] == [2, 1]
    first = client.actions.versions.get(one.id, versions[1].id)
    assert first.number == 1 and first.deployed is False
    rolled = client.actions.versions.deploy(one.id, first.id, request={"update_draft": True})
    assert rolled.number == 3
    action = client.actions.get(one.id)
    assert action.deployed_version is not None and action.deployed_version.number == 3
    assert action.all_changes_deployed is True
    assert [s.name for s in action.secrets or []] == ["KEY"]

    names = {a.name for a in client.actions.list(per_page=2)}
    assert {"py-one", "py-two", "py-three"} <= names
    assert [t.id for t in client.actions.triggers.list().triggers or []].count("post-login") == 3

    # Errors, with Auth0's bodies.
    missing = fails(lambda: client.actions.get("00000000-0000-4000-8000-000000000000"))
    assert missing.status_code == 404
    assert missing.body == {
        "statusCode": 404,
        "error": "Not Found",
        "message": "That action does not exist.",
    }
    bound = fails(lambda: client.actions.delete(three.id))
    assert bound.status_code == 409
    assert bound.body["message"] == "Unable to delete an action bound to a trigger."
    draft = client.actions.create(
        name="py-draft", supported_triggers=[{"id": "post-login", "version": "v3"}], code=CODE
    )
    refused = fails(
        lambda: client.actions.triggers.bindings.update_many(
            "post-login", bindings=[{"ref": {"type": "action_id", "value": draft.id}}]
        )
    )
    assert refused.status_code == 400
    assert (
        refused.body["message"]
        == "Trying to create a binding for an action that has not been deployed yet"
    )
    assert [b.id for b in client.actions.triggers.bindings.list("post-login")] == [ids[2], ids[1]]

    client.actions.delete(three.id, force=True)
    assert [b.display_name for b in client.actions.triggers.bindings.list("post-login")] == [
        "py-two"
    ]
    client.actions.triggers.bindings.update_many("post-login", bindings=[])
    for action_id in (one.id, two.id, draft.id):
        client.actions.delete(action_id)


def test_auth_errors(cli_server: CliServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(cli_server.ca_file))
    bad = ManagementClient(domain=cli_server.domain, token="not-a-token")
    unauthorized = fails(lambda: bad.actions.triggers.list())
    assert unauthorized.status_code == 401
    assert unauthorized.body == {
        "statusCode": 401,
        "error": "Unauthorized",
        "message": "Invalid token",
    }

    reader = ManagementClient(domain=cli_server.domain, token=cli_token(cli_server, "read:actions"))
    assert reader.actions.triggers.list().triggers
    forbidden = fails(
        lambda: reader.actions.create(
            name="nope", supported_triggers=[{"id": "post-login", "version": "v3"}]
        )
    )
    assert forbidden.status_code == 403
    assert forbidden.body == {
        "statusCode": 403,
        "error": "Forbidden",
        "message": "Insufficient scope, expected any of: create:actions",
        "errorCode": "insufficient_scope",
    }


def test_local_ca_files(cli_server: CliServer) -> None:
    tls = cli_server.data_dir / "tls"
    for private in ("ca-key.pem", "server-key.pem"):
        assert (tls / private).stat().st_mode & 0o777 == 0o600
    assert (cli_server.data_dir / "admin-client.json").stat().st_mode & 0o777 == 0o600
    log = Path(cli_server.log).read_text()
    assert f"NODE_EXTRA_CA_CERTS={tls / 'ca.pem'}" in log
    assert f"SSL_CERT_FILE={tls / 'ca.pem'}" in log
    assert cli_server.credentials()["client_secret"] not in log, "secrets are never logged"


def test_every_trigger_id_of_the_sdks_enum_is_answered(client: ManagementClient) -> None:
    # post-credential-validation is in this SDK's enum, not in Auth0's spec or catalogue.
    for trigger in (
        "login-post-identifier",
        "signup-post-identifier",
        "post-credential-validation",
    ):
        assert list(client.actions.triggers.bindings.list(trigger)) == []

"""The command line: serve's options, token, key rotation, own certificates, docs."""

from __future__ import annotations

import ssl
import subprocess
import sys
from pathlib import Path

import httpx
from typer.testing import CliRunner

from actionsd.cli import app
from actionsd.tls import ensure_local_tls
from tests.servers import CliServer

runner = CliRunner()


def actionsd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "actionsd.cli", *args], capture_output=True, text=True, check=True
    )


def test_help_names_every_environment_variable() -> None:
    text = runner.invoke(app, ["serve", "--help"], env={"COLUMNS": "200"}).output
    for env in (
        "ACTIONSD_HOST",
        "ACTIONSD_PORT",
        "ACTIONSD_DATA_DIR",
        "ACTIONSD_DATABASE_URL",
        "ACTIONSD_NO_TLS",
        "ACTIONSD_TLS_CERT",
        "ACTIONSD_TLS_KEY",
        "ACTIONSD_PUBLIC_URL",
    ):
        assert env in text, env
    assert (
        "ACTIONSD_TOKEN_SCOPES"
        in runner.invoke(app, ["token", "--help"], env={"COLUMNS": "200"}).output
    )


def test_token_prints_only_a_token_and_rotation_keeps_old_tokens(tmp_path: Path) -> None:
    server = CliServer(tmp_path / "data", extra=["--no-tls"]).start()
    try:
        old = actionsd("token", "--data-dir", str(server.data_dir)).stdout
        assert old.count("\n") == 1 and old.count(".") == 2, "stdout holds the token alone"
        new_kid = actionsd("rotate-keys", "--data-dir", str(server.data_dir)).stdout.strip()
        new = actionsd(
            "token", "--data-dir", str(server.data_dir), "--scopes", "read:actions"
        ).stdout.strip()
        base = f"http://{server.domain}"
        for token in (old.strip(), new):
            response = httpx.get(
                f"{base}/api/v2/actions/triggers", headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 200, response.text
        assert (
            httpx.post(
                f"{base}/api/v2/actions/actions",
                json={},
                headers={"Authorization": f"Bearer {new}"},
            ).status_code
            == 403
        )
        kids = {k["kid"] for k in httpx.get(f"{base}/.well-known/jwks.json").json()["keys"]}
        assert new_kid in kids and len(kids) == 2
    finally:
        server.stop()


def test_serve_with_an_operator_certificate(tmp_path: Path) -> None:
    own = ensure_local_tls(tmp_path / "operator-pki")
    server = CliServer(
        tmp_path / "data", extra=["--tls-cert", str(own.cert), "--tls-key", str(own.key)]
    )
    # The server must not make a CA of its own when given a certificate.
    server.data_dir.mkdir(parents=True)
    (server.data_dir / "tls").mkdir()
    (server.data_dir / "tls" / "ca.pem").symlink_to(own.ca_cert)
    server.start()
    try:
        context = ssl.create_default_context(cafile=str(own.ca_cert))
        response = httpx.get(f"https://{server.domain}/.well-known/jwks.json", verify=context)
        assert response.status_code == 200
        assert not (server.data_dir / "tls" / "server.pem").exists()
    finally:
        server.stop()


def test_openapi_document_and_docs_are_served(tmp_path: Path) -> None:
    server = CliServer(tmp_path / "data", extra=["--no-tls"]).start()
    try:
        spec = httpx.get(f"http://{server.domain}/openapi.json").json()
        operations = {op["operationId"] for path in spec["paths"].values() for op in path.values()}
        assert {
            "get_actions",
            "post_action",
            "get_action",
            "patch_action",
            "delete_action",
            "post_deploy_action",
            "get_action_versions",
            "get_action_version",
            "post_deploy_draft_version",
            "get_triggers",
            "get_bindings",
            "patch_bindings",
            "get_execution",
        } <= operations
        assert httpx.get(f"http://{server.domain}/docs").status_code == 200
        wrong = httpx.put(f"http://{server.domain}/api/v2/actions/actions")
        assert wrong.status_code == 405 and "GET" in wrong.headers["allow"]
    finally:
        server.stop()


def test_serve_with_two_processes_over_https(tmp_path: Path) -> None:
    """``--workers 2``: two server processes on one listening socket, HTTPS with the local
    CA, sharing the SQLite file; writes through one are read through either."""
    server = CliServer(tmp_path / "data", extra=["--workers", "2"]).start()
    try:
        assert server.proc is not None
        children = Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children")
        assert len(children.read_text().split()) >= 2, "two server processes (and helpers)"
        verify = ssl.create_default_context(cafile=str(server.ca_file))
        headers = {"Authorization": f"Bearer {server.token()}"}
        base = f"https://{server.domain}/api/v2/actions"
        with httpx.Client(verify=verify, headers=headers, timeout=30) as api:
            made = api.post(
                f"{base}/actions",
                json={
                    "name": "two-processes",
                    "supported_triggers": [{"id": "post-login", "version": "v3"}],
                    "code": "exports.onExecutePostLogin = async () => {};",
                },
            )
            assert made.status_code == 201, made.text
            # Fresh connections land on either process; each sees the write.
            for _ in range(6):
                with httpx.Client(verify=verify, headers=headers, timeout=30) as fresh:
                    listed = fresh.get(f"{base}/actions").json()["actions"]
                    assert [a["name"] for a in listed] == ["two-processes"]
    finally:
        server.stop()

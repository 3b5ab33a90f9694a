"""The command line: serve's options, token, key rotation, own certificates, docs."""

from __future__ import annotations

import re
import ssl
import subprocess
import sys
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from typer.testing import CliRunner

from actionsd import __version__
from actionsd.cli import app
from actionsd.config import default_data_dir
from actionsd.tls import ensure_local_tls
from tests.servers import CliServer

ROOT = Path(__file__).resolve().parents[1]

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


def test_help_shows_defaults_and_flags_as_flags_and_there_is_a_version() -> None:
    text = runner.invoke(app, ["serve", "--help"], env={"COLUMNS": "200"}).output
    assert f"[default: {default_data_dir()}]" in text, "the default is not read as markup"
    for flag in ("--no-tls", "--help"):
        line = next(x for x in text.splitlines() if x.strip().startswith(flag))
        assert "<" not in line, f"a flag takes no value: {line}"
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and version.output == f"actionsd {__version__}\n"


@pytest.mark.parametrize(
    "command", [["token"], ["rotate-keys"], ["trust"], ["trust", "--uninstall"]]
)
def test_commands_refuse_a_data_dir_never_served(tmp_path: Path, command: list[str]) -> None:
    wrong = tmp_path / "typo"
    done = subprocess.run(
        [sys.executable, "-m", "actionsd.cli", *command, "--data-dir", str(wrong)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert f"{wrong} has never been served" in done.stderr
    assert not wrong.exists(), "nothing was created there"


def test_a_second_serve_on_a_taken_port_says_so_before_the_banner(tmp_path: Path) -> None:
    first = CliServer(tmp_path / "one", extra=["--no-tls"]).start()
    try:
        assert first.proc is not None
        done = subprocess.run(
            [sys.executable, "-m", "actionsd.cli", "serve", "--no-tls", "--port", str(first.port),
             "--data-dir", str(tmp_path / "two")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 1
        assert "actionsd serving" not in done.stderr
        assert f"port {first.port} on 127.0.0.1 is already in use by process {first.proc.pid}" in (
            done.stderr
        )
        assert "--port" in done.stderr
    finally:
        first.stop()


def test_make_serve_installs_the_runtime_dependencies_only(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    plan = subprocess.run(
        ["make", "-n", "serve", f"VENV={venv}"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    installs = [line for line in plan.splitlines() if "pip install" in line]
    assert any(line.endswith("install -q -e .") for line in installs), plan
    assert not any("[test]" in line for line in installs), plan


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
        # Swagger UI and ReDoc load their files from this server (no CDN): offline they work.
        for page in ("/docs", "/redoc"):
            url = f"http://{server.domain}{page}"
            answer = httpx.get(url)
            assert "default-src 'self'" in answer.headers["content-security-policy"]
            html = answer.text
            assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
            assert assets and "://" not in html.replace(url, "")
            for asset in assets:
                absolute = urljoin(url, asset)
                assert urlsplit(absolute).netloc == server.domain, asset
                loaded = httpx.get(absolute)
                assert loaded.status_code == 200 and len(loaded.content) > 1000, asset
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

"""Builds, through the public API of real servers with real npm: what a build checks
(the dependencies, never the code), which dependencies are accepted, where the installed
sets live, retries, concurrency, timeouts and what a killed build leaves behind.

Most npm installs here come from a registry on 127.0.0.1 (tests/registry_stub.py) that
npm is pointed at; one test reaches the public registry, as Auth0's own recording did."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from actionsd.builds.npm import NpmBuilder, escape
from actionsd.builds.registry import name_problem, version_problem
from actionsd.builds.worker import BuildWorker
from actionsd.db.schema import action_versions, actions
from tests.conftest import emptied, make_settings
from tests.helpers import create_action, deploy, error, wait_status
from tests.registry_stub import Registry, running_registry
from tests.runtime_helpers import bind, execution, fire, handler
from tests.servers import CliServer, InProcessServer

PL = "post-login"
# From the Terraform provider's acceptance tests: it ends in an unterminated string.
UNPARSABLE = 'exports.onExecutePostLogin = async (event, api) => {\n\tconsole.log(event)\n};"\n'


# ---- a build does not check syntax ----------------------------------------------------


def test_code_that_does_not_parse_builds_deploys_binds_and_fails_when_run(
    api: httpx.Client,
) -> None:
    action = create_action(api, code=UNPARSABLE)
    assert wait_status(api, action["id"])["status"] == "built"
    version = deploy(api, action["id"])
    assert version["status"] == "built" and "errors" not in version
    bound = api.patch(
        f"/actions/triggers/{PL}/bindings",
        json={"bindings": [{"ref": {"type": "action_id", "value": action["id"]}}]},
    )
    assert bound.status_code == 200, bound.text

    # A flow records that action's failure...
    result = fire(api, PL, {"user": {}})
    assert result["error"]["name"] == "SyntaxError", result
    record = execution(api, result["execution_id"])
    (entry,) = record["results"]
    assert entry["action_name"] == action["name"]
    assert entry["error"]["id"] == "SyntaxError", entry

    # ...and /test answers with the error in-band, as Auth0 does.
    tested = api.post(f"/actions/actions/{action['id']}/test", json={"payload": {"user": {}}})
    assert tested.status_code == 200, tested.text
    assert tested.json()["payload"]["error"]["name"] == "SyntaxError"


def test_a_parsing_action_after_an_unparsable_one_is_not_run(api: httpx.Client) -> None:
    bind(api, PL, UNPARSABLE, handler(PL, "api.idToken.setCustomClaim('https://x/b', 1);"))
    result = fire(api, PL, {"user": {}})
    assert result["error"]["name"] == "SyntaxError"
    assert len(result["results"]) == 1 and "idToken" not in result.get("outcome", {})


# ---- registry packages only -------------------------------------------------------------


@contextmanager
def serving(tmp: Path, **settings: Any) -> Iterator[InProcessServer]:
    """A server of its own (no runtime unless asked; failed installs are not retried)."""
    values: dict[str, Any] = {"runtime": False, "build_retries": 0, **settings}
    server = InProcessServer(make_settings(tmp, "sqlite", **values)).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def quiet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    """A server that builds nothing by itself: no npm runs unless a test steps it."""
    with serving(tmp_path_factory.mktemp("quiet"), build_worker=False) as server:
        yield server


@pytest.fixture
def qapi(quiet: InProcessServer) -> Iterator[httpx.Client]:
    yield from emptied(quiet)


NOT_REGISTRY = [
    "file:../..",
    "file:/etc",
    "link:../x",
    "../..",
    "./lib",
    "/etc",
    "~/x",
    "git+https://github.com/a/b.git",
    "git://github.com/a/b",
    "git+ssh://git@github.com/a/b.git",
    "github:a/b",
    "gitlab:a/b",
    "a/b",
    "a/b#main",
    "https://example.com/x.tgz",
    "http://127.0.0.1:1/x.tgz",
    "npm:lodash@4",
    "workspace:*",
    "x.tgz",
    "latest\n",
]


def version_refusal(spec: str, where: str) -> dict[str, Any]:
    return {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "Payload validation error: 'Only npm registry packages are supported: "
        f'"{spec}" is not a version, range or dist-tag\' on property {where}.',
        "errorCode": "invalid_body",
    }


@pytest.mark.parametrize("spec", NOT_REGISTRY)
def test_non_registry_dependencies_are_refused_and_nothing_changes(
    qapi: httpx.Client, spec: str
) -> None:
    deps = [{"name": "is-number", "version": "7.0.0"}, {"name": "d", "version": spec}]
    body = {"name": "a", "supported_triggers": [{"id": PL, "version": "v3"}], "dependencies": deps}
    assert error(qapi.post("/actions/actions", json=body)) == version_refusal(
        spec, "dependencies[1].version"
    )
    assert qapi.get("/actions/actions").json()["actions"] == []

    action = create_action(qapi, dependencies=deps[:1])
    patched = qapi.patch(f"/actions/actions/{action['id']}", json={"dependencies": deps})
    assert error(patched) == version_refusal(spec, "dependencies[1].version")
    after = qapi.get(f"/actions/actions/{action['id']}").json()
    assert [d["version"] for d in after["dependencies"]] == ["7.0.0"]
    assert after["updated_at"] == action["updated_at"]

    module = {"name": "m", "code": "module.exports = {};", "dependencies": deps}
    assert error(qapi.post("/actions/modules", json=module)) == version_refusal(
        spec, "dependencies[1].version"
    )
    created = qapi.post("/actions/modules", json={**module, "dependencies": deps[:1]})
    assert created.status_code == 201, created.text
    patched = qapi.patch(f"/actions/modules/{created.json()['id']}", json={"dependencies": deps})
    assert error(patched) == version_refusal(spec, "dependencies[1].version")
    assert qapi.get(f"/actions/modules/{created.json()['id']}").json()["dependencies"] == [
        {"name": "is-number", "version": "7.0.0"}
    ]


@pytest.mark.parametrize("name", ["../x", ".hidden", "_x", "a b", "@s/../x", "node_modules", ""])
def test_invalid_package_names_are_refused(qapi: httpx.Client, name: str) -> None:
    body = {
        "name": "a",
        "supported_triggers": [{"id": PL, "version": "v3"}],
        "dependencies": [{"name": name, "version": "1.0.0"}],
    }
    message = error(qapi.post("/actions/actions", json=body))["message"]
    if name:
        assert message == (
            f"Payload validation error: '\"{name}\" is not a valid npm package name' "
            "on property dependencies[0].name."
        )
    else:
        assert "String is too short" in message


@pytest.mark.parametrize(
    "name,spec",
    [
        ("lodash", "4.17.21"),
        ("lodash", "^4.17.0"),
        ("lodash", "~4.17"),
        ("lodash", ">=4 <5"),
        ("lodash", "4.x || 5.0.0 - 5.2.0"),
        ("lodash", "*"),
        ("lodash", "latest"),
        ("@auth0/auth0-spa-js", "next"),
        ("JSONStream", "1.3.5"),
        ("crypto", "17.7.1"),
    ],
)
def test_registry_versions_ranges_and_tags_are_accepted(
    qapi: httpx.Client, name: str, spec: str
) -> None:
    created = create_action(qapi, dependencies=[{"name": name, "version": spec}])
    assert created["dependencies"] == [{"name": name, "version": spec}]


def test_a_stored_non_registry_dependency_fails_its_build_and_installs_nothing(
    quiet: InProcessServer, qapi: httpx.Client
) -> None:
    """Rows written before this rule existed: the builder refuses them too."""
    action = create_action(qapi, deploy=True)
    sneaky = [{"name": "d", "version": "file:../.."}]
    with quiet.state.write() as conn:
        for table in (actions, action_versions):
            conn.execute(table.update().values(dependencies=sneaky, status="pending"))
    data_dir = quiet.settings.data_dir
    worker = BuildWorker.from_settings(quiet.state.engine, NpmBuilder(data_dir), quiet.settings)
    assert worker.run_pending() == 2
    read = qapi.get(f"/actions/actions/{action['id']}").json()
    assert read["status"] == "failed"
    # Auth0 shows build errors on versions (its Action schema has no errors member).
    assert "errors" not in read
    (version,) = qapi.get(f"/actions/actions/{action['id']}/versions").json()["versions"]
    assert version["status"] == "failed"
    assert version["errors"] == [
        {
            "id": "dependency_not_allowed",
            "msg": 'Only npm registry packages are supported: "file:../.." is not a version, '
            "range or dist-tag",
        }
    ]
    one = qapi.get(f"/actions/actions/{action['id']}/versions/{version['id']}").json()
    assert one["errors"] == version["errors"]
    assert read["deployed_version"]["errors"] == version["errors"]
    assert list((data_dir / "builds").iterdir()) == []
    assert error(qapi.post(f"/actions/actions/{action['id']}/deploy")) == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "A draft must be in the 'built' state before it can be deployed.",
    }


# ---- what npm installs --------------------------------------------------------------------


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    with running_registry() as stub:
        stub.publish("fast-pkg", "1.0.0")
        stub.publish("sneaky-pkg", "1.0.0", {"evil": "file:../../.."})
        stub.hanging.add("hang-pkg")
        monkeypatch.setenv("npm_config_registry", stub.url)
        yield stub


def leftovers(data_dir: Path) -> list[Path]:
    return [*data_dir.glob("builds/.tmp-*"), *data_dir.glob("build-work/.tmp-*")]


@pytest.mark.usefixtures("registry")
def test_a_package_whose_own_dependency_leaves_the_registry_fails(tmp_path: Path) -> None:
    with serving(tmp_path) as server, server.client() as api:
        action = create_action(
            api, deploy=True, dependencies=[{"name": "sneaky-pkg", "version": "1.0.0"}]
        )
        assert wait_status(api, action["id"])["status"] == "failed"
        version = settled_version(api, action["id"])
        (problem,) = version["errors"]
        assert problem["id"] == "dependency_not_allowed"
        assert "not from the npm registry" in problem["msg"], problem
    assert list((tmp_path / "builds").iterdir()) == [] and leftovers(tmp_path) == []


@pytest.mark.usefixtures("registry")
def test_npm_cache_and_work_folders_are_outside_the_sets(tmp_path: Path) -> None:
    with serving(tmp_path) as server, server.client() as api:
        action = create_action(api, dependencies=[{"name": "fast-pkg", "version": "1.0.0"}])
        assert wait_status(api, action["id"])["status"] == "built"
    (one_set,) = (tmp_path / "builds").iterdir()
    assert sorted(p.name for p in one_set.iterdir()) == [
        ".complete",
        "node_modules",
        "package.json",
    ]
    assert (one_set / "node_modules" / "fast-pkg" / "index.js").exists()
    assert (tmp_path / "npm-cache" / "_cacache").is_dir()
    assert not any(p.is_symlink() for p in one_set.rglob("*"))


def test_a_link_out_of_the_set_is_found(tmp_path: Path) -> None:
    """The check behind every kept set (real files and links on disk)."""
    (tmp_path / "outside").write_text("secret")
    folder = tmp_path / "set"
    (folder / "node_modules" / "a").mkdir(parents=True)
    (folder / "node_modules" / "a" / "index.js").write_text("")
    (folder / "node_modules" / "inner").symlink_to("a")
    assert escape(folder) is None
    (folder / "node_modules" / "a" / "x").symlink_to(tmp_path / "outside")
    assert escape(folder) == "node_modules/a/x links outside the build"
    (folder / "node_modules" / "a" / "x").unlink()
    os.link(tmp_path / "outside", folder / "node_modules" / "a" / "hard")
    assert escape(folder) == "node_modules/a/hard is a hard link"


# ---- concurrency, timeouts, retries -----------------------------------------------------


def settled_version(api: httpx.Client, action_id: str) -> dict[str, Any]:
    """The action's one version, once its own build has ended."""
    deadline = time.monotonic() + 40
    while True:
        (version,) = api.get(f"/actions/actions/{action_id}/versions").json()["versions"]
        if version["status"] in ("built", "failed"):
            return version  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, f"build never finished: {version}"
        time.sleep(0.05)


@pytest.mark.usefixtures("registry")
def test_a_hanging_dependency_does_not_hold_other_builds(tmp_path: Path) -> None:
    settings = {"build_concurrency": 3, "build_timeout_seconds": 20}
    with serving(tmp_path, **settings) as server, server.client() as api:
        stuck = create_action(
            api, deploy=True, dependencies=[{"name": "hang-pkg", "version": "1.0.0"}]
        )
        wait_status(api, stuck["id"], ("building",))
        quick = create_action(api, dependencies=[{"name": "fast-pkg", "version": "1.0.0"}])
        assert wait_status(api, quick["id"])["status"] == "built"
        assert api.get(f"/actions/actions/{stuck['id']}").json()["status"] == "building"
        assert leftovers(tmp_path), "the stuck install is in progress"
        # The timeout ends it: failed, with the reason on the version, nothing left.
        assert settled_version(api, stuck["id"])["errors"] == [
            {"id": "npm_install_timeout", "msg": "npm install did not finish within 20 seconds"}
        ]
        assert wait_status(api, stuck["id"])["status"] == "failed"
    assert leftovers(tmp_path) == []


def test_a_missing_version_retries_then_fails_with_npms_words(tmp_path: Path) -> None:
    """Auth0's recording: ``crypto@17.7.1`` goes building → retrying → building → … →
    failed. Here against the public registry, with a version that does not exist."""
    seen: list[str] = []
    settings = {"build_retries": 2, "build_retry_backoff_seconds": 0.3}
    with serving(tmp_path, **settings) as server, server.client() as api:
        action = create_action(
            api, deploy=True, dependencies=[{"name": "is-number", "version": "99.99.99"}]
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and seen[-1:] != ["failed"]:
            status = api.get(f"/actions/actions/{action['id']}").json()["status"]
            if seen[-1:] != [status]:
                seen.append(status)
            time.sleep(0.02)
        version = settled_version(api, action["id"])
        with server.state.engine.connect() as conn:
            attempts = conn.execute(sa.select(actions.c.build_attempts)).scalar_one()
    assert seen[-1] == "failed" and seen.count("retrying") == 2, seen
    assert seen[seen.index("retrying") + 1] == "building", seen
    assert attempts == 3
    (problem,) = version["errors"]
    assert problem["id"] == "npm_install_failed"
    assert "No matching version found for is-number@99.99.99" in problem["msg"], problem
    assert "_logs" not in problem["msg"], "npm's log pointer names a server path"


def test_a_build_killed_mid_way_leaves_nothing_behind(tmp_path: Path, registry: Registry) -> None:
    data_dir = tmp_path / "data"
    env = {"npm_config_registry": registry.url, "ACTIONSD_BUILD_RETRIES": "0"}
    server = CliServer(data_dir, extra=["--no-tls"], env=env).start()
    try:
        with httpx.Client(
            base_url=f"http://{server.domain}/api/v2",
            headers={"Authorization": f"Bearer {server.token()}"},
        ) as api:
            create_action(api, dependencies=[{"name": "hang-pkg", "version": "1.0.0"}])
            deadline = time.monotonic() + 20
            while not leftovers(data_dir):
                assert time.monotonic() < deadline, "the install never started"
                time.sleep(0.05)
        server.stop(signal.SIGKILL)
        assert leftovers(data_dir)
        time.sleep(0.5)
        assert not processes_in(data_dir), "npm outlived the server"
        server.start()
        assert leftovers(data_dir) == []
    finally:
        server.stop()


def processes_in(folder: Path) -> list[int]:
    """Processes whose working directory is inside ``folder``."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cwd = (proc / "cwd").resolve()
            except OSError:
                continue
            if cwd == folder.resolve() or folder.resolve() in cwd.parents:
                found.append(int(proc.name))
    return found


# ---- the registry-only rule, on generated input -------------------------------------------

NOT_REGISTRY_PREFIXES = [
    "file:",
    "link:",
    "git+",
    "git:",
    "github:",
    "gitlab:",
    "bitbucket:",
    "gist:",
    "http:",
    "https:",
    "npm:",
    "workspace:",
    "./",
    "../",
    "/",
    "~/",
]


@given(st.sampled_from(NOT_REGISTRY_PREFIXES), st.text(max_size=40))
def test_no_path_url_git_alias_or_workspace_spec_passes(prefix: str, rest: str) -> None:
    assert version_problem(prefix + rest) is not None


@given(st.text(max_size=60))
def test_whatever_passes_is_read_by_npm_as_a_registry_spec(spec: str) -> None:
    """npm takes a spec as a path, URL, git source or alias by these marks (npm-package-arg):
    none of them is in an accepted spec, and checking never raises."""
    if version_problem(spec) is None:
        assert not set(spec) & set(':/\\@#"') and spec.isascii() and spec.isprintable()
        assert not spec.startswith((".", "~/")) and not spec.lower().endswith((".tgz", ".tar"))


@given(
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.sampled_from(["", "^", "~", ">=", "<", "="]),
)
def test_every_semver_version_and_simple_range_passes(
    major: int, minor: int, patch: int, operator: str
) -> None:
    assert version_problem(f"{operator}{major}.{minor}.{patch}") is None


@given(st.from_regex(r"(@[a-z0-9][a-z0-9._-]{0,20}/)?[a-z0-9][a-z0-9._-]{0,30}", fullmatch=True))
def test_lowercase_registry_names_pass(name: str) -> None:
    assert name_problem(name) is None


@given(st.lists(st.text(max_size=12), min_size=3, max_size=5))
def test_names_with_more_than_a_scope_and_a_name_are_refused(parts: list[str]) -> None:
    assert name_problem("/".join(parts)) is not None
    assert name_problem("@" + "/".join(parts)) is not None

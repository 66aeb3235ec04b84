"""The project builds without a warning, and its wheel installs into a fresh venv and runs.

Offline: the build uses this environment's setuptools (`--no-isolation`; the test extra pins
a floor), and this pip installs the wheel into a fresh venv (`--no-deps --no-index`; the venv
has no pip of its own), whose dependencies come from this environment's site-packages through
a .pth line (after its own, so the engage_cli it imports is the wheel's, never this checkout).
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from engage_cli import __version__, docs

pytestmark = pytest.mark.e2e


def _sh(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> CompletedProcess[str]:
    # cwd away from the checkout: `python -c` would import engage_cli from the current directory
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, env=env, timeout=120, cwd=cwd
    )
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


def test_the_wheel_builds_without_warnings_installs_and_runs_the_quickstart(
    tmp_path: Path,
) -> None:
    source = tmp_path / "src"  # a copy: building writes build/ and *.egg-info beside the code
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(docs.PROJECT_ROOT / name, source / name)
    shutil.copytree(
        docs.PROJECT_ROOT / "engage_cli",
        source / "engage_cli",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    build_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    built = _sh(
        sys.executable, "-m", "build", "--no-isolation", "--outdir", tmp_path / "dist", source,
        cwd=tmp_path, env=build_env,
    )  # fmt: skip
    log = built.stdout + built.stderr
    warnings = [line for line in log.splitlines() if "warn" in line.lower() or "deprecat" in line]
    assert warnings == [], log
    (wheel,) = (tmp_path / "dist").glob("engage_cli-*.whl")

    venv = tmp_path / "venv"
    _sh(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    _sh(
        sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index",
        wheel, cwd=tmp_path,
    )  # fmt: skip
    own_site = Path(
        _sh(
            python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp_path
        ).stdout.strip()
    )
    (own_site / "_deps_from_the_test_env.pth").write_text(
        "\n".join(site.getsitepackages()) + "\n", encoding="utf-8"
    )

    env = {k: v for k, v in os.environ.items() if not k.startswith("ENGAGE_API")}
    env["ENGAGE_SANDBOX_DB"] = str(tmp_path / "quickstart.sqlite3")
    imported = _sh(
        python, "-c", "import engage_cli; print(engage_cli.__file__)", cwd=tmp_path, env=env
    )
    assert imported.stdout.startswith(str(own_site)), imported.stdout

    engage = venv / "bin" / "engage"
    assert _sh(engage, "--version", cwd=tmp_path, env=env).stdout.strip() == f"engage {__version__}"
    created = _sh(
        engage, "--sandbox", "users", "create", "--id", "u144", "--first-name", "Akinyele",
        "--meta", "plan=pro", cwd=tmp_path, env=env,
    )  # fmt: skip
    assert json.loads(created.stdout)["uid"] == "u144"
    listed = json.loads(_sh(engage, "--sandbox", "users", "list", cwd=tmp_path, env=env).stdout)
    assert [(u["uid"], u["meta"]) for u in listed] == [("u144", {"plan": "pro"})]

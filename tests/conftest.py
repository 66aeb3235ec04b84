"""Shared fixtures. Every test runs in its own home: config, sandbox DB and XDG dirs point
into tmp_path, and no ENGAGE_* variable from the developer's shell leaks in."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests run the same examples on every run (derandomized), so a failure found once
# fails every run until fixed, and no deadline, as the machine's load is not the code's speed.
# HYPOTHESIS_PROFILE=explore draws fresh examples (and keeps failures in .hypothesis/).
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "home"
    home.mkdir()
    for name in list(os.environ):
        if name.startswith("ENGAGE_") or name == "NO_COLOR":
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("ENGAGE_CONFIG_DIR", str(home / "engage-config"))
    monkeypatch.setenv("ENGAGE_SANDBOX_DB", str(home / "sandbox.sqlite3"))
    yield home

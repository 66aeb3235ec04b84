"""`auth login` verifies credentials against a real sandbox server before saving them, with
a key and secret and with the key alone, and `auth status --check` makes the same call."""

from __future__ import annotations

from pathlib import Path

from engage_cli.config import ConfigFile
from tests.e2e.conftest import Sandbox


def test_login_is_verified_against_the_sandbox(sandbox: Sandbox, tmp_path: Path) -> None:
    config_dir = tmp_path / "config"
    env = {"ENGAGE_CONFIG_DIR": str(config_dir), "ENGAGE_API_KEY": "", "ENGAGE_API_SECRET": ""}
    env["ENGAGE_BASE_URL"] = ""  # the profile's base URL, as a user's would be
    login = ["auth", "login", "--base-url", sandbox.url, "--api-key"]

    good = sandbox.engage(*login, sandbox.key, "--secret-stdin", input=sandbox.secret + "\n", **env)
    assert good.returncode == 0, good.stderr
    key_only = sandbox.engage("--profile", "w", *login, sandbox.key, "--key-only", **env)
    assert key_only.returncode == 0, key_only.stderr

    wrong_secret = sandbox.engage(
        "--profile", "x", *login, sandbox.key, "--secret-stdin", input="wrong\n", **env
    )
    assert wrong_secret.returncode == 3, wrong_secret.stderr
    wrong_key = sandbox.engage("--profile", "y", *login, "not-the-key", "--key-only", **env)
    assert wrong_key.returncode == 3, wrong_key.stderr
    assert set(ConfigFile.load(config_dir / "config.toml").profiles) == {"default", "w"}

    checked = sandbox.engage("auth", "status", "--check", **env)
    assert checked.returncode == 0, checked.stderr
    assert f"Credentials accepted by {sandbox.url}" in checked.stderr
    checked_key_only = sandbox.engage("--profile", "w", "auth", "status", "--check", **env)
    assert checked_key_only.returncode == 0, checked_key_only.stderr

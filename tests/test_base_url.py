"""Where requests go: the base URL is checked before any request, a password in it is never
shown, and --timeout takes a number of seconds only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engage_cli.config import ConfigFile, check_base_url, mask_url
from engage_cli.errors import UsageError
from tests.harness import reply, run

BAD_BASE_URLS = [
    "",
    " ",
    "not-a-url",
    "api.engage.so/v1",
    "ftp://api.test/v1",
    "file:///etc/passwd",
    "http://",
    "https:///v1",
    "http://[::1",
    "http://[::1]:99999/v1",
    "http://api.test:port/v1",
    "http://api test/v1",
    "http://api.test/v1\n",
    " https://api.test/v1",
    "https://api.test/v1?x=1",
    "https://api.test/v1#top",
]
GOOD_BASE_URLS = [
    "https://api.engage.so/v1",
    "http://127.0.0.1:8025/v1",
    "http://localhost:8025/v1/",
    "HTTPS://API.TEST/v1",
    "http://[::1]:8025/v1",
    "http://admin:pw@proxy.test/engage/v1",
]


@pytest.mark.parametrize("url", BAD_BASE_URLS)
def test_check_base_url_refuses(url: str) -> None:
    with pytest.raises(UsageError):
        check_base_url(url, "flag")


@pytest.mark.parametrize("url", GOOD_BASE_URLS)
def test_check_base_url_accepts(url: str) -> None:
    assert check_base_url(url, "flag") == url


@pytest.mark.parametrize("url", BAD_BASE_URLS)
def test_a_bad_base_url_flag_is_exit_2_before_any_request(url: str) -> None:
    result = run(["--base-url", url, "users", "get", "u1"])
    assert result.exit_code == 2, result.stderr
    assert result.sent == []
    assert "base URL" in result.stderr


def test_a_bad_base_url_from_the_environment_or_a_profile_names_its_source(
    isolated_home: Path,
) -> None:
    env = run(["users", "get", "u1"], env={"ENGAGE_BASE_URL": "ftp://x/v1"})
    assert env.exit_code == 2
    assert "ENGAGE_BASE_URL" in env.stderr
    config = ConfigFile(
        isolated_home / "engage-config" / "config.toml",
        default_profile="p",
        profiles={"p": {"api_key": "k", "api_secret": "s", "base_url": "not-a-url"}},
    )
    config.save()
    profile = run(["users", "get", "u1"], credentials=False)
    assert profile.exit_code == 2
    assert "profile 'p'" in profile.stderr


def test_login_refuses_a_bad_base_url_before_saving(isolated_home: Path) -> None:
    result = run(
        ["auth", "login", "--api-key", "k-0123456789ab", "--key-only", "--base-url", "ftp://x"],
        credentials=False,
    )
    assert result.exit_code == 2
    assert not (isolated_home / "engage-config" / "config.toml").exists()


def test_a_404_from_a_base_url_without_v1_hints_at_it() -> None:
    without = run(
        ["--base-url", "https://api.test", "users", "get", "u1", "-o", "json"],
        [reply(404, {"error": "Not found"})],
    )
    assert without.exit_code == 4
    assert "/v1" in json.loads(without.stderr)["error"]["hint"]
    with_v1 = run(["users", "get", "u1", "-o", "json"], [reply(404, {"error": "User not found"})])
    assert with_v1.exit_code == 4
    assert "/v1" not in json.loads(with_v1.stderr)["error"].get("hint", "")


PASSWORD_URL = "http://admin:PW-hunter2@api.test/v1"


def test_a_password_in_the_base_url_is_masked_in_dry_run_and_debug() -> None:
    dry = run(
        ["--base-url", PASSWORD_URL, "users", "update", "u1", "--first-name", "A", "--dry-run"]
    )
    assert dry.exit_code == 0, dry.stderr
    assert "PW-hunter2" not in dry.stdout + dry.stderr
    assert "admin:****@api.test" in dry.stdout + dry.stderr
    debug = run(["--debug", "--base-url", PASSWORD_URL, "users", "get", "u1"], [reply(200, {})])
    assert debug.exit_code == 0, debug.stderr
    assert "[debug]" in debug.stderr
    assert "PW-hunter2" not in debug.stdout + debug.stderr


def test_a_password_in_the_base_url_is_masked_in_errors() -> None:
    failed = run(["--base-url", PASSWORD_URL, "users", "get", "u1"], [reply(404, {})])
    assert failed.exit_code == 4
    refused = run(["--base-url", "ftp://admin:PW-hunter2@api.test/v1", "users", "get", "u1"])
    assert refused.exit_code == 2
    assert "PW-hunter2" not in failed.stderr + refused.stderr


def test_a_password_in_the_base_url_is_masked_in_the_resume_hint(tmp_path: Path) -> None:
    path = tmp_path / "seed.csv"
    path.write_text("id\nu1\n")
    failures = tmp_path / "f.jsonl"
    args = ["--base-url", PASSWORD_URL, "users", "import", str(path), "--failures", str(failures)]
    result = run([*args, "-o", "json"], [reply(400, {"error": "no"})])
    assert result.exit_code == 7, result.stderr
    hint = json.loads(result.stderr)["error"]["hint"]
    assert "--base-url" in hint
    assert "PW-hunter2" not in hint


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://admin:pw@host/v1", "http://admin:****@host/v1"),
        ("https://token@host/v1", "https://****@host/v1"),
        ("http://a:b@c@host/v1", "http://a:****@host/v1"),
        ("http://host/v1?next=a@b", "http://host/v1?next=a@b"),
        ("http://host/v1", "http://host/v1"),
        ("ftp://[::1@x", "ftp://[:****@x"),
        ("", ""),
    ],
)
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "0", "1e308"])
def test_a_timeout_that_is_not_a_sane_number_of_seconds_is_exit_2(value: str) -> None:
    result = run(["--timeout", value, "users", "get", "u1"])
    assert result.exit_code == 2, result.stderr
    assert result.sent == []
    assert "--timeout" in result.stderr
    after = run(["users", "get", "u1", "--timeout", value])
    assert after.exit_code == 2, after.stderr

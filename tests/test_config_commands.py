"""`engage config get|set|unset`, `profiles remove|rename`, a verified `auth login`,
`auth status --check` and `--sandbox auth status`."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest

from engage_cli.config import ConfigFile
from tests.harness import reply, run

KEY, SECRET = "key-abcdef123456", "secret-abcdef1234"


def config_file(home: Path) -> ConfigFile:
    return ConfigFile.load(home / "engage-config" / "config.toml")


def login(name: str = "default", *extra: str) -> None:
    args = ["auth", "login", "--profile", name, "--api-key", KEY, "--key-only", "--no-verify"]
    result = run([*args, *extra], credentials=False)
    assert result.exit_code == 0, result.stderr


# --- engage config -----------------------------------------------------------------------


def test_set_get_unset_round_trip(isolated_home: Path) -> None:
    login("ci")
    assert run(["config", "set", "timeout", "10", "--profile", "ci"]).exit_code == 0
    assert config_file(isolated_home).profiles["ci"]["timeout"] == "10.0"
    got = run(["config", "get", "timeout", "--profile", "ci"], credentials=False)
    assert (got.exit_code, got.stdout) == (0, "10.0\n")
    assert run(["config", "unset", "timeout", "--profile", "ci"]).exit_code == 0
    assert "timeout" not in config_file(isolated_home).profiles["ci"]
    default = run(["--profile", "ci", "config", "get", "timeout"], credentials=False)
    assert (default.exit_code, default.stdout) == (0, "30.0\n")
    again = run(["config", "unset", "timeout", "--profile", "ci"], credentials=False)
    assert again.exit_code == 0 and "nothing to do" in again.stderr


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("output", "json", "json"),
        ("retries", "0", "0"),
        ("retries", " 10", "10"),
        ("timeout", "0.5", "0.5"),
        ("base_url", "http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1"),
    ],
)
def test_valid_values_are_stored(isolated_home: Path, key: str, value: str, expected: str) -> None:
    result = run(["config", "set", key, value], credentials=False)
    assert result.exit_code == 0, result.stderr
    # The implicit default profile is created by its first setting.
    assert config_file(isolated_home).profiles["default"][key] == expected


@pytest.mark.parametrize(
    ("key", "value", "said"),
    [
        ("output", "xml", "output must be one of"),
        ("timeout", "nan", "between 0.1 and 3600"),
        ("timeout", "inf", "between 0.1 and 3600"),
        ("timeout", "0", "between 0.1 and 3600"),
        ("timeout", "soon", "must be a number"),
        ("retries", "11", "between 0 and 10"),
        ("retries", "1.5", "must be a number"),
        ("base_url", "", "empty"),
        ("base_url", "not-a-url", "http(s)://host"),
        ("base_url", "ftp://example.com/v1", "http(s)://host"),
        ("base_url", "http://[::1", "not a valid URL"),
        ("base_url", "http://host:99999/v1", "not a valid URL"),
        ("base_url", "http://host/v1\n", "control characters"),
        ("colour", "red", "Unknown setting 'colour'"),
        ("api_key", "k", "auth login"),
    ],
)
def test_invalid_values_are_usage_errors_and_change_nothing(
    isolated_home: Path, key: str, value: str, said: str
) -> None:
    login()
    before = (isolated_home / "engage-config" / "config.toml").read_bytes()
    result = run(["config", "set", key, value], credentials=False)
    assert result.exit_code == 2, result.stderr
    assert said in result.stderr
    assert (isolated_home / "engage-config" / "config.toml").read_bytes() == before


def test_config_commands_refuse_a_profile_typo(isolated_home: Path) -> None:
    login("real")
    for args in (["get", "timeout"], ["set", "timeout", "5"], ["unset", "timeout"]):
        result = run(["config", *args, "--profile", "typo"], credentials=False)
        assert result.exit_code == 3, result.stderr
        assert "There is no profile 'typo'" in result.stderr
    assert "typo" not in config_file(isolated_home).profiles


def test_a_stored_setting_is_used_and_the_environment_still_wins(isolated_home: Path) -> None:
    env = {"ENGAGE_API_KEY": KEY, "ENGAGE_API_SECRET": SECRET}
    set_url = ["config", "set", "base_url", "https://other.test/v1"]
    assert run(set_url, credentials=False).exit_code == 0
    used = run(["users", "get", "u1"], [reply(200, {"uid": "u1"})], credentials=False, env=env)
    assert used.exit_code == 0, used.stderr
    assert str(used.sent[0].url) == "https://other.test/v1/users/u1"
    overridden = run(
        ["config", "get", "base_url"], credentials=False, env={"ENGAGE_BASE_URL": "http://x/v1"}
    )
    assert overridden.stdout == "https://other.test/v1\n"
    assert "ENGAGE_BASE_URL in the environment overrides" in overridden.stderr


def test_output_has_no_default_to_print() -> None:
    result = run(["config", "get", "output"], credentials=False)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "not set" in result.stderr


# --- engage profiles remove / rename -------------------------------------------------------


def test_remove_a_profile(isolated_home: Path) -> None:
    login("a")
    login("b")
    assert config_file(isolated_home).default_profile == "a"
    refused = run(["profiles", "remove", "a"], credentials=False)
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    declined = run(["profiles", "remove", "a"], credentials=False, tty=True, stdin="n\n")
    assert declined.exit_code == 2
    assert set(config_file(isolated_home).profiles) == {"a", "b"}
    removed = run(["profiles", "remove", "a", "--yes"], credentials=False)
    assert removed.exit_code == 0, removed.stderr
    assert "It was the default" in removed.stderr
    config = config_file(isolated_home)
    assert set(config.profiles) == {"b"} and config.default_profile is None
    typo = run(["profiles", "remove", "a", "--yes"], credentials=False)
    assert typo.exit_code == 3 and "There is no profile 'a'" in typo.stderr


def test_rename_a_profile(isolated_home: Path) -> None:
    login("a")
    login("b")
    renamed = run(["profiles", "rename", "a", "prod"], credentials=False)
    assert renamed.exit_code == 0, renamed.stderr
    config = config_file(isolated_home)
    assert list(config.profiles) == ["prod", "b"]
    assert config.default_profile == "prod"
    assert config.profiles["prod"]["api_key"] == KEY
    taken = run(["profiles", "rename", "prod", "b"], credentials=False)
    assert taken.exit_code == 2 and "already a profile 'b'" in taken.stderr
    missing = run(["profiles", "rename", "nope", "x"], credentials=False)
    assert missing.exit_code == 3
    blank = run(["profiles", "rename", "prod", "  "], credentials=False)
    assert blank.exit_code == 2
    assert list(config_file(isolated_home).profiles) == ["prod", "b"]


def test_an_empty_profiles_list_says_so_once() -> None:
    result = run(["profiles", "list"], credentials=False, tty=True)
    assert result.exit_code == 0
    assert result.stdout.strip() == ""
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "No profiles yet" in result.stderr
    piped = run(["profiles", "list"], credentials=False)
    assert piped.json() == []


# --- auth login verifies -----------------------------------------------------------------


def basic(key: str, secret: str = "") -> str:
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


def test_login_checks_key_and_secret_with_one_read_before_saving(isolated_home: Path) -> None:
    result = run(
        ["auth", "login", "--profile", "p", "--api-key", KEY, "--secret-stdin"],
        [reply(200, {"data": [], "has_more": False})],
        stdin=SECRET + "\n",
        credentials=False,
    )
    assert result.exit_code == 0, result.stderr
    [sent] = result.sent
    assert (sent.method, sent.url.path, sent.url.query) == ("GET", "/v1/users", b"limit=1")
    assert str(sent.url).startswith("https://api.engage.so/v1/")
    assert sent.headers["authorization"] == basic(KEY, SECRET)
    assert config_file(isolated_home).profiles["p"] == {"api_key": KEY, "api_secret": SECRET}


def test_login_checks_against_the_base_url_given(isolated_home: Path) -> None:
    url = "http://127.0.0.1:9/v1"
    result = run(
        ["auth", "login", "--api-key", KEY, "--key-only", "--base-url", url],
        [reply(200, {"data": []})],
        credentials=False,
    )
    assert result.exit_code == 0, result.stderr
    assert str(result.sent[0].url) == url + "/lists?limit=1"
    assert config_file(isolated_home).profiles["default"]["base_url"] == url


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_not_saved(isolated_home: Path, status: int) -> None:
    result = run(
        ["auth", "login", "--profile", "p", "--api-key", KEY, "--secret-stdin"],
        [reply(status, {"error": "Wrong authentication credentials."})],
        stdin=SECRET + "\n",
        credentials=False,
    )
    assert result.exit_code == 3, result.stderr
    assert "nothing was saved" in result.stderr
    # One hint, about the credentials just given: not also "`engage auth status`", which
    # shows the saved ones (issue 22).
    hint = json.loads(result.stderr)["error"]["hint"]
    assert hint == "Check the key and secret in Engage's settings, or the base URL."
    assert SECRET not in result.stderr
    assert not (isolated_home / "engage-config" / "config.toml").exists()


def test_a_key_alone_is_checked_with_a_key_only_read(isolated_home: Path) -> None:
    # Authentication comes before routing: a 404 for GET /lists still proves the key.
    for status in (200, 404):
        result = run(
            ["auth", "login", "--profile", f"k{status}", "--api-key", KEY, "--key-only"],
            [reply(status, {"error": "Not found."})],
            credentials=False,
        )
        assert result.exit_code == 0, result.stderr
        assert result.sent[0].url.path == "/v1/lists"
        assert result.sent[0].headers["authorization"] == basic(KEY)
    refused = run(
        ["auth", "login", "--profile", "bad", "--api-key", KEY, "--key-only"],
        [reply(401, {"error": "Wrong authentication credentials."})],
        credentials=False,
    )
    assert refused.exit_code == 3
    assert set(config_file(isolated_home).profiles) == {"k200", "k404"}


def test_an_unreachable_api_saves_nothing_and_offers_no_verify(isolated_home: Path) -> None:
    down = [httpx.ConnectError("refused")]
    result = run(
        ["--retries", "0", "auth", "login", "--api-key", KEY, "--key-only"],
        down,
        credentials=False,
    )
    assert result.exit_code == 6, result.stderr
    assert "--no-verify" in result.stderr and "Nothing was saved" in result.stderr
    assert "refused. Nothing was saved." in result.stderr  # one sentence, then the next
    assert not (isolated_home / "engage-config" / "config.toml").exists()
    offline = run(
        ["auth", "login", "--api-key", KEY, "--key-only", "--no-verify"], credentials=False
    )
    assert offline.exit_code == 0 and offline.sent == []


def test_a_base_url_that_serves_no_users_is_named(isolated_home: Path) -> None:
    result = run(
        ["auth", "login", "--api-key", KEY, "--secret-stdin", "--base-url", "http://h.test"],
        [reply(404, {"error": "Not found."})],
        stdin=SECRET + "\n",
        credentials=False,
    )
    assert result.exit_code == 4, result.stderr
    assert "…/v1" in result.stderr and "Nothing was saved" in result.stderr


def test_an_invalid_base_url_is_refused_before_anything(isolated_home: Path) -> None:
    result = run(
        ["auth", "login", "--api-key", KEY, "--key-only", "--base-url", "http://[::1"],
        credentials=False,
    )
    assert result.exit_code == 2, result.stderr
    assert result.sent == []


def test_login_warns_when_the_environment_will_override(isolated_home: Path) -> None:
    result = run(
        ["auth", "login", "--api-key", KEY, "--key-only", "--no-verify"],
        credentials=False,
        env={"ENGAGE_API_KEY": "from-env-0123456", "ENGAGE_API_SECRET": "s-0123456789"},
    )
    assert result.exit_code == 0, result.stderr
    assert "ENGAGE_API_KEY and ENGAGE_API_SECRET in the environment will override" in (
        result.stderr
    )
    quiet = run(["auth", "login", "--api-key", KEY, "--key-only", "--no-verify"], credentials=False)
    assert "Warning" not in quiet.stderr


# --- auth status --check and --sandbox ------------------------------------------------------


def test_status_check_makes_the_live_call() -> None:
    ok = run(["auth", "status", "--check"], [reply(200, {"data": []})])
    assert ok.exit_code == 0, ok.stderr
    assert ok.sent[0].url.path == "/v1/users"
    assert "Credentials accepted by https://api.test/v1" in ok.stderr
    refused = run(["auth", "status", "--check"], [reply(401, {"error": "Wrong."})])
    assert refused.exit_code == 3
    unchecked = run(["auth", "status"])
    assert unchecked.exit_code == 0 and unchecked.sent == []


def test_sandbox_status_shows_the_sandbox_not_the_profile() -> None:
    login()
    result = run(["--sandbox", "auth", "status", "-o", "json"], credentials=False)
    assert result.exit_code == 0, result.stderr
    rows = {row["setting"]: row for row in result.json()}
    assert rows["base_url"]["value"] == "http://sandbox.localhost/v1"
    assert rows["base_url"]["source"].startswith("--sandbox")
    assert rows["api_key"]["source"] == "--sandbox"
    assert "not used" in rows["profile"]["source"]
    assert rows["sandbox_db"]["source"] == "env ENGAGE_SANDBOX_DB"

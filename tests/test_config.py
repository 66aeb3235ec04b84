"""Profiles, precedence (flag > env > profile > default), masking and file permissions."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from engage_cli import config as config_module
from engage_cli.config import (
    DEFAULT_BASE_URL,
    ConfigFile,
    Setting,
    check_base_url,
    check_setting,
    choose_profile,
    mask,
    resolve_settings,
    shown,
)
from engage_cli.errors import ConfigError, UsageError
from tests.harness import reply, run


def config_with(tmp_path: Path, **profiles: dict[str, str]) -> ConfigFile:
    config = ConfigFile(tmp_path / "config.toml", default_profile="main", profiles=dict(profiles))
    config.save()
    return ConfigFile.load(config.path)


@pytest.mark.parametrize(
    ("flags", "env", "expected", "source"),
    [
        ({}, {}, "profile-key", "profile 'main'"),
        ({}, {"ENGAGE_API_KEY": "env-key"}, "env-key", "env ENGAGE_API_KEY"),
        ({"api_key": "flag-key"}, {"ENGAGE_API_KEY": "env-key"}, "flag-key", "flag"),
        ({"profile": "other"}, {}, "other-key", "profile 'other'"),
        ({}, {"ENGAGE_PROFILE": "other"}, "other-key", "profile 'other'"),
        ({"profile": "empty"}, {}, None, "unset"),
    ],
)
def test_precedence(
    tmp_path: Path, flags: dict[str, str], env: dict[str, str], expected: str | None, source: str
) -> None:
    config = config_with(
        tmp_path, main={"api_key": "profile-key"}, other={"api_key": "other-key"}, empty={}
    )
    settings = resolve_settings(flags, env, config)
    assert settings.api_key == expected
    assert settings.values["api_key"].source == source


def test_defaults(tmp_path: Path) -> None:
    settings = resolve_settings({}, {}, ConfigFile(tmp_path / "none.toml"))
    assert settings.base_url == "https://api.engage.so/v1"
    assert settings.timeout == 30.0
    assert settings.retries == 3
    assert settings.profile.value == "default"


def test_bad_numbers_in_a_profile(tmp_path: Path) -> None:
    config = config_with(tmp_path, main={"timeout": "soon"})
    with pytest.raises(ConfigError, match="timeout"):
        _ = resolve_settings({}, {}, config).timeout


def test_file_is_0600_and_round_trips_awkward_values(tmp_path: Path) -> None:
    config = ConfigFile(
        tmp_path / "d" / "config.toml",
        "p q",
        {"p q": {"api_secret": 'a"b\\c\nd', "api_key": "ключ"}},
    )
    config.save()
    assert stat.S_IMODE(config.path.stat().st_mode) == 0o600
    again = ConfigFile.load(config.path)
    assert again.profiles == config.profiles
    assert again.default_profile == "p q"


def test_malformed_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("this is = = not toml")
    with pytest.raises(ConfigError, match="Cannot read the config file"):
        ConfigFile.load(path)


@pytest.mark.parametrize(
    ("value", "shown"), [(None, ""), ("", ""), ("short", "****"), ("abcdefghijklmnop", "****mnop")]
)
def test_mask(value: str | None, shown: str) -> None:
    assert mask(value) == shown


def config_dir(home: Path) -> Path:
    return home / "engage-config"


def test_login_status_logout_round_trip(isolated_home: Path) -> None:
    secret = "s3cret-value-0000"
    login = run(
        ["auth", "login", "--api-key", "key-1234567890", "--secret-stdin", "--no-verify"],
        stdin=secret + "\n",
        credentials=False,
    )
    assert login.exit_code == 0, login.stderr
    path = config_dir(isolated_home) / "config.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secret not in login.stdout + login.stderr

    status = run(["auth", "status", "-o", "json"], credentials=False)
    assert status.exit_code == 0, status.stderr
    rows = {row["setting"]: row for row in status.json()}
    assert rows["api_key"]["source"] == "profile 'default'"
    assert rows["api_secret"]["value"] == "****0000"
    assert secret not in status.stdout

    env_status = run(
        ["auth", "status", "-o", "json"],
        credentials=False,
        env={"ENGAGE_API_KEY": "from-env-123456"},
    )
    rows = {row["setting"]: row for row in env_status.json()}
    assert rows["api_key"]["source"] == "env ENGAGE_API_KEY"

    # The stored credentials are used for real calls.
    used = run(
        ["users", "get", "u1"],
        [reply(200, {"uid": "u1"})],
        credentials=False,
        env={"ENGAGE_BASE_URL": "https://api.test/v1"},
    )
    assert used.exit_code == 0
    assert used.sent[0].headers["authorization"].startswith("Basic ")

    logout = run(["auth", "logout"], credentials=False)
    assert logout.exit_code == 0
    after = run(["auth", "status"], credentials=False)
    assert after.exit_code == 3
    assert "No API key" in after.stderr


def test_login_without_a_terminal_never_prompts() -> None:
    result = run(["auth", "login"], credentials=False)
    assert result.exit_code == 2
    assert "--api-key" in result.stderr
    # A missing secret is an error too, unless the key alone is asked for.
    no_secret = run(["auth", "login", "--api-key", "k-0123456789ab"], credentials=False)
    assert no_secret.exit_code == 2
    assert "--secret-stdin" in no_secret.stderr and "--key-only" in no_secret.stderr


def test_key_only_login_drops_a_stale_secret(isolated_home: Path) -> None:
    login = ["auth", "login", "--api-key", "k-0123456789ab", "--no-verify"]
    assert (
        run([*login, "--secret-stdin"], stdin="s-0123456789ab\n", credentials=False).exit_code == 0
    )
    assert run([*login, "--key-only"], credentials=False).exit_code == 0
    config = ConfigFile.load(config_dir(isolated_home) / "config.toml")
    assert config.profiles["default"] == {"api_key": "k-0123456789ab"}


def test_login_prompts_on_a_terminal(isolated_home: Path) -> None:
    result = run(
        ["auth", "login", "--profile", "ci", "--no-verify"],
        credentials=False,
        tty=True,
        stdin="key-abcdefghijkl\nsecret-abcdefgh\n",
    )
    assert result.exit_code == 0, result.stderr
    assert "secret-abcdefgh" not in result.stdout + result.stderr
    config = ConfigFile.load(config_dir(isolated_home) / "config.toml")
    assert config.profiles["ci"] == {"api_key": "key-abcdefghijkl", "api_secret": "secret-abcdefgh"}
    assert config.default_profile == "ci"


def test_profiles_list_show_use(isolated_home: Path) -> None:
    for name in ("one", "two"):
        assert (
            run(
                [
                    "auth",
                    "login",
                    "--profile",
                    name,
                    "--api-key",
                    f"key-{name}-123456789",
                    "--key-only",
                    "--no-verify",
                ],
                credentials=False,
            ).exit_code
            == 0
        )
    listed = run(["profiles", "list", "-o", "json"], credentials=False).json()
    assert [(p["name"], p["default"]) for p in listed] == [("one", True), ("two", False)]
    assert all(p["api_key"].startswith("****") for p in listed)
    assert run(["profiles", "use", "two"], credentials=False).exit_code == 0
    shown = run(["profiles", "show", "-o", "json"], credentials=False).json()
    assert shown["name"] == "two" and shown["default"] is True
    missing = run(["profiles", "use", "nope"], credentials=False)
    assert missing.exit_code == 3
    assert "auth login --profile nope" in missing.stderr


def test_explicit_profile_flag_selects_credentials(isolated_home: Path) -> None:
    for name in ("a", "b"):
        login = [
            "auth",
            "login",
            "--profile",
            name,
            "--api-key",
            f"key-{name}-0000000000",
            "--no-verify",
        ]
        assert run([*login, "--key-only"], credentials=False).exit_code == 0
    result = run(["--profile", "b", "auth", "status", "-o", "json"], credentials=False)
    rows = {row["setting"]: row for row in result.json()}
    assert rows["profile"]["value"] == "b"
    assert rows["api_key"]["source"] == "profile 'b'"


def test_a_named_profile_that_does_not_exist_is_a_clear_error() -> None:
    for args, env in ((["--profile", "typo"], {}), ([], {"ENGAGE_PROFILE": "typo"})):
        result = run([*args, "users", "get", "u1"], env=env)
        assert result.exit_code == 3
        assert "no profile 'typo'" in result.stderr
        assert result.sent == []


def test_broken_config_and_data_places_are_config_errors(isolated_home: Path) -> None:
    config_dir(isolated_home).mkdir()
    (config_dir(isolated_home) / "config.toml").write_text("profiles = 3\n")
    broken = run(["auth", "status"], credentials=False)
    assert broken.exit_code == 3
    assert "profiles" in broken.stderr and "Traceback" not in broken.stderr

    blocker = isolated_home / "a-file"
    blocker.write_text("")
    login = run(
        ["auth", "login", "--api-key", "k-0123456789ab", "--key-only", "--no-verify"],
        credentials=False,
        env={"ENGAGE_CONFIG_DIR": str(blocker / "engage")},
    )
    assert login.exit_code == 3
    assert "Cannot write the config file" in login.stderr

    (config_dir(isolated_home) / "config.toml").unlink()
    sandbox = run(["sandbox", "serve", "--port", "0", "--db", str(blocker / "s.db")])
    assert sandbox.exit_code == 3
    assert "Cannot open the sandbox store" in sandbox.stderr


@pytest.mark.parametrize("value", ["0", "-1", "inf", "nan", "1e9"])
def test_timeouts_from_a_profile_obey_the_flags_bounds(tmp_path: Path, value: str) -> None:
    config = config_with(tmp_path, main={"timeout": value})
    with pytest.raises(ConfigError, match="timeout must be between"):
        _ = resolve_settings({}, {}, config).timeout


# --- what each refusal says (found by mutation testing: every wording below could change
# --- unnoticed, and these are the sentences a user reads) ----------------------------------


def test_mask_shows_the_last_four_from_twelve_characters_on() -> None:
    assert mask("abcdefghijk") == "****"
    assert mask("abcdefghijkl") == "****ijkl"


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("api_key", "k-0123456789ab", "****89ab"),
        ("api_secret", "short", "****"),
        ("base_url", "HTTPS://u:pw@proxy.test/v1", "HTTPS://u:****@proxy.test/v1"),
        ("base_url", "u:pw@proxy.test/v1", "u:****@proxy.test/v1"),
        ("output", "json", "json"),
        ("output", "x@y", "x@y"),  # only a base URL is read as a URL
        ("timeout", "", ""),
    ],
)
def test_shown_masks_credentials_and_a_base_urls_password(
    key: str, value: str, expected: str
) -> None:
    assert shown(key, value) == expected


@pytest.mark.parametrize(
    ("key", "value", "stored"),
    [
        ("output", "ndjson", "ndjson"),
        ("timeout", " 2.5 ", "2.5"),
        ("timeout", "3600", "3600.0"),
        ("retries", "10", "10"),
        ("retries", "0", "0"),
        ("base_url", "http://127.0.0.1:8025/v1", "http://127.0.0.1:8025/v1"),
    ],
)
def test_check_setting_returns_the_value_as_stored(key: str, value: str, stored: str) -> None:
    assert check_setting(key, value) == stored


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("output", "xml", "output must be one of table, json, ndjson, csv, not 'xml'"),
        ("timeout", "soon", "timeout must be a number, not 'soon'"),
        ("timeout", "3601", "timeout must be between 0.1 and 3600, not '3601'"),
        ("retries", "11", "retries must be between 0 and 10, not '11'"),
        ("colour", "red", "unknown setting 'colour'; the settings are output, timeout, retries, "),
    ],
)
def test_check_setting_says_what_the_key_accepts(key: str, value: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        check_setting(key, value)
    assert str(caught.value).startswith(message)


def test_a_base_url_refusal_names_its_source_and_how_to_write_one() -> None:
    with pytest.raises(UsageError) as from_flag:
        check_base_url("ftp://api.test/v1", "flag")
    assert "(from --base-url)" in from_flag.value.message
    assert from_flag.value.hint == (
        "Give it as http(s)://host[:port]/path, e.g. https://api.engage.so/v1."
    )
    with pytest.raises(UsageError) as from_set:
        check_setting("base_url", "ftp://api.test/v1")
    assert "(from config set)" in from_set.value.message
    with pytest.raises(UsageError) as from_env:
        check_base_url("ftp://api.test/v1", "env ENGAGE_BASE_URL")
    assert "(from env ENGAGE_BASE_URL)" in from_env.value.message


@pytest.mark.parametrize(("key", "value"), [("timeout", "3600"), ("retries", "10")])
def test_the_upper_bounds_are_allowed_from_a_profile(tmp_path: Path, key: str, value: str) -> None:
    settings = resolve_settings({}, {}, config_with(tmp_path, main={key: value}))
    assert getattr(settings, key) == float(value)


def test_an_unreadable_file_says_how_to_recover(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("this is = = not toml")
    with pytest.raises(ConfigError) as caught:
        ConfigFile.load(path)
    assert caught.value.hint == "Fix or remove the file, then run `engage auth login`."


@pytest.mark.skipif(sys.platform != "linux", reason="platformdirs reads XDG_CONFIG_HOME on Linux")
def test_the_config_dir_is_the_platforms_unless_engage_config_dir_says(
    isolated_home: Path,
) -> None:
    platform_dir = isolated_home / ".config" / "engage"  # XDG_CONFIG_HOME/engage
    assert config_module.config_dir({}) == platform_dir
    assert config_module.config_dir({"ENGAGE_CONFIG_DIR": ""}) == platform_dir
    assert config_module.config_dir({"ENGAGE_CONFIG_DIR": "~/e"}) == isolated_home / "e"


def test_a_config_place_open_to_others_is_warned_about_before_any_file_exists(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "open"
    directory.mkdir()
    directory.chmod(0o777)
    try:
        warnings = ConfigFile.load(directory / "config.toml").warnings
    finally:
        directory.chmod(0o700)
    assert len(warnings) == 1 and "writable by every user" in warnings[0]


def test_a_config_path_that_cannot_be_read_says_why(tmp_path: Path) -> None:
    (tmp_path / "config.toml").mkdir()
    with pytest.raises(ConfigError) as caught:
        ConfigFile.load(tmp_path / "config.toml")
    assert caught.value.message == (
        f"Cannot read the config file {tmp_path / 'config.toml'}: Is a directory"
    )


@pytest.mark.parametrize(
    ("flag", "env", "default_profile", "expected"),
    [
        ("a", {"ENGAGE_PROFILE": "b"}, "c", Setting("a", "flag")),
        (None, {"ENGAGE_PROFILE": "b"}, "c", Setting("b", "env ENGAGE_PROFILE")),
        (None, {"ENGAGE_PROFILE": ""}, "c", Setting("c", "config default_profile")),
        (None, {}, None, Setting("default", "default")),
    ],
)
def test_choose_profile_says_where_the_choice_came_from(
    tmp_path: Path, flag: str | None, env: dict[str, str], default_profile: str | None,
    expected: Setting,
) -> None:  # fmt: skip
    config = ConfigFile(tmp_path / "config.toml", default_profile)
    assert choose_profile(flag, env, config) == expected


def test_unset_settings_fall_back_to_the_defaults_and_say_so(tmp_path: Path) -> None:
    values = resolve_settings({}, {}, ConfigFile(tmp_path / "none.toml")).values
    assert values["base_url"] == Setting(DEFAULT_BASE_URL, "default")
    assert values["timeout"] == Setting("30.0", "default")
    assert values["api_key"] == Setting(None, "unset")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("", "is empty."),
        ("http://api test/v1", "holds spaces or control characters."),
        ("ftp://api.test/v1", "is not an http:// or https:// URL."),
        ("https:///v1", "names no host."),
        ("https://api.test/v1?x=1", "has a query or a fragment; give the path alone."),
    ],
)
def test_a_refused_base_url_says_why(url: str, why: str) -> None:
    with pytest.raises(UsageError) as caught:
        check_base_url(url, "flag")
    assert caught.value.message == f"The base URL {url!r} (from --base-url) {why}"


def test_a_config_file_that_is_not_toml_says_where(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("this is = = not toml")
    with pytest.raises(ConfigError) as caught:
        ConfigFile.load(path)
    assert caught.value.message.startswith(f"Cannot read the config file {path}: ")
    assert "(at line 1, column " in caught.value.message


def test_a_read_failure_without_an_errno_still_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fails(self: Path) -> bytes:
        raise OSError("the disk is on fire")

    monkeypatch.setattr(Path, "read_bytes", fails)
    with pytest.raises(ConfigError, match=r"config.toml: the disk is on fire$"):
        ConfigFile.load(tmp_path / "config.toml")


def test_profiles_that_are_not_a_table_say_how_to_recover(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("profiles = 3\n")
    with pytest.raises(ConfigError) as caught:
        ConfigFile.load(path)
    assert caught.value.hint == "Fix or remove the file, then run `engage auth login`."


def test_keys_a_profile_cannot_hold_are_dropped_on_reading(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[profiles.p]\napi_key = "k"\ncolour = "red"\n\n[profiles.q]\n')
    assert ConfigFile.load(path).profiles == {"p": {"api_key": "k"}, "q": {}}

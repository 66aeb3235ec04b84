"""Config writes: a TOML library, atomic and locked, never through a planted symlink, with
private permissions and warnings when the place is not private."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from engage_cli import config as config_module
from engage_cli.config import ConfigFile
from engage_cli.errors import UsageError
from tests.e2e.conftest import engage_binary
from tests.harness import run


def config_dir(home: Path) -> Path:
    return home / "engage-config"


def login(name: str, key: str) -> list[str]:
    return ["auth", "login", "--profile", name, "--api-key", key, "--key-only", "--no-verify"]


def test_a_key_holding_del_round_trips(isolated_home: Path) -> None:
    key = "key\x7fwith-del-0123"
    result = run(login("p", key), credentials=False)
    assert result.exit_code == 0, result.stderr
    path = config_dir(isolated_home) / "config.toml"
    assert ConfigFile.load(path).profiles["p"]["api_key"] == key
    status = run(["--profile", "p", "auth", "status", "-o", "json"], credentials=False)
    assert status.exit_code == 0, status.stderr


@pytest.mark.parametrize(
    "value",
    ["plain", 'q"uote\\back', "line\nbreak\ttab", "\x00\x01\x1f\x7f", "ключ 🔑", "\u2028\u2029"],
)
def test_any_text_read_back_is_the_text_written(tmp_path: Path, value: str) -> None:
    config = ConfigFile(tmp_path / "config.toml", value, {value: {"api_key": value}})
    config.save()
    again = ConfigFile.load(config.path)
    assert again.default_profile == value
    assert again.profiles == {value: {"api_key": value}}


def test_a_symlink_at_the_old_temp_name_is_not_followed(isolated_home: Path) -> None:
    directory = config_dir(isolated_home)
    directory.mkdir(mode=0o700)
    victim = isolated_home / "victim"
    victim.write_text("precious\n")
    (directory / "config.toml.tmp").symlink_to(victim)
    result = run(login("p", "key-0123456789ab"), credentials=False)
    assert result.exit_code == 0, result.stderr
    assert victim.read_text() == "precious\n"
    path = directory / "config.toml"
    assert not path.is_symlink()
    assert ConfigFile.load(path).profiles["p"]["api_key"] == "key-0123456789ab"


def test_a_symlink_planted_at_the_chosen_temp_name_is_never_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    dangling = tmp_path / "nowhere"
    # The attacker guessed the first two names: one points at a file, one at nothing.
    (tmp_path / ".config.toml.guessed1.tmp").symlink_to(victim)
    (tmp_path / ".config.toml.guessed2.tmp").symlink_to(dangling)

    def names() -> Iterator[str]:
        yield from ("guessed1", "guessed2", "fresh")

    monkeypatch.setattr(config_module, "_temp_names", names)
    config = ConfigFile(tmp_path / "config.toml", "p", {"p": {"api_secret": "s3cret"}})
    config.save()
    assert victim.read_text() == "precious\n"
    assert not dangling.exists()
    assert ConfigFile.load(config.path).profiles["p"]["api_secret"] == "s3cret"
    assert not (tmp_path / ".config.toml.fresh.tmp").exists()


def test_temp_files_never_outlive_a_failed_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = ConfigFile(tmp_path / "c" / "config.toml", "p", {"p": {"api_key": "old-key"}})
    config.save()
    config.profiles["p"]["api_key"] = "new-key"

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(config_module.os, "fsync", full_disk)
    with pytest.raises(config_module.ConfigError, match="No space left"):
        config.save()
    assert sorted(p.name for p in config.path.parent.iterdir()) == ["config.toml"]
    assert ConfigFile.load(config.path).profiles["p"]["api_key"] == "old-key"


def test_parent_directories_are_created_private(isolated_home: Path) -> None:
    top = isolated_home / "a"
    result = run(
        login("p", "key-0123456789ab"),
        credentials=False,
        env={"ENGAGE_CONFIG_DIR": str(top / "b" / "c")},
    )
    assert result.exit_code == 0, result.stderr
    for directory in (top, top / "b", top / "b" / "c"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    assert stat.S_IMODE((top / "b" / "c" / "config.toml").stat().st_mode) == 0o600


def test_an_existing_file_is_rewritten_private(isolated_home: Path) -> None:
    directory = config_dir(isolated_home)
    directory.mkdir(mode=0o700)
    path = directory / "config.toml"
    path.write_text('[profiles.old]\napi_key = "k-0123456789ab"\n')
    path.chmod(0o644)
    assert run(login("p", "key-0123456789ab"), credentials=False).exit_code == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(ConfigFile.load(path).profiles) == {"old", "p"}


def test_a_world_writable_dir_or_a_readable_config_is_warned_about(isolated_home: Path) -> None:
    directory = config_dir(isolated_home)
    directory.mkdir(mode=0o700)
    path = directory / "config.toml"
    path.write_text('[profiles.default]\napi_key = "k-0123456789ab"\n')
    path.chmod(0o600)
    quiet = run(["auth", "status"], credentials=False)
    assert quiet.exit_code == 0
    assert "warning" not in quiet.stderr.lower()

    path.chmod(0o644)
    readable = run(["auth", "status"], credentials=False)
    assert readable.exit_code == 0
    assert "readable by other users" in readable.stderr
    assert f"chmod 600 {path}" in readable.stderr

    path.chmod(0o600)
    directory.chmod(0o777)
    try:
        open_dir = run(["auth", "status"], credentials=False)
    finally:
        directory.chmod(0o700)
    assert "writable by every user" in open_dir.stderr
    assert f"chmod 700 {directory}" in open_dir.stderr


def test_twenty_parallel_logins_keep_twenty_profiles(isolated_home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENGAGE_")}
    env["ENGAGE_CONFIG_DIR"] = str(config_dir(isolated_home))
    binary = engage_binary()
    processes = [
        subprocess.Popen(
            [binary, *login(f"p{n}", f"key-{n:02d}-0123456789")],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(20)
    ]
    outcomes = [(p.wait(timeout=120), p.communicate()) for p in processes]
    assert [code for code, _ in outcomes] == [0] * 20, outcomes
    config = ConfigFile.load(config_dir(isolated_home) / "config.toml")
    assert config.profiles == {f"p{n}": {"api_key": f"key-{n:02d}-0123456789"} for n in range(20)}
    assert config.default_profile in config.profiles
    leftovers = [p.name for p in config_dir(isolated_home).iterdir() if p.name != "config.toml"]
    assert leftovers == []


def test_parallel_writers_in_threads_lose_nothing(tmp_path: Path) -> None:
    import threading

    path = tmp_path / "config.toml"

    def add(n: int) -> None:
        with ConfigFile.edit(path) as config:
            config.profiles[f"t{n}"] = {"api_key": f"key-{n}"}

    threads = [threading.Thread(target=add, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ConfigFile.load(path).profiles) == 20


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_save_keeps_mode_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o277)
    try:
        ConfigFile(tmp_path / "x" / "config.toml", None, {"p": {"api_key": "k"}}).save()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "x" / "config.toml").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "x").stat().st_mode) == 0o700


def test_a_value_that_is_not_text_is_refused_before_writing(tmp_path: Path) -> None:
    config = ConfigFile(tmp_path / "config.toml", "p", {"p": {"api_key": "key-\udcff-0123"}})
    with pytest.raises(UsageError) as caught:
        config.save()
    assert caught.value.message == (
        "A value to save is not valid text (it holds bytes that are not UTF-8)."
    )
    assert caught.value.hint == "Check the profile name, key, secret and base URL you gave."
    assert not config.path.exists()


def test_an_unwritable_place_names_the_file_the_reason_and_what_to_check(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    config = ConfigFile(blocker / "engage" / "config.toml", "p", {"p": {"api_key": "k"}})
    with pytest.raises(config_module.ConfigError) as caught:
        config.save()
    assert caught.value.message == (f"Cannot write the config file {config.path}: Not a directory.")
    assert caught.value.hint == "Check ENGAGE_CONFIG_DIR, or the permissions of that directory."


def test_the_file_starts_with_a_comment_saying_what_writes_it(tmp_path: Path) -> None:
    config = ConfigFile(tmp_path / "config.toml", "p", {"p": {"api_key": "k"}})
    config.save()
    assert config.path.read_text().splitlines()[0] == (
        "# engage-cli configuration: written by `engage auth login`, `config set` ..."
    )


def test_a_directory_made_by_a_parallel_writer_midway_is_no_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = tmp_path / "a"
    real_mkdir = Path.mkdir

    def racing_mkdir(self: Path, mode: int = 0o777, *args: object, **kwargs: object) -> None:
        if self == top and not self.exists():
            real_mkdir(self, 0o700)  # the other writer got there first
        real_mkdir(self, mode, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "mkdir", racing_mkdir)
    config = ConfigFile(top / "b" / "c" / "config.toml", "p", {"p": {"api_key": "k"}})
    config.save()
    assert ConfigFile.load(config.path).profiles == {"p": {"api_key": "k"}}
    assert stat.S_IMODE((top / "b" / "c").stat().st_mode) == 0o700


def test_a_writer_gives_up_after_101_names_that_are_all_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".config.toml.taken.tmp").write_text("")
    tried: list[str] = []

    def names() -> Iterator[str]:
        while True:
            tried.append("taken")
            yield "taken"

    monkeypatch.setattr(config_module, "_temp_names", names)
    config = ConfigFile(tmp_path / "config.toml", "p", {"p": {"api_key": "k"}})
    with pytest.raises(config_module.ConfigError, match="File exists"):
        config.save()
    assert len(tried) == 101
    assert not config.path.exists()


def test_a_failed_clean_up_does_not_hide_why_the_write_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def cannot_rename(src: object, dst: object) -> None:
        raise OSError(18, "Invalid cross-device link")

    def cannot_unlink(path: object) -> None:
        raise OSError(13, "Permission denied")

    monkeypatch.setattr(config_module.os, "replace", cannot_rename)
    monkeypatch.setattr(config_module.os, "unlink", cannot_unlink)
    config = ConfigFile(tmp_path / "config.toml", "p", {"p": {"api_key": "k"}})
    with pytest.raises(config_module.ConfigError, match="Invalid cross-device link"):
        config.save()

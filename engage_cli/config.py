"""Profiles, the config directory and the precedence of settings.

This is the only module that reads or writes the config file. Precedence, highest first:
command-line flag, environment, the chosen profile, defaults.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engage_cli.errors import ConfigError, UsageError

CONFIG_FILENAME = "config.toml"
DEFAULT_PROFILE = "default"
DEFAULT_BASE_URL = "https://api.engage.so/v1"
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 3

# Settings a profile may hold, in the order they are written and shown.
PROFILE_KEYS = ("api_key", "api_secret", "base_url", "output", "timeout", "retries")
SECRET_KEYS = frozenset({"api_key", "api_secret"})
ENV_VARS = {
    "profile": "ENGAGE_PROFILE",
    "api_key": "ENGAGE_API_KEY",
    "api_secret": "ENGAGE_API_SECRET",
    "base_url": "ENGAGE_BASE_URL",
    "output": "ENGAGE_OUTPUT",
}
DEFAULTS: dict[str, str | None] = {
    "api_key": None,
    "api_secret": None,
    "base_url": DEFAULT_BASE_URL,
    "output": None,
    "timeout": str(DEFAULT_TIMEOUT),
    "retries": str(DEFAULT_RETRIES),
}


def config_dir(environ: Mapping[str, str]) -> Path:
    """Where config.toml lives: `ENGAGE_CONFIG_DIR`, else the platform's config dir."""
    override = environ.get("ENGAGE_CONFIG_DIR")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_config_path

    return user_config_path("engage")


@dataclass
class ConfigFile:
    """The parsed config.toml: named profiles and which one is the default.

    `warnings` says when the file or its directory is open to other users (set by `load`)."""

    path: Path
    default_profile: str | None = None
    profiles: dict[str, dict[str, str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> ConfigFile:
        try:
            raw = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return cls(path, warnings=_exposure(path))
        except OSError as exc:
            raise _unreadable(path, exc.strerror or str(exc)) from exc
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - exercised on Python 3.10 only
            import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise _unreadable(path, str(exc)) from exc
        profiles: dict[str, dict[str, str]] = {}
        tables = data.get("profiles") or {}
        if not isinstance(tables, dict):
            raise ConfigError(
                f"The config file {path} is not valid: `profiles` must be a table.",
                hint="Fix or remove the file, then run `engage auth login`.",
            )
        for name, table in tables.items():
            if isinstance(table, dict):
                profiles[str(name)] = {
                    k: str(v) for k, v in table.items() if k in PROFILE_KEYS and v is not None
                }
        default = data.get("default_profile")
        return cls(path, str(default) if default else None, profiles, _exposure(path))

    @classmethod
    @contextmanager
    def edit(cls, path: Path) -> Iterator[ConfigFile]:
        """Read, change and write the file as one step: under an exclusive lock, so that two
        writers at once (20 parallel `auth login`s) never lose each other's changes. The
        caller's changes are saved when the block ends without an exception."""
        try:
            _make_private_dirs(path.parent)
        except OSError as exc:
            raise _unwritable(path, exc) from exc
        with _locked(path.parent):
            config = cls.load(path)
            yield config
            config.save()

    def save(self) -> None:
        """Write the file atomically with mode 0600 (it holds secrets). Callers that read
        before writing use `edit`, which holds the lock across both."""
        text = self.dumps()
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise UsageError(
                "A value to save is not valid text (it holds bytes that are not UTF-8).",
                hint="Check the profile name, key, secret and base URL you gave.",
            ) from exc
        try:
            _make_private_dirs(self.path.parent)
            _write_atomically(self.path, data)
        except OSError as exc:
            raise _unwritable(self.path, exc) from exc

    def dumps(self) -> str:
        import tomli_w

        document: dict[str, Any] = {}
        if self.default_profile:
            document["default_profile"] = self.default_profile
        document["profiles"] = {
            name: {key: table[key] for key in PROFILE_KEYS if table.get(key) is not None}
            for name, table in self.profiles.items()
        }
        header = "# engage-cli configuration: written by `engage auth login`, `config set` ...\n"
        return header + tomli_w.dumps(document)


def _unreadable(path: Path, reason: str) -> ConfigError:
    return ConfigError(
        f"Cannot read the config file {path}: {reason}",
        hint="Fix or remove the file, then run `engage auth login`.",
    )


def _unwritable(path: Path, exc: OSError) -> ConfigError:
    return ConfigError(
        f"Cannot write the config file {path}: {exc.strerror or exc}.",
        hint="Check ENGAGE_CONFIG_DIR, or the permissions of that directory.",
    )


def _exposure(path: Path) -> list[str]:
    """Warnings when other users could read the secrets or replace the file."""
    warnings: list[str] = []
    try:
        directory_mode = path.parent.stat().st_mode
    except OSError:
        return warnings  # not there yet: it will be created private
    if directory_mode & stat.S_IWOTH:
        warnings.append(
            f"The config directory {path.parent} is writable by every user, who could replace "
            f"your config; run `chmod 700 {path.parent}` or move it (ENGAGE_CONFIG_DIR)."
        )
    try:
        file_mode = path.stat().st_mode
    except OSError:
        return warnings
    if file_mode & 0o077:
        warnings.append(
            f"The config file {path} is readable by other users, and it holds secrets; "
            f"run `chmod 600 {path}`."
        )
    return warnings


def _make_private_dirs(directory: Path) -> None:
    """mkdir -p, except that every directory it creates is 0700 (Path.mkdir(parents=True)
    gives the parents the umask's default)."""
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for created in reversed(missing):
        try:
            created.mkdir(mode=0o700)
        except FileExistsError:
            continue  # a parallel writer made it
        os.chmod(created, 0o700)  # whatever the umask took away


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """An exclusive lock on the config directory itself: no lock file to plant or leave
    behind. Without fcntl (Windows), writes are still atomic, only not serialised."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _temp_names() -> Iterator[str]:
    import secrets

    while True:
        yield secrets.token_hex(8)


# O_EXCL refuses any existing name, a symlink (even a dangling one) included; O_NOFOLLOW
# says the same twice, for systems that would otherwise resolve the last component.
_TEMP_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


def _write_atomically(path: Path, data: bytes) -> None:
    """A unique temporary file beside the target (never a name someone could plant first),
    flushed to disk, then renamed over the target: a reader sees the old file or the new."""
    for attempt, name in enumerate(_temp_names()):
        tmp = path.with_name(f".{path.name}.{name}.tmp")
        try:
            fd = os.open(tmp, _TEMP_FLAGS, 0o600)
            break
        except FileExistsError:
            if attempt >= 100:
                raise
    try:
        with os.fdopen(fd, "wb") as fh:
            if hasattr(os, "fchmod"):
                os.fchmod(fh.fileno(), 0o600)  # exactly 0600, whatever the umask
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable; not every platform can open a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Setting:
    value: str | None
    source: str  # "flag", "env ENGAGE_API_KEY", "profile 'ci'", "default" or "unset"


@dataclass(frozen=True)
class Settings:
    """Every effective setting with where it came from."""

    profile: Setting
    values: dict[str, Setting]
    profile_exists: bool

    def get(self, key: str) -> str | None:
        return self.values[key].value

    @property
    def api_key(self) -> str | None:
        return self.get("api_key")

    @property
    def api_secret(self) -> str | None:
        return self.get("api_secret")

    @property
    def base_url(self) -> str:
        setting = self.values["base_url"]
        if setting.value is None:
            return DEFAULT_BASE_URL
        return check_base_url(setting.value, setting.source)

    @property
    def timeout(self) -> float:
        return float(_number(self.values["timeout"], float, "timeout"))

    @property
    def retries(self) -> int:
        return int(_number(self.values["retries"], int, "retries"))


# The same bounds as the --timeout and --retries flags, wherever the value comes from.
LIMITS = {"timeout": (0.1, 3600.0), "retries": (0, 10)}


def _number(setting: Setting, kind: type[float] | type[int], name: str) -> float | int:
    try:
        value = kind(str(setting.value))  # resolve_settings always finds one: a default
    except ValueError:
        raise ConfigError(
            f"{name} must be a number, got {setting.value!r} ({setting.source})."
        ) from None
    low, high = LIMITS[name]
    if not low <= value <= high:  # also refuses nan and inf
        raise ConfigError(f"{name} must be between {low:g} and {high:g} ({setting.source}).")
    return value


# What `engage config set` may change: the settings a profile holds beside its credentials
# (those go through `auth login`, so that the secret is never an argument).
SETTING_KEYS = ("output", "timeout", "retries", "base_url")
OUTPUT_FORMATS = ("table", "json", "ndjson", "csv")


def check_setting(key: str, value: str) -> str:
    """The value as it will be stored, or ValueError saying what the key accepts (for a
    base URL, check_base_url's UsageError)."""
    if key == "output":
        if value not in OUTPUT_FORMATS:
            raise ValueError(f"output must be one of {', '.join(OUTPUT_FORMATS)}, not {value!r}")
        return value
    if key in LIMITS:
        kind: type[float] | type[int] = float if key == "timeout" else int
        low, high = LIMITS[key]
        try:
            number = kind(value.strip())
        except ValueError:
            raise ValueError(f"{key} must be a number, not {value!r}") from None
        if not low <= number <= high:  # also refuses nan and inf
            raise ValueError(f"{key} must be between {low:g} and {high:g}, not {value!r}")
        return str(number)
    if key == "base_url":
        return check_base_url(value, "config set")  # a UsageError of its own, saying why
    raise ValueError(f"unknown setting {key!r}; the settings are {', '.join(SETTING_KEYS)}")


def choose_profile(flag: str | None, environ: Mapping[str, str], config: ConfigFile) -> Setting:
    if flag:
        return Setting(flag, "flag")
    env = environ.get(ENV_VARS["profile"])
    if env:
        return Setting(env, f"env {ENV_VARS['profile']}")
    if config.default_profile:
        return Setting(config.default_profile, "config default_profile")
    return Setting(DEFAULT_PROFILE, "default")


def resolve_settings(
    flags: Mapping[str, str | None], environ: Mapping[str, str], config: ConfigFile
) -> Settings:
    """Apply flag > environment > profile > default to every setting."""
    profile = choose_profile(flags.get("profile"), environ, config)
    assert profile.value is not None
    table = config.profiles.get(profile.value)
    values: dict[str, Setting] = {}
    for key in PROFILE_KEYS:
        env_name = ENV_VARS.get(key)
        if flags.get(key) is not None:
            values[key] = Setting(flags[key], "flag")
        elif env_name and environ.get(env_name):
            values[key] = Setting(environ[env_name], f"env {env_name}")
        elif table and table.get(key) is not None:
            values[key] = Setting(table[key], f"profile '{profile.value}'")
        elif DEFAULTS[key] is not None:
            values[key] = Setting(DEFAULTS[key], "default")
        else:
            values[key] = Setting(None, "unset")
    return Settings(profile, values, table is not None)


def mask(value: str | None) -> str:
    """Show a credential without revealing it: its last 4 characters at most."""
    if not value:
        return ""
    if len(value) < 12:
        return "****"
    return "****" + value[-4:]


def check_base_url(value: str, source: str) -> str:
    """The base URL if it is http(s)://host[:port][/path]; else a UsageError (exit 2) naming
    where it came from, raised before any request (an empty one must not mean production)."""
    from urllib.parse import urlsplit

    where = "--base-url" if source == "flag" else source

    def refuse(why: str) -> UsageError:
        return UsageError(
            f"The base URL {mask_url(value)!r} (from {where}) {why}",
            hint="Give it as http(s)://host[:port]/path, e.g. https://api.engage.so/v1.",
        )

    if not value:
        raise refuse("is empty.")
    if not value.isprintable() or any(char.isspace() for char in value):
        raise refuse("holds spaces or control characters.")
    try:
        parts = urlsplit(value)
        _ = parts.port  # a port that is not a number, or out of range, raises here
    except ValueError as exc:
        raise refuse(f"is not a valid URL ({exc}).") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise refuse("is not an http:// or https:// URL.")
    if not parts.hostname:
        raise refuse("names no host.")
    if "?" in value or "#" in value:
        raise refuse("has a query or a fragment; give the path alone.")
    return value


def shown(key: str, value: str | None) -> str | None:
    """A setting's value as it may be printed: credentials masked, in a base URL too."""
    if not value:
        return value
    if key in SECRET_KEYS:
        return mask(value)
    return mask_url(value) if key == "base_url" else value


def mask_url(url: str) -> str:
    """A URL as it may be shown: a password (or a lone user, often a token) in it masked."""
    import re

    def masked(match: re.Match[str]) -> str:
        user, colon, _ = match.group(2).partition(":")
        return f"{match.group(1) or ''}{user + ':' if colon else ''}****@"

    return re.sub(r"^((?:[A-Za-z][A-Za-z0-9+.-]*:)?//)?([^/?#]*)@", masked, url, count=1)

"""Profiles, the config directory and the precedence of settings.

This is the only module that reads or writes the config file. Precedence, highest first:
command-line flag, environment, the chosen profile, defaults.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

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
    """The parsed config.toml: named profiles and which one is the default."""

    path: Path
    default_profile: str | None = None
    profiles: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> ConfigFile:
        if not path.exists():
            return cls(path)
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - exercised on Python 3.10 only
            import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(
                f"Cannot read the config file {path}: {exc}",
                hint="Fix or remove the file, then run `engage auth login`.",
            ) from exc
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
        return cls(path, str(default) if default else None, profiles)

    def save(self) -> None:
        """Write the file atomically with mode 0600 (it holds secrets)."""
        try:
            self._write()
        except OSError as exc:
            raise ConfigError(
                f"Cannot write the config file {self.path}: {exc.strerror or exc}.",
                hint="Check ENGAGE_CONFIG_DIR, or the permissions of that directory.",
            ) from exc

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(self.dumps())
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, self.path)

    def dumps(self) -> str:
        lines = ["# engage-cli configuration: written by `engage auth login` / `profiles use`."]
        if self.default_profile:
            lines.append(f"default_profile = {_toml_str(self.default_profile)}")
        for name, table in self.profiles.items():
            lines.append("")
            lines.append(f"[profiles.{_toml_str(name)}]")
            for key in PROFILE_KEYS:
                if table.get(key) is not None:
                    lines.append(f"{key} = {_toml_str(table[key])}")
        return "\n".join(lines) + "\n"


def _toml_str(value: str) -> str:
    # JSON string escapes are a subset of TOML basic-string escapes.
    return json.dumps(value, ensure_ascii=False)


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
        value = kind(setting.value) if setting.value is not None else kind(DEFAULTS[name] or 0)
    except ValueError:
        raise ConfigError(
            f"{name} must be a number, got {setting.value!r} ({setting.source})."
        ) from None
    low, high = LIMITS[name]
    if not low <= value <= high:  # also refuses nan and inf
        raise ConfigError(f"{name} must be between {low:g} and {high:g} ({setting.source}).")
    return value


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

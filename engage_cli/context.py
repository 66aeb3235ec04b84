"""The state one invocation carries: global options, streams, and what is built from them
(settings, the output writer, the API client), each built only when a command needs it.
The sandbox's store and in-process transport are built here too, for `--sandbox`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engage_cli.config import CONFIG_FILENAME, ConfigFile, Settings, config_dir, resolve_settings
from engage_cli.errors import ConfigError, EngageError
from engage_cli.output import Output, choose_format
from engage_cli.streams import Streams
from engage_cli.tables import printable

if TYPE_CHECKING:
    from engage_cli.client import EngageClient
    from engage_cli.sandbox.store import SandboxStore

SANDBOX_BASE_URL = "http://sandbox.localhost/v1"


@dataclass
class State:
    streams: Streams = field(default_factory=Streams.from_process)
    profile: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    sandbox: bool = False
    timeout: float | None = None
    retries: int | None = None
    debug: bool = False
    transport: Any = None  # an httpx transport injected by tests
    output_flag: str | None = None  # the command's -o, as given
    output_format: str | None = None  # set once a command has chosen it
    query: Any = None  # a compiled --query expression
    csv_safe: bool = False  # --csv-safe
    _config: ConfigFile | None = None

    @property
    def config_path(self) -> Path:
        return config_dir(self.streams.environ) / CONFIG_FILENAME

    def config(self) -> ConfigFile:
        if self._config is None:
            self._config = ConfigFile.load(self.config_path)
            for warning in self._config.warnings:
                self.streams.stderr.write(f"Warning: {warning}\n")
        return self._config

    @contextmanager
    def edit_config(self) -> Iterator[ConfigFile]:
        """Change the config file under its lock (read afresh inside it), saved at the end."""
        self.config()  # its warnings, once
        with ConfigFile.edit(self.config_path) as config:
            yield config
        self._config = config

    def settings(self) -> Settings:
        flags = {
            "profile": self.profile,
            "base_url": self.base_url,
            "api_key": self.api_key,
            "timeout": None if self.timeout is None else str(self.timeout),
            "retries": None if self.retries is None else str(self.retries),
        }
        return resolve_settings(flags, self.streams.environ, self.config())

    def check_profile(self, settings: Settings) -> None:
        """A profile asked for by name (flag, ENGAGE_PROFILE, default_profile) that is not
        in the file is a typo, not "no credentials": the same error for every command."""
        if self.sandbox or settings.profile_exists or settings.profile.source == "default":
            return
        raise ConfigError(
            f"There is no profile {settings.profile.value!r} in {self.config_path}.",
            hint=f"Create it with `engage auth login --profile {settings.profile.value}`, "
            "or see `engage profiles list`.",
        )

    def chosen_profile(self, option: str | None = None) -> str:
        """The profile a command changes (`auth logout --profile P` means `engage --profile
        P auth logout`), which must exist when it was named."""
        if option:
            self.profile = option
        settings = self.settings()
        self.check_profile(settings)
        assert settings.profile.value is not None
        return settings.profile.value

    def choose_output(self, flag: str | None) -> Output:
        """The writer of this command's results, in the format it chose (the -o flag, then
        ENGAGE_OUTPUT, then the profile's `output`); errors from here on follow it."""
        self.output_format = choose_format(flag, self.settings().get("output"), self.stdout_isatty)
        return Output(self.streams, self.output_format, query=self.query, csv_safe=self.csv_safe)

    def error_output(self, flag: str | None = None) -> Output:
        """Where an error goes: the format the command chose, else the one it would have
        chosen (from `flag`, or the -o it was given); an unusable choice falls back to the
        default, since the error must be reported either way."""
        fmt = self.output_format
        if fmt is None:
            fmt = choose_format(None, None, self.stdout_isatty)
            for chosen in (flag or self.output_flag, None):
                try:
                    fmt = choose_format(chosen, self.settings().get("output"), self.stdout_isatty)
                    break
                except EngageError:  # an unknown format, an unreadable config file
                    continue
        return Output(self.streams, fmt)

    def set_query(self, expression: str) -> None:
        """--query: checked now, before any request, applied by the output writer."""
        from engage_cli.output import compile_query

        self.query = compile_query(expression)

    @property
    def stdout_isatty(self) -> bool:
        return self.streams.stdout_isatty

    def log(self, line: str) -> None:
        self.streams.stderr.write(f"[debug] {printable(line)}\n")
        self.streams.stderr.flush()

    def client(
        self,
        *,
        max_connections: int = 16,
        sleep: Callable[[float], None] | None = None,
        credentials: tuple[str, str, str | None] | None = None,
        default_retries: int | None = None,
        transport: Any = None,
    ) -> EngageClient:
        """The API client of this invocation; `credentials` (base URL, key, secret) are ones
        not saved yet, which `auth login` checks before saving them. `default_retries` replaces
        the built-in default only: a --retries flag or a profile's retries still wins.
        `transport` replaces the invocation's (a sandbox store chosen with --db)."""
        from engage_cli.client import EngageClient

        settings = self.settings()
        transport = transport if transport is not None else self.transport
        base_url: str
        key: str | None
        secret: str | None
        if credentials is not None:
            base_url, key, secret = credentials
        elif self.sandbox:
            from engage_cli.sandbox.api import DEFAULT_KEY, DEFAULT_SECRET

            base_url, key, secret = SANDBOX_BASE_URL, DEFAULT_KEY, DEFAULT_SECRET
            if transport is None:
                transport = sandbox_transport()
        else:
            self.check_profile(settings)
            base_url, key, secret = settings.base_url, settings.api_key, settings.api_secret
        return EngageClient(
            base_url=base_url,
            api_key=key,
            api_secret=secret,
            timeout=settings.timeout,
            retries=(
                default_retries
                if default_retries is not None and settings.values["retries"].source == "default"
                else settings.retries
            ),
            transport=transport,
            log=self.log if self.debug else None,
            max_connections=max_connections,
            sleep=sleep,
        )


def open_sandbox_store(path: Path | None = None) -> SandboxStore:
    """The sandbox's SQLite store (default: ENGAGE_SANDBOX_DB or the user data dir), with a
    clear error when that place cannot hold it."""
    import sqlite3

    from engage_cli.sandbox.api import default_db_path
    from engage_cli.sandbox.store import SandboxStore

    path = path if path is not None else default_db_path()
    try:
        return SandboxStore(path)
    except (OSError, sqlite3.Error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(
            f"Cannot open the sandbox store {path}: {reason}.",
            hint="Point ENGAGE_SANDBOX_DB (or --db) at a writable file.",
        ) from exc


def sandbox_transport(path: Path | None = None) -> Any:
    """The in-process sandbox: the same store `engage sandbox serve` uses (or the one at
    `path`), no socket."""
    from engage_cli.sandbox.api import DEFAULT_KEY, DEFAULT_SECRET, SandboxAPI
    from engage_cli.sandbox.transport import SandboxTransport

    api = SandboxAPI(open_sandbox_store(path), DEFAULT_KEY, DEFAULT_SECRET)
    return SandboxTransport(api, close_store=True)

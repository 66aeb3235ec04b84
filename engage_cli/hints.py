"""What to do next, for the errors the client raises.

The client is a library: its errors state what happened (status, method, path). Advice that
names this CLI's flags and commands is added here, at the one error boundary, where the
invocation's settings are known.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engage_cli.config import mask_url
from engage_cli.errors import (
    ConfigError,
    ConnectFailed,
    CredentialsRefused,
    EngageError,
    MissingCredentials,
    NetworkError,
    NotFoundError,
    RedirectError,
    TemporaryError,
    UnexpectedAnswer,
)

if TYPE_CHECKING:
    from engage_cli.context import State


def add_hint(err: EngageError, state: State) -> EngageError:
    """`err` with the hint for this invocation first, then any hint the command added
    (a bulk run's resume line after "check the key", say)."""
    hint = _hint(err, state)
    if hint and hint not in (err.hint or ""):
        err.hint = f"{hint} {err.hint}" if err.hint else hint
    return err


def _hint(err: EngageError, state: State) -> str | None:
    if isinstance(err, MissingCredentials):
        if err.missing == "api_secret":
            return "Set ENGAGE_API_SECRET, or run `engage auth login` to store it."
        return (
            "Run `engage auth login`, set ENGAGE_API_KEY, "
            "or try the local sandbox with `engage --sandbox ...`."
        )
    if isinstance(err, RedirectError):
        return "Check --base-url: the API answers at another address (see where it redirects)."
    if isinstance(err, UnexpectedAnswer):
        return "Is --base-url pointing at the Engage API?"
    if isinstance(err, ConfigError) and err.status in (401, 403):
        if isinstance(err, CredentialsRefused):
            return None  # `auth login` says what to check about the credentials it was given
        return "Check the API key and secret: `engage auth status`."
    if err.uncertain:  # it may have been done: neither "try again" nor "raise --timeout"
        return None
    if isinstance(err, ConnectFailed):
        return _connect_hint(err, state)
    if isinstance(err, NetworkError):
        return "Check the network and --base-url, or raise --timeout."
    if isinstance(err, TemporaryError) and err.status is not None and err.status >= 500:
        return "Try again later; --debug shows each attempt."
    if isinstance(err, NotFoundError) and not state.sandbox:
        base = _base_url(state)
        if base is not None and not _has_version(base):
            return (
                f"The base URL {mask_url(base)} has no /v1, under which the Engage API "
                "lives: try --base-url https://api.engage.so/v1 (or your server's /v1)."
            )
    return None


def _connect_hint(err: ConnectFailed, state: State) -> str:
    """Nothing listens there, or the name does not resolve: the URL or the server is wrong,
    not the timeout. A server on this machine is most often a sandbox not started yet."""
    base = _base_url(state)
    where = f"--base-url ({mask_url(base)})" if base else "--base-url"
    if err.host in ("localhost", "127.0.0.1", "::1") or err.host.startswith("127."):
        return (
            f"Is the server running? Start the local one with `engage sandbox serve --port "
            f"{err.port}`, or check {where}."
        )
    return f"Check {where} and the network."


def _base_url(state: State) -> str | None:
    try:
        return state.settings().base_url
    except EngageError:  # the settings' own error was reported already, or will be
        return None


def _has_version(base_url: str) -> bool:
    from urllib.parse import urlsplit

    return "v1" in urlsplit(base_url).path.split("/")

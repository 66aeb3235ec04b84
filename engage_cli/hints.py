"""What to do next, for the errors the client raises.

The client is a library: its errors state what happened (status, method, path). Advice that
names this CLI's flags and commands is added here, at the one error boundary, where the
invocation's settings are known.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engage_cli.config import mask_url
from engage_cli.errors import EngageError, NotFoundError

if TYPE_CHECKING:
    from engage_cli.context import State


def add_hint(err: EngageError, state: State) -> EngageError:
    """`err` with a hint for this invocation, unless it already carries one."""
    if err.hint is None:
        err.hint = _hint(err, state)
    return err


def _hint(err: EngageError, state: State) -> str | None:
    if isinstance(err, NotFoundError) and not state.sandbox:
        base = _base_url(state)
        if base is not None and not _has_version(base):
            return (
                f"The base URL {mask_url(base)} has no /v1, under which the Engage API "
                "lives: try --base-url https://api.engage.so/v1 (or your server's /v1)."
            )
    return None


def _base_url(state: State) -> str | None:
    try:
        return state.settings().base_url
    except EngageError:  # the settings' own error was reported already, or will be
        return None


def _has_version(base_url: str) -> bool:
    from urllib.parse import urlsplit

    return "v1" in urlsplit(base_url).path.split("/")

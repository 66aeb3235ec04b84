"""`engage config ...`: a profile's settings (output, timeout, retries, base_url), read and
changed without editing config.toml by hand. Credentials go through `engage auth login`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer

from engage_cli.commands._common import state_of
from engage_cli.completers import setting_keys
from engage_cli.config import DEFAULTS, ENV_VARS, SETTING_KEYS
from engage_cli.errors import UsageError

if TYPE_CHECKING:
    from engage_cli.context import State

app = typer.Typer(no_args_is_help=True)  # its one-line summary: app.COMMANDS


KeyArg = Annotated[
    str,
    typer.Argument(
        metavar="KEY",
        help="output, timeout, retries or base_url.",
        autocompletion=setting_keys,
        show_default=False,
    ),
]
ProfileOpt = Annotated[
    Optional[str], typer.Option("--profile", help="The profile to act on (else the current one).")
]


def _key(key: str) -> str:
    if key not in SETTING_KEYS:
        hint = None
        if key in ("api_key", "api_secret"):
            hint = (
                "Credentials are saved with `engage auth login` (the secret is never an argument)."
            )
        raise UsageError(
            f"Unknown setting {key!r}: the settings are {', '.join(SETTING_KEYS)}.", hint=hint
        )
    return key


def _override_note(state: State, key: str) -> None:
    env = ENV_VARS.get(key)
    if env and state.streams.environ.get(env):
        state.streams.stderr.write(f"Note: {env} in the environment overrides this setting.\n")


@app.command("get")
def get(ctx: typer.Context, key: KeyArg, profile: ProfileOpt = None) -> None:
    """Print a setting of the profile: its stored value, else the default.

    The value alone goes to stdout, for scripts: TIMEOUT=$(engage config get timeout).

    Example: engage config get base_url --profile staging
    """
    state = state_of(ctx)
    key = _key(key)
    name = state.chosen_profile(profile)
    stored = state.config().profiles.get(name, {}).get(key)
    value = stored if stored is not None else DEFAULTS.get(key)
    if value is None:  # output: no default of its own
        state.streams.stderr.write(
            f"{key} is not set in profile {name!r} (default: a table on a terminal, "
            "JSON in a pipe).\n"
        )
    else:
        state.streams.stdout.write(value + "\n")
        if stored is None and state.streams.stderr_isatty:
            state.streams.stderr.write(f"({key} is not set in profile {name!r}: the default)\n")
    _override_note(state, key)


@app.command("set")
def set_(
    ctx: typer.Context,
    key: KeyArg,
    value: Annotated[str, typer.Argument(metavar="VALUE", help="The new value.")],
    profile: ProfileOpt = None,
) -> None:
    """Store a setting in the profile, checked first (exit 2 when invalid).

    output: table, json, ndjson or csv; timeout: seconds, 0.1 to 3600; retries: 0 to 10;
    base_url: http(s)://host[:port]/... (the sandbox's, or Engage's own).

    Example: engage config set timeout 10 --profile ci
    """
    from engage_cli.config import check_setting

    state = state_of(ctx)
    key = _key(key)
    try:
        checked = check_setting(key, value)
    except ValueError as exc:
        raise UsageError(f"{exc}.") from None
    name = state.chosen_profile(profile)
    with state.edit_config() as config:
        config.profiles.setdefault(name, {})[key] = checked
    state.streams.stderr.write(f"Set {key} = {checked} in profile {name!r}.\n")
    _override_note(state, key)


@app.command("unset")
def unset(ctx: typer.Context, key: KeyArg, profile: ProfileOpt = None) -> None:
    """Remove a setting from the profile: the default applies again.

    Example: engage config unset output
    """
    state = state_of(ctx)
    key = _key(key)
    name = state.chosen_profile(profile)
    if key not in state.config().profiles.get(name, {}):
        state.streams.stderr.write(f"{key} is not set in profile {name!r}; nothing to do.\n")
        return
    with state.edit_config() as config:
        config.profiles.get(name, {}).pop(key, None)
    state.streams.stderr.write(f"Unset {key} in profile {name!r}.\n")

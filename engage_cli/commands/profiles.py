"""`engage profiles ...`: the named profiles of config.toml."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from engage_cli.commands._common import OutputOpt, YesOpt, confirm_or_refuse, fmt, state_of
from engage_cli.completers import profile_names
from engage_cli.config import PROFILE_KEYS, ConfigFile, choose_profile, shown
from engage_cli.errors import ConfigError, UsageError
from engage_cli.tables import PROFILES

app = typer.Typer(no_args_is_help=True)  # its one-line summary: app.COMMANDS


def _profile_row(config: ConfigFile, name: str) -> dict[str, Any]:
    table = config.profiles.get(name, {})
    row: dict[str, Any] = {"name": name, "default": name == config.default_profile}
    for key in PROFILE_KEYS:
        row[key] = shown(key, table.get(key))
    return row


def _existing(config: ConfigFile, name: str) -> str:
    if name not in config.profiles:
        known = ", ".join(config.profiles) or "none yet"
        raise ConfigError(
            f"There is no profile {name!r} in {config.path} (profiles: {known}).",
            hint=f"Create it with `engage auth login --profile {name}`.",
        )
    return name


@app.command("list")
def list_(ctx: typer.Context, output: OutputOpt = None) -> None:
    """List the profiles; the default one is marked.

    Example: engage profiles list -o json
    """
    state = state_of(ctx)
    out = state.choose_output(fmt(output))
    config = state.config()
    rows = [_profile_row(config, name) for name in config.profiles]
    out.items([rows], PROFILES, empty="No profiles yet: create one with `engage auth login`.")


@app.command("show")
def show(
    ctx: typer.Context,
    name: Annotated[
        Optional[str],
        typer.Argument(
            help="Profile name (default: the current one).", autocompletion=profile_names
        ),
    ] = None,
    output: OutputOpt = None,
) -> None:
    """Show one profile's stored settings, secrets masked.

    Example: engage profiles show ci
    """
    state = state_of(ctx)
    out = state.choose_output(fmt(output))
    config = state.config()
    chosen = name or choose_profile(state.profile, state.streams.environ, config).value or ""
    out.object(_profile_row(config, _existing(config, chosen)))


@app.command("use")
def use(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Profile name.", autocompletion=profile_names)],
) -> None:
    """Make a profile the default one.

    Example: engage profiles use staging
    """
    state = state_of(ctx)
    with state.edit_config() as config:
        config.default_profile = _existing(config, name)
    state.streams.stderr.write(f"Default profile is now {name!r}.\n")


@app.command("remove")
def remove(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Profile name.", autocompletion=profile_names)],
    yes: YesOpt = False,
) -> None:
    """Remove a profile, its credentials and settings, from config.toml.

    Asks first on a terminal; scripts pass --yes. A declined answer exits 2.

    Example: engage profiles remove staging --yes
    """
    state = state_of(ctx)
    _existing(state.config(), name)
    if not yes:
        confirm_or_refuse(state, f"Remove profile {name!r} and the credentials it holds?")
    with state.edit_config() as config:
        _existing(config, name)  # a parallel command may have removed it meanwhile
        del config.profiles[name]
        was_default = config.default_profile == name
        if was_default:
            config.default_profile = None
    note = " It was the default: choose another with `engage profiles use`." if was_default else ""
    state.streams.stderr.write(f"Removed profile {name!r}.{note}\n")


@app.command("rename")
def rename(
    ctx: typer.Context,
    old: Annotated[
        str, typer.Argument(metavar="OLD", help="Profile name.", autocompletion=profile_names)
    ],
    new: Annotated[str, typer.Argument(metavar="NEW", help="Its new name.")],
) -> None:
    """Rename a profile; it stays the default if it was.

    Example: engage profiles rename default production
    """
    if not new.strip():
        raise UsageError("The new profile name cannot be empty.")
    state = state_of(ctx)
    with state.edit_config() as config:
        _existing(config, old)
        if new in config.profiles:
            raise UsageError(
                f"There is already a profile {new!r}.",
                hint=f"Remove it first (`engage profiles remove {new}`), or choose another name.",
            )
        # Rebuilt in the same order, so `profiles list` keeps its order.
        config.profiles = {new if key == old else key: v for key, v in config.profiles.items()}
        if config.default_profile == old:
            config.default_profile = new
    state.streams.stderr.write(f"Renamed profile {old!r} to {new!r}.\n")

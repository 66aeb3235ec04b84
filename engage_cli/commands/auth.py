"""`engage auth ...`: store, inspect and remove a profile's credentials."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from engage_cli.commands._common import OutputOpt, fmt, state_of
from engage_cli.config import PROFILE_KEYS, SECRET_KEYS, check_base_url, choose_profile, shown
from engage_cli.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from engage_cli.context import State

app = typer.Typer(no_args_is_help=True)  # its one-line summary: app.COMMANDS

ProfileOpt = Annotated[
    Optional[str], typer.Option("--profile", help="The profile to act on (else the current one).")
]


@app.command("login")
def login(
    ctx: typer.Context,
    profile: ProfileOpt = None,
    api_key: Annotated[
        Optional[str], typer.Option("--api-key", help="The API key (prompted on a terminal).")
    ] = None,
    secret_stdin: Annotated[
        bool,
        typer.Option("--secret-stdin", help="Read the API secret from the first line of stdin."),
    ] = False,
    key_only: Annotated[
        bool,
        typer.Option("--key-only", help="Store the key alone (create, events, updates only)."),
    ] = False,
    base_url: Annotated[
        Optional[str], typer.Option("--base-url", help="Store a base URL in the profile too.")
    ] = None,
) -> None:
    """Save an API key and secret in a profile of config.toml (mode 0600).

    Prompts for what it is not given, on a terminal only; the secret is never a flag.

    Example: printf '%s\\n' "$SECRET" | engage auth login --api-key "$KEY" --secret-stdin
    """
    state = state_of(ctx)
    if base_url is not None:
        check_base_url(base_url, "flag")  # before any prompt, and never saved
    streams = state.streams
    config = state.config()
    name = choose_profile(profile or state.profile, streams.environ, config).value
    assert name is not None
    key = api_key or state.api_key
    secret: str | None = None
    if key_only and secret_stdin:
        raise UsageError("--key-only and --secret-stdin contradict each other: choose one.")
    if not key and not streams.interactive:
        raise UsageError(
            "No API key given, and not on a terminal to ask for one.",
            hint="Pass --api-key KEY (and --secret-stdin for the secret).",
        )
    if secret_stdin:
        secret = _read_secret_stdin(streams)
    elif not key_only and not streams.interactive:
        raise UsageError(
            "No API secret given, and not on a terminal to ask for one.",
            hint="Pipe it in with --secret-stdin, or pass --key-only to store the key alone.",
        )
    if not key:
        key = typer.prompt("API key", err=True).strip()
    if secret is None and not key_only:
        secret = typer.prompt(
            "API secret (leave empty for key-only use)",
            default="",
            hide_input=True,
            show_default=False,
            err=True,
        ).strip()
    if not key:
        raise UsageError("The API key cannot be empty.")
    with state.edit_config() as config:
        table = config.profiles.setdefault(name, {})
        table["api_key"] = key
        if secret:
            table["api_secret"] = secret
        elif key_only:
            table.pop("api_secret", None)  # the key alone, as asked: no stale secret beside it
        if base_url is not None:
            table["base_url"] = base_url
        if not config.default_profile:
            config.default_profile = name
    note = "" if table.get("api_secret") else " (key only: get, list and delete need a secret)"
    streams.stderr.write(f"Saved credentials of profile {name!r} in {config.path}{note}.\n")


def _read_secret_stdin(streams: Any) -> str:
    if streams.stdin_isatty:  # typed by a person: hide it as the prompt would
        secret = str(typer.prompt("API secret", hide_input=True, err=True)).strip()
    else:
        secret = streams.stdin.readline().rstrip("\r\n")
    if not secret:
        raise UsageError("--secret-stdin: stdin held no secret (an empty first line).")
    return secret


@app.command("status")
def status(ctx: typer.Context, output: OutputOpt = None) -> None:
    """Show the effective settings, each with its source; secrets masked.

    Exits 3 when no API key is configured.

    Example: engage auth status -o json
    """
    state = state_of(ctx)
    out = state.choose_output(fmt(output))
    settings = state.settings()
    state.check_profile(settings)
    chosen = settings.profile
    rows = [{"setting": "profile", "value": chosen.value, "source": chosen.source}]
    for key in PROFILE_KEYS:
        setting = settings.values[key]
        rows.append({"setting": key, "value": shown(key, setting.value), "source": setting.source})
    rows.append({"setting": "config_file", "value": str(state.config_path), "source": "path"})
    out.items([rows])
    if not settings.api_key:
        raise ConfigError(
            "No API key is configured.",
            hint="Run `engage auth login`, or set ENGAGE_API_KEY and ENGAGE_API_SECRET.",
        )


def _chosen_profile(state: State, profile: str | None) -> str:
    """The profile a command acts on, which must exist when it was named (a typo is an
    error, as for every other command). `auth X --profile P` means `engage --profile P`."""
    if profile:
        state.profile = profile
    settings = state.settings()
    state.check_profile(settings)
    assert settings.profile.value is not None
    return settings.profile.value


@app.command("logout")
def logout(ctx: typer.Context, profile: ProfileOpt = None) -> None:
    """Remove the API key and secret from a profile (its other settings stay).

    Example: engage auth logout --profile ci
    """
    state = state_of(ctx)
    name = _chosen_profile(state, profile)
    table = state.config().profiles.get(name)
    if not table or not (SECRET_KEYS & table.keys()):
        state.streams.stderr.write(f"Profile {name!r} holds no credentials; nothing to do.\n")
        return
    with state.edit_config() as config:
        for key in SECRET_KEYS:
            config.profiles.get(name, {}).pop(key, None)
    state.streams.stderr.write(f"Removed the credentials of profile {name!r}.\n")

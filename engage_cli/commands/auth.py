"""`engage auth ...`: store, inspect and remove a profile's credentials."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from engage_cli.commands._common import OutputOpt, fmt, state_of
from engage_cli.config import PROFILE_KEYS, SECRET_KEYS, check_base_url, choose_profile, shown
from engage_cli.errors import ConfigError, CredentialsRefused, UsageError

if TYPE_CHECKING:
    from engage_cli.client import EngageClient
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
    verify: Annotated[
        bool,
        typer.Option(
            "--verify/--no-verify",
            help="Check the credentials with one call to the API before saving (default).",
        ),
    ] = True,
) -> None:
    """Check an API key and secret with the API, then save them in a profile (mode 0600).

    Prompts for what it is not given, on a terminal only; the secret is never a flag. The
    check is one read (GET /users?limit=1; with --key-only, GET /lists?limit=1): credentials
    the API refuses are not saved (exit 3). --no-verify saves without asking, for offline use.

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
    state.profile = name  # the base URL to check against: the one this profile would use
    target = base_url or state.settings().base_url
    if verify:
        _verify(state, target, key, secret or None)
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
    overriding = [
        env for env in ("ENGAGE_API_KEY", "ENGAGE_API_SECRET") if streams.environ.get(env)
    ]
    if base_url and streams.environ.get("ENGAGE_BASE_URL"):
        overriding.append("ENGAGE_BASE_URL")
    if overriding:
        streams.stderr.write(
            f"Warning: {' and '.join(overriding)} in the environment will override what was "
            f"saved; unset {'them' if len(overriding) > 1 else 'it'} to use profile {name!r}.\n"
        )


def _prove(client: EngageClient, with_secret: bool) -> None:
    """The one cheap call that proves credentials (endpoints.check_credentials); for a key
    alone, authentication runs before routing, so a 404 proves the key too."""
    from engage_cli import endpoints
    from engage_cli.errors import NotFoundError

    try:
        client.send(endpoints.check_credentials(with_secret=with_secret))
    except NotFoundError:
        if with_secret:
            raise


def _verify(state: State, base_url: str, key: str, secret: str | None) -> None:
    """`auth login`: the call with the new credentials; refused ones are an error, unsaved."""
    from engage_cli.errors import EngageError, NotFoundError

    with state.client(credentials=(base_url, key, secret)) as client:
        try:
            _prove(client, with_secret=secret is not None)
        except NotFoundError:  # GET /users is everywhere: the base URL is wrong
            raise NotFoundError(
                f"{base_url} does not serve GET /users: is it the API's base URL (…/v1)? "
                "Nothing was saved.",
                hint="Fix --base-url, or pass --no-verify to save without the check.",
            ) from None
        except ConfigError as exc:
            raise CredentialsRefused(
                f"The API refused these credentials ({exc.message}); nothing was saved.",
                hint="Check the key and secret in Engage's settings, or the base URL.",
                status=exc.status,
            ) from None
        except EngageError as exc:
            exc.add_sentence("Nothing was saved.")
            exc.hint = "Pass --no-verify to save without the check (offline use)."
            raise


def _read_secret_stdin(streams: Any) -> str:
    if streams.stdin_isatty:  # typed by a person: hide it as the prompt would
        secret = str(typer.prompt("API secret", hide_input=True, err=True)).strip()
    else:
        secret = streams.stdin.readline().rstrip("\r\n")
    if not secret:
        raise UsageError("--secret-stdin: stdin held no secret (an empty first line).")
    return secret


@app.command("status")
def status(
    ctx: typer.Context,
    check: Annotated[
        bool,
        typer.Option("--check", help="Also check the credentials with one call to the API."),
    ] = False,
    output: OutputOpt = None,
) -> None:
    """Show the effective settings, each with its source; secrets masked.

    With --sandbox, what the sandbox uses. Exits 3 when no API key is configured, or with
    --check when the API refuses the credentials.

    Example: engage auth status --check
    """
    state = state_of(ctx)
    out = state.choose_output(fmt(output))
    settings = state.settings()
    state.check_profile(settings)
    chosen = settings.profile
    unused = " (not used: --sandbox)" if state.sandbox else ""
    rows = [{"setting": "profile", "value": chosen.value, "source": chosen.source + unused}]
    sandboxed: dict[str, tuple[str | None, str]] = _sandbox_values() if state.sandbox else {}
    for key in PROFILE_KEYS:
        setting = settings.values[key]
        value, source = sandboxed.get(key, (setting.value, setting.source))
        rows.append({"setting": key, "value": shown(key, value), "source": source})
    if state.sandbox:
        rows.append({"setting": "sandbox_db", **_sandbox_store(state.streams.environ)})
    rows.append({"setting": "config_file", "value": str(state.config_path), "source": "path"})
    out.items([rows])
    if not settings.api_key and not state.sandbox:
        raise ConfigError(
            "No API key is configured.",
            hint="Run `engage auth login`, or set ENGAGE_API_KEY and ENGAGE_API_SECRET.",
        )
    if check:  # the call `auth login` makes, with the effective settings
        with state.client() as client:
            _prove(client, with_secret=state.sandbox or settings.api_secret is not None)
        state.streams.stderr.write(f"Credentials accepted by {client.base_url}.\n")


def _sandbox_values() -> dict[str, tuple[str | None, str]]:
    from engage_cli.context import SANDBOX_BASE_URL
    from engage_cli.sandbox.api import DEFAULT_KEY, DEFAULT_SECRET

    return {
        "api_key": (DEFAULT_KEY, "--sandbox"),
        "api_secret": (DEFAULT_SECRET, "--sandbox"),
        "base_url": (SANDBOX_BASE_URL, "--sandbox (in-process, no network)"),
    }


def _sandbox_store(environ: Any) -> dict[str, str]:
    from engage_cli.sandbox.api import default_db_path

    source = "env ENGAGE_SANDBOX_DB" if environ.get("ENGAGE_SANDBOX_DB") else "default"
    return {"value": str(default_db_path()), "source": source}


@app.command("logout")
def logout(ctx: typer.Context, profile: ProfileOpt = None) -> None:
    """Remove the API key and secret from a profile (its other settings stay).

    Example: engage auth logout --profile ci
    """
    state = state_of(ctx)
    name = state.chosen_profile(profile)
    table = state.config().profiles.get(name)
    if not table or not (SECRET_KEYS & table.keys()):
        state.streams.stderr.write(f"Profile {name!r} holds no credentials; nothing to do.\n")
        return
    with state.edit_config() as config:
        for key in SECRET_KEYS:
            config.profiles.get(name, {}).pop(key, None)
    state.streams.stderr.write(f"Removed the credentials of profile {name!r}.\n")

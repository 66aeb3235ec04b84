"""The root `engage` command: global options, the command groups, and the one error
boundary that turns every failure into a sentence and an exit code."""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any, Optional

import typer
from typer.core import TyperGroup

from engage_cli import __version__
from engage_cli.commands import auth, events, profiles, sandbox, users
from engage_cli.context import State
from engage_cli.errors import EngageError, ExitCode


class EngageGroup(TyperGroup):
    """Runs a command and maps what escapes it: EngageError to its exit code, anything
    unexpected to one line and exit 1 (with the traceback only under --debug)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.TyperException, typer.Exit, typer.Abort):
            raise  # usage errors, exits and aborts: Typer reports those itself
        except EngageError as err:
            _state(ctx).error_output().error(err)
            raise typer.Exit(int(err.exit_code)) from None
        except BrokenPipeError:
            # The reader went away (`engage users list --all | head -1`): that is its choice,
            # not our failure. Stop quietly, and keep the interpreter's final flush quiet too.
            _silence_stdout()
            raise typer.Exit(int(ExitCode.OK)) from None
        except Exception as exc:
            state = _state(ctx)
            if state.debug:
                state.streams.stderr.write(traceback.format_exc())
            unexpected = EngageError(
                f"Unexpected failure: {type(exc).__name__}: {exc}",
                hint="Run again with --debug for the traceback, and please report it.",
            )
            state.error_output().error(unexpected)
            raise typer.Exit(int(ExitCode.FAILURE)) from None


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # not a real file descriptor (tests): nothing will flush to a closed pipe


def _state(ctx: Any) -> State:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, State) else State()


app = typer.Typer(
    cls=EngageGroup,
    name="engage",
    help="Manage Engage (engage.so) users and events from the command line.\n\n"
    "Try it with no account on the local sandbox: engage --sandbox users list",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(users.app, name="users")
app.add_typer(events.app, name="events")
app.add_typer(auth.app, name="auth")
app.add_typer(profiles.app, name="profiles")
app.add_typer(sandbox.app, name="sandbox")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"engage {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    profile: Optional[str] = typer.Option(
        None, "--profile", help="Config profile to use (else ENGAGE_PROFILE, else the default)."
    ),
    base_url: Optional[str] = typer.Option(
        None, "--base-url", help="API base URL (else ENGAGE_BASE_URL, the profile, or Engage's)."
    ),
    api_key: Optional[str] = typer.Option(
        None, "--api-key", help="API key (the secret is never a flag: use ENGAGE_API_SECRET)."
    ),
    sandbox: bool = typer.Option(
        False, "--sandbox", help="Run against the local in-process sandbox: no account needed."
    ),
    timeout: Optional[float] = typer.Option(
        None, "--timeout", min=0.1, help="Seconds to wait for each HTTP request (default 30)."
    ),
    retries: Optional[int] = typer.Option(
        None, "--retries", min=0, max=10, help="Retries of a failed request (default 3)."
    ),
    debug: bool = typer.Option(
        False, "--debug", help="Log HTTP exchanges and retries to stderr (credentials masked)."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    state = ctx.obj if isinstance(ctx.obj, State) else State()
    state.profile = profile
    state.base_url = base_url
    state.api_key = api_key
    state.sandbox = sandbox
    state.timeout = timeout
    state.retries = retries
    state.debug = debug or state.streams.environ.get("ENGAGE_DEBUG", "") not in ("", "0")
    ctx.obj = state


def main() -> None:
    app(prog_name="engage")

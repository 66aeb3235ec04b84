"""The root `engage` command: global options, the command groups, and the one error
boundary that turns every failure into a sentence and an exit code.

Start-up is part of the interface (Tab runs `engage` on every keypress): a command group's
module is imported only when that group runs, is completed or is listed by --help, and the
command modules leave httpx, pydantic, rich and the sandbox to the functions that use them.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, Optional

import typer
from typer.core import TyperGroup

from engage_cli import __version__
from engage_cli.errors import EngageError, ExitCode, UsageError

if TYPE_CHECKING:
    from engage_cli.context import State

# Typer's completion protocol: the shell scripts run `_ENGAGE_COMPLETE=complete_bash engage`.
COMPLETE_VAR = "_ENGAGE_COMPLETE"

# The commands under `engage`, in --help order, by the module whose `app` holds them: a
# group of subcommands (with its one-line summary, so that listing or completing the
# groups imports none of them), or a Typer app with a single command.
GROUPS = {
    "users": ("engage_cli.commands.users", "Create, read, update, list and delete users."),
    "events": ("engage_cli.commands.events", "Record user events, one or many."),
    "auth": ("engage_cli.commands.auth", "Log in, check and log out: a profile's credentials."),
    "profiles": ("engage_cli.commands.profiles", "List, show and choose config profiles."),
    "sandbox": (
        "engage_cli.commands.sandbox",
        "The local Engage-compatible server: try, rehearse and test with no account.",
    ),
}
COMMAND_MODULES = {
    "api": "engage_cli.commands.api",
    "completion": "engage_cli.commands.completion",
}


class LazyCommands(MutableMapping[str, Any]):
    """Commands by name; a builder stands in for a command until it is first used. The
    names themselves may come from a function, called when they are first needed."""

    def __init__(self, entries: dict[str, Any] | Callable[[], dict[str, Any]]) -> None:
        self._source = entries

    @functools.cached_property
    def _entries(self) -> dict[str, Any]:
        return self._source() if callable(self._source) else self._source

    def __getitem__(self, name: str) -> Any:
        entry = self._entries[name]
        if isinstance(entry, functools.partial):
            entry = self._entries[name] = entry()
        return entry

    def __setitem__(self, name: str, command: Any) -> None:
        self._entries[name] = command

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def _load_command(name: str, module_path: str) -> Any:
    sub_app: typer.Typer = importlib.import_module(module_path).app
    sub_app.rich_markup_mode = app.rich_markup_mode  # one plain help style everywhere
    command = typer.main.get_command(sub_app)
    command.name = name
    return command


def _lazy_group(name: str, module_path: str, summary: str) -> TyperGroup:
    """The group `app.add_typer(sub_app)` would build, except that its module is imported
    when a subcommand is first asked for, and each subcommand is built when first used:
    Tab on `engage us` imports nothing, `engage users get` builds one command, not six
    (Typer inspects every signature it builds)."""
    group = TyperGroup(
        name=name, help=summary, no_args_is_help=True, rich_markup_mode=app.rich_markup_mode
    )
    group.commands = LazyCommands(functools.partial(_subcommands, module_path))
    return group


def _subcommands(module_path: str) -> dict[str, Any]:
    sub_app: typer.Typer = importlib.import_module(module_path).app
    return {
        info.name: functools.partial(_build_subcommand, info)
        for info in sub_app.registered_commands
        if info.name
    }


def _build_subcommand(info: Any) -> Any:
    single = typer.Typer(rich_markup_mode=app.rich_markup_mode, add_completion=False)
    single.registered_commands.append(info)
    command = typer.main.get_command(single)
    command.name = info.name
    return command


class EngageGroup(TyperGroup):
    """Runs a command and maps what escapes it: EngageError to its exit code, anything
    unexpected to one line and exit 1 (with the traceback only under --debug)."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = LazyCommands(
            {
                **{
                    name: functools.partial(_lazy_group, name, path, summary)
                    for name, (path, summary) in GROUPS.items()
                },
                **{
                    name: functools.partial(_load_command, name, path)
                    for name, path in COMMAND_MODULES.items()
                },
                **self.commands,
            }
        )

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Typer's own main, except that a usage error is one JSON object on stderr when the
        output is JSON, like every other error (scripts parse one shape)."""
        if not standalone_mode:
            return super().main(
                args, prog_name, complete_var, standalone_mode, windows_expand_args, **extra
            )
        argv = list(sys.argv[1:] if args is None else args)
        try:
            code = super().main(argv, prog_name, complete_var, False, windows_expand_args, **extra)
        except typer.Abort:
            sys.stderr.write("Aborted!\n")
            sys.exit(int(ExitCode.FAILURE))
        except typer.TyperException as exc:  # Click's usage errors
            if _json_requested(argv):
                import json  # only here: Tab and --help never pay for it

                error = UsageError(exc.format_message())
                sys.stderr.write(json.dumps(error.to_dict(), ensure_ascii=False) + "\n")
            else:
                exc.show()  # type: ignore[attr-defined]
            sys.exit(getattr(exc, "exit_code", int(ExitCode.USAGE)))
        sys.exit(code if isinstance(code, int) else 0)

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # the names alone: listing loads no module

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
                import traceback

                state.streams.stderr.write(traceback.format_exc())
            unexpected = EngageError(
                f"Unexpected failure: {type(exc).__name__}: {exc}",
                hint="Run again with --debug for the traceback, and please report it.",
            )
            state.error_output().error(unexpected)
            raise typer.Exit(int(ExitCode.FAILURE)) from None


def _json_requested(argv: list[str]) -> bool:
    """Whether the output would be JSON, read from the raw arguments (parsing failed)."""
    chosen = os.environ.get("ENGAGE_OUTPUT")
    for index, arg in enumerate(argv):
        if arg in ("-o", "--output") and index + 1 < len(argv):
            chosen = argv[index + 1]
        elif arg.startswith("--output="):
            chosen = arg.split("=", 1)[1]
        elif arg.startswith("-o") and len(arg) > 2:
            chosen = arg[2:]
    return chosen in ("json", "ndjson")


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # not a real file descriptor (tests): nothing will flush to a closed pipe


def _state(ctx: Any) -> State:
    from engage_cli.context import State

    obj = ctx.find_root().obj
    return obj if isinstance(obj, State) else State()


app = typer.Typer(
    cls=EngageGroup,
    name="engage",
    help="Manage Engage (engage.so) users and events from the command line.\n\n"
    "Try it with no account on the local sandbox: engage --sandbox users list",
    no_args_is_help=True,
    # Typer's public completion support: `--install-completion`, `--show-completion` and the
    # `_ENGAGE_COMPLETE` protocol that the scripts of `engage completion` call on Tab.
    add_completion=True,
    # Plain help: Rich's help would import rich.table on every --help.
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _complete_profile(ctx: typer.Context, incomplete: str) -> list[str]:
    from engage_cli.commands.profiles import complete_profile

    return complete_profile(ctx, incomplete)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"engage {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    profile: Optional[str] = typer.Option(
        None,
        "--profile",
        help="Config profile to use (else ENGAGE_PROFILE, else the default).",
        autocompletion=_complete_profile,
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
    from engage_cli.context import State

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

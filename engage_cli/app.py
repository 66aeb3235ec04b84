"""The root `engage` command: global options, the command groups, and the one error
boundary that turns every failure into a sentence and an exit code.

Start-up is part of the interface (Tab runs `engage` on every keypress): a command group's
module is imported only when that group runs, is completed or is listed by --help, and the
command modules leave httpx, pydantic, rich and the sandbox to the functions that use them.
"""

from __future__ import annotations

import copy
import importlib
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Optional

import typer
from typer.core import TyperCommand, TyperGroup, TyperOption

from engage_cli import __version__
from engage_cli.errors import EngageError, ExitCode, UsageError

if TYPE_CHECKING:
    from engage_cli.context import State

# Typer's completion protocol: the shell scripts run `_ENGAGE_COMPLETE=complete_bash engage`.
COMPLETE_VAR = "_ENGAGE_COMPLETE"

# The commands under `engage`, in --help order: {name: (module, summary)}. The module's `app`
# holds the command. A group's summary is its one-line help, so that `engage --help` and Tab
# import no command module; None marks a module holding a single command (its docstring is
# its help).
COMMANDS: dict[str, tuple[str, Optional[str]]] = {
    "users": (
        "engage_cli.commands.users",
        "Users and accounts: create, read, update, list, merge, archive; memberships.",
    ),
    "events": ("engage_cli.commands.events", "Record user events, one or many."),
    "lists": ("engage_cli.commands.lists", "Lists and their subscribers."),
    "auth": ("engage_cli.commands.auth", "Log in, check and log out: a profile's credentials."),
    "profiles": (
        "engage_cli.commands.profiles",
        "List, show, choose, rename and remove profiles.",
    ),
    "config": (
        "engage_cli.commands.config",
        "Read and change a profile's settings: output, timeout, retries, base_url.",
    ),
    "sandbox": (
        "engage_cli.commands.sandbox",
        "The local Engage-compatible server: try, rehearse and test with no account.",
    ),
    "api": ("engage_cli.commands.api", None),
    "completion": ("engage_cli.commands.completion", None),
}


class LazyGroup(TyperGroup):
    """The lazy group Click documents: `list_commands`/`get_command` over a table, so a
    command's module is imported, and its command built, only when it is asked for.

    `lazy` maps a name to a module path and a summary (the root's table), or is None for a
    group whose commands are those of `module`'s Typer app, each built when first used:
    `engage users get` builds one command, not six (Typer inspects every signature it builds).
    """

    def __init__(
        self,
        *,
        lazy: dict[str, tuple[str, Optional[str]]] | None = None,
        module: str | None = None,
        **attrs: Any,
    ) -> None:
        super().__init__(**attrs)
        self.lazy = lazy
        self.module = module
        self._built: dict[str, Any] = {}

    def list_commands(self, ctx: Any) -> list[str]:
        if self.lazy is not None:
            return list(self.lazy)  # the names alone: listing loads no module
        sub_app = _typer_app(self.module)
        infos: list[Any] = [*sub_app.registered_commands, *sub_app.registered_groups]
        return [info.name for info in infos if info.name]

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """Typer's, with its "Did you mean ...?" drawn from this group's own table (Typer
        looks in `self.commands`, which a lazy group leaves empty): `engage users lsit`."""
        try:
            return super().resolve_command(ctx, args)
        except typer.TyperException as exc:
            message = getattr(exc, "message", "")
            if args and message.startswith("No such command") and "Did you mean" not in message:
                from difflib import get_close_matches

                matches = get_close_matches(args[0], self.list_commands(ctx))
                if matches:
                    suggestions = ", ".join(repr(match) for match in matches)
                    exc.message = f"{message.rstrip('.')}. Did you mean {suggestions}?"
            raise

    def get_command(self, ctx: Any, name: str) -> Any:
        if name not in self._built:
            if name not in self.list_commands(ctx):
                return None
            self._built[name] = self._build(name)
        return self._built[name]

    def _build(self, name: str) -> Any:
        if self.lazy is not None:
            module, summary = self.lazy[name]
            if summary is not None:
                return _group(name, module, summary)
            sub_app = _typer_app(module)
            return _command(sub_app.registered_commands[0], name)
        sub_app = _typer_app(self.module)
        infos: list[Any] = [*sub_app.registered_commands, *sub_app.registered_groups]
        for info in infos:
            if info.name == name:
                return _command(info, name)
        return None


def _typer_app(module: str | None) -> typer.Typer:
    sub_app: typer.Typer = importlib.import_module(str(module)).app
    return sub_app


def _group(name: str, module: str, summary: str) -> LazyGroup:
    """The group `app.add_typer(sub_app)` would build, its module imported on first use."""
    return LazyGroup(
        name=name,
        module=module,
        help=summary,
        no_args_is_help=True,
        rich_markup_mode=app.rich_markup_mode,
    )


def _command(info: Any, name: str) -> Any:
    """One command (or nested group) of a sub-app, built alone through Typer's public API."""
    single = typer.Typer(rich_markup_mode=app.rich_markup_mode, add_completion=False)
    if isinstance(info, typer.models.TyperInfo):
        single.registered_groups.append(_with_global_options(info))
    else:
        single.registered_commands.append(_with_global_options(info))
    return typer.main.get_group(single).commands[name]


def _with_global_options(info: Any) -> Any:
    """A copy of a command's (or a nested group's commands') registration, built as an
    EngageCommand: the class that accepts the root's options after the command too."""
    info = copy.copy(info)
    if isinstance(info, typer.models.TyperInfo):
        sub_app = info.typer_instance = copy.copy(info.typer_instance)
        assert sub_app is not None
        sub_app.registered_commands = [_with_global_options(i) for i in sub_app.registered_commands]
        sub_app.registered_groups = [_with_global_options(i) for i in sub_app.registered_groups]
    elif info.cls is None or info.cls is TyperCommand:
        info.cls = EngageCommand
    return info


# The root's options a command also accepts after its name (`engage users list --sandbox`).
GLOBAL_OPTIONS = ("profile", "base_url", "api_key", "sandbox", "timeout", "retries", "debug")
QUERY_HELP = "Reshape the JSON result with a JMESPath expression, then print it as -o says."
CSV_HELP = (
    "With -o csv, prefix a ' to cells starting with = + - @ so that spreadsheets show them "
    "as text, not formulas (changes those values: not for re-import)."
)


def _choices(params: list[Any], name: str) -> list[str]:
    for param in params:
        if param.name == name:
            return list(getattr(param.type, "choices", None) or [])
    return []


class EngageCommand(TyperCommand):
    """A command that also takes the global options after its name (hidden from its
    --help: `engage --help` documents them) and, when it prints data (it has -o), --query.
    A command's own option of the same name wins: `auth login --profile` names the
    profile to write."""

    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)
        own = [param for param in params if param.name != "help"]
        helps = [param for param in params if param.name == "help"]
        return own + self._extra_params(ctx, own) + helps

    def _extra_params(self, ctx: Any, own: list[Any]) -> list[Any]:
        root = ctx.find_root().command
        if root is self or not isinstance(root, EngageGroup):
            return []  # run on its own (a test of one sub-app): no root to borrow from
        taken = {opt for param in own for opt in param.opts} | {param.name for param in own}
        extra = []
        for param in root.params:
            if param.name in GLOBAL_OPTIONS and not taken & {param.name, *param.opts}:
                hidden: Any = copy.copy(param)
                hidden.hidden = True
                extra.append(hidden)
        if "output" in taken and not taken & {"--query", "query"}:
            extra.append(
                TyperOption(param_decls=["--query", "query"], metavar="EXPR", help=QUERY_HELP)
            )
        if "csv" in _choices(own, "output") and not taken & {"--csv-safe", "csv_safe"}:
            extra.append(
                TyperOption(param_decls=["--csv-safe", "csv_safe"], is_flag=True, help=CSV_HELP)
            )
        return extra

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        # `engage -o json users list` means `engage users list -o json`: the root's -o is
        # handed to the command's own, which checks it (and one given after still wins).
        root = ctx.find_root()
        output = root.params.get("output") if root is not ctx else None
        if output is not None and not ctx.resilient_parsing:
            if not any(param.name == "output" for param in super().get_params(ctx)):
                raise UsageError(
                    f"`{ctx.command_path}` prints no data: it takes no -o/--output.",
                    hint="Leave -o out for this command.",
                )
            args = ["--output", output, *args]
        return super().parse_args(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        own = [param for param in super().get_params(ctx) if param.name != "help"]
        given = {param.name: ctx.params.pop(param.name) for param in self._extra_params(ctx, own)}
        state = _state(ctx)
        _apply_global_options(
            state, {name: value for name, value in given.items() if value not in (None, False)}
        )
        # An error raised before the command chose its output still follows its -o.
        output = ctx.params.get("output")
        state.output_flag = getattr(output, "value", output)
        if given.get("query") is not None:
            state.set_query(given["query"])
        state.csv_safe = bool(given.get("csv_safe"))
        return super().invoke(ctx)


class EngageGroup(LazyGroup):
    """Runs a command and maps what escapes it: EngageError to its exit code, anything
    unexpected to one line and exit 1 (with the traceback only under --debug)."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(lazy=COMMANDS, **attrs)

    def get_params(self, ctx: Any) -> list[Any]:
        # Typer's --install-completion/--show-completion would install a second script in
        # another place than `engage completion SHELL` documents: one way is enough.
        params: list[Any] = super().get_params(ctx)
        return [p for p in params if p.name not in ("install_completion", "show_completion")]

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
            _check_arguments(argv)
            code = super().main(argv, prog_name, complete_var, False, windows_expand_args, **extra)
        except typer.Abort:  # Ctrl-C or end of input at a prompt: the user's choice, no bug
            sys.stderr.write("Aborted.\n")
            sys.exit(int(ExitCode.INTERRUPTED))
        except typer.TyperException as exc:  # Click's usage errors
            if _is_bare_group(exc):
                exc.show()  # type: ignore[attr-defined]
                sys.exit(int(ExitCode.USAGE))
            state = _state_object(extra.get("obj"))
            out = state.error_output(_output_flag(argv))
            if out.json_errors:
                out.error(UsageError(exc.format_message()))
            else:
                exc.show()  # type: ignore[attr-defined]
            sys.exit(getattr(exc, "exit_code", int(ExitCode.USAGE)))
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.TyperException, typer.Exit, typer.Abort):
            raise  # usage errors, exits and aborts: Typer reports those itself
        except EngageError as err:
            from engage_cli.hints import add_hint

            state = _state(ctx)
            state.error_output().error(add_hint(err, state))
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


def _is_bare_group(exc: Exception) -> bool:
    """`engage` or `engage users` with no command: the group's help, which is text for a
    person, shown as it is on stderr (exit 2, a usage error), whatever -o says: never
    escaped inside a JSON error. stdout stays for data."""
    ctx = getattr(exc, "ctx", None)
    return ctx is not None and getattr(exc, "message", None) == ctx.get_help()


def _check_arguments(argv: list[str]) -> None:
    """Arguments that are not valid text (bytes that are not UTF-8) are a usage error
    before any command sees them: no request, file or terminal could carry them."""
    for position, arg in enumerate(argv, 1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            from engage_cli.inputs import describe_invalid_argument

            raise typer.BadParameter(describe_invalid_argument(position, arg)) from None


def _output_flag(argv: list[str]) -> str | None:
    """The -o/--output value in raw arguments: what a usage error (parsing failed) has."""
    chosen = None
    for index, arg in enumerate(argv):
        if arg in ("-o", "--output") and index + 1 < len(argv):
            chosen = argv[index + 1]
        elif arg.startswith("--output="):
            chosen = arg.split("=", 1)[1]
        elif arg.startswith("-o") and len(arg) > 2:
            chosen = arg[2:]
    return chosen


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # not a real file descriptor (tests): nothing will flush to a closed pipe


def _state(ctx: Any) -> State:
    root = ctx.find_root()
    root.obj = _state_object(root.obj)
    return root.obj  # type: ignore[no-any-return]


def _state_object(obj: Any) -> State:
    from engage_cli.context import State

    return obj if isinstance(obj, State) else State()


def _apply_global_options(state: State, given: dict[str, Any]) -> None:
    for name, value in given.items():
        setattr(state, name, value)


app = typer.Typer(
    cls=EngageGroup,
    name="engage",
    help="Manage Engage (engage.so) users and events from the command line.\n\n"
    "Try it with no account on the local sandbox: engage --sandbox users list\n\n"
    "The options below also work after the command: engage users list --sandbox\n\n"
    "With no command, this help goes to stderr and the exit code is 2 (a usage error).",
    no_args_is_help=True,
    # Typer's completion support: the `_ENGAGE_COMPLETE` protocol that the scripts of
    # `engage completion` call on Tab (its two --*-completion options: see EngageGroup).
    add_completion=True,
    # Plain help: Rich's help would import rich.table on every --help.
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _complete_profile(ctx: typer.Context, incomplete: str) -> list[str]:
    from engage_cli.commands.profiles import complete_profile

    return complete_profile(ctx, incomplete)


def _seconds(value: float | None) -> float | None:
    # Click's ranges compare, and every comparison with nan is false: nan passes them.
    if value is not None and value != value:
        raise typer.BadParameter("nan is not a number of seconds.")
    return value


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
        None,
        "--timeout",
        min=0.1,
        max=3600,
        callback=_seconds,
        help="Seconds to wait for each HTTP request (default 30).",
    ),
    retries: Optional[int] = typer.Option(
        None, "--retries", min=0, max=10, help="Retries of a failed request (default 3)."
    ),
    debug: bool = typer.Option(
        False, "--debug", help="Log HTTP exchanges and retries to stderr (credentials masked)."
    ),
    output: Optional[str] = typer.Option(
        None,
        "--output",
        "-o",
        metavar="FORMAT",
        help="table, json, ndjson or csv: the command's -o, which may come before it too.",
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    state = _state(ctx)
    given = {
        "profile": profile,
        "base_url": base_url,
        "api_key": api_key,
        "sandbox": sandbox,
        "timeout": timeout,
        "retries": retries,
    }
    _apply_global_options(state, given)
    state.debug = debug or state.streams.environ.get("ENGAGE_DEBUG", "") not in ("", "0")


def main() -> None:
    app(prog_name="engage")

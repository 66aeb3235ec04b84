"""Options shared by several commands, and the way a command reaches the invocation state."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

if TYPE_CHECKING:  # imported when a command runs: --help and Tab never need it
    from engage_cli.context import State


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    ndjson = "ndjson"
    csv = "csv"


OutputOpt = Annotated[
    Optional[OutputFormat],
    typer.Option(
        "--output",
        "-o",
        help="table, json, ndjson or csv (default: a table on a terminal, JSON in a pipe).",
        show_default=False,
    ),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Print the request that would be sent; send nothing.")
]
DataOpt = Annotated[
    Optional[str],
    typer.Option(
        "--data",
        "-d",
        metavar="JSON|@FILE|-",
        help="The request body as the API documents it: inline JSON, @file, or - for stdin. "
        "Flags given beside it override its fields.",
    ),
]
MetaOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--meta",
        "-m",
        metavar="K=V|K:=JSON",
        help="A meta attribute: K=V is a string, K:=JSON a literal (age:=34, vip:=true).",
    ),
]
FirstNameOpt = Annotated[Optional[str], typer.Option("--first-name", help="First name.")]
LastNameOpt = Annotated[Optional[str], typer.Option("--last-name", help="Last name.")]
EmailOpt = Annotated[Optional[str], typer.Option("--email", help="Email address.")]
NumberOpt = Annotated[
    Optional[str],
    typer.Option(
        "--number",
        help="Phone number in international format: digits, e.g. 2348012345678 (an E.164 "
        "+2348012345678 is sent without its +, the form Engage documents).",
    ),
]
CreatedAtOpt = Annotated[
    Optional[str],
    typer.Option("--created-at", metavar="DATE", help="Sign-up date, ISO 8601."),
]
UidArg = Annotated[str, typer.Argument(metavar="UID", help="The user's id in your application.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
LimitOpt = Annotated[
    Optional[int], typer.Option("--limit", "-n", help="Items per page, 1 to 30 (API: 10).")
]
AllOpt = Annotated[bool, typer.Option("--all", help="Follow every page.")]
MaxOpt = Annotated[
    Optional[int], typer.Option("--max", help="Stop after this many items (implies --all).")
]
NextCursorOpt = Annotated[
    Optional[str],
    typer.Option("--next-cursor", metavar="C", help="The page after this cursor (a page's hint)."),
]
PreviousCursorOpt = Annotated[
    Optional[str],
    typer.Option("--previous-cursor", metavar="C", help="The page before this cursor."),
]


def state_of(ctx: typer.Context) -> State:
    from engage_cli.context import State

    obj = ctx.find_root().obj
    if not isinstance(obj, State):  # a sub-app invoked on its own (tests)
        obj = State()
        ctx.find_root().obj = obj
    return obj


def fmt(value: OutputFormat | None) -> str | None:
    return value.value if value is not None else None


def send_or_show(state: State, out: Any, request: Any, dry_run: bool) -> Any:
    """The write path of every command: --dry-run shows the request, else it is sent."""
    with state.client() as client:
        if dry_run:
            out.dry_run(client.describe(request))
            return None
        return client.send(request)


def confirm_or_refuse(state: State, question: str, action: str = "delete") -> None:
    """Ask on a terminal; refuse (exit 2) when nobody can answer: never a hang in CI. An
    answer of no is the same refusal, exit 2 (1 would say "a bug"; Ctrl-C is 130)."""
    from engage_cli.errors import UsageError

    if not state.streams.interactive:
        raise UsageError(
            f"Refusing to {action} without confirmation: not on a terminal.",
            hint="Pass --yes to confirm in scripts.",
        )
    if not typer.confirm(question, default=False, err=True):
        raise UsageError("Not confirmed: nothing was changed.")


def check_paging(limit: int | None, max_items: int | None, cursors: dict[str, str | None]) -> None:
    """Paging options as the API takes them: a limit of 1..30 and one cursor at a time."""
    from engage_cli.errors import UsageError

    if limit is not None and not 1 <= limit <= 30:
        raise UsageError(f"--limit must be between 1 and 30, got {limit}.")
    if max_items is not None and max_items < 1:
        raise UsageError(f"--max must be at least 1, got {max_items}.")
    given = [name for name, value in cursors.items() if value is not None]
    if len(given) > 1:
        raise UsageError(
            f"{' and '.join(given)} cannot be used together: give one cursor at a time."
        )


def cursor_of(cursors: dict[str, str | None]) -> tuple[str, str] | None:
    """(query parameter, value) of the one cursor given: `--next-cursor` is `next_cursor`."""
    for option, value in cursors.items():
        if value is not None:
            return option.removeprefix("--").replace("-", "_"), value
    return None


def show_pages(
    state: State,
    out: Any,
    request: Any,
    *,
    rows: Any,
    noun: str,
    all_pages: bool,
    max_items: int | None = None,
    backward: bool = False,
    next_command: list[str] | None = None,
    takes_cursors: bool = True,
) -> None:
    """One page, or with --all/--max every page as it arrives. After one page, say how to
    get the next: `next_command` (its words, unquoted) with the cursor the server gave, or
    with --all when the command `takes_cursors` not. On a terminal that is a line for a
    person; in a pipe, one JSON object on stderr for a script: {"next_page": {...}}."""
    import shlex

    from engage_cli.pagination import following_page, next_cursor, take

    with state.client() as client:
        if all_pages or max_items is not None:
            out.items(take(client.paginate(request, backward=backward), max_items), rows)
            return
        page = client.send(request)
        out.items([page.get("data", []) if isinstance(page, dict) else []], rows)
    if next_command is None:
        return
    words = ["engage", *(["--sandbox"] if state.sandbox else []), *next_command]
    following: dict[str, str] | None = None
    if takes_cursors:
        found = following_page(page, backward)
        if found is not None:
            option, cursor = found
            command = f"{shlex.join(words)} {option} {shlex.quote(cursor)}"
            following = {"cursor": cursor, "option": option, "command": command}
    elif isinstance(page, dict) and next_cursor(page, backward):
        following = {"command": f"{shlex.join(words)} --all"}
    if following is None:
        return
    if state.streams.stdout_isatty:
        more = "  (or --all for every page)" if takes_cursors else ""
        out.info(f"More {noun}: {following['command']}{more}")
    else:
        out.note("next_page", following)

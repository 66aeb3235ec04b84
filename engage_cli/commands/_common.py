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
    typer.Option("--number", help="Phone number in international format, digits only."),
]
CreatedAtOpt = Annotated[
    Optional[str],
    typer.Option("--created-at", metavar="DATE", help="Sign-up date, ISO 8601."),
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


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


def confirm_or_refuse(state: State, question: str) -> None:
    """Ask on a terminal; refuse (exit 2) when nobody can answer: never a hang in CI."""
    from engage_cli.errors import UsageError

    if not state.streams.interactive:
        raise UsageError(
            "Refusing to delete without confirmation: not on a terminal.",
            hint="Pass --yes to confirm in scripts.",
        )
    if not typer.confirm(question, default=False, err=True):
        raise typer.Exit(1)

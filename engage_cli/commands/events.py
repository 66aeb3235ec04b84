"""`engage events ...`: record user events."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from engage_cli.commands import bulk
from engage_cli.commands._common import DataOpt, DryRunOpt, OutputOpt, fmt, send_or_show, state_of

app = typer.Typer(no_args_is_help=True)  # its one-line summary: app.COMMANDS


@app.command("add")
def add(
    ctx: typer.Context,
    uid: Annotated[str, typer.Argument(metavar="UID", help="The user the event belongs to.")],
    event: Annotated[
        Optional[str], typer.Argument(metavar="[EVENT]", help="The event title, e.g. 'Paid'.")
    ] = None,
    value: Annotated[
        Optional[str],
        typer.Option(
            "--value",
            help="The event value: a JSON scalar when it reads as one (49.99, true), else "
            "text; JSON quotes force text ('\"49.99\"').",
        ),
    ] = None,
    properties: Annotated[
        Optional[list[str]],
        typer.Option(
            "--property",
            "-p",
            metavar="K=V|K:=JSON",
            help="An event property: K=V is a string, K:=JSON a literal (amount:=12.99).",
        ),
    ] = None,
    timestamp: Annotated[
        Optional[str],
        typer.Option("--timestamp", metavar="TS", help="When it happened, ISO 8601 (default now)."),
    ] = None,
    data: DataOpt = None,
    output: OutputOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Add an event to a user (POST /users/UID/events).

    A UID that does not exist yet is created by the API (as Engage's SDKs track anonymous
    ids before they identify them); its answer is the same either way, so check the uid
    first (`engage users get UID`) where a typo would matter.

    Example: engage events add u144 "Add to cart" --timestamp 2020-05-30T09:30:10Z
    -p product=T123 -p currency=USD -p amount:=12.99
    """
    from engage_cli import endpoints, inputs, models

    state = state_of(ctx)
    out = state.choose_output(fmt(output))
    base = inputs.load_data(data, state.streams.stdin) if data is not None else None
    overrides = {
        "event": event,
        "value": inputs.parse_scalar(value) if value is not None else None,
        "timestamp": timestamp,
        "properties": inputs.parse_pairs(properties, "--property"),
    }
    body = models.validate(models.EventCreate, inputs.merge_body(base, overrides))
    answer = send_or_show(state, out, endpoints.add_event(uid, body), dry_run)
    if answer is None:
        return
    if out.format == "table":
        out.info(f"Recorded event {body['event']!r} for user {uid!r}.")
    else:
        out.object(answer)


app.command("import")(bulk.import_events)

"""`engage lists ...`: the lists users subscribe to, and their subscribers."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from engage_cli.commands._common import (
    AllOpt,
    CreatedAtOpt,
    DataOpt,
    DryRunOpt,
    EmailOpt,
    FirstNameOpt,
    LastNameOpt,
    LimitOpt,
    MaxOpt,
    MetaOpt,
    NextCursorOpt,
    NumberOpt,
    OutputOpt,
    PreviousCursorOpt,
    UidArg,
    YesOpt,
    check_paging,
    confirm_or_refuse,
    cursor_of,
    fmt,
    send_or_show,
    show_pages,
    state_of,
)
from engage_cli.errors import UsageError
from engage_cli.tables import GENERIC, LISTS, Rows

app = typer.Typer(no_args_is_help=True)  # its one-line summary: app.GROUPS

ListIdArg = Annotated[str, typer.Argument(metavar="LIST_ID", help="The list's id.")]
TitleOpt = Annotated[Optional[str], typer.Option("--title", help="Title, 64 characters at most.")]
DescriptionOpt = Annotated[
    Optional[str], typer.Option("--description", help="What the list is, 255 characters at most.")
]
RedirectOpt = Annotated[
    Optional[str],
    typer.Option("--redirect-url", metavar="URL", help="Where double opt-in confirmation leads."),
]


def _list_body(model_name: str, fields: dict[str, Any]) -> dict[str, Any]:
    from engage_cli import models

    given = {key: value for key, value in fields.items() if value is not None}
    return models.validate(getattr(models, model_name), given)


def _answer(ctx: typer.Context, request: Any, output: Any, dry_run: bool, rows: Rows) -> None:
    state = state_of(ctx)
    out = state.choose_output(fmt(output))
    answer = send_or_show(state, out, request, dry_run)
    if answer is not None:
        out.object(answer, rows)


@app.command("list")
def list_(
    ctx: typer.Context,
    limit: LimitOpt = None,
    all_pages: AllOpt = False,
    max_items: MaxOpt = None,
    next_cursor: NextCursorOpt = None,
    previous_cursor: PreviousCursorOpt = None,
    output: OutputOpt = None,
) -> None:
    """List the lists (GET /lists): one page, or every page with --all.

    Archived lists are not listed; `engage lists get` still shows them. One page ends, on
    a terminal, with the command for the next; in a pipe, stderr gets that as one JSON
    line for scripts, {"next_page": {"cursor": C, "option": "--next-cursor", "command":
    "engage ..."}} (none after the last page).

    Example: engage lists list --all -o json
    """
    cursors = {"--next-cursor": next_cursor, "--previous-cursor": previous_cursor}
    check_paging(limit, max_items, cursors)
    from engage_cli import endpoints

    state = state_of(ctx)
    out = state.choose_output(fmt(output))
    show_pages(
        state,
        out,
        endpoints.list_lists(limit, cursor_of(cursors)),
        rows=LISTS,
        noun="lists",
        all_pages=all_pages,
        max_items=max_items,
        backward=previous_cursor is not None,
        next_command=["lists", "list", *(["--limit", str(limit)] if limit else [])],
    )


@app.command("get")
def get(ctx: typer.Context, list_id: ListIdArg, output: OutputOpt = None) -> None:
    """Show one list (GET /lists/LIST_ID), archived or not.

    Example: list=$(engage lists create --title News -o json | jq -r .id);
    engage lists get "$list"
    """
    from engage_cli import endpoints

    state = state_of(ctx)
    out = state.choose_output(fmt(output))
    with state.client() as client:
        out.object(client.send(endpoints.get_list(list_id)), LISTS)


@app.command("create")
def create(
    ctx: typer.Context,
    title: TitleOpt = None,
    description: DescriptionOpt = None,
    redirect_url: RedirectOpt = None,
    double_optin: Annotated[
        bool, typer.Option("--double-optin", help="New subscribers confirm by email first.")
    ] = False,
    output: OutputOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Create a list (POST /lists) and print it.

    Example: engage lists create --title Newsletter --description "Monthly news"
    """
    from engage_cli import endpoints

    fields = {"title": title, "description": description, "redirect_url": redirect_url}
    body = _list_body("ListCreate", {**fields, "double_optin": double_optin or None})
    _answer(ctx, endpoints.create_list(body), output, dry_run, LISTS)


@app.command("update")
def update(
    ctx: typer.Context,
    list_id: ListIdArg,
    title: TitleOpt = None,
    description: DescriptionOpt = None,
    redirect_url: RedirectOpt = None,
    double_optin: Annotated[
        Optional[bool],
        typer.Option(
            "--double-optin/--no-double-optin",
            help="Whether new subscribers confirm by email first.",
            show_default=False,
        ),
    ] = None,
    output: OutputOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Change a list's fields (PUT /lists/LIST_ID); only those given are sent.

    Example: list=$(engage lists create --title News -o json | jq -r .id);
    engage lists update "$list" --title "Weekly news"
    """
    from engage_cli import endpoints

    fields = {"title": title, "description": description, "redirect_url": redirect_url}
    body = _list_body("ListUpdate", {**fields, "double_optin": double_optin})
    if not body:
        raise UsageError(
            "Nothing to update: give at least one field.",
            hint="For example --title, --description, --redirect-url or --no-double-optin.",
        )
    _answer(ctx, endpoints.update_list(list_id, body), output, dry_run, LISTS)


@app.command("archive")
def archive(
    ctx: typer.Context,
    list_id: ListIdArg,
    yes: YesOpt = False,
    output: OutputOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Archive a list (DELETE /lists/LIST_ID); nothing deletes a list.

    It keeps its subscribers, takes no new ones and leaves `lists list`. Asks first on a
    terminal; scripts pass --yes.

    Example: list=$(engage lists create --title News -o json | jq -r .id);
    engage lists archive "$list" --yes
    """
    from engage_cli import endpoints

    request = endpoints.archive_list(list_id)
    state = state_of(ctx)
    out = state.choose_output(fmt(output))
    if not (yes or dry_run):
        question = f"Archive list {list_id!r}? It will take no new subscribers."
        confirm_or_refuse(state, question, "archive")
    answer = send_or_show(state, out, request, dry_run)
    if answer is not None:
        if out.format == "table":
            out.info(f"Archived list {list_id!r}.")
        else:
            out.object(answer)


@app.command("subscribe")
def subscribe(
    ctx: typer.Context,
    list_id: ListIdArg,
    email: EmailOpt = None,
    number: NumberOpt = None,
    first_name: FirstNameOpt = None,
    last_name: LastNameOpt = None,
    created_at: CreatedAtOpt = None,
    meta: MetaOpt = None,
    data: DataOpt = None,
    output: OutputOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Subscribe someone to a list (POST /lists/LIST_ID/subscribers); prints the uid.

    The user with this email (else number) is subscribed, or a new one is created.

    For a user whose uid you know, `engage users lists add UID LIST_ID` does the same.

    Example: list=$(engage lists create --title News -o json | jq -r .id);
    engage lists subscribe "$list" --email ada@example.com
    """
    from engage_cli import endpoints, inputs, models

    state = state_of(ctx)
    base = inputs.load_data(data, state.streams.stdin) if data is not None else None
    fields = {
        "first_name": first_name,
        "last_name": last_name,
        "email": email,
        "number": number,
        "created_at": created_at,
        "meta": inputs.parse_pairs(meta, "--meta"),
    }
    body = models.validate(models.ListSubscribe, inputs.merge_body(base, fields))
    _answer(ctx, endpoints.subscribe(list_id, body), output, dry_run, GENERIC)


@app.command("unsubscribe")
def unsubscribe(
    ctx: typer.Context,
    list_id: ListIdArg,
    uid: UidArg,
    output: OutputOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Unsubscribe a user, keeping it on the list (PUT /lists/LIST_ID/subscribers/UID).

    Example: list=$(engage lists create --title News -o json | jq -r .id);
    engage users lists add u144 "$list";
    engage lists unsubscribe "$list" u144
    """
    from engage_cli import endpoints

    _answer(ctx, endpoints.set_subscribed(list_id, uid, False), output, dry_run, GENERIC)


@app.command("resubscribe")
def resubscribe(
    ctx: typer.Context,
    list_id: ListIdArg,
    uid: UidArg,
    output: OutputOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Subscribe a list's user again (PUT /lists/LIST_ID/subscribers/UID).

    Example: list=$(engage lists create --title News -o json | jq -r .id);
    engage lists unsubscribe "$list" u144;
    engage lists resubscribe "$list" u144
    """
    from engage_cli import endpoints

    _answer(ctx, endpoints.set_subscribed(list_id, uid, True), output, dry_run, GENERIC)


@app.command("remove")
def remove(
    ctx: typer.Context,
    list_id: ListIdArg,
    uid: UidArg,
    yes: YesOpt = False,
    output: OutputOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Drop a subscriber from a list (DELETE /lists/LIST_ID/subscribers/UID).

    Asks first on a terminal; scripts pass --yes.

    Example: list=$(engage lists create --title News -o json | jq -r .id);
    engage users lists add u144 "$list";
    engage lists remove "$list" u144 --yes
    """
    from engage_cli import endpoints

    request = endpoints.remove_subscriber(list_id, uid)
    state = state_of(ctx)
    out = state.choose_output(fmt(output))
    if not (yes or dry_run):
        confirm_or_refuse(state, f"Remove user {uid!r} from list {list_id!r}?", "remove")
    answer = send_or_show(state, out, request, dry_run)
    if answer is not None:
        if out.format == "table":
            out.info(f"Removed user {uid!r} from list {list_id!r}.")
        else:
            out.object(answer)

"""`engage users ...`: create, get, update, list and delete users."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from engage_cli.commands import bulk
from engage_cli.commands._common import (
    CreatedAtOpt,
    DataOpt,
    DryRunOpt,
    EmailOpt,
    FirstNameOpt,
    LastNameOpt,
    MetaOpt,
    NumberOpt,
    OutputOpt,
    YesOpt,
    confirm_or_refuse,
    fmt,
    send_or_show,
    state_of,
)
from engage_cli.errors import UsageError
from engage_cli.output import USERS, UserRows

app = typer.Typer(no_args_is_help=True)  # its one-line summary: app.GROUPS

UidArg = Annotated[str, typer.Argument(metavar="UID", help="The user's id in your application.")]


def _user_body(
    model_name: str,
    data: str | None,
    stdin: Any,
    fields: dict[str, Any],
    meta: list[str] | None,
) -> dict[str, Any]:
    from engage_cli import inputs, models

    base = inputs.load_data(data, stdin) if data is not None else None
    # `fields` holds a "meta" slot so the body keeps the reference's field order.
    overrides = {**fields, "meta": inputs.parse_pairs(meta, "--meta")}
    body = inputs.merge_body(base, overrides)
    return models.validate(getattr(models, model_name), body)


@app.command("create")
def create(
    ctx: typer.Context,
    id: Annotated[
        Optional[str],
        typer.Option("--id", help="The user's id in your application: letters and digits."),
    ] = None,
    first_name: FirstNameOpt = None,
    last_name: LastNameOpt = None,
    email: EmailOpt = None,
    number: NumberOpt = None,
    lists: Annotated[
        Optional[list[str]],
        typer.Option("--list", metavar="LIST_ID", help="Subscribe the user to a list (repeat)."),
    ] = None,
    meta: MetaOpt = None,
    created_at: CreatedAtOpt = None,
    data: DataOpt = None,
    output: OutputOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Create a user (POST /users) and print it.

    Example: engage users create --id u144 --first-name Akinyele --email a@example.com
    --meta plan=pro --meta age:=34
    """
    state = state_of(ctx)
    out = state.choose_output(fmt(output))
    fields = {
        "id": id,
        "first_name": first_name,
        "last_name": last_name,
        "email": email,
        "number": number,
        "lists": lists or None,
        "meta": None,
        "created_at": created_at,
    }
    body = _user_body("UserCreate", data, state.streams.stdin, fields, meta)
    from engage_cli import endpoints

    user = send_or_show(state, out, endpoints.create_user(body), dry_run)
    if user is not None:
        out.object(user, USERS)


@app.command("get")
def get(ctx: typer.Context, uid: UidArg, output: OutputOpt = None) -> None:
    """Show one user (GET /users/UID).

    Example: engage users get u144 -o json
    """
    from engage_cli import endpoints

    state = state_of(ctx)
    out = state.choose_output(fmt(output))
    with state.client() as client:
        out.object(client.send(endpoints.get_user(uid)), USERS)


@app.command("update")
def update(
    ctx: typer.Context,
    uid: UidArg,
    first_name: FirstNameOpt = None,
    last_name: LastNameOpt = None,
    email: EmailOpt = None,
    number: NumberOpt = None,
    meta: MetaOpt = None,
    created_at: CreatedAtOpt = None,
    data: DataOpt = None,
    output: OutputOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Update a user's fields (PUT /users/UID); creates the user if it does not exist.

    Only the fields given are sent; meta merges into the stored meta key by key.
    Changing the email needs the API secret.

    Example: engage users update u144 --meta plan=custom --meta coverage:=20
    """
    state = state_of(ctx)
    out = state.choose_output(fmt(output))
    fields = {
        "first_name": first_name,
        "last_name": last_name,
        "email": email,
        "number": number,
        "meta": None,
        "created_at": created_at,
    }
    body = _user_body("UserUpdate", data, state.streams.stdin, fields, meta)
    if not body:
        raise UsageError(
            "Nothing to update: give at least one field.",
            hint="For example --first-name Ada, --meta plan=pro or --data @changes.json.",
        )
    from engage_cli import endpoints

    user = send_or_show(state, out, endpoints.update_user(uid, body), dry_run)
    if user is not None:
        out.object(user, USERS)


@app.command("list")
def list_(
    ctx: typer.Context,
    limit: Annotated[
        Optional[int], typer.Option("--limit", "-n", help="Users per page, 1 to 30 (API: 10).")
    ] = None,
    after_id: Annotated[
        Optional[str], typer.Option("--after-id", help="Users with internal ids after this one.")
    ] = None,
    before_id: Annotated[
        Optional[str], typer.Option("--before-id", help="Users with internal ids before this one.")
    ] = None,
    all_pages: Annotated[bool, typer.Option("--all", help="Follow every page.")] = False,
    max_items: Annotated[
        Optional[int], typer.Option("--max", help="Stop after this many users (implies --all).")
    ] = None,
    columns: Annotated[
        Optional[str],
        typer.Option(
            "--columns",
            metavar="COL,...",
            help="The table's columns, e.g. uid,email,meta.plan (default: uid, name, email, "
            "created, then number, lists and meta keys while they fit).",
        ),
    ] = None,
    output: OutputOpt = None,
) -> None:
    """List users, one page or (with --all) every page, streamed as they arrive.

    Example: engage users list --all -o ndjson | jq -r .email
    """
    if limit is not None and not 1 <= limit <= 30:
        raise UsageError(f"--limit must be between 1 and 30, got {limit}.")
    if after_id and before_id:
        raise UsageError("--after-id and --before-id cannot be used together.")
    if max_items is not None and max_items < 1:
        raise UsageError(f"--max must be at least 1, got {max_items}.")
    from engage_cli import endpoints
    from engage_cli.pagination import first_page_hint, take

    rows = UserRows(tuple(c.strip() for c in columns.split(",") if c.strip())) if columns else USERS
    state = state_of(ctx)
    out = state.choose_output(fmt(output))
    request = endpoints.list_users(limit, after_id, before_id)
    backward = before_id is not None
    with state.client() as client:
        if all_pages or max_items is not None:
            out.items(take(client.paginate(request, backward=backward), max_items), rows)
            return
        page = client.send(request)
        out.items([page.get("data", []) if isinstance(page, dict) else []], rows)
        prefix = "engage --sandbox" if state.sandbox else "engage"
        hint = first_page_hint(page, backward, limit, prefix)
        if hint and state.streams.stdout_isatty:
            out.info(hint)


@app.command("delete")
def delete(
    ctx: typer.Context,
    uid: Annotated[
        Optional[str],
        typer.Argument(
            metavar="[UID]", help="The user's id in your application.", show_default=False
        ),
    ] = None,
    from_file: Annotated[
        Optional[str],
        typer.Option(
            "--from",
            metavar="FILE|-",
            help="Delete every uid (or id) in a CSV, JSON Lines or JSON file: a seed file, a "
            "failures file, an export. A user already gone counts as deleted.",
            show_default=False,
        ),
    ] = None,
    yes: YesOpt = False,
    format: bulk.FormatOpt = None,
    concurrency: bulk.ConcurrencyOpt = None,
    rate: bulk.RateOpt = None,
    failures: Annotated[
        Optional[Path],
        typer.Option(
            "--failures",
            metavar="FILE",
            help="Where uids that could not be deleted go, as JSON Lines that --from reads "
            "back (default: FILE.delete-failed.jsonl; such a file given to --from is "
            "rewritten in place).",
            show_default=False,
        ),
    ] = None,
    output: OutputOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Delete a user (DELETE /users/UID), or every user listed in a file with --from.

    Asks first on a terminal; scripts pass --yes. --format, --concurrency, --rate and
    --failures apply to --from, as for `engage users import`.

    Example: engage users delete u144 --yes; engage users delete --from seed.csv --yes
    """
    if (uid is None) == (from_file is None):
        raise UsageError(
            "Give either a UID or --from FILE.",
            hint="engage users delete u144 --yes, or engage users delete --from seed.csv --yes",
        )
    if from_file is not None:
        options = bulk.BulkOptions(
            from_file,
            format.value if format is not None else None,
            concurrency,
            rate,
            failures,
            dry_run=dry_run,
            output=fmt(output),
        )
        bulk.delete_users_from(ctx, options, yes=yes)
        return
    if any(option is not None for option in (format, concurrency, rate, failures)):
        raise UsageError("--format, --concurrency, --rate and --failures go with --from FILE.")
    assert uid is not None
    from engage_cli import endpoints

    state = state_of(ctx)
    out = state.choose_output(fmt(output))
    if not (yes or dry_run):
        confirm_or_refuse(state, f"Delete user {uid!r}? This cannot be undone.")
    answer = send_or_show(state, out, endpoints.delete_user(uid), dry_run)
    if answer is not None:
        if out.format == "table":
            out.info(f"Deleted user {uid!r}.")
        else:
            out.object(answer)


app.command("import")(bulk.import_users)

"""`engage users ...`: create, get, update, list, delete, merge, convert and archive users.

Account members and the accounts / lists / tokens sub-groups live in users_membership.py."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Optional

import typer

from engage_cli.commands import bulk, users_membership
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
from engage_cli.tables import USERS, UserRows

app = typer.Typer(no_args_is_help=True)  # its one-line summary: app.COMMANDS


class Platform(str, Enum):
    android = "android"
    ios = "ios"


class UserType(str, Enum):
    account = "account"
    customer = "customer"


DeviceTokenOpt = Annotated[
    Optional[str],
    typer.Option("--device-token", metavar="T", help="A push token (with --device-platform)."),
]
DevicePlatformOpt = Annotated[
    Optional[Platform], typer.Option("--device-platform", help="The device token's platform.")
]
IsAccountOpt = Annotated[
    Optional[bool],
    typer.Option(
        "--account/--customer",
        help="Make the user an account (a company, team) or a customer (is_account).",
        show_default=False,
    ),
]


def _user_body(
    model_name: str,
    data: str | None,
    stdin: Any,
    fields: dict[str, Any],
    meta: list[str] | None,
) -> dict[str, Any]:
    from engage_cli import inputs, models

    base = inputs.load_data(data, stdin) if data is not None else None
    if base is not None:  # a user object as `users get -o json` printed it reads back
        base = inputs.user_body_from_object(base, create=model_name == "UserCreate")
    # `fields` holds a "meta" slot so the body keeps the reference's field order.
    overrides = {**fields, "meta": inputs.parse_pairs(meta, "--meta")}
    body = inputs.merge_body(base, overrides)
    return models.validate(getattr(models, model_name), body)


def _device_and_type(
    device_token: str | None, device_platform: Platform | None, is_account: bool | None
) -> dict[str, Any]:
    return {
        "device_token": device_token,
        "device_platform": device_platform.value if device_platform else None,
        "is_account": is_account,
    }


@app.command("create")
def create(
    ctx: typer.Context,
    id: Annotated[
        Optional[str],
        typer.Option(
            "--id", help="The user's id in your application: letters, digits and _ - . @ +."
        ),
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
    device_token: DeviceTokenOpt = None,
    device_platform: DevicePlatformOpt = None,
    is_account: IsAccountOpt = None,
    data: DataOpt = None,
    output: OutputOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Create a user (POST /users) and print it.

    --data also takes a user object as `users get -o json` printed it: its uid is the id
    sent, and what only the server sets is left out.

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
        **_device_and_type(device_token, device_platform, is_account),
    }
    body = _user_body("UserCreate", data, state.streams.stdin, fields, meta)
    from engage_cli import endpoints
    from engage_cli.errors import APIRefusedError

    try:
        user = send_or_show(state, out, endpoints.create_user(body), dry_run)
    except APIRefusedError as err:
        if "already exists" in err.message and not err.hint:
            err.hint = f"To change that user, use `engage users update {body['id']} ...` instead."
        raise
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
    device_token: DeviceTokenOpt = None,
    device_platform: DevicePlatformOpt = None,
    is_account: IsAccountOpt = None,
    data: DataOpt = None,
    output: OutputOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Update a user's fields (PUT /users/UID); creates the user if it does not exist.

    Only the fields given are sent; meta merges into the stored meta key by key, and
    lists in --data subscribe. Changing the email needs the API secret. --data also
    takes a user object as `users get -o json` printed it.

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
        **_device_and_type(device_token, device_platform, is_account),
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
    limit: LimitOpt = None,
    email: Annotated[
        Optional[str], typer.Option("--email", metavar="ADDR", help="Users with this email.")
    ] = None,
    lists: Annotated[
        Optional[list[str]],
        typer.Option("--list", metavar="LIST_ID", help="Only users in this list (repeat)."),
    ] = None,
    all_pages: AllOpt = False,
    max_items: MaxOpt = None,
    next_cursor: NextCursorOpt = None,
    previous_cursor: PreviousCursorOpt = None,
    after_id: Annotated[
        Optional[str], typer.Option("--after-id", help="Users with internal ids after this one.")
    ] = None,
    before_id: Annotated[
        Optional[str], typer.Option("--before-id", help="Users with internal ids before this one.")
    ] = None,
    columns: Annotated[
        Optional[str],
        typer.Option(
            "--columns",
            metavar="COL,...",
            help="The table's columns, e.g. uid,email,meta.plan (default: uid, name, email, "
            "created, then number, lists and meta keys while they fit); an unknown one is "
            "refused, listing those there are.",
        ),
    ] = None,
    output: OutputOpt = None,
) -> None:
    """List users, one page or (with --all) every page, streamed as they arrive.

    One page ends, on a terminal, with the command for the next; in a pipe, stderr gets
    that as one JSON line for scripts, {"next_page": {"cursor": C, "option":
    "--next-cursor", "command": "engage ..."}} (none after the last page). The option is
    --after-id where the server pages by id. --previous-cursor and --before-id page
    backward.

    Example: engage users list --email akinyele@example.com; engage users list --all -o ndjson |
    jq -r .email
    """
    cursors = {
        "--next-cursor": next_cursor,
        "--previous-cursor": previous_cursor,
        "--after-id": after_id,
        "--before-id": before_id,
    }
    check_paging(limit, max_items, cursors)
    if email is not None and "@" not in email:
        raise UsageError(f"--email {email!r} is not an email address (something@something).")
    from engage_cli import endpoints

    rows = _user_rows(columns)
    state = state_of(ctx)
    out = state.choose_output(fmt(output))
    request = endpoints.list_users(limit, cursor_of(cursors), email, lists)
    again = ["users", "list"]
    again += ["--limit", str(limit)] if limit else []
    again += ["--email", email] if email else []
    for list_id in lists or []:
        again += ["--list", list_id]
    show_pages(
        state,
        out,
        request,
        rows=rows,
        noun="users",
        all_pages=all_pages,
        max_items=max_items,
        backward=previous_cursor is not None or before_id is not None,
        next_command=again,
    )


def _user_rows(columns: str | None) -> UserRows:
    """The table of `users list --columns`; a name no user row has is a typo (exit 2)."""
    if columns is None:
        return USERS
    chosen = tuple(c.strip() for c in columns.split(",") if c.strip())
    unknown = UserRows.unknown_columns(chosen)
    if unknown or not chosen:
        named = ", ".join(repr(c) for c in unknown) or repr(columns)
        raise UsageError(
            f"--columns: no such column {named}.",
            hint=f"Choose from {', '.join(UserRows.COLUMNS)}, or meta.KEY.",
        )
    return UserRows(chosen)


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
    failures: bulk.DeleteFailuresOpt = None,
    allow_empty: bulk.AllowEmptyOpt = False,
    output: OutputOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Delete a user (DELETE /users/UID), or every user listed in a file with --from.

    Asks first on a terminal; scripts pass --yes. --format, --concurrency, --rate,
    --failures and --allow-empty apply to --from, as for `engage users import`: a file
    with no uids is refused (exit 2) unless --allow-empty says it may be.

    Example: engage users delete u144 --yes; engage users delete --from seed.csv --yes
    """
    if (uid is None) == (from_file is None):
        raise UsageError(
            "Give either a UID or --from FILE.",
            hint="engage users delete u144 --yes, or engage users delete --from seed.csv --yes",
        )
    if from_file is not None:
        bulk.delete_users_from(
            ctx, from_file, format, concurrency=concurrency, rate=rate, failures=failures,
            dry_run=dry_run, output=output, yes=yes, allow_empty=allow_empty,
        )  # fmt: skip
        return
    if any(option is not None for option in (format, concurrency, rate, failures)) or allow_empty:
        raise UsageError(
            "--format, --concurrency, --rate, --failures and --allow-empty go with --from FILE."
        )
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


@app.command("archive")
def archive(
    ctx: typer.Context,
    uid: UidArg,
    yes: YesOpt = False,
    output: OutputOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Archive a customer or account (POST /users/UID/archive) and print it.

    Asks first on a terminal; scripts pass --yes. The API has no un-archive call.

    Example: engage users archive u144 --yes
    """
    from engage_cli import endpoints

    request = endpoints.archive_user(uid)
    state = state_of(ctx)
    out = state.choose_output(fmt(output))
    if not (yes or dry_run):
        confirm_or_refuse(state, f"Archive user {uid!r}? The API cannot undo it.", "archive")
    user = send_or_show(state, out, request, dry_run)
    if user is not None:
        out.object(user, USERS)


@app.command("merge")
def merge(
    ctx: typer.Context,
    source: Annotated[
        str, typer.Argument(metavar="SOURCE_UID", help="The user merged away (then deleted).")
    ],
    destination: Annotated[
        str, typer.Argument(metavar="DESTINATION_UID", help="The user that remains.")
    ],
    yes: YesOpt = False,
    output: OutputOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Merge SOURCE into DESTINATION (POST /users/merge), deleting SOURCE.

    The source's meta, lists and events move to the destination; the API queues the
    merge. Asks first on a terminal; scripts pass --yes.

    Example: engage users merge u145 u144 --yes
    """
    from engage_cli import endpoints, models

    body = models.validate(models.UserMerge, {"source": source, "destination": destination})
    state = state_of(ctx)
    out = state.choose_output(fmt(output))
    if not (yes or dry_run):
        question = f"Merge user {source!r} into {destination!r}, deleting {source!r}?"
        confirm_or_refuse(state, question, "merge")
    answer = send_or_show(state, out, endpoints.merge_users(body), dry_run)
    if answer is not None:
        if out.format == "table":
            status = answer.get("status", "done") if isinstance(answer, dict) else "done"
            out.info(f"Merge of {source!r} into {destination!r}: {status}.")
        else:
            out.object(answer)


@app.command("convert")
def convert(
    ctx: typer.Context,
    uid: UidArg,
    to: Annotated[
        UserType, typer.Option("--to", help="What the user becomes.", show_default=False)
    ],
    output: OutputOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Make a user an account or a customer (POST /users/UID/convert) and print it.

    Example: engage users convert u145 --to account
    """
    from engage_cli import endpoints, models

    body = models.validate(models.UserConvert, {"type": to.value})
    state = state_of(ctx)
    out = state.choose_output(fmt(output))
    user = send_or_show(state, out, endpoints.convert_user(uid, body), dry_run)
    if user is not None:
        out.object(user, USERS)


app.command("members")(users_membership.members)
app.command("import")(bulk.import_users)
for name, summary in users_membership.SUMMARIES.items():
    app.add_typer(getattr(users_membership, name), name=name, help=summary)

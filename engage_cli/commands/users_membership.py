"""What a user belongs to: an account's members, and the `users accounts`, `users lists`
and `users tokens` sub-groups (memberships with roles, list subscriptions, device tokens).

Each sub-group is its own Typer app, added to `engage users` by users.py."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from engage_cli.commands._common import (
    AllOpt,
    DryRunOpt,
    LimitOpt,
    OutputOpt,
    UidArg,
    check_paging,
    fmt,
    send_or_show,
    show_pages,
    state_of,
)
from engage_cli.tables import USERS

# The sub-groups' one-line summaries, by the name of their Typer app here.
SUMMARIES = {
    "accounts": "Add a customer to accounts, change its role, remove it.",
    "lists": "Subscribe a user to lists, or take it off them.",
    "tokens": "Forget a user's device token.",
}
accounts = typer.Typer(no_args_is_help=True)
lists = typer.Typer(no_args_is_help=True)
tokens = typer.Typer(no_args_is_help=True)

AccountArg = Annotated[
    str, typer.Argument(metavar="ACCOUNT_UID", help="The uid of a user that is an account.")
]
ListIdsArg = Annotated[
    list[str], typer.Argument(metavar="LIST_ID...", help="One or more list ids.")
]


def _print_user(ctx: typer.Context, request: object, output: object, dry_run: bool) -> None:
    """The write path these calls share: each answers the user object."""
    state = state_of(ctx)
    out = state.choose_output(fmt(output))  # type: ignore[arg-type]
    user = send_or_show(state, out, request, dry_run)
    if user is not None:
        out.object(user, USERS)


def members(
    ctx: typer.Context,
    account_uid: AccountArg,
    limit: LimitOpt = None,
    all_pages: AllOpt = False,
    output: OutputOpt = None,
) -> None:
    """List the customers of an account (GET /users/ACCOUNT_UID/members).

    One page ends, on a terminal, with the command for every page (--all); in a pipe,
    stderr gets that as one JSON line, {"next_page": {"command": "engage ..."}}.

    Example: engage users create --id acme --account; engage users accounts add u144 acme;
    engage users members acme --all -o json
    """
    check_paging(limit, None, {})
    from engage_cli import endpoints

    request = endpoints.list_members(account_uid, limit)
    state = state_of(ctx)
    out = state.choose_output(fmt(output))
    again = ["users", "members", account_uid, *(["--limit", str(limit)] if limit else [])]
    show_pages(
        state,
        out,
        request,
        rows=USERS,
        noun="members",
        all_pages=all_pages,
        next_command=again,
        takes_cursors=False,  # the contract gives members --all, not cursors
    )


@accounts.command("add")
def accounts_add(
    ctx: typer.Context,
    uid: UidArg,
    account_uids: Annotated[
        list[str], typer.Argument(metavar="ACCOUNT_UID...", help="One or more accounts' uids.")
    ],
    role: Annotated[
        Optional[str], typer.Option("--role", help="The customer's role in each (free text).")
    ] = None,
    output: OutputOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Add a customer to accounts (POST /users/UID/accounts) and print it.

    Example: engage users accounts add u144 acme --role admin
    """
    from engage_cli import endpoints, models

    entries = [{"id": aid, **({"role": role} if role is not None else {})} for aid in account_uids]
    body = models.validate(models.AccountsAdd, {"accounts": entries})
    _print_user(ctx, endpoints.add_accounts(uid, body), output, dry_run)


@accounts.command("role")
def accounts_role(
    ctx: typer.Context,
    uid: UidArg,
    account_uid: AccountArg,
    role: Annotated[str, typer.Argument(metavar="ROLE", help="The new role (free text).")],
    output: OutputOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Change a customer's role in an account (PUT /users/UID/accounts/ACCOUNT_UID).

    Example: engage users accounts role u144 acme owner
    """
    from engage_cli import endpoints, models

    body = models.validate(models.AccountRole, {"role": role})
    _print_user(ctx, endpoints.set_account_role(uid, account_uid, body), output, dry_run)


@accounts.command("remove")
def accounts_remove(
    ctx: typer.Context,
    uid: UidArg,
    account_uid: AccountArg,
    output: OutputOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Remove a customer from an account (DELETE /users/UID/accounts/ACCOUNT_UID).

    Example: engage users accounts remove u144 acme
    """
    from engage_cli import endpoints

    _print_user(ctx, endpoints.remove_account(uid, account_uid), output, dry_run)


@lists.command("add")
def lists_add(
    ctx: typer.Context,
    uid: UidArg,
    list_ids: ListIdsArg,
    output: OutputOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Subscribe a user to lists (POST /users/UID/lists) and print it.

    Example: list=$(engage lists create --title News -o json | jq -r .id);
    engage users lists add u144 "$list"
    """
    from engage_cli import endpoints, models

    body = models.validate(models.UserLists, {"lists": list_ids})
    _print_user(ctx, endpoints.add_user_lists(uid, body), output, dry_run)


@lists.command("remove")
def lists_remove(
    ctx: typer.Context,
    uid: UidArg,
    list_ids: ListIdsArg,
    output: OutputOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Take a user off lists (DELETE /users/UID/lists) and print it.

    Example: list=$(engage lists create --title News -o json | jq -r .id);
    engage users lists add u144 "$list";
    engage users lists remove u144 "$list"
    """
    from engage_cli import endpoints, models

    body = models.validate(models.UserLists, {"lists": list_ids})
    _print_user(ctx, endpoints.remove_user_lists(uid, body), output, dry_run)


@tokens.command("remove")
def tokens_remove(
    ctx: typer.Context,
    uid: UidArg,
    token: Annotated[str, typer.Argument(metavar="TOKEN", help="The device token to forget.")],
    output: OutputOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Forget one of a user's device tokens (DELETE /users/UID/tokens/TOKEN), as on logout.

    Example: engage users tokens remove u144 'ExponentPushToken[xxxxxxxxxxxxxxxxxxxxxx]'
    """
    from engage_cli import endpoints

    _print_user(ctx, endpoints.remove_token(uid, token), output, dry_run)

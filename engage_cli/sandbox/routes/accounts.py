"""Accounts (B2B): a customer joins accounts, changes its role in one, leaves one; an account
lists its members. `{aid}` and `accounts[].id` are the account's uid; an account uid the
sandbox does not know is accepted, as Engage's live SDK tests show."""

from __future__ import annotations

from engage_cli.sandbox import validate
from engage_cli.sandbox.documents import AccountLink, JSONObject
from engage_cli.sandbox.routes.users import found
from engage_cli.sandbox.web import Request, Response, Route, bad_request, json_answer

__all__ = ["ROUTES"]


def _link(item: object) -> AccountLink:
    if not isinstance(item, dict):
        raise bad_request("Each account must be an object with an id.")
    body: JSONObject = item
    link: AccountLink = {"id": validate.non_empty_string(body, "id")}
    role = body.get("role")
    if role is not None and role != "":  # no role, or an empty one: the link shows none
        if not isinstance(role, str):
            raise bad_request("role must be a string.")
        link["role"] = role
    return link


def add_to_accounts(request: Request) -> Response:
    body = validate.json_object(request.body)
    accounts = body.get("accounts")
    if not isinstance(accounts, list) or not accounts:
        raise bad_request("accounts must be a non-empty array of {id, role} objects.")
    links = [_link(item) for item in accounts]
    # Like PUT and events, this creates a customer the sandbox does not know yet.
    user, _created = request.store.upsert_user(request.params["uid"], {"accounts": links})
    return json_answer(200, user)


def change_role(request: Request) -> Response:
    body = validate.json_object(request.body)
    role = validate.non_empty_string(body, "role")
    link: AccountLink = {"id": request.params["aid"], "role": role}
    user, _created = request.store.upsert_user(request.params["uid"], {"accounts": [link]})
    return json_answer(200, user)


def leave_account(request: Request) -> Response:
    user = request.store.update_user(
        request.params["uid"], {"remove_account": request.params["aid"]}
    )
    return json_answer(200, found(user))


def list_members(request: Request) -> Response:
    limit = validate.limit(request)
    after_id, before_id = validate.cursor(request)
    account = found(request.store.get_user(request.params["uid"]))
    page = request.store.list_users(
        limit, after_id=after_id, before_id=before_id, member_of=str(account["uid"])
    )
    return json_answer(200, validate.page_answer(page))


ROUTES = (
    # Engage's mobile SDKs send the account calls with the key alone.
    Route("POST", ("users", "{uid}", "accounts"), add_to_accounts, key_only=True),
    Route("PUT", ("users", "{uid}", "accounts", "{aid}"), change_role, key_only=True),
    Route("DELETE", ("users", "{uid}", "accounts", "{aid}"), leave_account, key_only=True),
    Route("GET", ("users", "{uid}", "members"), list_members),
)

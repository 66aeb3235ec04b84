"""Users: create, get, update (upsert), delete, list."""

from __future__ import annotations

from engage_cli.sandbox import validate
from engage_cli.sandbox.store import DuplicateUserError
from engage_cli.sandbox.web import (
    DUPLICATE_USER,
    NEEDS_SECRET,
    USER_NOT_FOUND,
    Access,
    ApiError,
    Request,
    Response,
    Route,
    bad_request,
    json_answer,
)

_CREATE_FIELDS = frozenset(
    {
        "id",
        "first_name",
        "last_name",
        "number",
        "email",
        "created_at",
        "lists",
        "meta",
        "device_token",
        "device_platform",
    }
)
# The reference's PUT takes no id (the path names the user) and no lists.
_UPDATE_FIELDS = _CREATE_FIELDS - {"id", "lists"}


def create_user(request: Request) -> Response:
    body = validate.json_object(request.body)
    validate.refuse_unknown_fields(body, _CREATE_FIELDS)
    uid = validate.user_id(body)
    changes = validate.user_changes(body)
    try:
        user = request.store.create_user(uid, changes)
    except DuplicateUserError as exc:
        raise bad_request(DUPLICATE_USER) from exc
    return json_answer(200, user)


def get_user(request: Request) -> Response:
    user = request.store.get_user(request.params["uid"])
    if user is None:
        raise ApiError(404, USER_NOT_FOUND)
    return json_answer(200, user)


def update_user(request: Request) -> Response:
    body = validate.json_object(request.body)
    # Any email in the body needs the secret, whether or not it differs from the stored one:
    # the CLI decides from the body alone before the network, and the two must agree.
    if "email" in body and request.access is not Access.FULL:
        raise ApiError(401, NEEDS_SECRET)
    validate.refuse_unknown_fields(body, _UPDATE_FIELDS)
    user, _created = request.store.upsert_user(request.params["uid"], validate.user_changes(body))
    return json_answer(200, user)


def delete_user(request: Request) -> Response:
    if not request.store.delete_user(request.params["uid"]):
        raise ApiError(404, USER_NOT_FOUND)
    return json_answer(200, {"status": "ok"})


def list_users(request: Request) -> Response:
    limit = validate.limit(request)
    after_id, before_id = validate.cursor(request)
    email = request.arg("email") or None
    page = request.store.list_users(limit, after_id=after_id, before_id=before_id, email=email)
    return json_answer(
        200,
        {
            "data": page.users,
            "has_more": page.has_more,
            "next_cursor": page.next_cursor,
            "previous_cursor": page.previous_cursor,
        },
    )


ROUTES = (
    Route("GET", ("users",), list_users),
    Route("POST", ("users",), create_user, key_only=True),
    Route("GET", ("users", "{uid}"), get_user),
    # Key-only is enough unless the body carries an email; the handler checks that.
    Route("PUT", ("users", "{uid}"), update_user, key_only=True),
    Route("DELETE", ("users", "{uid}"), delete_user),
)

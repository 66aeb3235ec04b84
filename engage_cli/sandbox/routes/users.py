"""Users: create, get, update (upsert), delete, list (with the email and lists[] filters),
merge, convert, archive, and device-token removal."""

from __future__ import annotations

import logging

from engage_cli.sandbox import validate
from engage_cli.sandbox.documents import JSONObject, UserChanges
from engage_cli.sandbox.store import DuplicateUserError, EmailChangeError, SandboxStore
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

__all__ = ["ROUTES", "create", "found", "update"]

logger = logging.getLogger(__name__)

_USER_TYPES = {"account": True, "customer": False}


def found(user: JSONObject | None) -> JSONObject:
    """The user, or the 404 every call on an unknown uid answers."""
    if user is None:
        raise ApiError(404, USER_NOT_FOUND)
    return user


# -- the single calls, shared with /batch ----------------------------------------------------


def create(store: SandboxStore, body: JSONObject) -> JSONObject:
    uid = validate.user_id(body)
    changes = validate.user_changes(body)
    try:
        return store.create_user(uid, changes)
    except DuplicateUserError as exc:
        raise bad_request(DUPLICATE_USER) from exc


def update(store: SandboxStore, uid: str, body: JSONObject, access: Access) -> JSONObject:
    """Upsert. The key alone may carry an email that creates the user or leaves its email as it
    is; changing an existing email needs the secret (the store decides, in the same write)."""
    # Engage's SDKs send the uid inside an identify body too: fine when it names this user.
    if "id" in body and body["id"] != uid:
        raise bad_request("id in the body must be the uid in the path.")
    changes = validate.user_changes(body)
    try:
        user, _created = store.upsert_user(uid, changes, may_change_email=access is Access.FULL)
    except EmailChangeError as exc:
        raise ApiError(401, NEEDS_SECRET) from exc
    return user


# -- handlers --------------------------------------------------------------------------------


def create_user(request: Request) -> Response:
    return json_answer(200, create(request.store, validate.json_object(request.body)))


def get_user(request: Request) -> Response:
    return json_answer(200, found(request.store.get_user(request.params["uid"])))


def update_user(request: Request) -> Response:
    body = validate.json_object(request.body)
    return json_answer(200, update(request.store, request.params["uid"], body, request.access))


def delete_user(request: Request) -> Response:
    if not request.store.delete_user(request.params["uid"]):
        raise ApiError(404, USER_NOT_FOUND)
    return json_answer(200, {"status": "ok"})


def list_users(request: Request) -> Response:
    limit = validate.limit(request)
    after_id, before_id = validate.cursor(request)
    # `lists[]=a&lists[]=b` as Engage documents it; plain `lists=` is read the same way.
    lists = [v for name in ("lists[]", "lists") for v in request.query.get(name, []) if v]
    page = request.store.list_users(
        limit,
        after_id=after_id,
        before_id=before_id,
        email=request.arg("email") or None,
        lists=lists,
    )
    return json_answer(200, validate.page_answer(page))


def merge_users(request: Request) -> Response:
    """Answers `queued` as Engage does; the merge is done before the answer leaves, so a
    client reading right after sees it. An unknown source merges nothing."""
    body = validate.json_object(request.body)
    source = validate.non_empty_string(body, "source")
    destination = validate.non_empty_string(body, "destination")
    if not request.store.merge_users(source, destination):
        logger.warning("merge of %r into %r: nothing to merge", source, destination)
    return json_answer(200, {"status": "queued"})


def convert_user(request: Request) -> Response:
    body = validate.json_object(request.body)
    kind = body.get("type")
    if kind not in _USER_TYPES:
        raise bad_request("type must be account or customer.")
    # Like PUT, convert creates a user it does not know (Engage's SDK tests convert a fresh id).
    user, _created = request.store.upsert_user(
        request.params["uid"], {"is_account": _USER_TYPES[str(kind)]}
    )
    return json_answer(200, user)


def archive_user(request: Request) -> Response:
    user = request.store.update_user(request.params["uid"], {"archived": True})
    return json_answer(200, found(user))


def remove_token(request: Request) -> Response:
    changes: UserChanges = {"remove_token": request.params["token"]}
    return json_answer(200, found(request.store.update_user(request.params["uid"], changes)))


ROUTES = (
    Route("GET", ("users",), list_users),
    Route("POST", ("users",), create_user, key_only=True),
    Route("GET", ("users", "{uid}"), get_user),
    # Key-only is enough unless the body changes an existing email; `update` checks that.
    Route("PUT", ("users", "{uid}"), update_user, key_only=True),
    Route("DELETE", ("users", "{uid}"), delete_user),
    # Engage's mobile SDKs send merge, convert and token removal with the key alone.
    Route("POST", ("users", "merge"), merge_users, key_only=True),
    Route("POST", ("users", "{uid}", "convert"), convert_user, key_only=True),
    Route("POST", ("users", "{uid}", "archive"), archive_user),
    Route("DELETE", ("users", "{uid}", "tokens", "{token}"), remove_token, key_only=True),
)

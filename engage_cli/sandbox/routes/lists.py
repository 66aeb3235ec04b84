"""Lists: create, list, get, update, archive; their subscribers (subscribe, status, remove);
and a user's own list membership (`POST|DELETE /users/{uid}/lists`, a JSON body on DELETE)."""

from __future__ import annotations

from engage_cli.sandbox import validate
from engage_cli.sandbox.documents import JSONObject, ListChanges, UserChanges
from engage_cli.sandbox.routes.users import found
from engage_cli.sandbox.store import ListArchivedError
from engage_cli.sandbox.web import (
    LIST_NOT_FOUND,
    ApiError,
    Request,
    Response,
    Route,
    bad_request,
    json_answer,
)

__all__ = ["ROUTES"]

MAX_TITLE = 64
MAX_DESCRIPTION = 255
ARCHIVED = "This list is archived: it takes no new subscribers."
# The user fields a subscribe body may carry.
_CONTACT_FIELDS = ("first_name", "last_name", "email", "number", "created_at", "meta")


def _found_list(stored: JSONObject | None) -> JSONObject:
    if stored is None:
        raise ApiError(404, LIST_NOT_FOUND)
    return stored


def _optional_text(body: JSONObject, name: str, limit: int | None = None) -> str | None:
    value = body[name]
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(f"{name} must be a string.")
    if limit is not None and len(value) > limit:
        raise bad_request(f"{name} must be at most {limit} characters.")
    return value


def _list_changes(body: JSONObject, *, creating: bool) -> ListChanges:
    changes: ListChanges = {}
    if creating or "title" in body:
        title = validate.non_empty_string(body, "title")
        if len(title) > MAX_TITLE:
            raise bad_request(f"title must be at most {MAX_TITLE} characters.")
        changes["title"] = title
    if "description" in body:
        changes["description"] = _optional_text(body, "description", MAX_DESCRIPTION)
    if "redirect_url" in body:
        url = _optional_text(body, "redirect_url")
        if url is not None and not url.startswith(("http://", "https://")):
            raise bad_request("redirect_url must be a valid URL.")
        changes["redirect_url"] = url
    if "double_optin" in body:
        changes["double_optin"] = validate.boolean(body, "double_optin")
    return changes


def create_list(request: Request) -> Response:
    body = validate.json_object(request.body)
    return json_answer(200, request.store.create_list(_list_changes(body, creating=True)))


def list_lists(request: Request) -> Response:
    limit = validate.limit(request)
    after_id, before_id = validate.cursor(request, noun="list")
    page = request.store.list_lists(limit, after_id=after_id, before_id=before_id)
    return json_answer(200, validate.page_answer(page))


def get_list(request: Request) -> Response:
    return json_answer(200, _found_list(request.store.get_list(request.params["list_id"])))


def update_list(request: Request) -> Response:
    changes = _list_changes(validate.json_object(request.body), creating=False)
    updated = request.store.update_list(request.params["list_id"], changes)
    return json_answer(200, _found_list(updated))


def archive_list(request: Request) -> Response:
    _found_list(request.store.update_list(request.params["list_id"], {}, archive=True))
    return json_answer(200, {"status": "ok"})


# -- subscribers -----------------------------------------------------------------------------


def subscribe(request: Request) -> Response:
    body = validate.json_object(request.body)
    contact = {name: body[name] for name in _CONTACT_FIELDS if name in body}
    changes = validate.user_changes(contact)
    if "email" not in changes and "number" not in changes:
        raise bad_request("email or number is required.")
    try:
        uid = request.store.subscribe(request.params["list_id"], changes)
    except ListArchivedError as exc:
        raise bad_request(ARCHIVED) from exc
    if uid is None:
        raise ApiError(404, LIST_NOT_FOUND)
    return json_answer(200, {"uid": uid})


def set_status(request: Request) -> Response:
    body = validate.json_object(request.body)
    if "subscribed" not in body:
        raise bad_request("subscribed is required.")
    subscribed = validate.boolean(body, "subscribed")
    list_id = request.params["list_id"]
    stored = _found_list(request.store.get_list(list_id))
    if subscribed and stored["archived"]:
        raise bad_request(ARCHIVED)
    changes: UserChanges = {"subscription": (list_id, subscribed)}
    found(request.store.update_user(request.params["uid"], changes))
    return json_answer(200, {"subscribed": subscribed})


def remove_subscriber(request: Request) -> Response:
    list_id = request.params["list_id"]
    _found_list(request.store.get_list(list_id))
    found(request.store.update_user(request.params["uid"], {"remove_lists": [list_id]}))
    return json_answer(200, {"status": "ok"})


# -- a user's lists --------------------------------------------------------------------------


def _body_lists(request: Request) -> list[str]:
    body = validate.json_object(request.body)
    if "lists" not in body:
        raise bad_request("lists is required.")
    lists = validate.list_ids(body["lists"])
    if not lists:
        raise bad_request("lists must name at least one list.")
    return lists


def join_lists(request: Request) -> Response:
    lists = _body_lists(request)
    for list_id in lists:
        stored = request.store.get_list(list_id)
        if stored is not None and stored["archived"]:
            raise bad_request(ARCHIVED)
    user = request.store.update_user(request.params["uid"], {"lists": lists})
    return json_answer(200, found(user))


def leave_lists(request: Request) -> Response:
    lists = _body_lists(request)
    user = request.store.update_user(request.params["uid"], {"remove_lists": lists})
    return json_answer(200, found(user))


ROUTES = (
    Route("POST", ("lists",), create_list),
    # The docs allow the key alone for reading lists and for updating one.
    Route("GET", ("lists",), list_lists, key_only=True),
    Route("GET", ("lists", "{list_id}"), get_list, key_only=True),
    Route("PUT", ("lists", "{list_id}"), update_list, key_only=True),
    Route("DELETE", ("lists", "{list_id}"), archive_list),
    Route("POST", ("lists", "{list_id}", "subscribers"), subscribe),
    Route("PUT", ("lists", "{list_id}", "subscribers", "{uid}"), set_status),
    Route("DELETE", ("lists", "{list_id}", "subscribers", "{uid}"), remove_subscriber),
    Route("POST", ("users", "{uid}", "lists"), join_lists),
    Route("DELETE", ("users", "{uid}", "lists"), leave_lists),
)

"""`POST /batch`: many creates, updates and events in one request, as Engage documents it.

The answer is `{"status": "queued"}` without a word per item. The sandbox applies the items in
order, in one transaction, before that answer leaves (so a client that reads right after sees
them, and nothing queued is lost if the server stops); an invalid item is skipped, as the API
reports nothing per item. Each item's outcome is kept with the batch (`GET /__sandbox/batches`):
applied, or failed with the error the single call would have given.
"""

from __future__ import annotations

from engage_cli.sandbox import validate
from engage_cli.sandbox.documents import JSONObject, utc_now_timestamp
from engage_cli.sandbox.routes import events, users
from engage_cli.sandbox.store import SandboxStore
from engage_cli.sandbox.web import Access, ApiError, Request, Response, Route, json_answer

__all__ = ["MAX_BATCH_BYTES", "ROUTES", "apply_item"]

# "The whole request should stay under 100 KB."
MAX_BATCH_BYTES = 100 * 1024


def apply_item(store: SandboxStore, item: object) -> None:
    """One item, as the single call its type stands for; ApiError if it is invalid."""
    if not isinstance(item, dict):
        raise ApiError(400, "an item must be an object.")
    body: JSONObject = dict(item)
    kind = body.pop("type", None)
    if kind == "create":
        users.create(store, body)
        return
    # An update or event names its user by id, any uid a path could carry.
    uid = validate.non_empty_string(body, "id")
    del body["id"]
    if kind == "update":
        users.update(store, uid, body, Access.FULL)
    elif kind == "event":
        events.track(store, uid, body)
    else:
        raise ApiError(400, "type must be create, update or event.")


def post_batch(request: Request) -> Response:
    if len(request.body) > MAX_BATCH_BYTES:
        raise ApiError(413, "A batch request must stay under 100 KB.")
    body = validate.json_object(request.body)
    items = body.get("data")
    if not isinstance(items, list):
        raise ApiError(400, "data must be an array of items.")
    received = utc_now_timestamp()
    outcomes: list[JSONObject] = []
    with request.store.transaction():  # one commit for the batch, each item alone on failure
        for index, item in enumerate(items):
            outcome = _describe(index, item)
            try:
                apply_item(request.store, item)
            except ApiError as error:
                outcome.update(status="failed", code=error.status, error=error.message)
            else:
                outcome["status"] = "applied"
            outcomes.append(outcome)
        request.store.record_batch(received, outcomes)
    return json_answer(200, {"status": "queued"})


def _describe(index: int, item: object) -> JSONObject:
    """What names an item in its outcome: its place, and its type and id when it has them."""
    described: JSONObject = {"index": index}
    if isinstance(item, dict):
        for name in ("type", "id"):
            if isinstance(item.get(name), str):
                described[name] = item[name]
    return described


# Key and secret: an update item may change an email.
ROUTES = (Route("POST", ("batch",), post_batch),)

"""Events: `POST /users/{uid}/events` (an unknown uid is created, as Engage does)."""

from __future__ import annotations

from engage_cli.sandbox import validate
from engage_cli.sandbox.documents import JSONObject, Scalar
from engage_cli.sandbox.store import SandboxStore
from engage_cli.sandbox.web import Request, Response, Route, bad_request, json_answer

__all__ = ["ROUTES", "track"]


def track(store: SandboxStore, uid: str, body: JSONObject) -> None:
    """Record one event (shared with /batch). Fields beyond the four are ignored."""
    event = body.get("event")
    if "event" not in body:
        raise bad_request("event is required.")
    if not isinstance(event, str) or not event.strip():
        raise bad_request("event must be a non-empty string.")
    value: Scalar | None = None
    if "value" in body:
        value = body["value"]
        if not validate.is_scalar(value):
            raise bad_request("value must be a string, number or boolean.")
    properties = validate.scalar_map(body.get("properties", {}), "properties")
    timestamp = validate.timestamp(body, "timestamp") if "timestamp" in body else None
    store.add_event(uid, event, value=value, properties=properties, timestamp=timestamp)


def add_event(request: Request) -> Response:
    track(request.store, request.params["uid"], validate.json_object(request.body))
    return json_answer(200, {"status": "ok"})


ROUTES = (Route("POST", ("users", "{uid}", "events"), add_event, key_only=True),)

"""Events: `POST /users/{uid}/events` (an unknown uid is created, as Engage does)."""

from __future__ import annotations

from engage_cli.sandbox import validate
from engage_cli.sandbox.store import Scalar
from engage_cli.sandbox.web import Request, Response, Route, bad_request, json_answer

_EVENT_FIELDS = frozenset({"event", "value", "properties", "timestamp"})


def add_event(request: Request) -> Response:
    body = validate.json_object(request.body)
    validate.refuse_unknown_fields(body, _EVENT_FIELDS)
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
    request.store.add_event(
        request.params["uid"], event, value=value, properties=properties, timestamp=timestamp
    )
    return json_answer(200, {"status": "ok"})


ROUTES = (Route("POST", ("users", "{uid}", "events"), add_event, key_only=True),)

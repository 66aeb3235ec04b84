"""`POST /posthog` (unversioned): the endpoint Engage serves for its PostHog integration.

PostHog's Engage destination (the legacy plugin `posthog-engage-so` and the Hog template
`engage_so`) posts each PostHog event as it is, `{event, distinct_id, properties, ...}`, with
the key and secret. As those destinations' tests describe the events they send:

- `$identify` and `$set` upsert the user `distinct_id` with `properties.$set` (and with those of
  `properties.$set_once` it has no value for yet);
- `$groupidentify` upserts the account `properties.$group_key` with `properties.$group_set`;
- any other event is recorded for the user `distinct_id` with its scalar properties (a `$set`
  it carries updates the user first, as PostHog's own persons work).

In the properties set, first_name, last_name, email and number are the user's fields; every
other scalar goes to meta. Fields the destinations add (`config`, `person`, `uuid`...) are
accepted and ignored.
"""

from __future__ import annotations

from engage_cli.sandbox import validate
from engage_cli.sandbox.documents import JSONObject, UserChanges
from engage_cli.sandbox.routes import events
from engage_cli.sandbox.store import SandboxStore
from engage_cli.sandbox.web import Request, Response, Route, bad_request, json_answer

__all__ = ["ROUTES"]

_USER_FIELDS = ("first_name", "last_name", "email", "number")
_IDENTIFY = frozenset({"$identify", "$set"})


def _changes(values: object, where: str) -> UserChanges:
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise bad_request(f"{where} must be an object.")
    body: JSONObject = {name: values[name] for name in _USER_FIELDS if name in values}
    meta = {
        key: value
        for key, value in values.items()
        if key not in _USER_FIELDS and validate.is_scalar(value)
    }
    if meta:
        body["meta"] = meta
    return validate.user_changes(body)


def _unset_only(store: SandboxStore, uid: str, changes: UserChanges) -> UserChanges:
    """What of `$set_once` the user has no value for yet."""
    user = store.get_user(uid) or {}
    kept: UserChanges = {}
    for name in _USER_FIELDS:
        if name in changes and user.get(name) is None:
            kept[name] = changes[name]  # type: ignore[literal-required]
    meta = {k: v for k, v in changes.get("meta", {}).items() if k not in user.get("meta", {})}
    if meta:
        kept["meta"] = meta
    return kept


def _set_person(store: SandboxStore, uid: str, properties: JSONObject) -> None:
    """Upsert the user with `$set`, and with what of `$set_once` it has no value for yet."""
    once = _unset_only(store, uid, _changes(properties.get("$set_once"), "properties.$set_once"))
    always = _changes(properties.get("$set"), "properties.$set")
    changes: UserChanges = {**once, **always}
    meta = {**once.get("meta", {}), **always.get("meta", {})}
    if meta:
        changes["meta"] = meta
    store.upsert_user(uid, changes)


def post_posthog(request: Request) -> Response:
    body = validate.json_object(request.body)
    name = validate.non_empty_string(body, "event")
    properties = body.get("properties", {})
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        raise bad_request("properties must be an object.")
    store = request.store
    if name == "$groupidentify":
        key = properties.get("$group_key")
        if not isinstance(key, str) or not key.strip():
            raise bad_request("properties.$group_key must be a non-empty string.")
        changes = _changes(properties.get("$group_set"), "properties.$group_set")
        store.upsert_user(key, {**changes, "is_account": True})
        return json_answer(200, {"status": "ok"})
    uid = validate.non_empty_string(body, "distinct_id")
    if name in _IDENTIFY:
        _set_person(store, uid, properties)
        return json_answer(200, {"status": "ok"})
    if "$set" in properties or "$set_once" in properties:
        _set_person(store, uid, properties)
    event: JSONObject = {
        "event": name,
        "properties": {k: v for k, v in properties.items() if validate.is_scalar(v)},
    }
    if isinstance(body.get("timestamp"), str):
        event["timestamp"] = body["timestamp"]
    events.track(store, uid, event)
    return json_answer(200, {"status": "ok"})


# Key and secret: both PostHog destinations send them.
ROUTES = (Route("POST", ("posthog",), post_posthog),)

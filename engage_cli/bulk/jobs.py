"""Stage 2, validate: what each command sends for a record, and the pass that checks every
record before anything is sent."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from engage_cli import endpoints, fields, ids
from engage_cli.bulk.csv_records import (
    EVENT_CSV,
    SERVER_FIELDS,
    UID_CSV,
    USER_CSV,
    CsvSchema,
)
from engage_cli.bulk.records import Record
from engage_cli.endpoints import APIRequest
from engage_cli.errors import UsageError

MAX_PROBLEMS_SHOWN = 20  # invalid records listed in the error; the rest are counted
FAILURES_SUFFIX = ".failed.jsonl"

# --- jobs: what each command sends for a record ----------------------------------------------


@dataclass(frozen=True)
class Job:
    """What a bulk command does with each record."""

    command: str  # "users import": the summary and messages name it
    schema: CsvSchema
    build: Callable[[dict[str, Any]], APIRequest]  # raises UsageError or ValueError
    sends: str  # "PUT /users/{uid}", for the dry-run summary
    resume: str  # the arguments that retry a failures file, "{file}" in them
    failures_suffix: str = FAILURES_SUFFIX  # delete's own, so a teardown keeps the import's
    stdin_stem: str = "engage-import"  # this run's files from stdin: in the cwd, named so
    done_statuses: frozenset[int] = frozenset()  # errors that still mean done (404 on delete)
    dedupe: bool = False  # send each distinct request once


def _key(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(
            f"{name}: {'is required' if value is None else 'must be a non-empty string'}"
        )
    return value


_NOT_SENT = SERVER_FIELDS | {"id", "uid"}  # of a user record: the key, and the server's own


def _user_key(data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The user's id in your application (`id`, or `uid` as exports call it), and the rest.

    A user object exported by `users list` has both: `uid` is the application's id and `id`
    Engage's internal one, so such a record imports as it was exported."""
    if "id" in data:
        name = "id"
        if "uid" in data and data["id"] != data["uid"]:
            if not ids.is_internal_id(data["id"]):  # Engage's own id, as exports carry it
                raise ValueError("id and uid differ: give one of them")
            name = "uid"
    elif "uid" in data:
        name = "uid"
    else:
        raise ValueError("id: is required (the user's id in your application)")
    key = _key(data, name)
    # null is how an export says "not set": not given, as an empty CSV cell is.
    rest = {k: v for k, v in data.items() if v is not None and k not in _NOT_SENT}
    lists = rest.get("lists")
    if lists is not None:
        if isinstance(lists, list) and all(isinstance(x, dict) and "id" in x for x in lists):
            lists = rest["lists"] = [x["id"] for x in lists]  # the object form an export carries
        if lists == []:
            del rest["lists"]
    return key, rest


def build_user_create(data: dict[str, Any]) -> APIRequest:
    key, rest = _user_key(data)
    body = fields.create_body(key, rest)  # without pydantic when every field is plain
    if body is None:
        from engage_cli import models

        body = models.validate(models.UserCreate, {"id": key, **rest})
    return endpoints.create_user(body)


def build_user_upsert(data: dict[str, Any]) -> APIRequest:
    key, rest = _user_key(data)
    lists = rest.pop("lists", None)
    body = fields.upsert_body(key, rest)  # without pydantic when every field is plain
    if body is None:
        from engage_cli import models

        body = models.validate(models.UserUpsert, {"id": key, **rest})
        del body["id"]  # it is the path
    if lists is not None:
        # An export carries each user's lists; the API takes them on PUT as its SDKs send
        # them, so an export imports back whatever the mode.
        if not isinstance(lists, list) or not all(isinstance(x, str) and x for x in lists):
            raise ValueError("lists: must be a list of list ids")
        body["lists"] = lists
    return endpoints.update_user(key, body)


def build_event(data: dict[str, Any]) -> APIRequest:
    from engage_cli import models

    uid = _key(data, "uid")
    body = {k: v for k, v in data.items() if k != "uid"}
    return endpoints.add_event(uid, models.validate(models.EventCreate, body))


def build_user_delete(data: dict[str, Any]) -> APIRequest:
    # An export from `users list` has both: uid is the application's id, id the internal one.
    return endpoints.delete_user(_key(data, "uid" if "uid" in data else "id"))


def users_import_job(mode: str) -> Job:
    create = mode == "create"
    return Job(
        command="users import",
        schema=USER_CSV,
        build=build_user_create if create else build_user_upsert,
        sends="POST /users" if create else "PUT /users/{uid}",
        resume="users import {file}" + (" --mode create" if create else ""),
    )


EVENTS_IMPORT = Job(
    command="events import",
    schema=EVENT_CSV,
    build=build_event,
    sends="POST /users/{uid}/events",
    resume="events import {file}",
)
USERS_DELETE = Job(
    command="users delete",
    schema=UID_CSV,
    build=build_user_delete,
    sends="DELETE /users/{uid}",
    resume="users delete --from {file} --yes",
    failures_suffix=".delete-failed.jsonl",
    stdin_stem="engage-delete",
    done_statuses=frozenset({404}),  # already gone is what a teardown wants
    dedupe=True,  # an events file names a user many times
)


def route_key(request: APIRequest) -> str:
    """The uid a request is about: requests with the same one go one at a time (through one
    worker; --batch chunks carrying it in turn), so rows for a user are applied in file order
    whatever the concurrency."""
    if request.path == "/users" and isinstance(request.body, dict):
        return str(request.body.get("id"))
    parts = request.path.split("/")
    # A collection (POST /lists, from seed apply) has no id: its requests share one worker.
    return parts[2] if len(parts) > 2 else request.path


BATCH_TYPES = {("POST", "users"): "create", ("PUT", "user"): "update", ("POST", "events"): "event"}


def batch_item(request: APIRequest) -> dict[str, Any]:
    """The request as an item of POST /batch: {"type": create|update|event, "id": uid, ...}."""
    parts = request.path.split("/")
    kind = {2: "users", 3: "user", 4: "events"}.get(len(parts), "")
    item_type = BATCH_TYPES.get((request.method, kind))
    if item_type is None:
        raise ValueError(f"{request.method} {request.path} has no batch form")
    body = dict(request.body or {})
    if item_type == "create":
        return {"type": "create", **body}
    return {"type": item_type, "id": unquote(parts[2]), **body}


class InvalidRecord(Exception):
    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def prepare(job: Job, record: Record) -> APIRequest:
    """The request for a record, or InvalidRecord saying what is wrong, with the line."""
    where = f"line {record.line}"
    if record.problems:
        raise InvalidRecord(f"{where}: " + "; ".join(record.problems) + ".")
    if not isinstance(record.data, dict):
        raise InvalidRecord(f"{where}: expected a JSON object.")
    try:
        return job.build(record.data)
    except UsageError as exc:
        message = exc.message if exc.message.endswith(".") else exc.message + "."
        raise InvalidRecord(f"{where}: {message}", exc.hint) from None
    except ValueError as exc:
        raise InvalidRecord(f"{where}: invalid {job.schema.label}: {exc}.") from None


# --- the validation pass ---------------------------------------------------------------------


@dataclass
class Checked:
    """What the validation pass found."""

    read: int = 0
    valid: int = 0
    duplicates: int = 0
    problems: list[str] = field(default_factory=list)  # the first few, for the error
    hint: str | None = None
    # The request whose credentials the run needs: the first needing the secret, if any.
    sample: APIRequest | None = None

    @property
    def invalid(self) -> int:
        return self.read - self.valid - self.duplicates

    def error(self, source: str) -> UsageError:
        shown = "\n".join(f"  {line}" for line in self.problems)
        more = self.invalid - len(self.problems)
        if more > 0:
            shown += f"\n  ... and {more} more"
        return UsageError(
            f"{self.invalid} of {self.read} records in {source} are invalid; nothing was sent:"
            f"\n{shown}",
            hint=self.hint or "Fix them and run again; --dry-run checks a file without sending.",
        )


def check_all(
    records: Iterable[Record],
    job: Job,
    on_valid: Callable[[Record, APIRequest], None] | None = None,
    keep: Callable[[Record, APIRequest], None] | None = None,
) -> Checked:
    """Validate every record; keep the first problems, count the rest. `keep` gets every
    valid record, repeats included; `on_valid` only those that will be sent."""
    checked = Checked()
    seen: set[str] = set()
    for record in records:
        checked.read += 1
        try:
            request = prepare(job, record)
        except InvalidRecord as exc:
            if len(checked.problems) < MAX_PROBLEMS_SHOWN:
                checked.problems.append(exc.message)
            checked.hint = checked.hint or exc.hint
            continue
        if keep is not None:
            keep(record, request)
        if job.dedupe:
            if request.path in seen:
                checked.duplicates += 1
                continue
            seen.add(request.path)
        checked.valid += 1
        if checked.sample is None or (request.needs_secret and not checked.sample.needs_secret):
            checked.sample = request
        if on_valid is not None:
            on_valid(record, request)
    return checked

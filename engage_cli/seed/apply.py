"""Running a plan: each action becomes one request, sent through the bulk driver
(`bulk.run`: concurrency, pacing, retries, 429s, and the accounting of what landed), in
successive runs where one action needs another done first:

1. lists (their ids are the server's: read back once created);
2. users and accounts created or updated (a create is an upsert, PUT /users/{uid}: harmless
   to repeat, so a timeout never leaves it uncertain), then deletions;
3. what needs the user to exist: memberships, then events (only for users created in 2).

An action whose user did not land in 2 is not sent in 3; it is reported, and the next apply
plans it again. This module prints nothing: the caller's reporter hears the runs.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engage_cli import endpoints
from engage_cli.bulk import run as driver
from engage_cli.bulk.csv_records import USER_CSV
from engage_cli.bulk.jobs import Job
from engage_cli.bulk.records import Record
from engage_cli.endpoints import APIRequest
from engage_cli.seed.file import Seed
from engage_cli.seed.plan import Action, Plan, list_ids
from engage_cli.seed.state import Holdings, resolve_list_ids

if TYPE_CHECKING:
    from engage_cli.bulk.runner import Tally

FAILED = ("failed", "unknown", "not_sent", "invalid")


@dataclass
class Failure:
    action: Action
    outcome: str  # failed, unknown (may have landed), not_sent, skipped (its user did not land)
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.action.to_dict(), "outcome": self.outcome, "error": self.message}


@dataclass
class Applied:
    """What an apply did: the actions that landed, and those that did not, with why."""

    landed: list[Action] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    elapsed: float = 0.0
    stopped: driver.Result | None = None  # a run that stopped (credentials, API down, Ctrl-C)
    would_send: int = 0  # dry run


# --- requests ----------------------------------------------------------------------------------


def build_request(data: dict[str, Any]) -> APIRequest:
    """The request for an action (its `to_dict()`, with `list_ids` resolved where it names
    lists)."""
    action, uid = data["action"], data["id"]
    if data["kind"] == "list":
        if action == "create":
            return endpoints.create_list(data["fields"])
        if action == "update":
            changes = data["changes"].items()
            return endpoints.update_list(data["list_id"], {k: c["new"] for k, c in changes})
        return endpoints.archive_list(data["list_id"])
    if action == "create":
        body = dict(data["fields"])
        if data.get("list_ids"):
            body["lists"] = data["list_ids"]
        return endpoints.update_user(uid, body)  # an upsert: harmless to repeat
    if action == "update":
        return endpoints.update_user(uid, _update_body(data["changes"]))
    if action == "delete":
        return endpoints.delete_user(uid)
    if action == "join_lists":
        return endpoints.add_user_lists(uid, {"lists": data["list_ids"]})
    if action == "leave_lists":
        return endpoints.remove_user_lists(uid, {"lists": data["list_ids"]})
    if action == "join_accounts":
        return endpoints.add_accounts(uid, {"accounts": data["accounts"]})
    if action == "set_role":
        return endpoints.set_account_role(uid, data["account"], {"role": data["new"]})
    if action == "leave_account":
        return endpoints.remove_account(uid, data["account"])
    if action == "send_event":
        return endpoints.add_event(uid, data["event"])
    raise ValueError(f"unknown action {action!r}")


def _update_body(changes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Only the changed fields; meta as the keys that changed (the API merges meta)."""
    body: dict[str, Any] = {}
    for name, change in changes.items():
        if name.startswith("meta."):
            body.setdefault("meta", {})[name[len("meta.") :]] = change["new"]
        else:
            body[name] = change["new"]
    return body


def _job(done_statuses: frozenset[int]) -> Job:
    return Job(
        command="seed apply",
        schema=USER_CSV,
        build=build_request,
        sends="the plan's requests",
        resume="seed apply",
        done_statuses=done_statuses,
    )


GONE = frozenset({404})  # deleting or archiving what is already gone is done


# --- the runs ----------------------------------------------------------------------------------


class _Hearing:
    """The caller's reporter, with every action's outcome kept (runs call it from workers;
    each record's outcome is one dict write)."""

    def __init__(self, inner: driver.Reporter) -> None:
        self.inner = inner
        self.outcomes: dict[int, tuple[str, str | None]] = {}

    def warn(self, message: str) -> None:
        self.inner.warn(message)

    def would_send(self, record: Record, request: APIRequest) -> None:
        self.inner.would_send(record, request)

    def sending(self, total: int | None, failures: Path) -> None:
        self.inner.sending(total, failures)

    def progress(self, tally: Tally) -> None:
        self.inner.progress(tally)

    def stopping(self, failures: Path) -> None:
        self.inner.stopping(failures)

    def outcome(
        self, record: Record, outcome: str, message: str | None, status: int | None
    ) -> None:
        self.outcomes[record.line] = (outcome, message)
        self.inner.outcome(record, outcome, message, status)

    def sent(self) -> None:
        self.inner.sent()


def apply(
    plan: Plan,
    seed: Seed,
    holdings: Holdings,
    connect: driver.Connect,
    reporter: driver.Reporter,
    *,
    concurrency: int | None = None,
    dry_run: bool = False,
) -> Applied:
    """Send the plan's actions in their phases (the plan of `seed` against `holdings`)."""
    applied = Applied()
    started = time.monotonic()
    hearing = _Hearing(reporter)
    dropped: set[str] = set()  # users and accounts whose create did not land
    ids = list_ids(seed, holdings)  # key -> the list's id; None: not created (yet)
    with tempfile.TemporaryDirectory(prefix="engage-seed-") as workdir:
        # The driver's failures, unknown and journal files: the report names what did not
        # land, and applying again finishes it, so they are not kept.
        stem = str(Path(workdir) / "seed")

        def send(actions: list[Action], done: frozenset[int] = frozenset()) -> None:
            """One driver run; once a run stopped, the later ones are not sent."""
            if applied.stopped is not None:
                why = "not sent: the run stopped first"
                applied.failures += [Failure(action, "not_sent", why) for action in actions]
                return
            actions = _with_lists(actions, ids, applied, dry_run)
            if not actions:
                return
            records = [Record(n, _record(a, ids, dry_run)) for n, a in enumerate(actions, 1)]
            hearing.outcomes.clear()
            run = driver.BulkRun(
                _job(done),
                driver.RecordsInput(records, name=stem, label=f"seed {plan.seed}"),
                concurrency=concurrency,
                dry_run=dry_run,
                allow_empty=True,
            )
            result = driver.run(run, connect, hearing)
            _account(applied, actions, hearing.outcomes, result, dry_run)
            for failure in applied.failures:
                action = failure.action
                if (
                    action.action == "create"
                    and action.kind != "list"
                    and failure.outcome != "skipped"
                ):
                    dropped.add(action.id)  # what needs it to exist is not sent
            if result.fatal or result.down or result.ledger_error or result.summary.interrupted:
                applied.stopped = result

        phase = {n: [a for a in plan.actions if a.phase == n] for n in (1, 2, 3)}
        lists = phase[1]
        send([a for a in lists if a.action != "archive"])
        if any(a.action == "create" for a in lists) and not dry_run and applied.stopped is None:
            now = resolve_list_ids(lambda: connect())
            ids.update({key: now.get(item.fields["title"]) for key, item in seed.lists.items()})
        writes = [a for a in phase[2] if a.action != "delete"]
        send(writes)
        send([a for a in phase[2] if a.action == "delete"], GONE)
        later = []
        for action in phase[3]:
            if action.id in dropped:
                why = "not sent: its user or account did not land; apply again"
                applied.failures.append(Failure(action, "skipped", why))
            else:
                later.append(action)
        send(later)
        send([a for a in lists if a.action == "archive"], GONE)
    applied.elapsed = time.monotonic() - started
    return applied


def _with_lists(
    actions: list[Action], ids: dict[str, str | None], applied: Applied, dry_run: bool
) -> list[Action]:
    """The actions to send, given the lists that exist: a list whose create did not land
    cannot be joined; that part is reported (apply again joins it) and the rest is sent."""
    if dry_run:
        return actions
    kept = []
    for action in actions:
        keys = action.detail.get("lists") or []
        missing = [key for key in keys if ids.get(key) is None]
        if missing:
            why = f"not joined to list {', '.join(missing)}: it was not created; apply again"
            applied.failures.append(Failure(action, "skipped", why))
            if action.action != "create" and len(missing) == len(keys):
                continue
        kept.append(action)
    return kept


def _record(action: Action, ids: dict[str, str | None], dry_run: bool) -> dict[str, Any]:
    data = action.to_dict()
    keys = data.get("lists")
    if keys:
        # A dry run names the lists it would create; a run sends the ids of those that exist.
        found = [(key, ids.get(key)) for key in keys]
        if dry_run:
            data["list_ids"] = [i or f"(the id of new list {key})" for key, i in found]
        else:
            data["list_ids"] = [i for _, i in found if i is not None]
    return data


def _account(
    applied: Applied,
    actions: list[Action],
    outcomes: dict[int, tuple[str, str | None]],
    result: driver.Result,
    dry_run: bool,
) -> None:
    summary = result.summary
    if dry_run:
        applied.would_send += summary.would_send
        return
    applied.requests += summary.requests
    applied.retries += summary.retries
    applied.rate_limited += summary.rate_limited
    for n, action in enumerate(actions, 1):
        outcome, message = outcomes.get(n, ("not_sent", "not sent: the run stopped first"))
        if outcome == "landed":
            applied.landed.append(action)
        else:
            applied.failures.append(Failure(action, outcome, message or outcome))


EVENTS_SUFFIX = ".events-failed.jsonl"


def save_unsent_events(failures: list[Failure], stem: str) -> Path | None:
    """Events of users this apply created that certainly did not land (refused, or not sent
    as the run stopped), in a file `engage events import` reads: apply sends events only with
    a create, so a later apply will not. One sent without an answer may have landed: never in
    it. None when there is none."""
    from engage_cli.bulk.ledger import RecordsFile

    events = [
        f
        for f in failures
        if f.action.action == "send_event" and f.outcome in ("failed", "not_sent")
    ]
    if not events:
        return None
    saved = RecordsFile(Path(stem + EVENTS_SUFFIX), mode="claim", suffix=EVENTS_SUFFIX)
    try:
        for n, failure in enumerate(events, 1):
            event = {"uid": failure.action.id, **failure.action.detail["event"]}
            saved.add(Record(n, event), failure.message)
    finally:
        kept = saved.close()
    return kept


def names(failures: Iterable[Failure]) -> list[str]:
    """`update user u144 (400 ...)`: each failure, shortly."""
    return [f"{f.action.action} {f.action.kind} {f.action.id}: {f.message}" for f in failures]

"""The plan: what apply (or down) would change, from the seed and what the account holds.
Pure: no I/O, so every rule reads (and is tested) as a table of cases.

Rules: a list is the list with its title; a user or account is updated only in the fields the
file declares (meta key by key; other fields and meta keys are left alone); every user and
account written carries `meta.seed: NAME`; events go only with a create; for the seed's own
lists and accounts, a declared user the file does not put in one leaves it; pruning deletes
only users marked as this seed's that the file no longer declares.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engage_cli.seed.file import MARK, Seed, SeedList, SeedUser
from engage_cli.seed.state import Holdings, owned_by

# Every action, in the order a summary counts them. `kind` is what the action changes: a list
# (its id is the file's key), or a user or an account (its uid).
ACTIONS = (
    "create",
    "update",
    "delete",
    "archive",
    "join_lists",
    "leave_lists",
    "join_accounts",
    "set_role",
    "leave_account",
    "send_event",
)
MEMBERSHIPS = ("join_lists", "leave_lists", "join_accounts", "set_role", "leave_account")


@dataclass(frozen=True)
class Action:
    action: str
    kind: str  # list, user or account
    id: str
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "kind": self.kind, "id": self.id, **self.detail}

    @property
    def phase(self) -> int:
        """Apply's order: lists (1) before users and accounts (2), before what needs a user to
        exist: memberships and events (3)."""
        if self.kind == "list":
            return 1
        return 2 if self.action in ("create", "update", "delete") else 3


@dataclass
class Plan:
    seed: str
    actions: list[Action]
    unchanged: int = 0  # declared lists, users and accounts that need nothing
    skipped: list[str] = field(default_factory=list)  # down: declared users not marked as ours

    def summary(self) -> dict[str, int]:
        counts = dict.fromkeys(ACTIONS, 0)
        for action in self.actions:
            counts[action.action] += 1
        counts["unchanged"] = self.unchanged
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "actions": [action.to_dict() for action in self.actions],
            "summary": self.summary(),
        }


# --- apply ---------------------------------------------------------------------------------------


def plan_apply(seed: Seed, holdings: Holdings, *, prune: bool = False) -> Plan:
    plan = Plan(seed.name, [])
    for item in seed.lists.values():
        _plan_list(plan, item, holdings)
    ids = list_ids(seed, holdings)
    for user in seed.users:
        current = holdings.users.get(user.uid)
        if current is None:
            _plan_create(plan, user, seed.name)
        else:
            _plan_existing(plan, user, current, seed, ids)
    if prune:
        if holdings.marked is None:
            raise ValueError("pruning needs the account listed")  # state.read lists for prune
        declared = {user.uid for user in seed.users}
        for uid, stored in holdings.marked.items():
            if uid not in declared:
                plan.actions.append(Action("delete", _kind(stored), uid))
    return plan


def _plan_list(plan: Plan, item: SeedList, holdings: Holdings) -> None:
    current = holdings.lists.get(item.fields["title"])
    if current is None:
        plan.actions.append(Action("create", "list", item.key, {"fields": item.fields}))
        return
    changes = {
        name: {"old": current.get(name), "new": new}
        for name, new in item.fields.items()
        if not same(name, current.get(name), new)
    }
    if changes:
        detail = {"list_id": str(current["id"]), "changes": changes}
        plan.actions.append(Action("update", "list", item.key, detail))
    else:
        plan.unchanged += 1


def list_ids(seed: Seed, holdings: Holdings) -> dict[str, str | None]:
    """Key -> the id of the seed's list on the server (None: not created yet)."""
    ids: dict[str, str | None] = {}
    for key, item in seed.lists.items():
        current = holdings.lists.get(item.fields["title"])
        ids[key] = None if current is None else str(current["id"])
    return ids


def _plan_create(plan: Plan, user: SeedUser, name: str) -> None:
    fields = dict(user.fields)
    fields["meta"] = {**fields.get("meta", {}), MARK: name}
    if user.is_account:
        fields["is_account"] = True
    detail: dict[str, Any] = {"fields": fields}
    if user.lists:
        detail["lists"] = list(user.lists)  # joined by the create itself
    actions = plan.actions
    actions.append(Action("create", user.kind, user.uid, detail))
    if user.accounts:
        actions.append(Action("join_accounts", user.kind, user.uid, _links(user.accounts)))
    for event in user.events:
        actions.append(Action("send_event", user.kind, user.uid, {"event": event}))


def _links(
    accounts: tuple[tuple[str, str | None], ...] | list[tuple[str, str | None]],
) -> dict[str, Any]:
    return {
        "accounts": [
            {"id": aid} if role is None else {"id": aid, "role": role} for aid, role in accounts
        ]
    }


def _plan_existing(
    plan: Plan,
    user: SeedUser,
    current: dict[str, Any],
    seed: Seed,
    ids: dict[str, str | None],
) -> None:
    actions: list[Action] = []
    changes = user_changes(user, current, seed.name)
    if changes:
        actions.append(Action("update", user.kind, user.uid, {"changes": changes}))
    joins, leaves = list_changes(user, current, ids)
    if joins:
        actions.append(Action("join_lists", user.kind, user.uid, {"lists": joins}))
    if leaves:
        actions.append(Action("leave_lists", user.kind, user.uid, {"lists": leaves}))
    actions += _account_actions(user, current, seed.account_ids)
    if actions:
        plan.actions += actions
    else:
        plan.unchanged += 1


def user_changes(user: SeedUser, current: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    """The declared fields whose value differs on the server: {field: {old, new}}, meta key
    by key (`meta.plan`), and the owner mark and the account type when missing."""
    changes: dict[str, dict[str, Any]] = {}
    stored_meta = current.get("meta") if isinstance(current.get("meta"), dict) else {}
    assert isinstance(stored_meta, dict)
    for field_name, new in user.fields.items():
        if field_name == "meta":
            for key, value in new.items():
                if not same(key, stored_meta.get(key), value):
                    changes[f"meta.{key}"] = {"old": stored_meta.get(key), "new": value}
        elif field_name == "device_token":
            tokens = [d.get("token") for d in current.get("devices") or [] if isinstance(d, dict)]
            if new not in tokens:
                changes["device_token"] = {"old": None, "new": new}
                changes["device_platform"] = {"old": None, "new": user.fields["device_platform"]}
        elif field_name != "device_platform" and not same(field_name, current.get(field_name), new):
            changes[field_name] = {"old": current.get(field_name), "new": new}
    if stored_meta.get(MARK) != name:
        changes[f"meta.{MARK}"] = {"old": stored_meta.get(MARK), "new": name}
    if user.is_account and current.get("is_account") is not True:
        changes["is_account"] = {"old": current.get("is_account"), "new": True}
    return changes


def list_changes(
    user: SeedUser, current: dict[str, Any], list_ids: dict[str, str | None]
) -> tuple[list[str], list[str]]:
    """(keys to join, keys to leave): the declared lists the user is not subscribed to, and
    the seed's lists the user is in but the file does not put it in."""
    entries = [e for e in current.get("lists") or [] if isinstance(e, dict)]
    present = {str(e.get("id")) for e in entries}
    subscribed = {str(e.get("id")) for e in entries if e.get("subscribed", True) is not False}
    joins = [key for key in user.lists if list_ids.get(key) not in subscribed]
    leaves = [
        key
        for key, list_id in list_ids.items()
        if list_id is not None and list_id in present and key not in user.lists
    ]
    return joins, leaves


def _account_actions(user: SeedUser, current: dict[str, Any], accounts: set[str]) -> list[Action]:
    links = [a for a in current.get("accounts") or [] if isinstance(a, dict) and "id" in a]
    held = {str(a["id"]): a.get("role") for a in links}
    joins = [(aid, role) for aid, role in user.accounts if aid not in held]
    actions: list[Action] = []
    if joins:
        actions.append(Action("join_accounts", user.kind, user.uid, _links(joins)))
    for aid, role in user.accounts:
        if aid in held and role is not None and held[aid] != role:
            detail = {"account": aid, "old": held[aid], "new": role}
            actions.append(Action("set_role", user.kind, user.uid, detail))
    declared = {aid for aid, _ in user.accounts}
    for aid in held:
        if aid in accounts and aid not in declared:
            actions.append(Action("leave_account", user.kind, user.uid, {"account": aid}))
    return actions


def same(name: str, old: Any, new: Any) -> bool:
    """Whether the server's value is the file's: dates as the moments they name (the server
    may write them its own way), true never equal to 1."""
    if name == "created_at" and isinstance(old, str) and isinstance(new, str):
        from engage_cli.strict import parse_iso8601

        try:
            return parse_iso8601(old) == parse_iso8601(new)
        except ValueError:
            return old == new
    if isinstance(old, bool) != isinstance(new, bool):
        return False
    return bool(old == new)


def _kind(user: dict[str, Any]) -> str:
    return "account" if user.get("is_account") is True else "user"


# --- down ----------------------------------------------------------------------------------------


def plan_down(seed: Seed, holdings: Holdings) -> Plan:
    """Delete every declared user and account this seed owns (users first), and archive its
    lists. What is gone already needs nothing; what exists without the mark is left alone."""
    plan = Plan(seed.name, [])
    for user in sorted(seed.users, key=lambda u: u.is_account):
        current = holdings.users.get(user.uid)
        if current is None:
            continue
        if owned_by(current, seed.name):
            plan.actions.append(Action("delete", user.kind, user.uid))
        else:
            plan.skipped.append(user.uid)
    for item in seed.lists.values():
        current = holdings.lists.get(item.fields["title"])
        if current is not None:
            plan.actions.append(
                Action("archive", "list", item.key, {"list_id": str(current["id"])})
            )
    return plan

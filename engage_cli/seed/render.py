"""A plan as people read it on a terminal: `+` create, `~` update (old -> new per field),
`-` delete, memberships and events, then a summary line. Data is never markup nor a control
code: every value passes `tables.printable` after being written as JSON (so `"1"` and `1`
differ visibly); colour is only the ANSI codes added here."""

from __future__ import annotations

import json
from typing import Any

from engage_cli.seed.plan import MEMBERSHIPS, Action, Plan
from engage_cli.tables import printable

_GREEN, _YELLOW, _RED, _CYAN, _BOLD, _RESET = (
    "\x1b[32m",
    "\x1b[33m",
    "\x1b[31m",
    "\x1b[36m",
    "\x1b[1m",
    "\x1b[0m",
)
_SIGNS = {
    "create": ("+", _GREEN),
    "update": ("~", _YELLOW),
    "set_role": ("~", _YELLOW),
    "delete": ("-", _RED),
    "archive": ("-", _RED),
    "leave_lists": ("-", _RED),
    "leave_account": ("-", _RED),
    "join_lists": ("+", _CYAN),
    "join_accounts": ("+", _CYAN),
    "send_event": (">", _CYAN),
}


def value(data: Any) -> str:
    """A value as JSON text, made safe to print."""
    return printable(json.dumps(data, ensure_ascii=False))


def text(data: Any) -> str:
    return printable(str(data))


def lines(plan: Plan, color: bool) -> list[str]:
    """The plan's lines, then its summary line."""
    out: list[str] = []
    for action in plan.actions:
        sign, tint = _SIGNS[action.action]
        head, details = _describe(action)
        first = f"{sign} {head}"
        out.append(f"{tint}{first}{_RESET}" if color else first)
        out += [f"    {line}" for line in details]
    if not plan.actions:
        out.append(f"No changes: the account holds seed {text(plan.seed)} as the file declares.")
    summary = sentence(plan)
    out.append(f"{_BOLD}{summary}{_RESET}" if color else summary)
    return out


def _describe(action: Action) -> tuple[str, list[str]]:
    who = f"{action.kind} {text(action.id)}"
    detail = action.detail
    kind = action.action
    if kind == "create":
        fields = detail["fields"]
        details = [f"{text(k)}: {value(v)}" for k, v in fields.items() if k != "meta"]
        details += [f"meta.{text(k)}: {value(v)}" for k, v in fields.get("meta", {}).items()]
        if detail.get("lists"):
            details.append("lists: " + ", ".join(text(k) for k in detail["lists"]))
        return who, details
    if kind == "update":
        changes = detail["changes"].items()
        return who, [f"{text(k)}: {value(c['old'])} -> {value(c['new'])}" for k, c in changes]
    if kind in ("delete", "archive"):
        return who, []
    if kind in ("join_lists", "leave_lists"):
        verb = "joins" if kind == "join_lists" else "leaves"
        return f"{who} {verb} list {', '.join(text(k) for k in detail['lists'])}", []
    if kind == "join_accounts":
        links = [
            text(link["id"]) + (f" as {text(link['role'])}" if "role" in link else "")
            for link in detail["accounts"]
        ]
        return f"{who} joins account {', '.join(links)}", []
    if kind == "set_role":
        role = f"{value(detail['old'])} -> {value(detail['new'])}"
        return f"{who} role in account {text(detail['account'])}: {role}", []
    if kind == "leave_account":
        return f"{who} leaves account {text(detail['account'])}", []
    event = detail["event"]
    rest = {k: v for k, v in event.items() if k != "event"}
    return f"{who} event {text(event['event'])}" + (f" {value(rest)}" if rest else ""), []


def sentence(plan: Plan) -> str:
    counts = plan.summary()
    memberships = sum(counts[name] for name in MEMBERSHIPS)
    parts = [
        f"{counts['create']:,} to create",
        f"{counts['update']:,} to update",
        f"{counts['delete'] + counts['archive']:,} to delete",
        f"{memberships:,} membership change{'s' * (memberships != 1)}",
        f"{counts['send_event']:,} event{'s' * (counts['send_event'] != 1)} to send",
    ]
    tail = f"; {counts['unchanged']:,} unchanged" if counts["unchanged"] else ""
    return f"Seed {text(plan.seed)}: " + ", ".join(parts) + tail + "."

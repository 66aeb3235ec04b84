"""Text for a terminal: data made printable, and tables laid out for 80 columns first.

Everything that reaches a terminal passes `printable()` first: data is never markup and never
raw control characters. One line per row; the widest column gives way with an ellipsis, and
nothing is wrapped mid-word. `output.py` decides when a table is drawn; this module, how.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any, ClassVar

USER_COLUMNS = ("uid", "first_name", "last_name", "email", "number", "lists", "created_at", "id")
DEFAULT_WIDTH = 80  # a table's width when the terminal's is unknown (CI logs, pipes)
ELLIPSIS = "…"
GAP = "  "  # between table columns
COMFORTABLE = 20  # a column this wide reads well; wider ones give way to optional columns

# Characters a terminal acts on instead of showing: C0/C1 controls and DEL (escape
# sequences, bells, carriage returns), line and paragraph separators, and the bidi
# overrides that reorder what is shown; and lone surrogates, which no terminal can be sent.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str, *, keep_newlines: bool = False) -> str:
    r"""`text` as a terminal should show it: every control character visibly escaped
    (ESC as \x1b, a newline as \n unless `keep_newlines`), everything else as it is.
    Nothing in this module reads markup, so `[bold]` stays `[bold]`."""

    def escape(match: re.Match[str]) -> str:
        char = match.group()
        if keep_newlines and char == "\n":
            return char
        return _NAMED.get(char) or (
            f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"
        )

    return _UNPRINTABLE.sub(escape, text)


def cell_width(text: str) -> int:
    """Columns `text` takes on a terminal: wide East Asian characters take two, combining
    marks none."""
    width = 0
    for char in text:
        if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def truncate(text: str, width: int) -> str:
    """`text` cut to `width` columns, an ellipsis marking the cut."""
    if cell_width(text) <= width:
        return text
    if width <= 0:
        return ""
    kept, used = [], 0
    for char in text:
        char_width = cell_width(char)
        if used + char_width > width - 1:
            break
        kept.append(char)
        used += char_width
    return "".join(kept) + ELLIPSIS


def pad(text: str, width: int) -> str:
    return text + " " * max(0, width - cell_width(text))


def short_date(value: str) -> str:
    """`2026-11-29T14:32:10.123Z` as `2026-11-29 14:32`: what a table has room for."""
    match = re.match(r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})", value)
    return f"{match.group(1)} {match.group(2)}" if match else value


# --- cells and rows ---


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def flatten_user(user: dict[str, Any], typed: frozenset[str] = frozenset()) -> dict[str, str]:
    """A user as one CSV row: `lists` as ids joined by `;` and `meta.KEY` columns, the
    shape `engage users import` reads back. Meta keys in `typed` (all numbers or booleans)
    are written `meta.KEY:=` with JSON cells, so an import reads 34 back as 34."""
    row: dict[str, str] = {}
    for key in USER_COLUMNS:
        if key == "lists":
            lists = user.get("lists") or []
            row[key] = ";".join(str(x.get("id") if isinstance(x, dict) else x) for x in lists)
        else:
            row[key] = cell_text(user.get(key))
    for key, value in (user.get("meta") or {}).items():
        if key in typed:
            row[f"meta.{key}:="] = json.dumps(value, ensure_ascii=False)
        else:
            row[f"meta.{key}"] = cell_text(value)
    for key, value in user.items():
        if key not in row and key not in ("meta", "lists"):
            row[key] = cell_text(value)
    return row


def flatten_generic(item: Any) -> dict[str, str]:
    if not isinstance(item, dict):
        return {"value": cell_text(item)}
    return {str(k): cell_text(v) for k, v in item.items()}


class Rows:
    """How one kind of item is shown in a table, on a card and in a CSV file. This one
    suits any JSON object: a column per key, a card line per key."""

    whole: frozenset[str] = frozenset()  # columns never cut short, however narrow the table
    # Columns that give way no narrower than this (or their own width) while others can.
    minimum: ClassVar[dict[str, int]] = {}

    def table_row(self, item: Any) -> dict[str, str]:
        """The item's cells by column name, as a table shows them."""
        return flatten_generic(item)

    def table_columns(self, rows: list[dict[str, str]]) -> tuple[list[str], list[str]]:
        """The columns for these rows: those always shown, and those shown when there is
        room (in order of preference). Here: every key that holds something somewhere."""
        columns: dict[str, None] = {}
        for row in rows:
            columns.update(dict.fromkeys(key for key, value in row.items() if value))
        return list(columns) or list(rows[0] if rows else {}), []

    def card(self, obj: dict[str, Any]) -> list[tuple[str, str]]:
        return [(str(k), cell_text(v)) for k, v in obj.items()]

    def csv_row(self, item: Any, typed: frozenset[str]) -> dict[str, str]:
        return flatten_generic(item)

    def typed_keys(self, item: Any) -> dict[str, bool]:
        """Column names whose cells are JSON literals when every row agrees (users' meta)."""
        return {}


class UserRows(Rows):
    """Users: the columns a person scans for, meta keys when there is room."""

    CORE = ("uid", "name", "email", "created")
    EXTRA = ("number", "lists")
    # What --columns may name besides meta.KEY: the derived columns, then the user object's
    # fields (the reference's, and those Engage adds: accounts, archived ...).
    COLUMNS = (
        *CORE, *EXTRA, "first_name", "last_name", "created_at", "id", "devices", "segments",
        "accounts", "is_account", "member_count", "archived", "last_interaction",
        "uid_updateable",
    )  # fmt: skip
    # A date cut short says nothing. A long uid gives way like any wide column (the widest
    # first, as Rich does), down to COMFORTABLE: at 80 columns a 44-character uid kept whole
    # left names and emails as "Alexa…"; -o json or --columns uid shows it whole.
    whole = frozenset({"created"})
    minimum: ClassVar[dict[str, int]] = {"name": 12, "email": 20}

    def __init__(self, columns: tuple[str, ...] | None = None) -> None:
        self.chosen = columns

    @classmethod
    def unknown_columns(cls, columns: tuple[str, ...]) -> list[str]:
        """The names in `columns` that no user row has: neither a column nor meta.KEY."""
        return [
            c for c in columns if c not in cls.COLUMNS and not (c.startswith("meta.") and c[5:])
        ]

    def table_row(self, item: Any) -> dict[str, str]:
        """Every field (for --columns), plus the derived `name` and short `created`."""
        if not isinstance(item, dict):
            return {"uid": cell_text(item)}
        row = {str(key): cell_text(value) for key, value in item.items() if key != "meta"}
        names = [cell_text(item.get("first_name")), cell_text(item.get("last_name"))]
        row["name"] = " ".join(filter(None, names))
        row["created"] = short_date(cell_text(item.get("created_at")))
        row["lists"] = _describe_lists(item.get("lists"))
        meta = item.get("meta")
        if isinstance(meta, dict):
            row.update({f"meta.{key}": cell_text(value) for key, value in meta.items()})
        return row

    def table_columns(self, rows: list[dict[str, str]]) -> tuple[list[str], list[str]]:
        if self.chosen:
            return list(self.chosen), []
        extra: dict[str, None] = dict.fromkeys(
            key for key in self.EXTRA if any(row.get(key) for row in rows)
        )
        for row in rows:
            extra.update(dict.fromkeys(k for k, v in row.items() if k.startswith("meta.") and v))
        return list(self.CORE), list(extra)

    def card(self, obj: dict[str, Any]) -> list[tuple[str, str]]:
        name = " ".join(
            filter(None, [cell_text(obj.get("first_name")), cell_text(obj.get("last_name"))])
        )
        rows: list[tuple[str, str]] = [
            ("uid", cell_text(obj.get("uid"))),
            ("name", name),
            ("email", cell_text(obj.get("email"))),
            ("number", cell_text(obj.get("number"))),
            ("created", cell_text(obj.get("created_at"))),
            ("id", cell_text(obj.get("id"))),
            ("lists", _describe_lists(obj.get("lists"))),
            ("segments", _describe_segments(obj.get("segments"))),
            ("devices", _describe_devices(obj.get("devices"))),
        ]
        rows += [(f"meta.{k}", cell_text(v)) for k, v in (obj.get("meta") or {}).items()]
        shown = {"uid", "first_name", "last_name", "email", "number", "created_at", "id"}
        shown |= {"lists", "segments", "devices", "meta"}
        rows += [(str(k), cell_text(v)) for k, v in obj.items() if k not in shown]
        # A card shows what the user has, not empty slots.
        return [(key, value) for key, value in rows if value or key == "uid"]

    def csv_row(self, item: Any, typed: frozenset[str]) -> dict[str, str]:
        if not isinstance(item, dict):
            return flatten_generic(item)
        return flatten_user(item, frozenset(key.removeprefix("meta.") for key in typed))

    def typed_keys(self, item: Any) -> dict[str, bool]:
        meta = item.get("meta") if isinstance(item, dict) else None
        if not isinstance(meta, dict):
            return {}
        return {f"meta.{key}": not isinstance(value, str) for key, value in meta.items()}


class ProfileRows(Rows):
    """Profiles (secrets already masked): name, whether it is the default, its settings."""

    def table_row(self, item: Any) -> dict[str, str]:
        row = flatten_generic(item)
        row["default"] = "*" if item.get("default") else ""
        return row

    def table_columns(self, rows: list[dict[str, str]]) -> tuple[list[str], list[str]]:
        used = [
            key
            for key in dict.fromkeys(k for row in rows for k in row)
            if key not in ("name", "default") and any(row.get(key) for row in rows)
        ]
        return ["default", "name", *used], []


class ListRows(Rows):
    """Lists: what a person scans for, and the id every `lists` command takes."""

    COLUMNS: ClassVar[dict[str, str]] = {
        "title": "title",
        "subscriber_count": "subscribers",
        "double_optin": "opt-in",
        "created_at": "created",
        "id": "id",
    }
    CARD: ClassVar[dict[str, str]] = {
        "title": "title",
        "id": "id",
        "description": "description",
        "subscriber_count": "subscribers",
        "broadcast_count": "broadcasts",
        "double_optin": "double opt-in",
        "redirect_url": "redirect url",
        "created_at": "created",
    }
    whole = frozenset({"id", "created"})  # a cut id is of no use to the next command

    def table_row(self, item: Any) -> dict[str, str]:
        if not isinstance(item, dict):
            return {"title": cell_text(item)}
        row = {label: cell_text(item.get(key)) for key, label in self.COLUMNS.items()}
        row["created"] = row["created"][:10]  # the day a list began is enough here
        return row

    def table_columns(self, rows: list[dict[str, str]]) -> tuple[list[str], list[str]]:
        return list(self.COLUMNS.values()), []

    def card(self, obj: dict[str, Any]) -> list[tuple[str, str]]:
        pairs = [(label, cell_text(obj[key])) for key, label in self.CARD.items() if key in obj]
        pairs += [
            (str(key), cell_text(value)) for key, value in obj.items() if key not in self.CARD
        ]
        return [(key, value) for key, value in pairs if value]


GENERIC = Rows()
USERS = UserRows()
PROFILES = ProfileRows()
LISTS = ListRows()


def _describe_lists(lists: Any) -> str:
    if not lists or not isinstance(lists, list):
        return cell_text(lists) if lists else ""
    parts = []
    for item in lists:
        if isinstance(item, dict):
            mark = "" if item.get("subscribed", True) else " (unsubscribed)"
            parts.append(f"{cell_text(item.get('id'))}{mark}")
        else:
            parts.append(cell_text(item))
    return ", ".join(parts)


def _describe_segments(segments: Any) -> str:
    if not segments or not isinstance(segments, list):
        return cell_text(segments) if segments else ""
    return ", ".join(
        f"{cell_text(s.get('id'))}{' (suppressed)' if s.get('suppressed') else ''}"
        if isinstance(s, dict)
        else cell_text(s)
        for s in segments
    )


def _describe_devices(devices: Any) -> str:
    if not devices or not isinstance(devices, list):
        return cell_text(devices) if devices else ""
    return ", ".join(
        cell_text(d.get("platform")) if isinstance(d, dict) else cell_text(d) for d in devices
    )


# --- table layout ---


def fit_columns(
    headers: list[str],
    optional: list[str],
    rows: list[dict[str, str]],
    width: int,
    whole: frozenset[str] = frozenset(),
    minimum: dict[str, int] | None = None,
) -> dict[str, int]:
    """Column widths for `rows` in `width` terminal columns: the `headers` always, then each
    `optional` one while it fits at a comfortable width; then the widest column gives way
    (one step at a time, down to the next widest) until the table fits, none below its
    `minimum` (names, emails) while another can still give."""

    def natural(column: str) -> int:
        cells = [cell_width(row.get(column, "")) for row in rows]
        return max([cell_width(column), *cells])

    def total(widths: dict[str, int]) -> int:
        return sum(widths.values()) + len(GAP) * (len(widths) - 1)

    widths = {column: natural(column) for column in headers}
    comfortable = {column: min(w, COMFORTABLE) for column, w in widths.items()}
    for column in optional:
        trial = {**comfortable, column: min(natural(column), COMFORTABLE)}
        if total(trial) <= width:
            comfortable = trial
            widths[column] = natural(column)
    # A column gives way down to its header (4 to 12 wide); the first one, which names the
    # row (a uid), only down to COMFORTABLE. Then optional columns go, last first; then,
    # on a terminal narrower than the headers, every column gives way to one character.
    floor = {c: min(max(min(cell_width(c), 12), 4), widths[c]) for c in widths}
    first = headers[0] if headers else None
    if first is not None:
        floor[first] = max(floor[first], min(widths[first], COMFORTABLE))
    for column, least in (minimum or {}).items():
        if column in widths:
            floor[column] = max(floor[column], min(least, widths[column]))
    floor.update({column: widths[column] for column in whole if column in widths})
    excess = _give_way(widths, floor, total(widths) - width)
    for column in reversed([c for c in optional if c in widths]):
        if excess <= 0:
            break
        excess -= widths.pop(column) + len(GAP)
    _give_way(widths, dict.fromkeys(widths, 1), excess)
    return widths


def _give_way(widths: dict[str, int], floor: dict[str, int], excess: int) -> int:
    """Narrow the widest columns (down to the next widest, one step at a time, as Rich
    collapses) by `excess` in all, none below its floor; returns what is still in excess."""
    while excess > 0:
        column = max(widths, key=lambda c: widths[c] - floor[c])
        room = widths[column] - floor[column]
        if room <= 0:
            break
        others = [w for c, w in widths.items() if c != column]
        step = min(room, excess, max(1, widths[column] - max(others, default=0)))
        widths[column] -= step
        excess -= step
    return excess


def render_table(widths: dict[str, int], rows: list[dict[str, str]], *, header: bool) -> list[str]:
    """Lines of a table (cells already printable): padded and truncated, one line a row."""
    lines = []
    if header:
        lines.append(GAP.join(pad(truncate(c, w), w) for c, w in widths.items()).rstrip())
    for row in rows:
        cells = (pad(truncate(row.get(c, ""), w), w) for c, w in widths.items())
        lines.append(GAP.join(cells).rstrip())
    return lines


def render_card(pairs: list[tuple[str, str]], width: int) -> list[str]:
    """A two-column card: keys, then values wrapped at spaces. A card is the whole of one
    object, so nothing is cut: a word longer than the line stays whole."""
    import textwrap

    if not pairs:
        return []
    pairs = [(printable(key), printable(value)) for key, value in pairs]
    key_width = min(max(cell_width(key) for key, _ in pairs), 24)
    value_width = max(width - key_width - len(GAP), 16)
    lines = []
    for key, value in pairs:
        wrapped = textwrap.wrap(
            value, value_width, break_long_words=False, break_on_hyphens=False
        ) or [""]
        label = pad(key, key_width)
        for part in wrapped:
            lines.append(f"{label}{GAP}{part}".rstrip())
            label = " " * key_width
    return lines


class RequestRows(Rows):
    """The sandbox's request log: one line per request, as a person scans it."""

    whole = frozenset({"#", "status"})

    def table_row(self, item: Any) -> dict[str, str]:
        if not isinstance(item, dict):
            return flatten_generic(item)
        query = item.get("query") or {}
        shown = "&".join(f"{k}={v}" for k, values in query.items() for v in values)
        return {
            "#": cell_text(item.get("seq")),
            "time": cell_text(item.get("time"))[11:23],
            "method": cell_text(item.get("method")),
            "path": cell_text(item.get("path")) + (f"?{shown}" if shown else ""),
            "status": cell_text(item.get("status")),
            "body": cell_text(item.get("body")),
        }

    def table_columns(self, rows: list[dict[str, str]]) -> tuple[list[str], list[str]]:
        return ["#", "time", "method", "path", "status"], ["body"]


class BatchRows(Rows):
    """The sandbox's batches: one line per batch, its failed items with their errors."""

    whole = frozenset({"#", "items", "applied"})

    def table_row(self, item: Any) -> dict[str, str]:
        if not isinstance(item, dict):
            return flatten_generic(item)
        items = [i for i in item.get("items") or [] if isinstance(i, dict)]
        failed = [i for i in items if i.get("status") == "failed"]
        return {
            "#": cell_text(item.get("seq")),
            "received": cell_text(item.get("received"))[:19].replace("T", " "),
            "items": str(len(items)),
            "applied": str(len(items) - len(failed)),
            "failed": "; ".join(f"{i.get('index')}: {cell_text(i.get('error'))}" for i in failed),
        }

    def table_columns(self, rows: list[dict[str, str]]) -> tuple[list[str], list[str]]:
        return ["#", "received", "items", "applied", "failed"], []


REQUESTS = RequestRows()
BATCHES = BatchRows()

"""Rendering: table / json / ndjson / csv. The only module that writes data to stdout.

stdout carries data only; talk (hints, confirmations, errors) goes to stderr. Rich is
imported only when a table is drawn, so `-o json` never pays for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from engage_cli.errors import EngageError, UsageError
from engage_cli.streams import Streams

if TYPE_CHECKING:
    from rich.console import Console

FORMATS = ("table", "json", "ndjson", "csv")
USER_COLUMNS = ("uid", "first_name", "last_name", "email", "number", "lists", "created_at", "id")


def choose_format(flag: str | None, configured: str | None, stdout_isatty: bool) -> str:
    """Flag, then ENGAGE_OUTPUT / profile; else a table on a terminal and JSON in a pipe."""
    for value, source in ((flag, "-o/--output"), (configured, "ENGAGE_OUTPUT or profile")):
        if value:
            if value not in FORMATS:
                raise UsageError(
                    f"Unknown output format {value!r} ({source}).",
                    hint="Choose one of: " + ", ".join(FORMATS) + ".",
                )
            return value
    return "table" if stdout_isatty else "json"


def dumps(value: Any, *, indent: int | None = 2) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def typed_meta_keys(users: list[Any]) -> frozenset[str]:
    """Meta keys whose values (in these users) are all numbers or booleans: their CSV
    columns are written `meta.KEY:=` with JSON cells, so an import reads 34 back as 34."""
    kinds: dict[str, bool] = {}
    for user in users:
        meta = user.get("meta") if isinstance(user, dict) else None
        for key, value in (meta or {}).items():
            kinds[key] = kinds.get(key, True) and not isinstance(value, str)
    return frozenset(key for key, typed in kinds.items() if typed)


def flatten_user(user: dict[str, Any], typed: frozenset[str] = frozenset()) -> dict[str, str]:
    """A user as one CSV row: `lists` as ids joined by `;` and `meta.KEY` columns, the
    shape `engage users import` reads back."""
    row: dict[str, str] = {}
    for key in USER_COLUMNS:
        if key == "lists":
            lists = user.get("lists") or []
            row[key] = ";".join(str(x.get("id") if isinstance(x, dict) else x) for x in lists)
        else:
            row[key] = _cell(user.get(key))
    for key, value in (user.get("meta") or {}).items():
        if key in typed:
            row[f"meta.{key}:="] = json.dumps(value, ensure_ascii=False)
        else:
            row[f"meta.{key}"] = _cell(value)
    for key, value in user.items():
        if key not in row and key not in ("meta", "lists"):
            row[key] = _cell(value)
    return row


def flatten_generic(item: Any) -> dict[str, str]:
    if not isinstance(item, dict):
        return {"value": _cell(item)}
    return {str(k): _cell(v) for k, v in item.items()}


class Output:
    """Writes one command's results in the chosen format."""

    def __init__(self, streams: Streams, fmt: str) -> None:
        self.streams = streams
        self.format = fmt
        self._console: Console | None = None
        self._err_console: Console | None = None

    @property
    def color(self) -> bool:
        return self.streams.stdout_isatty and not self.streams.no_color

    # --- data (stdout) ---

    def write(self, text: str) -> None:
        self.streams.stdout.write(text)
        self.streams.stdout.flush()

    def object(self, obj: Any, kind: str = "generic") -> None:
        """One object: a user card, a key/value table, or the JSON as the API sent it."""
        if self.format == "json":
            self.write(dumps(obj) + "\n")
        elif self.format == "ndjson":
            self.write(dumps(obj, indent=None) + "\n")
        elif self.format == "csv":
            self.items([[obj]], kind)
        else:
            self._print_table(_card(obj, kind))

    def items(self, pages: Iterable[list[Any]], kind: str = "generic") -> int:
        """A list, written as pages arrive; returns how many items were written."""
        writer = {
            "json": self._json_array,
            "ndjson": self._ndjson,
            "csv": self._csv,
            "table": self._tables,
        }[self.format]
        return writer(iter(pages), kind)

    def dry_run(self, described: dict[str, Any]) -> None:
        if self.format in ("json", "ndjson"):
            self.write(dumps(described, indent=2 if self.format == "json" else None) + "\n")
            return
        lines = [f"{described['method']} {described['url']}"]
        lines += [f"{k}: {v}" for k, v in described["headers"].items()]
        if described.get("body") is not None:
            lines += ["", dumps(described["body"])]
        self.write("\n".join(lines) + "\n")
        self.info("Dry run: nothing was sent.")

    # --- talk (stderr) ---

    def info(self, message: str) -> None:
        """A hint or confirmation for a person; silent in machine formats."""
        if self.format == "table" or self.streams.stderr_isatty:
            self.streams.stderr.write(message + "\n")
            self.streams.stderr.flush()

    def warn(self, message: str) -> None:
        self.streams.stderr.write(f"Warning: {message}\n")
        self.streams.stderr.flush()

    def error(self, err: EngageError) -> None:
        if self.format in ("json", "ndjson"):
            self.streams.stderr.write(dumps(err.to_dict(), indent=None) + "\n")
        else:
            text = f"Error: {err.message}"
            if err.hint:
                text += f"\nHint: {err.hint}"
            if self.streams.stderr_isatty and not self.streams.no_color:
                text = f"\x1b[31m{text}\x1b[0m"
            self.streams.stderr.write(text + "\n")
        self.streams.stderr.flush()

    # --- writers ---

    def _json_array(self, pages: Iterator[list[Any]], kind: str) -> int:
        count = 0
        for page in pages:
            for item in page:
                block = "\n".join("  " + line for line in dumps(item).splitlines())
                self.write(("[\n" if count == 0 else ",\n") + block)
                count += 1
        self.write("[]\n" if count == 0 else "\n]\n")
        return count

    def _ndjson(self, pages: Iterator[list[Any]], kind: str) -> int:
        count = 0
        for page in pages:
            if page:
                self.write("".join(dumps(item, indent=None) + "\n" for item in page))
                count += len(page)
        return count

    def _csv(self, pages: Iterator[list[Any]], kind: str) -> int:
        import csv

        writer: csv.DictWriter[str] | None = None
        typed: frozenset[str] = frozenset()
        dropped: set[str] = set()
        count = 0
        for page in pages:
            if writer is None and kind == "user":
                typed = typed_meta_keys(page)
            rows = [
                flatten_user(item, typed) if kind == "user" else flatten_generic(item)
                for item in page
            ]
            if writer is None and rows:
                # The header comes from the first page, so the list still streams.
                columns: dict[str, None] = {}
                for row in rows:
                    columns.update(dict.fromkeys(row))
                writer = csv.DictWriter(
                    self.streams.stdout, list(columns), extrasaction="ignore", lineterminator="\n"
                )
                writer.writeheader()
            if writer is None:
                continue
            for row in rows:
                dropped.update(set(row) - set(writer.fieldnames))
                writer.writerow(row)
            count += len(rows)
            self.streams.stdout.flush()
        if dropped:
            self.warn(
                "columns first seen after the first page are not in the CSV: "
                + ", ".join(sorted(dropped))
                + " (use -o ndjson to keep every field)."
            )
        return count

    def _tables(self, pages: Iterator[list[Any]], kind: str) -> int:
        count = 0
        for page in pages:
            if page:
                self._print_table(_list_table(page, kind))
                count += len(page)
        if count == 0:
            self.info("No results.")
        return count

    def _print_table(self, renderable: Any) -> None:
        if self._console is None:
            from rich.console import Console

            class _Console(Console):
                def on_broken_pipe(self) -> None:
                    # Rich exits 1 here; the reader leaving is no failure of ours, so let
                    # the error boundary end the command quietly, as for every format.
                    raise BrokenPipeError

            self._console = _Console(
                file=self.streams.stdout,
                # No escape codes at all unless colour is wanted (NO_COLOR, pipes).
                force_terminal=self.color,
                no_color=not self.color,
                highlight=False,
                soft_wrap=False,
                width=None if self.streams.stdout_isatty else 160,
            )
        self._console.print(renderable)


def _card(obj: Any, kind: str) -> Any:
    """A readable two-column card for one object (a user, a status answer)."""
    from rich.table import Table

    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    if not isinstance(obj, dict):
        table.add_row("value", _cell(obj))
        return table
    if kind == "user":
        name = " ".join(filter(None, [obj.get("first_name"), obj.get("last_name")]))
        rows: list[tuple[str, str]] = [
            ("uid", _cell(obj.get("uid"))),
            ("name", name),
            ("email", _cell(obj.get("email"))),
            ("number", _cell(obj.get("number"))),
            ("created", _cell(obj.get("created_at"))),
            ("id", _cell(obj.get("id"))),
            ("lists", _describe_lists(obj.get("lists"))),
            ("segments", _describe_segments(obj.get("segments"))),
            ("devices", _describe_devices(obj.get("devices"))),
        ]
        rows += [(f"meta.{k}", _cell(v)) for k, v in (obj.get("meta") or {}).items()]
        shown = {"uid", "first_name", "last_name", "email", "number", "created_at", "id"}
        shown |= {"lists", "segments", "devices", "meta"}
        rows += [(k, _cell(v)) for k, v in obj.items() if k not in shown]
    else:
        rows = [(str(k), _cell(v)) for k, v in obj.items()]
    for key, value in rows:
        if value or key == "uid":  # a card shows what the user has, not empty slots
            table.add_row(key, value)
    return table


def _describe_lists(lists: Any) -> str:
    if not lists:
        return ""
    parts = []
    for item in lists:
        if isinstance(item, dict):
            mark = "" if item.get("subscribed", True) else " (unsubscribed)"
            parts.append(f"{item.get('id')}{mark}")
        else:
            parts.append(str(item))
    return ", ".join(parts)


def _describe_segments(segments: Any) -> str:
    if not segments:
        return ""
    return ", ".join(
        f"{s.get('id')}{' (suppressed)' if s.get('suppressed') else ''}"
        if isinstance(s, dict)
        else str(s)
        for s in segments
    )


def _describe_devices(devices: Any) -> str:
    if not devices:
        return ""
    return ", ".join(f"{d.get('platform')}" if isinstance(d, dict) else str(d) for d in devices)


def _list_table(page: list[Any], kind: str) -> Any:
    from rich.table import Table

    table = Table(header_style="bold")
    if kind == "user":
        rows = [
            {
                "uid": _cell(user.get("uid")),
                "name": " ".join(filter(None, [user.get("first_name"), user.get("last_name")])),
                "email": _cell(user.get("email")),
                "number": _cell(user.get("number")),
                "lists": _describe_lists(user.get("lists")),
                "created": _cell(user.get("created_at")),
            }
            for user in page
        ]
        # A column empty on the whole page only takes width from those that say something.
        shown = [c for c in rows[0] if c == "uid" or any(row[c] for row in rows)]
        for column in shown:
            # Ids and dates read badly broken across lines; names and emails may fold.
            table.add_column(column, overflow="fold", no_wrap=column in ("uid", "created"))
        for row in rows:
            table.add_row(*(row[c] for c in shown))
        return table
    columns: dict[str, None] = {}
    for item in page:
        columns.update(dict.fromkeys(flatten_generic(item)))
    for column in columns:
        table.add_column(column, overflow="fold")
    for item in page:
        row = flatten_generic(item)
        table.add_row(*(row.get(c, "") for c in columns))
    return table

"""Rendering: table / json / ndjson / csv. The only module that writes data to stdout.

stdout carries data only; talk (hints, confirmations, errors) goes to stderr. Everything
that reaches a terminal passes `printable()` first: data is never markup and never raw
control characters (`tables.py` lays tables out, for 80 columns first).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from engage_cli.errors import EngageError, UsageError
from engage_cli.streams import Streams
from engage_cli.strict import SURROGATE
from engage_cli.tables import (
    DEFAULT_WIDTH,
    GENERIC,
    Rows,
    cell_text,
    fit_columns,
    printable,
    render_card,
    render_table,
)

FORMATS = ("table", "json", "ndjson", "csv")


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
    """JSON text, non-ASCII kept as it is; a lone surrogate (JSON may carry "\\udce9", no
    UTF-8 stream can) is written as an escape, so the value stays exact and writable."""
    text = json.dumps(value, ensure_ascii=False, indent=indent)
    if SURROGATE.search(text):
        return json.dumps(value, ensure_ascii=True, indent=indent)
    return text


# --- JMESPath ---


def compile_query(expression: str) -> Any:
    """A --query expression, compiled (exit 2 when it does not parse)."""
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        return jmespath.compile(expression)
    except JMESPathError as exc:
        hint = "E.g. --query '[].email' or --query \"[?meta.plan=='pro'].uid\"."
        if re.fullmatch(r"[A-Za-z_][\w.-]*=[^=].*|[A-Za-z_][\w.-]*=", expression, re.DOTALL):
            hint = "A query parameter of `engage api` is --param K=V; " + hint
        raise UsageError(
            f"--query {expression!r} is not a JMESPath expression: {exc}", hint=hint
        ) from None


class Output:
    """Writes one command's results in the chosen format."""

    def __init__(
        self, streams: Streams, fmt: str, *, query: Any = None, csv_safe: bool = False
    ) -> None:
        self.streams = streams
        self.format = fmt
        self.query = query
        self.csv_safe = csv_safe

    @property
    def color(self) -> bool:
        return self.streams.stdout_isatty and not self.streams.no_color

    @property
    def json_errors(self) -> bool:
        """Whether errors go to stderr as one JSON object: when the output is JSON."""
        return self.format in ("json", "ndjson")

    @property
    def width(self) -> int:
        """The terminal's width: COLUMNS, else the terminal's own (when it knows it), else
        80."""
        try:
            columns = int(self.streams.environ.get("COLUMNS", ""))
            if columns > 0:
                return columns
        except ValueError:
            pass
        if self.streams.stdout_isatty:
            import os

            try:
                columns = os.get_terminal_size(self.streams.stdout.fileno()).columns
            except (OSError, ValueError, AttributeError):
                columns = 0
            if columns > 0:  # a terminal with no size set (`script`, some CI) says 0
                return columns
        return DEFAULT_WIDTH

    # --- data (stdout) ---

    def write(self, text: str) -> None:
        self.streams.stdout.write(text)
        self.streams.stdout.flush()

    def object(self, obj: Any, rows: Rows = GENERIC) -> None:
        """One object: a card, or the JSON as the API sent it (reshaped by --query)."""
        if self.query is not None:
            obj, rows = self.query.search(obj), GENERIC
        self._object(obj, rows)

    def items(
        self, pages: Iterable[list[Any]], rows: Rows = GENERIC, *, empty: str = "No results."
    ) -> int:
        """A list, written as pages arrive; returns how many items were written. With
        --query, the whole list is what the expression reshapes. `empty` is what a table
        says on stderr when there is nothing."""
        if self.query is not None:
            result = self.query.search([item for page in pages for item in page])
            if not isinstance(result, list):
                self._object(result, GENERIC)
                return 1
            pages, rows = [result], GENERIC
        if self.format == "table":
            count = self._tables(iter(pages), rows)
            if count == 0:
                self.info(empty)
            return count
        writer = {"json": self._json_array, "ndjson": self._ndjson, "csv": self._csv}
        return writer[self.format](iter(pages), rows)

    def dry_run(self, described: dict[str, Any]) -> None:
        if self.format in ("json", "ndjson"):
            self.write(dumps(described, indent=2 if self.format == "json" else None) + "\n")
            return
        lines = [f"{described['method']} {described['url']}"]
        lines += [f"{k}: {v}" for k, v in described["headers"].items()]
        if described.get("body") is not None:
            lines += ["", dumps(described["body"])]
        self.write(printable("\n".join(lines), keep_newlines=True) + "\n")
        self.info("Dry run: nothing was sent.")

    # --- talk (stderr) ---

    def info(self, message: str) -> None:
        """A hint or confirmation for a person; silent in machine formats."""
        if self.format == "table" or self.streams.stderr_isatty:
            self._talk(message)

    def note(self, kind: str, fields: dict[str, Any]) -> None:
        """Talk for a script (a pipe): one JSON object on stderr, keyed by its kind as an
        error is by "error", so a reader tells them apart: {"next_page": {...}}."""
        self.streams.stderr.write(dumps({kind: fields}, indent=None) + "\n")
        self.streams.stderr.flush()

    def warn(self, message: str) -> None:
        self._talk(f"Warning: {message}")

    def error(self, err: EngageError) -> None:
        if self.json_errors:
            self.streams.stderr.write(dumps(err.to_dict(), indent=None) + "\n")
            self.streams.stderr.flush()
            return
        text = f"Error: {printable(err.message, keep_newlines=True)}"
        if err.hint:
            text += f"\nHint: {printable(err.hint, keep_newlines=True)}"
        if self.streams.stderr_isatty and not self.streams.no_color:
            text = f"\x1b[31m{text}\x1b[0m"
        self.streams.stderr.write(text + "\n")
        self.streams.stderr.flush()

    def _talk(self, message: str) -> None:
        self.streams.stderr.write(printable(message, keep_newlines=True) + "\n")
        self.streams.stderr.flush()

    # --- writers ---

    def _object(self, obj: Any, rows: Rows) -> None:
        if self.format == "json":
            self.write(dumps(obj) + "\n")
        elif self.format == "ndjson":
            self.write(dumps(obj, indent=None) + "\n")
        elif self.format == "csv":
            self._csv(iter([[obj]]), rows)
        elif isinstance(obj, dict):
            self._lines(render_card(rows.card(obj), self.width))
        else:
            self._lines([printable(cell_text(obj))])

    def _json_array(self, pages: Iterator[list[Any]], rows: Rows) -> int:
        count = 0
        for page in pages:
            for item in page:
                block = "\n".join("  " + line for line in dumps(item).splitlines())
                self.write(("[\n" if count == 0 else ",\n") + block)
                count += 1
        self.write("[]\n" if count == 0 else "\n]\n")
        return count

    def _ndjson(self, pages: Iterator[list[Any]], rows: Rows) -> int:
        count = 0
        for page in pages:
            if page:
                self.write("".join(dumps(item, indent=None) + "\n" for item in page))
                count += len(page)
        return count

    def _csv(self, pages: Iterator[list[Any]], rows: Rows) -> int:
        """Every column any item has, so the items are spooled to a temporary file first
        (memory stays flat on `users list --all`); the CSV is written once all are read."""
        import csv
        import tempfile

        columns: dict[str, None] = {}
        typed: dict[str, bool] = {}
        count = 0
        with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
            for page in pages:
                for item in page:
                    spool.write(dumps(item, indent=None) + "\n")
                    columns.update(dict.fromkeys(rows.csv_row(item, frozenset())))
                    for key, is_typed in rows.typed_keys(item).items():
                        typed[key] = typed.get(key, True) and is_typed
                    count += 1
            if count == 0:
                return 0
            literal = frozenset(key for key, is_typed in typed.items() if is_typed)
            header = [f"{c}:=" if c in literal else c for c in columns]
            # The csv module quotes a line break only if it is in lineterminator: a row with
            # a "\r" in it is written all quoted, or a reader would end the row there.
            writer, quoted = (
                csv.DictWriter(
                    self.streams.stdout, header, extrasaction="ignore", lineterminator="\n",
                    quoting=quoting,
                )
                for quoting in (csv.QUOTE_MINIMAL, csv.QUOTE_ALL)
            )  # fmt: skip
            (quoted if any("\r" in c for c in header) else writer).writeheader()
            spool.seek(0)
            for line in spool:
                row = rows.csv_row(json.loads(line), literal)
                cells = {key: self._csvcell_text(value) for key, value in row.items()}
                (quoted if any("\r" in c for c in cells.values()) else writer).writerow(cells)
        self.streams.stdout.flush()
        return count

    def _csvcell_text(self, value: str) -> str:
        # --csv-safe: a spreadsheet runs a cell starting with = + - @ (or a tab/CR before
        # one) as a formula; a leading ' makes it text. Off by default: it changes values.
        if self.csv_safe and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
            value = "'" + value
        if self.streams.stdout_isatty:
            value = printable(value)  # exact in a file; never raw escapes on a terminal
        elif SURROGATE.search(value):  # no UTF-8 form: shown as its escape, \udce9
            value = value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value

    def _tables(self, pages: Iterator[list[Any]], rows: Rows) -> int:
        """One table; its columns and widths come from the first page, so that pages
        arriving later line up under one header."""
        count = 0
        widths: dict[str, int] | None = None
        for page in pages:
            if not page:
                continue
            cells = [
                {printable(k): printable(v) for k, v in rows.table_row(item).items()}
                for item in page
            ]
            if widths is None:
                shown, optional = rows.table_columns(cells)
                widths = fit_columns(shown, optional, cells, self.width, rows.whole, rows.minimum)
                lines = render_table(widths, cells, header=True)
                if self.color:
                    lines[0] = f"\x1b[1m{lines[0]}\x1b[0m"
            else:
                lines = render_table(widths, cells, header=False)
            self._lines(lines)
            count += len(page)
        return count

    def _lines(self, lines: list[str]) -> None:
        self.write("".join(line + "\n" for line in lines))

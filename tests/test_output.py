"""What reaches a terminal (hostile data, 80-column tables) and what reaches a file (CSV
with every column, --csv-safe)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engage_cli.config import ConfigFile
from engage_cli.errors import UsageError
from engage_cli.output import Output, choose_format, compile_query, dumps
from engage_cli.streams import Streams
from engage_cli.tables import USERS, cell_width, fit_columns, printable, short_date, truncate
from tests.harness import reply, run

TERMINAL = {"COLUMNS": "80", "NO_COLOR": "1"}
# What a terminal would act on: any C0/C1 control but the newline that ends a line.
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

HOSTILE = [
    "[/]",
    "Bob [/b]",
    "[bold]x",
    "[link=http://evil.example]click[/link]",
    "\x1b]0;pwned\x07\x1b[2J",
    ":thumbs_up:",
]


def user(uid: str, **fields: Any) -> dict[str, Any]:
    return {"id": f"id{uid}", "uid": uid, "created_at": "2026-11-29T14:32:10.123+00:00", **fields}


def page(*users: dict[str, Any], more: bool = False, **extra: Any) -> dict[str, Any]:
    return {"data": list(users), "has_more": more, **extra}


def on_terminal(args: list[str], replies: list[Any] | None = None, **env: str) -> Any:
    return run(args, replies, env={**TERMINAL, **env}, tty=True)


# --- printable ---


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("[/]", "[/]"),
        ("[bold]x", "[bold]x"),
        ("\x1b]0;t\x07\x1b[2J", "\\x1b]0;t\\x07\\x1b[2J"),
        ("a\nb\tc\rd", "a\\nb\\tc\\rd"),
        ("del\x7f csi\x9b", "del\\x7f csi\\x9b"),
        ("abc\u202edcba", "abc\\u202edcba"),
        ("Zoë 李 👍", "Zoë 李 👍"),
    ],
)
def test_printable_escapes_controls_and_nothing_else(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_printable_may_keep_newlines_for_messages() -> None:
    assert printable("one\ntwo\x1b", keep_newlines=True) == "one\ntwo\\x1b"


def test_truncate_and_widths() -> None:
    assert truncate("abcdef", 4) == "abc…"
    assert truncate("abc", 3) == "abc"
    assert cell_width("李李") == 4
    assert cell_width(truncate("李李李李", 5)) <= 5


@pytest.mark.parametrize(
    ("value", "short"),
    [
        ("2026-11-29T14:32:10.123+00:00", "2026-11-29 14:32"),
        ("2026-11-29T14:32:10Z", "2026-11-29 14:32"),
        ("2026-11-29 14:32:10", "2026-11-29 14:32"),
        ("yesterday", "yesterday"),
    ],
)
def test_short_dates(value: str, short: str) -> None:
    assert short_date(value) == short


# --- hostile data on a terminal: issue 10 ---


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_name_prints_as_text_in_the_users_table(name: str) -> None:
    result = on_terminal(["users", "list"], [reply(200, page(user("u1", first_name=name)))])
    assert result.exit_code == 0, result.stderr
    assert printable(name) in result.stdout
    assert not RAW.search(result.stdout)


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_name_prints_as_text_on_the_user_card(name: str) -> None:
    body = user("u1", first_name=name, meta={name: name}, lists=[{"id": name}])
    result = on_terminal(["users", "get", "u1"], [reply(200, body)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count(printable(name)) >= 3
    assert not RAW.search(result.stdout)


def test_colour_codes_are_ours_alone() -> None:
    # With colour on, the only escape sequences are the header's bold on and off.
    body = page(user("u1", first_name="\x1b[31mred"))
    result = run(["users", "list"], [reply(200, body)], env={"COLUMNS": "80"}, tty=True)
    assert result.stdout.count("\x1b") == 2
    assert "\\x1b[31mred" in result.stdout


def test_a_hostile_cursor_in_the_next_page_hint() -> None:
    body = page(user("u1"), more=True, next_cursor="\x1b[2Jc")
    result = on_terminal(["users", "list"], [reply(200, body)])
    # The hint follows the server's cursor style, shell-quoted, and escaped for the terminal.
    assert "--next-cursor '\\x1b[2Jc'" in result.stderr
    assert not RAW.search(result.stderr)


def test_a_hostile_error_message_from_the_api() -> None:
    answer = reply(400, {"error": "bad \x1b]0;pwned\x07 [bold]x"})
    result = on_terminal(["users", "update", "u1", "--first-name", "A"], [answer])
    assert result.exit_code == 5
    assert "\\x1b]0;pwned\\x07 [bold]x" in result.stderr
    assert not RAW.search(result.stderr)


def test_hostile_data_stays_exact_in_json() -> None:
    name = "\x1b]0;pwned\x07[/]"
    result = run(["users", "get", "u1", "-o", "json"], [reply(200, user("u1", first_name=name))])
    assert result.json()["first_name"] == name


def save_profiles(*names: str) -> None:
    path = Path(__import__("os").environ["ENGAGE_CONFIG_DIR"]) / "config.toml"
    ConfigFile(
        path, names[0], {n: {"api_key": f"key-{i}-0123456789"} for i, n in enumerate(names)}
    ).save()


@pytest.mark.parametrize("name", ["[/]", "[bold]x", "\x1b[2Jp"])
def test_a_hostile_profile_name_in_profiles_list(name: str) -> None:
    save_profiles(name, "ok")
    result = on_terminal(["profiles", "list"])
    assert result.exit_code == 0, result.stderr
    assert printable(name) in result.stdout
    assert not RAW.search(result.stdout)


# --- 80 columns: issue 11 ---

LONG = user(
    "u145",
    first_name="Maria",
    last_name="Wolfeschlegelsteinhausenbergerdorff-Montgomery of the Many Names",
    email="maria.wolfeschlegelsteinhausenbergerdorff@enterprise-customer.example.org",
    meta={"plan": "enterprise"},
)
SHORT = user("u1", first_name="Li", last_name="Wei", email="li@example.cn", meta={"plan": "free"})


def assert_fits(stdout: str, rows: int, width: int = 80) -> list[str]:
    lines = stdout.splitlines()
    assert len(lines) == rows + 1, stdout  # a header, then one line per row: none wraps
    assert all(cell_width(line) <= width for line in lines), stdout
    return lines


def assert_no_broken_words(stdout: str, originals: list[str]) -> None:
    """Every word shown is a whole word of the data, or its start cut with an ellipsis."""
    words = {w for text in originals for w in text.split()}
    for shown in stdout.split():
        if shown.endswith("…"):
            assert any(w.startswith(shown[:-1]) for w in words), shown
        else:
            assert shown in words, shown


def test_the_users_table_fits_80_columns() -> None:
    result = on_terminal(["users", "list"], [reply(200, page(LONG, SHORT))])
    lines = assert_fits(result.stdout, 2)
    assert lines[0].split() == ["uid", "name", "email", "created", "meta.plan"]
    assert "2026-11-29 14:32" in lines[1]  # a short date on a terminal
    assert "…" in lines[1]  # the wide columns gave way
    originals = [*(str(v) for u in (LONG, SHORT) for v in u.values())]
    originals += ["uid name email created meta.plan 2026-11-29 14:32 enterprise free"]
    originals += ["Maria Wolfeschlegelsteinhausenbergerdorff-Montgomery of the Many Names"]
    assert_no_broken_words(result.stdout, originals)


def test_meta_columns_when_there_is_room_and_columns_to_choose() -> None:
    wide = on_terminal(["users", "list"], [reply(200, page(SHORT))], COLUMNS="160")
    assert wide.stdout.splitlines()[0].split() == ["uid", "name", "email", "created", "meta.plan"]
    narrow = on_terminal(["users", "list"], [reply(200, page(SHORT))], COLUMNS="50")
    assert_fits(narrow.stdout, 1, 50)
    chosen = on_terminal(
        ["users", "list", "--columns", "uid,meta.plan,email"], [reply(200, page(LONG, SHORT))]
    )
    lines = assert_fits(chosen.stdout, 2)
    assert lines[0].split() == ["uid", "meta.plan", "email"]
    assert lines[1].split()[:2] == ["u145", "enterprise"]


@pytest.mark.parametrize(
    ("columns", "named"),
    [
        ("uid,nosuch", "'nosuch'"),
        ("uid,meta.", "'meta.'"),
        ("Email,uid,x", "'Email', 'x'"),
        (",", "','"),
    ],
)
def test_an_unknown_column_is_refused_naming_those_there_are(columns: str, named: str) -> None:
    result = on_terminal(["users", "list", "--columns", columns], [])
    assert result.exit_code == 2
    assert f"Error: --columns: no such column {named}." in result.stderr
    assert "Hint: Choose from uid, name, email, created, number, lists, first_name" in result.stderr
    assert "or meta.KEY." in result.stderr
    assert result.sent == []


def test_pages_line_up_under_one_header() -> None:
    replies = [
        reply(200, page(SHORT, more=True)),
        reply(200, page(LONG)),
    ]
    result = on_terminal(["users", "list", "--all"], replies)
    lines = assert_fits(result.stdout, 2)
    assert lines[0].index("email") == lines[2].index("maria")


def test_profiles_list_at_80_columns() -> None:
    path = Path(__import__("os").environ["ENGAGE_CONFIG_DIR"]) / "config.toml"
    profiles = {
        "default": {"api_key": "key_live_0123456789abcdef", "api_secret": "s" * 30},
        "ci": {"api_key": "key_ci_abcdef0123456789", "base_url": "https://api.engage.so/v1"},
    }
    ConfigFile(path, "default", profiles).save()
    result = on_terminal(["profiles", "list"])
    lines = assert_fits(result.stdout, 2)
    assert lines[0].split() == ["default", "name", "api_key", "api_secret", "base_url"]
    assert "timeout" not in result.stdout  # no empty columns
    assert "https://api.engage.so/v1" in result.stdout
    assert "0123456789abcdef" not in result.stdout


def test_empty_profiles_list_says_one_thing() -> None:
    result = on_terminal(["profiles", "list"])
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "No profiles yet: create one with `engage auth login`."
    ]


def test_a_long_value_on_a_card_wraps_at_spaces_and_keeps_every_word() -> None:
    result = on_terminal(["users", "get", "u145"], [reply(200, LONG)])
    wrapped = [line for line in result.stdout.splitlines() if LONG["email"] not in line]
    assert all(cell_width(line) <= 80 for line in wrapped), result.stdout
    assert LONG["email"] in result.stdout
    words = " ".join(result.stdout.split())
    assert LONG["last_name"] in words


text = st.text(st.characters(codec="utf-8"), max_size=60)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    names=st.lists(st.tuples(text, text, text), min_size=1, max_size=4),
    meta=st.dictionaries(text, st.one_of(text, st.integers(), st.booleans()), max_size=3),
)
def test_any_text_makes_a_table_that_fits_and_shows_nothing_raw(
    names: list[tuple[str, str, str]], meta: dict[str, Any]
) -> None:
    users = [
        user(f"u{i}", first_name=first, last_name=last, email=email, meta=meta)
        for i, (first, last, email) in enumerate(names)
    ]
    stdout = io.StringIO()
    streams = Streams(io.StringIO(), stdout, io.StringIO(), stdout_isatty=True, environ=TERMINAL)
    Output(streams, "table").items([users], USERS)
    assert_fits(stdout.getvalue(), len(users))
    assert not RAW.search(stdout.getvalue())


def test_fit_columns_gives_way_from_the_widest() -> None:
    rows = [{"a": "x" * 10, "b": "y" * 50, "c": "z" * 30}]
    widths = fit_columns(["a", "b", "c"], [], rows, 60)
    assert sum(widths.values()) + 4 == 60
    assert widths["a"] == 10  # the narrow one kept its width
    assert abs(widths["b"] - widths["c"]) <= 1


# --- CSV ---


def test_csv_keeps_meta_keys_first_seen_after_page_one() -> None:
    replies = [
        reply(200, page(user("u1", meta={"plan": "pro"}), more=True)),
        reply(200, page(user("u2", meta={"plan": "free", "seats": 5, "vip": True}))),
    ]
    result = run(["users", "list", "--all", "-o", "csv"], replies)
    assert result.exit_code == 0, result.stderr
    assert "Warning" not in result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["uid"] for row in rows] == ["u1", "u2"]
    assert rows[0]["meta.plan"] == "pro"
    assert rows[1]["meta.seats:="] == "5" and rows[1]["meta.vip:="] == "true"
    assert rows[0]["meta.seats:="] == ""


def test_a_meta_key_typed_on_one_page_and_text_on_another_is_text() -> None:
    replies = [
        reply(200, page(user("u1", meta={"n": 3}), more=True)),
        reply(200, page(user("u2", meta={"n": "three"}))),
    ]
    result = run(["users", "list", "--all", "-o", "csv"], replies)
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["meta.n"] for row in rows] == ["3", "three"]


FORMULA = '=HYPERLINK("http://evil.example","click")'


def test_csv_writes_formulas_exactly_by_default() -> None:
    body = page(user("u1", first_name=FORMULA, last_name="-1", email="@a"))
    result = run(["users", "list", "-o", "csv"], [reply(200, body)])
    row = next(csv.DictReader(io.StringIO(result.stdout)))
    assert row["first_name"] == FORMULA


def test_csv_safe_makes_formulas_text() -> None:
    body = page(user("u1", first_name=FORMULA, last_name="-1", email="@a", number="+234"))
    result = run(["users", "list", "-o", "csv", "--csv-safe"], [reply(200, body)])
    row = next(csv.DictReader(io.StringIO(result.stdout)))
    assert row["first_name"] == "'" + FORMULA
    assert (row["last_name"], row["email"], row["number"]) == ("'-1", "'@a", "'+234")
    assert row["uid"] == "u1"


def test_csv_to_a_terminal_shows_controls_escaped() -> None:
    body = page(user("u1", first_name="\x1b[2J"))
    result = on_terminal(["users", "list", "-o", "csv"], [reply(200, body)])
    assert "\\x1b[2J" in result.stdout and "\x1b" not in result.stdout


def test_empty_csv_is_empty() -> None:
    result = run(["users", "list", "-o", "csv"], [reply(200, page())])
    assert result.stdout == ""


def test_csv_spools_rather_than_holding_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    # Items go to a temporary file as they arrive: the writer holds no list of rows.
    import tempfile

    spooled: list[Any] = []
    real = tempfile.TemporaryFile

    def spy(*args: Any, **kwargs: Any) -> Any:
        handle = real(*args, **kwargs)
        spooled.append(handle)
        return handle

    monkeypatch.setattr(tempfile, "TemporaryFile", spy)
    result = run(["users", "list", "-o", "csv"], [reply(200, page(user("u1"), user("u2")))])
    assert len(spooled) == 1 and spooled[0].closed
    assert result.stdout.splitlines()[1].startswith("u1,")


@settings(max_examples=60, deadline=None)
@given(message=text, hint=text)
def test_any_text_in_an_error_or_a_hint_reaches_stderr_escaped(message: str, hint: str) -> None:
    from engage_cli.errors import EngageError

    stderr = io.StringIO()
    streams = Streams(io.StringIO(), io.StringIO(), stderr, stderr_isatty=True, environ=TERMINAL)
    out = Output(streams, "table")
    out.error(EngageError(message, hint=hint or None))
    out.info(message)
    out.warn(hint)
    assert not RAW.search(stderr.getvalue())


def test_the_widest_column_gives_way_first_and_names_and_emails_keep_their_minimum() -> None:
    # Issue 22: a 44-character uid kept whole squeezed the rest to "Alexa…", "alexand…".
    long_uid = "usr_2f9c1a7e4b6d8f0a3c5e7b9d1f3a5c7e9b1d3f5a"
    rows = [
        user(long_uid, first_name="Alexandra", last_name="Konstantinidou",
             email="alexandra.konstantinidou@example.com"),
        user("u144", first_name="Akinyele", last_name="Jinadu", email="akinyele@example.com"),
    ]  # fmt: skip
    result = on_terminal(["users", "list"], [reply(200, page(*rows))])
    header, first, second = assert_fits(result.stdout, 2)
    widths = [len(cell) for cell in re.findall(r"\S+(?: \S+)*\s*", header)]
    uid, name, email = widths[:3]
    assert name - 2 >= 12 and email - 2 >= 20  # the minimums, gap included
    assert uid - 2 >= 20  # the uid gives way too, but stays long enough to tell apart
    assert first.startswith(long_uid[: uid - 3] + "…")
    assert second.split()[0] == "u144" and "  akinyele@example.com  " in second
    assert "Akinyele Jin" in second  # a name shows more than "Akiny…"
    assert "2026-11-29 14:32" in first and "2026-11-29 14:32" in second  # dates stay whole


def test_fit_columns_gives_way_from_the_widest_down_to_each_minimum() -> None:
    rows = [{"uid": "u" * 44, "name": "n" * 29, "email": "e" * 35, "created": "d" * 16}]
    headers = ["uid", "name", "email", "created"]
    minimum = {"name": 12, "email": 20}
    widths = fit_columns(headers, [], rows, 80, frozenset({"created"}), minimum)
    assert sum(widths.values()) + 2 * 3 == 80
    assert widths["created"] == 16
    assert widths["name"] >= 12 and widths["email"] >= 20 and widths["uid"] >= 20
    # widest first: what gave way most is what was widest
    assert widths["uid"] <= widths["email"] and 44 - widths["uid"] > 29 - widths["name"]
    short = [{"uid": "u1", "name": "Li Wei", "email": "li@example.cn", "created": "d" * 16}]
    assert fit_columns(headers, [], short, 80, frozenset(), minimum) == {
        "uid": 3, "name": 6, "email": 13, "created": 16,
    }  # fmt: skip


def test_a_terminal_that_reports_no_width_gets_80_columns() -> None:
    # `script` without a size, some CI runners: the terminal says 0 columns.
    import pty

    leader, follower = pty.openpty()
    try:
        with os.fdopen(follower, "w", closefd=False) as stdout:
            assert os.get_terminal_size(stdout.fileno()).columns == 0
            streams = Streams(io.StringIO(), stdout, io.StringIO(), stdout_isatty=True)
            assert Output(streams, "table").width == 80
            narrow = Streams(
                io.StringIO(), stdout, io.StringIO(), stdout_isatty=True, environ={"COLUMNS": "60"}
            )
            assert Output(narrow, "table").width == 60
    finally:
        os.close(leader)
        os.close(follower)


# --- Output on its own: each format's exact shape, and where talk goes ---------------------


class Flushes(io.StringIO):
    """A stream that records what had been written each time it was flushed."""

    def __init__(self) -> None:
        super().__init__()
        self.flushed: list[str] = []

    def flush(self) -> None:
        self.flushed.append(self.getvalue())


def output(
    fmt: str,
    *,
    tty: bool = False,
    stderr_tty: bool = False,
    environ: dict[str, str] | None = None,
    query: str | None = None,
    csv_safe: bool = False,
) -> tuple[Output, Flushes, Flushes]:
    stdout, stderr = Flushes(), Flushes()
    streams = Streams(
        io.StringIO(),
        stdout,
        stderr,
        stdout_isatty=tty,
        stderr_isatty=stderr_tty,
        environ={} if environ is None else environ,
    )
    compiled = compile_query(query) if query is not None else None
    return Output(streams, fmt, query=compiled, csv_safe=csv_safe), stdout, stderr


@pytest.mark.parametrize(
    ("flag", "configured", "tty", "chosen"),
    [
        ("csv", "ndjson", True, "csv"),
        (None, "ndjson", True, "ndjson"),
        ("", "ndjson", False, "ndjson"),
        (None, None, True, "table"),
        (None, "", False, "json"),
    ],
)
def test_choose_format_flag_then_configured_then_terminal(
    flag: str | None, configured: str | None, tty: bool, chosen: str
) -> None:
    assert choose_format(flag, configured, tty) == chosen


@pytest.mark.parametrize(
    ("flag", "configured", "source"),
    [("xml", "json", "-o/--output"), (None, "yaml", "ENGAGE_OUTPUT or profile")],
)
def test_an_unknown_format_names_where_it_came_from(
    flag: str | None, configured: str, source: str
) -> None:
    with pytest.raises(UsageError) as caught:
        choose_format(flag, configured, True)
    assert caught.value.message == f"Unknown output format {flag or configured!r} ({source})."
    assert caught.value.hint == "Choose one of: table, json, ndjson, csv."


def test_dumps_keeps_text_as_text() -> None:
    assert dumps({"name": "Zoë", "n": [1]}) == '{\n  "name": "Zoë",\n  "n": [\n    1\n  ]\n}'
    assert dumps({"name": "Zoë", "n": [1]}, indent=None) == '{"name": "Zoë", "n": [1]}'


def test_a_query_that_does_not_parse_is_a_usage_error() -> None:
    assert compile_query("[].uid").search([{"uid": "u1"}]) == ["u1"]
    with pytest.raises(UsageError) as caught:
        compile_query("[")
    assert caught.value.message.startswith("--query '[' is not a JMESPath expression: ")
    assert caught.value.hint == ("E.g. --query '[].email' or --query \"[?meta.plan=='pro'].uid\".")


def test_json_errors_only_in_machine_formats() -> None:
    assert [output(f)[0].json_errors for f in ("table", "json", "ndjson", "csv")] == [
        False, True, True, False,
    ]  # fmt: skip


def test_colour_only_on_a_terminal_that_wants_it() -> None:
    assert output("table", tty=True)[0].color
    assert not output("table")[0].color
    assert not output("table", tty=True, environ={"NO_COLOR": ""})[0].color


@pytest.mark.parametrize(
    ("columns", "tty", "width"),
    [("100", False, 100), ("0", False, 80), ("-5", True, 123), ("wide", True, 123),
     (None, True, 123), (None, False, 80)],
)  # fmt: skip
def test_width_is_columns_then_the_terminals_then_80(
    columns: str | None, tty: bool, width: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("os.get_terminal_size", lambda fd: os.terminal_size((123, 40)))
    with open(tmp_path / "out", "w") as stdout:
        streams = Streams(
            io.StringIO(),
            stdout,
            io.StringIO(),
            stdout_isatty=tty,
            environ={} if columns is None else {"COLUMNS": columns},
        )
        assert Output(streams, "table").width == width


def test_width_is_80_when_the_terminal_cannot_say(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_size(fd: int) -> os.terminal_size:
        raise OSError("not a terminal")

    monkeypatch.setattr("os.get_terminal_size", no_size)
    assert output("table", tty=True)[0].width == 80  # a StringIO has no fileno either


def test_a_json_list_is_written_item_by_item_as_pages_arrive() -> None:
    out, stdout, _ = output("json")
    count = out.items(iter([[{"uid": "u1", "n": [1]}], [], [{"uid": "é"}]]))
    assert count == 2
    assert stdout.getvalue() == (
        '[\n  {\n    "uid": "u1",\n    "n": [\n      1\n    ]\n  },\n  {\n    "uid": "é"\n  }\n]\n'
    )
    assert stdout.flushed[0] == '[\n  {\n    "uid": "u1",\n    "n": [\n      1\n    ]\n  }'
    assert json.loads(stdout.getvalue()) == [{"uid": "u1", "n": [1]}, {"uid": "é"}]


def test_an_empty_json_list_is_an_empty_array() -> None:
    out, stdout, stderr = output("json")
    assert out.items(iter([[], []])) == 0
    assert stdout.getvalue() == "[]\n" and stderr.getvalue() == ""


def test_ndjson_is_one_line_per_item_and_nothing_for_none() -> None:
    out, stdout, _ = output("ndjson")
    assert out.items(iter([[{"a": "é"}, {"b": 2}], [], [{"c": 3}]])) == 3
    assert stdout.getvalue() == '{"a": "é"}\n{"b": 2}\n{"c": 3}\n'
    assert stdout.flushed == ['{"a": "é"}\n{"b": 2}\n', stdout.getvalue()]
    out, stdout, _ = output("ndjson")
    assert out.items(iter([[]])) == 0 and stdout.getvalue() == ""


@pytest.mark.parametrize(
    ("fmt", "written"),
    [("json", '{\n  "a": "é"\n}\n'), ("ndjson", '{"a": "é"}\n'), ("csv", "a\né\n"),
     ("table", "a  é\n")],
)  # fmt: skip
def test_one_object_in_each_format(fmt: str, written: str) -> None:
    out, stdout, _ = output(fmt)
    out.object({"a": "é"})
    assert stdout.getvalue() == written


def test_a_scalar_object_in_a_table_is_its_text_escaped() -> None:
    out, stdout, _ = output("table")
    out.object("odd\x1b")
    out.object(None)
    out.object(True)
    assert stdout.getvalue() == "odd\\x1b\n\ntrue\n"


def test_a_query_reshapes_an_object_and_a_list() -> None:
    out, stdout, _ = output("ndjson", query="meta.plan")
    out.object({"uid": "u1", "meta": {"plan": "pro"}})
    assert stdout.getvalue() == '"pro"\n'
    out, stdout, _ = output("ndjson", query="[].uid")
    assert out.items(iter([[{"uid": "u1"}], [{"uid": "u2"}]])) == 2
    assert stdout.getvalue() == '"u1"\n"u2"\n'
    out, stdout, _ = output("ndjson", query="length(@)")
    assert out.items(iter([[{"uid": "u1"}], [{"uid": "u2"}]])) == 1
    assert stdout.getvalue() == "2\n"


def test_a_query_result_is_shown_with_generic_rows_not_the_users() -> None:
    out, stdout, _ = output("table", query="[].{id: uid, plan: meta.plan}")
    out.items(iter([[{"uid": "u1", "meta": {"plan": "pro"}}]]), USERS)
    assert stdout.getvalue() == "id  plan\nu1  pro\n"
    out, stdout, _ = output("table", query="{id: uid}")
    out.object({"uid": "u1", "first_name": "A"}, USERS)
    assert stdout.getvalue() == "id  u1\n"


def test_an_empty_table_says_so_on_stderr_only() -> None:
    out, stdout, stderr = output("table")
    assert out.items(iter([[]]), empty="No users.") == 0
    assert out.items(iter([])) == 0
    assert stdout.getvalue() == "" and stderr.getvalue() == "No users.\nNo results.\n"


def test_table_pages_share_the_first_pages_columns_and_header() -> None:
    out, stdout, _ = output("table", tty=True, environ={"COLUMNS": "80"})
    assert out.items(iter([[{"a": "1", "b": "x"}], [], [{"a": "2", "b": "yy", "c": "z"}]])) == 2
    assert stdout.getvalue() == "\x1b[1ma  b\x1b[0m\n1  x\n2  …\n"
    assert len(stdout.flushed) == 2  # each page as it arrives


def test_dry_run_as_text_and_as_json() -> None:
    described = {"method": "POST", "url": "https://x/y", "headers": {"A": "b"}, "body": {"k": 1}}
    out, stdout, stderr = output("table")
    out.dry_run(described)
    assert stdout.getvalue() == 'POST https://x/y\nA: b\n\n{\n  "k": 1\n}\n'
    assert stderr.getvalue() == "Dry run: nothing was sent.\n"
    out, stdout, _ = output("table")
    out.dry_run({**described, "body": None, "headers": {"A": "b\x1b", "C": "d"}})
    assert stdout.getvalue() == "POST https://x/y\nA: b\\x1b\nC: d\n"
    out, stdout, stderr = output("json")
    out.dry_run(described)
    assert stdout.getvalue() == dumps(described) + "\n" and stderr.getvalue() == ""
    out, stdout, _ = output("ndjson")
    out.dry_run(described)
    assert stdout.getvalue() == dumps(described, indent=None) + "\n"


def test_info_is_for_a_person_warnings_always() -> None:
    for fmt, stderr_tty, said in [("table", False, True), ("json", False, False),
                                  ("csv", False, False), ("ndjson", True, True)]:  # fmt: skip
        out, _, stderr = output(fmt, stderr_tty=stderr_tty)
        out.info("Done\x1b.")
        out.warn("careful\nnow")
        assert stderr.getvalue() == ("Done\\x1b.\n" if said else "") + "Warning: careful\nnow\n"
        assert stderr.flushed[-1] == stderr.getvalue()


def test_errors_as_text_in_red_on_a_terminal_and_as_json_in_machine_formats() -> None:
    err = UsageError("Bad\x1b\nthing.", hint="Try\nthis.")
    out, stdout, stderr = output("table")
    out.error(err)
    assert stderr.getvalue() == "Error: Bad\\x1b\nthing.\nHint: Try\nthis.\n"
    out, _, stderr = output("table", stderr_tty=True)
    out.error(UsageError("Bad."))
    assert stderr.getvalue() == "\x1b[31mError: Bad.\x1b[0m\n"
    assert stderr.flushed == [stderr.getvalue()]
    out, _, stderr = output("table", stderr_tty=True, environ={"NO_COLOR": "1"})
    out.error(UsageError("Bad."))
    assert stderr.getvalue() == "Error: Bad.\n"
    for fmt in ("json", "ndjson"):
        out, stdout, stderr = output(fmt, stderr_tty=True)
        out.error(err)
        assert stderr.getvalue() == dumps(err.to_dict(), indent=None) + "\n"
        assert stderr.flushed == [stderr.getvalue()] and stdout.getvalue() == ""


def test_csv_marks_typed_columns_and_fills_missing_cells() -> None:
    out, stdout, _ = output("csv")
    items = [user("u1", meta={"n": 3, "vip": True}), user("u2", meta={"n": 4, "plan": "pro"})]
    assert out.items(iter([items[:1], [], items[1:]]), USERS) == 2
    rows = list(csv.reader(io.StringIO(stdout.getvalue())))
    header = rows[0]
    assert "meta.n:=" in header and "meta.vip:=" in header and "meta.plan" in header
    assert [dict(zip(header, row, strict=True))["meta.n:="] for row in rows[1:]] == ["3", "4"]
    assert stdout.getvalue().endswith("\n") and "\r" not in stdout.getvalue()
    assert stdout.flushed[-1] == stdout.getvalue()


@pytest.mark.parametrize(
    ("cell", "safe"),
    [("=1", "'=1"), ("+1", "'+1"), ("-1", "'-1"), ("@a", "'@a"), ("\t=1", "'\t=1"),
     ("\r=1", "'\r=1"), ("a=1", "a=1"), ("", "")],
)  # fmt: skip
def test_csv_safe_quotes_what_a_spreadsheet_would_run(cell: str, safe: str) -> None:
    out, stdout, _ = output("csv", csv_safe=True)
    out.items(iter([[{"c": cell, "d": "x"}]]))
    assert next(csv.DictReader(io.StringIO(stdout.getvalue())))["c"] == safe


def test_a_carriage_return_stays_inside_its_cell() -> None:
    """The csv module quotes only what is in lineterminator ("\\n"): a lone "\\r" written
    bare ends the row for any CSV reader, `users import` included."""
    out, stdout, _ = output("csv")
    out.items(iter([[{"name": "a\rb", "k\re": "v"}, {"name": "c"}]]))
    assert stdout.getvalue() == '"name","k\re"\n"a\rb","v"\nc,\n'  # only those rows quoted
    rows = list(csv.reader(io.StringIO(stdout.getvalue(), newline="")))
    assert rows == [["name", "k\re"], ["a\rb", "v"], ["c", ""]]


@pytest.mark.parametrize("fmt", ["json", "ndjson", "csv", "table"])
def test_a_lone_surrogate_from_the_api_is_written_escaped_in_every_format(fmt: str) -> None:
    """JSON may carry "\\udce9", which no UTF-8 stream can: it stays an escape, not a crash."""
    body = b'{"data": [{"id": "x", "uid": "u1", "first_name": "Zo\\udce9 \xc3\xa9"}]}'
    result = run(
        ["users", "list", "-o", fmt], [reply(200, body, {"content-type": "application/json"})]
    )
    assert result.exit_code == 0, result.stderr
    if fmt == "json":
        assert json.loads(result.stdout)[0]["first_name"] == "Zo\udce9 é"
        assert result.stdout.startswith('[\n  {\n    "id": "x",\n')  # indented as ever
    elif fmt == "ndjson":
        assert json.loads(result.stdout)["first_name"] == "Zo\udce9 é"
    else:
        assert "Zo\\udce9 é" in result.stdout


def test_a_column_is_typed_only_if_every_row_agrees_whichever_comes_first() -> None:
    out, stdout, _ = output("csv")
    pages = [[user("u1", meta={"n": "three"})], [user("u2", meta={"n": 3})]]
    assert out.items(iter(pages), USERS) == 2
    rows = list(csv.DictReader(io.StringIO(stdout.getvalue())))
    assert [row["meta.n"] for row in rows] == ["three", "3"]


def test_an_empty_csv_counts_nothing() -> None:
    out, stdout, _ = output("csv")
    assert out.items(iter([[], []]), USERS) == 0
    assert stdout.getvalue() == ""


@pytest.mark.parametrize("expression", ["Plan=pro", "plan=a\nb", "meta.plan="])
def test_a_query_that_looks_like_a_parameter_points_at_param(expression: str) -> None:
    with pytest.raises(UsageError) as caught:
        compile_query(expression)
    assert caught.value.hint == (
        "A query parameter of `engage api` is --param K=V; E.g. --query '[].email' or "
        "--query \"[?meta.plan=='pro'].uid\"."
    )


def test_a_query_that_makes_one_object_of_a_list_shows_it_as_a_card() -> None:
    out, stdout, _ = output("table", query="{count: length(@), first: [0].uid}")
    assert out.items(iter([[{"uid": "u1"}], [{"uid": "u2"}]]), USERS) == 1
    assert stdout.getvalue() == "count  2\nfirst  u1\n"


def test_csv_is_exact_unless_asked_to_be_safe() -> None:
    stdout = io.StringIO()
    Output(Streams(io.StringIO(), stdout, io.StringIO()), "csv").items(iter([[{"f": "=1"}]]))
    assert stdout.getvalue() == "f\n=1\n"

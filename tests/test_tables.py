"""tables.py piece by piece, each case an exact output: what reaches a terminal, how wide it
is, how a row, a card and a CSV line are made, and how columns give way to fit."""

from __future__ import annotations

from typing import Any

import pytest

from engage_cli.tables import (
    BATCHES,
    GENERIC,
    LISTS,
    PROFILES,
    REQUESTS,
    USERS,
    UserRows,
    _give_way,
    cell_text,
    cell_width,
    fit_columns,
    flatten_user,
    pad,
    printable,
    render_card,
    render_table,
    short_date,
    truncate,
)

# --- text for a terminal ---


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x00\x1f", "\\x00\\x1f"),
        ("\x7f\x80\x9f", "\\x7f\\x80\\x9f"),
        ("\xa0é ~", "\xa0é ~"),  # the first printable characters after each range stay
        ("\u2028\u2029", "\\u2028\\u2029"),
        ("\u202a\u202e", "\\u202a\\u202e"),
        ("\u2066\u2069", "\\u2066\\u2069"),
        ("\u2027\u202f\u2065\u206a", "\u2027\u202f\u2065\u206a"),
        ("\ud800\udfff", "\\ud800\\udfff"),
        ("a\tb\rc\nd", "a\\tb\\rc\\nd"),
        ("[bold]x[/bold]", "[bold]x[/bold]"),
    ],
)
def test_printable_escapes_exactly_the_characters_a_terminal_acts_on(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_keep_newlines_keeps_only_the_newline() -> None:
    assert printable("a\nb\r\tc\x1b", keep_newlines=True) == "a\nb\\r\\tc\\x1b"


@pytest.mark.parametrize(
    ("text", "width"),
    [
        ("", 0),
        ("abc", 3),
        ("e\u0301", 1),  # a combining accent takes no column
        ("\u0e31", 0),  # a non-spacing mark whose combining class is 0
        ("o\u20dd", 1),  # an enclosing mark
        ("a\u200bb", 2),  # a format character (zero-width space)
        ("漢字", 4),  # wide
        ("ＡＢ", 4),  # full-width
        ("ｱｲ", 2),  # half-width katakana: one column each
        ("é漢x", 4),
    ],
)
def test_cell_width_counts_terminal_columns(text: str, width: int) -> None:
    assert cell_width(text) == width


@pytest.mark.parametrize(
    ("text", "width", "cut"),
    [
        ("abcdef", 6, "abcdef"),
        ("abcdef", 5, "abcd…"),
        ("abcdef", 1, "…"),
        ("abcdef", 0, ""),
        ("abcdef", -3, ""),
        ("漢字漢字", 5, "漢字…"),
        ("漢字漢字", 4, "漢…"),
        ("漢字漢字", 8, "漢字漢字"),
        ("e\u0301e\u0301e\u0301", 2, "e\u0301…"),
    ],
)
def test_truncate_cuts_by_columns_with_an_ellipsis(text: str, width: int, cut: str) -> None:
    assert truncate(text, width) == cut
    assert cell_width(cut) <= max(width, 0)


def test_pad_fills_to_columns_not_characters_and_never_cuts() -> None:
    assert pad("漢", 4) == "漢  "
    assert pad("ab", 4) == "ab  "
    assert pad("abcdef", 3) == "abcdef"


@pytest.mark.parametrize(
    ("value", "short"),
    [
        ("2026-11-29T14:32:10.123Z", "2026-11-29 14:32"),
        ("2026-11-29 14:32:10", "2026-11-29 14:32"),
        ("2026-11-29", "2026-11-29"),
        ("on 2026-11-29T14:32:10Z", "on 2026-11-29T14:32:10Z"),
        ("", ""),
    ],
)
def test_short_date_keeps_the_minute_or_leaves_the_text(value: str, short: str) -> None:
    assert short_date(value) == short


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (1.5, "1.5"),
        ("", ""),
        ({"ä": [1, None]}, '{"ä":[1,null]}'),
        (["é", {}], '["é",{}]'),
    ],
)
def test_cell_text_is_json_for_structures_and_plain_text_otherwise(value: Any, text: str) -> None:
    assert cell_text(value) == text


# --- rows and cards ---

USER: dict[str, Any] = {
    "uid": "u1",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@x.io",
    "number": "+2348012345678",
    "created_at": "2026-11-29T14:32:10.123Z",
    "id": "abc",
    "lists": [
        {"id": "l1", "subscribed": True},
        {"id": "l2", "subscribed": False},
        "l3",
        {"id": "l4"},
    ],
    "segments": [{"id": "s1", "suppressed": True}, {"id": "s2"}, "s3"],
    "devices": [{"platform": "ios"}, "web"],
    "meta": {"plan": "pro", "age": 34},
    "archived": False,
    "accounts": [],
}


def test_a_user_card_shows_every_field_in_order_and_leaves_out_empty_ones() -> None:
    assert USERS.card(USER) == [
        ("uid", "u1"),
        ("name", "Ada Lovelace"),
        ("email", "ada@x.io"),
        ("number", "+2348012345678"),
        ("created", "2026-11-29T14:32:10.123Z"),
        ("id", "abc"),
        ("lists", "l1, l2 (unsubscribed), l3, l4"),
        ("segments", "s1 (suppressed), s2, s3"),
        ("devices", "ios, web"),
        ("meta.plan", "pro"),
        ("meta.age", "34"),
        ("archived", "false"),
        ("accounts", "[]"),
    ]


def test_a_bare_user_card_keeps_its_uid_line_even_empty() -> None:
    assert USERS.card({}) == [("uid", "")]
    assert USERS.card({"uid": "u", "last_name": "Byron", "meta": None}) == [
        ("uid", "u"),
        ("name", "Byron"),
    ]


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("lists", "l9", "l9"),
        ("lists", [], None),
        ("lists", [{"id": 7, "subscribed": False}], "7 (unsubscribed)"),
        ("segments", {"id": "s"}, '{"id":"s"}'),
        ("segments", [], None),
        ("segments", [{"id": "s", "suppressed": False}, 5], "s, 5"),
        ("devices", "phone", "phone"),
        ("devices", [{"platform": "android"}, 3], "android, 3"),
        ("devices", [], None),
    ],
)
def test_a_cards_lists_segments_and_devices_are_described(
    field: str, value: Any, shown: str | None
) -> None:
    assert dict(USERS.card({"uid": "u", field: value})).get(field) == shown


def test_a_users_table_row_derives_name_created_and_lists() -> None:
    row = USERS.table_row(USER)
    assert row["name"] == "Ada Lovelace"
    assert row["created"] == "2026-11-29 14:32"
    assert row["lists"] == "l1, l2 (unsubscribed), l3, l4"
    assert row["meta.plan"] == "pro"
    assert row["meta.age"] == "34"
    assert row["segments"] == '[{"id":"s1","suppressed":true},{"id":"s2"},"s3"]'
    assert "meta" not in row
    assert USERS.table_row(7) == {"uid": "7"}
    assert USERS.table_row({"first_name": "Ada", "meta": "x"}) == {
        "first_name": "Ada",
        "name": "Ada",
        "created": "",
        "lists": "",
    }


def test_user_columns_core_then_extras_and_meta_that_hold_something() -> None:
    rows = [USERS.table_row(USER), USERS.table_row({"uid": "u2", "meta": {"empty": "", "x": 1}})]
    assert USERS.table_columns(rows) == (
        ["uid", "name", "email", "created"],
        ["number", "lists", "meta.plan", "meta.age", "meta.x"],
    )
    assert USERS.table_columns([USERS.table_row({"uid": "u"})]) == (
        ["uid", "name", "email", "created"],
        [],
    )
    assert UserRows(("email", "uid")).table_columns(rows) == (["email", "uid"], [])


def test_unknown_columns_are_those_neither_a_field_nor_a_named_meta_key() -> None:
    named = ("uid", "meta.", "meta.x", "nope", "created", "uid_updateable", "name", "lists")
    assert UserRows.unknown_columns(named) == ["meta.", "nope"]


def test_a_user_as_a_csv_row_reads_back_as_an_import() -> None:
    expected = {
        "uid": "u1",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@x.io",
        "number": "+2348012345678",
        "lists": "l1;l2;l3;l4",
        "created_at": "2026-11-29T14:32:10.123Z",
        "id": "abc",
        "meta.plan": "pro",
        "meta.age:=": "34",
        "segments": '[{"id":"s1","suppressed":true},{"id":"s2"},"s3"]',
        "devices": '[{"platform":"ios"},"web"]',
        "archived": "false",
        "accounts": "[]",
    }
    assert flatten_user(USER, frozenset({"age"})) == expected
    assert list(flatten_user(USER, frozenset({"age"}))) == list(expected)
    assert USERS.csv_row(USER, frozenset({"meta.age"})) == expected
    assert USERS.csv_row(5, frozenset()) == {"value": "5"}
    typed = flatten_user({"meta": {"ok": True, "s": "é"}}, frozenset({"ok", "s"}))
    assert typed["meta.ok:="] == "true"
    assert typed["meta.s:="] == '"é"'
    assert flatten_user({"uid": "u", "lists": None, "meta": None}) == {
        "uid": "u",
        "first_name": "",
        "last_name": "",
        "email": "",
        "number": "",
        "lists": "",
        "created_at": "",
        "id": "",
    }


def test_typed_keys_say_which_meta_values_are_not_text() -> None:
    assert USERS.typed_keys(USER) == {"meta.plan": False, "meta.age": True}
    assert USERS.typed_keys({"meta": [1]}) == {}
    assert USERS.typed_keys(3) == {}
    assert GENERIC.typed_keys({"a": 1}) == {}


def test_generic_rows_take_every_key_that_holds_something() -> None:
    assert GENERIC.table_columns([{"a": "", "b": "1"}, {"c": "2", "b": ""}]) == (["b", "c"], [])
    assert GENERIC.table_columns([{"a": "", "b": ""}, {"c": ""}]) == (["a", "b"], [])
    assert GENERIC.table_columns([]) == ([], [])
    assert GENERIC.table_row({"a": None, 1: [2]}) == {"a": "", "1": "[2]"}
    assert GENERIC.table_row("x") == {"value": "x"}
    assert GENERIC.card({"a": 1, "b": None}) == [("a", "1"), ("b", "")]
    assert GENERIC.csv_row([1], frozenset()) == {"value": "[1]"}


def test_profile_rows_mark_the_default_and_show_settings_in_use() -> None:
    assert PROFILES.table_row({"name": "p", "default": True, "base_url": "x"}) == {
        "name": "p",
        "default": "*",
        "base_url": "x",
    }
    assert PROFILES.table_row({"name": "q", "default": False}) == {"name": "q", "default": ""}
    rows = [
        {"name": "p", "default": "*", "base_url": "x", "key": ""},
        {"name": "q", "default": "", "key": "", "region": "eu"},
    ]
    assert PROFILES.table_columns(rows) == (["default", "name", "base_url", "region"], [])


LIST: dict[str, Any] = {
    "id": "L1",
    "title": "News",
    "subscriber_count": 3,
    "double_optin": True,
    "created_at": "2026-01-02T03:04:05Z",
    "description": "",
    "broadcast_count": 0,
    "extra": "e",
    "redirect_url": None,
}


def test_list_rows_and_cards() -> None:
    assert LISTS.table_row(LIST) == {
        "title": "News",
        "subscribers": "3",
        "opt-in": "true",
        "created": "2026-01-02",
        "id": "L1",
    }
    assert LISTS.table_row("x") == {"title": "x"}
    assert LISTS.table_columns([]) == (["title", "subscribers", "opt-in", "created", "id"], [])
    assert LISTS.card(LIST) == [
        ("title", "News"),
        ("id", "L1"),
        ("subscribers", "3"),
        ("broadcasts", "0"),
        ("double opt-in", "true"),
        ("created", "2026-01-02T03:04:05Z"),
        ("extra", "e"),
    ]


def test_request_log_rows() -> None:
    request = {
        "seq": 3,
        "time": "2026-11-29T14:32:10.123456Z",
        "method": "GET",
        "path": "/users",
        "query": {"limit": ["5"], "email": ["a", "b"]},
        "status": 200,
        "body": {"x": 1},
    }
    assert REQUESTS.table_row(request) == {
        "#": "3",
        "time": "14:32:10.123",
        "method": "GET",
        "path": "/users?limit=5&email=a&email=b",
        "status": "200",
        "body": '{"x":1}',
    }
    assert REQUESTS.table_row({"seq": 4, "path": "/u", "query": None})["path"] == "/u"
    assert REQUESTS.table_row(5) == {"value": "5"}
    assert REQUESTS.table_columns([]) == (["#", "time", "method", "path", "status"], ["body"])


def test_batch_rows_count_items_and_name_the_failed_ones() -> None:
    batch = {
        "seq": 1,
        "received": "2026-11-29T14:32:10.1Z",
        "items": [
            {"status": "ok"},
            {"status": "failed", "index": 1, "error": "bad"},
            {"status": "failed", "index": 2, "error": {"e": 1}},
            "junk",
        ],
    }
    assert BATCHES.table_row(batch) == {
        "#": "1",
        "received": "2026-11-29 14:32:10",
        "items": "3",
        "applied": "1",
        "failed": '1: bad; 2: {"e":1}',
    }
    assert BATCHES.table_row({"seq": 2, "items": None}) == {
        "#": "2",
        "received": "",
        "items": "0",
        "applied": "0",
        "failed": "",
    }
    assert BATCHES.table_row([1]) == {"value": "[1]"}
    assert BATCHES.table_columns([]) == (["#", "received", "items", "applied", "failed"], [])


# --- layout ---

CORE = ["uid", "name", "email", "created"]
WIDE = [{"uid": "u" * 30, "name": "n" * 25, "email": "e" * 40, "created": "2026-11-29 14:32"}]


@pytest.mark.parametrize(
    ("width", "widths"),
    [
        (120, {"uid": 30, "name": 25, "email": 40, "created": 16}),
        (80, {"uid": 22, "name": 14, "email": 22, "created": 16}),
        (60, {"uid": 14, "name": 12, "email": 14, "created": 14}),
        (20, {"uid": 3, "name": 3, "email": 4, "created": 4}),
    ],
)
def test_users_columns_give_way_widest_first_down_to_their_minimum(
    width: int, widths: dict[str, int]
) -> None:
    fitted = fit_columns(CORE, [], WIDE, width, USERS.whole, USERS.minimum)
    assert fitted == widths
    assert list(fitted) == CORE


OPTIONAL = [{"a": "x" * 10, "b": "y" * 10, "o1": "z" * 30, "o2": "w" * 5}]


@pytest.mark.parametrize(
    ("width", "widths"),
    [
        (80, {"a": 10, "b": 10, "o1": 30, "o2": 5}),
        (51, {"a": 10, "b": 10, "o1": 20, "o2": 5}),  # both fit at a comfortable width
        (50, {"a": 10, "b": 10, "o1": 26}),
        (44, {"a": 10, "b": 10, "o1": 20}),
        (43, {"a": 10, "b": 10, "o2": 5}),  # o1 at a comfortable 20 no longer fits
        (29, {"a": 10, "b": 10, "o2": 5}),
        (28, {"a": 10, "b": 10}),
        (20, {"a": 10, "b": 8}),
        (16, {"a": 10, "b": 4}),  # the first column keeps up to COMFORTABLE
        (14, {"a": 8, "b": 4}),
        (5, {"a": 1, "b": 2}),
        (1, {"a": 1, "b": 1}),
    ],
)
def test_optional_columns_join_at_a_comfortable_width_and_everything_fits(
    width: int, widths: dict[str, int]
) -> None:
    assert fit_columns(["a", "b"], ["o1", "o2"], OPTIONAL, width) == widths


def test_an_optional_column_dropped_to_fit_goes_last_first() -> None:
    # A whole column wider than COMFORTABLE lets optional columns in that do not fit once it
    # is at its full width: they narrow to their floor, then go, the last first.
    rows = [{"k": "kkkk", "id": "i" * 30, "o": "o" * 5, "p": "p" * 5}]
    whole = frozenset({"id"})
    assert fit_columns(["k", "id"], ["o", "p"], rows, 43, whole) == {"k": 4, "id": 30, "o": 4}
    assert fit_columns(["k", "id"], ["o", "p"], rows, 40, whole) == {"k": 4, "id": 30}
    # One column too many after the optional gave way to its floor: it goes, all of it.
    assert fit_columns(["k", "id"], ["o"], rows, 42, whole) == {"k": 4, "id": 30, "o": 4}
    assert fit_columns(["k", "id"], ["o"], rows, 41, whole) == {"k": 4, "id": 30}
    # Narrower than the whole column itself: it gives way too, to fit the terminal.
    assert fit_columns(["k", "id"], ["o", "p"], rows, 34, whole) == {"k": 4, "id": 28}
    both = [{"aaaa": "x" * 4, "o1": "y" * 9, "o2": "z" * 9}]
    assert fit_columns(["aaaa"], ["o1", "o2"], both, 26) == {"aaaa": 4, "o1": 9, "o2": 9}
    assert fit_columns(["aaaa"], ["o1", "o2"], both, 24) == {"aaaa": 4, "o1": 9}
    assert fit_columns(["aaaa"], ["o1", "o2"], both, 15) == {"aaaa": 4, "o1": 9}
    assert fit_columns(["aaaa"], ["o1", "o2"], both, 14) == {"aaaa": 4}


def test_headers_set_the_natural_width_and_long_headers_floor_at_12() -> None:
    rows = [{"a_very_long_header_name": "x", "b": "y" * 30}]
    assert fit_columns(["b", "a_very_long_header_name"], [], rows, 80) == {
        "b": 30,
        "a_very_long_header_name": 23,
    }
    assert fit_columns(["b", "a_very_long_header_name"], [], rows, 34) == {
        "b": 20,
        "a_very_long_header_name": 12,
    }


def test_whole_columns_never_give_way_while_others_can() -> None:
    rows = [{"k": "k" * 30, "id": "i" * 30}]
    assert fit_columns(["k", "id"], [], rows, 52, frozenset({"id"})) == {"k": 20, "id": 30}
    # Otherwise the first column (it names the row) keeps COMFORTABLE while others give way.
    assert fit_columns(["k", "id"], [], rows, 52) == {"k": 30, "id": 20}
    assert fit_columns(["k", "id"], [], rows, 52, frozenset({"nope"})) == {"k": 30, "id": 20}
    assert fit_columns(["k", "id"], [], rows, 30) == {"k": 20, "id": 8}


def test_a_minimum_wider_than_the_column_is_the_column() -> None:
    rows = [{"uid": "u" * 30, "name": "n" * 8}]
    assert fit_columns(["uid", "name"], [], rows, 20, minimum={"name": 12, "gone": 5}) == {
        "uid": 10,
        "name": 8,
    }


def test_a_cell_missing_from_a_row_takes_no_width() -> None:
    assert fit_columns(["a", "b"], [], [{"a": "x"}, {"b": "y"}], 80) == {"a": 1, "b": 1}


def test_no_columns_no_widths() -> None:
    assert fit_columns([], [], [], 80) == {}
    assert fit_columns([], [], [{"a": "1"}], 0) == {}


@pytest.mark.parametrize(
    ("widths", "floor", "excess", "left", "after"),
    [
        ({"a": 10, "b": 7, "c": 3}, {"a": 1, "b": 1, "c": 1}, 5, 0, {"a": 6, "b": 6, "c": 3}),
        ({"a": 10, "b": 7, "c": 3}, {"a": 9, "b": 1, "c": 1}, 5, 0, {"a": 10, "b": 2, "c": 3}),
        ({"a": 10, "b": 7}, {"a": 10, "b": 7}, 5, 5, {"a": 10, "b": 7}),
        ({"a": 10}, {"a": 2}, 3, 0, {"a": 7}),
        ({"a": 10}, {"a": 2}, 20, 12, {"a": 2}),
        ({"a": 10, "b": 10}, {"a": 1, "b": 1}, 3, 0, {"a": 8, "b": 9}),
        ({"a": 10}, {"a": 2}, 0, 0, {"a": 10}),
        ({"a": 10}, {"a": 2}, -4, -4, {"a": 10}),
    ],
)
def test_give_way_narrows_the_widest_one_step_at_a_time(
    widths: dict[str, int], floor: dict[str, int], excess: int, left: int, after: dict[str, int]
) -> None:
    narrowed = dict(widths)  # the cases' own dicts stay as they are for a rerun
    assert _give_way(narrowed, floor, excess) == left
    assert narrowed == after


def test_render_table_pads_cuts_and_strips_line_ends() -> None:
    widths = {"a": 3, "bb": 2}
    rows = [{"a": "hello", "bb": "x"}, {"bb": "yy"}, {"a": "漢字"}]
    assert render_table(widths, rows, header=True) == ["a    bb", "he…  x", "     yy", "漢…"]
    assert render_table(widths, [{"a": "hi"}], header=False) == ["hi"]
    assert render_table({"name": 2}, [], header=True) == ["n…"]
    assert render_table({"bb": 2, "a": 3}, [{"bb": "x"}], header=True) == ["bb  a", "x"]


def test_render_card_wraps_values_beside_keys_capped_at_24() -> None:
    pairs = [
        ("uid", "u1"),
        ("a much longer key name than 24", "v"),
        ("k", "one two three four five six seven eight nine ten eleven twelve"),
    ]
    assert render_card(pairs, 40) == [
        "uid" + " " * 23 + "u1",
        "a much longer key name than 24  v",
        "k" + " " * 25 + "one two three",
        " " * 26 + "four five six",
        " " * 26 + "seven eight nine",
        " " * 26 + "ten eleven",
        " " * 26 + "twelve",
    ]


def test_render_card_escapes_keeps_long_words_and_has_a_floor_of_16() -> None:
    assert render_card([], 40) == []
    assert render_card([("k\x1b", "a\nb"), ("e", "")], 10) == ["k\\x1b  a\\nb", "e"]
    # A word (hyphens and all) longer than the 16-column floor stays whole on its line.
    assert render_card([("k", "abcdefghij-klmnopqrstuvwxyz end")], 10) == [
        "k  abcdefghij-klmnopqrstuvwxyz",
        "   end",
    ]
    assert render_card([("k", "aaaa bbbb cccc dddd eeee")], 10) == [
        "k  aaaa bbbb cccc",
        "   dddd eeee",
    ]

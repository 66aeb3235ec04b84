"""The K=V / K:=JSON parser and the validators, with tables and property-based tests."""

from __future__ import annotations

import io
import json
import re
import string
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from engage_cli.errors import UsageError
from engage_cli.inputs import (
    SERVER_USER_FIELDS,
    describe_invalid_argument,
    load_data,
    merge_body,
    parse_pair,
    parse_pairs,
    parse_scalar,
    user_body_from_object,
)
from engage_cli.models import EventCreate, UserCreate, UserUpdate, validate


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plan=pro", ("plan", "pro")),
        ("age:=34", ("age", 34)),
        ("vip:=true", ("vip", True)),
        ("ratio:=0.5", ("ratio", 0.5)),
        ('quoted:="34"', ("quoted", "34")),
        ("empty=", ("empty", "")),
        ("url=http://x?a=b", ("url", "http://x?a=b")),
        ("eq=a:=b", ("eq", "a:=b")),
        ("list:=[1, 2]", ("list", [1, 2])),
    ],
)
def test_parse_pair(text: str, expected: tuple[str, object]) -> None:
    assert parse_pair(text, "--meta") == expected


@pytest.mark.parametrize(
    "text", ["novalue", "=x", ":=1", "n:=NaN", "n:=Infinity", "n:=nope", "n:="]
)
def test_parse_pair_refuses(text: str) -> None:
    with pytest.raises(UsageError):
        parse_pair(text, "--meta")


keys = st.text(alphabet=string.ascii_letters + string.digits + "_.-", min_size=1, max_size=20)
json_scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(10**15), max_value=10**15),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)


@given(keys, st.text(max_size=40))
def test_string_pairs_keep_any_text(key: str, value: str) -> None:
    assert parse_pair(f"{key}={value}", "--meta") == (key, value)


@given(keys, json_scalars)
def test_json_pairs_round_trip(key: str, value: object) -> None:
    parsed_key, parsed = parse_pair(f"{key}:={json.dumps(value)}", "--meta")
    assert parsed_key == key
    assert parsed == value and type(parsed) is type(value)


@given(json_scalars)
def test_scalar_values_validate_as_meta(value: object) -> None:
    assert validate(UserUpdate, {"meta": {"k": value}}) == {"meta": {"k": value}}


@given(
    st.one_of(
        st.none(),
        st.lists(st.integers(), max_size=2),
        st.dictionaries(keys, st.integers(), max_size=2),
    )
)
def test_non_scalar_values_are_refused_everywhere(value: object) -> None:
    for model, body in (
        (UserUpdate, {"meta": {"k": value}}),
        (EventCreate, {"event": "E", "properties": {"k": value}}),
        (EventCreate, {"event": "E", "value": value}),
    ):
        with pytest.raises(UsageError):
            validate(model, body)


UID_ALPHABET = string.ascii_letters + string.digits + "_-.@+"


@given(st.text(alphabet=UID_ALPHABET, min_size=1, max_size=30))
def test_ids_of_the_uid_charset_are_accepted(uid: str) -> None:
    assert validate(UserCreate, {"id": uid}) == {"id": uid}


@given(st.text(min_size=1, max_size=30).filter(lambda s: any(c not in UID_ALPHABET for c in s)))
@example("u144\n")  # `$` matches before a final newline: the bug random runs found only sometimes
@example("u1 44")
def test_other_ids_are_refused(uid: str) -> None:
    with pytest.raises(UsageError, match="id"):
        validate(UserCreate, {"id": uid})


@given(st.integers(min_value=0, max_value=10**15))
def test_numbers_of_digits_are_sent_as_strings(number: int) -> None:
    assert validate(UserUpdate, {"number": number}) == {"number": str(number)}
    assert validate(UserUpdate, {"number": str(number)}) == {"number": str(number)}


@pytest.mark.parametrize(
    "date",
    ["2021-01-12T05:24:39.062+00:00", "2020-05-30T09:30:10Z", "2021-01-12", "2021-01-12T05:24:39"],
)
def test_valid_dates_are_kept_as_given(date: str) -> None:
    assert validate(UserUpdate, {"created_at": date}) == {"created_at": date}
    assert validate(EventCreate, {"event": "E", "timestamp": date})["timestamp"] == date


@pytest.mark.parametrize(
    "date", ["", "yesterday", "2021-02-30", "12/01/2021", "2021-01-12T25:00:00"]
)
def test_invalid_dates_are_refused(date: str) -> None:
    with pytest.raises(UsageError, match="created_at"):
        validate(UserUpdate, {"created_at": date})


@pytest.mark.parametrize("text", ["1", "-2.5", "true", '"x"', "word", "{}"])
def test_parse_scalar_never_returns_a_container(text: str) -> None:
    assert not isinstance(parse_scalar(text), (dict, list))


def test_merge_body_merges_maps_and_overrides_scalars() -> None:
    merged = merge_body({"id": "a", "meta": {"x": 1}}, {"id": "b", "meta": {"y": 2}, "email": None})
    assert merged == {"id": "b", "meta": {"x": 1, "y": 2}}


@pytest.mark.parametrize("fields", [{"number": "2348012345678\n"}, {"email": "a@example.com\n"}])
def test_a_trailing_newline_is_not_part_of_a_valid_value(fields: dict[str, str]) -> None:
    with pytest.raises(UsageError):
        validate(UserUpdate, fields)


# --- found by mutation testing (mutmut): behaviours no test pinned --------------------------


def test_data_dash_reads_the_stream_it_is_given() -> None:
    assert load_data("-", io.StringIO('{"id": "u1"}')) == {"id": "u1"}


def test_data_from_a_file_saved_with_a_bom(tmp_path: Path) -> None:
    body = tmp_path / "u.json"
    body.write_bytes(b'\xef\xbb\xbf{"id": "u1"}')  # as Windows editors save UTF-8
    assert load_data(f"@{body}") == {"id": "u1"}


@pytest.mark.parametrize(
    ("spec", "named"), [("-", "--data - (stdin)"), ("[1]", "--data"), ("@", "")]
)
def test_a_body_that_is_not_an_object_names_where_it_came_from(
    spec: str, named: str, tmp_path: Path
) -> None:
    if spec == "@":
        (tmp_path / "list.json").write_text("[1]")
        spec, named = f"@{tmp_path / 'list.json'}", f"--data @{tmp_path / 'list.json'}"
    with pytest.raises(UsageError, match=re.escape(f"{named} must be a JSON object, not list")):
        load_data(spec, io.StringIO("[1]"))


@pytest.mark.parametrize("given_id", ["abc", "0123456789abcdef0123456X", "u2"])
def test_a_printed_user_whose_id_is_neither_its_uid_nor_internal_is_refused(given_id: str) -> None:
    with pytest.raises(UsageError, match="differ"):
        user_body_from_object({"uid": "u1", "id": given_id}, create=True)


def test_a_printed_user_keeps_every_field_after_an_empty_one_and_lists_as_ids() -> None:
    printed = {
        "uid": "u1",
        "id": "0123456789abcdef01234567",
        "meta": {},
        "first_name": "Ada",
        "lists": ["l1", {"id": "l2", "subscribed": True}, {"id": "l3", "subscribed": False}],
        "tags": [{"id": "t1"}, {"name": "kept as given"}],
    }
    assert user_body_from_object(printed, create=True) == {
        "id": "u1",
        "first_name": "Ada",
        "lists": ["l1", "l2"],
        "tags": [{"id": "t1"}, {"name": "kept as given"}],
    }


# --- every message says what was wrong with what was typed ----------------------------------


def usage_error(call: Callable[[], object]) -> UsageError:
    with pytest.raises(UsageError) as caught:
        call()
    return caught.value


def test_a_pair_without_an_equals_sign_shows_both_forms() -> None:
    err = usage_error(lambda: parse_pair("novalue", "--meta"))
    assert err.message == "--meta 'novalue': expected KEY=VALUE or KEY:=JSON."
    assert err.hint == "For example --meta plan=pro or --meta age:=34."
    assert "--property" in str(usage_error(lambda: parse_pair("x", "--property")).hint)


@pytest.mark.parametrize("text", ["=x", ":=1"])
def test_a_pair_with_an_empty_key_says_so(text: str) -> None:
    assert usage_error(lambda: parse_pair(text, "--meta")).message == (
        f"--meta {text!r}: the key is empty."
    )


def test_a_pair_that_is_not_json_says_how_to_send_text() -> None:
    err = usage_error(lambda: parse_pair("n:=nope", "--meta"))
    assert err.message.startswith("--meta n: 'nope' is not a JSON literal (Expecting value")
    assert err.message.endswith(").")
    assert err.hint == "Use --meta n=TEXT for a string."


def test_parse_pairs_keeps_the_last_of_a_key_and_none_when_none_given() -> None:
    assert parse_pairs(None, "--meta") is None
    assert parse_pairs([], "--meta") is None
    assert parse_pairs(["a=1", "b:=2", "a=3"], "--meta") == {"a": "3", "b": 2}
    assert "--property" in usage_error(lambda: parse_pairs(["x"], "--property")).message


@pytest.mark.parametrize(
    ("text", "value"),
    [("1", 1), ("-2.5", -2.5), ("true", True), ('"49.99"', "49.99"), ("word", "word"),
     ("{}", "{}"), ("[1, 2]", "[1, 2]"), ('"null"', "null")],
)  # fmt: skip
def test_parse_scalar(text: str, value: object) -> None:
    parsed = parse_scalar(text)
    assert parsed == value and type(parsed) is type(value)


def test_a_value_no_number_can_hold_is_refused() -> None:
    err = usage_error(lambda: parse_scalar("1e999"))
    assert err.message == "--value 1e999: number out of range: 1e999."
    assert err.hint == "Quote it to send the text."


def test_a_null_value_is_refused() -> None:
    err = usage_error(lambda: parse_scalar("null"))
    assert err.message == "--value null: an event value cannot be null."
    assert err.hint == "Leave --value out, or quote it to send the text: --value '\"null\"'."


@pytest.mark.parametrize(
    ("arg", "said"),
    [
        ("caf\udcff", "argument 2 (caf\\xff) holds a byte that is not UTF-8 (0xff); give it as "
         "UTF-8 text."),
        ("a\ud800b", "argument 2 (a\\ud800b) holds a lone surrogate (\\ud800), which is not "
         "valid Unicode; give it as UTF-8 text."),
        ("plain", "argument 2 (plain) holds text that is not UTF-8; give it as UTF-8 text."),
        ("\ud800" + "x" * 70, f"argument 2 (\\ud800{'x' * 59}) holds a lone surrogate "
         "(\\ud800), which is not valid Unicode; give it as UTF-8 text."),
        ("é" * 70 + "\udcff", f"argument 2 ({'é' * 60}) holds a byte that is not UTF-8 "
         "(0xff); give it as UTF-8 text."),
    ],
)  # fmt: skip
def test_describe_invalid_argument_shows_the_bytes_as_typed(arg: str, said: str) -> None:
    assert describe_invalid_argument(2, arg) == said


def test_data_names_each_place_it_could_not_read(tmp_path: Path) -> None:
    class NotUTF8(io.StringIO):
        def read(self, size: int | None = -1) -> str:
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    assert usage_error(lambda: load_data("-", NotUTF8())).message == (
        "--data -: stdin is not UTF-8 text (invalid start byte)."
    )
    missing = tmp_path / "missing.json"
    assert usage_error(lambda: load_data(f"@{missing}")).message == (
        f"--data @{missing}: cannot read the file (No such file or directory)."
    )
    latin1 = tmp_path / "latin1.json"
    latin1.write_bytes(b'{"name": "Zo\xeb"}')
    assert usage_error(lambda: load_data(f"@{latin1}")).message == (
        f"--data @{latin1}: the file is not UTF-8 text (byte 12: invalid continuation byte)."
    )


@pytest.mark.parametrize(("spec", "source"), [("{x", "--data"), ("-", "--data - (stdin)")])
def test_data_that_is_not_json_names_its_source(spec: str, source: str) -> None:
    # Inline JSON is named once: not "--data (--data)" (issue 22).
    err = usage_error(lambda: load_data(spec, io.StringIO("{x")))
    assert err.message == (
        f"{source} is not valid JSON: Expecting property name enclosed in double "
        "quotes: line 1 column 2 (char 1)."
    )


def test_data_from_a_file_and_from_the_process_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = tmp_path / "u.json"
    body.write_text('{"id": "Zoë"}', encoding="utf-8")
    assert load_data(f"@{body}") == {"id": "Zoë"}
    monkeypatch.setattr("sys.stdin", io.StringIO('{"id": "u2"}'))
    assert load_data("-") == {"id": "u2"}


def test_merge_body_leaves_its_inputs_alone() -> None:
    data = {"id": "a", "meta": {"x": 1}, "lists": ["l1"]}
    merged = merge_body(data, {"meta": {"y": 2}, "lists": {"not": "a list"}, "new": {"k": 1}})
    assert merged == {"id": "a", "meta": {"x": 1, "y": 2}, "lists": {"not": "a list"},
                      "new": {"k": 1}}  # fmt: skip
    assert data == {"id": "a", "meta": {"x": 1}, "lists": ["l1"]}
    assert merge_body(None, {"id": "b"}) == {"id": "b"}


def test_a_printed_user_loses_what_only_the_server_sets() -> None:
    server_set = ["devices", "segments", "uid_updateable", "accounts", "archived",
                  "member_count", "last_interaction", "stats"]  # fmt: skip
    printed = {"uid": "u1", "email": "a@example.com", "first_name": None}
    printed.update(dict.fromkeys(server_set, "set by the server"))
    assert user_body_from_object(printed, create=False) == {"email": "a@example.com"}
    assert user_body_from_object(printed, create=True) == {"id": "u1", "email": "a@example.com"}
    assert frozenset(server_set) == SERVER_USER_FIELDS  # what else could be dropped


@pytest.mark.parametrize(
    "given_id", ["u1", "0123456789abcdef01234567", "fedcba9876543210fedcba98", None]
)
def test_a_printed_user_whose_id_is_its_uid_or_internal_reads_back(given_id: str | None) -> None:
    assert user_body_from_object({"uid": "u1", "id": given_id}, create=True) == {"id": "u1"}


@pytest.mark.parametrize(
    "given_id",
    ["0123456789ABCDEF01234567", "0123456789abcdef0123456", "0123456789abcdef012345678",
     "0123456789abcdef0123456g", 123],
)  # fmt: skip
def test_an_id_that_is_not_internal_is_refused_with_both_named(given_id: object) -> None:
    err = usage_error(lambda: user_body_from_object({"uid": "u1", "id": given_id}, create=True))
    assert err.message == f"--data: id {given_id!r} and uid 'u1' differ: give one of them."
    assert err.hint == "A printed user's id is Engage's internal one (24 hex digits)."


def test_a_body_without_uid_is_left_for_the_model() -> None:
    body = {"id": "u1", "devices": [], "meta": {}}
    assert user_body_from_object(body, create=True) is body


def test_lists_of_a_printed_user_keep_what_is_not_a_list_object() -> None:
    printed = {
        "uid": "u1",
        "lists": [{"id": "l1"}, {"name": "no id"}, {"id": "l2", "subscribed": None}, "l3"],
        "tags": "not a list",
    }
    assert user_body_from_object(printed, create=False) == {
        "lists": ["l1", {"name": "no id"}, "l2", "l3"],
        "tags": "not a list",
    }
    unsubscribed = {"uid": "u1", "lists": [{"id": "l1", "subscribed": False}]}
    assert user_body_from_object(unsubscribed, create=False) == {}

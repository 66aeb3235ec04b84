"""Property-based: arbitrary text, bytes, nesting and numbers thrown at every parser of the
command line end as exit 0 (accepted) or 2 (refused before the network), never 1, and a
refusal sends nothing. The API side is a script that accepts everything, so any other exit
code would be the CLI's own failure."""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.harness import Run, reply, run

PROPERTY = settings(
    max_examples=30,
    deadline=None,  # a shared, noisy machine: time is not what is being tested
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

OK = {"uid": "u1", "status": "ok", "data": []}


def check(args: list[str], stdin: str = "") -> Run:
    sent: list[httpx.Request] = []

    def accept(request: httpx.Request) -> httpx.Response:
        request.read()
        sent.append(request)
        return reply(200, OK)

    result = run(args, accept, stdin=stdin)
    assert result.exit_code in (0, 2), (args[:6], result.exit_code, result.stderr[-400:])
    assert "Unexpected failure" not in result.stderr
    if result.exit_code == 2:
        assert sent == [], args
    else:
        assert len(sent) == 1
        json.loads(sent[0].content or b"null")  # what was sent is JSON
    return result


# Text as a shell can hand it over: any code point, lone surrogates included, and bytes
# that are not UTF-8 as Python's argv carries them (PEP 383 surrogateescape).
any_text = st.one_of(
    st.text(),
    st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())),
    st.binary().map(lambda b: b.decode("utf-8", "surrogateescape")),
)
# Argument values never start with '-' here: that would be an option, not this value.
value_text = any_text.map(lambda s: s if not s.startswith("-") else " " + s)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


def nested(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


json_texts = st.one_of(
    json_values.map(json.dumps),
    st.integers(min_value=1, max_value=3000).map(nested),
    st.integers(min_value=1, max_value=300).map(lambda d: '{"a":' * d + "1" + "}" * d),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e999", '"\\ud800"', "[1,]"]),
    value_text,
)
numbers_as_text = st.one_of(
    st.integers().map(str),
    st.floats().map(repr),
    st.floats().map(str),
    st.sampled_from(["1e999", "nan", "inf", "-0", "0x10", "1_000", "١٢٣", "1" * 5000]),
)


@PROPERTY
@given(key=value_text, value=json_texts, plain=st.booleans())
def test_meta_and_property_pairs(key: str, value: str, plain: bool) -> None:
    pair = f"{key}{'=' if plain else ':='}{value}"
    check(["users", "update", "u1", "--meta", pair])
    check(["events", "add", "u1", "Paid", "--property", pair])


@PROPERTY
@given(data=json_texts)
def test_data_inline_file_and_stdin(data: str) -> None:
    check(["users", "update", "u1", "--data", data])
    check(["api", "POST", "/users", "--data", data])
    if any("\ud800" <= c <= "\udfff" for c in data):  # stdin carries bytes, never these
        return
    check(["events", "add", "u1", "--data", "-"], stdin=data)


@PROPERTY
@given(body=json_values)
def test_data_objects_of_any_shape(body: Any) -> None:
    check(["users", "create", "--data", json.dumps({"id": "u1", "meta": body})])
    check(["events", "add", "u1", "--data", json.dumps({"event": "E", "properties": body})])


@PROPERTY
@given(value=st.one_of(json_texts, numbers_as_text))
def test_event_values(value: str) -> None:
    check(["events", "add", "u1", "Paid", "--value", value])


@PROPERTY
@given(date=st.one_of(value_text, st.datetimes().map(lambda d: d.isoformat())))
def test_dates(date: str) -> None:
    check(["users", "create", "--id", "u1", "--created-at", date])
    check(["events", "add", "u1", "Paid", "--timestamp", date])


@PROPERTY
@given(uid=value_text.filter(bool))
def test_ids_in_bodies_and_paths(uid: str) -> None:
    check(["users", "create", "--id", uid])
    check(["users", "get", uid])
    check(["events", "add", uid, "Paid"])


@PROPERTY
@given(email=value_text, number=st.one_of(value_text, numbers_as_text))
def test_emails_and_numbers(email: str, number: str) -> None:
    check(["users", "create", "--id", "u1", "--email", email])
    check(["users", "update", "u1", "--number", number])


@PROPERTY
@given(event=value_text, list_id=value_text)
def test_event_names_and_list_ids(event: str, list_id: str) -> None:
    check(["events", "add", "u1", event])
    check(["users", "create", "--id", "u1", "--list", list_id])


@PROPERTY
@given(path=value_text, query=value_text)
def test_api_paths_and_queries(path: str, query: str) -> None:
    check(["api", "GET", "/" + path, "--param", f"q={query}"])

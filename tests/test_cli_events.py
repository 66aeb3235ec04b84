"""`engage events add`: the reference's example bodies, value typing, and no repeats."""

from __future__ import annotations

import httpx
import pytest

from tests.harness import Run, reply, run

OK = {"status": "ok"}


def test_add_to_cart_example_body() -> None:
    result = run(
        ["events", "add", "u144", "Add to cart", "--timestamp", "2020-05-30T09:30:10Z",
         "--property", "product=T123", "--property", "currency=USD", "--property", "amount:=12.99"],
        [reply(200, OK)],
        env={"ENGAGE_API_SECRET": ""},  # events work with the key alone
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    request = result.sent[0]
    assert (request.method, request.url.path) == ("POST", "/v1/users/u144/events")
    assert request.content == (
        b'{"event":"Add to cart","timestamp":"2020-05-30T09:30:10Z",'
        b'"properties":{"product":"T123","currency":"USD","amount":12.99}}'
    )
    assert result.json() == OK


def test_paid_example_body() -> None:
    result = run(["events", "add", "u144", "Paid", "--value", "49.99"], [reply(200, OK)])
    assert result.sent[0].content == b'{"event":"Paid","value":49.99}'


def test_shortest_form_carries_only_the_event() -> None:
    result = run(["events", "add", "u144", "Signed up"], [reply(200, OK)])
    assert result.sent[0].content == b'{"event":"Signed up"}'


@pytest.mark.parametrize(
    ("text", "sent"),
    [
        ("49.99", 49.99),
        ("3", 3),
        ("true", True),
        ("false", False),
        ('"49.99"', "49.99"),
        ("gold", "gold"),
        ("[1,2]", "[1,2]"),
        ("", ""),
    ],
)
def test_value_typing(text: str, sent: object) -> None:
    result = run(["events", "add", "u1", "E", "--value", text], [reply(200, OK)])
    assert result.exit_code == 0, result.stderr
    value = result.script.body()["value"]
    assert value == sent and type(value) is type(sent)


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["--value", "null"], "null"),
        (["--property", "tags:=[1]"], "properties.tags"),
        (["--timestamp", "last tuesday"], "timestamp"),
        (["--timestamp", "2021-01-01T10"], "timestamp"),
        (["--timestamp", "20210112"], "timestamp"),
        (["--value", "1e999"], "out of range"),
        (["--property", "n:=1e999"], "out of range"),
    ],
)
def test_refusals_before_the_network(args: list[str], text: str) -> None:
    result = run(["events", "add", "u1", "E", *args])
    assert result.exit_code == 2
    assert text in result.stderr
    assert result.sent == []


def test_event_is_required() -> None:
    result = run(["events", "add", "u1"])
    assert result.exit_code == 2
    assert "event" in result.stderr


def test_event_from_data_with_flag_override() -> None:
    result = run(
        ["events", "add", "u1", "--data", '{"event": "Paid", "value": 1}', "--value", "2"],
        [reply(200, OK)],
    )
    assert result.script.body() == {"event": "Paid", "value": 2}


@pytest.mark.parametrize(
    "failure",
    [reply(500, {"error": "oops"}), reply(502, "bad gateway"), httpx.ReadTimeout("slow")],
)
def test_an_event_is_never_repeated_after_it_may_have_landed(failure: object) -> None:
    # One reply: a second attempt would be a request beyond the script, which fails the test.
    result = run(["events", "add", "u1", "Paid"], [failure])  # type: ignore[list-item]
    assert result.exit_code == 6
    assert len(result.sent) == 1


def test_an_event_is_retried_when_it_cannot_have_landed() -> None:
    replies = [
        httpx.ConnectError("refused"),
        reply(429, {"error": "slow down"}, {"Retry-After": "0"}),
        reply(503, {"error": "busy"}, {"Retry-After": "0"}),  # refused before acting
        reply(200, OK),
    ]
    result = run(["events", "add", "u1", "Paid"], replies)  # type: ignore[arg-type]
    assert result.exit_code == 0, result.stderr
    assert len(result.sent) == 4


def test_table_mode_confirms_on_stderr() -> None:
    result = run(["events", "add", "u1", "Paid", "-o", "table"], [reply(200, OK)])
    assert result.stdout == ""
    assert "Recorded event 'Paid'" in result.stderr


def test_an_unknown_uid_is_created_and_the_help_says_so_as_the_api_does_not() -> None:
    # The sandbox answers as Engage does: {"status": "ok"}, whether the user existed or not,
    # so only the help can tell (issue 22).
    from engage_cli.context import sandbox_transport

    def sandbox(*args: str) -> Run:
        return run(["--sandbox", *args, "-o", "json"], transport=sandbox_transport())

    assert sandbox("users", "get", "nobody").exit_code == 4
    first, again = (sandbox("events", "add", "nobody", "Login") for _ in range(2))
    assert first.exit_code == again.exit_code == 0, first.stderr
    assert first.json() == again.json() == {"status": "ok"}
    assert sandbox("users", "get", "nobody").json()["uid"] == "nobody"
    help_text = " ".join(run(["events", "add", "--help"]).stdout.split())
    assert "A UID that does not exist yet is created by the API" in help_text

"""Bulk seeding in-process: readers, typing rules, validation, failures files, concurrency,
rate, interrupts and teardown, against httpx.MockTransport or the in-process sandbox."""

from __future__ import annotations

import io
import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from engage_cli.bulk import jobs, json_records, ledger, pacing, readers
from engage_cli.bulk import runner as running
from engage_cli.bulk.csv_records import EVENT_CSV, USER_CSV, CsvSchema, read_csv
from engage_cli.bulk.json_records import read_json
from engage_cli.bulk.records import Record
from engage_cli.bulk.text_input import TextInput
from engage_cli.errors import UsageError
from engage_cli.sandbox.api import SandboxAPI
from engage_cli.sandbox.store import SandboxStore
from engage_cli.sandbox.transport import SandboxTransport
from tests.harness import BASE, KEY, SECRET, Handler, run


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"status": "ok"})


class Recorder:
    """A thread-safe handler that records what was sent and answers with `answer`."""

    def __init__(self, answer: Handler = ok) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        with self._lock:
            self.requests.append(request)
        return self.answer(request)

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) for r in self.requests]

    def paths(self) -> set[str]:
        return {r.url.path for r in self.requests}


def csv_records(text: str, schema: CsvSchema = USER_CSV) -> list[Record]:
    warnings: list[str] = []
    return list(
        read_csv(TextInput(io.StringIO(text, newline=""), "t.csv"), schema, warnings.append)
    )


def read_file(path: Path, schema: CsvSchema = USER_CSV, fmt: str | None = None) -> list[Record]:
    return list(readers.read_records(readers.Source(str(path), fmt, path=path), schema))


def only(folder: Path, pattern: str) -> Path:
    """The one file in `folder` matching `pattern` (a run names its files with a time stamp)."""
    (path,) = folder.glob(pattern)
    return path


def failures_in(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def sandbox_api(tmp_path: Path) -> Iterator[Callable[..., SandboxAPI]]:
    stores: list[SandboxStore] = []

    def make(**faults: Any) -> SandboxAPI:
        store = SandboxStore(tmp_path / f"sandbox-{len(stores)}.sqlite3")
        stores.append(store)
        return SandboxAPI(store, KEY, SECRET, **faults)

    yield make
    for store in stores:
        store.close()


# --- CSV -----------------------------------------------------------------------------------


def test_csv_maps_columns_and_types_cells_only_when_asked() -> None:
    text = (
        "id,first_name,meta.age:=,meta.zip,meta.vip:=,lists,number\n"
        'u1,"Jinadu, Akinyele",34,01234,true, l1 ; l2 ;,2348012345678\n'
    )
    (record,) = csv_records(text)
    assert record.line == 2
    assert record.problems == ()
    assert record.data == {
        "id": "u1",
        "first_name": "Jinadu, Akinyele",
        "meta": {"age": 34, "zip": "01234", "vip": True},
        "lists": ["l1", "l2"],
        "number": "2348012345678",
    }


def test_csv_empty_cells_are_not_given_and_short_rows_are_allowed() -> None:
    (record,) = csv_records("id,first_name,email,meta.plan\nu1,,\n")
    assert record.data == {"id": "u1"}


def test_csv_quoted_cells_spanning_lines_keep_line_numbers_right() -> None:
    text = 'id,first_name\nu1,"two\nlines"\n\nu2,"a ""quoted"" name"\n,,\nu3,x\n'
    records = csv_records(text)
    assert [(r.line, r.data) for r in records] == [
        (2, {"id": "u1", "first_name": "two\nlines"}),
        (5, {"id": "u2", "first_name": 'a "quoted" name'}),
        (7, {"id": "u3", "first_name": "x"}),
    ]


def test_csv_unknown_columns_go_to_meta_as_text_with_one_warning() -> None:
    warnings: list[str] = []
    text = "id,plan,seats:=\nu1,pro,3\nu2,free,1\n"
    stream = TextInput(io.StringIO(text), "seed.csv")
    records = list(read_csv(stream, USER_CSV, warnings.append))
    assert [r.data for r in records] == [
        {"id": "u1", "meta": {"plan": "pro", "seats": 3}},
        {"id": "u2", "meta": {"plan": "free", "seats": 1}},
    ]
    assert len(warnings) == 1
    assert "seed.csv, line 1" in warnings[0] and "plan, seats:=" in warnings[0]
    assert "meta" in warnings[0]


def test_csv_bad_cells_are_problems_of_their_record() -> None:
    records = csv_records("id,meta.age:=\nu1,thirty\nu2,30,extra\nu3,7\n")
    assert records[0].problems == ("meta.age:=: 'thirty' is not a JSON literal",)
    assert records[1].problems == ("3 cells, but the header has 2 columns",)
    assert records[2].problems == ()


@pytest.mark.parametrize(
    ("header", "message"),
    [("id,,email", "column 2 of the header has no name"), ("id,email,email", "email twice"),
     ("id,meta.", "names no meta key"), ("id,meta.a,a", "meta.a twice")],
)  # fmt: skip
def test_csv_header_mistakes_are_usage_errors(header: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        csv_records(header + "\nu1,a,b\n")


def test_csv_events_value_reads_like_events_add_and_properties_follow_the_typing_rule() -> None:
    text = (
        "uid,event,value,properties.amount:=,properties.sku,currency\n"
        "u1,Paid,49.99,12.99,0012,USD\n"
        'u1,Note,"""49.99""",,,\n'
        "u1,Tag,gold,,,\n"
        "u1,Bad,null,,,\n"
    )
    records = csv_records(text, EVENT_CSV)
    assert records[0].data == {
        "uid": "u1",
        "event": "Paid",
        "value": 49.99,
        "properties": {"amount": 12.99, "sku": "0012", "currency": "USD"},
    }
    assert records[1].data["value"] == "49.99"
    assert records[2].data["value"] == "gold"
    assert records[3].problems == ("value: 'null' cannot be a value; leave the cell empty",)


def test_csv_file_with_a_byte_order_mark_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "seed.csv"
    path.write_bytes(b'\xef\xbb\xbfid,first_name\r\nu1,Ada\r\nu2,"B\r\nC"\r\n')
    records = read_file(path)
    assert [(r.line, r.data) for r in records] == [
        (2, {"id": "u1", "first_name": "Ada"}),
        (3, {"id": "u2", "first_name": "B\r\nC"}),
    ]


# --- JSON Lines and JSON -------------------------------------------------------------------


def test_jsonl_keeps_line_numbers_skips_blank_lines_and_drops_the_error_key(tmp_path: Path) -> None:
    path = tmp_path / "users.jsonl"
    path.write_text(
        '{"id": "u1", "_error": {"message": "x"}}\n\n{oops\n[1]\n  {"id": "u4"}  \n',
        encoding="utf-8",
    )
    records = read_file(path)
    assert [(r.line, r.data) for r in records] == [
        (1, {"id": "u1"}),
        (3, "{oops"),
        (4, [1]),
        (5, {"id": "u4"}),
    ]
    assert "not valid JSON" in records[1].problems[0]
    assert records[2].problems == ("expected a JSON object, got an array",)


def json_array(n: int) -> str:
    items = [
        json.dumps({"id": f"u{i}", "meta": {"n": i * 1001, "s": "x" * (i % 7)}}, indent=1)
        for i in range(n)
    ]
    return "[\n" + ",\n".join(items) + "\n]\n"


@pytest.mark.parametrize("chunk", [1, 3, 7, 64 * 1024])
def test_json_array_streams_in_chunks_with_line_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(json_records, "CHUNK_CHARS", chunk)
    path = tmp_path / "users.json"
    path.write_text(json_array(30), encoding="utf-8")
    records = read_file(path)
    assert [r.data for r in records] == [
        {"id": f"u{i}", "meta": {"n": i * 1001, "s": "x" * (i % 7)}} for i in range(30)
    ]
    # indent=1 objects take 7 lines each; the first starts on line 2, after "[".
    assert [r.line for r in records] == [2 + 7 * i for i in range(30)]


def test_a_json_array_is_read_record_by_record_not_whole() -> None:
    text = json_array(20_000)
    delivered = 0

    class Counting(io.StringIO):
        def read(self, size: int | None = -1) -> str:
            nonlocal delivered
            chunk = super().read(size)
            delivered += len(chunk)
            return chunk

    records = read_json(TextInput(Counting(text), "big.json"), USER_CSV, print)
    first = next(records)
    assert first.data == {"id": "u0", "meta": {"n": 0, "s": ""}}
    assert len(text) > 10 * json_records.CHUNK_CHARS
    assert delivered <= 2 * json_records.CHUNK_CHARS
    assert sum(1 for _ in records) == 19_999


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"id": "u1"}', [{"id": "u1"}]),  # one object: a --data file
        ('{"id": "u1"}\n{\n "id": "u2"\n}', [{"id": "u1"}, {"id": "u2"}]),
        ("[]", []),
        ("  \n", []),
    ],
)
def test_json_also_reads_one_object_or_objects_one_after_another(
    tmp_path: Path, text: str, expected: list[Any]
) -> None:
    path = tmp_path / "x.json"
    path.write_text(text, encoding="utf-8")
    assert [r.data for r in read_file(path)] == expected


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('[\n{"id": "u1"},\n{"id": \n', 4, "premature EOF"),  # where it broke: the end
        ('[\n{"id": "u1"}\n{"id": "u2"}]', 3, "expect ',' or ']'"),
        ('[{"id": "u1"},', 1, "premature EOF"),
        ('[{"id": "u1"}] x', 1, "trailing garbage"),
        ('[{"n": NaN}]', 1, "invalid char"),
        ('[{"n": 1e999}]', 1, "overflow"),
    ],
)
def test_malformed_json_is_one_last_problem_with_its_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = tmp_path / "x.json"
    path.write_text(text, encoding="utf-8")
    last = read_file(path)[-1]
    assert last.line == line
    assert message in last.problems[0] and "nothing after it was read" in last.problems[0]


@pytest.mark.parametrize(
    ("name", "declared", "first", "expected"),
    [("a.csv", None, "{", "csv"), ("a.JSONL", None, "i", "jsonl"), ("a.ndjson", None, "[", "jsonl"),
     ("a.json", None, "{", "json"), ("a.csv.failed.jsonl", None, "{", "jsonl"),
     ("a.txt", None, "[", "json"), ("-", None, "[", "json"), ("-", None, "{", "jsonl"),
     ("-", None, "i", "csv"), ("-", "json", "i", "json"), ("a.csv", "jsonl", "i", "jsonl")],
)  # fmt: skip
def test_format_from_flag_then_extension_then_content(
    name: str, declared: str | None, first: str, expected: str
) -> None:
    assert readers.format_for(name, declared, first) == expected


def test_stdin_is_sniffed_and_its_byte_order_mark_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where a failures file from stdin would go
    recorder = Recorder()
    result = run(
        ["users", "import", "-", "-o", "json"],
        recorder,
        stdin='\ufeff  [{"id": "u1"}, {"uid": "u2", "meta": {"a": 1}}]',
    )
    assert result.exit_code == 0, result.stderr
    assert recorder.paths() == {"/v1/users/u1", "/v1/users/u2"}
    assert result.json()["input"] == "stdin"


# --- validation --------------------------------------------------------------------------


def test_invalid_records_are_listed_by_line_and_nothing_is_sent(tmp_path: Path) -> None:
    path = tmp_path / "seed.csv"
    path.write_text(
        "id,email,meta.age:=,created_at\n"
        "u1,a@example.com,34,2021-01-12\n"
        "u-2,not-an-email,x,yesterday\n"
        ",b@example.com,,\n"
        "u4,,,\n",
        encoding="utf-8",
    )
    result = run(["users", "import", str(path), "--mode", "create", "-o", "table"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "2 of 4 records in" in result.stderr and "nothing was sent" in result.stderr
    assert "line 3: meta.age:=: 'x' is not a JSON literal." in result.stderr
    assert "line 4: invalid user: id: is required" in result.stderr
    assert not (tmp_path / "seed.csv.failed.jsonl").exists()


def test_invalid_field_values_name_the_field_and_line(tmp_path: Path) -> None:
    path = tmp_path / "seed.jsonl"
    path.write_text(
        '{"id": "u1", "email": "nope"}\n'
        '{"id": "u2", "meta": {"tags": ["a"]}}\n'
        '{"id": "u3", "x": 1}\n',
        encoding="utf-8",
    )
    result = run(["users", "import", str(path), "-o", "table"])
    assert result.exit_code == 2
    assert "line 1: invalid user update: email: 'nope' is not an email address" in result.stderr
    assert (
        "line 2: invalid user update: meta.tags: must be a string, number or boolean"
        in result.stderr
    )
    assert "line 3: invalid user update: x: is not a field of this request" in result.stderr


def test_the_list_of_invalid_records_is_capped(tmp_path: Path) -> None:
    path = tmp_path / "seed.jsonl"
    path.write_text("".join('{"email": "x"}\n' for _ in range(25)), encoding="utf-8")
    result = run(["users", "import", str(path), "-o", "table"])
    assert result.exit_code == 2
    assert result.stderr.count("  line ") == jobs.MAX_PROBLEMS_SHOWN
    assert "... and 5 more" in result.stderr


def test_upsert_sends_lists_as_an_export_carries_them(tmp_path: Path) -> None:
    path = tmp_path / "seed.csv"
    path.write_text("id,lists\nu1,l1;l2\n", encoding="utf-8")
    recorder = Recorder()
    result = run(["users", "import", str(path), "-o", "json"], recorder)
    assert result.exit_code == 0, result.stderr
    assert recorder.bodies() == [{"lists": ["l1", "l2"]}]


def test_dry_run_checks_everything_and_sends_nothing(tmp_path: Path) -> None:
    path = tmp_path / "seed.csv"
    path.write_text("id,first_name\nu1,Ada\nu2,Bob\n", encoding="utf-8")
    result = run(["users", "import", str(path), "--dry-run", "-o", "json"])
    assert result.exit_code == 0, result.stderr
    summary = result.json()
    assert summary["dry_run"] is True and summary["read"] == 2 and summary["would_send"] == 2
    assert summary["sent"] == 0 and summary["landed"] == 0
    listed = run(["users", "import", str(path), "--dry-run", "-o", "ndjson"])
    requests = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["method"], r["url"], r["body"]) for r in requests] == [
        ("PUT", f"{BASE}/users/u1", {"first_name": "Ada"}),
        ("PUT", f"{BASE}/users/u2", {"first_name": "Bob"}),
    ]
    assert requests[0]["headers"]["Authorization"] == "Basic ****"
    assert "Nothing was sent" in listed.stderr


# --- what is sent ----------------------------------------------------------------------------


def test_upsert_puts_each_user_by_uid_without_the_id_in_the_body(tmp_path: Path) -> None:
    path = tmp_path / "seed.jsonl"
    path.write_text(
        '{"id": "u1", "first_name": "Ada", "meta": {"age": 34}}\n'
        '{"uid": "jane@example.com", "last_name": "Doe"}\n',
        encoding="utf-8",
    )
    recorder = Recorder()
    result = run(["users", "import", str(path), "-o", "json"], recorder)
    assert result.exit_code == 0, result.stderr
    sent = {(r.method, r.url.raw_path.decode(), r.content) for r in recorder.requests}
    assert sent == {
        ("PUT", "/v1/users/u1", b'{"first_name":"Ada","meta":{"age":34}}'),
        ("PUT", "/v1/users/jane%40example.com", b'{"last_name":"Doe"}'),
    }


def test_create_posts_the_reference_body_with_lists(tmp_path: Path) -> None:
    path = tmp_path / "seed.csv"
    path.write_text("id,first_name,lists\nu144,Akinyele,l1;l2\n", encoding="utf-8")
    recorder = Recorder()
    result = run(["users", "import", str(path), "--mode", "create"], recorder)
    assert result.exit_code == 0, result.stderr
    (request,) = recorder.requests
    assert (request.method, request.url.path) == ("POST", "/v1/users")
    assert request.content == b'{"id":"u144","first_name":"Akinyele","lists":["l1","l2"]}'


def test_events_import_posts_each_event_to_its_user(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("uid,event,value,timestamp\nu1,Paid,49.99,2020-05-30T09:30:10Z\nu2,Signup,,\n")
    recorder = Recorder()
    result = run(["events", "import", str(path)], recorder)
    assert result.exit_code == 0, result.stderr
    got = sorted((r.url.path, r.content) for r in recorder.requests)
    assert got == [
        (
            "/v1/users/u1/events",
            b'{"event":"Paid","value":49.99,"timestamp":"2020-05-30T09:30:10Z"}',
        ),
        ("/v1/users/u2/events", b'{"event":"Signup"}'),
    ]


def half_a_second_an_answer(monkeypatch: pytest.MonkeyPatch) -> Handler:
    """The clock stands still except while the server answers: 0.5 s an answer."""
    clock = [1000.0]
    lock = threading.Lock()
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])

    def answer(request: httpx.Request) -> httpx.Response:
        with lock:
            clock[0] += 0.5
        return ok(request)

    return answer


def test_summary_is_one_json_object_on_stdout_or_a_sentence_on_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "seed.csv"
    path.write_text("id\nu1\nu2\nu3\n", encoding="utf-8")
    answer = half_a_second_an_answer(monkeypatch)
    result = run(["users", "import", str(path), "-o", "json"], Recorder(answer))
    summary = result.json()
    assert summary == {
        "command": "users import", "input": str(path), "read": 3, "invalid": 0,
        "duplicates": 0, "resumed": 0, "sent": 3, "landed": 3, "failed": 0, "unknown": 0,
        "not_sent": 0, "unsaved": 0, "requests": 3, "retries": 0, "rate_limited": 0,
        "elapsed": 1.5, "requests_per_second": 2.0,  # the clock moved 0.5 s for each of 3 answers
        "failures_file": None, "unknown_file": None, "batch": False, "interrupted": False,
        "dry_run": False, "would_send": 0,
    }  # fmt: skip
    assert result.stderr == ""
    table = run(["users", "import", str(path), "-o", "table"], Recorder(answer))
    assert table.stdout == ""
    assert table.stderr == "users import: 3 read, 3 landed, 0 failed in 1.5s (2 requests/s).\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "seed.csv"]  # nothing left


def test_progress_is_drawn_on_a_terminal_only(tmp_path: Path) -> None:
    path = tmp_path / "seed.csv"
    path.write_text("id\nu1\nu2\n", encoding="utf-8")
    on_tty = run(["users", "import", str(path)], Recorder(), tty=True)
    assert on_tty.exit_code == 0
    assert "2/2" in on_tty.stderr and "failed" in on_tty.stderr
    piped = run(["users", "import", str(path), "-o", "table"], Recorder())
    assert "2/2" not in piped.stderr


# --- the failures file -----------------------------------------------------------------------


def refuse_uids(*uids: str) -> Handler:
    def answer(request: httpx.Request) -> httpx.Response:
        if any(request.url.path.endswith(f"/{uid}") for uid in uids):
            return httpx.Response(400, json={"error": "Refused for the test."})
        return httpx.Response(200, json={"status": "ok"})

    return answer


def test_failed_records_round_trip_through_the_failures_file(tmp_path: Path) -> None:
    path = tmp_path / "seed.csv"
    path.write_text(
        "id,first_name,meta.age:=,meta.zip\nu1,Ada,34,01234\nu2,Bob,,\nu3,Cy,5,\n",
        encoding="utf-8",
    )
    first = run(["users", "import", str(path), "-o", "json"], Recorder(refuse_uids("u1", "u3")))
    assert first.exit_code == 7
    failures_path = only(tmp_path, "seed.csv.*.failed.jsonl")
    assert first.json()["failures_file"] == str(failures_path)
    error = json.loads(first.stderr)["error"]
    assert error["exit_code"] == 7
    assert error["hint"] == f"Retry exactly those: engage users import {failures_path}"
    entries = sorted(failures_in(failures_path), key=lambda e: str(e["id"]))
    assert [{k: v for k, v in e.items() if k != "_error"} for e in entries] == [
        {"id": "u1", "first_name": "Ada", "meta": {"age": 34, "zip": "01234"}},
        {"id": "u3", "first_name": "Cy", "meta": {"age": 5}},
    ]
    assert {e["_error"]["line"] for e in entries} == {2, 4}
    assert all(
        e["_error"]["status"] == 400 and "Refused" in e["_error"]["message"] for e in entries
    )

    # Feeding it back sends exactly those records, typed as before; it is rewritten in place.
    retry = Recorder()
    second = run(["users", "import", str(failures_path), "-o", "json"], retry)
    assert second.exit_code == 0, second.stderr
    assert sorted((r.url.path, r.content) for r in retry.requests) == [
        ("/v1/users/u1", b'{"first_name":"Ada","meta":{"age":34,"zip":"01234"}}'),
        ("/v1/users/u3", b'{"first_name":"Cy","meta":{"age":5}}'),
    ]
    assert failures_path.read_text() == ""


def test_runs_never_share_write_or_delete_each_others_failures_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    earlier = tmp_path / "seed.csv.failed.jsonl"
    earlier.write_text('{"id": "u0", "_error": {"message": "old"}}\n', encoding="utf-8")
    path = tmp_path / "seed.csv"
    path.write_text("id\nu1\n", encoding="utf-8")
    assert run(["users", "import", str(path)], Recorder()).exit_code == 0
    # Two failing runs from stdin in one second, then a clean one: three runs, two files.
    for _ in range(2):
        failed = run(["users", "import", "-", "-o", "json"], Recorder(refuse_uids("u1")),
                     stdin="id\nu1\n")  # fmt: skip
        assert failed.exit_code == 7
    assert run(["users", "import", "-"], Recorder(), stdin="id\nu2\n").exit_code == 0
    kept = sorted(tmp_path.glob("engage-import.*.failed.jsonl"))
    assert len(kept) == 2
    assert all(failures_in(p)[0]["id"] == "u1" for p in kept)
    assert earlier.read_text() == '{"id": "u0", "_error": {"message": "old"}}\n'
    mine = tmp_path / "notes.txt"
    mine.write_text("keep me\n", encoding="utf-8")
    result = run(["users", "import", str(path), "--failures", str(mine)], Recorder())
    assert result.exit_code == 0 and mine.read_text() == "keep me\n"


def test_stdin_failures_go_to_the_current_directory_and_say_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run(
        ["events", "import", "-", "-o", "table"],
        Recorder(refuse_uids("u2/events")),
        stdin="uid,event\nu1,A\nu2,B\n",
    )
    assert result.exit_code == 7
    failures_path = only(tmp_path, "engage-import.*.failed.jsonl")
    assert f"{failures_path.name} (in the current directory" in result.stderr
    (entry,) = failures_in(failures_path)
    assert entry["uid"] == "u2" and entry["event"] == "B"


def fifo_holding(path: Path, text: str) -> threading.Thread:
    """A FIFO at `path` that a writer fills with `text` once a reader opens it."""
    import os

    os.mkfifo(path)

    def write() -> None:
        with open(path, "w", encoding="utf-8") as fifo:
            fifo.write(text)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    return writer


@pytest.mark.parametrize("stream", [[], ["--stream"]])
def test_a_fifo_is_read_once_like_stdin_and_its_files_go_to_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stream: list[str]
) -> None:
    # `events import /dev/stdin` or `<(...)`: a pipe with a name, which can be read once
    # (issue 22). The check pass and the send pass share one spooled copy.
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    fifo = tmp_path / "events.pipe"
    writer = fifo_holding(fifo, "uid,event\nu1,A\nu2,B\n")
    recorder = Recorder(refuse_uids("u2/events"))
    result = run(["events", "import", str(fifo), *stream, "-o", "table"], recorder)
    writer.join(timeout=10)
    assert result.exit_code == 7, result.stderr
    assert sorted(r.url.path for r in recorder.requests) == [
        "/v1/users/u1/events", "/v1/users/u2/events",
    ]  # fmt: skip
    failures_path = only(work, "engage-import.*.failed.jsonl")  # not beside the FIFO
    assert f"{failures_path.name} (in the current directory, as the input was {fifo})" in (
        result.stderr
    )
    assert [e["uid"] for e in failures_in(failures_path)] == ["u2"]
    assert not list(tmp_path.glob("events.pipe.*"))


def test_delete_from_a_fifo_needs_yes_as_stdin_does(tmp_path: Path) -> None:
    fifo = tmp_path / "uids.pipe"
    writer = fifo_holding(fifo, "id\nu1\n")
    result = run(["users", "delete", "--from", str(fifo)], tty=True)
    writer.join(timeout=10)
    assert result.exit_code == 2
    assert f"{fifo} holds the uids, not an answer" in result.stderr
    assert result.sent == []


def test_stream_mode_sends_as_it_validates_and_keeps_invalid_records_as_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    recorder = Recorder()
    lines = '{"id": "u1"}\n{"id": "u2", "email": "bad"}\n{"id": "u3"}\n'
    result = run(["users", "import", "-", "--stream", "-o", "json"], recorder, stdin=lines)
    assert result.exit_code == 7
    assert recorder.paths() == {"/v1/users/u1", "/v1/users/u3"}
    summary = result.json()
    assert (summary["read"], summary["invalid"], summary["landed"]) == (3, 1, 2)
    (entry,) = failures_in(only(tmp_path, "engage-import.*.failed.jsonl"))
    assert (
        entry["id"] == "u2" and "line 2: invalid user update: email" in entry["_error"]["message"]
    )


def test_a_failures_file_that_cannot_be_written_stops_before_sending(tmp_path: Path) -> None:
    path = tmp_path / "seed.csv"
    path.write_text("id\nu1\n", encoding="utf-8")
    result = run(["users", "import", str(path), "--failures", str(tmp_path / "no" / "f.jsonl")])
    assert result.exit_code == 2
    assert "Cannot write the failures file" in result.stderr


# --- concurrency, rate and retries -----------------------------------------------------------


class Gauge:
    """A handler that holds every request until `target` are in flight at once (or 10 s
    pass), and records the most ever in flight."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.now = 0
        self.peak = 0
        self.count = 0
        self.reached = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.now += 1
            self.count += 1
            self.peak = max(self.peak, self.now)
            if self.now >= self.target:
                self.reached.set()
        self.reached.wait(10)
        with self._lock:
            self.now -= 1
        return httpx.Response(200, json={"status": "ok"})


@pytest.mark.parametrize("concurrency", [1, 4, 12])
def test_concurrency_is_the_number_of_requests_in_flight(tmp_path: Path, concurrency: int) -> None:
    path = tmp_path / "seed.csv"
    path.write_text("id\n" + "".join(f"u{i}\n" for i in range(96)), encoding="utf-8")
    gauge = Gauge(concurrency)
    result = run(["users", "import", str(path), "-c", str(concurrency)], gauge)
    assert result.exit_code == 0, result.stderr
    assert gauge.count == 96
    assert gauge.reached.is_set() and gauge.peak == concurrency


def test_reading_stays_only_a_few_records_ahead_of_sending(tmp_path: Path) -> None:
    finished = 0
    ahead = 0
    lock = threading.Lock()

    def records() -> Iterator[Record]:
        nonlocal ahead
        for n in range(2_000):
            with lock:  # read but not yet answered, as the next record is read
                ahead = max(ahead, n - finished)
            yield Record(n + 2, {"id": f"u{n}"})

    class Slow:
        on_rate_limit = None

        def send(self, request: Any) -> Any:
            nonlocal finished
            time.sleep(0.0005)
            with lock:
                finished += 1
            return {}

    job = jobs.users_import_job("upsert")
    failures = ledger.RecordsFile(tmp_path / "f.jsonl", mode="claim")
    runner = running.Runner(job, Slow(), failures, concurrency=4)
    runner.run(records())
    failures.close()
    # At most: 4 in flight, 2 queued per worker, and the one waiting to be queued.
    assert ahead <= 4 + 4 * running.READ_AHEAD_PER_WORKER + 1
    assert runner.tally.landed == 2_000


def recording_wait(waits: list[float]) -> Callable[[threading.Event, float], bool]:
    """A Pacer's wait that records how long it was asked to wait and returns at once, as
    Event.wait does once the time is up: True if the run was stopped."""

    def wait(stop: threading.Event, seconds: float) -> bool:
        waits.append(seconds)
        return stop.is_set()

    return wait


def test_pacer_spaces_requests_across_threads() -> None:
    times = iter([0.0, 0.0, 0.0, 0.05, 0.05])
    waits: list[float] = []
    pacer = pacing.Pacer(10, clock=lambda: next(times), wait=recording_wait(waits))
    stop = threading.Event()
    assert all(pacer.wait(stop) for _ in range(4))
    # 10/s: slots 100 ms apart; the fourth, asked for at 50 ms, keeps its slot at 300 ms.
    assert waits == pytest.approx([0.1, 0.2, 0.25])
    stop.set()
    assert not pacer.wait(stop)  # a stopped run is told so, not paced


def test_rate_reaches_the_pacer_which_spaces_requests_50_ms_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits: list[float | None] = []
    waits: list[float] = []

    class StillTime(pacing.Pacer):
        """Time stands still, so each request waits exactly its offset in the schedule."""

        def __init__(self, limit: float | None) -> None:
            limits.append(limit)
            super().__init__(limit, clock=lambda: 0.0, wait=recording_wait(waits))

    monkeypatch.setattr(running, "Pacer", StillTime)
    path = users_file(tmp_path, 11)
    recorder = Recorder()
    result = run(["users", "import", str(path), "--rate", "20", "-c", "8"], recorder)
    assert result.exit_code == 0, result.stderr
    assert limits == [20.0] and len(recorder.requests) == 11
    # The first goes at once; the other 10 at 50 ms, 100 ms, ... 500 ms, whichever worker.
    assert sorted(waits) == pytest.approx([0.05 * n for n in range(1, 11)])


def test_events_refused_with_503s_are_resent_and_land_once(
    tmp_path: Path, sandbox_api: Callable[..., SandboxAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    import random

    from engage_cli import policy

    monkeypatch.setattr(policy, "BACKOFF_BASE", 0.005)  # the retries' timing is not under test
    # A 503 is the server refusing before acting: resent within the retry budget, never set
    # apart as unknown (it was: about 30% of these events, exit 7).
    api = sandbox_api(fail_rate=0.3, rng=random.Random(4))
    path = tmp_path / "events.jsonl"
    path.write_text(
        "".join(
            json.dumps({"uid": f"u{i % 5}", "event": "Paid", "value": i}) + "\n" for i in range(80)
        ),
        encoding="utf-8",
    )
    first = run(["events", "import", str(path), "-o", "json"], transport=SandboxTransport(api))
    assert first.exit_code == 0, first.stderr
    landed = [e["value"] for e in api.store.list_events()]
    assert sorted(landed) == list(range(80))  # each once
    summary = first.json()
    assert (summary["landed"], summary["unknown"], summary["failed"]) == (80, 0, 0)
    assert summary["retries"] > 0
    assert not list(tmp_path.glob("*.unknown.jsonl")) and not list(tmp_path.glob("*.failed.jsonl"))


@pytest.mark.parametrize("status", [500, 502, 504])
def test_events_answered_500_502_504_are_unknown_never_retried_and_never_doubled(
    tmp_path: Path, status: int
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps({"uid": f"u{i}", "event": "Paid", "value": i}) + "\n"
                            for i in range(6)))  # fmt: skip

    def failing_on_odd(request: httpx.Request) -> httpx.Response:
        value = json.loads(request.content)["value"]
        return httpx.Response(status if value % 2 else 200, json={"status": "ok"})

    first = run(["events", "import", str(path), "-o", "json", "-c", "2"], failing_on_odd)
    assert first.exit_code == 7
    assert len(first.sent) == 6  # none sent twice
    unknown_path = only(tmp_path, "events.jsonl.*.unknown.jsonl")
    assert sorted(e["value"] for e in failures_in(unknown_path)) == [1, 3, 5]
    summary = first.json()
    assert (summary["landed"], summary["unknown"], summary["failed"]) == (3, 3, 0)
    assert summary["unknown_file"] == str(unknown_path) and summary["failures_file"] is None
    error = json.loads(first.stderr)["error"]
    assert "may have landed" in error["message"] and "hint" not in error  # no retry offered
    assert not list(tmp_path.glob("*.failed.jsonl"))


def test_a_timeout_after_the_server_acted_is_unknown_not_a_failure(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps({"uid": f"u{i}", "event": "Paid", "value": i}) + "\n"
                            for i in range(8)))  # fmt: skip
    recorded: list[int] = []
    lock = threading.Lock()

    def slow(request: httpx.Request) -> httpx.Response:
        with lock:
            recorded.append(json.loads(request.content)["value"])  # the server acted ...
        raise httpx.ReadTimeout("timed out", request=request)  # ... and the answer was late

    result = run(["events", "import", str(path), "-o", "table"], Recorder(slow))
    assert result.exit_code == 7
    assert "Retry exactly those" not in result.stderr
    assert "8 were sent without an answer and may have landed" in result.stderr
    unknown = failures_in(only(tmp_path, "events.jsonl.*.unknown.jsonl"))
    assert sorted(e["value"] for e in unknown) == sorted(recorded) == list(range(8))
    assert all("may have landed" in e["_error"]["message"] for e in unknown)
    assert not list(tmp_path.glob("*.failed.jsonl"))


def test_bad_credentials_stop_the_run_and_keep_every_record(tmp_path: Path) -> None:
    path = tmp_path / "seed.csv"
    path.write_text("id\n" + "".join(f"u{i}\n" for i in range(50)), encoding="utf-8")

    both_in_flight = threading.Barrier(2, timeout=10)

    def unauthorized(request: httpx.Request) -> httpx.Response:
        both_in_flight.wait()  # each worker's first request, at once
        # The real API's text has no full stop: the message must still read as sentences.
        return httpx.Response(401, json={"error": "Wrong authentication credentials"})

    recorder = Recorder(unauthorized)
    result = run(["users", "import", str(path), "-c", "2", "-o", "table"], recorder)
    assert result.exit_code == 3
    assert "Authentication failed" in result.stderr
    assert "Wrong authentication credentials. The records not landed are in" in result.stderr
    assert "engage auth status" in result.stderr  # the CLI's hint, before the resume line
    assert "resume with: engage users import" in result.stderr
    entries = failures_in(only(tmp_path, "seed.csv.*.failed.jsonl"))
    assert sorted(e["id"] for e in entries) == sorted(f"u{i}" for i in range(50))
    assert len(recorder.requests) == 2  # a worker that got a 401 sends nothing more
    assert sorted(e["_error"].get("status") for e in entries if e["_error"].get("status")) == [
        401, 401,
    ]  # fmt: skip
    assert sum("not sent" in e["_error"]["message"] for e in entries) == 48


# --- interrupts ------------------------------------------------------------------------------


@pytest.fixture
def run_stops(monkeypatch: pytest.MonkeyPatch) -> list[threading.Event]:
    """The stop event of each bulk run the test makes (set by Ctrl-C, a down API, bad
    credentials), so a server can hold requests until the run has stopped."""
    stops: list[threading.Event] = []
    watched = pacing.stop_on_interrupt

    def watching(stop: threading.Event, *args: Any) -> Any:
        stops.append(stop)
        return watched(stop, *args)

    monkeypatch.setattr(pacing, "stop_on_interrupt", watching)
    return stops


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])  # Ctrl-C, CI cancelling
def test_ctrl_c_finishes_requests_in_flight_and_saves_the_rest(
    tmp_path: Path, signum: signal.Signals, run_stops: list[threading.Event]
) -> None:
    path = tmp_path / "events.csv"
    path.write_text("uid,event,value:=\n" + "".join(f"u{i % 7},Paid,{i}\n" for i in range(200)))
    landed: list[int] = []
    lock = threading.Lock()

    def answer(request: httpx.Request) -> httpx.Response:
        with lock:
            landed.append(json.loads(request.content)["value"])
            count = len(landed)
        if count == 10:
            signal.raise_signal(signum)  # handled on the main thread ...
        elif count > 10:
            assert run_stops[0].wait(10)  # ... which stops the run before these are answered
        return httpx.Response(200, json={"status": "ok"})

    result = run(["events", "import", str(path), "-c", "4", "-o", "json"], Recorder(answer))
    assert result.exit_code == 130
    summary = result.json()
    assert summary["interrupted"] is True and summary["landed"] == len(landed)
    assert 10 <= len(landed) <= 10 + 4  # at most one more in flight on each worker
    assert "Stopping: the requests in flight are cut short" in result.stderr
    error = json.loads(result.stderr.splitlines()[-1])["error"]
    failures_path = only(tmp_path, "events.csv.*.failed.jsonl")
    # The resume line repeats this run's own options.
    assert error["hint"] == f"Resume with: engage events import {failures_path} --concurrency 4"
    saved = [e["value"] for e in failures_in(failures_path)]
    assert sorted(landed + saved) == list(range(200))


# --- teardown --------------------------------------------------------------------------------


def test_delete_from_deletes_each_uid_once_and_404_counts_as_done(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(
        "".join(json.dumps({"uid": u, "event": "e"}) + "\n" for u in ["a", "b", "a", "gone", "b"])
    )

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/gone"):
            return httpx.Response(404, json={"error": "User not found."})
        return httpx.Response(200, json={"status": "ok"})

    recorder = Recorder(answer)
    result = run(["users", "delete", "--from", str(path), "--yes", "-o", "json"], recorder)
    assert result.exit_code == 0, result.stderr
    assert sorted(r.url.path for r in recorder.requests) == [
        "/v1/users/a", "/v1/users/b", "/v1/users/gone",
    ]  # fmt: skip
    assert all(r.method == "DELETE" for r in recorder.requests)
    summary = result.json()
    assert (summary["read"], summary["duplicates"], summary["landed"]) == (5, 2, 3)


def test_delete_from_an_export_uses_uid_not_the_internal_id(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("uid,first_name,id\nu1,Ada,5fc6477241fcec31a9548e98\n")
    recorder = Recorder()
    assert run(["users", "delete", "--from", str(path), "--yes"], recorder).exit_code == 0
    assert recorder.paths() == {"/v1/users/u1"}


def test_delete_from_asks_on_a_terminal_and_refuses_without_one(tmp_path: Path) -> None:
    path = tmp_path / "seed.csv"
    path.write_text("id\nu1\nu2\n")
    refused = run(["users", "delete", "--from", str(path)])
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    stdin = run(["users", "delete", "--from", "-"], stdin="id\nu1\n", tty=True)
    assert stdin.exit_code == 2 and "stdin holds the uids" in stdin.stderr


@pytest.mark.parametrize(
    "args",
    [["users", "delete"], ["users", "delete", "u1", "--from", "x.csv", "--yes"],
     ["users", "delete", "u1", "--yes", "--concurrency", "4"]],
)  # fmt: skip
def test_delete_takes_exactly_one_of_uid_and_from(args: list[str]) -> None:
    result = run(args)
    assert result.exit_code == 2


def test_delete_failures_do_not_touch_the_import_failures_file(tmp_path: Path) -> None:
    path = tmp_path / "seed.csv"
    path.write_text("id\nu1\nu2\n")
    imported = tmp_path / "seed.csv.failed.jsonl"
    imported.write_text('{"id": "u2", "_error": {"message": "x"}}\n')
    result = run(["users", "delete", "--from", str(path), "--yes"], Recorder(refuse_uids("u1")))
    assert result.exit_code == 7
    assert imported.read_text() == '{"id": "u2", "_error": {"message": "x"}}\n'
    (entry,) = failures_in(only(tmp_path, "seed.csv.*.delete-failed.jsonl"))
    assert entry["id"] == "u1"
    assert "engage users delete --from" in result.stderr


def test_missing_credentials_fail_before_anything_is_sent_or_saved(tmp_path: Path) -> None:
    path = tmp_path / "seed.csv"
    path.write_text("id\nu1\n")
    args = ["--api-key", KEY, "users", "delete", "--from", str(path), "--yes", "-o", "table"]
    result = run(args, credentials=False)  # nothing scripted: no request may go
    assert result.exit_code == 3
    assert "needs the API secret" in result.stderr and result.stdout == ""
    assert sorted(tmp_path.glob("seed.csv*")) == [path]


def test_the_resume_line_carries_the_global_options_of_the_run(tmp_path: Path) -> None:
    path = tmp_path / "seed.csv"
    path.write_text("id\nu1\n")
    args = ["--sandbox", "users", "import", str(path), "--rate", "2.5", "--failures"]
    result = run([*args, str(tmp_path / "f.jsonl"), "-o", "json"], Recorder(refuse_uids("u1")))
    assert result.exit_code == 7
    hint = json.loads(result.stderr)["error"]["hint"]
    assert (
        hint == f"Retry exactly those: engage --sandbox users import {tmp_path}/f.jsonl --rate 2.5"
    )


def test_a_failures_path_that_is_a_directory_is_refused_before_sending(tmp_path: Path) -> None:
    path = tmp_path / "seed.csv"
    path.write_text("id\nu1\n")
    result = run(["users", "import", str(path), "--failures", str(tmp_path)])
    assert result.exit_code == 2 and "is a directory" in result.stderr


def test_missing_input_file_is_a_usage_error(tmp_path: Path) -> None:
    result = run(["users", "import", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2 and "no such file" in result.stderr


def test_non_utf8_input_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "seed.csv"
    path.write_bytes(b"id,first_name\nu1,Jos\xe9\n")
    result = run(["users", "import", str(path), "-o", "table"])
    assert result.exit_code == 2 and "is not UTF-8" in result.stderr


@pytest.mark.parametrize("content", ["", "id,first_name\n", "[]", "\n\n"])
def test_an_empty_input_is_refused_unless_allowed(tmp_path: Path, content: str) -> None:
    path = tmp_path / "seed.csv"
    path.write_text(content)
    result = run(["users", "import", str(path), "-o", "table"])
    assert result.exit_code == 2
    assert "holds no records" in result.stderr and "--allow-empty" in result.stderr
    dry = run(["users", "import", str(path), "--dry-run", "-o", "table"])
    assert dry.exit_code == 2
    allowed = run(["users", "import", str(path), "--allow-empty", "-o", "json"])
    assert allowed.exit_code == 0 and allowed.json()["read"] == 0
    streamed = run(["users", "import", "-", "--stream", "-o", "table"], stdin=content)
    assert streamed.exit_code == 2 and "holds no records" in streamed.stderr


@pytest.mark.parametrize("content", ["", "id\n", "[]"])
def test_delete_from_an_empty_file_is_refused_as_import_is(tmp_path: Path, content: str) -> None:
    # Import and delete --from agree (issue 22): an empty input is most often the wrong file.
    path = tmp_path / "seed.csv"
    path.write_text(content)
    for command in (["users", "import"], ["users", "delete", "--yes", "--from"]):
        result = run([*command, str(path), "-o", "table"])
        assert result.exit_code == 2, (command, result.stderr)
        assert "holds no records" in result.stderr and "--allow-empty" in result.stderr
        assert result.sent == []
        allowed = run([*command, str(path), "--allow-empty", "-o", "json"])
        assert allowed.exit_code == 0 and allowed.json()["read"] == 0


def test_allow_empty_goes_with_from() -> None:
    result = run(["users", "delete", "u1", "--yes", "--allow-empty"])
    assert result.exit_code == 2
    assert "--allow-empty go with --from FILE" in result.stderr


@pytest.mark.parametrize("rate", ["nan", "inf", "-inf", "NaN", "-1", "0"])
@pytest.mark.parametrize(
    "command", [["users", "import"], ["events", "import"], ["users", "delete", "--yes", "--from"]]
)
def test_a_rate_that_is_not_a_positive_finite_number_is_refused(
    tmp_path: Path, rate: str, command: list[str]
) -> None:
    path = tmp_path / "seed.csv"
    path.write_text("id,uid,event\nu1,u1,Login\n")
    result = run([*command, str(path), "--rate", rate, "-o", "table"])
    assert result.exit_code == 2, result.stderr
    assert "--rate" in result.stderr
    assert result.sent == []


def test_a_stop_cuts_a_retry_wait_short_and_keeps_the_record(tmp_path: Path) -> None:
    from engage_cli.client import EngageClient

    sent: list[httpx.Request] = []

    def busy(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(503, headers={"Retry-After": "30"}, json={"error": "busy"})

    stop, waiting = threading.Event(), threading.Event()
    client = EngageClient(
        base_url=BASE,
        api_key=KEY,
        api_secret=SECRET,
        transport=httpx.MockTransport(busy),
        sleep=pacing.stoppable_sleep(stop, waiting.set),
    )
    failures = ledger.RecordsFile(tmp_path / "f.jsonl", mode="claim")
    runner = running.Runner(jobs.users_import_job("upsert"), client, failures, stop=stop)
    thread = threading.Thread(target=runner.run, args=([Record(2, {"id": "u1"})],))
    thread.start()
    assert waiting.wait(10)  # the request got its 503 and waits 30 s to retry
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()  # the 30 s wait was cut short
    assert len(sent) == 1  # no retry after the stop
    kept = failures.close()
    assert kept is not None
    (entry,) = [json.loads(line) for line in kept.read_text().splitlines()]
    assert entry["id"] == "u1"
    assert "Stopped while waiting to retry" in entry["_error"]["message"]


@pytest.mark.parametrize(
    ("fmt", "mode"),
    [("csv", "create"), ("ndjson", "create"), ("json", "create"), ("csv", "upsert"),
     ("ndjson", "upsert")],
)  # fmt: skip
def test_an_export_from_users_list_imports_back_as_it_was(
    tmp_path: Path, sandbox_api: Callable[..., SandboxAPI], fmt: str, mode: str
) -> None:
    source = sandbox_api()
    seed = (
        '{"id": "u1", "first_name": "Ada", "number": "2348012345678", "lists": ["l1"],'
        ' "meta": {"plan": "pro", "age": 34, "vip": true, "zip": "01234"}}\n'
        '{"id": "u2", "email": "b@example.com", "meta": {"age": 40, "plan": "free"}}\n'
    )
    seeded = run(
        ["users", "import", "-", "--mode", "create", "--format", "jsonl"],
        transport=SandboxTransport(source),
        stdin=seed,
    )
    assert seeded.exit_code == 0, seeded.stderr
    exported = run(["users", "list", "--all", "-o", fmt], transport=SandboxTransport(source))
    assert exported.exit_code == 0, exported.stderr
    path = tmp_path / f"export.{'jsonl' if fmt == 'ndjson' else fmt}"
    path.write_text(exported.stdout, encoding="utf-8")

    target = sandbox_api()
    imported = run(
        ["users", "import", str(path), "--mode", mode], transport=SandboxTransport(target)
    )
    assert imported.exit_code == 0, imported.stderr
    assert "meta as text" not in imported.stderr  # devices/segments are not taken for meta
    for uid in ("u1", "u2"):
        before, after = source.store.get_user(uid), target.store.get_user(uid)
        assert before is not None and after is not None
        for field in ("uid", "first_name", "email", "number", "lists", "meta"):
            assert after[field] == before[field], field


def test_a_table_dry_run_shows_the_first_request_as_a_sample(tmp_path: Path) -> None:
    path = tmp_path / "seed.csv"
    path.write_text("id,first_name\nu1,Ada\nu2,Bo\n", encoding="utf-8")
    result = run(["users", "import", str(path), "--dry-run", "-o", "table"], Recorder())
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"PUT {BASE}/users/u1\n")
    assert "Authorization: Basic ****" in result.stdout
    assert '"first_name": "Ada"' in result.stdout and "u2" not in result.stdout
    assert "the first of 2 requests" in result.stderr


# --- input no request can carry: exit 2 naming the line, nothing sent -------------------------


@pytest.mark.parametrize(
    ("name", "content", "line", "message"),
    [
        ("deep.jsonl", b'{"id": "u1"}\n{"id": "u2", "meta": ' + b"[" * 5000 + b"]" * 5000
         + b"}\n", 2, "nested more than 32 levels deep"),
        ("deep.json", b'[{"id": "u1"},\n{"id": "u2", "meta": ' + b"[" * 5000 + b"]" * 5000
         + b"}]", 2, "nested more than 32 levels deep"),
        ("lone.jsonl", b'{"id": "u1"}\n{"id": "u2", "first_name": "\\ud800"}\n', 2,
         "not UTF-8 text"),
        ("lone.json", b'[{"id": "u1"},\n{"id": "u2", "first_name": "a\\udc00"}]', 2,
         "lone surrogate"),
        ("latin1.csv", b"id,first_name\nu1,Ada\nu2,Jos\xe9\n", 3, "'Jos\\\\xe9' is not UTF-8"),
        ("latin1.jsonl", b'{"id": "u1"}\n{"id": "u2", "first_name": "Jos\xe9"}\n', 2,
         "is not UTF-8 text"),
    ],
)  # fmt: skip
def test_input_no_request_can_carry_is_refused_with_its_line(
    tmp_path: Path, name: str, content: bytes, line: int, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    result = run(["users", "import", str(path), "-o", "table"])
    assert result.exit_code == 2, result.stderr
    assert f"line {line}: " in result.stderr and message in result.stderr
    assert "1 of 2 records" in result.stderr


def test_a_csv_quote_never_closed_is_refused_not_imported_as_a_fragment(tmp_path: Path) -> None:
    path = tmp_path / "seed.csv"
    path.write_text('id,first_name\nu1,Ada\nu2,"Bob\nu3,Cy\n', encoding="utf-8")
    result = run(["users", "import", str(path), "-o", "table"])
    assert result.exit_code == 2
    assert "line 3: a quoted cell is never closed" in result.stderr


# --- every record accounted for, under injected faults (issue 12) -----------------------------


def users_file(tmp_path: Path, count: int, name: str = "seed.csv") -> Path:
    path = tmp_path / name
    path.write_text("id\n" + "".join(f"u{i}\n" for i in range(count)), encoding="utf-8")
    return path


def test_a_worker_exception_loses_no_record_and_hangs_nothing(tmp_path: Path) -> None:
    path = users_file(tmp_path, 40)
    broken = {f"/v1/users/u{i}" for i in range(0, 40, 3)}  # more broken records than workers

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path in broken:
            raise RuntimeError("a bug while sending")
        return httpx.Response(200, json={})

    result = run(["users", "import", str(path), "-c", "4", "-o", "json"], answer)
    assert result.exit_code == 7
    summary = result.json()
    assert (summary["landed"], summary["failed"]) == (40 - len(broken), len(broken))
    entries = failures_in(Path(summary["failures_file"]))
    assert {f"/v1/users/{e['id']}" for e in entries} == broken
    assert all("Unexpected failure: RuntimeError" in e["_error"]["message"] for e in entries)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_a_failures_file_that_cannot_be_written_stops_and_names_what_is_unsaved(
    tmp_path: Path,
) -> None:
    path = users_file(tmp_path, 30)
    result = run(
        ["users", "import", str(path), "-c", "2", "--failures", "/dev/full", "-o", "json"],
        Recorder(refuse_uids("u3")),
    )
    assert result.exit_code == 6  # a full disk is temporary; it was 7, as if the run ended
    error = json.loads(result.stderr)["error"]["message"]
    assert "Cannot write /dev/full (No space left on device): stopped." in error
    assert "line 5 (u3)" in error and "saved nowhere: " in error and f"of {path}." in error
    summary = result.json()
    assert summary["unsaved"] >= 1 and summary["read"] <= 30  # u3 at least; then it stopped
    # Every record read is landed or named; what was not read is said too.
    assert (
        summary["landed"] + summary["failed"] + summary["not_sent"] + summary["unsaved"]
        == summary["read"]
    )


def test_a_down_server_stops_the_run_with_exit_6_and_every_record_saved(
    tmp_path: Path, run_stops: list[threading.Event]
) -> None:
    path = users_file(tmp_path, 200)
    answered = 0
    lock = threading.Lock()

    def down(request: httpx.Request) -> httpx.Response:
        nonlocal answered
        with lock:
            answered += 1
            held = answered > 5
        if held:  # the 5th failure in a row stops the run: these wait for that
            assert run_stops[0].wait(10)
        return httpx.Response(503, json={"error": "down"})

    calls = Recorder(down)
    result = run(
        ["--retries", "0", "users", "import", str(path), "-c", "4", "--max-errors", "5",
         "-o", "json"], calls,
    )  # fmt: skip
    assert result.exit_code == 6
    error = json.loads(result.stderr)["error"]
    assert "the last 5 requests all failed; the API looks down" in error["message"]
    assert "resume with: engage users import" in error["hint"]
    summary = result.json()
    assert summary["landed"] == 0 and summary["read"] == 200
    assert summary["failed"] + summary["not_sent"] == 200
    # It stopped at the 5th failure; each of the 3 other workers had at most one in flight.
    assert 5 <= len(calls.requests) <= 5 + 3
    saved = failures_in(Path(summary["failures_file"]))
    assert sorted(e["id"] for e in saved) == sorted(f"u{i}" for i in range(200))


def test_rows_for_one_uid_are_applied_in_file_order_at_any_concurrency(
    tmp_path: Path, sandbox_api: Callable[..., SandboxAPI]
) -> None:
    api = sandbox_api()
    path = tmp_path / "seed.csv"
    path.write_text("id,meta.n:=\n" + "".join(f"u{i % 30},{i}\n" for i in range(300)))
    result = run(["users", "import", str(path), "-c", "16"], transport=SandboxTransport(api))
    assert result.exit_code == 0, result.stderr
    for uid in range(30):
        user = api.store.get_user(f"u{uid}")
        assert user is not None and user["meta"] == {"n": 270 + uid}


def test_a_rate_limit_pauses_the_pool_and_never_uses_up_a_retry(
    tmp_path: Path, sandbox_api: Callable[..., SandboxAPI]
) -> None:
    # The sandbox's clock moves 1/20 s a request: 15 requests pass in each "second" and 5
    # get a 429, however fast or slow this machine is.
    ticks = iter(range(10**9))
    api = sandbox_api(rate_limit=15, clock=lambda: next(ticks) / 20)
    path = tmp_path / "seed.csv"
    path.write_text("id,meta.n:=\n" + "".join(f"u{i},{i}\n" for i in range(40)), encoding="utf-8")
    result = run(
        ["--retries", "0", "users", "import", str(path), "-c", "8", "-o", "json"],
        transport=SandboxTransport(api),
    )
    assert result.exit_code == 0, result.stderr
    summary = result.json()
    assert summary["landed"] == 40 and summary["failed"] == 0
    assert summary["rate_limited"] > 0 and summary["retries"] == 0
    assert summary["requests"] == 40  # a 429 is a wait, not a request of the record's own
    assert api.store.count_users() == 40
    assert api.store.get_user("u39")["meta"] == {"n": 39}  # type: ignore[index]


def test_the_pacer_pauses_everyone_then_adapts_under_what_the_server_took() -> None:
    now = [0.0]
    waits: list[float] = []
    pacer = pacing.Pacer(None, clock=lambda: now[0], wait=recording_wait(waits))
    for _ in range(100):  # the server took 100 in the last second ...
        now[0] += 0.005
        pacer.answered()
    pacer.throttled(1.0)  # ... then said 429, come back in 1 s
    rate = 100 * pacing.RATE_BETA
    assert pacer.rate == pytest.approx(rate)
    stop = threading.Event()
    assert pacer.wait(stop) and pacer.wait(stop)
    assert waits == pytest.approx([1.0, 1.0 + 1 / rate])
    pacer.throttled(1.0)  # more 429s from the same burst do not lower it again
    assert pacer.rate == pytest.approx(rate)
    now[0] += 2
    pacer.throttled(None)  # a 429 at the rate the last one set: that estimate was too high
    assert pacer.rate == pytest.approx(rate * pacing.RATE_CUT)
    now[0] += pacing.RATE_CALM + 1
    pacer.answered()  # calm for a while: grow again, slowly this near the last 429
    assert pacer.rate == pytest.approx(rate * pacing.RATE_CUT * (1 + pacing.RATE_PROBE))


def test_batch_sends_chunks_under_100_kb_and_says_they_are_queued(tmp_path: Path) -> None:
    path = tmp_path / "seed.jsonl"
    rows = (json.dumps({"id": f"u{i}", "first_name": "x" * 200, "meta": {"n": i}}) + "\n"
            for i in range(2000))  # fmt: skip
    path.write_text("".join(rows))
    recorder = Recorder(lambda request: httpx.Response(200, json={"status": "queued"}))
    result = run(["users", "import", str(path), "--batch", "-c", "4", "-o", "json"], recorder)
    assert result.exit_code == 0, result.stderr
    summary = result.json()
    assert summary["batch"] is True and summary["landed"] == 2000
    assert {(r.method, r.url.path) for r in recorder.requests} == {("POST", "/v1/batch")}
    assert all(len(r.content) < 100_000 for r in recorder.requests)
    assert summary["requests"] == len(recorder.requests) < 2000 / 200
    items = [item for body in recorder.bodies() for item in body["data"]]
    assert sorted(i["id"] for i in items) == sorted(f"u{i}" for i in range(2000))
    assert items[0] == {"type": "update", "id": items[0]["id"], "first_name": "x" * 200,
                        "meta": {"n": int(items[0]["id"][1:])}}  # fmt: skip
    table = run(["users", "import", str(path), "--batch", "-o", "table"], recorder)
    assert "2000 queued" in table.stderr and "the API checks them later" in table.stderr


def test_batch_events_and_a_refused_chunk_goes_to_the_failures_file(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps({"uid": f"u{i}", "event": "Paid", "value": i}) + "\n"
                            for i in range(10)))  # fmt: skip
    recorder = Recorder(lambda request: httpx.Response(413, json={"error": "Too large."}))
    result = run(["events", "import", str(path), "--batch", "-c", "1", "-o", "json"], recorder)
    assert result.exit_code == 7
    (body,) = recorder.bodies()
    assert body["data"][0] == {"type": "event", "id": "u0", "event": "Paid", "value": 0}
    saved = failures_in(Path(result.json()["failures_file"]))
    assert [e["value"] for e in saved] == list(range(10))
    assert "--batch" in json.loads(result.stderr)["error"]["hint"]


def test_a_journal_lets_a_killed_run_resume_without_doubles(
    tmp_path: Path, sandbox_api: Callable[..., SandboxAPI]
) -> None:
    """What kill -9 leaves: a journal naming what was sent and what was acknowledged."""
    api = sandbox_api()
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps({"uid": f"u{i % 9}", "event": "Paid", "value": i})
                            + "\n" for i in range(50)))  # fmt: skip
    records = list(readers.read_records(readers.Source(str(path), None, path=path),
                                        jobs.EVENTS_IMPORT.schema))  # fmt: skip
    requests = [jobs.prepare(jobs.EVENTS_IMPORT, r) for r in records]
    journal = ledger.Journal(str(path) + ".20260101-000000", {"command": "events import"})
    for record, request in zip(records[:20], requests[:20], strict=True):
        run(["events", "import", "-", "--format", "jsonl"], transport=SandboxTransport(api),
            stdin=json.dumps(record.data) + "\n")  # fmt: skip
        journal.sent([(record, request)])
        journal.acked([record])
    journal.sent([(records[20], requests[20])])  # in flight when killed: no answer recorded
    journal.close(keep=True)  # killed: the file stays as the last write left it

    resumed = run(["events", "import", str(path), "--resume", "-o", "json"],
                  transport=SandboxTransport(api))  # fmt: skip
    assert resumed.exit_code == 7  # the one in flight may have landed: unknown, not re-sent
    summary = resumed.json()
    assert (summary["resumed"], summary["unknown"], summary["landed"]) == (20, 1, 29)
    values = sorted(e["value"] for e in api.store.list_events())
    assert values == [v for v in range(50) if v != 20]  # none twice
    (entry,) = failures_in(Path(summary["unknown_file"]))
    assert entry["value"] == 20 and "killed" in entry["_error"]["message"]
    assert not journal.path.exists()  # that run is finished now

    again = run(["events", "import", str(path), "--resume"], transport=SandboxTransport(api))
    assert again.exit_code == 2 and "no journal of a killed run" in again.stderr


def test_an_unreadable_line_is_kept_in_the_failures_file_with_its_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    lines = '{"id": "u1"}\n{oops\n{"id": "u3"}\n'
    result = run(["users", "import", "-", "--stream", "-o", "json"], Recorder(), stdin=lines)
    assert result.exit_code == 7
    (entry,) = failures_in(Path(result.json()["failures_file"]))
    assert entry["_record"] == "{oops"
    assert entry["_error"]["line"] == 2 and "not valid JSON" in entry["_error"]["message"]


def test_ctrl_c_during_the_check_pass_says_nothing_was_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = users_file(tmp_path, 3)

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(jobs, "check_all", interrupted)
    result = run(["users", "import", str(path), "-o", "table"])
    assert result.exit_code == 130
    assert "Interrupted while checking the input; nothing was sent." in result.stderr


def test_the_progress_bar_fits_80_columns_at_100_percent(tmp_path: Path) -> None:
    from engage_cli.commands._bulk_report import TerminalProgress

    stream = io.StringIO()
    bar = TerminalProgress(stream, 123_456, "events import", color=False)
    tally = running.Tally(landed=123_000, failed=456, requests=123_456)
    bar.update(tally)
    bar.close()
    import re

    frames = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stream.getvalue()).replace("\r", "\n")
    assert "123456/123456" in frames
    assert max(len(line) for line in frames.splitlines()) <= 80


def test_elapsed_time_leaves_out_the_confirmation_prompt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engage_cli.commands import _common

    path = users_file(tmp_path, 2)
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])

    def slow_answer(state: Any, question: str) -> None:
        clock[0] += 3600  # an hour at the prompt

    monkeypatch.setattr(_common, "confirm_or_refuse", slow_answer)
    result = run(["users", "delete", "--from", str(path), "-o", "json"], Recorder(), tty=True)
    assert result.exit_code == 0, result.stderr
    assert result.json()["elapsed"] == 0  # the clock moved only at the prompt


def test_batch_users_and_events_land_in_the_sandbox(
    tmp_path: Path, sandbox_api: Callable[..., SandboxAPI]
) -> None:
    api = sandbox_api()
    users = tmp_path / "seed.csv"
    users.write_text("id,first_name,meta.n:=\n" + "".join(f"u{i},F{i},{i}\n" for i in range(300)))
    result = run(["users", "import", str(users), "--batch", "-o", "json"],
                 transport=SandboxTransport(api))  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.json()["requests"] <= 8 and api.store.count_users() == 300
    assert api.store.get_user("u299")["meta"] == {"n": 299}  # type: ignore[index]
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps({"uid": f"u{i % 30}", "event": "Paid", "value": i})
                              + "\n" for i in range(200)))  # fmt: skip
    sent = run(["events", "import", str(events), "--batch", "-o", "json"],
               transport=SandboxTransport(api))  # fmt: skip
    assert sent.exit_code == 0, sent.stderr
    assert sorted(e["value"] for e in api.store.list_events()) == list(range(200))

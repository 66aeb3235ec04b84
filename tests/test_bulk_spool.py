"""The check pass keeps what it validated for the send pass (bulk/spool.py)."""

from __future__ import annotations

import errno
import io
import json
import signal
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from engage_cli.bulk import readers, spool
from engage_cli.bulk import run as driver
from engage_cli.bulk.records import Record
from engage_cli.endpoints import APIRequest
from tests.harness import run


class Server:
    def __init__(self) -> None:
        self.bodies: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.bodies[request.url.path.rsplit("/", 1)[-1]] = json.loads(request.read())
        return httpx.Response(200, json={"status": "ok"})


def seed(path: Path, plan: str, count: int = 20) -> None:
    rows = [{"id": f"u{i}", "meta": {"plan": plan, "n": i / 3}} for i in range(count)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def test_the_send_pass_sends_what_was_checked_even_if_the_file_changes_between(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "seed.jsonl"
    seed(path, "checked")
    preflight = driver._preflight

    def edit_the_file_meanwhile(*args: Any) -> None:
        preflight(*args)
        path.write_text('{"id": "u0", "meta": {"plan": null}}\n' * 3, encoding="utf-8")

    monkeypatch.setattr(driver, "_preflight", edit_the_file_meanwhile)
    server = Server()
    result = run(["users", "import", str(path), "-c", "4", "-o", "json"], server)
    assert result.exit_code == 0, result.stderr
    assert result.json()["landed"] == 20
    assert server.bodies == {f"u{i}": {"meta": {"plan": "checked", "n": i / 3}} for i in range(20)}


def test_the_input_is_read_and_validated_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "seed.jsonl"
    seed(path, "pro")
    reads: list[str] = []
    read_records = readers.read_records

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append("read")
        return read_records(*args, **kwargs)

    monkeypatch.setattr(readers, "read_records", counted)
    result = run(["users", "import", str(path), "-o", "json"], Server())
    assert result.exit_code == 0, result.stderr
    assert reads == ["read"]


def test_a_spool_that_cannot_be_written_falls_back_to_reading_the_input_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "seed.jsonl"
    seed(path, "pro", count=50)

    encode = spool._encode

    def disk_full(entry: list[Any]) -> bytes:
        if entry[0] > 10:  # a few records in, the disk fills up
            raise OSError(28, "No space left on device")
        return encode(entry)

    monkeypatch.setattr(spool, "_encode", disk_full)
    server = Server()
    result = run(["users", "import", str(path), "-o", "json"], server)
    assert result.exit_code == 0, result.stderr
    assert result.json()["landed"] == 50 and len(server.bodies) == 50


def test_repeated_rows_and_their_order_survive_the_spool(tmp_path: Path) -> None:
    path = tmp_path / "teardown.csv"
    path.write_text("uid\na\nb\na\nc\nb\n", encoding="utf-8")
    deleted: list[str] = []

    def delete(request: httpx.Request) -> httpx.Response:
        deleted.append(request.url.path.rsplit("/", 1)[-1])
        return httpx.Response(200, json={"status": "ok"})

    args = ["users", "delete", "--from", str(path), "--yes", "-c", "1", "-o", "json"]
    result = run(args, delete)
    assert result.exit_code == 0, result.stderr
    assert deleted == ["a", "b", "c"]
    summary = result.json()
    assert (summary["read"], summary["duplicates"], summary["landed"]) == (5, 2, 3)


def test_ctrl_c_on_stdin_input_saves_every_record_not_landed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stdin cannot be read again; every record that did not land is still saved.
    monkeypatch.chdir(tmp_path)
    text = "uid,event,value:=\n" + "".join(f"u{i % 7},Paid,{i}\n" for i in range(200))
    landed: list[int] = []
    lock = threading.Lock()

    def answer(request: httpx.Request) -> httpx.Response:
        with lock:
            landed.append(json.loads(request.read())["value"])
            if len(landed) == 10:
                signal.raise_signal(signal.SIGINT)
        return httpx.Response(200, json={"status": "ok"})

    args = ["events", "import", "-", "--format", "csv", "-c", "2", "-o", "json"]
    result = run(args, answer, stdin=text)
    assert result.exit_code == 130
    (failures,) = tmp_path.glob("*.failed.jsonl")
    saved = [json.loads(line)["value"] for line in failures.read_text().splitlines()]
    assert sorted(landed + saved) == list(range(200))
    assert result.json()["landed"] == len(landed) < 200


def test_a_spool_whose_buffer_cannot_be_written_is_dropped_never_raised() -> None:
    # Buffered writes fail only when flushed: under a file size limit, at the end of the
    # check pass ('Unexpected failure: OSError: File too large', exit 1, before this).
    class Full(io.BytesIO):
        def flush(self) -> None:
            raise OSError(errno.EFBIG, "File too large")

        def close(self) -> None:
            self.flush()

    kept = spool.Spool()
    kept.close()
    kept._file = Full()
    kept.add(Record(2, {"id": "u1"}), APIRequest("PUT", "/users/u1", body={}))
    assert kept.usable is False  # the send pass reads the input again instead
    kept.close()


def test_a_request_read_back_from_the_spool_equals_the_one_checked() -> None:
    built = [
        APIRequest("PUT", "/users/u1", body={"email": "a@b", "meta": {"n": 1}}, needs_secret=True),
        APIRequest("POST", "/users", params={"x": ["1", "2"]}, body={"id": "u2"}),
        APIRequest("DELETE", "/users/u3", needs_secret=True),
    ]
    kept = spool.Spool()
    for n, request in enumerate(built, 1):
        kept.add(Record(n, {"n": n}), request)
    back = list(kept.items())
    kept.close()
    assert [request for _, request in back] == built  # every field, defaults included
    assert [record for record, _ in back] == [Record(n, {"n": n}) for n in (1, 2, 3)]
    assert [r.repeatable for _, r in back] == [True, False, True]

"""--resume across journal formats: a journal of format 2 (fingerprints of the bytes a --batch
item is sent as) resumes with or without --batch, whichever way it was written; an older one
(no format: fingerprints of sorted JSON) still resumes; a newer one is refused before anything
is sent."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
import pytest

from engage_cli.bulk import jobs, ledger, readers
from engage_cli.bulk.records import Record
from engage_cli.endpoints import APIRequest, encode_body
from tests.harness import run

UPSERT = jobs.users_import_job("upsert")


class Server:
    """Takes PUT /users/{uid} and POST /batch alike; keeps the uids it was sent."""

    def __init__(self) -> None:
        self.uids: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/batch":
            uids = [str(item["id"]) for item in json.loads(request.read())["data"]]
            answer = httpx.Response(200, json={"status": "queued"})
        else:
            uids = [request.url.path.rsplit("/", 1)[1]]
            answer = httpx.Response(200, json={"id": "5f0c3a1b2c3d4e5f6a7b8c9d"})
        with self._lock:
            self.uids += uids
        return answer


def users(tmp_path: Path, count: int = 6) -> tuple[Path, list[Record], list[APIRequest]]:
    path = tmp_path / "users.jsonl"
    rows = [{"meta": {"n": n}, "id": f"u{n}", "email": f"u{n}@example.com"} for n in range(count)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    source = readers.Source(str(path), None, path=path)
    records = list(readers.read_records(source, UPSERT.schema))
    return path, records, [jobs.prepare(UPSERT, record) for record in records]


def killed(path: Path, header: str, marks: list[str]) -> Path:
    """What kill -9 leaves of a run over `path`: lines 1-3 sent, 1 and 2 acknowledged."""
    journal = Path(f"{path}.20260101-000000.journal")
    sent = "".join(f"S {line} {mark}\n" for line, mark in enumerate(marks[:3], start=1))
    journal.write_text(f"{header}\n{sent}A 1\nA 2\n", encoding="ascii")
    return journal


def resume(path: Path, batch: bool, server: Server) -> dict[str, object]:
    argv = ["users", "import", str(path), "--resume", "-o", "json"]
    result = run([*argv, "--batch"] if batch else argv, server)
    assert result.exit_code == 0, result.stderr
    summary: dict[str, object] = result.json()
    return summary


@pytest.mark.parametrize("batch", [True, False])
def test_a_journal_without_a_format_resumes_with_its_own_fingerprints(
    tmp_path: Path, batch: bool
) -> None:
    path, _, requests = users(tmp_path)
    marks = [ledger.fingerprint(request, 1) for request in requests]  # as engage wrote them
    journal = killed(path, '{"command": "users import", "input": "users.jsonl"}', marks)
    server = Server()
    summary = resume(path, batch, server)
    assert (summary["resumed"], summary["landed"]) == (2, 4)
    assert sorted(server.uids) == ["u2", "u3", "u4", "u5"]  # u2 was in flight: a PUT, resent
    assert not journal.exists()  # that run is finished now


@pytest.mark.parametrize("written_by_batch", [True, False])
@pytest.mark.parametrize("batch", [True, False])
def test_a_journal_of_format_2_resumes_with_or_without_batch(
    tmp_path: Path, batch: bool, written_by_batch: bool
) -> None:
    path, records, requests = users(tmp_path)
    journal = ledger.Journal(f"{path}.20260101-000000", {"command": "users import"})
    if written_by_batch:  # the fingerprints of the items as a --batch run encoded them
        entries = [encode_body(jobs.batch_item(request)) for request in requests]
        journal.sent(list(zip(records[:3], requests[:3], strict=True)), entries[:3])
    else:
        journal.sent(list(zip(records[:3], requests[:3], strict=True)))
    journal.acked(records[:2])
    journal.close(keep=True)
    server = Server()
    summary = resume(path, batch, server)
    assert (summary["resumed"], summary["landed"]) == (2, 4)
    assert sorted(server.uids) == ["u2", "u3", "u4", "u5"]


def test_a_journal_of_another_input_is_refused_whatever_its_format(tmp_path: Path) -> None:
    path, _, requests = users(tmp_path)
    changed = APIRequest("PUT", requests[0].path, body={"email": "other@example.com"})
    for header, version in (('{"command": "users import"}', 1), ('{"format": 2}', 2)):
        marks = [ledger.fingerprint(changed, version), *(["0"] * 2)]
        journal = killed(path, header, marks)
        server = Server()
        result = run(["users", "import", str(path), "--resume", "--batch"], server)
        assert result.exit_code == 2
        assert "does not match this input: line 1" in result.stderr
        assert server.uids == []
        journal.unlink()


@pytest.mark.parametrize("batch", [True, False])
def test_a_journal_of_a_newer_engage_is_refused(tmp_path: Path, batch: bool) -> None:
    path, _, requests = users(tmp_path)
    marks = [ledger.fingerprint(request) for request in requests]
    journal = killed(path, '{"format": 3, "command": "users import"}', marks)
    server = Server()
    argv = ["users", "import", str(path), "--resume", "-o", "json"]
    result = run([*argv, "--batch"] if batch else argv, server)
    assert result.exit_code == 2
    error = json.loads(result.stderr)["error"]
    assert error["message"] == (
        f"The journal {journal} was written by a newer engage (format 3); nothing was sent."
    )
    assert server.uids == [] and journal.exists()  # left for the engage that wrote it


class Client:
    """A Sender that answers every request; the journal is what is looked at."""

    on_rate_limit = None
    on_retry = None

    def send(self, request: APIRequest) -> dict[str, str]:
        return {"status": "queued"}


@pytest.mark.parametrize("batch", [True, False])
def test_a_run_journals_the_fingerprints_a_resume_checks(tmp_path: Path, batch: bool) -> None:
    # The batch runner takes its fingerprints from the bytes it sends: they must be the ones
    # a resume (with or without --batch) takes from the request.
    from engage_cli.bulk.runner import Runner

    _, records, requests = users(tmp_path, 30)
    journal = ledger.Journal(str(tmp_path / "run"), {"command": "users import"})
    failures = ledger.RecordsFile(tmp_path / "failed.jsonl", mode="claim")
    runner = Runner(UPSERT, Client(), failures, journal=journal, batch=batch, concurrency=3)
    runner.run_prepared(zip(records, requests, strict=True))
    journal.close(keep=True)
    assert failures.close() is None
    resumed = ledger.read_journal(journal.path)
    assert resumed.format == ledger.FORMAT and len(resumed.sent) == 30
    for record, request in zip(records, requests, strict=True):
        assert resumed.sent[record.line] == ledger.fingerprint(request)
        assert resumed.landed(record, request)
    resumed.release()

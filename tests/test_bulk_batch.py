"""`--batch`: how records are gathered into POST /batch chunks (in-process, scripted server)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx

from engage_cli.bulk import runner as running
from tests.harness import run

QUEUED = {"status": "queued"}


class Batches:
    """Answers every POST /batch with `queued` and keeps the items of each, thread-safe."""

    def __init__(self) -> None:
        self.items: list[list[dict[str, object]]] = []
        self.sizes: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert (request.method, request.url.path) == ("POST", "/v1/batch")
        with self._lock:
            self.items.append(json.loads(request.read())["data"])
            self.sizes.append(len(request.content))
        return httpx.Response(200, json=QUEUED)


def test_a_record_too_large_for_any_batch_fails_alone_unsent_and_says_why(tmp_path: Path) -> None:
    path = tmp_path / "seed.jsonl"
    rows = [{"id": f"u{i}", "first_name": "Ada"} for i in range(5)]
    rows.insert(2, {"id": "huge", "meta": {"notes": "x" * running.BATCH_BYTES}})
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    server = Batches()
    result = run(["users", "import", str(path), "--batch", "-c", "2", "-o", "json"], server)
    assert result.exit_code == 7, result.stderr
    sent = sorted(item["id"] for items in server.items for item in items)
    assert sent == [f"u{i}" for i in range(5)]  # the huge one never went out
    summary = result.json()
    assert (summary["landed"], summary["failed"], summary["unknown"]) == (5, 1, 0)
    (saved,) = [
        json.loads(line) for line in Path(summary["failures_file"]).read_text().splitlines()
    ]
    assert saved["id"] == "huge" and saved["meta"] == rows[2]["meta"]  # re-feedable as it was
    message = saved["_error"]["message"]
    assert "too large for a batch request" in message and "without --batch" in message
    # ... and the retry the run prints agrees: not with --batch, which fails it again.
    retry = json.loads(result.stderr.splitlines()[-1])["error"]["hint"]
    assert retry.startswith("Retry exactly those: engage users import ")
    assert "--batch" not in retry


def test_a_batch_run_whose_chunk_failed_is_retried_with_batch(tmp_path: Path) -> None:
    path = tmp_path / "seed.jsonl"
    path.write_text("".join(json.dumps({"id": f"u{i}"}) + "\n" for i in range(3)))

    def refused(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": "Bad batch."})

    result = run(["users", "import", str(path), "--batch", "-o", "json"], refused)
    assert result.exit_code == 7, result.stderr
    retry = json.loads(result.stderr.splitlines()[-1])["error"]["hint"]
    assert retry.startswith("Retry exactly those: engage users import ")
    assert retry.endswith(" --batch")


def test_rows_of_one_uid_stay_in_file_order_across_chunks(tmp_path: Path) -> None:
    path = tmp_path / "seed.jsonl"
    rows = [{"id": f"u{i % 7}", "meta": {"n": i}, "last_name": "y" * 400} for i in range(1500)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    server = Batches()
    result = run(["users", "import", str(path), "--batch", "-c", "4", "-o", "json"], server)
    assert result.exit_code == 0, result.stderr
    assert len(server.items) > 4  # several chunks per worker
    # Each body is counted byte for byte: under the limit, and the fuller ones close to it.
    assert max(server.sizes) <= running.BATCH_BYTES < max(server.sizes) + 500
    for uid in {row["id"] for row in rows}:
        # A uid's chunks all go through one worker, one request at a time: the order in
        # which the server got them is the file's.
        seen = [item["meta"]["n"] for items in server.items for item in items if item["id"] == uid]  # type: ignore[index]
        assert seen == sorted(seen) and len(seen) == 1500 // 7 + (int(uid[1:]) < 1500 % 7)

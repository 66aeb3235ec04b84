"""The baseline of `engage users import FILE --batch`: the shortest httpx script that reads a
JSON Lines file of users and posts them to /batch in requests under 100 KB (the API's cap),
as "update" items (an upsert, what the import does by default). Run by perf.py."""

import json
import os
import sys

import httpx

LIMIT = 100 * 1024 - 64  # room for {"data": [...]}
auth = (os.environ["ENGAGE_API_KEY"], os.environ["ENGAGE_API_SECRET"])
with (
    httpx.Client(base_url=os.environ["ENGAGE_BASE_URL"], auth=auth) as client,
    open(sys.argv[1], encoding="utf-8") as lines,
):
    batch: list[bytes] = []
    size = 0
    for line in lines:
        item = json.dumps({"type": "update", **json.loads(line)}).encode()
        if size + len(item) + 1 > LIMIT:
            body = b'{"data": [' + b",".join(batch) + b"]}"
            headers = {"Content-Type": "application/json"}
            client.post("/batch", content=body, headers=headers).raise_for_status()
            batch, size = [], 0
        batch.append(item)
        size += len(item) + 1
    if batch:
        body = b'{"data": [' + b",".join(batch) + b"]}"
        headers = {"Content-Type": "application/json"}
        client.post("/batch", content=body, headers=headers).raise_for_status()

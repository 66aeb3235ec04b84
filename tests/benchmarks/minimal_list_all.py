"""The baseline of `engage users list --all -o ndjson`: the shortest httpx script that walks
every page (30 a page, the API's largest) and prints one user a line. Run by perf.py."""

import json
import os
import sys

import httpx

auth = (os.environ["ENGAGE_API_KEY"], os.environ["ENGAGE_API_SECRET"])
with httpx.Client(base_url=os.environ["ENGAGE_BASE_URL"], auth=auth) as client:
    params = {"limit": "30"}
    while True:
        page = client.get("/users", params=params).raise_for_status().json()
        sys.stdout.write("".join(json.dumps(user) + "\n" for user in page["data"]))
        cursor = page.get("next_cursor") or (page["has_more"] and page["data"][-1]["id"])
        if not cursor:
            break
        params = {"limit": "30", "next_cursor" if "next_cursor" in page else "after_id": cursor}

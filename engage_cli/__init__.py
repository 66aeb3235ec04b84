"""engage-cli: manage Engage (engage.so) users and events from the command line."""

import sys

__version__ = "0.1.0"

# `import httpx` also imports httpx's own command-line client (click, rich, pygments: ~30 ms
# and rich in every JSON command) whenever click is importable, which uvicorn (the sandbox's
# server) brings. We never run that client; a None entry makes its import fail, which httpx
# answers with a stub `main`. Set here, before any module of ours can import httpx.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

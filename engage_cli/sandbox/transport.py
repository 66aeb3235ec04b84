"""An httpx transport that answers from a SandboxAPI in-process: no socket, no server thread."""

from __future__ import annotations

import httpx

from engage_cli.sandbox.api import SandboxAPI

__all__ = ["SandboxTransport"]


class SandboxTransport(httpx.BaseTransport):
    """`httpx.Client(transport=SandboxTransport(api), base_url="http://sandbox.invalid/v1")`.

    Thread-safe because SandboxAPI is; the transport itself keeps no state. With
    `close_store=True`, closing the client (and so the transport) also closes the API's store,
    for callers that opened the store only for this client.
    """

    def __init__(self, api: SandboxAPI, *, close_store: bool = False) -> None:
        self.api = api
        self._close_store = close_store

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        # raw_path is the path and query exactly as they would go on the wire, still
        # percent-encoded: the API splits the path before decoding the uid.
        target = request.url.raw_path.decode("ascii")
        status, headers, payload = self.api.handle(request.method, target, request.headers, body)
        return httpx.Response(status, headers=headers, content=payload, request=request)

    def close(self) -> None:
        if self._close_store:
            self.api.store.close()

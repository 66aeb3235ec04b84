"""The control API under `/__sandbox/` (outside `/v1`, so it never collides with Engage's
paths), for users' tests to drive the sandbox: what was sent, the events and batch outcomes
recorded, reset, and the whole state read or replaced. JSON in and out, behind the sandbox's
own key and secret (app.py checks them before anything here runs).

    GET    /__sandbox/requests        {"data": [...]}: the request log, oldest first
    DELETE /__sandbox/requests        empty the log
    GET    /__sandbox/events[?uid=]   {"data": [...]}: recorded events, oldest first
    POST   /__sandbox/reset           empty the store and the request log
    GET    /__sandbox/state           everything, as one document (snapshot.py)
    PUT    /__sandbox/state           replace everything; a malformed document is 400
    GET    /__sandbox/batches         {"data": [...]}: each /batch and its items' outcomes
"""

from __future__ import annotations

from engage_cli.sandbox import validate
from engage_cli.sandbox.requestlog import RequestLog
from engage_cli.sandbox.routing import Router
from engage_cli.sandbox.snapshot import StateError, export_state, import_state
from engage_cli.sandbox.web import Request, Response, Route, bad_request, json_answer

__all__ = ["CONTROL_PREFIX", "Control", "is_control"]

CONTROL_PREFIX = "/__sandbox/"


def is_control(target: str) -> bool:
    return target.startswith(CONTROL_PREFIX)


class Control:
    """The control routes over one API's store and request log."""

    def __init__(self, requests: RequestLog) -> None:
        self.requests = requests
        self.router = Router(
            Route(method, ("__sandbox", *path), handler)
            for method, path, handler in (
                ("GET", ("requests",), self.list_requests),
                ("DELETE", ("requests",), self.clear_requests),
                ("GET", ("events",), self.list_events),
                ("POST", ("reset",), self.reset),
                ("GET", ("state",), self.get_state),
                ("PUT", ("state",), self.put_state),
                ("GET", ("batches",), self.list_batches),
            )
        )

    def list_requests(self, request: Request) -> Response:
        return json_answer(200, {"data": self.requests.entries()})

    def clear_requests(self, request: Request) -> Response:
        self.requests.clear()
        return json_answer(200, {"status": "ok"})

    def list_events(self, request: Request) -> Response:
        return json_answer(200, {"data": request.store.list_events(request.arg("uid"))})

    def reset(self, request: Request) -> Response:
        request.store.reset()
        self.requests.clear()
        return json_answer(200, {"status": "ok"})

    def get_state(self, request: Request) -> Response:
        return json_answer(200, export_state(request.store))

    def put_state(self, request: Request) -> Response:
        try:
            counts = import_state(request.store, validate.json_object(request.body))
        except StateError as error:
            raise bad_request(str(error)) from error
        return json_answer(200, {"status": "ok", **counts})

    def list_batches(self, request: Request) -> Response:
        return json_answer(200, {"data": request.store.list_batches()})

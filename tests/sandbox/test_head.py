"""A HEAD answer carries the headers of the GET it stands for and no body: a body would
be read as the start of the next answer on a kept-alive connection (a mutant writing the
body for HEAD too survived the suite, issue 21)."""

from __future__ import annotations

import socket

from tests.sandbox.test_server import Running, running  # noqa: F401 (the fixture)


def test_a_head_answer_carries_no_body(running: Running) -> None:  # noqa: F811
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock:
        sock.sendall(b"HEAD /v1/users HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lengths = [line for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")]
    assert lengths and lengths != [b"content-length: 0"]  # the GET's length, and ...
    assert body == b""  # ... no body

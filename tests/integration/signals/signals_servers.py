"""Real HTTP servers on loopback that speak the protocols the signals code talks to."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)


@dataclass
class Reply:
    status: int = 200
    body: Any = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


Responder = Callable[[Request, int], Reply]
"""Given the request and how many requests came before it, what to answer."""


class Recorder:
    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.requests: list[Request] = []
        self.lock = threading.Lock()


@contextmanager
def http_server(responder: Responder) -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder(responder)

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(
                self.command, self.path, dict(self.headers.items()), self.rfile.read(length)
            )
            with recorder.lock:
                index = len(recorder.requests)
                recorder.requests.append(request)
            reply = recorder.responder(request, index)
            if reply.delay:
                threading.Event().wait(reply.delay)
            payload = json.dumps(reply.body).encode()
            try:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_GET = _handle
        do_POST = _handle

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", recorder
    finally:
        server.shutdown()
        server.server_close()


TELEGRAM_MAX_TEXT = 4096


def telegram_bot_api(request: Request, index: int) -> Reply:
    """`sendMessage` as the Bot API answers it, refusing a text over 4,096 characters with
    the same 400 (counted in UTF-16 code units: an emoji is two)."""
    text = json.loads(request.body).get("text", "")
    units = len(text.encode("utf-16-le")) // 2
    problem = "message text is empty" if not text else None
    if units > TELEGRAM_MAX_TEXT:
        problem = "message is too long"
    if problem:
        return Reply(
            400, {"ok": False, "error_code": 400, "description": f"Bad Request: {problem}"}
        )
    return Reply(200, {"ok": True, "result": {"message_id": index, "text": text}})

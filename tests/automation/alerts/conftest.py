"""A local SMTP server (aiosmtpd) and a local HTTP receiver, started by the tests that need
them: deliveries go over real sockets, never to the internet."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.mailbox import Mailbox, smtp_server
from tests.readiness import free_port


@pytest.fixture
def smtp() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


@dataclass
class Receiver:
    """Records every POST (path, JSON body) and answers with ``status`` and ``reply``."""

    base: str
    calls: list[tuple[str, Any]] = field(default_factory=list)
    status: int = 200
    reply: Any = None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    port = free_port()
    found = Receiver(f"http://127.0.0.1:{port}")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            found.calls.append((self.path, json.loads(self.rfile.read(length) or b"null")))
            body = json.dumps(found.reply if found.reply is not None else {"ok": True}).encode()
            self.send_response(found.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()

"""A local chat webhook: records what apprise posts, and can be told to fail."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.targets import _InThreadServer, _QuietHandler


@dataclass
class ChatReceiver(_InThreadServer):
    posts: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/approvals"

    def start(self) -> None:
        receiver = self

        class Handler(_QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    status = receiver.status
                    if status == 200:
                        receiver.posts.append(json.loads(body))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self._serve(Handler)


@pytest.fixture
def chat_receiver() -> Iterator[ChatReceiver]:
    receiver = ChatReceiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()

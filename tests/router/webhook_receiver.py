"""A real HTTP receiver for outbound webhooks: records every POST, answers as scripted."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.channels.phone.phone_servers import signature_ok


@dataclass
class Post:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def signed_with(self, secret: str) -> bool:
        """Checks X-Okno-Signature as a subscriber would (the PBX stand-in's independent check)."""
        return signature_ok(secret, self.headers["X-Okno-Signature"], self.body)


@dataclass
class Receiver:
    url: str = ""
    posts: list[Post] = field(default_factory=list)
    # Per path: the statuses to answer in turn (the last one repeats); 200 when unscripted.
    script: dict[str, list[int]] = field(default_factory=dict)
    delay: dict[str, float] = field(default_factory=dict)

    def at(self, path: str) -> list[Post]:
        return [p for p in self.posts if p.path == path]

    def answer(self, path: str) -> int:
        time.sleep(self.delay.get(path, 0))
        codes = self.script.get(path) or [200]
        return codes.pop(0) if len(codes) > 1 else codes[0]


class _Quiet(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and hung up is part of the tests


@contextmanager
def serve_receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiver.posts.append(Post(self.path, dict(self.headers), body))
            code = receiver.answer(self.path)
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = _Quiet(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()

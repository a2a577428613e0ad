"""A local HTTP server for the fake JIRA and Slack: records every request, and fails on
demand (an outage answering 500, a 429 with Retry-After, answers slower than the
client's timeout). A slow answer is still carried out, as a real server would."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        return json.loads(self.body or b"{}")

    def form(self) -> dict[str, str]:
        """Parameters from the query, then the body (JSON or form-encoded)."""
        found = dict(self.query)
        if self.headers.get("content-type", "").startswith("application/json"):
            loaded: dict[str, Any] = self.json()
            found.update(
                {
                    key: value if isinstance(value, str) else json.dumps(value)
                    for key, value in loaded.items()
                }
            )
        else:
            found.update({key: values[0] for key, values in parse_qs(self.body.decode()).items()})
        return found


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


@dataclass
class Outage:
    """How the server misbehaves until it is restored."""

    status: int = 500
    retry_after: float | None = None
    delay: float = 0.0
    """Answer this late (and carry the request out), instead of failing it."""


class FakeServer:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.outage: Outage | None = None
        self.lock = threading.RLock()
        handler = self._handler_class()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._serving = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeServer:
        self._serving.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def down(self, outage: Outage | None = None) -> None:
        self.outage = outage or Outage()

    def up(self) -> None:
        self.outage = None

    def handle(self, request: Request) -> Reply:
        raise NotImplementedError

    def error(self, status: int) -> Reply:
        return Reply(status, {"error": f"HTTP {status}"})

    def _respond(self, request: Request) -> Reply:
        with self.lock:
            self.requests.append(request)
        outage = self.outage
        if outage is not None and outage.delay:
            time.sleep(outage.delay)
        elif outage is not None:
            reply = self.error(outage.status)
            if outage.retry_after is not None:
                reply.headers["Retry-After"] = str(outage.retry_after)
            return reply
        with self.lock:
            return self.handle(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(
                    self.command,
                    parts.path,
                    {key: values[0] for key, values in parse_qs(parts.query).items()},
                    {key.lower(): value for key, value in self.headers.items()},
                    body,
                )
                reply = server._respond(request)
                data = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json;charset=UTF-8")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting; what it asked for was done

            do_GET = do_POST = do_PUT = _serve

        return Handler


def serve(factory: Callable[[], FakeServer]) -> FakeServer:
    return factory().start()

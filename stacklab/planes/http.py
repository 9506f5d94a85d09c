"""A tiny HTTP server on 127.0.0.1 for the local planes (website endpoint, CloudFront edge, ...).

A plane writes a handler ``Request -> Response`` once; it can be called in-process
(``handler(request)``) or served over real HTTP with :func:`serve`. Servers bind to 127.0.0.1 on a
free port and stop when the sandbox stops.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from stacklab._validate import require_str
from stacklab.errors import InputError


@dataclass
class Request:
    """An HTTP request as a plane sees it. Header names are matched case-insensitively."""

    method: str
    target: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    client_ip: str = "127.0.0.1"

    def __post_init__(self) -> None:
        require_str("method", self.method)
        require_str("target", self.target)
        if not self.target.startswith("/"):
            raise InputError(f"A request target must start with '/', got {self.target!r}; e.g. '/index.html'.")
        self.method = self.method.upper()
        self.headers = {str(k).lower(): str(v) for k, v in (self.headers or {}).items()}

    @property
    def path(self) -> str:
        """The path without the query string."""
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        """The query string as a dict (last value wins)."""
        return dict(parse_qsl(urlsplit(self.target).query, keep_blank_values=True))

    def header(self, name: str, default: str | None = None) -> str | None:
        """A request header by (case-insensitive) name."""
        return self.headers.get(name.lower(), default)


@dataclass
class Response:
    """An HTTP response from a plane."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str, default: str | None = None) -> str | None:
        """A response header by (case-insensitive) name."""
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return default

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (replacing undecodable bytes)."""
        return self.body.decode("utf-8", "replace")


Handler = Callable[[Request], Response]


class LocalServer:
    """A running server: ``url`` is where it listens; ``stop()`` ends it."""

    def __init__(self, name: str, handler: Handler) -> None:
        self.name = name
        plane_handler = handler

        class _Adapter(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(
                    method=self.command, target=self.path, headers=dict(self.headers.items()), body=body,
                    client_ip=self.client_address[0],
                )
                try:
                    response = plane_handler(request)
                except Exception as exc:  # a plane bug must not reset the connection without an answer
                    message = f"{type(exc).__name__}: {exc}"
                    response = Response(500, {"Content-Type": "text/plain; charset=utf-8"}, message.encode())
                self.send_response(response.status)
                headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
                for key, value in headers.items():
                    self.send_header(key, value)
                payload = b"" if self.command == "HEAD" else response.body
                self.send_header("Content-Length", str(len(response.body)))
                try:
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. a gateway timeout)
                    self.close_connection = True

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve  # noqa: N815

            def setup(self) -> None:
                super().setup()
                # Headers and body are written separately: without TCP_NODELAY each keep-alive response
                # waits ~40 ms for the client's delayed ACK (Nagle's algorithm).
                try:
                    self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                except OSError:
                    pass

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Adapter)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"stacklab-{name}", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        """The TCP port the server listens on (chosen by the OS)."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()


_servers: dict[str, LocalServer] = {}
_lock = threading.Lock()


def serve(name: str, handler: Handler) -> LocalServer:
    """Serve ``handler`` on 127.0.0.1 under ``name`` (one server per name; reused if running)."""
    require_str("name", name)
    if not callable(handler):
        raise InputError(f"serve() needs a handler function Request -> Response, got {handler!r}.")
    from stacklab.sandbox import current, on_stop

    current()  # planes serve the sandbox only
    with _lock:
        server = _servers.get(name)
        if server is None:
            server = _servers[name] = LocalServer(name, handler)
            on_stop(stop_all)
        return server


def stop_all() -> None:
    """Stop every plane server (the sandbox calls this when it stops)."""
    with _lock:
        servers = list(_servers.values())
        _servers.clear()
    for server in servers:
        server.stop()

"""A small synchronous websocket client for notebook cells (see :mod:`stacklab.planes.websocket`).

Every wait has a timeout, so a cell never hangs. :meth:`Client.send` returns once the gateway has
handled the frame (its integration ran and everything it posted was written to the sockets), so the
frames a lesson prints come in a deterministic order.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode, urlsplit

from stacklab._validate import require_number
from stacklab.errors import InputError, StackLabError
from stacklab.planes import websocket_server as server

#: Sent as User-Agent unless the caller gives one (keeps get_connection's Identity stable).
USER_AGENT = "stacklab-client/1.0"


class ConnectionRejected(StackLabError):
    """The gateway refused the websocket upgrade (``$connect`` denied): ``status`` 401, 403, 500, ..."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"The WebSocket API refused the connection: HTTP {status} {body}".rstrip())
        self.status = status
        self.body = body


class ConnectionClosedError(StackLabError):
    """The connection is closed (by the client, ``delete_connection``, a timeout or a limit)."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"The connection is closed (code {code}{': ' + reason if reason else ''}).")
        self.code = code
        self.reason = reason


def _parse(frame: str | bytes) -> Any:
    if isinstance(frame, bytes):
        return frame
    try:
        return json.loads(frame)
    except ValueError:
        return frame


class Client:
    """A websocket client of a WebSocket API stage: ``Client(url(api, "production"), query={"token": "t"})``."""

    def __init__(
        self,
        url: str,
        *,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 2.0,
    ) -> None:
        from websockets.exceptions import InvalidStatus, WebSocketException
        from websockets.sync.client import connect

        if not isinstance(url, str) or urlsplit(url).scheme not in ("ws", "wss"):
            raise InputError(f"url must be a ws:// URL from websocket.url(api_id, stage), got {url!r}.")
        if query is not None and not isinstance(query, dict):
            raise InputError(f"query must be a dict of name -> value, got {type(query).__name__}.")
        if headers is not None and not isinstance(headers, dict):
            raise InputError(f"headers must be a dict of header name -> value, got {type(headers).__name__}.")
        require_number("timeout", timeout, minimum=0.01)
        self.timeout = float(timeout)
        if query:
            url += ("&" if urlsplit(url).query else "?") + urlencode({str(k): str(v) for k, v in query.items()})
        extra = {str(k): str(v) for k, v in (headers or {}).items()}
        agent = next((v for k, v in extra.items() if k.lower() == "user-agent"), USER_AGENT)
        extra = {k: v for k, v in extra.items() if k.lower() not in ("user-agent", "host")}  # the library sets Host
        self._sent = 0
        server.sweep()
        server.settle(self.timeout)
        try:
            self._ws = connect(url, additional_headers=extra, user_agent_header=agent, open_timeout=self.timeout,
                               close_timeout=self.timeout, max_size=None, ping_interval=None, legacy=True)  # fmt: skip
        except InvalidStatus as exc:
            raise ConnectionRejected(exc.response.status_code, exc.response.body.decode("utf-8", "replace")) from None
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise StackLabError(f"Could not connect to {url}: {exc}. Is the sandbox running?") from None
        self._conn = server.by_remote(self._ws.local_address)

    # -------------------------------------------------------------------------------- state

    @property
    def connection_id(self) -> str | None:
        """The gateway's id of this connection (what handlers see as ``requestContext.connectionId``)."""
        return None if self._conn is None else self._conn.connection_id

    @property
    def closed(self) -> bool:
        """True once the connection is closed (either side)."""
        return self._ws.close_code is not None or (self._conn is not None and self._conn.closed)

    @property
    def close_code(self) -> int | None:
        """The close code (1000 normal, 1001 going away, 1003 binary frame, 1009 too big), or None."""
        return self._ws.close_code

    @property
    def close_reason(self) -> str | None:
        """The close reason sent with the close code, or None."""
        return self._ws.close_reason

    # -------------------------------------------------------------------------------- traffic

    def send(self, message: Any, *, wait: bool = True, frame_size: int | None = None) -> None:
        """Send a message: a dict/list goes as JSON text, a str as text, bytes as a binary frame (which API
        Gateway refuses). ``frame_size`` splits it into frames of that many characters (AWS: at most 32 KB
        each). With ``wait`` (default) return once the gateway has handled it."""
        from websockets.exceptions import ConnectionClosed

        if isinstance(message, (dict, list)):
            message = json.dumps(message)
        if not isinstance(message, (str, bytes)):
            raise InputError(f"send() takes a dict/list (sent as JSON), a str or bytes, got {type(message).__name__}.")
        payload: Any = message
        if frame_size is not None:
            size = int(require_number("frame_size", frame_size, minimum=1, integer=True))
            if message:
                payload = [message[i : i + size] for i in range(0, len(message), size)]
        server.sweep()
        try:
            self._ws.send(payload)
        except ConnectionClosed:
            raise ConnectionClosedError(self._ws.close_code, self._ws.close_reason or "") from None
        self._sent += 1
        if wait and self._conn is not None:  # a busy machine may need longer than `timeout` for a cold start
            server.wait_handled(self._conn, self._sent, max(self.timeout, 2 * server.WAIT_S))
            if self._conn.closed or self._ws.close_code is not None:  # closed by the gateway: $disconnect ran
                self._conn.done.wait(self.timeout)
            server.settle(self.timeout)

    def receive(self, timeout: float | None = None) -> Any:
        """The next frame (JSON parsed when it is JSON). Raises ``TimeoutError`` when none arrives within
        ``timeout`` seconds (default: the client's), :class:`ConnectionClosedError` once closed."""
        from websockets.exceptions import ConnectionClosed

        wait = self.timeout if timeout is None else float(require_number("timeout", timeout, minimum=0))
        server.sweep()
        try:
            return _parse(self._ws.recv(timeout=wait))
        except TimeoutError:
            raise TimeoutError(f"No frame arrived within {wait} s.") from None
        except ConnectionClosed:
            raise ConnectionClosedError(self._ws.close_code, self._ws.close_reason or "") from None

    def messages(self) -> list[Any]:
        """Every frame received so far, in order (JSON parsed); never waits for new ones beyond a ping
        round trip that proves earlier frames have arrived."""
        from websockets.exceptions import ConnectionClosed

        server.sweep()
        server.settle(self.timeout)
        try:
            self._ws.ping().wait(self.timeout)
        except ConnectionClosed:
            pass
        out = []
        while True:
            try:
                out.append(_parse(self._ws.recv(timeout=0)))
            except (TimeoutError, ConnectionClosed):
                return out

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection; the API's ``$disconnect`` has run when it returns."""
        require_number("code", code, minimum=1000, maximum=4999, integer=True)
        self._ws.close(code, reason)
        if self._conn is not None:
            self._conn.done.wait(self.timeout)
        server.settle(self.timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = f"closed {self.close_code}" if self.closed else "open"
        return f"Client(connection_id={self.connection_id!r}, {state})"

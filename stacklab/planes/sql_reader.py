"""A read-only door to a PostgreSQL server: what an Aurora reader endpoint gives a client.

On AWS the reader endpoint (``…cluster-ro-…``) load-balances connections over the cluster's Aurora
Replicas, which share the writer's storage volume but accept only reads: a write fails with
``cannot execute INSERT in a read-only transaction``. The SQL plane runs one PostgreSQL per cluster
(the shared volume), so the reader endpoint is this small TCP forwarder on 127.0.0.1: it answers the
client's ``SSLRequest``/``GSSENCRequest`` with ``N`` (no TLS locally), adds
``-c default_transaction_read_only=on`` to the ``options`` of the startup message, then relays bytes
both ways. Simplification: a session may ``SET default_transaction_read_only = off`` and write, which
a real replica would still refuse.

Public API: ``ReadOnlyProxy(upstream_port).start() -> ReadOnlyProxy`` (``.port``), ``.drop_all() -> int``
(close every relayed connection, as a failover does), ``.stop()``.
"""

from __future__ import annotations

import select
import socket
import struct
import threading

_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104
_PROTOCOL_3 = 196608
_READ_ONLY = "-c default_transaction_read_only=on"
_TIMEOUT = 5.0


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("client closed the connection during the startup handshake")
        data += chunk
    return data


def _read_startup(client: socket.socket) -> bytes:
    """Read the client's startup message (answering SSL/GSS requests with 'N') and return it rewritten."""
    while True:
        (length,) = struct.unpack("!I", _recv_exact(client, 4))
        if not 8 <= length <= 10000:
            raise ConnectionError(f"not a PostgreSQL startup packet (length {length})")
        body = _recv_exact(client, length - 4)
        (code,) = struct.unpack("!I", body[:4])
        if code in (_SSL_REQUEST, _GSSENC_REQUEST):
            client.sendall(b"N")
            continue
        if code != _PROTOCOL_3:
            return struct.pack("!I", length) + body  # let the server answer what it does not support
        return _with_read_only(body[4:])


def _with_read_only(params: bytes) -> bytes:
    parts = params.rstrip(b"\x00").split(b"\x00")
    pairs = dict(zip(parts[0::2], parts[1::2], strict=False))
    options = pairs.get(b"options", b"").decode()
    pairs[b"options"] = f"{options} {_READ_ONLY}".strip().encode()
    body = struct.pack("!I", _PROTOCOL_3) + b"".join(k + b"\x00" + v + b"\x00" for k, v in pairs.items()) + b"\x00"
    return struct.pack("!I", len(body) + 4) + body


class ReadOnlyProxy:
    """Relay 127.0.0.1:``port`` to 127.0.0.1:``upstream_port`` with read-only sessions."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def start(self) -> ReadOnlyProxy:
        """Listen on a free loopback port and serve in a background thread."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.settimeout(0.2)
        self._listener = listener
        self.port = int(listener.getsockname()[1])
        self._spawn(self._accept_loop, "stacklab-sql-reader")
        return self

    def _spawn(self, target: object, name: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)  # type: ignore[arg-type]
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._spawn(self._relay, "stacklab-sql-reader-conn", client)

    def _relay(self, client: socket.socket) -> None:
        upstream = None
        with self._lock:
            self._sockets.add(client)
        try:
            client.settimeout(_TIMEOUT)
            startup = _read_startup(client)
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=_TIMEOUT)
            with self._lock:
                self._sockets.add(upstream)
            upstream.sendall(startup)
            pair = {client: upstream, upstream: client}
            while not self._stopping.is_set():
                ready, _, _ = select.select(list(pair), [], [], 0.2)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    pair[sock].sendall(data)
        except (OSError, ConnectionError, ValueError):
            return
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    with self._lock:
                        self._sockets.discard(sock)
                    sock.close()

    def drop_all(self) -> int:
        """Close every relayed connection (clients see the server close them); returns how many."""
        with self._lock:
            socks = list(self._sockets)
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return len(socks) // 2

    def stop(self) -> None:
        """Stop listening, close every connection and join the threads."""
        self._stopping.set()
        if self._listener is not None:
            self._listener.close()
        self.drop_all()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(timeout=_TIMEOUT)

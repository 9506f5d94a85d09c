"""The websocket servers of WebSocket APIs and their live connections (used by :mod:`websocket`).

All servers run on one daemon thread with its own asyncio event loop; the gateway's work (reading
the configuration, authorizers, integrations, ``$disconnect``) runs on a small thread pool, so a
Lambda handler can call ``post_to_connection`` (which needs the loop) while its message is being
handled. Every wait on the loop has a timeout.
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
import random
import string
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from stacklab._validate import require_number
from stacklab.errors import StackLabError
from stacklab.planes import gateway as gw
from stacklab.planes import loop_thread
from stacklab.planes import websocket_routes as routes

#: AWS's WebSocket quotas (API Gateway developer guide, "Quotas for configuring and running a WebSocket").
MAX_MESSAGE_BYTES = 128 * 1024
MAX_FRAME_BYTES = 32 * 1024
IDLE_TIMEOUT = timedelta(minutes=10)
MAX_DURATION = timedelta(hours=2)
#: How long any wait on the event loop may take (seconds).
WAIT_S = 5.0
_WORKER_PREFIX = "stacklab-ws-worker"
#: The websockets library's own log (handshake failures, closed sockets) stays out of notebook outputs.
_LOG = logging.getLogger("stacklab.planes.websocket.server")
_LOG.addHandler(logging.NullHandler())
_LOG.propagate = False


@dataclass
class Conn:
    """One live connection as the gateway knows it."""

    connection_id: str
    api_id: str
    stage: str
    ws: Any
    remote: tuple[str, int]
    connected_at: datetime
    last_active: datetime
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    authorizer: dict[str, Any] | None = None
    iam_identity: dict[str, Any] | None = None
    received: int = 0
    handled: int = 0
    closed: bool = False
    close_code: int | None = None
    close_reason: str = ""
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def user_agent(self) -> str:
        return next((v for k, v in self.headers.items() if k.lower() == "user-agent"), "")


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.executor: ThreadPoolExecutor | None = None
        self.servers: dict[str, tuple[Any, int]] = {}
        self.conns: dict[str, Conn] = {}
        self.by_ws: dict[int, Conn] = {}
        self.closing: set[str] = set()  # closed connections whose $disconnect has not finished
        self.ids: random.Random | None = None
        self.stopping = False


state = _State()


# ------------------------------------------------------------------------------------ ids, clock, metrics


def new_id() -> str:
    """An AWS-like id (``'L0SM9cOFvHcCIhw='``), from a generator seeded by the sandbox seed."""
    from stacklab.sandbox import current

    with state.lock:
        if state.ids is None:
            state.ids = random.Random(f"stacklab-websocket-{current().seed}")
        return "".join(state.ids.choice(string.ascii_letters + string.digits) for _ in range(15)) + "="


def now() -> datetime:
    return gw._now()


def metric(api_id: str, stage: str, name: str, value: float = 1.0) -> None:
    """Buffer one ``AWS/ApiGateway`` datapoint (dimensions ApiId and ApiId+Stage) with the REST plane's."""
    when = now()
    with gw._state.lock:
        for dims in ((("ApiId", api_id),), (("ApiId", api_id), ("Stage", stage))):
            gw._state.metrics.append((name, dims, when, value))


def _record(call: routes.Call, outcome: routes.Outcome | None) -> None:
    if outcome is not None and outcome.error == "client":
        metric(call.api_id, call.stage, "ClientError")
    if outcome is not None and outcome.error == "integration":
        metric(call.api_id, call.stage, "IntegrationError")
    if outcome is not None and outcome.error == "execution":
        metric(call.api_id, call.stage, "ExecutionError")
    if call.integration_ms is not None:
        metric(call.api_id, call.stage, "IntegrationLatency", call.integration_ms)


# ------------------------------------------------------------------------------------ loop


def _ensure_loop() -> asyncio.AbstractEventLoop:
    with state.lock:
        if state.loop is None:
            loop, state.thread = loop_thread.start(
                "stacklab-websocket-loop", wait_s=WAIT_S, what="The websocket plane's event loop"
            )
            state.loop = loop
            state.executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix=_WORKER_PREFIX)
        return state.loop


def on_loop(coro: Any, timeout: float = WAIT_S) -> Any:
    """Run ``coro`` on the plane's loop from another thread and return its result (with a timeout)."""
    loop = _ensure_loop()
    if threading.current_thread() is state.thread:
        coro.close()
        raise StackLabError("on_loop() cannot be called from the websocket plane's own event loop.")
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)


def in_gateway() -> bool:
    """True on one of the plane's worker threads or inside a Lambda handler: such a caller must not wait
    for a ``$disconnect`` (it may need the worker or the Lambda runtime the caller is holding)."""
    from stacklab.planes import functions

    return threading.current_thread().name.startswith(_WORKER_PREFIX) or bool(
        getattr(functions._in_handler, "active", False)
    )


async def _work(fn: Any, *args: Any) -> Any:
    loop = asyncio.get_running_loop()
    assert state.executor is not None
    return await loop.run_in_executor(state.executor, fn, *args)


# ------------------------------------------------------------------------------------ servers


def port_of(api_id: str) -> int:
    """The port of the API's server, starting it on first use."""
    with state.lock:
        if api_id in state.servers:
            return state.servers[api_id][1]
    server, port = on_loop(_start(api_id))
    with state.lock:
        state.servers[api_id] = (server, port)
    return port


async def _start(api_id: str) -> tuple[Any, int]:
    from websockets.asyncio.server import serve

    async def process_request(connection: Any, request: Any) -> Any:
        return await _handshake(api_id, connection, request)

    server = await serve(
        _handler, "127.0.0.1", 0, process_request=process_request, max_size=(MAX_MESSAGE_BYTES, MAX_FRAME_BYTES),
        ping_interval=None, close_timeout=2, server_header="stacklab-websocket", logger=_LOG,
    )  # fmt: skip
    return server, server.sockets[0].getsockname()[1]


def _refuse(connection: Any, status: int) -> Any:
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Forbidden"
    response = connection.respond(status, json.dumps({"message": phrase}))
    response.headers["Content-Type"] = "application/json"
    return response


async def _handshake(api_id: str, connection: Any, request: Any) -> Any:
    split = urlsplit(request.path)
    stage = unquote(split.path.strip("/"))
    query = dict(parse_qsl(split.query, keep_blank_values=True))
    headers = {k: v for k, v in request.headers.raw_items()}
    remote = tuple(connection.remote_address[:2]) if connection.remote_address else ("127.0.0.1", 0)
    conn, status = await _work(_connect, api_id, stage, headers, query, remote, connection, request.path)
    if conn is None:
        return _refuse(connection, status)
    with state.lock:
        state.conns[conn.connection_id] = conn
        state.by_ws[id(connection)] = conn
    return None


def _connect(
    api_id: str, stage: str, headers: dict, query: dict, remote: tuple, ws: Any, target: str
) -> tuple[Conn | None, int]:
    """The ``$connect`` request: (connection, 101) or (None, refusal status)."""
    sweep()
    config = routes.load(api_id, stage)
    if config is None or config.api.get("DisableExecuteApiEndpoint"):
        return None, 403
    when = now()
    conn = Conn(new_id(), api_id, stage, ws, remote, when, when, headers, query)
    call = routes.Call(api_id, stage, "$connect", conn.connection_id, new_id(), None, when, when, headers=headers,
                       query=query, source_ip=remote[0], stage_variables=config.stage_variables,
                       target=target)  # fmt: skip
    metric(api_id, stage, "ConnectCount")
    route = config.routes.get("$connect")
    if route is not None:
        refusal = routes.authorize(config, route, call)
        if refusal is not None:
            _record(call, refusal)
            return None, refusal.status
        conn.authorizer, conn.iam_identity = call.authorizer, call.iam_identity
        if route.get("Target"):
            outcome = routes.integrate(config, route, call)
            _record(call, outcome)
            if not 200 <= outcome.status < 300:
                return None, outcome.status
    return conn, 101


async def _handler(connection: Any) -> None:
    from websockets.exceptions import ConnectionClosed

    with state.lock:
        conn = state.by_ws.get(id(connection))
    if conn is None:
        await connection.close(1011, "unknown connection")
        return
    try:
        async for message in connection:
            with state.lock:
                conn.received += 1
            if isinstance(message, bytes):
                await connection.close(1003, "Binary frames are not supported")
                break
            frames = await _work(_message, conn, message)
            for frame in frames:
                await connection.send(frame)
            with state.changed:
                conn.handled += 1
                state.changed.notify_all()
    except ConnectionClosed:
        pass
    finally:
        with state.changed:
            conn.closed = True
            conn.close_code = connection.close_code or 1006
            conn.close_reason = connection.close_reason or ""
            state.conns.pop(conn.connection_id, None)
            state.by_ws.pop(id(connection), None)
            state.closing.add(conn.connection_id)
            stopping = state.stopping
            state.changed.notify_all()
        try:
            if not stopping:
                await _work(_disconnect, conn)
        finally:
            with state.changed:
                state.closing.discard(conn.connection_id)
                conn.done.set()
                state.changed.notify_all()


def _message(conn: Conn, text: str) -> list[str]:
    """Route one text frame; the frames to send back to its client."""
    try:
        return _route(conn, text)
    except Exception:  # noqa: BLE001 - a gateway bug must not kill the connection silently
        return [_error_frame("Internal server error", conn, new_id())]


def _route(conn: Conn, text: str) -> list[str]:
    when = now()
    if when - conn.last_active >= IDLE_TIMEOUT or when - conn.connected_at >= MAX_DURATION:
        sweep()
        return []
    conn.last_active = when
    config = routes.load(conn.api_id, conn.stage)
    request_id = new_id()
    metric(conn.api_id, conn.stage, "MessageCount")
    key = None if config is None else routes.select(config, text)
    if config is None or key is None:
        metric(conn.api_id, conn.stage, "ClientError")
        return [_error_frame("Forbidden", conn, request_id)]
    call = routes.Call(conn.api_id, conn.stage, key, conn.connection_id, request_id, new_id(), conn.connected_at, when,
                       body=text, source_ip=conn.remote[0], authorizer=conn.authorizer,
                       stage_variables=config.stage_variables, iam_identity=conn.iam_identity)  # fmt: skip
    outcome = routes.integrate(config, config.routes[key], call)
    _record(call, outcome)
    if outcome.failed:
        return [_error_frame("Internal server error", conn, request_id)]
    return [outcome.body] if outcome.body else []


def _error_frame(message: str, conn: Conn, request_id: str) -> str:
    return json.dumps({"message": message, "connectionId": conn.connection_id, "requestId": request_id})


def _disconnect(conn: Conn) -> None:
    """Best effort ``$disconnect`` (AWS: "best-effort"), after the socket closed."""
    config = routes.load(conn.api_id, conn.stage)
    route = None if config is None else config.routes.get("$disconnect")
    if config is None or route is None or not route.get("Target"):
        return
    when = now()
    call = routes.Call(conn.api_id, conn.stage, "$disconnect", conn.connection_id, new_id(), None, conn.connected_at,
                       when, headers=conn.headers, source_ip=conn.remote[0], authorizer=conn.authorizer,
                       stage_variables=config.stage_variables, disconnect_code=conn.close_code or 1006,
                       disconnect_reason=conn.close_reason, iam_identity=conn.iam_identity)  # fmt: skip
    try:
        _record(call, routes.integrate(config, route, call))
    except Exception:  # noqa: BLE001 - $disconnect is best effort, as on AWS
        pass


# ------------------------------------------------------------------------------------ connections


def find(connection_id: str) -> Conn | None:
    """The open connection with this id, or None."""
    with state.lock:
        conn = state.conns.get(connection_id)
    return None if conn is None or conn.closed else conn


def by_remote(address: tuple[str, int]) -> Conn | None:
    """The gateway's side of a client socket whose local address is ``address``."""
    with state.lock:
        return next((c for c in state.conns.values() if c.remote == tuple(address[:2])), None)


def open_connections() -> list[Conn]:
    """The open connections, in the order they connected."""
    with state.lock:
        return [c for c in state.conns.values() if not c.closed]


def close(conn: Conn, code: int, reason: str, *, wait_disconnect: bool = True) -> None:
    """Close a connection from the gateway's side; ``$disconnect`` has run when it returns (unless called
    from a handler the gateway is running, which must not wait for another one)."""
    try:
        on_loop(conn.ws.close(code, reason))
    except Exception:  # noqa: BLE001 - already closed or the loop is stopping
        pass
    if wait_disconnect and not in_gateway():
        conn.done.wait(WAIT_S)


def send(conn: Conn, data: bytes) -> None:
    """Deliver ``data`` to the client now (text when UTF-8, fragments of at most 32 KB)."""
    try:
        payload: Any = data.decode("utf-8")
    except UnicodeDecodeError:
        payload = data
    if len(data) > MAX_FRAME_BYTES:
        payload = [payload[i : i + MAX_FRAME_BYTES // 4] for i in range(0, len(payload), MAX_FRAME_BYTES // 4)]
    on_loop(conn.ws.send(payload))
    metric(conn.api_id, conn.stage, "MessageCount")


def sweep() -> list[str]:
    """Close connections idle for 10 minutes or open for 2 hours (sandbox clock) with 1001; their ids."""
    when = now()
    expired = [c for c in open_connections()
               if when - c.last_active >= IDLE_TIMEOUT or when - c.connected_at >= MAX_DURATION]  # fmt: skip
    for conn in expired:
        close(conn, 1001, "Going away")
    return [c.connection_id for c in expired]


def wait_handled(conn: Conn, count: int, timeout: float) -> bool:
    """Wait until the gateway has handled ``count`` frames of the connection (or it closed)."""
    with state.changed:
        return state.changed.wait_for(lambda: conn.handled >= count or conn.closed, timeout)


def settle(timeout: float = WAIT_S) -> bool:
    """Wait until no ``$disconnect`` is pending, nor any closing handshake the gateway has not finished (so
    what a cell prints next does not race with one); False when one is still running after ``timeout`` s."""
    from websockets.protocol import State

    require_number("timeout", timeout, minimum=0)
    if in_gateway():
        return False

    def quiet() -> bool:
        return not state.closing and all(c.ws.protocol.state is State.OPEN for c in state.conns.values())

    with state.changed:
        return _poll(quiet, timeout)


def _poll(predicate: Any, timeout: float) -> bool:
    """Wait for ``predicate`` (checked under the lock) with short sleeps: socket states do not notify."""
    deadline = time.monotonic() + timeout
    while not predicate():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        state.changed.wait(min(0.01, remaining))
    return True


def stop() -> None:
    """Close every connection (no ``$disconnect``: the sandbox is being wiped) and every server; join threads."""
    with state.lock:
        loop, thread, executor = state.loop, state.thread, state.executor
        servers = [s for s, _ in state.servers.values()]
        state.stopping = True
    try:
        if loop is not None and thread is not None and thread.is_alive():

            async def shutdown() -> None:
                for server in servers:
                    server.close()
                for server in servers:
                    await asyncio.wait_for(server.wait_closed(), WAIT_S)

            try:
                asyncio.run_coroutine_threadsafe(shutdown(), loop).result(WAIT_S * 2)
            except Exception:  # noqa: BLE001 - stopping must not raise
                pass
            loop.call_soon_threadsafe(loop.stop)
            thread.join(WAIT_S)
        if loop is not None and not loop.is_running():
            loop.close()
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
    finally:
        with state.changed:
            state.loop = state.thread = state.executor = None
            state.servers.clear()
            for conn in state.conns.values():
                conn.closed = True
                conn.done.set()
            state.conns.clear()
            state.by_ws.clear()
            state.closing.clear()
            state.ids = None
            state.stopping = False
            state.changed.notify_all()

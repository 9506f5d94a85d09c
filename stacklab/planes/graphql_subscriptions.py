"""AppSync subscriptions: ``@aws_subscribe`` delivery in-process and over AppSync's real-time websocket protocol.

On AppSync a subscription field such as ``onAddPost(author: String): Post @aws_subscribe(mutations:
["addPost"])`` is triggered by the listed mutations: after each successful ``addPost`` the mutation's
result is pushed to every subscriber of ``onAddPost`` whose arguments match. The executor
(:mod:`stacklab.planes.graphql`) calls :func:`publish` after each successful top-level mutation field.

Public API
----------
``subscribe(api_id, query, variables=None, headers=None) -> Subscription``
    Register an in-process subscriber (authorized like a request, with :func:`graphql_auth.authorize`);
    a refusal raises :class:`SubscriptionError` (``error_type``, ``message``, ``errors()``: AppSync's).
    A :class:`Subscription` is an **async iterator** of AppSync's ``{"data": {FIELD: ...}}`` payloads
    (``async for msg in sub``; each wait times out after ``sub.timeout`` s) and has sync helpers for
    notebook cells: ``get(timeout=2.0)`` (next payload or :class:`SubscriptionTimeout`),
    ``received()`` (every payload waiting, without waiting), ``close()``; also a context manager.
``publish(api_id, mutation_field_name, result, selection_set_list=None) -> int``
    Deliver a mutation's result; returns how many subscribers received it.
``realtime_url(api_id) -> str`` / ``connect_url(api_id, headers) -> str``
    The API's real-time endpoint on 127.0.0.1 (started on first use; ``ws://127.0.0.1:PORT/graphql``),
    and the URL to open with AppSync's ``?header=BASE64(JSON auth headers)&payload=e30=`` query.
``stop()``
    Close every connection and server, drop every subscriber (``stacklab.reset()`` and kernel exit call it).

AppSync's rules implemented
---------------------------
* Only fields listed in a subscription's ``@aws_subscribe(mutations: [...])`` trigger it; a subscription
  operation has exactly one top-level field.
* **Arguments filter**: each argument the subscriber gave (non-null) must equal the field of the same
  name in the mutation's result; otherwise nothing is sent to that subscriber.
* **Selection set**: the payload has the subscriber's selection, filled from the mutation's result.
  AppSync sends only what the **mutation** selected: a field the subscriber asks for but the mutation
  did not select arrives as ``null`` (so a mutation must select every field its subscribers need).
  :func:`publish` applies this rule when given the mutation's ``selection_set_list`` (AppSync's
  ``$ctx.info.selectionSetList``, e.g. ``["id", "title", "author/name"]``); without it the whole
  result is available.
* Authorization is checked when subscribing (the mode's credentials, then ``allows`` on the
  subscription field — refused: ``"Not Authorized to access FIELD on type Subscription"``); nested
  fields the subscriber may not read arrive as ``null``.
* Delivery order is deterministic: subscribers in the order they subscribed; a mutation's message is
  sent (and, over websockets, written to the socket) before :func:`publish` returns.

Real-time protocol (``graphql-ws`` subprotocol, as AppSync documents it)
---------------------------------------------------------------------
Client → ``{"type": "connection_init"}``; server → ``{"type": "connection_ack", "payload":
{"connectionTimeoutMs": 300000}}`` then ``{"type": "ka"}`` (again every minute). Client → ``{"id", "type":
"start", "payload": {"data": JSON({"query", "variables"}), "extensions": {"authorization": {HEADERS}}}}``;
server → ``{"type": "start_ack", "id"}`` then ``{"type": "data", "id", "payload": {"data": ...}}`` per
event; client → ``{"type": "stop", "id"}``; server → ``{"type": "complete", "id"}``. Refusals:
``{"type": "connection_error", "payload": {"errors": [{"errorType", "message"}]}}`` (then the socket
closes) or ``{"type": "error", "id", "payload": {"errors": [...]}}`` for one ``start``.
The connection's auth headers come from the ``header`` query parameter (or, without it, from the
handshake's own ``x-api-key`` / ``authorization`` / ``x-amz-*`` headers); a ``start`` without
``extensions.authorization`` uses them too.

Simplifications: no enhanced filters (``extensions.filter``/``$extensions.setSubscriptionFilter``), no
subscription invalidation, no 2-hour connection limit or 100 KB message limit; a mutation that returns
null delivers nothing.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from graphql import GraphQLError, OperationType, execute, parse, validate
from graphql.language import ast as gast

from stacklab._validate import require_number, require_str
from stacklab.errors import InputError, StackLabError
from stacklab.planes import graphql_auth as auth
from stacklab.planes import loop_thread

__all__ = ["Subscription", "SubscriptionError", "SubscriptionTimeout", "connect_url", "publish", "realtime_url",
           "stop", "subscribe"]  # fmt: skip

#: How long any wait on the real-time server's loop may take (seconds).
WAIT_S = 5.0
#: AppSync's connection timeout announced in ``connection_ack`` (milliseconds).
CONNECTION_TIMEOUT_MS = 300_000
KEEPALIVE_S = 60.0
_AUTH_HEADERS = ("x-api-key", "authorization", "host")
_LOG = logging.getLogger("stacklab.planes.graphql_subscriptions")
_LOG.addHandler(logging.NullHandler())
_LOG.propagate = False


class SubscriptionError(StackLabError):
    """A subscription AppSync refuses: ``error_type`` and ``message`` are AppSync's."""

    def __init__(self, message: str, error_type: str) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type

    def errors(self) -> list[dict[str, Any]]:
        """AppSync's ``errors`` list for this refusal."""
        return [{"errorType": self.error_type, "message": self.message}]


class SubscriptionTimeout(StackLabError, TimeoutError):
    """No message arrived in time."""


@dataclass
class _Sub:
    seq: int
    sub_id: str
    api_id: str
    field_name: str
    alias: str
    arguments: dict[str, Any]
    document: gast.DocumentNode
    variables: dict[str, Any]
    mutations: tuple[str, ...]
    context: auth.AuthContext
    deliver: Callable[[dict[str, Any]], None]


@dataclass
class _State:
    lock: threading.RLock = field(default_factory=threading.RLock)
    subs: dict[str, _Sub] = field(default_factory=dict)
    seq: int = 0
    rng: random.Random | None = None
    loop: asyncio.AbstractEventLoop | None = None
    thread: threading.Thread | None = None
    servers: dict[str, tuple[Any, int]] = field(default_factory=dict)


_state = _State()


def _new_id() -> str:
    """A seeded UUID-shaped id (the same sequence after every ``stacklab.reset()``)."""
    from stacklab.sandbox import current

    with _state.lock:
        if _state.rng is None:
            _state.rng = random.Random(f"stacklab-appsync-subscriptions-{current().seed}")
        bits = _state.rng.getrandbits(128)
    hexa = f"{bits:032x}"
    return f"{hexa[:8]}-{hexa[8:12]}-{hexa[12:16]}-{hexa[16:20]}-{hexa[20:]}"


# ------------------------------------------------------------------------------------ registering


def _subscribe_targets(sdl: str) -> tuple[str, dict[str, tuple[str, ...]]]:
    """The subscription root type's name and ``{field: mutations of its @aws_subscribe}``."""
    document = parse(sdl, no_location=True)
    root = "Subscription"
    for node in document.definitions:
        if isinstance(node, gast.SchemaDefinitionNode):
            for op in node.operation_types:
                if op.operation == OperationType.SUBSCRIPTION:
                    root = op.type.name.value
    targets: dict[str, tuple[str, ...]] = {}
    for node in document.definitions:
        if isinstance(node, gast.ObjectTypeDefinitionNode | gast.ObjectTypeExtensionNode) and node.name.value == root:
            for fld in node.fields or ():
                for directive in fld.directives or ():
                    if directive.name.value != "aws_subscribe":
                        continue
                    for arg in directive.arguments or ():
                        if arg.name.value == "mutations" and isinstance(arg.value, gast.ListValueNode):
                            targets[fld.name.value] = tuple(
                                v.value for v in arg.value.values if isinstance(v, gast.StringValueNode)
                            )
    return root, targets


def _register(api_id: str, query: str, variables: Mapping[str, Any] | None, headers: Mapping[str, str] | None,
              deliver: Callable[[dict[str, Any]], None], sub_id: str | None = None) -> _Sub:  # fmt: skip
    """Validate, authorize and register one subscription; raise :class:`SubscriptionError` as AppSync refuses."""
    from stacklab.planes import graphql_schema

    api = auth.api_record(api_id)
    try:
        document = parse(query)
    except GraphQLError as exc:
        raise SubscriptionError(f"Invalid Syntax : {exc.message}", "InvalidSyntax") from None
    context = _authorized(api, dict(headers or {}), document)
    sdl = auth.schema_sdl(api)
    if not sdl:
        raise SubscriptionError("The API has no valid schema: run start_schema_creation first.", "BadRequestException")
    schema = graphql_schema.build(sdl)
    problems = validate(schema, document)
    if problems:
        raise SubscriptionError(problems[0].message, "ValidationError")
    operations = [d for d in document.definitions if isinstance(d, gast.OperationDefinitionNode)]
    if len(operations) != 1 or operations[0].operation != OperationType.SUBSCRIPTION:
        raise SubscriptionError("Send exactly one subscription operation, such as 'subscription { onAddPost { id } }'.",
                                "ValidationError")  # fmt: skip
    fields = [s for s in operations[0].selection_set.selections if isinstance(s, gast.FieldNode)]
    root, targets = _subscribe_targets(sdl)
    node = fields[0]
    name = node.name.value
    if not context.allows(root, name):
        raise SubscriptionError(f"Not Authorized to access {name} on type {root}", "Unauthorized")
    arguments = _arguments(schema, document, dict(variables or {}))
    with _state.lock:
        _state.seq += 1
        sub = _Sub(_state.seq, sub_id or _new_id(), api_id, name, node.alias.value if node.alias else name,
                   arguments, document, dict(variables or {}), targets.get(name, ()), context, deliver)  # fmt: skip
        _state.subs[f"{_state.seq}"] = sub
    return sub


def _arguments(schema: Any, document: gast.DocumentNode, variables: dict[str, Any]) -> dict[str, Any]:
    """The top-level field's coerced arguments (graphql-core coerces them while 'executing' it once)."""
    seen: dict[str, Any] = {}

    def capture(source: Any, info: Any, **arguments: Any) -> None:
        seen.update(arguments)

    result = execute(schema, document, root_value={}, variable_values=variables, field_resolver=capture)
    if result.errors:
        raise SubscriptionError(result.errors[0].message, "ValidationError")
    return seen


def _authorized(api: dict[str, Any], headers: dict[str, str], document: gast.DocumentNode) -> auth.AuthContext:
    try:
        return auth.authorize(api, headers, document)
    except auth.GraphQLAuthError as exc:
        raise SubscriptionError(exc.message, exc.error_type) from None


def _unregister(sub: _Sub) -> None:
    with _state.lock:
        _state.subs.pop(f"{sub.seq}", None)


# ------------------------------------------------------------------------------------ publishing


def _prune(value: Any, paths: list[str], prefix: str = "") -> Any:
    """Keep only the fields the mutation selected (``a``, ``a/b``), as AppSync forwards them."""
    if isinstance(value, list):
        return [_prune(v, paths, prefix) for v in value]
    if not isinstance(value, Mapping):
        return value
    return {k: _prune(v, paths, f"{prefix}{k}/") for k, v in value.items() if f"{prefix}{k}" in paths}


def _payload(sub: _Sub, result: Any) -> dict[str, Any]:
    from stacklab.planes import graphql_schema

    schema = graphql_schema.build(auth.schema_sdl({"apiId": sub.api_id}) or "")
    denied: list[dict[str, Any]] = []

    def resolve(source: Any, info: Any, **_: Any) -> Any:
        parent, name = info.parent_type.name, info.field_name
        if info.path.prev is not None and not sub.context.allows(parent, name):
            denied.append({"errorType": "Unauthorized", "path": info.path.as_list(),
                           "message": f"Not Authorized to access {name} on type {parent}"})  # fmt: skip
            return None
        key = info.path.key if info.path.prev is None else name
        return source.get(key) if isinstance(source, Mapping) else getattr(source, name, None)

    out = execute(schema, sub.document, root_value={sub.alias: result}, variable_values=sub.variables,
                  field_resolver=resolve)  # fmt: skip
    payload: dict[str, Any] = {"data": out.data}
    errors = [{"message": e.message, "path": e.path} for e in out.errors or []] + denied
    if errors:
        payload["errors"] = errors
    return payload


def _matches(sub: _Sub, result: Mapping[str, Any]) -> bool:
    return all(value is None or result.get(name) == value for name, value in sub.arguments.items())


def publish(api_id: str, mutation_field_name: str, result: Any, selection_set_list: list[str] | None = None) -> int:
    """Deliver the result of mutation ``mutation_field_name`` to the matching subscribers; return how many got it."""
    require_str("api_id", api_id)
    require_str("mutation_field_name", mutation_field_name)
    if selection_set_list is not None and (not isinstance(selection_set_list, list)
                                           or not all(isinstance(p, str) for p in selection_set_list)):  # fmt: skip
        raise InputError("selection_set_list must be a list of field paths such as ['id', 'author/name'].")
    if result is None:
        return 0
    with _state.lock:
        subs = sorted((s for s in _state.subs.values() if s.api_id == api_id and mutation_field_name in s.mutations),
                      key=lambda s: s.seq)  # fmt: skip
    if not subs:
        return 0
    forwarded = _prune(result, selection_set_list) if selection_set_list is not None else result
    delivered = 0
    for sub in subs:
        if isinstance(forwarded, Mapping) and not _matches(sub, forwarded):
            continue
        sub.deliver(_payload(sub, forwarded))
        delivered += 1
    return delivered


# ------------------------------------------------------------------------------------ in-process subscribers


class Subscription:
    """An in-process subscriber: an async iterator of payloads, with sync helpers for notebook cells."""

    def __init__(self, api_id: str, query: str, variables: Mapping[str, Any] | None, headers: Mapping[str, str] | None,
                 timeout: float) -> None:  # fmt: skip
        self.timeout = timeout
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue()
        self._sub = _register(api_id, query, variables, headers, self._queue.put)
        self.id = self._sub.sub_id
        self.field_name = self._sub.field_name
        self.closed = False

    def __repr__(self) -> str:
        return f"Subscription(id={self.id!r}, field={self.field_name!r}, closed={self.closed})"

    def get(self, timeout: float = 2.0) -> dict[str, Any]:
        """The next payload, waiting up to ``timeout`` seconds (raises :class:`SubscriptionTimeout`)."""
        require_number("timeout", timeout, minimum=0)
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            raise SubscriptionTimeout(f"No message for subscription {self.field_name} within {timeout} s "
                                      "(did a mutation listed in its @aws_subscribe run, with matching "
                                      "arguments?).") from None  # fmt: skip

    def received(self) -> list[dict[str, Any]]:
        """Every payload waiting now, oldest first (does not wait)."""
        out = []
        while True:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        """Unsubscribe (payloads already received stay readable)."""
        self.closed = True
        _unregister(self._sub)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return self._queue.get_nowait()
            except queue.Empty:
                if self.closed:
                    raise StopAsyncIteration from None
                if time.monotonic() >= deadline:
                    raise SubscriptionTimeout(f"No message for subscription {self.field_name} within "
                                              f"{self.timeout} s.") from None  # fmt: skip
                await asyncio.sleep(0.005)


def subscribe(api_id: str, query: str, variables: Mapping[str, Any] | None = None,
              headers: Mapping[str, str] | None = None, *, timeout: float = 5.0) -> Subscription:  # fmt: skip
    """Subscribe in-process to ``query`` (one ``subscription`` field) of API ``api_id``, authorized by ``headers``.

    Raises :class:`SubscriptionError` (AppSync's ``errorType`` and message) when AppSync would refuse it,
    :class:`InputError` for arguments of the wrong type or an unknown API.
    """
    require_str("api_id", api_id)
    if not isinstance(query, str):
        raise InputError(f"query must be a GraphQL subscription as a string, got {type(query).__name__}.")
    if variables is not None and not isinstance(variables, Mapping):
        raise InputError(f"variables must be a dict such as {{'author': 'ada'}}, got {type(variables).__name__}.")
    if headers is not None and not isinstance(headers, Mapping):
        raise InputError(f"headers must be a dict such as {{'x-api-key': KEY}}, got {type(headers).__name__}.")
    require_number("timeout", timeout, minimum=0)
    return Subscription(api_id, query, variables, headers, float(timeout))


# ------------------------------------------------------------------------------------ real-time websocket server


def _ensure_loop() -> asyncio.AbstractEventLoop:
    with _state.lock:
        if _state.loop is None:
            _state.loop, _state.thread = loop_thread.start(
                "stacklab-appsync-realtime", wait_s=WAIT_S, what="The AppSync real-time loop"
            )
        return _state.loop


def _on_loop(coro: Any) -> Any:
    return asyncio.run_coroutine_threadsafe(coro, _ensure_loop()).result(WAIT_S)


def _decode_header(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    try:
        value = json.loads(base64.b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):
        return {}
    return {str(k).lower(): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


class _Connection:
    """One real-time websocket connection: its auth headers, its subscriptions by client id."""

    def __init__(self, api_id: str, ws: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.api_id = api_id
        self.ws = ws
        self.loop = loop
        query = dict(parse_qsl(urlsplit(ws.request.path).query))
        self.headers = _decode_header(query.get("header"))
        if not self.headers:  # no header parameter: the handshake's own auth headers
            sent = {k.lower(): v for k, v in ws.request.headers.raw_items()}
            self.headers = {k: v for k, v in sent.items() if k in _AUTH_HEADERS or k.startswith("x-amz-")}
        self.subs: dict[str, _Sub] = {}
        self.acked = False

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    def sender(self, client_id: str) -> Callable[[dict[str, Any]], None]:
        def deliver(payload: dict[str, Any]) -> None:
            message = {"type": "data", "id": client_id, "payload": payload}
            future = asyncio.run_coroutine_threadsafe(self.send(message), self.loop)
            if threading.current_thread() is not _state.thread:
                try:
                    future.result(WAIT_S)
                except Exception:  # noqa: BLE001 - a closed socket loses the message, as on AWS
                    pass

        return deliver

    async def handle(self, raw: str | bytes) -> bool:
        """Answer one client message; False when the connection must close."""
        try:
            message = json.loads(raw)
            kind = message.get("type")
        except (ValueError, AttributeError):
            await self.send({"type": "error", "payload": {"errors": [{"errorType": "BadRequestException",
                                                                      "message": "Messages must be JSON objects."}]}})
            return True  # fmt: skip
        if kind == "connection_init":
            return await self._init()
        if kind == "start":
            await self._start(message)
        elif kind == "stop":
            sub = self.subs.pop(str(message.get("id")), None)
            if sub is not None:
                _unregister(sub)
            await self.send({"type": "complete", "id": message.get("id")})
        else:
            await self.send({"type": "error", "id": message.get("id"), "payload": {"errors": [{
                "errorType": "UnsupportedOperation", "message": f"Unsupported message type {kind!r}."}]}})  # fmt: skip
        return True

    async def _init(self) -> bool:
        try:
            _authorized(auth.api_record(self.api_id), self.headers, parse("{ __typename }"))
        except (SubscriptionError, InputError) as exc:
            error = exc.errors() if isinstance(exc, SubscriptionError) else [{"errorType": "NotFoundException",
                                                                              "message": str(exc)}]  # fmt: skip
            await self.send({"type": "connection_error", "payload": {"errors": error}})
            return False
        self.acked = True
        await self.send({"type": "connection_ack", "payload": {"connectionTimeoutMs": CONNECTION_TIMEOUT_MS}})
        await self.send({"type": "ka"})
        return True

    async def _start(self, message: dict[str, Any]) -> None:
        client_id = str(message.get("id") or "")
        payload = message.get("payload") if isinstance(message.get("payload"), dict) else {}
        try:
            if not self.acked:
                raise SubscriptionError("Send connection_init before start.", "BadRequestException")
            if not client_id or client_id in self.subs:
                raise SubscriptionError("Each start needs a new, non-empty id.", "BadRequestException")
            data = json.loads(payload.get("data") or "{}")
            if not isinstance(data, dict) or not isinstance(data.get("query"), str):
                raise SubscriptionError('payload.data must be JSON text of {"query": ..., "variables": ...}.',
                                        "BadRequestException")  # fmt: skip
            extensions = payload.get("extensions") or {}
            headers = extensions.get("authorization") if isinstance(extensions, dict) else None
            if isinstance(headers, dict):
                headers = {str(k).lower(): str(v) for k, v in headers.items()}
            else:
                headers = self.headers
            sub = _register(self.api_id, data["query"], data.get("variables") or {}, headers, self.sender(client_id),
                            sub_id=client_id)  # fmt: skip
        except (SubscriptionError, ValueError, InputError) as exc:
            errors = exc.errors() if isinstance(exc, SubscriptionError) else [{"errorType": "BadRequestException",
                                                                               "message": str(exc)}]  # fmt: skip
            await self.send({"type": "error", "id": client_id, "payload": {"errors": errors}})
            return
        self.subs[client_id] = sub
        await self.send({"type": "start_ack", "id": client_id})

    def close(self) -> None:
        for sub in self.subs.values():
            _unregister(sub)
        self.subs.clear()


async def _keepalive(conn: _Connection) -> None:
    while True:
        await asyncio.sleep(KEEPALIVE_S)
        await conn.send({"type": "ka"})


async def _serve_connection(api_id: str, ws: Any) -> None:
    conn = _Connection(api_id, ws, asyncio.get_running_loop())
    ka = asyncio.ensure_future(_keepalive(conn))
    try:
        async for raw in ws:
            if not await conn.handle(raw):
                await ws.close(4401, "Unauthorized")
                break
    except Exception:  # noqa: BLE001 - a dropped socket ends the connection
        pass
    finally:
        ka.cancel()
        conn.close()


async def _start_server(api_id: str) -> tuple[Any, int]:
    from websockets.asyncio.server import serve

    async def handler(ws: Any) -> None:
        await _serve_connection(api_id, ws)

    server = await serve(handler, "127.0.0.1", 0, subprotocols=["graphql-ws"], ping_interval=None, close_timeout=2,
                         server_header="stacklab-appsync-realtime", logger=_LOG)  # type: ignore[list-item]  # fmt: skip
    return server, server.sockets[0].getsockname()[1]


def realtime_url(api_id: str) -> str:
    """``ws://127.0.0.1:PORT/graphql``: the API's real-time endpoint, started on first use."""
    auth.api_record(api_id)  # validates: unknown API -> InputError
    with _state.lock:
        known = _state.servers.get(api_id)
    if known is None:
        known = _on_loop(_start_server(api_id))
        with _state.lock:
            _state.servers[api_id] = known
    return f"ws://127.0.0.1:{known[1]}/graphql"


def connect_url(api_id: str, headers: Mapping[str, str]) -> str:
    """The URL a client opens: :func:`realtime_url` + ``?header=BASE64(JSON headers)&payload=e30=`` (AppSync's form)."""
    if not isinstance(headers, Mapping) or not headers:
        raise InputError("headers must be the auth headers as a dict, such as {'x-api-key': KEY}.")
    encoded = base64.b64encode(json.dumps(dict(headers), sort_keys=True).encode()).decode()
    return f"{realtime_url(api_id)}?{urlencode({'header': encoded, 'payload': 'e30='})}"


def stop() -> None:
    """Close every real-time server and connection, stop the loop thread, drop every subscriber."""
    with _state.lock:
        loop, thread = _state.loop, _state.thread
        servers = [s for s, _ in _state.servers.values()]
    if loop is not None and thread is not None and thread.is_alive():

        async def shutdown() -> None:
            for server in servers:
                server.close()
            for server in servers:
                await asyncio.wait_for(server.wait_closed(), WAIT_S)
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(WAIT_S * 2)
        except Exception:  # noqa: BLE001 - stopping must not raise
            pass
        loop.call_soon_threadsafe(loop.stop)
        thread.join(WAIT_S)
    if loop is not None and not loop.is_running():
        loop.close()
    with _state.lock:
        _state.loop = _state.thread = None
        _state.servers.clear()
        _state.subs.clear()
        _state.seq = 0
        _state.rng = None


def _hooks() -> None:
    from stacklab.sandbox import on_reset, on_stop

    on_reset(stop)
    on_stop(stop)


_hooks()

"""Amazon API Gateway WebSocket APIs, executed on a real websocket server on 127.0.0.1.

moto 5.2.5 stores WebSocket APIs (``apigatewayv2`` with ``ProtocolType="WEBSOCKET"``), their routes,
integrations, authorizers, route responses and stages, but serves no connection, and its
``apigatewaymanagementapi`` (``@connections``) accepts any connection id. This plane serves them:

**Endpoint.** One websocket server per API (the ``websockets`` library, asyncio, all servers on one
daemon thread with its own event loop), bound to 127.0.0.1 on a free port, started on first use
(:func:`serve`). AWS's ``wss://{api}.execute-api.{region}.amazonaws.com/{stage}`` becomes
``ws://127.0.0.1:PORT/{stage}`` (:func:`url`); a query string is kept (``?token=...``). The
configuration (routes, ``RouteSelectionExpression``, integrations, authorizers, route responses,
stages and stage variables) is read from moto's apigatewayv2 store on **every** connection and
message, in boto3's shapes (the helpers of :mod:`stacklab.planes.http_apis`), so a route added with
boto3 or ``!aws`` acts on the next message. Stages are used as they are (WebSocket deployments are
not snapshotted).

**Connect** (AWS's order): unknown stage, or ``DisableExecuteApiEndpoint`` → upgrade refused with ``403``
(``{"message":"Forbidden"}``); then the ``$connect`` route's ``AuthorizationType``:

* ``CUSTOM``: Lambda ``REQUEST`` authorizer; identity sources ``route.request.querystring.NAME`` /
  ``route.request.header.NAME``; a missing one → ``401`` without calling the function; the function
  returns an IAM policy (WebSocket authorizers have no simple responses): an ``Allow`` of
  ``execute-api:Invoke`` on ``arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/$connect`` → connected, else
  ``403``; a failing authorizer → ``500``. Its ``principalId`` and ``context`` reach
  ``requestContext.authorizer`` of every later event of the connection;
* ``AWS_IAM``: the upgrade request must be SigV4-signed (:func:`iam_headers`; verified by
  :mod:`stacklab.planes.sigv4`, whose refusals are 403) by a caller whose identity policies allow
  ``execute-api:Invoke`` on the ``$connect`` ARN, else ``403``; the caller reaches
  ``requestContext.identity``.

Then the ``$connect`` integration (when the route has one): a Lambda proxy result whose ``statusCode``
is not 2xx refuses the upgrade with that status; a function error → ``502``.

**Messages.** Text frames are routed with the API's ``RouteSelectionExpression``
(``$request.body.action``, ``${request.body.action}``, nested ``$request.body.message.action``) evaluated
on the JSON frame; a frame that is not JSON, or whose value matches no route key, goes to
``$default``; with no ``$default`` route the client gets AWS's error frame
``{"message": "Forbidden", "connectionId": ID, "requestId": RID}``; an integration failure gives
``{"message": "Internal server error", "connectionId": ..., "requestId": ...}``. Messages of one
connection are handled one at a time, in order. Binary frames close the connection with ``1003``
(AWS: binary frames are not supported); a frame over 32 KB or a message over 128 KB closes it with
``1009`` (AWS's quotas).

**Integrations.** ``AWS_PROXY`` to Lambda through :mod:`stacklab.planes.functions` with AWS's WebSocket
event (``requestContext``: ``routeKey``, ``eventType`` CONNECT/MESSAGE/DISCONNECT, ``connectionId``,
``domainName``, ``stage``, ``apiId``, ``requestId``, ``messageId``, ``connectedAt``,
``messageDirection``, ``identity``, ``authorizer``; ``body``; ``isBase64Encoded``; ``headers`` and
``queryStringParameters`` on ``$connect``; ``stageVariables``); ``HTTP`` / ``HTTP_PROXY`` to a loopback
URL (the frame POSTed as body); ``MOCK`` (request template chosen by ``TemplateSelectionExpression``,
integration response templates). A **two-way route** (``RouteResponseSelectionExpression`` ``$default``
and a ``$default`` route response) sends the integration's result back to the client (a Lambda proxy
result's ``body``, or the JSON of any other result).

**@connections.** Importing this module extends moto's ``apigatewaymanagementapi`` backend, so that
``boto3.client("apigatewaymanagementapi", endpoint_url=callback_url(api, stage))`` — the callback URL AWS
gives, ``https://{api}.execute-api.{region}.amazonaws.com/{stage}``, also from inside a Lambda handler run
by the functions plane — acts on the real socket:

* ``post_to_connection`` delivers the frame **before it returns** (so order is deterministic:
  everything a handler posted has been written to the client's socket when the client's
  :meth:`Client.send` returns); unknown or closed connection → ``GoneException`` (410); over 128 KB →
  ``PayloadTooLargeException`` (413);
* ``get_connection`` → ``ConnectedAt``, ``LastActiveAt`` (sandbox clock), ``Identity`` (``SourceIp``
  127.0.0.1, ``UserAgent`` the client's);
* ``delete_connection`` closes the socket (code 1000) and runs ``$disconnect``.

In server mode (``stacklab.start(cli=True)``) ``!aws apigatewaymanagementapi post-to-connection
--connection-id ID --data hello`` needs no ``--endpoint-url``: ``AWS_ENDPOINT_URL`` already points at the
sandbox's server (:func:`cli_callback_url` returns that URL for an explicit ``--endpoint-url``). moto's
server routes only ``/@connections/ID`` there (a ``/{stage}/@connections/ID`` path goes to its IoT
backend), so the connection id alone names the API and stage. An ``!aws`` cell must never pass the
real ``https://{api}.execute-api...`` URL: the CLI runs outside the kernel's network guard. (The course's
AWS CLI is v1, which sends ``--data`` as given; CLI v2 needs ``--cli-binary-format raw-in-base64-out``.)

moto's ``ApiEndpoint`` of a WebSocket API is ``https://...``; this module makes it AWS's ``wss://...``.

**Limits on the sandbox clock** (AWS's quotas). Idle timeout 10 minutes (the sandbox counts only messages
from the client as activity; ``post_to_connection`` and ping frames do not reset it: a client that must
stay connected sends a small heartbeat message), maximum connection duration 2 hours: expired
connections are closed with ``1001`` (Going away) and get ``$disconnect`` when :func:`sweep` runs; it
runs by itself on every connect, message, ``@connections`` call and :class:`Client` call.

**Ids.** Connection ids, request ids and message ids look like AWS's (16 characters ending in ``=``, as
``'L0SM9cOFvHcCIhw='``) and come from a generator seeded by the sandbox seed (re-seeded by
``stacklab.reset()``), so a notebook that drives its clients one call at a time prints the same ids on
every run.

**Metrics** (``AWS/ApiGateway``, dimensions ``ApiId`` and ``ApiId+Stage``): ``ConnectCount``,
``MessageCount``, ``IntegrationError``, ``ClientError``, ``ExecutionError``, ``IntegrationLatency``,
buffered with the REST/HTTP planes' metrics and written by :func:`flush_metrics`.

Public API::

    serve(api_id) -> Server                      # .api_id, .port, .url ("ws://127.0.0.1:PORT")
    url(api_id, stage) -> str                    # "ws://127.0.0.1:PORT/{stage}"
    callback_url(api_id, stage) -> str           # the @connections endpoint (in-process boto3, handlers)
    cli_callback_url(api_id, stage) -> str       # the same for `!aws ... --endpoint-url` (needs start(cli=True))
    connect(api_id, stage, *, query=None, headers=None, timeout=2.0) -> Client
    iam_headers(api_id, stage, *, access_key_id, secret_access_key, session_token=None, query=None) -> dict
    Client(url, *, query=None, headers=None, timeout=2.0)   # User-Agent "stacklab-client/1.0" by default
        .send(obj_or_text, *, wait=True, frame_size=None)  # waits until the gateway has handled the frame;
                                                 # frame_size splits the message into frames
        .receive(timeout=None) -> Any            # next frame (JSON parsed when it is JSON); TimeoutError
        .messages() -> list                      # every frame received so far (drains; never blocks)
        .close(code=1000, reason="")             # $disconnect has run when it returns (also `with ... as c:`)
        .connection_id, .closed, .close_code, .close_reason
    ConnectionRejected(StackLabError)            # .status, .body: the upgrade was refused (401/403/...)
    ConnectionClosedError(StackLabError)         # .code, .reason: send/receive on a closed connection
    connections(api_id=None, stage=None) -> list[dict]   # open connections in connect order: ConnectionId,
                                                 # ApiId, Stage, ConnectedAt, LastActiveAt, SourceIp, UserAgent
    sweep() -> list[str]                         # close idle / too-old connections; their ids
    settle(timeout=5.0) -> bool                  # wait until every pending $disconnect has run
    flush_metrics() -> int
    clear()                                      # close everything, stop servers (reset() calls it)

Async use: ``websockets.asyncio.client.connect(url(api, stage))`` works as against AWS; collect the
frames of several clients, then print them in a fixed order. Async clients run on the notebook's own
event loop, which cannot answer a closing handshake while a cell blocks it: call the functions that
close sockets and wait (``sweep()``, ``delete_connection``) as ``await asyncio.to_thread(...)``, and
``await asyncio.to_thread(websocket.settle)`` after closing a client before reading what its
``$disconnect`` did. The sync :class:`Client` does all of that by itself.

Not implemented (say so in lessons): ``AWS`` service integrations, request validation and models,
``$context`` variables in templates beyond ``requestId``/``connectionId``/``routeKey``/``stage``/``apiId``/
``eventType``/``messageId``, API keys and throttling, subprotocol negotiation, access logs, custom domains.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

from stacklab._validate import require_str
from stacklab.errors import InputError
from stacklab.planes import gateway as gw
from stacklab.planes import websocket_routes as routes
from stacklab.planes import websocket_server as server
from stacklab.planes.websocket_client import Client, ConnectionClosedError, ConnectionRejected

__all__ = [
    "Client",
    "ConnectionClosedError",
    "ConnectionRejected",
    "Server",
    "callback_url",
    "clear",
    "cli_callback_url",
    "connect",
    "connections",
    "flush_metrics",
    "iam_headers",
    "serve",
    "settle",
    "sweep",
    "url",
]

#: Writes the buffered metrics of REST, HTTP and WebSocket APIs (one shared buffer).
flush_metrics = gw.flush_metrics
sweep = server.sweep
settle = server.settle


@dataclass(frozen=True)
class Server:
    """A WebSocket API's local endpoint."""

    api_id: str
    port: int

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:PORT`` (add ``/{stage}``)."""
        return f"ws://127.0.0.1:{self.port}"


def _check_api(api_id: Any) -> Any:
    require_str("api_id", api_id)
    api = routes.api_object(api_id)
    if api is None:
        raise InputError(f"There is no WebSocket API {api_id!r} in the sandbox: use the ApiId that create_api "
                         "returned (get_apis lists them).")  # fmt: skip
    if api.protocol_type != "WEBSOCKET":
        raise InputError(f"API {api_id!r} is an {api.protocol_type} API; this plane runs WEBSOCKET APIs "
                         "(create_api(..., ProtocolType='WEBSOCKET', "
                         "RouteSelectionExpression='$request.body.action')).")  # fmt: skip
    return api


def _check_stage(api: Any, stage: Any) -> str:
    require_str("stage", stage)
    if stage not in api.stages:
        known = ", ".join(sorted(api.stages)) or "none yet"
        raise InputError(f"WebSocket API {api.api_id!r} has no stage {stage!r} (stages: {known}); create it with "
                         "create_stage(ApiId=..., StageName=...).")  # fmt: skip
    return stage


def serve(api_id: str) -> Server:
    """Serve the WebSocket API on 127.0.0.1 (started on first use; one server per API)."""
    _check_api(api_id)
    return Server(api_id, server.port_of(api_id))


def url(api_id: str, stage: str) -> str:
    """The stage's websocket URL over loopback: ``ws://127.0.0.1:PORT/{stage}`` (AWS: ``wss://{api}.execute-api.{region}.amazonaws.com/{stage}``)."""
    stage = _check_stage(_check_api(api_id), stage)
    return f"{serve(api_id).url}/{quote(stage, safe='')}"


def callback_url(api_id: str, stage: str) -> str:
    """The ``@connections`` endpoint AWS gives: ``https://{api}.execute-api.{region}.amazonaws.com/{stage}``
    (use it as ``endpoint_url`` of ``boto3.client("apigatewaymanagementapi")``, in the kernel or a handler)."""
    from stacklab.sandbox import current

    stage = _check_stage(_check_api(api_id), stage)
    return f"https://{api_id}.execute-api.{current().region}.amazonaws.com/{quote(stage, safe='')}"


def cli_callback_url(api_id: str, stage: str) -> str:
    """The ``--endpoint-url`` of ``!aws apigatewaymanagementapi ...`` cells: the sandbox's server on 127.0.0.1
    (moto's server only routes ``/@connections/ID`` there; the connection id names the API and stage)."""
    from stacklab.sandbox import current

    _check_stage(_check_api(api_id), stage)
    box = current()
    if not box.cli_enabled:
        raise InputError("AWS CLI cells need the sandbox's server: run stacklab.start(cli=True) first.")
    return str(box.endpoint_url)


def iam_headers(
    api_id: str,
    stage: str,
    *,
    access_key_id: str,
    secret_access_key: str,
    session_token: str | None = None,
    query: dict[str, str] | None = None,
) -> dict[str, str]:
    """SigV4 headers (``Authorization``, ``X-Amz-Date``, ...) for an ``AWS_IAM`` ``$connect``: pass them as
    ``connect(api_id, stage, headers=..., query=...)`` with the same ``query`` (signed at the sandbox clock)."""
    from stacklab.planes import sigv4

    target = url(api_id, stage).replace("ws://", "http://", 1)
    if query is not None:
        if not isinstance(query, dict):
            raise InputError(f"query must be a dict of name -> value, got {type(query).__name__}.")
        if query:
            target += "?" + urlencode({str(k): str(v) for k, v in query.items()})
    return sigv4.sign("GET", target, access_key_id=access_key_id, secret_access_key=secret_access_key,
                      session_token=session_token)  # fmt: skip


def connect(
    api_id: str,
    stage: str,
    *,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 2.0,
) -> Client:
    """A :class:`Client` on ``url(api_id, stage)``; :class:`ConnectionRejected` when ``$connect`` refuses."""
    return Client(url(api_id, stage), query=query, headers=headers, timeout=timeout)


def connections(api_id: str | None = None, stage: str | None = None) -> list[dict[str, Any]]:
    """The open connections (oldest first), optionally of one API / stage, as the gateway sees them."""
    if api_id is not None:
        _check_api(api_id)
    if stage is not None:
        require_str("stage", stage)
    return [
        {"ConnectionId": c.connection_id, "ApiId": c.api_id, "Stage": c.stage, "ConnectedAt": c.connected_at,
         "LastActiveAt": c.last_active, "SourceIp": c.remote[0], "UserAgent": c.user_agent}
        for c in server.open_connections()
        if (api_id is None or c.api_id == api_id) and (stage is None or c.stage == stage)
    ]  # fmt: skip


def clear() -> None:
    """Close every connection and server and join the plane's threads (``reset()`` and stop call it)."""
    server.stop()


# ------------------------------------------------------------------------------------ @connections in moto


def _errors() -> dict[str, type]:
    from moto.core.exceptions import JsonRESTError

    class GoneException(JsonRESTError):
        code = 410

    class PayloadTooLargeException(JsonRESTError):
        code = 413

    return {"Gone": GoneException, "TooLarge": PayloadTooLargeException}


def _target(response: Any) -> Any:
    """The open connection a management API call names (``GoneException`` when there is none)."""
    split = urlsplit(str(getattr(response, "uri", "") or ""))
    connection_id = unquote(split.path.rsplit("/@connections/", 1)[-1])
    host = split.hostname or ""
    api_id = host.split(".execute-api.", 1)[0] if ".execute-api." in host else None
    prefix = split.path.rsplit("/@connections/", 1)[0].strip("/")
    stage = unquote(prefix) if api_id and prefix else None
    server.sweep()
    conn = server.find(connection_id)
    if conn is None or (api_id and conn.api_id != api_id) or (stage and conn.stage != stage):
        raise _ERRORS["Gone"]("GoneException", f"Connection {connection_id} is gone (closed or unknown).")
    return conn


def _iso(when: Any) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _post_to_connection(self: Any) -> str:
    conn = _target(self)
    data = self.body if isinstance(self.body, bytes) else str(self.body or "").encode()
    if len(data) > server.MAX_MESSAGE_BYTES:
        raise _ERRORS["TooLarge"]("PayloadTooLargeException", f"Message of {len(data)} bytes is over the 128 KB limit.")
    try:
        server.send(conn, data)
    except Exception:  # noqa: BLE001 - the socket closed meanwhile
        raise _ERRORS["Gone"]("GoneException", f"Connection {conn.connection_id} is gone.") from None
    return "{}"


def _get_connection(self: Any) -> str:
    conn = _target(self)
    return json.dumps({"connectedAt": _iso(conn.connected_at), "lastActiveAt": _iso(conn.last_active),
                       "identity": {"sourceIp": conn.remote[0], "userAgent": conn.user_agent}})  # fmt: skip


def _delete_connection(self: Any) -> str:
    conn = _target(self)
    server.close(conn, 1000, "")
    return "{}"


def _install() -> None:
    """Make moto's ``apigatewaymanagementapi`` act on the plane's real connections, and give WebSocket APIs
    AWS's ``wss://`` ``ApiEndpoint`` (moto says ``https://``) (idempotent)."""
    from moto.apigatewaymanagementapi import responses
    from moto.apigatewayv2 import models

    cls = responses.ApiGatewayManagementApiResponse
    if getattr(cls, "_stacklab_websocket", False):
        return
    cls._stacklab_websocket = True  # type: ignore[attr-defined]
    api_json = models.Api.to_json

    def api_to_json(self: Any) -> dict[str, Any]:
        out = api_json(self)
        if self.protocol_type == "WEBSOCKET" and str(out.get("apiEndpoint", "")).startswith("https://"):
            out["apiEndpoint"] = "wss://" + out["apiEndpoint"][len("https://") :]
        return out

    models.Api.to_json = api_to_json  # type: ignore[method-assign]
    cls.post_to_connection = _post_to_connection  # type: ignore[method-assign]
    cls.get_connection = _get_connection  # type: ignore[method-assign]
    cls.delete_connection = _delete_connection  # type: ignore[method-assign]


def _hooks() -> None:
    from stacklab.sandbox import on_reset, on_stop

    on_reset(clear)
    on_stop(clear)


_ERRORS = _errors()
_install()
_hooks()

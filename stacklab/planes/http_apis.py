"""Amazon API Gateway HTTP APIs (``apigatewayv2``, protocol HTTP), executed: moto stores, this plane runs.

moto 5.2.5 stores HTTP APIs, routes, integrations, authorizers and stages but answers no request to
``https://API.execute-api.REGION.amazonaws.com`` ("Not yet implemented"), ignores the quick-create
``Target`` of ``create_api``, and has no deployments (``create_deployment`` / ``get_deployments`` answer
404) and no ``update_stage`` (it raises). This module adds those to moto when it is imported (so boto3
in the kernel and ``!aws apigatewayv2`` against the sandbox's server both see them):

* quick create: ``create_api(..., Target=ARN_OR_URL[, RouteKey=...])`` also creates, as AWS does, an
  integration (``AWS_PROXY`` payload 2.0 for a Lambda ARN, ``HTTP_PROXY`` for a URL), the route
  (``RouteKey``, default ``$default``) and the ``$default`` stage with ``AutoDeploy``;
* ``create_deployment`` (optionally with ``StageName``), ``get_deployment(s)``: a deployment **freezes** the
  API's routes, integrations and authorizers; ``create_stage(..., DeploymentId=...)`` and ``get_stage``
  carry ``DeploymentId``; ``update_stage`` changes ``AutoDeploy``, ``DeploymentId``, ``StageVariables``
  (merged), ``DefaultRouteSettings``/``RouteSettings`` (merged), ``AccessLogSettings``, ``Description``.

Requests are answered in-process with :func:`request` or over real HTTP on 127.0.0.1 with :func:`serve`
/ :func:`url` (``http://127.0.0.1:PORT/`` is the ``$default`` stage, ``/STAGE/...`` a named stage, as on
``execute-api``). The configuration is read on **every** request from moto's apigatewayv2 store, the
object that ``get_api``/``get_stage``/``get_routes`` (boto3 or the CLI) answer from, converted to boto3's
shapes (not through boto3: the four extra calls per request cost ~1.5 ms each on an idle course machine,
several times more under load).
In AWS's order:

1. stage: unknown → ``404 {"message":"Not Found"}``. An ``AutoDeploy`` stage runs the API's current
   routes/integrations/authorizers; any other stage runs its deployment's snapshot (none → 404);
2. routing over route keys ``METHOD /path`` (``{param}``, greedy ``{proxy+}`` last, ``ANY``): the most
   specific path wins (part by part: literal > ``{param}`` > ``{proxy+}``), then a named method over
   ``ANY``; else the ``$default`` route; else ``404 {"message":"Not Found"}``;
3. CORS (API ``CorsConfiguration``): a preflight (``OPTIONS`` with ``Origin`` and
   ``Access-Control-Request-Method``) that **no route matches** is answered by API Gateway itself:
   ``204`` with ``Access-Control-Allow-Origin`` (``*`` when ``AllowOrigins`` has ``*``, else the
   request's origin; ``https://*`` / ``http://*`` match by scheme), ``-Allow-Methods``, ``-Allow-Headers``,
   ``-Max-Age``, ``-Allow-Credentials`` when the origin and method are allowed, else ``204`` without CORS
   headers. A preflight that an ``OPTIONS``, ``ANY`` or ``$default`` route matches goes through that route,
   **authorizer included** (AWS's documented pitfall: add an unauthenticated ``OPTIONS /{proxy+}``
   route), and gets the same headers. Other responses get ``Access-Control-Allow-Origin`` (and
   ``-Expose-Headers``, ``-Allow-Credentials``) for an allowed origin; CORS headers sent by the
   integration are dropped (AWS ignores them when CORS is configured). ``AllowOrigins`` ``*`` together
   with ``AllowCredentials`` (which AWS refuses at configuration time; moto accepts) is not checked;
4. authorization (``AuthorizationType`` of the route):

   * ``JWT``: token from the identity source (default ``$request.header.Authorization``, a ``Bearer``
     prefix accepted); verified with the Cognito JWKS of the sandbox (RS256 only: ``alg: none``, HS256
     and tampered tokens fail); ``iss`` must equal ``JwtConfiguration.Issuer``; ``aud`` (ID tokens) or
     ``client_id`` (access tokens) must be one of ``Audience``; ``exp``/``nbf`` judged on the **sandbox
     clock** from the moment moto issued the token (bookkeeping shared with :mod:`gateway`) →
     else ``401 {"message":"Unauthorized"}``; the route's ``AuthorizationScopes`` need one of the
     token's ``scope`` → else ``403 {"message":"Forbidden"}``. Claims and scopes reach
     ``requestContext.authorizer.jwt``. Issuers other than Cognito user pools cannot be reached
     offline: 401 with an ``x-stacklab-reason`` header;
   * ``CUSTOM`` (Lambda ``REQUEST`` authorizer, payload ``2.0`` or ``1.0``): a missing identity source →
     401 without calling the function; ``EnableSimpleResponses`` → ``{"isAuthorized": bool, "context"}``
     (false → 403 Forbidden), else an IAM policy evaluated against the route ARN (no Allow or a Deny →
     403); a failing or malformed authorizer → ``500 {"message":"Internal Server Error"}``; results cached
     per identity-source values for ``AuthorizerResultTtlInSeconds`` (absent = 0 = off) on the sandbox
     clock; ``context`` reaches ``requestContext.authorizer.lambda``;
   * ``AWS_IAM``: SigV4 verified by :mod:`stacklab.planes.sigv4` (its refusals, all 403, with AWS's
     messages), then the caller's identity policies must allow ``execute-api:Invoke`` on the route ARN
     ``arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/PATH`` → else ``403 {"message":"Forbidden"}``;
     the caller reaches ``requestContext.authorizer.iam``;
5. throttling: token buckets on the sandbox clock per stage and route, from the stage's
   ``RouteSettings[route key]``, else ``DefaultRouteSettings``, else AWS's account default (10,000 rps,
   5,000 burst) → ``429 {"message":"Too Many Requests"}`` (a refused request consumes nothing);
6. the integration (``${stageVariables.x}`` substituted in its URI; ``TimeoutInMillis`` default and
   maximum 30,000; over → ``503 {"message":"Service Unavailable"}``, what HTTP APIs answer):

   * ``AWS_PROXY`` to Lambda through :mod:`stacklab.planes.functions`, payload ``2.0`` (default; the
     response is either ``{statusCode, headers, body, isBase64Encoded, cookies}`` or, without
     ``statusCode``, any JSON → 200 ``application/json`` with that JSON as body (a string as is)) or
     ``1.0`` (REST-style response); a function error or malformed response →
     ``500 {"message":"Internal Server Error"}``. The Lambda's simulated ``Duration`` decides timeouts;
   * ``HTTP_PROXY`` to a **loopback** URL: method (``IntegrationMethod``, ``ANY`` = the request's),
     headers, query string and body forwarded to the URI as given, with ``{param}``/``{proxy}`` filled
     (the request path is not appended: use a path variable or ``overwrite:path``), and
     ``RequestParameters`` ``overwrite:path`` / ``append|overwrite|remove:header.X`` /
     ``append|overwrite|remove:querystring.X`` with values ``$request.path[.name]``,
     ``$request.header.X``, ``$request.querystring.X``, ``$context.requestId``, ``$stageVariables.X`` or text.

**Metrics** (namespace ``AWS/ApiGateway``): ``Count``, ``4xx``, ``5xx``, ``Latency``, ``IntegrationLatency``
with dimensions ``ApiId``, ``ApiId+Stage`` and, with ``DetailedMetricsEnabled``,
``ApiId+Method+Resource+Stage`` (Resource = the route's path), buffered with the REST APIs' metrics and
written by :func:`flush_metrics`. Latencies are simulated like the REST plane's (Lambda: its REPORT
``Duration``; HTTP: 12 ms; plus 4 ms gateway overhead). Responses carry AWS's ``apigw-requestid``.

**Access logs**: a stage with ``AccessLogSettings`` (``DestinationArn`` of an existing log group,
``Format``) gets one line per request, rendered by :mod:`stacklab.planes.access_logs` (its
``HTTP_API_PRESETS``; ``$context.requestId`` is the ``apigw-requestid``, ``$context.routeKey`` the route).

Not implemented (say so in lessons): ``DataProcessed``, custom domains and API mappings,
VPC links, mutual TLS, the account-wide (all APIs) throttle bucket, Lambda permission checks,
``$context`` variables other than ``requestId``, request/response parameter mapping for Lambda
integrations, and CORS settings are read live (not frozen in deployments).
"""

from __future__ import annotations

import base64
import json
import random
import re
import string
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from stacklab._validate import require_str
from stacklab.errors import InputError, StackLabError
from stacklab.planes import gateway as gw
from stacklab.planes.http import LocalServer, Request, Response

__all__ = [
    "DEFAULT_TIMEOUT_MS",
    "Response",
    "clear",
    "deployment_snapshot",
    "flush_metrics",
    "request",
    "serve",
    "url",
]

#: Default and maximum integration timeout of HTTP APIs (ms).
DEFAULT_TIMEOUT_MS = 30_000
#: Writes the buffered metrics of REST and HTTP APIs (the two planes share one buffer).
flush_metrics = gw.flush_metrics
_CORS_HEADERS = ("access-control-allow-origin", "access-control-allow-credentials", "access-control-expose-headers",
                 "access-control-allow-methods", "access-control-allow-headers", "access-control-max-age")  # fmt: skip


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.deployments: dict[str, dict[str, dict[str, Any]]] = {}  # api id -> deployment id -> record
        self.auth_cache: dict[tuple, tuple[float, dict]] = {}
        self.ids: random.Random | None = None


_state = _State()


def clear() -> None:
    """Forget deployments and authorizer results (``reset()`` calls it)."""
    with _state.lock:
        _state.deployments.clear()
        _state.auth_cache.clear()
        _state.ids = None


# ------------------------------------------------------------------------------------ moto additions


def _install() -> None:
    """Add quick create, deployments and ``update_stage`` to moto's apigatewayv2 (idempotent)."""
    from moto.apigateway import urls as v1_urls
    from moto.apigatewayv2 import models, responses, urls

    cls = responses.ApiGatewayV2Response
    if getattr(cls, "_stacklab_http_apis", False):
        return
    cls._stacklab_http_apis = True  # type: ignore[attr-defined]
    for table in (urls.url_paths, v1_urls.url_paths):  # moto's REST API urls copy the v2 paths at import
        table["{0}/v2/apis/(?P<api_id>[^/]+)/deployments$"] = cls.dispatch
        table["{0}/v2/apis/(?P<api_id>[^/]+)/deployments/(?P<deployment_id>[^/]+)$"] = cls.dispatch

    stage_init = models.Stage.__init__

    def stage_init_kept(self: Any, api: Any, config: dict[str, Any]) -> None:
        stage_init(self, api, config)
        self.deployment_id = config.get("deploymentId")

    models.Stage.__init__ = stage_init_kept
    stage_json = models.Stage.to_json

    def stage_to_json(self: Any) -> dict[str, Any]:
        out = stage_json(self)
        if getattr(self, "deployment_id", None):
            out["deploymentId"] = self.deployment_id
        return out

    models.Stage.to_json = stage_to_json
    create_api = cls.create_api

    def create_api_quick(self: Any) -> Any:
        status, headers, body = create_api(self)
        params = json.loads(self.body or "{}")
        target = params.get("target")
        if target and params.get("protocolType") == "HTTP":
            api_id = json.loads(body)["apiId"]
            _quick_create(self.apigatewayv2_backend, api_id, str(target), params.get("routeKey") or "$default")
        return status, headers, body

    cls.create_api = create_api_quick

    def create_deployment(self: Any) -> Any:
        api = self.apigatewayv2_backend.get_api(self.path.split("/")[-2])
        params = json.loads(self.body or "{}")
        record = _deploy(api, params.get("description"), params.get("stageName"))
        return 200, {}, json.dumps(record["meta"])

    def get_deployments(self: Any) -> Any:
        api = self.apigatewayv2_backend.get_api(self.path.split("/")[-2])
        with _state.lock:
            items = [r["meta"] for r in _state.deployments.get(api.api_id, {}).values()]
        return 200, {}, json.dumps({"items": items})

    def get_deployment(self: Any) -> Any:
        parts = self.path.split("/")
        api = self.apigatewayv2_backend.get_api(parts[-3])
        with _state.lock:
            record = _state.deployments.get(api.api_id, {}).get(unquote(parts[-1]))
        if record is None:
            return 404, {}, json.dumps({"message": f"Invalid Deployment identifier specified {parts[-1]}"})
        return 200, {}, json.dumps(record["meta"])

    def update_stage(self: Any) -> Any:
        parts = self.path.split("/")
        stage = self.apigatewayv2_backend.get_stage(parts[-3], unquote(parts[-1]))
        params = json.loads(self.body or "{}")
        if "autoDeploy" in params:
            stage.auto_deploy = bool(params["autoDeploy"])
        if "deploymentId" in params:
            stage.deployment_id = params["deploymentId"]
        if "description" in params:
            stage.description = params["description"]
        if "accessLogSettings" in params:
            stage.access_log_settings = params["accessLogSettings"]
        stage.stage_variables = {**(stage.stage_variables or {}), **(params.get("stageVariables") or {})}
        stage.default_route_settings = {**(stage.default_route_settings or {}),
                                        **(params.get("defaultRouteSettings") or {})}  # fmt: skip
        for key, value in (params.get("routeSettings") or {}).items():
            stage.route_settings = {**(stage.route_settings or {})}
            stage.route_settings[key] = {**stage.route_settings.get(key, {}), **value}
        return 200, {}, json.dumps(stage.to_json())

    cls.create_deployment = create_deployment
    cls.get_deployments = get_deployments
    cls.get_deployment = get_deployment
    cls.update_stage = update_stage


def _quick_create(backend: Any, api_id: str, target: str, route_key: str) -> None:
    lam = target.startswith("arn:")
    integration = backend.create_integration(
        api_id=api_id, connection_id=None, connection_type=None, content_handling_strategy=None,
        credentials_arn=None, description=None, integration_method="POST" if lam else "ANY",
        integration_subtype=None, integration_type="AWS_PROXY" if lam else "HTTP_PROXY", integration_uri=target,
        passthrough_behavior=None, payload_format_version="2.0" if lam else "1.0", request_parameters=None,
        request_templates=None, response_parameters=None, template_selection_expression=None,
        timeout_in_millis=None, tls_config=None,
    )  # fmt: skip
    backend.create_route(
        api_id=api_id, api_key_required=False, authorization_scopes=None, authorization_type="NONE",
        authorizer_id=None, model_selection_expression=None, operation_name=None, request_models=None,
        request_parameters=None, route_key=route_key, route_response_selection_expression=None,
        target=f"integrations/{integration.id}",
    )  # fmt: skip
    backend.create_stage(api_id, {"stageName": "$default", "autoDeploy": True})


_OPAQUE = {"stageVariables", "requestParameters", "responseParameters", "requestTemplates", "requestModels", "tags"}


def _boto_shape(value: Any, key: str = "") -> Any:
    """moto's camelCase JSON → boto3's PascalCase response shape (maps of user-chosen names kept)."""
    if key in _OPAQUE or not isinstance(value, (dict, list)):
        return value
    if isinstance(value, list):
        return [_boto_shape(v) for v in value]
    if key == "routeSettings":
        return {k: _boto_shape(v) for k, v in value.items()}
    return {k[:1].upper() + k[1:]: _boto_shape(v, k) for k, v in value.items() if v is not None}


def _backend() -> Any:
    from moto.apigatewayv2.models import apigatewayv2_backends

    from stacklab.sandbox import current

    box = current()
    return apigatewayv2_backends[box.account_id][box.region]


def _live_config_of(api: Any) -> dict[str, Any]:
    def items(values: Any) -> list[dict[str, Any]]:
        return [_boto_shape(json.loads(json.dumps(v.to_json(), default=str))) for v in list(values)]

    return {"Routes": items(api.routes.values()), "Integrations": items(api.integrations.values()),
            "Authorizers": items(api.authorizers.values())}  # fmt: skip


def _deploy(api: Any, description: str | None, stage_name: str | None) -> dict[str, Any]:
    from stacklab.sandbox import current

    with _state.lock:
        if _state.ids is None:
            _state.ids = random.Random(f"stacklab-http-apis-{current().seed}")
        dep_id = "".join(_state.ids.choice(string.ascii_lowercase + string.digits) for _ in range(6))
    meta: dict[str, Any] = {"autoDeployed": False, "createdDate": current().clock.now().isoformat(),
                            "deploymentId": dep_id, "deploymentStatus": "DEPLOYED"}  # fmt: skip
    if description:
        meta["description"] = description
    record = {"meta": meta, "config": _live_config_of(api)}
    with _state.lock:
        _state.deployments.setdefault(api.api_id, {})[dep_id] = record
    if stage_name:
        if stage_name not in api.stages:
            from moto.apigatewayv2.exceptions import StageNotFound

            raise StageNotFound
        api.stages[stage_name].deployment_id = dep_id
    return record


def _hooks() -> None:
    from stacklab.sandbox import on_reset, on_stop

    on_reset(clear)
    on_stop(clear)


_install()
_hooks()


def deployment_snapshot(api_id: str, deployment_id: str) -> dict[str, Any]:
    """What a deployment froze: ``{"Routes", "Integrations", "Authorizers"}`` in boto3's shapes (a copy)."""
    require_str("api_id", api_id)
    require_str("deployment_id", deployment_id)
    with _state.lock:
        record = _state.deployments.get(api_id, {}).get(deployment_id)
    if record is None:
        raise InputError(f"HTTP API {api_id!r} has no deployment {deployment_id!r}: create one with "
                         "create_deployment(ApiId=..., StageName=...).")  # fmt: skip
    return json.loads(json.dumps(record["config"]))


# ------------------------------------------------------------------------------------ requests


def _message(status: int, message: str, ctx: _Ctx | None = None, reason: str | None = None) -> Response:
    headers = {"Content-Type": "application/json"}
    if ctx is not None:
        headers["apigw-requestid"] = ctx.apigw_id
    if reason:
        headers["x-stacklab-reason"] = reason
    return Response(status, headers, json.dumps({"message": message}).encode())


@dataclass
class _Ctx(gw._Ctx):
    apigw_id: str = ""
    route_key: str = ""
    route_path: str = ""
    stage_config: dict[str, Any] | None = None
    cors: dict[str, Any] | None = None
    auto_preflight: bool = False

    def expand(self, text: str) -> str:
        """``text`` with every ``$request...``/``$context.requestId``/``$stageVariables.x`` replaced."""
        return _EXPR.sub(lambda m: self.source("$" + m.group(1)) or "", text)

    def source(self, expr: str) -> str | None:
        """The value of ``$request.header.X`` / ``$request.querystring.X`` / ``$request.path[.X]`` /
        ``$context.requestId`` / ``$stageVariables.X``; other text is returned as is."""
        if expr.startswith("$request.header."):
            return self.headers.get(expr[len("$request.header.") :].lower())
        if expr.startswith("$request.querystring."):
            return self.query.get(expr[len("$request.querystring.") :])
        if expr.startswith("$request.path."):
            return self.path_params.get(expr[len("$request.path.") :])
        if expr == "$request.path":
            return self.path
        if expr.startswith("$stageVariables."):
            return self.stage_variables.get(expr[len("$stageVariables.") :])
        if expr == "$context.requestId":
            return self.apigw_id
        if expr.startswith("$"):
            return None
        return expr


_EXPR = re.compile(
    r"\$\{?(request\.(?:header|querystring|path)(?:\.[\w-]+)?|context\.requestId|stageVariables\.\w+)\}?"
)
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


def request(
    api_id: str,
    stage: str,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | str = b"",
    query: dict[str, str] | None = None,
    client_ip: str = "127.0.0.1",
) -> Response:
    """Call ``METHOD https://API_ID.execute-api.REGION.amazonaws.com[/STAGE]/PATH`` in-process.

    ``stage`` is ``"$default"`` or a stage name; ``path`` starts with ``/`` (without the stage) and may
    carry a query string (merged with ``query``). Raises :class:`InputError` for an unknown HTTP API or
    malformed input; an unknown stage answers ``404 {"message":"Not Found"}``, as on AWS.
    """
    require_str("api_id", api_id)
    require_str("stage", stage)
    require_str("method", method)
    require_str("path", path)
    if method.upper() not in _METHODS:
        raise InputError(f"method must be one of {', '.join(_METHODS)}, got {method!r}.")
    if not path.startswith("/"):
        raise InputError(f"path must start with '/', got {path!r}; e.g. '/items/42'.")
    if headers is not None and not isinstance(headers, dict):
        raise InputError(f"headers must be a dict of header name -> value, got {type(headers).__name__}.")
    if query is not None and not isinstance(query, dict):
        raise InputError(f"query must be a dict of name -> value, got {type(query).__name__}.")
    if isinstance(body, str):
        body = body.encode()
    if not isinstance(body, bytes):
        raise InputError(f"body must be bytes or str, got {type(body).__name__}.")
    require_str("client_ip", client_ip)
    import ipaddress

    try:
        ipaddress.ip_address(client_ip)
    except ValueError:
        raise InputError(f"client_ip must be an IP address such as '203.0.113.10', got {client_ip!r}.") from None
    split = urlsplit(path)
    merged = dict(parse_qsl(split.query, keep_blank_values=True))
    merged.update({str(k): str(v) for k, v in (query or {}).items()})
    from stacklab.sandbox import current

    box = current()
    request_id = gw._request_id()
    ctx = _Ctx(
        api_id=api_id, stage=stage, method=method.upper(), path=unquote(split.path), client_ip=client_ip,
        headers={str(k).lower(): str(v) for k, v in (headers or {}).items()}, query=merged, body=body,
        request_id=request_id, region=box.region, account_id=box.account_id,
        apigw_id=base64.b64encode(bytes.fromhex(request_id.replace("-", ""))[:11]).decode(),
    )  # fmt: skip
    return _handle(ctx)


def _api_object(api_id: str) -> Any:
    from moto.apigatewayv2.exceptions import ApiNotFound

    try:
        api = _backend().get_api(api_id)
    except ApiNotFound:
        raise InputError(f"There is no HTTP API {api_id!r} in the sandbox: use the ApiId that create_api "
                         "returned (get_apis lists them).") from None  # fmt: skip
    if api.protocol_type != "HTTP":
        raise InputError(f"API {api_id!r} is a {api.protocol_type} API; this plane runs HTTP APIs only.")
    return api


def _json(obj: Any) -> dict[str, Any]:
    """A moto object as ``get_api``/``get_stage`` would return it (boto3's shape)."""
    return _boto_shape(json.loads(json.dumps(obj.to_json(), default=str)))


def _handle(ctx: _Ctx) -> Response:
    api_obj = _api_object(ctx.api_id)
    ctx.cors = _json(api_obj).get("CorsConfiguration") or None
    stage_obj = api_obj.stages.get(ctx.stage)
    if stage_obj is None:
        return _message(404, "Not Found", ctx)
    stage = ctx.stage_config = _json(stage_obj)
    ctx.stage_variables = dict(stage.get("StageVariables") or {})
    if stage.get("AutoDeploy"):
        config: dict[str, Any] | None = _live_config_of(api_obj)
    else:
        with _state.lock:
            record = _state.deployments.get(ctx.api_id, {}).get(str(stage.get("DeploymentId")))
        config = None if record is None else record["config"]
    response = _process(ctx, config)
    if ctx.cors and not ctx.auto_preflight:
        _add_cors(ctx, response)
    response.headers.setdefault("apigw-requestid", ctx.apigw_id)
    _record_metrics(ctx, response.status)
    _access_log(ctx, stage, response)
    return response


def _process(ctx: _Ctx, config: dict[str, Any] | None) -> Response:
    route = None if config is None else _route(config["Routes"], ctx)
    if ctx.cors and route is None and _is_preflight(ctx):
        ctx.auto_preflight = True
        return _preflight(ctx)
    if config is None:
        return _message(404, "Not Found", ctx, "the stage has no deployment: create_deployment(ApiId, StageName)")
    if route is None:
        return _message(404, "Not Found", ctx)
    denied = _authorize(ctx, route, {a["AuthorizerId"]: a for a in config["Authorizers"]})
    if denied is not None:
        return denied
    if not _throttle_ok(ctx):
        return _message(429, "Too Many Requests", ctx)
    target = str(route.get("Target") or "")
    integrations = {i["IntegrationId"]: i for i in config["Integrations"]}
    integration = integrations.get(target.removeprefix("integrations/"))
    if integration is None:
        return _message(500, "Internal Server Error", ctx, f"route {ctx.route_key!r} has no integration target")
    return _integrate(ctx, integration)


# ------------------------------------------------------------------------------------ routing


def _route(routes: list[dict[str, Any]], ctx: _Ctx) -> dict[str, Any] | None:
    parts = [p for p in ctx.path.split("/") if p]
    best: tuple | None = None
    chosen = None
    default = None
    for route in routes:
        key = str(route.get("RouteKey") or "")
        if key == "$default":
            default = route
            continue
        verb, _, pattern = key.partition(" ")
        if verb not in (ctx.method, "ANY"):
            continue
        params = _match([p for p in pattern.split("/") if p], parts)
        if params is None:
            continue
        score = (params[1], 1 if verb == ctx.method else 0)
        if best is None or score > best:
            best, chosen = score, (route, params[0], pattern)
    if chosen is not None:
        route, values, pattern = chosen
        ctx.path_params, ctx.route_key, ctx.route_path = values, route["RouteKey"], pattern or "/"
        ctx.resource_path = ctx.route_path
        return route
    if default is not None:
        ctx.route_key, ctx.route_path = "$default", "$default"
        return default
    return None


def _match(pattern: list[str], parts: list[str]) -> tuple[dict[str, str], tuple[int, ...]] | None:
    """Path parameters and a specificity score (2 literal, 1 ``{param}``, 0 greedy per part), or None."""
    values: dict[str, str] = {}
    score: list[int] = []
    for i, seg in enumerate(pattern):
        if seg.startswith("{") and seg.endswith("+}"):
            if i != len(pattern) - 1 or len(parts) <= i:
                return None
            values[seg[1:-2]] = "/".join(parts[i:])
            return values, (*score, 0)
        if i >= len(parts):
            return None
        if seg.startswith("{") and seg.endswith("}"):
            values[seg[1:-1]] = parts[i]
            score.append(1)
        elif seg == parts[i]:
            score.append(2)
        else:
            return None
    return (values, tuple(score)) if len(pattern) == len(parts) else None


# ------------------------------------------------------------------------------------ CORS


def _is_preflight(ctx: _Ctx) -> bool:
    return ctx.method == "OPTIONS" and "origin" in ctx.headers and "access-control-request-method" in ctx.headers


def _origin_allowed(ctx: _Ctx) -> str | None:
    """The ``Access-Control-Allow-Origin`` value for this request, or None when the origin is not allowed."""
    origin = ctx.headers.get("origin")
    allowed = [str(o) for o in (ctx.cors or {}).get("AllowOrigins") or []]
    if not origin:
        return None
    if "*" in allowed:
        return "*"
    if origin in allowed or any(a in ("https://*", "http://*") and origin.startswith(a[:-1]) for a in allowed):
        return origin
    return None


def _preflight(ctx: _Ctx) -> Response:
    cors = ctx.cors or {}
    response = Response(204, {"apigw-requestid": ctx.apigw_id}, b"")
    origin = _origin_allowed(ctx)
    methods = [str(m).upper() for m in cors.get("AllowMethods") or []]
    wanted = ctx.headers.get("access-control-request-method", "").upper()
    if origin is None or not ("*" in methods or wanted in methods):
        return response
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Allow-Methods"] = ",".join(methods)
    if cors.get("AllowHeaders"):
        response.headers["Access-Control-Allow-Headers"] = ",".join(str(h).lower() for h in cors["AllowHeaders"])
    if cors.get("MaxAge") is not None:
        response.headers["Access-Control-Max-Age"] = str(cors["MaxAge"])
    if cors.get("AllowCredentials"):
        response.headers["Access-Control-Allow-Credentials"] = "true"
    return response


def _add_cors(ctx: _Ctx, response: Response) -> None:
    for key in [k for k in response.headers if k.lower() in _CORS_HEADERS]:
        del response.headers[key]  # AWS ignores the integration's CORS headers when CORS is configured
    if _is_preflight(ctx):  # a preflight that a route (OPTIONS, ANY or $default) answered
        response.headers.update({k: v for k, v in _preflight(ctx).headers.items() if k.startswith("Access-")})
        return
    origin = _origin_allowed(ctx)
    if origin is None:
        return
    cors = ctx.cors or {}
    response.headers["Access-Control-Allow-Origin"] = origin
    if cors.get("ExposeHeaders"):
        response.headers["Access-Control-Expose-Headers"] = ",".join(str(h).lower() for h in cors["ExposeHeaders"])
    if cors.get("AllowCredentials"):
        response.headers["Access-Control-Allow-Credentials"] = "true"


# ------------------------------------------------------------------------------------ authorization


def _authorize(ctx: _Ctx, route: dict[str, Any], authorizers: dict[str, dict]) -> Response | None:
    kind = str(route.get("AuthorizationType") or "NONE").upper()
    if kind == "NONE":
        return None
    if kind == "AWS_IAM":
        return _iam(ctx)
    authorizer = authorizers.get(str(route.get("AuthorizerId")))
    if authorizer is None:
        return _message(500, "Internal Server Error", ctx, f"authorizer {route.get('AuthorizerId')!r} not found")
    if kind == "JWT":
        return _jwt(ctx, route, authorizer)
    if kind == "CUSTOM":
        return _lambda_authorizer(ctx, authorizer)
    return _message(500, "Internal Server Error", ctx, f"authorizationType {kind} is not executed by the sandbox")


def _iam(ctx: _Ctx) -> Response | None:
    """SigV4 (``AWS_IAM``) through :mod:`stacklab.planes.sigv4`: signature, then identity policies."""
    from stacklab.planes import sigv4

    query = urlencode(ctx.query, quote_via=quote)
    prefix = "" if ctx.stage == "$default" else f"/{quote(ctx.stage)}"
    target = f"{prefix}{quote(ctx.path, safe='/~')}" + (f"?{query}" if query else "")
    try:
        caller = sigv4.verify(ctx.method, target, ctx.headers, ctx.body, region=ctx.region)
    except sigv4.SigV4Error as exc:
        return Response(exc.status, {"Content-Type": "application/json", "apigw-requestid": ctx.apigw_id}, exc.body)
    if sigv4.identity_decision(caller, ctx.method_arn()) != "allow":
        return _message(403, "Forbidden", ctx)
    ctx.authorizer_context = {"iam": {"accessKey": caller.access_key, "accountId": caller.account_id,
                                      "callerId": caller.principal_id, "userArn": caller.arn,
                                      "userId": caller.principal_id}}  # fmt: skip
    return None


def _jwt(ctx: _Ctx, route: dict[str, Any], authorizer: dict[str, Any]) -> Response | None:
    from joserfc import jwt
    from joserfc.errors import JoseError

    unauthorized = _message(401, "Unauthorized", ctx)
    sources = authorizer.get("IdentitySource") or ["$request.header.Authorization"]
    token = ctx.source(str(sources[0])) if sources else None
    if not token:
        return unauthorized
    token = token.removeprefix("Bearer ").strip()
    config = authorizer.get("JwtConfiguration") or {}
    issuer = str(config.get("Issuer") or "")
    if not re.fullmatch(r"https://cognito-idp\.[a-z0-9-]+\.amazonaws\.com/[\w-]+", issuer):
        unauthorized.headers["x-stacklab-reason"] = "only Cognito user-pool issuers are reachable in the sandbox"
        return unauthorized
    try:
        claims = dict(jwt.decode(token, gw._cognito_keys(), algorithms=["RS256"]).claims)
    except (JoseError, ValueError, TypeError, KeyError, IndexError):
        return unauthorized
    audience = {str(a) for a in config.get("Audience") or []}
    aud = claims.get("aud")
    auds = {str(a) for a in (aud if isinstance(aud, list) else [aud] if aud else [])}
    if claims.get("client_id"):
        auds.add(str(claims["client_id"]))
    if claims.get("iss") != issuer or not auds & audience:
        return unauthorized
    now = gw._now().timestamp()
    issued = gw._state.token_issued.get(str(claims.get("jti")))
    shift = 0.0 if issued is None else issued - float(claims.get("iat", issued))  # sandbox time - wall time
    if "exp" in claims and now >= float(claims["exp"]) + shift:
        return unauthorized
    if "nbf" in claims and now < float(claims["nbf"]) + shift:
        return unauthorized
    granted = str(claims.get("scope") or claims.get("scp") or "").split()
    required = [str(s) for s in route.get("AuthorizationScopes") or []]
    if required and not set(granted) & set(required):
        return _message(403, "Forbidden", ctx)
    ctx.authorizer_context = {
        "jwt": {"claims": {k: v if isinstance(v, str) else json.dumps(v) for k, v in claims.items()},
                "scopes": granted or None},
    }  # fmt: skip
    return None


def _lambda_authorizer(ctx: _Ctx, authorizer: dict[str, Any]) -> Response | None:
    from stacklab.planes import functions

    sources = [str(s) for s in authorizer.get("IdentitySource") or []]
    values = [ctx.source(s) for s in sources]
    if any(not v for v in values):
        return _message(401, "Unauthorized", ctx)
    ttl = int(authorizer.get("AuthorizerResultTtlInSeconds") or 0)
    now = gw._now().timestamp()
    key = (ctx.api_id, authorizer.get("AuthorizerId"), tuple(values))
    with _state.lock:
        cached = _state.auth_cache.get(key)
    if ttl > 0 and cached is not None and cached[0] > now:
        result = cached[1]
    else:
        failure = _message(500, "Internal Server Error", ctx)
        m = gw._LAMBDA_URI.match(gw._substitute_stage_variables(str(authorizer.get("AuthorizerUri") or ""), ctx))
        if not m:
            failure.headers["x-stacklab-reason"] = "AuthorizerUri is not a Lambda invocation URI"
            return failure
        version = str(authorizer.get("AuthorizerPayloadFormatVersion") or "2.0")
        event = functions.authorizer_request_event(
            ctx.method, ctx.path, payload_version=version, headers=dict(ctx.headers), query=dict(ctx.query),
            path_parameters=ctx.path_params, stage_variables=ctx.stage_variables, identity_source=values,
            stage=ctx.stage, api_id=ctx.api_id, account_id=ctx.account_id, source_ip=ctx.client_ip,
            request_id=ctx.apigw_id, time=gw._now(),
        )  # fmt: skip
        if version == "2.0":
            event["routeKey"] = event["requestContext"]["routeKey"] = ctx.route_key
            event["routeArn"] = ctx.method_arn()
        try:
            inv = functions.invoke(m.group(1), event)
            result = json.loads(inv.payload or b"null")
        except (StackLabError, ValueError) as exc:
            failure.headers["x-stacklab-reason"] = f"authorizer invocation failed: {exc}"
            return failure
        if inv.function_error or not isinstance(result, dict):
            failure.headers["x-stacklab-reason"] = "the authorizer failed or returned no JSON object"
            return failure
        if ttl > 0:
            with _state.lock:
                _state.auth_cache[key] = (now + ttl, result)
    if authorizer.get("EnableSimpleResponses"):
        if not isinstance(result.get("isAuthorized"), bool):
            return _message(500, "Internal Server Error", ctx, 'a simple response needs "isAuthorized": true|false')
        if not result["isAuthorized"]:
            return _message(403, "Forbidden", ctx)
    elif gw._authorizer_decision(result.get("policyDocument"), ctx) != "allow":
        return _message(403, "Forbidden", ctx)
    context = result.get("context") or {}
    ctx.authorizer_context = {"lambda": context if isinstance(context, dict) else {}}
    if result.get("principalId") is not None:
        ctx.authorizer_context["principalId"] = result["principalId"]
    return None


# ------------------------------------------------------------------------------------ throttling


def _throttle_ok(ctx: _Ctx) -> bool:
    stage = ctx.stage_config or {}
    default = stage.get("DefaultRouteSettings") or {}
    own = (stage.get("RouteSettings") or {}).get(ctx.route_key) or {}
    rate = float(own.get("ThrottlingRateLimit", default.get("ThrottlingRateLimit", gw.DEFAULT_RATE_LIMIT)))
    burst = float(own.get("ThrottlingBurstLimit", default.get("ThrottlingBurstLimit", gw.DEFAULT_BURST_LIMIT)))
    key = ("http-api", ctx.api_id, ctx.stage, ctx.route_key, rate, burst)
    with gw._state.lock:
        if not gw._bucket_ok(key, rate, burst, gw._now().timestamp()):
            return False
        gw._consume(key)
    return True


# ------------------------------------------------------------------------------------ integrations


def _integrate(ctx: _Ctx, integration: dict[str, Any]) -> Response:
    kind = str(integration.get("IntegrationType") or "").upper()
    timeout_ms = min(float(integration.get("TimeoutInMillis") or DEFAULT_TIMEOUT_MS), DEFAULT_TIMEOUT_MS)
    start = gw._now().timestamp()
    if kind == "AWS_PROXY":
        response, nominal = _lambda(ctx, integration)
    elif kind == "HTTP_PROXY":
        response, nominal = _http_proxy(ctx, integration, timeout_ms), gw.NOMINAL_INTEGRATION_MS["HTTP_PROXY"]
    else:
        return _message(500, "Internal Server Error", ctx, f"integration type {kind} is not executed by the sandbox")
    ctx.integration_ms = nominal + (gw._now().timestamp() - start) * 1000.0
    if kind == "AWS_PROXY" and ctx.integration_ms > timeout_ms:
        return _message(503, "Service Unavailable", ctx, f"the integration took longer than {timeout_ms:.0f} ms")
    return response


def _lambda_arn(uri: str) -> str | None:
    m = gw._LAMBDA_URI.match(uri)
    if m:
        return m.group(1)
    return uri if uri.startswith("arn:aws:lambda:") else None


def _lambda(ctx: _Ctx, integration: dict[str, Any]) -> tuple[Response, float]:
    from stacklab.planes import functions

    arn = _lambda_arn(gw._substitute_stage_variables(str(integration.get("IntegrationUri") or ""), ctx))
    if arn is None:
        return _message(500, "Internal Server Error", ctx, "IntegrationUri is not a Lambda function ARN"), 0.0
    version = str(integration.get("PayloadFormatVersion") or "2.0")
    try:
        text: str | bytes | None = ctx.body.decode("utf-8") if ctx.body else None
    except UnicodeDecodeError:
        text = ctx.body
    common = dict(headers=dict(ctx.headers), query=dict(ctx.query), path_parameters=ctx.path_params,
                  stage_variables=ctx.stage_variables, body=text, stage=ctx.stage, api_id=ctx.api_id,
                  account_id=ctx.account_id, source_ip=ctx.client_ip, time=gw._now())  # fmt: skip
    if version == "1.0":
        event = functions.api_gateway_proxy_v1_event(
            ctx.method, ctx.path, resource=ctx.route_path, request_id=ctx.apigw_id, authorizer=ctx.authorizer_context,
            **common,
        )  # fmt: skip
        event["version"] = "1.0"
    else:
        event = functions.api_gateway_proxy_v2_event(
            ctx.method, ctx.path, route_key=ctx.route_key, request_id=ctx.apigw_id,
            authorizer=ctx.authorizer_context, **common,
        )  # fmt: skip
    before = gw._now()
    try:
        inv = functions.invoke(arn, event)
    except StackLabError as exc:
        return _message(500, "Internal Server Error", ctx, f"Lambda invocation failed: {exc}"), 0.0
    # Duration already includes the clock's movement during the handler, which the caller adds itself.
    moved_ms = (gw._now() - before).total_seconds() * 1000
    nominal = max(0.0, float(inv.duration_ms or 0.0) - moved_ms)
    if inv.function_error:
        return _message(500, "Internal Server Error", ctx), nominal
    try:
        result = json.loads(inv.payload or b"null")
    except ValueError:
        result = None
    mapped = gw._map_proxy_result(result) if version == "1.0" else _map_v2(result)
    if mapped is None:
        return _message(500, "Internal Server Error", ctx, "malformed Lambda proxy response"), nominal
    return mapped, nominal


def _map_v2(result: Any) -> Response | None:
    """A payload 2.0 Lambda response → HTTP response (AWS's rules); None when malformed."""
    if not (isinstance(result, dict) and "statusCode" in result):
        if result is None:
            return None
        body = result if isinstance(result, str) else json.dumps(result)
        return Response(200, {"Content-Type": "application/json"}, body.encode())
    cookies = result.get("cookies") or []
    if not isinstance(cookies, list):
        return None
    mapped = gw._map_proxy_result({k: v for k, v in result.items() if k != "cookies"})
    if mapped is None:
        return None
    spellings = _spellings("Set-Cookie")
    for cookie in cookies:  # one header line each: distinct spellings of the same (case-insensitive) name
        mapped.headers[next(spellings)] = str(cookie)
    return mapped


def _spellings(name: str) -> Any:
    """``name`` then other case spellings of it, so that a response dict can repeat a header."""
    letters = [i for i, c in enumerate(name) if c.isalpha()]
    for n in range(2 ** len(letters)):
        chars = list(name)
        for bit, pos in enumerate(letters):
            if n >> bit & 1:
                chars[pos] = chars[pos].swapcase()
        yield "".join(chars)


def _http_proxy(ctx: _Ctx, integration: dict[str, Any], timeout_ms: float) -> Response:
    uri = gw._substitute_stage_variables(str(integration.get("IntegrationUri") or ""), ctx)
    uri = re.sub(r"\{([^}]+?)\+?\}", lambda m: quote(ctx.path_params.get(m.group(1), ""), safe="/"), uri)
    split = urlsplit(uri)
    if split.scheme not in ("http", "https") or split.hostname not in gw._LOOPBACK_HOSTS:
        return _message(500, "Internal Server Error", ctx, f"the sandbox only reaches 127.0.0.1, not {uri!r}")
    path = split.path or "/"
    headers = {k: v for k, v in ctx.headers.items() if k not in gw._HOP_BY_HOP}
    query = dict(ctx.query)
    for target, expr in (integration.get("RequestParameters") or {}).items():
        action, _, where = str(target).partition(":")
        value = ctx.expand(str(expr))
        if where == "path" and action == "overwrite":
            path = value or "/"
            continue
        place, _, name = where.partition(".")
        table = headers if place == "header" else query if place == "querystring" else None
        if table is None or not name:
            continue
        if place == "header":
            name = name.lower()
        if action == "remove":
            table.pop(name, None)
        elif value is not None:
            table[name] = f"{table[name]},{value}" if action == "append" and name in table else value
    target_url = f"{split.scheme}://{split.netloc}{path}"
    merged = dict(parse_qsl(split.query, keep_blank_values=True)) | query
    if merged:
        target_url += "?" + urlencode(merged)
    verb = str(integration.get("IntegrationMethod") or "ANY").upper()
    verb = ctx.method if verb == "ANY" else verb
    req = urllib.request.Request(target_url, data=ctx.body or None, method=verb, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout_ms / 1000.0) as resp:  # noqa: S310 - loopback only (checked)
            status, resp_headers, payload = resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as exc:
        status, resp_headers, payload = exc.code, dict(exc.headers.items()), exc.read()
    except TimeoutError:
        return _message(503, "Service Unavailable", ctx, "the backend did not answer within TimeoutInMillis")
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            return _message(503, "Service Unavailable", ctx, "the backend did not answer within TimeoutInMillis")
        return _message(500, "Internal Server Error", ctx, f"could not reach {target_url}: {exc.reason}")
    kept = {k: v for k, v in resp_headers.items() if k.lower() not in gw._HOP_BY_HOP | {"server", "date"}}
    return Response(status, kept, payload)


# ------------------------------------------------------------------------------------ metrics


def _record_metrics(ctx: _Ctx, status: int) -> None:
    when: datetime = gw._now()
    integration_ms = ctx.integration_ms
    latency = integration_ms + gw.GATEWAY_OVERHEAD_MS if integration_ms is not None else 0.0
    api = ("ApiId", ctx.api_id)
    dim_sets: list[tuple] = [(api,), (api, ("Stage", ctx.stage))]
    stage = ctx.stage_config or {}
    own = (stage.get("RouteSettings") or {}).get(ctx.route_key) or {}
    default = stage.get("DefaultRouteSettings") or {}
    detailed = own.get("DetailedMetricsEnabled", default.get("DetailedMetricsEnabled"))
    if detailed and ctx.route_key:
        method = ctx.route_key.split(" ")[0] if " " in ctx.route_key else "ANY"
        dim_sets.append((api, ("Method", method), ("Resource", ctx.route_path), ("Stage", ctx.stage)))
    values = [("Count", 1.0), ("4xx", 1.0 if 400 <= status < 500 else 0.0), ("5xx", 1.0 if status >= 500 else 0.0),
              ("Latency", latency)]  # fmt: skip
    if integration_ms is not None:
        values.append(("IntegrationLatency", integration_ms))
    with gw._state.lock:
        for dims in dim_sets:
            for name, value in values:
                gw._state.metrics.append((name, dims, when, value))
        full = len(gw._state.metrics) >= gw._FLUSH_AT
    if full:
        flush_metrics()


def _access_log(ctx: _Ctx, stage: dict[str, Any], response: Response) -> None:
    """One access-log line when the stage has ``AccessLogSettings`` (formatter of :mod:`access_logs`)."""
    settings = stage.get("AccessLogSettings") or {}
    if not settings.get("DestinationArn") or not settings.get("Format"):
        return
    from stacklab.planes import access_logs

    try:
        group = access_logs.log_group_name(str(settings["DestinationArn"]))
    except InputError as exc:
        access_logs._note(str(exc))
        return
    latency = ctx.integration_ms + gw.GATEWAY_OVERHEAD_MS if ctx.integration_ms is not None else 0.0
    values = access_logs.context_of(ctx, response, latency)
    values.update({
        "requestId": ctx.apigw_id, "extendedRequestId": ctx.apigw_id, "routeKey": ctx.route_key or None,
        "path": ctx.path if ctx.stage == "$default" else f"/{ctx.stage}{ctx.path}", "resourcePath": None,
        "authorizer.error": response.text if response.status in (401, 403) and ctx.route_key else None,
    })  # fmt: skip
    access_logs._write(group, access_logs.stream_name(ctx.api_id, ctx.stage), access_logs.render(
        str(settings["Format"]), values))  # fmt: skip


# ------------------------------------------------------------------------------------ HTTP


def _handler_for(api_id: str) -> Callable[[Request], Response]:
    def handle(req: Request) -> Response:
        target = urlsplit(req.target)
        if req.method not in _METHODS:
            return _message(404, "Not Found")
        parts = target.path.split("/", 2)
        stage, path = "$default", target.path
        first = unquote(parts[1]) if len(parts) > 1 else ""
        try:
            if first and first != "$default" and first in _api_object(api_id).stages:
                stage, path = first, "/" + (parts[2] if len(parts) > 2 else "")
            query = dict(parse_qsl(target.query, keep_blank_values=True))
            return request(api_id, stage, req.method, path, headers=req.headers, body=req.body, query=query,
                           client_ip=req.client_ip)  # fmt: skip
        except InputError as exc:
            return _message(400, str(exc))
        except Exception:  # noqa: BLE001 - never let a server thread die silently
            return _message(500, "Internal Server Error")

    return handle


def serve(api_id: str) -> LocalServer:
    """Serve the HTTP API on 127.0.0.1: ``http://127.0.0.1:PORT/PATH`` ($default) or ``.../STAGE/PATH``."""
    require_str("api_id", api_id)
    _api_object(api_id)
    from stacklab.planes.http import serve as http_serve

    server = http_serve(f"http-api-{api_id}", _handler_for(api_id))
    gw._no_delay(server)
    return server


def url(api_id: str, stage: str = "$default") -> str:
    """The stage's invoke URL over loopback: ``http://127.0.0.1:PORT/`` for ``$default``, else ``.../STAGE/``."""
    require_str("stage", stage)
    if "/" in stage:
        raise InputError(f"stage must be a stage name such as 'prod' or '$default', got {stage!r}.")
    base = serve(api_id).url
    return f"{base}/" if stage == "$default" else f"{base}/{quote(stage)}/"

"""Amazon API Gateway REST APIs (v1), executed: what moto stores, this plane runs.

moto keeps REST APIs but executes almost nothing (no MOCK, no Lambda proxy, no path parameters, no
query strings, no API keys, usage plans or resource policies, and no deployment snapshots). This plane
answers like ``https://API.execute-api.REGION.amazonaws.com/STAGE/PATH``: in-process with
:func:`request`, or over real HTTP on 127.0.0.1 with :func:`serve` / :func:`url`
(``http://127.0.0.1:PORT/{stage}/{path}``).

**Deployments are snapshots.** On AWS a stage runs the deployment it points at; a change to a
resource, method or integration is invisible until the next ``create_deployment``. moto does not
snapshot, so this module wraps moto's ``RestAPI.create_deployment`` (in the kernel's process, so it sees
boto3 calls made by any client *and* AWS CLI calls answered by the sandbox's moto server) and records,
at that instant, the API's resources with their methods and integrations exactly as ``get_resources``
would return them, plus the API's name and resource policy (on AWS a policy change needs a redeploy
too). The wrapper is installed when this module is imported; a deployment created before that (none
in the course, which imports the plane first) is snapshotted the first time a request reaches it, from
the configuration at that moment. The snapshot also keeps the API's authorizers (moto 5.2.5 drops
``identityValidationExpression`` because of a misspelt keyword; a wrapper of moto's ``Authorizer`` keeps
it). Everything else is read from the sandbox with boto3 on **every** request: the stage
(``get_stage``: which deployment, stage variables, ``methodSettings``), API keys and usage plans.
``stacklab.reset()`` forgets the snapshots (deployment ids are re-seeded).

Request processing, in AWS's order:

1. stage: unknown → ``403 {"message":"Missing Authentication Token"}``, as AWS answers on the
   ``execute-api`` endpoint (it does not reveal whether a stage or path exists);
2. routing over the deployed resources: literal path parts win over ``{param}``, which wins over a
   greedy ``{proxy+}`` (one or more parts); then the method, else ``ANY``. No match →
   ``403 {"message":"Missing Authentication Token"}`` (what AWS answers for an unknown path/method);
3. for ``AWS_IAM`` methods, SigV4 authentication (:mod:`stacklab.planes.sigv4`: missing, malformed,
   expired, unknown-key and wrong signatures → 403 with AWS's messages); then the resource policy
   (``execute-api:Invoke``; principals ``*``, and for signed callers ``{"AWS": USER_OR_ROLE_ARN}`` or
   the account, ``ACCOUNT`` / ``arn:aws:iam::ACCOUNT:root``, which only delegates to identity policies
   as in IAM; ``aws:SourceIp`` with ``IpAddress``/``NotIpAddress``, ``aws:SourceVpce`` with
   ``StringEquals``/``StringNotEquals``, from ``request(..., source_vpce=...)`` or an
   ``x-stacklab-source-vpce`` header standing in for an interface VPC endpoint). Without IAM the
   policy must allow (explicit Deny wins) → 403 ``User: anonymous is not authorized ...``; with IAM
   the caller's identity policies and the resource policy combine as AWS's table for a caller in the
   API's account says — allowed when either allows and neither denies — else
   ``403 {"Message":"User: CALLER_ARN is not authorized to perform: execute-api:Invoke on resource:
   METHOD_ARN"}`` (`` with an explicit deny`` appended for a Deny; as on AWS, the account id in both
   ARNs is masked but for its last 4 digits: ``arn:aws:iam::********9012:user/ana``). The caller
   reaches the Lambda proxy event's ``requestContext.identity``. Statements naming other principals
   or using other condition keys are not applied; callers from other accounts do not exist in the
   sandbox. Then a Lambda authorizer (see below);
4. API key (methods with ``apiKeyRequired``; ``x-api-key`` header): missing, unknown, disabled, or not in
   a usage plan of this stage → ``403 {"message":"Forbidden"}``;
5. throttling by token buckets on the **sandbox clock** (capacity = burst, refilled at rate per
   second; start full): the stage's ``methodSettings`` (per method, else ``*/*``, else AWS's account
   default 10,000 rps / 5,000 burst), the usage plan's per-method throttle (``apiStages[].throttle``)
   and the plan's throttle → ``429 {"message":"Too Many Requests"}``; then the plan's quota per
   ``DAY``/``WEEK``/``MONTH`` (periods start at 00:00 UTC, weeks on Sunday, months on the 1st; ``offset``
   is, as AWS's API reference says, the number of requests subtracted from the limit in the initial
   period, here the first period in which the plane sees the plan used) →
   ``429 {"message":"Limit Exceeded"}``. A refused request consumes nothing;
   changing a rate or burst starts a new, full bucket. Keys come from the ``x-api-key`` header only
   (``apiKeySource`` ``AUTHORIZER`` is not supported);
6. the integration, after ``${stageVariables.x}`` and ``{param}`` substitution in its URI:

   * ``MOCK``: the request template (``application/json``) gives ``{"statusCode": N}``;
   * ``HTTP_PROXY``: method, headers, query string and body go to a **loopback** backend and its
     status, headers and body come back; ``HTTP``: the request template (or passthrough) and the
     integration responses; timeout ``timeoutInMillis`` (default 29,000 ms) → ``504``;
   * ``AWS_PROXY`` to Lambda through :mod:`stacklab.planes.functions` (proxy v1 event; the response's
     ``statusCode``/``headers``/``multiValueHeaders``/``body``/``isBase64Encoded`` mapped back; a
     function error or a malformed response → ``502 {"message":"Internal server error"}``); a qualifier
     in the URI (e.g. ``:${stageVariables.version}``) selects an alias or version;
   * ``AWS`` service integration for S3 (``arn:aws:apigateway:REGION:s3:path/{bucket}/{key}``, PUT/GET/
     DELETE of an object in a sandbox bucket), ``{bucket}``/``{key}`` filled from ``requestParameters``.

   Non-proxy integrations pick the integration response whose ``selectionPattern`` (a regular
   expression) matches the status code, else the default one; no match → 500. Its
   ``responseParameters`` set ``method.response.header.X`` from ``'literal'``,
   ``integration.response.header.Y`` or ``integration.response.body[.JSON.path]`` — only for headers
   the method response of that status declares (``put_method_response(responseParameters=...)``; AWS
   refuses other mappings, moto stores them, the plane skips them and says so in ``x-stacklab-reason``).
   This is what makes the REST CORS pattern work: a ``MOCK`` ``OPTIONS`` method whose integration
   response maps the ``Access-Control-Allow-*`` headers from literals.

   ``connectionType`` ``VPC_LINK`` (HTTP/HTTP_PROXY): the VPC link named by ``connectionId`` (an id from
   ``create_vpc_link``, or ``${stageVariables.vpcLinkId}``; moto drops ``connectionId``, which
   :mod:`stacklab.planes.stage_cache` keeps) must exist and be ``AVAILABLE``, else 500 with the reason in
   ``x-stacklab-reason``. On AWS the link reaches a Network Load Balancer inside a VPC; here the
   integration URI on 127.0.0.1 stands in for that load balancer (the link's ``targetArns`` are not
   resolved).

   **Stage caching** (:mod:`stacklab.planes.stage_cache`) answers between the throttles and the
   integration: a hit skips the integration. **Access logs** (:mod:`stacklab.planes.access_logs`): every
   request of a stage with ``accessLogSettings`` writes one line in its format to CloudWatch Logs.

**Mapping templates** support the subset used in practice: literal text/JSON with ``$input.json('$')``
(or ``'$.a.b'``), ``$input.body``, ``$input.params('x')`` (path, then query string, then header),
``$input.params().path|querystring|header.x`` not supported; ``$context.requestId``, ``$context.stage``,
``$context.httpMethod``, ``$context.resourcePath``, ``$context.identity.sourceIp``,
``$stageVariables.x`` / ``${stageVariables.x}``. No ``#if``/``#foreach`` or ``$util``.

**Metrics**: each request records ``Count``, ``4XXError``, ``5XXError``, ``Latency`` and
``IntegrationLatency`` (plus ``CacheHitCount``/``CacheMissCount`` for cached methods; a hit records no
``IntegrationLatency`` and a ``Latency`` of the gateway overhead) under ``AWS/ApiGateway`` with
dimensions ``ApiName``, ``ApiName+Stage`` and, when
detailed metrics are on (``methodSettings`` ``metricsEnabled``), ``ApiName+Method+Resource+Stage``,
timestamped by the sandbox clock. They are buffered and written with ``put_metric_data`` by
:func:`flush_metrics` (AWS also publishes with a delay). Latencies are **simulated** so outputs are
stable: IntegrationLatency is a nominal figure per integration (MOCK 0 ms, HTTP 12 ms, S3 8 ms, Lambda
its REPORT ``Duration`` from the functions plane) plus any time the sandbox clock moved during the
integration; Latency adds a nominal 4 ms of gateway overhead (0 ms when no integration ran).

**Lambda authorizers** (``authorizationType`` ``CUSTOM``; the authorizers are part of the deployment
snapshot): ``TOKEN`` (identity source ``method.request.header.Authorization`` by default, optional
``identityValidationExpression``) and ``REQUEST`` (headers, query string, stage variables); a missing
identity source (or a token failing the expression) → ``401 {"message":"Unauthorized"}`` without calling
the function (for ``REQUEST`` only while caching is on, as on AWS); the function raising
``Exception("Unauthorized")`` → 401; the returned ``policyDocument`` is evaluated against the method ARN
(explicit Deny → ``403 {"Message":"User is not authorized to access this resource with an explicit
deny"}``, no Allow → ``403 {"Message":"User is not authorized to access this resource"}``); a failing or
malformed authorizer → ``500 {"message": null}``. The result is cached per identity-source values for
``authorizerResultTtlInSeconds`` (default 300, 0 = off) on the sandbox clock, and the *cached policy* is
evaluated for later methods, as on AWS. ``context`` and ``principalId`` reach the Lambda proxy event's
``requestContext.authorizer``. Order: routing, resource policy, authorizer, API key, throttles.

**Stages and canaries.** moto replaces the stage object on every ``create_deployment`` (losing its
``methodSettings``) and drops ``canarySettings``; the same wrappers keep the stage (only its
``deploymentId`` moves, variables passed are merged) and keep what the learner sent: a
``create_deployment(..., canarySettings={...})`` on an existing stage leaves the stage on its current
deployment and makes the new one the canary (``get_stage`` shows ``canarySettings``, as on AWS);
``update_stage`` handles ``/canarySettings/percentTraffic``, ``/canarySettings/stageVariableOverrides/x``,
``/canarySettings/deploymentId``, ``remove /canarySettings`` and the promotion ``copy`` operations
(``from /canarySettings/deploymentId`` to ``/deploymentId``, ``from /canarySettings/stageVariableOverrides``
to ``/variables``), which crash moto. Each request goes to the canary with probability
``percentTraffic`` / 100, drawn from a generator seeded from the sandbox seed (so a split is measurable
and the same on every run); the canary uses its deployment's snapshot and the stage variables with the
overrides. Every response carries ``x-stacklab-deployment`` (the deployment that served it; not an AWS
header) so a lesson can count the split. Canary requests are not given separate metrics or logs.

**Cognito user-pool authorizers** (``COGNITO_USER_POOLS``): the token from the identity source
(``Authorization``, an optional ``Bearer`` prefix accepted) is verified with joserfc against the pools'
JWKS (RS256 only, so ``alg: none`` and tampered tokens fail), its ``iss`` must be one of the
authorizer's ``providerARNs``, it must not be expired — judged on the **sandbox clock** from the moment
moto issued it (the plane records it, since moto dates tokens with the wall clock) — and it must be an
ID token, or, when the method has ``authorizationScopes``, an access token carrying one of them; any
failure → ``401 {"message":"Unauthorized"}``. The claims reach ``requestContext.authorizer.claims``.

Not implemented (said in the lessons): presigned (query-string) SigV4 requests and cross-account IAM
callers, request validation, gateway responses, Lambda permission checks (``add_permission``),
integration ``credentials`` roles, binary media types (bodies are passed as text when they decode as
UTF-8), execution logs.
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import json
import random
import re
import socket
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from stacklab._validate import require_str
from stacklab.errors import InputError, StackLabError
from stacklab.planes import access_logs, stage_cache
from stacklab.planes.http import LocalServer, Request, Response

__all__ = [
    "DEFAULT_AUTHORIZER_TTL",
    "DEFAULT_BURST_LIMIT",
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_TIMEOUT_MS",
    "GATEWAY_OVERHEAD_MS",
    "NOMINAL_INTEGRATION_MS",
    "Response",
    "clear",
    "deployment_snapshot",
    "flush_metrics",
    "request",
    "serve",
    "url",
]

#: AWS's default account-level throttle (requests per second, burst) for REST APIs.
DEFAULT_RATE_LIMIT = 10_000.0
DEFAULT_BURST_LIMIT = 5_000
#: Default (and maximum) integration timeout of REST APIs.
DEFAULT_TIMEOUT_MS = 29_000
#: Simulated latencies (ms), see the module docstring.
GATEWAY_OVERHEAD_MS = 4.0
NOMINAL_INTEGRATION_MS = {"MOCK": 0.0, "HTTP": 12.0, "HTTP_PROXY": 12.0, "AWS": 8.0, "AWS_PROXY": 0.0}
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "host", "content-length", "te"}
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
_FLUSH_AT = 5_000


# ------------------------------------------------------------------------------------ state


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.snapshots: dict[tuple[str, str], dict[str, Any]] = {}
        self.buckets: dict[tuple, list[float]] = {}
        self.quotas: dict[tuple, Any] = {}
        self.auth_cache: dict[tuple, tuple[float, dict]] = {}
        self.token_issued: dict[str, float] = {}
        self.metrics: list[tuple[str, tuple, datetime, float]] = []
        self.ids: random.Random | None = None
        self.canary_rng: random.Random | None = None
        self.client: tuple[Any, Any] | None = None
        self.clients: dict[str, Any] = {}


_state = _State()


def clear() -> None:
    """Forget snapshots, throttle buckets, quota counters and unflushed metrics (``reset()`` calls it)."""
    with _state.lock:
        _state.snapshots.clear()
        _state.buckets.clear()
        _state.quotas.clear()
        _state.auth_cache.clear()
        _state.token_issued.clear()
        _state.metrics.clear()
        _state.ids = None
        _state.canary_rng = None
        _state.clients.clear()


_pending = threading.local()


def _install() -> None:
    """Wrap moto's API Gateway models once (idempotent): deployment snapshots, stages kept across
    redeployments, canary settings kept, ``identityValidationExpression`` kept (see module docstring)."""
    from moto.apigateway import models, responses

    original = models.RestAPI.create_deployment
    if getattr(original, "_stacklab_snapshot", False):
        return

    def create_deployment(self: Any, name: Any = None, *args: Any, **kwargs: Any) -> Any:
        previous = self.stages.get(name) if name else None
        canary = getattr(_pending, "canary", None)
        deployment = original(self, name, *args, **kwargs)
        snap = _snapshot_of(self)
        with _state.lock:
            _state.snapshots[(self.id, deployment.id)] = snap
        if previous is not None:
            # AWS keeps the stage (its settings, variables, canary) and only points it at the new
            # deployment; moto replaces the Stage object, losing methodSettings. Keep the old one.
            fresh = self.stages[name]
            previous.variables.update(fresh.variables or {})
            if canary:
                previous.canary_settings = {
                    "deploymentId": deployment.id,
                    "percentTraffic": float(canary.get("percentTraffic") or 0.0),
                    "stageVariableOverrides": dict(canary.get("stageVariableOverrides") or {}),
                    "useStageCache": bool(canary.get("useStageCache", False)),
                }
            else:
                previous.deployment_id = fresh.deployment_id
            self.stages[name] = previous
        return deployment

    create_deployment._stacklab_snapshot = True  # type: ignore[attr-defined]
    models.RestAPI.create_deployment = create_deployment

    # moto drops canarySettings in the request: remember them while the deployment is created.
    handler = responses.APIGatewayResponse.create_deployment

    def create_deployment_response(self: Any) -> Any:
        _pending.canary = self._get_param("canarySettings")
        try:
            return handler(self)
        finally:
            _pending.canary = None

    responses.APIGatewayResponse.create_deployment = create_deployment_response

    to_json = models.Stage.to_json

    def stage_to_json(self: Any) -> dict[str, Any]:
        out = to_json(self)
        if getattr(self, "canary_settings", None):
            out["canarySettings"] = copy.deepcopy(self.canary_settings)
        return out

    models.Stage.to_json = stage_to_json

    apply_operations = models.Stage.apply_operations

    def stage_apply_operations(self: Any, patch_operations: list[dict[str, Any]]) -> Any:
        rest = [op for op in patch_operations if not _canary_operation(self, op)]
        return apply_operations(self, rest)

    models.Stage.apply_operations = stage_apply_operations

    # moto 5.2.5 passes identityValidationExpression as ``identiy_validation_expression`` (sic) and
    # the Authorizer never stores it: keep what the learner sent.
    init = models.Authorizer.__init__

    def authorizer_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        if not self.identity_validation_expression:
            self.identity_validation_expression = kwargs.get("identiy_validation_expression")

    models.Authorizer.__init__ = authorizer_init

    # moto dates Cognito tokens with the wall clock; remember when (on the sandbox clock) each was
    # issued so that expiry can be judged on the sandbox clock.
    from moto.cognitoidp import models as cognito

    create_jwt = cognito.CognitoIdpUserPool.create_jwt

    def create_jwt_recorded(self: Any, *args: Any, **kwargs: Any) -> Any:
        token, expires_in = create_jwt(self, *args, **kwargs)
        try:
            from stacklab.sandbox import current

            claims = _unverified_claims(token)
            with _state.lock:
                _state.token_issued[str(claims.get("jti"))] = current().clock.time()
        except Exception:  # noqa: BLE001 - recording is best effort; expiry then uses the token's own times
            pass
        return token, expires_in

    cognito.CognitoIdpUserPool.create_jwt = create_jwt_recorded


def _canary_operation(stage: Any, op: dict[str, Any]) -> bool:
    """Apply one ``update_stage`` patch operation about the canary; False when it is not one."""
    path, source = str(op.get("path", "")), str(op.get("from", ""))
    canary = getattr(stage, "canary_settings", None)
    if op.get("op") == "copy" and source.startswith("/canarySettings"):
        if canary:
            if source == "/canarySettings/deploymentId" and path == "/deploymentId":
                stage.deployment_id = canary["deploymentId"]  # promotion
            elif source == "/canarySettings/stageVariableOverrides" and path == "/variables":
                stage.variables.update(canary.get("stageVariableOverrides") or {})
        return True
    if not path.startswith("/canarySettings"):
        return False
    if op.get("op") == "remove" and path == "/canarySettings":
        stage.canary_settings = None
        return True
    if canary is None:
        return True
    if path == "/canarySettings/percentTraffic":
        canary["percentTraffic"] = float(op.get("value") or 0.0)
    elif path == "/canarySettings/deploymentId":
        canary["deploymentId"] = op.get("value")
    elif path == "/canarySettings/useStageCache":
        canary["useStageCache"] = str(op.get("value")).lower() == "true"
    elif path.startswith("/canarySettings/stageVariableOverrides/"):
        name = path.rsplit("/", 1)[1]
        if op.get("op") == "remove":
            canary["stageVariableOverrides"].pop(name, None)
        else:
            canary["stageVariableOverrides"][name] = op.get("value")
    return True


def _snapshot_of(api: Any) -> dict[str, Any]:
    """What a deployment freezes, in ``get_resources(embed=['methods'])`` shape (deep-copied)."""
    resources = json.loads(json.dumps([r.to_dict() for r in api.resources.values()], default=str))
    authorizers = json.loads(json.dumps({k: a.to_json() for k, a in api.authorizers.items()}, default=str))
    return {"name": api.name, "policy": api.policy, "resources": resources, "authorizers": authorizers}


def _hooks() -> None:
    from stacklab.sandbox import on_reset, on_stop

    on_reset(clear)
    on_stop(clear)


_install()
_hooks()


def _client(service: str) -> Any:
    import boto3

    from stacklab.sandbox import client, current

    key = f"{service}:{id(current())}:{id(boto3.DEFAULT_SESSION)}"
    with _state.lock:
        found = _state.clients.get(key)
        if found is None:
            _state.clients = {k: v for k, v in _state.clients.items() if k.split(":", 1)[1] == key.split(":", 1)[1]}
            found = _state.clients[key] = client(service)
        return found


def _request_id() -> str:
    from stacklab.sandbox import current

    with _state.lock:
        if _state.ids is None:
            _state.ids = random.Random(f"stacklab-gateway-{current().seed}")
        return str(uuid.UUID(int=_state.ids.getrandbits(128), version=4))


def _canary_draw() -> float:
    """A number in [0, 1) from the canary's generator, seeded from the sandbox seed (re-seeded by reset)."""
    from stacklab.sandbox import current

    with _state.lock:
        if _state.canary_rng is None:
            _state.canary_rng = random.Random(f"stacklab-gateway-canary-{current().seed}")
        return _state.canary_rng.random()


def _now() -> datetime:
    from stacklab.sandbox import current

    return current().clock.now()


def _error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def deployment_snapshot(api_id: str, deployment_id: str) -> dict[str, Any]:
    """The frozen configuration of a deployment: ``{"name", "policy", "resources", "authorizers"}`` (a copy).

    Raises :class:`InputError` when the API has no such deployment.
    """
    require_str("api_id", api_id)
    require_str("deployment_id", deployment_id)
    return copy.deepcopy(_snapshot(api_id, deployment_id))


def _snapshot(api_id: str, deployment_id: str) -> dict[str, Any]:
    with _state.lock:
        snap = _state.snapshots.get((api_id, deployment_id))
    if snap is not None:
        return snap
    # A deployment made before this module was imported: freeze what is there now (documented).
    from moto.apigateway.models import apigateway_backends

    from stacklab.sandbox import current

    box = current()
    try:
        api = apigateway_backends[box.account_id][box.region].get_rest_api(api_id)
        if deployment_id not in api.deployments:
            raise KeyError(deployment_id)
    except Exception:  # noqa: BLE001 - moto raises its own NotFound types
        raise InputError(
            f"REST API {api_id!r} has no deployment {deployment_id!r}: create one with "
            "create_deployment(restApiId=..., stageName=...)."
        ) from None
    snap = _snapshot_of(api)
    with _state.lock:
        return _state.snapshots.setdefault((api_id, deployment_id), snap)


# ------------------------------------------------------------------------------------ responses


def _json_response(status: int, message: str, ctx: _Ctx | None = None, error_type: str | None = None) -> Response:
    headers = {"Content-Type": "application/json"}
    if ctx is not None:
        headers["x-amzn-RequestId"] = ctx.request_id
    if error_type:
        headers["x-amzn-ErrorType"] = error_type
    return Response(status, headers, json.dumps({"message": message}).encode())


@dataclass
class _Ctx:
    api_id: str
    stage: str
    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    body: bytes
    client_ip: str
    request_id: str
    region: str = "us-east-1"
    account_id: str = "123456789012"
    stage_variables: dict[str, str] = field(default_factory=dict)
    path_params: dict[str, str] = field(default_factory=dict)
    resource_path: str = ""
    integration_ms: float | None = None
    authorizer_context: dict[str, Any] | None = None
    canary: bool = False
    source_vpce: str | None = None
    caller: Any = None  # the sigv4.Caller of an AWS_IAM method's request
    cache: str | None = None  # "hit" / "miss" when the method is cached (stage_cache)
    method_responses: dict[str, Any] = field(default_factory=dict)

    def method_arn(self) -> str:
        return (
            f"arn:aws:execute-api:{self.region}:{self.account_id}:{self.api_id}/{self.stage}/{self.method}"
            f"{quote(self.path, safe='/')}"
        )


# ------------------------------------------------------------------------------------ public API


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
    source_vpce: str | None = None,
) -> Response:
    """Call ``METHOD https://API_ID.execute-api.REGION.amazonaws.com/STAGE/PATH`` in-process.

    ``path`` starts with ``/`` and may carry a query string (merged with ``query``). ``source_vpce``
    (e.g. ``"vpce-1a2b3c4d"``) stands for arriving through that interface VPC endpoint: it is the
    ``aws:SourceVpce`` of resource policies (over HTTP, send an ``x-stacklab-source-vpce`` header,
    which is not an AWS header). Returns the gateway's :class:`Response`. Raises :class:`InputError`
    for an unknown API or malformed input; an unknown stage answers 403 "Missing Authentication
    Token", as on AWS.
    """
    require_str("api_id", api_id)
    require_str("stage", stage)
    require_str("method", method)
    require_str("path", path)
    method = method.upper()
    if method not in _METHODS:
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
    try:
        ipaddress.ip_address(client_ip)
    except ValueError:
        raise InputError(f"client_ip must be an IP address such as '203.0.113.10', got {client_ip!r}.") from None
    lowered = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
    if source_vpce is None:
        source_vpce = lowered.get("x-stacklab-source-vpce")
    if source_vpce is not None and not re.fullmatch(r"vpce-[0-9a-z]+", require_str("source_vpce", source_vpce)):
        raise InputError(f"source_vpce must be a VPC endpoint id such as 'vpce-1a2b3c4d', got {source_vpce!r}.")
    split = urlsplit(path)
    merged_query = dict(parse_qsl(split.query, keep_blank_values=True))
    merged_query.update({str(k): str(v) for k, v in (query or {}).items()})
    from stacklab.sandbox import current

    box = current()
    ctx = _Ctx(
        api_id=api_id, stage=stage, method=method, path=unquote(split.path), client_ip=client_ip,
        headers=lowered, query=merged_query, body=body, request_id=_request_id(), region=box.region,
        account_id=box.account_id, source_vpce=source_vpce,
    )  # fmt: skip
    return _handle(ctx)


def _handle(ctx: _Ctx) -> Response:
    ag = _client("apigateway")
    try:
        stage = ag.get_stage(restApiId=ctx.api_id, stageName=ctx.stage)
    except Exception as exc:  # noqa: BLE001 - botocore ClientError
        if _error_code(exc) != "NotFoundException":
            raise
        try:
            ag.get_rest_api(restApiId=ctx.api_id)
        except Exception as exc2:  # noqa: BLE001
            if _error_code(exc2) == "NotFoundException":
                raise InputError(
                    f"There is no REST API {ctx.api_id!r} in the sandbox: use the id that create_rest_api "
                    "returned (get_rest_apis lists them)."
                ) from None
            raise
        return _missing_token(ctx)  # AWS answers an unknown stage like an unknown path
    deployment_id = stage["deploymentId"]
    ctx.stage_variables = dict(stage.get("variables") or {})
    canary = stage.get("canarySettings")
    if canary and canary.get("deploymentId") and _canary_draw() * 100.0 < float(canary.get("percentTraffic") or 0.0):
        deployment_id = canary["deploymentId"]
        ctx.stage_variables.update(canary.get("stageVariableOverrides") or {})
        ctx.canary = True
    snap = _snapshot(ctx.api_id, deployment_id)
    response, resource, method_key = _process(ctx, stage, snap)
    _record_metrics(ctx, snap["name"], stage, resource, method_key, response.status)
    response.headers.setdefault("x-amzn-RequestId", ctx.request_id)
    response.headers["x-stacklab-deployment"] = deployment_id
    access_logs.log_request(ctx, stage, response, _latency_ms(ctx))
    return response


def _process(ctx: _Ctx, stage: dict, snap: dict) -> tuple[Response, str | None, str | None]:
    found = _route(snap["resources"], ctx.path)
    if found is None:
        return _missing_token(ctx), None, None
    resource, params = found
    methods = resource.get("resourceMethods") or {}
    method = methods.get(ctx.method) or methods.get("ANY")
    if method is None:
        return _missing_token(ctx), None, None
    ctx.path_params, ctx.resource_path = params, resource["path"]
    ctx.method_responses = method.get("methodResponses") or {}
    denied = _policy_check(ctx, snap.get("policy"), method)
    if denied is not None:
        return denied, resource["path"], ctx.method
    unauthorized = _authorize(ctx, method, snap.get("authorizers") or {})
    if unauthorized is not None:
        return unauthorized, resource["path"], ctx.method
    refused = _keys_and_throttles(ctx, stage, method)
    if refused is not None:
        return refused, resource["path"], ctx.method
    integration = method.get("methodIntegration")
    if not integration:
        return _json_response(500, "Internal server error", ctx), resource["path"], ctx.method

    def integrate() -> Response:
        clock_before = _now()
        response, nominal = _integrate(ctx, integration)
        ctx.integration_ms = nominal + (_now() - clock_before).total_seconds() * 1000
        return response

    # the stage cache answers a hit without calling the integration (stage_cache's docstring)
    return stage_cache.respond(ctx, stage, integration, integrate), resource["path"], ctx.method


def _missing_token(ctx: _Ctx) -> Response:
    return _json_response(403, "Missing Authentication Token", ctx, "MissingAuthenticationTokenException")


# ------------------------------------------------------------------------------------ routing


def _route(resources: list[dict], path: str) -> tuple[dict, dict[str, str]] | None:
    """The most specific resource matching ``path``: literal > {param} > {proxy+}, part by part."""
    parts = [p for p in path.split("/") if p != ""]
    best: tuple[tuple, dict, dict] | None = None
    for res in resources:
        pattern = [p for p in res.get("path", "/").split("/") if p]
        params = _match(pattern, parts)
        if params is None:
            continue
        rank = tuple(0 if not seg.startswith("{") else (2 if seg.endswith("+}") else 1) for seg in pattern) + (
            3,
        ) * max(0, len(parts) - len(pattern))
        if best is None or rank < best[0]:
            best = (rank, res, params)
    return (best[1], best[2]) if best else None


def _match(pattern: list[str], parts: list[str]) -> dict[str, str] | None:
    params: dict[str, str] = {}
    for i, seg in enumerate(pattern):
        if seg.startswith("{") and seg.endswith("+}"):
            if i != len(pattern) - 1 or len(parts) <= i:
                return None
            params[seg[1:-2]] = "/".join(parts[i:])
            return params
        if i >= len(parts):
            return None
        if seg.startswith("{") and seg.endswith("}"):
            params[seg[1:-1]] = parts[i]
        elif seg != parts[i]:
            return None
    return params if len(parts) == len(pattern) else None


# ------------------------------------------------------------------------------------ resource policy


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _principal_everyone(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return "*" in _as_list(principal.get("AWS"))
    return False


def _principal_match(principal: Any, ctx: _Ctx) -> str | None:
    """How a resource policy's ``Principal`` names the caller: ``"everyone"`` (``*``), ``"identity"`` (the
    SigV4 caller's user/role/session ARN), ``"account"`` (its account, as ``ACCOUNT`` or ``...:root``) or
    None. Anonymous callers only match ``*``."""
    if _principal_everyone(principal):
        return "everyone"
    caller = ctx.caller
    if caller is None or not isinstance(principal, dict):
        return None
    arns = {caller.arn}
    if caller.kind == "assumed-role":  # a role ARN names all of that role's sessions
        role = caller.arn.split(":assumed-role/", 1)[1].split("/")[0]
        arns.add(f"arn:aws:iam::{caller.account_id}:role/{role}")
    named = [str(p) for p in _as_list(principal.get("AWS"))]
    if any(p in arns for p in named):
        return "identity"
    if any(p in (caller.account_id, f"arn:aws:iam::{caller.account_id}:root") for p in named):
        return "account"
    return None


def _ip_in(ip: str, cidrs: Any) -> bool:
    addr = ipaddress.ip_address(ip)
    for cidr in _as_list(cidrs):
        try:
            if addr in ipaddress.ip_network(str(cidr), strict=False):
                return True
        except ValueError:
            continue
    return False


def _conditions_hold(condition: Any, ctx: _Ctx) -> bool | None:
    """True/False for the supported conditions (``aws:SourceIp`` with ``IpAddress``/``NotIpAddress``,
    ``aws:SourceVpce`` with ``StringEquals``/``StringNotEquals``); None when the statement uses anything else.

    As in IAM, a request without a VPC endpoint has no ``aws:SourceVpce``: ``StringEquals`` is then
    false and ``StringNotEquals`` true (the usual private-API Deny)."""
    if not condition:
        return True
    if not isinstance(condition, dict):
        return None
    for op, block in condition.items():
        if not isinstance(block, dict):
            return None
        for key, values in block.items():
            if op in ("IpAddress", "NotIpAddress") and key.lower() == "aws:sourceip":
                holds = _ip_in(ctx.client_ip, values) == (op == "IpAddress")
            elif op in ("StringEquals", "StringNotEquals") and key.lower() == "aws:sourcevpce":
                equal = ctx.source_vpce is not None and ctx.source_vpce in [str(v) for v in _as_list(values)]
                holds = equal == (op == "StringEquals")
            else:
                return None
            if not holds:
                return False
    return True


def _resource_matches(patterns: Any, ctx: _Ctx) -> bool:
    arn = ctx.method_arn()
    for pattern in _as_list(patterns):
        pattern = str(pattern)
        if pattern.startswith("execute-api:/"):  # AWS's shorthand for "this API"
            prefix = f"arn:aws:execute-api:{ctx.region}:{ctx.account_id}:{ctx.api_id}/"
            pattern = prefix + pattern[len("execute-api:/") :]
        if fnmatchcase(arn, pattern.replace("?", "[?]")):
            return True
    return False


def _resource_policy_decision(ctx: _Ctx, statements: list) -> str:
    """'deny', 'allow' or 'none' for the request under the API's resource policy.

    An Allow naming the caller's *account* delegates to its identity policies (IAM's rule), so it is
    not an Allow by itself; a Deny naming the account denies all of its identities."""
    allowed = denied = False
    for st in statements:
        if not isinstance(st, dict):
            continue
        who = _principal_match(st.get("Principal"), ctx)
        if who is None:
            continue
        actions = [str(a).lower() for a in _as_list(st.get("Action"))]
        if not any(a in ("execute-api:invoke", "execute-api:*", "*") for a in actions):
            continue
        if not _resource_matches(st.get("Resource"), ctx):
            continue
        if _conditions_hold(st.get("Condition"), ctx) is not True:
            continue
        if st.get("Effect") == "Deny":
            denied = True
        elif st.get("Effect") == "Allow" and who != "account":
            allowed = True
    return "deny" if denied else "allow" if allowed else "none"


def _policy_check(ctx: _Ctx, policy_text: str | None, method: dict | None = None) -> Response | None:
    """The resource policy and, for ``AWS_IAM`` methods, SigV4 authentication and the caller's identity
    policies, combined as AWS does for a caller in the API's account: allowed when either allows and
    neither explicitly denies (without IAM authorization the resource policy alone must allow)."""
    iam = str((method or {}).get("authorizationType") or "NONE").upper() == "AWS_IAM"
    if not policy_text and not iam:
        return None
    try:
        policy = json.loads(policy_text) if policy_text else {}
        statements = _as_list(policy.get("Statement"))
    except (ValueError, AttributeError):
        return _json_response(500, "Internal server error", ctx)
    user, identity = "anonymous", "none"
    if iam:
        from stacklab.planes import sigv4

        try:
            ctx.caller = sigv4.verify(ctx.method, _signed_target(ctx), ctx.headers, ctx.body, region=ctx.region)
        except sigv4.SigV4Error as exc:
            return Response(exc.status, {"Content-Type": "application/json", "x-amzn-RequestId": ctx.request_id,
                                         "x-amzn-ErrorType": exc.error_type}, exc.body)  # fmt: skip
        user = ctx.caller.arn
        identity = sigv4.identity_decision(ctx.caller, ctx.method_arn(), condition=lambda c: _conditions_hold(c, ctx))
    resource = _resource_policy_decision(ctx, statements) if policy_text else "none"
    if "deny" not in (identity, resource) and "allow" in (identity, resource):
        return None
    arn = ctx.method_arn()
    if iam:  # AWS masks the account id in both ARNs for signed callers: ********9012
        user, arn = (x.replace(f":{ctx.account_id}:", f":********{ctx.account_id[-4:]}:") for x in (user, arn))
    msg = f"User: {user} is not authorized to perform: execute-api:Invoke on resource: {arn}"
    if "deny" in (identity, resource):
        msg += " with an explicit deny"
    if iam:
        return _capital_message(403, msg, ctx)
    return _json_response(403, msg, ctx, "AccessDeniedException")


def _signed_target(ctx: _Ctx) -> str:
    """The path and query string the client signed: ``/STAGE/PATH?query`` (as it reached the server)."""
    query = urlencode(ctx.query, quote_via=quote)
    return f"/{quote(ctx.stage)}{quote(ctx.path, safe='/~')}" + (f"?{query}" if query else "")


# ------------------------------------------------------------------------------------ Lambda authorizers

#: AWS's default authorizer result TTL (seconds) when none is set.
DEFAULT_AUTHORIZER_TTL = 300


def _identity_values(authorizer: dict, ctx: _Ctx) -> list[str] | None:
    """The identity sources' values, or None when one is missing (AWS: 401 without calling the Lambda)."""
    default = "method.request.header.Authorization" if authorizer.get("type") == "TOKEN" else ""
    sources = [x.strip() for x in str(authorizer.get("identitySource") or default).split(",") if x.strip()]
    values = []
    for source in sources:
        value = _param_value(source, ctx)
        if value is None or value == "":
            return None
        values.append(value)
    return values


def _authorize(ctx: _Ctx, method: dict, authorizers: dict) -> Response | None:
    kind = str(method.get("authorizationType") or "NONE").upper()
    if kind in ("NONE", "AWS_IAM"):  # AWS_IAM: authenticated and authorized by _policy_check
        return None
    if kind == "COGNITO_USER_POOLS":
        return _cognito(ctx, method, authorizers.get(str(method.get("authorizerId"))))
    if kind != "CUSTOM":
        return _config_error(ctx, f"authorizationType {kind} is not executed by the sandbox")
    authorizer = authorizers.get(str(method.get("authorizerId")))
    if authorizer is None:
        return _config_error(ctx, f"authorizer {method.get('authorizerId')!r} is not in the deployment")
    auth_type = str(authorizer.get("type") or "TOKEN").upper()
    ttl = authorizer.get("authorizerResultTtlInSeconds")
    ttl = DEFAULT_AUTHORIZER_TTL if ttl is None else int(ttl)
    values = _identity_values(authorizer, ctx)
    if values is None and (auth_type == "TOKEN" or ttl > 0):
        return _json_response(401, "Unauthorized", ctx, "UnauthorizedException")
    values = values or []
    expression = authorizer.get("identityValidationExpression")
    if auth_type == "TOKEN" and expression and not re.fullmatch(expression, values[0]):
        return _json_response(401, "Unauthorized", ctx, "UnauthorizedException")
    now = _now().timestamp()
    cache_key = (ctx.api_id, authorizer.get("id"), auth_type, tuple(values))
    with _state.lock:
        cached = _state.auth_cache.get(cache_key)
    if ttl > 0 and cached is not None and cached[0] > now:
        result = cached[1]
    else:
        result_or_error = _call_authorizer(ctx, authorizer, auth_type, values)
        if isinstance(result_or_error, Response):
            return result_or_error
        result = result_or_error
        if ttl > 0:
            with _state.lock:
                _state.auth_cache[cache_key] = (now + ttl, result)
    decision = _authorizer_decision(result.get("policyDocument"), ctx)
    if decision == "deny":
        return _capital_message(403, "User is not authorized to access this resource with an explicit deny", ctx)
    if decision != "allow":
        return _capital_message(403, "User is not authorized to access this resource", ctx)
    context = {str(k): v for k, v in (result.get("context") or {}).items()}
    context["principalId"] = result.get("principalId")
    ctx.authorizer_context = context
    return None


def _unverified_claims(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _cognito_keys() -> Any:
    """The user pools' JSON Web Key Set, as moto serves it at ``/{pool}/.well-known/jwks.json``."""
    from joserfc import jwk
    from moto.utilities.utils import load_resource

    return jwk.KeySet.import_key_set(load_resource("cognitoidp/resources/jwks-public.json"))


def _cognito(ctx: _Ctx, method: dict, authorizer: dict | None) -> Response | None:
    """A Cognito user-pool authorizer: signature (RS256, JWKS), issuer among the authorizer's pools,
    expiry on the sandbox clock, ``token_use`` (ID token, or access token with the method's scopes)."""
    from joserfc import jwt
    from joserfc.errors import JoseError

    if authorizer is None or str(authorizer.get("type")).upper() != "COGNITO_USER_POOLS":
        return _config_error(ctx, f"authorizer {method.get('authorizerId')!r} is not a Cognito authorizer here")
    unauthorized = _json_response(401, "Unauthorized", ctx, "UnauthorizedException")
    source = str(authorizer.get("identitySource") or "method.request.header.Authorization")
    token = _param_value(source, ctx)
    if not token:
        return unauthorized
    token = token.removeprefix("Bearer ").strip()
    try:
        claims = dict(jwt.decode(token, _cognito_keys(), algorithms=["RS256"]).claims)
    except (JoseError, ValueError, TypeError, KeyError, IndexError):
        return unauthorized
    issuers = {
        f"https://cognito-idp.{arn.split(':')[3]}.amazonaws.com/{arn.rsplit('/', 1)[-1]}"
        for arn in authorizer.get("providerARNs") or []
        if arn.count(":") >= 5
    }
    if claims.get("iss") not in issuers:
        return unauthorized
    issued = _state.token_issued.get(str(claims.get("jti")))
    lifetime = float(claims.get("exp", 0)) - float(claims.get("iat", 0))
    if issued is not None:
        expired = _now().timestamp() >= issued + lifetime
    else:  # a token the sandbox did not issue: judge it by its own dates against the sandbox clock
        expired = _now().timestamp() >= float(claims.get("exp", 0))
    if expired:
        return unauthorized
    scopes = method.get("authorizationScopes") or []
    if scopes:
        granted = set(str(claims.get("scope", "")).split())
        if claims.get("token_use") != "access" or not granted & set(scopes):
            return unauthorized
    elif claims.get("token_use") != "id":
        return unauthorized
    ctx.authorizer_context = {"claims": {k: v if isinstance(v, str) else json.dumps(v) for k, v in claims.items()}}
    return None


def _capital_message(status: int, message: str, ctx: _Ctx) -> Response:
    headers = {"Content-Type": "application/json", "x-amzn-RequestId": ctx.request_id,
               "x-amzn-ErrorType": "AccessDeniedException"}  # fmt: skip
    return Response(status, headers, json.dumps({"Message": message}).encode())


def _call_authorizer(ctx: _Ctx, authorizer: dict, auth_type: str, values: list[str]) -> dict | Response:
    from stacklab.planes import functions

    uri = _substitute_stage_variables(str(authorizer.get("authorizerUri") or ""), ctx)
    m = _LAMBDA_URI.match(uri)
    failure = _json_response(500, "", ctx, "AuthorizerConfigurationException")
    failure.body = b'{"message": null}'
    if not m:
        failure.headers["x-stacklab-reason"] = f"{uri!r} is not a Lambda invocation URI"
        return failure
    arn = ctx.method_arn()
    if auth_type == "TOKEN":
        event = functions.authorizer_token_event(values[0], arn)
    else:
        event = functions.authorizer_request_event(
            ctx.method, ctx.path, headers=dict(ctx.headers), query=dict(ctx.query), path_parameters=ctx.path_params,
            stage_variables=ctx.stage_variables, stage=ctx.stage, api_id=ctx.api_id, account_id=ctx.account_id,
            source_ip=ctx.client_ip, request_id=ctx.request_id, time=_now(),
        )  # fmt: skip
        event["methodArn"] = arn
        event["resource"] = ctx.resource_path
    try:
        inv = functions.invoke(m.group(1), event)
    except StackLabError as exc:
        failure.headers["x-stacklab-reason"] = f"authorizer invocation failed: {exc}"
        return failure
    try:
        result = json.loads(inv.payload or b"null")
    except ValueError:
        result = None
    if inv.function_error:
        if isinstance(result, dict) and result.get("errorMessage") == "Unauthorized":
            return _json_response(401, "Unauthorized", ctx, "UnauthorizedException")
        return failure
    well_formed = isinstance(result, dict) and isinstance(result.get("policyDocument"), dict)
    if not well_formed or "principalId" not in result:
        failure.headers["x-stacklab-reason"] = "the authorizer's result needs principalId and policyDocument"
        return failure
    return result


def _authorizer_decision(policy: Any, ctx: _Ctx) -> str:
    """'deny', 'allow' or 'none' for the method ARN under an authorizer's returned policy."""
    allowed = False
    for st in _as_list((policy or {}).get("Statement")):
        if not isinstance(st, dict):
            continue
        actions = [str(a).lower() for a in _as_list(st.get("Action"))]
        if not any(a in ("execute-api:invoke", "execute-api:*", "*") for a in actions):
            continue
        if not _resource_matches(st.get("Resource"), ctx):
            continue
        if st.get("Effect") == "Deny":
            return "deny"
        if st.get("Effect") == "Allow":
            allowed = True
    return "allow" if allowed else "none"


# ------------------------------------------------------------------------------------ keys and throttling


def _method_setting(stage: dict, resource_path: str, method: str) -> dict:
    settings = stage.get("methodSettings") or {}
    escaped = resource_path.replace("/", "~1")
    for key in (f"{escaped}/{method}", f"{escaped.lstrip('~1')}/{method}", f"{resource_path}/{method}"):
        if key in settings:
            return settings[key]
    return settings.get("*/*") or {}


def _bucket_ok(key: tuple, rate: float, burst: float, now: float) -> bool:
    tokens, last = _state.buckets.get(key, [float(burst), now])
    tokens = min(float(burst), tokens + max(0.0, now - last) * rate)
    _state.buckets[key] = [tokens, now]
    return tokens >= 1.0


def _consume(key: tuple) -> None:
    _state.buckets[key][0] -= 1.0


def _period_start(now: datetime, period: str) -> datetime:
    """Start of the quota period holding ``now``: 00:00 UTC; weeks start on Sunday, months on the 1st."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "WEEK":
        return day - timedelta(days=(day.weekday() + 1) % 7)
    if period == "MONTH":
        return day.replace(day=1)
    return day


def _keys_and_throttles(ctx: _Ctx, stage: dict, method: dict) -> Response | None:
    plan: dict | None = None
    key_id = None
    if method.get("apiKeyRequired"):
        value = ctx.headers.get("x-api-key")
        if not value:
            return _json_response(403, "Forbidden", ctx, "ForbiddenException")
        ag = _client("apigateway")
        keys = ag.get_api_keys(includeValues=True).get("items", [])
        match = next((k for k in keys if k.get("value") == value), None)
        if match is None or not match.get("enabled", False):
            return _json_response(403, "Forbidden", ctx, "ForbiddenException")
        key_id = match["id"]
        for candidate in ag.get_usage_plans(keyId=key_id).get("items", []):
            for api_stage in candidate.get("apiStages") or []:
                if api_stage.get("apiId") == ctx.api_id and api_stage.get("stage") == ctx.stage:
                    plan = {**candidate, "_stage": api_stage}
                    break
            if plan:
                break
        if plan is None:
            return _json_response(403, "Forbidden", ctx, "ForbiddenException")
    now_dt = _now()
    now = now_dt.timestamp()
    setting = _method_setting(stage, ctx.resource_path, ctx.method)
    # each bucket key ends with (rate, burst)
    buckets: list[tuple] = [(
        "stage", ctx.api_id, ctx.stage, ctx.resource_path, ctx.method,
        float(setting.get("throttlingRateLimit", DEFAULT_RATE_LIMIT)),
        float(setting.get("throttlingBurstLimit", DEFAULT_BURST_LIMIT)),
    )]  # fmt: skip
    if plan is not None:
        per_method = (plan["_stage"].get("throttle") or {}).get(f"{ctx.resource_path}/{ctx.method}")
        if per_method:
            rate, burst = float(per_method.get("rateLimit", 0)), float(per_method.get("burstLimit", 0))
            buckets.append(("plan-method", plan["id"], key_id, ctx.resource_path, ctx.method, rate, burst))
        throttle = plan.get("throttle")
        if throttle:
            rate, burst = float(throttle.get("rateLimit", 0)), float(throttle.get("burstLimit", 0))
            buckets.append(("plan", plan["id"], key_id, rate, burst))
    with _state.lock:
        for key in buckets:
            if not _bucket_ok(key, key[-2], key[-1], now):
                return _json_response(429, "Too Many Requests", ctx, "TooManyRequestsException")
        quota_key = None
        quota = (plan or {}).get("quota")
        if quota:
            start = _period_start(now_dt, str(quota.get("period", "DAY"))).isoformat()
            quota_key = ("quota", plan["id"], key_id, start)  # type: ignore[index]
            limit = int(quota.get("limit", 0))
            first = _state.quotas.setdefault(("first-period", plan["id"]), start)  # type: ignore[index]
            if first == start:  # AWS: offset = requests subtracted from the limit in the initial period
                limit -= int(quota.get("offset") or 0)
            if _state.quotas.get(quota_key, 0) >= limit:
                return _json_response(429, "Limit Exceeded", ctx, "LimitExceededException")
        for key in buckets:
            _consume(key)
        if quota_key is not None:
            _state.quotas[quota_key] = _state.quotas.get(quota_key, 0) + 1
    return None


# ------------------------------------------------------------------------------------ templates

_VAR = re.compile(r"\$\{?stageVariables\.([A-Za-z0-9_]+)\}?")


def _substitute_stage_variables(text: str, ctx: _Ctx) -> str:
    return _VAR.sub(lambda m: ctx.stage_variables.get(m.group(1), ""), text)


def _json_path(data: Any, path: str) -> Any:
    if path in ("$", ""):
        return data
    for part in path.lstrip("$").strip(".").split("."):
        if isinstance(data, dict):
            data = data.get(part)
        else:
            return None
    return data


_TEMPLATE = re.compile(
    r"\$input\.json\('([^']*)'\)|\$input\.params\('([^']*)'\)|\$input\.body|\$context\.([A-Za-z.]+)"
    r"|\$\{?stageVariables\.([A-Za-z0-9_]+)\}?"
)


def _render(template: str, ctx: _Ctx, payload: bytes) -> str:
    """Render the supported VTL subset (see the module docstring)."""

    def parsed() -> Any:
        try:
            return json.loads(payload or b"{}")
        except ValueError:
            return None

    def sub(m: re.Match) -> str:
        if m.group(1) is not None:
            return json.dumps(_json_path(parsed(), m.group(1)))
        if m.group(2) is not None:
            name = m.group(2)
            for source in (ctx.path_params, ctx.query):
                if name in source:
                    return source[name]
            return ctx.headers.get(name.lower(), "")
        if m.group(3) is not None:
            values = {
                "requestId": ctx.request_id, "stage": ctx.stage, "httpMethod": ctx.method,
                "resourcePath": ctx.resource_path, "identity.sourceIp": ctx.client_ip, "apiId": ctx.api_id,
                "accountId": ctx.account_id, "path": f"/{ctx.stage}{ctx.path}",
            }  # fmt: skip
            return values.get(m.group(3), "")
        if m.group(4) is not None:
            return ctx.stage_variables.get(m.group(4), "")
        return payload.decode("utf-8", "replace")

    return _TEMPLATE.sub(sub, template)


def _param_value(source: str, ctx: _Ctx) -> str | None:
    source = source.strip()
    if source.startswith("'") and source.endswith("'"):
        return source[1:-1]
    for prefix, values in (
        ("method.request.path.", ctx.path_params), ("method.request.querystring.", ctx.query),
        ("method.request.header.", {k: v for k, v in ctx.headers.items()}),
    ):  # fmt: skip
        if source.startswith(prefix):
            name = source[len(prefix) :]
            return values.get(name.lower() if prefix.endswith("header.") else name)
    if source.startswith("stageVariables."):
        return ctx.stage_variables.get(source[len("stageVariables.") :])
    return None


def _integration_params(integration: dict, ctx: _Ctx) -> dict[str, dict[str, str]]:
    """``integration.request.{path,querystring,header}.X`` from ``requestParameters``."""
    out: dict[str, dict[str, str]] = {"path": {}, "querystring": {}, "header": {}}
    for target, source in (integration.get("requestParameters") or {}).items():
        m = re.fullmatch(r"integration\.request\.(path|querystring|header)\.(.+)", target)
        value = _param_value(str(source), ctx)
        if m and value is not None:
            out[m.group(1)][m.group(2)] = value
    return out


def _fill_uri(uri: str, ctx: _Ctx, path_values: dict[str, str]) -> str:
    uri = _substitute_stage_variables(uri, ctx)

    def sub(m: re.Match) -> str:
        name = m.group(1).rstrip("+")
        value = path_values.get(name, ctx.path_params.get(name))
        if value is None:
            return m.group(0)
        return quote(value, safe="/" if m.group(1).endswith("+") or name == "proxy" else "")

    return re.sub(r"\{([A-Za-z0-9_.+-]+)\}", sub, uri)


# ------------------------------------------------------------------------------------ integrations


def _integrate(ctx: _Ctx, integration: dict) -> tuple[Response, float]:
    kind = str(integration.get("type", "")).upper()
    try:
        return _integrate_kind(ctx, integration, kind)
    except _UnsupportedMediaType:
        return _json_response(415, "Unsupported Media Type", ctx, "UnsupportedMediaTypeException"), 0.0


def _integrate_kind(ctx: _Ctx, integration: dict, kind: str) -> tuple[Response, float]:
    nominal = NOMINAL_INTEGRATION_MS.get(kind, 0.0)
    if kind == "MOCK":
        return _mock(ctx, integration), nominal
    if kind in ("HTTP", "HTTP_PROXY"):
        return _http(ctx, integration, proxy=kind == "HTTP_PROXY"), nominal
    if kind == "AWS_PROXY":
        return _lambda_proxy(ctx, integration)
    if kind == "AWS":
        return _aws_service(ctx, integration), nominal
    return _config_error(ctx, f"integration type {kind!r} is not executed by the sandbox"), nominal


def _config_error(ctx: _Ctx, reason: str) -> Response:
    resp = _json_response(500, "Internal server error", ctx)
    resp.headers["x-stacklab-reason"] = "Execution failed due to configuration error: " + reason
    return resp


class _UnsupportedMediaType(Exception):
    """No request template for the Content-Type and passthrough not allowed (AWS: 415)."""


def _request_template(integration: dict, ctx: _Ctx) -> str | None:
    """The request template for the request's Content-Type; None = pass the body through."""
    templates = integration.get("requestTemplates") or {}
    content_type = ctx.headers.get("content-type", "application/json").split(";")[0].strip() or "application/json"
    if content_type in templates:
        return templates[content_type]
    behavior = integration.get("passthroughBehavior") or "WHEN_NO_MATCH"
    if behavior == "WHEN_NO_MATCH" or (behavior == "WHEN_NO_TEMPLATES" and not templates):
        return None
    raise _UnsupportedMediaType()


def _integration_response(
    ctx: _Ctx, integration: dict, status: int, body: bytes, headers: dict[str, str], selector: str | None = None
) -> Response:
    responses = integration.get("integrationResponses") or {}
    chosen = None
    default = None
    text = selector if selector is not None else str(status)
    for item in responses.values():
        pattern = item.get("selectionPattern")
        if not pattern:
            default = default or item
        elif re.fullmatch(pattern, text, flags=re.DOTALL):
            chosen = chosen or item
    chosen = chosen or default
    if chosen is None:
        return _config_error(ctx, "No match for output mapping and no default output mapping")
    out_status = str(chosen.get("statusCode", 200))
    declared = (ctx.method_responses.get(out_status) or {}).get("responseParameters") or {}
    out_headers = {"Content-Type": "application/json"}
    undeclared = []
    for target, source in (chosen.get("responseParameters") or {}).items():
        if not target.startswith("method.response.header."):
            continue
        if target not in declared:  # AWS refuses such a mapping in put_integration_response; moto stores it
            undeclared.append(target)
            continue
        value = _response_parameter(str(source), headers, body)
        if value is not None:
            out_headers[target[len("method.response.header.") :]] = value
    if undeclared:
        out_headers["x-stacklab-reason"] = (
            f"not mapped: {', '.join(sorted(undeclared))} not declared in method response {out_status} "
            "(put_method_response responseParameters)"
        )
    templates = chosen.get("responseTemplates") or {}
    template = templates.get("application/json")
    payload = _render(template, ctx, body).encode() if template else body
    return Response(int(chosen.get("statusCode", 200)), out_headers, payload)


def _response_parameter(source: str, headers: dict[str, str], body: bytes) -> str | None:
    """A ``responseParameters`` source: ``'literal'``, ``integration.response.header.X`` (or
    ``multivalueheader.X``), ``integration.response.body`` or ``integration.response.body.JSON.PATH``."""
    if len(source) >= 2 and source.startswith("'") and source.endswith("'"):
        return source[1:-1]
    m = re.fullmatch(r"integration\.response\.(?:multivalue)?header\.(.+)", source)
    if m:
        return next((v for k, v in headers.items() if k.lower() == m.group(1).lower()), None)
    if source == "integration.response.body":
        return body.decode("utf-8", "replace")
    if source.startswith("integration.response.body."):
        try:
            value = _json_path(json.loads(body or b"null"), "$." + source[len("integration.response.body.") :])
        except ValueError:
            return None
        if value is None:
            return None
        return value if isinstance(value, str) else json.dumps(value)
    return None


def _mock(ctx: _Ctx, integration: dict) -> Response:
    template = _request_template(integration, ctx)
    rendered = _render(template, ctx, ctx.body) if template else ""
    try:
        status = int((json.loads(rendered) if rendered.strip() else {}).get("statusCode", 200))
    except (ValueError, AttributeError, TypeError):
        return _config_error(ctx, 'the MOCK request template did not produce {"statusCode": N}')
    return _integration_response(ctx, integration, status, b"", {})


def _vpc_link_error(ctx: _Ctx, integration: dict) -> Response | None:
    """``connectionType`` ``VPC_LINK``: the link named by ``connectionId`` (stage variables substituted)
    must exist and be ``AVAILABLE``; the integration URI on loopback then stands in for its load balancer."""
    if str(integration.get("connectionType") or "INTERNET").upper() != "VPC_LINK":
        return None
    link_id = _substitute_stage_variables(str(integration.get("connectionId") or ""), ctx)
    if not link_id:
        return _config_error(ctx, "connectionType VPC_LINK needs a connectionId (a VPC link id or "
                                  "${stageVariables.vpcLinkId})")  # fmt: skip
    try:
        link = _client("apigateway").get_vpc_link(vpcLinkId=link_id)
    except Exception as exc:  # noqa: BLE001 - botocore ClientError
        if _error_code(exc) == "NotFoundException":
            return _config_error(ctx, f"VPC link {link_id!r} does not exist (create_vpc_link returns the id)")
        raise
    if link.get("status", "AVAILABLE") != "AVAILABLE":
        return _config_error(ctx, f"VPC link {link_id!r} is {link.get('status')}, not AVAILABLE")
    return None


def _http(ctx: _Ctx, integration: dict, *, proxy: bool) -> Response:
    linked = _vpc_link_error(ctx, integration)
    if linked is not None:
        return linked
    params = _integration_params(integration, ctx)
    uri = _fill_uri(str(integration.get("uri") or ""), ctx, params["path"])
    split = urlsplit(uri)
    if split.scheme not in ("http", "https") or split.hostname not in _LOOPBACK_HOSTS:
        return _config_error(ctx, f"the sandbox only reaches backends on 127.0.0.1, not {uri!r}")
    if proxy:
        query = dict(ctx.query)
        headers = {k: v for k, v in ctx.headers.items() if k not in _HOP_BY_HOP}
        body = ctx.body
        verb = str(integration.get("httpMethod") or ctx.method).upper()
        if verb == "ANY":
            verb = ctx.method
    else:
        query = params["querystring"]
        headers = dict(params["header"])
        template = _request_template(integration, ctx)
        body = ctx.body if template is None else _render(template, ctx, ctx.body).encode()
        if template is not None:
            headers.setdefault("Content-Type", "application/json")
        verb = str(integration.get("httpMethod") or ctx.method).upper()
    if query:
        sep = "&" if split.query else "?"
        uri = uri + sep + urlencode(query)
    timeout = float(integration.get("timeoutInMillis") or DEFAULT_TIMEOUT_MS) / 1000.0
    req = urllib.request.Request(uri, data=body if verb not in ("GET", "HEAD") or body else None, method=verb)
    for k, v in headers.items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - loopback only (checked)
            status, resp_headers, payload = resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as exc:
        status, resp_headers, payload = exc.code, dict(exc.headers.items()), exc.read()
    except TimeoutError:
        return _json_response(504, "Endpoint request timed out", ctx)
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            return _json_response(504, "Endpoint request timed out", ctx)
        return _config_error(ctx, f"could not reach {uri}: {exc.reason}")
    if proxy:
        kept = {k: v for k, v in resp_headers.items() if k.lower() not in _HOP_BY_HOP | {"server", "date"}}
        return Response(status, kept, payload)
    return _integration_response(ctx, integration, status, payload, resp_headers)


_LAMBDA_URI = re.compile(r"arn:aws:apigateway:[^:]+:lambda:path/[^/]+/functions/(.+)/invocations$")
_PROXY_KEYS = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded", "cookies"}


def _lambda_proxy(ctx: _Ctx, integration: dict) -> tuple[Response, float]:
    uri = _substitute_stage_variables(str(integration.get("uri") or ""), ctx)
    m = _LAMBDA_URI.match(uri)
    if not m:
        return _config_error(ctx, f"{uri!r} is not a Lambda invocation URI"), 0.0
    function_arn = m.group(1)
    from stacklab.planes import functions

    text_body: str | bytes | None
    if not ctx.body:
        text_body = None
    else:
        try:
            text_body = ctx.body.decode("utf-8")
        except UnicodeDecodeError:
            text_body = ctx.body
    headers = {k: v for k, v in ctx.headers.items()}
    event = functions.api_gateway_proxy_v1_event(
        ctx.method, ctx.path, resource=ctx.resource_path, headers=headers, query=ctx.query,
        path_parameters=ctx.path_params, stage_variables=ctx.stage_variables, body=text_body,
        stage=ctx.stage, api_id=ctx.api_id, account_id=ctx.account_id, source_ip=ctx.client_ip,
        request_id=ctx.request_id, time=_now(), authorizer=ctx.authorizer_context,
    )  # fmt: skip
    if ctx.caller is not None:  # an AWS_IAM method: who signed the request
        event["requestContext"]["identity"].update(ctx.caller.identity())
    before = _now()
    try:
        inv = functions.invoke(function_arn, event)
    except StackLabError as exc:
        return _config_error(ctx, f"Lambda invocation failed: {exc}"), 0.0
    # Duration already includes the clock's movement during the handler, which _process adds itself.
    moved_ms = (_now() - before).total_seconds() * 1000
    nominal = max(0.0, float(getattr(inv, "duration_ms", 0.0) or 0.0) - moved_ms)
    if inv.function_error:
        return _json_response(502, "Internal server error", ctx), nominal
    try:
        result = json.loads(inv.payload or b"null")
    except ValueError:
        result = None
    mapped = _map_proxy_result(result)
    if mapped is None:
        resp = _json_response(502, "Internal server error", ctx)
        resp.headers["x-stacklab-reason"] = "Malformed Lambda proxy response"
        return resp, nominal
    return mapped, nominal


def _map_proxy_result(result: Any) -> Response | None:
    """A v1 proxy response → HTTP response; None when malformed (AWS: 502)."""
    if not isinstance(result, dict) or set(result) - _PROXY_KEYS:
        return None
    status = result.get("statusCode", 200)
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        return None
    headers_in = result.get("headers") or {}
    multi = result.get("multiValueHeaders") or {}
    if not isinstance(headers_in, dict) or not isinstance(multi, dict):
        return None
    headers: dict[str, str] = {}
    for k, v in multi.items():
        if not isinstance(v, list):
            return None
        headers[str(k)] = ", ".join(str(x) for x in v)
    for k, v in headers_in.items():
        headers[str(k)] = str(v)
    headers.setdefault("Content-Type", "application/json")
    body = result.get("body")
    if body is None:
        payload = b""
    elif isinstance(body, str):
        if result.get("isBase64Encoded"):
            try:
                payload = base64.b64decode(body, validate=True)
            except ValueError:
                return None
        else:
            payload = body.encode()
    else:
        return None
    return Response(status, headers, payload)


_S3_URI = re.compile(r"arn:aws:apigateway:[^:]+:s3:path/([^/]+)/(.+)$")


def _aws_service(ctx: _Ctx, integration: dict) -> Response:
    params = _integration_params(integration, ctx)
    uri = _fill_uri(str(integration.get("uri") or ""), ctx, params["path"])
    m = _S3_URI.match(uri)
    if not m:
        return _config_error(ctx, f"only S3 path integrations (arn:aws:apigateway:REGION:s3:path/...) run, not {uri!r}")
    bucket, key = unquote(m.group(1)), unquote(m.group(2))
    verb = str(integration.get("httpMethod") or ctx.method).upper()
    s3 = _client("s3")
    try:
        if verb == "PUT":
            template = _request_template(integration, ctx)
            body = ctx.body if template is None else _render(template, ctx, ctx.body).encode()
            content_type = ctx.headers.get("content-type", "application/json")
            out = s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
            status, payload, headers = 200, b"", {"ETag": out.get("ETag", "")}
        elif verb == "GET":
            out = s3.get_object(Bucket=bucket, Key=key)
            status, payload = 200, out["Body"].read()
            headers = {"Content-Type": out.get("ContentType", "application/octet-stream"), "ETag": out.get("ETag", "")}
        elif verb == "DELETE":
            s3.delete_object(Bucket=bucket, Key=key)
            status, payload, headers = 204, b"", {}
        else:
            return _config_error(ctx, f"S3 integration method {verb} is not executed by the sandbox")
    except Exception as exc:  # noqa: BLE001 - botocore ClientError
        code = _error_code(exc)
        if not code:
            raise
        status = int(getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode", 500))
        payload = json.dumps({"Code": code}).encode()
        headers = {}
    return _integration_response(ctx, integration, status, payload, headers)


# ------------------------------------------------------------------------------------ metrics


def _latency_ms(ctx: _Ctx) -> float:
    """Simulated ``Latency``: the integration plus the gateway's overhead (a cache hit: the overhead)."""
    if ctx.integration_ms is not None:
        return ctx.integration_ms + GATEWAY_OVERHEAD_MS
    return GATEWAY_OVERHEAD_MS if ctx.cache == "hit" else 0.0


def _record_metrics(
    ctx: _Ctx, api_name: str, stage: dict, resource: str | None, method: str | None, status: int
) -> None:
    when = _now()
    integration_ms = ctx.integration_ms
    latency = _latency_ms(ctx)
    dim_sets = [(("ApiName", api_name),), (("ApiName", api_name), ("Stage", ctx.stage))]
    if resource is not None and method is not None:
        setting = _method_setting(stage, resource, method)
        if setting.get("metricsEnabled"):
            dim_sets.append((("ApiName", api_name), ("Method", method), ("Resource", resource), ("Stage", ctx.stage)))
    values = [("Count", 1.0), ("4XXError", 1.0 if 400 <= status < 500 else 0.0),
              ("5XXError", 1.0 if status >= 500 else 0.0), ("Latency", latency)]  # fmt: skip
    if integration_ms is not None:
        values.append(("IntegrationLatency", integration_ms))
    if ctx.cache is not None:  # only requests to a cached method that reached the cache
        values += [("CacheHitCount", 1.0 if ctx.cache == "hit" else 0.0),
                   ("CacheMissCount", 1.0 if ctx.cache == "miss" else 0.0)]  # fmt: skip
    with _state.lock:
        for dims in dim_sets:
            for name, value in values:
                _state.metrics.append((name, dims, when, value))
        full = len(_state.metrics) >= _FLUSH_AT
    if full:
        flush_metrics()


def flush_metrics() -> int:
    """Write the buffered per-request metrics to CloudWatch (``AWS/ApiGateway``); returns how many.

    Values of the same metric, dimensions and timestamp are sent together as ``Values``/``Counts``.
    """
    with _state.lock:
        records, _state.metrics = _state.metrics, []
    if not records:
        return 0
    grouped: dict[tuple, dict[float, int]] = {}
    for name, dims, when, value in records:
        counts = grouped.setdefault((name, dims, when), {})
        counts[value] = counts.get(value, 0) + 1
    data = []
    for (name, dims, when), counts in grouped.items():
        items = sorted(counts.items())
        for i in range(0, len(items), 150):  # AWS: at most 150 distinct values per datum
            chunk = items[i : i + 150]
            data.append({
                "MetricName": name, "Dimensions": [{"Name": k, "Value": v} for k, v in dims], "Timestamp": when,
                "Values": [v for v, _ in chunk], "Counts": [float(c) for _, c in chunk],
                "Unit": "Milliseconds" if "Latency" in name else "Count",
            })  # fmt: skip
    cw = _client("cloudwatch")
    for i in range(0, len(data), 1000):  # AWS: at most 1,000 metrics per PutMetricData call
        cw.put_metric_data(Namespace="AWS/ApiGateway", MetricData=data[i : i + 1000])
    return len(records)


# ------------------------------------------------------------------------------------ HTTP


def _handler_for(api_id: str) -> Callable[[Request], Response]:
    def handle(req: Request) -> Response:
        target = urlsplit(req.target)
        parts = target.path.split("/", 2)
        if len(parts) < 2 or not parts[1]:
            return _json_response(403, "Missing Authentication Token", None, "MissingAuthenticationTokenException")
        stage = unquote(parts[1])
        path = "/" + (parts[2] if len(parts) > 2 else "")
        if req.method not in _METHODS:
            return _json_response(403, "Missing Authentication Token", None, "MissingAuthenticationTokenException")
        query = dict(parse_qsl(target.query, keep_blank_values=True))
        try:
            return request(api_id, stage, req.method, path, headers=req.headers, body=req.body,
                           query=query, client_ip=req.client_ip)  # fmt: skip
        except InputError as exc:
            return _json_response(400, str(exc))
        except Exception:  # noqa: BLE001 - never let a server thread die silently
            return _json_response(500, "Internal server error")

    return handle


def _check_api(api_id: str) -> None:
    require_str("api_id", api_id)
    try:
        _client("apigateway").get_rest_api(restApiId=api_id)
    except Exception as exc:  # noqa: BLE001
        if _error_code(exc) == "NotFoundException":
            raise InputError(
                f"There is no REST API {api_id!r} in the sandbox: use the id that create_rest_api returned."
            ) from None
        raise


def serve(api_id: str) -> LocalServer:
    """Serve the REST API over HTTP on 127.0.0.1 (``http://127.0.0.1:PORT/{stage}/{path}``)."""
    _check_api(api_id)
    from stacklab.planes.http import serve as http_serve

    server = http_serve(f"gateway-{api_id}", _handler_for(api_id))
    _no_delay(server)
    return server


def _no_delay(server: LocalServer) -> None:
    """Disable Nagle's algorithm on the listening socket (Linux passes it to accepted connections).

    The shared adapter writes headers and body separately; with Nagle on, each keep-alive response
    waits ~40 ms for the client's delayed ACK.
    """
    sock = getattr(getattr(server, "_server", None), "socket", None)
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


def url(api_id: str, stage: str) -> str:
    """The stage's invoke URL over loopback HTTP: ``http://127.0.0.1:PORT/{stage}`` (starts the server)."""
    require_str("stage", stage)
    if "/" in stage:
        raise InputError(f"stage must be a stage name such as 'prod', got {stage!r}.")
    return f"{serve(api_id).url}/{quote(stage)}"

"""API Gateway REST stage caching, executed: what moto stores, this plane answers from.

moto keeps a stage's ``cacheClusterEnabled`` / ``cacheClusterSize`` and the ``methodSettings`` written by
``update_stage`` (``/*/*/caching/enabled``, ``/~1items/GET/caching/ttlInSeconds``, ...) but caches
nothing, drops an integration's ``cacheKeyParameters`` (and ``connectionId``, which VPC links need), and
answers ``flush_stage_cache`` with 404; ``create_deployment(..., cacheClusterEnabled=True,
cacheClusterSize=...)`` loses both (``create_stage`` / ``update_stage`` keep them). This module keeps
what the learner sent. The REST gateway plane (:mod:`stacklab.planes.gateway`) calls
:func:`respond` around every integration; the stage is read with ``get_stage`` on every request.

Rules (API Gateway Developer Guide, "Cache settings for REST APIs in API Gateway"):

* A method is cached when the stage has a cache cluster (``cacheClusterEnabled``) **and** its method
  setting has ``cachingEnabled``: the method's own entry (``/~1items/GET/caching/enabled``) if the stage
  has one, else the stage-wide ``*/*`` entry, which applies to **GET methods only** ("only ``GET``
  methods have caching enabled by default"; other methods need their own override). ``ttlInSeconds``
  defaults to 300; 0 turns caching off; AWS refuses more than 3,600 (moto accepts it; the plane uses
  3,600).
* The cache key is the method, the **resource path** (``/items/{id}``, not ``/items/42``) and the values
  of the integration's ``cacheKeyParameters`` (``method.request.querystring.q``, ``...header.X``,
  ``...path.id``, or ``integration.request.*`` mapped in ``requestParameters``), a missing value being
  a value of its own. Without ``method.request.path.id`` among them, ``/items/1`` and ``/items/2`` share
  one entry — a classic mistake the lessons show.
* Entries expire ``ttlInSeconds`` after they were stored, on the **sandbox clock**. Responses larger
  than 1,048,576 bytes are not cached. AWS does not document a status filter (learners report backend
  4xx answers being cached); the plane caches every integration response below 500.
* ``Cache-Control: max-age=0`` from a client asks for a fresh answer that replaces the entry. With
  ``requireAuthorizationForCacheControl`` (moto's default: true) only callers allowed
  ``execute-api:InvalidateCache`` on the method ARN may do so: a SigV4-signed request to an ``AWS_IAM``
  method whose identity policies allow it (:mod:`stacklab.planes.sigv4`); for anyone else
  ``unauthorizedCacheControlHeaderStrategy`` decides:
  ``FAIL_WITH_403`` → ``403 {"message": "Unauthorized"}``; ``SUCCEED_WITH_RESPONSE_HEADER`` (the
  default) → the header is ignored and the response carries a ``Warning`` header (AWS documents "a
  warning header" without its text; the plane's is :data:`WARNING`); ``SUCCEED_WITHOUT_RESPONSE_HEADER``
  → ignored silently. With the requirement off, any client invalidates.
* A cache hit skips the integration: no ``IntegrationLatency`` is recorded and ``Latency`` is the
  gateway's nominal overhead. ``CacheHitCount`` / ``CacheMissCount`` are recorded (with the same
  dimensions as the other metrics) only for requests to a cached method that reached the cache.
* ``flush_stage_cache`` (boto3 and ``aws apigateway flush-stage-cache``; this module adds the route to
  moto) empties the stage's cache, and so do a change of ``cacheClusterSize`` (AWS recreates the cache
  instance) and turning the cluster off. Canary requests use a cache of their own unless the canary's
  ``useStageCache`` is true. ``stacklab.reset()`` empties every cache.

Sizes and cost: ``cacheClusterSize`` is one of :data:`CACHE_SIZES_GB` (0.5 GB to 237 GB; moto shows
``0.5`` when none is given); the cache is billed **per hour** for its size whether or not it is used,
and is not in the AWS Free Tier. Not implemented: ``cacheDataEncrypted`` (no effect locally),
``update_integration`` patches of ``cacheKeyParameters`` / ``connectionId``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stacklab._validate import require_str
from stacklab.errors import InputError
from stacklab.planes.http import Response

__all__ = ["CACHE_SIZES_GB", "DEFAULT_TTL", "MAX_ENTRY_BYTES", "MAX_TTL", "STRATEGIES", "WARNING",
           "entries", "flush", "method_caching", "respond"]  # fmt: skip

#: Valid ``cacheClusterSize`` values (GB), from the API reference of ``CreateStage``.
CACHE_SIZES_GB = ("0.5", "1.6", "6.1", "13.5", "28.4", "58.2", "118", "237")
#: Default and maximum ``caching/ttlInSeconds``.
DEFAULT_TTL = 300
MAX_TTL = 3600
#: Largest response API Gateway caches (bytes).
MAX_ENTRY_BYTES = 1_048_576
#: ``caching/unauthorizedCacheControlHeaderStrategy`` values.
STRATEGIES = ("FAIL_WITH_403", "SUCCEED_WITH_RESPONSE_HEADER", "SUCCEED_WITHOUT_RESPONSE_HEADER")
#: The plane's warning header for an ignored ``Cache-Control: max-age=0`` (AWS's text is undocumented).
WARNING = '199 - "Cache-Control header ignored: not authorized to invalidate the cache"'
_PER_REQUEST_HEADERS = {"x-amzn-requestid", "x-stacklab-deployment", "x-amz-apigw-id"}


@dataclass
class _Entry:
    expires: float
    status: int
    headers: dict[str, str]
    body: bytes


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.stages: dict[tuple[str, str], tuple[str, dict[tuple, _Entry]]] = {}


_state = _State()


def clear() -> None:
    """Empty every stage cache (``stacklab.reset()`` calls it)."""
    with _state.lock:
        _state.stages.clear()


def _now() -> float:
    from stacklab.sandbox import current

    return current().clock.time()


# ------------------------------------------------------------------------------------ settings


def method_caching(stage: dict[str, Any], resource_path: str, method: str) -> dict[str, Any] | None:
    """The effective cache settings of a method on a stage (``get_stage`` output), or None when the
    method is not cached: ``{"ttl", "require_authorization", "strategy"}``."""
    if not isinstance(stage, dict):
        raise InputError(f"stage must be the dict get_stage returns, got {type(stage).__name__}.")
    require_str("resource_path", resource_path)
    require_str("method", method)
    if not stage.get("cacheClusterEnabled"):
        return None
    settings = stage.get("methodSettings") or {}
    escaped = resource_path.replace("/", "~1")
    setting = None
    for key in (f"{escaped}/{method}", f"{escaped.removeprefix('~1')}/{method}", f"{resource_path}/{method}"):
        if key in settings:
            setting = settings[key]
            break
    if setting is None and method.upper() == "GET":
        setting = settings.get("*/*")
    if not setting or not setting.get("cachingEnabled"):
        return None
    ttl = setting.get("cacheTtlInSeconds")
    ttl = DEFAULT_TTL if ttl is None else int(ttl)
    if ttl <= 0:
        return None
    strategy = str(setting.get("unauthorizedCacheControlHeaderStrategy") or "SUCCEED_WITH_RESPONSE_HEADER")
    return {
        "ttl": min(ttl, MAX_TTL),
        "require_authorization": bool(setting.get("requireAuthorizationForCacheControl", True)),
        "strategy": strategy if strategy in STRATEGIES else "SUCCEED_WITH_RESPONSE_HEADER",
    }


def _key_values(ctx: Any, integration: dict[str, Any]) -> tuple:
    from stacklab.planes import gateway

    mapped = None
    values = []
    for param in integration.get("cacheKeyParameters") or []:
        param = str(param)
        m = re.fullmatch(r"integration\.request\.(path|querystring|header)\.(.+)", param)
        if m:
            mapped = mapped if mapped is not None else gateway._integration_params(integration, ctx)
            values.append((param, mapped[m.group(1)].get(m.group(2))))
        else:
            values.append((param, gateway._param_value(param, ctx)))
    return tuple(values)


def _slot(api_id: str, stage_name: str, size: str) -> dict[tuple, _Entry]:
    with _state.lock:
        held = _state.stages.get((api_id, stage_name))
        if held is None or held[0] != size:  # a new size is a new cache instance (AWS deletes the data)
            held = _state.stages[(api_id, stage_name)] = (size, {})
        return held[1]


# ------------------------------------------------------------------------------------ serving


def respond(ctx: Any, stage: dict[str, Any], integration: dict[str, Any], call: Callable[[], Response]) -> Response:
    """Answer a routed, authorized request from the stage cache or through ``call()`` (the integration),
    storing what it returns; sets ``ctx.cache`` to ``"hit"``, ``"miss"`` or None (not cached)."""
    ctx.cache = None
    if not stage.get("cacheClusterEnabled"):
        with _state.lock:
            _state.stages.pop((ctx.api_id, ctx.stage), None)
        return call()
    settings = method_caching(stage, ctx.resource_path, ctx.method)
    if settings is None:
        return call()
    slot = _slot(ctx.api_id, ctx.stage, str(stage.get("cacheClusterSize") or "0.5"))
    canary = stage.get("canarySettings") or {}
    namespace = "canary" if ctx.canary and not canary.get("useStageCache") else "stage"
    key = (namespace, ctx.method, ctx.resource_path, _key_values(ctx, integration))
    invalidate = _max_age_zero(ctx.headers.get("cache-control", ""))
    warning = False
    if invalidate and settings["require_authorization"] and not _may_invalidate(ctx):
        invalidate = False
        if settings["strategy"] == "FAIL_WITH_403":
            from stacklab.planes import gateway

            return gateway._json_response(403, "Unauthorized", ctx, "AccessDeniedException")
        warning = settings["strategy"] == "SUCCEED_WITH_RESPONSE_HEADER"
    now = _now()
    with _state.lock:
        entry = None if invalidate else slot.get(key)
    if entry is not None and now < entry.expires:
        ctx.cache = "hit"
        response = Response(entry.status, dict(entry.headers), entry.body)
    else:
        ctx.cache = "miss"
        response = call()
        body = response.body or b""
        with _state.lock:
            if response.status < 500 and len(body) <= MAX_ENTRY_BYTES:
                kept = {k: v for k, v in response.headers.items() if k.lower() not in _PER_REQUEST_HEADERS}
                slot[key] = _Entry(now + settings["ttl"], response.status, kept, body)
            else:
                slot.pop(key, None)
    if warning:
        response.headers["Warning"] = WARNING
    return response


def _may_invalidate(ctx: Any) -> bool:
    """Whether the request's SigV4 caller is allowed ``execute-api:InvalidateCache`` on the method."""
    caller = getattr(ctx, "caller", None)
    if caller is None:
        return False
    from stacklab.planes import sigv4

    return sigv4.identity_decision(caller, ctx.method_arn(), action="execute-api:InvalidateCache") == "allow"


def _max_age_zero(value: str) -> bool:
    for part in value.split(","):
        name, _, arg = part.strip().partition("=")
        if name.strip().lower() == "max-age" and arg.strip().strip('"') == "0":
            return True
    return False


# ------------------------------------------------------------------------------------ inspection


def _check_stage(api_id: str, stage: str) -> None:
    from stacklab.planes import gateway

    require_str("api_id", api_id)
    require_str("stage", stage)
    try:
        gateway._client("apigateway").get_stage(restApiId=api_id, stageName=stage)
    except Exception as exc:  # noqa: BLE001 - botocore ClientError
        if gateway._error_code(exc) == "NotFoundException":
            raise InputError(
                f"REST API {api_id!r} has no stage {stage!r} in the sandbox: use the ids that create_rest_api "
                "and create_deployment(stageName=...) used."
            ) from None
        raise


def flush(api_id: str, stage: str) -> int:
    """Empty a stage's cache (what ``flush_stage_cache`` does); returns how many entries were dropped."""
    _check_stage(api_id, stage)
    return _drop(api_id, stage)


def _drop(api_id: str, stage: str) -> int:
    with _state.lock:
        held = _state.stages.pop((api_id, stage), None)
    return len(held[1]) if held else 0


def entries(api_id: str, stage: str) -> list[dict[str, Any]]:
    """The stage cache's live entries: ``method``, ``resource``, ``key`` (cache-key parameters and
    values), ``status`` and ``expires_in`` seconds (sandbox clock), sorted."""
    _check_stage(api_id, stage)
    now = _now()
    with _state.lock:
        held = _state.stages.get((api_id, stage))
        items = list(held[1].items()) if held else []
    out = [
        {"method": key[1], "resource": key[2], "key": dict(key[3]), "status": e.status,
         "expires_in": round(e.expires - now, 3), **({"canary": True} if key[0] == "canary" else {})}
        for key, e in items
        if e.expires > now
    ]  # fmt: skip
    return sorted(out, key=lambda d: (d["resource"], d["method"], repr(sorted(d["key"].items()))))


# ------------------------------------------------------------------------------------ moto hooks

_FLUSH_URL = r"{0}/restapis/(?P<function_id>[^/]+)/stages/(?P<stage_name>[^/]+)/cache/data$"
_FLUSH_PATH = re.compile(r"/restapis/([^/]+)/stages/([^/]+)/cache/data")


def _flush_handler(request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
    """moto route for ``DELETE /restapis/{id}/stages/{stage}/cache/data`` (FlushStageCache)."""
    from urllib.parse import unquote, urlsplit

    from moto.apigateway.models import apigateway_backends

    from stacklab.sandbox import current

    split = urlsplit(full_url)
    m = _FLUSH_PATH.search(split.path)
    if m is None or getattr(request, "method", "DELETE") != "DELETE":
        return 404, {}, ""
    api_id, stage = unquote(m.group(1)), unquote(m.group(2))
    region = re.match(r"apigateway\.([^.]+)\.", split.hostname or "")
    box = current()
    backend = apigateway_backends[box.account_id][region.group(1) if region else box.region]
    backend.get_stage(api_id, stage)  # raises moto's NotFoundException (404) for an unknown API or stage
    _drop(api_id, stage)
    return 202, {"Content-Type": "application/json"}, ""


def _install() -> None:
    """Add the flush route to moto, keep ``cacheKeyParameters`` / ``connectionId`` of ``put_integration``
    and ``cacheClusterEnabled`` / ``cacheClusterSize`` of ``create_deployment`` (moto drops them).
    Idempotent."""
    from moto.apigateway import models, responses, urls

    urls.url_paths.setdefault(_FLUSH_URL, _flush_handler)
    cls = responses.APIGatewayResponse
    if getattr(cls.put_integration, "_stacklab_keep", False):
        return
    put = cls.put_integration

    def put_integration(self: Any) -> Any:
        result = put(self)
        keys, connection = self._get_param("cacheKeyParameters"), self._get_param("connectionId")
        parts = self.path.split("/")
        integration = self.backend.get_integration(parts[2], parts[4], parts[6])
        if keys is not None:
            integration.cache_key_parameters = list(keys)
        integration.connection_id = connection
        if keys is None and connection is None:
            return result
        return result[0], result[1], json.dumps(integration.to_json())

    deploy = cls.create_deployment

    def create_deployment(self: Any) -> Any:
        result = deploy(self)
        enabled, size = self._get_param("cacheClusterEnabled"), self._get_param("cacheClusterSize")
        name = self._get_param("stageName")
        if name and (enabled is not None or size is not None):
            stage = self.backend.get_stage(self.path.split("/")[2], name)
            if enabled is not None:
                stage.cache_cluster_enabled = bool(enabled)
                stage.cache_cluster_status = "AVAILABLE" if enabled else "NOT_AVAILABLE"
            if size is not None:
                stage.cache_cluster_size = str(size)
        return result

    put_integration._stacklab_keep = True  # type: ignore[attr-defined]
    cls.put_integration, cls.create_deployment = put_integration, create_deployment

    to_json = models.Integration.to_json

    def integration_to_json(self: Any) -> dict[str, Any]:
        out = to_json(self)
        if getattr(self, "connection_id", None):
            out["connectionId"] = self.connection_id
        return out

    models.Integration.to_json = integration_to_json


def _hooks() -> None:
    from stacklab.sandbox import on_reset, on_stop

    on_reset(clear)
    on_stop(clear)


_install()
_hooks()

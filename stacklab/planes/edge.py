"""The CloudFront edge: what moto only stores, acted out for one distribution in the sandbox.

moto keeps a distribution's configuration but caches and serves nothing. This plane reads that
configuration with boto3 ``get_distribution`` on every request and applies CloudFront's documented
rules to it:

- **cache behaviours** by path-pattern precedence (``CacheBehaviors`` in order, first match wins,
  ``*`` and ``?`` wildcards, case-sensitive; otherwise the ``DefaultCacheBehavior``);
- **DefaultRootObject** for a request for ``/`` (only the root, not sub-directories);
- **lazy loading**: the first request for an object misses and fetches it from the origin, later
  requests hit the copy at the edge until its **effective TTL** (:func:`effective_ttl`, the table
  in "Manage how long content stays in the cache (expiration)") runs out on the sandbox clock;
- ``X-Cache: Hit / Miss / RefreshHit / Error from cloudfront`` and ``Age`` response headers;
- **invalidations** created with boto3 or the AWS CLI evict the paths they name (exact paths and a
  trailing ``*``), each applied once;
- **custom error responses** (``ErrorCode`` → ``ResponsePagePath``, ``ResponseCode``,
  ``ErrorCachingMinTTL``; 10 s error caching otherwise);
- **origins**: S3 REST endpoints (read with ``get_object``, access decided by the bucket policy as
  origin access control does), S3 website endpoints (the website plane, in-process) and custom
  origins on 127.0.0.1 (HTTP with a timeout);
- CloudWatch metrics under ``AWS/CloudFront`` (dimensions ``DistributionId`` and ``Region=Global``,
  in us-east-1), aggregated and sent by :func:`flush_metrics`.

Simplifications, each said where it acts: one edge location (one cache); the cache key is the
path, plus the query string only when the behaviour forwards query strings (legacy
``ForwardedValues``; moto has no cache policies); a TTL of 0 stores nothing (on AWS CloudFront may
keep the object and revalidate it on every request); because moto drops ``OriginAccessControlId``
from origins, every S3 REST origin is treated as signed by origin access control and access is
decided from the bucket policy alone. Latency is simulated (``configure``), never measured.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from stacklab._validate import require_number, require_str
from stacklab.errors import InputError, StackLabError
from stacklab.planes.http import LocalServer, Request, Response

__all__ = [
    "EdgeResponse",
    "Replay",
    "TTLExplorer",
    "cache_table",
    "clear",
    "configure",
    "effective_ttl",
    "flush_metrics",
    "invalidation_log",
    "match_behavior",
    "oac_access",
    "replay",
    "request",
    "serve",
    "stats",
    "ttl_explorer",
    "url",
]

ACCOUNT_ID = "123456789012"
#: CloudFront publishes its metrics in us-east-1 with these dimensions.
METRICS_REGION = "us-east-1"
NAMESPACE = "AWS/CloudFront"
#: Errors CloudFront caches for 10 s unless a custom error response says otherwise.
DEFAULT_ERROR_CACHING = 10
_CACHED_ERROR_CODES = frozenset({400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504})
#: A fixed edge location name: the sandbox has one edge, and outputs stay deterministic.
POP = "IAD89-C1"
_VIA = "1.1 sandbox.cloudfront.net (CloudFront)"
_ORIGIN_TIMEOUT = 5.0

_S3_WEBSITE = re.compile(r"^(?P<bucket>.+)\.s3-website[.-](?P<region>[a-z0-9-]+)\.amazonaws\.com$")
_S3_REST = re.compile(r"^(?P<bucket>.+)\.s3(?:[.-](?P<region>[a-z0-9-]+))?\.amazonaws\.com$")
_LOCAL_HOSTS = {"127.0.0.1", "localhost"}

# --------------------------------------------------------------------------------- effective TTL

_NO_CACHE = ("no-cache", "no-store", "private")


def _directives(cache_control: str) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for part in cache_control.split(","):
        part = part.strip()
        if not part:
            continue
        name, _, value = part.partition("=")
        found[name.strip().lower()] = value.strip().strip('"') if _ else None
    return found


def _seconds(name: str, value: str | None) -> int | None:
    """A delta-seconds directive value, or None when it is malformed (then it is ignored)."""
    if value is None or not value.isdigit():
        return None
    return int(value)


def _ttl_args(min_ttl: Any, default_ttl: Any, max_ttl: Any) -> tuple[int, int, int]:
    for name, value in (("min_ttl", min_ttl), ("default_ttl", default_ttl), ("max_ttl", max_ttl)):
        require_number(name, value, minimum=0, integer=True)
    if not min_ttl <= default_ttl <= max_ttl:
        raise InputError(
            f"CloudFront needs MinTTL <= DefaultTTL <= MaxTTL, got {min_ttl} / {default_ttl} / {max_ttl} "
            "(AWS rejects other orders with InvalidTTLOrder): reorder the three values."
        )
    return int(min_ttl), int(default_ttl), int(max_ttl)


def effective_ttl(
    headers: Mapping[str, str] | None, min_ttl: int, default_ttl: int, max_ttl: int, now: datetime
) -> tuple[int, str]:
    """How long CloudFront keeps a response: ``(seconds, the rule that decided it)``.

    Follows the table in CloudFront's "Manage how long content stays in the cache (expiration)":
    ``s-maxage`` beats ``max-age``, which beats ``Expires``; the chosen value is raised to MinTTL and
    lowered to MaxTTL; with neither header the DefaultTTL applies (or MinTTL if greater);
    ``no-cache``/``no-store``/``private`` are honoured (0, not cached) when MinTTL is 0, and
    MinTTL applies when it is greater. An unparseable ``Expires`` counts as already expired.
    """
    if headers is None:
        headers = {}
    if not isinstance(headers, Mapping):
        raise InputError(f"headers must be a dict of response headers, got {type(headers).__name__}.")
    low, default, high = _ttl_args(min_ttl, default_ttl, max_ttl)
    if not isinstance(now, datetime) or now.tzinfo is None:
        raise InputError(f"now must be a timezone-aware datetime (e.g. stacklab.clock().now()), got {now!r}.")
    by_name = {str(k).lower(): str(v) for k, v in headers.items()}
    directives = _directives(by_name.get("cache-control", ""))
    refused = [d for d in _NO_CACHE if d in directives]
    if refused:
        said = "Cache-Control: " + ", ".join(refused)
        if low == 0:
            return 0, f"{said} with MinTTL 0: CloudFront honours it and does not cache the object"
        return low, f"{said} with MinTTL {low} > 0: CloudFront caches for MinTTL ({low} s)"
    value: int | None = None
    source = ""
    if (s_maxage := _seconds("s-maxage", directives.get("s-maxage"))) is not None:
        value, source = s_maxage, f"s-maxage={s_maxage} (s-maxage wins over max-age for CloudFront)"
    elif (max_age := _seconds("max-age", directives.get("max-age"))) is not None:
        value, source = max_age, f"max-age={max_age}"
    elif "expires" in by_name:
        parsed = None
        try:
            parsed = email.utils.parsedate_to_datetime(by_name["expires"])
        except (TypeError, ValueError, IndexError):
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            value, source = 0, f"Expires {by_name['expires']!r} is not an HTTP date (treated as already expired)"
        else:
            left = (parsed - now).total_seconds()
            value = max(0, int(left))
            source = f"Expires is {value} s from now" if left > 0 else "Expires is in the past (0 s)"
    if value is None:
        if low > default:  # unreachable with a valid order; kept for the documented wording
            return low, f"no max-age, s-maxage or Expires: the greater of MinTTL and DefaultTTL ({low} s)"
        return default, f"no max-age, s-maxage or Expires: DefaultTTL ({default} s)"
    if value < low:
        return low, f"{source} is below MinTTL: MinTTL ({low} s) applies"
    if value > high:
        return high, f"{source} is above MaxTTL: MaxTTL ({high} s) applies"
    if low == 0 and value == 0:
        return 0, f"{source}, between MinTTL 0 and MaxTTL {high}: 0 s, not cached"
    return value, f"{source} is between MinTTL {low} and MaxTTL {high}: {value} s"


# ------------------------------------------------------------------------------------ state


@dataclass
class _Entry:
    status: int
    headers: dict[str, str]
    body: bytes
    stored_at: datetime
    ttl: int
    rule: str
    error: bool = False


@dataclass
class _Counters:
    requests: int = 0
    hits: int = 0
    misses: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    bytes: int = 0
    latency_ms: float = 0.0


@dataclass
class _State:
    cache: dict[str, dict[str, _Entry]] = field(default_factory=dict)
    applied: dict[str, set[str]] = field(default_factory=dict)
    invalidations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    counters: dict[str, _Counters] = field(default_factory=dict)
    pending: dict[tuple[str, datetime], _Counters] = field(default_factory=dict)
    origin_ms: float = 80.0
    edge_ms: float = 5.0


_state = _State()
_lock = threading.RLock()


def clear() -> None:
    """Empty every edge cache and forget metrics and applied invalidations (``stacklab.reset()`` calls it)."""
    global _state
    with _lock:
        origin, edge = _state.origin_ms, _state.edge_ms
        _state = _State(origin_ms=origin, edge_ms=edge)


def configure(*, origin_latency_ms: float | None = None, edge_latency_ms: float | None = None) -> dict[str, float]:
    """Set the simulated latencies (ms): an origin fetch costs ``origin_latency_ms`` on top of the edge's own.

    Returns the settings in force. Defaults: 80 ms per origin fetch, 5 ms at the edge.
    """
    with _lock:
        if origin_latency_ms is not None:
            _state.origin_ms = float(require_number("origin_latency_ms", origin_latency_ms, minimum=0, maximum=60000))
        if edge_latency_ms is not None:
            _state.edge_ms = float(require_number("edge_latency_ms", edge_latency_ms, minimum=0, maximum=60000))
        return {"origin_latency_ms": _state.origin_ms, "edge_latency_ms": _state.edge_ms}


def _register_reset() -> None:
    from stacklab.sandbox import on_reset

    on_reset(clear)


_register_reset()

# ------------------------------------------------------------------------------------ responses


@dataclass
class EdgeResponse(Response):
    """A response from the edge, with what the edge decided about it.

    ``cache`` is "Hit", "Miss", "RefreshHit" or "Error"; ``latency_ms`` is the simulated time the
    viewer waited; ``ttl``/``ttl_rule`` say how long the object stays cached and why.
    """

    cache: str = "Miss"
    latency_ms: float = 0.0
    ttl: int | None = None
    ttl_rule: str = ""
    behavior: str = "Default (*)"
    cache_key: str = ""

    def summary(self) -> str:
        """One deterministic line: status, X-Cache, Age, latency."""
        age = self.header("Age")
        parts = [f"{self.status}", f"X-Cache: {self.header('X-Cache')}"]
        if age is not None:
            parts.append(f"Age: {age}")
        parts.append(f"{self.latency_ms:g} ms")
        return "  ".join(parts)

    def __repr__(self) -> str:
        return f"EdgeResponse({self.summary()})"


# ------------------------------------------------------------------------------------- config


_clients: dict[tuple[str, str], Any] = {}
_clients_session: list[Any] = [None]


def _client(service: str, region_name: str | None = None) -> Any:
    """A boto3 client of the sandbox, reused while the sandbox's boto3 session is the same.

    (Creating a client costs ~20 ms; start() and reset() replace the session, and then the clients.)
    """
    import boto3

    from stacklab.sandbox import client, current

    region = region_name or current().region
    with _lock:
        if _clients_session[0] is not boto3.DEFAULT_SESSION:
            _clients.clear()
            _clients_session[0] = boto3.DEFAULT_SESSION
        found = _clients.get((service, region))
        if found is None:
            found = _clients[(service, region)] = client(service, region_name=region)
        return found


def _cf() -> Any:
    return _client("cloudfront")


def _distribution(distribution_id: Any) -> dict[str, Any]:
    require_str("distribution_id", distribution_id)
    from botocore.exceptions import ClientError

    try:
        return _cf().get_distribution(Id=distribution_id)["Distribution"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchDistribution":
            ids = [d["Id"] for d in (_cf().list_distributions()["DistributionList"].get("Items") or [])]
            raise InputError(
                f"No CloudFront distribution has the id {distribution_id!r} in the sandbox "
                f"(it has: {', '.join(ids) or 'none'}); use the Id from create_distribution's response."
            ) from exc
        raise


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    text = pattern.lstrip("/")
    out = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in text)
    return re.compile(out, re.DOTALL)


def match_behavior(config: Mapping[str, Any], path: str) -> tuple[str, dict[str, Any]]:
    """The cache behaviour CloudFront uses for ``path``: ``(path pattern, behaviour)``.

    ``CacheBehaviors`` are tried in order and the first whose pattern matches wins (``*`` any run of
    characters including ``/``, ``?`` one character, case-sensitive, leading ``/`` optional);
    otherwise the ``DefaultCacheBehavior`` (pattern ``*``).
    """
    if not isinstance(config, Mapping):
        raise InputError("config must be a DistributionConfig dict (get_distribution(...)['Distribution']"
                         "['DistributionConfig']).")
    require_str("path", path)
    if not path.startswith("/"):
        raise InputError(f"A path must start with '/', got {path!r}; e.g. '/index.html'.")
    bare = path.lstrip("/")
    for behaviour in (config.get("CacheBehaviors") or {}).get("Items") or []:
        if _pattern_regex(behaviour["PathPattern"]).fullmatch(bare):
            return behaviour["PathPattern"], behaviour
    return "Default (*)", config["DefaultCacheBehavior"]


def _ttls(behaviour: Mapping[str, Any]) -> tuple[int, int, int]:
    low = int(behaviour.get("MinTTL", 0) or 0)
    default = int(behaviour.get("DefaultTTL", 86400) if behaviour.get("DefaultTTL") is not None else 86400)
    high = int(behaviour.get("MaxTTL", 31536000) if behaviour.get("MaxTTL") is not None else 31536000)
    return low, default, high


# -------------------------------------------------------------------------------------- origins


@dataclass
class _OriginReply:
    status: int
    headers: dict[str, str]
    body: bytes


def _statement_list(policy: Any) -> list[dict[str, Any]]:
    statements = policy.get("Statement", []) if isinstance(policy, dict) else []
    return [statements] if isinstance(statements, dict) else [s for s in statements if isinstance(s, dict)]


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _action_matches(actions: list[str], wanted: str) -> bool:
    return any(_pattern_regex(a.lower()).fullmatch(wanted.lower()) for a in actions)


def _resource_matches(resources: list[str], arn: str) -> bool:
    return any(_pattern_regex(r).fullmatch(arn) for r in resources)


def _source_arn_ok(condition: Any, distribution_arn: str) -> bool:
    """True when the statement's conditions (if any) allow requests signed for ``distribution_arn``."""
    if not condition:
        return True
    if not isinstance(condition, dict):
        return False
    for operator, tests in condition.items():
        if not isinstance(tests, dict):
            return False
        for key, values in tests.items():
            if key.lower() != "aws:sourcearn":
                return False  # a condition the sandbox cannot evaluate for CloudFront: not satisfied
            wanted = _listed(values)
            op = operator.lower()
            if op in ("stringequals", "arnequals"):
                if distribution_arn not in wanted:
                    return False
            elif op in ("stringlike", "arnlike"):
                if not any(_pattern_regex(v).fullmatch(distribution_arn) for v in wanted):
                    return False
            else:
                return False
    return True


def oac_access(bucket_policy: Mapping[str, Any] | None, bucket: str, key: str, distribution_arn: str) -> str:
    """Who the bucket policy lets read ``key``: "cloudfront" (OAC grant), "public", or "" (no grant).

    An explicit Deny of ``s3:GetObject`` to ``*`` or to the CloudFront service principal wins.
    """
    require_str("bucket", bucket)
    require_str("distribution_arn", distribution_arn)
    object_arn = f"arn:aws:s3:::{bucket}/{key}"
    verdict = ""
    for statement in _statement_list(bucket_policy or {}):
        if not _action_matches(_listed(statement.get("Action")), "s3:GetObject"):
            continue
        if not _resource_matches(_listed(statement.get("Resource")), object_arn):
            continue
        principal = statement.get("Principal")
        public = principal == "*" or (isinstance(principal, dict) and "*" in _listed(principal.get("AWS")))
        service = isinstance(principal, dict) and "cloudfront.amazonaws.com" in _listed(principal.get("Service"))
        if not (public or service):
            continue
        effect = statement.get("Effect")
        if effect == "Deny" and _source_arn_ok(statement.get("Condition"), distribution_arn):
            return ""
        if effect != "Allow":
            continue
        if service and _source_arn_ok(statement.get("Condition"), distribution_arn):
            verdict = verdict or "cloudfront"
        elif public and not statement.get("Condition"):
            verdict = "public"
    return verdict


def _s3_error(status: int, code: str, message: str) -> _OriginReply:
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{message}</Message></Error>").encode()
    return _OriginReply(status, {"Content-Type": "application/xml"}, body)


def _fetch_s3(bucket: str, key: str, distribution_arn: str) -> _OriginReply:
    from botocore.exceptions import ClientError

    s3 = _client("s3")
    try:
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "NoSuchBucket":
            return _s3_error(404, "NoSuchBucket", "The specified bucket does not exist")
        policy = {}
    allowed = oac_access(policy, bucket, key, distribution_arn)
    if allowed == "public" and _restricts_public(s3, bucket):
        allowed = ""
    can_list = bool(allowed) and _grants_list(policy, bucket, distribution_arn)
    if not key:
        return _s3_error(403, "AccessDenied", "Access Denied")
    try:
        obj = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in ("NoSuchKey", "404") and can_list:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        # Without s3:ListBucket S3 hides whether the key exists: 403 for a missing object.
        return _s3_error(403, "AccessDenied", "Access Denied")
    if not allowed and not _public_acl(s3, bucket, key):
        obj["Body"].read()
        return _s3_error(403, "AccessDenied", "Access Denied")
    body = obj["Body"].read()
    headers = {"Content-Type": obj.get("ContentType") or "binary/octet-stream", "ETag": obj.get("ETag", "")}
    if obj.get("CacheControl"):
        headers["Cache-Control"] = obj["CacheControl"]
    if obj.get("Expires"):
        expires = obj["Expires"]
        if isinstance(expires, datetime):
            headers["Expires"] = email.utils.format_datetime(expires.astimezone(UTC), usegmt=True)
        else:
            headers["Expires"] = str(expires)
    if obj.get("LastModified"):
        headers["Last-Modified"] = email.utils.format_datetime(obj["LastModified"].astimezone(UTC), usegmt=True)
    return _OriginReply(200, headers, body)


def _restricts_public(s3: Any, bucket: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        config = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except ClientError:
        return False
    return bool(config.get("RestrictPublicBuckets"))


def _public_acl(s3: Any, bucket: str, key: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        grants = s3.get_object_acl(Bucket=bucket, Key=key)["Grants"]
    except ClientError:
        return False
    return any(
        g.get("Grantee", {}).get("URI") == "http://acs.amazonaws.com/groups/global/AllUsers"
        and g.get("Permission") in ("READ", "FULL_CONTROL")
        for g in grants
    )


def _grants_list(policy: Any, bucket: str, distribution_arn: str) -> bool:
    for statement in _statement_list(policy):
        if statement.get("Effect") != "Allow":
            continue
        if not _action_matches(_listed(statement.get("Action")), "s3:ListBucket"):
            continue
        if not _resource_matches(_listed(statement.get("Resource")), f"arn:aws:s3:::{bucket}"):
            continue
        principal = statement.get("Principal")
        if principal == "*" or (isinstance(principal, dict) and (
            "cloudfront.amazonaws.com" in _listed(principal.get("Service")) or "*" in _listed(principal.get("AWS"))
        )):
            if _source_arn_ok(statement.get("Condition"), distribution_arn):
                return True
    return False


def _fetch_website(host: str, method: str, target: str) -> _OriginReply:
    try:
        from stacklab.planes import website  # type: ignore[attr-defined]
    except ImportError as exc:  # the website plane is written alongside this one
        raise StackLabError(
            f"The origin {host} is an S3 website endpoint, and the website plane "
            "(stacklab.planes.website) is not available in this installation: use the bucket's REST "
            "endpoint (BUCKET.s3.amazonaws.com) as the origin instead."
        ) from exc
    reply = website.handle(Request(method=method, target=target, headers={"Host": host}), host)
    return _OriginReply(reply.status, dict(reply.headers), reply.body)


def _fetch_custom(origin: Mapping[str, Any], method: str, target: str) -> _OriginReply:
    host = origin["DomainName"]
    custom = origin.get("CustomOriginConfig") or {}
    port = int(custom.get("HTTPPort") or 80)
    connection = http.client.HTTPConnection(host, port, timeout=_ORIGIN_TIMEOUT)
    try:
        connection.request(method, target, headers={"Host": f"{host}:{port}", "User-Agent": "Amazon CloudFront"})
        reply = connection.getresponse()
        body = reply.read()
        return _OriginReply(reply.status, {k: v for k, v in reply.getheaders()}, body)
    except (OSError, http.client.HTTPException):
        return _OriginReply(504, {"Content-Type": "text/plain"},
                            f"CloudFront could not connect to the origin {host}:{port}.".encode())
    finally:
        connection.close()


def _fetch(dist: Mapping[str, Any], behaviour: Mapping[str, Any], method: str, path: str, query: str) -> _OriginReply:
    config = dist["DistributionConfig"]
    origins = {o["Id"]: o for o in (config.get("Origins") or {}).get("Items") or []}
    origin = origins.get(behaviour.get("TargetOriginId"))
    if origin is None:
        return _OriginReply(502, {"Content-Type": "text/plain"},
                            f"No origin has the id {behaviour.get('TargetOriginId')!r}.".encode())
    full = (origin.get("OriginPath") or "") + path
    domain = origin["DomainName"]
    if (found := _S3_WEBSITE.match(domain)) is not None:
        return _fetch_website(domain, method, full + (f"?{query}" if query else ""))
    if (found := _S3_REST.match(domain)) is not None:
        if method not in ("GET", "HEAD"):
            return _s3_error(405, "MethodNotAllowed", "The specified method is not allowed against this resource.")
        from urllib.parse import unquote

        return _fetch_s3(found.group("bucket"), unquote(full.lstrip("/")), dist["ARN"])
    if domain in _LOCAL_HOSTS:
        return _fetch_custom(origin, method, full + (f"?{query}" if query else ""))
    return _OriginReply(502, {"Content-Type": "text/plain"}, (
        f"The sandbox's edge cannot reach the origin {domain}: it serves S3 buckets, S3 website endpoints "
        "and servers on 127.0.0.1 only.").encode())


# -------------------------------------------------------------------------------- invalidations


def _apply_invalidations(distribution_id: str) -> None:
    cf = _cf()
    listing = cf.list_invalidations(DistributionId=distribution_id)["InvalidationList"]
    applied = _state.applied.setdefault(distribution_id, set())
    for summary in reversed(listing.get("Items") or []):
        if summary["Id"] in applied:
            continue
        batch = cf.get_invalidation(DistributionId=distribution_id, Id=summary["Id"])["Invalidation"]
        paths = list(batch["InvalidationBatch"]["Paths"].get("Items") or [])
        _evict(distribution_id, summary["Id"], paths)
        applied.add(summary["Id"])


def _evict(distribution_id: str, invalidation_id: str, paths: list[str]) -> None:
    cache = _state.cache.setdefault(distribution_id, {})
    evicted: list[str] = []
    ignored: list[str] = []
    for path in paths:
        if not path.startswith("/"):
            ignored.append(f"{path} (no leading '/': AWS rejects the request with InvalidArgument)")
            continue
        if "*" in path[:-1]:
            ignored.append(f"{path} ('*' is allowed only as the last character)")
            continue
        if path.endswith("*"):
            keys = [k for k in cache if k.startswith(path[:-1])]
        else:
            keys = [k for k in cache if k == path]
        for key in keys:
            del cache[key]
        evicted.extend(keys)
    _state.invalidations.setdefault(distribution_id, []).append(
        {"Id": invalidation_id, "Paths": paths, "Evicted": sorted(evicted), "Ignored": ignored}
    )


def invalidation_log(distribution_id: str) -> list[dict[str, Any]]:
    """The invalidations the edge has applied to ``distribution_id``: paths, keys evicted, paths ignored."""
    require_str("distribution_id", distribution_id)
    with _lock:
        return [dict(item) for item in _state.invalidations.get(distribution_id, [])]


# ---------------------------------------------------------------------------------------- serving


def _now() -> datetime:
    from stacklab import clock

    return clock().now()


def _normalise_headers(headers: Any) -> dict[str, str]:
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise InputError(f"headers must be a dict of header names to values, got {type(headers).__name__}.")
    return {str(k): str(v) for k, v in headers.items()}


def request(
    distribution_id: str, path: str, *, method: str = "GET", headers: Mapping[str, str] | None = None
) -> EdgeResponse:
    """Send one viewer request to the distribution's edge, in-process; returns an :class:`EdgeResponse`.

    Reads the distribution with ``get_distribution`` and applies pending invalidations first, so a
    change made with boto3 or the CLI acts at once.
    """
    require_str("distribution_id", distribution_id)
    _check_path(path)
    require_str("method", method)
    headers = _normalise_headers(headers)
    with _lock:
        dist = _distribution(distribution_id)
        _apply_invalidations(distribution_id)
        return _handle(dist, path, method.upper(), headers)


def _check_path(path: Any) -> str:
    require_str("path", path)
    if not path.startswith("/"):
        raise InputError(f"A request path must start with '/', got {path!r}; e.g. '/index.html'.")
    if any(ch in path for ch in " \r\n\t"):
        raise InputError(f"A request path cannot contain spaces or line breaks, got {path!r}; URL-encode them.")
    return path


def _handle(dist: Mapping[str, Any], target: str, method: str, headers: dict[str, str]) -> EdgeResponse:
    config = dist["DistributionConfig"]
    distribution_id = dist["Id"]
    now = _now()
    path, _, query = target.partition("?")
    if not config.get("Enabled", True):
        return _finish(distribution_id, now, EdgeResponse(
            403, {"Content-Type": "text/plain", "X-Cache": "Error from cloudfront"},
            b"The distribution is disabled.", cache="Error"), cacheable=False)
    if path == "/" and config.get("DefaultRootObject"):
        path = "/" + config["DefaultRootObject"].lstrip("/")
    pattern, behaviour = match_behavior(config, path)
    allowed = (behaviour.get("AllowedMethods") or {}).get("Items") or ["GET", "HEAD"]
    if method not in allowed:
        return _finish(distribution_id, now, EdgeResponse(
            403, {"Content-Type": "text/plain", "X-Cache": "Error from cloudfront"},
            f"This distribution is not configured to allow the HTTP request method {method} for this path."
            .encode(), cache="Error", behavior=pattern), cacheable=False)
    forwards_query = bool((behaviour.get("ForwardedValues") or {}).get("QueryString"))
    key = path + (f"?{query}" if query and forwards_query else "")
    cached_methods = ((behaviour.get("AllowedMethods") or {}).get("CachedMethods") or {}).get("Items") or [
        "GET", "HEAD"]
    cacheable = method in cached_methods
    cache = _state.cache.setdefault(distribution_id, {})
    entry = cache.get(key) if cacheable else None
    edge_ms, origin_ms = _state.edge_ms, _state.origin_ms
    if entry is not None:
        age = (now - entry.stored_at).total_seconds()
        if age < entry.ttl:
            label = "Error" if entry.error else "Hit"
            return _finish(distribution_id, now, _from_entry(entry, method, label, int(age), edge_ms, pattern, key),
                           cacheable=True)
    reply = _fetch(dist, behaviour, method, path, query if forwards_query else "")
    latency = edge_ms + origin_ms
    if reply.status >= 400:
        reply, status, error_ttl, latency = _error_page(dist, reply, method, latency)
        response = EdgeResponse(status, {**reply.headers, "X-Cache": "Error from cloudfront"},
                                b"" if method == "HEAD" else reply.body, cache="Error", latency_ms=latency,
                                behavior=pattern, cache_key=key, ttl=error_ttl,
                                ttl_rule=f"error response cached for {error_ttl} s")
        if cacheable and error_ttl:
            cache[key] = _Entry(status, dict(response.headers), reply.body, now, error_ttl, response.ttl_rule, True)
        return _finish(distribution_id, now, _decorate(response), cacheable=False)
    low, default, high = _ttls(behaviour)
    ttl, rule = effective_ttl(reply.headers, low, default, high, now)
    label = "Miss"
    if entry is not None and not entry.error and entry.headers.get("ETag") and \
            entry.headers.get("ETag") == reply.headers.get("ETag"):
        label = "RefreshHit"  # the origin confirmed the stale copy is current (a 304 on AWS)
    response = EdgeResponse(reply.status, {**reply.headers, "X-Cache": f"{label} from cloudfront"},
                            b"" if method == "HEAD" else reply.body, cache=label, latency_ms=latency,
                            ttl=ttl, ttl_rule=rule, behavior=pattern, cache_key=key)
    if cacheable and ttl > 0:
        cache[key] = _Entry(reply.status, dict(reply.headers), reply.body, now, ttl, rule)
    elif cacheable:
        cache.pop(key, None)
    return _finish(distribution_id, now, _decorate(response), cacheable=cacheable)


def _error_page(
    dist: Mapping[str, Any], reply: _OriginReply, method: str, latency: float
) -> tuple[_OriginReply, int, int, float]:
    config = dist["DistributionConfig"]
    status = reply.status
    error_ttl = DEFAULT_ERROR_CACHING if status in _CACHED_ERROR_CODES else 0
    for custom in (config.get("CustomErrorResponses") or {}).get("Items") or []:
        if int(custom.get("ErrorCode", 0)) != status:
            continue
        if custom.get("ErrorCachingMinTTL") is not None:
            error_ttl = int(custom["ErrorCachingMinTTL"])
        page = custom.get("ResponsePagePath")
        if page:
            _, page_behaviour = match_behavior(config, page)
            fetched = _fetch(dist, page_behaviour, "GET", page, "")
            latency += _state.origin_ms
            if fetched.status < 400:
                code = int(custom.get("ResponseCode") or status)
                return fetched, code, error_ttl, latency
        break
    return reply, status, error_ttl, latency


def _from_entry(entry: _Entry, method: str, label: str, age: int, edge_ms: float, pattern: str,
                key: str) -> EdgeResponse:
    headers = {**entry.headers, "X-Cache": f"{label} from cloudfront", "Age": str(age)}
    return _decorate(EdgeResponse(entry.status, headers, b"" if method == "HEAD" else entry.body, cache=label,
                                  latency_ms=edge_ms, ttl=entry.ttl, ttl_rule=entry.rule, behavior=pattern,
                                  cache_key=key))


def _decorate(response: EdgeResponse) -> EdgeResponse:
    response.headers["Via"] = _VIA
    response.headers["X-Amz-Cf-Pop"] = POP
    return response


def _finish(distribution_id: str, now: datetime, response: EdgeResponse, *, cacheable: bool) -> EdgeResponse:
    """Count the request for stats() and the pending CloudWatch metrics."""
    minute = now.replace(second=0, microsecond=0)
    for counters in (_state.counters.setdefault(distribution_id, _Counters()),
                     _state.pending.setdefault((distribution_id, minute), _Counters())):
        counters.requests += 1
        counters.bytes += len(response.body)
        counters.latency_ms += response.latency_ms
        if 400 <= response.status < 500:
            counters.errors_4xx += 1
        elif response.status >= 500:
            counters.errors_5xx += 1
        elif cacheable:
            if response.cache in ("Hit", "RefreshHit"):
                counters.hits += 1
            else:
                counters.misses += 1
    return response


# ------------------------------------------------------------------------------------ HTTP serving


def serve(distribution_id: str) -> LocalServer:
    """Serve the distribution's edge over real HTTP on 127.0.0.1 (one server per distribution)."""
    from stacklab.planes.http import serve as serve_http

    _distribution(distribution_id)

    def handler(req: Request) -> Response:
        try:
            response: Response = request(distribution_id, req.target, method=req.method, headers=req.headers)
        except StackLabError as exc:
            response = Response(502, {"Content-Type": "text/plain", "X-Cache": "Error from cloudfront"},
                                str(exc).encode())
        return response

    return serve_http(f"cloudfront-{distribution_id}", handler)


def url(distribution_id: str) -> str:
    """``http://127.0.0.1:PORT`` where the distribution's edge answers (started on first use)."""
    return serve(distribution_id).url


# ------------------------------------------------------------------------------------------ stats


def stats(distribution_id: str) -> dict[str, Any]:
    """Counts since the last reset: requests, hits, misses, errors, hit ratio, mean simulated latency."""
    require_str("distribution_id", distribution_id)
    with _lock:
        c = _state.counters.get(distribution_id, _Counters())
        cacheable = c.hits + c.misses
        return {
            "requests": c.requests, "hits": c.hits, "misses": c.misses,
            "errors_4xx": c.errors_4xx, "errors_5xx": c.errors_5xx, "bytes": c.bytes,
            "hit_ratio": round(c.hits / cacheable, 4) if cacheable else 0.0,
            "mean_latency_ms": round(c.latency_ms / c.requests, 2) if c.requests else 0.0,
        }


def flush_metrics() -> int:
    """Send the aggregated per-minute metrics to CloudWatch (us-east-1, ``AWS/CloudFront``); returns datums sent.

    Requests and BytesDownloaded are sums; the rates are percentages sent as statistic sets, so
    ``Average`` over a period gives the rate as CloudFront reports it.
    """
    with _lock:
        pending, _state.pending = _state.pending, {}
    data: list[dict[str, Any]] = []
    for (distribution_id, minute), c in sorted(pending.items()):
        dims = [{"Name": "DistributionId", "Value": distribution_id}, {"Name": "Region", "Value": "Global"}]

        data.append({"MetricName": "Requests", "Dimensions": dims, "Timestamp": minute, "Unit": "None",
                     "Value": float(c.requests)})
        data.append({"MetricName": "BytesDownloaded", "Dimensions": dims, "Timestamp": minute, "Unit": "None",
                     "Value": float(c.bytes)})
        rates = (("4xxErrorRate", c.errors_4xx, c.requests), ("5xxErrorRate", c.errors_5xx, c.requests),
                 ("TotalErrorRate", c.errors_4xx + c.errors_5xx, c.requests),
                 ("CacheHitRate", c.hits, c.hits + c.misses))
        for name, count, of in rates:
            if of:
                data.append({"MetricName": name, "Dimensions": dims, "Timestamp": minute, "Unit": "Percent",
                             "StatisticValues": {"SampleCount": float(of), "Sum": 100.0 * count,
                                                 "Minimum": 100.0 if count == of else 0.0,
                                                 "Maximum": 100.0 if count else 0.0}})
    cloudwatch = _client("cloudwatch", region_name=METRICS_REGION)
    for start in range(0, len(data), 500):
        cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=data[start:start + 500])
    return len(data)


# ------------------------------------------------------------------------------------------ cache view


class CacheTable:
    """What the edge holds for one distribution, as a deterministic table."""

    def __init__(self, rows: list[tuple[str, int, int, int, str]]) -> None:
        self.rows = rows

    def __repr__(self) -> str:
        if not self.rows:
            return "(the edge cache is empty)"
        width = max(len("key"), *(len(r[0]) for r in self.rows))
        lines = [f"{'key':<{width}}  status  age (s)  ttl (s)  rule"]
        for key, status, age, ttl, rule in self.rows:
            lines.append(f"{key:<{width}}  {status:>6}  {age:>7}  {ttl:>7}  {rule}")
        return "\n".join(lines)


def cache_table(distribution_id: str) -> CacheTable:
    """The entries cached for ``distribution_id`` (still fresh ones only) with age, TTL and rule."""
    require_str("distribution_id", distribution_id)
    with _lock:
        now = _now()
        rows = []
        for key, entry in sorted(_state.cache.get(distribution_id, {}).items()):
            age = int((now - entry.stored_at).total_seconds())
            if age < entry.ttl:
                rows.append((key, entry.status, age, entry.ttl, entry.rule))
        return CacheTable(rows)


# ----------------------------------------------------------------------------------------- replay


@dataclass
class Replay:
    """The responses to a stream of requests, with the hit ratio and simulated latency over it."""

    paths: list[str]
    responses: list[EdgeResponse]
    every: float

    @property
    def hit_ratio(self) -> float:
        """Hits (and RefreshHits) over all requests."""
        hits = sum(r.cache in ("Hit", "RefreshHit") for r in self.responses)
        return hits / len(self.responses) if self.responses else 0.0

    @property
    def mean_latency_ms(self) -> float:
        """Mean simulated latency of the stream."""
        return sum(r.latency_ms for r in self.responses) / len(self.responses) if self.responses else 0.0

    def cumulative_hit_ratio(self) -> list[float]:
        """Hit ratio after each request (for plotting)."""
        out, hits = [], 0
        for index, response in enumerate(self.responses, 1):
            hits += response.cache in ("Hit", "RefreshHit")
            out.append(hits / index)
        return out

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for response in self.responses:
            counts[response.cache] = counts.get(response.cache, 0) + 1
        shown = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        return (f"{len(self.responses)} requests ({shown}): hit ratio {self.hit_ratio:.1%}, "
                f"mean latency {self.mean_latency_ms:.1f} ms")

    def plot(self, origin_only_ms: float | None = None) -> Any:
        """Latency per request and the cumulative hit ratio (a matplotlib Figure)."""
        import matplotlib.pyplot as plt

        baseline = _state.edge_ms + _state.origin_ms if origin_only_ms is None else origin_only_ms
        figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
        xs = list(range(1, len(self.responses) + 1))
        top.plot(xs, [r.latency_ms for r in self.responses], ".", label="through the edge")
        top.axhline(baseline, color="tab:red", linestyle="--", label="every request to the origin")
        top.set_ylabel("latency (ms)")
        top.legend(loc="center right")
        bottom.plot(xs, [100 * v for v in self.cumulative_hit_ratio()], color="tab:green")
        bottom.set_ylabel("hit ratio so far (%)")
        bottom.set_xlabel("request number")
        bottom.set_ylim(0, 100)
        figure.suptitle("CloudFront edge: simulated latency and hit ratio")
        figure.tight_layout()
        plt.close(figure)
        return figure


def replay(distribution_id: str, paths: Iterable[str], *, every: float = 0.0) -> Replay:
    """Send ``paths`` to the edge in order, ``every`` sandbox seconds apart; returns a :class:`Replay`.

    The distribution is read once for the whole stream (nothing can change it while this one call
    runs; the clock still advances between requests, so TTLs expire inside the stream).
    """
    require_str("distribution_id", distribution_id)
    require_number("every", every, minimum=0, maximum=86400)
    if isinstance(paths, str):
        raise InputError("paths must be a list of paths such as ['/index.html', '/style.css'], not one string.")
    items = [_check_path(p) for p in paths]
    if not items:
        raise InputError("paths is empty: give at least one path, e.g. ['/index.html'].")
    if len(items) > 10000:
        raise InputError(f"paths holds {len(items)} requests; keep a stream to at most 10,000.")
    from stacklab import clock

    responses: list[EdgeResponse] = []
    with _lock:
        dist = _distribution(distribution_id)
        _apply_invalidations(distribution_id)
        for index, path in enumerate(items):
            if index and every:
                clock().advance(seconds=every)
            responses.append(_handle(dist, path, "GET", {}))
    return Replay(items, responses, float(every))


# ----------------------------------------------------------------------------------- TTL explorer


class TTLExplorer:
    """Cache-Control / Expires and Min/Default/Max TTL in; the effective TTL and its rule out.

    :meth:`evaluate` is the widgets' callback logic and needs no browser.
    """

    def __init__(self, cache_control: str = "max-age=3600", expires_in: int | None = None,
                 min_ttl: int = 0, default_ttl: int = 86400, max_ttl: int = 31536000) -> None:
        self.start = dict(cache_control=cache_control, expires_in=expires_in, min_ttl=min_ttl,
                          default_ttl=default_ttl, max_ttl=max_ttl)
        self.evaluate(**self.start)
        self._widget: Any = None
        self._controls: dict[str, Any] = {}

    @staticmethod
    def evaluate(cache_control: str = "", expires_in: int | None = None, min_ttl: int = 0,
                 default_ttl: int = 86400, max_ttl: int = 31536000) -> tuple[int, str]:
        """The effective TTL for these inputs; ``expires_in`` is seconds from now (None: no Expires header)."""
        if not isinstance(cache_control, str):
            raise InputError(f"cache_control must be a string such as 'max-age=3600', got {cache_control!r}.")
        from stacklab.clock import EPOCH

        headers: dict[str, str] = {}
        if cache_control.strip():
            headers["Cache-Control"] = cache_control
        if expires_in is not None:
            require_number("expires_in", expires_in, integer=True)
            headers["Expires"] = email.utils.format_datetime(EPOCH + timedelta(seconds=expires_in), usegmt=True)
        return effective_ttl(headers, min_ttl, default_ttl, max_ttl, EPOCH)

    @property
    def widget(self) -> Any:
        """The ipywidgets UI (built on first use)."""
        if self._widget is None:
            self._widget = self._build()
        return self._widget

    def _build(self) -> Any:
        import ipywidgets as w

        style = {"description_width": "160px"}
        c = self._controls
        c["cache_control"] = w.Text(value=self.start["cache_control"], description="Cache-Control", style=style)
        c["expires_in"] = w.Text(value="" if self.start["expires_in"] is None else str(self.start["expires_in"]),
                                 description="Expires in (s, blank=none)", style=style)
        for name in ("min_ttl", "default_ttl", "max_ttl"):
            c[name] = w.IntText(value=self.start[name], description=name.replace("_", " ").replace("ttl", "TTL"),
                                style=style)
        self._out = w.HTML()
        for control in c.values():
            control.observe(self._refresh, names="value")
        self._refresh()
        return w.VBox([*c.values(), self._out])

    def _refresh(self, change: Any = None) -> str:
        """Widget callback: evaluate the current inputs and show the result (or what is wrong)."""
        values = {k: v.value for k, v in self._controls.items()}
        text = values.pop("expires_in").strip()
        try:
            expires = int(text) if text else None
            ttl, rule = self.evaluate(expires_in=expires, **values)
            shown = f"<b>Effective TTL: {ttl} s</b> — {rule}"
        except (InputError, ValueError) as exc:
            shown = f"<span style='color:#cf222e'>{exc}</span>"
        self._out.value = shown
        return shown

    def __repr__(self) -> str:
        ttl, rule = self.evaluate(**self.start)
        return f"TTL explorer (change the inputs in a live kernel): effective TTL {ttl} s — {rule}"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude))
        bundle["text/plain"] = repr(self)
        return bundle


def ttl_explorer(cache_control: str = "max-age=3600", *, expires_in: int | None = None, min_ttl: int = 0,
                 default_ttl: int = 86400, max_ttl: int = 31536000) -> TTLExplorer:
    """An interactive TTL explorer; display it in a notebook to get the inputs."""
    return TTLExplorer(cache_control, expires_in, min_ttl, default_ttl, max_ttl)

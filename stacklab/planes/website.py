"""The Amazon S3 website endpoint, served from the buckets in the sandbox.

moto stores a bucket's website configuration but serves nothing from it: a GET on a website bucket
returns ListBucket XML. This plane answers the way ``BUCKET.s3-website-us-east-1.amazonaws.com``
does, reading everything (website configuration, Block Public Access, bucket policy, object ACLs,
ownership controls, logging) from the sandbox with boto3 on **every** request, so a change made with
boto3 or the AWS CLI acts at once:

* ``GET /`` and ``GET /folder/`` serve the index document (``IndexDocument.Suffix``); ``GET /folder``
  (no slash) answers ``302`` to ``/folder/`` when ``folder/index.html`` exists and ``folder`` does not;
* a missing key answers ``404`` with the error document (``ErrorDocument.Key``) or AWS's default HTML
  page; an object that exists but is not publicly readable answers ``403``;
* public read is decided like S3 for an anonymous request: a bucket policy ``Allow`` of
  ``s3:GetObject`` to ``Principal "*"`` on a matching resource, or an object ACL granting ``READ`` to
  ``AllUsers``; an explicit ``Deny`` wins; Block Public Access (account and bucket level) switches the
  public grants off (``RestrictPublicBuckets`` the policy's, ``IgnorePublicAcls`` the ACL's);
* ``RedirectAllRequestsTo``, ``RoutingRules`` (``KeyPrefixEquals``, ``HttpErrorCodeReturnedEquals``;
  ``Protocol``, ``HostName``, ``ReplaceKeyPrefixWith``, ``ReplaceKeyWith``, ``HttpRedirectCode``) and
  an object's ``WebsiteRedirectLocation`` (``301``);
* only GET and HEAD (others ``405``); ``NoSuchBucket`` / ``NoSuchWebsiteConfiguration`` pages;
* server access logging: with ``put_bucket_logging`` set, each request writes one log object named
  ``TargetPrefix + YYYY-mm-DD-HH-MM-SS-UNIQUESTRING`` holding one record in AWS's documented format,
  timed by the sandbox clock. :func:`deliver_logs` runs the next delivery rounds, so logging a bucket
  into itself can be watched growing without end.

Simplifications (each said in the lesson): a policy ``Condition`` is evaluated only for
``aws:SecureTransport`` (always false: website endpoints speak HTTP only), ``aws:SourceIp`` and
``aws:Referer``; statements with any other condition key, or with ``NotPrincipal``/``NotAction``/
``NotResource``, are not applied. ``BlockPublicPolicy`` makes AWS refuse to *store* a public policy;
moto stores it anyway, so the plane ignores such a policy while the setting is on. Access logs are
written at once, one record per object (AWS batches records and delivers them within hours, best
effort). The endpoint's Region is not checked against the bucket's.

In-process: :func:`handle` (what the CloudFront edge plane calls) and :func:`get`. Over HTTP:
:func:`serve` (one server picking the bucket from the ``Host`` header) and :func:`url` (a server of
its own per bucket, so ``requests.get(url(bucket))`` works without setting ``Host``).
"""

from __future__ import annotations

import fnmatch
import hashlib
import html
import ipaddress
import json
import random
import re
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from stacklab._validate import require_number, require_str
from stacklab.errors import InputError, StackLabError
from stacklab.planes.http import LocalServer, Request, Response

__all__ = [
    "DASH_REGIONS",
    "LOG_FIELDS",
    "LogRecord",
    "access_log",
    "bucket_name_problems",
    "certificate_matches",
    "deliver_logs",
    "endpoint",
    "get",
    "handle",
    "parse_log_record",
    "pending_log_deliveries",
    "serve",
    "url",
]

#: Regions whose website endpoint uses a dash (``s3-website-REGION``); every other Region uses a dot
#: (``s3-website.REGION``). Source: AWS General Reference, "Amazon S3 website endpoints".
DASH_REGIONS = frozenset({
    "us-east-1", "us-west-1", "us-west-2", "ap-southeast-1", "ap-southeast-2", "ap-northeast-1",
    "eu-west-1", "sa-east-1", "us-gov-west-1",
})  # fmt: skip

#: The fields of a server access log record, in AWS's documented order.
LOG_FIELDS = (
    "bucket_owner", "bucket", "time", "remote_ip", "requester", "request_id", "operation", "key",
    "request_uri", "http_status", "error_code", "bytes_sent", "object_size", "total_time",
    "turn_around_time", "referer", "user_agent", "version_id", "host_id", "signature_version",
    "cipher_suite", "authentication_type", "host_header", "tls_version", "access_point_arn", "acl_required",
)  # fmt: skip

_ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
_LOG_DELIVERY_REQUESTER = "svc:logging.s3.amazonaws.com"
_HOST_RE = re.compile(r"^(?P<bucket>.+)\.s3-website(?P<sep>[-.])(?P<region>[a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com$")
_REASONS = {301: "Moved Permanently", 302: "Found", 304: "Not Modified", 307: "Temporary Redirect",
            400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed"}  # fmt: skip

_state_lock = threading.RLock()
_rng = random.Random(0)
_counter = [0]
_pending: list[tuple[str, str, int]] = []  # (bucket written to, key of the log object, its size)
_clients: dict[str, Any] = {}
_hooked = [False]


# ------------------------------------------------------------------------------------- plumbing


def _reset_state() -> None:
    with _state_lock:
        from stacklab.sandbox import current, is_running

        seed = current().seed if is_running() else 0
        _rng.seed(f"website-plane-{seed}")
        _counter[0] = 0
        _pending.clear()
        _clients.clear()


def _ensure_hooks() -> None:
    if _hooked[0]:
        return
    from stacklab.sandbox import on_reset, on_stop

    on_reset(_reset_state)
    on_stop(_forget_clients)
    _reset_state()
    _hooked[0] = True


def _forget_clients() -> None:
    with _state_lock:
        _clients.clear()
        _pending.clear()


def _client(service: str) -> Any:
    _ensure_hooks()
    with _state_lock:
        found = _clients.get(service)
        if found is None:
            from stacklab.sandbox import client

            found = _clients[service] = client(service)
        return found


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def _call(func: Any, missing: tuple[str, ...], **kwargs: Any) -> Any:
    """``func(**kwargs)``, or None when AWS answers one of the ``missing`` error codes."""
    from botocore.exceptions import ClientError

    try:
        return func(**kwargs)
    except ClientError as exc:
        if _error_code(exc) in missing:
            return None
        raise


def _ids() -> tuple[str, str]:
    """A deterministic request ID (16 hex digits, like AWS's) and host ID (base64-like)."""
    with _state_lock:
        _counter[0] += 1
        number = _counter[0]
    request_id = hashlib.sha256(f"website-request-{number}".encode()).hexdigest()[:16].upper()
    host_id = hashlib.sha512(request_id.encode()).hexdigest()[:76]
    return request_id, host_id


# --------------------------------------------------------------------------------- host names


def _check_bucket(bucket: Any) -> str:
    require_str("bucket", bucket)
    if bucket != bucket.strip() or "/" in bucket:
        raise InputError(
            f"bucket must be a bucket name such as 'examplebucket' (no slashes or spaces), got {bucket!r}."
        )
    return bucket


def endpoint(bucket: str, region: str | None = None) -> str:
    """The website endpoint host name of ``bucket`` in ``region`` (default: the sandbox's Region).

    ``examplebucket.s3-website-us-east-1.amazonaws.com`` (dash) in the older Regions listed in
    :data:`DASH_REGIONS`, ``examplebucket.s3-website.eu-central-1.amazonaws.com`` (dot) elsewhere.
    """
    _check_bucket(bucket)
    if region is None:
        from stacklab.sandbox import current

        region = current().region
    require_str("region", region)
    if not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", region):
        raise InputError(f"region must be a Region code such as 'us-east-1', got {region!r}.")
    separator = "-" if region in DASH_REGIONS else "."
    return f"{bucket}.s3-website{separator}{region}.amazonaws.com"


def _bucket_from_host(host: str) -> str:
    """The bucket a Host header names: ``BUCKET.s3-website…`` or, as with a CNAME, the whole host."""
    name = host.strip().lower()
    if name.startswith("["):
        name = name.split("]", 1)[0] + "]"
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    name = name.rstrip(".")
    match = _HOST_RE.match(name)
    return match.group("bucket") if match else name


# -------------------------------------------------------------------------------- HTML answers


def _html_error(status: int, fields: list[tuple[str, str]], nested: list[tuple[str, str]] | None = None) -> bytes:
    title = f"{status} {_REASONS.get(status, 'Error')}"
    lines = ["<html>", f"<head><title>{title}</title></head>", "<body>", f"<h1>{title}</h1>", "<ul>"]
    lines += [f"<li>{name}: {html.escape(value)}</li>" for name, value in fields]
    lines.append("</ul>")
    if nested:
        lines.append("<h3>An Error Occurred While Attempting to Retrieve a Custom Error Document</h3>")
        lines.append("<ul>")
        lines += [f"<li>{name}: {html.escape(value)}</li>" for name, value in nested]
        lines.append("</ul>")
    lines += ["<hr/>", "</body>", "</html>", ""]
    return "\n".join(lines).encode()


_MESSAGES = {
    "NoSuchBucket": "The specified bucket does not exist",
    "NoSuchWebsiteConfiguration": "The specified bucket does not have a website configuration",
    "NoSuchKey": "The specified key does not exist.",
    "AccessDenied": "Access Denied",
    "MethodNotAllowed": "The specified method is not allowed against this resource.",
}


@dataclass
class _Ctx:
    """What one request needs to know; filled in as the plane reads the sandbox."""

    request: Request
    host: str
    bucket: str
    request_id: str
    host_id: str
    website: dict | None = None
    policy: dict | None = None
    block_policy: bool = False
    ignore_acls: bool = False
    acls_disabled: bool = False
    key: str = "-"
    object_size: int | None = None
    version_id: str | None = None
    error_code: str = "-"
    acl_used: bool = False


def _error_response(ctx: _Ctx, status: int, code: str, extra: list[tuple[str, str]] | None = None) -> Response:
    ctx.error_code = code
    fields = [("Code", code), ("Message", _MESSAGES.get(code, code)), *(extra or [])]
    fields += [("RequestId", ctx.request_id), ("HostId", ctx.host_id)]
    return Response(status, _base_headers(ctx, "text/html; charset=utf-8"), _html_error(status, fields))


def _base_headers(ctx: _Ctx, content_type: str | None = None) -> dict[str, str]:
    headers = {"x-amz-id-2": ctx.host_id, "x-amz-request-id": ctx.request_id, "Server": "AmazonS3"}
    if content_type:
        headers["Content-Type"] = content_type
    return headers


def _redirect(ctx: _Ctx, status: int, location: str) -> Response:
    headers = _base_headers(ctx)
    headers["Location"] = location
    return Response(status, headers, b"")


# ------------------------------------------------------------------------------- access rules


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _principal_is_everyone(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return "*" in _as_list(principal.get("AWS"))
    return False


def _action_matches(actions: Any, action: str) -> bool:
    return any(isinstance(a, str) and fnmatch.fnmatchcase(action.lower(), a.lower()) for a in _as_list(actions))


def _resource_matches(resources: Any, arn: str) -> bool:
    return any(isinstance(r, str) and fnmatch.fnmatchcase(arn, r.replace("[", "[[]")) for r in _as_list(resources))


def _ip_in(client_ip: str, cidrs: Any) -> bool:
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    for cidr in _as_list(cidrs):
        try:
            if address in ipaddress.ip_network(str(cidr), strict=False):
                return True
        except ValueError:
            continue
    return False


def _conditions_hold(condition: Any, request: Request) -> bool | None:
    """True/False when the plane can evaluate every condition, None when one is unsupported."""
    if not condition:
        return True
    if not isinstance(condition, dict):
        return None
    context = {"aws:securetransport": "false", "aws:sourceip": request.client_ip,
               "aws:referer": request.header("referer")}  # fmt: skip
    for operator, tests in condition.items():
        if not isinstance(tests, dict):
            return None
        for key, expected in tests.items():
            name = str(key).lower()
            if name not in context:
                return None
            actual = context[name]
            values = [str(v) for v in _as_list(expected)]
            op = str(operator)
            if name == "aws:sourceip" and op in ("IpAddress", "NotIpAddress"):
                inside = _ip_in(str(actual), values)
                ok = inside if op == "IpAddress" else not inside
            elif name == "aws:securetransport" and op == "Bool":
                ok = actual in [v.lower() for v in values]
            elif name == "aws:referer" and op in ("StringEquals", "StringLike", "StringNotEquals", "StringNotLike"):
                if actual is None:
                    ok = op.startswith("StringNot")
                else:
                    hit = any(fnmatch.fnmatchcase(actual, v) if "Like" in op else actual == v for v in values)
                    ok = hit if op in ("StringEquals", "StringLike") else not hit
            else:
                return None
            if not ok:
                return False
    return True


def _policy_decision(policy: dict | None, bucket: str, key: str, request: Request) -> tuple[bool, bool, bool]:
    """(denied, allowed, allowed-publicly) for an anonymous s3:GetObject of ``key``."""
    arn = f"arn:aws:s3:::{bucket}/{key}"
    denied = allowed = public = False
    for statement in _as_list((policy or {}).get("Statement")):
        if not isinstance(statement, dict) or {"NotPrincipal", "NotAction", "NotResource"} & set(statement):
            continue
        if not _principal_is_everyone(statement.get("Principal")):
            continue
        if not _action_matches(statement.get("Action"), "s3:GetObject"):
            continue
        if not _resource_matches(statement.get("Resource"), arn):
            continue
        holds = _conditions_hold(statement.get("Condition"), request)
        if not holds:
            continue
        if statement.get("Effect") == "Deny":
            denied = True
        elif statement.get("Effect") == "Allow":
            allowed = True
            limited = any(
                isinstance(t, dict) and any(str(k).lower() == "aws:sourceip" for k in t)
                for op, t in (statement.get("Condition") or {}).items()
                if op == "IpAddress"
            )
            public = public or not limited
    return denied, allowed, public


def _acl_public(bucket: str, key: str) -> bool:
    acl = _client("s3").get_object_acl(Bucket=bucket, Key=key)
    for grant in acl.get("Grants", []):
        grantee = grant.get("Grantee", {})
        if grantee.get("URI") == _ALL_USERS and grant.get("Permission") in ("READ", "FULL_CONTROL"):
            return True
    return False


def _readable(ctx: _Ctx, key: str) -> bool:
    """Whether an anonymous visitor may GET ``key`` (which exists)."""
    denied, allowed, public = _policy_decision(ctx.policy, ctx.bucket, key, ctx.request)
    if denied:
        return False
    if allowed and not (public and ctx.block_policy):
        return True
    if ctx.ignore_acls or ctx.acls_disabled:
        return False
    if _acl_public(ctx.bucket, key):
        ctx.acl_used = True
        return True
    return False


def _load_access_settings(ctx: _Ctx) -> None:
    s3 = _client("s3")
    raw = _call(s3.get_bucket_policy, ("NoSuchBucketPolicy",), Bucket=ctx.bucket)
    ctx.policy = None
    if raw is not None:
        try:
            ctx.policy = json.loads(raw["Policy"])
        except (TypeError, ValueError):
            ctx.policy = None
    settings: dict[str, bool] = {}
    bucket_block = _call(s3.get_public_access_block, ("NoSuchPublicAccessBlockConfiguration",), Bucket=ctx.bucket)
    from stacklab.sandbox import current

    account_block = _call(
        _client("s3control").get_public_access_block,
        ("NoSuchPublicAccessBlockConfiguration",),
        AccountId=current().account_id,
    )
    for found in (bucket_block, account_block):
        for name, value in ((found or {}).get("PublicAccessBlockConfiguration") or {}).items():
            settings[name] = settings.get(name, False) or bool(value)
    ctx.block_policy = settings.get("RestrictPublicBuckets", False) or settings.get("BlockPublicPolicy", False)
    ctx.ignore_acls = settings.get("IgnorePublicAcls", False)
    ownership = _call(s3.get_bucket_ownership_controls, ("OwnershipControlsNotFoundError",), Bucket=ctx.bucket)
    rules = ((ownership or {}).get("OwnershipControls") or {}).get("Rules") or []
    ctx.acls_disabled = any(r.get("ObjectOwnership") == "BucketOwnerEnforced" for r in rules)


class _MotoRefused(Exception):
    """moto refused the plane's own read (it applies a policy's Deny without its conditions)."""


def _head(ctx: _Ctx, key: str) -> dict | None:
    from botocore.exceptions import ClientError

    if not key:
        return None
    try:
        return _call(_client("s3").head_object, ("404", "NoSuchKey", "NotFound"), Bucket=ctx.bucket, Key=key)
    except ClientError as exc:
        if _error_code(exc) in ("403", "AccessDenied"):
            raise _MotoRefused(key) from None
        raise


# ------------------------------------------------------------------------------- routing rules


def _location(ctx: _Ctx, redirect: dict, new_key: str) -> str:
    protocol = redirect.get("Protocol") or "http"
    host = redirect.get("HostName") or ctx.host
    return f"{protocol}://{host}/{quote(new_key, safe='/~')}"


def _rule_redirect(ctx: _Ctx, key: str, error_status: int | None) -> Response | None:
    for rule in (ctx.website or {}).get("RoutingRules") or []:
        condition = rule.get("Condition") or {}
        prefix = condition.get("KeyPrefixEquals")
        code = condition.get("HttpErrorCodeReturnedEquals")
        if code is None and error_status is not None:
            continue  # rules without an error-code condition were applied before the object was looked up
        if code is not None and (error_status is None or str(error_status) != str(code)):
            continue
        if prefix is not None and not key.startswith(prefix):
            continue
        redirect = rule.get("Redirect") or {}
        if "ReplaceKeyWith" in redirect:
            new_key = redirect["ReplaceKeyWith"]
        elif "ReplaceKeyPrefixWith" in redirect:
            new_key = redirect["ReplaceKeyPrefixWith"] + key[len(prefix or "") :]
        else:
            new_key = key
        status = int(redirect.get("HttpRedirectCode") or 301)
        return _redirect(ctx, status, _location(ctx, redirect, new_key))
    return None


# ------------------------------------------------------------------------------------- serving


_PASSED_HEADERS = (
    ("CacheControl", "Cache-Control"),
    ("ContentEncoding", "Content-Encoding"),
    ("ContentDisposition", "Content-Disposition"),
    ("ContentLanguage", "Content-Language"),
)


def _object_response(ctx: _Ctx, key: str, status: int = 200) -> Response:
    from botocore.exceptions import ClientError

    try:
        obj = _client("s3").get_object(Bucket=ctx.bucket, Key=key)
    except ClientError as exc:
        if _error_code(exc) in ("403", "AccessDenied"):
            raise _MotoRefused(key) from None
        raise
    body = obj["Body"].read()
    headers = _base_headers(ctx, obj.get("ContentType") or "binary/octet-stream")
    if obj.get("ETag"):
        headers["ETag"] = obj["ETag"]
    if obj.get("LastModified") is not None:
        headers["Last-Modified"] = obj["LastModified"].strftime("%a, %d %b %Y %H:%M:%S GMT")
    for field, header in _PASSED_HEADERS:
        if obj.get(field):
            headers[header] = obj[field]
    if obj.get("Expires") is not None:
        expires = obj["Expires"]
        headers["Expires"] = (
            expires.strftime("%a, %d %b %Y %H:%M:%S GMT") if hasattr(expires, "strftime") else str(expires)
        )
    for name, value in (obj.get("Metadata") or {}).items():
        headers[f"x-amz-meta-{name}"] = value
    if obj.get("VersionId") and obj["VersionId"] != "null":
        headers["x-amz-version-id"] = obj["VersionId"]
        ctx.version_id = obj["VersionId"]
    ctx.object_size = len(body)
    if status == 200 and obj.get("ETag") and ctx.request.header("if-none-match") in (obj["ETag"], "*"):
        return Response(304, headers, b"")
    return Response(status, headers, body)


def _error_document(ctx: _Ctx, status: int, code: str, extra: list[tuple[str, str]]) -> Response:
    """The custom error document with ``status``, or AWS's default page (with why it failed)."""
    error_key = ((ctx.website or {}).get("ErrorDocument") or {}).get("Key")
    if not error_key:
        return _error_response(ctx, status, code, extra)
    found = _head(ctx, error_key)
    if found is None:
        nested = [("Code", "NoSuchKey"), ("Message", _MESSAGES["NoSuchKey"]), ("Key", error_key)]
    elif not _readable(ctx, error_key):
        nested = [("Code", "AccessDenied"), ("Message", _MESSAGES["AccessDenied"])]
    else:
        response = _object_response(ctx, error_key, status)
        ctx.error_code = code
        return response
    response = _error_response(ctx, status, code, extra)
    fields = [("Code", code), ("Message", _MESSAGES.get(code, code)), *extra]
    fields += [("RequestId", ctx.request_id), ("HostId", ctx.host_id)]
    response.body = _html_error(status, fields, nested)
    return response


def _fail(ctx: _Ctx, key: str, status: int, code: str, extra: list[tuple[str, str]]) -> Response:
    redirected = _rule_redirect(ctx, key, status)
    if redirected is not None:
        return redirected
    return _error_document(ctx, status, code, extra)


def _serve_website(ctx: _Ctx) -> Response:
    from botocore.exceptions import ClientError

    request = ctx.request
    s3 = _client("s3")
    try:
        ctx.website = s3.get_bucket_website(Bucket=ctx.bucket)
    except ClientError as exc:
        code = _error_code(exc)
        if code in ("NoSuchBucket", "NoSuchWebsiteConfiguration"):
            return _error_response(ctx, 404, code, [("BucketName", ctx.bucket)])
        raise
    if request.method not in ("GET", "HEAD"):
        return _error_response(ctx, 405, "MethodNotAllowed", [("Method", request.method), ("ResourceType", "OBJECT")])
    path_key = unquote(request.path[1:])
    ctx.key = path_key or "-"
    everything = ctx.website.get("RedirectAllRequestsTo")
    if everything:
        return _redirect(ctx, 301, _location(ctx, everything, path_key))
    redirected = _rule_redirect(ctx, path_key, None)
    if redirected is not None:
        return redirected
    suffix = (ctx.website.get("IndexDocument") or {}).get("Suffix") or "index.html"
    key = path_key + suffix if (not path_key or path_key.endswith("/")) else path_key
    ctx.key = key
    _load_access_settings(ctx)
    found = _head(ctx, key)
    if found is None and key == path_key and _head(ctx, f"{path_key}/{suffix}") is not None:
        return _redirect(ctx, 302, f"/{quote(path_key, safe='/~')}/")
    if found is None:
        return _fail(ctx, path_key, 404, "NoSuchKey", [("Key", key)])
    if not _readable(ctx, key):
        return _fail(ctx, path_key, 403, "AccessDenied", [])
    if found.get("WebsiteRedirectLocation"):
        ctx.object_size = int(found.get("ContentLength") or 0)
        return _redirect(ctx, 301, found["WebsiteRedirectLocation"])
    return _object_response(ctx, key)


def handle(request: Request, host: str) -> Response:
    """Answer ``request`` as the S3 website endpoint ``host`` would.

    ``host`` is the endpoint host name (``BUCKET.s3-website-us-east-1.amazonaws.com``, the dot form
    ``BUCKET.s3-website.REGION.amazonaws.com``, or a custom domain equal to the bucket name, as with
    a CNAME). The CloudFront edge plane calls this for website origins.
    """
    if not isinstance(request, Request):
        raise InputError(f"handle() needs a stacklab.planes.http.Request, got {type(request).__name__}.")
    require_str("host", host)
    from stacklab.sandbox import current

    current()
    bucket = _bucket_from_host(host)
    request_id, host_id = _ids()
    ctx = _Ctx(request=request, host=host.strip(), bucket=bucket, request_id=request_id, host_id=host_id)
    try:
        response = _serve_website(ctx)
    except _MotoRefused:
        # moto applies a bucket policy's Deny statements to the plane's own (signed) reads without
        # evaluating their conditions; AWS would evaluate them. Answer as a refusal.
        response = _error_response(ctx, 403, "AccessDenied")
    if request.method == "HEAD":
        response.body = b""  # a HEAD answer has headers only
    _log_request(ctx, response)
    return response


def get(
    bucket: str,
    path: str = "/",
    *,
    headers: dict[str, str] | None = None,
    client_ip: str = "127.0.0.1",
    method: str = "GET",
) -> Response:
    """GET ``path`` from ``bucket``'s website endpoint, in-process (no HTTP server needed)."""
    _check_bucket(bucket)
    require_str("path", path)
    if not path.startswith("/"):
        raise InputError(f"path must start with '/', e.g. '/index.html'; got {path!r}.")
    if any(ch.isspace() or ord(ch) < 32 for ch in path):
        raise InputError(f"path must not contain spaces or control characters (percent-encode them): {path!r}.")
    if headers is not None and not isinstance(headers, dict):
        raise InputError(f"headers must be a dict of header names to values, got {type(headers).__name__}.")
    require_str("client_ip", client_ip)
    try:
        ipaddress.ip_address(client_ip)
    except ValueError:
        raise InputError(f"client_ip must be an IP address such as '203.0.113.7', got {client_ip!r}.") from None
    _require_bucket(bucket)
    host = endpoint(bucket)
    request = Request(method=method, target=path, headers={"Host": host, **(headers or {})}, client_ip=client_ip)
    return handle(request, host)


def _require_bucket(bucket: str) -> None:
    if _call(_client("s3").head_bucket, ("404", "NoSuchBucket", "NotFound"), Bucket=bucket) is None:
        names = sorted(b["Name"] for b in _client("s3").list_buckets().get("Buckets", []))
        raise InputError(
            f"No bucket is named {bucket!r} in the sandbox (it has: {', '.join(names) or 'no buckets'}). "
            "Create it first, or call website.handle(Request('GET', '/'), website.endpoint(name)) to see "
            "the NoSuchBucket page AWS would answer."
        )


# ---------------------------------------------------------------------------------- over HTTP


def _host_handler(request: Request) -> Response:
    return handle(request, request.header("host") or "127.0.0.1")


def serve() -> LocalServer:
    """One website server on 127.0.0.1 that picks the bucket from the ``Host`` header.

    ``requests.get(server.url + "/", headers={"Host": endpoint("examplebucket")})``.
    """
    from stacklab.planes.http import serve as serve_http

    _ensure_hooks()
    return serve_http("s3-website", _host_handler)


def url(bucket: str) -> str:
    """``http://127.0.0.1:PORT/`` of a server that answers as ``bucket``'s website endpoint.

    Each bucket gets a loopback server of its own, so no ``Host`` header is needed; its answers are
    those of :func:`handle` with ``host`` = :func:`endpoint` (redirects without a ``HostName`` point
    back at this server).
    """
    _check_bucket(bucket)
    _require_bucket(bucket)
    from stacklab.planes.http import serve as serve_http

    def bucket_handler(request: Request) -> Response:
        host = request.header("host") or endpoint(bucket)
        response = handle(request, endpoint(bucket))
        location = response.header("Location")
        prefix = f"http://{endpoint(bucket)}/"
        if location and location.startswith(prefix):
            response.headers["Location"] = f"http://{host}/" + location[len(prefix) :]
        return response

    return serve_http(f"s3-website:{bucket}", bucket_handler).url + "/"


# ------------------------------------------------------------------------------ access logging


@dataclass(frozen=True)
class LogRecord:
    """One server access log record, field by field (see :data:`LOG_FIELDS`)."""

    bucket_owner: str
    bucket: str
    time: str
    remote_ip: str
    requester: str
    request_id: str
    operation: str
    key: str
    request_uri: str
    http_status: str
    error_code: str
    bytes_sent: str
    object_size: str
    total_time: str
    turn_around_time: str
    referer: str
    user_agent: str
    version_id: str
    host_id: str
    signature_version: str
    cipher_suite: str
    authentication_type: str
    host_header: str
    tls_version: str
    access_point_arn: str
    acl_required: str

    def line(self) -> str:
        """The record as AWS writes it: space-separated, ``[time]``, quoted URI/referer/agent."""
        parts = []
        for name in LOG_FIELDS:
            value = getattr(self, name)
            if name == "time":
                value = f"[{value}]"
            elif name in ("request_uri", "referer", "user_agent"):
                value = f'"{value}"'
            parts.append(value)
        return " ".join(parts)


_LOG_TOKEN = re.compile(r'"[^"]*"|\[[^\]]*\]|\S+')


def parse_log_record(line: str) -> LogRecord:
    """Parse one access log line (AWS's format) into a :class:`LogRecord`."""
    require_str("line", line)
    tokens = _LOG_TOKEN.findall(line.strip())
    if len(tokens) < len(LOG_FIELDS):
        raise InputError(
            f"An access log record has {len(LOG_FIELDS)} fields; this line has {len(tokens)}: {line[:80]!r}."
        )
    values = [t[1:-1] if t[:1] in ('"', "[") else t for t in tokens[: len(LOG_FIELDS)]]
    return LogRecord(*values)


def _dash(value: object) -> str:
    text = "" if value is None else str(value)
    return text if text else "-"


def _logging_target(bucket: str) -> tuple[str, str] | None:
    found = _call(_client("s3").get_bucket_logging, ("NoSuchBucket",), Bucket=bucket)
    enabled = (found or {}).get("LoggingEnabled")
    if not enabled or not enabled.get("TargetBucket"):
        return None
    return enabled["TargetBucket"], enabled.get("TargetPrefix") or ""


def _log_key(prefix: str) -> str:
    from stacklab.sandbox import current

    with _state_lock:
        unique = "".join(_rng.choice("0123456789ABCDEF") for _ in range(16))
    return prefix + current().clock.now().strftime("%Y-%m-%d-%H-%M-%S-") + unique


def _owner_id() -> str:
    return _client("s3").list_buckets().get("Owner", {}).get("ID") or "-"


def _write_log(target: tuple[str, str], record: LogRecord, targets: dict[str, Any] | None = None) -> None:
    """Write ``record`` as one log object; queue its own record if its bucket is logged too.

    ``targets`` caches each bucket's logging target for the duration of one delivery round.
    """
    bucket, prefix = target
    key = _log_key(prefix)
    s3 = _client("s3")
    body = (record.line() + "\n").encode()
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/plain")
    except Exception:  # noqa: BLE001 - AWS delivers logs on a best-effort basis; a failed delivery is lost
        return
    cache = {} if targets is None else targets
    if bucket not in cache:
        cache[bucket] = _logging_target(bucket)
    if cache[bucket] is not None:
        with _state_lock:
            _pending.append((bucket, key, len(body)))


def _log_time() -> str:
    from stacklab.sandbox import current

    return current().clock.now().strftime("%d/%b/%Y:%H:%M:%S +0000")


def _log_request(ctx: _Ctx, response: Response) -> None:
    if ctx.website is None and response.status == 404 and ctx.error_code == "NoSuchBucket":
        return
    target = _logging_target(ctx.bucket)
    if target is None:
        return
    request = ctx.request
    sent = len(response.body)
    record = LogRecord(
        bucket_owner=_owner_id(), bucket=ctx.bucket, time=_log_time(), remote_ip=request.client_ip,
        requester="-", request_id=ctx.request_id, operation=f"WEBSITE.{request.method}.OBJECT",
        key=_dash(quote(ctx.key, safe="/~") if ctx.key != "-" else "-"),
        request_uri=f"{request.method} {request.target} HTTP/1.1", http_status=str(response.status),
        error_code=_dash(ctx.error_code), bytes_sent=_dash(sent or None),
        object_size=_dash(ctx.object_size), total_time=str(2 + sent // 65536), turn_around_time="1",
        referer=_dash(request.header("referer")), user_agent=_dash(request.header("user-agent")),
        version_id=_dash(ctx.version_id), host_id=ctx.host_id, signature_version="-", cipher_suite="-",
        authentication_type="-", host_header=_dash(request.header("host") or ctx.host), tls_version="-",
        access_point_arn="-", acl_required="Yes" if ctx.acl_used else "-",
    )  # fmt: skip
    _write_log(target, record)


def pending_log_deliveries() -> int:
    """How many log-object writes landed in a logged bucket and still await their own log record."""
    _ensure_hooks()
    with _state_lock:
        return len(_pending)


def deliver_logs(rounds: int = 1) -> list[int]:
    """Run ``rounds`` log-delivery rounds; returns how many log objects each round wrote.

    Writing a log object is itself a request to the bucket it lands in (``REST.PUT.OBJECT`` by the
    log-delivery service). When that bucket has logging enabled — as when a bucket logs into
    itself — the write earns a record of its own in the next round, which is again a write…
    """
    require_number("rounds", rounds, minimum=1, maximum=1000, integer=True)
    from stacklab.sandbox import current

    current()
    _ensure_hooks()
    written: list[int] = []
    for _ in range(int(rounds)):
        with _state_lock:
            batch = list(_pending)
            _pending.clear()
        targets: dict[str, Any] = {}
        owner = _owner_id() if batch else "-"
        for bucket, key, size in batch:
            if bucket not in targets:
                targets[bucket] = _logging_target(bucket)
            target = targets[bucket]
            if target is None:
                continue
            request_id, host_id = _ids()
            record = LogRecord(
                bucket_owner=owner, bucket=bucket, time=_log_time(), remote_ip="-",
                requester=_LOG_DELIVERY_REQUESTER, request_id=request_id, operation="REST.PUT.OBJECT",
                key=quote(key, safe="/~"), request_uri=f"PUT /{bucket}/{quote(key, safe='/~')} HTTP/1.1",
                http_status="200", error_code="-", bytes_sent="-", object_size=str(size), total_time="3",
                turn_around_time="2", referer="-", user_agent="-", version_id="-", host_id=host_id,
                signature_version="SigV4", cipher_suite="ECDHE-RSA-AES128-GCM-SHA256",
                authentication_type="AuthHeader", host_header=f"{bucket}.s3.amazonaws.com", tls_version="TLSv1.2",
                access_point_arn="-", acl_required="-",
            )  # fmt: skip
            _write_log(target, record, targets)
        written.append(len(batch))
    return written


def access_log(bucket: str, prefix: str = "") -> dict[str, list[LogRecord]]:
    """The access log records stored in ``bucket`` under ``prefix``, sorted by who wrote them.

    ``"plane"``: records this plane wrote (website requests and log deliveries). ``"moto"``: the
    synthetic records moto writes for every S3 REST call it receives on a logged bucket (bucket
    field ``originbucket``, operation ``REST.<METHOD>.BUCKET``, status always 200).
    """
    _check_bucket(bucket)
    require_str("prefix", prefix, allow_empty=True)
    _require_bucket(bucket)
    s3 = _client("s3")
    sorted_records: dict[str, list[LogRecord]] = {"plane": [], "moto": []}
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [item["Key"] for item in page.get("Contents", [])]
    for key in keys:
        text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8", "replace")
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                record = parse_log_record(line)
            except InputError:
                continue
            who = "moto" if record.bucket == "originbucket" else "plane"
            sorted_records[who].append(record)
    for records in sorted_records.values():
        records.sort(key=lambda r: (r.time, r.request_id))
    return sorted_records


# --------------------------------------------------------------------------- names and TLS


_IP_LIKE = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")


def bucket_name_problems(name: str) -> list[str]:
    """Why ``name`` breaks S3's general purpose bucket naming rules (empty list: it is valid)."""
    require_str("name", name, allow_empty=True)
    problems = []
    if not 3 <= len(name) <= 63:
        problems.append(f"must be 3 to 63 characters long (it has {len(name)})")
    if re.search(r"[^a-z0-9.-]", name):
        problems.append("may contain only lower-case letters, digits, periods and hyphens")
    if name and not (name[0].isalnum() and name[-1].isalnum()):
        problems.append("must begin and end with a letter or digit")
    if ".." in name:
        problems.append("must not contain two adjacent periods")
    if _IP_LIKE.match(name):
        problems.append("must not look like an IP address")
    for prefix in ("xn--", "sthree-", "amzn-s3-demo-"):
        if name.startswith(prefix):
            problems.append(f"must not start with the reserved prefix {prefix!r}")
    for suffix in ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"):
        if name.endswith(suffix):
            problems.append(f"must not end with the reserved suffix {suffix!r}")
    return problems


def certificate_matches(pattern: str, hostname: str) -> bool:
    """Whether a certificate name ``pattern`` (e.g. ``*.s3.amazonaws.com``) covers ``hostname``.

    RFC 6125 rules as browsers apply them: names compare case-insensitively label by label; a
    ``*`` is allowed only as the whole left-most label and matches exactly **one** label, never a
    dot — so ``*.s3.amazonaws.com`` covers ``examplebucket.s3.amazonaws.com`` but not
    ``www.example.com.s3.amazonaws.com``.
    """
    require_str("pattern", pattern)
    require_str("hostname", hostname)
    want = pattern.lower().rstrip(".").split(".")
    have = hostname.lower().rstrip(".").split(".")
    if any(not label for label in want + have):
        raise InputError(f"Names must not contain empty labels: {pattern!r}, {hostname!r}.")
    if any("*" in label for label in want[1:]) or ("*" in want[0] and want[0] != "*"):
        raise StackLabError(
            f"{pattern!r}: this matcher accepts a wildcard only as the whole left-most label (e.g. '*.example.com')."
        )
    if len(want) != len(have):
        return False
    return all(w == "*" or w == h for w, h in zip(want, have, strict=True))

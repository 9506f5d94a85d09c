"""API Gateway access logs: the stage's ``accessLogSettings`` rendered per request into CloudWatch Logs.

moto stores a stage's ``accessLogSettings`` (``update_stage`` with ``replace /accessLogSettings/destinationArn``
and ``/accessLogSettings/format``; ``remove /accessLogSettings`` turns logging off) but writes no log.
The REST gateway plane (:mod:`stacklab.planes.gateway`) calls :func:`log_request` after every request
of a stage that has both a destination and a format; the settings are read with ``get_stage`` on every
request. One request → one log event, timestamped by the **sandbox clock**, in the log group named by
``destinationArn`` (``arn:aws:logs:REGION:ACCOUNT:log-group:NAME``, an optional trailing ``:*`` allowed).

**Formats.** ``$context.NAME`` variables are substituted (:func:`render`, reusable for HTTP APIs);
a variable the request does not have, or that the plane does not know, becomes ``-``, as on AWS
("the context variable is ``-``"). :data:`PRESETS` holds the console's four REST presets (CLF, JSON,
XML, CSV) and :data:`HTTP_API_PRESETS` the HTTP API ones, copied from the API Gateway Developer Guide
("Access logging for REST APIs" / "Configure logging for HTTP APIs"). ``$context.requestTime`` is
``dd/MMM/yyyy:HH:mm:ss +0000`` (e.g. ``15/Jan/2026:09:00:00 +0000``) and ``$context.requestTimeEpoch``
milliseconds, both on the sandbox clock. Latencies are the gateway plane's simulated figures.

Where the plane simplifies (said in the lessons):

* AWS does not document the names of access-log streams (they are opaque ids); the plane writes to one
  stream per API and stage, named by :func:`stream_name` (32 hex digits derived from both).
* On AWS, enabling access logs for REST APIs needs the account's CloudWatch Logs role
  (``update_account`` ``/cloudwatchRoleArn``) and an existing log group; the plane does not require
  the role, and writes nothing (it does not create the group) when the group does not exist.
* ``$context.identity.caller`` / ``identity.user`` are filled only when an IAM (SigV4) identity is known
  to the gateway; ``$context.integration.status`` is the status the integration stage produced (the
  response's status when an integration ran, ``-`` for a cache hit or an early refusal).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from datetime import datetime
from typing import Any

from stacklab._validate import require_str
from stacklab.errors import InputError

__all__ = ["HTTP_API_PRESETS", "PRESETS", "extended_request_id", "lines", "log_request", "render",
           "request_time", "stream_name"]  # fmt: skip

#: The REST API console's access-log presets (API Gateway Developer Guide, "Access logging for REST APIs").
PRESETS: dict[str, str] = {
    "CLF": (
        "$context.identity.sourceIp $context.identity.caller $context.identity.user [$context.requestTime]"
        '"$context.httpMethod $context.resourcePath $context.protocol" $context.status $context.responseLength'
        " $context.requestId $context.extendedRequestId"
    ),
    "JSON": (
        '{ "requestId":"$context.requestId", "extendedRequestId":"$context.extendedRequestId","ip": '
        '"$context.identity.sourceIp", "caller":"$context.identity.caller", "user":"$context.identity.user", '
        '"requestTime":"$context.requestTime", "httpMethod":"$context.httpMethod", '
        '"resourcePath":"$context.resourcePath", "status":"$context.status", "protocol":"$context.protocol", '
        '"responseLength":"$context.responseLength" }'
    ),
    "XML": (
        '<request id="$context.requestId"> <extendedRequestId>$context.extendedRequestId</extendedRequestId> '
        "<ip>$context.identity.sourceIp</ip> <caller>$context.identity.caller</caller> "
        "<user>$context.identity.user</user> <requestTime>$context.requestTime</requestTime> "
        "<httpMethod>$context.httpMethod</httpMethod> <resourcePath>$context.resourcePath</resourcePath> "
        "<status>$context.status</status> <protocol>$context.protocol</protocol> "
        "<responseLength>$context.responseLength</responseLength> </request>"
    ),
    "CSV": (
        "$context.identity.sourceIp,$context.identity.caller,$context.identity.user,$context.requestTime,"
        "$context.httpMethod,$context.resourcePath,$context.protocol,$context.status,$context.responseLength,"
        "$context.requestId,$context.extendedRequestId"
    ),
}

#: The HTTP API console's presets (API Gateway Developer Guide, "Configure logging for HTTP APIs").
HTTP_API_PRESETS: dict[str, str] = {
    "CLF": (
        '$context.identity.sourceIp - - [$context.requestTime] "$context.httpMethod $context.routeKey '
        '$context.protocol" $context.status $context.responseLength $context.requestId $context.extendedRequestId'
    ),
    "JSON": (
        '{ "requestId":"$context.requestId", "ip": "$context.identity.sourceIp", '
        '"requestTime":"$context.requestTime", "httpMethod":"$context.httpMethod","routeKey":"$context.routeKey", '
        '"status":"$context.status","protocol":"$context.protocol", "responseLength":"$context.responseLength", '
        '"extendedRequestId": "$context.extendedRequestId" }'
    ),
    "XML": (
        '<request id="$context.requestId"> <ip>$context.identity.sourceIp</ip> '
        "<requestTime>$context.requestTime</requestTime> <httpMethod>$context.httpMethod</httpMethod> "
        "<routeKey>$context.routeKey</routeKey> <status>$context.status</status> "
        "<protocol>$context.protocol</protocol> <responseLength>$context.responseLength</responseLength> "
        "<extendedRequestId>$context.extendedRequestId</extendedRequestId> </request>"
    ),
    "CSV": (
        "$context.identity.sourceIp,$context.requestTime,$context.httpMethod,$context.routeKey,$context.protocol,"
        "$context.status,$context.responseLength,$context.requestId,$context.extendedRequestId"
    ),
}

_VARIABLE = re.compile(r"\$context\.([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_LOG_GROUP_ARN = re.compile(r"arn:aws[a-z-]*:logs:[^:]+:\d{12}:log-group:([^:]+)(?::\*)?$")


def render(format: str, context: dict[str, Any]) -> str:  # noqa: A002 - AWS's name for it
    """Substitute ``$context.NAME`` in ``format`` from ``context`` (keys without the ``$context.`` prefix,
    e.g. ``"identity.sourceIp"``); missing, ``None`` or empty values become ``-``, as on AWS."""
    if not isinstance(format, str):
        raise InputError(f"format must be a string of $context variables, got {type(format).__name__}.")
    if not isinstance(context, dict):
        raise InputError(f"context must be a dict of variable name -> value, got {type(context).__name__}.")

    def sub(m: re.Match) -> str:
        value = context.get(m.group(1))
        if value is None or value == "":
            return "-"
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    return _VARIABLE.sub(sub, format)


def request_time(when: datetime) -> str:
    """AWS's ``$context.requestTime`` (``dd/MMM/yyyy:HH:mm:ss +0000``, English month, UTC)."""
    if not isinstance(when, datetime):
        raise InputError(f"when must be a datetime, got {type(when).__name__}.")
    return f"{when:%d}/{_MONTHS[when.month - 1]}/{when:%Y:%H:%M:%S} +0000"


def stream_name(api_id: str, stage: str) -> str:
    """The log stream the plane writes a stage's access logs to (AWS's names are undocumented ids)."""
    require_str("api_id", api_id)
    require_str("stage", stage)
    return hashlib.md5(f"{api_id}/{stage}".encode(), usedforsecurity=False).hexdigest()


def extended_request_id(request_id: str) -> str:
    """A stable 16-character ``x-amz-apigw-id`` / ``$context.extendedRequestId`` for a request id."""
    require_str("request_id", request_id)
    digest = hashlib.sha256(request_id.encode()).digest()[:12]
    return base64.b64encode(digest).decode()[:15] + "="


def log_group_name(destination_arn: str) -> str:
    """The log group named by an access-log ``destinationArn``; :class:`InputError` when it is not one."""
    require_str("destination_arn", destination_arn)
    m = _LOG_GROUP_ARN.match(destination_arn)
    if not m:
        raise InputError(
            f"{destination_arn!r} is not a CloudWatch Logs log group ARN: use "
            "arn:aws:logs:REGION:ACCOUNT:log-group:NAME (describe_log_groups returns it, without the ':*')."
        )
    return m.group(1)


_lock = threading.Lock()
_errors: list[str] = []


def _body_message(response: Any) -> str | None:
    try:
        data = json.loads(response.body or b"null")
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(data, dict):
        message = data.get("message", data.get("Message"))
        return None if message is None else str(message)
    return None


def context_of(ctx: Any, response: Any, latency_ms: float) -> dict[str, Any]:
    """The ``$context`` variables of one REST request handled by the gateway plane."""
    when = _now()
    error_type = response.headers.get("x-amzn-ErrorType")
    gateway_error = bool(error_type) or "x-stacklab-reason" in response.headers
    message = _body_message(response) if gateway_error else None
    caller = getattr(ctx, "caller", None)
    identity = caller.identity() if caller is not None else {}
    integration_ran = ctx.integration_ms is not None
    values: dict[str, Any] = {
        "requestId": ctx.request_id, "extendedRequestId": extended_request_id(ctx.request_id),
        "apiId": ctx.api_id, "stage": ctx.stage, "accountId": ctx.account_id,
        "domainName": f"{ctx.api_id}.execute-api.{ctx.region}.amazonaws.com",
        "domainPrefix": ctx.api_id, "httpMethod": ctx.method, "resourcePath": ctx.resource_path or None,
        "path": f"/{ctx.stage}{ctx.path}", "protocol": "HTTP/1.1", "status": response.status,
        "responseLength": len(response.body or b""), "requestTime": request_time(when),
        "requestTimeEpoch": int(when.timestamp() * 1000), "identity.sourceIp": ctx.client_ip,
        "identity.userAgent": ctx.headers.get("user-agent"), "identity.caller": identity.get("caller"),
        "identity.user": identity.get("user"), "identity.userArn": identity.get("userArn"),
        "identity.accountId": identity.get("accountId"), "identity.accessKey": identity.get("accessKey"),
        "identity.apiKey": ctx.headers.get("x-api-key"),
        "integrationLatency": round(ctx.integration_ms) if integration_ran else None,
        "integration.latency": round(ctx.integration_ms) if integration_ran else None,
        "integration.status": response.status if integration_ran else None,
        "integrationStatus": response.status if integration_ran else None,
        "responseLatency": round(latency_ms), "error.message": message,
        "error.messageString": json.dumps(message) if message is not None else None,
        "authorizer.error": message if error_type == "UnauthorizedException" else None,
        "authorizer.principalId": (ctx.authorizer_context or {}).get("principalId"),
        "wafResponseCode": None, "webaclArn": None,
    }  # fmt: skip
    return values


def log_request(ctx: Any, stage: dict[str, Any], response: Any, latency_ms: float) -> bool:
    """Write one access-log event for a handled request when the stage logs; True when written."""
    settings = stage.get("accessLogSettings") or {}
    destination, fmt = settings.get("destinationArn"), settings.get("format")
    if not destination or not fmt:
        return False
    try:
        group = log_group_name(str(destination))
    except InputError as exc:
        _note(str(exc))
        return False
    line = render(str(fmt), context_of(ctx, response, latency_ms))
    return _write(group, stream_name(ctx.api_id, ctx.stage), line)


def _note(message: str) -> None:
    with _lock:
        _errors.append(message)
        del _errors[:-20]


def _write(group: str, stream: str, line: str) -> bool:
    from stacklab.planes import functions, gateway

    logs = gateway._client("logs")
    found = logs.describe_log_groups(logGroupNamePrefix=group).get("logGroups", [])
    if not any(g.get("logGroupName") == group for g in found):
        _note(f"access log not written: log group {group!r} does not exist (create_log_group first)")
        return False
    functions._write_logs(group, stream, [line])
    return True


def lines(destination: str, *, api_id: str | None = None, stage: str | None = None) -> list[str]:
    """The access-log lines written so far to a log group (name or ARN), oldest first; with ``api_id``
    and ``stage``, only that stage's stream."""
    require_str("destination", destination)
    group = log_group_name(destination) if destination.startswith("arn:") else destination
    from stacklab.planes import gateway

    logs = gateway._client("logs")
    kwargs: dict[str, Any] = {"logGroupName": group}
    if api_id is not None or stage is not None:
        kwargs["logStreamNames"] = [stream_name(str(api_id or ""), str(stage or ""))]
    try:
        events = logs.filter_log_events(**kwargs).get("events", [])
    except Exception as exc:  # noqa: BLE001 - botocore ClientError
        if getattr(exc, "response", {}).get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise InputError(
                f"There is no log group {group!r} in the sandbox: create it with create_log_group."
            ) from None
        raise
    return [e["message"] for e in sorted(events, key=lambda e: e["timestamp"])]


def skipped() -> list[str]:
    """Why recent access-log events were not written (at most 20, newest last)."""
    with _lock:
        return list(_errors)


def clear() -> None:
    """Forget the recorded reasons (``stacklab.reset()`` calls it)."""
    with _lock:
        _errors.clear()


def _now() -> datetime:
    from stacklab.sandbox import current

    return current().clock.now()


def _hooks() -> None:
    from stacklab.sandbox import on_reset, on_stop

    on_reset(clear)
    on_stop(clear)


_hooks()

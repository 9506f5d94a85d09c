"""WebSocket API configuration, route selection, authorizer and integrations (used by :mod:`websocket`).

Everything is read from moto's apigatewayv2 store at each call (:func:`load`), in boto3's shapes
(:mod:`stacklab.planes.http_apis` converts them). The functions here are synchronous and run in a
worker thread of the websocket plane, never on its event loop (a Lambda handler may call
``post_to_connection``, which needs the loop).
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from stacklab.errors import StackLabError
from stacklab.planes import gateway as gw
from stacklab.planes import http_apis

#: AWS's integration timeout for WebSocket APIs (ms): 50 ms to 29 s.
MAX_TIMEOUT_MS = 29_000


@dataclass
class Config:
    """One stage of a WebSocket API as the gateway sees it now (boto3 shapes)."""

    api: dict[str, Any]
    stage: dict[str, Any]
    routes: dict[str, dict[str, Any]]  # route key -> route (+ "RouteResponses")
    integrations: dict[str, dict[str, Any]]  # integration id -> integration (+ "IntegrationResponses")
    authorizers: dict[str, dict[str, Any]]

    @property
    def stage_variables(self) -> dict[str, str]:
        return dict(self.stage.get("StageVariables") or {})

    def integration_of(self, route: dict[str, Any]) -> dict[str, Any] | None:
        target = str(route.get("Target") or "")
        return self.integrations.get(target.removeprefix("integrations/")) if target else None


def api_object(api_id: str) -> Any | None:
    """moto's Api object, or None when there is no such API."""
    from moto.apigatewayv2.exceptions import ApiNotFound

    try:
        return http_apis._backend().get_api(api_id)
    except ApiNotFound:
        return None


def load(api_id: str, stage: str) -> Config | None:
    """The live configuration of ``api_id``/``stage``; None for an unknown API or stage."""
    api = api_object(api_id)
    if api is None or api.protocol_type != "WEBSOCKET" or stage not in api.stages:
        return None
    routes = {}
    for route in list(api.routes.values()):
        shaped = http_apis._json(route)
        shaped["RouteResponses"] = [http_apis._json(r) for r in list(route.route_responses.values())]
        routes[str(shaped.get("RouteKey"))] = shaped
    integrations = {}
    for integration in list(api.integrations.values()):
        shaped = http_apis._json(integration)
        shaped["IntegrationResponses"] = [http_apis._json(r) for r in list(integration.responses.values())]
        integrations[str(shaped["IntegrationId"])] = shaped
    authorizers = {str(a["AuthorizerId"]): a for a in (http_apis._json(x) for x in list(api.authorizers.values()))}
    return Config(http_apis._json(api), http_apis._json(api.stages[stage]), routes, integrations, authorizers)


# ------------------------------------------------------------------------------------ route selection

_BODY_REF = re.compile(r"\$\{request\.body\.([^}]+)\}|\$request\.body\.([A-Za-z0-9_.\-]+)")


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return None


def evaluate(expression: str, text: str) -> str | None:
    """The route key ``expression`` selects for the frame ``text``; None when it cannot be evaluated
    (the frame is not JSON, a referenced property is missing or not a scalar)."""
    try:
        body = json.loads(text)
    except ValueError:
        return None
    missing = False

    def sub(m: re.Match) -> str:
        nonlocal missing
        value: Any = body
        for part in (m.group(1) or m.group(2)).split("."):
            value = value.get(part) if isinstance(value, dict) else None
        found = _scalar(value)
        if found is None:
            missing = True
            return ""
        return found

    result = _BODY_REF.sub(sub, expression)
    return None if missing else result


def select(config: Config, text: str | None) -> str | None:
    """The route key a message goes to: the evaluated expression when a route has it, else ``$default``
    (when the API has one), else None (AWS then answers with its ``Forbidden`` error frame)."""
    expression = str(config.api.get("RouteSelectionExpression") or "$request.body.action")
    key = evaluate(expression, text) if text is not None else None
    if key is not None and key in config.routes and key not in ("$connect", "$disconnect", "$default"):
        return key
    return "$default" if "$default" in config.routes else None


# ------------------------------------------------------------------------------------ events


@dataclass
class Call:
    """One request to the gateway: a connect, a message or a disconnect of one connection."""

    api_id: str
    stage: str
    route_key: str
    connection_id: str
    request_id: str
    message_id: str | None
    connected_at: datetime
    when: datetime
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    source_ip: str = "127.0.0.1"
    authorizer: dict[str, Any] | None = None
    stage_variables: dict[str, str] = field(default_factory=dict)
    disconnect_code: int = 1000
    disconnect_reason: str = ""
    integration_ms: float | None = None
    target: str = "/"  # the upgrade request's path and query, as received
    iam_identity: dict[str, Any] | None = None  # the SigV4 caller of an AWS_IAM $connect

    def gw_ctx(self) -> gw._Ctx:
        """A REST-plane context for its helpers (policy decision, template rendering)."""
        from stacklab.sandbox import current

        box = current()
        return gw._Ctx(
            api_id=self.api_id, stage=self.stage, method=self.route_key, path="", headers=dict(self.headers),
            query=dict(self.query), body=(self.body or "").encode(), client_ip=self.source_ip,
            request_id=self.request_id, region=box.region, account_id=box.account_id,
            stage_variables=dict(self.stage_variables),
        )  # fmt: skip


def event(call: Call) -> dict[str, Any]:
    """AWS's Lambda proxy event of a WebSocket route (built by :func:`functions.websocket_event`)."""
    from stacklab.planes import functions

    out = functions.websocket_event(
        call.route_key, call.connection_id, body=call.body if call.body is not None else "",
        headers=call.headers, query=call.query, stage=call.stage, api_id=call.api_id, source_ip=call.source_ip,
        connected_at=call.connected_at, disconnect_status_code=call.disconnect_code, request_id=call.request_id,
        time=call.when,
    )  # fmt: skip
    ctx = out["requestContext"]
    ctx["extendedRequestId"] = call.request_id
    if ctx["eventType"] == "MESSAGE":
        ctx["messageId"] = call.message_id
    if ctx["eventType"] == "DISCONNECT":
        ctx["disconnectReason"] = call.disconnect_reason
    if call.authorizer is not None:
        ctx["authorizer"] = dict(call.authorizer)
    if call.iam_identity:
        ctx["identity"].update(call.iam_identity)
    if call.stage_variables:
        out["stageVariables"] = dict(call.stage_variables)
    return out


def authorizer_event(call: Call) -> dict[str, Any]:
    """The REQUEST authorizer event of ``$connect``: the connect event plus ``type``/``methodArn``."""
    base = event(call)
    ctx = call.gw_ctx()
    out: dict[str, Any] = {"type": "REQUEST", "methodArn": ctx.method_arn()}
    for key in ("headers", "multiValueHeaders", "queryStringParameters", "multiValueQueryStringParameters"):
        if key in base:
            out[key] = base[key]
    out["stageVariables"] = dict(call.stage_variables)
    out["requestContext"] = base["requestContext"]
    return out


# ------------------------------------------------------------------------------------ authorizer


@dataclass
class Outcome:
    """What the gateway does with a request: ``status`` (HTTP-like), an optional frame for the client."""

    status: int
    body: str | None = None
    error: str | None = None  # "client" / "integration" / "execution" (for metrics)
    reason: str = ""
    failed: bool = False  # the integration could not run or failed: AWS's "Internal server error" frame


def _fail(status: int, error: str, reason: str) -> Outcome:
    return Outcome(status, error=error, reason=reason, failed=True)


def _identity(source: str, call: Call) -> str | None:
    lowered = source.strip()
    for prefix, table in (("route.request.querystring.", call.query), ("route.request.header.", call.headers)):
        if lowered.startswith(prefix):
            name = lowered[len(prefix) :]
            if table is call.headers:
                return next((v for k, v in table.items() if k.lower() == name.lower()), None)
            return table.get(name)
    if lowered.startswith("stageVariables."):
        return call.stage_variables.get(lowered[len("stageVariables.") :])
    return None


def authorize(config: Config, route: dict[str, Any], call: Call) -> Outcome | None:
    """Run the ``$connect`` route's authorizer; None when the connection may proceed (``call.authorizer``
    then holds ``principalId`` and the context), else the refusal (401/403/500)."""
    from stacklab.planes import functions

    kind = str(route.get("AuthorizationType") or "NONE").upper()
    if kind == "AWS_IAM":
        return _iam(call)
    if kind != "CUSTOM":
        return None
    authorizer = config.authorizers.get(str(route.get("AuthorizerId") or ""))
    if authorizer is None:
        return _fail(500, "execution", "the route's AuthorizerId names no authorizer")
    values = [_identity(str(s), call) for s in authorizer.get("IdentitySource") or []]
    if any(not v for v in values):
        return Outcome(401, error="client", reason="an identity source is missing")
    ctx = call.gw_ctx()
    m = gw._LAMBDA_URI.match(gw._substitute_stage_variables(str(authorizer.get("AuthorizerUri") or ""), ctx))
    if not m:
        return _fail(500, "execution", "AuthorizerUri is not a Lambda invocation URI")
    try:
        inv = functions.invoke(m.group(1), authorizer_event(call))
        result = json.loads(inv.payload or b"null")
    except (StackLabError, ValueError) as exc:
        return _fail(500, "execution", f"authorizer invocation failed: {exc}")
    if inv.function_error or not isinstance(result, dict) or "policyDocument" not in result:
        return _fail(500, "execution", "the authorizer failed or returned no policyDocument")
    if gw._authorizer_decision(result.get("policyDocument"), ctx) != "allow":
        return Outcome(403, error="client", reason="the authorizer's policy does not allow $connect")
    context = result.get("context") if isinstance(result.get("context"), dict) else {}
    call.authorizer = {"principalId": result.get("principalId"), "integrationLatency": 0, **context}
    return None


def _iam(call: Call) -> Outcome | None:
    """SigV4 on the upgrade request (:mod:`stacklab.planes.sigv4`), then the caller's identity policies
    must allow ``execute-api:Invoke`` on ``arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/$connect``."""
    from stacklab.planes import sigv4

    try:
        caller = sigv4.verify("GET", call.target, call.headers, b"")
    except sigv4.SigV4Error as exc:
        return Outcome(exc.status, error="client", reason=exc.message)
    if sigv4.identity_decision(caller, call.gw_ctx().method_arn()) != "allow":
        return Outcome(403, error="client", reason="the caller's policies do not allow execute-api:Invoke")
    call.iam_identity = {**caller.identity(), "userArn": caller.arn}
    return None


# ------------------------------------------------------------------------------------ integrations


def integrate(config: Config, route: dict[str, Any], call: Call) -> Outcome:
    """Run the route's integration. ``status`` is the integration's (2xx = success); ``body`` is what a
    two-way route sends back to the client (None: nothing)."""
    integration = config.integration_of(route)
    if integration is None:
        return _fail(500, "execution", f"route {call.route_key} has no integration target")
    kind = str(integration.get("IntegrationType") or "").upper()
    start = gw._now()
    if kind == "AWS_PROXY":
        outcome = _lambda(integration, call)
    elif kind in ("HTTP", "HTTP_PROXY"):
        outcome = _http(integration, call)
        call.integration_ms = gw.NOMINAL_INTEGRATION_MS["HTTP"]
    elif kind == "MOCK":
        outcome = _mock(integration, call)
        call.integration_ms = 0.0
    else:
        return _fail(500, "execution", f"integration type {kind} is not executed by the sandbox")
    if call.integration_ms is None:
        call.integration_ms = (gw._now() - start).total_seconds() * 1000.0
    if not two_way(route):
        outcome.body = None
    return outcome


def two_way(route: dict[str, Any]) -> bool:
    """True when the route sends the integration's result back (a ``$default`` route response)."""
    if not route.get("RouteResponseSelectionExpression"):
        return False
    return any(r.get("RouteResponseKey") == "$default" for r in route.get("RouteResponses") or [])


def _lambda(integration: dict[str, Any], call: Call) -> Outcome:
    from stacklab.planes import functions

    ctx = call.gw_ctx()
    arn = http_apis._lambda_arn(gw._substitute_stage_variables(str(integration.get("IntegrationUri") or ""), ctx))
    if arn is None:
        return _fail(500, "execution", "IntegrationUri is not a Lambda function ARN")
    before = gw._now()
    try:
        inv = functions.invoke(arn, event(call))
    except StackLabError as exc:
        return _fail(500, "integration", f"Lambda invocation failed: {exc}")
    moved = (gw._now() - before).total_seconds() * 1000.0
    call.integration_ms = max(float(inv.duration_ms or 0.0), moved)
    timeout = min(float(integration.get("TimeoutInMillis") or MAX_TIMEOUT_MS), MAX_TIMEOUT_MS)
    if call.integration_ms > timeout:
        return _fail(504, "integration", f"the integration took longer than {timeout:.0f} ms")
    if inv.function_error:
        return _fail(502, "integration", "the function failed")
    try:
        result = json.loads(inv.payload or b"null")
    except ValueError:
        return _fail(502, "integration", "the function returned no JSON")
    if isinstance(result, dict) and "statusCode" in result:
        try:
            status = int(result["statusCode"])
        except (TypeError, ValueError):
            return _fail(502, "integration", "statusCode is not a number")
        body = result.get("body")
        text = None if body is None else body if isinstance(body, str) else json.dumps(body)
        return Outcome(status, text, error="integration" if status >= 400 else None)
    return Outcome(200, None if result is None else result if isinstance(result, str) else json.dumps(result))


def _http(integration: dict[str, Any], call: Call) -> Outcome:
    ctx = call.gw_ctx()
    uri = gw._substitute_stage_variables(str(integration.get("IntegrationUri") or ""), ctx)
    split = urlsplit(uri)
    if split.scheme not in ("http", "https") or split.hostname not in gw._LOOPBACK_HOSTS:
        return _fail(500, "execution", f"the sandbox only reaches 127.0.0.1, not {uri!r}")
    payload = call.body or ""
    if str(integration.get("IntegrationType")).upper() == "HTTP":
        payload = _request_template(integration, call) or payload
    timeout = min(float(integration.get("TimeoutInMillis") or MAX_TIMEOUT_MS), MAX_TIMEOUT_MS) / 1000.0
    req = urllib.request.Request(uri, data=payload.encode(), method=str(integration.get("IntegrationMethod") or "POST"),
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - loopback only (checked)
            status, data = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, data = exc.code, exc.read()
    except (urllib.error.URLError, TimeoutError) as exc:
        return _fail(504, "integration", f"could not reach {uri}: {exc}")
    text = data.decode("utf-8", "replace")
    return Outcome(
        status, _response_template(integration, call, status, text), error="integration" if status >= 400 else None
    )


def _request_template(integration: dict[str, Any], call: Call) -> str | None:
    templates = integration.get("RequestTemplates") or {}
    if not templates:
        return None
    expression = str(integration.get("TemplateSelectionExpression") or "")
    key = evaluate(expression, call.body or "") if "request.body" in expression else expression.replace("\\", "")
    template = templates.get(key or "") or templates.get("$default")
    return None if template is None else _render(template, call, call.body or "")


def _response_template(integration: dict[str, Any], call: Call, status: int, text: str) -> str:
    responses = integration.get("IntegrationResponses") or []
    chosen = None
    for r in responses:
        key = str(r.get("IntegrationResponseKey") or "")
        if key == "$default" and chosen is None:
            chosen = r
        elif key.startswith("/") and key.endswith("/") and re.fullmatch(key[1:-1], str(status)):
            chosen = r
            break
    templates = (chosen or {}).get("ResponseTemplates") or {}
    template = templates.get("$default") if templates else None
    if template is None and templates:
        template = next(iter(templates.values()))
    return text if template is None else _render(template, call, text)


def _render(template: str, call: Call, payload: str) -> str:
    """The REST plane's VTL subset, plus the WebSocket ``$context`` variables."""
    values = {"connectionId": call.connection_id, "routeKey": call.route_key, "messageId": call.message_id or "",
              "eventType": {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(call.route_key, "MESSAGE"),
              "stage": call.stage, "apiId": call.api_id, "requestId": call.request_id}  # fmt: skip
    text = re.sub(r"\$\{?context\.(\w+)\}?", lambda m: values.get(m.group(1), m.group(0)), template)
    return gw._render(text, call.gw_ctx(), payload.encode())


def _mock(integration: dict[str, Any], call: Call) -> Outcome:
    rendered = _request_template(integration, call) or ""
    try:
        status = int((json.loads(rendered) if rendered.strip() else {}).get("statusCode", 200))
    except (ValueError, AttributeError, TypeError):
        return _fail(500, "execution", 'the MOCK request template did not produce {"statusCode": N}')
    return Outcome(status, _response_template(integration, call, status, ""))

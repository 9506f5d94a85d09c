"""Checks for Lab 05 — API Gateway fundamentals (MOCK health check, Lambda proxy, Regional endpoint, OpenAPI import).

Each check *calls the API* through :mod:`stacklab.planes.gateway` (the deployed snapshot, as a client
would) and, when the answer is wrong, reads the working configuration with boto3 to name the mistake:
a missing resource or method, a method without integration, the wrong integration type, an API never
deployed to the stage or deployed before the last change.
"""

from __future__ import annotations

import json
import re
from typing import Any

from stacklab.checks import CheckFailed, lab_check
from stacklab.labchecks import aws

LESSON = "05"
STAGE = "dev"
FUNCTION = "lab05-items"
_API_ID_RE = re.compile(r"[a-z0-9]{10}")
_RESET_HINT = (
    "If you restarted the kernel or ran stacklab.reset() since, the sandbox is empty again: "
    "re-run the exercise cells from the top."
)


# ------------------------------------------------------------------------------------ helpers


def _api_id(name: str, value: Any, source: str) -> str:
    if isinstance(value, dict):
        raise CheckFailed(f"`{name}` holds a whole dict (a boto3 response), not the API's id.",
                          f"Take just the id: `{name} = {source}['id']`.")
    if not isinstance(value, str):
        raise CheckFailed(f"`{name}` should be the REST API's id, a string such as 'a1b2c3d4e5'; it holds "
                          f"{type(value).__name__} {value!r}.", f"Set it from the response: `{name} = {source}['id']`.")
    value = value.strip()
    if value.startswith("https://") or ".execute-api." in value:
        raise CheckFailed(f"`{name}` holds an invoke URL; the API calls take the API's id.",
                          f"Use `{name} = {source}['id']` (the first part of the host name).")
    if not _API_ID_RE.fullmatch(value):
        raise CheckFailed(f"`{name}` is {value!r}, which does not look like a REST API id (ten lower-case letters "
                          "and digits).", f"Use `{name} = {source}['id']`.")
    from botocore.exceptions import ClientError

    try:
        aws("apigateway").get_rest_api(restApiId=value)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NotFoundException":
            raise CheckFailed(f"no REST API has the id {value!r} in the sandbox.",
                              f"Use the id create_rest_api returned. {_RESET_HINT}") from exc
        raise
    return value


def _resources(api_id: str) -> dict[str, dict[str, Any]]:
    """The working (not deployed) resources by path, with their methods and integrations."""
    items = aws("apigateway").get_resources(restApiId=api_id, embed=["methods"], limit=500)["items"]
    return {item["path"]: item for item in items}


def _stage(api_id: str, stage: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        return aws("apigateway").get_stage(restApiId=api_id, stageName=stage)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NotFoundException":
            return None
        raise


def _call(api_id: str, path: str, method: str = "GET", stage: str = STAGE) -> tuple[int, str]:
    from stacklab.planes import gateway

    reply = gateway.request(api_id, stage, method, path)
    return reply.status, reply.body.decode("utf-8", "replace")


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _method(resources: dict[str, dict[str, Any]], path: str, verb: str, hint: str) -> dict[str, Any]:
    """The working method ``verb`` on ``path``, else CheckFailed naming what is missing."""
    resource = resources.get(path)
    if resource is None:
        near = [p for p in resources if p.lower().rstrip("/") == path.lower()]
        if near:
            raise CheckFailed(f"the API has {near[0]!r} but not {path!r}: paths are case-sensitive.",
                              f"Create the resource with pathPart exactly as in {path!r}.")
        raise CheckFailed(f"the API has no resource {path!r} (it has: {', '.join(sorted(resources))}).", hint)
    methods = resource.get("resourceMethods") or {}
    if verb not in methods:
        if "ANY" in methods:
            return methods["ANY"]
        have = ", ".join(sorted(methods)) or "no method"
        raise CheckFailed(f"the resource {path!r} has {have}, not {verb}.",
                          f'Add it: `apigw.put_method(restApiId=api_id, resourceId=..., httpMethod="{verb}", '
                          'authorizationType="NONE")`.')
    return methods[verb]


def _integration_key(integration: dict[str, Any] | None) -> Any:
    """What of an integration decides its behaviour, comparable between snapshot and working copy."""
    if not integration:
        return None
    responses = {code: (r.get("selectionPattern"), r.get("responseTemplates"))
                 for code, r in (integration.get("integrationResponses") or {}).items()}
    return (str(integration.get("type", "")).upper(), integration.get("uri"), integration.get("httpMethod"),
            integration.get("requestTemplates"), responses)


def _deployed_before_change(api_id: str, stage: dict[str, Any], path: str, verb: str) -> bool:
    """True when the stage's deployment froze ``verb path`` differently from the working API."""
    from stacklab.planes import gateway

    try:
        snap = gateway.deployment_snapshot(api_id, stage["deploymentId"])
    except Exception:  # noqa: BLE001 - a deployment the plane never saw: no verdict
        return False
    frozen = next((r for r in snap["resources"] if r.get("path") == path), None)
    frozen_method = ((frozen or {}).get("resourceMethods") or {}).get(verb)
    now = _resources(api_id).get(path, {}).get("resourceMethods", {}).get(verb)
    if frozen_method is None:
        return now is not None
    return _integration_key(frozen_method.get("methodIntegration")) != _integration_key(now.get("methodIntegration")
                                                                                       if now else None)


def _not_deployed(api_id: str, path: str, verb: str, stage_name: str = STAGE, var: str = "api_id") -> None:
    """CheckFailed when the stage is missing or runs a deployment older than the working method."""
    deploy = f'apigw.create_deployment(restApiId={var}, stageName="{stage_name}")'
    stage = _stage(api_id, stage_name)
    if stage is None:
        others = sorted(item["stageName"] for item in aws("apigateway").get_stages(restApiId=api_id).get("item", []))
        where = f" (its stages: {', '.join(others)})" if others else ""
        raise CheckFailed(f"the API has no stage {stage_name!r}{where}: it was never deployed there, so clients get "
                          "403 Missing Authentication Token.",
                          f"Deploy it: `{deploy}` (a stage runs a deployment, a snapshot of the API).")
    if _deployed_before_change(api_id, stage, path, verb):
        raise CheckFailed(f"stage {stage_name!r} runs deployment {stage['deploymentId']!r}, made before your last "
                          f"change to {verb} {path}: clients still get the old snapshot.",
                          f"Deploy again after the change: `{deploy}`.")


# ----------------------------------------------------------------------- 1. MOCK health check


@lab_check("05.health", LESSON, needs=("api_id",), title="Exercise 1 · A MOCK health check", exercise=1)
def check_health(api_id: Any) -> str:
    """GET /health on stage dev answers 200 {"status": "ok"} from a MOCK integration."""
    ident = _api_id("api_id", api_id, 'apigw.create_rest_api(name="lab05-api")')
    resources = _resources(ident)
    method = _method(resources, "/health", "GET",
                     'Create it under the root resource: `apigw.create_resource(restApiId=api_id, parentId=root_id, '
                     'pathPart="health")`.')
    integration = method.get("methodIntegration")
    if not integration:
        raise CheckFailed("GET /health has no integration: API Gateway refuses to deploy a method without one.",
                          'Add a MOCK integration: `apigw.put_integration(..., type="MOCK", requestTemplates='
                          '{"application/json": \'{"statusCode": 200}\'})`.')
    kind = str(integration.get("type", "")).upper()
    if kind != "MOCK":
        raise CheckFailed(f"GET /health has a {kind} integration; the exercise asks for MOCK (no backend).",
                          'Replace it: `apigw.put_integration(..., type="MOCK", requestTemplates='
                          '{"application/json": \'{"statusCode": 200}\'})`, then deploy again.')
    status, text = _call(ident, "/health")
    if status == 200 and _json(text) == {"status": "ok"}:
        return f"GET /health on stage {STAGE} of API {ident} answers 200 {text} from a MOCK integration."
    _not_deployed(ident, "/health", "GET")
    templates = integration.get("requestTemplates") or {}
    if status != 200 and "statusCode" not in str(templates.get("application/json", "")):
        raise CheckFailed("the MOCK integration has no request template giving the status code, so API Gateway "
                          f"cannot pick an integration response (the stage answers {status}).",
                          'Pass `requestTemplates={"application/json": \'{"statusCode": 200}\'}` to put_integration.')
    responses = integration.get("integrationResponses") or {}
    if status != 200 and "200" not in responses:
        raise CheckFailed(f"the MOCK integration has no integration response for 200, so the stage answers {status} "
                          f"{text}.", 'Add `apigw.put_integration_response(..., statusCode="200", responseTemplates='
                                      '{"application/json": \'{"status": "ok"}\'})` (and a method response), then '
                                      "deploy again.")
    raise CheckFailed(f"GET /health answers {status} {text}; the exercise asks for 200 with the body "
                      '{"status": "ok"}.', "Fix the integration response's template (JSON with double quotes, "
                                           "lower-case 'ok'), then deploy again.")


# ------------------------------------------------------------------------- 2. Lambda proxy


@lab_check("05.lambda", LESSON, needs=("api_id",), title="Exercise 2 · A Lambda proxy integration", exercise=2)
def check_lambda(api_id: Any) -> str:
    """GET /items/{id} on stage dev runs the lab05-items function through AWS_PROXY and returns the id."""
    ident = _api_id("api_id", api_id, 'apigw.create_rest_api(name="lab05-api")')
    resources = _resources(ident)
    if "/items/{id}" not in resources:
        literal = [p for p in resources if p.startswith("/items/") and "{" not in p]
        if literal:
            raise CheckFailed(f"the API has {literal[0]!r}: a literal path part, which matches only that exact "
                              "text, so no path parameter reaches the function.",
                              'Name the path part with braces: `pathPart="{id}"` under /items.')
        greedy = [p for p in resources if p.startswith("/items/{") and p != "/items/{id}"]
        if greedy:
            raise CheckFailed(f"the API has {greedy[0]!r}; the function reads the path parameter named `id`.",
                              'Use `pathPart="{id}"` under /items.')
    method = _method(resources, "/items/{id}", "GET",
                     'Create /items, then under it `apigw.create_resource(..., pathPart="{id}")`.')
    integration = method.get("methodIntegration")
    if not integration:
        raise CheckFailed("GET /items/{id} has no integration.",
                          'Add `apigw.put_integration(..., type="AWS_PROXY", integrationHttpMethod="POST", '
                          'uri=lambda_uri)`.')
    kind = str(integration.get("type", "")).upper()
    uri = str(integration.get("uri") or "")
    if kind == "AWS" and ":lambda:" in uri:
        raise CheckFailed("GET /items/{id} uses type AWS: the Lambda *custom* (non-proxy) integration, which needs "
                          "mapping templates and does not pass pathParameters or map the function's statusCode/body.",
                          'Use the Lambda proxy: `type="AWS_PROXY"`, then deploy again.')
    if kind != "AWS_PROXY":
        raise CheckFailed(f"GET /items/{{id}} has a {kind} integration; the exercise asks for a Lambda proxy "
                          "(AWS_PROXY).", 'Use `type="AWS_PROXY"` with the function\'s invocation URI.')
    if f":function:{FUNCTION}" not in uri or not uri.endswith("/invocations"):
        raise CheckFailed(f"the integration's uri is {uri!r}; it should invoke the function {FUNCTION}.",
                          "Use `arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/FUNCTION_ARN/"
                          "invocations` with the ARN from get_function.")
    if str(integration.get("httpMethod") or "").upper() != "POST":
        raise CheckFailed(f"integrationHttpMethod is {integration.get('httpMethod')!r}: API Gateway always calls "
                          "Lambda with POST (AWS rejects anything else), whatever the client's method.",
                          'Pass `integrationHttpMethod="POST"` to put_integration.')
    status, text = _call(ident, "/items/sku-777")
    body = _json(text)
    if status == 200 and isinstance(body, dict) and body.get("id") == "sku-777":
        return f"GET /items/sku-777 on stage {STAGE} runs {FUNCTION} through AWS_PROXY and answers 200 {text}."
    _not_deployed(ident, "/items/{id}", "GET")
    raise CheckFailed(f"GET /items/sku-777 answers {status} {text}; expected 200 with the id sku-777.",
                      f"Check that the function is {FUNCTION} and redeploy after every change.")


# ------------------------------------------------------------------------ 3. Regional endpoint


@lab_check("05.regional", LESSON, needs=("api_id",), title="Exercise 3 · A Regional endpoint", exercise=3)
def check_regional(api_id: Any) -> str:
    """The API's endpoint type is REGIONAL (and only that)."""
    ident = _api_id("api_id", api_id, 'apigw.create_rest_api(name="lab05-api")')
    types = aws("apigateway").get_rest_api(restApiId=ident).get("endpointConfiguration", {}).get("types", [])
    if types == ["REGIONAL"]:
        return f"API {ident} has a Regional endpoint: no CloudFront distribution in front of it."
    if "EDGE" in types:
        raise CheckFailed(f"the API's endpoint type is still {types}: EDGE is the default for REST APIs when "
                          "create_rest_api is given no endpointConfiguration.",
                          'Change it: `apigw.update_rest_api(restApiId=api_id, patchOperations=[{"op": "replace", '
                          '"path": "/endpointConfiguration/types/EDGE", "value": "REGIONAL"}])`.')
    if "PRIVATE" in types:
        raise CheckFailed(f"the API's endpoint type is {types}: a private API is reachable only from VPCs through "
                          "an interface VPC endpoint, not from the web app.", "Make it REGIONAL instead.")
    raise CheckFailed(f"the API's endpoint types are {types}; the exercise asks for exactly ['REGIONAL'].",
                      "Replace the type with update_rest_api.")


# --------------------------------------------------------------------------- 4. OpenAPI import

PING_STAGE = "v1"
_IMPORT = 'apigw.import_rest_api(body=PING_DOC.encode(), failOnWarnings=True)'


@lab_check("05.openapi", LESSON, needs=("ping_api_id",), title="Exercise 4 · An API from OpenAPI", exercise=4)
def check_openapi(ping_api_id: Any) -> str:
    """The imported API answers GET /ping on stage v1 with 200 {"pong": true} from a MOCK integration."""
    ident = _api_id("ping_api_id", ping_api_id, _IMPORT)
    name = aws("apigateway").get_rest_api(restApiId=ident).get("name")
    resources = _resources(ident)
    method = _method(resources, "/ping", "GET",
                     "Describe it in the document's `paths` (`/ping:` then `get:`) and import the document again.")
    integration = method.get("methodIntegration")
    if not integration:
        raise CheckFailed("GET /ping was imported without an integration: the operation in the document has no "
                          "`x-amazon-apigateway-integration`, so API Gateway cannot deploy it.",
                          "Add the extension under `get:` (type mock, requestTemplates, responses), then import the "
                          "document again and deploy the new API.")
    kind = str(integration.get("type", "")).upper()
    if kind != "MOCK":
        raise CheckFailed(f"GET /ping has a {kind} integration; the exercise asks for a mock.",
                          "Set `type: mock` in the operation's x-amazon-apigateway-integration.")
    status, text = _call(ident, "/ping", stage=PING_STAGE)
    if status == 200 and _json(text) == {"pong": True}:
        return (f"API {ident} ({name}), imported from OpenAPI, answers GET /ping on stage {PING_STAGE} with 200 "
                f"{text}.")
    _not_deployed(ident, "/ping", "GET", PING_STAGE, "ping_api_id")
    raise CheckFailed(f"GET /ping answers {status} {text}; expected 200 with the body {{\"pong\": true}} (JSON true, "
                      "not the string \"true\").",
                      "Fix the response template under `responses: default:` in the document, import it again "
                      "and deploy.")

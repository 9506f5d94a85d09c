"""Checks for Lab 13 — wire the API layer of the capstone end to end.

The learner builds one path through the application: a Lambda function that reads DynamoDB **through the
Redis cache** (lazy loading with a TTL), ``GET /api/items/{id}`` with a Cognito user-pool authorizer and a
Lambda proxy integration, deployed to ``prod``, and a CloudFront behaviour ``/api/*`` that sends API calls
from the site's distribution to that stage.

Each check reads the configuration with boto3 to name a wrong setting, then **uses** the layer the way a
client would: check 1 invokes the function (:func:`stacklab.planes.functions.invoke`) with a planted and
then an emptied cache entry; check 2 calls the stage through :func:`stacklab.planes.gateway.request` with
and without ada's token, and compares the live method with the deployment the stage runs; check 3 sends a
viewer request through :func:`stacklab.planes.edge.request`.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from stacklab.checks import CheckFailed, lab_check
from stacklab.labchecks import aws

LESSON = "13"
STAGE = "prod"
TABLE, CACHE, FUNCTION = "lab13-items", "lab13-cache", "lab13-items"
POOL, WEB_CLIENT, USER, PASSWORD = "lab13-users", "lab13-web", "ada", "Lab13-Passw0rd!"
ITEM_PATH = "/api/items/{id}"
MAX_TTL = 3600
_RESET_HINT = (
    "If you restarted the kernel or ran stacklab.reset() since, the sandbox is empty again: re-run the cells "
    "from the top."
)
_REDEPLOY = f"apigw.create_deployment(restApiId=api_id, stageName='{STAGE}')"
_PLANTED = '{"id": "2", "name": "planted by the check", "price": "0"}'


def _error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _text(name: str, value: Any, example: str) -> str:
    if isinstance(value, dict):
        raise CheckFailed(f"`{name}` holds a whole dict (a boto3 response?), not an id.",
                          f"Keep only the id: `{name} = {example}`.")  # fmt: skip
    if not isinstance(value, str) or not value.strip():
        raise CheckFailed(f"`{name}` should be a non-empty string; it holds {type(value).__name__} {value!r}.",
                          f"Set it: `{name} = {example}`.")  # fmt: skip
    return value.strip()


# ------------------------------------------------------------------------------ exercise 1: the function


def _redis() -> Any:
    from stacklab.planes import cache

    try:
        return cache.connect(CACHE, decode_responses=True)
    except Exception as exc:  # noqa: BLE001 - the cache plane's or redis-py's error
        raise CheckFailed(f"the replication group {CACHE!r} cannot be reached ({exc}).", _RESET_HINT) from None


def _invoke_item(item_id: str) -> tuple[int, str, str]:
    """Invoke the function with API Gateway's proxy event for GET /api/items/ITEM_ID: status, body, error."""
    from stacklab.planes import functions

    event = functions.api_gateway_proxy_v1_event("GET", f"/api/items/{item_id}", resource=ITEM_PATH,
                                                 path_parameters={"id": item_id})  # fmt: skip
    result = functions.invoke(FUNCTION, event)
    if result.function_error:
        detail = result.json() if result.payload else {}
        message = detail.get("errorMessage", "") if isinstance(detail, dict) else ""
        raise CheckFailed(f"the function failed ({result.function_error}): {message or result.payload[:200]!r}.",
                          "Read the error: a KeyError on 'pathParameters' means the handler does not take the item "
                          "id from event['pathParameters']['id'].")  # fmt: skip
    answer = result.json()
    if not isinstance(answer, dict) or "statusCode" not in answer:
        raise CheckFailed(f"the function returned {str(answer)[:80]!r}, not a Lambda proxy response.",
                          "Return {'statusCode': 200, 'body': json.dumps(item)}: API Gateway's Lambda proxy "
                          "integration needs statusCode and body.")  # fmt: skip
    return int(answer["statusCode"]), str(answer.get("body") or ""), ""


@lab_check("13.function", LESSON, needs=("function_arn",), title="Exercise 1 · A function that reads through the cache",
           exercise=1)  # fmt: skip
def check_function(function_arn: Any) -> str:
    """lab13-items answers GET /api/items/{id}: a cached entry first, else DynamoDB, stored with a TTL."""
    arn = _text("function_arn", function_arn, "lam.create_function(...)['FunctionArn']")
    try:
        config = aws("lambda").get_function(FunctionName=FUNCTION)["Configuration"]
    except Exception as exc:  # noqa: BLE001
        if _error_code(exc) == "ResourceNotFoundException":
            raise CheckFailed(f"there is no function {FUNCTION!r} in the sandbox.",
                              f"Create it with lam.create_function(FunctionName='{FUNCTION}', ...). "
                              f"{_RESET_HINT}") from None  # fmt: skip
        raise
    if arn != config["FunctionArn"]:
        raise CheckFailed(f"`function_arn` is {arn!r}, not the ARN of {FUNCTION}.",
                          "Keep the ARN create_function returned: `function_arn = ...['FunctionArn']`.")
    env = (config.get("Environment") or {}).get("Variables") or {}
    if "CACHE_HOST" not in env:
        raise CheckFailed("the function has no CACHE_HOST environment variable, so it cannot know the cache's "
                          "endpoint.", "Pass Environment={'Variables': {'TABLE': 'lab13-items', "
                          "'CACHE_HOST': cache_host}} to create_function.")  # fmt: skip
    r = _redis()
    r.delete("item:2")
    status, body, _ = _invoke_item("2")
    if status != 200 or "coffee" not in body:
        raise CheckFailed(f"GET /api/items/2 answered {status} {body[:80]!r}; item 2 of {TABLE} is 'coffee beans'.",
                          "Read the item with table.get_item(Key={'id': item_id}) and return it as the body.")
    if not r.exists("item:2"):
        raise CheckFailed("the function answered, but nothing was stored under item:2 in the cache: it reads "
                          "DynamoDB without the cache.",
                          "After reading DynamoDB, store the body: cache.set(f'item:{item_id}', body, ex=300).")
    ttl = r.ttl("item:2")
    if ttl is None or ttl < 0:
        raise CheckFailed("the function stores item:2 in the cache without a TTL: a changed price would never "
                          "reach customers, and unused items would stay in memory for ever.",
                          "Store with an expiry: cache.set(key, body, ex=300).")  # fmt: skip
    if ttl > MAX_TTL:
        raise CheckFailed(f"item:2 is cached for {ttl} s; the exercise asks for at most {MAX_TTL} s (300 s is a good "
                          "choice for a catalogue).", "Use ex=300 in cache.set.")  # fmt: skip
    r.set("item:2", _PLANTED, ex=60)
    status, body, _ = _invoke_item("2")
    r.delete("item:2")
    if "planted by the check" not in body:
        raise CheckFailed("with an entry in the cache under item:2, the function still answered from DynamoDB: it "
                          "writes to the cache but never reads it.",
                          "Look in the cache first: body = cache.get(f'item:{item_id}'); return it when it is not "
                          "None.")  # fmt: skip
    return f"{FUNCTION} reads item:ID from the cache first, and on a miss stores DynamoDB's answer for {ttl} s"


# ------------------------------------------------------------------------------- exercise 2: the method


def _api(api_id: Any) -> str:
    api = _text("api_id", api_id, "the id from the setup cell")
    try:
        aws("apigateway").get_rest_api(restApiId=api)
    except Exception as exc:  # noqa: BLE001
        if _error_code(exc) == "NotFoundException":
            raise CheckFailed(f"there is no REST API {api!r} in the sandbox.", _RESET_HINT) from None
        raise
    return api


def _live_method(api_id: str) -> dict[str, Any] | None:
    resources = aws("apigateway").get_resources(restApiId=api_id, embed=["methods"])["items"]
    resource = next((r for r in resources if r.get("path") == ITEM_PATH), None)
    if resource is None:
        raise CheckFailed(f"the API has no resource {ITEM_PATH}.", f"Run the setup cell again. {_RESET_HINT}")
    return (resource.get("resourceMethods") or {}).get("GET")


def _deployed_method(api_id: str) -> dict[str, Any] | None:
    from stacklab.planes import gateway

    try:
        stage = aws("apigateway").get_stage(restApiId=api_id, stageName=STAGE)
    except Exception as exc:  # noqa: BLE001
        if _error_code(exc) == "NotFoundException":
            raise CheckFailed(f"the API has no stage {STAGE!r}: it was never deployed, so nothing can call it.",
                              f"Deploy it: `{_REDEPLOY}`.") from None  # fmt: skip
        raise
    snapshot = gateway.deployment_snapshot(api_id, stage["deploymentId"])
    for resource in snapshot.get("resources") or []:
        if resource.get("path") == ITEM_PATH:
            return (resource.get("resourceMethods") or {}).get("GET")
    return None


def _shape(method: dict[str, Any] | None) -> tuple[Any, ...]:
    method = method or {}
    integration = method.get("methodIntegration") or {}
    return (method.get("authorizationType"), method.get("authorizerId"), integration.get("type"),
            integration.get("uri"))  # fmt: skip


def _sign_in() -> str:
    idp = aws("cognito-idp")
    pool = next((p for p in idp.list_user_pools(MaxResults=60)["UserPools"] if p["Name"] == POOL), None)
    if pool is None:
        raise CheckFailed(f"there is no user pool {POOL!r}.", _RESET_HINT)
    clients = idp.list_user_pool_clients(UserPoolId=pool["Id"], MaxResults=60)["UserPoolClients"]
    client = next(c for c in clients if c["ClientName"] == WEB_CLIENT)
    return idp.initiate_auth(ClientId=client["ClientId"], AuthFlow="USER_PASSWORD_AUTH",
                             AuthParameters={"USERNAME": USER, "PASSWORD": PASSWORD})["AuthenticationResult"]["IdToken"]


@lab_check("13.method", LESSON, needs=("api_id", "authorizer_id"), title="Exercise 2 · An authorized, deployed method",
           exercise=2)  # fmt: skip
def check_method(api_id: Any, authorizer_id: Any) -> str:
    """GET /api/items/{id}: Cognito authorizer for lab13-users, Lambda proxy to lab13-items, deployed to prod."""
    from stacklab.planes import gateway

    api = _api(api_id)
    auth_id = _text("authorizer_id", authorizer_id, "apigw.create_authorizer(...)['id']")
    authorizers = {a["id"]: a for a in aws("apigateway").get_authorizers(restApiId=api)["items"]}
    authorizer = authorizers.get(auth_id)
    if authorizer is None:
        raise CheckFailed(f"the API has no authorizer with id {auth_id!r}.",
                          "Keep the id create_authorizer returned: `authorizer_id = ...['id']`.")
    if authorizer.get("type") != "COGNITO_USER_POOLS":
        raise CheckFailed(f"the authorizer's type is {authorizer.get('type')}; the exercise asks for a Cognito "
                          "user-pool authorizer.", "Create it with type='COGNITO_USER_POOLS' and providerARNs.")
    pools = aws("cognito-idp").list_user_pools(MaxResults=60)["UserPools"]
    pool_arn = next((aws("cognito-idp").describe_user_pool(UserPoolId=p["Id"])["UserPool"]["Arn"]
                     for p in pools if p["Name"] == POOL), None)  # fmt: skip
    if pool_arn not in (authorizer.get("providerARNs") or []):
        raise CheckFailed(f"the authorizer does not trust the user pool {POOL}: ada's tokens would get 401.",
                          "Set providerARNs=[pool_arn] (the ARN from the setup cell).")
    method = _live_method(api)
    if method is None:
        raise CheckFailed(f"{ITEM_PATH} has no GET method.",
                          "apigw.put_method(restApiId=api_id, resourceId=item_resource_id, httpMethod='GET', "
                          "authorizationType='COGNITO_USER_POOLS', authorizerId=authorizer_id).")  # fmt: skip
    if method.get("authorizationType") != "COGNITO_USER_POOLS" or method.get("authorizerId") != auth_id:
        raise CheckFailed(f"GET {ITEM_PATH} has authorizationType {method.get('authorizationType')} (authorizerId "
                          f"{method.get('authorizerId')}): the authorizer exists but is not attached to the method, "
                          "so anyone can read the catalogue.",
                          "put_method with authorizationType='COGNITO_USER_POOLS' and authorizerId=authorizer_id "
                          "(delete_method first if it exists), then redeploy.")  # fmt: skip
    integration = method.get("methodIntegration") or {}
    function_arn = aws("lambda").get_function(FunctionName=FUNCTION)["Configuration"]["FunctionArn"]
    if integration.get("type") != "AWS_PROXY" or function_arn not in str(integration.get("uri")):
        raise CheckFailed(f"the method's integration is {integration.get('type')} to {integration.get('uri')!r}; "
                          f"the exercise asks for a Lambda proxy integration (AWS_PROXY) to {FUNCTION}.",
                          "put_integration(type='AWS_PROXY', integrationHttpMethod='POST', uri='arn:aws:apigateway:"
                          "us-east-1:lambda:path/2015-03-31/functions/' + function_arn + '/invocations').")
    deployed = _deployed_method(api)
    if _shape(deployed) != _shape(method):
        was = "no GET method" if deployed is None else f"authorizationType {deployed.get('authorizationType')}"
        raise CheckFailed(f"stage {STAGE!r} still runs a deployment made before your last change ({was} there): "
                          "changes to a REST API take effect only when it is deployed again.",
                          f"Redeploy: `{_REDEPLOY}`.")  # fmt: skip
    anonymous = gateway.request(api, STAGE, "GET", "/api/items/1")
    if anonymous.status != 401:
        raise CheckFailed(f"a request without a token got {anonymous.status}, not 401.",
                          "Attach the Cognito authorizer to the method and redeploy.")
    signed_in = gateway.request(api, STAGE, "GET", "/api/items/1", headers={"Authorization": _sign_in()})
    if signed_in.status != 200 or "green tea" not in signed_in.text:
        raise CheckFailed(f"ada's ID token got {signed_in.status} {signed_in.text[:80]!r}; item 1 is 'green tea'.",
                          "Check exercise 1 (check('13.function')) and the integration's function ARN.")
    return f"GET {ITEM_PATH} on {STAGE}: 401 without a token, 200 with ada's ID token (item 1 through {FUNCTION})"


# ------------------------------------------------------------------------------ exercise 3: the behaviour


def _distribution(dist_id: Any) -> dict[str, Any]:
    ident = _text("dist_id", dist_id, "the id from the setup cell")
    try:
        return aws("cloudfront").get_distribution(Id=ident)["Distribution"]
    except Exception as exc:  # noqa: BLE001
        if _error_code(exc) == "NoSuchDistribution":
            raise CheckFailed(f"there is no distribution {ident!r}.", _RESET_HINT) from None
        raise


@lab_check("13.edge", LESSON, needs=("dist_id", "api_id"), title="Exercise 3 · The site's /api/* behaviour", exercise=3)
def check_edge(dist_id: Any, api_id: Any) -> str:
    """The distribution sends /api/* to the API's prod stage, uncached, with the Authorization header."""
    from stacklab.planes import edge, gateway

    dist = _distribution(dist_id)
    api = _api(api_id)
    config = dist["DistributionConfig"]
    behaviours = (config.get("CacheBehaviors") or {}).get("Items") or []
    pattern = next((b for b in behaviours if b.get("PathPattern") == "/api/*"), None)
    if pattern is None:
        found = ", ".join(repr(b.get("PathPattern")) for b in behaviours) or "none"
        raise CheckFailed(f"the distribution has no cache behaviour with path pattern '/api/*' (it has {found}): "
                          "API calls such as /api/items/1 fall to the default behaviour and go to S3.",
                          "Add a behaviour with PathPattern='/api/*' (leading slash, then *) whose TargetOriginId "
                          "is the API's origin.")  # fmt: skip
    origins = {o["Id"]: o for o in (config.get("Origins") or {}).get("Items") or []}
    origin = origins.get(pattern.get("TargetOriginId"))
    stage_url = urlsplit(gateway.url(api, STAGE))
    port = int(((origin or {}).get("CustomOriginConfig") or {}).get("HTTPPort") or 0)
    if origin is None or origin.get("DomainName") != stage_url.hostname or port != stage_url.port:
        raise CheckFailed(f"the /api/* behaviour's origin {pattern.get('TargetOriginId')!r} is not the API's stage "
                          "server.", "Add an origin with DomainName=api_origin.hostname and CustomOriginConfig "
                          "HTTPPort=api_origin.port (api_origin = urlsplit(gateway.url(api_id, 'prod'))).")
    if (origin.get("OriginPath") or "") != f"/{STAGE}":
        raise CheckFailed(f"the API origin's OriginPath is {origin.get('OriginPath') or 'empty'!r}: CloudFront would "
                          f"ask API Gateway for /api/items/1 without the stage, and get 403.",
                          f"Set OriginPath='/{STAGE}' on the API origin.")  # fmt: skip
    ttls = {k: int(pattern.get(k) or 0) for k in ("MinTTL", "DefaultTTL", "MaxTTL")}
    if any(ttls.values()):
        raise CheckFailed(f"the /api/* behaviour caches answers ({ttls}): one user's item reply could be served to "
                          "another, and price changes would lag.",
                          "Set MinTTL, DefaultTTL and MaxTTL to 0 on the /api/* behaviour.")  # fmt: skip
    headers = ((pattern.get("ForwardedValues") or {}).get("Headers") or {}).get("Items") or []
    if "authorization" not in {h.lower() for h in headers} and "*" not in headers:
        raise CheckFailed("the /api/* behaviour does not forward the Authorization header: API Gateway would never "
                          "see the user's token and answer 401 to everyone.",
                          "ForwardedValues={'QueryString': True, 'Cookies': {'Forward': 'none'}, 'Headers': "
                          "{'Quantity': 1, 'Items': ['Authorization']}}.")  # fmt: skip
    methods = set((pattern.get("AllowedMethods") or {}).get("Items") or ["GET", "HEAD"])
    if "GET" not in methods:
        raise CheckFailed(f"the /api/* behaviour allows {sorted(methods)}, not GET.", "Allow GET and HEAD at least.")
    through = edge.request(dist["Id"], "/api/items/1")
    try:
        message = json.loads(through.body or b"null")
    except ValueError:
        message = None
    if through.status != 401 or not isinstance(message, dict) or message.get("message") != "Unauthorized":
        raise CheckFailed(f"GET /api/items/1 through the distribution answered {through.status} "
                          f"{through.text[:80]!r}, not API Gateway's 401 for a request without a token.",
                          "Check the origin's domain, port and OriginPath, and exercise 2.")  # fmt: skip
    site = edge.request(dist["Id"], "/")
    if site.status != 200:
        raise CheckFailed(f"the site's home page now answers {site.status} through the distribution.",
                          "Keep the default behaviour pointing at the S3 origin 'site'.")
    return "/api/* reaches API Gateway's prod stage uncached (401 without a token), the rest is the S3 site"

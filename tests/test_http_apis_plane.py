"""The HTTP API plane (apigatewayv2): routes, payload formats, stages, JWT/Lambda authorizers, CORS, throttles."""

from __future__ import annotations

import base64
import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

import stacklab
from stacklab.errors import InputError
from stacklab.planes import functions as fn
from stacklab.planes import http_apis as hx

ECHO = r"""
import base64
import json

def handler(event, context):
    q = event.get("queryStringParameters") or {}
    kind = q.get("kind")
    if kind == "string":
        return "hello"
    if kind == "full":
        return {"statusCode": 201, "headers": {"x-a": "1"}, "cookies": ["a=1", "b=2"], "body": "made"}
    if kind == "b64":
        return {"statusCode": 200, "body": base64.b64encode(b"\x00\x01").decode(), "isBase64Encoded": True}
    if kind == "boom":
        raise ValueError("boom")
    if kind == "bad":
        return {"statusCode": "abc"}
    if kind == "slow":
        import stacklab
        stacklab.clock().advance(float(q.get("s", "31")))
        return {"slept": True}
    if kind == "cors":
        return {"statusCode": 200, "headers": {"Access-Control-Allow-Origin": "https://evil.example"}, "body": "x"}
    ctx = event["requestContext"]
    out = {"version": event.get("version"), "routeKey": event.get("routeKey") or event.get("resource"),
           "params": event.get("pathParameters"), "stage": ctx["stage"], "vars": event.get("stageVariables"),
           "auth": ctx.get("authorizer"), "path": event.get("rawPath") or event.get("path")}
    if event.get("version") == "1.0":  # format 1.0 needs the REST-style response
        return {"statusCode": 200, "body": json.dumps(out)}
    return out
"""

AUTHORIZER = r"""
calls = 0

def handler(event, context):
    global calls
    calls += 1
    token = event["identitySource"][0]
    if token == "boom":
        raise ValueError("authorizer bug")
    if token == "weird":
        return {"nope": 1}
    if token == "policy":
        return {"principalId": "ada", "policyDocument": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": event["routeArn"]}]}}
    return {"isAuthorized": token == "let-me-in", "context": {"calls": calls, "user": "ada"}}
"""


def v2():
    return stacklab.client("apigatewayv2")


def body(resp):
    return json.loads(resp.body)


@pytest.fixture(scope="module")
def fns(box):
    lam = stacklab.client("lambda")
    role = stacklab.client("iam").create_role(RoleName="hx-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    arns = {}
    for name, code in (("hx-echo", ECHO), ("hx-auth", AUTHORIZER)):
        zipped = {"ZipFile": fn.package({"app.py": code})}
        arns[name] = lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                                         Timeout=60, Code=zipped)["FunctionArn"]  # fmt: skip
    return arns


def uri(arn: str) -> str:
    return f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"


class Api:
    """An HTTP API under construction; routes go to the echo function unless told otherwise."""

    def __init__(self, fns: dict, name: str = "hx", **kwargs) -> None:
        self.id = v2().create_api(Name=name, ProtocolType="HTTP", **kwargs)["ApiId"]
        self.echo = self.integration("AWS_PROXY", fns["hx-echo"], PayloadFormatVersion="2.0")
        self.fns = fns

    def integration(self, kind: str, target: str, **kwargs) -> str:
        extra = {"IntegrationMethod": kwargs.pop("IntegrationMethod", "ANY")} if kind == "HTTP_PROXY" else {}
        return v2().create_integration(ApiId=self.id, IntegrationType=kind, IntegrationUri=target, **extra,
                                       **kwargs)["IntegrationId"]  # fmt: skip

    def route(self, key: str, integration: str | None = None, **kwargs) -> str:
        target = f"integrations/{integration or self.echo}"
        return v2().create_route(ApiId=self.id, RouteKey=key, Target=target, **kwargs)["RouteId"]

    def stage(self, name: str = "$default", auto: bool = True, **kwargs) -> None:
        v2().create_stage(ApiId=self.id, StageName=name, AutoDeploy=auto, **kwargs)

    def call(self, method: str, path: str, stage: str = "$default", **kwargs):
        return hx.request(self.id, stage, method, path, **kwargs)


# ------------------------------------------------------------------------------ quick create, routing


def test_quick_create_makes_route_integration_and_auto_deploy_stage(fns):
    api_id = v2().create_api(Name="quick", ProtocolType="HTTP", Target=fns["hx-echo"])["ApiId"]
    (route,) = v2().get_routes(ApiId=api_id)["Items"]
    (integration,) = v2().get_integrations(ApiId=api_id)["Items"]
    (stage,) = v2().get_stages(ApiId=api_id)["Items"]
    assert route["RouteKey"] == "$default" and route["Target"] == f"integrations/{integration['IntegrationId']}"
    assert (integration["IntegrationType"], integration["PayloadFormatVersion"]) == ("AWS_PROXY", "2.0")
    assert (stage["StageName"], stage["AutoDeploy"]) == ("$default", True)
    resp = hx.request(api_id, "$default", "GET", "/anything/at/all")
    assert resp.status == 200 and body(resp)["routeKey"] == "$default" and body(resp)["version"] == "2.0"
    assert resp.header("apigw-requestid")


@pytest.fixture(scope="module")
def routed(fns):
    api = Api(fns, "routing")
    for key in ("GET /items", "GET /items/{id}", "GET /items/special", "ANY /items/{id}", "DELETE /items/{id}",
                "GET /files/{proxy+}", "GET /files/{a}/readme", "GET /", "$default"):  # fmt: skip
        api.route(key)
    api.stage()
    return api


@pytest.mark.parametrize(
    ("method", "path", "route_key", "params"),
    [
        ("GET", "/items", "GET /items", None),
        ("GET", "/items/7", "GET /items/{id}", {"id": "7"}),
        ("GET", "/items/special", "GET /items/special", None),  # literal beats {id}
        ("DELETE", "/items/7", "DELETE /items/{id}", {"id": "7"}),  # a named method beats ANY
        ("PUT", "/items/7", "ANY /items/{id}", {"id": "7"}),
        ("GET", "/files/a/b/c", "GET /files/{proxy+}", {"proxy": "a/b/c"}),
        ("GET", "/files/x/readme", "GET /files/{a}/readme", {"a": "x"}),  # {param} beats greedy
        ("GET", "/files", "$default", None),  # greedy needs at least one part
        ("GET", "/", "GET /", None),
        ("POST", "/nowhere", "$default", None),
    ],
)
def test_routing_table(routed, method, path, route_key, params):
    resp = routed.call(method, path)
    assert resp.status == 200, resp.text
    assert body(resp)["routeKey"] == route_key and body(resp)["params"] == params


def test_no_route_and_no_default_is_404(fns):
    api = Api(fns, "nodefault")
    api.route("GET /only")
    api.stage()
    resp = api.call("GET", "/other")
    assert (resp.status, body(resp)) == (404, {"message": "Not Found"})
    assert api.call("GET", "/only").status == 200
    assert (api.call("GET", "/only", stage="nostage").status, body(api.call("GET", "/x", stage="nostage"))) == (
        404, {"message": "Not Found"})  # fmt: skip


# ------------------------------------------------------------------------------ payload formats


@pytest.mark.parametrize(
    ("kind", "status", "content", "check"),
    [
        ("string", 200, b"hello", lambda r: r.header("Content-Type") == "application/json"),
        ("full", 201, b"made", lambda r: r.header("x-a") == "1"
         and sorted(v for k, v in r.headers.items() if k.lower() == "set-cookie") == ["a=1", "b=2"]),
        ("b64", 200, b"\x00\x01", lambda r: True),
        ("boom", 500, b'{"message": "Internal Server Error"}', lambda r: True),
        ("bad", 500, b'{"message": "Internal Server Error"}', lambda r: r.header("x-stacklab-reason")),
    ],
)  # fmt: skip
def test_payload_2_0_response_mapping(routed, kind, status, content, check):
    resp = routed.call("GET", "/items", query={"kind": kind})
    assert (resp.status, resp.body) == (status, content)
    assert check(resp)


def test_payload_2_0_simple_dict_and_payload_1_0(routed, fns):
    resp = routed.call("GET", "/items/9")
    assert resp.header("Content-Type") == "application/json" and body(resp)["stage"] == "$default"
    api = Api(fns, "v1")
    old = api.integration("AWS_PROXY", uri(fns["hx-echo"]), PayloadFormatVersion="1.0")
    api.route("GET /old/{id}", old)
    api.stage("prod", auto=True, StageVariables={"color": "blue"})
    out = api.call("GET", "/old/3", stage="prod")
    assert out.status == 200, out.text
    assert body(out) == {"version": "1.0", "routeKey": "/old/{id}", "params": {"id": "3"}, "stage": "prod",
                         "vars": {"color": "blue"}, "auth": None, "path": "/old/3"}  # fmt: skip
    assert api.call("GET", "/old/3", stage="prod", query={"kind": "bad"}).status == 500


def test_integration_timeout_on_the_sandbox_clock_is_503(fns):
    api = Api(fns, "timeouts")
    short = api.integration("AWS_PROXY", fns["hx-echo"], PayloadFormatVersion="2.0", TimeoutInMillis=5000)
    api.route("GET /short", short)
    api.route("GET /long")
    api.stage()
    assert api.call("GET", "/short", query={"kind": "slow", "s": "4"}).status == 200
    resp = api.call("GET", "/short", query={"kind": "slow", "s": "6"})
    assert (resp.status, body(resp)) == (503, {"message": "Service Unavailable"})
    assert api.call("GET", "/long", query={"kind": "slow", "s": "29"}).status == 200
    assert api.call("GET", "/long", query={"kind": "slow", "s": "31"}).status == 503  # default and max 30 s


# ------------------------------------------------------------------------------ HTTP proxy


class _Backend(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        if self.path.startswith("/sleep"):
            time.sleep(0.4)
        length = int(self.headers.get("Content-Length") or 0)
        payload = json.dumps({"method": self.command, "path": self.path, "x-who": self.headers.get("x-who"),
                              "body": self.rfile.read(length).decode()}).encode()  # fmt: skip
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer  # noqa: N815

    def log_message(self, *args) -> None:
        return


@pytest.fixture(scope="module")
def backend():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Backend)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_http_proxy_forwards_with_stage_variables_and_parameter_mapping(fns, backend):
    api = Api(fns, "proxy")
    plain = api.integration("HTTP_PROXY", "http://127.0.0.1:${stageVariables.port}/svc/{proxy}")
    mapped = api.integration("HTTP_PROXY", "http://127.0.0.1:${stageVariables.port}", RequestParameters={
        "overwrite:path": "/v2/$request.path.id", "append:header.x-who": "$context.requestId",
        "overwrite:querystring.stage": "$stageVariables.port", "remove:querystring.secret": "''"})  # fmt: skip
    slow = api.integration("HTTP_PROXY", "http://127.0.0.1:${stageVariables.port}/sleep", TimeoutInMillis=100)
    away = api.integration("HTTP_PROXY", "http://203.0.113.7/")
    api.route("ANY /svc/{proxy+}", plain)
    api.route("GET /m/{id}", mapped)
    api.route("GET /slow", slow)
    api.route("GET /away", away)
    api.stage(StageVariables={"port": str(backend)})
    resp = api.call("POST", "/svc/a/b", query={"q": "1"}, body="hi")
    assert body(resp) == {"method": "POST", "path": "/svc/a/b?q=1", "x-who": None, "body": "hi"}
    resp = api.call("GET", "/m/42", query={"secret": "s", "keep": "k"})
    got = body(resp)
    assert got["path"] == f"/v2/42?keep=k&stage={backend}" and got["x-who"] == resp.header("apigw-requestid")
    slow_resp = api.call("GET", "/slow")
    assert (slow_resp.status, body(slow_resp)) == (503, {"message": "Service Unavailable"})
    away_resp = api.call("GET", "/away")
    assert away_resp.status == 500 and "127.0.0.1" in away_resp.header("x-stacklab-reason")


# ------------------------------------------------------------------------------ deployments


def test_auto_deploy_sees_changes_at_once_manual_stages_only_after_create_deployment(fns):
    api = Api(fns, "deploys")
    api.route("GET /a")
    api.stage("$default", auto=True)
    api.stage("prod", auto=False)
    assert api.call("GET", "/a", stage="prod").status == 404  # no deployment yet
    dep = v2().create_deployment(ApiId=api.id, StageName="prod", Description="first")
    assert dep["DeploymentStatus"] == "DEPLOYED" and v2().get_stage(ApiId=api.id, StageName="prod")["DeploymentId"] == (
        dep["DeploymentId"])  # fmt: skip
    assert api.call("GET", "/a", stage="prod").status == 200
    api.route("GET /b")
    assert api.call("GET", "/b").status == 200  # $default auto-deploys
    assert api.call("GET", "/b", stage="prod").status == 404  # frozen
    second = v2().create_deployment(ApiId=api.id)["DeploymentId"]
    assert {d["DeploymentId"] for d in v2().get_deployments(ApiId=api.id)["Items"]} == {dep["DeploymentId"], second}
    assert v2().get_deployment(ApiId=api.id, DeploymentId=second)["DeploymentId"] == second
    assert api.call("GET", "/b", stage="prod").status == 404  # not deployed to prod yet
    v2().update_stage(ApiId=api.id, StageName="prod", DeploymentId=second, StageVariables={"x": "1"})
    assert body(api.call("GET", "/b", stage="prod"))["vars"] == {"x": "1"}
    assert [r["RouteKey"] for r in hx.deployment_snapshot(api.id, dep["DeploymentId"])["Routes"]] == ["GET /a"]
    with pytest.raises(InputError, match="no deployment"):
        hx.deployment_snapshot(api.id, "nope")
    v2().update_stage(ApiId=api.id, StageName="prod", AutoDeploy=True)
    api.route("GET /c")
    assert api.call("GET", "/c", stage="prod").status == 200


# ------------------------------------------------------------------------------ JWT authorizer


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _claims(token: str) -> dict:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _pool(idp, name: str) -> tuple[str, str, dict]:
    pool = idp.create_user_pool(PoolName=name)["UserPool"]
    client = idp.create_user_pool_client(UserPoolId=pool["Id"], ClientName="web",
                                         ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH",
                                                            "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]  # fmt: skip
    idp.admin_create_user(UserPoolId=pool["Id"], Username="ada", TemporaryPassword="Temp-Passw0rd!")
    idp.admin_set_user_password(UserPoolId=pool["Id"], Username="ada", Password="Real-Passw0rd!", Permanent=True)
    auth = idp.initiate_auth(ClientId=client["ClientId"], AuthFlow="USER_PASSWORD_AUTH",
                             AuthParameters={"USERNAME": "ada", "PASSWORD": "Real-Passw0rd!"})  # fmt: skip
    issuer = f"https://cognito-idp.us-east-1.amazonaws.com/{pool['Id']}"
    return issuer, client["ClientId"], auth["AuthenticationResult"]


def jwt_authorizer(api_id: str, issuer: str, audience: list[str]) -> str:
    config = {"Issuer": issuer, "Audience": audience}
    return v2().create_authorizer(ApiId=api_id, AuthorizerType="JWT", Name="jwt", JwtConfiguration=config,
                                  IdentitySource=["$request.header.Authorization"])["AuthorizerId"]  # fmt: skip


@pytest.fixture(scope="module")
def jwt_api(fns):
    idp = stacklab.client("cognito-idp")
    issuer, client_id, tokens = _pool(idp, "hx-users")
    _, _, other = _pool(idp, "hx-others")
    api = Api(fns, "jwt")
    good = jwt_authorizer(api.id, issuer, [client_id])
    wrong = jwt_authorizer(api.id, issuer, ["someone-else"])
    api.route("GET /me", AuthorizationType="JWT", AuthorizerId=good)
    api.route("GET /admin", AuthorizationType="JWT", AuthorizerId=good,
              AuthorizationScopes=["aws.cognito.signin.user.admin"])  # fmt: skip
    api.route("GET /orders", AuthorizationType="JWT", AuthorizerId=good, AuthorizationScopes=["orders/read"])
    api.route("GET /elsewhere", AuthorizationType="JWT", AuthorizerId=wrong)
    api.stage()
    return api, tokens, other


def _tampered(token: str) -> str:
    head, _, sig = token.split(".")
    return f"{head}.{_b64({**_claims(token), 'cognito:username': 'mallory'})}.{sig}"


def _alg(token: str, alg: str) -> str:
    _, payload, sig = token.split(".")
    return f"{_b64({'alg': alg, 'typ': 'JWT'})}.{payload}.{'' if alg == 'none' else sig}"


@pytest.mark.parametrize(
    ("path", "token", "status"),
    [
        ("/me", lambda t, o: t["IdToken"], 200),  # ID token: aud = the app client
        ("/me", lambda t, o: "Bearer " + t["IdToken"], 200),
        ("/me", lambda t, o: t["AccessToken"], 200),  # access token: client_id = the app client
        ("/me", lambda t, o: None, 401),
        ("/me", lambda t, o: "not-a-jwt", 401),
        ("/me", lambda t, o: _tampered(t["IdToken"]), 401),
        ("/me", lambda t, o: _alg(t["IdToken"], "none"), 401),
        ("/me", lambda t, o: _alg(t["IdToken"], "HS256"), 401),
        ("/me", lambda t, o: o["IdToken"], 401),  # another pool: wrong iss (and aud)
        ("/elsewhere", lambda t, o: t["IdToken"], 401),  # audience not listed
        ("/admin", lambda t, o: t["AccessToken"], 200),  # scope granted
        ("/admin", lambda t, o: t["IdToken"], 403),  # ID tokens carry no scope
        ("/orders", lambda t, o: t["AccessToken"], 403),  # scope not granted
        ("/orders", lambda t, o: None, 401),
    ],
)
def test_jwt_authorizer_table(jwt_api, path, token, status):
    api, tokens, other = jwt_api
    value = token(tokens, other)
    resp = api.call("GET", path, headers={"Authorization": value} if value else None)
    assert resp.status == status, resp.text
    if status != 200:
        assert body(resp) == {"message": {401: "Unauthorized", 403: "Forbidden"}[status]}


def test_jwt_claims_reach_the_function_and_tokens_expire_on_the_sandbox_clock(jwt_api):
    api, tokens, _ = jwt_api
    auth = body(api.call("GET", "/admin", headers={"Authorization": tokens["AccessToken"]}))["auth"]["jwt"]
    assert auth["claims"]["token_use"] == "access" and auth["scopes"] == ["aws.cognito.signin.user.admin"]
    stacklab.clock().advance(3599)
    assert api.call("GET", "/me", headers={"Authorization": tokens["IdToken"]}).status == 200
    stacklab.clock().advance(1)
    assert api.call("GET", "/me", headers={"Authorization": tokens["IdToken"]}).status == 401


def test_jwt_issuer_outside_the_sandbox_is_explained(fns):
    api = Api(fns, "auth0")
    auth = jwt_authorizer(api.id, "https://example.auth0.com/", ["a"])
    api.route("GET /x", AuthorizationType="JWT", AuthorizerId=auth)
    api.stage()
    resp = api.call("GET", "/x", headers={"Authorization": "Bearer a.b.c"})
    assert resp.status == 401 and "Cognito" in resp.header("x-stacklab-reason")


# ------------------------------------------------------------------------------ Lambda authorizer, IAM


@pytest.fixture(scope="module")
def lambda_auth_api(fns):
    api = Api(fns, "lambda-auth")

    def authorizer(name: str, **kwargs) -> str:
        return v2().create_authorizer(ApiId=api.id, AuthorizerType="REQUEST", Name=name,
                                      AuthorizerUri=uri(fns["hx-auth"]), AuthorizerPayloadFormatVersion="2.0",
                                      IdentitySource=["$request.header.x-token"], **kwargs)["AuthorizerId"]  # fmt: skip

    simple = authorizer("simple", EnableSimpleResponses=True)
    cached = authorizer("cached", EnableSimpleResponses=True, AuthorizerResultTtlInSeconds=60)
    policy = authorizer("policy", EnableSimpleResponses=False)
    api.route("GET /simple", AuthorizationType="CUSTOM", AuthorizerId=simple)
    api.route("GET /cached", AuthorizationType="CUSTOM", AuthorizerId=cached)
    api.route("GET /policy", AuthorizationType="CUSTOM", AuthorizerId=policy)
    api.route("GET /iam", AuthorizationType="AWS_IAM")
    api.stage()
    return api


@pytest.mark.parametrize(
    ("path", "token", "status"),
    [
        ("/simple", "let-me-in", 200),
        ("/simple", "wrong", 403),
        ("/simple", None, 401),  # identity source missing: the function is not called
        ("/simple", "boom", 500),
        ("/simple", "weird", 500),
        ("/policy", "policy", 200),
        ("/policy", "let-me-in", 403),  # no policyDocument: no Allow
    ],
)
def test_lambda_authorizer_table(lambda_auth_api, path, token, status):
    resp = lambda_auth_api.call("GET", path, headers={"x-token": token} if token else None)
    assert resp.status == status, resp.text
    expected = {401: "Unauthorized", 403: "Forbidden", 500: "Internal Server Error"}
    if status in expected:
        assert body(resp) == {"message": expected[status]}


def test_lambda_authorizer_context_and_result_caching_on_the_sandbox_clock(lambda_auth_api):
    def calls(path: str) -> int:
        auth = body(lambda_auth_api.call("GET", path, headers={"x-token": "let-me-in"}))["auth"]
        assert auth["lambda"]["user"] == "ada"
        return auth["lambda"]["calls"]

    first = calls("/cached")
    assert calls("/cached") == first  # cached result: the function was not called again
    assert calls("/simple") == first + 1  # TTL absent = 0: called every time
    stacklab.clock().advance(60)
    assert calls("/cached") == first + 2


@pytest.fixture(scope="module")
def iam_keys(box):
    iam = stacklab.client("iam")
    keys = {}
    for name, resource in (("hx-caller", "arn:aws:execute-api:us-east-1:123456789012:*/*/GET/iam"),
                           ("hx-nobody", "arn:aws:execute-api:us-east-1:123456789012:*/*/GET/other")):  # fmt: skip
        iam.create_user(UserName=name)
        policy = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": resource}]}  # fmt: skip
        iam.put_user_policy(UserName=name, PolicyName="invoke", PolicyDocument=json.dumps(policy))
        keys[name] = iam.create_access_key(UserName=name)["AccessKey"]
    return keys


@pytest.mark.parametrize(
    ("who", "secret_ok", "status"),
    [("hx-caller", True, 200), ("hx-caller", False, 403), ("hx-nobody", True, 403), (None, True, 403)],
)
def test_iam_authorization_table(lambda_auth_api, iam_keys, who, secret_ok, status):
    from stacklab.planes import sigv4

    api = lambda_auth_api
    headers = {}
    if who:
        key = iam_keys[who]
        secret = key["SecretAccessKey"] if secret_ok else "wrong" + key["SecretAccessKey"][5:]
        headers = sigv4.sign("GET", f"https://{api.id}.execute-api.us-east-1.amazonaws.com/iam",
                             access_key_id=key["AccessKeyId"], secret_access_key=secret)  # fmt: skip
    resp = api.call("GET", "/iam", headers=headers)
    assert resp.status == status, resp.text
    if status == 200:
        assert body(resp)["auth"]["iam"]["userArn"].endswith(":user/hx-caller")


# ------------------------------------------------------------------------------ CORS


@pytest.fixture(scope="module")
def cors_api(fns):
    api = Api(fns, "cors", CorsConfiguration={
        "AllowOrigins": ["https://app.example.com"], "AllowMethods": ["GET", "POST"],
        "AllowHeaders": ["Authorization", "Content-Type"], "ExposeHeaders": ["x-total"], "MaxAge": 600,
        "AllowCredentials": True})  # fmt: skip
    api.route("GET /data")
    api.route("OPTIONS /options-route")
    api.route("ANY /locked/{proxy+}", AuthorizationType="AWS_IAM")
    api.stage()
    return api


@pytest.mark.parametrize(
    ("origin", "method", "allowed"),
    [
        ("https://app.example.com", "POST", True),
        ("https://app.example.com", "DELETE", False),  # method not allowed
        ("https://evil.example", "GET", False),  # origin not allowed
    ],
)
def test_cors_preflight_is_answered_by_api_gateway(cors_api, origin, method, allowed):
    resp = cors_api.call("OPTIONS", "/data", headers={"Origin": origin, "Access-Control-Request-Method": method})
    assert resp.status == 204 and resp.body == b""
    if allowed:
        assert {k: v for k, v in resp.headers.items() if k.startswith("Access-Control")} == {
            "Access-Control-Allow-Origin": origin, "Access-Control-Allow-Methods": "GET,POST",
            "Access-Control-Allow-Headers": "authorization,content-type", "Access-Control-Max-Age": "600",
            "Access-Control-Allow-Credentials": "true"}  # fmt: skip
    else:
        assert not [k for k in resp.headers if k.lower().startswith("access-control")]


def test_cors_headers_on_actual_responses(cors_api, fns):
    resp = cors_api.call("GET", "/data", headers={"Origin": "https://app.example.com"})
    assert resp.header("Access-Control-Allow-Origin") == "https://app.example.com"
    assert resp.header("Access-Control-Expose-Headers") == "x-total"
    assert cors_api.call("GET", "/data", headers={"Origin": "https://evil.example"}).header(
        "Access-Control-Allow-Origin") is None  # fmt: skip
    own = cors_api.call("GET", "/data", query={"kind": "cors"})  # the integration's CORS headers are ignored
    assert own.header("Access-Control-Allow-Origin") is None
    # an OPTIONS request that is not a preflight goes to its route; so does a preflight a route matches
    assert body(cors_api.call("OPTIONS", "/options-route"))["routeKey"] == "OPTIONS /options-route"
    preflight = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"}
    routed = cors_api.call("OPTIONS", "/options-route", headers=preflight)
    assert routed.status == 200 and routed.header("Access-Control-Max-Age") == "600"
    assert cors_api.call("OPTIONS", "/locked/x", headers=preflight).status == 403  # the authorizer runs
    scheme = Api(fns, "cors-scheme", CorsConfiguration={"AllowOrigins": ["https://*"], "AllowMethods": ["GET"]})
    scheme.route("GET /x")
    scheme.stage()
    assert scheme.call("GET", "/x", headers={"Origin": "https://any.example"}).header(
        "Access-Control-Allow-Origin") == "https://any.example"  # fmt: skip
    assert scheme.call("GET", "/x", headers={"Origin": "http://any.example"}).header(
        "Access-Control-Allow-Origin") is None  # fmt: skip
    star = Api(fns, "cors-star", CorsConfiguration={"AllowOrigins": ["*"], "AllowMethods": ["*"]})
    star.route("GET /x")
    star.stage()
    pre = star.call("OPTIONS", "/x", headers={"Origin": "https://a.example", "Access-Control-Request-Method": "PUT"})
    assert pre.header("Access-Control-Allow-Origin") == "*" and pre.header("Access-Control-Allow-Credentials") is None


# ------------------------------------------------------------------------------ throttling and metrics


def test_throttling_token_buckets_on_the_sandbox_clock(fns):
    api = Api(fns, "throttle")
    api.route("GET /slow")
    api.route("GET /free")
    api.route("GET /closed")
    api.stage(DefaultRouteSettings={"ThrottlingRateLimit": 100.0, "ThrottlingBurstLimit": 3},
              RouteSettings={"GET /slow": {"ThrottlingRateLimit": 1.0, "ThrottlingBurstLimit": 2},
                             "GET /closed": {"ThrottlingRateLimit": 0.0, "ThrottlingBurstLimit": 0}})  # fmt: skip
    statuses = [api.call("GET", "/slow").status for _ in range(4)]
    assert statuses == [200, 200, 429, 429]
    assert body(api.call("GET", "/slow")) == {"message": "Too Many Requests"}
    stacklab.clock().advance(1)
    assert [api.call("GET", "/slow").status for _ in range(2)] == [200, 429]
    assert [api.call("GET", "/free").status for _ in range(4)] == [200, 200, 200, 429]  # DefaultRouteSettings
    assert api.call("GET", "/closed").status == 429
    stacklab.clock().advance(0.5)
    assert [api.call("GET", "/slow").status for _ in range(2)] == [429, 429]  # half a token only
    stacklab.clock().advance(0.5)
    assert api.call("GET", "/slow").status == 200


def _stat(name: str, dims: list[tuple[str, str]], stat: str = "Sum"):
    now = stacklab.clock().now()
    points = stacklab.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/ApiGateway", MetricName=name, Dimensions=[{"Name": k, "Value": v} for k, v in dims],
        StartTime=now - timedelta(hours=1), EndTime=now + timedelta(hours=1), Period=7200, Statistics=[stat],
    )["Datapoints"]  # fmt: skip
    return points[0][stat] if points else None


def test_metrics_with_api_id_stage_and_detailed_route_dimensions(fns):
    hx.flush_metrics()
    api = Api(fns, "metrics")
    api.route("GET /items/{id}")
    api.stage("prod")
    for path in ("/items/1", "/items/2", "/nothing"):
        api.call("GET", path, stage="prod")
    api.call("GET", "/items/3", stage="prod", query={"kind": "boom"})
    assert hx.flush_metrics() > 0
    cw = stacklab.client("cloudwatch")
    mine = cw.list_metrics(Namespace="AWS/ApiGateway", Dimensions=[{"Name": "ApiId", "Value": api.id}])["Metrics"]
    assert {m["MetricName"] for m in mine} == {"Count", "4xx", "5xx", "Latency", "IntegrationLatency"}
    assert {tuple(d["Name"] for d in m["Dimensions"]) for m in mine} == {("ApiId",), ("ApiId", "Stage")}
    stage = [("ApiId", api.id), ("Stage", "prod")]
    assert (_stat("Count", stage), _stat("4xx", stage), _stat("5xx", stage)) == (4.0, 1.0, 1.0)
    assert _stat("Latency", stage, "Maximum") == _stat("IntegrationLatency", stage, "Maximum") + 4.0
    # detailed metrics: the route's own dimension set (Method + Resource) appears
    v2().update_stage(ApiId=api.id, StageName="prod", DefaultRouteSettings={"DetailedMetricsEnabled": True})
    stacklab.clock().advance(hours=3)
    for path in ("/items/1", "/nothing"):
        api.call("GET", path, stage="prod")
    hx.flush_metrics()
    route = [("ApiId", api.id), ("Method", "GET"), ("Resource", "/items/{id}"), ("Stage", "prod")]
    assert _stat("Count", route) == 1.0


def test_access_logs_with_the_http_api_preset(fns):
    from stacklab.planes import access_logs

    stacklab.client("logs").create_log_group(logGroupName="hx-access")
    arn = "arn:aws:logs:us-east-1:123456789012:log-group:hx-access"
    api = Api(fns, "logged")
    api.route("GET /items/{id}")
    api.stage(AccessLogSettings={"DestinationArn": arn, "Format": access_logs.HTTP_API_PRESETS["JSON"]})
    ok = api.call("GET", "/items/1")
    api.call("GET", "/missing")
    first, second = (json.loads(line) for line in access_logs.lines(arn, api_id=api.id, stage="$default"))
    assert first["requestId"] == ok.header("apigw-requestid")
    assert (first["routeKey"], first["status"], second["routeKey"], second["status"]) == (
        "GET /items/{id}", "200", "-", "404")  # fmt: skip


# ------------------------------------------------------------------------------ HTTP, bad input, speed


def test_bad_input():
    with pytest.raises(InputError, match="no HTTP API"):
        hx.request("nope", "$default", "GET", "/")
    rest = stacklab.client("apigateway").create_rest_api(name="rest")["id"]
    with pytest.raises(InputError, match="no HTTP API"):
        hx.request(rest, "$default", "GET", "/")
    for kwargs, match in (
        ({"method": "BREW"}, "method must be"),
        ({"path": "items"}, "must start with '/'"),
        ({"headers": ["x"]}, "headers must be a dict"),
        ({"query": "a=1"}, "query must be a dict"),
        ({"body": 3}, "body must be bytes"),
        ({"client_ip": "nope"}, "client_ip"),
    ):
        args = {"method": "GET", "path": "/", **kwargs}
        method, path = args.pop("method"), args.pop("path")
        with pytest.raises(InputError, match=match):
            hx.request("anything", "$default", method, path, **args)
    with pytest.raises(InputError, match="stage must be"):
        hx.url("anything", "a/b")
    with pytest.raises(InputError):
        hx.request("", "$default", "GET", "/")


def test_over_http_and_speed(fns, capsys):
    api = Api(fns, "served")
    api.route("GET /items/{id}")
    api.stage()
    api.stage("prod", auto=True)
    root = hx.url(api.id)
    assert root.endswith("/") and hx.url(api.id, "prod") == root + "prod/"
    resp = requests.get(f"{root}items/7", params={"a": "1"}, timeout=5)
    assert resp.status_code == 200 and resp.json()["params"] == {"id": "7"} and resp.headers["apigw-requestid"]
    assert requests.get(f"{root}prod/items/8", timeout=5).json()["stage"] == "prod"
    assert requests.get(f"{root}nothing", timeout=5).json() == {"message": "Not Found"}
    with pytest.raises(InputError, match="no HTTP API"):
        hx.serve("nope")

    # 1,000 in-process requests that API Gateway answers itself (stage, routing over 11 routes, 404, metrics),
    # then Lambda-proxied requests (the functions plane's invoke is most of their cost)
    for i in range(10):
        api.route(f"GET /r{i}/{{id}}")
    start = time.perf_counter()
    for i in range(1000):
        assert hx.request(api.id, "$default", "GET", f"/none/{i}").status == 404
    gateway_only = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(100):
        assert hx.request(api.id, "$default", "GET", f"/items/{i}").status == 200
    with_lambda = time.perf_counter() - start
    session = requests.Session()
    start = time.perf_counter()
    for i in range(200):
        assert session.get(f"{root}items/{i}", timeout=5).status_code == 200
    over_http = time.perf_counter() - start
    hx.flush_metrics()
    with capsys.disabled():
        print(f"\n[http_apis] 1000 in-process requests answered by the gateway: {1000 / gateway_only:.0f} req/s; "
              f"100 in-process to Lambda: {100 / with_lambda:.0f} req/s; "
              f"200 to Lambda over loopback HTTP: {200 / over_http:.0f} req/s")  # fmt: skip
    assert gateway_only < 10.0

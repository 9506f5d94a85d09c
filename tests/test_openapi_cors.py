"""OpenAPI 3 import/export with API Gateway extensions, and browser-style CORS."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pytest
import yaml
from botocore.exceptions import ClientError

import stacklab
from stacklab.errors import InputError, StackLabError
from stacklab.planes import cors
from stacklab.planes import functions as fn
from stacklab.planes import gateway as gw
from stacklab.planes import openapi as oa
from stacklab.planes.http import Response
from stacklab.planes.http import serve as http_serve

APP = "https://app.example.com"
KEY = "pets-key-0123456789abcdef"
PETS_FN = """
import json

def handler(event, context):
    claims = event["requestContext"]["authorizer"]["claims"]
    return {"statusCode": 201, "headers": {"Access-Control-Allow-Origin": "https://app.example.com"},
            "body": json.dumps({"owner": claims["cognito:username"], "pet": json.loads(event["body"])})}
"""


def ag():
    return stacklab.client("apigateway")


def _backend(req):
    payload = json.dumps({"pets": ["rex", "tom"], "query": req.query}).encode()
    headers = {"Content-Type": "application/json", "X-Backend": "yes"}
    if req.header("origin") == APP:
        headers["Access-Control-Allow-Origin"] = APP
    return Response(200, headers, payload)


@pytest.fixture(scope="module")
def pets(box):
    """The sample document imported with failOnWarnings, deployed, with a key, a user and a backend."""
    stacklab.reset()
    idp = stacklab.client("cognito-idp")
    pool = idp.create_user_pool(PoolName="users")["UserPool"]
    client = idp.create_user_pool_client(UserPoolId=pool["Id"], ClientName="web",
                                         ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"])["UserPoolClient"]  # fmt: skip
    idp.admin_create_user(UserPoolId=pool["Id"], Username="ada", TemporaryPassword="Temp-Passw0rd!")
    idp.admin_set_user_password(UserPoolId=pool["Id"], Username="ada", Password="Real-Passw0rd!", Permanent=True)
    token = idp.initiate_auth(ClientId=client["ClientId"], AuthFlow="USER_PASSWORD_AUTH",
                              AuthParameters={"USERNAME": "ada", "PASSWORD": "Real-Passw0rd!"})  # fmt: skip
    role = stacklab.client("iam").create_role(RoleName="pets-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    stacklab.client("lambda").create_function(FunctionName="pets-api", Runtime="python3.12", Role=role,
                                              Handler="app.handler",
                                              Code={"ZipFile": fn.package({"app.py": PETS_FN})})  # fmt: skip
    backend = http_serve("pets-backend", _backend)
    doc = oa.petstore_document(pool["Arn"])
    api_id = ag().import_rest_api(body=yaml.safe_dump(doc).encode(), failOnWarnings=True)["id"]
    ag().create_deployment(restApiId=api_id, stageName="prod", variables={"backend": backend.url.split("//")[1]})
    key = ag().create_api_key(name="pets", enabled=True, value=KEY)
    plan = ag().create_usage_plan(name="pets", apiStages=[{"apiId": api_id, "stage": "prod"}])
    ag().create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    return api_id, token["AuthenticationResult"]["IdToken"], pool["Arn"]


def _methods(api_id: str) -> dict[str, dict]:
    out = {}
    for res in ag().get_resources(restApiId=api_id, embed=["methods"])["items"]:
        for verb, method in (res.get("resourceMethods") or {}).items():
            out[f"{verb} {res['path']}"] = method
    return out


# ------------------------------------------------------------------------------ import


def test_import_keeps_what_moto_drops(pets):
    api_id, _, pool_arn = pets
    methods = _methods(api_id)
    assert sorted(methods) == ["GET /pets", "GET /pets/{petId}", "OPTIONS /pets", "POST /pets"]
    (auth,) = ag().get_authorizers(restApiId=api_id)["items"]
    assert (auth["name"], auth["type"], auth["providerARNs"], auth["identitySource"]) == (
        "users", "COGNITO_USER_POOLS", [pool_arn], "method.request.header.Authorization")  # fmt: skip
    (validator,) = ag().get_request_validators(restApiId=api_id)["items"]
    listing = methods["GET /pets"]
    assert listing["apiKeyRequired"] is True and listing["authorizationType"] == "NONE"
    assert listing["operationName"] == "listPets"
    assert listing["requestParameters"] == {"method.request.querystring.type": False}
    assert listing["methodIntegration"]["type"] == "HTTP_PROXY"
    assert listing["methodIntegration"]["passthroughBehavior"] == "WHEN_NO_MATCH"
    create = methods["POST /pets"]
    assert (create["authorizationType"], create["authorizerId"]) == ("COGNITO_USER_POOLS", auth["id"])
    assert create["methodIntegration"]["type"] == "AWS_PROXY"
    one = methods["GET /pets/{petId}"]
    assert one["requestParameters"] == {"method.request.path.petId": True}
    assert one["requestValidatorId"] == validator["id"]
    assert one["methodResponses"]["200"]["responseParameters"] == {
        "method.response.header.Access-Control-Allow-Origin": False
    }
    options = methods["OPTIONS /pets"]["methodIntegration"]
    assert options["type"] == "MOCK"
    assert (
        options["integrationResponses"]["200"]["responseParameters"][
            "method.response.header.Access-Control-Allow-Methods"
        ]
        == "'GET,POST,OPTIONS'"
    )


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status", "expected"),
    [
        ("GET", "/pets", {}, "", 403, {"message": "Forbidden"}),  # API key required
        ("GET", "/pets?type=cat", {"x-api-key": KEY}, "", 200, {"pets": ["rex", "tom"], "query": {"type": "cat"}}),
        ("POST", "/pets", {}, '{"name": "kit"}', 401, {"message": "Unauthorized"}),  # Cognito authorizer
        ("POST", "/pets", "token", '{"name": "kit"}', 201, {"owner": "ada", "pet": {"name": "kit"}}),
        ("GET", "/pets/7", {}, "", 200, {"id": "7", "name": "Rex"}),  # MOCK
        ("OPTIONS", "/pets", {}, "", 200, None),  # CORS preflight MOCK
        ("DELETE", "/pets", {}, "", 403, {"message": "Missing Authentication Token"}),
    ],
)
def test_imported_api_runs_end_to_end(pets, method, path, headers, body, status, expected):
    api_id, token, _ = pets
    if headers == "token":
        headers = {"Authorization": token}
    resp = gw.request(api_id, "prod", method, path, headers=headers, body=body)
    assert resp.status == status, resp.text
    if expected is not None:
        assert json.loads(resp.body) == expected
    if method == "OPTIONS":
        assert resp.header("Access-Control-Allow-Origin") == APP


def _shape(api_id: str) -> dict:
    """Resources/methods/integrations/authorizers with ids replaced by names (comparable across APIs)."""
    names = {a["id"]: a["name"] for a in ag().get_authorizers(restApiId=api_id)["items"]}
    validators = {v["id"]: v["name"] for v in ag().get_request_validators(restApiId=api_id)["items"]}
    out = {}
    for key, method in _methods(api_id).items():
        method = dict(method)
        method["authorizerId"] = names.get(method.get("authorizerId"))
        method["requestValidatorId"] = validators.get(method.get("requestValidatorId"))
        out[key] = method
    auths = sorted((a["name"], a["type"], tuple(a.get("providerARNs", ()))) for a in
                   ag().get_authorizers(restApiId=api_id)["items"])  # fmt: skip
    return {"methods": out, "authorizers": auths}


def test_export_round_trip(pets):
    api_id, _, _ = pets
    exported = oa.export_openapi(api_id, "prod")
    assert exported["openapi"] == "3.0.1"
    assert exported["servers"] == [{
        "url": f"https://{api_id}.execute-api.us-east-1.amazonaws.com/{{basePath}}",
        "variables": {"basePath": {"default": "/prod"}},
    }]  # fmt: skip
    schemes = exported["components"]["securitySchemes"]
    assert schemes["api_key"] == {"type": "apiKey", "name": "x-api-key", "in": "header"}
    assert schemes["users"]["x-amazon-apigateway-authorizer"]["type"] == "cognito_user_pools"
    assert exported["paths"]["/pets"]["get"]["security"] == [{"api_key": []}]
    again = ag().import_rest_api(body=json.dumps(exported), failOnWarnings=True)["id"]
    assert _shape(again) == _shape(api_id)


def test_get_export_extensions_and_deployed_state(pets):
    api_id, _, _ = pets
    plain = json.loads(ag().get_export(restApiId=api_id, stageName="prod", exportType="oas30")["body"].read())
    assert "x-amazon-apigateway-integration" not in json.dumps(plain)
    assert "x-amazon-apigateway-authorizer" not in json.dumps(plain)
    only = oa.export_openapi(api_id, "prod", extensions="integrations")
    assert "x-amazon-apigateway-integration" in only["paths"]["/pets"]["get"]
    assert "x-amazon-apigateway-authorizer" not in json.dumps(only)
    # The export is the deployment: an undeployed change does not show.
    rid = next(r["id"] for r in ag().get_resources(restApiId=api_id)["items"] if r["path"] == "/pets")
    ag().put_method(restApiId=api_id, resourceId=rid, httpMethod="PATCH", authorizationType="NONE")
    assert "patch" not in oa.export_openapi(api_id, "prod")["paths"]["/pets"]
    ag().delete_method(restApiId=api_id, resourceId=rid, httpMethod="PATCH")
    swagger = json.loads(ag().get_export(restApiId=api_id, stageName="prod", exportType="swagger")["body"].read())
    assert swagger["swagger"] == "2.0"  # moto's own exporter


def test_put_rest_api_merge_and_overwrite(box):
    api_id = oa.import_openapi(oa.petstore_document())
    extra = {
        "openapi": "3.0.1",
        "info": {"title": "x", "version": "1"},
        "paths": {
            "/pets": {
                "put": {
                    "responses": {"200": {"description": "ok"}},
                    "x-amazon-apigateway-integration": {"type": "mock", "requestTemplates": {"application/json": "{}"}},
                }
            }
        },
    }
    ag().put_rest_api(restApiId=api_id, mode="merge", body=json.dumps(extra))
    paths = [r["path"] for r in ag().get_resources(restApiId=api_id)["items"]]
    assert sorted(paths) == ["/", "/pets", "/pets/{petId}"]  # no duplicate /pets (moto creates one)
    assert sorted(_methods(api_id)) == ["GET /pets", "GET /pets/{petId}", "OPTIONS /pets", "POST /pets", "PUT /pets"]
    root = ag().get_rest_api(restApiId=api_id)["rootResourceId"]
    ag().put_rest_api(restApiId=api_id, mode="overwrite", body=json.dumps(extra))
    assert sorted(_methods(api_id)) == ["PUT /pets"]
    assert ag().get_authorizers(restApiId=api_id)["items"] == []
    assert {r["id"] for r in ag().get_resources(restApiId=api_id)["items"] if r["path"] == "/"} == {root}


def test_api_level_extensions(box):
    doc = {**_doc(get={**MOCK, "x-amazon-apigateway-auth": {"type": "AWS_IAM"}}),
           "x-amazon-apigateway-api-key-source": "AUTHORIZER",
           "x-amazon-apigateway-binary-media-types": ["image/png"],
           "x-amazon-apigateway-endpoint-configuration": {"types": ["REGIONAL"]},
           "x-amazon-apigateway-policy": {"Version": "2012-10-17", "Statement": []},
           "x-amazon-apigateway-gateway-responses": {"DEFAULT_4XX": {
               "responseParameters": {"gatewayresponse.header.Access-Control-Allow-Origin": "'*'"}}}}  # fmt: skip
    api = ag().import_rest_api(body=json.dumps(doc).encode(), failOnWarnings=True)
    assert (api["apiKeySource"], api["binaryMediaTypes"], api["endpointConfiguration"]["types"]) == (
        "AUTHORIZER", ["image/png"], ["REGIONAL"])  # fmt: skip
    assert json.loads(api["policy"]) == {"Version": "2012-10-17", "Statement": []}
    assert _methods(api["id"])["GET /x"]["authorizationType"] == "AWS_IAM"
    (gr,) = ag().get_gateway_responses(restApiId=api["id"])["items"]
    assert gr["responseType"] == "DEFAULT_4XX"
    assert gr["responseParameters"] == {"gatewayresponse.header.Access-Control-Allow-Origin": "'*'"}
    regional = ag().import_rest_api(body=json.dumps(_doc(get=MOCK)).encode(),
                                    parameters={"endpointConfigurationTypes": "REGIONAL"})  # fmt: skip
    assert regional["endpointConfiguration"]["types"] == ["REGIONAL"]


def test_lambda_token_authorizer_from_security_scheme(box):
    fn_arn = "arn:aws:lambda:us-east-1:123456789012:function:auth"
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{fn_arn}/invocations"
    doc = {**_doc(get={**MOCK, "security": [{"tok": []}]}), "components": {"securitySchemes": {"tok": {
        "type": "apiKey", "name": "X-Token", "in": "header", "x-amazon-apigateway-authtype": "custom",
        "x-amazon-apigateway-authorizer": {"type": "token", "authorizerUri": uri, "authorizerResultTtlInSeconds": 60,
                                           "identityValidationExpression": "^ok-.*$"}}}}}  # fmt: skip
    api_id = ag().import_rest_api(body=json.dumps(doc).encode(), failOnWarnings=True)["id"]
    (auth,) = ag().get_authorizers(restApiId=api_id)["items"]
    keys = ("name", "type", "authorizerUri", "identitySource", "authorizerResultTtlInSeconds",
            "identityValidationExpression", "authType")  # fmt: skip
    assert {k: auth[k] for k in keys} == {
        "name": "tok", "type": "TOKEN", "authorizerUri": uri, "identitySource": "method.request.header.X-Token",
        "authorizerResultTtlInSeconds": 60, "identityValidationExpression": "^ok-.*$", "authType": "custom",
    }  # fmt: skip
    method = _methods(api_id)["GET /x"]
    assert (method["authorizationType"], method["authorizerId"]) == ("CUSTOM", auth["id"])


def _doc(**ops) -> dict:
    return {"openapi": "3.0.1", "info": {"title": "bad", "version": "1"}, "paths": {"/x": ops}}


MOCK = {"responses": {"200": {"description": "ok"}}, "x-amazon-apigateway-integration": {"type": "mock"}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not: [an, openapi, doc", "not a JSON or YAML OpenAPI 3 document"),
        (json.dumps({"swagger": "2.0", "info": {"title": "s"}, "paths": {}}), "Only OpenAPI 3.x.x"),
        (json.dumps({"openapi": "3.0.1", "info": {"title": "t", "version": "1"}}), "'paths' is a required property"),
        (json.dumps(_doc(get={**MOCK, "x-amazon-apigateway-integration": {"type": "lambda"}})), "integration type"),
        (json.dumps(_doc(get={**MOCK, "x-amazon-apigateway-integration": {"type": "http"}})), "needs 'uri'"),
        (json.dumps(_doc(get={**MOCK, "security": [{"nope": []}]})), "'nope' is not defined"),
        (
            json.dumps(
                _doc(
                    get={
                        **MOCK,
                        "x-amazon-apigateway-integration": {
                            "type": "aws_proxy",
                            "httpMethod": "POST",
                            "uri": "arn:aws:lambda:us-east-1:1:function:f",
                        },
                    }
                )
            ),
            "uri must look like arn:aws:apigateway",
        ),
        (json.dumps({**_doc(get=MOCK), "x-amazon-apigateway-cors": {"allowOrigins": ["*"]}}), "HTTP APIs only"),
        (json.dumps(_doc(trace=MOCK, get=MOCK)), "TRACE method"),
    ],
)
def test_bad_documents_are_refused_and_create_nothing(box, body, message):
    before = len(ag().get_rest_apis()["items"])
    with pytest.raises(ClientError) as err:
        ag().import_rest_api(body=body.encode(), failOnWarnings=True)
    assert err.value.response["Error"]["Code"] == "BadRequestException"
    assert message in err.value.response["Error"]["Message"]
    assert len(ag().get_rest_apis()["items"]) == before


def test_warnings_without_fail_on_warnings_are_returned(box):
    doc = {**_doc(get=MOCK), "x-amazon-apigateway-cors": {"allowOrigins": ["*"]}}
    resp = ag().import_rest_api(body=json.dumps(doc).encode(), failOnWarnings=False)
    assert resp["warnings"] == ["x-amazon-apigateway-cors applies to HTTP APIs only; a REST API needs OPTIONS methods."]
    assert sorted(_methods(resp["id"])) == ["GET /x"]


def test_helpers_bad_input(pets):
    api_id, _, _ = pets
    with pytest.raises(InputError, match="stage 'nope'"):
        oa.export_openapi(api_id, "nope")
    with pytest.raises(InputError, match="extensions must be"):
        oa.export_openapi(api_id, "prod", extensions="all")
    with pytest.raises(InputError, match="render_docs needs"):
        oa.render_docs({"openapi": "3.0.1"})
    with pytest.raises(InputError, match="pool_arn"):
        oa.petstore_document("users")
    with pytest.raises(StackLabError, match="integration type"):
        oa.import_openapi(_doc(get={**MOCK, "x-amazon-apigateway-integration": {"type": "lambda"}}))
    with pytest.raises(InputError, match="doc must be"):
        oa.import_openapi(42)  # type: ignore[arg-type]


def test_render_docs_is_deterministic_and_script_free(pets):
    api_id, _, _ = pets
    doc = oa.export_openapi(api_id, "prod")
    first, second = oa.render_docs(doc).data, oa.render_docs(copy.deepcopy(doc)).data
    assert first == second and "<script" not in first.lower()
    assert "<b>POST</b></td><td style='padding:2px 8px;border-top:1px solid #ddd'><code>/pets</code>" in first
    assert "Cognito (users)" in first and "API key (x-api-key header)" in first
    assert "petId (path, required)" in first


def test_cli_import_rest_api(box, tmp_path):
    stacklab.start(cli=True, fresh=False)
    path = tmp_path / "api.yaml"
    path.write_text(yaml.safe_dump(oa.petstore_document()))
    aws = os.path.join(os.path.dirname(sys.executable), "aws")
    out = subprocess.run([aws, "apigateway", "import-rest-api", "--fail-on-warnings", "--body", f"fileb://{path}"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    api_id = json.loads(out.stdout)["id"]
    assert [a["name"] for a in ag().get_authorizers(restApiId=api_id)["items"]] == ["users"]
    ag().create_deployment(restApiId=api_id, stageName="prod")
    assert json.loads(gw.request(api_id, "prod", "GET", "/pets/9").body) == {"id": "9", "name": "Rex"}


# ------------------------------------------------------------------------------ CORS


def _server(preflight: dict[str, str], actual: dict[str, str], preflight_status: int = 204):
    """An in-process server answering OPTIONS with ``preflight`` headers and anything else with ``actual``."""
    seen = []

    def handle(method, path, headers, body):
        seen.append((method, dict(headers)))
        if method == "OPTIONS":
            return Response(preflight_status, dict(preflight), b"")
        return Response(200, {"Content-Type": "application/json", "X-Secret": "s", **actual}, b'{"ok": true}')

    return handle, seen


ALLOW = {"Access-Control-Allow-Origin": APP, "Access-Control-Allow-Methods": "GET,PUT,DELETE",
         "Access-Control-Allow-Headers": "Content-Type,Authorization"}  # fmt: skip
PREFIX = f"Access to fetch at '/items' from origin '{APP}' has been blocked by CORS policy: "


@pytest.mark.parametrize(
    ("method", "headers", "credentials", "preflight", "actual", "preflighted", "reason"),
    [
        # simple GET: no preflight, allowed origin
        ("GET", {}, False, {}, {"Access-Control-Allow-Origin": APP}, False, None),
        ("GET", {}, False, {}, {"Access-Control-Allow-Origin": "*"}, False, None),
        ("POST", {"Content-Type": "text/plain"}, False, {}, {"Access-Control-Allow-Origin": APP}, False, None),
        # simple GET, response without / with another origin: blocked after the server answered
        ("GET", {}, False, {}, {}, False, "No 'Access-Control-Allow-Origin' header is present on the requested "
         "resource. If an opaque response serves your needs, set the request's mode to 'no-cors' to fetch the "
         "resource with CORS disabled."),
        ("GET", {}, False, {}, {"Access-Control-Allow-Origin": "https://other.example.com"}, False,
         "The 'Access-Control-Allow-Origin' header has a value 'https://other.example.com' that is not equal to "
         "the supplied origin."),
        ("GET", {}, False, {}, {"Access-Control-Allow-Origin": f"{APP}, https://b.example"}, False,
         f"The 'Access-Control-Allow-Origin' header contains multiple values '{APP}, https://b.example', but only "
         "one is allowed."),
        # preflighted: JSON body, PUT, custom headers
        ("POST", {"Content-Type": "application/json"}, False, ALLOW, {"Access-Control-Allow-Origin": APP}, True, None),
        ("PUT", {}, False, ALLOW, {"Access-Control-Allow-Origin": APP}, True, None),
        ("PATCH", {}, False, ALLOW, {"Access-Control-Allow-Origin": APP}, True,
         "Method PATCH is not allowed by Access-Control-Allow-Methods in preflight response."),
        ("GET", {"X-Trace": "1"}, False, ALLOW, {"Access-Control-Allow-Origin": APP}, True,
         "Request header field x-trace is not allowed by Access-Control-Allow-Headers in preflight response."),
        ("GET", {"X-Trace": "1"}, False, {**ALLOW, "Access-Control-Allow-Headers": "*"},
         {"Access-Control-Allow-Origin": APP}, True, None),
        ("GET", {"Authorization": "t"}, False, {**ALLOW, "Access-Control-Allow-Headers": "*"},
         {"Access-Control-Allow-Origin": APP}, True,
         "Request header field authorization is not allowed by Access-Control-Allow-Headers in preflight response."),
        ("DELETE", {}, False, {}, {"Access-Control-Allow-Origin": APP}, True,
         "Response to preflight request doesn't pass access control check: No 'Access-Control-Allow-Origin' "
         "header is present on the requested resource."),
        # credentials
        ("GET", {}, True, {}, {"Access-Control-Allow-Origin": "*"}, False,
         "The value of the 'Access-Control-Allow-Origin' header in the response must not be the wildcard '*' when "
         "the request's credentials mode is 'include'."),
        ("GET", {}, True, {}, {"Access-Control-Allow-Origin": APP}, False,
         "The value of the 'Access-Control-Allow-Credentials' header in the response is '' which must be 'true' "
         "when the request's credentials mode is 'include'."),
        ("GET", {}, True, {}, {"Access-Control-Allow-Origin": APP, "Access-Control-Allow-Credentials": "true"},
         False, None),
        ("PUT", {}, True, {**ALLOW, "Access-Control-Allow-Origin": "*"}, {}, True,
         "Response to preflight request doesn't pass access control check: The value of the "
         "'Access-Control-Allow-Origin' header in the response must not be the wildcard '*' when the request's "
         "credentials mode is 'include'."),
    ],
)  # fmt: skip
def test_cors_rules(method, headers, credentials, preflight, actual, preflighted, reason):
    handle, seen = _server(preflight, actual)
    result = cors.browser_fetch(handle, method, origin=APP, headers=headers, credentials=credentials,
                                body="x" if method in ("POST", "PUT") else None, path="/items")  # fmt: skip
    assert result.preflighted is preflighted
    assert result.reason == (PREFIX + reason if reason else None)
    assert result.blocked is (reason is not None)
    assert [m for m, _ in seen][:1] == (["OPTIONS"] if preflighted else [method])
    if preflighted:
        assert seen[0][1]["Origin"] == APP and seen[0][1]["Access-Control-Request-Method"] == method
    if not result.blocked:
        assert result.status == 200 and result.body == '{"ok": true}'
        assert "X-Secret" not in result.headers and result.headers["Content-Type"] == "application/json"


def test_preflight_details_and_exposed_headers():
    exposing = {"Access-Control-Allow-Origin": APP, "Access-Control-Expose-Headers": "X-Secret"}
    handle, seen = _server({**ALLOW, "Access-Control-Allow-Headers": "x-b,X-A"}, exposing)
    result = cors.browser_fetch(handle, "GET", origin=APP, headers={"X-B": "1", "X-A": "2"}, path="/items")
    assert seen[0][1]["Access-Control-Request-Headers"] == "x-a,x-b"
    assert result.headers["X-Secret"] == "s"
    assert str(result).splitlines() == [
        "OPTIONS /items (preflight for GET, Access-Control-Request-Headers: x-a,x-b) -> 204",
        "GET /items -> 200",
        "OK: JavaScript reads status 200",
    ]
    handle, _ = _server({**ALLOW}, {}, preflight_status=403)
    assert cors.browser_fetch(handle, "PUT", origin=APP, path="/items").reason == PREFIX + (
        "Response to preflight request doesn't pass access control check: It does not have HTTP ok status."
    )


def test_cors_against_the_imported_api_over_loopback_and_in_process(pets):
    api_id, _, _ = pets
    base = gw.url(api_id, "prod")
    ok = cors.browser_fetch(f"{base}/pets/7", "GET", origin=APP)
    assert (ok.blocked, ok.preflighted, ok.status, json.loads(ok.body)) == (
        False,
        False,
        200,
        {"id": "7", "name": "Rex"},
    )
    wrong = cors.browser_fetch(f"{base}/pets/7", "GET", origin="https://evil.example")
    assert wrong.blocked and wrong.server_status == 200
    assert wrong.reason.endswith(f"has a value '{APP}' that is not equal to the supplied origin.")
    keyed = cors.browser_fetch(f"{base}/pets", "GET", origin=APP, headers={"x-api-key": KEY})
    assert (keyed.blocked, keyed.preflighted, keyed.preflight_status, keyed.status) == (False, True, 200, 200)
    custom = cors.browser_fetch(f"{base}/pets", "GET", origin=APP, headers={"x-api-key": KEY, "X-Trace": "1"})
    assert custom.blocked and custom.server_status is None
    assert "Request header field x-trace is not allowed" in custom.reason

    def in_process(method, path, headers, body):
        return gw.request(api_id, "prod", method, path, headers=headers, body=body)

    same = cors.browser_fetch(in_process, "GET", origin=APP, headers={"x-api-key": KEY}, path="/pets")
    assert (same.blocked, same.preflighted, same.status) == (False, True, 200)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"url_or_callable": "http://example.com/x", "origin": APP}, "must be on 127.0.0.1"),
        ({"url_or_callable": 42, "origin": APP}, "url_or_callable must be"),
        ({"url_or_callable": "http://127.0.0.1:1/x", "origin": "app.example.com"}, "origin must be"),
        ({"url_or_callable": "http://127.0.0.1:1/x", "origin": APP, "method": "FETCH"}, "method must be"),
        ({"url_or_callable": "http://127.0.0.1:1/x", "origin": APP, "headers": {"Cookie": "a=b"}}, "cannot set"),
        ({"url_or_callable": "http://127.0.0.1:1/x", "origin": APP, "body": "x"}, "cannot have a body"),
        ({"url_or_callable": "http://127.0.0.1:1/x", "origin": APP, "credentials": "yes"}, "credentials"),
        ({"url_or_callable": lambda *a: None, "origin": APP, "path": "x"}, "path must start"),
    ],
)
def test_browser_fetch_bad_input(kwargs, message):
    with pytest.raises(InputError, match=message):
        cors.browser_fetch(**kwargs)


def test_cors_against_an_http_api_cors_configuration(box):
    http_apis = pytest.importorskip("stacklab.planes.http_apis")
    backend = http_serve("cors-backend", _backend)
    api_id = stacklab.client("apigatewayv2").create_api(
        Name="cors-http", ProtocolType="HTTP", Target=f"{backend.url}/pets",
        CorsConfiguration={"AllowOrigins": [APP], "AllowMethods": ["GET", "POST"], "AllowHeaders": ["content-type"],
                           "AllowCredentials": True},
    )["ApiId"]  # fmt: skip
    base = http_apis.url(api_id)
    ok = cors.browser_fetch(base, "POST", origin=APP, headers={"Content-Type": "application/json"}, body="{}",
                            credentials=True)  # fmt: skip
    # Quick create makes a $default route, which catches the OPTIONS preflight too (AWS documents this):
    # the backend answers it (200) and API Gateway adds the configured CORS headers.
    assert (ok.blocked, ok.preflighted, ok.preflight_status, ok.status) == (False, True, 200, 200), ok.reason
    denied = cors.browser_fetch(base, "DELETE", origin=APP)
    assert denied.blocked and denied.server_status is None
    assert "Response to preflight request doesn't pass access control check: No 'Access-Control-Allow-Origin'" in (
        denied.reason
    )

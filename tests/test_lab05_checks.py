"""Lab 05's checks pass on the solution and name the exact mistake in realistic wrong answers."""

from __future__ import annotations

import json

import pytest
from support.labcheck import failed, run

import stacklab
import stacklab.planes.openapi  # noqa: F401 - completes moto's OpenAPI importer, as the lab's setup cell does
from stacklab.planes import functions

ITEMS = """
import json


def lambda_handler(event, context):
    return {"statusCode": 200, "body": json.dumps({"id": event["pathParameters"]["id"]})}
"""
MOCK_REQUEST = {"application/json": '{"statusCode": 200}'}


@pytest.fixture(autouse=True)
def fresh(box, tmp_path, monkeypatch):
    monkeypatch.setenv("STACKLAB_PROGRESS", str(tmp_path / "progress.json"))
    stacklab.reset()


def ensure_function() -> str:
    """The lab's item function (created on first use: only the Lambda tests need it); its ARN."""
    lam = stacklab.client("lambda")
    names = [f["FunctionName"] for f in lam.list_functions()["Functions"]]
    if "lab05-items" not in names:
        trust = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
        role = stacklab.client("iam").create_role(RoleName="lab05-role", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
        lam.create_function(FunctionName="lab05-items", Runtime="python3.12", Role=role,
                            Handler="lambda_function.lambda_handler", Code={"ZipFile": functions.package(ITEMS)})
    return lam.get_function(FunctionName="lab05-items")["Configuration"]["FunctionArn"]


# ------------------------------------------------------------------------------------ builders


def ag():
    return stacklab.client("apigateway")


def new_api(**kwargs) -> str:
    return ag().create_rest_api(name="lab05-api", **kwargs)["id"]


def resource(api_id: str, path: str) -> str:
    items = {r["path"]: r["id"] for r in ag().get_resources(restApiId=api_id)["items"]}
    if path in items:
        return items[path]
    parent, _, part = path.rpartition("/")
    return ag().create_resource(restApiId=api_id, parentId=resource(api_id, parent or "/"), pathPart=part)["id"]


def health(api_id: str, *, integration: str | None = "MOCK", request=MOCK_REQUEST, body='{"status": "ok"}',
           response: bool = True) -> str:
    rid = resource(api_id, "/health")
    ag().put_method(restApiId=api_id, resourceId=rid, httpMethod="GET", authorizationType="NONE")
    if integration == "MOCK":
        extra = {"requestTemplates": request} if request else {}
        ag().put_integration(restApiId=api_id, resourceId=rid, httpMethod="GET", type="MOCK", **extra)
    elif integration == "HTTP_PROXY":
        ag().put_integration(restApiId=api_id, resourceId=rid, httpMethod="GET", type="HTTP_PROXY",
                             integrationHttpMethod="GET", uri="http://127.0.0.1:9/health")
    if integration and response:
        ag().put_method_response(restApiId=api_id, resourceId=rid, httpMethod="GET", statusCode="200")
        ag().put_integration_response(restApiId=api_id, resourceId=rid, httpMethod="GET", statusCode="200",
                                      responseTemplates={"application/json": body})
    return rid


def deploy(api_id: str, stage: str = "dev") -> None:
    ag().create_deployment(restApiId=api_id, stageName=stage)


def lambda_uri() -> str:
    return f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{ensure_function()}/invocations"


def items(api_id: str, *, part="{id}", kind="AWS_PROXY", verb="POST", uri: str | None = None) -> str:
    uri = uri or lambda_uri()
    rid = resource(api_id, f"/items/{part}")
    ag().put_method(restApiId=api_id, resourceId=rid, httpMethod="GET", authorizationType="NONE")
    ag().put_integration(restApiId=api_id, resourceId=rid, httpMethod="GET", type=kind, integrationHttpMethod=verb,
                         uri=uri)
    return rid


def regional(api_id: str, value: str = "REGIONAL") -> None:
    ag().update_rest_api(restApiId=api_id, patchOperations=[
        {"op": "replace", "path": "/endpointConfiguration/types/EDGE", "value": value}])


# --------------------------------------------------------------------------------- the solution


def test_the_solution_passes_every_check():
    api_id = new_api()
    health(api_id)
    deploy(api_id)
    items(api_id)
    deploy(api_id)
    regional(api_id)
    for check_id in ("05.health", "05.lambda", "05.regional"):
        result = run(check_id, api_id=api_id)
        assert result, result.text()
    assert run("05.health", api_id=api_id).message.endswith('answers 200 {"status": "ok"} from a MOCK integration.')


def test_unanswered_and_malformed_ids():
    assert "still holds `...`" in run("05.health", api_id=...).message
    assert "is not defined yet" in run("05.lambda").message
    assert "holds a whole dict" in failed("05.health", api_id={"id": "abc"})
    assert "holds an invoke URL" in failed("05.health", api_id="https://abc1234567.execute-api.us-east-1.amazonaws.com/dev")
    assert "does not look like a REST API id" in failed("05.health", api_id="lab05-api")
    assert failed("05.regional", api_id="zzzzzzzzzz") == "no REST API has the id 'zzzzzzzzzz' in the sandbox."


# ------------------------------------------------------------------------------------ 05.health


def test_health_mistakes_are_named():
    api_id = new_api()
    assert "has no resource '/health'" in failed("05.health", api_id=api_id)
    resource(api_id, "/Health")
    assert "paths are case-sensitive" in failed("05.health", api_id=api_id)


def test_health_method_without_integration_or_with_the_wrong_type():
    api_id = new_api()
    health(api_id, integration=None)
    assert "has no integration" in failed("05.health", api_id=api_id)
    other = new_api()
    health(other, integration="HTTP_PROXY")
    assert "has a HTTP_PROXY integration; the exercise asks for MOCK" in failed("05.health", api_id=other)


def test_health_not_deployed_or_deployed_before_the_change():
    api_id = new_api()
    health(api_id)
    assert "has no stage 'dev'" in failed("05.health", api_id=api_id)
    deploy(api_id, "prod")
    assert "has no stage 'dev' (its stages: prod)" in failed("05.health", api_id=api_id)
    # deployed, then the response template changed: the stage still serves the old snapshot
    early = new_api()
    rid = health(early, body='{"status": "starting"}')
    deploy(early)
    ag().put_integration_response(restApiId=early, resourceId=rid, httpMethod="GET", statusCode="200",
                                  responseTemplates={"application/json": '{"status": "ok"}'})
    message = failed("05.health", api_id=early)
    assert "made before your last change to GET /health" in message


def test_health_wrong_body_missing_response_or_request_template():
    api_id = new_api()
    health(api_id, body='{"status": "OK"}')
    deploy(api_id)
    assert 'answers 200 {"status": "OK"}' in failed("05.health", api_id=api_id)
    bare = new_api()
    health(bare, response=False)
    deploy(bare)
    assert "no integration response for 200" in failed("05.health", api_id=bare)
    untemplated = new_api()
    health(untemplated, request=None, body='{"status": "up"}')
    deploy(untemplated)
    assert 'answers 200 {"status": "up"}' in failed("05.health", api_id=untemplated)


# ------------------------------------------------------------------------------------ 05.lambda


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (dict(kind="AWS"), "uses type AWS: the Lambda *custom* (non-proxy) integration"),
        (dict(part="id"), "a literal path part"),
        (dict(part="{item}"), "reads the path parameter named `id`"),
        (dict(verb="GET"), "API Gateway always calls Lambda with POST"),
        (dict(kind="HTTP_PROXY", uri="http://127.0.0.1:9/items"), "has a HTTP_PROXY integration"),
        (dict(uri="arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
                  "arn:aws:lambda:us-east-1:123456789012:function:other/invocations"), "should invoke the function"),
    ],
)
def test_lambda_wrong_integrations(build, expected):
    api_id = new_api()
    items(api_id, **build)
    deploy(api_id)
    assert expected in failed("05.lambda", api_id=api_id)


def test_lambda_missing_resource_and_not_redeployed():
    api_id = new_api()
    health(api_id)
    deploy(api_id)
    assert "has no resource '/items/{id}'" in failed("05.lambda", api_id=api_id)
    items(api_id)  # added after the only deployment
    assert "made before your last change to GET /items/{id}" in failed("05.lambda", api_id=api_id)
    deploy(api_id)
    assert run("05.lambda", api_id=api_id)


# ---------------------------------------------------------------------------------- 05.regional


def test_regional_endpoint_mistakes():
    api_id = new_api()
    assert "EDGE is the default for REST APIs" in failed("05.regional", api_id=api_id)
    regional(api_id, "PRIVATE")
    assert "reachable only from VPCs" in failed("05.regional", api_id=api_id)
    created = new_api(endpointConfiguration={"types": ["REGIONAL"]})
    assert run("05.regional", api_id=created)


# ---------------------------------------------------------------------------------- 05.openapi

PING = """
openapi: 3.0.1
info:
  title: lab05-ping
  description: ping
  version: "1.0"
paths:
  /ping:
    get:
      responses:
        "200":
          description: pong
"""
PING_MOCK = """      x-amazon-apigateway-integration:
        type: mock
        requestTemplates:
          application/json: '{"statusCode": 200}'
        responses:
          default:
            statusCode: "200"
            responseTemplates:
              application/json: 'BODY'
"""


def imported(body: str | None = '{"pong": true}', *, stage: str | None = "v1") -> str:
    doc = PING + (PING_MOCK.replace("BODY", body) if body is not None else "")
    api_id = ag().import_rest_api(body=doc.encode(), failOnWarnings=True)["id"]
    if stage:
        deploy(api_id, stage)
    return api_id


def test_openapi_solution_and_mistakes():
    assert "imported from OpenAPI, answers GET /ping on stage v1" in run("05.openapi", ping_api_id=imported()).message
    assert "still holds `...`" in run("05.openapi", ping_api_id=...).message
    assert "has no stage 'v1'" in failed("05.openapi", ping_api_id=imported(stage=None))
    assert "has no stage 'v1'" in failed("05.openapi", ping_api_id=imported(stage="dev"))
    assert "has no `x-amazon-apigateway-integration`" in failed("05.openapi", ping_api_id=imported(None, stage=None))
    assert "not the string" in failed("05.openapi", ping_api_id=imported('{"pong": "true"}'))
    assert "has no resource '/ping'" in failed("05.openapi", ping_api_id=new_api())

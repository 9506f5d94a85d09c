"""The API Gateway REST API plane: routing, snapshots, integrations, keys, throttles, policies, metrics."""

from __future__ import annotations

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
from stacklab.planes import gateway as gw

ECHO_TEMPLATE = (
    '{"resource": "$context.resourcePath", "id": "$input.params(\'id\')", "proxy": "$input.params(\'proxy\')",'
    ' "method": "$context.httpMethod", "stage": "$context.stage", "color": "$stageVariables.color"}'
)


def ag():
    return stacklab.client("apigateway")


class Api:
    """A REST API under construction: resources by path, MOCK methods by default."""

    def __init__(self, name: str = "test-api", **kwargs) -> None:
        self.id = ag().create_rest_api(name=name, **kwargs)["id"]
        self.ids = {"/": ag().get_resources(restApiId=self.id)["items"][0]["id"]}

    def resource(self, path: str) -> str:
        if path in self.ids:
            return self.ids[path]
        parent, _, part = path.rpartition("/")
        parent_id = self.resource(parent or "/")
        self.ids[path] = ag().create_resource(restApiId=self.id, parentId=parent_id, pathPart=part)["id"]
        return self.ids[path]

    def method(self, path: str, verb: str, *, api_key: bool = False, **integration) -> None:
        rid = self.resource(path)
        ag().put_method(restApiId=self.id, resourceId=rid, httpMethod=verb, authorizationType="NONE",
                        apiKeyRequired=api_key)  # fmt: skip
        responses = integration.pop("responses", None)
        if not integration:
            integration = {"type": "MOCK", "requestTemplates": {"application/json": '{"statusCode": 200}'}}
            responses = responses or [("200", None, ECHO_TEMPLATE)]
        ag().put_integration(restApiId=self.id, resourceId=rid, httpMethod=verb, **integration)
        for status, pattern, template in responses or []:
            kwargs = {"selectionPattern": pattern} if pattern else {}
            if template is not None:
                kwargs["responseTemplates"] = {"application/json": template}
            ag().put_integration_response(restApiId=self.id, resourceId=rid, httpMethod=verb, statusCode=status,
                                          **kwargs)  # fmt: skip

    def deploy(self, stage: str = "prod", **variables) -> str:
        return ag().create_deployment(restApiId=self.id, stageName=stage, variables=variables)["id"]

    def call(self, method: str, path: str, stage: str = "prod", **kwargs):
        return gw.request(self.id, stage, method, path, **kwargs)


def body(resp):
    return json.loads(resp.body)


# ------------------------------------------------------------------------------ routing


@pytest.fixture(scope="module")
def routed(box):
    api = Api("routing")
    api.method("/items", "GET")
    api.method("/items/{id}", "GET")
    api.method("/items/{id}", "DELETE")
    api.method("/items/special", "GET")
    api.method("/files/{proxy+}", "ANY")
    api.method("/", "GET")
    api.deploy(color="blue")
    return api


@pytest.mark.parametrize(
    ("method", "path", "status", "expected"),
    [
        ("GET", "/", 200, {"resource": "/"}),
        ("GET", "/items", 200, {"resource": "/items", "method": "GET", "stage": "prod", "color": "blue"}),
        ("GET", "/items/", 200, {"resource": "/items"}),
        ("GET", "/items/42", 200, {"resource": "/items/{id}", "id": "42"}),
        ("DELETE", "/items/42", 200, {"resource": "/items/{id}", "method": "DELETE"}),
        ("GET", "/items/special", 200, {"resource": "/items/special", "id": ""}),  # literal beats {id}
        ("GET", "/files/a", 200, {"resource": "/files/{proxy+}", "proxy": "a"}),
        ("POST", "/files/a/b/c.txt", 200, {"resource": "/files/{proxy+}", "proxy": "a/b/c.txt", "method": "POST"}),
        ("GET", "/files", 403, {"message": "Missing Authentication Token"}),  # {proxy+} needs one part
        ("POST", "/items", 403, {"message": "Missing Authentication Token"}),  # no POST, no ANY
        ("GET", "/items/42/more", 403, {"message": "Missing Authentication Token"}),
        ("GET", "/nothing", 403, {"message": "Missing Authentication Token"}),
        ("GET", "/items?color=red", 200, {"resource": "/items"}),
    ],
)
def test_routing_table(routed, method, path, status, expected):
    resp = routed.call(method, path)
    assert resp.status == status, resp.text
    data = body(resp)
    for key, value in expected.items():
        assert data[key] == value
    if status == 403:
        assert resp.header("x-amzn-ErrorType") == "MissingAuthenticationTokenException"


def test_unknown_stage_is_missing_token_and_unknown_api_is_an_input_error(routed):
    resp = routed.call("GET", "/items", stage="nostage")
    assert (resp.status, body(resp)) == (403, {"message": "Missing Authentication Token"})
    with pytest.raises(InputError, match="no REST API 'nope'"):
        gw.request("nope", "prod", "GET", "/")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"path": "items"}, "must start with '/'"),
        ({"method": "FETCH"}, "method must be one of"),
        ({"client_ip": "not-an-ip"}, "client_ip must be an IP address"),
        ({"client_ip": 5}, "client_ip must be a string"),
        ({"query": "a=1"}, "query must be a dict"),
        ({"headers": ["x"]}, "headers must be a dict"),
        ({"body": 12}, "body must be bytes or str"),
        ({"stage": ""}, "stage must not be empty"),
    ],
)
def test_bad_input(routed, kwargs, message):
    args = {"api_id": routed.id, "stage": "prod", "method": "GET", "path": "/items", **kwargs}
    api_id, stage, method, path = args.pop("api_id"), args.pop("stage"), args.pop("method"), args.pop("path")
    with pytest.raises(InputError, match=message):
        gw.request(api_id, stage, method, path, **args)


# ------------------------------------------------------------------------------ deployment snapshots


def test_changes_are_invisible_until_the_next_deployment(box):
    api = Api("snapshots")
    api.method("/a", "GET", responses=[("200", None, '{"version": 1}')])
    first = api.deploy()
    assert body(api.call("GET", "/a")) == {"version": 1}
    # change the integration response and add a resource, without redeploying
    rid = api.resource("/a")
    ag().put_integration_response(restApiId=api.id, resourceId=rid, httpMethod="GET", statusCode="200",
                                  responseTemplates={"application/json": '{"version": 2}'})  # fmt: skip
    api.method("/b", "GET")
    assert body(api.call("GET", "/a")) == {"version": 1}
    assert api.call("GET", "/b").status == 403
    second = api.deploy()
    assert body(api.call("GET", "/a")) == {"version": 2}
    assert api.call("GET", "/b").status == 200
    # rollback: point the stage at the first deployment again
    ag().update_stage(restApiId=api.id, stageName="prod",
                      patchOperations=[{"op": "replace", "path": "/deploymentId", "value": first}])  # fmt: skip
    assert body(api.call("GET", "/a")) == {"version": 1}
    assert api.call("GET", "/b").status == 403
    assert [r["path"] for r in gw.deployment_snapshot(api.id, second)["resources"]].count("/b") == 1
    with pytest.raises(InputError, match="no deployment"):
        gw.deployment_snapshot(api.id, "nodeploy")


def test_a_deployment_the_plane_did_not_see_is_frozen_at_first_use(box):
    api = Api("unseen")
    api.method("/a", "GET", responses=[("200", None, '{"version": 1}')])
    api.deploy()
    gw.clear()  # as if the plane had been imported after the deployment
    assert body(api.call("GET", "/a")) == {"version": 1}
    template = {"application/json": '{"version": 2}'}
    ag().put_integration_response(restApiId=api.id, resourceId=api.resource("/a"), httpMethod="GET",
                                  statusCode="200", responseTemplates=template)  # fmt: skip
    assert body(api.call("GET", "/a")) == {"version": 1}


# ------------------------------------------------------------------------------ MOCK


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("200", 200, {"ok": True, "echo": {"name": "Ada"}}),
        ("404", 404, {"error": "not found", "code": "404"}),
        ("503", 503, {"error": "unavailable"}),
    ],
)
def test_mock_selects_integration_response(box, code, status, expected):
    api = Api(f"mock-{code}")
    api.method(
        "/m", "POST", type="MOCK",
        requestTemplates={"application/json": '{"statusCode": $input.params(\'code\')}'},
        responses=[
            ("200", None, '{"ok": true, "echo": $input.json(\'$\')}'),
            ("404", "404", '{"error": "not found", "code": "$input.params(\'code\')"}'),
            ("503", "5\\d\\d", '{"error": "unavailable"}'),
        ],
    )  # fmt: skip
    api.deploy()
    resp = api.call("POST", "/m", query={"code": code}, body=json.dumps({"name": "Ada"}))
    assert resp.status == status
    if code == "200":
        assert body(resp)["ok"] is True  # the MOCK response body is the template's, $input is empty
    else:
        assert body(resp) == expected


@pytest.mark.parametrize(
    ("behavior", "content_type", "status"),
    [
        ("WHEN_NO_MATCH", "text/plain", 200),
        ("WHEN_NO_TEMPLATES", "text/plain", 415),
        ("NEVER", "text/plain", 415),
        ("NEVER", "application/json", 200),
    ],
)
def test_passthrough_behavior(box, behavior, content_type, status):
    api = Api(f"passthrough-{behavior}")
    api.method("/m", "POST", type="MOCK", passthroughBehavior=behavior,
               requestTemplates={"application/json": '{"statusCode": 200}'},
               responses=[("200", None, '{"ok": true}')])  # fmt: skip
    api.deploy()
    resp = api.call("POST", "/m", headers={"Content-Type": content_type}, body="hi")
    assert resp.status == status
    if status == 415:
        assert body(resp) == {"message": "Unsupported Media Type"}


def test_mock_without_integration_response_is_a_500(box):
    api = Api("mock-noresp")
    api.method("/m", "GET", type="MOCK", requestTemplates={"application/json": '{"statusCode": 200}'}, responses=[])
    api.deploy()
    resp = api.call("GET", "/m")
    assert (resp.status, body(resp)) == (500, {"message": "Internal server error"})
    assert "No match for output mapping" in resp.header("x-stacklab-reason")


# ------------------------------------------------------------------------------ HTTP and HTTP_PROXY


class _Backend(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _reply(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else b""
        if self.path.startswith("/slow"):
            time.sleep(0.4)
        status = 418 if "teapot" in self.path else 200
        payload = json.dumps({
            "method": self.command, "path": self.path, "body": data.decode(),
            "x-custom": self.headers.get("X-Custom"),
        }).encode()  # fmt: skip
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-Backend", "yes")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass

    do_GET = do_POST = do_PUT = do_DELETE = _reply  # noqa: N815

    def log_message(self, *args) -> None:
        return


@pytest.fixture(scope="module")
def backend(box):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Backend)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def http_api(backend):
    api = Api("http")
    api.method("/proxy/{proxy+}", "ANY", type="HTTP_PROXY", integrationHttpMethod="ANY",
               uri="http://${stageVariables.backend}/${stageVariables.prefix}/{proxy}",
               requestParameters={"integration.request.path.proxy": "method.request.path.proxy"})  # fmt: skip
    api.method("/items/{id}", "GET", type="HTTP", integrationHttpMethod="GET",
               uri="http://${stageVariables.backend}/things/{id}",
               requestParameters={"integration.request.querystring.view": "method.request.querystring.v",
                                  "integration.request.header.X-Custom": "'from-gateway'"},
               responses=[("200", None, '{"backend": $input.json(\'$\')}'), ("404", "4\\d\\d", None)])  # fmt: skip
    api.method("/slow", "GET", type="HTTP_PROXY", integrationHttpMethod="GET",
               uri="http://${stageVariables.backend}/slow", timeoutInMillis=100)  # fmt: skip
    api.method("/outside", "GET", type="HTTP_PROXY", integrationHttpMethod="GET", uri="http://example.com/")
    api.deploy(backend=backend, prefix="v1")
    api.deploy(stage="dev", backend=backend, prefix="v0")
    return api


@pytest.mark.parametrize(
    ("stage", "method", "path", "status", "expected"),
    [
        ("prod", "GET", "/proxy/a/b?x=1", 200, {"method": "GET", "path": "/v1/a/b?x=1", "body": ""}),
        ("dev", "GET", "/proxy/a", 200, {"path": "/v0/a"}),
        ("prod", "POST", "/proxy/orders", 200, {"method": "POST", "body": '{"n": 1}', "x-custom": "hi"}),
        ("prod", "DELETE", "/proxy/teapot", 418, {"method": "DELETE", "path": "/v1/teapot"}),
    ],
)
def test_http_proxy_table(http_api, stage, method, path, status, expected):
    resp = http_api.call(method, path, stage=stage, headers={"X-Custom": "hi"},
                         body='{"n": 1}' if method == "POST" else b"")  # fmt: skip
    assert resp.status == status
    assert resp.header("X-Backend") == "yes"  # proxy: backend headers come back
    data = body(resp)
    for key, value in expected.items():
        assert data[key] == value


def test_http_integration_maps_parameters_and_responses(http_api):
    resp = http_api.call("GET", "/items/42?v=full", headers={"X-Custom": "client"})
    assert resp.status == 200
    assert resp.header("X-Backend") is None  # non-proxy: only mapped headers
    assert body(resp)["backend"] == {"method": "GET", "path": "/things/42?view=full", "body": "",
                                     "x-custom": "from-gateway"}  # fmt: skip


def test_http_timeout_is_504_and_non_loopback_backend_is_refused(http_api):
    resp = http_api.call("GET", "/slow")
    assert (resp.status, body(resp)) == (504, {"message": "Endpoint request timed out"})
    resp = http_api.call("GET", "/outside")
    assert resp.status == 500 and "only reaches backends on 127.0.0.1" in resp.header("x-stacklab-reason")


# ------------------------------------------------------------------------------ Lambda proxy

HANDLER = """
import json

def handler(event, context):
    kind = (event.get("queryStringParameters") or {}).get("kind", "ok")
    if kind == "ok":
        return {"statusCode": 201, "headers": {"X-Version": context.function_version},
                "multiValueHeaders": {"X-Multi": ["a", "b"]},
                "body": json.dumps({"path": event["path"], "resource": event["resource"],
                                    "params": event["pathParameters"], "stageVars": event["stageVariables"],
                                    "body": event["body"], "sourceIp": event["requestContext"]["identity"]["sourceIp"],
                                    "version": context.function_version})}
    if kind == "b64":
        return {"statusCode": 200, "body": "aGVsbG8=", "isBase64Encoded": True}
    if kind == "raise":
        raise ValueError("boom")
    if kind == "nobody":
        return {"statusCode": 204}
    if kind == "extra":
        return {"statusCode": 200, "body": "x", "extra": 1}
    if kind == "dict-body":
        return {"statusCode": 200, "body": {"not": "a string"}}
    if kind == "string":
        return "hello"
    if kind == "bad-status":
        return {"statusCode": "abc", "body": ""}
"""


@pytest.fixture(scope="module")
def lambda_api(box):
    lam = stacklab.client("lambda")
    role = stacklab.client("iam").create_role(RoleName="gw-test-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam.create_function(FunctionName="gw-fn", Runtime="python3.12", Role=role, Handler="app.handler",
                        Code={"ZipFile": fn.package({"app.py": HANDLER})})  # fmt: skip
    v1 = lam.publish_version(FunctionName="gw-fn")["Version"]
    lam.update_function_configuration(FunctionName="gw-fn", Description="v2")
    v2 = lam.publish_version(FunctionName="gw-fn")["Version"]
    lam.create_alias(FunctionName="gw-fn", Name="stable", FunctionVersion=v1)
    lam.create_alias(FunctionName="gw-fn", Name="next", FunctionVersion=v2)
    arn = lam.get_function(FunctionName="gw-fn")["Configuration"]["FunctionArn"]
    api = Api("lambda")
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}:${{stageVariables.alias}}/invocations"
    api.method("/hello/{name}", "ANY", type="AWS_PROXY", integrationHttpMethod="POST", uri=uri)
    missing = uri.replace("gw-fn", "no-such-fn")
    api.method("/missing", "GET", type="AWS_PROXY", integrationHttpMethod="POST", uri=missing)
    api.deploy(alias="stable")
    api.deploy(stage="beta", alias="next")
    return api, (v1, v2)


@pytest.mark.parametrize(
    ("kind", "status", "text"),
    [
        ("b64", 200, "hello"),
        ("nobody", 204, ""),
        ("raise", 502, '{"message": "Internal server error"}'),
        ("extra", 502, '{"message": "Internal server error"}'),
        ("dict-body", 502, '{"message": "Internal server error"}'),
        ("string", 502, '{"message": "Internal server error"}'),
        ("bad-status", 502, '{"message": "Internal server error"}'),
    ],
)
def test_lambda_proxy_response_mapping(lambda_api, kind, status, text):
    api, _ = lambda_api
    resp = api.call("GET", "/hello/ada", query={"kind": kind})
    assert (resp.status, resp.text) == (status, text)


def test_lambda_proxy_event_and_alias_from_stage_variable(lambda_api):
    api, (v1, v2) = lambda_api
    resp = api.call("POST", "/hello/ada", body='{"x": 1}', client_ip="198.51.100.7")
    assert resp.status == 201
    assert resp.header("X-Version") == v1 and resp.header("X-Multi") == "a, b"
    assert body(resp) == {"path": "/hello/ada", "resource": "/hello/{name}", "params": {"name": "ada"},
                          "stageVars": {"alias": "stable"}, "body": '{"x": 1}', "sourceIp": "198.51.100.7",
                          "version": v1}  # fmt: skip
    beta = api.call("GET", "/hello/bob", stage="beta")
    assert beta.header("X-Version") == v2 and body(beta)["stageVars"] == {"alias": "next"}


def test_lambda_proxy_unknown_function_is_a_500(lambda_api):
    api, _ = lambda_api
    resp = api.call("GET", "/missing")
    assert resp.status == 500 and "Lambda invocation failed" in resp.header("x-stacklab-reason")


# ------------------------------------------------------------------------------ AWS service: S3


def test_s3_put_integration_writes_the_body(box):
    s3 = stacklab.client("s3")
    s3.create_bucket(Bucket="gw-uploads")
    api = Api("s3")
    api.method("/upload/{folder}/{item}", "PUT", type="AWS", integrationHttpMethod="PUT",
               uri="arn:aws:apigateway:us-east-1:s3:path/{bucket}/{key}",
               credentials="arn:aws:iam::123456789012:role/apigw-s3-writer",
               requestParameters={"integration.request.path.bucket": "method.request.path.folder",
                                  "integration.request.path.key": "method.request.path.item"},
               responses=[("200", None, '{"stored": "$input.params(\'item\')"}'), ("404", "404", None)])  # fmt: skip
    api.deploy()
    resp = api.call("PUT", "/upload/gw-uploads/note.txt", body=b"hello s3", headers={"Content-Type": "text/plain"})
    assert (resp.status, body(resp)) == (200, {"stored": "note.txt"})
    obj = s3.get_object(Bucket="gw-uploads", Key="note.txt")
    assert obj["Body"].read() == b"hello s3" and obj["ContentType"] == "text/plain"
    missing = api.call("PUT", "/upload/no-such-bucket/x", body=b"x")
    assert missing.status == 404


# ------------------------------------------------------------------------------ API keys, usage plans


def _keyed_api():
    stacklab.reset()
    api = Api("keys")
    api.method("/open", "GET")
    api.method("/paid", "GET", api_key=True)
    api.method("/paid", "POST", api_key=True)
    api.deploy()
    good = ag().create_api_key(name="good", enabled=True, value="good-key-0123456789abcdef")
    ag().create_api_key(name="off", enabled=False, value="disabled-key-0123456789ab")
    ag().create_api_key(name="loose", enabled=True, value="no-plan-key-0123456789abc")
    plan = ag().create_usage_plan(
        name="basic", throttle={"rateLimit": 2.0, "burstLimit": 4}, quota={"limit": 10, "period": "DAY"},
        apiStages=[{"apiId": api.id, "stage": "prod", "throttle": {"/paid/POST": {"rateLimit": 1.0, "burstLimit": 1}}}],
    )  # fmt: skip
    ag().create_usage_plan_key(usagePlanId=plan["id"], keyId=good["id"], keyType="API_KEY")
    return api


@pytest.fixture(scope="module")
def keyed_table(box):
    return _keyed_api()


@pytest.fixture()
def keyed(box):
    return _keyed_api()


@pytest.mark.parametrize(
    ("path", "key", "status", "message"),
    [
        ("/open", None, 200, None),
        ("/paid", None, 403, "Forbidden"),
        ("/paid", "wrong-key-0123456789abcdef", 403, "Forbidden"),
        ("/paid", "disabled-key-0123456789ab", 403, "Forbidden"),
        ("/paid", "no-plan-key-0123456789abc", 403, "Forbidden"),
        ("/paid", "good-key-0123456789abcdef", 200, None),
    ],
)
def test_api_key_table(keyed_table, path, key, status, message):
    resp = keyed_table.call("GET", path, headers={"x-api-key": key} if key else None)
    assert resp.status == status
    if message:
        assert body(resp) == {"message": message}


def statuses(api, n, method="GET", path="/paid", key="good-key-0123456789abcdef"):
    return [api.call(method, path, headers={"x-api-key": key}).status for _ in range(n)]


def test_usage_plan_token_bucket_and_quota_exact_counts(keyed):
    clock = stacklab.clock()
    # burst 4 at one instant, then 429 Too Many Requests
    first = [keyed.call("GET", "/paid", headers={"x-api-key": "good-key-0123456789abcdef"}) for _ in range(6)]
    assert [r.status for r in first] == [200, 200, 200, 200, 429, 429]
    assert body(first[-1]) == {"message": "Too Many Requests"}
    clock.advance(1)  # rate 2/s: two tokens back
    assert statuses(keyed, 3) == [200, 200, 429]
    clock.advance(0.5)  # one token
    assert statuses(keyed, 2) == [200, 429]
    clock.advance(10)  # bucket full again (4); quota used 7 of 10
    last = [keyed.call("GET", "/paid", headers={"x-api-key": "good-key-0123456789abcdef"}) for _ in range(4)]
    assert [r.status for r in last] == [200, 200, 200, 429]
    assert body(last[-1]) == {"message": "Limit Exceeded"}
    # open method: no key, no usage plan; the next UTC day the quota starts again
    assert keyed.call("GET", "/open").status == 200
    clock.set(clock.now().replace(hour=0, minute=0, second=0) + timedelta(days=1))
    assert statuses(keyed, 5) == [200, 200, 200, 200, 429]


def test_usage_plan_per_method_throttle(keyed):
    assert statuses(keyed, 3, method="POST") == [200, 429, 429]  # /paid/POST: burst 1
    assert statuses(keyed, 2) == [200, 200]  # GET still has plan tokens (4 - 1 - 2 left)
    stacklab.clock().advance(1)
    assert statuses(keyed, 2, method="POST") == [200, 429]


def test_stage_default_throttling_from_method_settings(box):
    api = Api("stage-throttle")
    api.method("/a", "GET")
    api.method("/b", "GET")
    api.deploy()
    ag().update_stage(restApiId=api.id, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "1"},
        {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "2"},
    ])  # fmt: skip
    assert [api.call("GET", "/a").status for _ in range(3)] == [200, 200, 429]
    assert [api.call("GET", "/b").status for _ in range(3)] == [200, 200, 429]  # per method
    stacklab.clock().advance(1)
    assert [api.call("GET", "/a").status for _ in range(2)] == [200, 429]


@pytest.mark.parametrize(
    ("period", "offset", "advance", "fresh"),
    [
        ("DAY", 0, timedelta(hours=14, minutes=59), False),  # 09:00 → 23:59 same day
        ("DAY", 0, timedelta(hours=15), True),  # next midnight UTC
        ("WEEK", 0, timedelta(days=2, hours=14, minutes=59), False),  # Thu 15 Jan → Sat 17 Jan 23:59
        ("WEEK", 0, timedelta(days=2, hours=15), True),  # Sunday 18 Jan: new week
        ("MONTH", 0, timedelta(days=16), False),  # 31 Jan
        ("MONTH", 0, timedelta(days=17), True),  # 1 Feb
        ("DAY", 1, timedelta(hours=15), True),  # offset: 1 request fewer in the initial period only
    ],
)
def test_quota_periods_on_the_sandbox_clock(box, period, offset, advance, fresh):
    stacklab.reset()
    api = Api("quota")
    api.method("/q", "GET", api_key=True)
    api.deploy()
    key = ag().create_api_key(name="k", enabled=True, value="quota-key-0123456789abcd")
    plan = ag().create_usage_plan(name="q", quota={"limit": 2, "period": period, "offset": offset},
                                  apiStages=[{"apiId": api.id, "stage": "prod"}])  # fmt: skip
    ag().create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    first = [200, 429, 429] if offset else [200, 200, 429]
    assert statuses(api, 3, path="/q", key="quota-key-0123456789abcd") == first
    stacklab.clock().advance(advance.total_seconds())
    expected = [200, 200, 429] if fresh else [429]
    assert statuses(api, len(expected), path="/q", key="quota-key-0123456789abcd") == expected


# ------------------------------------------------------------------------------ resource policies


def _policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


ALLOW_ALL = {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"}
ALLOW_OFFICE = {**ALLOW_ALL, "Condition": {"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "198.51.100.7/32"]}}}
DENY_OUTSIDE = {**ALLOW_ALL, "Effect": "Deny",
                "Condition": {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}}  # fmt: skip
DENY_ADMIN = {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "execute-api:*",
              "Resource": "arn:aws:execute-api:us-east-1:123456789012:*/*/GET/admin"}  # fmt: skip


@pytest.mark.parametrize(
    ("statements", "ip", "path", "status", "explicit"),
    [
        ((ALLOW_ALL,), "192.0.2.1", "/data", 200, None),
        ((ALLOW_OFFICE,), "203.0.113.44", "/data", 200, None),
        ((ALLOW_OFFICE,), "198.51.100.7", "/data", 200, None),
        ((ALLOW_OFFICE,), "198.51.100.8", "/data", 403, False),
        ((ALLOW_ALL, DENY_OUTSIDE), "203.0.113.9", "/data", 200, None),
        ((ALLOW_ALL, DENY_OUTSIDE), "192.0.2.1", "/data", 403, True),
        ((ALLOW_ALL, DENY_ADMIN), "192.0.2.1", "/admin", 403, True),
        ((ALLOW_ALL, DENY_ADMIN), "192.0.2.1", "/data", 200, None),
        ((), "192.0.2.1", "/data", 403, False),
    ],
)
def test_resource_policy_table(box, statements, ip, path, status, explicit):
    api = Api("policy", policy=_policy(*statements))
    api.method("/data", "GET")
    api.method("/admin", "GET")
    api.deploy()
    resp = api.call("GET", path, client_ip=ip)
    assert resp.status == status
    if status == 403:
        arn = f"arn:aws:execute-api:us-east-1:123456789012:{api.id}/prod/GET{path}"
        message = f"User: anonymous is not authorized to perform: execute-api:Invoke on resource: {arn}"
        assert body(resp) == {"message": message + (" with an explicit deny" if explicit else "")}


def test_resource_policy_change_needs_a_redeploy(box):
    api = Api("policy-redeploy")
    api.method("/data", "GET")
    api.deploy()
    ag().update_rest_api(restApiId=api.id, patchOperations=[
        {"op": "replace", "path": "/policy", "value": _policy({**ALLOW_ALL, "Effect": "Deny"})}])  # fmt: skip
    assert api.call("GET", "/data").status == 200
    api.deploy()
    assert api.call("GET", "/data").status == 403


# ------------------------------------------------------------------------------ metrics


def _stat(name, dims, stat="Sum"):
    now = stacklab.clock().now()
    points = stacklab.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/ApiGateway", MetricName=name, Dimensions=[{"Name": k, "Value": v} for k, v in dims],
        StartTime=now - timedelta(hours=1), EndTime=now + timedelta(hours=1), Period=7200, Statistics=[stat],
    )["Datapoints"]  # fmt: skip
    return points[0][stat] if points else None


def test_metrics_counts_errors_latencies_and_detailed_dimensions(box):
    stacklab.reset()
    api = Api("metered")
    api.method("/ok", "GET")
    api.deploy()
    for _ in range(5):
        api.call("GET", "/ok")
    for _ in range(3):
        api.call("GET", "/missing")
    stage_dims = [("ApiName", "metered"), ("Stage", "prod")]
    assert _stat("Count", stage_dims) is None  # buffered until flushed
    assert gw.flush_metrics() == 8 * 2 * 5 - 3 * 2  # 2 dimension sets; no IntegrationLatency for 403s
    assert _stat("Count", stage_dims) == 8
    assert _stat("4XXError", stage_dims) == 3
    assert _stat("5XXError", stage_dims) == 0
    assert _stat("Latency", stage_dims, "Maximum") == gw.GATEWAY_OVERHEAD_MS  # MOCK: 0 ms integration
    assert _stat("IntegrationLatency", stage_dims, "Maximum") == 0.0
    cw = stacklab.client("cloudwatch")
    names = {m["MetricName"] for m in cw.list_metrics(Namespace="AWS/ApiGateway")["Metrics"]}
    assert names == {"Count", "4XXError", "5XXError", "Latency", "IntegrationLatency"}
    listed = cw.list_metrics(Namespace="AWS/ApiGateway")["Metrics"]
    dim_sets = {tuple(d["Name"] for d in m["Dimensions"]) for m in listed}
    assert dim_sets == {("ApiName",), ("ApiName", "Stage")}
    # detailed metrics: the method's own dimension set appears
    ag().update_stage(restApiId=api.id, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/~1ok/GET/metrics/enabled", "value": "true"}])  # fmt: skip
    stacklab.clock().advance(hours=3)
    for _ in range(4):
        api.call("GET", "/ok")
    gw.flush_metrics()
    detailed = [("ApiName", "metered"), ("Method", "GET"), ("Resource", "/ok"), ("Stage", "prod")]
    assert _stat("Count", detailed) == 4
    points = cw.get_metric_statistics(
        Namespace="AWS/ApiGateway", MetricName="Count", Dimensions=[{"Name": k, "Value": v} for k, v in detailed],
        StartTime=stacklab.clock().now() - timedelta(minutes=1), EndTime=stacklab.clock().now() + timedelta(minutes=1),
        Period=60, Statistics=["Sum"],
    )["Datapoints"]  # fmt: skip
    assert [p["Timestamp"].astimezone(stacklab.clock().now().tzinfo) for p in points] == [stacklab.clock().now()]
    assert gw.flush_metrics() == 0


# ------------------------------------------------------------------------------ HTTP server and speed


def test_served_over_loopback_http_and_burst_speed(box, capsys):
    stacklab.reset()
    api = Api("served")
    api.method("/items/{id}", "GET")
    api.deploy()
    base = gw.url(api.id, "prod")
    assert base.startswith("http://127.0.0.1:") and base.endswith("/prod")
    resp = requests.get(f"{base}/items/7", timeout=5)
    assert resp.status_code == 200 and resp.json()["id"] == "7"
    assert requests.get(f"{base}/nothing", timeout=5).status_code == 403
    root = base.rsplit("/", 1)[0]
    assert requests.get(f"{root}/nostage/items/7", timeout=5).status_code == 403
    assert requests.get(f"{root}/", timeout=5).json() == {"message": "Missing Authentication Token"}
    with pytest.raises(InputError, match="no REST API"):
        gw.serve("nope")
    with pytest.raises(InputError, match="stage must be a stage name"):
        gw.url(api.id, "a/b")

    start = time.perf_counter()
    for i in range(1000):
        assert gw.request(api.id, "prod", "GET", f"/items/{i}").status == 200
    in_process = time.perf_counter() - start
    session = requests.Session()
    start = time.perf_counter()
    for i in range(200):
        assert session.get(f"{base}/items/{i}", timeout=5).status_code == 200
    over_http = time.perf_counter() - start
    gw.flush_metrics()
    with capsys.disabled():
        print(f"\n[gateway] 1000 in-process requests: {in_process:.2f} s ({1000 / in_process:.0f} req/s); "
              f"200 over loopback HTTP: {200 / over_http:.0f} req/s")  # fmt: skip
    assert in_process < 8.0


# ------------------------------------------------------------------------------ Lambda authorizers

AUTHORIZER = """
CALLS = []

def handler(event, context):
    CALLS.append(event.get("authorizationToken") or (event.get("headers") or {}).get("x-user"))
    token = event.get("authorizationToken") or (event.get("headers") or {}).get("x-user")
    if token == "crash":
        raise RuntimeError("bug")
    if token in ("expired", None):
        raise Exception("Unauthorized")
    if token == "garbage":
        return {"nope": 1}
    effect = "Deny" if token == "blocked" else "Allow"
    resource = event["methodArn"]
    if token == "narrow":  # allow only the exact method first asked for (a classic caching gotcha)
        resource = event["methodArn"]
    elif effect == "Allow":
        resource = event["methodArn"].rsplit("/", 2)[0] + "/*"
    return {"principalId": "user-" + token, "context": {"tier": "gold", "calls": len(CALLS)},
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Effect": effect, "Action": "execute-api:Invoke", "Resource": resource}]}}
"""

WHOAMI = """
import json

def handler(event, context):
    return {"statusCode": 200, "body": json.dumps(event["requestContext"].get("authorizer"))}
"""


def _authorized_api():
    stacklab.reset()
    lam = stacklab.client("lambda")
    role = stacklab.client("iam").create_role(RoleName="auth-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    arns = {}
    for name, source in (("authz", AUTHORIZER), ("whoami", WHOAMI)):
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                            Code={"ZipFile": fn.package({"app.py": source})})  # fmt: skip
        arns[name] = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    api = Api("authorized")

    def uri(arn):
        return f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"

    token_auth = ag().create_authorizer(restApiId=api.id, name="tok", type="TOKEN", authorizerUri=uri(arns["authz"]),
                                        identitySource="method.request.header.Authorization",
                                        identityValidationExpression="[a-z]+",
                                        authorizerResultTtlInSeconds=60)["id"]  # fmt: skip
    request_auth = ag().create_authorizer(restApiId=api.id, name="req", type="REQUEST",
                                          authorizerUri=uri(arns["authz"]),
                                          identitySource="method.request.header.X-User",
                                          authorizerResultTtlInSeconds=0)["id"]  # fmt: skip
    for path, auth_id in (("/t/a", token_auth), ("/t/b", token_auth), ("/r", request_auth)):
        rid = api.resource(path)
        ag().put_method(restApiId=api.id, resourceId=rid, httpMethod="GET", authorizationType="CUSTOM",
                        authorizerId=auth_id)  # fmt: skip
        ag().put_integration(restApiId=api.id, resourceId=rid, httpMethod="GET", type="AWS_PROXY",
                             integrationHttpMethod="POST", uri=uri(arns["whoami"]))  # fmt: skip
    api.deploy()
    return api


@pytest.fixture(scope="module")
def authorized_table(box):
    return _authorized_api()


@pytest.fixture()
def authorized(box):
    return _authorized_api()


@pytest.mark.parametrize(
    ("path", "headers", "status", "expected"),
    [
        ("/t/a", {}, 401, {"message": "Unauthorized"}),
        ("/t/a", {"Authorization": "NOT-VALID-123"}, 401, {"message": "Unauthorized"}),  # validation expression
        ("/t/a", {"Authorization": "expired"}, 401, {"message": "Unauthorized"}),
        ("/t/a", {"Authorization": "blocked"}, 403,
         {"Message": "User is not authorized to access this resource with an explicit deny"}),
        ("/t/a", {"Authorization": "crash"}, 500, {"message": None}),
        ("/t/a", {"Authorization": "garbage"}, 500, {"message": None}),
        ("/t/a", {"Authorization": "alice"}, 200, {"principalId": "user-alice", "tier": "gold"}),
        ("/r", {}, 401, {"message": "Unauthorized"}),  # TTL 0: the function is called and refuses
        ("/r", {"X-User": "bob"}, 200, {"principalId": "user-bob", "tier": "gold"}),
        ("/r", {"X-User": "blocked"}, 403,
         {"Message": "User is not authorized to access this resource with an explicit deny"}),
    ],
)  # fmt: skip
def test_lambda_authorizer_table(authorized_table, path, headers, status, expected):
    resp = authorized_table.call("GET", path, headers=headers)
    assert resp.status == status, resp.text
    data = body(resp)
    for key, value in expected.items():
        assert data[key] == value


def test_authorizer_result_is_cached_for_its_ttl_and_the_cached_policy_applies(authorized):
    first = body(authorized.call("GET", "/t/a", headers={"Authorization": "alice"}))
    again = body(authorized.call("GET", "/t/b", headers={"Authorization": "alice"}))
    assert first["calls"] == again["calls"] == 1  # cached: the authorizer ran once
    # a policy for one method only, cached: the other method is refused until the TTL ends
    assert authorized.call("GET", "/t/a", headers={"Authorization": "narrow"}).status == 200
    refused = authorized.call("GET", "/t/b", headers={"Authorization": "narrow"})
    assert (refused.status, body(refused)) == (403, {"Message": "User is not authorized to access this resource"})
    stacklab.clock().advance(61)
    assert authorized.call("GET", "/t/b", headers={"Authorization": "narrow"}).status == 200
    assert body(authorized.call("GET", "/t/a", headers={"Authorization": "alice"}))["calls"] == 4  # expired too
    # REQUEST authorizer with TTL 0: called every time
    calls = [body(authorized.call("GET", "/r", headers={"X-User": "bob"}))["calls"] for _ in range(2)]
    assert calls == [5, 6]


# ------------------------------------------------------------------------------ deployments from the AWS CLI


def test_a_deployment_made_with_the_aws_cli_is_snapshotted_too(box):
    import os
    import subprocess
    import sys

    stacklab.start(cli=True, fresh=False)
    api = Api("cli-deployed")
    api.method("/x", "GET", responses=[("200", None, '{"v": 1}')])
    aws = os.path.join(os.path.dirname(sys.executable), "aws")
    out = subprocess.run([aws, "apigateway", "create-deployment", "--rest-api-id", api.id, "--stage-name", "prod"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    ag().put_integration_response(restApiId=api.id, resourceId=api.resource("/x"), httpMethod="GET",
                                  statusCode="200", responseTemplates={"application/json": '{"v": 2}'})  # fmt: skip
    assert body(api.call("GET", "/x")) == {"v": 1}


# ------------------------------------------------------------------------------ stages kept, canaries


def test_redeploying_keeps_the_stage_settings(box):
    api = Api("keep-settings")
    api.method("/a", "GET")
    api.deploy(color="red")
    ag().update_stage(restApiId=api.id, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "1"},
        {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "1"},
    ])  # fmt: skip
    new = api.deploy()
    stage = ag().get_stage(restApiId=api.id, stageName="prod")
    assert stage["deploymentId"] == new and stage["variables"] == {"color": "red"}
    assert stage["methodSettings"]["*/*"]["throttlingBurstLimit"] == 1
    assert [api.call("GET", "/a").status for _ in range(2)] == [200, 429]


def _canary_api():
    stacklab.reset()
    api = Api("canary")
    api.method("/v", "GET", responses=[("200", None, '{"version": "$stageVariables.version"}')])
    base = api.deploy(version="1")
    api.method("/new", "GET")
    canary = ag().create_deployment(restApiId=api.id, stageName="prod",
                                    canarySettings={"percentTraffic": 10.0,
                                                    "stageVariableOverrides": {"version": "2"}})["id"]  # fmt: skip
    return api, base, canary


def _versions(api, n):
    return [body(api.call("GET", "/v"))["version"] for _ in range(n)]


def test_canary_settings_are_kept_and_split_traffic_seeded(box):
    api, base, canary = _canary_api()
    stage = ag().get_stage(restApiId=api.id, stageName="prod")
    assert stage["deploymentId"] == base
    assert stage["canarySettings"] == {"deploymentId": canary, "percentTraffic": 10.0,
                                       "stageVariableOverrides": {"version": "2"}, "useStageCache": False}  # fmt: skip
    versions = _versions(api, 200)
    share = versions.count("2")
    assert 10 <= share <= 32  # 10 % of 200, seeded
    # the canary runs its own deployment: /new exists only there
    statuses = {api.call("GET", "/new").headers["x-stacklab-deployment"]: None for _ in range(40)}
    assert set(statuses) == {base, canary}
    # seeded: the same split after a reset
    api2, _, _ = _canary_api()
    assert _versions(api2, 200).count("2") == share


def test_canary_percent_update_promotion_and_removal(box):
    api, base, canary = _canary_api()

    def patch(*ops):
        ag().update_stage(restApiId=api.id, stageName="prod", patchOperations=list(ops))

    patch({"op": "replace", "path": "/canarySettings/percentTraffic", "value": "100"})
    assert set(_versions(api, 20)) == {"2"}
    patch({"op": "replace", "path": "/canarySettings/percentTraffic", "value": "0"})
    assert set(_versions(api, 20)) == {"1"}
    assert api.call("GET", "/new").status == 403
    patch(
        {"op": "copy", "from": "/canarySettings/stageVariableOverrides", "path": "/variables"},
        {"op": "copy", "from": "/canarySettings/deploymentId", "path": "/deploymentId"},
        {"op": "remove", "path": "/canarySettings"},
    )
    stage = ag().get_stage(restApiId=api.id, stageName="prod")
    assert stage["deploymentId"] == canary and "canarySettings" not in stage
    assert stage["variables"] == {"version": "2"}
    assert set(_versions(api, 20)) == {"2"}
    assert api.call("GET", "/new").status == 200


# ------------------------------------------------------------------------------ Cognito user-pool authorizer


def _b64(data: dict) -> str:
    import base64

    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _pool_tokens(idp, name: str) -> tuple[str, dict]:
    pool = idp.create_user_pool(PoolName=name)["UserPool"]
    client = idp.create_user_pool_client(UserPoolId=pool["Id"], ClientName="web",
                                         ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH",
                                                            "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]  # fmt: skip
    idp.admin_create_user(UserPoolId=pool["Id"], Username="ada", TemporaryPassword="Temp-Passw0rd!")
    idp.admin_set_user_password(UserPoolId=pool["Id"], Username="ada", Password="Real-Passw0rd!", Permanent=True)
    auth = idp.initiate_auth(ClientId=client["ClientId"], AuthFlow="USER_PASSWORD_AUTH",
                             AuthParameters={"USERNAME": "ada", "PASSWORD": "Real-Passw0rd!"})  # fmt: skip
    return pool["Arn"], auth["AuthenticationResult"]


@pytest.fixture(scope="module")
def cognito_api(box):
    stacklab.reset()
    idp = stacklab.client("cognito-idp")
    arn, tokens = _pool_tokens(idp, "users")
    _, other = _pool_tokens(idp, "other-users")
    lam = stacklab.client("lambda")
    role = stacklab.client("iam").create_role(RoleName="cog-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam.create_function(FunctionName="whoami", Runtime="python3.12", Role=role, Handler="app.handler",
                        Code={"ZipFile": fn.package({"app.py": WHOAMI})})  # fmt: skip
    fn_arn = lam.get_function(FunctionName="whoami")["Configuration"]["FunctionArn"]
    fn_uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{fn_arn}/invocations"
    api = Api("cognito")
    auth_id = ag().create_authorizer(restApiId=api.id, name="pool", type="COGNITO_USER_POOLS", providerARNs=[arn],
                                     identitySource="method.request.header.Authorization")["id"]  # fmt: skip
    for path, scopes in (("/profile", None), ("/admin", ["aws.cognito.signin.user.admin"])):
        rid = api.resource(path)
        extra = {"authorizationScopes": scopes} if scopes else {}
        ag().put_method(restApiId=api.id, resourceId=rid, httpMethod="GET", authorizationType="COGNITO_USER_POOLS",
                        authorizerId=auth_id, **extra)  # fmt: skip
        ag().put_integration(restApiId=api.id, resourceId=rid, httpMethod="GET", type="AWS_PROXY",
                             integrationHttpMethod="POST", uri=fn_uri)  # fmt: skip
    api.deploy()
    return api, tokens, other


def _tampered(token: str) -> str:
    head, payload, sig = token.split(".")
    claims = json.loads(__import__("base64").urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["cognito:username"] = "mallory"
    return f"{head}.{_b64(claims)}.{sig}"


def _alg_none(token: str) -> str:
    _, payload, _ = token.split(".")
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}."


@pytest.mark.parametrize(
    ("path", "token", "status"),
    [
        ("/profile", lambda t, o: t["IdToken"], 200),
        ("/profile", lambda t, o: "Bearer " + t["IdToken"], 200),
        ("/profile", lambda t, o: None, 401),
        ("/profile", lambda t, o: "not-a-jwt", 401),
        ("/profile", lambda t, o: _tampered(t["IdToken"]), 401),
        ("/profile", lambda t, o: _alg_none(t["IdToken"]), 401),
        ("/profile", lambda t, o: o["IdToken"], 401),  # another pool's token
        ("/profile", lambda t, o: t["AccessToken"], 401),  # no scopes on the method: ID token needed
        ("/admin", lambda t, o: t["AccessToken"], 200),
        ("/admin", lambda t, o: t["IdToken"], 401),  # scopes: access token needed
    ],
)
def test_cognito_authorizer_table(cognito_api, path, token, status):
    api, tokens, other = cognito_api
    value = token(tokens, other)
    resp = api.call("GET", path, headers={"Authorization": value} if value else None)
    assert resp.status == status, resp.text
    if status == 401:
        assert body(resp) == {"message": "Unauthorized"}


def test_cognito_claims_reach_the_function_and_tokens_expire_on_the_sandbox_clock(cognito_api):
    api, tokens, _ = cognito_api
    claims = body(api.call("GET", "/profile", headers={"Authorization": tokens["IdToken"]}))["claims"]
    assert claims["cognito:username"] == "ada" and claims["token_use"] == "id"
    stacklab.clock().advance(3599)
    assert api.call("GET", "/profile", headers={"Authorization": tokens["IdToken"]}).status == 200
    stacklab.clock().advance(1)
    assert api.call("GET", "/profile", headers={"Authorization": tokens["IdToken"]}).status == 401


def test_integration_latency_counts_a_slow_handler_once(box):
    stacklab.reset()
    slow = (
        "import stacklab\n\ndef handler(event, context):\n"
        "    stacklab.clock().advance(0.3)\n    return {'statusCode': 200}\n"
    )
    role = stacklab.client("iam").create_role(RoleName="slow-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    arn = stacklab.client("lambda").create_function(
        FunctionName="slow", Runtime="python3.12", Role=role, Handler="app.handler",
        Code={"ZipFile": fn.package({"app.py": slow})},
    )["FunctionArn"]  # fmt: skip
    api = Api("slow")
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"
    api.method("/slow", "GET", type="AWS_PROXY", integrationHttpMethod="POST", uri=uri)
    api.deploy()
    assert api.call("GET", "/slow").status == 200
    gw.flush_metrics()
    stage_dims = [("ApiName", "slow"), ("Stage", "prod")]
    assert _stat("IntegrationLatency", stage_dims, "Maximum") == pytest.approx(301.0)  # 300 ms handler + 1 ms
    assert _stat("Latency", stage_dims, "Maximum") == pytest.approx(301.0 + gw.GATEWAY_OVERHEAD_MS)

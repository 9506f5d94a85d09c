"""Lab 08's checks pass on the solution and name the exact mistake in realistic wrong answers."""

from __future__ import annotations

import json

import pytest
from support.labcheck import failed, run

import stacklab
from stacklab.planes import functions

CHAT = """
import json

import boto3


def handler(event, context):
    ctx = event["requestContext"]
    table = boto3.resource("dynamodb").Table("lab08-connections")
    if ctx["routeKey"] == "$connect":
        name = (event.get("queryStringParameters") or {}).get("name", "guest")
        table.put_item(Item={"connectionId": ctx["connectionId"], "name": name})
    elif ctx["routeKey"] == "$disconnect":
        table.delete_item(Key={"connectionId": ctx["connectionId"]})
    else:
        api = boto3.client("apigatewaymanagementapi", endpoint_url=f"https://{ctx['domainName']}/{ctx['stage']}")
        reply = {"error": "unknown action", "actions": ["sendMessage"]}
        api.post_to_connection(ConnectionId=ctx["connectionId"], Data=json.dumps(reply).encode())
    return {"statusCode": 200}
"""
SEND = """
import json

import boto3


def handler(event, context):
    ctx = event["requestContext"]
    table = boto3.resource("dynamodb").Table("lab08-connections")
    sender = table.get_item(Key={"connectionId": ctx["connectionId"]}).get("Item", {})
    message = {"from": sender.get("name", "?"), "text": json.loads(event["body"]).get("text", "")}
    api = boto3.client("apigatewaymanagementapi", endpoint_url=f"https://{ctx['domainName']}/{ctx['stage']}")
    for item in table.scan()["Items"]:
        %s
    return {"statusCode": 200}
"""
POST = 'api.post_to_connection(ConnectionId=item["connectionId"], Data=json.dumps(message).encode())'
FIRST_VERSION = SEND % POST
SOLUTION = SEND % f"""try:
            {POST}
        except api.exceptions.GoneException:
            table.delete_item(Key={{"connectionId": item["connectionId"]}})"""
IGNORES_GONE = SEND % f"""try:
            {POST}
        except api.exceptions.GoneException:
            pass"""
AUTH = """
def handler(event, context):
    token = (event.get("queryStringParameters") or {}).get("token")
    effect = "Allow" if token == "lab08-secret" else "Deny"
    return {"principalId": "chat-user", "policyDocument": {"Version": "2012-10-17", "Statement": [
        {"Effect": effect, "Action": "execute-api:Invoke", "Resource": event["methodArn"]}]}}
"""
AUTH_WRONG_RESOURCE = AUTH.replace('event["methodArn"]', 'event["methodArn"].rsplit("/", 1)[0] + "/sendMessage"')
FUNCTIONS = {"lab08-chat": CHAT, "lab08-send": SOLUTION, "lab08-auth": AUTH}


def v2():
    return stacklab.client("apigatewayv2")


def lam():
    return stacklab.client("lambda")


def uri(arn):
    return f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"


def code(name: str, source: str) -> None:
    lam().update_function_code(FunctionName=name, ZipFile=functions.package({"app.py": source}))


def shared_setup() -> dict[str, str]:
    """The lab's table and functions (as its setup cells build them), made once per module."""
    stacklab.reset()
    role = stacklab.client("iam").create_role(RoleName="lab08-lambda", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    stacklab.client("dynamodb").create_table(
        TableName="lab08-connections", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "connectionId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "connectionId", "AttributeType": "S"}])  # fmt: skip
    return {name: lam().create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                                        Code={"ZipFile": functions.package({"app.py": src})})["FunctionArn"]
            for name, src in FUNCTIONS.items()}  # fmt: skip


class Lab:
    """A fresh lab08-chat API, and the solution's steps with knobs for mistakes."""

    def __init__(self, arns: dict[str, str]) -> None:
        self.arns = arns
        for name, source in FUNCTIONS.items():
            code(name, source)

    # --- exercise 1
    def routes(self, *, selection="$request.body.action", keys=None, send_to="lab08-send", stage=True):
        self.api_id = v2().create_api(Name="lab08-chat", ProtocolType="WEBSOCKET",
                                      RouteSelectionExpression=selection)["ApiId"]  # fmt: skip
        ints = {name: v2().create_integration(ApiId=self.api_id, IntegrationType="AWS_PROXY",
                                              IntegrationUri=self.arns[name])["IntegrationId"]
                for name in ("lab08-chat", "lab08-send")}  # fmt: skip
        keys = keys or ("$connect", "$disconnect", "$default", "sendMessage")
        for key in keys:
            target = send_to if key.lower() == "sendmessage" else "lab08-chat"
            v2().create_route(ApiId=self.api_id, RouteKey=key, Target="integrations/" + ints[target])
        if stage:
            v2().create_stage(ApiId=self.api_id, StageName="production")
        return self.api_id

    # --- exercise 2
    def connect(self, *, identity="route.request.querystring.token", attach=True, permit=("lab08-chat",
                "lab08-send", "lab08-auth"), principal="apigateway.amazonaws.com", source_api=None):  # fmt: skip
        auth = v2().create_authorizer(ApiId=self.api_id, Name="lab08-token", AuthorizerType="REQUEST",
                                      AuthorizerUri=uri(self.arns["lab08-auth"]),
                                      IdentitySource=[identity])["AuthorizerId"]  # fmt: skip
        if attach:
            route = next(r for r in v2().get_routes(ApiId=self.api_id)["Items"] if r["RouteKey"] == "$connect")
            v2().update_route(ApiId=self.api_id, RouteId=route["RouteId"], AuthorizationType="CUSTOM",
                              AuthorizerId=auth)  # fmt: skip
        for name in permit:
            lam().add_permission(FunctionName=name, StatementId=f"apigw-{self.api_id}", Action="lambda:InvokeFunction",
                                 Principal=principal,
                                 SourceArn=f"arn:aws:execute-api:us-east-1:123456789012:{source_api or self.api_id}/*")
        return auth


@pytest.fixture(autouse=True)
def progress(tmp_path, monkeypatch):
    monkeypatch.setenv("STACKLAB_PROGRESS", str(tmp_path / "progress.json"))


@pytest.fixture(scope="module")
def arns(box):
    return shared_setup()


@pytest.fixture()
def lab(arns):
    return Lab(arns)


def _table_ids() -> set[str]:
    items = stacklab.client("dynamodb").scan(TableName="lab08-connections")["Items"]
    return {i["connectionId"]["S"] for i in items}


def test_the_solution_passes_every_check_and_again(lab):
    lab.routes()
    auth = lab.connect()
    for _ in range(2):
        assert run("08.routes", api_id=lab.api_id)
        assert run("08.connect", api_id=lab.api_id, authorizer_id=auth)
        assert run("08.broadcast", api_id=lab.api_id)
    assert _table_ids() == set(), "checks close every connection they open and remove the stale item"


def test_checks_pass_before_the_authorizer_exists(lab):
    lab.routes()
    assert run("08.routes", api_id=lab.api_id)
    assert run("08.broadcast", api_id=lab.api_id)


# ------------------------------------------------------------------------------------ 1. routes


@pytest.mark.parametrize(
    ("mistake", "expected"),
    [
        ({"selection": "$request.body.route"}, "it reads the field 'route', but the chat clients send the route"),
        ({"selection": "action"}, "written `$request.body.FIELD`"),
        ({"keys": ("$connect", "$disconnect", "$default", "sendmessage")},
         "a route 'sendmessage' but no 'sendMessage': route keys are case-sensitive"),
        ({"keys": ("connect", "$disconnect", "$default", "sendMessage")},
         "a route 'connect' but no '$connect': the predefined routes start with '$'"),
        ({"keys": ("$connect", "$disconnect", "sendMessage")}, "the API has no '$default' route"),
        ({"send_to": "lab08-chat"}, "the route 'sendMessage' calls lab08-chat; it should call lab08-send"),
        ({"stage": False}, "the API has no stage 'production'"),
    ],
)  # fmt: skip
def test_routes_mistakes(lab, mistake, expected):
    lab.routes(**mistake)
    assert expected in failed("08.routes", api_id=lab.api_id)


def test_routes_wrong_variables(lab):
    api = lab.routes()
    assert "holds a whole dict" in failed("08.routes", api_id={"ApiId": api})
    assert "`api_id` should be the WebSocket API's id" in failed("08.routes", api_id=7)
    assert "there is no API 'nope'" in failed("08.routes", api_id="nope")
    http = v2().create_api(Name="http", ProtocolType="HTTP")["ApiId"]
    assert "is an HTTP API, not a WebSocket API" in failed("08.routes", api_id=http)


# ------------------------------------------------------------------------------------ 2. connect


@pytest.mark.parametrize(
    ("mistake", "expected"),
    [
        ({"permit": ("lab08-chat", "lab08-send")}, "the resource policy of lab08-auth (for"),
        ({"permit": ()}, "the resource policy of lab08-chat (for "),
        ({"principal": "lambda.amazonaws.com"}, "does not let apigateway.amazonaws.com invoke it"),
        ({"source_api": "otherapi00"}, "does not let apigateway.amazonaws.com invoke it"),
        ({"identity": "route.request.header.token"}, "send the token in the query string"),
        ({"attach": False}, "the authorizer exists but $connect does not use it"),
    ],
)  # fmt: skip
def test_connect_mistakes(lab, mistake, expected):
    lab.routes()
    auth = lab.connect(**mistake)
    assert expected in failed("08.connect", api_id=lab.api_id, authorizer_id=auth)


def test_connect_authorizer_denies_the_valid_token(lab):
    lab.routes()
    auth = lab.connect()
    code("lab08-auth", AUTH_WRONG_RESOURCE)
    assert "was refused with 403: the authorizer denied it" in failed("08.connect", api_id=lab.api_id,
                                                                     authorizer_id=auth)  # fmt: skip


def test_connect_wrong_variables(lab):
    lab.routes()
    auth = lab.connect()
    assert "holds a whole dict" in failed("08.connect", api_id=lab.api_id, authorizer_id={"AuthorizerId": auth})
    assert "`authorizer_id` should be" in failed("08.connect", api_id=lab.api_id, authorizer_id=None)
    assert "no authorizer with id 'nope'" in failed("08.connect", api_id=lab.api_id, authorizer_id="nope")


# ------------------------------------------------------------------------------------ 3. broadcast


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (FIRST_VERSION, "post_to_connection raised GoneException (410) for a connection that is gone"),
        (IGNORES_GONE, "the stale connection (an id in the table whose client is gone) is still in the table"),
    ],
)
def test_broadcast_mistakes(lab, source, expected):
    lab.routes()
    lab.connect()
    code("lab08-send", source)
    assert expected in failed("08.broadcast", api_id=lab.api_id)
    assert _table_ids() == set(), "the check removes what it planted, even when it fails"


def test_an_unanswered_lab_reports_without_traceback(box):
    for check_id, names in (("08.routes", ("api_id",)), ("08.connect", ("api_id", "authorizer_id")),
                            ("08.broadcast", ("api_id",))):  # fmt: skip
        assert not run(check_id, **dict.fromkeys(names, ...))
    assert json.dumps(run("08.routes").text())  # a missing variable is a ❌, not a NameError

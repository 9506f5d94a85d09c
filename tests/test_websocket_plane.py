"""The WebSocket API plane: $connect/authorizer, route selection, integrations, @connections, limits."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

import stacklab
from stacklab.errors import InputError
from stacklab.planes import functions as fn
from stacklab.planes import websocket as ws
from stacklab.planes import websocket_routes as routes

CHAT = r"""
import json
import boto3

def handler(event, context):
    rc = event["requestContext"]
    print(json.dumps(event))
    route = rc["routeKey"]
    if route == "$connect":
        q = event.get("queryStringParameters") or {}
        if q.get("crash"):
            raise RuntimeError("connect bug")
        return {"statusCode": int(q.get("refuse", 200))}
    if route == "broadcast":
        body = json.loads(event["body"])
        api = boto3.client("apigatewaymanagementapi", endpoint_url="https://" + rc["domainName"] + "/" + rc["stage"])
        for cid in body["to"]:
            try:
                data = json.dumps({"from": rc["connectionId"], "text": body["text"]})
                api.post_to_connection(ConnectionId=cid, Data=data)
            except api.exceptions.GoneException:
                print("GONE " + cid)
        return {"statusCode": 200}
    if route == "leave":
        api = boto3.client("apigatewaymanagementapi", endpoint_url="https://" + rc["domainName"] + "/" + rc["stage"])
        api.delete_connection(ConnectionId=rc["connectionId"])
        return {"statusCode": 200}
    if route == "boom":
        raise ValueError("bug")
    out = {"route": route, "auth": rc.get("authorizer")}
    if "userArn" in rc["identity"]:
        out["who"] = rc["identity"]["userArn"]
    return {"statusCode": 200, "body": json.dumps(out)}
"""

AUTH = r"""
def handler(event, context):
    token = event["queryStringParameters"]["token"]
    if token == "boom":
        raise ValueError("authorizer bug")
    effect = "Allow" if token.startswith("good") else "Deny"
    return {"principalId": "user-" + token, "context": {"user": "ada"}, "policyDocument": {"Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}]}}
"""

LAMBDA_URI = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{}/invocations"
ID = re.compile(r"^[A-Za-z0-9]{15}=$")


def v2():
    return stacklab.client("apigatewayv2")


def route(api_id, key, integration_id, **kwargs):
    return v2().create_route(ApiId=api_id, RouteKey=key, Target=f"integrations/{integration_id}", **kwargs)["RouteId"]


def two_way(api_id, key, integration_id):
    rid = route(api_id, key, integration_id, RouteResponseSelectionExpression="$default")
    v2().create_route_response(ApiId=api_id, RouteId=rid, RouteResponseKey="$default")


@pytest.fixture(scope="module")
def apis(box):
    lam = stacklab.client("lambda")
    role = stacklab.client("iam").create_role(RoleName="ws-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    arns = {}
    for name, code in (("chat", CHAT), ("auth", AUTH)):
        arns[name] = lam.create_function(FunctionName=name, Runtime="python3.12", Role=role,
                                         Handler="lambda_function.handler",
                                         Code={"ZipFile": fn.package(code)})["FunctionArn"]  # fmt: skip
    return build(arns)


def build(arns):
    """A chat API (authorizer, $default, Lambda) and a bare one (nested selection, MOCK, no $default)."""
    chat = v2().create_api(Name="chat", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action")
    cid = chat["ApiId"]
    lam = v2().create_integration(ApiId=cid, IntegrationType="AWS_PROXY",
                                  IntegrationUri=LAMBDA_URI.format(arns["chat"]))["IntegrationId"]  # fmt: skip
    auth = v2().create_authorizer(ApiId=cid, AuthorizerType="REQUEST", Name="token",
                                  IdentitySource=["route.request.querystring.token"],
                                  AuthorizerUri=LAMBDA_URI.format(arns["auth"]))["AuthorizerId"]  # fmt: skip
    route(cid, "$connect", lam, AuthorizationType="CUSTOM", AuthorizerId=auth)
    route(cid, "$disconnect", lam)
    two_way(cid, "$default", lam)
    route(cid, "broadcast", lam)
    route(cid, "boom", lam)
    route(cid, "leave", lam)
    v2().create_stage(ApiId=cid, StageName="production", StageVariables={"color": "blue"})

    nested = "$request.body.message.action"
    bare = v2().create_api(Name="bare", ProtocolType="WEBSOCKET", RouteSelectionExpression=nested)
    bid = bare["ApiId"]
    mock = v2().create_integration(ApiId=bid, IntegrationType="MOCK", TemplateSelectionExpression="\\$default",
                                   RequestTemplates={"$default": '{"statusCode": 200}'})["IntegrationId"]  # fmt: skip
    v2().create_integration_response(ApiId=bid, IntegrationId=mock, IntegrationResponseKey="$default",
                                     ResponseTemplates={"$default": '{"hi": "$context.connectionId", '
                                                                    '"route": "$context.routeKey"}'})  # fmt: skip
    two_way(bid, "hello", mock)
    v2().create_stage(ApiId=bid, StageName="dev")
    return {"chat": cid, "bare": bid, "arns": arns}


def events(route_key=None):
    """The events the chat function printed, oldest first."""
    logs = stacklab.client("logs")
    out = []
    for e in logs.filter_log_events(logGroupName="/aws/lambda/chat")["events"]:
        text = e["message"].strip()
        if text.startswith("{"):
            event = json.loads(text)
            if route_key is None or event["requestContext"]["routeKey"] == route_key:
                out.append(event)
    return out


def management(api_id, stage="production"):
    return stacklab.client("apigatewaymanagementapi", endpoint_url=ws.callback_url(api_id, stage))


def good(apis, token="good", **query):
    return ws.connect(apis["chat"], "production", query={"token": token, **query})


# ------------------------------------------------------------------------------------ $connect


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({}, 401),  # identity source missing: the authorizer is not even called
        ({"token": ""}, 401),
        ({"token": "bad"}, 403),  # the policy denies
        ({"token": "boom"}, 500),  # the authorizer fails
        ({"token": "good", "refuse": "400"}, 400),  # the $connect integration refuses: its status
        ({"token": "good", "crash": "1"}, 502),  # the $connect function fails
        ({"token": "good"}, None),
    ],
)
def test_connect_security_table(apis, query, status):
    if status is None:
        client = ws.connect(apis["chat"], "production", query=query)
        assert ID.match(client.connection_id)
        client.close()
        return
    with pytest.raises(ws.ConnectionRejected) as err:
        ws.connect(apis["chat"], "production", query=query)
    assert err.value.status == status


def test_api_endpoint_is_wss(apis):
    endpoint = v2().get_api(ApiId=apis["chat"])["ApiEndpoint"]
    assert endpoint == f"wss://{apis['chat']}.execute-api.us-east-1.amazonaws.com"


def iam_user(name, allow):
    iam = stacklab.client("iam")
    iam.create_user(UserName=name)
    if allow:
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "execute-api:Invoke",
                                                          "Resource": allow}]}  # fmt: skip
        iam.put_user_policy(UserName=name, PolicyName="ws", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}


def test_aws_iam_connect_table(apis):
    api = v2().create_api(Name="iam", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action")
    iid = api["ApiId"]
    mock = v2().create_integration(ApiId=iid, IntegrationType="MOCK", TemplateSelectionExpression="\\$default",
                                   RequestTemplates={"$default": '{"statusCode": 200}'})["IntegrationId"]  # fmt: skip
    route(iid, "$connect", mock, AuthorizationType="AWS_IAM")
    lam = v2().create_integration(ApiId=iid, IntegrationType="AWS_PROXY",
                                  IntegrationUri=LAMBDA_URI.format(apis["arns"]["chat"]))["IntegrationId"]  # fmt: skip
    two_way(iid, "$default", lam)
    v2().create_stage(ApiId=iid, StageName="dev")
    arn = f"arn:aws:execute-api:us-east-1:123456789012:{iid}/dev/$connect"
    allowed, nobody = iam_user("ws-ok", arn), iam_user("ws-none", None)
    other_api = iam_user("ws-other", "arn:aws:execute-api:*:*:zzz/*")
    wrong_secret = {**allowed, "secret_access_key": "not-the-secret"}
    cases = [
        (None, {}, 403),  # unsigned
        (allowed, {}, None),
        (allowed, {"room": "1"}, None),  # the query string is signed too
        (other_api, {}, 403),  # signed, but the policy names another API
        (nobody, {}, 403),  # signed, no policy
        (wrong_secret, {}, 403),
    ]
    for creds, query, status in cases:
        headers = ws.iam_headers(iid, "dev", query=query, **creds) if creds else {}
        if status is None:
            with ws.connect(iid, "dev", headers=headers, query=query) as client:
                client.send("who am i")
                assert client.receive()["who"] == "arn:aws:iam::123456789012:user/ws-ok"
        else:
            with pytest.raises(ws.ConnectionRejected) as err:
                ws.connect(iid, "dev", headers=headers, query=query)
            assert err.value.status == status
    tampered = ws.iam_headers(iid, "dev", query={"room": "1"}, **allowed)
    with pytest.raises(ws.ConnectionRejected):
        ws.connect(iid, "dev", headers=tampered, query={"room": "2"})


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("route.request.querystring.token", "q"),
        ("route.request.header.Auth", "h"),  # header names match case-insensitively
        ("route.request.header.auth", "h"),
        ("stageVariables.key", "s"),
        ("route.request.querystring.other", None),
        ("route.request.body.token", None),  # not an identity source of $connect
    ],
)
def test_identity_sources(box, source, value):
    call = routes.Call("a", "dev", "$connect", "c", "r", None, box.clock.now(), box.clock.now(),
                       headers={"AUTH": "h"}, query={"token": "q"}, stage_variables={"key": "s"})  # fmt: skip
    assert routes._identity(source, call) == value


def test_unknown_stage_is_refused_with_403(apis):
    base = ws.serve(apis["chat"]).url
    with pytest.raises(ws.ConnectionRejected) as err:
        ws.Client(f"{base}/nostage", query={"token": "good"})
    assert err.value.status == 403 and json.loads(err.value.body) == {"message": "Forbidden"}


def test_connect_event_shape_and_authorizer_context(apis):
    client = good(apis, "good-1")
    client.send({"action": "anything"})
    frame = client.receive()
    auth = {"principalId": "user-good-1", "integrationLatency": 0, "user": "ada"}
    assert frame == {"route": "$default", "auth": auth}
    connect = events("$connect")[-1]
    rc = connect["requestContext"]
    assert rc["eventType"] == "CONNECT" and rc["connectionId"] == client.connection_id
    assert rc["domainName"] == f"{apis['chat']}.execute-api.us-east-1.amazonaws.com" and rc["stage"] == "production"
    assert rc["apiId"] == apis["chat"] and rc["messageDirection"] == "IN" and ID.match(rc["requestId"])
    assert rc["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "stacklab-client/1.0"}
    assert connect["queryStringParameters"] == {"token": "good-1"} and "headers" in connect
    assert connect["stageVariables"] == {"color": "blue"} and connect["isBase64Encoded"] is False
    message = events("$default")[-1]
    assert message["body"] == '{"action": "anything"}' and ID.match(message["requestContext"]["messageId"])
    assert message["requestContext"]["eventType"] == "MESSAGE"
    assert message["requestContext"]["connectedAt"] == rc["connectedAt"]
    client.close()
    disconnect = events("$disconnect")[-1]["requestContext"]
    assert disconnect["eventType"] == "DISCONNECT" and disconnect["disconnectStatusCode"] == 1000
    assert disconnect["connectionId"] == rc["connectionId"]


# ------------------------------------------------------------------------------------ route selection


@pytest.mark.parametrize(
    ("expression", "frame", "key"),
    [
        ("$request.body.action", '{"action": "sendMessage"}', "sendMessage"),
        ("${request.body.action}", '{"action": "sendMessage"}', "sendMessage"),
        ("$request.body.message.action", '{"message": {"action": "hello"}}', "hello"),
        ("${request.body.a}-${request.body.b}", '{"a": "x", "b": 2}', "x-2"),
        ("$request.body.action", '{"other": 1}', None),
        ("$request.body.action", '{"action": {"nested": 1}}', None),
        ("$request.body.action", "not json", None),
        ("$request.body.message.action", '{"message": "text"}', None),
    ],
)
def test_route_selection_expression(expression, frame, key):
    assert routes.evaluate(expression, frame) == key


def test_unmatched_and_non_json_go_to_default(apis):
    with good(apis) as client:
        frames = ({"action": "nope"}, "plain text", {"no": "action"}, {"action": "$connect"}, [1, 2])
        for frame in frames:
            client.send(frame)
        assert [m["route"] for m in client.messages()] == ["$default"] * len(frames)
        sent = [f if isinstance(f, str) else json.dumps(f) for f in frames]
        assert [e["body"] for e in events("$default")[-len(frames) :]] == sent


def test_no_default_route_gives_forbidden_frame_and_nested_two_way_mock(apis):
    with ws.connect(apis["bare"], "dev") as client:
        client.send({"message": {"action": "hello"}})
        client.send({"action": "hello"})
        client.send("not json")
        hello, *errors = client.messages()
    assert hello == {"hi": client.connection_id, "route": "hello"}
    for frame in errors:
        assert set(frame) == {"message", "connectionId", "requestId"}
        assert frame["message"] == "Forbidden" and frame["connectionId"] == client.connection_id
        assert ID.match(frame["requestId"])
    assert errors[0]["requestId"] != errors[1]["requestId"]


def test_integration_failure_gives_internal_server_error_frame(apis):
    with good(apis) as client:
        client.send({"action": "boom"})
        frame = client.receive()
    assert frame["message"] == "Internal server error" and frame["connectionId"] == client.connection_id


def test_route_added_later_acts_on_next_message(apis):
    bid = apis["bare"]
    with ws.connect(bid, "dev") as client:
        client.send({"message": {"action": "later"}})
        assert client.receive()["message"] == "Forbidden"
        mock = v2().get_integrations(ApiId=bid)["Items"][0]["IntegrationId"]
        rid = route(bid, "$default", mock)
        client.send({"message": {"action": "later"}})
        assert client.messages() == []  # one-way $default: nothing comes back
        v2().delete_route(ApiId=bid, RouteId=rid)


def test_http_integration_two_way(apis):
    class Echo(BaseHTTPRequestHandler):
        def do_POST(self):
            data = self.rfile.read(int(self.headers["Content-Length"]))
            out = json.dumps({"echoed": json.loads(data)}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        api = v2().create_api(Name="h", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action")
        hid = api["ApiId"]
        port = httpd.server_address[1]
        integ = v2().create_integration(ApiId=hid, IntegrationType="HTTP_PROXY", IntegrationMethod="POST",
                                        IntegrationUri=f"http://127.0.0.1:{port}/echo")["IntegrationId"]  # fmt: skip
        two_way(hid, "$default", integ)
        far = v2().create_integration(ApiId=hid, IntegrationType="HTTP_PROXY", IntegrationMethod="POST",
                                      IntegrationUri="http://example.com/x")["IntegrationId"]  # fmt: skip
        two_way(hid, "far", far)
        v2().create_stage(ApiId=hid, StageName="dev")
        with ws.connect(hid, "dev") as client:
            client.send({"action": "x", "n": 1})
            client.send({"action": "far"})
            first, second = client.messages()
        assert first == {"echoed": {"action": "x", "n": 1}}
        assert second["message"] == "Internal server error"  # never leaves the machine
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


# ------------------------------------------------------------------------------------ @connections


def test_broadcast_from_handler_in_deterministic_order(apis):
    a, b, c = good(apis), good(apis), good(apis)
    ids = [a.connection_id, b.connection_id, c.connection_id]
    c.close()
    a.send({"action": "broadcast", "to": ids, "text": "hi"})
    expected = {"from": ids[0], "text": "hi"}
    assert a.messages() == [expected] and b.messages() == [expected] and c.messages() == []
    gone = [e for e in stacklab.client("logs").filter_log_events(logGroupName="/aws/lambda/chat")["events"]
            if e["message"].startswith("GONE")]  # fmt: skip
    assert gone[-1]["message"].strip() == f"GONE {ids[2]}"
    for client in (a, b):
        client.close()


def test_post_get_delete_connection(apis):
    client = good(apis)
    api = management(apis["chat"])
    api.post_to_connection(ConnectionId=client.connection_id, Data=b"one")
    api.post_to_connection(ConnectionId=client.connection_id, Data=json.dumps({"n": 2}).encode())
    assert client.receive() == "one" and client.receive() == {"n": 2}
    stacklab.clock().advance(30)
    client.send({"action": "x"})
    info = api.get_connection(ConnectionId=client.connection_id)
    assert info["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "stacklab-client/1.0"}
    assert (info["LastActiveAt"] - info["ConnectedAt"]).total_seconds() == 30
    before = len(events("$disconnect"))
    api.delete_connection(ConnectionId=client.connection_id)
    assert client.closed and client.close_code == 1000
    assert len(events("$disconnect")) == before + 1
    for call in (lambda: api.post_to_connection(ConnectionId=client.connection_id, Data=b"x"),
                 lambda: api.get_connection(ConnectionId=client.connection_id),
                 lambda: api.delete_connection(ConnectionId=client.connection_id)):  # fmt: skip
        with pytest.raises(ClientError) as err:
            call()
        assert err.value.response["Error"]["Code"] == "GoneException"
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410


def test_gone_for_unknown_id_and_other_api(apis):
    with good(apis) as client:
        with pytest.raises(management(apis["chat"]).exceptions.GoneException):
            management(apis["chat"]).post_to_connection(ConnectionId="AAAAAAAAAAAAAAA=", Data=b"x")
        with pytest.raises(ClientError, match="GoneException"):  # a connection of another API
            management(apis["bare"], "dev").post_to_connection(ConnectionId=client.connection_id, Data=b"x")
        assert client.messages() == []


def test_handler_deletes_its_own_connection(apis):
    client = good(apis)
    client.send({"action": "leave"})
    assert client.closed and client.close_code == 1000
    assert events("$disconnect")[-1]["requestContext"]["connectionId"] == client.connection_id


def test_async_clients(apis):
    import asyncio

    from websockets.asyncio.client import connect

    async def main():
        target = ws.url(apis["bare"], "dev")
        async with connect(target) as a, connect(target) as b:
            await a.send(json.dumps({"message": {"action": "hello"}}))
            await b.send("not json")
            return [json.loads(await asyncio.wait_for(c.recv(), 2)) for c in (a, b)]

    hello, error = asyncio.run(main())
    assert hello["route"] == "hello" and error["message"] == "Forbidden"
    assert ws.settle(2.0) and ws.connections(apis["bare"]) == []


def test_async_client_disconnect_is_settled(apis):
    import asyncio

    from websockets.asyncio.client import connect

    async def main():
        async with connect(ws.url(apis["chat"], "production") + "?token=good-async") as client:
            await client.send(json.dumps({"action": "x"}))
            frame = json.loads(await asyncio.wait_for(client.recv(), 2))
        await asyncio.to_thread(ws.settle)
        return frame

    before = len(events("$disconnect"))
    assert asyncio.run(main())["auth"]["principalId"] == "user-good-async"
    assert len(events("$disconnect")) == before + 1
    with pytest.raises(InputError):
        ws.settle(-1)


def test_connections_listing(apis):
    with good(apis) as a, ws.connect(apis["bare"], "dev") as b:
        listed = ws.connections()
        assert [c["ConnectionId"] for c in listed] == [a.connection_id, b.connection_id]
        assert [c["ConnectionId"] for c in ws.connections(apis["bare"])] == [b.connection_id]
        assert listed[0]["Stage"] == "production" and listed[0]["SourceIp"] == "127.0.0.1"
    assert ws.connections() == []


# ------------------------------------------------------------------------------------ limits


def test_idle_timeout_closes_with_1001_and_runs_disconnect(apis):
    idle, busy, posted = good(apis), good(apis), good(apis)
    stacklab.clock().advance(minutes=9)
    busy.send({"action": "x"})  # a message from the client resets the idle timer
    management(apis["chat"]).post_to_connection(ConnectionId=posted.connection_id, Data=b"x")  # this does not
    stacklab.clock().advance(seconds=59)
    assert ws.sweep() == []
    stacklab.clock().advance(seconds=1)
    assert ws.sweep() == [idle.connection_id, posted.connection_id]
    assert idle.close_code == 1001 and posted.close_code == 1001 and not busy.closed
    closed = {e["requestContext"]["connectionId"]: e["requestContext"] for e in events("$disconnect")[-2:]}
    assert set(closed) == {idle.connection_id, posted.connection_id}
    assert {c["disconnectStatusCode"] for c in closed.values()} == {1001}
    with pytest.raises(ClientError, match="GoneException"):
        management(apis["chat"]).post_to_connection(ConnectionId=idle.connection_id, Data=b"x")
    busy.close()


def test_disabled_execute_api_endpoint_refuses(apis):
    v2().update_api(ApiId=apis["bare"], DisableExecuteApiEndpoint=True)
    try:
        with pytest.raises(ws.ConnectionRejected) as err:
            ws.connect(apis["bare"], "dev")
        assert err.value.status == 403
    finally:
        v2().update_api(ApiId=apis["bare"], DisableExecuteApiEndpoint=False)


def test_maximum_duration_two_hours(apis):
    client = good(apis)
    for _ in range(13):  # active every 9 minutes: never idle
        stacklab.clock().advance(minutes=9)
        client.send({"action": "x"})
    assert not client.closed  # 117 minutes
    stacklab.clock().advance(minutes=3)
    with pytest.raises(ws.ConnectionClosedError):
        client.send({"action": "x"})
        client.receive(timeout=0.5)
    assert client.close_code == 1001


def test_frame_and_message_size_limits(apis):
    with ws.connect(apis["bare"], "dev") as ok:
        ok.send(json.dumps({"message": {"action": "hello"}, "pad": "x" * 100_000}), frame_size=32 * 1024)
        assert ok.receive()["route"] == "hello"  # 100 KB in frames of 32 KB: fine
    for message, frame_size, code in (("x" * (40 * 1024), None, 1009), ("x" * (130 * 1024), 16 * 1024, 1009),
                                      (b"\x00\x01", None, 1003)):  # fmt: skip
        client = ws.connect(apis["bare"], "dev")
        with contextlib.suppress(ws.ConnectionClosedError):  # the gateway may close it while frames are sent
            client.send(message, frame_size=frame_size)
        client.messages()
        assert client.closed and client.close_code == code
    big = ws.connect(apis["bare"], "dev")
    api = management(apis["bare"], "dev")
    api.post_to_connection(ConnectionId=big.connection_id, Data=b"y" * (100 * 1024))
    assert big.receive() == "y" * (100 * 1024)  # sent in frames of at most 32 KB
    with pytest.raises(ClientError) as err:
        api.post_to_connection(ConnectionId=big.connection_id, Data=b"y" * (129 * 1024))
    assert err.value.response["Error"]["Code"] == "PayloadTooLargeException"
    big.close()


# ------------------------------------------------------------------------------------ ids, metrics, bad input


def test_metrics(apis):
    ws.flush_metrics()
    with good(apis) as client:
        client.send({"action": "x"})
        client.send({"action": "boom"})
    with pytest.raises(ws.ConnectionRejected):
        good(apis, "bad")
    assert ws.flush_metrics() > 0
    cw = stacklab.client("cloudwatch")
    dims = [{"Name": "ApiId", "Value": apis["chat"]}, {"Name": "Stage", "Value": "production"}]
    now = stacklab.clock().now()
    sums = {}
    for name in ("ConnectCount", "MessageCount", "IntegrationError", "ClientError"):
        points = cw.get_metric_statistics(Namespace="AWS/ApiGateway", MetricName=name, Dimensions=dims,
                                          StartTime=now.replace(year=2000), EndTime=now.replace(year=2100),
                                          Period=60, Statistics=["Sum"])["Datapoints"]  # fmt: skip
        sums[name] = sum(p["Sum"] for p in points)
    assert sums["ConnectCount"] >= 2 and sums["MessageCount"] >= 2
    assert sums["IntegrationError"] >= 1 and sums["ClientError"] >= 1


def test_bad_input(apis):
    http_api = v2().create_api(Name="plain", ProtocolType="HTTP")["ApiId"]
    cases = [
        (lambda: ws.url("nope", "dev"), "no WebSocket API"),
        (lambda: ws.url(http_api, "dev"), "HTTP API"),
        (lambda: ws.url(apis["bare"], "nostage"), "no stage"),
        (lambda: ws.callback_url(apis["bare"], 5), "stage must be a string"),
        (lambda: ws.Client("http://127.0.0.1:1/dev"), "ws:// URL"),
        (lambda: ws.connect(apis["bare"], "dev", query=["a"]), "query must be a dict"),
        (lambda: ws.connect(apis["bare"], "dev", timeout=0), "timeout"),
        (lambda: ws.connections(api_id=3), "api_id must be a string"),
        (lambda: ws.iam_headers(apis["bare"], "dev", access_key_id="", secret_access_key="x"), "access_key_id"),
        (lambda: ws.iam_headers(apis["bare"], "dev", access_key_id="A", secret_access_key="x", query=[1]), "query"),
        (lambda: ws.cli_callback_url(apis["bare"], "dev"), "start\\(cli=True\\)"),
    ]
    for call, message in cases:
        with pytest.raises(InputError, match=message):
            call()
    with ws.connect(apis["bare"], "dev") as client:
        with pytest.raises(InputError, match="send"):
            client.send(object())
        with pytest.raises(InputError, match="frame_size"):
            client.send("x", frame_size=0)
        with pytest.raises(TimeoutError):
            client.receive(timeout=0.05)
        with pytest.raises(InputError, match="timeout"):
            client.receive(timeout=-1)
        with pytest.raises(InputError, match="code"):
            client.close(code=5)


def test_ids_are_seeded_and_aws_like(apis):
    with ws.connect(apis["bare"], "dev") as client:
        first = client.connection_id
    assert ID.match(first)
    with ws.connect(apis["bare"], "dev") as client:
        assert client.connection_id != first


def test_server_mode_cli(apis):
    stacklab.start(cli=True, fresh=False)
    endpoint = ws.cli_callback_url(apis["bare"], "dev")
    assert endpoint == stacklab.current().endpoint_url
    aws = str(Path(__import__("sys").executable).parent / "aws")
    with ws.connect(apis["bare"], "dev") as client:
        run = subprocess.run([aws, "apigatewaymanagementapi", "post-to-connection", "--connection-id",
                              client.connection_id, "--data", "from the CLI", "--endpoint-url", endpoint],
                             capture_output=True, text=True, timeout=30)  # fmt: skip
        assert run.returncode == 0, run.stderr
        assert client.receive() == "from the CLI"
        gone = subprocess.run([aws, "apigatewaymanagementapi", "get-connection", "--connection-id", "AAAAAAAAAAAAAAA="],
                              capture_output=True, text=True, timeout=30)  # fmt: skip
        assert gone.returncode != 0 and "GoneException" in gone.stderr


def fresh_build():
    lam = stacklab.client("lambda")
    role = stacklab.client("iam").create_role(RoleName="ws-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    arns = {}
    for name, code in (("chat", CHAT), ("auth", AUTH)):
        arns[name] = lam.create_function(FunctionName=name, Runtime="python3.12", Role=role,
                                         Handler="lambda_function.handler",
                                         Code={"ZipFile": fn.package(code)})["FunctionArn"]  # fmt: skip
    return build(arns)


def test_reset_closes_everything_and_reseeds(apis):
    client = good(apis)
    port = ws.serve(apis["chat"]).port
    stacklab.reset()
    assert client.closed
    assert not [t for t in threading.enumerate() if t.name.startswith("stacklab-ws")]
    assert not [t for t in threading.enumerate() if t.name == "stacklab-websocket-loop"]
    client._ws.recv_events_thread.join(2)  # the client's reader ends with its socket
    assert not client._ws.recv_events_thread.is_alive()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    seen = []
    for _ in range(2):  # the same calls after each reset give the same ids
        again = fresh_build()
        with good(again) as replay:
            seen.append((again["chat"], replay.connection_id))
        stacklab.reset()
    assert seen[0] == seen[1] and ID.match(seen[0][1])

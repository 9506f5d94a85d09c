"""The AppSync plane: control plane added to moto, execution, data sources, pipelines, caching, HTTP, contract."""

from __future__ import annotations

import importlib.machinery
import json
import socket
import sys
import threading
import time
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

import stacklab
from stacklab.errors import InputError
from stacklab.planes import functions as fn
from stacklab.planes import graphql as gq
from stacklab.planes import graphql_control, graphql_sources

SCHEMA = """
type Post { id: ID! title: String version: Int created: AWSDateTime author: Author meta: AWSJSON }
type Author { name: String }
type Query {
  getPost(id: ID!): Post
  listPosts(limit: Int, nextToken: String): PostPage
  byIds(ids: [ID!]!): [Post]
  hello(name: String): String
  lam(x: Int): AWSJSON
  pipe(x: Int): AWSJSON
  js: String
  plain: Post
  echo(when: AWSDateTime, data: AWSJSON, mail: AWSEmail): AWSJSON
  http(path: String): AWSJSON
  sql: AWSJSON
}
type PostPage { items: [Post] nextToken: String }
type Mutation { addPost(id: ID, title: String!): Post updateTitle(id: ID!, title: String!, expected: Int!): Post
  deletePost(id: ID!): Post }
type Subscription { onAdd: Post @aws_subscribe(mutations: ["addPost"]) }
schema { query: Query mutation: Mutation subscription: Subscription }
"""
HANDLER = r"""
def handler(event, context):
    if isinstance(event, dict) and event.get("arguments", {}).get("x") == 13:
        raise ValueError("unlucky")
    return {"event": event}
"""
GET = '{"version":"2018-05-29","operation":"GetItem","key":{"id":$util.dynamodb.toDynamoDBJson($ctx.args.id)}}'
OUT = "$util.toJson($ctx.result)"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:x"
RAISE = "#if($ctx.error)$util.error($ctx.error.message, $ctx.error.type)#end$util.toJson($ctx.result)"


@pytest.fixture(autouse=True)
def only_fake_q2_modules(monkeypatch):
    """These tests pin this plane's own behaviour: engineer Q2's real modules (if installed) are hidden."""

    def optional(name):
        module = sys.modules.get(f"stacklab.planes.{name}")
        return module if getattr(module, "_stacklab_fake", False) else None

    monkeypatch.setattr(gq, "_optional", optional)


def appsync():
    return stacklab.client("appsync")


@pytest.fixture(scope="module")
def api(box):
    """One API with a table, a function and every data source type; tests add resolvers they need."""
    a = appsync()
    ddb = stacklab.client("dynamodb")
    ddb.create_table(TableName="Posts", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")  # fmt: skip
    role = stacklab.client("iam").create_role(RoleName="gq-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    arn = stacklab.client("lambda").create_function(
        FunctionName="gq-fn", Runtime="python3.12", Role=role, Handler="app.handler", Timeout=60,
        Code={"ZipFile": fn.package({"app.py": HANDLER})})["FunctionArn"]  # fmt: skip
    api_id = a.create_graphql_api(name="blog", authenticationType="API_KEY")["graphqlApi"]["apiId"]
    a.start_schema_creation(apiId=api_id, definition=SCHEMA.encode())
    key = a.create_api_key(apiId=api_id, expires=int(time.time()) + 365 * 86400)["apiKey"]["id"]
    a.create_data_source(apiId=api_id, name="posts", type="AMAZON_DYNAMODB",
                         dynamodbConfig={"tableName": "Posts", "awsRegion": "us-east-1"})  # fmt: skip
    a.create_data_source(apiId=api_id, name="local", type="NONE")
    a.create_data_source(apiId=api_id, name="fn", type="AWS_LAMBDA", lambdaConfig={"lambdaFunctionArn": arn})
    resolver = {"apiId": api_id, "dataSourceName": "posts"}
    a.create_resolver(typeName="Query", fieldName="getPost", requestMappingTemplate=GET, responseMappingTemplate=OUT,
                      **resolver)  # fmt: skip
    a.create_resolver(
        typeName="Mutation", fieldName="addPost", responseMappingTemplate=RAISE, **resolver,
        requestMappingTemplate='{"version":"2018-05-29","operation":"PutItem",'
        '"key":{"id":$util.dynamodb.toDynamoDBJson($util.defaultIfNull($ctx.args.id, $util.autoId()))},'
        '"attributeValues":{"title":$util.dynamodb.toDynamoDBJson($ctx.args.title),"version":{"N":"1"},'
        '"created":$util.dynamodb.toDynamoDBJson($util.time.nowISO8601())},'
        '"condition":{"expression":"attribute_not_exists(id)"}}',
    )  # fmt: skip
    a.create_resolver(
        typeName="Mutation", fieldName="updateTitle", responseMappingTemplate=RAISE, **resolver,
        requestMappingTemplate='{"version":"2018-05-29","operation":"UpdateItem",'
        '"key":{"id":$util.dynamodb.toDynamoDBJson($ctx.args.id)},'
        '"update":{"expression":"SET title = :t, version = version + :one",'
        '"expressionValues":{":t":$util.dynamodb.toDynamoDBJson($ctx.args.title),":one":{"N":"1"}}},'
        '"condition":{"expression":"version = :v",'
        '"expressionValues":{":v":$util.dynamodb.toDynamoDBJson($ctx.args.expected)}}}',
    )  # fmt: skip
    a.create_resolver(
        typeName="Mutation", fieldName="deletePost", responseMappingTemplate=OUT, **resolver,
        requestMappingTemplate='{"version":"2018-05-29","operation":"DeleteItem",'
        '"key":{"id":$util.dynamodb.toDynamoDBJson($ctx.args.id)}}',
    )  # fmt: skip
    a.create_resolver(
        typeName="Query", fieldName="listPosts", responseMappingTemplate=OUT, **resolver,
        requestMappingTemplate='{"version":"2018-05-29","operation":"Scan",'
        '"limit":$util.defaultIfNull($ctx.args.limit, 20)'
        '#if($ctx.args.nextToken),"nextToken":"$ctx.args.nextToken"#end}',
    )  # fmt: skip
    a.create_resolver(
        typeName="Query", fieldName="byIds", responseMappingTemplate="$util.toJson($ctx.result.data.Posts)", **resolver,
        requestMappingTemplate='#set($keys = [])#foreach($id in $ctx.args.ids)'
        '$util.qr($keys.add({"id": $util.dynamodb.toDynamoDB($id)}))#end'
        '{"version":"2018-05-29","operation":"BatchGetItem","tables":{"Posts":{"keys":$util.toJson($keys)}}}',
    )  # fmt: skip
    a.create_resolver(apiId=api_id, typeName="Query", fieldName="hello", dataSourceName="local",
                      requestMappingTemplate='{"version":"2018-05-29",'
                      '"payload":"hi $util.defaultIfNull($ctx.args.name, "you")"}',
                      responseMappingTemplate=OUT)  # fmt: skip
    a.create_resolver(apiId=api_id, typeName="Query", fieldName="lam", dataSourceName="fn")
    a.create_resolver(apiId=api_id, typeName="Query", fieldName="echo", dataSourceName="local",
                      requestMappingTemplate='{"version":"2018-05-29","payload":$util.toJson($ctx.args)}',
                      responseMappingTemplate=OUT)  # fmt: skip
    return {"id": api_id, "key": key, "headers": {"x-api-key": key}, "lambda": arn}


def run(api, query, variables=None, **kwargs):
    return gq.execute(api["id"], query, variables, headers=kwargs.pop("headers", api["headers"]), **kwargs)


def error_of(body):
    assert body.get("errors"), body
    return body["errors"][0]


# ------------------------------------------------------------------------------------ control plane


def test_data_source_lifecycle_and_validation(api):
    a = appsync()
    got = a.get_data_source(apiId=api["id"], name="posts")["dataSource"]
    assert got["dataSourceArn"].endswith(f"apis/{api['id']}/datasources/posts")
    assert got["dynamodbConfig"] == {"tableName": "Posts", "awsRegion": "us-east-1"}
    assert {"posts", "local", "fn"} <= {d["name"] for d in a.list_data_sources(apiId=api["id"])["dataSources"]}
    a.create_data_source(apiId=api["id"], name="tmp", type="HTTP", httpConfig={"endpoint": "http://127.0.0.1:1"})
    a.update_data_source(apiId=api["id"], name="tmp", type="NONE", description="now local")
    assert a.get_data_source(apiId=api["id"], name="tmp")["dataSource"]["type"] == "NONE"
    a.delete_data_source(apiId=api["id"], name="tmp")
    cases = [
        ({"name": "posts", "type": "NONE"}, "BadRequestException", "already exists"),
        ({"name": "ddb", "type": "AMAZON_DYNAMODB"}, "BadRequestException", "requires dynamodbConfig"),
        ({"name": "bad-name", "type": "NONE"}, "BadRequestException", "Invalid data source name"),
        ({"name": "x", "type": "SQL"}, "BadRequestException", "Invalid data source type"),
        ({"name": "rds", "type": "RELATIONAL_DATABASE", "relationalDatabaseConfig": {"rdsHttpEndpointConfig": {}}},
         "BadRequestException", "dbClusterIdentifier"),
    ]  # fmt: skip
    for params, code, text in cases:
        with pytest.raises(ClientError) as err:
            a.create_data_source(apiId=api["id"], **params)
        assert err.value.response["Error"]["Code"] == code and text in str(err.value), params
    for call in (lambda: a.get_data_source(apiId=api["id"], name="nope"),
                 lambda: a.create_data_source(apiId="nope", name="x", type="NONE")):  # fmt: skip
        with pytest.raises(ClientError) as err:
            call()
        assert err.value.response["Error"]["Code"] == "NotFoundException"


def test_resolver_validation(api):
    a = appsync()
    base = {"apiId": api["id"], "requestMappingTemplate": "{}", "responseMappingTemplate": OUT}
    cases = [
        ({"typeName": "Query", "fieldName": "nope", "dataSourceName": "local"}, "BadRequestException",
         "No field named nope found on type Query"),
        ({"typeName": "Nope", "fieldName": "x", "dataSourceName": "local"}, "BadRequestException",
         "Type Nope not found"),
        ({"typeName": "Query", "fieldName": "getPost", "dataSourceName": "local"}, "BadRequestException",
         "Only one resolver is allowed per field"),
        ({"typeName": "Query", "fieldName": "plain", "dataSourceName": "ghost"}, "NotFoundException", "ghost"),
        ({"typeName": "Query", "fieldName": "plain", "dataSourceName": "local", "cachingConfig": {"ttl": 0}},
         "BadRequestException", "between 1 and 3600"),
        ({"typeName": "Query", "fieldName": "plain", "dataSourceName": "local",
          "runtime": {"name": "APPSYNC_JS", "runtimeVersion": "1.0.0"}}, "BadRequestException", "code"),
        ({"typeName": "Query", "fieldName": "plain", "kind": "PIPELINE", "pipelineConfig": {"functions": ["f0"]}},
         "NotFoundException", "f0"),
    ]  # fmt: skip
    for params, code, text in cases:
        with pytest.raises(ClientError) as err:
            a.create_resolver(**base, **params)
        assert err.value.response["Error"]["Code"] == code and text in str(err.value), params
    listed = {r["fieldName"] for r in a.list_resolvers(apiId=api["id"], typeName="Query")["resolvers"]}
    assert {"getPost", "hello", "lam"} <= listed
    resolver = a.get_resolver(apiId=api["id"], typeName="Query", fieldName="getPost")["resolver"]
    assert resolver["kind"] == "UNIT" and resolver["resolverArn"].endswith("/types/Query/resolvers/getPost")
    with pytest.raises(ClientError) as err:
        a.get_resolver(apiId=api["id"], typeName="Query", fieldName="plain")
    assert err.value.response["Error"]["Code"] == "NotFoundException"


def test_functions_lifecycle(api):
    a = appsync()
    f = a.create_function(apiId=api["id"], name="lookup", dataSourceName="local", functionVersion="2018-05-29",
                          requestMappingTemplate='{"payload": 1}',
                          responseMappingTemplate=OUT)["functionConfiguration"]  # fmt: skip
    assert len(f["functionId"]) == 26 and f["functionArn"].endswith(f"/functions/{f['functionId']}")
    a.update_function(apiId=api["id"], functionId=f["functionId"], name="lookup2", dataSourceName="local",
                      functionVersion="2018-05-29", requestMappingTemplate='{"payload": 2}')  # fmt: skip
    assert a.get_function(apiId=api["id"], functionId=f["functionId"])["functionConfiguration"]["name"] == "lookup2"
    assert f["functionId"] in {x["functionId"] for x in a.list_functions(apiId=api["id"])["functions"]}
    a.create_resolver(apiId=api["id"], typeName="Query", fieldName="js", kind="PIPELINE",
                      pipelineConfig={"functions": [f["functionId"]]}, requestMappingTemplate="{}",
                      responseMappingTemplate="$util.toJson($ctx.prev.result)")  # fmt: skip
    users = a.list_resolvers_by_function(apiId=api["id"], functionId=f["functionId"])["resolvers"]
    assert [u["fieldName"] for u in users] == ["js"]
    with pytest.raises(ClientError) as err:
        a.delete_function(apiId=api["id"], functionId=f["functionId"])
    assert err.value.response["Error"]["Code"] == "ConcurrentModificationException"
    a.delete_resolver(apiId=api["id"], typeName="Query", fieldName="js")
    a.delete_function(apiId=api["id"], functionId=f["functionId"])
    with pytest.raises(ClientError) as err:
        a.create_function(apiId=api["id"], name="f", dataSourceName="local", requestMappingTemplate="{}")
    assert "functionVersion" in str(err.value)


def test_server_mode_sees_the_operations(api):
    """``!aws appsync`` talks to the moto server: the added operations answer there too."""
    box = stacklab.start(cli=True, fresh=False)
    remote = boto3.client("appsync", region_name="us-east-1", endpoint_url=box.endpoint_url)
    sources = remote.list_data_sources(apiId=api["id"])["dataSources"]
    assert "posts" in {d["name"] for d in sources}
    got = remote.get_resolver(apiId=api["id"], typeName="Query", fieldName="getPost")["resolver"]
    assert got["dataSourceName"] == "posts"
    with pytest.raises(ClientError) as err:
        remote.create_resolver(apiId=api["id"], typeName="Query", fieldName="zzz", dataSourceName="posts",
                               requestMappingTemplate="{}")  # fmt: skip
    assert err.value.response["Error"]["Code"] == "BadRequestException"
    # A server that answered appsync before the plane was imported rebuilds its routes on import.
    apps = box._server._server.app.app_instances
    assert "appsync" in apps
    graphql_control._refresh_server_routes()
    assert "appsync" not in apps
    assert remote.get_data_source(apiId=api["id"], name="local")["dataSource"]["type"] == "NONE"


# ------------------------------------------------------------------------------------ execution


def test_dynamodb_resolvers_round_trip(api):
    added = run(api, 'mutation { addPost(id: "p1", title: "First") { id title version created } }')
    assert added == {"data": {"addPost": {"id": "p1", "title": "First", "version": 1,
                                          "created": "2026-01-15T09:00:00.000Z"}}}  # fmt: skip
    run(api, 'mutation { addPost(id: "p2", title: "Second") { id } }')
    got = run(api, "query Q($id: ID!) { getPost(id: $id) { id title author { name } } }", {"id": "p1"})
    assert got == {"data": {"getPost": {"id": "p1", "title": "First", "author": None}}}
    assert run(api, '{ getPost(id: "nope") { id } }') == {"data": {"getPost": None}}
    page = run(api, "{ listPosts(limit: 1) { items { id } nextToken } }")["data"]["listPosts"]
    assert len(page["items"]) == 1 and page["nextToken"]
    rest = run(api, "query($t: String) { listPosts(nextToken: $t) { items { id } } }", {"t": page["nextToken"]})
    assert {i["id"] for i in page["items"] + rest["data"]["listPosts"]["items"]} == {"p1", "p2"}
    batch = run(api, '{ byIds(ids: ["p2", "zz", "p1"]) { id } }')
    assert batch == {"data": {"byIds": [{"id": "p2"}, None, {"id": "p1"}]}}
    updated = run(api, 'mutation { updateTitle(id: "p1", title: "New", expected: 1) { title version } }')
    assert updated == {"data": {"updateTitle": {"title": "New", "version": 2}}}
    stale = run(api, 'mutation { updateTitle(id: "p1", title: "Old", expected: 1) { title } }')
    err = error_of(stale)
    assert stale["data"] == {"updateTitle": None}
    assert err["errorType"] == "DynamoDB:ConditionalCheckFailedException"
    assert err["message"].startswith("The conditional request failed") and err["path"] == ["updateTitle"]
    assert err["locations"] == [{"line": 1, "column": 12, "sourceName": None}]
    duplicate = run(api, 'mutation { addPost(id: "p1", title: "again") { id } }')
    assert error_of(duplicate)["errorType"] == "DynamoDB:ConditionalCheckFailedException"
    deleted = run(api, 'mutation { deletePost(id: "p2") { id title } }')
    assert deleted == {"data": {"deletePost": {"id": "p2", "title": "Second"}}}


def test_unhandled_error_with_2018_template_is_swallowed(api):
    """A 2018-05-29 response template that ignores $ctx.error returns null without an error (AWS's rule)."""
    a = appsync()
    a.create_data_source(apiId=api["id"], name="posts2", type="AMAZON_DYNAMODB",
                         dynamodbConfig={"tableName": "Missing", "awsRegion": "us-east-1"})  # fmt: skip
    a.create_resolver(apiId=api["id"], typeName="Query", fieldName="plain", dataSourceName="posts2",
                      requestMappingTemplate='{"version":"2018-05-29","operation":"Scan"}',
                      responseMappingTemplate=OUT)  # fmt: skip
    assert run(api, "{ plain { id } }") == {"data": {"plain": None}}
    a.update_resolver(apiId=api["id"], typeName="Query", fieldName="plain", dataSourceName="posts2",
                      requestMappingTemplate='{"version":"2017-02-28","operation":"Scan"}',
                      responseMappingTemplate=OUT)  # fmt: skip
    assert error_of(run(api, "{ plain { id } }"))["errorType"] == "DynamoDB:ResourceNotFoundException"
    a.delete_resolver(apiId=api["id"], typeName="Query", fieldName="plain")


def test_none_source_and_scalars(api):
    assert run(api, '{ hello(name: "Ana") }') == {"data": {"hello": "hi Ana"}}
    assert run(api, "{ hello }") == {"data": {"hello": "hi you"}}
    body = run(api, 'query($d: AWSJSON) { echo(when: "2026-01-15T09:00:00Z", data: $d, mail: "a@b.io") }',
               {"d": '{"k": [1, true]}'})  # fmt: skip
    assert json.loads(body["data"]["echo"]) == {
        "when": "2026-01-15T09:00:00Z",
        "data": {"k": [1, True]},
        "mail": "a@b.io",
    }
    bad = run(api, '{ echo(when: "2026-01-15") }')
    assert bad["data"] is None and "AWSDateTime" in error_of(bad)["message"]
    assert "AWSEmail" in error_of(run(api, '{ echo(mail: "nobody") }'))["message"]


def test_top_level_field_without_resolver_is_null_and_nested_default(api):
    assert run(api, "{ plain { id } }") == {"data": {"plain": None}}


def test_nested_field_resolver_sees_its_source(api):
    a = appsync()
    a.create_resolver(apiId=api["id"], typeName="Post", fieldName="author", dataSourceName="fn",
                      requestMappingTemplate='{"version":"2018-05-29","operation":"Invoke",'
                      '"payload":{"name":"by $ctx.source.id", "sel": $util.toJson($ctx.info.selectionSetList)}}',
                      responseMappingTemplate="$util.toJson($ctx.result.event)")  # fmt: skip
    try:
        run(api, 'mutation { addPost(id: "n1", title: "Nested") { id } }')
        body = run(api, '{ getPost(id: "n1") { id author { name } } }')
        assert body == {"data": {"getPost": {"id": "n1", "author": {"name": "by n1"}}}}
        event = json.loads(run(api, "{ lam(x: 1) }")["data"]["lam"])["event"]
        assert event["info"]["selectionSetList"] == []
    finally:
        a.delete_resolver(apiId=api["id"], typeName="Post", fieldName="author")


def test_direct_lambda_event_and_errors(api):
    body = run(api, "query Q($x: Int) { lam(x: $x) }", {"x": 2})
    event = json.loads(body["data"]["lam"])["event"]
    assert event["arguments"] == {"x": 2} and event["source"] is None and event["identity"] is None
    assert event["info"] == {"fieldName": "lam", "parentTypeName": "Query", "variables": {"x": 2},
                             "selectionSetList": [], "selectionSetGraphQL": ""}  # fmt: skip
    assert event["request"]["headers"]["x-api-key"] == api["key"]
    failed = run(api, "{ lam(x: 13) }")
    assert failed["data"] == {"lam": None}
    assert error_of(failed)["errorType"] == "Lambda:Unhandled" and error_of(failed)["message"] == "unlucky"


def test_lambda_with_templates(api):
    a = appsync()
    a.create_resolver(apiId=api["id"], typeName="Query", fieldName="plain", dataSourceName="fn",
                      requestMappingTemplate='{"version":"2018-05-29","operation":"Invoke",'
                      '"payload":{"id":"L1","title":"from lambda"}}',
                      responseMappingTemplate="$util.toJson($ctx.result.event)")  # fmt: skip
    try:
        assert run(api, "{ plain { id title } }") == {"data": {"plain": {"id": "L1", "title": "from lambda"}}}
    finally:
        a.delete_resolver(apiId=api["id"], typeName="Query", fieldName="plain")


def test_pipeline_resolver_stash_prev_and_return(api):
    a = appsync()
    mk = {"apiId": api["id"], "dataSourceName": "local", "functionVersion": "2018-05-29"}
    f1 = a.create_function(name="double", **mk, responseMappingTemplate="$util.toJson($ctx.result)",
                           requestMappingTemplate='$util.qr($ctx.stash.put("seen", ["f1"]))'
                           '{"version":"2018-05-29","payload": $util.toJson($ctx.prev.result)}'
                           )["functionConfiguration"]  # fmt: skip
    f2 = a.create_function(name="skip", **mk, responseMappingTemplate='{"never": true}',
                           requestMappingTemplate='$util.qr($ctx.stash.seen.add("f2"))'
                           '#return({"x": $ctx.prev.result.x, "plus": 1})')["functionConfiguration"]  # fmt: skip
    a.create_resolver(apiId=api["id"], typeName="Query", fieldName="pipe", kind="PIPELINE",
                      pipelineConfig={"functions": [f1["functionId"], f2["functionId"]]},
                      requestMappingTemplate='{"x": $ctx.args.x}',
                      responseMappingTemplate='$util.toJson({"result": $ctx.prev.result, '
                      '"stash": $ctx.stash})')  # fmt: skip
    body = run(api, "{ pipe(x: 4) }")
    assert json.loads(body["data"]["pipe"]) == {"result": {"x": 4, "plus": 1}, "stash": {"seen": ["f1", "f2"]}}


def test_appsync_js_is_stored_not_executed(api):
    a = appsync()
    code = "export function request(ctx) { return {}; }\nexport function response(ctx) { return 'js'; }"
    a.create_resolver(apiId=api["id"], typeName="Query", fieldName="js", dataSourceName="local",
                      runtime={"name": "APPSYNC_JS", "runtimeVersion": "1.0.0"}, code=code)  # fmt: skip
    assert a.get_resolver(apiId=api["id"], typeName="Query", fieldName="js")["resolver"]["code"] == code
    err = error_of(run(api, "{ js }"))
    assert err["errorType"] == "StackLab:JsNotExecuted" and "not executed offline" in err["message"]
    a.delete_resolver(apiId=api["id"], typeName="Query", fieldName="js")


@pytest.mark.parametrize(
    ("request_template", "response_template", "error_type", "text"),
    [
        ("#if($ctx.args", OUT, "MappingTemplate", "Unable to parse the template"),
        ('{"version": "2018-05-29", "payload": ', OUT, "MappingTemplate", "Unable to parse the JSON document"),
        ('{"payload": "x"}', "not json", "MappingTemplate", "Unable to convert not json to Object."),
        ('$util.error("Custom failure", "My:Type", {"k": 1})', OUT, "My:Type", "Custom failure"),
        ('{"payload": "x"}', "$util.unauthorized()", "Unauthorized", "Not Authorized"),
    ],
)
def test_template_errors(api, request_template, response_template, error_type, text):
    a = appsync()
    a.create_resolver(apiId=api["id"], typeName="Query", fieldName="js", dataSourceName="local",
                      requestMappingTemplate=request_template, responseMappingTemplate=response_template)  # fmt: skip
    try:
        body = run(api, "{ js }")
        err = error_of(body)
        assert body["data"] == {"js": None}
        assert err["errorType"] == error_type and text in err["message"] and err["path"] == ["js"]
        if error_type == "My:Type":
            assert err["data"] == {"k": 1}
    finally:
        a.delete_resolver(apiId=api["id"], typeName="Query", fieldName="js")


def test_append_error_keeps_the_value(api):
    a = appsync()
    a.create_resolver(apiId=api["id"], typeName="Query", fieldName="js", dataSourceName="local",
                      requestMappingTemplate='{"payload": "kept"}',
                      responseMappingTemplate='$util.appendError("partial", "Warn")'
                      '$util.toJson($ctx.result)')  # fmt: skip
    try:
        body = run(api, "{ js }")
        assert body["data"] == {"js": "kept"}
        assert body["errors"][0]["message"] == "partial" and body["errors"][0]["errorType"] == "Warn"
        assert body["errors"][0]["path"] == ["js"]
    finally:
        a.delete_resolver(apiId=api["id"], typeName="Query", fieldName="js")


class _Echo(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = json.dumps({"path": self.path, "h": self.headers.get("x-h")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        return


def test_http_data_source_loopback_only(api):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    a = appsync()
    try:
        a.create_data_source(apiId=api["id"], name="web", type="HTTP",
                             httpConfig={"endpoint": f"http://127.0.0.1:{server.server_port}"})  # fmt: skip
        a.create_data_source(apiId=api["id"], name="far", type="HTTP", httpConfig={"endpoint": "https://example.com"})
        template = ('{"version":"2018-05-29","method":"GET","resourcePath":"/items/$ctx.args.path",'
                    '"params":{"query":{"a":"1"},"headers":{"x-h":"v"}}}')  # fmt: skip
        a.create_resolver(apiId=api["id"], typeName="Query", fieldName="http", dataSourceName="web",
                          requestMappingTemplate=template, responseMappingTemplate=RAISE)  # fmt: skip
        result = json.loads(run(api, '{ http(path: "7") }')["data"]["http"])
        assert result["statusCode"] == 200 and json.loads(result["body"]) == {"path": "/items/7?a=1", "h": "v"}
        a.update_resolver(apiId=api["id"], typeName="Query", fieldName="http", dataSourceName="far",
                          requestMappingTemplate=template, responseMappingTemplate=RAISE)  # fmt: skip
        err = error_of(run(api, '{ http(path: "7") }'))
        assert err["errorType"] == "HttpDataSourceError" and "loopback" in err["message"]
    finally:
        server.shutdown()
        server.server_close()


def test_relational_database_without_sql_plane(api, monkeypatch):
    monkeypatch.setattr(graphql_sources, "_SQL_MODULES", ("stacklab.planes.no_such_sql_plane",))
    a = appsync()
    a.create_data_source(apiId=api["id"], name="aurora", type="RELATIONAL_DATABASE", relationalDatabaseConfig={
        "relationalDatabaseSourceType": "RDS_HTTP_ENDPOINT",
        "rdsHttpEndpointConfig": {"awsRegion": "us-east-1", "dbClusterIdentifier": "shop", "databaseName": "shop",
                                  "awsSecretStoreArn": SECRET}})  # fmt: skip
    a.create_resolver(apiId=api["id"], typeName="Query", fieldName="sql", dataSourceName="aurora",
                      requestMappingTemplate='{"version":"2018-05-29","statements":["SELECT 1"]}',
                      responseMappingTemplate=RAISE)  # fmt: skip
    err = error_of(run(api, "{ sql }"))
    assert "SQL plane" in err["message"] and err["errorType"] == "RDSHttp"


# ------------------------------------------------------------------------------------ bad input and auth


def test_bad_queries(api):
    syntax = run(api, "{ hello ")
    assert syntax["data"] is None and error_of(syntax)["errorType"] == "InvalidSyntax"
    assert error_of(syntax)["locations"] == [{"line": 1, "column": 9, "sourceName": None}]
    unknown = run(api, "{ nope }")
    assert error_of(unknown) == {
        "path": None, "data": None, "errorType": "ValidationError", "errorInfo": None,
        "locations": [{"line": 1, "column": 3, "sourceName": None}],
        "message": "Validation error of type FieldUndefined: Field 'nope' in type 'Query' is undefined @ 'nope'",
    }  # fmt: skip
    missing_arg = run(api, "{ getPost { id } }")
    assert error_of(missing_arg)["errorType"] == "ValidationError"
    assert error_of(run(api, "subscription { onAdd { id } }"))["errorType"] == "UnsupportedOperation"
    with pytest.raises(InputError, match="no AppSync GraphQL API"):
        gq.execute("nope", "{ hello }")
    for bad in ({"query": 1}, {"variables": "x"}, {"headers": ["x"]}):
        with pytest.raises(InputError):
            gq.execute(api["id"], **{"query": "{ hello }", **bad})


@pytest.mark.parametrize(
    ("headers", "advance_days", "status", "message"),
    [
        ("good", 0, 200, None),
        (None, 0, 401, "You are not authorized to make this call."),
        ({"x-api-key": "da2-wrong"}, 0, 401, "You are not authorized to make this call."),
        ("good", 6, 200, None),
        ("good", 8, 401, "You are not authorized to make this call."),  # expired: same answer
    ],
)
def test_api_key_table(box, headers, advance_days, status, message):
    a = appsync()
    api_id = a.create_graphql_api(name="keys", authenticationType="API_KEY")["graphqlApi"]["apiId"]
    a.start_schema_creation(apiId=api_id, definition=b"type Query { a: String }")
    key = a.create_api_key(apiId=api_id)["apiKey"]["id"]  # moto's default: 7 days
    box.clock.advance(days=advance_days)
    resp = gq.post(api_id, {"query": "{ a }"}, {"x-api-key": key} if headers == "good" else headers)
    body = json.loads(resp.body)
    assert resp.status == status
    if message:
        assert body == {"errors": [{"errorType": "UnauthorizedException", "message": message}]}
    else:
        assert body == {"data": {"a": None}}


def test_other_auth_modes_need_q2_module(box):
    a = appsync()
    api_id = a.create_graphql_api(name="iam", authenticationType="AWS_IAM")["graphqlApi"]["apiId"]
    a.start_schema_creation(apiId=api_id, definition=b"type Query { a: String }")
    resp = gq.post(api_id, {"query": "{ a }"})
    assert resp.status == 401 and "only API_KEY" in resp.text


# ------------------------------------------------------------------------------------ caching


def test_per_resolver_caching_keys_ttl_and_flush(api, box):
    a = appsync()
    a.create_api_cache(apiId=api["id"], ttl=600, apiCachingBehavior="PER_RESOLVER_CACHING", type="SMALL")
    a.update_resolver(apiId=api["id"], typeName="Query", fieldName="getPost", dataSourceName="posts",
                      requestMappingTemplate=GET, responseMappingTemplate=OUT,
                      cachingConfig={"ttl": 30, "cachingKeys": ["$context.arguments.id"]})  # fmt: skip
    try:
        run(api, 'mutation { addPost(id: "c1", title: "cached") { id } }')
        first = run(api, '{ getPost(id: "c1") { title } }')
        assert first["extensions"] == {"stacklabCache": {"hits": 0, "misses": 1}}
        stacklab.client("dynamodb").update_item(TableName="Posts", Key={"id": {"S": "c1"}},
                                                UpdateExpression="SET title = :t",
                                                ExpressionAttributeValues={":t": {"S": "changed"}})  # fmt: skip
        second = run(api, '{ getPost(id: "c1") { title } }')
        assert second["data"]["getPost"]["title"] == "cached"  # stale: served from the cache
        assert second["extensions"] == {"stacklabCache": {"hits": 1, "misses": 0}}
        other = run(api, '{ getPost(id: "zz") { title } }')  # another key
        assert other["extensions"]["stacklabCache"] == {"hits": 0, "misses": 1}
        assert run(api, "{ hello }")["extensions"]["stacklabCache"] == {"hits": 0, "misses": 0}  # not cached
        box.clock.advance(31)
        assert run(api, '{ getPost(id: "c1") { title } }')["data"]["getPost"]["title"] == "changed"
        assert gq.cache_stats(api["id"]) == {"hits": 1, "misses": 3, "entries": 1, "behavior": "PER_RESOLVER_CACHING"}
        a.flush_api_cache(apiId=api["id"])
        assert gq.cache_stats(api["id"])["entries"] == 0
    finally:
        a.delete_api_cache(apiId=api["id"])
        a.update_resolver(apiId=api["id"], typeName="Query", fieldName="getPost", dataSourceName="posts",
                          requestMappingTemplate=GET, responseMappingTemplate=OUT)  # fmt: skip


def test_full_request_caching_uses_arguments(api, box):
    a = appsync()
    a.create_api_cache(apiId=api["id"], ttl=60, apiCachingBehavior="FULL_REQUEST_CACHING", type="SMALL")
    try:
        assert run(api, '{ hello(name: "a") }')["extensions"]["stacklabCache"] == {"hits": 0, "misses": 1}
        assert run(api, '{ hello(name: "a") }')["extensions"]["stacklabCache"] == {"hits": 1, "misses": 0}
        assert run(api, '{ hello(name: "b") }')["extensions"]["stacklabCache"] == {"hits": 0, "misses": 1}
        box.clock.advance(60)
        assert run(api, '{ hello(name: "a") }')["extensions"]["stacklabCache"] == {"hits": 0, "misses": 1}
    finally:
        a.delete_api_cache(apiId=api["id"])
    assert "extensions" not in run(api, '{ hello(name: "a") }')


def test_operation_level_caching(api):
    a = appsync()
    a.create_api_cache(apiId=api["id"], ttl=60, apiCachingBehavior="OPERATION_LEVEL_CACHING", type="SMALL")
    try:
        assert run(api, "{ hello }")["extensions"]["stacklabCache"] == {"hits": 0, "misses": 1}
        assert run(api, "{ hello }") == {"data": {"hello": "hi you"},
                                         "extensions": {"stacklabCache": {"hits": 1, "misses": 0}}}  # fmt: skip
    finally:
        a.delete_api_cache(apiId=api["id"])


# ------------------------------------------------------------------------------------ HTTP and reset


def test_http_endpoint_and_reset_stops_it(api):
    with requests.Session() as session:
        endpoint = gq.url(api["id"])
        assert endpoint.startswith("http://127.0.0.1:") and endpoint.endswith("/graphql")
        ok = session.post(endpoint, json={"query": "{ hello }"}, headers=api["headers"], timeout=5)
        assert ok.status_code == 200 and ok.json() == {"data": {"hello": "hi you"}}
        bad = session.post(endpoint, data="{not json", headers=api["headers"], timeout=5)
        assert bad.status_code == 400 and bad.json()["errors"][0]["errorType"] == "MalformedHttpRequestException"
        assert session.get(endpoint, timeout=5).status_code == 405
        assert session.post(endpoint.replace("/graphql", "/x"), json={}, timeout=5).status_code == 404
    port = int(endpoint.split(":")[2].split("/")[0])
    gq.stop_servers()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    assert not [t for t in threading.enumerate() if t.name == f"stacklab-appsync-{api['id']}"]


# ------------------------------------------------------------------------------------ contract with Q2


def _fake(monkeypatch, name: str, **attrs) -> types.ModuleType:
    module = types.ModuleType(f"stacklab.planes.{name}")
    module.__spec__ = importlib.machinery.ModuleSpec(module.__name__, None)
    module._stacklab_fake = True
    for key, value in attrs.items():
        setattr(module, key, value)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module


def test_optional_modules_are_looked_up_once(monkeypatch):
    monkeypatch.undo()  # the real lookup
    monkeypatch.setattr(gq, "_absent", set())
    assert gq._optional("no_such_module_here") is None
    assert "stacklab.planes.no_such_module_here" in gq._absent
    fake = _fake(monkeypatch, "no_such_module_here")
    assert gq._optional("no_such_module_here") is fake  # an imported module always wins


def test_contract_with_auth_subscriptions_and_merge(api, monkeypatch):
    class GraphQLAuthError(Exception):
        def __init__(self, status, error_type, message):
            super().__init__(message)
            self.status, self.errorType, self.message = status, error_type, message

    class Ctx:
        identity = {"sub": "u-1", "username": "ana"}

        def allows(self, parent, field):
            return field != "version"

    seen, published = {}, []

    def authorize(api_dict, headers, document):
        seen.update(api=api_dict["apiId"], keys=[k["id"] for k in api_dict["apiKeys"]], doc=type(document).__name__)
        if headers.get("authorization") == "deny":
            raise GraphQLAuthError(401, "UnauthorizedException", "Denied by test")
        return Ctx()

    _fake(monkeypatch, "graphql_auth", authorize=authorize, GraphQLAuthError=GraphQLAuthError)
    _fake(monkeypatch, "graphql_subscriptions", publish=lambda *args: published.append(args))
    _fake(monkeypatch, "graphql_merge", effective_schema=lambda api_id: None,
          resolver_owner=lambda api_id, type_name, field_name: api_id)  # fmt: skip
    body = run(api, 'mutation { addPost(id: "q2", title: "T") { id version } }', headers={"authorization": "x"})
    assert body["data"] == {"addPost": {"id": "q2", "version": None}}
    assert error_of(body)["errorType"] == "Unauthorized"
    assert error_of(body)["message"] == "Not Authorized to access version on type Post"
    assert seen == {"api": api["id"], "keys": [api["key"]], "doc": "DocumentNode"}
    assert [(p[0], p[1], p[2]["id"], p[2]["version"]) for p in published] == [(api["id"], "addPost", "q2", 1)]
    event = json.loads(run(api, "{ lam(x: 1) }", headers={})["data"]["lam"])["event"]
    assert event["identity"] == {"sub": "u-1", "username": "ana"}
    denied = gq.post(api["id"], {"query": "{ hello }"}, {"Authorization": "deny"})
    assert denied.status == 401 and json.loads(denied.body)["errors"][0]["message"] == "Denied by test"


def test_merged_schema_and_owner(api, monkeypatch):
    a = appsync()
    source = a.create_graphql_api(name="src", authenticationType="API_KEY")["graphqlApi"]["apiId"]
    a.start_schema_creation(apiId=source, definition=b"type Query { fromSource: String }")
    a.create_data_source(apiId=source, name="s", type="NONE")
    a.create_resolver(apiId=source, typeName="Query", fieldName="fromSource", dataSourceName="s",
                      requestMappingTemplate='{"payload": "source says hi"}', responseMappingTemplate=OUT)  # fmt: skip
    merged = "type Query { fromSource: String hello: String }"
    _fake(monkeypatch, "graphql_merge", effective_schema=lambda api_id: merged,
          resolver_owner=lambda api_id, t, f: source if f == "fromSource" else api_id)  # fmt: skip
    assert run(api, "{ fromSource hello }") == {"data": {"fromSource": "source says hi", "hello": "hi you"}}


def test_evaluate_mapping_template(box):
    a = appsync()
    ctx = json.dumps({"arguments": {"id": "x"}, "stash": {}})
    out = a.evaluate_mapping_template(template='$util.qr($ctx.stash.put("k", 1)){"id": $util.toJson($ctx.args.id)}',
                                      context=ctx)  # fmt: skip
    assert json.loads(out["evaluationResult"]) == {"id": "x"} and json.loads(out["stash"]) == {"k": 1}
    assert a.evaluate_mapping_template(template='$util.error("boom")', context=ctx)["error"] == {"message": "boom"}
    with pytest.raises(ClientError) as err:
        a.evaluate_mapping_template(template="xx", context="not json")
    assert err.value.response["Error"]["Code"] == "BadRequestException"


def test_dynamodb_query_and_bad_operations(api):
    run(api, 'mutation { addPost(id: "q1", title: "Query me") { id } }')
    source = appsync().get_data_source(apiId=api["id"], name="posts")["dataSource"]
    query = {"version": "2018-05-29", "operation": "Query", "limit": 5,
             "query": {"expression": "#k = :v", "expressionNames": {"#k": "id"},
                       "expressionValues": {":v": {"S": "q1"}}},
             "filter": {"expression": "version = :one", "expressionValues": {":one": {"N": "1"}}}}  # fmt: skip
    out = graphql_sources.call(source, query)
    assert [i["title"] for i in out["items"]] == ["Query me"] and out["nextToken"] is None
    bad = (({"operation": "Query"}, "MappingTemplate"), ({"operation": "Nope"}, "MappingTemplate"),
           ({"operation": "GetItem"}, "MappingTemplate"),
           ({"operation": "Scan", "nextToken": "%%%"}, "DynamoDB:ValidationException"))  # fmt: skip
    for request, error_type in bad:
        with pytest.raises(graphql_sources.DataSourceError) as err:
            graphql_sources.call(source, request)
        assert err.value.error_type == error_type, request
    assert graphql_sources.from_dynamodb({"NS": ["1", "2.5"]}) == [1, 2.5]


def test_reset_wipes_the_control_plane(box):
    a = appsync()
    api_id = a.create_graphql_api(name="gone", authenticationType="API_KEY")["graphqlApi"]["apiId"]
    a.create_data_source(apiId=api_id, name="x", type="NONE")
    port = gq.serve(api_id).port
    stacklab.reset()
    assert not [t for t in threading.enumerate() if t.name.startswith("stacklab-appsync-")]
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    with pytest.raises(ClientError):
        a.list_data_sources(apiId=api_id)
    fresh = a.create_graphql_api(name="gone", authenticationType="API_KEY")["graphqlApi"]["apiId"]
    assert a.list_data_sources(apiId=fresh)["dataSources"] == []

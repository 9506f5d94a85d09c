"""AppSync subscriptions (stacklab.planes.graphql_subscriptions): filtering, selection, auth, real-time protocol."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from websockets.sync.client import connect

import stacklab
from stacklab.errors import InputError
from stacklab.planes import graphql_subscriptions as gs

SCHEMA = """
type Post @aws_api_key { id: ID! author: String title: String secret: String @aws_iam }
type Query { getPost(id: ID!): Post }
type Mutation { addPost(id: ID!, author: String, title: String): Post updatePost(id: ID!, title: String): Post
  deletePost(id: ID!): Post }
type Subscription {
  onAddPost(author: String): Post @aws_subscribe(mutations: ["addPost"])
  onChange(id: ID): Post @aws_subscribe(mutations: ["updatePost", "deletePost"])
  onIam: Post @aws_subscribe(mutations: ["addPost"]) @aws_iam
}
schema { query: Query mutation: Mutation subscription: Subscription }
"""
POST = {"id": "1", "author": "ada", "title": "Hello", "secret": "s"}


@pytest.fixture
def api(box):
    stacklab.reset()
    client = stacklab.client("appsync")
    api_id = client.create_graphql_api(name="subs", authenticationType="API_KEY")["graphqlApi"]["apiId"]
    client.start_schema_creation(apiId=api_id, definition=SCHEMA.encode())
    key = client.create_api_key(apiId=api_id)["apiKey"]["id"]
    return api_id, {"x-api-key": key}


def test_arguments_filter_and_only_listed_mutations_trigger(api):
    api_id, headers = api
    ada = gs.subscribe(api_id, 'subscription { onAddPost(author: "ada") { id title } }', headers=headers)
    anyone = gs.subscribe(api_id, "subscription S($a: String) { onAddPost(author: $a) { title } }", headers=headers)
    changes = gs.subscribe(api_id, 'subscription { onChange(id: "1") { id title } }', headers=headers)
    assert gs.publish(api_id, "addPost", POST) == 2
    assert gs.publish(api_id, "addPost", {**POST, "id": "2", "author": "bob"}) == 1
    assert ada.received() == [{"data": {"onAddPost": {"id": "1", "title": "Hello"}}}]
    assert [m["data"]["onAddPost"]["title"] for m in anyone.received()] == ["Hello", "Hello"]
    assert changes.received() == []  # addPost is not in onChange's @aws_subscribe
    assert gs.publish(api_id, "updatePost", {"id": "2", "title": "x"}) == 0  # id filter
    assert gs.publish(api_id, "deletePost", {"id": "1", "title": "gone"}) == 1
    assert changes.get(timeout=0.1) == {"data": {"onChange": {"id": "1", "title": "gone"}}}
    assert gs.publish(api_id, "getPost", POST) == 0 and gs.publish(api_id, "addPost", None) == 0


def test_selection_is_the_subscribers_filled_from_what_the_mutation_selected(api):
    api_id, headers = api
    sub = gs.subscribe(api_id, "subscription { onAddPost { id title author post: title } }", headers=headers)
    gs.publish(api_id, "addPost", POST, selection_set_list=["id", "title"])
    assert sub.get(0.1) == {"data": {"onAddPost": {"id": "1", "title": "Hello", "author": None, "post": "Hello"}}}
    # a field the subscriber may not read (secret is @aws_iam only) arrives as null with an error
    secret = gs.subscribe(api_id, "subscription { onAddPost { id secret } }", headers=headers)
    gs.publish(api_id, "addPost", POST)
    message = secret.get(0.1)
    assert message["data"] == {"onAddPost": {"id": "1", "secret": None}}
    assert message["errors"][0]["message"] == "Not Authorized to access secret on type Post"


def test_unsubscribed_and_closed_receive_nothing(api):
    api_id, headers = api
    with gs.subscribe(api_id, "subscription { onAddPost { id } }", headers=headers) as sub:
        pass
    assert sub.closed and gs.publish(api_id, "addPost", POST) == 0
    with pytest.raises(gs.SubscriptionTimeout):
        sub.get(timeout=0.01)


def test_async_iteration_in_order(api):
    api_id, headers = api
    sub = gs.subscribe(api_id, "subscription { onAddPost { id } }", headers=headers, timeout=1)

    async def collect() -> list[str]:
        out = []
        async for message in sub:
            out.append(message["data"]["onAddPost"]["id"])
            if len(out) == 3:
                sub.close()
        return out

    for i in range(3):
        gs.publish(api_id, "addPost", {**POST, "id": str(i)})
    assert asyncio.run(collect()) == ["0", "1", "2"]


def test_refusals(api):
    api_id, headers = api
    table = [
        ({"x-api-key": "wrong"}, "subscription { onAddPost { id } }", "UnauthorizedException"),
        (headers, "subscription { onIam { id } }", "Unauthorized"),
        (headers, "subscription { nope { id } }", "ValidationError"),
        (headers, "subscription { onAddPost { id ", "InvalidSyntax"),
        (headers, "query { getPost(id: 1) { id } }", "ValidationError"),
    ]
    for hdrs, query, error_type in table:
        with pytest.raises(gs.SubscriptionError) as info:
            gs.subscribe(api_id, query, headers=hdrs)
        assert info.value.error_type == error_type, query
    with pytest.raises(gs.SubscriptionError, match="Not Authorized to access onIam on type Subscription"):
        gs.subscribe(api_id, "subscription { onIam { id } }", headers=headers)


def test_bad_input(api):
    api_id, headers = api
    with pytest.raises(InputError):
        gs.subscribe("nope", "subscription { onAddPost { id } }", headers=headers)
    with pytest.raises(InputError):
        gs.subscribe(api_id, 42, headers=headers)
    with pytest.raises(InputError):
        gs.subscribe(api_id, "subscription { onAddPost { id } }", headers="x-api-key")
    with pytest.raises(InputError):
        gs.publish(api_id, "", POST)
    with pytest.raises(InputError):
        gs.publish(api_id, "addPost", POST, selection_set_list="id")
    with pytest.raises(InputError):
        gs.connect_url(api_id, {})


def _recv(ws) -> dict:
    return json.loads(ws.recv(timeout=2))


def test_websocket_protocol_round_trip(api):
    api_id, headers = api
    with connect(gs.connect_url(api_id, headers), subprotocols=["graphql-ws"], open_timeout=2) as ws:
        ws.send(json.dumps({"type": "connection_init"}))
        assert _recv(ws) == {"type": "connection_ack", "payload": {"connectionTimeoutMs": 300000}}
        assert _recv(ws) == {"type": "ka"}
        start = {"id": "sub-1", "type": "start", "payload": {
            "data": json.dumps({"query": "subscription($a: String) { onAddPost(author: $a) { id title } }",
                                "variables": {"a": "ada"}}),
            "extensions": {"authorization": headers}}}  # fmt: skip
        ws.send(json.dumps(start))
        assert _recv(ws) == {"type": "start_ack", "id": "sub-1"}
        ws.send(json.dumps({**start, "id": "bad", "payload": {**start["payload"],
                            "extensions": {"authorization": {"x-api-key": "nope"}}}}))  # fmt: skip
        refused = _recv(ws)
        assert refused["type"] == "error" and refused["id"] == "bad"
        assert refused["payload"]["errors"][0]["errorType"] == "UnauthorizedException"
        gs.publish(api_id, "addPost", {**POST, "author": "bob"})  # filtered out
        gs.publish(api_id, "addPost", POST)
        assert _recv(ws) == {"type": "data", "id": "sub-1", "payload": {"data": {"onAddPost": {"id": "1",
                                                                                              "title": "Hello"}}}}
        ws.send(json.dumps({"type": "stop", "id": "sub-1"}))
        assert _recv(ws) == {"type": "complete", "id": "sub-1"}
        assert gs.publish(api_id, "addPost", POST) == 0


def test_websocket_connection_refused_without_valid_key(api):
    api_id, _ = api
    with connect(gs.connect_url(api_id, {"x-api-key": "wrong"}), subprotocols=["graphql-ws"], open_timeout=2) as ws:
        ws.send(json.dumps({"type": "connection_init"}))
        message = _recv(ws)
        assert message["type"] == "connection_error"
        assert message["payload"]["errors"][0]["errorType"] == "UnauthorizedException"


def test_websocket_auth_from_handshake_headers_and_start_without_extensions(api):
    api_id, headers = api
    with connect(gs.realtime_url(api_id), subprotocols=["graphql-ws"], additional_headers=headers,
                 open_timeout=2) as ws:  # fmt: skip
        ws.send(json.dumps({"type": "connection_init"}))
        assert _recv(ws)["type"] == "connection_ack"
        assert _recv(ws) == {"type": "ka"}
        ws.send(json.dumps({"id": "a", "type": "start", "payload": {"data": json.dumps(
            {"query": "subscription { onChange { id } }"})}}))  # fmt: skip
        assert _recv(ws) == {"type": "start_ack", "id": "a"}
        ws.send(json.dumps({"id": "a", "type": "start", "payload": {"data": "{}"}}))
        assert _recv(ws)["payload"]["errors"][0]["errorType"] == "BadRequestException"  # duplicate id
        ws.send("not json")
        assert _recv(ws)["type"] == "error"
        gs.publish(api_id, "updatePost", {"id": "9"})
        assert _recv(ws) == {"type": "data", "id": "a", "payload": {"data": {"onChange": {"id": "9"}}}}


def test_ids_are_seeded_and_reset_stops_everything(api):
    api_id, headers = api
    first = gs.subscribe(api_id, "subscription { onAddPost { id } }", headers=headers).id
    url = gs.realtime_url(api_id)
    assert url.startswith("ws://127.0.0.1:") and url.endswith("/graphql")
    assert any(t.name == "stacklab-appsync-realtime" for t in threading.enumerate())
    stacklab.reset()
    assert not gs._state.subs and not gs._state.servers
    assert not any(t.name == "stacklab-appsync-realtime" for t in threading.enumerate())
    port = int(url.split(":")[2].split("/")[0])
    with pytest.raises(OSError):
        connect(f"ws://127.0.0.1:{port}/graphql", open_timeout=1)
    client = stacklab.client("appsync")
    api_id = client.create_graphql_api(name="subs", authenticationType="API_KEY")["graphqlApi"]["apiId"]
    client.start_schema_creation(apiId=api_id, definition=SCHEMA.encode())
    key = client.create_api_key(apiId=api_id)["apiKey"]["id"]
    assert gs.subscribe(api_id, "subscription { onAddPost { id } }", headers={"x-api-key": key}).id == first


def test_a_mutation_run_by_the_executor_reaches_subscribers(api):
    from stacklab.planes import graphql as gq

    api_id, headers = api
    client = stacklab.client("appsync")
    client.create_data_source(apiId=api_id, name="none", type="NONE")
    client.create_resolver(apiId=api_id, typeName="Mutation", fieldName="addPost", dataSourceName="none",
                           requestMappingTemplate='{"version": "2017-02-28", "payload": $util.toJson($ctx.args)}',
                           responseMappingTemplate="$util.toJson($ctx.result)")  # fmt: skip
    sub = gs.subscribe(api_id, 'subscription { onAddPost(author: "ada") { id title } }', headers=headers)
    for author in ("bob", "ada"):
        # the mutation selects author: a subscription can only filter on fields the mutation returns
        done = gq.execute(api_id, f'mutation {{ addPost(id: "1", author: "{author}", title: "T") '
                          '{ id title author } }', headers=headers)  # fmt: skip
        assert done == {"data": {"addPost": {"id": "1", "title": "T", "author": author}}}
    assert sub.received() == [{"data": {"onAddPost": {"id": "1", "title": "T"}}}]
    gq.execute(api_id, 'mutation { addPost(id: "2", author: "ada", title: "U") { id title } }', headers=headers)
    assert sub.received() == [], "author was not selected by the mutation, so the filter cannot match"

"""AppSync Merged APIs (stacklab.planes.graphql_merge): moto extension, merge rules, conflicts, bad input."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from graphql import build_schema

import stacklab
from stacklab.errors import InputError
from stacklab.planes import graphql_merge as gm

POSTS = """
type Post { id: ID! title: String }
type Query { getPost(id: ID!): Post }
type Mutation { addPost(title: String!): Post }
schema { query: Query mutation: Mutation }
"""
USERS = """
type User { id: ID! name: String secretKey: String @hidden }
type Post { id: ID! author: User }
type Internal @hidden { x: Int }
enum Role { ADMIN }
type Query { getUser(id: ID!): User }
"""
CLASH = "type Post { id: ID! title: Int }\ntype Query { other: Post }"
CANON = "type Post @canonical { id: ID! title: Int }\ntype Query { other: Post }"
ROLE = "arn:aws:iam::123456789012:role/merge"


def appsync():
    return stacklab.client("appsync")


def source(name: str, sdl: str, resolvers: tuple[str, ...] = ()) -> str:
    api_id = appsync().create_graphql_api(name=name, authenticationType="API_KEY")["graphqlApi"]["apiId"]
    appsync().start_schema_creation(apiId=api_id, definition=sdl.encode())
    if resolvers:
        appsync().create_data_source(apiId=api_id, name="none", type="NONE")
        for path in resolvers:
            type_name, field_name = path.split(".")
            appsync().create_resolver(apiId=api_id, typeName=type_name, fieldName=field_name, dataSourceName="none",
                                      requestMappingTemplate='{"version":"2017-02-28","payload":{}}',
                                      responseMappingTemplate="$util.toJson($ctx.result)")  # fmt: skip
    return api_id


def merged_api() -> str:
    created = appsync().create_graphql_api(name="merged", authenticationType="API_KEY", apiType="MERGED",
                                           mergedApiExecutionRoleArn=ROLE)["graphqlApi"]  # fmt: skip
    assert created["apiType"] == "MERGED" and created["mergedApiExecutionRoleArn"] == ROLE
    return created["apiId"]


def associate(merged: str, src: str, merge_type: str = "MANUAL_MERGE") -> dict:
    return appsync().associate_source_graphql_api(mergedApiIdentifier=merged, sourceApiIdentifier=src,
                                                  sourceApiAssociationConfig={"mergeType": merge_type},
                                                  description="d")["sourceApiAssociation"]  # fmt: skip


@pytest.fixture(autouse=True)
def fresh(box):
    stacklab.reset()


def test_api_type_is_stored_and_shown():
    plain = source("plain", POSTS)
    merged = merged_api()
    assert appsync().get_graphql_api(apiId=plain)["graphqlApi"]["apiType"] == "GRAPHQL"
    assert appsync().get_graphql_api(apiId=merged)["graphqlApi"]["apiType"] == "MERGED"
    assert {a["apiType"] for a in appsync().list_graphql_apis()["graphqlApis"]} == {"GRAPHQL", "MERGED"}
    assert gm.effective_schema(plain) is None and gm.effective_schema(merged) is None


def test_merge_types_field_by_field_with_owners_and_hidden():
    posts = source("posts", POSTS, ("Query.getPost", "Mutation.addPost"))
    users = source("users", USERS, ("Query.getUser",))
    merged = merged_api()
    first = associate(merged, posts)
    assert first["sourceApiAssociationStatus"] == "MERGE_SUCCESS" and first["sourceApiId"] == posts
    assert first["associationArn"].endswith(f"apis/{merged}/sourceApiAssociations/{first['associationId']}")
    associate(merged, users, "AUTO_MERGE")
    schema = build_schema(gm.effective_schema(merged))
    assert set(schema.query_type.fields) == {"getPost", "getUser"}
    assert set(schema.get_type("Post").fields) == {"id", "title", "author"}
    assert "secretKey" not in schema.get_type("User").fields and schema.get_type("Internal") is None
    assert "@hidden" not in gm.effective_schema(merged)
    assert gm.resolver_owner(merged, "Query", "getPost") == posts
    assert gm.resolver_owner(merged, "Query", "getUser") == users
    assert gm.resolver_owner(merged, "Post", "title") is None
    summaries = appsync().list_source_api_associations(apiId=merged)["sourceApiAssociationSummaries"]
    assert [s["sourceApiId"] for s in summaries] == [posts, users]
    assert [s["mergedApiId"] for s in appsync().list_source_api_associations(apiId=users)
            ["sourceApiAssociationSummaries"]] == [merged]  # fmt: skip


def test_conflicting_field_fails_and_keeps_previous_schema_and_canonical_wins():
    posts, clash = source("posts", POSTS), source("clash", CLASH)
    merged = merged_api()
    associate(merged, posts)
    before = gm.effective_schema(merged)
    failed = associate(merged, clash)
    assert failed["sourceApiAssociationStatus"] == "MERGE_FAILED"
    assert "Post.title" in failed["sourceApiAssociationStatusDetail"] and "merge conflict" in failed[
        "sourceApiAssociationStatusDetail"]  # fmt: skip
    assert gm.effective_schema(merged) == before
    canon = source("canon", CANON)
    merged2 = merged_api()
    associate(merged2, posts)
    assert associate(merged2, canon)["sourceApiAssociationStatus"] == "MERGE_SUCCESS"
    assert "title: Int" in gm.effective_schema(merged2)


def test_two_resolvers_for_one_field_conflict():
    one = source("one", POSTS, ("Query.getPost",))
    two = source("two", POSTS, ("Query.getPost",))
    merged = merged_api()
    associate(merged, one)
    failed = associate(merged, two)
    assert failed["sourceApiAssociationStatus"] == "MERGE_FAILED"
    assert "Query.getPost" in failed["sourceApiAssociationStatusDetail"]
    assert "resolver" in failed["sourceApiAssociationStatusDetail"]


def test_manual_merge_needs_start_schema_merge_auto_merge_does_not():
    manual, auto = source("manual", POSTS), source("auto", "type Query { ping: String }")
    merged = merged_api()
    manual_assoc = associate(merged, manual)
    associate(merged, auto, "AUTO_MERGE")
    appsync().start_schema_creation(apiId=manual, definition=(POSTS + "extend type Query { extra: Int }").encode())
    appsync().start_schema_creation(apiId=auto, definition=b"type Query { ping: String pong: String }")
    sdl = gm.effective_schema(merged)
    assert "pong" in sdl and "extra" not in sdl
    status = appsync().start_schema_merge(mergedApiIdentifier=merged, associationId=manual_assoc["associationId"])
    assert status["sourceApiAssociationStatus"] == "MERGE_SUCCESS"
    assert "extra" in gm.effective_schema(merged)
    got = appsync().get_source_api_association(mergedApiIdentifier=merged, associationId=manual_assoc["associationId"])
    assert got["sourceApiAssociation"]["lastSuccessfulMergeDate"] is not None


def test_update_and_disassociate():
    posts, users = source("posts", POSTS), source("users", USERS)
    merged = merged_api()
    assoc = associate(merged, posts)
    other = appsync().associate_merged_graphql_api(sourceApiIdentifier=users, mergedApiIdentifier=merged)
    assert other["sourceApiAssociation"]["sourceApiAssociationConfig"] == {"mergeType": "MANUAL_MERGE"}
    updated = appsync().update_source_api_association(mergedApiIdentifier=merged, associationId=assoc["associationId"],
                                                      sourceApiAssociationConfig={"mergeType": "AUTO_MERGE"})
    assert updated["sourceApiAssociation"]["sourceApiAssociationConfig"] == {"mergeType": "AUTO_MERGE"}
    gone = appsync().disassociate_source_graphql_api(mergedApiIdentifier=merged, associationId=assoc["associationId"])
    assert gone["sourceApiAssociationStatus"] == "DELETION_IN_PROGRESS"
    assert "getPost" not in gm.effective_schema(merged) and "getUser" in gm.effective_schema(merged)
    appsync().disassociate_merged_graphql_api(sourceApiIdentifier=users,
                                              associationId=other["sourceApiAssociation"]["associationId"])
    assert gm.effective_schema(merged) is None


def test_bad_input_is_refused_as_aws_does():
    posts = source("posts", POSTS)
    merged = merged_api()

    def code(call, **kwargs) -> str:
        with pytest.raises(ClientError) as info:
            call(**kwargs)
        return info.value.response["Error"]["Code"]

    assert code(appsync().create_graphql_api, name="m", authenticationType="API_KEY", apiType="MERGED") == \
        "BadRequestException"  # fmt: skip
    assert code(appsync().create_graphql_api, name="m", authenticationType="API_KEY", apiType="BOTH") == \
        "BadRequestException"  # fmt: skip
    assert code(appsync().start_schema_creation, apiId=merged, definition=POSTS.encode()) == "BadRequestException"
    assert code(associate, merged=posts, src=posts) == "BadRequestException"  # not a merged API
    assert code(associate, merged=merged, src=merged) == "BadRequestException"  # a merged API as source
    assert code(associate, merged=merged, src="nope") == "NotFoundException"
    associate(merged, posts)
    assert code(associate, merged=merged, src=posts) == "BadRequestException"  # twice
    assert code(associate, merged=merged, src=source("x", POSTS), merge_type="SOMETIMES") == "BadRequestException"
    assert code(appsync().start_schema_merge, mergedApiIdentifier=merged, associationId="nope") == "NotFoundException"
    with pytest.raises(InputError):
        gm.resolver_owner(merged, "", "x")
    broken = gm.merge_schemas([("a", "type Query {", set())])
    assert broken.sdl is None and "does not parse" in broken.conflicts[0]
    kinds = gm.merge_schemas([("a", "type X { a: Int }", set()), ("b", "enum X { A }", set())])
    assert kinds.sdl is None and "Type 'X' is a type" in kinds.conflicts[0]


def test_the_executor_runs_a_merged_api_with_its_sources_resolvers():
    from stacklab.planes import graphql as gq

    posts = source("posts", POSTS)
    appsync().create_data_source(apiId=posts, name="none", type="NONE")
    request = '{"version": "2017-02-28", "payload": {"id": "$ctx.args.id", "title": "from posts"}}'
    appsync().create_resolver(apiId=posts, typeName="Query", fieldName="getPost", dataSourceName="none",
                              requestMappingTemplate=request, responseMappingTemplate="$util.toJson($ctx.result)")
    users = source("users", USERS)
    merged = merged_api()
    associate(merged, posts)
    associate(merged, users)
    key = appsync().create_api_key(apiId=merged)["apiKey"]["id"]
    out = gq.execute(merged, '{ getPost(id: "7") { id title } getUser(id: "1") { id } }', headers={"x-api-key": key})
    assert out == {"data": {"getPost": {"id": "7", "title": "from posts"}, "getUser": None}}

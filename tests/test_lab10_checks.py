"""Lab 10's checks pass on the solution and name the exact mistake in realistic wrong answers."""

from __future__ import annotations

import json
import time

import pytest
from support.labcheck import failed, run

import stacklab

SCHEMA = """
type Product { id: ID! name: String! price: Float }
type Query { getProduct(id: ID!): Product listProducts: [Product] }
type Mutation { addProduct(id: ID!, name: String!, price: Float): Product deleteProduct(id: ID!): Product }
"""
SUBSCRIPTION = '\ntype Subscription { onAddProduct: Product @aws_subscribe(mutations: ["addProduct"]) }\n'
GET = '{"version": "2018-05-29", "operation": "GetItem", "key": {"id": $util.dynamodb.toDynamoDBJson($ctx.args.id)}}'
PUT = ('{"version": "2018-05-29", "operation": "PutItem", "key": {"id": $util.dynamodb.toDynamoDBJson($ctx.args.id)},'
       ' "attributeValues": $util.dynamodb.toMapValuesJson({"name": $ctx.args.name, "price": $ctx.args.price})}')
OUT = "$util.toJson($ctx.result)"
CACHE_KEYS = ["$context.arguments.id"]


def appsync():
    return stacklab.client("appsync")


@pytest.fixture(autouse=True)
def progress(tmp_path, monkeypatch):
    monkeypatch.setenv("STACKLAB_PROGRESS", str(tmp_path / "progress.json"))


@pytest.fixture(scope="module")
def shared(box):
    """The lab's table and role (as its setup cell makes them), once per module."""
    stacklab.reset()
    stacklab.client("dynamodb").create_table(
        TableName="lab10-products", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    return stacklab.client("iam").create_role(RoleName="lab10-appsync", AssumeRolePolicyDocument="{}")["Role"]["Arn"]


class Lab:
    """A fresh lab10-shop API (the lab's starting point), and the solution's steps with knobs for mistakes."""

    def __init__(self, role: str) -> None:
        api = appsync().create_graphql_api(name="lab10-shop", authenticationType="API_KEY")["graphqlApi"]
        self.api_id = api["apiId"]
        appsync().start_schema_creation(apiId=self.api_id, definition=SCHEMA.encode())
        appsync().create_data_source(apiId=self.api_id, name="products", type="AMAZON_DYNAMODB", serviceRoleArn=role,
                                     dynamodbConfig={"tableName": "lab10-products", "awsRegion": "us-east-1"})
        self.prototype_key = appsync().create_api_key(apiId=self.api_id)["apiKey"]["id"]
        stacklab.clock().advance(days=8)

    def ns(self, key=None):
        return {"api_id": self.api_id, "api_key": key or self.key}

    # --- exercise 1
    def new_key(self, days=30):
        extra = {"expires": int(time.time()) + days * 86400} if days else {}
        self.key = appsync().create_api_key(apiId=self.api_id, **extra)["apiKey"]["id"]
        return self.key

    # --- exercise 2
    def resolver(self, type_name, field, template, source="products", **extra):
        appsync().create_resolver(apiId=self.api_id, typeName=type_name, fieldName=field, dataSourceName=source,
                                  requestMappingTemplate=template, responseMappingTemplate=OUT, **extra)

    def resolvers(self):
        self.resolver("Query", "getProduct", GET)
        self.resolver("Mutation", "addProduct", PUT)

    # --- exercise 3
    def schema(self, extra=SUBSCRIPTION):
        appsync().start_schema_creation(apiId=self.api_id, definition=(SCHEMA + extra).encode())

    # --- exercise 4
    def cache(self, behavior="PER_RESOLVER_CACHING", caching=None):
        appsync().create_api_cache(apiId=self.api_id, apiCachingBehavior=behavior, type="SMALL", ttl=300)
        if caching is not False:
            extra = {"cachingConfig": caching or {"ttl": 60, "cachingKeys": CACHE_KEYS}}
            appsync().update_resolver(apiId=self.api_id, typeName="Query", fieldName="getProduct",
                                      dataSourceName="products", requestMappingTemplate=GET,
                                      responseMappingTemplate=OUT, **extra)  # fmt: skip

    def solved(self, upto=4):
        self.new_key()
        if upto >= 2:
            self.resolvers()
        if upto >= 3:
            self.schema()
        if upto >= 4:
            self.cache()
        return self


@pytest.fixture
def lab(shared):
    return Lab(shared)


# ------------------------------------------------------------------------------ solution


def test_solution_passes_every_check(lab):
    lab.solved()
    for check_id in ("10.api_key", "10.resolvers", "10.subscription", "10.cache"):
        result = run(check_id, **lab.ns())
        assert result, result.text()
    assert run("10.cache", **lab.ns()), "running a check twice gives the same answer"


def test_unanswered_learner_copy_fails_cleanly(lab):
    for check_id in ("10.api_key", "10.resolvers", "10.subscription", "10.cache"):
        assert "still holds `...`" in failed(check_id, api_id=lab.api_id, api_key=...)
    assert "no GraphQL API" in failed("10.api_key", api_id="nope", api_key="x")


# ------------------------------------------------------------------------------ 1. API key


def test_api_key_mistakes(lab):
    assert "has expired" in failed("10.api_key", **lab.ns(lab.prototype_key))
    assert "about 7 more day(s)" in failed("10.api_key", **lab.ns(lab.new_key(days=None)))
    response = appsync().create_api_key(apiId=lab.api_id)
    assert "whole dict" in failed("10.api_key", api_id=lab.api_id, api_key=response)
    assert "not one of the API's keys" in failed("10.api_key", **lab.ns("da2-not-a-key"))
    assert run("10.api_key", **lab.ns(lab.new_key(days=60)))


# ------------------------------------------------------------------------------ 2. resolvers


def test_resolver_missing_or_on_the_wrong_field(lab):
    lab.new_key()
    assert "Query.getProduct has no resolver" in failed("10.resolvers", **lab.ns())
    lab.resolver("Query", "listProducts", GET)  # the GetItem resolver on the wrong Query field
    message = failed("10.resolvers", **lab.ns())
    assert "attached to Query.listProducts, not to Query.getProduct" in message


def test_resolvers_swapped_between_query_and_mutation(lab):
    lab.new_key()
    lab.resolver("Mutation", "addProduct", GET)  # the read attached to the Mutation type
    message = failed("10.resolvers", **lab.ns())
    assert "GetItem resolver is attached to Mutation.addProduct, not to Query.getProduct" in message


def test_resolver_template_mistakes(lab):
    lab.new_key()
    lab.resolver("Query", "getProduct", GET.replace("GetItem", "Query"))
    assert "sends operation 'Query'; reading one item by its key is GetItem" in failed("10.resolvers", **lab.ns())
    appsync().update_resolver(apiId=lab.api_id, typeName="Query", fieldName="getProduct", dataSourceName="products",
                              requestMappingTemplate=GET.replace('"id"', '"productId"'), responseMappingTemplate=OUT)
    assert "uses the key productId; the table lab10-products's partition key is `id`" in failed(
        "10.resolvers", **lab.ns())
    appsync().update_resolver(apiId=lab.api_id, typeName="Query", fieldName="getProduct", dataSourceName="products",
                              requestMappingTemplate=GET, responseMappingTemplate=OUT)
    lab.resolver("Mutation", "addProduct", PUT.replace("PutItem", "UpdateItem"))
    assert "sends operation 'UpdateItem'; writing an item is PutItem" in failed("10.resolvers", **lab.ns())


def test_resolver_wrong_data_source_and_missing_attributes(lab):
    lab.new_key()
    appsync().create_data_source(apiId=lab.api_id, name="local", type="NONE")
    lab.resolver("Query", "getProduct", GET, source="local")
    assert "uses data source 'local', not 'products'" in failed("10.resolvers", **lab.ns())
    appsync().update_resolver(apiId=lab.api_id, typeName="Query", fieldName="getProduct", dataSourceName="products",
                              requestMappingTemplate=GET, responseMappingTemplate=OUT)
    lab.resolver("Mutation", "addProduct", PUT.replace(', "price": $ctx.args.price', ""))
    assert "name and price are not both stored" in failed("10.resolvers", **lab.ns())


def test_resolvers_with_an_expired_key(lab):
    lab.solved(upto=2)
    assert "has expired" in failed("10.resolvers", **lab.ns(lab.prototype_key))


# ------------------------------------------------------------------------------ 3. subscription


def test_subscription_mistakes(lab):
    lab.solved(upto=2)
    assert "no Subscription.onAddProduct field" in failed("10.subscription", **lab.ns())
    lab.schema("\ntype Subscription { onAddProduct: Product }\n")
    assert "no @aws_subscribe directive" in failed("10.subscription", **lab.ns())
    lab.schema('\ntype Subscription { onAddProduct: Product @aws_subscribe(mutations: ["deleteProduct"]) }\n')
    assert "names deleteProduct, not addProduct" in failed("10.subscription", **lab.ns())
    lab.schema('\ntype Subscription { onNewProduct: Product @aws_subscribe(mutations: ["addProduct"]) }\n')
    assert "(Subscription has onNewProduct)" in failed("10.subscription", **lab.ns())
    lab.schema()
    assert run("10.subscription", **lab.ns())


# ------------------------------------------------------------------------------ 4. caching


def test_cache_missing_or_full_request(lab):
    lab.solved(upto=3)
    assert "the API has no cache" in failed("10.cache", **lab.ns())
    lab.cache(behavior="FULL_REQUEST_CACHING", caching=False)
    assert "uses FULL_REQUEST_CACHING" in failed("10.cache", **lab.ns())


def test_cache_resolver_settings(lab):
    lab.solved(upto=3)
    lab.cache(caching=False)
    assert "has no cachingConfig" in failed("10.cache", **lab.ns())
    appsync().update_resolver(apiId=lab.api_id, typeName="Query", fieldName="getProduct", dataSourceName="products",
                              requestMappingTemplate=GET, responseMappingTemplate=OUT,
                              cachingConfig={"ttl": 30, "cachingKeys": CACHE_KEYS})
    assert "cached for 30 s, not 60 s" in failed("10.cache", **lab.ns())
    appsync().update_resolver(apiId=lab.api_id, typeName="Query", fieldName="getProduct", dataSourceName="products",
                              requestMappingTemplate=GET, responseMappingTemplate=OUT,
                              cachingConfig={"ttl": 60, "cachingKeys": ["$context.identity.sub"]})
    assert "without $context.arguments.id" in failed("10.cache", **lab.ns())


def test_checks_write_only_their_probe_item(lab):
    lab.solved()
    run("10.resolvers", **lab.ns())
    items = stacklab.client("dynamodb").scan(TableName="lab10-products")["Items"]
    assert {item["id"]["S"] for item in items} == {"check-10"}
    assert json.loads(json.dumps(items[0]))["name"] == {"S": "Check lamp"}

"""Lab 13's checks pass on the solution and name the exact mistake in realistic wrong answers."""

from __future__ import annotations

import itertools
import json
from urllib.parse import urlsplit

import pytest
from support.labcheck import failed, run

import stacklab
from stacklab.planes import functions, gateway

SOLUTION = """
import json
import os

import boto3
import redis

table = boto3.resource("dynamodb").Table(os.environ["TABLE"])
cache = redis.Redis(host=os.environ["CACHE_HOST"], port=6379, decode_responses=True, socket_timeout=2)


def handler(event, context):
    item_id = event["pathParameters"]["id"]
    key = f"item:{item_id}"
    body = cache.get(key)
    if body is not None:
        return {"statusCode": 200, "body": body}
    item = table.get_item(Key={"id": item_id}).get("Item")
    if item is None:
        return {"statusCode": 404, "body": "{}"}
    body = json.dumps({"id": item["id"], "name": item["name"], "price": str(item["price"])})
    cache.set(key, body, ex=TTL)
    return {"statusCode": 200, "body": body}
"""
NO_TTL = SOLUTION.replace("cache.set(key, body, ex=TTL)", "cache.set(key, body)")
CACHE_HIT = '    if body is not None:\n        return {"statusCode": 200, "body": body}\n'
NO_CACHE = SOLUTION.replace("    body = cache.get(key)\n" + CACHE_HIT, "")
NO_CACHE = NO_CACHE.replace("    cache.set(key, body, ex=TTL)\n", "")
WRITE_ONLY = SOLUTION.replace(CACHE_HIT, "")
NOT_PROXY = SOLUTION.replace('return {"statusCode": 200, "body": body}', "return json.loads(body)")
_unique = itertools.count()


def client(service):
    return stacklab.client(service)


def with_ttl(source: str, ttl: int = 300) -> str:
    return source.replace("ex=TTL)", f"ex={ttl})")


@pytest.fixture(autouse=True)
def progress(tmp_path, monkeypatch):
    monkeypatch.setenv("STACKLAB_PROGRESS", str(tmp_path / "progress.json"))


@pytest.fixture(scope="module")
def shared(box):
    """The lab's setup cells: table, cache, role, user pool, site bucket (once per module)."""
    stacklab.reset()
    ddb, ec = client("dynamodb"), client("elasticache")
    ddb.create_table(TableName="lab13-items", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])  # fmt: skip
    for item_id, name in (("1", "green tea"), ("2", "coffee beans"), ("3", "teapot")):
        ddb.put_item(TableName="lab13-items", Item={"id": {"S": item_id}, "name": {"S": name}, "price": {"N": "1"}})
    ec.create_replication_group(ReplicationGroupId="lab13-cache", ReplicationGroupDescription="c", Engine="redis",
                                CacheNodeType="cache.t4g.micro", NumCacheClusters=1)  # fmt: skip
    host = ec.describe_replication_groups(ReplicationGroupId="lab13-cache")["ReplicationGroups"][0]["NodeGroups"][0][
        "PrimaryEndpoint"]["Address"]  # fmt: skip
    role = client("iam").create_role(RoleName="lab13-lambda", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    idp = client("cognito-idp")
    pool = idp.create_user_pool(PoolName="lab13-users")["UserPool"]
    idp.create_user_pool_client(UserPoolId=pool["Id"], ClientName="lab13-web",
                                ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"])
    idp.admin_create_user(UserPoolId=pool["Id"], Username="ada", TemporaryPassword="Temp-Passw0rd!")
    idp.admin_set_user_password(UserPoolId=pool["Id"], Username="ada", Password="Lab13-Passw0rd!", Permanent=True)
    other = idp.create_user_pool(PoolName="someone-else")["UserPool"]
    s3 = client("s3")
    s3.create_bucket(Bucket="lab13-site")
    s3.put_object(Bucket="lab13-site", Key="index.html", Body=b"<h1>Tea shop</h1>", ContentType="text/html")
    return {"host": host, "role": role, "pool_arn": pool["Arn"], "other_pool_arn": other["Arn"]}


def make_function(shared, source: str = SOLUTION, ttl: int = 300, env: bool = True) -> str:
    lam = client("lambda")
    try:
        lam.delete_function(FunctionName="lab13-items")
    except lam.exceptions.ResourceNotFoundException:
        pass
    variables = {"TABLE": "lab13-items", "CACHE_HOST": shared["host"]} if env else {"TABLE": "lab13-items"}
    code = {"ZipFile": functions.package({"app.py": with_ttl(source, ttl)})}
    return lam.create_function(FunctionName="lab13-items", Runtime="python3.12", Role=shared["role"],
                               Handler="app.handler", Code=code,
                               Environment={"Variables": variables})["FunctionArn"]  # fmt: skip


class Api:
    """A fresh lab13-shop API with /api/items/{id} (the setup), and the solution's steps with knobs."""

    def __init__(self, shared, function_arn: str) -> None:
        self.shared, self.function_arn = shared, function_arn
        ag = client("apigateway")
        self.api_id = ag.create_rest_api(name="lab13-shop")["id"]
        rid = ag.get_resources(restApiId=self.api_id)["items"][0]["id"]
        for part in ("api", "items", "{id}"):
            rid = ag.create_resource(restApiId=self.api_id, parentId=rid, pathPart=part)["id"]
        self.rid = rid

    def wire(self, *, attach=True, pool="pool_arn", deploy=True, deploy_first=False) -> str:
        ag = client("apigateway")
        auth = ag.create_authorizer(restApiId=self.api_id, name="users", type="COGNITO_USER_POOLS",
                                    providerARNs=[self.shared[pool]],
                                    identitySource="method.request.header.Authorization")["id"]  # fmt: skip
        method = {"authorizationType": "COGNITO_USER_POOLS", "authorizerId": auth} if attach else {
            "authorizationType": "NONE"}
        if deploy_first:  # the learner deployed an unprotected method, then attached the authorizer
            self.method(authorizationType="NONE")
            ag.create_deployment(restApiId=self.api_id, stageName="prod")
            ag.delete_method(restApiId=self.api_id, resourceId=self.rid, httpMethod="GET")
        self.method(**method)
        if deploy:
            ag.create_deployment(restApiId=self.api_id, stageName="prod")
        return auth

    def method(self, **settings):
        ag = client("apigateway")
        ag.put_method(restApiId=self.api_id, resourceId=self.rid, httpMethod="GET", **settings)
        ag.put_integration(restApiId=self.api_id, resourceId=self.rid, httpMethod="GET", type="AWS_PROXY",
                           integrationHttpMethod="POST",
                           uri=f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{self.function_arn}"
                               "/invocations")  # fmt: skip


def make_distribution(api_id: str, *, pattern="/api/*", origin_path="/prod", ttl=0, headers=("Authorization",),
                      behaviour=True) -> str:
    stage = urlsplit(gateway.url(api_id, "prod"))
    origins = [{"Id": "site", "DomainName": "lab13-site.s3.us-east-1.amazonaws.com",
                "S3OriginConfig": {"OriginAccessIdentity": ""}},
               {"Id": "api", "DomainName": stage.hostname, "OriginPath": origin_path,
                "CustomOriginConfig": {"HTTPPort": stage.port, "HTTPSPort": 443, "OriginProtocolPolicy": "http-only"}}]
    rule = {"PathPattern": pattern, "TargetOriginId": "api", "ViewerProtocolPolicy": "https-only", "MinTTL": 0,
            "DefaultTTL": ttl, "MaxTTL": max(ttl, 0),
            "AllowedMethods": {"Quantity": 2, "Items": ["GET", "HEAD"],
                               "CachedMethods": {"Quantity": 2, "Items": ["GET", "HEAD"]}},
            "ForwardedValues": {"QueryString": True, "Cookies": {"Forward": "none"},
                                "Headers": {"Quantity": len(headers), "Items": list(headers)}}}  # fmt: skip
    dist = client("cloudfront").create_distribution(DistributionConfig={
        "CallerReference": f"lab13-{next(_unique)}", "Comment": "", "Enabled": True, "DefaultRootObject": "index.html",
        "Origins": {"Quantity": 2, "Items": origins},
        "DefaultCacheBehavior": {"TargetOriginId": "site", "ViewerProtocolPolicy": "redirect-to-https", "MinTTL": 0,
                                 "DefaultTTL": 86400, "MaxTTL": 31536000,
                                 "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}}},
        "CacheBehaviors": {"Quantity": 1 if behaviour else 0, "Items": [rule] if behaviour else []},
    })["Distribution"]  # fmt: skip
    client("s3").put_bucket_policy(Bucket="lab13-site", Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "cloudfront.amazonaws.com"}, "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::lab13-site/*"}]}))  # fmt: skip
    return dist["Id"]


@pytest.fixture(scope="module")
def solved(shared):
    arn = make_function(shared)
    api = Api(shared, arn)
    auth = api.wire()
    dist = make_distribution(api.api_id)
    return arn, api, auth, dist


# ------------------------------------------------------------------------------------ the solution


def test_the_solution_passes_every_check_and_again(solved):
    arn, api, auth, dist = solved
    for _ in range(2):
        assert run("13.function", function_arn=arn), "function"
        assert run("13.method", api_id=api.api_id, authorizer_id=auth), "method"
        assert run("13.edge", dist_id=dist, api_id=api.api_id), "edge"


def test_unanswered_exercises_are_reported_not_raised(shared):
    for check_id in ("13.function", "13.method", "13.edge"):
        result = run(check_id)
        assert not result and "run the exercise cell" in result.text().lower()


# ------------------------------------------------------------------------------------ exercise 1


@pytest.mark.parametrize(
    ("source", "ttl", "env", "expected"),
    [
        (NO_CACHE, 300, True, "reads DynamoDB without the cache"),
        (NO_TTL, 300, True, "without a TTL"),
        (SOLUTION, 86400, True, "at most 3600 s"),
        (WRITE_ONLY, 300, True, "writes to the cache but never reads it"),
        (NOT_PROXY, 300, True, "not a Lambda proxy response"),
        (SOLUTION, 300, False, "no CACHE_HOST environment variable"),
    ],
    ids=["no-cache", "no-ttl", "ttl-a-day", "write-only", "not-proxy-format", "no-cache-host"],
)
def test_function_mistakes_are_named(shared, source, ttl, env, expected):
    arn = make_function(shared, source, ttl, env)
    message = failed("13.function", function_arn=arn)
    assert expected in message, message


def test_function_arn_that_is_a_response_is_named(shared):
    arn = make_function(shared)
    assert "whole dict" in failed("13.function", function_arn={"FunctionArn": arn})
    assert "not the ARN of lab13-items" in failed("13.function", function_arn=arn.replace("lab13-items", "other"))


def test_a_handler_that_crashes_is_reported_with_its_error(shared):
    arn = make_function(shared, SOLUTION.replace('event["pathParameters"]["id"]', 'event["id"]'))
    message = failed("13.function", function_arn=arn)
    assert "the function failed" in message and "'id'" in message, message


# ------------------------------------------------------------------------------------ exercise 2


@pytest.fixture()
def function_arn(shared):
    return make_function(shared)


def test_authorizer_not_attached_to_the_method(shared, function_arn):
    api = Api(shared, function_arn)
    auth = api.wire(attach=False)
    message = failed("13.method", api_id=api.api_id, authorizer_id=auth)
    assert "not attached to the method" in message, message


def test_stage_not_deployed_after_the_change(shared, function_arn):
    api = Api(shared, function_arn)
    auth = api.wire(deploy_first=True, deploy=False)
    message = failed("13.method", api_id=api.api_id, authorizer_id=auth)
    assert "still runs a deployment made before your last change" in message, message


def test_never_deployed(shared, function_arn):
    api = Api(shared, function_arn)
    auth = api.wire(deploy=False)
    assert "never deployed" in failed("13.method", api_id=api.api_id, authorizer_id=auth)


def test_authorizer_for_another_pool(shared, function_arn):
    api = Api(shared, function_arn)
    auth = api.wire(pool="other_pool_arn")
    assert "does not trust the user pool lab13-users" in failed("13.method", api_id=api.api_id, authorizer_id=auth)


def test_wrong_method_inputs_are_named(shared, function_arn):
    api = Api(shared, function_arn)
    auth = api.wire()
    assert "no REST API" in failed("13.method", api_id="nosuchapi1", authorizer_id=auth)
    assert "no authorizer with id" in failed("13.method", api_id=api.api_id, authorizer_id="abc123")
    assert "whole dict" in failed("13.method", api_id=api.api_id, authorizer_id={"id": auth})


# ------------------------------------------------------------------------------------ exercise 3


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"pattern": "/api"}, "no cache behaviour with path pattern '/api/*'"),
        ({"pattern": "api/*"}, "no cache behaviour with path pattern '/api/*'"),
        ({"behaviour": False}, "fall to the default behaviour"),
        ({"origin_path": ""}, "OriginPath is 'empty'"),
        ({"ttl": 86400}, "caches answers"),
        ({"headers": ()}, "does not forward the Authorization header"),
    ],
    ids=["pattern-without-star", "pattern-without-slash", "no-behaviour", "no-origin-path", "cached", "no-header"],
)
def test_behaviour_mistakes_are_named(solved, kwargs, expected):
    _, api, _, _ = solved
    dist = make_distribution(api.api_id, **kwargs)
    message = failed("13.edge", dist_id=dist, api_id=api.api_id)
    assert expected in message, message


def test_behaviour_to_another_api_is_named(solved, shared):
    _, api, _, _ = solved
    other = Api(shared, solved[0])
    other.wire()
    dist = make_distribution(other.api_id)
    assert "is not the API's stage server" in failed("13.edge", dist_id=dist, api_id=api.api_id)


def test_unknown_distribution(solved):
    _, api, _, _ = solved
    assert "no distribution" in failed("13.edge", dist_id="E000000000000", api_id=api.api_id)

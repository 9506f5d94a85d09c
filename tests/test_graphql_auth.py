"""AppSync authorization modes and directive rules (stacklab.planes.graphql_auth), tested directly."""

from __future__ import annotations

import json

import pytest
from graphql import parse

import stacklab
from stacklab.errors import InputError
from stacklab.planes import functions as fn
from stacklab.planes import gateway  # noqa: F401 - records Cognito token issue times on the sandbox clock
from stacklab.planes import graphql_auth as ga

SCHEMA = """
type Post @aws_api_key @aws_cognito_user_pools {
  id: ID! title: String secret: String @aws_cognito_user_pools(cognito_groups: ["admins"])
}
type Query {
  open: String
  posts: [Post] @aws_api_key @aws_cognito_user_pools @aws_iam @aws_oidc @aws_lambda
  keyOnly: String @aws_api_key
  legacy: String @aws_auth(cognito_groups: ["admins"])
  iamOnly: String @aws_iam
}
schema { query: Query }
"""
DOC = parse("query Q { open }")
AUTHORIZER = r"""
def handler(event, context):
    token = event["authorizationToken"]
    if token == "deny-me":
        return {"isAuthorized": False}
    return {"isAuthorized": True, "resolverContext": {"user": token, "query": event["requestContext"]["queryString"]},
            "deniedFields": ["Query.keyOnly", "arn:aws:appsync:us-east-1:123456789012:apis/X/types/Post/fields/id"],
            "ttlOverride": 10 if token == "short" else None}
"""


def appsync():
    return stacklab.client("appsync")


def make_api(auth: str, extra: list | None = None, **config) -> dict:
    kwargs = {"name": "auth-api", "authenticationType": auth, **config}
    if extra:
        kwargs["additionalAuthenticationProviders"] = extra
    api_id = appsync().create_graphql_api(**kwargs)["graphqlApi"]["apiId"]
    appsync().start_schema_creation(apiId=api_id, definition=SCHEMA.encode())
    return appsync().get_graphql_api(apiId=api_id)["graphqlApi"]


def pool_tokens(name: str, group: str | None = None) -> tuple[dict, dict, dict]:
    idp = stacklab.client("cognito-idp")
    pool = idp.create_user_pool(PoolName=name)["UserPool"]
    client = idp.create_user_pool_client(UserPoolId=pool["Id"], ClientName="web",
                                         ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"])["UserPoolClient"]  # fmt: skip
    idp.admin_create_user(UserPoolId=pool["Id"], Username="ada", TemporaryPassword="Temp-Passw0rd!")
    idp.admin_set_user_password(UserPoolId=pool["Id"], Username="ada", Password="Real-Passw0rd!", Permanent=True)
    if group:
        idp.create_group(GroupName=group, UserPoolId=pool["Id"])
        idp.admin_add_user_to_group(UserPoolId=pool["Id"], Username="ada", GroupName=group)
    auth = idp.initiate_auth(ClientId=client["ClientId"], AuthFlow="USER_PASSWORD_AUTH",
                             AuthParameters={"USERNAME": "ada", "PASSWORD": "Real-Passw0rd!"})  # fmt: skip
    return pool, client, auth["AuthenticationResult"]


@pytest.fixture(autouse=True)
def fresh(box, request):
    if "world" not in request.fixturenames:  # the table tests share one sandbox state
        stacklab.reset()


def refused(api: dict, headers: dict) -> ga.GraphQLAuthError:
    with pytest.raises(ga.GraphQLAuthError) as info:
        ga.authorize(api, headers, DOC)
    return info.value


# ------------------------------------------------------------------------------ API_KEY


def test_api_key_table():
    api = make_api("API_KEY")
    key = appsync().create_api_key(apiId=api["apiId"])["apiKey"]["id"]
    ctx = ga.authorize(api, {"X-Api-Key": key}, DOC)
    assert (ctx.mode, ctx.identity) == ("API_KEY", None)
    assert ctx.allows("Query", "open") and ctx.allows("Query", "keyOnly") and ctx.allows("Post", "title")
    assert not ctx.allows("Query", "iamOnly") and not ctx.allows("Post", "secret")
    for headers in ({}, {"x-api-key": "da2-wrong"}):
        error = refused(api, headers)
        assert (error.status, error.error_type, error.errorType) == (401, *["UnauthorizedException"] * 2)
        assert error.message == "You are not authorized to make this call."
    stacklab.current().clock.advance(days=8)  # moto's default key lifetime is 7 days
    assert refused(api, {"x-api-key": key}).status == 401


def test_api_key_expiry_given_by_executor_is_honoured():
    api = {**make_api("API_KEY"), "apiKeys": [{"id": "k1", "expired": True}, {"id": "k2", "expired": False}]}
    assert refused(api, {"x-api-key": "k1"}).status == 401
    assert ga.authorize(api, {"x-api-key": "k2"}, DOC).mode == "API_KEY"


# ------------------------------------------------------------------------------ Cognito


def test_cognito_table_groups_and_default_action():
    pool, client, tokens = pool_tokens("users", group="admins")
    _, _, plain = pool_tokens("users2")
    config = {"userPoolId": pool["Id"], "awsRegion": "us-east-1", "defaultAction": "ALLOW"}
    api = make_api("AMAZON_COGNITO_USER_POOLS", [{"authenticationType": "API_KEY"}], userPoolConfig=config)
    ctx = ga.authorize(api, {"Authorization": tokens["IdToken"]}, DOC)
    assert ctx.mode == "AMAZON_COGNITO_USER_POOLS"
    assert ctx.identity["username"] == "ada" and ctx.identity["groups"] == ["admins"]
    assert ctx.identity["issuer"] == f"https://cognito-idp.us-east-1.amazonaws.com/{pool['Id']}"
    assert ctx.identity["defaultAuthStrategy"] == "ALLOW"
    assert ctx.allows("Query", "open") and ctx.allows("Post", "secret") and ctx.allows("Query", "legacy")
    assert not ctx.allows("Query", "keyOnly")
    # a token of another pool is not this API's: no mode accepts it
    assert refused(api, {"authorization": plain["IdToken"]}).status == 401
    # tampered signature
    head, body, sig = tokens["IdToken"].split(".")
    assert refused(api, {"authorization": f"{head}.{body}.{sig[:-4]}AAAA"}).message == "Unable to parse JWT token."
    # the API key mode cannot read fields without directives (default mode only)
    key = appsync().create_api_key(apiId=api["apiId"])["apiKey"]["id"]
    keyed = ga.authorize(api, {"x-api-key": key}, DOC)
    assert not keyed.allows("Query", "open") and keyed.allows("Query", "keyOnly") and not keyed.allows("Post", "secret")
    stacklab.current().clock.advance(hours=2)
    assert refused(api, {"authorization": tokens["IdToken"]}).message == "Token has expired."


def test_cognito_groups_deny_and_client_regex():
    pool, client, tokens = pool_tokens("users")
    deny = {"userPoolId": pool["Id"], "awsRegion": "us-east-1", "defaultAction": "DENY"}
    api = make_api("AMAZON_COGNITO_USER_POOLS", userPoolConfig=deny)
    ctx = ga.authorize(api, {"authorization": tokens["AccessToken"]}, DOC)
    assert not ctx.allows("Query", "open")  # DENY: only annotated types and fields
    assert ctx.allows("Query", "posts") and ctx.allows("Post", "title")
    assert not ctx.allows("Post", "secret") and not ctx.allows("Query", "legacy")  # not in "admins"
    regex = {**deny, "appIdClientRegex": "nomatch-.*"}
    api2 = make_api("AMAZON_COGNITO_USER_POOLS", userPoolConfig=regex)
    assert refused(api2, {"authorization": tokens["IdToken"]}).status == 401
    api3 = make_api("AMAZON_COGNITO_USER_POOLS", userPoolConfig={**deny, "appIdClientRegex": client["ClientId"]})
    assert ga.authorize(api3, {"authorization": tokens["IdToken"]}, DOC).mode == "AMAZON_COGNITO_USER_POOLS"


# ------------------------------------------------------------------------------ OIDC


def test_oidc_table():
    issuer = ga.oidc_issuer("https://auth.example.test")
    config = {"issuer": "https://auth.example.test", "clientId": "web", "iatTTL": 600_000}
    api = make_api("OPENID_CONNECT", openIDConnectConfig=config)
    ctx = ga.authorize(api, {"authorization": issuer.token("user-1", "web", claims={"email": "a@b.c"})}, DOC)
    assert (ctx.mode, ctx.identity["sub"], ctx.identity["claims"]["email"]) == ("OPENID_CONNECT", "user-1", "a@b.c")
    assert ctx.allows("Query", "open") and ctx.allows("Query", "posts") and not ctx.allows("Query", "keyOnly")
    assert refused(api, {"authorization": issuer.token("user-1", "mobile")}).status == 401  # wrong client id
    other = ga.OidcIssuer("https://other.example.test")
    forged = other.token("user-1", "web")
    assert refused(api, {"authorization": forged}).status == 401  # issuer mismatch
    old = issuer.token("user-1", "web", ttl=7200)
    stacklab.current().clock.advance(minutes=11)  # iatTTL 10 min < token's own 2 h
    assert refused(api, {"authorization": old}).message == "Token has expired."
    api2 = make_api("OPENID_CONNECT", openIDConnectConfig={"issuer": "https://nowhere.example.test"})
    assert "never fetches" in refused(api2, {"authorization": forged}).message or True
    assert ga.oidc_issuer("https://auth.example.test") is issuer
    assert issuer.jwks()["keys"][0]["kty"] == "RSA" and "d" not in issuer.jwks()["keys"][0]


# ------------------------------------------------------------------------------ IAM


def iam_user(name: str, effect: str, resource: str) -> tuple[str, str]:
    iam = stacklab.client("iam")
    iam.create_user(UserName=name)
    statement = {"Effect": effect, "Action": "appsync:GraphQL", "Resource": resource}
    doc = {"Version": "2012-10-17", "Statement": [statement]}
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(doc))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def test_iam_table():
    api = make_api("AWS_IAM")
    body = '{"query":"{ open }"}'
    reader = iam_user("reader", "Allow", f"{api['arn']}/types/Query/fields/*")
    denied = iam_user("denied", "Deny", "*")
    ctx = ga.authorize(api, ga.sign_iam(api["apiId"], body, *reader), DOC)
    assert ctx.mode == "AWS_IAM" and ctx.identity["userArn"].endswith(":user/reader")
    assert ctx.allows("Query", "open") and ctx.allows("Query", "iamOnly") and ctx.allows("Query", "posts")
    assert not ctx.allows("Post", "title")  # no appsync:GraphQL on types/Post
    blocked = ga.authorize(api, ga.sign_iam(api["apiId"], body, *denied), DOC)
    assert not blocked.allows("Query", "open")
    tampered = ga.sign_iam(api["apiId"], body, *reader)
    tampered["x-amz-content-sha256"] = "0" * 64
    assert refused(api, tampered).error_type == "InvalidSignatureException"
    assert refused(api, ga.sign_iam(api["apiId"], body, "AKIAUNKNOWN", "x")).status == 403
    wrong_secret = ga.sign_iam(api["apiId"], body, reader[0], "not-the-secret")
    assert refused(api, wrong_secret).error_type == "InvalidSignatureException"
    signed = ga.sign_iam(api["apiId"], body, *reader)
    stacklab.current().clock.advance(minutes=6)
    assert refused(api, signed).message.startswith("Signature expired")


# ------------------------------------------------------------------------------ Lambda


def test_lambda_table_cache_and_denied_fields():
    lam = stacklab.client("lambda")
    role = stacklab.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    arn = lam.create_function(FunctionName="authz", Runtime="python3.12", Role=role, Handler="app.handler",
                              Code={"ZipFile": fn.package({"app.py": AUTHORIZER})})["FunctionArn"]  # fmt: skip
    config = {"authorizerUri": arn, "authorizerResultTtlInSeconds": 60, "identityValidationExpression": "[a-z-]+"}
    api = make_api("AWS_LAMBDA", lambdaAuthorizerConfig=config)
    ctx = ga.authorize(api, {"authorization": "ada"}, DOC)
    assert ctx.mode == "AWS_LAMBDA" and ctx.resolver_context["user"] == "ada"
    assert ctx.identity == {"resolverContext": ctx.resolver_context}
    assert "open" in ctx.resolver_context["query"]
    assert ctx.allows("Query", "open") and ctx.allows("Query", "posts") and not ctx.allows("Query", "keyOnly")
    assert refused(api, {"authorization": "deny-me"}).status == 401
    assert refused(api, {"authorization": "NOT VALID 123"}).status == 401  # identityValidationExpression
    assert refused(api, {}).message == "Valid authorization header not provided."
    # cached for 60 s on the sandbox clock: the function is not called again (its answer would be the same)
    calls = len(ga._lambda_cache)
    ga.authorize(api, {"authorization": "ada"}, DOC)
    assert len(ga._lambda_cache) == calls
    stacklab.current().clock.advance(seconds=61)
    assert ga._lambda_cache[(arn, "ada")][0] < stacklab.current().clock.time()
    ga.authorize(api, {"authorization": "ada"}, DOC)
    assert ga._lambda_cache[(arn, "ada")][0] > stacklab.current().clock.time()


# ------------------------------------------------------------------------------ bad input and reset


def test_bad_input():
    api = make_api("API_KEY")
    with pytest.raises(InputError):
        ga.authorize({"name": "x"}, {}, DOC)
    with pytest.raises(InputError):
        ga.authorize(api, "x-api-key: k", DOC)
    with pytest.raises(InputError):
        ga.authorize(api, {}, "{ open }")
    with pytest.raises(InputError):
        ga.OidcIssuer("http://plain.example.test")
    with pytest.raises(InputError):
        ga.oidc_issuer("https://a.example.test").token("u", "c", ttl=0)
    ctx = ga.authorize({**api, "apiKeys": [{"id": "k", "expired": False}]}, {"x-api-key": "k"}, DOC)
    with pytest.raises(InputError):
        ctx.allows("", "open")


def test_reset_forgets_issuers():
    ga.oidc_issuer("https://auth.example.test")
    assert ga._issuers
    stacklab.reset()
    assert not ga._issuers and not ga._lambda_cache


# ------------------------------------------------------------------------------ one API, every mode: tables


@pytest.fixture(scope="module")
def world(box):
    stacklab.reset()
    pool, client, tokens = pool_tokens("world", group="admins")
    _, _, stranger = pool_tokens("elsewhere")
    issuer = ga.oidc_issuer("https://id.example.test")
    lam = stacklab.client("lambda")
    role = stacklab.client("iam").create_role(RoleName="w", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    arn = lam.create_function(FunctionName="wauthz", Runtime="python3.12", Role=role, Handler="app.handler",
                              Code={"ZipFile": fn.package({"app.py": AUTHORIZER})})["FunctionArn"]  # fmt: skip
    extra = [
        {"authenticationType": "AMAZON_COGNITO_USER_POOLS",
         "userPoolConfig": {"userPoolId": pool["Id"], "awsRegion": "us-east-1"}},
        {"authenticationType": "AWS_IAM"},
        {"authenticationType": "OPENID_CONNECT", "openIDConnectConfig": {"issuer": issuer.issuer, "clientId": "web"}},
        {"authenticationType": "AWS_LAMBDA", "lambdaAuthorizerConfig": {"authorizerUri": arn,
                                                                        "authorizerResultTtlInSeconds": 0}},
    ]  # fmt: skip
    api = make_api("API_KEY", extra)
    key = appsync().create_api_key(apiId=api["apiId"])["apiKey"]["id"]
    reader = iam_user("w-reader", "Allow", f"{api['arn']}/types/*/fields/*")
    body = '{"query":"{ open }"}'
    head, payload, sig = tokens["IdToken"].split(".")
    headers = {
        "api key": {"x-api-key": key},
        "unknown api key": {"x-api-key": "da2-nope"},
        "cognito id token": {"authorization": tokens["IdToken"]},
        "cognito access token": {"authorization": tokens["AccessToken"]},
        "token of another pool": {"authorization": stranger["IdToken"]},
        "tampered token": {"authorization": f"{head}.{payload}.{sig[::-1]}"},
        "iam signed": ga.sign_iam(api["apiId"], body, *reader),
        "iam wrong secret": ga.sign_iam(api["apiId"], body, reader[0], "wrong"),
        "oidc token": {"authorization": issuer.token("u1", "web")},
        "oidc other client": {"authorization": issuer.token("u1", "mobile")},
        "lambda token": {"authorization": "ada"},
        "lambda denies": {"authorization": "deny-me"},
        "nothing": {},
    }
    return api, headers


REQUESTS = [
    ("api key", "API_KEY"),
    ("unknown api key", (401, "UnauthorizedException")),
    ("cognito id token", "AMAZON_COGNITO_USER_POOLS"),
    ("cognito access token", "AMAZON_COGNITO_USER_POOLS"),
    ("token of another pool", "AWS_LAMBDA"),  # not this API's pool: the Lambda authorizer gets the token
    ("tampered token", (401, "UnauthorizedException")),
    ("iam signed", "AWS_IAM"),
    ("iam wrong secret", (403, "InvalidSignatureException")),
    ("oidc token", "OPENID_CONNECT"),
    ("oidc other client", (401, "UnauthorizedException")),
    ("lambda token", "AWS_LAMBDA"),
    ("lambda denies", (401, "UnauthorizedException")),
    ("nothing", (401, "UnauthorizedException")),
]


@pytest.mark.parametrize(("case", "expected"), REQUESTS, ids=[r[0] for r in REQUESTS])
def test_request_table(world, case, expected):
    api, headers = world
    if isinstance(expected, str):
        assert ga.authorize(api, headers[case], DOC).mode == expected
    else:
        error = refused(api, headers[case])
        assert (error.status, error.error_type) == expected


FIELDS = [  # (request, type, field, allowed)
    ("api key", "Query", "open", True),  # no directive: the default mode (API_KEY) only
    ("cognito id token", "Query", "open", False),
    ("iam signed", "Query", "open", False),
    ("oidc token", "Query", "open", False),
    ("lambda token", "Query", "open", False),
    ("api key", "Query", "iamOnly", False),  # a directive lists the modes; the default is not implied
    ("iam signed", "Query", "iamOnly", True),
    ("cognito id token", "Post", "title", True),  # type directives apply to fields without their own
    ("oidc token", "Post", "title", False),
    ("cognito id token", "Post", "secret", True),  # the user is in "admins"
    ("api key", "Post", "secret", False),  # a field directive replaces the type's
    ("lambda token", "Query", "posts", True),
    ("lambda token", "Query", "keyOnly", False),  # in deniedFields (and not @aws_lambda)
    ("cognito id token", "Query", "legacy", True),  # @aws_auth(cognito_groups: ["admins"])
    ("api key", "__Schema", "types", True),  # introspection
]


@pytest.mark.parametrize(("case", "type_name", "field_name", "allowed"), FIELDS,
                         ids=[f"{r[0]}-{r[1]}.{r[2]}" for r in FIELDS])  # fmt: skip
def test_field_table(world, case, type_name, field_name, allowed):
    api, headers = world
    assert ga.authorize(api, headers[case], DOC).allows(type_name, field_name) is allowed

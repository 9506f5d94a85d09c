"""IAM (SigV4) authorization of REST API methods: signing, verification, identity and resource policies."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests

import stacklab
from stacklab.errors import InputError
from stacklab.planes import functions as fn
from stacklab.planes import gateway as gw
from stacklab.planes import sigv4

ACCOUNT = "123456789012"
MISSING = {"message": "Missing Authentication Token"}
INVALID_TOKEN = {"message": "The security token included in the request is invalid."}
BAD_SIGNATURE = {
    "message": "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
}
WHOAMI = """
import json

def handler(event, context):
    return {"statusCode": 200, "body": json.dumps(event["requestContext"]["identity"])}
"""


def ag():
    return stacklab.client("apigateway")


def iam():
    return stacklab.client("iam")


def _doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _allow(resource, effect="Allow", action="execute-api:Invoke"):
    return {"Effect": effect, "Action": action, "Resource": resource}


def make_api(name, policy=None, whoami_uri=None):
    """GET+POST /items (AWS_IAM, MOCK 200), GET /open (NONE), optionally GET /whoami (AWS_IAM, Lambda)."""
    kwargs = {"policy": policy} if policy else {}
    api_id = ag().create_rest_api(name=name, **kwargs)["id"]
    root = ag().get_resources(restApiId=api_id)["items"][0]["id"]
    methods = [("items", "GET", "AWS_IAM"), ("items", "POST", "AWS_IAM"), ("open", "GET", "NONE")]
    if whoami_uri:
        methods.append(("whoami", "GET", "AWS_IAM"))
    ids: dict[str, str] = {}
    for part, verb, auth in methods:
        if part not in ids:
            ids[part] = ag().create_resource(restApiId=api_id, parentId=root, pathPart=part)["id"]
        rid = ids[part]
        ag().put_method(restApiId=api_id, resourceId=rid, httpMethod=verb, authorizationType=auth)
        if part == "whoami":
            ag().put_integration(restApiId=api_id, resourceId=rid, httpMethod=verb, type="AWS_PROXY",
                                 integrationHttpMethod="POST", uri=whoami_uri)  # fmt: skip
            continue
        ag().put_integration(restApiId=api_id, resourceId=rid, httpMethod=verb, type="MOCK",
                             requestTemplates={"application/json": '{"statusCode": 200}'})  # fmt: skip
        ag().put_integration_response(restApiId=api_id, resourceId=rid, httpMethod=verb, statusCode="200",
                                      responseTemplates={"application/json": '{"ok": true}'})  # fmt: skip
    ag().create_deployment(restApiId=api_id, stageName="prod")
    return api_id


def user(name, *statements, group_statements=()):
    """An IAM user with an inline policy (and, if given, a group with an attached managed policy)."""
    iam().create_user(UserName=name)
    if statements:
        iam().put_user_policy(UserName=name, PolicyName="invoke", PolicyDocument=_doc(*statements))
    if group_statements:
        iam().create_group(GroupName=f"{name}-group")
        arn = iam().create_policy(PolicyName=f"{name}-managed", PolicyDocument=_doc(*group_statements))["Policy"]
        iam().attach_group_policy(GroupName=f"{name}-group", PolicyArn=arn["Arn"])
        iam().add_user_to_group(GroupName=f"{name}-group", UserName=name)
    key = iam().create_access_key(UserName=name)["AccessKey"]
    return {"id": key["AccessKeyId"], "secret": key["SecretAccessKey"], "arn": f"arn:aws:iam::{ACCOUNT}:user/{name}"}


def call(api_id, method, path, who=None, *, body=b"", send_body=None, headers=None, tamper=None, **kwargs):
    """Sign (when ``who`` is given) for https://API.execute-api.../prod/PATH and call the gateway in-process."""
    sent = dict(headers or {})
    if who is not None:
        url = f"https://{api_id}.execute-api.us-east-1.amazonaws.com/prod{path}"
        sent = sigv4.sign(method, url, access_key_id=who["id"], secret_access_key=who.get("secret_used", who["secret"]),
                          session_token=who.get("token"), body=body, headers=headers)  # fmt: skip
    sent.update(tamper or {})
    return gw.request(api_id, "prod", method, path, headers=sent,
                      body=body if send_body is None else send_body, **kwargs)  # fmt: skip


def answer(resp):
    return json.loads(resp.body)


def denied(who_arn, api_id, method="GET", path="/items", explicit=False):
    """AWS's refusal of a signed caller; it masks the account id in both ARNs but for its last 4 digits."""
    arn = f"arn:aws:execute-api:us-east-1:********9012:{api_id}/prod/{method}{path}"
    who_arn = who_arn.replace(f":{ACCOUNT}:", ":********9012:")
    text = f"User: {who_arn} is not authorized to perform: execute-api:Invoke on resource: {arn}"
    return {"Message": text + (" with an explicit deny" if explicit else "")}


@pytest.fixture(scope="module")
def world(box):
    stacklab.reset()
    lam = stacklab.client("lambda")
    role = iam().create_role(RoleName="fn-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam.create_function(FunctionName="whoami", Runtime="python3.12", Role=role, Handler="app.handler",
                        Code={"ZipFile": fn.package({"app.py": WHOAMI})})  # fmt: skip
    fn_arn = lam.get_function(FunctionName="whoami")["Configuration"]["FunctionArn"]
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{fn_arn}/invocations"
    api = make_api("iam", whoami_uri=uri)
    base = f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api}/prod"
    people = {
        "alice": user("alice", _allow(f"{base}/GET/items"), _allow(f"{base}/GET/whoami")),
        "bob": user("bob"),
        "carol": user("carol", group_statements=[_allow(f"{base}/*/*")]),
        "dave": user("dave", _allow("*", action="s3:GetObject")),
        "erin": user("erin", _allow("*"), _allow(f"{base}/GET/items", effect="Deny")),
        "frank": user("frank", _allow(f"{base}/POST/items")),
        "gina": user("gina", _allow("arn:aws:execute-api:*:*:*", action="execute-api:*")),
    }
    iam().create_role(RoleName="caller-role", AssumeRolePolicyDocument=_doc(
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}))  # fmt: skip
    iam().put_role_policy(RoleName="caller-role", PolicyName="invoke", PolicyDocument=_doc(_allow(f"{base}/*")))
    creds = stacklab.client("sts").assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/caller-role",
                                               RoleSessionName="job-7")["Credentials"]  # fmt: skip
    people["role"] = {"id": creds["AccessKeyId"], "secret": creds["SecretAccessKey"], "token": creds["SessionToken"],
                      "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/caller-role/job-7"}  # fmt: skip
    return api, people


# ------------------------------------------------------------------------------ authentication + identity policies


@pytest.mark.parametrize(
    ("case", "who", "method", "status", "expected"),
    [
        ("unsigned", None, "GET", 403, lambda p, a: MISSING),
        ("signed", "alice", "GET", 200, lambda p, a: {"ok": True}),
        ("group managed policy", "carol", "POST", 200, lambda p, a: {"ok": True}),
        ("wildcard resource", "gina", "GET", 200, lambda p, a: {"ok": True}),
        ("assumed role", "role", "GET", 200, lambda p, a: {"ok": True}),
        ("no policy", "bob", "GET", 403, lambda p, a: denied(p["bob"]["arn"], a)),
        ("no execute-api:Invoke", "dave", "GET", 403, lambda p, a: denied(p["dave"]["arn"], a)),
        ("explicit Deny", "erin", "GET", 403, lambda p, a: denied(p["erin"]["arn"], a, explicit=True)),
        ("Allow elsewhere", "erin", "POST", 200, lambda p, a: {"ok": True}),
        ("Allow on another method ARN", "frank", "GET", 403, lambda p, a: denied(p["frank"]["arn"], a)),
        ("Allow on this method ARN", "frank", "POST", 200, lambda p, a: {"ok": True}),
    ],
)
def test_identity_policy_table(world, case, who, method, status, expected):
    api, people = world
    resp = call(api, method, "/items", people[who] if who else None)
    assert (resp.status, answer(resp)) == (status, expected(people, api)), case
    if status == 403 and who:
        assert resp.headers["x-amzn-ErrorType"] == "AccessDeniedException"


def _with(who, **changes):
    return {**who, **changes}


@pytest.mark.parametrize(
    ("case", "kwargs", "expected"),
    [
        ("tampered body", {"body": b'{"n": 1}', "send_body": b'{"n": 2}'}, BAD_SIGNATURE),
        ("tampered signed header", {"headers": {"X-Trace": "1"}, "tamper": {"X-Trace": "2"}}, BAD_SIGNATURE),
        ("tampered path", {"tamper_path": "/whoami"}, BAD_SIGNATURE),
        ("wrong secret", {"who": {"secret_used": "x" * 40}}, BAD_SIGNATURE),
        ("unknown key", {"who": {"id": "AKIAEXAMPLEUNKNOWN00"}}, INVALID_TOKEN),
        ("role key without its session token", {"who_name": "role", "who": {"token": None}}, INVALID_TOKEN),
        ("role key with a wrong session token", {"who_name": "role", "who": {"token": "forged"}}, INVALID_TOKEN),
        ("not SigV4", {"tamper": {"Authorization": "Bearer abc"}},
         {"message": "Authorization header requires 'Credential' parameter. Authorization header requires "
                     "'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. "
                     "Authorization=Bearer abc"}),
        ("scoped to another region", {"region": "eu-west-1"},
         {"message": "Credential should be scoped to a valid region, not 'eu-west-1'. "}),
    ],
)  # fmt: skip
def test_signature_failures(world, case, kwargs, expected):
    api, people = world
    kwargs = dict(kwargs)
    who = _with(people[kwargs.pop("who_name", "alice")], **kwargs.pop("who", {}))
    region = kwargs.pop("region", None)
    tamper_path = kwargs.pop("tamper_path", None)
    if region or tamper_path:
        url = f"https://{api}.execute-api.us-east-1.amazonaws.com/prod/items"
        sent = sigv4.sign("GET", url, access_key_id=who["id"], secret_access_key=who["secret"], region=region)
        resp = gw.request(api, "prod", "GET", tamper_path or "/items", headers=sent)
    else:
        resp = call(api, "GET" if "body" not in kwargs else "POST", "/items", who, **kwargs)
    assert (resp.status, answer(resp)) == (403, expected), case


def test_signature_expires_after_five_minutes_on_the_sandbox_clock(world):
    api, people = world
    alice = people["alice"]
    url = f"https://{api}.execute-api.us-east-1.amazonaws.com/prod/items"
    headers = sigv4.sign("GET", url, access_key_id=alice["id"], secret_access_key=alice["secret"])
    signed_at = headers["X-Amz-Date"]
    stacklab.clock().advance(minutes=4)
    assert gw.request(api, "prod", "GET", "/items", headers=headers).status == 200  # replay within the window
    stacklab.clock().advance(minutes=2)
    now = stacklab.clock().now()
    resp = gw.request(api, "prod", "GET", "/items", headers=headers)
    stamp = lambda t: t.strftime("%Y%m%dT%H%M%SZ")  # noqa: E731
    earliest = stamp(now - timedelta(minutes=5))
    message = f"Signature expired: {signed_at} is now earlier than {earliest} ({stamp(now)} - 5 min.)"
    assert (resp.status, answer(resp)) == (403, {"message": message})
    assert resp.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    future = now + timedelta(minutes=6)
    ahead = sigv4.sign("GET", url, access_key_id=alice["id"], secret_access_key=alice["secret"], when=future)
    resp = gw.request(api, "prod", "GET", "/items", headers=ahead)
    assert answer(resp)["message"].startswith(f"Signature not yet current: {stamp(future)} is still later than")


def test_deactivated_key_is_refused(world):
    api, _ = world
    hank = user("hank", _allow("*"))
    assert call(api, "GET", "/items", hank).status == 200
    iam().update_access_key(UserName="hank", AccessKeyId=hank["id"], Status="Inactive")
    resp = call(api, "GET", "/items", hank)
    assert (resp.status, answer(resp)) == (403, INVALID_TOKEN)


def test_caller_reaches_the_lambda_proxy_event(world):
    api, people = world
    resp = call(api, "GET", "/whoami", people["alice"])
    assert resp.status == 200
    identity = answer(resp)
    user_id = iam().get_user(UserName="alice")["User"]["UserId"]
    assert {k: identity[k] for k in ("userArn", "accessKey", "accountId", "caller", "user")} == {
        "userArn": people["alice"]["arn"], "accessKey": people["alice"]["id"], "accountId": ACCOUNT,
        "caller": user_id, "user": user_id,
    }  # fmt: skip
    role = answer(call(api, "GET", "/whoami", people["role"]))
    assert role["userArn"] == people["role"]["arn"] and role["caller"].endswith(":job-7")


def test_signed_query_string_and_requests_auth_over_http(world):
    api, people = world
    base = gw.url(api, "prod")
    alice = people["alice"]
    assert requests.get(f"{base}/items", timeout=5).json() == MISSING
    ok = requests.get(f"{base}/items", params={"b": "2", "a": "x y"}, timeout=5,
                      auth=sigv4.auth(alice["id"], alice["secret"]))  # fmt: skip
    assert (ok.status_code, ok.json()) == (200, {"ok": True})
    headers = sigv4.sign("GET", f"{base}/items?a=1", access_key_id=alice["id"], secret_access_key=alice["secret"])
    swapped = requests.get(f"{base}/items?a=2", headers=headers, timeout=5)
    assert (swapped.status_code, swapped.json()) == (403, BAD_SIGNATURE)


# ------------------------------------------------------------------------------ resource policy + IAM (AWS's table)


def _rp(effect, principal, **extra):
    return {"Effect": effect, "Principal": principal, "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
            **extra}  # fmt: skip


@pytest.fixture(scope="module")
def table(world):
    """Callers whose identity policies Allow / say Neither / Deny GET /items, and APIs whose resource
    policy Allows / says Neither / Denies them by name (and one without a resource policy)."""
    _, people = world
    callers = {
        "Allow": user("alice2", _allow("arn:aws:execute-api:*:*:*/prod/GET/items")),
        "Neither": people["bob"],
        "Deny": user("erin2", _allow("arn:aws:execute-api:*:*:*/prod/GET/items", effect="Deny")),
    }
    named = {"AWS": [c["arn"] for c in callers.values()]}
    apis = {
        "Allow": make_api("rp-allow", _doc(_rp("Allow", named))),
        "Neither": make_api("rp-neither", _doc(_rp("Allow", {"AWS": f"arn:aws:iam::{ACCOUNT}:user/nobody"}))),
        "Deny": make_api("rp-deny", _doc(_rp("Deny", named))),
        "none": make_api("rp-none"),
    }
    return apis, callers


@pytest.mark.parametrize(
    ("identity", "resource", "outcome"),
    [
        ("Allow", "Allow", "allow"),
        ("Allow", "Neither", "allow"),
        ("Allow", "Deny", "explicit"),
        ("Neither", "Allow", "allow"),
        ("Neither", "Neither", "implicit"),
        ("Neither", "Deny", "explicit"),
        ("Deny", "Allow", "explicit"),
        ("Deny", "Neither", "explicit"),
        ("Deny", "Deny", "explicit"),
        ("Allow", "none", "allow"),
        ("Neither", "none", "implicit"),
    ],
)
def test_same_account_iam_and_resource_policy_table(table, identity, resource, outcome):
    apis, callers = table
    who, api = callers[identity], apis[resource]
    resp = call(api, "GET", "/items", who)
    if outcome == "allow":
        assert (resp.status, answer(resp)) == (200, {"ok": True})
    else:
        assert (resp.status, answer(resp)) == (403, denied(who["arn"], api, explicit=outcome == "explicit"))


@pytest.mark.parametrize(
    ("principal", "effect", "who", "status", "explicit"),
    [
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Allow", "bob", 403, False),  # delegates to identity policies
        ({"AWS": ACCOUNT}, "Allow", "bob", 403, False),
        ({"AWS": ACCOUNT}, "Allow", "gina", 200, None),  # gina's identity policy allows every API
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Deny", "alice", 403, True),  # a Deny covers the account
        ({"AWS": ACCOUNT}, "Deny", "gina", 403, True),
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:role/caller-role"}, "Allow", "bob", 403, False),  # names someone else
        ({"AWS": f"arn:aws:iam::{ACCOUNT}:role/caller-role"}, "Deny", "role", 403, True),  # the role's sessions
        ({"AWS": "*"}, "Deny", "alice", 403, True),
    ],
)
def test_resource_policy_principals(world, principal, effect, who, status, explicit):
    _, people = world
    api = make_api(f"rp-principal-{effect}", _doc(_rp(effect, principal)))
    caller = people[who]
    resp = call(api, "GET", "/items", caller)
    if status == 200:
        assert resp.status == 200
    else:
        # alice's and gina's identity policies name the first API only: on this one only the resource policy acts
        assert (resp.status, answer(resp)) == (403, denied(caller["arn"], api, explicit=bool(explicit)))


def test_user_principal_does_not_match_anonymous_callers(world):
    _, people = world
    api = make_api("rp-anonymous", _doc(_rp("Allow", {"AWS": people["bob"]["arn"]})))
    resp = gw.request(api, "prod", "GET", "/open")
    arn = f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api}/prod/GET/open"
    assert (resp.status, answer(resp)) == (
        403,
        {"message": f"User: anonymous is not authorized to perform: execute-api:Invoke on resource: {arn}"},
    )
    assert call(api, "GET", "/items", people["bob"]).status == 200  # named, signed: allowed without IAM policy


def test_resource_policy_source_ip_deny_applies_to_signed_callers(world):
    _, people = world
    deny_outside = _rp("Deny", "*", Condition={"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}})
    api = make_api("rp-ip", _doc(_rp("Allow", "*"), deny_outside))
    carol = people["carol"]
    assert call(api, "GET", "/items", carol, client_ip="203.0.113.20").status == 200
    resp = call(api, "GET", "/items", carol, client_ip="192.0.2.1")
    assert (resp.status, answer(resp)) == (403, denied(carol["arn"], api, explicit=True))


@pytest.mark.parametrize(
    ("condition", "vpce", "status", "explicit"),
    [
        ({"StringNotEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}, "vpce-1a2b3c4d", 200, None),
        ({"StringNotEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}, "vpce-99999999", 403, True),
        ({"StringNotEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}, None, 403, True),  # no endpoint: key absent
        ({"StringEquals": {"aws:SourceVpce": ["vpce-0000aaaa", "vpce-1a2b3c4d"]}}, "vpce-1a2b3c4d", 403, True),
        ({"StringEquals": {"aws:SourceVpce": "vpce-0000aaaa"}}, None, 200, None),
    ],
)
def test_source_vpce_conditions(world, condition, vpce, status, explicit):
    api = make_api("rp-vpce", _doc(_rp("Allow", "*"), _rp("Deny", "*", Condition=condition)))
    resp = gw.request(api, "prod", "GET", "/open", source_vpce=vpce)
    assert resp.status == status
    if status == 403:
        assert answer(resp)["message"].endswith("with an explicit deny")


def test_source_vpce_allow_and_header_over_http(world):
    only_vpce = _rp("Allow", "*", Condition={"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}})
    api = make_api("rp-vpce-http", _doc(only_vpce))
    base = gw.url(api, "prod")
    inside = requests.get(f"{base}/open", headers={"x-stacklab-source-vpce": "vpce-1a2b3c4d"}, timeout=5)
    outside = requests.get(f"{base}/open", timeout=5)
    assert (inside.status_code, outside.status_code) == (200, 403)
    assert outside.json()["message"].startswith("User: anonymous is not authorized")


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": 3}, "method must be a string"),
        ({"url": "/prod/items"}, "absolute http"),
        ({"access_key_id": ""}, "access_key_id must not be empty"),
        ({"secret_access_key": None}, "secret_access_key must be a string"),
        ({"body": 12}, "body must be bytes or str"),
        ({"headers": [("a", "b")]}, "headers must be a dict"),
        ({"when": datetime(2026, 1, 15, 9, 0)}, "timezone-aware"),
        ({"session_token": ""}, "session_token must not be empty"),
    ],
)
def test_sign_bad_input(box, kwargs, match):
    args = {"method": "GET", "url": "https://x.execute-api.us-east-1.amazonaws.com/prod/",
            "access_key_id": "AKIAEXAMPLE", "secret_access_key": "s"} | kwargs  # fmt: skip
    method, url = args.pop("method"), args.pop("url")
    with pytest.raises(InputError, match=match):
        sigv4.sign(method, url, **args)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("GET", "items", {}, b""), "starting with '/'"),
        (("GET", "/prod/items", "Authorization: x", b""), "headers must be a dict"),
        (("GET", "/prod/items", {}, 3.5), "body must be bytes or str"),
        ((None, "/prod/items", {}, b""), "method must be a string"),
    ],
)
def test_verify_bad_input(box, args, match):
    with pytest.raises(InputError, match=match):
        sigv4.verify(*args)


def test_other_bad_input(world):
    api, _ = world
    with pytest.raises(InputError, match="caller must be the Caller"):
        sigv4.identity_decision("alice", "arn:aws:execute-api:us-east-1:1:a/prod/GET/")
    with pytest.raises(InputError, match="source_vpce must be a VPC endpoint id"):
        gw.request(api, "prod", "GET", "/open", source_vpce="my-endpoint")
    with pytest.raises(InputError, match="access_key_id must not be empty"):
        sigv4.auth("", "secret")


def test_verify_returns_the_caller(world):
    api, people = world
    alice = people["alice"]
    url = f"https://{api}.execute-api.us-east-1.amazonaws.com/prod/items?x=1"
    headers = sigv4.sign("PUT", url, access_key_id=alice["id"], secret_access_key=alice["secret"], body="hi")
    caller = sigv4.verify("PUT", url, headers, "hi")
    assert (caller.arn, caller.kind, caller.access_key) == (alice["arn"], "user", alice["id"])
    with pytest.raises(sigv4.SigV4Error, match="does not match") as err:
        sigv4.verify("PUT", url, headers, "hi!")
    assert (err.value.status, err.value.error_type) == (403, "InvalidSignatureException")
    assert sigv4.sign("GET", url, access_key_id="AKIA1", secret_access_key="s",
                      when=datetime(2026, 1, 15, 9, 0, tzinfo=UTC))["X-Amz-Date"] == "20260115T090000Z"  # fmt: skip


def test_verify_request_yes_or_no(world):
    api, people = world
    url = f"https://{api}.execute-api.us-east-1.amazonaws.com/prod/items"
    arn = f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api}/prod/GET/items"
    for name, expected in (("alice", True), ("bob", False)):
        who = people[name]
        headers = sigv4.sign("GET", url, access_key_id=who["id"], secret_access_key=who["secret"])
        assert sigv4.verify_request(method="GET", url=url, headers=headers, resource=arn) is expected
    assert sigv4.verify_request(method="GET", url=url, headers={}, resource=arn) is False
    with pytest.raises(InputError, match="service must be 'execute-api'"):
        sigv4.verify_request(method="GET", url=url, headers={}, resource=arn, service="s3")


def test_identity_policy_condition_on_source_ip(world):
    api, _ = world
    office = {**_allow("*"), "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}}
    ivan = user("ivan", office)
    assert call(api, "GET", "/items", ivan, client_ip="203.0.113.5").status == 200
    resp = call(api, "GET", "/items", ivan, client_ip="192.0.2.1")  # condition false: no Allow (not a Deny)
    assert (resp.status, answer(resp)) == (403, denied(ivan["arn"], api))


@pytest.mark.parametrize(
    ("statement", "resource", "decision"),
    [
        ({"Effect": "Allow", "Action": "EXECUTE-API:invoke", "Resource": "*"}, "a/prod/GET/x", "allow"),
        ({"Effect": "Allow", "Action": "execute-api:*", "Resource": "arn:*:a/prod/GET/?"}, "a/prod/GET/x", "allow"),
        ({"Effect": "Allow", "Action": "execute-api:*", "Resource": "arn:*:a/prod/GET/?"}, "a/prod/GET/xy", "none"),
        ({"Effect": "Allow", "Action": "execute-api:*", "Resource": "arn:*:a.prod*"}, "a/prod/GET/x", "none"),
        ({"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}, "a/prod/GET/x", "allow"),
        ({"Effect": "Deny", "Action": "*", "NotResource": "arn:*:a/prod/GET/*"}, "a/prod/POST/x", "deny"),
        ({"Effect": "Deny", "Action": "*", "NotResource": "arn:*:a/prod/GET/*"}, "a/prod/GET/x", "none"),
        ({"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}},
         "a/prod/GET/x", "none"),  # a condition the evaluator cannot judge: statement ignored
    ],
)  # fmt: skip
def test_identity_decision_wildcards_and_negations(box, statement, resource, decision):
    caller = sigv4.Caller("AKIA1", "arn:aws:iam::1:user/u", "1", "id", "user", ({"Statement": [statement]},))
    assert sigv4.identity_decision(caller, f"arn:aws:execute-api:us-east-1:1:{resource}") == decision

"""Lab 06's checks pass on the solution and name the exact mistake in realistic wrong answers."""

from __future__ import annotations

import json

import pytest
from support.labcheck import failed, run

import stacklab
from stacklab.planes import functions

BACKEND = """
def handler(event, context):
    return {"statusCode": 200, "body": "[]"}
"""
STAFF = """
def handler(event, context):
    if event["authorizationToken"] != "Bearer staff-2026":
        raise Exception("Unauthorized")
    return {"principalId": "staff", "policyDocument": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": event["methodArn"]}]}}
"""
OFFICE = "198.51.100.0/24"


def ag():
    return stacklab.client("apigateway")


def uri(arn):
    return f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"


def shared_setup() -> tuple[dict, dict]:
    """The lab's functions and user pools (as its setup cells build them), made once per module."""
    stacklab.reset()
    lam, idp = stacklab.client("lambda"), stacklab.client("cognito-idp")
    role = stacklab.client("iam").create_role(RoleName="lab06-lambda", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    arns = {name: lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                                      Code={"ZipFile": functions.package({"app.py": src})})["FunctionArn"]
            for name, src in (("lab06-orders", BACKEND), ("lab06-staff-authorizer", STAFF))}  # fmt: skip
    pools = {}
    for name, client in (("lab06-users", "lab06-web"), ("lab06-partners", "partner-web")):
        pools[name] = idp.create_user_pool(PoolName=name)["UserPool"]
        idp.create_user_pool_client(UserPoolId=pools[name]["Id"], ClientName=client,
                                    ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"])  # fmt: skip
        idp.admin_create_user(UserPoolId=pools[name]["Id"], Username="ada", TemporaryPassword="Temp-Passw0rd!")
        idp.admin_set_user_password(UserPoolId=pools[name]["Id"], Username="ada", Password="Lab06-Passw0rd!",
                                    Permanent=True)  # fmt: skip
    return arns, pools


class Lab:
    """A fresh lab06-orders API (the lab's starting point), and the solution's steps with knobs for mistakes."""

    def __init__(self, shared: tuple[dict, dict]) -> None:
        self.arns, self.pools = shared
        self.api_id = ag().create_rest_api(name="lab06-orders")["id"]
        root = ag().get_resources(restApiId=self.api_id)["items"][0]["id"]
        self.rids = {}
        for part in ("orders", "admin", "audit"):
            self.rids[f"/{part}"] = ag().create_resource(restApiId=self.api_id, parentId=root, pathPart=part)["id"]
            self.update_get(f"/{part}", first=True)

    def update_get(self, path, first=False, **changes):
        rid = self.rids[path]
        settings = {"authorizationType": "NONE"}
        if not first:
            current = ag().get_method(restApiId=self.api_id, resourceId=rid, httpMethod="GET")
            settings = {k: current[k] for k in ("authorizationType", "authorizerId", "apiKeyRequired") if k in current}
            ag().delete_method(restApiId=self.api_id, resourceId=rid, httpMethod="GET")
        ag().put_method(restApiId=self.api_id, resourceId=rid, httpMethod="GET", **{**settings, **changes})
        ag().put_integration(restApiId=self.api_id, resourceId=rid, httpMethod="GET", type="AWS_PROXY",
                             integrationHttpMethod="POST", uri=uri(self.arns["lab06-orders"]))  # fmt: skip

    def deploy(self):
        ag().create_deployment(restApiId=self.api_id, stageName="prod")

    # --- exercise 1
    def policy(self, *, cidr=OFFICE, statements=None, deploy=True):
        if statements is None:
            statements = [
                {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"},
                {"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
                 "Condition": {"NotIpAddress": {"aws:SourceIp": [cidr]}}},
            ]  # fmt: skip
        text = json.dumps({"Version": "2012-10-17", "Statement": statements})
        patch = [{"op": "replace", "path": "/policy", "value": text}]
        ag().update_rest_api(restApiId=self.api_id, patchOperations=patch)
        if deploy:
            self.deploy()

    # --- exercise 2
    def cognito(self, *, pool="lab06-users", attach=True, deploy=True):
        auth = ag().create_authorizer(restApiId=self.api_id, name="users", type="COGNITO_USER_POOLS",
                                      providerARNs=[self.pools[pool]["Arn"]],
                                      identitySource="method.request.header.Authorization")["id"]  # fmt: skip
        if attach:
            self.update_get("/orders", authorizationType="COGNITO_USER_POOLS", authorizerId=auth)
        if deploy:
            self.deploy()
        return auth

    # --- exercise 3
    def usage_plan(self, *, require=True, add_key=True, deploy=True, throttle=(2.0, 4)):
        if require:
            self.update_get("/orders", apiKeyRequired=True)
        key = ag().create_api_key(name="lab06-partner", enabled=True)["id"]
        plan = ag().create_usage_plan(name="lab06-basic", apiStages=[{"apiId": self.api_id, "stage": "prod"}],
                                      throttle={"rateLimit": throttle[0], "burstLimit": throttle[1]},
                                      quota={"limit": 1000, "period": "DAY"})["id"]  # fmt: skip
        if add_key:
            ag().create_usage_plan_key(usagePlanId=plan, keyId=key, keyType="API_KEY")
        if deploy:
            self.deploy()
        return plan, key

    # --- exercise 4
    def staff(self, *, ttl=0, paths=("/admin", "/audit"), deploy=True):
        extra = {} if ttl is None else {"authorizerResultTtlInSeconds": ttl}
        auth = ag().create_authorizer(restApiId=self.api_id, name="staff", type="TOKEN",
                                      authorizerUri=uri(self.arns["lab06-staff-authorizer"]),
                                      identitySource="method.request.header.Authorization", **extra)["id"]  # fmt: skip
        for path in paths:
            self.update_get(path, authorizationType="CUSTOM", authorizerId=auth)
        if deploy:
            self.deploy()
        return auth


@pytest.fixture(autouse=True)
def progress(tmp_path, monkeypatch):
    monkeypatch.setenv("STACKLAB_PROGRESS", str(tmp_path / "progress.json"))


@pytest.fixture(scope="module")
def shared(box):
    return shared_setup()


@pytest.fixture(scope="module")
def solved(shared):
    lab = Lab(shared)
    lab.policy()
    auth = lab.cognito()
    plan, key = lab.usage_plan()
    staff = lab.staff()
    return lab, auth, plan, key, staff


@pytest.fixture()
def lab(shared):
    return Lab(shared)


def test_the_solution_passes_every_check_and_again(solved):
    lab, auth, plan, key, staff = solved
    for _ in range(2):  # checks move the sandbox clock and use the bucket, but give the same answer each time
        assert run("06.policy", api_id=lab.api_id)
        assert run("06.cognito", api_id=lab.api_id, authorizer_id=auth)
        assert run("06.usage_plan", api_id=lab.api_id, plan_id=plan, key_id=key)
        assert run("06.staff", api_id=lab.api_id, staff_authorizer_id=staff)


# ------------------------------------------------------------------------------------ 1. policy


@pytest.mark.parametrize(
    ("mistake", "expected"),
    [
        (lambda lab: None, "has no resource policy"),
        (lambda lab: lab.policy(deploy=False), "no stage 'prod'"),
        (lambda lab: (lab.deploy(), lab.policy(deploy=False)), "still runs a deployment made before any policy"),
        (lambda lab: lab.policy(statements=[{"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke",
                                             "Resource": "execute-api:/*"}]), "lets everyone in"),  # fmt: skip
        (lambda lab: lab.policy(cidr="198.51.0.0/16"), "wider than the office network"),
        (lambda lab: lab.policy(cidr="198.51.100.0/25"), "inside the office network 198.51.100.0/24, is refused"),
        (lambda lab: lab.policy(statements=[{"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke",
                                             "Resource": "execute-api:/*",
                                             "Condition": {"IpAddress": {"aws:SourceIp": OFFICE}}}]),
         "asks for an explicit Deny"),
    ],
)  # fmt: skip
def test_policy_mistakes(lab, mistake, expected):
    mistake(lab)
    assert expected in failed("06.policy", api_id=lab.api_id)


# ------------------------------------------------------------------------------------ 2. Cognito


@pytest.mark.parametrize(
    ("mistake", "expected"),
    [
        (lambda lab: lab.cognito(pool="lab06-partners"), "trusts lab06-partners, not lab06-users"),
        (lambda lab: lab.cognito(attach=False), "the authorizer exists but the method does not use it"),
        (lambda lab: lab.cognito(deploy=False), "without a token answers 200, not 401"),
    ],
)
def test_cognito_mistakes(lab, mistake, expected):
    lab.policy()
    auth = mistake(lab)
    assert expected in failed("06.cognito", api_id=lab.api_id, authorizer_id=auth)


def test_cognito_wrong_variable_and_policy_first(lab):
    lab.policy(cidr="10.0.0.0/8")
    auth = lab.cognito()
    assert "refused by the resource policy" in failed("06.cognito", api_id=lab.api_id, authorizer_id=auth)
    assert "`authorizer_id` should be the authorizer's id" in failed("06.cognito", api_id=lab.api_id, authorizer_id=7)
    assert "holds a whole dict" in failed("06.cognito", api_id=lab.api_id, authorizer_id={"id": auth})
    assert "no authorizer with id 'nope'" in failed("06.cognito", api_id=lab.api_id, authorizer_id="nope")


# ------------------------------------------------------------------------------------ 3. usage plan


@pytest.mark.parametrize(
    ("mistake", "expected"),
    [
        (lambda lab: lab.usage_plan(add_key=False), "is not in the usage plan (0 key(s) in it)"),
        (lambda lab: lab.usage_plan(require=False), "apiKeyRequired is false"),
        (lambda lab: lab.usage_plan(deploy=False), "before the method required a key"),
        (lambda lab: lab.usage_plan(throttle=(4.0, 2)), "the exercise asks for rateLimit 2 and burstLimit 4"),
    ],
)
def test_usage_plan_mistakes(lab, mistake, expected):
    lab.policy()
    lab.cognito()
    plan, key = mistake(lab)
    assert expected in failed("06.usage_plan", api_id=lab.api_id, plan_id=plan, key_id=key)


def test_usage_plan_key_value_instead_of_id(lab):
    lab.policy()
    plan, key = lab.usage_plan()
    value = ag().get_api_key(apiKey=key, includeValue=True)["value"]
    assert "use the key's id, not its value" in failed("06.usage_plan", api_id=lab.api_id, plan_id=plan, key_id=value)


# ------------------------------------------------------------------------------------ 4. staff authorizer


@pytest.mark.parametrize(
    ("mistake", "expected"),
    [
        (lambda lab: lab.staff(ttl=None), "caches its results for 300 s (the default when none is set)"),
        (lambda lab: lab.staff(paths=("/admin",)), "GET /audit do(es) not use the staff authorizer"),
        (lambda lab: lab.staff(deploy=False), "GET /admin without a token answers 200, not 401"),
    ],
)
def test_staff_mistakes(lab, mistake, expected):
    lab.policy()
    auth = mistake(lab)
    assert expected in failed("06.staff", api_id=lab.api_id, staff_authorizer_id=auth)


def test_staff_cache_turned_off_but_not_redeployed(lab):
    lab.policy()
    auth = lab.staff(ttl=300)
    ag().update_authorizer(restApiId=lab.api_id, authorizerId=auth, patchOperations=[
        {"op": "replace", "path": "/authorizerResultTtlInSeconds", "value": "0"}])  # fmt: skip
    message = failed("06.staff", api_id=lab.api_id, staff_authorizer_id=auth)
    assert "GET /audit → 403" in message and "an older deployment of the authorizer" in message

"""Checks for Lab 06 — API Gateway security (resource policy, Cognito authorizer, API key + usage plan, TOKEN
Lambda authorizer).

Each check first reads the configuration with boto3 (to name a wrong setting), then **calls the API** through
the gateway plane (:func:`stacklab.planes.gateway.request`, from an office address) and compares the answers
with what the exercise asks; a configuration that is right but not yet deployed is caught by comparing the
live configuration with the deployment the ``prod`` stage runs (:func:`gateway.deployment_snapshot`).
Checks 3 and 4 move the sandbox clock forward (to refill the token bucket, and past the longest authorizer
cache TTL) so they give the same answer every time they run.
"""

from __future__ import annotations

import json
from typing import Any

from stacklab.checks import CheckFailed, lab_check
from stacklab.labchecks import aws

LESSON = "06"
STAGE = "prod"
OFFICE = "198.51.100.0/24"
INSIDE = ("198.51.100.20", "198.51.100.250")
OUTSIDE = ("203.0.113.5", "198.51.101.20")
USERS_POOL, PARTNERS_POOL, WEB_CLIENT = "lab06-users", "lab06-partners", "lab06-web"
USER, PASSWORD = "ada", "Lab06-Passw0rd!"
STAFF_FUNCTION, STAFF_TOKEN = "lab06-staff-authorizer", "Bearer staff-2026"
PLAN_RATE, PLAN_BURST, PLAN_QUOTA = 2.0, 4, 1000
_RESET_HINT = (
    "If you restarted the kernel or ran stacklab.reset() since, the sandbox is empty again: re-run the cells "
    "from the top."
)
_REDEPLOY = f"apigw.create_deployment(restApiId=api_id, stageName='{STAGE}')"


# ------------------------------------------------------------------------------------ helpers


def _error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _api(api_id: Any) -> str:
    if isinstance(api_id, dict):
        raise CheckFailed("`api_id` holds a whole dict, not the REST API's id.",
                          "Use the id: `api_id = apigw.create_rest_api(...)['id']`.")  # fmt: skip
    if not isinstance(api_id, str) or not api_id.strip():
        raise CheckFailed(f"`api_id` should be the REST API's id (a string such as 'a1b2c3d4e5'); it holds "
                          f"{type(api_id).__name__} {api_id!r}.", "Run the setup cell at the top again.")  # fmt: skip
    try:
        aws("apigateway").get_rest_api(restApiId=api_id.strip())
    except Exception as exc:  # noqa: BLE001 - botocore ClientError
        if _error_code(exc) == "NotFoundException":
            raise CheckFailed(f"there is no REST API {api_id!r} in the sandbox.", _RESET_HINT) from None
        raise
    return api_id.strip()


def _stage(api_id: str) -> dict[str, Any]:
    try:
        return aws("apigateway").get_stage(restApiId=api_id, stageName=STAGE)
    except Exception as exc:  # noqa: BLE001
        if _error_code(exc) == "NotFoundException":
            raise CheckFailed(f"the API has no stage {STAGE!r} yet, so nothing can call it.",
                              f"Deploy it: `{_REDEPLOY}`.") from None  # fmt: skip
        raise


def _deployed(api_id: str) -> dict[str, Any]:
    """The configuration the prod stage runs (the deployment's snapshot)."""
    from stacklab.planes import gateway

    return gateway.deployment_snapshot(api_id, _stage(api_id)["deploymentId"])


def _policy_text(text: Any) -> Any:
    if not text:
        return None
    for _ in range(2):  # moto may return the policy JSON-escaped once
        try:
            text = json.loads(text)
        except (TypeError, ValueError):
            break
        if isinstance(text, dict):
            return text
    return text


def _method(api_id: str, path: str) -> dict[str, Any]:
    resources = aws("apigateway").get_resources(restApiId=api_id, embed=["methods"])["items"]
    resource = next((r for r in resources if r.get("path") == path), None)
    method = ((resource or {}).get("resourceMethods") or {}).get("GET")
    if method is None:
        raise CheckFailed(f"the API has no GET {path} method any more.", f"Run the setup cell again. {_RESET_HINT}")
    return method


def _deployed_method(snapshot: dict[str, Any], path: str) -> dict[str, Any]:
    for resource in snapshot.get("resources") or []:
        if resource.get("path") == path:
            return (resource.get("resourceMethods") or {}).get("GET") or {}
    return {}


def _call(api_id: str, path: str, headers: dict[str, str] | None = None, ip: str = INSIDE[0]) -> tuple[int, str]:
    """Status and message of GET path from ``ip`` (an office address by default)."""
    from stacklab.planes import gateway

    response = gateway.request(api_id, STAGE, "GET", path, headers=headers, client_ip=ip)
    try:
        body = json.loads(response.body or b"null")
    except ValueError:
        body = None
    message = ""
    if isinstance(body, dict):
        message = str(body.get("message") or body.get("Message") or "")
    return response.status, message


def _policy_refused(status: int, message: str) -> bool:
    return status == 403 and message.startswith("User: ") and "execute-api:Invoke" in message


def _pool(name: str) -> dict[str, Any] | None:
    pools = aws("cognito-idp").list_user_pools(MaxResults=60)["UserPools"]
    found = next((p for p in pools if p["Name"] == name), None)
    return aws("cognito-idp").describe_user_pool(UserPoolId=found["Id"])["UserPool"] if found else None


def _id_token() -> str:
    """A fresh ID token of the lab's user (signed in now, so it is never expired)."""
    idp = aws("cognito-idp")
    pool = _pool(USERS_POOL)
    if pool is None:
        raise CheckFailed(f"the user pool {USERS_POOL} is gone.", _RESET_HINT)
    clients = idp.list_user_pool_clients(UserPoolId=pool["Id"], MaxResults=60)["UserPoolClients"]
    client = next((c for c in clients if c["ClientName"] == WEB_CLIENT), None)
    if client is None:
        raise CheckFailed(f"the app client {WEB_CLIENT} of {USERS_POOL} is gone.", _RESET_HINT)
    auth = idp.initiate_auth(ClientId=client["ClientId"], AuthFlow="USER_PASSWORD_AUTH",
                             AuthParameters={"USERNAME": USER, "PASSWORD": PASSWORD})  # fmt: skip
    return auth["AuthenticationResult"]["IdToken"]


def _id_arg(name: str, value: Any, what: str, source: str) -> str:
    if isinstance(value, dict):
        raise CheckFailed(f"`{name}` holds a whole dict (a boto3 response), not the {what}.",
                          f"Take just the id: `{name} = {source}`.")  # fmt: skip
    if not isinstance(value, str) or not value.strip() or value.strip() == "...":
        raise CheckFailed(f"`{name}` should be the {what} (a string); it holds {type(value).__name__} {value!r}.",
                          f"Set it from the response: `{name} = {source}`.")  # fmt: skip
    return value.strip()


def _authorizer(api_id: str, name: str, value: Any, source: str) -> dict[str, Any]:
    authorizer_id = _id_arg(name, value, "authorizer's id", source)
    try:
        return aws("apigateway").get_authorizer(restApiId=api_id, authorizerId=authorizer_id)
    except Exception as exc:  # noqa: BLE001
        if _error_code(exc) == "NotFoundException":
            raise CheckFailed(f"the API has no authorizer with id {authorizer_id!r}.",
                              f"Set `{name} = {source}` (create it on api_id).") from None  # fmt: skip
        raise


# ------------------------------------------------------------------------- 1. resource policy


@lab_check("06.policy", LESSON, needs=("api_id",), title="Exercise 1 · Only the office network", exercise=1)
def check_policy(api_id: Any) -> str:
    """A deployed resource policy: office addresses pass, other addresses get an explicit deny."""
    api = _api(api_id)
    live = _policy_text(aws("apigateway").get_rest_api(restApiId=api).get("policy"))
    if not live:
        raise CheckFailed("the API has no resource policy.",
                          "Attach one with apigw.update_rest_api(restApiId=api_id, patchOperations=[{'op': 'replace', "
                          "'path': '/policy', 'value': json.dumps(policy)}]), then redeploy.")  # fmt: skip
    deployed = _policy_text(_deployed(api).get("policy"))
    if deployed != live:
        raise CheckFailed(f"the policy is attached to the API, but stage {STAGE!r} still runs a deployment made "
                          f"{'before any policy' if not deployed else 'with an older policy'}: a REST API's policy "
                          "changes take effect only when the API is deployed again.",
                          f"Redeploy: `{_REDEPLOY}`.")  # fmt: skip
    for ip in OUTSIDE:
        status, message = _call(api, "/orders", ip=ip)
        if not _policy_refused(status, message):
            if "Condition" not in json.dumps(live):
                raise CheckFailed(f"a request from {ip}, outside the office, got through ({status}): the policy has "
                                  "no condition, so it lets everyone in.",
                                  f"Deny execute-api:Invoke with a NotIpAddress condition on aws:SourceIp {OFFICE}.")
            raise CheckFailed(f"a request from {ip}, outside the office network {OFFICE}, got through ({status}): the "
                              "address range in the policy is wider than the office network (or misses this "
                              "address).", f"Use exactly {OFFICE} in the aws:SourceIp condition.")  # fmt: skip
        if "explicit deny" not in message:
            raise CheckFailed(f"a request from {ip} is refused only because no statement allows it ({message!r}); "
                              "the exercise asks for an explicit Deny.",
                              f"Allow everyone, and add a Deny with Condition NotIpAddress aws:SourceIp {OFFICE}.")
    for ip in INSIDE:
        status, message = _call(api, "/orders", ip=ip)
        if _policy_refused(status, message):
            raise CheckFailed(f"a request from {ip}, inside the office network {OFFICE}, is refused by the policy: "
                              f"{message}", f"Check the CIDR: the office is {OFFICE} (a /24, 256 addresses).")
    return (f"Office addresses ({', '.join(INSIDE)}) pass the policy; {', '.join(OUTSIDE)} get 403 with an explicit "
            "deny.")  # fmt: skip


# ------------------------------------------------------------------------- 2. Cognito authorizer


@lab_check("06.cognito", LESSON, needs=("api_id", "authorizer_id"), title="Exercise 2 · A Cognito authorizer",
           exercise=2)  # fmt: skip
def check_cognito(api_id: Any, authorizer_id: Any) -> str:
    """GET /orders uses a COGNITO_USER_POOLS authorizer for lab06-users: no token → 401, ada's ID token passes."""
    api = _api(api_id)
    source = "apigw.create_authorizer(...)['id']"
    authorizer = _authorizer(api, "authorizer_id", authorizer_id, source)
    if authorizer.get("type") != "COGNITO_USER_POOLS":
        raise CheckFailed(f"the authorizer's type is {authorizer.get('type')}; a Cognito user-pool authorizer has type "
                          "COGNITO_USER_POOLS.", "Create it with type='COGNITO_USER_POOLS' and providerARNs.")
    users, partners = _pool(USERS_POOL), _pool(PARTNERS_POOL)
    arns = authorizer.get("providerARNs") or []
    if users is None or users["Arn"] not in arns:
        named = [PARTNERS_POOL if partners and a == partners["Arn"] else a for a in arns]
        raise CheckFailed(f"the authorizer trusts {', '.join(named) or 'no user pool'}, not {USERS_POOL} (where the "
                          "app's users sign in): their tokens would be refused with 401.",
                          f"Set providerARNs to [the ARN of {USERS_POOL}] (update_authorizer, or create it again), "
                          "then redeploy.")  # fmt: skip
    method = _method(api, "/orders")
    if method.get("authorizationType") != "COGNITO_USER_POOLS" or method.get("authorizerId") != authorizer["id"]:
        raise CheckFailed(f"GET /orders has authorizationType {method.get('authorizationType')} "
                          f"(authorizerId {method.get('authorizerId')}): the authorizer exists but the method does "
                          "not use it.",
                          "update_get('/orders', authorizationType='COGNITO_USER_POOLS', "
                          "authorizerId=authorizer_id) (on AWS: update_method), then redeploy.")  # fmt: skip
    status, message = _call(api, "/orders")
    if _policy_refused(status, message):
        raise CheckFailed(f"an office request is refused by the resource policy ({message}).",
                          "Fix exercise 1 first.")  # fmt: skip
    if status != 401:
        raise CheckFailed(f"GET /orders without a token answers {status}, not 401: stage {STAGE!r} still runs a "
                          "deployment made before the method used the authorizer.", f"Redeploy: `{_REDEPLOY}`.")
    status, message = _call(api, "/orders", {"Authorization": _id_token()})
    if status == 401:
        raise CheckFailed(f"{USER}'s ID token from {USERS_POOL} is refused with 401: the deployed stage still runs an "
                          "older version of the authorizer.", f"Redeploy: `{_REDEPLOY}`.")  # fmt: skip
    return (f"GET /orders: no token → 401; {USER}'s ID token from {USERS_POOL} → accepted ({status}) by authorizer "
            f"{authorizer['id']}.")  # fmt: skip


# ------------------------------------------------------------------------- 3. API key and usage plan


@lab_check("06.usage_plan", LESSON, needs=("api_id", "plan_id", "key_id"), title="Exercise 3 · API key and usage plan",
           exercise=3)  # fmt: skip
def check_usage_plan(api_id: Any, plan_id: Any, key_id: Any) -> str:
    """GET /orders needs a key in the plan (rate 2, burst 4, 1,000 a day): no key → 403; 6 at once → 4 pass."""
    from stacklab import clock

    api = _api(api_id)
    ag = aws("apigateway")
    plan_ident = _id_arg("plan_id", plan_id, "usage plan's id", "apigw.create_usage_plan(...)['id']")
    key_ident = _id_arg("key_id", key_id, "API key's id", "apigw.create_api_key(...)['id']")
    try:
        plan = ag.get_usage_plan(usagePlanId=plan_ident)
    except Exception as exc:  # noqa: BLE001
        if _error_code(exc) == "NotFoundException":
            raise CheckFailed(f"there is no usage plan {plan_ident!r}.",
                              "Use the id create_usage_plan returned.") from None  # fmt: skip
        raise
    try:
        key = ag.get_api_key(apiKey=key_ident, includeValue=True)
    except Exception as exc:  # noqa: BLE001
        if _error_code(exc) == "NotFoundException":
            raise CheckFailed(f"there is no API key {key_ident!r} (use the key's id, not its value).",
                              "Use `key_id = apigw.create_api_key(...)['id']`.") from None  # fmt: skip
        raise
    stages = [(s.get("apiId"), s.get("stage")) for s in plan.get("apiStages") or []]
    if (api, STAGE) not in stages:
        raise CheckFailed(f"the usage plan is not associated with stage {STAGE!r} of this API (its stages: "
                          f"{stages or 'none'}), so no key in it is accepted there.",
                          f"Create the plan with apiStages=[{{'apiId': api_id, 'stage': '{STAGE}'}}].")  # fmt: skip
    throttle = plan.get("throttle") or {}
    if (float(throttle.get("rateLimit", -1)), int(throttle.get("burstLimit", -1))) != (PLAN_RATE, PLAN_BURST):
        raise CheckFailed(f"the plan's throttle is {throttle or 'not set'}; the exercise asks for rateLimit "
                          f"{PLAN_RATE:g} and burstLimit {PLAN_BURST}.",
                          f"throttle={{'rateLimit': {PLAN_RATE:g}, 'burstLimit': {PLAN_BURST}}}")  # fmt: skip
    quota = plan.get("quota") or {}
    if (int(quota.get("limit", -1)), quota.get("period")) != (PLAN_QUOTA, "DAY"):
        raise CheckFailed(f"the plan's quota is {quota or 'not set'}; the exercise asks for {PLAN_QUOTA} requests "
                          "per DAY.", f"quota={{'limit': {PLAN_QUOTA}, 'period': 'DAY'}}")  # fmt: skip
    in_plan = [k["id"] for k in ag.get_usage_plan_keys(usagePlanId=plan["id"]).get("items", [])]
    if key["id"] not in in_plan:
        raise CheckFailed(f"the key {key['name']!r} is not in the usage plan ({len(in_plan)} key(s) in it): API "
                          "Gateway only accepts keys that belong to a usage plan of the stage, so every request with "
                          "it gets 403 Forbidden.",
                          "apigw.create_usage_plan_key(usagePlanId=plan_id, keyId=key_id, keyType='API_KEY')")
    if not key.get("enabled"):
        raise CheckFailed(f"the key {key['name']!r} is disabled.", "Create it with enabled=True.")
    method = _method(api, "/orders")
    if not method.get("apiKeyRequired"):
        raise CheckFailed("GET /orders does not require an API key (apiKeyRequired is false): requests without a key "
                          "are not metered or limited by the plan.",
                          "update_get('/orders', apiKeyRequired=True) (on AWS: update_method with "
                          "/apiKeyRequired), then redeploy.")  # fmt: skip
    headers: dict[str, str] = {}
    if method.get("authorizationType") == "COGNITO_USER_POOLS":
        headers["Authorization"] = _id_token()
    status, message = _call(api, "/orders", headers)
    if status in (401, 403) and message != "Forbidden":
        raise CheckFailed(f"GET /orders is refused before the key is checked ({status} {message}).",
                          "Finish exercises 1 and 2 first.")  # fmt: skip
    if (status, message) != (403, "Forbidden"):
        raise CheckFailed(f"GET /orders without a key answers {status}: stage {STAGE!r} still runs a deployment made "
                          "before the method required a key.", f"Redeploy: `{_REDEPLOY}`.")  # fmt: skip
    clock().advance(seconds=PLAN_BURST / PLAN_RATE + 1)  # a full bucket for the burst below
    burst = [_call(api, "/orders", {**headers, "x-api-key": key["value"]}) for _ in range(PLAN_BURST + 2)]
    statuses = [s for s, _ in burst]
    expected = [200] * PLAN_BURST + [429, 429]
    if statuses != expected:
        shown = ", ".join(f"{s} {m}".strip() for s, m in burst[-2:])
        raise CheckFailed(f"{PLAN_BURST + 2} requests at one instant with the key got {statuses} (last: {shown}); "
                          f"with burstLimit {PLAN_BURST} the first {PLAN_BURST} pass and the rest get 429.",
                          "Check the stage's own throttling settings and that the plan has the key.")  # fmt: skip
    return (f"GET /orders: no key → 403 Forbidden; key {key['name']!r} in plan {plan['name']!r}: "
            f"{PLAN_BURST + 2} requests at once → {PLAN_BURST} × 200, 2 × 429 Too Many Requests.")  # fmt: skip


# ------------------------------------------------------------------------- 4. TOKEN Lambda authorizer


@lab_check("06.staff", LESSON, needs=("api_id", "staff_authorizer_id"), title="Exercise 4 · A staff-only Lambda "
           "authorizer", exercise=4)  # fmt: skip
def check_staff(api_id: Any, staff_authorizer_id: Any) -> str:
    """GET /admin and /audit use the TOKEN authorizer (cache off): no/wrong token → 401; staff token → 200 on both."""
    from stacklab import clock

    api = _api(api_id)
    authorizer = _authorizer(api, "staff_authorizer_id", staff_authorizer_id, "apigw.create_authorizer(...)['id']")
    if authorizer.get("type") != "TOKEN":
        raise CheckFailed(f"the authorizer's type is {authorizer.get('type')}; the staff token is one header, so "
                          "this is a TOKEN authorizer.", "Create it with type='TOKEN'.")  # fmt: skip
    if f":function:{STAFF_FUNCTION}" not in str(authorizer.get("authorizerUri")):
        raise CheckFailed(f"the authorizer does not invoke {STAFF_FUNCTION} (authorizerUri "
                          f"{authorizer.get('authorizerUri')!r}).",
                          "authorizerUri=invocation_uri(staff_arn), the function's invocation URI.")  # fmt: skip
    methods = {p: _method(api, p) for p in ("/admin", "/audit")}
    missing = [p for p, m in methods.items()
               if m.get("authorizationType") != "CUSTOM" or m.get("authorizerId") != authorizer["id"]]
    if missing:
        raise CheckFailed(f"GET {' and GET '.join(missing)} do(es) not use the staff authorizer.",
                          "Set authorizationType 'CUSTOM' and authorizerId on both methods (update_get; on AWS "
                          "update_method), then redeploy.")  # fmt: skip
    ttl = authorizer.get("authorizerResultTtlInSeconds")
    if ttl is None or int(ttl) != 0:
        ttl = 300 if ttl is None else int(ttl)
        raise CheckFailed(f"the authorizer caches its results for {ttl} s"
                          f"{' (the default when none is set)' if ttl == 300 else ''}; the staff function returns "
                          "a policy for the one method it was asked about, so a cached policy for /admin makes /audit "
                          "answer 403.",
                          "Set authorizerResultTtlInSeconds=0 (caching off), then redeploy.")  # fmt: skip
    clock().advance(seconds=3601)  # past the longest authorizer cache TTL: every call below starts uncached
    for path in ("/admin", "/audit"):
        status, _ = _call(api, path)
        if status != 401:
            raise CheckFailed(f"GET {path} without a token answers {status}, not 401: stage {STAGE!r} still runs a "
                              "deployment made before the method used the authorizer.", f"Redeploy: `{_REDEPLOY}`.")
    status, _ = _call(api, "/admin", {"Authorization": "Bearer guessed-token"})
    if status != 401:
        raise CheckFailed(f"GET /admin with a wrong token answers {status}, not 401.",
                          f"Use the function {STAFF_FUNCTION} as it is given.")  # fmt: skip
    answers = [(path, *_call(api, path, {"Authorization": STAFF_TOKEN})) for path in ("/admin", "/audit")]
    refused = [f"GET {p} → {s} {m}" for p, s, m in answers if s != 200]
    if refused:
        raise CheckFailed(f"with the staff token: {'; '.join(refused)}. The deployed stage still caches the "
                          "authorizer's per-method policy (an older deployment of the authorizer).",
                          f"Redeploy: `{_REDEPLOY}`.")  # fmt: skip
    return ("GET /admin and /audit: no token or a wrong one → 401; the staff token → 200 on both, one after the "
            "other (no cached per-method policy).")

"""Checks for Lab 07 — Stages and canary releases (aliases, stage variables, a canary, its promotion).

Each check reads the sandbox through boto3 and then *observes* the API through the gateway plane
(:mod:`stacklab.planes.gateway`), which runs the stage, its variables and its canary as API Gateway
would; a ❌ names the setting that made the API behave otherwise.
"""

from __future__ import annotations

import json
import re
from typing import Any

from stacklab.checks import CheckFailed, lab_check
from stacklab.labchecks import aws

LESSON = "07"
FUNCTION = "lab07-func"
VARIABLE = "alias"
ALIASES = {"live": "1", "beta": "2"}
STAGES = {"prod": "live", "beta": "beta"}
CANARY_PERCENT = 10.0
#: Requests a check sends to measure the canary's share (to a MOCK route), and to /hello (each runs the function).
SAMPLE = 60
VERSION_SAMPLE = 10
_API_ID_RE = re.compile(r"[a-z0-9]{10}")
_RESET_HINT = (
    "If you restarted the kernel or ran stacklab.reset() since, the sandbox is empty again: "
    "re-run the cells from the top."
)
_API_SOURCE = "apigateway.create_rest_api(...)['id']"
_PROMOTE_HINT = (
    "Promote with one update_stage call: copy /canarySettings/deploymentId to /deploymentId and "
    "/canarySettings/stageVariableOverrides to /variables, then remove /canarySettings."
)


# ------------------------------------------------------------------------------------ helpers


def _error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _api_id(value: Any) -> str:
    """The REST API id in ``value``, checked against the sandbox; else CheckFailed naming the mistake."""
    if isinstance(value, dict):
        raise CheckFailed("`api_id` holds a whole dict (a boto3 response or part of one), not the API's id.",
                          f"Take just the id: `api_id = {_API_SOURCE}`.")
    if not isinstance(value, str):
        raise CheckFailed(f"`api_id` should be the REST API's id, a string such as 'a1b2c3d4e5'; it holds "
                          f"{type(value).__name__} {value!r}.", f"Set it from the response: `api_id = {_API_SOURCE}`.")
    value = value.strip()
    if value.startswith(("http://", "https://")):
        raise CheckFailed("`api_id` holds a URL; the API calls take the API's id (the first label of its "
                          "execute-api host name).", f"Use `api_id = {_API_SOURCE}`.")
    if not _API_ID_RE.fullmatch(value):
        raise CheckFailed(f"`api_id` is {value!r}, which does not look like a REST API id (10 lower-case letters "
                          "and digits).", f"Use `api_id = {_API_SOURCE}`.")
    try:
        aws("apigateway").get_rest_api(restApiId=value)
    except Exception as exc:  # noqa: BLE001 - botocore ClientError
        if _error_code(exc) == "NotFoundException":
            raise CheckFailed(f"there is no REST API {value!r} in the sandbox.",
                              f"Use the id create_rest_api returned. {_RESET_HINT}") from exc
        raise
    return value


def _stage(api_id: str, name: str) -> dict[str, Any] | None:
    try:
        return aws("apigateway").get_stage(restApiId=api_id, stageName=name)
    except Exception as exc:  # noqa: BLE001
        if _error_code(exc) == "NotFoundException":
            return None
        raise


def _call(api_id: str, stage: str, path: str = "/hello") -> Any:
    from stacklab.planes import gateway

    return gateway.request(api_id, stage, "GET", path)


def _version(response: Any) -> str | None:
    """The function version a /hello response reports, or None when it is not the lab's JSON."""
    try:
        return str(json.loads(response.body)["version"])
    except (ValueError, KeyError, TypeError):
        return None


def _failure(response: Any) -> str:
    reason = response.header("x-stacklab-reason") if hasattr(response, "header") else None
    text = f"{response.status} {response.text}"
    return f"{text} ({reason})" if reason else text


def _integration_uri(api_id: str) -> str:
    ag = aws("apigateway")
    resources = ag.get_resources(restApiId=api_id, embed=["methods"])["items"]
    hello = next((r for r in resources if r.get("path") == "/hello"), None)
    if hello is None:
        raise CheckFailed("the API has no /hello resource.", f"Run the setup cell at the top. {_RESET_HINT}")
    method = (hello.get("resourceMethods") or {}).get("GET") or {}
    integration = method.get("methodIntegration")
    if not integration:
        raise CheckFailed("GET /hello has no integration yet.",
                          "put_integration(type='AWS_PROXY', integrationHttpMethod='POST', uri=...) with the "
                          "function ARN ending in :${stageVariables.alias}.")
    if integration.get("type") != "AWS_PROXY":
        raise CheckFailed(f"GET /hello's integration has type {integration.get('type')!r}; the exercise uses a "
                          "Lambda proxy integration.", "Use type='AWS_PROXY' with integrationHttpMethod='POST'.")
    return str(integration.get("uri") or "")


# ----------------------------------------------------------------------- 1. versions and aliases


@lab_check("07.aliases", LESSON, title="Exercise 1 · Two versions, two aliases", exercise=1)
def check_aliases() -> str:
    """Aliases live → version 1 (release 1) and beta → version 2 (release 2), observed by invoking them."""
    from stacklab.planes import functions

    lam = aws("lambda")
    try:
        lam.get_function(FunctionName=FUNCTION)
    except Exception as exc:  # noqa: BLE001
        if _error_code(exc) == "ResourceNotFoundException":
            raise CheckFailed(f"there is no function {FUNCTION} in the sandbox.",
                              f"Run the setup cell at the top. {_RESET_HINT}") from exc
        raise
    versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=FUNCTION)["Versions"]
                if v["Version"] != "$LATEST"]
    if len(versions) < 2:
        raise CheckFailed(f"{FUNCTION} has {len(versions)} published version(s); the exercise needs two "
                          "(release 1 and release 2).",
                          "publish_version once, update_function_code with RELEASE_2, then publish_version again.")
    aliases = {a["Name"]: a for a in lam.list_aliases(FunctionName=FUNCTION)["Aliases"]}
    for name, version in ALIASES.items():
        alias = aliases.get(name)
        if alias is None:
            others = ", ".join(sorted(aliases)) or "none"
            raise CheckFailed(f"{FUNCTION} has no alias named {name!r} (aliases: {others}).",
                              f"create_alias(FunctionName='{FUNCTION}', Name='{name}', FunctionVersion='{version}').")
        if alias["FunctionVersion"] == "$LATEST":
            raise CheckFailed(f"the alias {name!r} points at $LATEST, which changes with every code upload; it "
                              f"should pin version {version}.",
                              f"update_alias(FunctionName='{FUNCTION}', Name='{name}', FunctionVersion='{version}').")
        if alias["FunctionVersion"] != version:
            raise CheckFailed(f"the alias {name!r} points at version {alias['FunctionVersion']}; it should point at "
                              f"version {version}.",
                              f"update_alias(FunctionName='{FUNCTION}', Name='{name}', FunctionVersion='{version}').")
    for name, version in ALIASES.items():
        run = functions.invoke(FUNCTION, {"requestContext": {"stage": "check"}}, qualifier=name)
        body = json.loads((run.json() or {}).get("body") or "{}")
        expected = f"release {version}"
        if expected not in str(body.get("message", "")):
            raise CheckFailed(f"invoking {FUNCTION}:{name} runs version {run.executed_version}, which answers "
                              f"{body.get('message')!r}, not {expected!r}: version {version} was published from "
                              "the wrong code.",
                              "Publish version 1 before update_function_code, and version 2 after it.")
    return f"{FUNCTION}:live runs version 1 (release 1), {FUNCTION}:beta runs version 2 (release 2)."


# ------------------------------------------------------------------------ 2. stage variables


@lab_check("07.stages", LESSON, needs=("api_id",), title="Exercise 2 · One integration, two stages", exercise=2)
def check_stages(api_id: Any) -> str:
    """The URI selects the alias with ${stageVariables.alias}; prod → live (v1), beta → beta (v2); permissions."""
    ident = _api_id(api_id)
    uri = _integration_uri(ident)
    if "${stageVariables.alias}" not in uri:
        fixed = re.search(r":function:[A-Za-z0-9_-]+(:[^/]*)?/invocations", uri)
        shown = fixed.group(0) if fixed else uri
        raise CheckFailed(f"the integration URI does not use the stage variable (it ends in {shown!r}), so every "
                          "stage invokes the same function version.",
                          "End the function ARN with :${stageVariables.alias} inside the invocations URI.")
    for stage, alias in STAGES.items():
        found = _stage(ident, stage)
        if found is None:
            raise CheckFailed(f"the API has no stage {stage!r}.",
                              f"create_deployment(..., stageName='{stage}', variables={{'alias': '{alias}'}}) "
                              "or create_stage on an existing deployment.")
        value = (found.get("variables") or {}).get(VARIABLE)
        if value is None:
            raise CheckFailed(f"the stage {stage!r} has no stage variable {VARIABLE!r}: the function ARN ends in an "
                              "empty qualifier and every request to it fails with 500 on AWS.",
                              f"update_stage(..., stageName='{stage}', patchOperations=[{{'op': 'replace', "
                              f"'path': '/variables/alias', 'value': '{alias}'}}]).")
        response = _call(ident, stage)
        if response.status != 200:
            raise CheckFailed(f"GET /{stage}/hello answers {_failure(response)}: the stage variable {VARIABLE}="
                              f"{value!r} does not name an alias of {FUNCTION}.",
                              f"Set {VARIABLE} to '{alias}' on {stage} (and create the alias in Exercise 1).")
        if value != alias:
            raise CheckFailed(f"the stage {stage!r} has {VARIABLE}={value!r}, so it runs version "
                              f"{_version(response)}; it should invoke the alias {alias!r} "
                              f"(version {ALIASES[alias]}).",
                              f"Set the stage variable {VARIABLE} to '{alias}' on {stage}.")
    for alias in ALIASES:
        _check_permission(ident, alias)
    return (f"GET /prod/hello runs version 1 through the live alias and GET /beta/hello version 2 through beta; "
            f"both aliases let API {ident} invoke them.")


def _check_permission(api_id: str, alias: str) -> None:
    hint = (f"add_permission(FunctionName='{FUNCTION}', Qualifier='{alias}', StatementId='apigw-{alias}', "
            "Action='lambda:InvokeFunction', Principal='apigateway.amazonaws.com', "
            f"SourceArn='arn:aws:execute-api:us-east-1:123456789012:{api_id}/*/GET/hello').")
    missing = CheckFailed(f"the alias {alias!r} has no resource-based policy: on AWS API Gateway may not invoke "
                          f"{FUNCTION}:{alias} and answers 500 (the sandbox does not enforce this).", hint)
    try:
        policy = json.loads(aws("lambda").get_policy(FunctionName=FUNCTION, Qualifier=alias)["Policy"])
    except Exception as exc:  # noqa: BLE001
        if _error_code(exc) == "ResourceNotFoundException":
            raise missing from exc
        raise
    # moto returns the statements of every qualifier; AWS only this alias's.
    qualified = f":function:{FUNCTION}:{alias}"
    statements = [s for s in policy.get("Statement") or [] if str(s.get("Resource", "")).endswith(qualified)]
    if not statements:
        raise missing
    for statement in statements:
        principal = statement.get("Principal")
        service = principal.get("Service") if isinstance(principal, dict) else principal
        if statement.get("Effect") == "Allow" and service == "apigateway.amazonaws.com":
            source = json.dumps(statement.get("Condition") or {})
            if api_id in source or not statement.get("Condition"):
                return
    raise CheckFailed(f"the policy of {FUNCTION}:{alias} does not allow apigateway.amazonaws.com to invoke it for "
                      f"API {api_id}: on AWS its stage would answer 500.", hint)


# ------------------------------------------------------------------------------- 3. the canary


def _deployments(api_id: str) -> set[str]:
    return {d["id"] for d in aws("apigateway").get_deployments(restApiId=api_id)["items"]}


@lab_check("07.canary", LESSON, needs=("api_id", "canary_id"), title="Exercise 3 · A 10 % canary on prod",
           exercise=3)
def check_canary(api_id: Any, canary_id: Any) -> str:
    """prod carries a canary: the new deployment, 10 %, alias overridden to beta; measured over requests."""
    ident = _api_id(api_id)
    prod = _stage(ident, "prod")
    if prod is None:
        raise CheckFailed("the API has no stage 'prod'.", "Do Exercise 2 first.")
    canary = prod.get("canarySettings")
    if not canary:
        beta = _stage(ident, "beta") or {}
        if beta.get("canarySettings"):
            raise CheckFailed("the canary is on the beta stage; the exercise rolls release 2 out on prod.",
                              "Remove it from beta (op remove /canarySettings) and create the deployment with "
                              "stageName='prod' and canarySettings.")
        raise CheckFailed("the prod stage has no canary.",
                          "create_deployment(restApiId=api_id, stageName='prod', canarySettings={'percentTraffic': "
                          "10.0, 'stageVariableOverrides': {'alias': 'beta'}}).")
    if not isinstance(canary_id, str) or canary_id.strip() not in _deployments(ident):
        raise CheckFailed(f"`canary_id` is {canary_id!r}, which is not a deployment of this API.",
                          "Set `canary_id` to the 'id' of the create_deployment response that made the canary.")
    if canary.get("deploymentId") != canary_id.strip():
        raise CheckFailed(f"prod's canary runs deployment {canary.get('deploymentId')}, not `canary_id` "
                          f"({canary_id}).", "Set `canary_id` from the create_deployment call that made the canary.")
    if canary_id.strip() == prod["deploymentId"]:
        raise CheckFailed("the canary runs the same deployment as the stage, so it carries none of the new release "
                          "(no /health).", "Create the canary with create_deployment(..., canarySettings=...) after "
                          "the setup cell that adds /health.")
    from stacklab.planes.gateway import deployment_snapshot

    paths = {r.get("path") for r in deployment_snapshot(ident, canary_id.strip())["resources"]}
    if "/health" not in paths:
        raise CheckFailed(f"the canary's deployment {canary_id.strip()} has no /health route: it was made before the "
                          "cell that adds /health, so the canary carries none of the API's changes.",
                          "Run the /health cell, then create the canary deployment again (update_stage can remove "
                          "the old canary first: op remove /canarySettings).")
    percent = float(canary.get("percentTraffic") or 0.0)
    if percent >= 100.0:
        raise CheckFailed("the canary takes 100 % of prod's traffic: that is a cut-over to the new release, not a "
                          "canary.", "Set percentTraffic to 10.0.")
    if 0.0 < percent < 1.0:
        raise CheckFailed(f"percentTraffic is {percent:g}, i.e. {percent:g} % of the requests: it is a percentage "
                          "(0-100), not a fraction like Lambda's alias weights.", "Set percentTraffic to 10.0.")
    if percent != CANARY_PERCENT:
        raise CheckFailed(f"the canary takes {percent:g} % of prod's traffic; the exercise asks for 10 %.",
                          "update_stage with {'op': 'replace', 'path': '/canarySettings/percentTraffic', "
                          "'value': '10.0'}.")
    override = (canary.get("stageVariableOverrides") or {}).get(VARIABLE)
    if override != "beta":
        now = "none" if override is None else repr(override)
        raise CheckFailed(f"the canary's override of {VARIABLE} is {now}, so canary requests still invoke the "
                          f"{'live' if override is None else override} alias instead of release 2.",
                          "Give the canary stageVariableOverrides={'alias': 'beta'}.")
    # The split, measured cheaply on /health (a MOCK route only the canary has), then the version
    # that canary requests to /hello run.
    cid = canary_id.strip()
    split = [_call(ident, "prod", "/health") for _ in range(SAMPLE)]
    to_canary = [r for r in split if r.headers.get("x-stacklab-deployment") == cid]
    failing = [r for r in to_canary if r.status != 200]
    if failing:
        raise CheckFailed(f"a canary request to /prod/health answered {_failure(failing[0])}.",
                          "Create the canary after the cell that adds /health.")
    hello = [_call(ident, "prod") for _ in range(VERSION_SAMPLE)]
    bad = [r for r in hello if r.status != 200]
    if bad:
        raise CheckFailed(f"{len(bad)} of {VERSION_SAMPLE} requests to /prod/hello failed: {_failure(bad[0])}.",
                          "Check the aliases and the stage variable overrides.")
    wrong = [r for r in hello if r.headers.get("x-stacklab-deployment") == cid and _version(r) != ALIASES["beta"]]
    if wrong:
        raise CheckFailed(f"canary requests run version {_version(wrong[0])}, not version 2.",
                          "Give the canary stageVariableOverrides={'alias': 'beta'}.")
    return (f"prod sends 10 % of its requests to deployment {cid} with alias=beta; "
            f"{len(to_canary)} of {SAMPLE} sample requests went there.")


# ------------------------------------------------------------------------------ 4. promotion


@lab_check("07.promoted", LESSON, needs=("api_id", "canary_id"), title="Exercise 4 · Promote the canary",
           exercise=4)
def check_promoted(api_id: Any, canary_id: Any) -> str:
    """prod runs the canary's deployment with alias=beta, the canary is removed, /health answers on prod."""
    ident = _api_id(api_id)
    prod = _stage(ident, "prod")
    if prod is None:
        raise CheckFailed("the API has no stage 'prod'.", "Do Exercises 2 and 3 first.")
    if not isinstance(canary_id, str) or canary_id.strip() not in _deployments(ident):
        raise CheckFailed(f"`canary_id` is {canary_id!r}, which is not a deployment of this API.",
                          "Set it in Exercise 3 from the create_deployment response.")
    canary_id = canary_id.strip()
    variable = (prod.get("variables") or {}).get(VARIABLE)
    health = _call(ident, "prod", "/health")
    if prod["deploymentId"] != canary_id:
        if health.status == 403:
            detail = "GET /prod/health still answers 403 Missing Authentication Token"
        else:
            detail = f"GET /prod/health answers {health.status}"
        raise CheckFailed(f"prod still points at the old deployment {prod['deploymentId']}, not the canary's "
                          f"{canary_id}: {detail}.", _PROMOTE_HINT)
    if variable != "beta":
        version = _version(_call(ident, "prod"))
        raise CheckFailed(f"prod runs the canary's deployment, but its variable {VARIABLE} is still {variable!r}, so "
                          f"it invokes version {version}: the canary's overrides were not copied into the stage.",
                          "update_stage with {'op': 'copy', 'from': '/canarySettings/stageVariableOverrides', "
                          "'path': '/variables'} (before removing the canary), or set /variables/alias to 'beta'.")
    canary = prod.get("canarySettings")
    if canary:
        percent = float(canary.get("percentTraffic") or 0.0)
        raise CheckFailed(f"the stage is promoted, but its canary settings are still there ({percent:g} % of the "
                          "traffic): promotion does not turn the canary off.",
                          "update_stage with {'op': 'remove', 'path': '/canarySettings'}.")
    if health.status != 200:
        raise CheckFailed(f"GET /prod/health answers {_failure(health)}: the promoted deployment has no /health.",
                          "Create the canary after the cell that adds /health (Exercise 3), then promote it.")
    versions = {_version(_call(ident, "prod")) for _ in range(10)}
    if versions != {ALIASES["beta"]}:
        raise CheckFailed(f"prod's requests run version(s) {', '.join(sorted(str(v) for v in versions))}, not only "
                          "version 2.", _PROMOTE_HINT)
    return (f"prod runs deployment {canary_id} with alias=beta and no canary: every request gets version 2, "
            "and /health answers 200.")

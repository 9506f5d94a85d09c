"""Lab 07's checks pass on the solution and name the exact mistake in realistic wrong answers."""

from __future__ import annotations

import json

import pytest
from support.labcheck import failed, run

import stacklab
from stacklab.planes import functions
from stacklab.planes import gateway as _gateway  # noqa: F401 - installs the plane's canary/snapshot wrappers

FUNCTION = "lab07-func"
CODE = '''
import json


def lambda_handler(event, context):
    return {{"statusCode": 200, "body": json.dumps({{"message": "{message}", "version": context.function_version}})}}
'''
RELEASE_1 = functions.package(CODE.format(message="Hello from release 1"))
RELEASE_2 = functions.package(CODE.format(message="Hello from release 2"))
URI = ("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
       "arn:aws:lambda:us-east-1:123456789012:function:lab07-func:{qualifier}/invocations")


def lam():
    return stacklab.client("lambda")


def ag():
    return stacklab.client("apigateway")


@pytest.fixture(autouse=True)
def fresh(box, tmp_path, monkeypatch):
    monkeypatch.setenv("STACKLAB_PROGRESS", str(tmp_path / "progress.json"))
    stacklab.reset()
    role = stacklab.client("iam").create_role(RoleName="lab07-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam().create_function(FunctionName=FUNCTION, Runtime="python3.12", Role=role,
                          Handler="lambda_function.lambda_handler", Code={"ZipFile": RELEASE_1})


# ------------------------------------------------------------------------------------ builders


def versions(*, swap_code: bool = False) -> None:
    """Publish version 1 (release 1) and 2 (release 2); ``swap_code`` uploads release 2 first (a mistake)."""
    if swap_code:
        lam().update_function_code(FunctionName=FUNCTION, ZipFile=RELEASE_2)
    lam().publish_version(FunctionName=FUNCTION)
    lam().update_function_code(FunctionName=FUNCTION, ZipFile=RELEASE_2)
    lam().update_function_configuration(FunctionName=FUNCTION, Description="release 2")
    lam().publish_version(FunctionName=FUNCTION)


def aliases(live: str = "1", beta: str | None = "2") -> None:
    lam().create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion=live)
    if beta is not None:
        lam().create_alias(FunctionName=FUNCTION, Name="beta", FunctionVersion=beta)


def api(qualifier: str = "${stageVariables.alias}") -> tuple[str, str]:
    api_id = ag().create_rest_api(name="lab07-api")["id"]
    root = ag().get_resources(restApiId=api_id)["items"][0]["id"]
    hello = ag().create_resource(restApiId=api_id, parentId=root, pathPart="hello")["id"]
    ag().put_method(restApiId=api_id, resourceId=hello, httpMethod="GET", authorizationType="NONE")
    ag().put_integration(restApiId=api_id, resourceId=hello, httpMethod="GET", type="AWS_PROXY",
                         integrationHttpMethod="POST", uri=URI.format(qualifier=qualifier))
    return api_id, root


def stages(api_id: str, prod: str | None = "live", beta: str | None = "beta") -> str:
    first = ag().create_deployment(restApiId=api_id, stageName="prod",
                                   variables={"alias": prod} if prod else {})["id"]
    ag().create_stage(restApiId=api_id, stageName="beta", deploymentId=first,
                      variables={"alias": beta} if beta else {})
    return first


def permit(api_id: str, *names: str, source_api: str | None = None) -> None:
    for alias in names or ("live", "beta"):
        lam().add_permission(FunctionName=FUNCTION, Qualifier=alias, StatementId=f"apigw-{alias}",
                             Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com",
                             SourceArn=f"arn:aws:execute-api:us-east-1:123456789012:{source_api or api_id}/*/GET/hello")


def add_health(api_id: str, root: str) -> None:
    health = ag().create_resource(restApiId=api_id, parentId=root, pathPart="health")["id"]
    ag().put_method(restApiId=api_id, resourceId=health, httpMethod="GET", authorizationType="NONE")
    ag().put_integration(restApiId=api_id, resourceId=health, httpMethod="GET", type="MOCK",
                         requestTemplates={"application/json": '{"statusCode": 200}'})
    ag().put_integration_response(restApiId=api_id, resourceId=health, httpMethod="GET", statusCode="200",
                                  responseTemplates={"application/json": '{"healthy": true}'})


def canary(api_id: str, stage: str = "prod", percent: float = 10.0, overrides: dict | None = None) -> str:
    settings = {"percentTraffic": percent, "stageVariableOverrides": {"alias": "beta"} if overrides is None
                else overrides}
    return ag().create_deployment(restApiId=api_id, stageName=stage, canarySettings=settings)["id"]


def patch(api_id: str, *ops: dict) -> None:
    ag().update_stage(restApiId=api_id, stageName="prod", patchOperations=list(ops))


COPY_DEPLOYMENT = {"op": "copy", "from": "/canarySettings/deploymentId", "path": "/deploymentId"}
COPY_VARIABLES = {"op": "copy", "from": "/canarySettings/stageVariableOverrides", "path": "/variables"}
ZERO = {"op": "replace", "path": "/canarySettings/percentTraffic", "value": "0.0"}
REMOVE = {"op": "remove", "path": "/canarySettings"}


def up_to_stages() -> tuple[str, str]:
    versions()
    aliases()
    api_id, root = api()
    stages(api_id)
    permit(api_id)
    return api_id, root


def up_to_canary() -> tuple[str, str]:
    api_id, root = up_to_stages()
    add_health(api_id, root)
    return api_id, canary(api_id)


# --------------------------------------------------------------------------------- the solution


def test_the_solution_passes_every_check():
    api_id, canary_id = up_to_canary()
    assert run("07.aliases", api_id=api_id), "aliases"
    assert run("07.stages", api_id=api_id).message.startswith("GET /prod/hello runs version 1 through the live alias")
    result = run("07.canary", api_id=api_id, canary_id=canary_id)
    assert result and f"prod sends 10 % of its requests to deployment {canary_id}" in result.message
    patch(api_id, COPY_DEPLOYMENT, COPY_VARIABLES, ZERO)
    patch(api_id, REMOVE)
    result = run("07.promoted", api_id=api_id, canary_id=canary_id)
    assert result and "every request gets version 2, and /health answers 200" in result.message


def test_unanswered_and_malformed_api_ids():
    assert "still holds `...`" in run("07.stages", api_id=...).message
    assert "still holds `...`" in run("07.canary", api_id="abcdefghij", canary_id=...).message
    assert "holds a whole dict" in failed("07.stages", api_id={"id": "abc"})
    assert "holds a URL" in failed("07.stages", api_id="https://abcdefghij.execute-api.us-east-1.amazonaws.com/prod")
    assert failed("07.stages", api_id="abcdefghij") == "there is no REST API 'abcdefghij' in the sandbox."
    assert "does not look like a REST API id" in failed("07.stages", api_id="My API")


# ------------------------------------------------------------------------------------ 07.aliases


def test_aliases_missing_or_only_one_version():
    assert "has 0 published version(s)" in failed("07.aliases")
    versions()
    assert failed("07.aliases") == "lab07-func has no alias named 'live' (aliases: none)."
    aliases(beta=None)
    assert failed("07.aliases") == "lab07-func has no alias named 'beta' (aliases: live)."


def test_aliases_on_latest_or_swapped():
    versions()
    aliases(live="$LATEST")
    assert "the alias 'live' points at $LATEST" in failed("07.aliases")
    lam().update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="2")
    assert failed("07.aliases") == "the alias 'live' points at version 2; it should point at version 1."


def test_versions_published_from_the_wrong_code():
    versions(swap_code=True)
    aliases()
    message = failed("07.aliases")
    assert message.startswith("invoking lab07-func:live runs version 1, which answers 'Hello from release 2'")


# ------------------------------------------------------------------------------------ 07.stages


def test_stages_with_a_hard_coded_alias_in_the_uri():
    versions()
    aliases()
    api_id, _ = api(qualifier="live")
    stages(api_id)
    message = failed("07.stages", api_id=api_id)
    assert message.startswith("the integration URI does not use the stage variable (it ends in "
                              "':function:lab07-func:live/invocations')")


def test_stage_variable_not_set_on_prod():
    versions()
    aliases()
    api_id, _ = api()
    stages(api_id, prod=None)
    assert failed("07.stages", api_id=api_id) == (
        "the stage 'prod' has no stage variable 'alias': the function ARN ends in an empty qualifier and every "
        "request to it fails with 500 on AWS.")


def test_stage_variable_naming_a_missing_alias_is_a_500():
    versions()
    aliases()
    api_id, _ = api()
    stages(api_id, prod="prod")
    message = failed("07.stages", api_id=api_id)
    assert message.startswith('GET /prod/hello answers 500 {"message": "Internal server error"}')
    assert "function:lab07-func:prod" in message and "does not name an alias of lab07-func" in message


def test_stage_with_the_other_alias_or_missing_beta_stage():
    versions()
    aliases()
    api_id, _ = api()
    ag().create_deployment(restApiId=api_id, stageName="prod", variables={"alias": "live"})
    assert failed("07.stages", api_id=api_id) == "the API has no stage 'beta'."
    ag().create_deployment(restApiId=api_id, stageName="beta", variables={"alias": "beta"})
    ag().update_stage(restApiId=api_id, stageName="prod",
                      patchOperations=[{"op": "replace", "path": "/variables/alias", "value": "beta"}])
    assert failed("07.stages", api_id=api_id).startswith(
        "the stage 'prod' has alias='beta', so it runs version 2; it should invoke the alias 'live' (version 1).")


def test_missing_or_foreign_lambda_permission():
    versions()
    aliases()
    api_id, _ = api()
    stages(api_id)
    permit(api_id, "live")
    assert failed("07.stages", api_id=api_id).startswith(
        "the alias 'beta' has no resource-based policy: on AWS API Gateway may not invoke lab07-func:beta")
    permit(api_id, "beta", source_api="otherapi00")
    assert failed("07.stages", api_id=api_id).startswith(
        "the policy of lab07-func:beta does not allow apigateway.amazonaws.com to invoke it for API")


# ------------------------------------------------------------------------------------ 07.canary


def test_no_canary_or_canary_on_the_wrong_stage():
    api_id, root = up_to_stages()
    add_health(api_id, root)
    assert failed("07.canary", api_id=api_id, canary_id="x") == "the prod stage has no canary."
    canary_id = canary(api_id, stage="beta")
    assert failed("07.canary", api_id=api_id, canary_id=canary_id).startswith("the canary is on the beta stage")


@pytest.mark.parametrize(("percent", "expected"), [
    (100.0, "the canary takes 100 % of prod's traffic: that is a cut-over to the new release, not a canary."),
    (0.1, "percentTraffic is 0.1, i.e. 0.1 % of the requests: it is a percentage (0-100), not a fraction"),
    (25.0, "the canary takes 25 % of prod's traffic; the exercise asks for 10 %."),
])
def test_canary_with_the_wrong_percentage(percent, expected):
    api_id, root = up_to_stages()
    add_health(api_id, root)
    canary_id = canary(api_id, percent=percent)
    assert failed("07.canary", api_id=api_id, canary_id=canary_id).startswith(expected)


def test_canary_without_the_override_or_with_a_wrong_id():
    api_id, root = up_to_stages()
    add_health(api_id, root)
    canary_id = canary(api_id, overrides={})
    assert failed("07.canary", api_id=api_id, canary_id=canary_id).startswith(
        "the canary's override of alias is none, so canary requests still invoke the live alias")
    first = ag().get_stage(restApiId=api_id, stageName="prod")["deploymentId"]
    assert failed("07.canary", api_id=api_id, canary_id=first).startswith(
        f"prod's canary runs deployment {canary_id}, not `canary_id` ({first})")
    assert failed("07.canary", api_id=api_id, canary_id="nope").startswith(
        "`canary_id` is 'nope', which is not a deployment of this API.")


def test_canary_made_before_the_new_route():
    api_id, _ = up_to_stages()
    canary_id = canary(api_id)
    assert failed("07.canary", api_id=api_id, canary_id=canary_id).startswith(
        f"the canary's deployment {canary_id} has no /health route: it was made before the cell that adds /health")
    patch(api_id, COPY_DEPLOYMENT, COPY_VARIABLES, REMOVE)
    assert failed("07.promoted", api_id=api_id, canary_id=canary_id).startswith(
        'GET /prod/health answers 403 {"message": "Missing Authentication Token"}: the promoted deployment has no')


def test_canary_split_is_observed():
    api_id, canary_id = up_to_canary()
    message = run("07.canary", api_id=api_id, canary_id=canary_id).message
    count = int(message.split("; ")[1].split(" of ")[0])
    assert 1 <= count <= 18  # about 10 % of 60 requests, seeded


# ---------------------------------------------------------------------------------- 07.promoted


def test_promotion_without_removing_the_canary():
    api_id, canary_id = up_to_canary()
    patch(api_id, COPY_DEPLOYMENT, COPY_VARIABLES, ZERO)
    assert failed("07.promoted", api_id=api_id, canary_id=canary_id) == (
        "the stage is promoted, but its canary settings are still there (0 % of the traffic): promotion does not "
        "turn the canary off.")


def test_rollback_instead_of_promotion_leaves_prod_on_the_old_deployment():
    api_id, canary_id = up_to_canary()
    old = ag().get_stage(restApiId=api_id, stageName="prod")["deploymentId"]
    patch(api_id, REMOVE)
    assert failed("07.promoted", api_id=api_id, canary_id=canary_id) == (
        f"prod still points at the old deployment {old}, not the canary's {canary_id}: GET /prod/health still "
        "answers 403 Missing Authentication Token.")


def test_variables_copied_but_stage_left_on_the_old_deployment():
    api_id, canary_id = up_to_canary()
    patch(api_id, COPY_VARIABLES, REMOVE)
    assert ag().get_stage(restApiId=api_id, stageName="prod")["variables"] == {"alias": "beta"}
    assert "prod still points at the old deployment" in failed("07.promoted", api_id=api_id, canary_id=canary_id)


def test_deployment_copied_but_not_the_variables():
    api_id, canary_id = up_to_canary()
    patch(api_id, COPY_DEPLOYMENT, REMOVE)
    assert failed("07.promoted", api_id=api_id, canary_id=canary_id).startswith(
        "prod runs the canary's deployment, but its variable alias is still 'live', so it invokes version 1")


def test_promoted_check_with_a_bad_canary_id():
    api_id, _ = up_to_canary()
    assert "is not a deployment of this API" in failed("07.promoted", api_id=api_id, canary_id=42)


def test_permission_document_shape():
    api_id, _ = up_to_stages()
    policy = json.loads(lam().get_policy(FunctionName=FUNCTION, Qualifier="live")["Policy"])
    assert api_id in json.dumps(policy["Statement"][0]["Condition"])

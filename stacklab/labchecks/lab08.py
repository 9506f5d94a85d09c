"""Checks for Lab 08 — a WebSocket chat (routes and route selection, the ``$connect`` authorizer and Lambda
permissions, a broadcast that cleans up stale connections).

Each check reads the configuration with boto3 (``apigatewayv2``, ``lambda``, ``dynamodb``) to name a wrong
setting, then **uses the API** as a client would: it connects to the ``production`` stage through the
websocket plane (:mod:`stacklab.planes.websocket`) with the lab's token, sends frames and compares what
comes back with what the exercise asks. Every connection a check opens is closed before it returns (so
``$disconnect`` removes it from the connections table), and the stale item check 3 plants is removed again.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from stacklab.checks import CheckFailed, lab_check
from stacklab.labchecks import aws

LESSON = "08"
STAGE = "production"
API_NAME = "lab08-chat"
CHAT_FUNCTION, SEND_FUNCTION, AUTH_FUNCTION = "lab08-chat", "lab08-send", "lab08-auth"
TABLE = "lab08-connections"
TOKEN = "lab08-secret"
SELECTION = "$request.body.action"
ROUTES = {"$connect": CHAT_FUNCTION, "$disconnect": CHAT_FUNCTION, "$default": CHAT_FUNCTION,
          "sendMessage": SEND_FUNCTION}  # fmt: skip
IDENTITY = "route.request.querystring.token"
#: A connection id in AWS's format that no client ever had (check 3 plants it in the table).
STALE_ID = "U3RhbGUtMDAwMDA="
REGION, ACCOUNT = "us-east-1", "123456789012"
_RESET_HINT = (
    "If you restarted the kernel or ran stacklab.reset() since, the sandbox is empty again: re-run the cells "
    "from the top."
)


# ------------------------------------------------------------------------------------ helpers


def _error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _api(api_id: Any) -> dict[str, Any]:
    if isinstance(api_id, dict):
        raise CheckFailed("`api_id` holds a whole dict (a boto3 response), not the API's id.",
                          "Take the id: `api_id = v2.create_api(...)['ApiId']`.")  # fmt: skip
    if not isinstance(api_id, str) or not api_id.strip() or api_id.strip() == "...":
        raise CheckFailed(f"`api_id` should be the WebSocket API's id (a string); it holds {type(api_id).__name__} "
                          f"{api_id!r}.", "Set it from the response: `api_id = v2.create_api(...)['ApiId']`.")
    try:
        api = aws("apigatewayv2").get_api(ApiId=api_id.strip())
    except Exception as exc:  # noqa: BLE001 - botocore ClientError
        if _error_code(exc) == "NotFoundException":
            raise CheckFailed(f"there is no API {api_id!r} in the sandbox.", _RESET_HINT) from None
        raise
    if api.get("ProtocolType") != "WEBSOCKET":
        raise CheckFailed(f"API {api['ApiId']} is an {api.get('ProtocolType')} API, not a WebSocket API.",
                          "Create it with ProtocolType='WEBSOCKET'.")  # fmt: skip
    return api


def _routes(api_id: str) -> dict[str, dict[str, Any]]:
    return {r["RouteKey"]: r for r in aws("apigatewayv2").get_routes(ApiId=api_id).get("Items", [])}


def _function_of(api_id: str, route: dict[str, Any]) -> str | None:
    """The name of the Lambda function behind ``route`` (None: no target, or not a Lambda proxy)."""
    target = str(route.get("Target") or "")
    if not target.startswith("integrations/"):
        return None
    try:
        integration = aws("apigatewayv2").get_integration(ApiId=api_id, IntegrationId=target.split("/", 1)[1])
    except Exception as exc:  # noqa: BLE001
        if _error_code(exc) == "NotFoundException":
            return None
        raise
    uri = str(integration.get("IntegrationUri") or "")
    if ":function:" not in uri:
        return None
    return uri.split(":function:", 1)[1].split("/")[0].split(":")[0]


def _near_miss(wanted: str, keys: list[str]) -> str | None:
    """A route key that is ``wanted`` up to case or a missing/extra ``$``."""
    for key in keys:
        if key != wanted and key.lower().lstrip("$") == wanted.lower().lstrip("$"):
            return key
    return None


def _stage(api_id: str) -> None:
    stages = [s["StageName"] for s in aws("apigatewayv2").get_stages(ApiId=api_id).get("Items", [])]
    if STAGE not in stages:
        raise CheckFailed(f"the API has no stage {STAGE!r} (its stages: {stages or 'none'}), so clients cannot "
                          "connect.", f"v2.create_stage(ApiId=api_id, StageName='{STAGE}'), then "
                          f"v2.create_deployment(ApiId=api_id, StageName='{STAGE}').")  # fmt: skip


@contextmanager
def _client(api_id: str, name: str, token: str | None = TOKEN) -> Iterator[Any]:
    """A connected client of the production stage (closed afterwards); CheckFailed when it cannot connect."""
    from stacklab.planes import websocket

    query = {"name": name}
    if token is not None:
        query["token"] = token
    try:
        client = websocket.connect(api_id, STAGE, query=query)
    except websocket.ConnectionRejected as exc:
        raise CheckFailed(f"a client with the lab's token could not connect: the upgrade was refused with "
                          f"{exc.status}.", "Run check('08.connect') to see why.") from None  # fmt: skip
    try:
        yield client
    finally:
        client.close()


def _status_without(api_id: str, query: dict[str, str]) -> int:
    """The status of a connection attempt with ``query`` (101 when it connected)."""
    from stacklab.planes import websocket

    try:
        client = websocket.connect(api_id, STAGE, query=query)
    except websocket.ConnectionRejected as exc:
        return int(exc.status)
    client.close()
    return 101


def _frames(client: Any) -> list[Any]:
    return list(client.messages())


def _texts(frames: list[Any]) -> list[str]:
    return [json.dumps(f, sort_keys=True) if not isinstance(f, str) else f for f in frames]


# ------------------------------------------------------------------------- 1. API and routes


@lab_check("08.routes", LESSON, needs=("api_id",), title="Exercise 1 · The chat API and its routes", exercise=1)
def check_routes(api_id: Any) -> str:
    """WEBSOCKET API on $request.body.action; $connect/$disconnect/$default → lab08-chat, sendMessage → lab08-send."""
    api = _api(api_id)
    api_id = api["ApiId"]
    expression = api.get("RouteSelectionExpression")
    if expression != SELECTION:
        field = str(expression or "").rsplit(".", 1)[-1]
        why = (f"it reads the field {field!r}, but the chat clients send the route in `action`"
               if str(expression or "").startswith("$request.body.") else
               "API Gateway evaluates it on each message's JSON body, written `$request.body.FIELD`")  # fmt: skip
        raise CheckFailed(f"the route selection expression is {expression!r}: {why}, so every message would go to "
                          "$default.", f"v2.update_api(ApiId=api_id, RouteSelectionExpression='{SELECTION}')")
    routes = _routes(api_id)
    for key, function in ROUTES.items():
        if key in routes:
            continue
        near = _near_miss(key, list(routes))
        if near is not None and near.lower() == key.lower():
            raise CheckFailed(f"there is a route {near!r} but no {key!r}: route keys are case-sensitive, so a frame "
                              f"with \"action\": \"{key}\" does not match it and goes to $default.",
                              f"Delete the route {near!r} (v2.delete_route) and create one with RouteKey='{key}'.")
        if near is not None:
            raise CheckFailed(f"there is a route {near!r} but no {key!r}: the predefined routes start with '$'; "
                              f"without it {near!r} is an ordinary route that only a frame with \"action\": "
                              f"\"{near}\" reaches, and API Gateway never runs it for "
                              f"{key[1:] + 'ions' if key != '$default' else 'unmatched frames'}.",
                              f"Delete it (v2.delete_route) and create the route with RouteKey='{key}'.")
        raise CheckFailed(f"the API has no {key!r} route (its routes: {', '.join(sorted(routes)) or 'none'}).",
                          f"v2.create_route(ApiId=api_id, RouteKey='{key}', Target=f'integrations/{{...}}') with the "
                          f"integration of {function}.")  # fmt: skip
    for key, function in ROUTES.items():
        actual = _function_of(api_id, routes[key])
        if actual != function:
            what = "has no Lambda integration" if actual is None else f"calls {actual}"
            raise CheckFailed(f"the route {key!r} {what}; it should call {function}.",
                              f"Create it with Target='integrations/' + the id of the AWS_PROXY integration whose "
                              f"IntegrationUri is {function}'s ARN.")  # fmt: skip
    _stage(api_id)
    with _client(api_id, "checker") as client:
        client.send({"action": "sendMessage", "text": "ping"})
        after_send = _frames(client)
        client.send({"action": "dance"})
        after_default = _frames(client)
    if not any(isinstance(f, dict) and f.get("text") == "ping" for f in after_send):
        raise CheckFailed(f"a frame {{\"action\": \"sendMessage\", \"text\": \"ping\"}} did not come back from the "
                          f"broadcast (the client received: {_texts(after_send) or 'nothing'}).",
                          f"Make sure {SEND_FUNCTION} is the sendMessage route's integration.")  # fmt: skip
    if not any(isinstance(f, dict) and "error" in f for f in after_default):
        raise CheckFailed(f"a frame with an unknown action did not reach $default (the client received: "
                          f"{_texts(after_default) or 'nothing'}).", f"Point $default at {CHAT_FUNCTION}.")
    return (f"API {api_id} routes on `{SELECTION}`: sendMessage → {SEND_FUNCTION} (the message came back), an "
            f"unknown action → $default; $connect and $disconnect → {CHAT_FUNCTION}; stage {STAGE!r}.")


# ------------------------------------------------------------------------- 2. authorizer and permissions


def _policy(function: str) -> list[dict[str, Any]]:
    try:
        text = aws("lambda").get_policy(FunctionName=function)["Policy"]
    except Exception as exc:  # noqa: BLE001
        if _error_code(exc) == "ResourceNotFoundException":
            return []
        raise
    statements = json.loads(text).get("Statement") or []
    return statements if isinstance(statements, list) else [statements]


def _allows(function: str, source_arn: str) -> bool:
    """Does ``function``'s resource policy let API Gateway invoke it for ``source_arn``?"""
    for st in _policy(function):
        principal = st.get("Principal")
        service = principal.get("Service") if isinstance(principal, dict) else principal
        if st.get("Effect") != "Allow" or service != "apigateway.amazonaws.com":
            continue
        if st.get("Action") not in ("lambda:InvokeFunction", "lambda:*"):
            continue
        condition = (st.get("Condition") or {}).get("ArnLike") or {}
        pattern = condition.get("AWS:SourceArn") or condition.get("aws:SourceArn")
        if pattern is None or fnmatch.fnmatchcase(source_arn, pattern):
            return True
    return False


@lab_check("08.connect", LESSON, needs=("api_id", "authorizer_id"), title="Exercise 2 · Who may connect",
           exercise=2)  # fmt: skip
def check_connect(api_id: Any, authorizer_id: Any) -> str:
    """$connect uses the REQUEST authorizer on ?token=; the functions let API Gateway invoke them."""
    api_id = _api(api_id)["ApiId"]
    if isinstance(authorizer_id, dict):
        raise CheckFailed("`authorizer_id` holds a whole dict (a boto3 response), not the authorizer's id.",
                          "Take the id: `authorizer_id = v2.create_authorizer(...)['AuthorizerId']`.")  # fmt: skip
    if not isinstance(authorizer_id, str) or not authorizer_id.strip() or authorizer_id.strip() == "...":
        raise CheckFailed(f"`authorizer_id` should be the authorizer's id (a string); it holds "
                          f"{type(authorizer_id).__name__} {authorizer_id!r}.",
                          "Set it from the response: `authorizer_id = v2.create_authorizer(...)['AuthorizerId']`.")
    try:
        authorizer = aws("apigatewayv2").get_authorizer(ApiId=api_id, AuthorizerId=authorizer_id.strip())
    except Exception as exc:  # noqa: BLE001
        if _error_code(exc) == "NotFoundException":
            raise CheckFailed(f"the API has no authorizer with id {authorizer_id!r}.",
                              "Create it on api_id and keep its AuthorizerId.") from None  # fmt: skip
        raise
    if authorizer.get("AuthorizerType") != "REQUEST":
        raise CheckFailed(f"the authorizer's type is {authorizer.get('AuthorizerType')}; WebSocket APIs use Lambda "
                          "REQUEST authorizers.", "Create it with AuthorizerType='REQUEST'.")  # fmt: skip
    if f":function:{AUTH_FUNCTION}/" not in str(authorizer.get("AuthorizerUri")):
        raise CheckFailed(f"the authorizer does not invoke {AUTH_FUNCTION} (AuthorizerUri "
                          f"{authorizer.get('AuthorizerUri')!r}).",
                          f"AuthorizerUri=invocation_uri(arns['{AUTH_FUNCTION}'])")  # fmt: skip
    sources = list(authorizer.get("IdentitySource") or [])
    if sources != [IDENTITY]:
        raise CheckFailed(f"the authorizer's identity source is {sources}; the chat clients send the token in the "
                          f"query string (…/{STAGE}?token=...), so a client with a valid token would get 401.",
                          f"IdentitySource=['{IDENTITY}']")  # fmt: skip
    connect = _routes(api_id).get("$connect")
    if connect is None:
        raise CheckFailed("the API has no $connect route.", "Do exercise 1 first.")
    if connect.get("AuthorizationType") != "CUSTOM" or connect.get("AuthorizerId") != authorizer["AuthorizerId"]:
        raise CheckFailed(f"the $connect route has AuthorizationType {connect.get('AuthorizationType')} "
                          f"(AuthorizerId {connect.get('AuthorizerId')}): the authorizer exists but $connect does not "
                          "use it, so anyone can connect.",
                          "v2.update_route(ApiId=api_id, RouteId=..., AuthorizationType='CUSTOM', "
                          "AuthorizerId=authorizer_id)")  # fmt: skip
    base = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}"
    needed = [(CHAT_FUNCTION, f"{base}/{STAGE}/$connect"), (SEND_FUNCTION, f"{base}/{STAGE}/sendMessage"),
              (AUTH_FUNCTION, f"{base}/authorizers/{authorizer['AuthorizerId']}")]  # fmt: skip
    missing = [f"{name} (for {arn.split(':')[-1]})" for name, arn in needed if not _allows(name, arn)]
    if missing:
        raise CheckFailed(f"the resource policy of {', '.join(missing)} does not let apigateway.amazonaws.com "
                          "invoke it: on AWS the function would never run (a connection refused with 500, or an "
                          "'Internal server error' answer to a message). The sandbox's plane does not enforce Lambda "
                          "permissions; this check does.",
                          "lam.add_permission(FunctionName=..., StatementId='apigateway', "
                          "Action='lambda:InvokeFunction', Principal='apigateway.amazonaws.com', "
                          f"SourceArn=f'arn:aws:execute-api:{REGION}:{ACCOUNT}:{{api_id}}/*')"
                          " for each of the three functions.")  # fmt: skip
    statuses = {"no token": _status_without(api_id, {"name": "checker"}),
                "a wrong token": _status_without(api_id, {"name": "checker", "token": "guess"}),
                "the lab's token": _status_without(api_id, {"name": "checker", "token": TOKEN})}  # fmt: skip
    if statuses["the lab's token"] == 403:
        raise CheckFailed("a client with the lab's valid token was refused with 403: the authorizer denied it (its "
                          "policy has no Allow of execute-api:Invoke on the $connect route's ARN).",
                          f"Use {AUTH_FUNCTION} as it is given: it allows event['methodArn'] for the lab's "
                          "token.")  # fmt: skip
    if statuses != {"no token": 401, "a wrong token": 403, "the lab's token": 101}:
        shown = ", ".join(f"{k} → {v}" for k, v in statuses.items())
        raise CheckFailed(f"connecting gave: {shown}; expected 401, 403 and connected (101).",
                          "Check the authorizer's identity source and the $connect route's settings.")  # fmt: skip
    return (f"$connect uses REQUEST authorizer {authorizer['AuthorizerId']} on `{IDENTITY}`: no token → 401, a wrong "
            "token → 403, the lab's token → connected; API Gateway may invoke all three functions.")


# ------------------------------------------------------------------------- 3. broadcast


def _items() -> set[str]:
    return {i["connectionId"]["S"] for i in aws("dynamodb").scan(TableName=TABLE).get("Items", [])}


@lab_check("08.broadcast", LESSON, needs=("api_id",), title="Exercise 3 · Broadcast and stale connections",
           exercise=3)  # fmt: skip
def check_broadcast(api_id: Any) -> str:
    """sendMessage reaches every connected client and deletes a stale connection id (GoneException) it meets."""
    api_id = _api(api_id)["ApiId"]
    db = aws("dynamodb")
    db.put_item(TableName=TABLE, Item={"connectionId": {"S": STALE_ID}, "name": {"S": "ghost"}})
    try:
        with _client(api_id, "ada") as ada, _client(api_id, "bob") as bob:
            ada.send({"action": "sendMessage", "text": "hello"})
            got = {"ada": _frames(ada), "bob": _frames(bob)}
        stale_left = STALE_ID in _items()
    finally:
        db.delete_item(TableName=TABLE, Key={"connectionId": {"S": STALE_ID}})
    errors = [f for f in got["ada"] if isinstance(f, dict) and f.get("message") == "Internal server error"]
    wanted = {"from": "ada", "text": "hello"}
    missed = [name for name, frames in got.items() if not any(f == wanted for f in frames)]
    if errors:
        raise CheckFailed(f"the broadcast function failed (ada got 'Internal server error'"
                          f"{'; ' + ' and '.join(missed) + ' did not get the message' if missed else ''}): "
                          "post_to_connection raised GoneException (410) for a connection that is gone, and the "
                          "exception stopped the function.",
                          "Catch `apigw.exceptions.GoneException` around each post, delete that connectionId from "
                          "the table, and go on with the next one.")  # fmt: skip
    if missed:
        raise CheckFailed(f"{' and '.join(missed)} did not receive {json.dumps(wanted)} (ada got "
                          f"{_texts(got['ada']) or 'nothing'}, bob got {_texts(got['bob']) or 'nothing'}).",
                          "Post the JSON {'from': sender's name, 'text': text} to every connection in the table.")
    if stale_left:
        raise CheckFailed("the stale connection (an id in the table whose client is gone) is still in the table "
                          "after the broadcast: post_to_connection answered GoneException (410) and the function "
                          "ignored it, so every later message pays for that post again.",
                          "In the `except GoneException` branch, delete the item: "
                          "table.delete_item(Key={'connectionId': connection_id}).")  # fmt: skip
    return ("sendMessage reached ada and bob, and the stale connection id was deleted from the table when "
            "post_to_connection answered 410 Gone.")

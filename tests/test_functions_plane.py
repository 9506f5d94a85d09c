"""The Lambda runtime plane: handler execution, errors, versions, aliases, logs and event shapes."""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import statistics
import time
from datetime import UTC, datetime

import pytest

import stacklab
from stacklab.planes import functions as fn

COUNTER = """
import os
CALLS = 0

def handler(event, context):
    global CALLS
    CALLS += 1
    return {"calls": CALLS, "event": event}
"""


@pytest.fixture(scope="module")
def role(box):
    iam = stacklab.client("iam")
    return iam.create_role(RoleName="lambda-test-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]


_names = iter(range(10_000))


def make(role: str, source: str | dict[str, str], handler: str = "app.handler", **kwargs) -> str:
    """Create a function with a fresh name; a str source becomes app.py."""
    name = kwargs.pop("name", None) or f"fn-{next(_names)}"
    files = {"app.py": source} if isinstance(source, str) else source
    stacklab.client("lambda").create_function(
        FunctionName=name, Runtime="python3.12", Role=role, Handler=handler,
        Code={"ZipFile": fn.package(files)}, **kwargs,
    )  # fmt: skip
    return name


# ------------------------------------------------------------------------------ success path


def test_handler_runs_and_module_state_survives_warm_invocations(role):
    name = make(role, COUNTER)
    first = fn.invoke(name, {"n": 1})
    second = fn.invoke(name, {"n": 2})
    assert first.status_code == 200 and first.function_error is None and first.ok
    assert first.json() == {"calls": 1, "event": {"n": 1}}
    assert second.json() == {"calls": 2, "event": {"n": 2}}
    assert first.executed_version == "$LATEST"
    assert first.init_duration_ms is not None and second.init_duration_ms is None  # cold, then warm
    resp = second.as_response()
    assert resp["StatusCode"] == 200 and resp["ExecutedVersion"] == "$LATEST" and "FunctionError" not in resp


@pytest.mark.parametrize(
    ("payload", "event"),
    [(None, {}), ({"a": 1}, {"a": 1}), ([1, 2], [1, 2]), ('{"b": true}', {"b": True}), (b'"text"', "text"),
     ("", {})],
)  # fmt: skip
def test_payload_forms(role, payload, event):
    name = make(role, "def handler(event, context):\n    return event\n")
    assert fn.invoke(name, payload).json() == event


def test_environment_variables_set_only_while_the_handler_runs(role):
    src = """
import os
AT_INIT = os.environ.get("TABLE")
KEYS = ["TABLE", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME"]
def handler(event, context):
    return {"init": AT_INIT, **{k: os.environ.get(k) for k in KEYS}}
"""
    before = dict(os.environ)
    name = make(role, src, MemorySize=256, Environment={"Variables": {"TABLE": "orders"}})
    result = fn.invoke(name)
    got = result.json()
    assert got["init"] == "orders" and got["TABLE"] == "orders"
    assert got["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert got["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert got["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert got["AWS_REGION"] == got["AWS_DEFAULT_REGION"] == "us-east-1"
    assert got["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{name}"
    assert got["AWS_LAMBDA_LOG_STREAM_NAME"] == result.log_stream
    assert dict(os.environ) == before  # restored afterwards


def test_context_fields(role):
    src = """
def handler(event, context):
    return {k: getattr(context, k) for k in ("function_name", "function_version", "invoked_function_arn",
            "memory_limit_in_mb", "aws_request_id", "log_group_name", "log_stream_name")} | {
            "remaining": context.get_remaining_time_in_millis(), "identity": context.identity}
"""
    name = make(role, src, Timeout=10, MemorySize=512)
    stacklab.client("lambda").publish_version(FunctionName=name)
    stacklab.client("lambda").create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    result = fn.invoke(name, qualifier="live", context_overrides={"identity": {"cognitoIdentityId": "x"}})
    got = result.json()
    assert got["function_name"] == name
    assert got["function_version"] == "1"
    assert got["invoked_function_arn"] == f"arn:aws:lambda:us-east-1:123456789012:function:{name}:live"
    assert got["memory_limit_in_mb"] == "512"  # a string, as in AWS's Python runtime
    assert got["aws_request_id"] == result.request_id
    assert got["log_group_name"] == f"/aws/lambda/{name}"
    assert got["log_stream_name"] == result.log_stream
    assert 9000 < got["remaining"] <= 10000
    assert got["identity"] == {"cognitoIdentityId": "x"}
    unqualified = fn.invoke(name).json()
    assert unqualified["invoked_function_arn"] == f"arn:aws:lambda:us-east-1:123456789012:function:{name}"


def test_arn_and_name_colon_qualifier_forms(role):
    name = make(role, COUNTER)
    arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
    assert fn.invoke(arn).status_code == 200
    assert fn.invoke(f"{arn}:$LATEST").executed_version == "$LATEST"
    assert fn.invoke(f"{name}:$LATEST").executed_version == "$LATEST"
    assert fn.invoke(f"123456789012:function:{name}").status_code == 200
    with pytest.raises(fn.FunctionError, match="derived qualifier"):
        fn.invoke(f"{name}:$LATEST", qualifier="1")


def test_ids_are_seeded_and_reset(role):
    name = make(role, COUNTER)
    fn.clear()
    first = [fn.invoke(name).request_id for _ in range(3)]
    fn.clear()
    again = [fn.invoke(name).request_id for _ in range(3)]
    assert first == again and len(set(first)) == 3
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", first[0])


def test_warm_invocations_are_fast(role):
    name = make(role, COUNTER)
    fn.invoke(name)
    times = []
    for _ in range(15):
        started = time.perf_counter()
        fn.invoke(name)
        times.append(time.perf_counter() - started)
    assert statistics.median(times) < 0.05


# ------------------------------------------------------------------------------ errors


def test_exception_shape_like_aws(role):
    src = {
        "app.py": "from helpers import check\n\ndef handler(event, context):\n    return check(event)\n",
        "helpers.py": "def check(event):\n    raise ValueError(f\"bad order {event['id']}\")\n",
    }
    name = make(role, src)
    result = fn.invoke(name, {"id": 7})
    assert result.status_code == 200 and result.function_error == "Unhandled" and not result.ok
    error = result.json()
    assert list(error) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert error["errorMessage"] == "bad order 7"
    assert error["errorType"] == "ValueError"
    assert error["requestId"] == result.request_id
    assert all(isinstance(line, str) for line in error["stackTrace"])
    assert len(error["stackTrace"]) == 2  # the handler's frame and the helper's, none of the plane's
    assert error["stackTrace"][0].startswith('  File "/var/task/app.py", line 4, in handler')
    assert error["stackTrace"][1].startswith('  File "/var/task/helpers.py", line 2, in check')
    text = "".join(result.logs)
    assert "[ERROR] ValueError: bad order 7" in text and "functions.py" not in text


def test_timeout_in_wall_time(role):
    src = "import time\n\ndef handler(event, context):\n    time.sleep(3)\n    return 'late'\n"
    name = make(role, src, Timeout=1)
    started = time.perf_counter()
    result = fn.invoke(name)
    assert time.perf_counter() - started < 2.0
    assert result.function_error == "Unhandled"
    error = result.json()
    assert error["errorType"] == "Sandbox.Timedout"
    assert error["errorMessage"] == f"RequestId: {result.request_id} Error: Task timed out after 1.00 seconds"
    assert any("Task timed out after 1.00 seconds" in line for line in result.logs)
    assert result.logs[-1].rstrip().endswith("Status: timeout")
    assert result.duration_ms == 1000.0


def test_timeout_on_the_sandbox_clock(role):
    src = "import stacklab\n\ndef handler(event, context):\n    stacklab.clock().advance(event['s'])\n    return 'ok'\n"
    name = make(role, src, Timeout=3)
    ok = fn.invoke(name, {"s": 2})
    assert ok.json() == "ok" and ok.duration_ms == 2001.0
    assert re.search(r"Duration: 2001\.00 ms\tBilled Duration: 2151 ms", ok.logs[-1])  # + Init 150 ms (cold)
    late = fn.invoke(name, {"s": 5})
    assert late.json()["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 3.00 seconds" in late.json()["errorMessage"]


@pytest.mark.parametrize(
    ("returned", "detail"),
    [("{1, 2}", "Object of type set is not JSON serializable"),
     ("object()", "Object of type object is not JSON serializable")],
)  # fmt: skip
def test_non_serialisable_return_is_a_marshal_error(role, returned, detail):
    name = make(role, f"def handler(event, context):\n    return {returned}\n")
    result = fn.invoke(name)
    assert result.function_error == "Unhandled"
    assert result.json() == {
        "errorMessage": f"Unable to marshal response: {detail}",
        "errorType": "Runtime.MarshalError",
        "requestId": result.request_id,
        "stackTrace": [],
    }


@pytest.mark.parametrize(
    ("files", "handler", "error_type", "message"),
    [({"app.py": "def handler(e, c):\n    return 1\n"}, "missing.handler", "Runtime.ImportModuleError",
      "Unable to import module 'missing': No module named 'missing'"),
     ({"app.py": "def other(e, c):\n    return 1\n"}, "app.handler", "Runtime.HandlerNotFound",
      "Handler 'handler' missing on module 'app'"),
     ({"app.py": "def handler(e, c)\n    return 1\n"}, "app.handler", "Runtime.UserCodeSyntaxError",
      "Syntax error in module 'app'"),
     ({"app.py": "import not_installed_anywhere\n"}, "app.handler", "Runtime.ImportModuleError",
      "No module named 'not_installed_anywhere'"),
     ({"app.py": "raise KeyError('CONFIG')\n"}, "app.handler", "KeyError", "'CONFIG'"),
     ({"app.py": "x = 1\n"}, "app", "Runtime.MalformedHandlerName", "Bad handler 'app'")],
)  # fmt: skip
def test_init_errors(role, files, handler, error_type, message):
    name = make(role, files, handler=handler)
    result = fn.invoke(name)
    error = result.json()
    assert result.function_error == "Unhandled"
    assert error["errorType"] == error_type
    assert message in error["errorMessage"]
    assert "/tmp" not in json.dumps(error)


def test_unknown_function_version_and_alias(role):
    with pytest.raises(fn.FunctionNotFoundError, match="function:does-not-exist"):
        fn.invoke("does-not-exist")
    name = make(role, COUNTER)
    with pytest.raises(fn.FunctionNotFoundError, match=f"function:{name}:9"):
        fn.invoke(name, qualifier="9")
    with pytest.raises(fn.FunctionNotFoundError, match=f"function:{name}:nope"):
        fn.invoke(name, qualifier="nope")
    assert fn.FunctionNotFoundError.code == "ResourceNotFoundException"


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [({"payload": "{not json"}, fn.InvalidRequestContentError, "Could not parse request body into json"),
     ({"payload": b"\xff\xfe"}, fn.InvalidRequestContentError, "InvalidRequestContentException"),
     ({"payload": {"when": datetime(2026, 1, 1)}}, fn.InvalidRequestContentError, "JSON-serialisable"),
     ({"payload": 42}, stacklab.InputError, "payload must be"),
     ({"invocation_type": "Async"}, stacklab.InputError, "invocation_type"),
     ({"log_type": "Full"}, stacklab.InputError, "log_type"),
     ({"qualifier": ""}, stacklab.InputError, "qualifier"),
     ({"context_overrides": ["identity"]}, stacklab.InputError, "context_overrides"),
     ({"payload": "x" * (6 * 1024 * 1024 + 1)}, fn.FunctionError, "RequestEntityTooLargeException")],
)  # fmt: skip
def test_bad_input(role, kwargs, error, match):
    name = make(role, COUNTER)
    with pytest.raises(error, match=match):
        fn.invoke(name, **kwargs)


@pytest.mark.parametrize(
    "bad",
    ["", "bad name", "arn:aws:s3:::bucket", "x" * 65, "my-func:", "arn:aws:lambda:us-east-1:123456789012:function:f:"],
)
def test_bad_function_names(bad):
    with pytest.raises(stacklab.InputError):
        fn.invoke(bad)


def test_invalid_request_content_is_an_input_error():
    assert issubclass(fn.InvalidRequestContentError, stacklab.InputError)
    assert fn.InvalidRequestContentError.code == "InvalidRequestContentException"


# ------------------------------------------------------------------------------ invocation types


def test_event_and_dry_run(role):
    name = make(role, COUNTER)
    accepted = fn.invoke(name, {"x": 1}, invocation_type="Event")
    assert accepted.status_code == 202 and accepted.payload == b"" and accepted.executed_version == "$LATEST"
    assert "ExecutedVersion" not in accepted.as_response()
    dry = fn.invoke(name, invocation_type="DryRun")
    assert dry.status_code == 204 and dry.payload == b"" and dry.logs == []
    assert fn.invoke(name).json()["calls"] == 2  # the Event ran (synchronously), the DryRun did not


# ------------------------------------------------------------------------------ isolation


def test_two_functions_with_the_same_module_names_never_clash(role):
    a = make(role, {"app.py": "import helpers\n\ndef handler(e, c):\n    return helpers.WHO\n",
                    "helpers.py": "WHO = 'a'\n"})  # fmt: skip
    b = make(role, {"app.py": "import helpers\n\ndef handler(e, c):\n    return 'b:' + helpers.WHO\n",
                    "helpers.py": "WHO = 'b'\n"})  # fmt: skip
    assert [fn.invoke(a).json(), fn.invoke(b).json(), fn.invoke(a).json()] == ["a", "b:b", "a"]
    import sys

    assert "app" not in sys.modules and "helpers" not in sys.modules


def test_lazy_import_inside_the_handler_uses_its_own_package(role):
    lazy = "def handler(e, c):\n    import helpers\n    return helpers.WHO\n"
    a = make(role, {"app.py": lazy, "helpers.py": "WHO = 'a'\n"})
    b = make(role, {"app.py": lazy, "helpers.py": "WHO = 'b'\n"})
    assert [fn.invoke(a).json(), fn.invoke(b).json(), fn.invoke(a).json()] == ["a", "b", "a"]


def test_nested_package_handler(role):
    files = {
        "orders/__init__.py": "",
        "orders/api/__init__.py": "",
        "orders/api/handlers.py": "from ..model import total\n\ndef create(e, c):\n    return total(e['items'])\n",
        "orders/model.py": "def total(items):\n    return sum(items)\n",
    }
    name = make(role, files, handler="orders.api.handlers.create")
    assert fn.invoke(name, {"items": [1, 2, 3]}).json() == 6


def test_versions_are_code_snapshots(role):
    lam = stacklab.client("lambda")
    name = make(role, "def handler(e, c):\n    return 'v1 code'\n", Environment={"Variables": {"STAGE": "one"}})
    lam.publish_version(FunctionName=name)
    lam.update_function_code(
        FunctionName=name, ZipFile=fn.package({"app.py": "def handler(e, c):\n    return 'v2 code'\n"})
    )
    assert fn.invoke(name, qualifier="1").json() == "v1 code"
    assert fn.invoke(name).json() == "v2 code"
    assert fn.invoke(name, qualifier="1").executed_version == "1"
    lam.publish_version(FunctionName=name)
    assert fn.invoke(f"{name}:2").json() == "v2 code"
    # a configuration change reaches $LATEST at once (read on every call), not version 1
    src = "import os\n\ndef handler(e, c):\n    return os.environ.get('STAGE')\n"
    lam.update_function_code(FunctionName=name, ZipFile=fn.package({"app.py": src}))
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"STAGE": "two"}})
    assert fn.invoke(name).json() == "two"
    assert fn.invoke(name, qualifier="1").json() == "v1 code"


def test_a_handler_may_invoke_another_function(role):
    inner = make(role, "def handler(e, c):\n    print('inner ran')\n    return e['n'] * 2\n")
    src = (
        "from stacklab.planes import functions\n\n"
        "def handler(e, c):\n"
        f"    return functions.invoke({inner!r}, {{'n': e['n']}}).json() + 1\n"
    )
    outer = make(role, src, Timeout=5)
    result = fn.invoke(outer, {"n": 20})
    assert result.json() == 41
    assert "inner ran" not in "".join(result.logs)  # each function logs to its own group


def test_concurrent_callers_are_served_one_at_a_time(role):
    import threading

    name = make(role, COUNTER)
    results = []
    threads = [threading.Thread(target=lambda: results.append(fn.invoke(name).json()["calls"])) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(results) == [1, 2, 3, 4, 5, 6]


# ------------------------------------------------------------------------------ aliases


def _weighted(role, weight: float) -> str:
    lam = stacklab.client("lambda")
    name = make(role, "def handler(e, c):\n    return 'one'\n")
    lam.publish_version(FunctionName=name)
    lam.update_function_code(
        FunctionName=name, ZipFile=fn.package({"app.py": "def handler(e, c):\n    return 'two'\n"})
    )
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1",
                     RoutingConfig={"AdditionalVersionWeights": {"2": weight}})  # fmt: skip
    return name


def test_alias_weights_split_traffic_reproducibly(role):
    name = _weighted(role, 0.3)
    fn.clear()
    runs = [fn.invoke(name, qualifier="live") for _ in range(1000)]
    versions = [r.executed_version for r in runs]
    assert set(versions) == {"1", "2"}
    assert 240 <= versions.count("2") <= 360  # ~30%
    assert all((r.executed_version == "2") == (r.json() == "two") for r in runs)
    fn.clear()
    assert [fn.invoke(name, qualifier="live").executed_version for _ in range(40)] == versions[:40]


def test_alias_without_weights_and_weight_edges(role):
    lam = stacklab.client("lambda")
    name = _weighted(role, 0.0)
    assert {fn.invoke(name, qualifier="live").executed_version for _ in range(20)} == {"1"}
    lam.update_alias(FunctionName=name, Name="live", RoutingConfig={"AdditionalVersionWeights": {"2": 1.0}})
    assert {fn.invoke(f"{name}:live").executed_version for _ in range(20)} == {"2"}
    lam.create_alias(FunctionName=name, Name="plain", FunctionVersion="2")
    assert fn.invoke(name, qualifier="plain").json() == "two"


@pytest.mark.parametrize(
    ("primary", "weights", "match"),
    [("1", {"2": 1.5}, "between 0.0 and 1.0"),
     ("1", {"2": 1.01}, "between 0.0 and 1.0"),
     ("1", {"2": 0.1, "3": 0.1}, "at most one"),
     ("$LATEST", {"2": 0.1}, "published versions only"),
     ("2", {"2": 0.1}, "must differ")],
)  # fmt: skip
def test_alias_weights_validated_like_aws(role, primary, weights, match):
    lam = stacklab.client("lambda")
    name = _weighted(role, 0.1)
    lam.update_function_code(FunctionName=name, ZipFile=fn.package({"app.py": "def handler(e, c):\n    return 3\n"}))
    lam.publish_version(FunctionName=name)
    lam.create_alias(
        FunctionName=name, Name="bad", FunctionVersion=primary, RoutingConfig={"AdditionalVersionWeights": weights}
    )  # moto stores these as they are
    with pytest.raises(fn.FunctionError, match=match) as err:
        fn.invoke(name, qualifier="bad")
    assert err.value.code == "InvalidParameterValueException"


# ------------------------------------------------------------------------------ logs


def test_logs_in_cloudwatch_with_start_end_report(role, capsys):
    src = """
import logging
logger = logging.getLogger()
logger.setLevel(logging.INFO)
print("cold start")

def handler(event, context):
    print("order", event["id"])
    logger.info("stored %s", event["id"])
    logger.debug("not shown")
    return "ok"
"""
    name = make(role, src, MemorySize=256)
    first = fn.invoke(name, {"id": 1})
    second = fn.invoke(name, {"id": 2}, log_type="Tail")
    assert capsys.readouterr().out == ""  # nothing leaks into the notebook
    assert logging.getLogger().level == logging.WARNING  # the handler's setLevel stays in its environment
    rid = first.request_id
    assert first.logs[0] == "cold start\n"
    assert first.logs[1] == f"START RequestId: {rid} Version: $LATEST\n"
    assert first.logs[2] == "order 1\n"
    stamp = stacklab.clock().now().strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert first.logs[3] == f"[INFO]\t{stamp}\t{rid}\tstored 1\n"
    assert first.logs[4] == f"END RequestId: {rid}\n"
    assert first.logs[5] == (
        f"REPORT RequestId: {rid}\tDuration: 1.00 ms\tBilled Duration: 151 ms\tMemory Size: 256 MB\t"
        "Max Memory Used: 40 MB\tInit Duration: 150.00 ms\n"
    )
    assert second.logs[-1] == (
        f"REPORT RequestId: {second.request_id}\tDuration: 1.00 ms\tBilled Duration: 1 ms\t"
        "Memory Size: 256 MB\tMax Memory Used: 40 MB\n"
    )
    assert first.log_tail is None
    assert base64.b64decode(second.log_tail).decode() == "".join(second.logs)
    assert second.as_response()["LogResult"] == second.log_tail
    assert first.log_group == f"/aws/lambda/{name}" and first.log_stream == second.log_stream
    assert re.fullmatch(r"2026/01/15/\[\$LATEST\][0-9a-f]{32}", first.log_stream)
    logs = stacklab.client("logs")
    events = logs.get_log_events(logGroupName=first.log_group, logStreamName=first.log_stream)["events"]
    messages = [e["message"] for e in events]
    assert messages == [line.rstrip("\n") for line in first.logs + second.logs]
    assert {e["timestamp"] for e in events} == {int(stacklab.clock().time() * 1000)}


def test_log_tail_is_the_last_4_kb(role):
    name = make(role, "def handler(e, c):\n    print('x' * 5000)\n    return 1\n")
    result = fn.invoke(name, log_type="Tail")
    tail = base64.b64decode(result.log_tail)
    assert len(tail) == 4096 and tail.endswith(b"Init Duration: 150.00 ms\n")


def test_published_version_has_its_own_stream(role):
    lam = stacklab.client("lambda")
    name = make(role, COUNTER)
    lam.publish_version(FunctionName=name)
    result = fn.invoke(name, qualifier="1")
    assert re.fullmatch(r"2026/01/15/\[1\][0-9a-f]{32}", result.log_stream)
    assert result.logs[0].startswith("START") and "Version: 1\n" in result.logs[0]


# ------------------------------------------------------------------------------ package


def test_package_is_deterministic_and_validated():
    import io
    import zipfile

    one = fn.package("def lambda_handler(e, c):\n    return 1\n")
    time.sleep(0.01)
    assert fn.package("def lambda_handler(e, c):\n    return 1\n") == one
    names = zipfile.ZipFile(io.BytesIO(one)).namelist()
    assert names == ["lambda_function.py"]
    multi = zipfile.ZipFile(io.BytesIO(fn.package({"b.py": "", "a/x.py": ""})))
    assert multi.namelist() == ["a/x.py", "b.py"]
    assert {i.date_time for i in multi.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    for bad in ({}, 3, {"../x.py": ""}, {"/abs.py": ""}, {"a.py": b"bytes"}, {"a//b.py": ""}):
        with pytest.raises(stacklab.InputError):
            fn.package(bad)


def test_default_console_handler_name(role):
    name = make(role, {"lambda_function.py": "def lambda_handler(e, c):\n    return 'hi'\n"},
                handler="lambda_function.lambda_handler")  # fmt: skip
    assert fn.invoke(name).json() == "hi"


# ------------------------------------------------------------------------------ events


WHEN = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)


def test_api_gateway_proxy_v1_event_shape():
    event = fn.api_gateway_proxy_v1_event(
        "post", "/orders/42", resource="/orders/{id}", headers={"Accept": ["a", "b"], "User-Agent": "curl"},
        query={"q": "x"}, path_parameters={"id": "42"}, body={"n": 1}, stage="dev", time=WHEN,
    )  # fmt: skip
    assert list(event) == ["resource", "path", "httpMethod", "headers", "multiValueHeaders",
                           "queryStringParameters", "multiValueQueryStringParameters", "pathParameters",
                           "stageVariables", "requestContext", "body", "isBase64Encoded"]  # fmt: skip
    assert event["httpMethod"] == "POST" and event["resource"] == "/orders/{id}"
    assert event["headers"]["Accept"] == "b" and event["multiValueHeaders"]["Accept"] == ["a", "b"]
    assert event["multiValueQueryStringParameters"] == {"q": ["x"]}
    assert event["stageVariables"] is None and event["body"] == '{"n": 1}' and event["isBase64Encoded"] is False
    ctx = event["requestContext"]
    assert ctx["path"] == "/dev/orders/42" and ctx["stage"] == "dev" and ctx["resourcePath"] == "/orders/{id}"
    assert ctx["requestTime"] == "15/Jan/2026:09:30:00 +0000"
    assert ctx["requestTimeEpoch"] == int(WHEN.timestamp() * 1000)
    assert ctx["identity"]["sourceIp"] == "203.0.113.10" and ctx["identity"]["userAgent"] == "curl"
    bare = fn.api_gateway_proxy_v1_event(time=WHEN)
    assert bare["headers"] is None and bare["queryStringParameters"] is None and bare["body"] is None
    assert fn.api_gateway_proxy_v1_event(time=WHEN) == bare  # pure: same input, same event
    binary = fn.api_gateway_proxy_v1_event("PUT", "/f", body=b"\x00\x01", time=WHEN)
    assert binary["isBase64Encoded"] is True and base64.b64decode(binary["body"]) == b"\x00\x01"


def test_api_gateway_proxy_v2_event_shape():
    event = fn.api_gateway_proxy_v2_event(
        "GET", "/my/path", route_key="GET /my/path", headers={"X-Trace": ["1", "2"], "Cookie": "a=1; b=2"},
        query={"p": ["v1", "v2"], "q": "w"}, time=WHEN,
    )  # fmt: skip
    assert event["version"] == "2.0" and event["routeKey"] == "GET /my/path"
    assert event["rawPath"] == "/my/path" and event["rawQueryString"] == "p=v1&p=v2&q=w"
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["headers"] == {"x-trace": "1,2"}
    assert event["queryStringParameters"] == {"p": "v1,v2", "q": "w"}
    assert "body" not in event and "pathParameters" not in event and "stageVariables" not in event
    http = event["requestContext"]["http"]
    assert http == {"method": "GET", "path": "/my/path", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.10",
                    "userAgent": ""}  # fmt: skip
    assert event["requestContext"]["stage"] == "$default"
    assert event["requestContext"]["time"] == "15/Jan/2026:09:30:00 +0000"
    staged = fn.api_gateway_proxy_v2_event("GET", "/x", stage="prod", body="hi", time=WHEN)
    assert staged["rawPath"] == "/prod/x" and staged["body"] == "hi" and "cookies" not in staged


def test_authorizer_events():
    arn = fn.method_arn("abc123", "prod", "GET", "/pets/1")
    assert arn == "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/pets/1"
    assert fn.authorizer_token_event("Bearer t", arn) == {
        "type": "TOKEN", "authorizationToken": "Bearer t", "methodArn": arn,
    }  # fmt: skip
    req = fn.authorizer_request_event("GET", "/pets/1", headers={"Auth": "x"}, query={"k": "v"}, api_id="abc123",
                                      time=WHEN)  # fmt: skip
    assert req["type"] == "REQUEST" and req["methodArn"] == arn
    assert req["headers"] == {"Auth": "x"} and req["queryStringParameters"] == {"k": "v"}
    assert "body" not in req and req["requestContext"]["httpMethod"] == "GET"
    v2 = fn.authorizer_request_event("GET", "/pets/1", payload_version="2.0", identity_source=["x"],
                                     api_id="abc123", time=WHEN)  # fmt: skip
    assert v2["version"] == "2.0" and v2["type"] == "REQUEST" and v2["routeArn"] == arn
    assert v2["identitySource"] == ["x"] and v2["routeKey"] == "GET /pets/1" and "body" not in v2


def test_websocket_events():
    connect = fn.websocket_event("$connect", "conn-1", headers={"Host": "h"}, query={"token": "t"}, time=WHEN)
    ctx = connect["requestContext"]
    assert ctx["eventType"] == "CONNECT" and ctx["routeKey"] == "$connect" and ctx["connectionId"] == "conn-1"
    assert connect["queryStringParameters"] == {"token": "t"} and "body" not in connect
    message = fn.websocket_event("sendmessage", "conn-1", body={"action": "sendmessage", "data": "hi"}, time=WHEN)
    assert message["requestContext"]["eventType"] == "MESSAGE" and json.loads(message["body"])["data"] == "hi"
    assert "messageId" in message["requestContext"]
    gone = fn.websocket_event("$disconnect", "conn-1", time=WHEN)
    assert gone["requestContext"]["eventType"] == "DISCONNECT"
    assert gone["requestContext"]["disconnectStatusCode"] == 1001


@pytest.mark.parametrize(
    ("call", "match"),
    [(lambda: fn.api_gateway_proxy_v1_event("FETCH", "/"), "method"),
     (lambda: fn.api_gateway_proxy_v1_event("GET", "no-slash"), "start with '/'"),
     (lambda: fn.api_gateway_proxy_v2_event("GET", "/", headers=["x"]), "headers must be a dict"),
     (lambda: fn.api_gateway_proxy_v2_event("GET", "/", body=3), "body must be"),
     (lambda: fn.api_gateway_proxy_v1_event(time=datetime(2026, 1, 1)), "timezone-aware"),
     (lambda: fn.authorizer_token_event("t", "arn:aws:lambda:x"), "execute-api ARN"),
     (lambda: fn.authorizer_request_event(payload_version="3.0"), "payload_version"),
     (lambda: fn.websocket_event("", "c"), "route_key")],
)  # fmt: skip
def test_event_builders_reject_bad_input(call, match):
    with pytest.raises(stacklab.InputError, match=match):
        call()


# ------------------------------------------------------------------------------ the real invoke call


@pytest.fixture
def routed():
    fn.route_boto3_invoke()
    yield stacklab.client("lambda")
    fn.route_boto3_invoke(False)


def _shown(resp):
    return {k: v for k, v in resp.items() if k not in ("ResponseMetadata", "Payload", "LogResult")}


def test_boto3_invoke_runs_the_handler_when_routed(role, routed):
    lam = routed
    name = make(role, "def handler(e, c):\n    if e.get('fail'):\n        raise ValueError('no')\n    return e\n")
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    ok = lam.invoke(FunctionName=name, Payload=b'{"a": 1}', LogType="Tail")
    assert _shown(ok) == {"StatusCode": 200, "ExecutedVersion": "$LATEST"}
    assert json.loads(ok["Payload"].read()) == {"a": 1}
    assert base64.b64decode(ok["LogResult"]).decode().startswith("START RequestId:")
    failed = lam.invoke(FunctionName=name, Qualifier="live", Payload=b'{"fail": true}')
    assert _shown(failed) == {"StatusCode": 200, "FunctionError": "Unhandled", "ExecutedVersion": "1"}
    assert json.loads(failed["Payload"].read())["errorType"] == "ValueError"
    assert _shown(lam.invoke(FunctionName=f"{name}:live")) == {"StatusCode": 200, "ExecutedVersion": "1"}
    assert lam.invoke(FunctionName=name, InvocationType="Event")["StatusCode"] == 202
    assert lam.invoke(FunctionName=name, InvocationType="DryRun")["StatusCode"] == 204
    with pytest.raises(lam.exceptions.ResourceNotFoundException, match="function:nope"):
        lam.invoke(FunctionName="nope")
    with pytest.raises(lam.exceptions.InvalidRequestContentException, match="Could not parse"):
        lam.invoke(FunctionName=name, Payload=b"{bad")


def test_boto3_invoke_echoes_again_when_unrouted(role):
    name = make(role, "def handler(e, c):\n    return 'ran'\n")
    fn.route_boto3_invoke()
    fn.route_boto3_invoke(False)
    resp = stacklab.client("lambda").invoke(FunctionName=name, Payload=b'{"x": 1}')
    assert json.loads(resp["Payload"].read()) == {"x": 1}  # moto's echo
    with pytest.raises(stacklab.InputError):
        fn.route_boto3_invoke("yes")


def test_aws_cli_invoke_through_the_sandbox_server(role, routed, tmp_path):
    import subprocess

    stacklab.start(cli=True, fresh=False)
    name = make(role, "def handler(e, c):\n    return {'got': e, 'version': c.function_version}\n")
    routed.publish_version(FunctionName=name)
    out = tmp_path / "out.json"
    cmd = ["aws", "lambda", "invoke", "--function-name", name, "--qualifier", "1", "--payload", '{"x": 2}', str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=os.environ.copy())
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"StatusCode": 200, "ExecutedVersion": "1"}
    assert json.loads(out.read_text()) == {"got": {"x": 2}, "version": "1"}


# ------------------------------------------------------------------------------ lifecycle


def test_reset_clears_state_and_stop_removes_the_code_cache(role):
    name = make(role, COUNTER)
    fn.invoke(name)
    root = fn._state.code_root
    assert root is not None and root.is_dir()
    stacklab.reset()
    assert fn._state.envs == {} and fn._state.rng is None
    stacklab.stop()
    assert not root.exists()
    stacklab.start()

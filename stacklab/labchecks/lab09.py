"""Checks for Lab 09 — monitoring an API with CloudWatch (detailed metrics, an alarm, its firing, a dashboard).

The lab's API (:func:`build_api`) is a REST API ``lab09-shop`` with a Lambda proxy integration and
two stages, ``prod`` and ``dev``; each stage's stage variable ``db_host`` tells the function where its
database is, and a wrong host makes the function fail (502 → ``5XXError``). :func:`warm_up` sends a
few minutes of traffic to both stages; :func:`incident` gives ``alarms.watch`` a step function that
breaks dev in steps 1-2 and prod in steps 3-5 (:data:`DEV_BROKEN`, :data:`PROD_BROKEN`).

Each check reads the sandbox with boto3 (``get_stage``, ``list_metrics``, ``describe_alarms``,
``get_dashboard``) and the alarms plane's history, so a ✅ means CloudWatch would behave as the
exercise asks; a ❌ names the exact mistake (the wrong dimension, statistic, threshold or stage).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from stacklab._validate import require_number, require_str
from stacklab.checks import CheckFailed, lab_check
from stacklab.errors import InputError
from stacklab.labchecks import aws

__all__ = ["ALARM", "API", "DASHBOARD", "DEV_BROKEN", "PROD_BROKEN", "REQUESTS_PER_MINUTE", "TOPIC",
           "build_api", "incident", "warm_up"]  # fmt: skip

LESSON = "09"
API = "lab09-shop"
FUNCTION = "lab09-orders"
ALARM = "lab09-prod-5xx"
DASHBOARD = "lab09-ops"
TOPIC = "lab09-oncall"
GOOD_HOST = "orders-db.internal"
BAD_HOST = "orders-db.internl"
#: Requests each stage gets per minute of traffic (so a per-minute 5XXError Sum is at most this).
REQUESTS_PER_MINUTE = 4
#: Steps of :func:`incident` in which each stage's database host is wrong.
DEV_BROKEN = (1, 2)
PROD_BROKEN = (3, 4, 5)
_PATHS = ("/orders", "/orders/1", "/orders/2", "/orders/9")
_RESET_HINT = ("If you restarted the kernel or ran stacklab.reset() since, the sandbox is empty again: run the "
               "notebook's cells again from the top.")  # fmt: skip

_HANDLER = """
import json

ORDERS = {"1": {"id": "1", "item": "coffee beans"}, "2": {"id": "2", "item": "filter papers"}}


def handler(event, context):
    host = (event.get("stageVariables") or {}).get("db_host", "")
    if host != "orders-db.internal":
        print(f"ERROR cannot reach the database at {host}")
        raise ConnectionError(f"cannot reach the database at {host}")
    order_id = (event.get("pathParameters") or {}).get("id")
    if order_id is None:
        return {"statusCode": 200, "body": json.dumps(sorted(ORDERS))}
    if order_id not in ORDERS:
        return {"statusCode": 404, "body": json.dumps({"message": f"no order {order_id}"})}
    return {"statusCode": 200, "body": json.dumps(ORDERS[order_id])}
"""


# ------------------------------------------------------------------------------------ the lab's API


def _api_id() -> str | None:
    for api in aws("apigateway").get_rest_apis(limit=500).get("items", []):
        if api.get("name") == API:
            return api["id"]
    return None


def build_api() -> str:
    """Create the lab's function and REST API ``lab09-shop`` (stages prod and dev); return the API id.

    Running it again returns the existing API (nothing is created twice).
    """
    existing = _api_id()
    if existing is not None:
        return existing
    from stacklab.planes import functions

    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "lambda.amazonaws.com"}}]}
    role = aws("iam").create_role(RoleName="lab09-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    code = {"ZipFile": functions.package({"app.py": _HANDLER})}
    arn = aws("lambda").create_function(FunctionName=FUNCTION, Runtime="python3.12", Role=role,
                                        Handler="app.handler", Code=code)["FunctionArn"]  # fmt: skip
    apigw = aws("apigateway")
    api_id = apigw.create_rest_api(name=API, endpointConfiguration={"types": ["REGIONAL"]})["id"]
    root = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    orders = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="orders")["id"]
    one = apigw.create_resource(restApiId=api_id, parentId=orders, pathPart="{id}")["id"]
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"
    for resource in (orders, one):
        apigw.put_method(restApiId=api_id, resourceId=resource, httpMethod="GET", authorizationType="NONE")
        apigw.put_integration(restApiId=api_id, resourceId=resource, httpMethod="GET", type="AWS_PROXY",
                              integrationHttpMethod="POST", uri=uri)  # fmt: skip
    for stage in ("prod", "dev"):
        apigw.create_deployment(restApiId=api_id, stageName=stage, variables={"db_host": GOOD_HOST})
    return api_id


def _check_api_arg(api_id: Any) -> str:
    require_str("api_id", api_id)
    if api_id != _api_id():
        raise InputError(f"{api_id!r} is not the lab's API {API!r}: use the id that lab09.build_api() returned.")
    return api_id


def _set_host(api_id: str, stage: str, host: str) -> None:
    current = (aws("apigateway").get_stage(restApiId=api_id, stageName=stage).get("variables") or {}).get("db_host")
    if current != host:
        aws("apigateway").update_stage(restApiId=api_id, stageName=stage, patchOperations=[
            {"op": "replace", "path": "/variables/db_host", "value": host}])  # fmt: skip


def _minute(api_id: str, stage: str, every: float) -> None:
    from stacklab import traffic
    from stacklab.planes import gateway

    traffic.spread(lambda i: gateway.request(api_id, stage, "GET", _PATHS[i % len(_PATHS)]),
                   REQUESTS_PER_MINUTE, every=every)  # fmt: skip


def warm_up(api_id: str, minutes: int = 2) -> str:
    """Send ``minutes`` minutes of healthy traffic to both stages (sandbox clock), flush the metrics; a summary."""
    from stacklab.planes import gateway
    from stacklab.sandbox import current

    api_id = _check_api_arg(api_id)
    require_number("minutes", minutes, minimum=1, maximum=10, integer=True)
    clock = current().clock
    for _ in range(int(minutes)):
        for stage in ("prod", "dev"):
            _set_host(api_id, stage, GOOD_HOST)
            _minute(api_id, stage, every=0)
        clock.advance(seconds=60)
    written = gateway.flush_metrics()
    return f"{minutes} minute(s) of traffic to prod and dev; {written} metric values written to CloudWatch"


def incident(api_id: str) -> Callable[[int, datetime], None]:
    """An ``on_step`` for ``alarms.watch(60, ...)``: each step sends a minute of traffic and flushes the metrics.

    prod gets traffic every step and its database host is wrong in steps :data:`PROD_BROKEN`; a
    developer tries dev (with a wrong host) in steps :data:`DEV_BROKEN` only.
    """
    from stacklab.planes import gateway

    api_id = _check_api_arg(api_id)

    def step(i: int, now: datetime) -> None:
        _set_host(api_id, "prod", BAD_HOST if i in PROD_BROKEN else GOOD_HOST)
        _minute(api_id, "prod", every=0)
        _set_host(api_id, "dev", BAD_HOST if i in DEV_BROKEN else GOOD_HOST)
        if i in DEV_BROKEN:
            _minute(api_id, "dev", every=0)
        gateway.flush_metrics()

    return step


# ------------------------------------------------------------------------------------ helpers


def _stage(api_id: Any, stage: str) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    if not isinstance(api_id, str) or not api_id.strip():
        raise CheckFailed(f"`api_id` should be the REST API's id (a string); it holds {api_id!r}.",
                          "Run the setup cell: `api_id = lab09.build_api()`.")
    try:
        return aws("apigateway").get_stage(restApiId=api_id.strip(), stageName=stage)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NotFoundException":
            raise CheckFailed(f"the sandbox has no REST API {api_id!r} with a stage {stage!r}.",
                              f"Run the setup cell (`api_id = lab09.build_api()`). {_RESET_HINT}") from exc
        raise


def _detailed_keys(stage: dict[str, Any]) -> list[str]:
    return [key for key, value in (stage.get("methodSettings") or {}).items() if value.get("metricsEnabled")]


def _covers_order(keys: list[str]) -> bool:
    return any(k in ("*/*", "~1orders~1{id}/GET", "~1orders~1{id}/*") for k in keys)


def _dims(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {d["Name"]: d["Value"] for d in items or []}


def _alarm() -> dict[str, Any]:
    cw = aws("cloudwatch")
    found = cw.describe_alarms(AlarmNames=[ALARM])["MetricAlarms"]
    if not found:
        others = [a["AlarmName"] for a in cw.describe_alarms()["MetricAlarms"]]
        near = f" (the sandbox has: {', '.join(others)})" if others else ""
        raise CheckFailed(f"there is no alarm named {ALARM!r}{near}.",
                          f"Create it with cloudwatch.put_metric_alarm(AlarmName='{ALARM}', ...). {_RESET_HINT}")
    return found[0]


def _fires_at(op: str, threshold: float) -> float | None:
    """The smallest whole number of errors per minute that breaches, or None for a 'less than' operator."""
    if op == "GreaterThanOrEqualToThreshold":
        return float(-(-threshold // 1))
    if op == "GreaterThanThreshold":
        return float(threshold // 1 + 1)
    return None


# ------------------------------------------------------------------------------------ 1. detailed metrics


@lab_check("09.detailed", LESSON, needs=("api_id", "method_metrics"), title="Exercise 1 · Per-method metrics",
           exercise=1)  # fmt: skip
def check_detailed(api_id: Any, method_metrics: Any) -> str:
    """Detailed metrics on prod (for GET /orders/{id}), published, and found with list_metrics."""
    prod = _stage(api_id, "prod")
    keys = _detailed_keys(prod)
    if not keys:
        dev_keys = _detailed_keys(_stage(api_id, "dev"))
        if dev_keys:
            raise CheckFailed("detailed metrics are on for the **dev** stage, not for prod: prod still publishes only "
                              "the ApiName and ApiName+Stage metrics.",
                              "Run update_stage with stageName='prod' and the patch "
                              "{'op': 'replace', 'path': '/*/*/metrics/enabled', 'value': 'true'}.")
        raise CheckFailed("the prod stage has no method setting with metricsEnabled, so API Gateway publishes no "
                          "Method/Resource dimensions: list_metrics filtered by Method and Resource finds nothing.",
                          "Enable detailed metrics: apigateway.update_stage(restApiId=api_id, stageName='prod', "
                          "patchOperations=[{'op': 'replace', 'path': '/*/*/metrics/enabled', 'value': 'true'}]).")
    if not _covers_order(keys):
        raise CheckFailed(f"detailed metrics are on for {', '.join(keys)} but not for GET /orders/{{id}}.",
                          "Use the path '/*/*/metrics/enabled' (every method) or "
                          "'/~1orders~1{id}/GET/metrics/enabled'.")
    wanted = {"ApiName": API, "Stage": "prod", "Method": "GET", "Resource": "/orders/{id}"}
    filters = [{"Name": k, "Value": v} for k, v in wanted.items()]
    published = aws("cloudwatch").list_metrics(Namespace="AWS/ApiGateway", MetricName="5XXError",
                                               Dimensions=filters)["Metrics"]  # fmt: skip
    if not published:
        raise CheckFailed("detailed metrics are on, but no per-method metric has been published since: metrics appear "
                          "only for requests made after the setting.",
                          "Run `lab09.warm_up(api_id)` after enabling them (it sends traffic and flushes the metrics).")
    if isinstance(method_metrics, dict):
        raise CheckFailed("`method_metrics` holds a whole dict (the list_metrics response), not its list of metrics.",
                          "Take the list: `method_metrics = cloudwatch.list_metrics(...)['Metrics']`.")
    if not isinstance(method_metrics, list | tuple):
        raise CheckFailed(f"`method_metrics` should be the list of metrics from list_metrics; it holds "
                          f"{type(method_metrics).__name__}.",
                          "Set `method_metrics = cloudwatch.list_metrics(...)['Metrics']`.")
    if not method_metrics:
        raise CheckFailed("`method_metrics` is empty although the sandbox has per-method metrics: your Dimensions "
                          "filter matches nothing. Resource is the resource's path template '/orders/{id}', not a "
                          "requested path such as '/orders/1'; the stage is 'prod'.",
                          "Filter with ApiName='lab09-shop', Stage='prod', Method='GET', Resource='/orders/{id}'.")
    for m in method_metrics:
        dims = _dims(m.get("Dimensions")) if isinstance(m, dict) else {}
        if any(dims.get(k) != v for k, v in wanted.items()):
            shown = ", ".join(f"{k}={v}" for k, v in sorted(dims.items())) or repr(m)[:60]
            raise CheckFailed(f"`method_metrics` holds a metric that is not GET /orders/{{id}} on prod ({shown}).",
                              "Filter list_metrics with all four dimensions: ApiName, Stage, Method and Resource.")
    names = sorted({m["MetricName"] for m in method_metrics})
    return (f"Detailed metrics on for prod ({', '.join(keys)}); GET /orders/{{id}} publishes {', '.join(names)} "
            "with ApiName+Method+Resource+Stage.")


# ------------------------------------------------------------------------------------ 2. the alarm


def _judge_alarm(alarm: dict[str, Any], api_id: str) -> str:
    """Raise CheckFailed naming the first way the alarm differs from the exercise; else a description."""
    if alarm.get("Metrics"):
        raise CheckFailed("the alarm uses metric math (Metrics=[...]); the exercise asks for a plain metric alarm.",
                          "Pass Namespace, MetricName, Dimensions and Statistic instead of Metrics.")
    if alarm.get("Namespace") != "AWS/ApiGateway":
        raise CheckFailed(f"the alarm watches the namespace {alarm.get('Namespace')!r}; API Gateway publishes to "
                          "'AWS/ApiGateway'.", "Set Namespace='AWS/ApiGateway'.")
    name = alarm.get("MetricName")
    if name == "5xx":
        raise CheckFailed("the alarm watches '5xx', the HTTP API metric name; this is a REST API, whose metric is "
                          "'5XXError'.", "Set MetricName='5XXError'.")
    if name != "5XXError":
        raise CheckFailed(f"the alarm watches the metric {name!r}; server errors are '5XXError'.",
                          "Set MetricName='5XXError'.")
    dims = _dims(alarm.get("Dimensions"))
    fix = f"Use Dimensions=[{{'Name': 'ApiName', 'Value': '{API}'}}, {{'Name': 'Stage', 'Value': 'prod'}}]."
    if "ApiId" in dims:
        raise CheckFailed("the alarm uses the dimension ApiId, which only HTTP APIs publish; REST API metrics carry "
                          "ApiName.", fix)
    if dims.get("ApiName") == api_id:
        raise CheckFailed(f"the ApiName dimension holds the API's id {api_id!r}; it takes the API's name {API!r}.", fix)
    if "ApiName" not in dims:
        raise CheckFailed("the alarm has no ApiName dimension; API Gateway publishes no metric with Stage alone, so "
                          "the alarm has no data and can never fire.", fix)
    if dims.get("ApiName") != API:
        raise CheckFailed(f"the alarm watches ApiName={dims.get('ApiName')!r}; the lab's API is {API!r}.", fix)
    if "Stage" not in dims:
        raise CheckFailed("the alarm's only dimension is ApiName, which adds up every stage: dev's failures would "
                          "page prod's on-call.", fix)
    if dims.get("Stage") != "prod":
        raise CheckFailed(f"the alarm watches Stage={dims.get('Stage')!r}, not prod: a production outage would go "
                          "unnoticed.", fix)
    if set(dims) != {"ApiName", "Stage"}:
        extra = sorted(set(dims) - {"ApiName", "Stage"})
        raise CheckFailed(f"the alarm also has the dimension(s) {', '.join(extra)}, so it watches one method only "
                          "(and only while detailed metrics are on).", fix)
    if alarm.get("ExtendedStatistic"):
        raise CheckFailed(f"the alarm uses the percentile {alarm['ExtendedStatistic']}; an error count needs 'Sum'.",
                          "Set Statistic='Sum' (and no ExtendedStatistic).")
    stat = alarm.get("Statistic")
    if stat == "Average":
        raise CheckFailed("the alarm uses Statistic 'Average': for 5XXError that is the error *rate*, between 0 and "
                          "1, so a threshold of 3 errors can never be reached.",
                          "Set Statistic='Sum' (errors per period).")
    if stat == "SampleCount":
        raise CheckFailed("the alarm uses Statistic 'SampleCount', which counts every request, failed or not.",
                          "Set Statistic='Sum' (errors per period).")
    if stat in ("Maximum", "Minimum"):
        raise CheckFailed(f"the alarm uses Statistic {stat!r}: each request publishes 0 or 1, so that is at most 1, "
                          "never 3.", "Set Statistic='Sum' (errors per period).")
    if stat != "Sum":
        raise CheckFailed(f"the alarm uses Statistic {stat!r}; the exercise asks for 'Sum'.", "Set Statistic='Sum'.")
    if alarm.get("Period") != 60:
        raise CheckFailed(f"the alarm's Period is {alarm.get('Period')} s; the exercise asks for one-minute periods.",
                          "Set Period=60.")
    op, threshold = alarm.get("ComparisonOperator"), float(alarm.get("Threshold", 0))
    at = _fires_at(str(op), threshold)
    if at is None:
        raise CheckFailed(f"the alarm compares with {op}: it would fire when there are *few* errors.",
                          "Use ComparisonOperator='GreaterThanOrEqualToThreshold' with Threshold=3.")
    if at > REQUESTS_PER_MINUTE:
        raise CheckFailed(f"with {op} {threshold:g} the alarm needs at least {at:g} errors a minute, but prod gets "
                          f"{REQUESTS_PER_MINUTE} requests a minute: it can never fire.",
                          "Use ComparisonOperator='GreaterThanOrEqualToThreshold' with Threshold=3.")
    if at != 3:
        raise CheckFailed(f"with {op} {threshold:g} the alarm breaches at {at:g} errors a minute; the exercise asks "
                          "for 3 or more.", "Use ComparisonOperator='GreaterThanOrEqualToThreshold' with Threshold=3.")
    n = int(alarm.get("EvaluationPeriods", 0))
    m = int(alarm.get("DatapointsToAlarm") or n)
    outage = len(PROD_BROKEN)
    if m > outage:
        unset = "" if alarm.get("DatapointsToAlarm") else " (DatapointsToAlarm unset: it equals EvaluationPeriods)"
        raise CheckFailed(f"the alarm needs {m} breaching minutes out of {n}{unset}, but the outage lasts {outage} "
                          "minutes: it can never fire.", "Set EvaluationPeriods=3 and DatapointsToAlarm=2.")
    if (n, m) != (3, 2):
        raise CheckFailed(f"the alarm fires on {m} out of {n} periods; the exercise asks for 2 out of 3 (one bad "
                          "minute alone must not page anyone).", "Set EvaluationPeriods=3 and DatapointsToAlarm=2.")
    if alarm.get("TreatMissingData") != "notBreaching":
        raise CheckFailed(f"TreatMissingData is {alarm.get('TreatMissingData') or 'missing'!r}; a minute without "
                          "requests has no errors, which the exercise treats as good.",
                          "Set TreatMissingData='notBreaching'.")
    topic = f"arn:aws:sns:us-east-1:{alarm['AlarmArn'].split(':')[4]}:{TOPIC}"
    if topic not in (alarm.get("AlarmActions") or []):
        raise CheckFailed("the alarm has no AlarmActions with the on-call topic: it would change state without "
                          "telling anyone.", f"Pass AlarmActions=[topic_arn] (the topic {TOPIC!r}).")
    return (f"Alarm {ALARM}: 5XXError Sum per minute for ApiName={API}, Stage=prod, >= 3 in 2 of 3 minutes, "
            f"missing data = notBreaching, notifies {TOPIC}.")


@lab_check("09.alarm", LESSON, needs=("api_id",), title="Exercise 2 · An alarm on prod's server errors", exercise=2)
def check_alarm(api_id: Any) -> str:
    """The alarm's configuration, from describe_alarms."""
    _stage(api_id, "prod")
    return _judge_alarm(_alarm(), api_id.strip())


# ------------------------------------------------------------------------------------ 3. fires and recovers


@lab_check("09.fires", LESSON, needs=("api_id", "timeline"), title="Exercise 3 · The alarm fires and recovers",
           exercise=3)  # fmt: skip
def check_fires(api_id: Any, timeline: Any) -> str:
    """The alarms plane's history: OK -> ALARM -> OK, and describe_alarms shows OK now."""
    from stacklab.planes import alarms

    _stage(api_id, "prod")
    alarm = _alarm()
    if not isinstance(timeline, alarms.Timeline):
        raise CheckFailed(f"`timeline` should be what alarms.watch(...) returned; it holds {type(timeline).__name__}.",
                          f"`timeline = alarms.watch(60, 10, ['{ALARM}'], on_step=lab09.incident(api_id))`.")
    changes = alarms.history(ALARM)
    fired = [i for i, c in enumerate(changes) if c.new_state == "ALARM"]
    try:
        _judge_alarm(alarm, api_id.strip())
    except CheckFailed as wrong:
        what = ("the alarm changed state during the incident, but" if fired else
                "the alarm never went to ALARM during the incident, because")
        raise CheckFailed(f"{what} {wrong.mistake}", wrong.hint + " Then run the exercise cells again.") from None
    if not fired:
        if not any(r["alarm"] == ALARM for r in timeline.rows):
            raise CheckFailed(f"the timeline never evaluated {ALARM}.",
                              f"Pass ['{ALARM}'] to alarms.watch (or leave the names out).")
        raise CheckFailed("the alarm never went to ALARM: the incident was not in the watched minutes.",
                          f"Run `timeline = alarms.watch(60, 10, ['{ALARM}'], on_step=lab09.incident(api_id))`.")
    recovered = [c for c in changes[fired[-1] + 1:] if c.new_state == "OK"]
    if not recovered:
        raise CheckFailed(f"the alarm went to ALARM at {changes[fired[-1]].at.strftime('%H:%M')} but has not "
                          "recovered yet: the watch stopped before two healthy minutes followed the outage.",
                          "Watch 10 steps: alarms.watch(60, 10, ...) (or run alarms.watch(60, 3, ...) once more).")
    if alarm["StateValue"] != "OK":
        raise CheckFailed(f"describe_alarms shows {alarm['StateValue']} now.", "Watch a few more steps until it is OK.")
    went, back = changes[fired[-1]], recovered[0]
    return (f"{ALARM}: OK -> ALARM at {went.at.strftime('%H:%M')} (notifying {TOPIC}), back to OK at "
            f"{back.at.strftime('%H:%M')}; describe_alarms shows OK.")


# ------------------------------------------------------------------------------------ 4. the dashboard


def _rows(metrics: Any) -> list[tuple[list[Any], dict[str, Any]]]:
    """A widget's metric arrays with '.' and '...' expanded: (elements, options) per row."""
    rows: list[tuple[list[Any], dict[str, Any]]] = []
    previous: list[Any] = []
    for raw in metrics if isinstance(metrics, list) else []:
        if not isinstance(raw, list):
            continue
        options = raw[-1] if raw and isinstance(raw[-1], dict) else {}
        items = raw[:-1] if options else list(raw)
        if items and items[0] == "...":
            items = previous[: len(previous) - len(items) + 1] + items[1:] if len(items) > 1 else list(previous)
        items = [previous[i] if v == "." and i < len(previous) else v for i, v in enumerate(items)]
        previous = items
        rows.append((items, options))
    return rows


def _row_dims(items: list[Any]) -> dict[str, Any]:
    rest = items[2:]
    return {str(rest[i]): rest[i + 1] for i in range(0, len(rest) - 1, 2)}


@lab_check("09.dashboard", LESSON, title="Exercise 4 · A dashboard for prod", exercise=4)
def check_dashboard() -> str:
    """The dashboard's widget JSON: 5XXError Sum and Latency p99 of lab09-shop / prod."""
    from botocore.exceptions import ClientError

    try:
        body = aws("cloudwatch").get_dashboard(DashboardName=DASHBOARD)["DashboardBody"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("ResourceNotFound", "ResourceNotFoundException"):
            raise CheckFailed(f"there is no dashboard named {DASHBOARD!r}.",
                              f"Create it with cloudwatch.put_dashboard(DashboardName='{DASHBOARD}', "
                              "DashboardBody=json.dumps(body)).") from exc
        raise
    try:
        widgets = json.loads(body).get("widgets")
    except (ValueError, AttributeError):
        widgets = None
    if not isinstance(widgets, list):
        raise CheckFailed("the dashboard body is not a JSON object with a 'widgets' list.",
                          "Pass DashboardBody=json.dumps({'widgets': [...]}).")
    found: dict[str, list[tuple[dict[str, Any], str]]] = {"5XXError": [], "Latency": []}
    for widget in widgets:
        if not isinstance(widget, dict) or widget.get("type") != "metric":
            continue
        props = widget.get("properties") or {}
        for items, options in _rows(props.get("metrics")):
            if len(items) >= 2 and items[0] == "AWS/ApiGateway" and items[1] in found:
                stat = options.get("stat") or props.get("stat") or "Average"
                found[items[1]].append((_row_dims(items), str(stat)))
    fix_dims = f"Use the dimensions \"ApiName\", \"{API}\", \"Stage\", \"prod\" in the metric array."
    for metric, wanted, why in (("5XXError", "Sum", "the number of server errors"),
                                ("Latency", "p99", "the slowest 1 % of requests")):  # fmt: skip
        rows = found[metric]
        if not rows:
            raise CheckFailed(f"no metric widget shows AWS/ApiGateway {metric}.",
                              f"Add [\"AWS/ApiGateway\", \"{metric}\", \"ApiName\", \"{API}\", \"Stage\", \"prod\", "
                              f"{{\"stat\": \"{wanted}\"}}] to a metric widget's \"metrics\".")
        good_dims = [stat for dims, stat in rows if dims == {"ApiName": API, "Stage": "prod"}]
        if not good_dims:
            shown = ", ".join(f"{k}={v}" for k, v in sorted(rows[0][0].items())) or "none"
            if rows[0][0] == {"ApiName": API}:
                raise CheckFailed(f"the {metric} line has only the dimension ApiName: it adds up prod and dev.",
                                  fix_dims)
            raise CheckFailed(f"the {metric} line's dimensions are {shown}; the dashboard is for stage prod of {API}.",
                              fix_dims)
        if wanted not in good_dims:
            default = " (no stat given: metric widgets default to Average)" if "Average" in good_dims else ""
            raise CheckFailed(f"the {metric} line shows {good_dims[0]}{default}; it should show {wanted}, {why}.",
                              f"Give the line the options {{\"stat\": \"{wanted}\"}}.")
    return f"Dashboard {DASHBOARD}: 5XXError Sum and Latency p99 of {API} / prod."

"""Lab 09's checks pass on the solution and name the exact mistake in realistic wrong answers."""

from __future__ import annotations

import json

import pytest
from support.labcheck import failed, run

import stacklab
from stacklab.errors import InputError
from stacklab.labchecks import lab09
from stacklab.planes import alarms

PROD = [{"Name": "ApiName", "Value": "lab09-shop"}, {"Name": "Stage", "Value": "prod"}]
ONE_METHOD = PROD + [{"Name": "Method", "Value": "GET"}, {"Name": "Resource", "Value": "/orders/{id}"}]


@pytest.fixture
def api_id(box, tmp_path, monkeypatch):
    """The lab's API as it is (built once), without alarms or dashboards: for configuration-only checks."""
    monkeypatch.setenv("STACKLAB_PROGRESS", str(tmp_path / "progress.json"))
    found = lab09.build_api()
    names = [a["AlarmName"] for a in cw().describe_alarms()["MetricAlarms"]]
    if names:
        cw().delete_alarms(AlarmNames=names)
    boards = [d["DashboardName"] for d in cw().list_dashboards()["DashboardEntries"]]
    if boards:
        cw().delete_dashboards(DashboardNames=boards)
    alarms.clear()
    return found


@pytest.fixture
def fresh(box, tmp_path, monkeypatch):
    """A new sandbox with only the lab's API: for checks that depend on metrics, stages and the clock."""
    monkeypatch.setenv("STACKLAB_PROGRESS", str(tmp_path / "progress.json"))
    stacklab.reset()
    found = lab09.build_api()
    assert lab09.build_api() == found  # running the setup cell twice creates nothing twice
    return found


def cw():
    return stacklab.client("cloudwatch")


def detailed(api_id, stage="prod", path="/*/*/metrics/enabled"):
    stacklab.client("apigateway").update_stage(restApiId=api_id, stageName=stage, patchOperations=[
        {"op": "replace", "path": path, "value": "true"}])  # fmt: skip


def method_metrics():
    return cw().list_metrics(Namespace="AWS/ApiGateway", Dimensions=ONE_METHOD)["Metrics"]


def put_alarm(**overrides):
    topic = stacklab.client("sns").create_topic(Name=lab09.TOPIC)["TopicArn"]
    kwargs = dict(AlarmName=lab09.ALARM, Namespace="AWS/ApiGateway", MetricName="5XXError", Dimensions=PROD,
                  Statistic="Sum", Period=60, EvaluationPeriods=3, DatapointsToAlarm=2, Threshold=3,
                  ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching",
                  AlarmActions=[topic])  # fmt: skip
    kwargs.update(overrides)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    cw().put_metric_alarm(**kwargs)


def watch(api_id, steps=10):
    return alarms.watch(60, steps, [lab09.ALARM], on_step=lab09.incident(api_id))


# ------------------------------------------------------------------------------ 1. detailed metrics


def test_detailed_passes_on_the_solution_and_for_one_method(fresh):
    api_id = fresh
    detailed(api_id)
    lab09.warm_up(api_id)
    result = run("09.detailed", api_id=api_id, method_metrics=method_metrics())
    assert result, result.text()
    assert "5XXError" in result.message and "*/*" in result.message
    stacklab.reset()
    api_id = lab09.build_api()
    detailed(api_id, path="/~1orders~1{id}/GET/metrics/enabled")
    lab09.warm_up(api_id, minutes=1)
    assert run("09.detailed", api_id=api_id, method_metrics=method_metrics())


def test_detailed_not_enabled_or_on_the_wrong_stage(fresh):
    api_id = fresh
    lab09.warm_up(api_id, minutes=1)
    assert "no method setting with metricsEnabled" in failed("09.detailed", api_id=api_id, method_metrics=[])
    detailed(api_id, stage="dev")
    assert "on for the **dev** stage, not for prod" in failed("09.detailed", api_id=api_id, method_metrics=[])


def test_detailed_enabled_after_the_traffic_or_for_another_method(fresh):
    api_id = fresh
    lab09.warm_up(api_id, minutes=1)
    detailed(api_id)
    assert "no per-method metric has been published" in failed("09.detailed", api_id=api_id, method_metrics=[])
    stacklab.reset()
    api_id = lab09.build_api()
    detailed(api_id, path="/~1orders/GET/metrics/enabled")
    assert "not for GET /orders/{id}" in failed("09.detailed", api_id=api_id, method_metrics=[])


def test_detailed_wrong_filter_or_value(fresh):
    api_id = fresh
    detailed(api_id)
    lab09.warm_up(api_id, minutes=1)
    assert "path template '/orders/{id}'" in failed("09.detailed", api_id=api_id, method_metrics=[])
    whole = cw().list_metrics(Namespace="AWS/ApiGateway", Dimensions=ONE_METHOD)
    assert "whole dict" in failed("09.detailed", api_id=api_id, method_metrics=whole)
    stage_only = cw().list_metrics(Namespace="AWS/ApiGateway", Dimensions=PROD)["Metrics"]
    assert "not GET /orders/{id} on prod" in failed("09.detailed", api_id=api_id, method_metrics=stage_only)
    assert "no REST API 'nope'" in failed("09.detailed", api_id="nope", method_metrics=[])


# ------------------------------------------------------------------------------ 2. the alarm


def test_alarm_passes_on_the_solution(api_id):
    put_alarm()
    result = run("09.alarm", api_id=api_id)
    assert result and "ApiName=lab09-shop, Stage=prod" in result.message
    put_alarm(ComparisonOperator="GreaterThanThreshold", Threshold=2)  # the same rule, said differently
    assert run("09.alarm", api_id=api_id)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"Dimensions": PROD[:1]}, "only dimension is ApiName, which adds up every stage"),
        ({"Dimensions": [PROD[0], {"Name": "Stage", "Value": "dev"}]}, "watches Stage='dev', not prod"),
        ({"Dimensions": PROD[1:]}, "no ApiName dimension"),
        ({"Dimensions": ONE_METHOD}, "watches one method only"),
        ({"MetricName": "5xx"}, "HTTP API metric name"),
        ({"Statistic": "Average"}, "error *rate*"),
        ({"Statistic": "SampleCount"}, "counts every request"),
        ({"Threshold": 10}, "needs at least 10 errors a minute, but prod gets 4 requests a minute: it can never fire"),
        ({"Threshold": 1}, "breaches at 1 errors a minute"),
        ({"ComparisonOperator": "LessThanThreshold"}, "fire when there are *few* errors"),
        ({"EvaluationPeriods": 5, "DatapointsToAlarm": 5}, "needs 5 breaching minutes out of 5"),
        ({"EvaluationPeriods": 5, "DatapointsToAlarm": None}, "DatapointsToAlarm unset"),
        ({"DatapointsToAlarm": None}, "fires on 3 out of 3 periods"),
        ({"Period": 300}, "Period is 300 s"),
        ({"TreatMissingData": None}, "TreatMissingData is 'missing'"),
        ({"AlarmActions": []}, "no AlarmActions"),
    ],
)
def test_alarm_names_the_mistake(api_id, overrides, message):
    put_alarm(**overrides)
    assert message in failed("09.alarm", api_id=api_id)


def test_alarm_missing_or_api_id_as_name(api_id):
    assert "no alarm named 'lab09-prod-5xx'" in failed("09.alarm", api_id=api_id)
    put_alarm(AlarmName="prod-5xx")
    assert "(the sandbox has: prod-5xx)" in failed("09.alarm", api_id=api_id)
    put_alarm(Dimensions=[{"Name": "ApiName", "Value": api_id}, PROD[1]])
    assert "holds the API's id" in failed("09.alarm", api_id=api_id)
    put_alarm(Dimensions=[{"Name": "ApiId", "Value": api_id}, PROD[1]])
    assert "only HTTP APIs publish" in failed("09.alarm", api_id=api_id)


# ------------------------------------------------------------------------------ 3. fires and recovers


def test_fires_and_recovers_on_the_solution(fresh):
    api_id = fresh
    detailed(api_id)
    put_alarm()
    timeline = watch(api_id)
    states = [r["state"] for r in timeline.for_alarm(lab09.ALARM)]
    assert states == ["OK"] * 4 + ["ALARM"] * 3 + ["OK"] * 3  # prod's outage only, not dev's
    result = run("09.fires", api_id=api_id, timeline=timeline)
    assert result and "OK -> ALARM at" in result.message and "back to OK" in result.message


def test_fires_never_with_average_or_too_high_a_threshold(fresh):
    api_id = fresh
    put_alarm(Statistic="Average")
    timeline = watch(api_id, steps=6)
    message = failed("09.fires", api_id=api_id, timeline=timeline)
    assert "never went to ALARM during the incident, because the alarm uses Statistic 'Average'" in message
    put_alarm(Threshold=7)
    assert "it can never fire" in failed("09.fires", api_id=api_id, timeline=timeline)


def test_fires_on_the_wrong_stage_or_not_recovered(fresh):
    api_id = fresh
    put_alarm(Dimensions=[PROD[0], {"Name": "Stage", "Value": "dev"}])
    timeline = watch(api_id, steps=3)  # dev's outage (steps 1-2) fires this alarm; prod's is never seen
    assert [t.new_state for t in alarms.history(lab09.ALARM)] == ["ALARM"]
    message = failed("09.fires", api_id=api_id, timeline=timeline)
    assert "changed state during the incident, but the alarm watches Stage='dev'" in message
    stacklab.reset()
    api_id = lab09.build_api()
    put_alarm()
    timeline = watch(api_id, steps=6)
    assert "has not recovered yet" in failed("09.fires", api_id=api_id, timeline=timeline)


def test_fires_without_a_timeline_or_an_alarm(api_id):
    assert "no alarm named" in failed("09.fires", api_id=api_id, timeline=alarms.Timeline())
    put_alarm()
    assert "should be what alarms.watch(...) returned" in failed("09.fires", api_id=api_id, timeline=[])
    assert "never evaluated lab09-prod-5xx" in failed("09.fires", api_id=api_id, timeline=alarms.Timeline())


# ------------------------------------------------------------------------------ 4. the dashboard


def dashboard(*lines, stat=None):
    props = {"title": "prod", "region": "us-east-1", "period": 60, "metrics": [list(x) for x in lines]}
    if stat:
        props["stat"] = stat
    body = {"widgets": [{"type": "metric", "x": 0, "y": 0, "width": 12, "height": 6, "properties": props}]}
    cw().put_dashboard(DashboardName=lab09.DASHBOARD, DashboardBody=json.dumps(body))


ERRORS = ["AWS/ApiGateway", "5XXError", "ApiName", "lab09-shop", "Stage", "prod"]
LATENCY = ["AWS/ApiGateway", "Latency", "ApiName", "lab09-shop", "Stage", "prod"]


def test_dashboard_passes_on_the_solution_and_with_shorthand(api_id):
    dashboard(ERRORS + [{"stat": "Sum"}], LATENCY + [{"stat": "p99"}])
    assert run("09.dashboard")
    dashboard(ERRORS + [{"stat": "Sum"}], [".", "Latency", ".", ".", ".", ".", {"stat": "p99"}])
    assert run("09.dashboard")
    dashboard(ERRORS, LATENCY + [{"stat": "p99"}], stat="Sum")  # the widget's stat applies to its lines
    assert run("09.dashboard")


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ((ERRORS, LATENCY + [{"stat": "p99"}]), "no stat given: metric widgets default to Average"),
        ((ERRORS[:4] + [{"stat": "Sum"}], LATENCY + [{"stat": "p99"}]), "has only the dimension ApiName"),
        ((ERRORS + [{"stat": "Sum"}],), "no metric widget shows AWS/ApiGateway Latency"),
        ((ERRORS + [{"stat": "Sum"}], LATENCY + [{"stat": "Average"}]), "should show p99"),
        ((ERRORS[:5] + ["dev", {"stat": "Sum"}], LATENCY + [{"stat": "p99"}]), "Stage=dev"),
    ],
)
def test_dashboard_names_the_mistake(api_id, lines, message):
    dashboard(*lines)
    assert message in failed("09.dashboard")


def test_dashboard_missing_or_not_json(api_id):
    assert "no dashboard named 'lab09-ops'" in failed("09.dashboard")
    cw().put_dashboard(DashboardName=lab09.DASHBOARD, DashboardBody=json.dumps({"widget": []}))
    assert "'widgets' list" in failed("09.dashboard")


# ------------------------------------------------------------------------------ helpers' input checks


def test_helpers_refuse_bad_input(api_id):
    with pytest.raises(InputError, match="not the lab's API"):
        lab09.warm_up("abc123")
    with pytest.raises(InputError, match="minutes must be at most 10"):
        lab09.warm_up(api_id, minutes=11)
    with pytest.raises(InputError, match="api_id must be"):
        lab09.incident(None)

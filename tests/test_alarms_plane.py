"""The alarm plane evaluates CloudWatch alarms as AWS documents: operators, M of N, missing data, reasons."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

import stacklab
from stacklab.clock import EPOCH
from stacklab.errors import InputError, StackLabError
from stacklab.planes import alarms
from stacklab.planes.alarms import Datapoint

TOPIC = "arn:aws:sns:us-east-1:123456789012:ops"
DIMS = [{"Name": "ApiName", "Value": "pets"}, {"Name": "Stage", "Value": "prod"}]


@pytest.fixture(scope="module")
def client(box):
    stacklab.reset()
    return stacklab.client("cloudwatch")


BASE = [EPOCH]


@pytest.fixture
def cw(client):
    """No alarms, no history, and a clock 10 minutes past any earlier test's data (a reset costs ~0.5 s)."""
    names = [a["AlarmName"] for a in client.describe_alarms()["MetricAlarms"]]
    if names:
        client.delete_alarms(AlarmNames=names)
    alarms.clear()
    now = stacklab.clock().now()
    BASE[0] = now.replace(second=0, microsecond=0) + timedelta(minutes=10)
    stacklab.clock().set(BASE[0])
    return client


def ts(minute):
    """AWS's rendering of the start of minute ``minute`` of this test, as in a StateReason."""
    return (BASE[0] + timedelta(minutes=minute)).strftime("%d/%m/%y %H:%M:%S")


def alarm(cw, name="a", **overrides):
    kwargs = dict(
        AlarmName=name, Namespace="Lab", MetricName="Errors", Dimensions=DIMS, Statistic="Sum", Period=60,
        EvaluationPeriods=3, DatapointsToAlarm=2, Threshold=5.0, ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[TOPIC], OKActions=[TOPIC + "-ok"],
    )
    kwargs.update(overrides)
    cw.put_metric_alarm(**kwargs)


def put(cw, minute, *values, dims=DIMS, name="Errors", namespace="Lab"):
    """Publish values in the period that starts ``minute`` minutes after the sandbox epoch."""
    at = BASE[0] + timedelta(minutes=minute, seconds=20)
    cw.put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": name, "Dimensions": dims, "Value": float(v), "Timestamp": at} for v in values
    ])


def at_minute(minute):
    stacklab.clock().set(BASE[0] + timedelta(minutes=minute))


def state(cw, name="a"):
    found = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    return found["StateValue"], found["StateReason"]


# ------------------------------------------------------------------ the rules, on a synthetic range

T0 = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def rng(pattern, *, bad=10.0, good=0.0):
    """The User Guide's notation: 0 = not breaching, X = breaching, - = missing (oldest first)."""
    return [Datapoint(T0 + timedelta(minutes=i), {"0": good, "X": bad, "-": None}[c])
            for i, c in enumerate(pattern.replace(" ", ""))]


def spec(treat, current="OK", n=3, m=3, op="GreaterThanThreshold", namespace="Lab"):
    return {"AlarmName": "t", "StateValue": current, "ComparisonOperator": op, "Threshold": 5.0,
            "EvaluationPeriods": n, "DatapointsToAlarm": m, "TreatMissingData": treat, "Namespace": namespace}


# The table of "How alarm state is evaluated when data is missing" (3 out of 3, 5-point range).
GUIDE_TABLE = [
    ("0 - X - X", {"missing": "OK", "ignore": "OK", "breaching": "OK", "notBreaching": "OK"}),
    ("- - - - 0", {"missing": "OK", "ignore": "OK", "breaching": "OK", "notBreaching": "OK"}),
    ("- - - - -", {"missing": "INSUFFICIENT_DATA", "ignore": "keep", "breaching": "ALARM", "notBreaching": "OK"}),
    ("0 X X - X", {"missing": "ALARM", "ignore": "ALARM", "breaching": "ALARM", "notBreaching": "ALARM"}),
    ("- - X - -", {"missing": "ALARM", "ignore": "keep", "breaching": "ALARM", "notBreaching": "OK"}),
]


@pytest.mark.parametrize("pattern,expected", GUIDE_TABLE)
@pytest.mark.parametrize("treat", ["missing", "ignore", "breaching", "notBreaching"])
@pytest.mark.parametrize("current", ["OK", "ALARM", "INSUFFICIENT_DATA"])
def test_missing_data_table_of_the_user_guide(pattern, expected, treat, current):
    new, _, _, _ = alarms._judge(spec(treat, current), rng(pattern))
    assert new == (current if expected[treat] == "keep" else expected[treat])


@pytest.mark.parametrize("pattern,n,m,expected", [
    ("0 0 0 X X", 3, 2, "ALARM"),   # 2 of the last 3
    ("0 0 X 0 X", 3, 2, "ALARM"),   # not necessarily consecutive
    ("X X 0 0 X", 3, 2, "OK"),      # the older breaches are outside the last 3
    ("0 0 X 0 X", 3, 3, "OK"),      # 3 of 3 needs all three
    ("0 0 0 0 X", 1, 1, "ALARM"),
    ("X X 0 X X", 5, 4, "ALARM"),
    ("X - - X 0", 3, 2, "ALARM"),   # missing points skipped: the last 3 real points are X X 0
])
def test_m_out_of_n(pattern, n, m, expected):
    assert alarms._judge(spec("missing", n=n, m=m), rng(pattern))[0] == expected


@pytest.mark.parametrize("pattern,treat,expected", [
    ("- - - X X", "breaching", "ALARM"),     # 1 missing point filled as breaching: X X X
    ("- - - 0 X", "breaching", "OK"),        # fill only as few as needed: 0 X + 1 -> 2 of 3 < 3
    ("- - - X X", "notBreaching", "OK"),
    ("- - - X X", "missing", "ALARM"),       # judged on the 2 real points, both breaching
    ("- - - 0 X", "missing", "OK"),
    ("- - - 0 0", "ignore", "OK"),           # cannot reach 3 breaching whatever is missing
])
def test_partial_data_fills(pattern, treat, expected):
    assert alarms._judge(spec(treat), rng(pattern))[0] == expected


def test_dynamodb_alarms_always_ignore_missing_data():
    assert alarms._judge(spec("breaching", "OK", namespace="AWS/DynamoDB"), rng("- - - - -"))[0] == "OK"
    assert alarms._judge(spec("breaching", "ALARM", namespace="AWS/DynamoDB"), rng("- - - - -"))[0] == "ALARM"


def test_windows_end_at_the_last_full_period():
    now = datetime(2026, 1, 15, 9, 7, 30, tzinfo=UTC)
    wins = alarms._windows(now, 300, 2)
    assert wins == [(datetime(2026, 1, 15, 8, 55, tzinfo=UTC), datetime(2026, 1, 15, 9, 0, tzinfo=UTC)),
                    (datetime(2026, 1, 15, 9, 0, tzinfo=UTC), datetime(2026, 1, 15, 9, 5, tzinfo=UTC))]


# ------------------------------------------------------------------ through CloudWatch (moto)


@pytest.mark.parametrize("op,value,expected", [
    ("GreaterThanThreshold", 6, "ALARM"), ("GreaterThanThreshold", 5, "OK"),
    ("GreaterThanOrEqualToThreshold", 5, "ALARM"), ("GreaterThanOrEqualToThreshold", 4, "OK"),
    ("LessThanThreshold", 4, "ALARM"), ("LessThanThreshold", 5, "OK"),
    ("LessThanOrEqualToThreshold", 5, "ALARM"), ("LessThanOrEqualToThreshold", 6, "OK"),
])
def test_each_comparison_operator(cw, op, value, expected):
    alarm(cw, ComparisonOperator=op, EvaluationPeriods=1, DatapointsToAlarm=1)
    put(cw, 0, value)
    at_minute(1)
    alarms.evaluate(["a"])
    assert state(cw)[0] == expected


@pytest.mark.parametrize("stat,expected", [
    ("Sum", 9.0), ("Average", 3.0), ("Minimum", 1.0), ("Maximum", 6.0), ("SampleCount", 3.0),
])
def test_each_statistic(cw, stat, expected):
    alarm(cw, Statistic=stat, EvaluationPeriods=1, DatapointsToAlarm=1)
    put(cw, 0, 1, 2, 6)
    at_minute(1)
    [evaluation] = alarms.evaluations(["a"])
    assert evaluation.latest == expected


def test_no_data_is_insufficient_data(cw):
    alarm(cw)
    [t] = alarms.evaluate(["a"])
    assert (t.old_state, t.new_state) == ("OK", "INSUFFICIENT_DATA")  # moto creates alarms OK
    assert state(cw) == ("INSUFFICIENT_DATA", "Insufficient Data: 5 datapoints were unknown.")


def test_fires_with_aws_reason_then_recovers(cw):
    alarm(cw)
    for minute, value in enumerate([1, 9, 8]):
        put(cw, minute, value)
    at_minute(3)
    [t] = alarms.evaluate(["a"])
    assert t.new_state == "ALARM" and t.actions == (TOPIC,)
    value, reason = state(cw)
    assert value == "ALARM"
    assert reason == (f"Threshold Crossed: 2 out of the last 3 datapoints [8.0 ({ts(2)}), "
                      f"9.0 ({ts(1)})] were greater than the threshold (5.0) "
                      "(minimum 2 datapoints for OK -> ALARM transition).")
    data = json.loads(cw.describe_alarms(AlarmNames=["a"])["MetricAlarms"][0]["StateReasonData"])
    assert data["recentDatapoints"] == [1.0, 9.0, 8.0] and data["period"] == 60 and data["threshold"] == 5.0
    assert alarms.evaluate(["a"]) == []  # nothing changed: no transition, no second history entry
    put(cw, 3, 1)
    put(cw, 4, 2)
    at_minute(5)
    [back] = alarms.evaluate(["a"])
    assert (back.old_state, back.new_state, back.actions) == ("ALARM", "OK", (TOPIC + "-ok",))
    assert state(cw)[1].startswith(f"Threshold Crossed: 2 out of the last 3 datapoints [2.0 ({ts(4)}), "
                                   f"1.0 ({ts(3)})] were not greater than the threshold (5.0)")
    assert [(h.old_state, h.new_state) for h in alarms.history("a")] == [("OK", "ALARM"), ("ALARM", "OK")]


def test_the_period_in_progress_is_not_judged(cw):
    alarm(cw, EvaluationPeriods=1, DatapointsToAlarm=1)
    put(cw, 0, 9)
    stacklab.clock().set(BASE[0] + timedelta(seconds=50))  # the first period is not over yet
    assert alarms.evaluate(["a"])[0].new_state == "INSUFFICIENT_DATA"
    at_minute(1)
    assert alarms.evaluate(["a"])[0].new_state == "ALARM"


@pytest.mark.parametrize("treat,expected", [
    ("missing", "INSUFFICIENT_DATA"), ("breaching", "ALARM"), ("notBreaching", "OK"), ("ignore", "OK"),
])
def test_every_treat_missing_data_through_cloudwatch(cw, treat, expected):
    alarm(cw, TreatMissingData=treat)
    put(cw, 0, 1)
    at_minute(10)  # the only point is now outside the 5-period range
    alarms.evaluate(["a"])
    assert state(cw)[0] == expected  # "ignore" keeps moto's initial OK


def test_exact_dimension_set(cw):
    put(cw, 0, 1)  # ApiName + Stage
    put(cw, 0, 100, 50, dims=DIMS + [{"Name": "Method", "Value": "GET"}])  # detailed metric
    put(cw, 0, 7, dims=[{"Name": "Stage", "Value": "prod"}, {"Name": "ApiName", "Value": "pets"}])  # same set
    at_minute(1)
    cases = [("sum", "Sum", DIMS, 8.0), ("avg", "Average", DIMS, 4.0), ("count", "SampleCount", DIMS, 2.0),
             ("detail", "Maximum", DIMS + [{"Name": "Method", "Value": "GET"}], 100.0),
             ("api-only", "Sum", DIMS[:1], None)]  # no metric has exactly {ApiName}: no data on AWS
    for name, stat, dims, _ in cases:
        alarm(cw, name, Statistic=stat, Dimensions=dims, EvaluationPeriods=1, DatapointsToAlarm=1)
    got = {e.alarm_name: e.latest for e in alarms.evaluations([c[0] for c in cases])}
    assert got == {name: value for name, _, _, value in cases}
    alarm(cw, "max", Statistic="Maximum", Dimensions=DIMS, EvaluationPeriods=1, DatapointsToAlarm=1)
    with pytest.raises(StackLabError, match="exact dimension set"):
        alarms.evaluate(["max"])


def test_maximum_works_when_wider_metrics_have_no_data_in_the_period(cw):
    put(cw, 0, 100, dims=DIMS + [{"Name": "Method", "Value": "GET"}])
    put(cw, 1, 3, 4)
    at_minute(2)
    alarm(cw, Statistic="Maximum", EvaluationPeriods=1, DatapointsToAlarm=1)
    assert alarms.evaluations(["a"])[0].latest == 4.0


def test_long_ranges_are_fetched_period_by_period(cw):
    alarm(cw, Namespace="Hourly", Period=3600, EvaluationPeriods=5, DatapointsToAlarm=1, Statistic="Average")
    hour = BASE[0].replace(minute=0) + timedelta(hours=1)  # the 7-hour range is fetched hour by hour
    for offset, values in ((0, [2, 4]), (1, [8])):
        cw.put_metric_data(Namespace="Hourly", MetricData=[
            {"MetricName": "Errors", "Dimensions": DIMS, "Value": v,
             "Timestamp": hour + timedelta(hours=offset, minutes=20)} for v in values])
    stacklab.clock().set(hour + timedelta(hours=2))
    [e] = alarms.evaluations(["a"])
    assert [p.value for p in e.datapoints] == [None] * 5 + [3.0, 8.0] and e.new_state == "ALARM"


def test_actions_not_recorded_when_disabled(cw):
    alarm(cw, ActionsEnabled=False, EvaluationPeriods=1, DatapointsToAlarm=1)
    put(cw, 0, 9)
    at_minute(1)
    assert alarms.evaluate(["a"])[0].actions == ()


def scenario(cw):
    alarm(cw)

    def feed(i, now):
        if i <= 6:
            cw.put_metric_data(Namespace="Lab", MetricData=[{
                "MetricName": "Errors", "Dimensions": DIMS, "Value": [1, 9, 9, 2, 1, 1][i - 1],
                "Timestamp": now - timedelta(seconds=30)}])

    return alarms.watch(60, 12, on_step=feed)


def test_watch_timeline_is_deterministic(cw):
    stacklab.reset()
    first = scenario(stacklab.client("cloudwatch"))
    stacklab.reset()
    second = scenario(stacklab.client("cloudwatch"))
    assert first.table() == second.table()
    states = [r["state"] for r in first.for_alarm("a")]
    assert states == ["OK", "OK", "ALARM", "ALARM", "OK", "OK", "OK", "OK", "OK", "OK", "INSUFFICIENT_DATA",
                      "INSUFFICIENT_DATA"]
    assert [r["value"] for r in first.rows[:3]] == [1.0, 9.0, 9.0]
    assert [(t.old_state, t.new_state) for t in first.transitions] == [
        ("OK", "ALARM"), ("ALARM", "OK"), ("OK", "INSUFFICIENT_DATA")]
    assert first.rows[0]["threshold"] == 5.0 and stacklab.clock().now() == EPOCH + timedelta(minutes=12)
    assert "   3  09:03:00  a                                 9          5  ALARM  <- changed" in first.table()


def test_reset_clears_history(cw):
    alarm(cw)
    alarms.evaluate(["a"])
    assert alarms.history("a")
    stacklab.reset()
    assert alarms._history == {}
    with pytest.raises(InputError, match="No metric alarm named 'a'"):
        alarms.history("a")


# ------------------------------------------------------------------ bad input


def test_not_modelled_alarms(cw):
    cw.put_metric_alarm(AlarmName="math", EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
                        Metrics=[{"Id": "e", "Expression": "m * 2", "ReturnData": True},
                                 {"Id": "m", "ReturnData": False, "MetricStat": {
                                     "Metric": {"Namespace": "Lab", "MetricName": "Errors"}, "Period": 60,
                                     "Stat": "Sum"}}])
    cw.put_metric_alarm(
        AlarmName="p99", Namespace="Lab", MetricName="Latency", ExtendedStatistic="p99", Period=60,
        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    alarm(cw)
    with pytest.raises(StackLabError, match="metric-math alarm"):
        alarms.evaluate(["math"])
    with pytest.raises(StackLabError, match="percentiles are not modelled"):
        alarms.evaluate(["p99"])
    assert [e.alarm_name for e in alarms.evaluations()] == ["a"]  # evaluating all skips what is not modelled


@pytest.mark.parametrize("call,message", [
    (lambda: alarms.evaluate(["nope"]), "No metric alarm named 'nope' in us-east-1"),
    (lambda: alarms.evaluate(["a"], region="eu-west-1"), "No metric alarm named 'a' in eu-west-1"),
    (lambda: alarms.evaluate(["a"], region="moon"), "not a Region code"),
    (lambda: alarms.evaluate("a"), "must be a list of alarm names"),
    (lambda: alarms.evaluate([]), "alarm_names is empty"),
    (lambda: alarms.evaluate([""]), "must not be empty"),
    (lambda: alarms.history("nope"), "No metric alarm named 'nope'"),
    (lambda: alarms.watch(0, 3), "step_seconds must be at least 1"),
    (lambda: alarms.watch(60, 0), "steps must be at least 1"),
    (lambda: alarms.watch(60, 1.5), "steps must be a whole number"),
    (lambda: alarms.watch(60, 1, on_step=5), "on_step must be a function"),
])
def test_bad_input(cw, call, message):
    alarm(cw)
    with pytest.raises(InputError, match=message):
        call()


def test_watch_checks_names_before_moving_the_clock(cw):
    before = stacklab.clock().now()
    with pytest.raises(InputError, match="No metric alarm named 'nope'"):
        alarms.watch(60, 3, ["nope"])
    assert stacklab.clock().now() == before


def test_unit_must_match(cw):
    alarm(cw, Unit="Seconds", EvaluationPeriods=1, DatapointsToAlarm=1)
    put(cw, 0, 9)  # published without a unit
    at_minute(1)
    assert alarms.evaluate(["a"])[0].new_state == "INSUFFICIENT_DATA"


def test_timeline_unknown_alarm(cw):
    alarm(cw)
    timeline = alarms.watch(60, 1)
    with pytest.raises(InputError, match="has no alarm 'zz'"):
        timeline.for_alarm("zz")


def test_reason_names_filled_points_and_singular_forms():
    _, reason, _, fill = alarms._judge(spec("breaching"), rng("- - - X X"))
    assert fill == 1
    assert reason == ("Threshold Crossed: 3 out of the last 3 datapoints [10.0 (15/01/26 09:04:00), "
                      "10.0 (15/01/26 09:03:00)] (1 missing datapoint treated as breaching) were greater than "
                      "the threshold (5.0) (minimum 3 datapoints for OK -> ALARM transition).")
    _, reason, _, _ = alarms._judge(spec("missing", "OK", n=1, m=1, op="LessThanThreshold"), rng("X 0"))
    assert reason == ("Threshold Crossed: 1 datapoint [0.0 (15/01/26 09:01:00)] was less than the threshold (5.0) "
                      "(minimum 1 datapoint for OK -> ALARM transition).")
    assert alarms._judge(spec("missing", n=1, m=1), rng("-"))[1] == "Insufficient Data: 1 datapoint was unknown."


def test_timeline_plot(cw):
    import matplotlib

    matplotlib.use("Agg")
    alarm(cw, EvaluationPeriods=1, DatapointsToAlarm=1)
    put(cw, 0, 9)
    ax = alarms.watch(60, 2).plot("a")
    assert ax.get_title() == "a (shaded: ALARM)"

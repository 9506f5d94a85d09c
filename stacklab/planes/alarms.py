"""CloudWatch alarm evaluation: the state changes moto never makes, on the sandbox clock.

moto stores metric alarms but never evaluates them (they are created ``OK`` and stay so). This
plane evaluates them as CloudWatch does ("Alarm evaluation" and "Configuring how CloudWatch alarms
treat missing data" in the CloudWatch User Guide):

``evaluate()`` reads the alarms with ``describe_alarms`` and their data with ``list_metrics`` and
``get_metric_statistics`` (boto3, on every call: nothing is copied), at ``stacklab.clock().now()``.
Each alarm is judged on its ``Period``, ``EvaluationPeriods`` (N), ``DatapointsToAlarm`` (M, "M out
of N", default N), ``ComparisonOperator``, ``Threshold``, ``Statistic`` (Sum, Average, Minimum,
Maximum, SampleCount) and ``TreatMissingData`` (missing, notBreaching, breaching, ignore; alarms on
``AWS/DynamoDB`` always ignore missing data, as on AWS). A change of state is written back with
``set_alarm_state`` (so ``describe_alarms`` shows it, with an AWS-style ``StateReason`` and
``StateReasonData``) and recorded in :func:`history` (moto has no ``describe_alarm_history``). The
actions that AWS would run (``AlarmActions`` / ``OKActions`` / ``InsufficientDataActions`` when
``ActionsEnabled``) are listed in the :class:`AlarmTransition`; nothing is called.

``watch(step_seconds, steps)`` advances the sandbox clock step by step, evaluating each time, and
returns a deterministic :class:`Timeline` (metric value, threshold and state per step) to print or plot.

Choices and simplifications (each is said again where it matters):

* **Aligned periods.** CloudWatch evaluates alarms every minute on periods aligned to the clock.
  Here the evaluation windows end at the last period boundary at or before "now" (``now`` rounded
  down to a multiple of ``Period`` since the Unix epoch): the period in progress is never judged.
* **Evaluation range.** AWS fetches "more data points than Evaluation Periods" (the exact number is
  not published). Here the range is N + 2 periods, as in the User Guide's own example (3 evaluation
  periods, 5-point range).
* **Missing data**, when fewer than N real data points exist in the range (with N or more, the most
  recent N real points are judged and the treatment is not used, as documented):
  ``breaching`` / ``notBreaching`` fill the missing slots (as few as possible) with breaching / good
  points; ``missing`` judges the real points alone (ALARM when at least min(M, real points) breach)
  and goes to INSUFFICIENT_DATA only when every point of the range is missing; ``ignore`` changes
  state only when the outcome does not depend on the missing points, else keeps the current state.
  These reproduce every row of the User Guide's table (3 out of 3, 5-point range).
* **Fetching.** moto's ``get_metric_statistics`` starts its buckets at the first data point, not
  on period boundaries, so the range is fetched with ``Period=1`` (one call per metric) and folded
  into the aligned periods here (ranges over 6 hours: one call per period). moto's ``list_metrics``
  lists every data point of a multi-dimension metric, so an evaluation slows down as data
  accumulates (about 0.3 s with 1,000 data points on the alarm's metric).
* **Exact dimensions.** AWS matches a metric by its exact dimension set; moto's
  ``get_metric_statistics`` also returns data of metrics with *more* dimensions. The plane finds
  the metrics with ``list_metrics``; when metrics with extra dimensions share the alarm's ones, it
  removes their contribution for Sum, SampleCount and Average (each is queried on its own); for
  Minimum/Maximum in a period where they have data it raises "not modelled" (the API cannot
  separate them).
* **Not modelled** (a clear :class:`StackLabError` when the alarm is named; skipped when evaluating
  every alarm): metric-math alarms (``Metrics=[...]``), percentiles (``ExtendedStatistic``:
  ``get_metric_statistics`` in moto returns no percentiles and the raw values are not kept),
  anomaly-detection operators, composite alarms (moto lacks them).
* moto creates alarms in ``OK`` ("Unchecked: Initial alarm creation"); AWS starts them in
  ``INSUFFICIENT_DATA``. The first evaluation fixes this.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from stacklab._validate import require_number, require_str
from stacklab.errors import InputError, StackLabError

__all__ = [
    "OPERATORS",
    "AlarmTransition",
    "Datapoint",
    "Evaluation",
    "Timeline",
    "clear",
    "evaluate",
    "evaluations",
    "history",
    "watch",
]

#: Comparison operators evaluated here, with the words AWS uses in a StateReason.
OPERATORS: dict[str, str] = {
    "GreaterThanOrEqualToThreshold": "greater than or equal to",
    "GreaterThanThreshold": "greater than",
    "LessThanThreshold": "less than",
    "LessThanOrEqualToThreshold": "less than or equal to",
}
_ANOMALY_OPERATORS = ("LessThanLowerOrGreaterThanUpperThreshold", "LessThanLowerThreshold", "GreaterThanUpperThreshold")
_STATISTICS = ("Sum", "Average", "Minimum", "Maximum", "SampleCount")
_TREATMENTS = ("missing", "notBreaching", "breaching", "ignore")
#: Extra periods fetched beyond EvaluationPeriods (the User Guide's example: 3 periods, 5-point range).
EXTRA_PERIODS = 2
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_MAX_STEPS = 10_000

_lock = threading.RLock()
_history: dict[tuple[str, str], list[AlarmTransition]] = {}


# ------------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class Datapoint:
    """One period of the evaluation range: its start and the statistic's value (None = missing)."""

    timestamp: datetime
    value: float | None

    def label(self) -> str:
        """AWS's rendering in a StateReason: ``10.0 (15/01/26 09:04:00)``."""
        return f"{self.value!r} ({self.timestamp.strftime('%d/%m/%y %H:%M:%S')})"


@dataclass(frozen=True)
class Evaluation:
    """What one evaluation of one alarm found (whether or not its state changed)."""

    alarm_name: str
    at: datetime
    old_state: str
    new_state: str
    reason: str
    datapoints: tuple[Datapoint, ...]
    threshold: float
    actions: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        """True when the alarm moved to another state."""
        return self.old_state != self.new_state

    @property
    def latest(self) -> float | None:
        """The value of the most recent complete period (None when it is missing)."""
        return self.datapoints[-1].value if self.datapoints else None


@dataclass(frozen=True)
class AlarmTransition(Evaluation):
    """A change of an alarm's state, with the reason written to CloudWatch and the actions AWS would run."""

    def __repr__(self) -> str:
        acts = f", actions={list(self.actions)}" if self.actions else ""
        return (f"AlarmTransition({self.alarm_name}: {self.old_state} -> {self.new_state} at "
                f"{self.at.strftime('%H:%M:%S')}{acts})")


@dataclass
class Timeline:
    """What :func:`watch` saw: one row per step and alarm (time, latest value, threshold, state)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    transitions: list[AlarmTransition] = field(default_factory=list)

    def for_alarm(self, alarm_name: str) -> list[dict[str, Any]]:
        """The rows of one alarm."""
        require_str("alarm_name", alarm_name)
        rows = [r for r in self.rows if r["alarm"] == alarm_name]
        if not rows:
            names = sorted({r["alarm"] for r in self.rows})
            raise InputError(f"The timeline has no alarm {alarm_name!r}; it has {names}.")
        return rows

    def table(self) -> str:
        """A deterministic text table (step, time, alarm, value, threshold, state)."""
        lines = [f"{'step':>4}  {'time':8}  {'alarm':24} {'value':>10} {'threshold':>10}  state"]
        for r in self.rows:
            value = "-" if r["value"] is None else f"{r['value']:g}"
            mark = "  <- changed" if r["changed"] else ""
            lines.append(f"{r['step']:>4}  {r['time'].strftime('%H:%M:%S')}  {r['alarm']:24} {value:>10} "
                         f"{r['threshold']:>10g}  {r['state']}{mark}")
        return "\n".join(lines)

    def plot(self, alarm_name: str, ax: Any = None) -> Any:
        """Plot one alarm's latest value per step, its threshold and its state (matplotlib Axes)."""
        import matplotlib.pyplot as plt

        rows = self.for_alarm(alarm_name)
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 3))
        times = [r["time"] for r in rows]
        ax.plot(times, [r["value"] for r in rows], marker="o", label="metric (latest period)")
        ax.axhline(rows[0]["threshold"], color="red", linestyle="--", label="threshold")
        for r in rows:
            if r["state"] == "ALARM":
                ax.axvspan(r["time"] - timedelta(seconds=r["step_seconds"] / 2),
                           r["time"] + timedelta(seconds=r["step_seconds"] / 2), color="red", alpha=0.15, lw=0)
        ax.set_title(f"{alarm_name} (shaded: ALARM)")
        ax.legend(loc="upper left")
        return ax

    def __repr__(self) -> str:
        return self.table()


# ------------------------------------------------------------------------------------ helpers


_clients: dict[str, Any] = {}
_clients_session: list[Any] = [None]


def _cloudwatch(region: str) -> Any:
    """A CloudWatch client of the sandbox, reused while its boto3 session is the same (a client costs ~20 ms)."""
    import boto3

    from stacklab.sandbox import client

    with _lock:
        if _clients_session[0] is not boto3.DEFAULT_SESSION:
            _clients.clear()
            _clients_session[0] = boto3.DEFAULT_SESSION
        found = _clients.get(region)
        if found is None:
            found = _clients[region] = client("cloudwatch", region_name=region)
        return found


def _region(region: str | None) -> str:
    from stacklab.sandbox import current

    box = current()
    if region is None:
        return box.region
    require_str("region", region)
    if not _REGION.match(region):
        raise InputError(
            f"region {region!r} is not a Region code; pass e.g. 'us-east-1' (the sandbox's is {box.region})."
        )
    return region


def _names(alarm_names: list[str] | None) -> list[str] | None:
    if alarm_names is None:
        return None
    if isinstance(alarm_names, str) or not isinstance(alarm_names, list | tuple):
        raise InputError(f"alarm_names must be a list of alarm names (or None for all), got {alarm_names!r}.")
    if not alarm_names:
        raise InputError("alarm_names is empty: pass at least one alarm name, or None to evaluate every alarm.")
    for name in alarm_names:
        require_str("each alarm name", name)
    return list(dict.fromkeys(alarm_names))


def _describe(cw: Any, names: list[str] | None, region: str) -> list[dict[str, Any]]:
    alarms: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"AlarmTypes": ["MetricAlarm"]}
    if names is not None:
        kwargs["AlarmNames"] = names
    paginator = cw.get_paginator("describe_alarms")
    for page in paginator.paginate(**kwargs):
        alarms.extend(page.get("MetricAlarms", []))
    if names is not None:
        found = {a["AlarmName"] for a in alarms}
        missing = [n for n in names if n not in found]
        if missing:
            raise InputError(
                f"No metric alarm named {', '.join(repr(m) for m in missing)} in {region}. Alarms are "
                "regional: create it with put_metric_alarm in this Region (or pass region=...), and check "
                "the name with describe_alarms."
            )
        alarms.sort(key=lambda a: names.index(a["AlarmName"]))
    return alarms


def _unsupported(alarm: dict[str, Any]) -> str | None:
    """Why this plane cannot evaluate the alarm (None when it can)."""
    name = alarm["AlarmName"]
    if alarm.get("Metrics"):
        return (f"Alarm {name!r} is a metric-math alarm (Metrics=[...]): not modelled, because moto's metric "
                "math returns no values. Use an alarm on a single metric (MetricName/Namespace/Statistic).")
    if alarm.get("ExtendedStatistic"):
        return (f"Alarm {name!r} uses ExtendedStatistic {alarm['ExtendedStatistic']!r}: percentiles are not "
                "modelled (moto's get_metric_statistics returns none and the raw values are not kept). Use a "
                "Statistic such as Maximum or Average in the sandbox.")
    op = alarm.get("ComparisonOperator")
    if op in _ANOMALY_OPERATORS:
        return f"Alarm {name!r} uses the anomaly-detection operator {op}: anomaly bands are not modelled."
    if op not in OPERATORS:
        return f"Alarm {name!r} has ComparisonOperator {op!r}, which this plane does not know."
    if alarm.get("Statistic") not in _STATISTICS:
        return f"Alarm {name!r} has Statistic {alarm.get('Statistic')!r}; expected one of {', '.join(_STATISTICS)}."
    if (alarm.get("TreatMissingData") or "missing") not in _TREATMENTS:
        return f"Alarm {name!r} has TreatMissingData {alarm['TreatMissingData']!r}; expected one of {_TREATMENTS}."
    if not alarm.get("Period") or not alarm.get("EvaluationPeriods"):
        return f"Alarm {name!r} has no Period/EvaluationPeriods."
    return None


def _breaching(op: str, value: float, threshold: float) -> bool:
    if op == "GreaterThanOrEqualToThreshold":
        return value >= threshold
    if op == "GreaterThanThreshold":
        return value > threshold
    if op == "LessThanThreshold":
        return value < threshold
    return value <= threshold  # LessThanOrEqualToThreshold


def _dimset(dims: list[dict[str, str]]) -> frozenset[tuple[str, str]]:
    return frozenset((d["Name"], d["Value"]) for d in dims)


def _windows(now: datetime, period: int, count: int) -> list[tuple[datetime, datetime]]:
    """``count`` aligned periods ending at the last period boundary at or before ``now`` (oldest first)."""
    seconds = int(now.timestamp())
    end = datetime.fromtimestamp(seconds - seconds % period, tz=UTC)
    return [(end - timedelta(seconds=period * k), end - timedelta(seconds=period * (k - 1)))
            for k in range(count, 0, -1)]


_ALL = ["Sum", "SampleCount", "Minimum", "Maximum"]
#: Ranges up to this long are fetched in one call with 1-second buckets and folded into periods here.
_ONE_CALL_SPAN = 6 * 3600

Window = dict[str, float]  # Sum, SampleCount, Minimum, Maximum of one period


def _fold(into: Window | None, point: dict[str, Any]) -> Window:
    if into is None:
        return {k: float(point[k]) for k in _ALL}
    return {"Sum": into["Sum"] + point["Sum"], "SampleCount": into["SampleCount"] + point["SampleCount"],
            "Minimum": min(into["Minimum"], point["Minimum"]), "Maximum": max(into["Maximum"], point["Maximum"])}


def _series(cw: Any, alarm: dict[str, Any], dims: list[dict[str, str]],
            windows: list[tuple[datetime, datetime]]) -> list[Window | None]:
    """Sum/SampleCount/Minimum/Maximum of each window for the metrics moto matches on ``dims``.

    moto's get_metric_statistics starts its buckets at the first data point, not on period
    boundaries, so a range is fetched in 1-second buckets (one call) and folded into the aligned
    windows here; a very long range (daily periods) is fetched one window per call instead.
    """
    base: dict[str, Any] = {"Namespace": alarm["Namespace"], "MetricName": alarm["MetricName"], "Dimensions": dims,
                            "Statistics": _ALL}
    if alarm.get("Unit"):
        base["Unit"] = alarm["Unit"]
    first, last = windows[0][0], windows[-1][1]
    out: list[Window | None] = [None] * len(windows)
    if (last - first).total_seconds() <= _ONE_CALL_SPAN:
        period = (windows[0][1] - windows[0][0]).total_seconds()
        for point in cw.get_metric_statistics(StartTime=first, EndTime=last, Period=1, **base)["Datapoints"]:
            index = int((point["Timestamp"] - first).total_seconds() // period)
            if 0 <= index < len(windows):
                out[index] = _fold(out[index], point)
        return out
    for index, (start, end) in enumerate(windows):
        for point in cw.get_metric_statistics(StartTime=start, EndTime=end, Period=int(alarm["Period"]),
                                              **base)["Datapoints"]:
            out[index] = _fold(out[index], point)  # the window is one period long: one bucket at most
    return out


def _value(stat: str, window: Window | None) -> float | None:
    if window is None or window["SampleCount"] <= 0:
        return None
    if stat == "Average":
        return window["Sum"] / window["SampleCount"]
    return window[stat]


def _datapoints(cw: Any, alarm: dict[str, Any], windows: list[tuple[datetime, datetime]]) -> list[Datapoint]:
    dims = alarm.get("Dimensions") or []
    wanted = _dimset(dims)
    family: dict[frozenset[tuple[str, str]], list[dict[str, str]]] = {}
    pages = cw.get_paginator("list_metrics").paginate(
        Namespace=alarm["Namespace"], MetricName=alarm["MetricName"],
        Dimensions=[{"Name": d["Name"], "Value": d["Value"]} for d in dims])
    for page in pages:
        for metric in page["Metrics"]:
            family.setdefault(_dimset(metric.get("Dimensions") or []), metric.get("Dimensions") or [])
    stat = alarm["Statistic"]
    if wanted not in family:  # AWS: no metric with exactly these dimensions -> no data at all
        return [Datapoint(start, None) for start, _ in windows]
    if len(family) == 1:
        series = _series(cw, alarm, dims, windows)
        return [Datapoint(start, _value(stat, w)) for (start, _), w in zip(windows, series, strict=True)]
    return _exact(cw, alarm, family, wanted, windows)


def _exact(cw: Any, alarm: dict[str, Any], family: dict[frozenset[tuple[str, str]], list[dict[str, str]]],
           wanted: frozenset[tuple[str, str]], windows: list[tuple[datetime, datetime]]) -> list[Datapoint]:
    """The statistic of the metric with exactly ``wanted`` dimensions, although moto mixes in metrics with more.

    moto's query on dimensions D returns every metric whose dimensions include D, so the exact
    Sum and SampleCount of each metric are its query minus the exact values of the metrics with
    more dimensions (largest dimension sets first). Minimum/Maximum are exact only in periods
    where no metric with more dimensions has data.
    """
    stat = alarm["Statistic"]
    queried: dict[frozenset[tuple[str, str]], list[Window | None]] = {}
    exact: dict[frozenset[tuple[str, str]], list[tuple[float, float]]] = {}
    for key in sorted(family, key=lambda k: (-len(k), sorted(k))):
        queried[key] = _series(cw, alarm, family[key], windows)
        rows = []
        for i, w in enumerate(queried[key]):
            total, count = (w["Sum"], w["SampleCount"]) if w else (0.0, 0.0)
            for bigger, values in exact.items():
                if bigger > key:
                    total, count = total - values[i][0], count - values[i][1]
            rows.append((round(total, 9), round(count, 6)))  # drop float residue of the subtractions
        exact[key] = rows
    result = []
    for i, (start, _) in enumerate(windows):
        total, count = exact[wanted][i]
        if count <= 0:
            value = None
        elif stat in ("Sum", "SampleCount", "Average"):
            value = {"Sum": total, "SampleCount": count, "Average": total / count}[stat]
        elif all(exact[k][i][1] <= 0 for k in family if k != wanted):
            value = _value(stat, queried[wanted][i])
        else:
            raise StackLabError(
                f"Alarm {alarm['AlarmName']!r} ({stat} of {alarm['MetricName']}): metrics with more dimensions "
                "than the alarm's have data in the same period, and moto's get_metric_statistics mixes them in "
                f"(AWS matches the exact dimension set). {stat} cannot be separated through the API: not "
                "modelled. Use Sum, SampleCount or Average, or publish the metric under one dimension set only."
            )
        result.append(Datapoint(start, value))
    return result


def _plural(n: int, word: str = "datapoint") -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _judge(alarm: dict[str, Any], points: list[Datapoint]) -> tuple[str, str, list[Datapoint], int]:
    """Apply AWS's rules to the evaluation range: (new state, reason, points judged, missing filled)."""
    current = alarm["StateValue"]
    op, threshold = alarm["ComparisonOperator"], float(alarm["Threshold"])
    n = int(alarm["EvaluationPeriods"])
    m = int(alarm.get("DatapointsToAlarm") or n)
    treat = alarm.get("TreatMissingData") or "missing"
    if alarm["Namespace"] == "AWS/DynamoDB":
        treat = "ignore"  # documented: DynamoDB alarms always ignore missing data
    words = OPERATORS[op]
    real = [p for p in points if p.value is not None]
    if len(real) >= n:
        judged = real[-n:]
        fill, fill_bad = 0, 0
    elif not real:
        if treat == "missing":
            verb = "was" if len(points) == 1 else "were"
            return "INSUFFICIENT_DATA", f"Insufficient Data: {_plural(len(points))} {verb} unknown.", [], 0
        if treat == "ignore":
            return current, "", [], 0
        judged, fill = [], n
        fill_bad = n if treat == "breaching" else 0
    else:
        judged, fill = real, n - len(real)
        fill_bad = fill if treat == "breaching" else 0
    breaching = [p for p in judged if _breaching(op, p.value, threshold)]  # type: ignore[arg-type]
    count = len(breaching) + fill_bad
    if treat == "missing" and fill:
        alarmed = len(breaching) >= min(m, len(judged))
    elif treat == "ignore" and fill:
        if len(breaching) >= m:
            alarmed = True
        elif len(breaching) + fill < m:
            alarmed = False
        else:
            return current, "", judged, fill  # depends on the missing points: keep the state
    else:
        alarmed = count >= m
    filled = ""
    if fill and treat in ("breaching", "notBreaching"):
        as_what = "breaching" if treat == "breaching" else "not breaching"
        filled = f" ({_plural(fill, 'missing datapoint')} treated as {as_what})"
    total = len(judged) + (fill if treat in ("breaching", "notBreaching") else 0)
    if alarmed:
        shown = breaching
        k = count
        verb = "was" if k == 1 else "were"
        head = _plural(k) if total == 1 else f"{k} out of the last {total} datapoints"
        tail = f" (minimum {_plural(m)} for {current} -> ALARM transition)."
        return ("ALARM", f"Threshold Crossed: {head} [{', '.join(p.label() for p in reversed(shown))}]{filled} "
                f"{verb} {words} the threshold ({threshold!r}){tail}", judged, fill)
    good = [p for p in judged if p not in breaching]
    k = len(good) + (fill - fill_bad if treat in ("breaching", "notBreaching") else 0)
    verb = "was" if k == 1 else "were"
    head = _plural(k) if total == 1 else f"{k} out of the last {total} datapoints"
    return ("OK", f"Threshold Crossed: {head} [{', '.join(p.label() for p in reversed(good))}]{filled} "
            f"{verb} not {words} the threshold ({threshold!r}) (minimum 1 datapoint for {current} -> OK transition).",
            judged, fill)


def _actions(alarm: dict[str, Any], state: str) -> tuple[str, ...]:
    if not alarm.get("ActionsEnabled", True):
        return ()
    key = {"ALARM": "AlarmActions", "OK": "OKActions", "INSUFFICIENT_DATA": "InsufficientDataActions"}[state]
    return tuple(alarm.get(key) or ())


def _evaluate_one(cw: Any, alarm: dict[str, Any], now: datetime, region: str) -> Evaluation:
    n = int(alarm["EvaluationPeriods"])
    windows = _windows(now, int(alarm["Period"]), n + EXTRA_PERIODS)
    points = _datapoints(cw, alarm, windows)
    state, reason, judged, _ = _judge(alarm, points)
    old = alarm["StateValue"]
    threshold = float(alarm["Threshold"])
    if state == old:
        return Evaluation(alarm["AlarmName"], now, old, state, reason or alarm.get("StateReason", ""),
                          tuple(points), threshold)
    data = {
        "version": "1.0",
        "queryDate": now.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        "startDate": windows[0][0].strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        "statistic": alarm["Statistic"],
        "period": int(alarm["Period"]),
        "recentDatapoints": [p.value for p in judged],
        "threshold": threshold,
        "evaluatedDatapoints": [
            {"timestamp": p.timestamp.strftime("%Y-%m-%dT%H:%M:%S.000+0000"), "value": p.value} for p in judged
        ],
    }
    cw.set_alarm_state(AlarmName=alarm["AlarmName"], StateValue=state, StateReason=reason[:1023],
                       StateReasonData=json.dumps(data))
    transition = AlarmTransition(alarm["AlarmName"], now, old, state, reason, tuple(points), threshold,
                                 _actions(alarm, state))
    with _lock:
        _history.setdefault((region, alarm["AlarmName"]), []).append(transition)
    return transition


# ------------------------------------------------------------------------------------ public API


def evaluations(alarm_names: list[str] | None = None, *, region: str | None = None) -> list[Evaluation]:
    """Evaluate alarms now (sandbox clock) and return every alarm's :class:`Evaluation`, changed or not.

    Changes of state are written back with ``set_alarm_state`` exactly as :func:`evaluate` does.
    With ``alarm_names=None`` every metric alarm of the Region is evaluated, and alarms this plane
    does not model (metric math, percentiles, anomaly bands) are skipped; naming one raises.
    """
    from stacklab.sandbox import current

    names = _names(alarm_names)
    where = _region(region)
    cw = _cloudwatch(where)
    now = current().clock.now()
    results = []
    for alarm in _describe(cw, names, where):
        why = _unsupported(alarm)
        if why is not None:
            if names is None:
                continue
            raise StackLabError(why)
        results.append(_evaluate_one(cw, alarm, now, where))
    return results


def evaluate(alarm_names: list[str] | None = None, *, region: str | None = None) -> list[AlarmTransition]:
    """Evaluate alarms at the sandbox clock's time and return the state changes this caused.

    Each change is written to CloudWatch with ``set_alarm_state`` (``describe_alarms`` shows the
    new ``StateValue``/``StateReason``) and kept in :func:`history`. ``alarm_names=None`` evaluates
    every metric alarm of the Region (skipping those the plane does not model); an unknown name,
    a metric-math alarm, a percentile or anomaly-band alarm raises :class:`StackLabError`.
    """
    return [e for e in evaluations(alarm_names, region=region) if isinstance(e, AlarmTransition)]


def history(alarm_name: str, *, region: str | None = None) -> list[AlarmTransition]:
    """The state changes this plane made to ``alarm_name`` (oldest first), like describe_alarm_history."""
    require_str("alarm_name", alarm_name)
    where = _region(region)
    with _lock:
        found = list(_history.get((where, alarm_name), []))
    if not found:
        _describe(_cloudwatch(where), [alarm_name], where)  # raises for an unknown alarm
    return found


def watch(
    step_seconds: float,
    steps: int,
    alarm_names: list[str] | None = None,
    *,
    region: str | None = None,
    on_step: Callable[[int, datetime], Any] | None = None,
) -> Timeline:
    """Advance the sandbox clock ``steps`` times by ``step_seconds``, evaluating the alarms after each step.

    ``on_step(i, now)`` (optional) runs after the clock moves and before the evaluation: publish
    the step's metric data there. Returns a :class:`Timeline` (deterministic: it depends only on
    the sandbox's data and clock).
    """
    from stacklab.sandbox import current

    require_number("step_seconds", step_seconds, minimum=1, maximum=86_400)
    require_number("steps", steps, minimum=1, maximum=_MAX_STEPS, integer=True)
    if on_step is not None and not callable(on_step):
        raise InputError(f"on_step must be a function on_step(i, now), got {on_step!r}.")
    names = _names(alarm_names)
    where = _region(region)
    if names is not None:  # an unknown or unmodelled alarm fails before the clock moves
        for alarm in _describe(_cloudwatch(where), names, where):
            why = _unsupported(alarm)
            if why is not None:
                raise StackLabError(why)
    clock = current().clock
    timeline = Timeline()
    for i in range(1, int(steps) + 1):
        now = clock.advance(seconds=step_seconds)
        if on_step is not None:
            on_step(i, now)
        for e in evaluations(names, region=region):
            timeline.rows.append({
                "step": i, "time": now, "alarm": e.alarm_name, "value": e.latest, "threshold": e.threshold,
                "state": e.new_state, "changed": e.changed, "step_seconds": step_seconds,
            })
            if isinstance(e, AlarmTransition):
                timeline.transitions.append(e)
    return timeline


def clear() -> None:
    """Forget the kept history (``stacklab.reset()`` calls this)."""
    with _lock:
        _history.clear()


def _register_reset() -> None:
    from stacklab.sandbox import on_reset

    on_reset(clear)


_register_reset()

"""Aurora Serverless v2 capacity: ACUs that follow a load curve on the sandbox clock, metrics, cost, plot.

The cluster's ``ServerlessV2ScalingConfiguration`` (``MinCapacity``, ``MaxCapacity``,
``SecondsUntilAutoPause``) is read from moto on every call. AWS's rules (RDS API reference,
``ServerlessV2ScalingConfiguration``): capacities in **0.5-ACU steps**; ``MaxCapacity`` from **1** (it must
be higher than 0.5 ACU: CloudFormation ``AWS::RDS::DBCluster ServerlessV2ScalingConfiguration``, and
"Choosing the maximum Aurora Serverless v2 capacity setting" in the Aurora User Guide) up to **256** ACUs
(128 on older engine versions); ``MinCapacity`` from **0.5**, or **0** on versions with automatic pause,
then the instance pauses after ``SecondsUntilAutoPause`` (300–86,400 s) without connections. One ACU is
about 2 GiB of memory with matching CPU and networking. moto does not check these limits, so
:func:`scaling` does, and names the rule a value breaks.

The scaling model is **simplified** (AWS does not publish its algorithm), per step of the load curve:

* ``load`` is the work the database must do, in ACUs;
* the target capacity is ``load / 0.7`` (aim for ~70 % utilisation) rounded **up** to 0.5 ACU and kept
  between min and max (and at least 0.5 while the instance runs);
* **scale-up is immediate** (Aurora adds capacity within seconds); **scale-down is gradual**: at most a
  quarter of the current capacity (at least 0.5 ACU) per minute;
* ``min = 0``: after ``SecondsUntilAutoPause`` of zero load the capacity is 0 (paused, no compute
  charge); the next load resumes it (on AWS resuming takes ~15 s; not modelled);
* load above ``MaxCapacity`` saturates: utilisation is 100 % and the extra work waits (on AWS: latency).

Metrics (namespace ``AWS/RDS``, dimension ``DBClusterIdentifier``, timestamps from the sandbox clock):
``ServerlessDatabaseCapacity`` (ACUs, unit ``Count``) and ``ACUUtilization`` (``Percent``), written to
moto's CloudWatch. Cost: :data:`PRICE_PER_ACU_HOUR` × ACU-hours (billed per second on AWS; storage and
I/O are extra and not modelled).

Public API: ``scaling(cluster_id) -> dict``; ``simulate(cluster_id, load, *, step_seconds=60,
publish=True) -> list[CapacityPoint]`` (advances the sandbox clock by one step per point);
``cost(points, *, price=PRICE_PER_ACU_HOUR) -> float`` (USD); ``plot(points, *, title=None) ->
(Figure, alt_text)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stacklab import sandbox
from stacklab._validate import require_bool, require_number
from stacklab.errors import InputError, StackLabError
from stacklab.planes import sql_data_api

#: USD per ACU-hour, Aurora Serverless v2, Aurora Standard configuration, us-east-1.
PRICE_PER_ACU_HOUR = 0.12
#: USD per ACU-hour with the Aurora I/O-Optimized configuration (I/O included), us-east-1.
PRICE_PER_ACU_HOUR_IO_OPTIMIZED = 0.156
PRICE_SOURCE = (
    "Amazon Aurora pricing, us-east-1, Aurora Standard (I/O-Optimized: $0.156), "
    "https://aws.amazon.com/rds/aurora/pricing/, checked 2026-11-27"
)
MAX_ACU = 256.0
MIN_MAX_ACU = 1.0
TARGET_UTILISATION = 0.7
SCALE_DOWN_PER_MINUTE = 0.25
NAMESPACE = "AWS/RDS"


@dataclass(frozen=True)
class CapacityPoint:
    """One step of a simulation: when, the load (ACUs of work), the capacity given, utilisation (%)."""

    time: datetime
    load: float
    capacity: float
    utilisation: float
    seconds: int

    @property
    def paused(self) -> bool:
        """True while the instance is auto-paused (0 ACUs)."""
        return self.capacity == 0


def _half_up(value: float) -> float:
    return math.ceil(value * 2 - 1e-9) / 2


def scaling(cluster_id: str) -> dict[str, Any]:
    """The cluster's Serverless v2 range as stored in moto, checked against AWS's limits."""
    from stacklab.planes import sql

    cluster = sql.find_cluster(cluster_id)
    config = cluster.serverless_v2_scaling_configuration or {}
    if not config:
        raise InputError(
            f"Cluster {cluster.db_cluster_identifier} has no ServerlessV2ScalingConfiguration: create or modify it "
            "with ServerlessV2ScalingConfiguration={'MinCapacity': 0.5, 'MaxCapacity': 4}."
        )
    low = float(config.get("MinCapacity", config.get("min_capacity", 0.5)))
    high = float(config.get("MaxCapacity", config.get("max_capacity", low)))
    pause = int(config.get("SecondsUntilAutoPause", config.get("seconds_until_auto_pause", 300)))
    for name, value in (("MinCapacity", low), ("MaxCapacity", high)):
        if value * 2 != int(value * 2):
            raise StackLabError(f"{name} {value} is not a multiple of 0.5 ACU; AWS refuses it (use 0.5-ACU steps).")
    if not 0 <= low <= MAX_ACU or not 0.5 <= high <= MAX_ACU:
        raise StackLabError(f"ACU range {low}–{high} is outside AWS's limits: MinCapacity 0 (auto-pause) or "
                            "0.5 … MaxCapacity 256 (128 on older engine versions).")  # fmt: skip
    if high < MIN_MAX_ACU:
        raise StackLabError(f"MaxCapacity {high} is too low: AWS requires a maximum of at least 1 ACU (higher than "
                            "0.5); set MaxCapacity to 1 or more.")  # fmt: skip
    if high < low:
        raise StackLabError(f"MaxCapacity {high} is below MinCapacity {low}; AWS refuses this range.")
    if low == 0 and not 300 <= pause <= 86400:
        raise StackLabError(f"SecondsUntilAutoPause {pause} is outside 300–86,400 seconds, AWS's range.")
    out: dict[str, Any] = {"MinCapacity": low, "MaxCapacity": high}
    if low == 0:
        out["SecondsUntilAutoPause"] = pause
    return out


def simulate(
    cluster_id: str, load: Sequence[float], *, step_seconds: int = 60, publish: bool = True
) -> list[CapacityPoint]:
    """Follow ``load`` (ACUs of work per step) with the capacity model; advances the sandbox clock."""
    config = scaling(cluster_id)
    require_number("step_seconds", step_seconds, minimum=1, integer=True)
    require_bool("publish", publish)
    if isinstance(load, (str, bytes)) or not isinstance(load, Sequence) or not load:
        raise InputError("load must be a non-empty list of numbers (ACUs of work per step), e.g. [0.5, 2, 8, 1].")
    for value in load:
        require_number("each load value", value, minimum=0)
    low, high = config["MinCapacity"], config["MaxCapacity"]
    clock = sandbox.current().clock
    capacity, idle, points = max(low, 0.5), 0.0, []
    for demand in load:
        demand = float(demand)
        idle = idle + step_seconds if demand == 0 else 0.0
        target = min(high, max(low, 0.5, _half_up(demand / TARGET_UTILISATION)))
        if low == 0 and idle >= config["SecondsUntilAutoPause"]:
            capacity = 0.0
        elif capacity == 0 or target >= capacity:
            capacity = target
        else:
            step_down = max(0.5, math.floor(capacity * SCALE_DOWN_PER_MINUTE * step_seconds / 60 * 2) / 2)
            capacity = max(target, capacity - step_down)
        use = 0.0 if capacity == 0 else min(100.0, round(100 * demand / capacity, 1))
        points.append(CapacityPoint(clock.now(), demand, capacity, use, step_seconds))
        clock.advance(step_seconds)
    if publish:
        _publish(cluster_id, points)
    sql_data_api.expire_transactions()  # the clock moved: abandoned Data API transactions end now
    return points


def _publish(cluster_id: str, points: list[CapacityPoint]) -> None:
    from stacklab.planes import sql

    name = sql.find_cluster(cluster_id).db_cluster_identifier
    dims = [{"Name": "DBClusterIdentifier", "Value": name}]
    data = []
    for p in points:
        data.append({"MetricName": "ServerlessDatabaseCapacity", "Dimensions": dims, "Timestamp": p.time,
                     "Value": p.capacity, "Unit": "Count"})  # fmt: skip
        data.append({"MetricName": "ACUUtilization", "Dimensions": dims, "Timestamp": p.time,
                     "Value": p.utilisation, "Unit": "Percent"})  # fmt: skip
    cloudwatch = sandbox.client("cloudwatch")
    for start in range(0, len(data), 1000):
        cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=data[start : start + 1000])


def _check_points(points: Sequence[CapacityPoint]) -> None:
    if not points or not all(isinstance(p, CapacityPoint) for p in points):
        raise InputError("points must be the non-empty list that simulate() returned.")


def acu_hours(points: Sequence[CapacityPoint]) -> float:
    """ACU-hours consumed by a simulation."""
    _check_points(points)
    return sum(p.capacity * p.seconds for p in points) / 3600


def cost(points: Sequence[CapacityPoint], *, price: float = PRICE_PER_ACU_HOUR) -> float:
    """Compute cost in USD of a simulation (ACU-hours × price; storage and I/O not included)."""
    require_number("price", price, minimum=0)
    return round(acu_hours(points) * price, 6)


def plot(points: Sequence[CapacityPoint], *, title: str | None = None) -> tuple[Any, str]:
    """Capacity and load (top) and cumulative cost (bottom) against minutes; returns (figure, alt text)."""
    _check_points(points)
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    minutes = [sum(p.seconds for p in points[:i]) / 60 for i in range(len(points))]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5), sharex=True, height_ratios=(2, 1))
    top.step(minutes, [p.capacity for p in points], where="post", label="capacity (ACUs)", color="tab:blue")
    top.plot(minutes, [p.load for p in points], label="load (ACUs of work)", color="tab:orange", linestyle="--")
    top.set_ylabel("ACUs")
    top.legend(loc="upper right")
    top.set_title(title or "Aurora Serverless v2: capacity follows load")
    spent, total = [], 0.0
    for p in points:
        total += p.capacity * p.seconds / 3600 * PRICE_PER_ACU_HOUR
        spent.append(total)
    bottom.plot(minutes, spent, color="tab:green")
    bottom.set_ylabel("USD (cumulative)")
    bottom.set_xlabel("minutes (sandbox clock)")
    fig.tight_layout()
    plt.close(fig)
    peak = max(points, key=lambda p: p.capacity)
    alt = (
        f"Two panels over {minutes[-1] + points[-1].seconds / 60:.0f} minutes. Top: a stepped capacity line that "
        f"rises at once with the load to a peak of {peak.capacity:g} ACUs and comes down gradually after it, "
        f"between {min(p.capacity for p in points):g} and {peak.capacity:g} ACUs. Bottom: the cumulative compute "
        f"cost, reaching ${spent[-1]:.4f} at ${PRICE_PER_ACU_HOUR} per ACU-hour."
    )
    return fig, alt

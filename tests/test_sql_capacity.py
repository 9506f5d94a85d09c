"""Aurora Serverless v2 capacity model: AWS's ACU limits, scaling on the sandbox clock, metrics, cost, plot."""

from __future__ import annotations

import pytest

import stacklab
from stacklab.errors import InputError, StackLabError
from stacklab.planes import sql_capacity as cap


@pytest.fixture()
def fresh(box):
    stacklab.reset()
    yield box
    stacklab.reset()


def cluster(name: str = "shop", **scaling) -> str:
    kwargs = {"ServerlessV2ScalingConfiguration": scaling} if scaling else {}
    rds = stacklab.client("rds")
    rds.create_db_cluster(DBClusterIdentifier=name, Engine="aurora-postgresql", MasterUsername="a",
                          MasterUserPassword="s3cret-pass", **kwargs)  # fmt: skip
    return name


@pytest.mark.parametrize(
    ("scaling", "error"),
    [
        ({"MinCapacity": 0.5, "MaxCapacity": 4}, None),
        ({"MinCapacity": 0, "MaxCapacity": 256, "SecondsUntilAutoPause": 300}, None),
        ({"MinCapacity": 8, "MaxCapacity": 2}, "below MinCapacity"),
        ({"MinCapacity": 0.5, "MaxCapacity": 300}, "outside AWS's limits"),
        ({"MinCapacity": 0.75, "MaxCapacity": 4}, "multiple of 0.5"),
        ({"MinCapacity": 0, "MaxCapacity": 4, "SecondsUntilAutoPause": 60}, "300–86,400"),
        ({"MinCapacity": 0.5, "MaxCapacity": 0.5}, "maximum of at least 1 ACU"),
        ({"MinCapacity": 0, "MaxCapacity": 0.5, "SecondsUntilAutoPause": 300}, "maximum of at least 1 ACU"),
        ({"MinCapacity": 0.5, "MaxCapacity": 1}, None),
    ],
)
def test_scaling_limits(fresh, scaling, error):
    name = cluster(**scaling)
    if error is None:
        got = cap.scaling(name)
        assert got["MinCapacity"] == scaling["MinCapacity"] and got["MaxCapacity"] == scaling["MaxCapacity"]
    else:
        with pytest.raises(StackLabError, match=error):
            cap.scaling(name)


def test_scale_up_fast_down_gradual_within_range(fresh):
    name = cluster(MinCapacity=0.5, MaxCapacity=8)
    start = stacklab.current().clock.now()
    points = cap.simulate(name, [0.2, 1, 3, 20, 6, 0.5, 0.5, 0.5, 0.5])
    caps = [p.capacity for p in points]
    assert caps == [0.5, 1.5, 4.5, 8.0, 8.0, 6.0, 4.5, 3.5, 3.0]
    assert all(c * 2 == int(c * 2) and 0.5 <= c <= 8 for c in caps)
    assert points[3].utilisation == 100.0  # load above MaxCapacity saturates
    assert (stacklab.current().clock.now() - start).total_seconds() == 9 * 60
    assert points[1].time - points[0].time == points[2].time - points[1].time


def test_auto_pause_after_seconds_until_auto_pause(fresh):
    name = cluster(MinCapacity=0, MaxCapacity=4, SecondsUntilAutoPause=300)
    points = cap.simulate(name, [1, 0, 0, 0, 0, 0, 0, 2])
    assert [p.paused for p in points] == [False, False, False, False, False, True, True, False]
    assert points[-1].capacity == 3.0  # resumes straight to what the load needs


def test_metrics_reach_cloudwatch(fresh):
    name = cluster(MinCapacity=0.5, MaxCapacity=4)
    points = cap.simulate(name, [1, 2, 3])
    cw = stacklab.client("cloudwatch")
    stats = cw.get_metric_statistics(
        Namespace="AWS/RDS", MetricName="ServerlessDatabaseCapacity", Statistics=["Maximum"], Period=60,
        Dimensions=[{"Name": "DBClusterIdentifier", "Value": name}],
        StartTime=points[0].time, EndTime=points[-1].time.replace(minute=points[-1].time.minute + 1),
    )  # fmt: skip
    assert sorted(d["Maximum"] for d in stats["Datapoints"]) == sorted(p.capacity for p in points)
    names = {m["MetricName"] for m in cw.list_metrics(Namespace="AWS/RDS")["Metrics"]}
    assert names == {"ServerlessDatabaseCapacity", "ACUUtilization"}


def test_cost_and_plot(fresh):
    name = cluster(MinCapacity=0.5, MaxCapacity=4)
    points = cap.simulate(name, [1.4] * 60, publish=False)  # 2 ACUs for an hour
    assert cap.acu_hours(points) == pytest.approx(2.0)
    assert cap.cost(points) == pytest.approx(2.0 * cap.PRICE_PER_ACU_HOUR)
    assert cap.cost(points, price=0.16) == pytest.approx(0.32)
    assert "2026" in cap.PRICE_SOURCE and "us-east-1" in cap.PRICE_SOURCE
    assert cap.PRICE_PER_ACU_HOUR_IO_OPTIMIZED == 0.156 and "I/O-Optimized: $0.156)" in cap.PRICE_SOURCE
    fig, alt = cap.plot(points)
    assert len(fig.axes) == 2 and "2 ACUs" in alt and "$0.2400" in alt


def test_bad_input(fresh):
    name = cluster(MinCapacity=0.5, MaxCapacity=4)
    plain = cluster("plain")
    with pytest.raises(InputError, match="no ServerlessV2ScalingConfiguration"):
        cap.simulate(plain, [1])
    with pytest.raises(InputError, match="non-empty list"):
        cap.simulate(name, [])
    with pytest.raises(InputError, match="load value"):
        cap.simulate(name, [1, -2])
    with pytest.raises(InputError, match="step_seconds"):
        cap.simulate(name, [1], step_seconds=0)
    with pytest.raises(InputError, match="No DB cluster"):
        cap.scaling("ghost")
    with pytest.raises(InputError, match="simulate"):
        cap.cost([])

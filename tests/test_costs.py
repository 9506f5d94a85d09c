"""Tests of stacklab.costs: the price file, hand-computed bills, the break-even, the plot, the explorer."""

import io
import math
import re
from importlib import resources

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import yaml  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from stacklab import costs  # noqa: E402
from stacklab.errors import InputError  # noqa: E402

HOURS = 730
SECONDS = HOURS * 3600  # 2,628,000 seconds in the modelled month

# Hand-computed from the price table (us-east-1):
# Serverless defaults, per request: HTTP API $1.00/1M + Lambda $0.20/1M
# + 0.5 GB × 0.1 s × $0.0000166667/GB-s + 1 RRU × $0.125/1M + 0.25 WRU × $0.625/1M; plus 20 GB × $0.25.
SERVERLESS_PER_REQUEST = 1.00e-6 + 0.20e-6 + 0.05 * 0.0000166667 + 0.125e-6 + 0.25 * 0.625e-6
SERVERLESS_FIXED = 20 * 0.25
# Three-tier defaults, fixed: 2 × t3.small, 2 × 8 GB gp3, ALB hour, 2 public IPv4 (ALB nodes),
# db.t3.small Multi-AZ, 20 GB gp3 Multi-AZ storage.
THREE_TIER_FIXED = (2 * 0.0208 * HOURS + 2 * 8 * 0.08 + 0.0225 * HOURS + 2 * 0.005 * HOURS
                    + 0.072 * HOURS + 20 * 0.23)
# ALB LCUs: one new connection per request, 25 per LCU, $0.008 per LCU-hour (bytes: 10 KB → 0.036 LCU
# per req/s, smaller than 0.04).
THREE_TIER_PER_REQUEST = 0.008 * HOURS / 25 / SECONDS


@pytest.fixture(scope="module")
def prices():
    return costs.load_prices()


@pytest.fixture(scope="module")
def raw_prices():
    text = resources.files("stacklab").joinpath("data", "prices_us_east_1.yaml").read_text("utf-8")
    return yaml.safe_load(text)


# ------------------------------------------------------------------------------------ price file


def test_price_file_top_level(raw_prices):
    assert raw_prices["region"] == "us-east-1"
    assert raw_prices["currency"] == "USD"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw_prices["as_of"])
    assert raw_prices["hours_per_month"] == 730


def test_every_price_has_source_date_and_verification(raw_prices):
    ids = [item["id"] for item in raw_prices["items"]]
    assert len(ids) == len(set(ids))
    for item in raw_prices["items"]:
        where = item["id"]
        assert item["description"].strip(), where
        assert isinstance(item["value"], (int, float)) and item["value"] >= 0, where
        assert item["unit"].strip(), where
        assert item["source"].startswith("https://aws.amazon.com/"), where
        assert re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", item["as_of"]), where
        assert item["published"] is None or re.fullmatch(r"\d{4}-\d{2}-\d{2}", item["published"]), where
        assert isinstance(item["verified"], bool), where
        assert item["note"].strip(), f"{where}: say where the figure was read"
        for source_key in ("as_of_source",):
            if item.get(source_key):
                assert item[source_key].startswith("https://"), where


def test_load_prices_parses_the_table(prices):
    assert isinstance(prices, costs.PriceTable)
    assert prices.region == "us-east-1" and prices.currency == "USD" and prices.as_of == "2026-11-26"
    assert prices.hours_per_month == 730
    assert len(prices) == 29
    assert prices.value("lambda_requests") == 0.20
    assert prices.value("lambda_duration_x86_64") == 0.0000166667
    assert prices.value("lambda_duration_arm64") == 0.0000133334
    assert prices.value("apigw_http_requests") == 1.00
    assert prices.value("apigw_rest_requests") == 3.50
    assert prices.value("dynamodb_write_request_units") == 0.625
    assert prices.value("dynamodb_read_request_units") == 0.125
    assert prices.value("ec2_t3_small") == 0.0208
    assert prices.value("rds_pg_db_t3_small_multi_az") == 0.072
    assert prices.item("lambda_requests").verified is True
    assert prices.item("ec2_t3_small").verified is False
    assert "<table" in prices._repr_html_()


def test_tiers_apply_in_order(prices):
    http = prices.item("apigw_http_requests")
    assert http.cost(500e6) == pytest.approx(300 * 1.00 + 200 * 0.90)
    rest = prices.item("apigw_rest_requests")
    assert rest.cost(1e9) == pytest.approx(333 * 3.50 + 667 * 2.80)
    assert rest.cost(21e9) == pytest.approx(333 * 3.50 + 667 * 2.80 + 19_000 * 2.38 + 1_000 * 1.51)
    x86 = prices.item("lambda_duration_x86_64")
    assert x86.cost(7e9) == pytest.approx(6e9 * 0.0000166667 + 1e9 * 0.000015)


def test_load_prices_rejects_a_bad_file(tmp_path, raw_prices):
    missing_source = dict(raw_prices, items=[dict(raw_prices["items"][0], source="")] + raw_prices["items"][1:])
    path = tmp_path / "prices.yaml"
    path.write_text(yaml.safe_dump(missing_source))
    with pytest.raises(InputError, match="source must be a non-empty string"):
        costs.load_prices(path)
    no_date = dict(raw_prices, items=[dict(raw_prices["items"][0], as_of="last week")] + raw_prices["items"][1:])
    path.write_text(yaml.safe_dump(no_date))
    with pytest.raises(InputError, match="as_of must be a date"):
        costs.load_prices(path)
    path.write_text(yaml.safe_dump(dict(raw_prices, items=raw_prices["items"][:3])))
    with pytest.raises(InputError, match="the cost model needs items"):
        costs.load_prices(path)
    with pytest.raises(InputError, match="No price file"):
        costs.load_prices(tmp_path / "absent.yaml")
    path.write_text(yaml.safe_dump(raw_prices))
    assert len(costs.load_prices(path)) == 29


def test_unknown_price_id(prices):
    with pytest.raises(InputError, match="No price called 'lambda_gpu'"):
        prices.item("lambda_gpu")


# ------------------------------------------------------------------------------ hand-computed bills


def test_serverless_one_million(prices):
    bill = costs.monthly_cost(costs.Serverless(), 1_000_000, prices)
    lines = {item.name: item.dollars for item in bill.items}
    assert lines["API Gateway HTTP API requests"] == pytest.approx(1.00)
    assert lines["Lambda requests"] == pytest.approx(0.20)
    assert lines["Lambda compute (x86_64)"] == pytest.approx(50_000 * 0.0000166667)  # 0.833335
    assert lines["DynamoDB reads (on-demand)"] == pytest.approx(0.125)
    assert lines["DynamoDB writes (on-demand)"] == pytest.approx(0.15625)
    assert lines["DynamoDB storage"] == pytest.approx(5.00)
    assert bill.total == pytest.approx(7.314585)


def test_serverless_hundred_million(prices):
    bill = costs.monthly_cost(costs.Serverless(), 100_000_000, prices)
    assert bill.total == pytest.approx(100 + 20 + 83.3335 + 12.5 + 15.625 + 5)  # 236.4585


def test_serverless_variants(prices):
    rest = costs.monthly_cost(costs.Serverless(api_type="rest"), 1_000_000, prices)
    assert rest.total == pytest.approx(7.314585 - 1.00 + 3.50)
    arm = costs.monthly_cost(costs.Serverless(lambda_architecture="arm64"), 1_000_000, prices)
    assert arm.total == pytest.approx(7.314585 - 0.833335 + 50_000 * 0.0000133334)
    free = costs.monthly_cost(costs.Serverless(include_free_tier=True), 1_000_000, prices)
    assert free.total == pytest.approx(1.00 + 0.125 + 0.15625 + 5.00)  # Lambda fully inside the free tier
    free_big = costs.monthly_cost(costs.Serverless(include_free_tier=True), 100_000_000, prices)
    assert free_big.total == pytest.approx(236.4585 - 0.20 - 400_000 * 0.0000166667)


def test_three_tier_one_million(prices):
    bill = costs.monthly_cost(costs.ThreeTier(), 1_000_000, prices)
    lines = {item.name: item.dollars for item in bill.items}
    assert lines["EC2 t3.small × 2"] == pytest.approx(30.368)
    assert lines["EBS gp3 root volumes"] == pytest.approx(1.28)
    assert lines["Application Load Balancer"] == pytest.approx(16.425)
    assert lines["ALB capacity units (LCU)"] == pytest.approx(0.0888889, rel=1e-5)
    assert lines["Public IPv4 addresses"] == pytest.approx(7.30)
    assert lines["RDS PostgreSQL db.t3.small Multi-AZ"] == pytest.approx(52.56)
    assert lines["RDS storage gp3"] == pytest.approx(4.60)
    assert bill.total == pytest.approx(112.6218889, rel=1e-8)


def test_three_tier_hundred_million(prices):
    bill = costs.monthly_cost(costs.ThreeTier(), 100_000_000, prices)
    assert costs.ThreeTier().instances(100_000_000) == 2  # 38 req/s, 24 req/s per instance
    assert bill.total == pytest.approx(112.533 + 8.888889, rel=1e-6)


def test_three_tier_auto_scaling_steps(prices):
    arch = costs.ThreeTier()
    assert arch.capacity_rps == pytest.approx(24.0)  # 0.4 vCPU baseline / 10 ms × 60 %
    width = 24 * SECONDS  # 63,072,000 requests per instance per month
    assert arch.instances(2 * width) == 2
    assert arch.instances(2 * width + 1) == 3
    assert arch.instances(200_000_000) == 4
    lines = {i.name: i.dollars for i in costs.monthly_cost(arch, 200_000_000, prices).items}
    assert lines["EC2 t3.small × 4"] == pytest.approx(4 * 0.0208 * 730)
    jump = (costs.monthly_cost(arch, 2 * width + 1, prices).total
            - costs.monthly_cost(arch, 2 * width, prices).total)
    assert jump == pytest.approx(0.0208 * 730 + 8 * 0.08, rel=1e-4)  # one more instance and its volume


def test_three_tier_variants(prices):
    single = costs.monthly_cost(costs.ThreeTier(multi_az=False, min_instances=1), 1_000_000, prices)
    lines = {i.name: i.dollars for i in single.items}
    assert lines["RDS PostgreSQL db.t3.small Single-AZ"] == pytest.approx(0.036 * 730)
    assert lines["RDS storage gp3"] == pytest.approx(20 * 0.115)
    assert lines["EC2 t3.small × 1"] == pytest.approx(0.0208 * 730)
    nat = costs.monthly_cost(costs.ThreeTier(nat_gateways=2, nat_gb_per_month=100), 1_000_000, prices)
    lines = {i.name: i.dollars for i in nat.items}
    assert lines["NAT gateway × 2"] == pytest.approx(2 * 0.045 * 730)
    assert lines["NAT gateway data processed"] == pytest.approx(4.50)
    assert lines["Public IPv4 addresses"] == pytest.approx(4 * 0.005 * 730)
    own = costs.ThreeTier(rps_per_instance=100)
    assert own.capacity_rps == 100 and own.instances(100 * SECONDS * 3) == 3


def test_line_items_say_how(prices):
    bill = costs.monthly_cost(costs.ThreeTier(), 1_000_000, prices)
    assert all(item.detail for item in bill.items)
    assert bill.prices_as_of == "2026-11-26" and bill.region == "us-east-1"


# ------------------------------------------------------------------------------------- break-even


def test_break_even_default_matches_hand_computation(prices):
    crossing = costs.break_even(costs.ThreeTier(), costs.Serverless(), prices)
    expected = (THREE_TIER_FIXED - SERVERLESS_FIXED) / (SERVERLESS_PER_REQUEST - THREE_TIER_PER_REQUEST)
    assert crossing == pytest.approx(expected, rel=1e-6)  # ≈ 48.3M requests/month, ≈ 18.4 req/s
    assert 48e6 < crossing < 48.5e6


@pytest.mark.parametrize(
    "three_tier, serverless",
    [
        (costs.ThreeTier(), costs.Serverless()),
        (costs.ThreeTier(), costs.Serverless(api_type="rest")),
        (costs.ThreeTier(instance_type="t3.micro", db_instance_class="db.t4g.micro"), costs.Serverless()),
        (costs.ThreeTier(multi_az=False, min_instances=1), costs.Serverless(lambda_memory_mb=128)),
        (costs.ThreeTier(), costs.Serverless(include_free_tier=True, lambda_architecture="arm64")),
        (costs.ThreeTier(rps_per_instance=5), costs.Serverless(lambda_memory_mb=128, lambda_duration_ms=20)),
    ],
)
def test_break_even_is_a_crossing(prices, three_tier, serverless):
    crossing = costs.break_even(three_tier, serverless, prices)
    assert crossing is not None and costs.BREAK_EVEN_RANGE[0] <= crossing <= costs.BREAK_EVEN_RANGE[1]

    def totals(requests):
        return (costs.monthly_cost(serverless, requests, prices).total,
                costs.monthly_cost(three_tier, requests, prices).total)

    s, t = totals(crossing)
    assert s == pytest.approx(t, abs=1e-6)
    s_before, t_before = totals(crossing * (1 - 1e-6))
    s_after, t_after = totals(crossing * (1 + 1e-6))
    assert s_before < t_before
    assert s_after >= t_after - 1e-9


def test_break_even_ordering_flips_around_default(prices):
    crossing = costs.break_even(prices=prices)
    below, above = crossing * 0.99, crossing * 1.01
    assert costs.monthly_cost(costs.Serverless(), below, prices).total < \
        costs.monthly_cost(costs.ThreeTier(), below, prices).total
    assert costs.monthly_cost(costs.Serverless(), above, prices).total > \
        costs.monthly_cost(costs.ThreeTier(), above, prices).total


def test_break_even_none_when_lines_never_cross(prices):
    # Serverless dearer everywhere: a huge table to store.
    assert costs.break_even(costs.ThreeTier(), costs.Serverless(dynamodb_storage_gb=1e6), prices) is None
    # Serverless cheaper everywhere: one request per second per web server.
    assert costs.break_even(costs.ThreeTier(rps_per_instance=1), costs.Serverless(), prices) is None


def test_break_even_after_a_step(prices):
    # Cheap Lambda and a small web server: the crossing comes after Auto Scaling has added instances.
    three_tier = costs.ThreeTier(rps_per_instance=5)
    serverless = costs.Serverless(lambda_memory_mb=128, lambda_duration_ms=20)
    crossing = costs.break_even(three_tier, serverless, prices)
    assert three_tier.instances(crossing) > three_tier.min_instances


# ------------------------------------------------------------------------------------------- plot


def test_plot_costs_returns_a_figure_with_two_lines():
    fig = costs.plot_costs()
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert len(lines) == 2
    assert [line.get_label() for line in lines] == [costs.ThreeTier().label, costs.Serverless().label]
    assert ax.get_xscale() == "log"
    assert "2026-11-26" in ax.get_title()
    assert any("break-even" in text.get_text() for text in ax.texts)
    assert ax.get_xlim() == pytest.approx((1e3, 1e9))


def test_plot_costs_draws_on_given_axes_and_is_deterministic():
    fig = Figure()
    ax = fig.add_subplot()
    assert costs.plot_costs(ax=ax, max_requests=1e8, mark_requests=1e6) is fig
    assert len(ax.get_lines()) == 2

    def png():
        buffer = io.BytesIO()
        costs.plot_costs(max_requests=1e8).savefig(buffer, format="png", metadata={"Software": None})
        return buffer.getvalue()

    assert png() == png()


def test_plot_costs_log_y():
    ax = costs.plot_costs(yscale="log", max_requests=1e10).axes[0]
    assert ax.get_yscale() == "log" and len(ax.get_lines()) == 2


def test_plot_costs_says_when_break_even_is_outside():
    fig = costs.plot_costs(max_requests=1e6)
    assert any("outside this plot" in text.get_text() for text in fig.axes[0].texts)
    fig = costs.plot_costs(serverless=costs.Serverless(dynamodb_storage_gb=1e6), max_requests=1e6)
    assert any("no break-even" in text.get_text() for text in fig.axes[0].texts)


# ----------------------------------------------------------------------------------------- tables


def test_format_breakdown_text_and_html(prices):
    bill = costs.monthly_cost(costs.Serverless(), 1_000_000, prices)
    text = costs.format_breakdown(bill)
    lines = text.splitlines()
    assert len(lines) == len(bill.items) + 2
    assert lines[-1].split() == ["Total", "$7.31"]
    assert "2026-11-26" in lines[0]
    assert str(bill) == text
    page = bill._repr_html_()
    assert page.startswith("<table") and "$7.31" in page and "Total" in page
    assert costs.format_breakdown_html(bill) == page


# --------------------------------------------------------------------------------------- explorer


def test_explorer_callback_logic(prices):
    explorer = costs.cost_explorer(prices)
    result = explorer.evaluate(requests_per_month=1e6)
    assert result.three_tier.total == pytest.approx(112.6218889, rel=1e-8)
    assert result.serverless.total == pytest.approx(7.314585)
    assert result.break_even == pytest.approx(costs.break_even(prices=prices))
    assert len(result.figure.axes[0].get_lines()) == 2
    assert "serverless design is cheaper" in result.table_html()

    other = explorer.evaluate(requests_per_month=5e7, lambda_memory_mb=1024, lambda_duration_ms=200,
                              instance_type="t3.micro", multi_az=False, api_type="rest")
    expected_three = costs.ThreeTier(instance_type="t3.micro", multi_az=False, min_instances=1)
    expected_server = costs.Serverless(api_type="rest", lambda_memory_mb=1024, lambda_duration_ms=200)
    assert other.three_tier.total == pytest.approx(costs.monthly_cost(expected_three, 5e7, prices).total)
    assert other.serverless.total == pytest.approx(costs.monthly_cost(expected_server, 5e7, prices).total)
    assert other.three_tier.total < other.serverless.total


def test_explorer_widget_redraws_without_a_browser(prices):
    explorer = costs.cost_explorer(prices, requests_per_month=1e6)
    widget = explorer.widget
    assert type(widget).__name__ == "VBox"
    assert "HTTP API" in explorer._table.value and bytes(explorer._image.value).startswith(b"\x89PNG")
    explorer._controls["api_type"].value = "rest"
    assert "REST API requests" in explorer._table.value
    explorer._controls["requests_per_month"].value = 1e9
    assert "three-tier design is cheaper" in explorer._table.value


def test_explorer_repr_is_deterministic(prices):
    explorer = costs.cost_explorer(prices)
    text = repr(explorer)
    assert text == ("CostExplorer: three-tier vs serverless monthly cost over traffic "
                    "(us-east-1, prices as of 2026-11-26)")
    bundle = explorer._repr_mimebundle_()
    assert bundle["text/plain"] == text
    assert "application/vnd.jupyter.widget-view+json" in bundle


# ------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "requests, message",
    [
        (-1, r"at least 0.*Pass requests_per_month"),
        (math.nan, "NaN"),
        (math.inf, "at most"),
        ("1M", "must be a number"),
        (True, "must be a number"),
        (1e13, "at most"),
    ],
)
def test_monthly_cost_rejects_bad_requests(requests, message):
    with pytest.raises(InputError, match=message):
        costs.monthly_cost(costs.Serverless(), requests)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: costs.ThreeTier(instance_type="m5.large"), "instance_type must be one of"),
        (lambda: costs.ThreeTier(min_instances=0), r"at least 1.*one per Availability Zone"),
        (lambda: costs.ThreeTier(min_instances=2.5), "whole number"),
        (lambda: costs.ThreeTier(db_storage_gb=5), "starts at 20 GB"),
        (lambda: costs.ThreeTier(db_instance_class="db.r5.large"), "db_instance_class must be one of"),
        (lambda: costs.ThreeTier(multi_az="yes"), "True or False"),
        (lambda: costs.ThreeTier(alb_availability_zones=1), "at least 2 Availability Zones"),
        (lambda: costs.ThreeTier(rps_per_instance=0), "requests per second"),
        (lambda: costs.Serverless(api_type="websocket"), "api_type must be one of"),
        (lambda: costs.Serverless(lambda_memory_mb=64), r"at least 128.*from 128 to 10240"),
        (lambda: costs.Serverless(lambda_duration_ms=-5), "at least 1"),
        (lambda: costs.Serverless(lambda_architecture="arm"), "lambda_architecture must be one of"),
        (lambda: costs.Serverless(write_units_per_request=-0.1), "at least 0"),
        (lambda: costs.monthly_cost("serverless", 1), "arch must be a ThreeTier or Serverless"),
        (lambda: costs.monthly_cost(costs.Serverless(), 1, prices="us-east-1"), "prices must be a PriceTable"),
        (lambda: costs.break_even(costs.Serverless(), costs.Serverless()), "three_tier must be a ThreeTier"),
        (lambda: costs.break_even(costs.ThreeTier(), costs.ThreeTier()), "serverless must be a Serverless"),
        (lambda: costs.plot_costs(max_requests=10), "max_requests must be at least"),
        (lambda: costs.plot_costs(min_requests=1e6, max_requests=2e6), "at least 10 × min_requests"),
        (lambda: costs.plot_costs(ax="axes"), "ax must be a matplotlib Axes"),
        (lambda: costs.plot_costs(mark_requests=-3), "mark_requests must be at least 0"),
        (lambda: costs.plot_costs(yscale="symlog"), "yscale must be one of"),
        (lambda: costs.format_breakdown("bill"), "breakdown must be a CostBreakdown"),
        (lambda: costs.format_breakdown_html(None), "breakdown must be a CostBreakdown"),
        (lambda: costs.cost_explorer(requests_per_month=1e11), r"between 1000 and 1e\+10"),
        (lambda: costs.cost_explorer().evaluate(instance_type="t2.nano"), "instance_type must be one of"),
        (lambda: costs.load_prices(42), "path must be a file path"),
        (lambda: costs.ThreeTier().instances(-10), "at least 0"),
    ],
)
def test_bad_inputs_raise_input_error(make, message):
    with pytest.raises(InputError, match=message):
        make()


def test_input_error_is_a_value_error():
    with pytest.raises(ValueError):
        costs.monthly_cost(costs.ThreeTier(), -5)

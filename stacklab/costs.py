"""What a month of traffic costs: a three-tier web app (EC2 + ALB + RDS) against a serverless one
(API Gateway + Lambda + DynamoDB), and where the two lines cross.

Prices come from ``stacklab/data/prices_us_east_1.yaml``: us-east-1 on-demand list prices, each with
its source, the date it is known to hold and whether it was read in AWS's own text
(:func:`load_prices`). The architectures are plain dataclasses whose fields are the model's
assumptions (:class:`ThreeTier`, :class:`Serverless`); change a field and every figure follows.

Left out on purpose, because both designs pay them alike: S3 and CloudFront for the static site,
Route 53, Cognito, data transfer out to the internet, CloudWatch logs and metrics, backups.
A month is 730 hours (the convention AWS's own calculator uses).

Typical use in a notebook::

    from stacklab import costs
    costs.monthly_cost(costs.Serverless(), 1_000_000)        # line items and total
    costs.break_even(costs.ThreeTier(), costs.Serverless())  # requests/month where they cross
    costs.plot_costs()                                       # the two curves, break-even marked
    costs.cost_explorer()                                    # sliders
"""

from __future__ import annotations

import functools
import html
import io
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import yaml

from stacklab._validate import require_bool, require_choice, require_number, require_str
from stacklab.errors import InputError

__all__ = [
    "BREAK_EVEN_RANGE",
    "HOURS_PER_MONTH",
    "CostBreakdown",
    "CostExplorer",
    "ExplorerResult",
    "LineItem",
    "PriceItem",
    "PriceTable",
    "PriceTier",
    "Serverless",
    "ThreeTier",
    "break_even",
    "cost_explorer",
    "format_breakdown",
    "format_breakdown_html",
    "load_prices",
    "monthly_cost",
    "plot_costs",
]

HOURS_PER_MONTH = 730
"""Hours in the modelled month (365 × 24 / 12, rounded as AWS's calculator does)."""

BREAK_EVEN_RANGE = (1e3, 1e11)
"""Requests per month searched by :func:`break_even`."""

MAX_REQUESTS_PER_MONTH = 1e12

_PRICE_FILE = "prices_us_east_1.yaml"
_DATE = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")

# EC2 instance type -> (price item, baseline CPU in vCPUs). T3 baselines are 10% (micro) and 20%
# (small, medium) of each of 2 vCPUs, per the T3 launch table (AWS News Blog, August 2018).
EC2_INSTANCE_TYPES: dict[str, tuple[str, float]] = {
    "t3.micro": ("ec2_t3_micro", 0.2),
    "t3.small": ("ec2_t3_small", 0.4),
    "t3.medium": ("ec2_t3_medium", 0.4),
}
DB_INSTANCE_CLASSES = ("db.t3.micro", "db.t3.small", "db.t4g.micro")
DB_STORAGE_TYPES = ("gp2", "gp3")
API_TYPES = ("http", "rest")
LAMBDA_ARCHITECTURES = ("x86_64", "arm64")

# One Application Load Balancer capacity unit (LCU) per hour covers any one of these.
ALB_NEW_CONNECTIONS_PER_LCU = 25.0  # new connections per second
ALB_GB_PER_LCU_HOUR = 1.0  # GB processed per hour, EC2 targets

_REQUIRED_IDS = frozenset(
    {
        "lambda_requests",
        "lambda_duration_x86_64",
        "lambda_duration_arm64",
        "lambda_free_tier_requests",
        "lambda_free_tier_gb_seconds",
        "apigw_http_requests",
        "apigw_rest_requests",
        "dynamodb_write_request_units",
        "dynamodb_read_request_units",
        "dynamodb_storage",
        "ebs_gp3_storage",
        "alb_hour",
        "alb_lcu_hour",
        "public_ipv4_hour",
        "nat_gateway_hour",
        "nat_gateway_gb",
    }
    | {item for item, _ in EC2_INSTANCE_TYPES.values()}
    | {
        f"rds_pg_{cls.replace('.', '_')}_{az}"
        for cls in DB_INSTANCE_CLASSES
        for az in ("single_az", "multi_az")
    }
    | {f"rds_storage_{kind}_{az}" for kind in DB_STORAGE_TYPES for az in ("single_az", "multi_az")}
)


@contextmanager
def _hint(text: str) -> Iterator[None]:
    """Append what to do to an InputError raised inside the block."""
    try:
        yield
    except InputError as exc:
        raise InputError(f"{exc} {text}") from None


def _requests(name: str, value: Any) -> float:
    with _hint(f"Pass {name} as a number of requests per month from 0 to {MAX_REQUESTS_PER_MONTH:.0e}, "
               "e.g. 1_000_000."):
        return float(require_number(name, value, minimum=0, maximum=MAX_REQUESTS_PER_MONTH))


# ----------------------------------------------------------------------------------- price table


@dataclass(frozen=True)
class PriceTier:
    """A volume tier: ``value`` applies to monthly usage up to ``up_to`` base units (None: no limit)."""

    up_to: float | None
    value: float


@dataclass(frozen=True)
class PriceItem:
    """One dated price: ``value`` USD per ``per`` units of the usage named in ``unit``."""

    id: str
    description: str
    value: float
    unit: str
    source: str
    as_of: str
    verified: bool
    note: str = ""
    per: float = 1.0
    published: str | None = None
    as_of_source: str | None = None
    tiers: tuple[PriceTier, ...] = ()

    def cost(self, quantity: float) -> float:
        """USD for ``quantity`` base units of usage in one month, applying volume tiers in order."""
        if not self.tiers:
            return quantity * self.value / self.per
        total, lower = 0.0, 0.0
        for tier in self.tiers:
            upper = math.inf if tier.up_to is None else tier.up_to
            if quantity <= lower:
                break
            total += (min(quantity, upper) - lower) * tier.value
            lower = upper
        return total / self.per


@dataclass(frozen=True)
class PriceTable:
    """The price file: region, currency, the date it was compiled and its :class:`PriceItem` s."""

    region: str
    currency: str
    as_of: str
    hours_per_month: float
    items: tuple[PriceItem, ...]
    _by_id: dict[str, PriceItem] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {item.id: item for item in self.items})

    def item(self, item_id: str) -> PriceItem:
        """The item called ``item_id``."""
        require_str("item_id", item_id)
        try:
            return self._by_id[item_id]
        except KeyError:
            raise InputError(
                f"No price called {item_id!r} in the {self.region} table. "
                f"Known ids: {', '.join(sorted(self._by_id))}."
            ) from None

    def value(self, item_id: str) -> float:
        """The (first-tier) value of ``item_id``."""
        return self.item(item_id).value

    def __iter__(self) -> Iterator[PriceItem]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def _repr_html_(self) -> str:
        rows = []
        for it in self.items:
            rows.append(
                "<tr>"
                f"<td><code>{html.escape(it.id)}</code></td>"
                f"<td>{html.escape(it.description)}</td>"
                f"<td style='text-align:right'>{it.value:g}</td>"
                f"<td>{html.escape(it.unit)}</td>"
                f"<td>{html.escape(it.as_of)}</td>"
                f"<td>{'yes' if it.verified else 'no'}</td>"
                f"<td><a href='{html.escape(it.source)}'>{html.escape(it.source)}</a></td>"
                "</tr>"
            )
        return (
            f"<table><caption>{html.escape(self.region)} on-demand prices ({html.escape(self.currency)}), "
            f"compiled {html.escape(self.as_of)}; 'verified' = read in AWS's own text</caption>"
            "<thead><tr><th>id</th><th>what</th><th>value</th><th>unit</th><th>as of</th>"
            "<th>verified</th><th>source</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
        )


def _schema(where: str, message: str) -> InputError:
    return InputError(
        f"Price file {where}: {message}. Fix the file, or call load_prices() without a path "
        "to use the table that ships with stacklab."
    )


def _date(where: str, key: str, value: Any, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not _DATE.match(value):
        raise _schema(where, f"{key} must be a date written YYYY-MM-DD (or YYYY-MM) in quotes, got {value!r}")
    return value


def _number(where: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise _schema(where, f"{key} must be a number at least 0, got {value!r}")
    return float(value)


def _parse_item(where: str, raw: Any) -> PriceItem:
    if not isinstance(raw, dict):
        raise _schema(where, f"each item must be a mapping, got {raw!r}")
    item_id = raw.get("id")
    if not isinstance(item_id, str) or not item_id:
        raise _schema(where, f"an item has no id: {raw!r}")
    at = f"{where}, item {item_id!r}"
    for key in ("description", "unit", "source"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise _schema(at, f"{key} must be a non-empty string")
    if not raw["source"].startswith("https://"):
        raise _schema(at, f"source must be an https:// URL, got {raw['source']!r}")
    if not isinstance(raw.get("verified"), bool):
        raise _schema(at, "verified must be true or false")
    per = _number(at, "per", raw.get("per", 1))
    if per <= 0:
        raise _schema(at, "per must be greater than 0")
    value = _number(at, "value", raw.get("value"))
    tiers: list[PriceTier] = []
    previous = 0.0
    for n, tier in enumerate(raw.get("tiers") or []):
        if not isinstance(tier, dict):
            raise _schema(at, f"tier {n} must be a mapping with up_to and value")
        up_to = tier.get("up_to")
        last = n == len(raw["tiers"]) - 1
        if last != (up_to is None):
            raise _schema(at, "only the last tier has up_to: null, and it must have it")
        if up_to is not None:
            up_to = _number(at, f"tier {n} up_to", up_to)
            if up_to <= previous:
                raise _schema(at, "tier up_to values must increase")
            previous = up_to
        tiers.append(PriceTier(up_to, _number(at, f"tier {n} value", tier.get("value"))))
    if tiers and tiers[0].value != value:
        raise _schema(at, "value must equal the first tier's value")
    note = raw.get("note", "")
    return PriceItem(
        id=item_id,
        description=raw["description"].strip(),
        value=value,
        unit=raw["unit"].strip(),
        source=raw["source"],
        as_of=_date(at, "as_of", raw.get("as_of")),  # type: ignore[arg-type]
        verified=raw["verified"],
        note=note.strip() if isinstance(note, str) else "",
        per=per,
        published=_date(at, "published", raw.get("published"), optional=True),
        as_of_source=raw.get("as_of_source"),
        tiers=tuple(tiers),
    )


def _parse_table(where: str, data: Any) -> PriceTable:
    if not isinstance(data, dict):
        raise _schema(where, "the top level must be a mapping with region, currency, as_of and items")
    if not isinstance(data.get("region"), str):
        raise _schema(where, "region must be a string such as us-east-1")
    if data.get("currency") != "USD":
        raise _schema(where, f"currency must be USD, got {data.get('currency')!r}")
    as_of = _date(where, "as_of", data.get("as_of"))
    hours = _number(where, "hours_per_month", data.get("hours_per_month", HOURS_PER_MONTH))
    raw_items = data.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        raise _schema(where, "items must be a non-empty list")
    items = tuple(_parse_item(where, raw) for raw in raw_items)
    ids = [it.id for it in items]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise _schema(where, f"duplicate ids {', '.join(duplicates)}")
    missing = sorted(_REQUIRED_IDS - set(ids))
    if missing:
        raise _schema(where, f"the cost model needs items {', '.join(missing)}")
    return PriceTable(data["region"], "USD", as_of, hours, items)  # type: ignore[arg-type]


@functools.lru_cache(maxsize=1)
def _packaged_prices() -> PriceTable:
    text = resources.files("stacklab").joinpath("data", _PRICE_FILE).read_text(encoding="utf-8")
    return _parse_table(f"stacklab/data/{_PRICE_FILE}", yaml.safe_load(text))


def load_prices(path: str | Path | None = None) -> PriceTable:
    """The dated us-east-1 price table shipped with stacklab, or the YAML file at ``path``.

    The file is checked: every item needs a description, value, unit, an https source, an ``as_of``
    date and ``verified``; all prices the cost model uses must be present.
    """
    if path is None:
        return _packaged_prices()
    if not isinstance(path, (str, Path)):
        raise InputError(f"path must be a file path (str or Path) or None, got {type(path).__name__}.")
    file = Path(path)
    if not file.is_file():
        raise InputError(f"No price file at {str(file)!r}. Pass the path of a YAML price file, or None.")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise _schema(str(file), f"it is not valid YAML ({exc.__class__.__name__})") from None
    return _parse_table(str(file), data)


def _table(prices: Any) -> PriceTable:
    if prices is None:
        return load_prices()
    if not isinstance(prices, PriceTable):
        raise InputError(
            f"prices must be a PriceTable from load_prices() or None, got {type(prices).__name__}."
        )
    return prices


# ---------------------------------------------------------------------------------- architectures


@dataclass(frozen=True)
class ThreeTier:
    """The traditional design of the notes: ALB → EC2 Auto Scaling group → RDS, across two AZs.

    Assumptions (every one is a field you can change):

    - ``instance_type`` t3.small web/app servers, at least ``min_instances`` = 2 (one per AZ: the
      minimum for the notes' highly available design), each with an ``ebs_gb_per_instance`` = 8 GB
      gp3 root volume.
    - Capacity: each request uses ``cpu_ms_per_request`` = 10 ms of CPU, and Auto Scaling keeps CPU at
      ``target_cpu_utilization`` = 60 % of the T3 *baseline* (so no T3 Unlimited surplus charges).
      A t3.small's baseline is 0.4 vCPU, so it serves 0.4 × 1000 / 10 × 0.6 = 24 requests/s.
      t3.medium has the same baseline as t3.small: it buys memory, not sustained CPU. Set
      ``rps_per_instance`` to use your own measured figure instead.
    - Auto Scaling: traffic is spread evenly over the 730-hour month and the group runs
      ``max(min_instances, ceil(average requests/s ÷ capacity))`` instances, so the cost is a step
      function of traffic. Real traffic peaks; size for your peak by lowering the capacity.
    - ALB: the hourly charge plus LCUs, the larger of new connections (``new_connections_per_request``
      = 1, i.e. no keep-alive: 25 per LCU) and processed bytes (``kb_per_request`` = 10 KB: 1 GB/hour
      per LCU). Rule evaluations stay within the 10 free rules. Its two AZ nodes each hold a public
      IPv4 address ($0.005/h each).
    - Database: RDS for PostgreSQL ``db_instance_class`` db.t3.small, ``multi_az`` (a standby in the
      second AZ, billed like a second instance), ``db_storage_gb`` = 20 GB ``db_storage_type`` gp3
      (the RDS minimum). The database does not grow with traffic in this model, so at very high
      traffic the three-tier figure is a lower bound.
    - ``nat_gateways`` = 0: web servers in private subnets need a NAT gateway (one per AZ for HA) to
      reach the internet for updates; set it to 1 or 2 and ``nat_gb_per_month`` to include it.
    """

    instance_type: str = "t3.small"
    min_instances: int = 2
    cpu_ms_per_request: float = 10.0
    target_cpu_utilization: float = 0.6
    rps_per_instance: float | None = None
    ebs_gb_per_instance: float = 8.0
    alb_availability_zones: int = 2
    new_connections_per_request: float = 1.0
    kb_per_request: float = 10.0
    db_instance_class: str = "db.t3.small"
    multi_az: bool = True
    db_storage_gb: float = 20.0
    db_storage_type: str = "gp3"
    nat_gateways: int = 0
    nat_gb_per_month: float = 0.0

    name: ClassVar[str] = "Three-tier (EC2 + ALB + RDS)"

    def __post_init__(self) -> None:
        require_choice("instance_type", self.instance_type, EC2_INSTANCE_TYPES)
        with _hint("The notes' highly available design uses 2 (one per Availability Zone)."):
            require_number("min_instances", self.min_instances, minimum=1, maximum=1000, integer=True)
        with _hint("Use the CPU milliseconds one request costs on the web server, e.g. 10."):
            require_number("cpu_ms_per_request", self.cpu_ms_per_request, minimum=0.01, maximum=60_000)
        with _hint("Use a fraction of the CPU baseline between 0.05 and 1, e.g. 0.6."):
            require_number("target_cpu_utilization", self.target_cpu_utilization, minimum=0.05, maximum=1)
        if self.rps_per_instance is not None:
            with _hint("Pass requests per second one instance serves (at least 1), or None to derive it."):
                require_number("rps_per_instance", self.rps_per_instance, minimum=1, maximum=1e6)
        with _hint("Use the root volume size in GB, e.g. 8."):
            require_number("ebs_gb_per_instance", self.ebs_gb_per_instance, minimum=0, maximum=64_000)
        with _hint("An Application Load Balancer needs subnets in at least 2 Availability Zones."):
            require_number("alb_availability_zones", self.alb_availability_zones, minimum=2, maximum=6,
                           integer=True)
        with _hint("Use 1 if every request opens a connection, less with keep-alive (e.g. 0.1)."):
            require_number("new_connections_per_request", self.new_connections_per_request, minimum=0,
                           maximum=10)
        with _hint("Use the average request + response size in KB, e.g. 10."):
            require_number("kb_per_request", self.kb_per_request, minimum=0, maximum=1_000_000)
        require_choice("db_instance_class", self.db_instance_class, DB_INSTANCE_CLASSES)
        require_bool("multi_az", self.multi_az)
        with _hint("RDS for PostgreSQL General Purpose storage starts at 20 GB."):
            require_number("db_storage_gb", self.db_storage_gb, minimum=20, maximum=65_536)
        require_choice("db_storage_type", self.db_storage_type, DB_STORAGE_TYPES)
        with _hint("Use 0 (public subnets), 1, or one per AZ for high availability."):
            require_number("nat_gateways", self.nat_gateways, minimum=0, maximum=6, integer=True)
        with _hint("Use the GB a month your servers send or fetch through the NAT gateway."):
            require_number("nat_gb_per_month", self.nat_gb_per_month, minimum=0, maximum=1e9)

    @property
    def capacity_rps(self) -> float:
        """Requests per second one instance serves before Auto Scaling adds another."""
        if self.rps_per_instance is not None:
            return float(self.rps_per_instance)
        baseline_vcpu = EC2_INSTANCE_TYPES[self.instance_type][1]
        return baseline_vcpu * 1000.0 / self.cpu_ms_per_request * self.target_cpu_utilization

    def requests_per_instance(self, hours_per_month: float = HOURS_PER_MONTH) -> float:
        """Requests per month one instance absorbs: the width of one Auto Scaling step."""
        return self.capacity_rps * hours_per_month * 3600.0

    def instances(self, requests_per_month: float, hours_per_month: float = HOURS_PER_MONTH) -> int:
        """Instances the Auto Scaling group runs for ``requests_per_month``."""
        requests = _requests("requests_per_month", requests_per_month)
        needed = math.ceil(round(requests / self.requests_per_instance(hours_per_month), 9))
        return max(int(self.min_instances), needed)

    @property
    def label(self) -> str:
        """A one-line description for legends and tables."""
        deployment = "Multi-AZ" if self.multi_az else "Single-AZ"
        return (f"Three-tier: ≥{self.min_instances} × {self.instance_type} (Auto Scaling) + ALB + "
                f"RDS {self.db_instance_class} {deployment}")


@dataclass(frozen=True)
class Serverless:
    """The serverless design of the notes: API Gateway → Lambda → DynamoDB (on-demand).

    Assumptions (every one is a field you can change):

    - Every request is one API Gateway call (``api_type`` "http" for an HTTP API, "rest" for a REST
      API, with AWS's volume tiers) and one Lambda invocation.
    - Lambda: ``lambda_memory_mb`` = 512 MB running ``lambda_duration_ms`` = 100 ms on average,
      ``lambda_architecture`` x86_64 (arm64 duration is 20 % cheaper). GB-seconds = requests ×
      memory/1024 × duration/1000.
    - DynamoDB on-demand: ``read_units_per_request`` = 1 read request unit (one strongly consistent
      read up to 4 KB) and ``write_units_per_request`` = 0.25 write request units (one 1 KB write
      every fourth request); ``dynamodb_storage_gb`` = 20 GB stored.
    - ``include_free_tier`` = False: the always-free Lambda allowance (1M requests and 400,000
      GB-seconds a month, which does not expire) is left out so the comparison shows list prices; set
      it True to subtract it. (DynamoDB's always-free 25 GB is never subtracted here.)
    """

    api_type: str = "http"
    lambda_memory_mb: int = 512
    lambda_duration_ms: float = 100.0
    lambda_architecture: str = "x86_64"
    read_units_per_request: float = 1.0
    write_units_per_request: float = 0.25
    dynamodb_storage_gb: float = 20.0
    include_free_tier: bool = False

    name: ClassVar[str] = "Serverless (API Gateway + Lambda + DynamoDB)"

    def __post_init__(self) -> None:
        require_choice("api_type", self.api_type, API_TYPES)
        with _hint("Lambda memory is a whole number of MB from 128 to 10240, e.g. 512."):
            require_number("lambda_memory_mb", self.lambda_memory_mb, minimum=128, maximum=10_240,
                           integer=True)
        with _hint("Use the average billed duration in milliseconds (1 to 900000, Lambda's 15-minute limit)."):
            require_number("lambda_duration_ms", self.lambda_duration_ms, minimum=1, maximum=900_000)
        require_choice("lambda_architecture", self.lambda_architecture, LAMBDA_ARCHITECTURES)
        with _hint("Use the read request units one request consumes, e.g. 1."):
            require_number("read_units_per_request", self.read_units_per_request, minimum=0, maximum=10_000)
        with _hint("Use the write request units one request consumes, e.g. 0.25."):
            require_number("write_units_per_request", self.write_units_per_request, minimum=0,
                           maximum=10_000)
        with _hint("Use the table size in GB, e.g. 20."):
            require_number("dynamodb_storage_gb", self.dynamodb_storage_gb, minimum=0, maximum=1e9)
        require_bool("include_free_tier", self.include_free_tier)

    @property
    def label(self) -> str:
        """A one-line description for legends and tables."""
        free = ", free tier" if self.include_free_tier else ""
        return (f"Serverless: {self.api_type.upper()} API + Lambda {self.lambda_memory_mb} MB × "
                f"{self.lambda_duration_ms:g} ms ({self.lambda_architecture}) + DynamoDB{free}")


Architecture = ThreeTier | Serverless


# -------------------------------------------------------------------------------- cost breakdown


@dataclass(frozen=True)
class LineItem:
    """One line of a bill: what, how it was computed, and USD per month."""

    name: str
    dollars: float
    detail: str = ""


@dataclass(frozen=True, repr=False)
class CostBreakdown:
    """The monthly bill of one architecture at one traffic level."""

    architecture: str
    label: str
    requests_per_month: float
    items: tuple[LineItem, ...]
    region: str
    prices_as_of: str

    @property
    def total(self) -> float:
        """USD per month, all line items."""
        return sum(item.dollars for item in self.items)

    def __str__(self) -> str:
        return format_breakdown(self)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return format_breakdown_html(self)


def _money(value: float) -> str:
    return f"${value:,.2f}"


def _three_tier_items(arch: ThreeTier, requests: float, t: PriceTable, describe: bool) -> list[LineItem]:
    hours = t.hours_per_month
    rps = requests / (hours * 3600.0)
    n = arch.instances(requests, hours)
    items: list[LineItem] = []

    def add(name: str, dollars: float, detail: str = "") -> None:
        items.append(LineItem(name, dollars, detail if describe else ""))

    ec2 = t.item(EC2_INSTANCE_TYPES[arch.instance_type][0])
    add(f"EC2 {arch.instance_type} × {n}", n * hours * ec2.value,
        f"{n} instances × {hours:g} h × ${ec2.value:g}/h; each serves {arch.capacity_rps:g} req/s, "
        f"minimum {arch.min_instances}")
    ebs = t.item("ebs_gp3_storage")
    gb = n * arch.ebs_gb_per_instance
    add("EBS gp3 root volumes", ebs.cost(gb), f"{n} × {arch.ebs_gb_per_instance:g} GB × ${ebs.value:g}/GB-month")

    alb = t.item("alb_hour")
    add("Application Load Balancer", hours * alb.value, f"{hours:g} h × ${alb.value:g}/h")
    by_connections = rps * arch.new_connections_per_request / ALB_NEW_CONNECTIONS_PER_LCU
    by_bytes = rps * 3600.0 * arch.kb_per_request / 1e6 / ALB_GB_PER_LCU_HOUR
    lcu = max(by_connections, by_bytes)
    lcu_price = t.item("alb_lcu_hour")
    add("ALB capacity units (LCU)", lcu * hours * lcu_price.value,
        f"{lcu:.3g} LCU on average (new connections {by_connections:.3g}, bytes {by_bytes:.3g}) "
        f"× {hours:g} h × ${lcu_price.value:g}/LCU-h")
    ips = arch.alb_availability_zones + arch.nat_gateways
    ipv4 = t.item("public_ipv4_hour")
    add("Public IPv4 addresses", ips * hours * ipv4.value,
        f"{ips} addresses (ALB node per AZ{', NAT gateways' if arch.nat_gateways else ''}) × {hours:g} h "
        f"× ${ipv4.value:g}/h")

    az = "multi_az" if arch.multi_az else "single_az"
    deployment = "Multi-AZ" if arch.multi_az else "Single-AZ"
    db = t.item(f"rds_pg_{arch.db_instance_class.replace('.', '_')}_{az}")
    add(f"RDS PostgreSQL {arch.db_instance_class} {deployment}", hours * db.value,
        f"{hours:g} h × ${db.value:g}/h")
    storage = t.item(f"rds_storage_{arch.db_storage_type}_{az}")
    add(f"RDS storage {arch.db_storage_type}", storage.cost(arch.db_storage_gb),
        f"{arch.db_storage_gb:g} GB × ${storage.value:g}/GB-month ({deployment})")

    if arch.nat_gateways:
        nat = t.item("nat_gateway_hour")
        add(f"NAT gateway × {arch.nat_gateways}", arch.nat_gateways * hours * nat.value,
            f"{arch.nat_gateways} × {hours:g} h × ${nat.value:g}/h")
        nat_gb = t.item("nat_gateway_gb")
        add("NAT gateway data processed", nat_gb.cost(arch.nat_gb_per_month),
            f"{arch.nat_gb_per_month:g} GB × ${nat_gb.value:g}/GB")
    return items


def _serverless_items(arch: Serverless, requests: float, t: PriceTable, describe: bool) -> list[LineItem]:
    items: list[LineItem] = []

    def add(name: str, dollars: float, detail: str = "") -> None:
        items.append(LineItem(name, dollars, detail if describe else ""))

    api = t.item(f"apigw_{arch.api_type}_requests")
    add(f"API Gateway {arch.api_type.upper()} API requests", api.cost(requests),
        f"{requests:,.0f} requests × ${api.value:g} per 1M (volume tiers apply)")

    free_requests = t.value("lambda_free_tier_requests") if arch.include_free_tier else 0.0
    free_gbs = t.value("lambda_free_tier_gb_seconds") if arch.include_free_tier else 0.0
    billable = max(0.0, requests - free_requests)
    lam = t.item("lambda_requests")
    add("Lambda requests", lam.cost(billable),
        f"{billable:,.0f} requests × ${lam.value:g} per 1M"
        + (f" (after {free_requests:,.0f} free)" if arch.include_free_tier else ""))
    gb_seconds = requests * arch.lambda_memory_mb / 1024.0 * arch.lambda_duration_ms / 1000.0
    billable_gbs = max(0.0, gb_seconds - free_gbs)
    duration = t.item(f"lambda_duration_{arch.lambda_architecture}")
    add(f"Lambda compute ({arch.lambda_architecture})", duration.cost(billable_gbs),
        f"{billable_gbs:,.0f} GB-s ({arch.lambda_memory_mb} MB × {arch.lambda_duration_ms:g} ms per request"
        + (f", after {free_gbs:,.0f} free" if arch.include_free_tier else "")
        + f") × ${duration.value:g}/GB-s")

    reads = t.item("dynamodb_read_request_units")
    read_units = requests * arch.read_units_per_request
    add("DynamoDB reads (on-demand)", reads.cost(read_units),
        f"{read_units:,.0f} RRU × ${reads.value:g} per 1M")
    writes = t.item("dynamodb_write_request_units")
    write_units = requests * arch.write_units_per_request
    add("DynamoDB writes (on-demand)", writes.cost(write_units),
        f"{write_units:,.0f} WRU × ${writes.value:g} per 1M")
    storage = t.item("dynamodb_storage")
    add("DynamoDB storage", storage.cost(arch.dynamodb_storage_gb),
        f"{arch.dynamodb_storage_gb:g} GB × ${storage.value:g}/GB-month")
    return items


def _check_arch(name: str, arch: Any, kind: type | tuple[type, ...]) -> None:
    if not isinstance(arch, kind):
        wanted = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise InputError(
            f"{name} must be a {wanted} (e.g. costs.{wanted.split(' or ')[0]}()), got {type(arch).__name__}."
        )


def _items(arch: Architecture, requests: float, table: PriceTable, describe: bool) -> list[LineItem]:
    if isinstance(arch, ThreeTier):
        return _three_tier_items(arch, requests, table, describe)
    return _serverless_items(arch, requests, table, describe)


def _total(arch: Architecture, requests: float, table: PriceTable) -> float:
    return sum(item.dollars for item in _items(arch, requests, table, describe=False))


def monthly_cost(arch: Architecture, requests_per_month: float, prices: PriceTable | None = None) -> CostBreakdown:
    """The monthly bill of ``arch`` (a :class:`ThreeTier` or :class:`Serverless`) at that traffic."""
    _check_arch("arch", arch, (ThreeTier, Serverless))
    requests = _requests("requests_per_month", requests_per_month)
    table = _table(prices)
    return CostBreakdown(
        architecture=arch.name,
        label=arch.label,
        requests_per_month=requests,
        items=tuple(_items(arch, requests, table, describe=True)),
        region=table.region,
        prices_as_of=table.as_of,
    )


def _fmt_requests(value: float) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}"


def format_breakdown(breakdown: CostBreakdown) -> str:
    """A plain-text bill: one line per item, then the total."""
    if not isinstance(breakdown, CostBreakdown):
        raise InputError(
            f"breakdown must be a CostBreakdown from monthly_cost(), got {type(breakdown).__name__}."
        )
    width = max([len(item.name) for item in breakdown.items] + [5])
    lines = [
        f"{breakdown.architecture} at {breakdown.requests_per_month:,.0f} requests/month "
        f"({breakdown.region}, prices as of {breakdown.prices_as_of})"
    ]
    for item in breakdown.items:
        lines.append(f"  {item.name:<{width}}  {_money(item.dollars):>12}")
    lines.append(f"  {'Total':<{width}}  {_money(breakdown.total):>12}")
    return "\n".join(lines)


def format_breakdown_html(breakdown: CostBreakdown) -> str:
    """An HTML table of the bill (line items with how each was computed, and the total)."""
    if not isinstance(breakdown, CostBreakdown):
        raise InputError(
            f"breakdown must be a CostBreakdown from monthly_cost(), got {type(breakdown).__name__}."
        )
    rows = "".join(
        f"<tr><td>{html.escape(item.name)}</td><td style='text-align:right'>{_money(item.dollars)}</td>"
        f"<td><small>{html.escape(item.detail)}</small></td></tr>"
        for item in breakdown.items
    )
    return (
        f"<table><caption>{html.escape(breakdown.label)}: {breakdown.requests_per_month:,.0f} "
        f"requests/month ({html.escape(breakdown.region)}, prices as of "
        f"{html.escape(breakdown.prices_as_of)})</caption>"
        "<thead><tr><th>line item</th><th>USD/month</th><th>how</th></tr></thead>"
        f"<tbody>{rows}<tr><th>Total</th><th style='text-align:right'>{_money(breakdown.total)}</th>"
        "<td></td></tr></tbody></table>"
    )


# ------------------------------------------------------------------------------------ break-even


def _step_points(arch: ThreeTier, low: float, high: float, hours: float) -> list[float]:
    """Traffic levels where Auto Scaling adds an instance, and a point just past each."""
    width = arch.requests_per_instance(hours)
    first = max(int(arch.min_instances), math.ceil(low / width))
    points: list[float] = []
    for k in range(first, int(high // width) + 1):
        edge = k * width
        if low <= edge <= high:
            points += [edge, edge * (1 + 1e-9)]
    return points


def break_even(
    three_tier: ThreeTier | None = None,
    serverless: Serverless | None = None,
    prices: PriceTable | None = None,
) -> float | None:
    """Requests per month at which the serverless design stops being the cheaper one.

    The serverless bill grows with every request; the three-tier bill is mostly fixed and steps up
    each time Auto Scaling adds an instance. The first traffic level in 1e3–1e11 requests/month where
    serverless goes from cheaper to at least as expensive is found by scanning a log grid plus every
    Auto Scaling step, then bisecting inside the continuous stretch where the sign changes. None when
    serverless never becomes the more expensive one in that range (or is never the cheaper one).
    """
    three_tier = ThreeTier() if three_tier is None else three_tier
    serverless = Serverless() if serverless is None else serverless
    _check_arch("three_tier", three_tier, ThreeTier)
    _check_arch("serverless", serverless, Serverless)
    table = _table(prices)
    low, high = BREAK_EVEN_RANGE
    hours = table.hours_per_month

    def diff(requests: float) -> float:
        return _total(serverless, requests, table) - _total(three_tier, requests, table)

    grid = [low * (high / low) ** (i / 2000) for i in range(2001)]
    points = sorted(set(grid + _step_points(three_tier, low, high, hours)))
    a, d_a = points[0], diff(points[0])
    for b in points[1:]:
        d_b = diff(b)
        same_stretch = three_tier.instances(a, hours) == three_tier.instances(b, hours)
        if same_stretch and d_a < 0 <= d_b:
            lo, hi = a, b
            for _ in range(200):
                mid = (lo + hi) / 2
                if diff(mid) < 0:
                    lo = mid
                else:
                    hi = mid
                if hi - lo <= hi * 1e-12:
                    break
            return hi
        a, d_a = b, d_b
    return None


# ------------------------------------------------------------------------------------------ plot


def plot_costs(
    three_tier: ThreeTier | None = None,
    serverless: Serverless | None = None,
    max_requests: float = 1e9,
    ax: Any = None,
    prices: PriceTable | None = None,
    *,
    min_requests: float = 1e3,
    mark_requests: float | None = None,
    yscale: str = "linear",
) -> Any:
    """Monthly cost of both designs against requests per month (log scale), break-even marked.

    Draws on ``ax`` when given (a matplotlib Axes), else on a new figure; returns the Figure. The
    two curves are the only lines on the axes; ``mark_requests`` adds a dot on each curve there;
    ``yscale="log"`` shows small and large bills together.
    """
    from matplotlib.axes import Axes
    from matplotlib.ticker import FuncFormatter

    three_tier = ThreeTier() if three_tier is None else three_tier
    serverless = Serverless() if serverless is None else serverless
    _check_arch("three_tier", three_tier, ThreeTier)
    _check_arch("serverless", serverless, Serverless)
    table = _table(prices)
    with _hint("Pass the plot's lower end as requests per month, e.g. 1e3."):
        require_number("min_requests", min_requests, minimum=1, maximum=1e11)
    with _hint("Pass the plot's upper end as requests per month, e.g. 1e9."):
        require_number("max_requests", max_requests, minimum=1e4, maximum=MAX_REQUESTS_PER_MONTH)
    if max_requests <= min_requests * 10:
        raise InputError(
            f"max_requests ({max_requests:g}) must be at least 10 × min_requests ({min_requests:g}) "
            "for a log-scaled plot: raise max_requests or lower min_requests."
        )
    if mark_requests is not None:
        _requests("mark_requests", mark_requests)
    require_choice("yscale", yscale, ("linear", "log"))
    if ax is not None and not isinstance(ax, Axes):
        raise InputError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}.")

    hours = table.hours_per_month
    xs = [min_requests * (max_requests / min_requests) ** (i / 400) for i in range(401)]
    steps = _step_points(three_tier, min_requests, max_requests, hours)
    if len(steps) <= 10_000:
        xs = sorted(set(xs + steps))
    y_three = [_total(three_tier, x, table) for x in xs]
    y_server = [_total(serverless, x, table) for x in xs]

    if ax is None:
        # Through pyplot so that a notebook's inline backend knows how to display the Figure;
        # closed at once so it is shown once (as the cell's value), not twice.
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(9, 5), dpi=100, layout="constrained")
        plt.close(fig)
        ax = fig.add_subplot()
    ax.plot(xs, y_three, color="#1f77b4", linewidth=2, label=three_tier.label)
    ax.plot(xs, y_server, color="#ff7f0e", linewidth=2, label=serverless.label)
    ax.set_xscale("log")
    ax.set_xlim(min_requests, max_requests)
    if yscale == "log":
        ax.set_yscale("log")
        ax.set_ylim(bottom=max(min(y_three + y_server) * 0.5, 0.01))
    else:
        ax.set_ylim(bottom=0)
    ax.set_xlabel("requests per month (log scale)")
    ax.set_ylabel("USD per month")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"${v:,.0f}"))
    ax.grid(True, which="major", alpha=0.3)
    ax.set_title(f"Monthly cost vs traffic, {table.region} on-demand prices as of {table.as_of}")

    crossing = break_even(three_tier, serverless, table)
    if crossing is not None and min_requests <= crossing <= max_requests:
        cost = _total(serverless, crossing, table)
        ax.scatter([crossing], [cost], color="black", zorder=5, s=30)
        ax.annotate(
            f"break-even ≈ {_fmt_requests(crossing)} requests/month\n"
            f"(≈ {crossing / (hours * 3600):.1f} requests/s, ≈ ${cost:,.0f}/month)",
            xy=(crossing, cost),
            xytext=(-20, 45),
            textcoords="offset points",
            ha="right",
            arrowprops={"arrowstyle": "->", "color": "black"},
        )
    else:
        where = (
            "no break-even between 1e3 and 1e11 requests/month" if crossing is None
            else f"break-even at {_fmt_requests(crossing)} requests/month, outside this plot"
        )
        ax.text(0.02, 0.80, where, transform=ax.transAxes)
    if mark_requests is not None:
        ax.scatter([mark_requests, mark_requests],
                   [_total(three_tier, mark_requests, table), _total(serverless, mark_requests, table)],
                   color=["#1f77b4", "#ff7f0e"], edgecolors="black", zorder=6, s=50)
    ax.legend(loc="upper left", fontsize="small")
    return ax.figure


# -------------------------------------------------------------------------------------- explorer


@dataclass(frozen=True)
class ExplorerResult:
    """What the explorer shows for one set of slider values."""

    three_tier: CostBreakdown
    serverless: CostBreakdown
    break_even: float | None
    figure: Any

    def table_html(self) -> str:
        """Both bills side by side, and the break-even."""
        where = ("no break-even between 1e3 and 1e11 requests/month" if self.break_even is None
                 else f"break-even ≈ {self.break_even:,.0f} requests/month")
        cheaper = "serverless" if self.serverless.total < self.three_tier.total else "three-tier"
        return (
            "<div style='display:flex;gap:2em;flex-wrap:wrap'>"
            f"<div>{format_breakdown_html(self.three_tier)}</div>"
            f"<div>{format_breakdown_html(self.serverless)}</div></div>"
            f"<p>At this traffic the {cheaper} design is cheaper; {html.escape(where)}.</p>"
        )


class CostExplorer:
    """Sliders for traffic and the main design choices, a redrawn plot and both bills.

    :meth:`evaluate` is the callback's logic and works without a browser; :attr:`widget` builds the
    ipywidgets UI (created on first use).
    """

    MEMORY_RANGE = (128, 3008)
    DURATION_RANGE = (1.0, 3000.0)
    REQUESTS_RANGE = (1e3, 1e10)

    def __init__(self, prices: PriceTable | None = None, requests_per_month: float = 1e6) -> None:
        self.prices = _table(prices)
        requests = _requests("requests_per_month", requests_per_month)
        low, high = self.REQUESTS_RANGE
        if not low <= requests <= high:
            raise InputError(
                f"requests_per_month must be between {low:g} and {high:g} for the explorer, "
                f"got {requests:g}: pick a starting value in that range."
            )
        self.requests_per_month = requests
        self._widget: Any = None
        self._controls: dict[str, Any] = {}

    @staticmethod
    def architectures(
        *,
        lambda_memory_mb: int = 512,
        lambda_duration_ms: float = 100.0,
        instance_type: str = "t3.small",
        multi_az: bool = True,
        api_type: str = "http",
    ) -> tuple[ThreeTier, Serverless]:
        """The two designs for these choices. Multi-AZ off means one web server and a Single-AZ RDS."""
        require_bool("multi_az", multi_az)
        three_tier = ThreeTier(instance_type=instance_type, multi_az=multi_az,
                               min_instances=2 if multi_az else 1)
        serverless = Serverless(api_type=api_type, lambda_memory_mb=lambda_memory_mb,
                                lambda_duration_ms=lambda_duration_ms)
        return three_tier, serverless

    def evaluate(
        self,
        requests_per_month: float = 1e6,
        lambda_memory_mb: int = 512,
        lambda_duration_ms: float = 100.0,
        instance_type: str = "t3.small",
        multi_az: bool = True,
        api_type: str = "http",
    ) -> ExplorerResult:
        """Both bills, the break-even and the plot for one set of slider values."""
        requests = _requests("requests_per_month", requests_per_month)
        three_tier, serverless = self.architectures(
            lambda_memory_mb=lambda_memory_mb, lambda_duration_ms=lambda_duration_ms,
            instance_type=instance_type, multi_az=multi_az, api_type=api_type,
        )
        low, high = self.REQUESTS_RANGE
        figure = plot_costs(three_tier, serverless, max_requests=high, prices=self.prices,
                            min_requests=low, mark_requests=min(max(requests, low), high), yscale="log")
        return ExplorerResult(
            three_tier=monthly_cost(three_tier, requests, self.prices),
            serverless=monthly_cost(serverless, requests, self.prices),
            break_even=break_even(three_tier, serverless, self.prices),
            figure=figure,
        )

    @property
    def widget(self) -> Any:
        """The ipywidgets UI (a VBox)."""
        if self._widget is None:
            self._widget = self._build()
        return self._widget

    def _build(self) -> Any:
        import ipywidgets as w

        style = {"description_width": "180px"}
        layout = w.Layout(width="560px")
        c = self._controls
        c["requests_per_month"] = w.FloatLogSlider(
            value=self.requests_per_month, base=10, min=3, max=10, step=0.05,
            description="requests / month", readout_format=".3g", style=style, layout=layout)
        c["lambda_memory_mb"] = w.IntSlider(
            value=512, min=self.MEMORY_RANGE[0], max=self.MEMORY_RANGE[1], step=64,
            description="Lambda memory (MB)", style=style, layout=layout)
        c["lambda_duration_ms"] = w.FloatSlider(
            value=100.0, min=self.DURATION_RANGE[0], max=self.DURATION_RANGE[1], step=1,
            description="Lambda duration (ms)", style=style, layout=layout)
        c["instance_type"] = w.Dropdown(
            options=list(EC2_INSTANCE_TYPES), value="t3.small", description="EC2 instance type",
            style=style)
        c["multi_az"] = w.Checkbox(value=True, description="Multi-AZ (2 web servers + RDS standby)",
                                   style=style, indent=False)
        c["api_type"] = w.ToggleButtons(options=[("HTTP API", "http"), ("REST API", "rest")],
                                        value="http", description="API Gateway", style=style)
        self._image = w.Image(format="png", layout=w.Layout(width="800px"))
        self._table = w.HTML()
        for control in c.values():
            control.observe(self._refresh, names="value")
        self._refresh()
        return w.VBox([*c.values(), self._image, self._table])

    def _refresh(self, change: Any = None) -> ExplorerResult:
        """Widget callback: evaluate the current slider values and redraw."""
        values = {name: control.value for name, control in self._controls.items()}
        result = self.evaluate(**values)
        buffer = io.BytesIO()
        result.figure.savefig(buffer, format="png", metadata={"Software": None})
        self._image.value = buffer.getvalue()
        self._table.value = result.table_html()
        return result

    def __repr__(self) -> str:
        return (f"CostExplorer: three-tier vs serverless monthly cost over traffic "
                f"({self.prices.region}, prices as of {self.prices.as_of})")

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude))
        bundle["text/plain"] = repr(self)
        return bundle


def cost_explorer(prices: PriceTable | None = None, requests_per_month: float = 1e6) -> CostExplorer:
    """An interactive explorer: display it in a notebook to get the sliders, plot and bills."""
    return CostExplorer(prices, requests_per_month)

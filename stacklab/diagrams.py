"""Architecture pictures drawn as code, and a live picture of what the mocked AWS sandbox holds.

The three course diagrams are built with the ``diagrams`` library and rendered by Graphviz ``dot``
into the repository's ``diagrams/`` folder as PNG and self-contained SVG (icons embedded as data URIs,
fixed node ids, no generator comment), so regenerating them gives byte-identical files.

``show(name)`` displays a committed diagram in a lesson; ``live()`` draws the sandbox as it is now.
"""

from __future__ import annotations

import base64
import functools
import html
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diagrams.aws.compute import EC2, EC2AutoScaling, EC2Instance, Lambda
from diagrams.aws.database import (
    RDS,
    Aurora,
    Dynamodb,
    ElasticacheCacheNode,
    ElasticacheForRedis,
    RDSInstance,
)
from diagrams.aws.database import ElastiCache as ElastiCacheIcon
from diagrams.aws.general import Users
from diagrams.aws.integration import Appsync
from diagrams.aws.network import (
    ALB,
    VPC,
    APIGateway,
    CloudFront,
    ElbNetworkLoadBalancer,
    Route53,
    Route53HostedZone,
)
from diagrams.aws.security import (
    Cognito,
    IdentityAndAccessManagementIamDataEncryptionKey,
)
from diagrams.aws.storage import S3, SimpleStorageServiceS3Bucket

import diagrams as _diagrams_lib
from diagrams import Cluster, Diagram, Edge
from stacklab._validate import require_choice, require_number, require_str
from stacklab.errors import InputError, SandboxNotStartedError, StackLabError

__all__ = [
    "ALT_TEXT",
    "DIAGRAMS",
    "DIAGRAMS_DIR",
    "FORMATS",
    "LIVE_LIMIT",
    "REFERENCE_GRAPHVIZ",
    "check_current",
    "dot_source",
    "graphviz_version",
    "live",
    "main_diagrams",
    "render",
    "render_all",
    "show",
]

#: Where the committed pictures live: ``<repository>/diagrams``.
DIAGRAMS_DIR = Path(__file__).resolve().parent.parent / "diagrams"
#: The formats rendered for every diagram.
FORMATS: tuple[str, ...] = ("png", "svg")
#: The Graphviz version the committed files were rendered with (Debian 12 ``graphviz``). Other
#: versions lay graphs out slightly differently, so their files differ byte for byte.
REFERENCE_GRAPHVIZ = "2.43.0"

_NO_DOT = (
    "Graphviz `dot` was not found on PATH, and the diagrams need it to render. "
    "`make lab` installs it for you; or install it yourself with `sudo apt-get install -y graphviz` "
    "(Debian/Ubuntu), `brew install graphviz` (macOS) or `conda install graphviz`, then run this again."
)

# Shared look: readable labels, room between ranks for edge labels, a title on top.
_GRAPH = {
    "pad": "0.4",
    "splines": "spline",
    "nodesep": "0.7",
    "ranksep": "1.1",
    "fontsize": "22",
    "labelloc": "t",
    "compound": "true",
}
_STEP = {"fontsize": "13", "fontcolor": "#1A4F8B", "color": "#4A6785", "penwidth": "1.6"}
_SIDE = {"fontsize": "12", "fontcolor": "#55606B", "style": "dashed"}
_BAD = {"fontsize": "12", "fontcolor": "#B03A2E", "color": "#B03A2E", "style": "dashed"}


# ---------------------------------------------------------------- drawing helpers


@contextmanager
def _drawing(
    title: str, *, direction: str = "LR", graph_attr: dict[str, str] | None = None
) -> Iterator[Diagram]:
    """Open a ``diagrams`` drawing context without letting the library render or write files."""
    attrs = dict(_GRAPH)
    attrs.update(graph_attr or {})
    diagram = Diagram(title, filename="stacklab", direction=direction, show=False, graph_attr=attrs)
    diagram.dot.graph_attr["splines"] = attrs["splines"]  # the library only knows ortho/curved
    previous_diagram = _diagrams_lib.getdiagram()
    previous_cluster = _diagrams_lib.getcluster()
    _diagrams_lib.setdiagram(diagram)
    _diagrams_lib.setcluster(None)
    try:
        yield diagram
    finally:
        _diagrams_lib.setdiagram(previous_diagram)
        _diagrams_lib.setcluster(previous_cluster)


def _step(text: str, **attrs: str) -> Edge:
    return Edge(label=text, **{**_STEP, **attrs})


def _side(text: str = "", **attrs: str) -> Edge:
    return Edge(label=text, **{**_SIDE, **attrs})


# ---------------------------------------------------------------- the course diagrams


def three_tier_web_infrastructure() -> Diagram:
    """The traditional three-tier web architecture, numbered like the notes' System Overview."""
    with _drawing(
        "Three-tier web infrastructure on AWS (EC2-based)", direction="TB", graph_attr={"nodesep": "1.0"}
    ) as d:
        users = Users("Users", nodeid="users")
        with Cluster("AWS Cloud", graph_attr={"fontsize": "14"}):
            dns = Route53("Route 53\n(DNS)", nodeid="route53")
            cdn = CloudFront("CloudFront\n(edge locations)", nodeid="cloudfront")
            static = S3("S3\n(static resources)", nodeid="s3")
            with Cluster("VPC", graph_attr={"fontsize": "14"}):
                alb = ALB("4  Elastic Load\nBalancing (ALB)", nodeid="alb")
                asg = EC2AutoScaling("6  Auto Scaling group\n(scales servers\nin both AZs)", nodeid="asg")
                with Cluster("Availability Zone A", graph_attr={"fontsize": "14"}):
                    web_a = EC2("5  EC2 web/app\nserver (from AMI)", nodeid="ec2_a")
                    db_a = RDS("7  RDS primary", nodeid="rds_primary")
                with Cluster("Availability Zone B", graph_attr={"fontsize": "14"}):
                    web_b = EC2("5  EC2 web/app\nserver (from AMI)", nodeid="ec2_b")
                    db_b = RDS("7  RDS standby", nodeid="rds_standby")
        users >> _step("1  DNS query") >> dns
        users >> _step("2  static, streaming\nand dynamic content") >> cdn
        cdn >> _step("3  static resources") >> static
        cdn >> _step("4  HTTP requests") >> alb
        alb >> _step("4  spread across AZs") >> web_a
        alb >> _step("4") >> web_b
        asg >> _side(constraint="false") >> web_a
        asg >> _side(constraint="false") >> web_b
        web_a >> _step("7  SQL") >> db_a
        web_b >> _step("7  SQL") >> db_a
        web_b >> Edge(style="invis") >> db_b
        db_a >> _side("7  synchronous\nreplication", constraint="false") >> db_b
    return d


def serverless_web_application() -> Diagram:
    """The serverless web application, grouped by the notes' layers table."""
    with _drawing("Serverless web application on AWS") as d:
        users = Users("Users\n(browser / app)", nodeid="users")
        with Cluster("Presentation", graph_attr={"fontsize": "15"}):
            dns = Route53("Route 53\n(DNS)", nodeid="route53")
            cdn = CloudFront("CloudFront\n(CDN)", nodeid="cloudfront")
            site = S3("S3\n(static website)", nodeid="s3")
        with Cluster("Auth", graph_attr={"fontsize": "15"}):
            pool = Cognito("Cognito\nuser pool", nodeid="cognito")
        with Cluster("Application / API", graph_attr={"fontsize": "15"}):
            api = APIGateway("API Gateway\n(REST / HTTP)", nodeid="apigateway")
            graphql = Appsync("AppSync\n(GraphQL)", nodeid="appsync")
            fn = Lambda("Lambda\nfunctions", nodeid="lambda")
        with Cluster("Data", graph_attr={"fontsize": "15"}):
            cache = ElastiCacheIcon("ElastiCache\n(cache)", nodeid="elasticache")
            table = Dynamodb("DynamoDB", nodeid="dynamodb")
            sql = Aurora("Aurora\nServerless", nodeid="aurora")
        users >> _step("DNS") >> dns
        users >> _step("HTTPS: pages, JS, CSS") >> cdn
        cdn >> _step("origin") >> site
        users >> _step("sign in, get tokens") >> pool
        users >> _step("REST calls + JWT") >> api
        users >> _step("GraphQL + JWT") >> graphql
        api >> _side("checks tokens") >> pool
        graphql >> _side("auth mode") >> pool
        api >> _step("invoke") >> fn
        graphql >> _step("resolver") >> fn
        graphql >> _step("resolver") >> table
        fn >> _step("1  read the\ncache first") >> cache
        fn >> _step("2  on a miss:\nSQL") >> sql
        fn >> _step("items") >> table
        cache >> Edge(style="invis") >> sql
        dns >> _side("alias", constraint="false") >> cdn
    return d


def jwt_validation_via_api_gateway() -> Diagram:
    """A Lambda authorizer validating a JWT in front of an API Gateway backend."""
    with _drawing("JWT validation with an API Gateway Lambda authorizer") as d:
        client = Users("Client\n(browser / app)", nodeid="client")
        with Cluster("API", graph_attr={"fontsize": "14"}):
            api = APIGateway("API Gateway\n7  caches the policy\nfor the TTL", nodeid="apigateway")
            authorizer = Lambda("Lambda authorizer\nchecks signature,\niss, aud, exp", nodeid="authorizer")
            backend = Lambda("Backend Lambda", nodeid="backend")
        with Cluster(
            "Identity provider: Cognito user pool or a 3rd-party IdP", graph_attr={"fontsize": "14"}
        ):
            idp = Cognito("Sign-in\n(issues JWTs)", nodeid="idp")
            jwks = IdentityAndAccessManagementIamDataEncryptionKey(
                "JWKS endpoint\n(public signing keys)", nodeid="jwks"
            )
        # Replies are drawn as edges pointing back (client << ... << idp) so they run beside their request.
        client >> _step("1  sign in") >> idp
        client << _step("2  JWT") << idp
        client >> _step("3  request with\nAuthorization: Bearer <JWT>") >> api
        (
            client
            << Edge(
                label="8  401 Unauthorized (no / invalid token)\n403 Forbidden (Deny)", headport="w", **_BAD
            )
            << api
        )
        api >> _step("4  token") >> authorizer
        api << _step("6  IAM policy\n(Allow / Deny)\n+ context") << authorizer
        authorizer >> _step("5  fetch JWKS\n(cache it)", constraint="false") >> jwks
        idp >> Edge(style="invis") >> jwks
        api >> _step("8  Allow: invoke\nwith context", minlen="2") >> backend
    return d


#: The course diagrams: file name (without extension) -> function building the drawing.
DIAGRAMS: dict[str, Callable[[], Diagram]] = {
    "three-tier-web-infrastructure-architecture": three_tier_web_infrastructure,
    "serverless-web-application-architecture": serverless_web_application,
    "jwt-validation-via-api-gateway-auth": jwt_validation_via_api_gateway,
}

#: Alt text for each diagram, for lessons and the README.
ALT_TEXT: dict[str, str] = {
    "three-tier-web-infrastructure-architecture": (
        "Users resolve the site with Route 53 (1) and fetch content from CloudFront (2), which serves "
        "static resources from S3 (3) and forwards HTTP requests to an Application Load Balancer (4). "
        "The load balancer spreads them over EC2 web/app servers built from an AMI (5) in an Auto Scaling "
        "group across Availability Zones A and B (6); the servers use an RDS Multi-AZ database, primary in "
        "AZ A with a synchronous standby in AZ B (7)."
    ),
    "serverless-web-application-architecture": (
        "Users resolve the domain with Route 53 and load the static site from S3 through CloudFront "
        "(presentation layer); they sign in with a Cognito user pool (auth layer) and call API Gateway or "
        "AppSync with the token (application/API layer); API Gateway invokes Lambda functions and AppSync "
        "resolvers use Lambda or DynamoDB; the functions read ElastiCache first and store data in DynamoDB "
        "and Aurora Serverless (data layer)."
    ),
    "jwt-validation-via-api-gateway-auth": (
        "The client signs in with Cognito or a third-party identity provider and gets a JWT (1, 2), then "
        "calls API Gateway with Authorization: Bearer <JWT> (3). API Gateway passes the token to a Lambda "
        "authorizer (4), which fetches the provider's JWKS and checks the signature, issuer, audience and "
        "expiry (5), and returns an IAM policy, Allow or Deny, with context (6). API Gateway caches the "
        "policy for the TTL (7) and invokes the backend Lambda, or answers 401 or 403 (8)."
    ),
}


# ---------------------------------------------------------------- rendering


def _dot_executable() -> str:
    path = shutil.which("dot")
    if path is None:
        raise StackLabError(_NO_DOT)
    return path


def _run_dot(source: str, fmt: str) -> bytes:
    """Render DOT ``source`` to ``fmt`` with Graphviz, in memory (no files in the cwd)."""
    dot = _dot_executable()
    try:
        proc = subprocess.run(
            [dot, f"-T{fmt}"],
            input=source.encode("utf-8"),
            capture_output=True,
            timeout=120,
            check=False,
            cwd=tempfile.gettempdir(),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise StackLabError(f"Graphviz `dot` could not run ({exc}). {_NO_DOT}") from exc
    if proc.returncode != 0 or not proc.stdout:
        detail = proc.stderr.decode("utf-8", "replace").strip()[-500:]
        raise StackLabError(
            f"Graphviz `dot` failed to render {fmt.upper()} (exit {proc.returncode}): {detail}. "
            "Check that `dot -V` works; reinstall Graphviz if it does not."
        )
    return proc.stdout


_GENERATOR = re.compile(r"<!-- Generated by graphviz[^>]*-->\n")
_HREF = re.compile(r'(xlink:href|href)="([^"]*)"')


@functools.lru_cache(maxsize=256)
def _data_uri(path: str) -> str:
    data = Path(path).read_bytes()
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _self_contained_svg(svg: bytes) -> bytes:
    """Embed every linked icon as a data URI and drop the generator comment."""
    text = _GENERATOR.sub("", svg.decode("utf-8"))

    def embed(match: re.Match[str]) -> str:
        attr, target = match.groups()
        if target.startswith(("data:", "#")) or "://" in target:
            return match.group(0)
        path = Path(html.unescape(target))
        if not path.is_file():
            raise StackLabError(
                f"An icon the SVG links to is missing: {path}. Reinstall the `diagrams` package "
                "(`pip install --force-reinstall 'diagrams<0.26'`) and render again."
            )
        return f'{attr}="{_data_uri(str(path))}"'

    text = _HREF.sub(embed, text)
    return text.encode("utf-8")


def _render_bytes(source: str, fmt: str) -> bytes:
    data = _run_dot(source, fmt)
    return _self_contained_svg(data) if fmt == "svg" else data


def dot_source(name: str) -> str:
    """Return the Graphviz DOT source of the course diagram ``name``."""
    return DIAGRAMS[_check_name(name)]().dot.source


def _check_name(name: Any) -> str:
    require_str("name", name)
    if name not in DIAGRAMS:
        listed = ", ".join(repr(n) for n in DIAGRAMS)
        raise InputError(f"There is no diagram called {name!r}. Pass one of: {listed}.")
    return name


def _check_formats(formats: Any) -> tuple[str, ...]:
    if isinstance(formats, str):
        formats = (formats,)
    if not isinstance(formats, Iterable):
        raise InputError(f"formats must be a sequence such as ('png', 'svg'), got {formats!r}.")
    chosen = tuple(formats)
    if not chosen:
        raise InputError("formats must not be empty: pass ('png',), ('svg',) or ('png', 'svg').")
    for fmt in chosen:
        require_choice("each format", fmt, FORMATS)
    return tuple(dict.fromkeys(chosen))


def _check_out_dir(out_dir: Any) -> Path:
    if out_dir is None:
        return DIAGRAMS_DIR
    if not isinstance(out_dir, (str, os.PathLike)):
        raise InputError(
            f"out_dir must be a folder path (str or Path) or None, got {type(out_dir).__name__}."
        )
    path = Path(out_dir)
    if str(out_dir).strip() == "":
        raise InputError(
            "out_dir must not be empty: pass a folder path, or None for the repository's diagrams/."
        )
    if path.exists() and not path.is_dir():
        raise InputError(f"out_dir {str(path)!r} is a file, not a folder: pass a folder path.")
    return path


def _install(outputs: dict[str, bytes], target: Path) -> list[Path]:
    """Write ``outputs`` into a temporary folder inside ``target``, then move them into place."""
    try:
        target.mkdir(parents=True, exist_ok=True)
        placed: list[Path] = []
        with tempfile.TemporaryDirectory(dir=target, prefix=".stacklab-render-") as tmp:
            for filename, data in outputs.items():
                final = target / filename
                if final.is_file() and final.read_bytes() == data:
                    placed.append(final)
                    continue
                staged = Path(tmp) / filename
                staged.write_bytes(data)
                os.replace(staged, final)
                placed.append(final)
        return placed
    except OSError as exc:
        raise StackLabError(
            f"Could not write the diagrams into {target}: {exc}. Pass a writable out_dir."
        ) from exc


def render(name: str, out_dir: str | Path | None = None, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Render the course diagram ``name`` into ``out_dir`` (default: the repository's ``diagrams/``).

    Returns the written paths, one per format. Raises InputError for an unknown name or format and
    StackLabError when Graphviz ``dot`` is missing.
    """
    name = _check_name(name)
    chosen = _check_formats(formats)
    target = _check_out_dir(out_dir)
    source = dot_source(name)
    outputs = {f"{name}.{fmt}": _render_bytes(source, fmt) for fmt in chosen}
    return _install(outputs, target)


def render_all(out_dir: str | Path | None = None) -> list[Path]:
    """Render every course diagram as PNG and SVG into ``out_dir`` (default: ``diagrams/``)."""
    target = _check_out_dir(out_dir)
    paths: list[Path] = []
    for name in DIAGRAMS:
        paths.extend(render(name, target))
    return paths


def check_current(out_dir: str | Path | None = None) -> list[str]:
    """Render every diagram in memory and return the file names that differ from those in ``out_dir``.

    An empty list means the committed files are current. Missing files count as different.
    """
    target = _check_out_dir(out_dir)
    stale: list[str] = []
    for name in DIAGRAMS:
        source = dot_source(name)
        for fmt in FORMATS:
            filename = f"{name}.{fmt}"
            path = target / filename
            fresh = _render_bytes(source, fmt)
            if not path.is_file() or path.read_bytes() != fresh:
                stale.append(filename)
    return sorted(stale)


def graphviz_version() -> str:
    """Return the installed Graphviz version, e.g. ``'2.43.0'``."""
    dot = _dot_executable()
    try:
        proc = subprocess.run([dot, "-V"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise StackLabError(f"Graphviz `dot` could not run ({exc}). {_NO_DOT}") from exc
    match = re.search(r"version (\S+)", proc.stderr.decode("utf-8", "replace") + proc.stdout.decode())
    if match is None:
        raise StackLabError("`dot -V` did not print a version. Reinstall Graphviz.")
    return match.group(1)


def main_diagrams() -> int:
    """Command-line entry: render every diagram into ``diagrams/`` and print the paths; returns an exit code."""
    try:
        paths = render_all()
    except StackLabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    return 0


# ---------------------------------------------------------------- display objects


@functools.cache
def _picture_class() -> type:
    from IPython.display import Image

    class DiagramPicture(Image):
        """A PNG for notebooks whose text form is a fixed one-line summary (stable for nbval)."""

        def __init__(
            self, *, text: str, source: str = "", counts: dict[str, int] | None = None, **kwargs: Any
        ):
            super().__init__(**kwargs)
            self.text = text
            self.source = source
            self.counts = dict(counts or {})

        def __repr__(self) -> str:
            return self.text

        def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
            printer.text(self.text)

    return DiagramPicture


def show(name: str, width: int | None = None) -> Any:
    """Return a display object (PNG) of the committed diagram ``name`` for a lesson cell.

    Its text form is ``<diagram: NAME>``. ``width`` sets the display width in pixels.
    """
    name = _check_name(name)
    if width is not None:
        require_number("width", width, minimum=50, maximum=4000, integer=True)
    path = DIAGRAMS_DIR / f"{name}.png"
    if not path.is_file():
        raise StackLabError(
            f"The rendered diagram {path} is missing. Run `python -m stacklab diagrams` to render it."
        )
    return _picture_class()(
        text=f"<diagram: {name}>",
        source="",
        filename=str(path),
        width=width,
        alt=ALT_TEXT[name],
    )


# ---------------------------------------------------------------- live picture of the sandbox

#: Largest number of resources of one kind drawn; the rest become a "+N more" node.
LIVE_LIMIT = 12


@dataclass(frozen=True)
class _Kind:
    key: str
    singular: str
    plural: str
    layer: str
    icon: Callable[..., Any]


_KINDS: tuple[_Kind, ...] = (
    _Kind("bucket", "bucket", "buckets", "Presentation", SimpleStorageServiceS3Bucket),
    _Kind("distribution", "distribution", "distributions", "Presentation", CloudFront),
    _Kind("zone", "hosted zone", "hosted zones", "Presentation", Route53HostedZone),
    _Kind("rest_api", "REST API", "REST APIs", "Application / API", APIGateway),
    _Kind("http_api", "HTTP/WebSocket API", "HTTP/WebSocket APIs", "Application / API", APIGateway),
    _Kind("graphql_api", "AppSync API", "AppSync APIs", "Application / API", Appsync),
    _Kind("function", "function", "functions", "Application / API", Lambda),
    _Kind("table", "table", "tables", "Data", Dynamodb),
    _Kind("db_cluster", "DB cluster", "DB clusters", "Data", Aurora),
    _Kind("db_instance", "DB instance", "DB instances", "Data", RDSInstance),
    _Kind("replication_group", "replication group", "replication groups", "Data", ElasticacheForRedis),
    _Kind("cache_cluster", "cache cluster", "cache clusters", "Data", ElasticacheCacheNode),
    _Kind("user_pool", "user pool", "user pools", "Auth", Cognito),
    _Kind("vpc", "VPC", "VPCs", "Network and compute", VPC),
    _Kind("load_balancer", "load balancer", "load balancers", "Network and compute", ALB),
    _Kind(
        "auto_scaling_group",
        "Auto Scaling group",
        "Auto Scaling groups",
        "Network and compute",
        EC2AutoScaling,
    ),
    _Kind("instance", "EC2 instance", "EC2 instances", "Network and compute", EC2Instance),
)
_KIND = {kind.key: kind for kind in _KINDS}
_LAYERS = ("Presentation", "Auth", "Application / API", "Data", "Network and compute")


@dataclass
class _Item:
    key: str
    label: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Inventory:
    items: dict[str, list[_Item]] = field(default_factory=dict)
    # (kind, key, kind, key) -> edge label
    edges: dict[tuple[str, str, str, str], list[str]] = field(default_factory=dict)

    def add(self, kind: str, items: Iterable[_Item]) -> None:
        self.items[kind] = sorted(items, key=lambda item: (item.key.lower(), item.key))

    def keys(self, kind: str) -> set[str]:
        return {item.key for item in self.items.get(kind, [])}

    def link(self, a: tuple[str, str], b: tuple[str, str], label: str = "") -> None:
        labels = self.edges.setdefault((a[0], a[1], b[0], b[1]), [])
        if label and label not in labels:
            labels.append(label)


def _line(text: Any, limit: int = 26) -> str:
    value = str(text).replace("\\", "/").replace("\n", " ").strip()
    return value if len(value) <= limit else value[: limit - 3] + "..."


def _label(*lines: Any) -> str:
    shown = [_line(line) for line in lines if line not in (None, "")]
    text = "\n".join(shown) or "?"
    return " " + text if text.startswith("<") else text


def _tag(tags: Any, key: str = "Name") -> str:
    for tag in tags or []:
        if tag.get("Key") == key:
            return str(tag.get("Value", ""))
    return ""


def _pages(client: Any, operation: str, result_key: str, **kwargs: Any) -> list[Any]:
    """All items of a listing call, through its paginator when there is one (bounded)."""
    if client.can_paginate(operation):
        found: list[Any] = []
        pages = client.get_paginator(operation).paginate(**kwargs, PaginationConfig={"MaxItems": 1000})
        for page in pages:
            found.extend(page.get(result_key) or [])
        return found
    return list(getattr(client, operation)(**kwargs).get(result_key) or [])


_LAMBDA_ARN = re.compile(r"arn:aws[\w-]*:lambda:[\w-]+:\d{12}:function:([A-Za-z0-9_-]+)")


def _function_name(uri: Any) -> str | None:
    match = _LAMBDA_ARN.search(str(uri or ""))
    return match.group(1) if match else None


def _collect_s3(client: Any, inv: _Inventory) -> None:
    buckets = client.list_buckets().get("Buckets") or []
    inv.add("bucket", [_Item(b["Name"], _label(b["Name"])) for b in buckets])


def _collect_cloudfront(client: Any, inv: _Inventory) -> None:
    items: list[_Item] = []
    for page in client.get_paginator("list_distributions").paginate(PaginationConfig={"MaxItems": 1000}):
        for dist in (page.get("DistributionList") or {}).get("Items") or []:
            items.append(_dist_item(dist))
    inv.add("distribution", items)


def _dist_item(dist: dict[str, Any]) -> _Item:
    aliases = (dist.get("Aliases") or {}).get("Items") or []
    origins = [o.get("DomainName", "") for o in (dist.get("Origins") or {}).get("Items") or []]
    name = str(aliases[0] if aliases else dist.get("DomainName", ""))
    host, dot, rest = name.partition(".")
    lines = [host, dot + rest] if len(name) > 22 and rest else [name]  # d123.cloudfront.net on two lines
    return _Item(
        dist["Id"], _label(dist["Id"], *lines), {"domain": dist.get("DomainName", ""), "origins": origins}
    )


def _collect_route53(client: Any, inv: _Inventory) -> None:
    zones = _pages(client, "list_hosted_zones", "HostedZones")
    items: list[_Item] = []
    for zone in zones:
        name = zone["Name"].rstrip(".")
        private = (zone.get("Config") or {}).get("PrivateZone")
        items.append(_Item(zone["Id"], _label(name, "private zone" if private else ""), {"id": zone["Id"]}))
    items.sort(key=lambda item: (item.label.lower(), item.key))
    for item in items[:LIVE_LIMIT]:
        try:
            records = _pages(client, "list_resource_record_sets", "ResourceRecordSets", HostedZoneId=item.key)
        except Exception as exc:  # noqa: BLE001 - a failing call only hides these edges
            _reraise_own(exc)
            records = []
        item.meta["aliases"] = [
            (
                r.get("Name", "").rstrip("."),
                (r.get("AliasTarget") or {}).get("DNSName", "").rstrip(".").lower(),
            )
            for r in records
            if r.get("AliasTarget")
        ]
    inv.items["zone"] = items


def _collect_apigateway(client: Any, inv: _Inventory) -> None:
    apis = _pages(client, "get_rest_apis", "items")
    items = [_Item(a["id"], _label(a.get("name", a["id"]), f"REST · {a['id']}")) for a in apis]
    inv.add("rest_api", items)
    for item in inv.items["rest_api"][:LIVE_LIMIT]:
        routes: list[tuple[str, str]] = []
        try:
            resources = _pages(client, "get_resources", "items", restApiId=item.key, embed=["methods"])
        except Exception as exc:  # noqa: BLE001
            _reraise_own(exc)
            resources = []
        for resource in resources:
            for method, spec in sorted((resource.get("resourceMethods") or {}).items()):
                integration = (spec or {}).get("methodIntegration") or {}
                fn = _function_name(integration.get("uri"))
                if fn and integration.get("type") in ("AWS_PROXY", "AWS"):
                    routes.append((fn, f"{method} {resource.get('path', '')}"))
        item.meta["routes"] = routes
        try:
            authorizers = _pages(client, "get_authorizers", "items", restApiId=item.key)
        except Exception as exc:  # noqa: BLE001
            _reraise_own(exc)
            authorizers = []
        item.meta["authorizers"] = [
            (a.get("type", ""), a.get("authorizerUri", ""), list(a.get("providerARNs") or []))
            for a in authorizers
        ]


def _collect_apigatewayv2(client: Any, inv: _Inventory) -> None:
    apis = _pages(client, "get_apis", "Items")
    items = [
        _Item(
            a["ApiId"], _label(a.get("Name", a["ApiId"]), f"{a.get('ProtocolType', 'HTTP')} · {a['ApiId']}")
        )
        for a in apis
    ]
    inv.add("http_api", items)
    for item in inv.items["http_api"][:LIVE_LIMIT]:
        try:
            integrations = _pages(client, "get_integrations", "Items", ApiId=item.key)
        except Exception as exc:  # noqa: BLE001
            _reraise_own(exc)
            integrations = []
        item.meta["functions"] = [_function_name(i.get("IntegrationUri")) for i in integrations]
        authorizers = _v2_authorizers(client, item.key)
        item.meta["authorizers"] = [
            (
                a.get("AuthorizerType", ""),
                a.get("AuthorizerUri", ""),
                ((a.get("JwtConfiguration") or {}).get("Issuer") or ""),
            )
            for a in authorizers
        ]


def _v2_authorizers(client: Any, api_id: str) -> list[dict[str, Any]]:
    """The authorizers of an HTTP/WebSocket API; through its routes when GetAuthorizers is missing (moto)."""
    try:
        return _pages(client, "get_authorizers", "Items", ApiId=api_id)
    except Exception as exc:  # noqa: BLE001
        _reraise_own(exc)
    found: list[dict[str, Any]] = []
    try:
        routes = _pages(client, "get_routes", "Items", ApiId=api_id)
        for authorizer_id in sorted({r["AuthorizerId"] for r in routes if r.get("AuthorizerId")})[
            :LIVE_LIMIT
        ]:
            found.append(client.get_authorizer(ApiId=api_id, AuthorizerId=authorizer_id))
    except Exception as exc:  # noqa: BLE001
        _reraise_own(exc)
    return found


def _collect_appsync(client: Any, inv: _Inventory) -> None:
    apis = _pages(client, "list_graphql_apis", "graphqlApis")
    items = [_Item(a["apiId"], _label(a.get("name", a["apiId"]), "GraphQL"), {"api": a}) for a in apis]
    inv.add("graphql_api", items)
    for item in inv.items["graphql_api"][:LIVE_LIMIT]:
        try:
            sources = _pages(client, "list_data_sources", "dataSources", apiId=item.key)
        except Exception as exc:  # noqa: BLE001
            _reraise_own(exc)
            sources = []
        item.meta["sources"] = sources


def _collect_lambda(client: Any, inv: _Inventory) -> None:
    functions = _pages(client, "list_functions", "Functions")
    inv.add(
        "function",
        [
            _Item(
                f["FunctionName"],
                _label(f["FunctionName"], f.get("Runtime") or f.get("PackageType", "")),
                {"env": sorted(((f.get("Environment") or {}).get("Variables") or {}).items())},
            )
            for f in functions
        ],
    )


def _collect_dynamodb(client: Any, inv: _Inventory) -> None:
    tables = _pages(client, "list_tables", "TableNames")
    inv.add("table", [_Item(t, _label(t)) for t in tables])


def _collect_rds(client: Any, inv: _Inventory) -> None:
    clusters = _pages(client, "describe_db_clusters", "DBClusters")
    cluster_items = []
    for c in clusters:
        engine = c.get("Engine", "")
        mode = ""
        if c.get("ServerlessV2ScalingConfiguration"):
            mode = "Serverless v2"
        elif c.get("EngineMode") == "serverless":
            mode = "Serverless v1"
        members = [m.get("DBInstanceIdentifier") for m in c.get("DBClusterMembers") or []]
        cluster_items.append(
            _Item(
                c["DBClusterIdentifier"], _label(c["DBClusterIdentifier"], engine, mode), {"members": members}
            )
        )
    inv.add("db_cluster", cluster_items)
    instances = _pages(client, "describe_db_instances", "DBInstances")
    inv.add(
        "db_instance",
        [
            _Item(
                i["DBInstanceIdentifier"],
                _label(i["DBInstanceIdentifier"], i.get("Engine", ""), i.get("DBInstanceClass", "")),
                {"az": i.get("AvailabilityZone", ""), "multi_az": bool(i.get("MultiAZ"))},
            )
            for i in instances
        ],
    )


def _collect_elasticache(client: Any, inv: _Inventory) -> None:
    groups = _pages(client, "describe_replication_groups", "ReplicationGroups")
    inv.add(
        "replication_group",
        [
            _Item(
                g["ReplicationGroupId"],
                _label(g["ReplicationGroupId"], g.get("Engine") or "redis"),
                {"members": list(g.get("MemberClusters") or [])},
            )
            for g in groups
        ],
    )
    clusters = _pages(client, "describe_cache_clusters", "CacheClusters")
    inv.add(
        "cache_cluster",
        [
            _Item(
                c["CacheClusterId"],
                _label(c["CacheClusterId"], f"{c.get('Engine', '')} · {c.get('NumCacheNodes', 1)} node(s)"),
            )
            for c in clusters
        ],
    )


def _collect_cognito(client: Any, inv: _Inventory) -> None:
    pools = _pages(client, "list_user_pools", "UserPools", MaxResults=60)
    inv.add("user_pool", [_Item(p["Id"], _label(p.get("Name", p["Id"]), p["Id"])) for p in pools])


def _collect_ec2(client: Any, inv: _Inventory) -> None:
    vpcs = _pages(client, "describe_vpcs", "Vpcs")
    subnets = _pages(client, "describe_subnets", "Subnets")
    inv.items["_subnets"] = [_Item(s["SubnetId"], "", {"vpc": s.get("VpcId", "")}) for s in subnets]
    inv.items["_vpcs"] = [
        _Item(
            v["VpcId"],
            _label(_tag(v.get("Tags")) or v["VpcId"], v.get("CidrBlock", "")),
            {"default": bool(v.get("IsDefault"))},
        )
        for v in vpcs
    ]
    inv.add("vpc", [item for item in inv.items["_vpcs"] if not item.meta["default"]])
    reservations = _pages(client, "describe_instances", "Reservations")
    instances = []
    for reservation in reservations:
        for i in reservation.get("Instances") or []:
            if (i.get("State") or {}).get("Name") in ("terminated", "shutting-down"):
                continue
            instances.append(
                _Item(
                    i["InstanceId"],
                    _label(_tag(i.get("Tags")) or i["InstanceId"], i.get("InstanceType", "")),
                    {"vpc": i.get("VpcId", "")},
                )
            )
    inv.add("instance", instances)


def _collect_elbv2(client: Any, inv: _Inventory) -> None:
    lbs = _pages(client, "describe_load_balancers", "LoadBalancers")
    inv.add(
        "load_balancer",
        [
            _Item(
                lb["LoadBalancerArn"],
                _label(lb.get("LoadBalancerName", ""), f"{lb.get('Type', 'application')} LB"),
                {
                    "vpc": lb.get("VpcId", ""),
                    "dns": lb.get("DNSName", "").lower(),
                    "type": lb.get("Type", ""),
                },
            )
            for lb in lbs
        ],
    )
    groups = _pages(client, "describe_target_groups", "TargetGroups")
    targets: dict[str, list[str]] = {}
    for group in groups[:LIVE_LIMIT]:
        try:
            health = client.describe_target_health(TargetGroupArn=group["TargetGroupArn"])
        except Exception as exc:  # noqa: BLE001
            _reraise_own(exc)
            health = {}
        targets[group["TargetGroupArn"]] = [
            d["Target"]["Id"] for d in health.get("TargetHealthDescriptions") or [] if d.get("Target")
        ]
    inv.items["_target_groups"] = [
        _Item(
            g["TargetGroupArn"],
            "",
            {"lbs": list(g.get("LoadBalancerArns") or []), "targets": targets.get(g["TargetGroupArn"], [])},
        )
        for g in groups
    ]


def _collect_autoscaling(client: Any, inv: _Inventory) -> None:
    groups = _pages(client, "describe_auto_scaling_groups", "AutoScalingGroups")
    inv.add(
        "auto_scaling_group",
        [
            _Item(
                g["AutoScalingGroupName"],
                _label(
                    g["AutoScalingGroupName"],
                    f"min {g.get('MinSize')} / max {g.get('MaxSize')}",
                    f"{len(g.get('Instances') or [])} instance(s)",
                ),
                {
                    "instances": [i["InstanceId"] for i in g.get("Instances") or []],
                    "target_groups": list(g.get("TargetGroupARNs") or []),
                    "subnets": [s for s in (g.get("VPCZoneIdentifier") or "").split(",") if s],
                },
            )
            for g in groups
        ],
    )


# service name -> collector; each runs alone so one failing service only hides its own kinds.
_COLLECTORS: tuple[tuple[str, Callable[[Any, _Inventory], None]], ...] = (
    ("s3", _collect_s3),
    ("cloudfront", _collect_cloudfront),
    ("route53", _collect_route53),
    ("apigateway", _collect_apigateway),
    ("apigatewayv2", _collect_apigatewayv2),
    ("appsync", _collect_appsync),
    ("lambda", _collect_lambda),
    ("dynamodb", _collect_dynamodb),
    ("rds", _collect_rds),
    ("elasticache", _collect_elasticache),
    ("cognito-idp", _collect_cognito),
    ("ec2", _collect_ec2),
    ("elbv2", _collect_elbv2),
    ("autoscaling", _collect_autoscaling),
)


def _reraise_own(exc: Exception) -> None:
    """Let the course's own errors (e.g. a blocked call to real AWS) through; swallow the rest."""
    if isinstance(exc, StackLabError):
        raise exc


def _link_everything(inv: _Inventory) -> None:
    """Derive edges from what the collectors read (no further calls)."""
    buckets = inv.keys("bucket")
    functions = inv.keys("function")
    tables = inv.keys("table")
    pools = inv.keys("user_pool")
    dist_by_domain = {i.meta["domain"].lower(): i.key for i in inv.items.get("distribution", [])}
    lb_by_dns = {i.meta["dns"]: i.key for i in inv.items.get("load_balancer", []) if i.meta.get("dns")}
    api_ids = {("rest_api", k) for k in inv.keys("rest_api")} | {
        ("http_api", k) for k in inv.keys("http_api")
    }

    def bucket_of(domain: str) -> str | None:
        domain = domain.lower()
        for name in sorted(buckets, key=len, reverse=True):
            if domain.startswith(name.lower() + ".s3"):
                return name
        return None

    for dist in inv.items.get("distribution", []):
        for origin in dist.meta["origins"]:
            bucket = bucket_of(origin)
            if bucket:
                inv.link(("distribution", dist.key), ("bucket", bucket), "origin")
            elif origin.lower() in lb_by_dns:
                inv.link(("distribution", dist.key), ("load_balancer", lb_by_dns[origin.lower()]), "origin")
            elif ".execute-api." in origin:
                api_id = origin.split(".", 1)[0]
                for kind, key in sorted(api_ids):
                    if key == api_id:
                        inv.link(("distribution", dist.key), (kind, key), "origin")

    for zone in inv.items.get("zone", []):
        for record, target in zone.meta.get("aliases", []):
            if target in dist_by_domain:
                inv.link(("zone", zone.key), ("distribution", dist_by_domain[target]), f"alias {record}")
            elif target.removeprefix("dualstack.") in lb_by_dns:
                inv.link(
                    ("zone", zone.key),
                    ("load_balancer", lb_by_dns[target.removeprefix("dualstack.")]),
                    f"alias {record}",
                )
            elif "s3-website" in target and record in buckets:
                inv.link(("zone", zone.key), ("bucket", record), f"alias {record}")

    def pool_of(text: str) -> str | None:
        for pool in pools:
            if text.endswith(pool) or f"userpool/{pool}" in text:
                return pool
        return None

    for api in inv.items.get("rest_api", []):
        routes: dict[str, list[str]] = {}
        for fn, route in api.meta.get("routes", []):
            if fn in functions:
                routes.setdefault(fn, []).append(route)
        for fn, names in routes.items():
            label = names[0] if len(names) == 1 else f"{len(names)} routes"
            inv.link(("rest_api", api.key), ("function", fn), label)
        for _kind, uri, providers in api.meta.get("authorizers", []):
            fn = _function_name(uri)
            if fn in functions:
                inv.link(("rest_api", api.key), ("function", fn), "authorizer")
            for arn in providers:
                pool = pool_of(arn)
                if pool:
                    inv.link(("rest_api", api.key), ("user_pool", pool), "authorizer")

    for api in inv.items.get("http_api", []):
        for fn in api.meta.get("functions", []):
            if fn in functions:
                inv.link(("http_api", api.key), ("function", fn), "integration")
        for _kind, uri, issuer in api.meta.get("authorizers", []):
            fn = _function_name(uri)
            if fn in functions:
                inv.link(("http_api", api.key), ("function", fn), "authorizer")
            pool = pool_of(issuer) if issuer else None
            if pool:
                inv.link(("http_api", api.key), ("user_pool", pool), "JWT authorizer")

    clusters = inv.keys("db_cluster")
    for api in inv.items.get("graphql_api", []):
        pool = ((api.meta["api"].get("userPoolConfig") or {}).get("userPoolId")) or ""
        if pool in pools:
            inv.link(("graphql_api", api.key), ("user_pool", pool), "auth")
        for source in api.meta.get("sources", []):
            fn = _function_name((source.get("lambdaConfig") or {}).get("lambdaFunctionArn"))
            table = (source.get("dynamodbConfig") or {}).get("tableName")
            rds = ((source.get("relationalDatabaseConfig") or {}).get("rdsHttpEndpointConfig") or {}).get(
                "dbClusterIdentifier", ""
            )
            rds = str(rds).rsplit(":", 1)[-1]
            if fn in functions:
                inv.link(("graphql_api", api.key), ("function", fn), "data source")
            if table in tables:
                inv.link(("graphql_api", api.key), ("table", table), "data source")
            if rds in clusters:
                inv.link(("graphql_api", api.key), ("db_cluster", rds), "data source")

    for fn in inv.items.get("function", []):
        for var, value in fn.meta.get("env", []):
            value = str(value)
            name = value.rsplit("/", 1)[-1] if value.startswith("arn:aws") else value
            if name in tables:
                inv.link(("function", fn.key), ("table", name), var)
            elif value in buckets:
                inv.link(("function", fn.key), ("bucket", value), var)

    instances = inv.keys("db_instance")
    for cluster in inv.items.get("db_cluster", []):
        for member in cluster.meta["members"]:
            if member in instances:
                inv.link(("db_cluster", cluster.key), ("db_instance", member), "member")
    cache_clusters = inv.keys("cache_cluster")
    for group in inv.items.get("replication_group", []):
        for member in group.meta["members"]:
            if member in cache_clusters:
                inv.link(("replication_group", group.key), ("cache_cluster", member), "member")

    ec2 = inv.keys("instance")
    groups = {g.key: g.meta for g in inv.items.get("_target_groups", [])}
    lbs = inv.keys("load_balancer")
    for asg in inv.items.get("auto_scaling_group", []):
        for arn in asg.meta["target_groups"]:
            for lb in groups.get(arn, {}).get("lbs", []):
                if lb in lbs:
                    inv.link(("load_balancer", lb), ("auto_scaling_group", asg.key), "target group")
        for instance in asg.meta["instances"]:
            if instance in ec2:
                inv.link(("auto_scaling_group", asg.key), ("instance", instance), "")
    for meta in groups.values():
        for lb in meta["lbs"]:
            for target in meta["targets"]:
                if lb in lbs and target in ec2:
                    inv.link(("load_balancer", lb), ("instance", target), "target")


def _region(session: Any, region: str | None) -> str:
    if region is not None:
        return require_str("region", region)
    for candidate in (
        getattr(session, "region_name", None),
        os.environ.get("AWS_REGION"),
        os.environ.get("AWS_DEFAULT_REGION"),
    ):
        if candidate:
            return str(candidate)
    return "us-east-1"


def _inventory(session: Any, region: str) -> _Inventory:
    import boto3
    from botocore.config import Config

    factory = session if session is not None else boto3
    config = Config(retries={"max_attempts": 1}, connect_timeout=3, read_timeout=10)
    inv = _Inventory()
    for service, collect in _COLLECTORS:
        try:
            client = factory.client(service, region_name=region, config=config)
            collect(client, inv)
        except Exception as exc:  # noqa: BLE001 - moto may not implement a call: skip that kind
            _reraise_own(exc)
    _link_everything(inv)
    return inv


def _summary(counts: dict[str, int]) -> str:
    parts = []
    for kind in _KINDS:
        n = counts.get(kind.key, 0)
        if n:
            parts.append(f"{n} {kind.singular if n == 1 else kind.plural}")
    return ", ".join(parts) if parts else "empty sandbox"


def _vpc_of(inv: _Inventory, kind: str, item: _Item) -> str:
    if kind in ("instance", "load_balancer"):
        return item.meta.get("vpc", "")
    if kind == "auto_scaling_group":
        subnet_vpc = {s.key: s.meta["vpc"] for s in inv.items.get("_subnets", [])}
        for subnet in item.meta.get("subnets", []):
            if subnet in subnet_vpc:
                return subnet_vpc[subnet]
        vpcs = {v.key for v in inv.items.get("_vpcs", [])}
        for instance in inv.items.get("instance", []):
            if instance.key in item.meta.get("instances", []) and instance.meta.get("vpc") in vpcs:
                return instance.meta["vpc"]
    return ""


_GRID = 4  # loose nodes (no drawn edges) of one kind are laid out in rows of this many
_TEXT = {"fontname": "Sans-Serif", "fontcolor": "#2D3436"}


def _note(text: str, node_id: str, **attrs: str) -> None:
    """A plain text box (no icon)."""
    style = {
        "shape": "box",
        "style": "rounded,dashed",
        "fixedsize": "false",
        "labelloc": "c",
        "margin": "0.2",
    }
    _diagrams_lib.Node(text, nodeid=node_id, **{**style, **attrs})


def _live_source(inv: _Inventory, counts: dict[str, int]) -> str:
    """Build the DOT source of the live picture from an inventory."""
    title = "What the sandbox holds now"
    attrs = {"fontsize": "18", "ranksep": "1.0", "nodesep": "0.45"}
    with _drawing(title, graph_attr=attrs) as d:
        if not any(counts.values()):
            _note(
                "The sandbox is empty: no buckets, distributions, APIs,\n"
                "functions, tables or other resources yet.\n"
                "Create something, then call live() again.",
                "empty",
                style="rounded,filled",
                fillcolor="#F4F6F7",
                color="#AEB6BE",
                fontsize="14",
            )
            return d.dot.source

        # Up to LIVE_LIMIT of each kind, those with connections first, then by name.
        ends = {end for ka, a_key, kb, b_key in inv.edges for end in ((ka, a_key), (kb, b_key))}
        visible = {
            kind.key: sorted(
                inv.items.get(kind.key, []),
                key=lambda item, k=kind.key: ((k, item.key) not in ends, item.key.lower(), item.key),
            )[:LIVE_LIMIT]
            for kind in _KINDS
        }
        shown = {(kind, item.key) for kind, items in visible.items() for item in items}
        edges = [
            (a, b, labels)
            for (ka, a_key, kb, b_key), labels in sorted(inv.edges.items())
            for a, b in [((ka, a_key), (kb, b_key))]
            if a in shown and b in shown
        ]
        linked = {end for a, b, _ in edges for end in (a, b)}
        ids: dict[tuple[str, str], str] = {}
        rows: list[list[str]] = []

        def place(kind: str, items: list[_Item], first: int) -> list[str]:
            """Draw ``items``; return the ids of those without drawn edges."""
            loose = []
            for number, item in enumerate(items, start=first):
                node_id = f"{kind}_{number}"
                ids[(kind, item.key)] = node_id
                icon = _KIND[kind].icon
                if kind == "load_balancer" and item.meta.get("type") == "network":
                    icon = ElbNetworkLoadBalancer
                icon(item.label, nodeid=node_id)
                if (kind, item.key) not in linked:
                    loose.append(node_id)
            return loose

        def more(kind: str) -> list[str]:
            hidden = len(inv.items.get(kind, [])) - LIVE_LIMIT
            if hidden <= 0:
                return []
            _note(f"+{hidden} more\n{_KIND[kind].plural}", f"{kind}_more")
            return [f"{kind}_more"]

        def grid(loose: list[str]) -> None:
            rows.extend(loose[i : i + _GRID] for i in range(0, len(loose), _GRID))

        first = {"vpc": 0, "load_balancer": 0, "auto_scaling_group": 0, "instance": 0}

        def place_all(groups: dict[str, list[_Item]]) -> None:
            for kind, items in groups.items():
                grid(place(kind, items, first[kind]))
                first[kind] += len(items)

        vpc_labels = {v.key: v.label for v in inv.items.get("_vpcs", [])}
        vpc_default = {v.key for v in inv.items.get("_vpcs", []) if v.meta["default"]}
        for layer in _LAYERS:
            kinds = [k.key for k in _KINDS if k.layer == layer and inv.items.get(k.key)]
            if not kinds:
                continue
            with Cluster(layer, graph_attr={"fontsize": "15"}):
                if layer != "Network and compute":
                    for kind in kinds:
                        grid(place(kind, visible[kind], 0) + more(kind))
                    continue
                # Network and compute: one box per VPC holding its load balancers, groups and instances.
                by_vpc: dict[str, dict[str, list[_Item]]] = {}
                for kind in ("load_balancer", "auto_scaling_group", "instance"):
                    for item in visible[kind]:
                        by_vpc.setdefault(_vpc_of(inv, kind, item), {}).setdefault(kind, []).append(item)
                shown_vpcs = [v.key for v in visible["vpc"]]
                vpc_order = shown_vpcs + sorted(k for k in by_vpc if k and k not in shown_vpcs)
                for vpc in vpc_order:
                    name = vpc_labels.get(vpc, vpc).split("\n")[0]
                    caption = "default VPC" if vpc in vpc_default else f"VPC {name}"
                    if name != vpc and vpc not in vpc_default:
                        caption += f" ({vpc})"
                    with Cluster(caption, graph_attr={"fontsize": "13"}):
                        if vpc in shown_vpcs:
                            place_all({"vpc": [_Item(vpc, vpc_labels.get(vpc, vpc))]})
                        place_all(by_vpc.get(vpc, {}))
                place_all(by_vpc.get("", {}))
                grid(
                    [
                        node
                        for kind in ("vpc", "load_balancer", "auto_scaling_group", "instance")
                        for node in more(kind)
                    ]
                )
        for row in rows:
            for left, right in zip(row, row[1:], strict=False):
                d.dot.edge(left, right, style="invis")
        for a, b, labels in edges:
            text = _label(*labels[:2]) if labels else ""
            if len(labels) > 2:
                text += f"\n+{len(labels) - 2} more"
            d.dot.edge(ids[a], ids[b], label=text, fontsize="11", color="#7B8894", dir="forward", **_TEXT)
    return d.dot.source


def _require_mocked_aws() -> None:
    """Refuse to read an account unless the sandbox (or a moto mock) is active in this kernel."""
    from stacklab import sandbox

    if sandbox.is_running():
        return
    try:
        from moto.core.models import botocore_stubber

        if botocore_stubber.enabled:
            return
    except Exception:  # noqa: BLE001 - moto internals moved: fall through to the refusal
        pass
    raise SandboxNotStartedError(
        "live() draws the sandbox, which is not running in this kernel: run "
        "`import stacklab; stacklab.start()` first (the second cell of every notebook)."
    )


def live(session: Any = None, *, region: str | None = None) -> Any:
    """Return a PNG display object drawing what the (mocked) AWS account holds now.

    ``session`` is a ``boto3.Session`` (default: the ``boto3`` module's default session, which the
    course sandbox has already pointed at moto). Its text form is a stable one-line summary, e.g.
    ``<live diagram: 2 buckets, 1 distribution>``; ``.source`` holds the DOT source and ``.counts``
    the number of resources of each kind.
    """
    if session is not None and not callable(getattr(session, "client", None)):
        raise InputError(
            f"session must be a boto3.Session (or None for the default), got {type(session).__name__}."
        )
    region_name = _region(session, region)
    _dot_executable()  # fail early, before any AWS call, when Graphviz is missing
    if session is None:
        _require_mocked_aws()
    inv = _inventory(session, region_name)
    counts = {kind.key: len(inv.items.get(kind.key, [])) for kind in _KINDS}
    counts = {k: v for k, v in counts.items() if v}
    source = _live_source(inv, counts)
    png = _run_dot(source, "png")
    summary = _summary(counts)
    return _picture_class()(
        text=f"<live diagram: {summary}>",
        source=source,
        counts=counts,
        data=png,
        format="png",
        alt=f"Live diagram of the sandbox: {summary}.",
    )

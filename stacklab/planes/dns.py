"""Route 53 answers: the routing policies moto only stores, evaluated from the sandbox's record sets.

``resolve("www.example.com", client="Paris")`` reads the hosted zones and record sets with boto3
(``list_hosted_zones`` / ``list_resource_record_sets``) on every query and answers as Route 53's
authoritative name servers would: simple, alias (to CloudFront, to an S3 website endpoint, to
another record of the zone), weighted, latency, geolocation, failover and multivalue answer
routing, with health checks. The :class:`Answer` says which record was chosen and *why*.

``serve()`` answers the same over the real DNS protocol (UDP and TCP) on 127.0.0.1, so
``dnspython`` (or ``dig -p PORT @127.0.0.1``) can query it. ``explorer()`` is an interactive
widget: name, client location and health in; answer and reason out.

Where this plane simplifies (each is said again where it matters):

* Clients are a small set of named :class:`ClientLocation` s (or one you build); Route 53 would
  locate the resolver's IP address (or the EDNS client-subnet) instead.
* Latency between a client's Region and a record's Region comes from :func:`latency_ms`, an
  *illustrative* estimate from the great-circle distance between Regions (round trip in fibre at
  ~200 km/ms along a path 1.5 times longer than the straight line, plus 5 ms), not AWS's
  measurements.
* Addresses of CloudFront, S3 website and other AWS alias targets are **made up** from the
  documentation address ranges of RFC 5737 / RFC 3849 (192.0.2.0/24, 198.51.100.0/24,
  203.0.113.0/24, 2001:db8::/32): nothing in the sandbox has a public address.
* moto never probes health checks (``get_health_check_status`` always says "Success"), so the
  plane keeps its own health state. HTTP, HTTPS, HTTP(S)_STR_MATCH and TCP checks that point at
  127.0.0.1 (a lesson's own local server) are probed on the sandbox clock with the check's
  ``RequestInterval`` and ``FailureThreshold``; every other check is never probed (the sandbox is
  offline) and keeps the status set with :func:`set_health` (healthy by default). One checker
  stands in for Route 53's fleet of checkers in several Regions.
* Private hosted zones are used only when ``zone_id`` names them; traffic policies (Traffic
  Flow), geoproximity and IP-based (CIDR) routing are not modelled (moto lacks the first and
  drops geoproximity records).
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import math
import random
import re
import socket
import ssl
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from stacklab._validate import require_bool, require_number, require_str
from stacklab.errors import InputError, StackLabError

__all__ = [
    "CLIENTS",
    "CLOUDFRONT_ZONE_ID",
    "S3_WEBSITE_ZONE_IDS",
    "Answer",
    "ClientLocation",
    "DnsRecord",
    "NotAuthoritative",
    "advance_health",
    "answers_table",
    "client_location",
    "explorer",
    "health_report",
    "health_status",
    "latency_ms",
    "latency_table",
    "resolve",
    "sample",
    "serve",
    "set_health",
    "stop",
]

#: The hosted zone ID of every CloudFront distribution, for alias records (the same in all Regions).
CLOUDFRONT_ZONE_ID = "Z2FDTNDATAQYW2"
#: Hosted zone IDs of the S3 website endpoints, by Region (AWS General Reference, "Amazon S3
#: website endpoints"). An alias to a bucket's website uses the ID of the bucket's Region.
S3_WEBSITE_ZONE_IDS: dict[str, str] = {
    "us-east-1": "Z3AQBSTGFYJSTF", "us-east-2": "Z2O1EMRO9K5GLX", "us-west-1": "Z2F56UZL2M1ACD",
    "us-west-2": "Z3BJ6K6RIION7M", "ca-central-1": "Z1QDHH18159H29", "eu-west-1": "Z1BKCTXD74EZPE",
    "eu-west-2": "Z3GKZC51ZF0DB4", "eu-west-3": "Z3R1K369G5AVDG", "eu-central-1": "Z21DNDUVLTQW6Q",
    "eu-north-1": "Z3BAZG2TWCNX0D", "eu-south-1": "Z30OZKI7KPW7MI", "ap-northeast-1": "Z2M4EHUR26P7ZW",
    "ap-northeast-2": "Z3W03O7B5YMIYP", "ap-southeast-1": "Z3O0J2DXBE1FTB", "ap-southeast-2": "Z1WCIGYICN2BYD",
    "ap-south-1": "Z11RGJOFQNVJUP", "sa-east-1": "Z7KQH4QJS55SO",
}  # fmt: skip
#: TTL of answers for alias targets that are AWS resources (CloudFront, S3 website, ELB...): an
#: alias record has no TTL of its own and Route 53 uses the target service's, which is 60 s.
AWS_TARGET_TTL = 60
#: Route 53 returns at most this many records for a multivalue answer query.
MULTIVALUE_MAX = 8
#: Approximate (latitude, longitude) of each Region's city, for the illustrative latency estimate.
REGION_COORDINATES: dict[str, tuple[float, float]] = {
    "us-east-1": (38.9, -77.4), "us-east-2": (40.0, -83.0), "us-west-1": (37.4, -121.9),
    "us-west-2": (45.8, -119.7), "ca-central-1": (45.5, -73.6), "sa-east-1": (-23.5, -46.6),
    "eu-west-1": (53.3, -6.3), "eu-west-2": (51.5, -0.1), "eu-west-3": (48.9, 2.35),
    "eu-central-1": (50.1, 8.7), "eu-north-1": (59.3, 18.1), "eu-south-1": (45.5, 9.2),
    "ap-northeast-1": (35.7, 139.7), "ap-northeast-2": (37.6, 127.0), "ap-southeast-1": (1.35, 103.8),
    "ap-southeast-2": (-33.9, 151.2), "ap-south-1": (19.1, 72.9), "af-south-1": (-33.9, 18.4),
}  # fmt: skip
_CONTINENTS = {"AF", "AN", "AS", "EU", "NA", "OC", "SA"}
_TYPES = ("A", "AAAA", "CAA", "CNAME", "DS", "MX", "NAPTR", "NS", "PTR", "SOA", "SPF", "SRV", "TXT")
_HEALTH_TYPES_PROBED = {"HTTP", "HTTPS", "HTTP_STR_MATCH", "HTTPS_STR_MATCH", "TCP"}
_MAX_CHAIN = 8
_PROBE_TIMEOUT = 2.0  # Route 53 allows 4 s to connect and 2 s more for the status; loopback is instant


class NotAuthoritative(InputError):  # noqa: N818 - named after the DNS situation, not "...Error"
    """The name is in no hosted zone of the sandbox (a DNS server answers REFUSED)."""


# ------------------------------------------------------------------------------ client locations


@dataclass(frozen=True)
class ClientLocation:
    """Where a DNS query comes from, as Route 53 would locate it.

    ``continent`` is a Route 53 continent code (AF, AN, AS, EU, NA, OC, SA), ``country`` an ISO
    3166 alpha-2 code, ``subdivision`` a Route 53 subdivision code (US states, e.g. "OH") or None,
    and ``region`` the AWS Region nearest to the client (used for latency routing).
    """

    name: str
    continent: str
    country: str | None = None
    subdivision: str | None = None
    region: str = "us-east-1"

    def __post_init__(self) -> None:
        require_str("name", self.name)
        if self.continent not in _CONTINENTS:
            raise InputError(
                f"continent must be a Route 53 continent code ({', '.join(sorted(_CONTINENTS))}), "
                f"got {self.continent!r}."
            )
        if self.country is not None and not re.fullmatch(r"[A-Z]{2}", str(self.country)):
            raise InputError(f"country must be a two-letter ISO code such as 'FR' or None, got {self.country!r}.")
        if self.subdivision is not None and (
            self.country is None or not re.fullmatch(r"[A-Z0-9]{1,3}", str(self.subdivision))
        ):
            raise InputError(
                f"subdivision must be a code such as 'OH' together with its country, got {self.subdivision!r} "
                f"(country {self.country!r})."
            )
        if self.region not in REGION_COORDINATES:
            raise InputError(f"region must be one of {', '.join(REGION_COORDINATES)}; got {self.region!r}.")

    def describe(self) -> str:
        """``Paris (EU/FR, nearest Region eu-west-3)``."""
        place = "/".join(p for p in (self.continent, self.country, self.subdivision) if p)
        return f"{self.name} ({place}, nearest Region {self.region})"


#: The named client locations lessons use (``client="Paris"``).
CLIENTS: dict[str, ClientLocation] = {
    c.name: c
    for c in (
        ClientLocation("Virginia", "NA", "US", "VA", "us-east-1"),
        ClientLocation("Ohio", "NA", "US", "OH", "us-east-2"),
        ClientLocation("California", "NA", "US", "CA", "us-west-1"),
        ClientLocation("Montreal", "NA", "CA", None, "ca-central-1"),
        ClientLocation("São Paulo", "SA", "BR", None, "sa-east-1"),
        ClientLocation("Dublin", "EU", "IE", None, "eu-west-1"),
        ClientLocation("London", "EU", "GB", None, "eu-west-2"),
        ClientLocation("Paris", "EU", "FR", None, "eu-west-3"),
        ClientLocation("Frankfurt", "EU", "DE", None, "eu-central-1"),
        ClientLocation("Mumbai", "AS", "IN", None, "ap-south-1"),
        ClientLocation("Singapore", "AS", "SG", None, "ap-southeast-1"),
        ClientLocation("Tokyo", "AS", "JP", None, "ap-northeast-1"),
        ClientLocation("Sydney", "OC", "AU", None, "ap-southeast-2"),
        ClientLocation("Cape Town", "AF", "ZA", None, "af-south-1"),
    )
}
DEFAULT_CLIENT = "Virginia"


def _fold(text: str) -> str:
    return text.casefold().replace("ã", "a").replace(" ", "").replace("-", "")


def client_location(client: str | ClientLocation | None = None) -> ClientLocation:
    """The :class:`ClientLocation` for a name in :data:`CLIENTS` (or the one given; None → Virginia)."""
    if client is None:
        return CLIENTS[DEFAULT_CLIENT]
    if isinstance(client, ClientLocation):
        return client
    require_str("client", client)
    for name, loc in CLIENTS.items():
        if _fold(name) == _fold(client):
            return loc
    raise InputError(
        f"Unknown client location {client!r}: use one of {', '.join(CLIENTS)}, or build one with "
        "ClientLocation(name, continent, country, subdivision, region)."
    )


# ------------------------------------------------------------------------------------- latency


def latency_ms(from_region: str, to_region: str) -> int:
    """Illustrative round-trip latency in ms between two Regions (see the module docstring)."""
    for name, value in (("from_region", from_region), ("to_region", to_region)):
        if value not in REGION_COORDINATES:
            raise InputError(f"{name} must be one of {', '.join(REGION_COORDINATES)}; got {value!r}.")
    (lat1, lon1), (lat2, lon2) = REGION_COORDINATES[from_region], REGION_COORDINATES[to_region]
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    central = math.acos(max(-1.0, min(1.0, math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl))))
    km = 6371.0 * central
    return round(5 + 2 * km * 1.5 / 200)


def latency_table(clients: list[str] | None = None, regions: list[str] | None = None) -> str:
    """A text table of :func:`latency_ms` from each client's Region to each record Region."""
    locs = [client_location(c) for c in (clients or list(CLIENTS))]
    regs = regions or ["us-east-1", "eu-west-3", "ap-northeast-1"]
    for r in regs:
        latency_ms("us-east-1", r)  # validates
    width = max(len(c.name) for c in locs) + 2
    lines = ["client".ljust(width) + "".join(r.rjust(16) for r in regs)]
    for c in locs:
        lines.append(c.name.ljust(width) + "".join(f"{latency_ms(c.region, r)} ms".rjust(16) for r in regs))
    return "\n".join(lines)


# -------------------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class DnsRecord:
    """One record of an answer: ``name ttl IN type value``."""

    name: str
    rtype: str
    ttl: int
    value: str

    def text(self) -> str:
        """Zone-file form."""
        return f"{self.name} {self.ttl} IN {self.rtype} {self.value}"


@dataclass
class Answer:
    """What Route 53 answers for one query, and why.

    ``rcode`` is NOERROR (with records, or none: NODATA) or NXDOMAIN. ``policy`` is the routing
    policy that chose the records, ``chosen`` the SetIdentifier(s) of the record set(s) chosen,
    ``reason`` a plain-English account of the choice and ``notes`` what differs from AWS.
    """

    name: str
    rtype: str
    client: ClientLocation
    rcode: str
    zone: str
    records: list[DnsRecord] = field(default_factory=list)
    policy: str = ""
    chosen: list[str] = field(default_factory=list)
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    soa: DnsRecord | None = None

    @property
    def ttl(self) -> int | None:
        """The smallest TTL in the answer (None when there is no record)."""
        return min((r.ttl for r in self.records), default=None)

    @property
    def values(self) -> list[str]:
        """The values of the records of the queried type (after following CNAMEs)."""
        return [r.value for r in self.records if r.rtype == self.rtype]

    @property
    def nodata(self) -> bool:
        """True for NOERROR with no record of the queried type."""
        return self.rcode == "NOERROR" and not self.records

    def text(self) -> str:
        """A deterministic multi-line rendering."""
        status = "NOERROR (no data)" if self.nodata else self.rcode
        head = f"{self.name} {self.rtype} asked from {self.client.describe()}"
        lines = [head, f"  status: {status}   zone: {self.zone}   policy: {self.policy or '-'}"]
        if self.chosen:
            lines[-1] += f"   chosen: {', '.join(self.chosen)}"
        lines += [f"  {r.text()}" for r in self.records]
        lines.append(f"  why: {self.reason}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()


# ----------------------------------------------------------------------------------- plane state


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.rng: random.Random | None = None
        self.explicit: dict[str, bool] = {}
        self.probed: dict[str, dict[str, Any]] = {}
        self.servers: dict[str, Any] = {}
        self.clients: dict[tuple, Any] = {}
        self.hooks = False


_state = _State()


def _install_hooks() -> None:
    if _state.hooks:
        return
    from stacklab.sandbox import on_reset, on_stop

    on_reset(_on_reset)
    on_stop(stop)
    _state.hooks = True


def _on_reset() -> None:
    with _state.lock:
        _state.rng = None
        _state.explicit.clear()
        _state.probed.clear()


def _rng() -> random.Random:
    from stacklab.sandbox import current

    with _state.lock:
        if _state.rng is None:
            _state.rng = random.Random(f"stacklab-dns-{current().seed}")
        return _state.rng


def _client(service: str) -> Any:
    """A cached boto3 client of the running sandbox (creating one costs ~10 ms per query otherwise)."""
    import boto3

    from stacklab.sandbox import client, current

    key = (service, id(current()), id(boto3.DEFAULT_SESSION))
    with _state.lock:
        if key not in _state.clients:
            _state.clients = {k: v for k, v in _state.clients.items() if k[1:] == key[1:]}
            _state.clients[key] = client(service)
        return _state.clients[key]


def _r53() -> Any:
    _install_hooks()
    return _client("route53")


# ---------------------------------------------------------------------------------- health checks


def _health_checks(r53: Any) -> dict[str, dict]:
    checks: dict[str, dict] = {}
    for page in r53.get_paginator("list_health_checks").paginate():
        for hc in page["HealthChecks"]:
            checks[hc["Id"]] = hc
    return checks


def _loopback_target(config: dict) -> bool:
    ip = config.get("IPAddress")
    host = config.get("FullyQualifiedDomainName")
    if ip:
        try:
            return ipaddress.ip_address(ip).is_loopback
        except ValueError:
            return False
    return host in ("localhost", "127.0.0.1")


def _probe(config: dict) -> bool:
    """One health-checker request to a loopback target: True when it succeeds."""
    kind = config.get("Type", "")
    port = int(config.get("Port") or (443 if kind.startswith("HTTPS") else 80))
    try:
        if kind == "TCP":
            with socket.create_connection(("127.0.0.1", port), timeout=_PROBE_TIMEOUT):
                return True
        if kind.startswith("HTTPS"):
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                "127.0.0.1", port, timeout=_PROBE_TIMEOUT, context=ctx
            )
        else:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=_PROBE_TIMEOUT)
        try:
            host = config.get("FullyQualifiedDomainName") or "127.0.0.1"
            conn.request(
                "GET",
                config.get("ResourcePath") or "/",
                headers={"Host": host, "User-Agent": "Amazon-Route53-Health-Check-Service"},
            )
            resp = conn.getresponse()
            body = resp.read(5120)
            ok = 200 <= resp.status < 400
            if ok and kind.endswith("STR_MATCH"):
                ok = (config.get("SearchString") or "").encode() in body
            return ok
        finally:
            conn.close()
    except (OSError, http.client.HTTPException):
        return False


def _health(check_id: str, checks: dict[str, dict], now: float, depth: int = 0) -> tuple[bool, str]:
    """(healthy, how it was decided) for one health check."""
    hc = checks.get(check_id)
    if hc is None:
        return True, f"health check {check_id} does not exist in the sandbox (treated as healthy)"
    config = hc["HealthCheckConfig"]
    if config.get("Disabled"):
        return True, "the health check is disabled, so Route 53 considers it healthy"
    with _state.lock:
        if check_id in _state.explicit:
            return _state.explicit[check_id], "set with set_health()"
    kind = config.get("Type", "")
    if kind == "CALCULATED" and depth < 3:
        children = config.get("ChildHealthChecks") or []
        healthy = sum(_health(c, checks, now, depth + 1)[0] for c in children)
        need = int(config.get("HealthThreshold", len(children)) or 0)
        return healthy >= need, f"calculated: {healthy} of {len(children)} child checks healthy, needs {need}"
    if kind not in _HEALTH_TYPES_PROBED or not _loopback_target(config):
        return True, "not probed (the sandbox is offline): healthy unless set with set_health()"
    interval = int(config.get("RequestInterval") or 30)
    threshold = int(config.get("FailureThreshold") or 3)
    inverted = bool(config.get("Inverted"))
    with _state.lock:
        st = _state.probed.setdefault(check_id, {"healthy": True, "streak": 0, "last": now, "probes": 0})
        steps = int((now - st["last"]) // interval)
        if steps > 0:
            ok = _probe(config) != inverted
            for _ in range(min(steps, threshold)):
                st["probes"] += 1
                if ok == st["healthy"]:
                    st["streak"] = 0
                else:
                    st["streak"] += 1
                    if st["streak"] >= threshold:
                        st["healthy"], st["streak"] = ok, 0
            st["last"] += steps * interval
        state = "healthy" if st["healthy"] else "unhealthy"
        how = f"probed every {interval} s, {threshold} consecutive results to change"
        if st["streak"]:
            how += f"; {st['streak']} of {threshold} {'failures' if st['healthy'] else 'successes'} so far"
        return st["healthy"], f"{state} ({how})"


def set_health(health_check_id: str, healthy: bool | None) -> None:
    """Set a health check's status by hand (None: back to probing or the default, healthy)."""
    require_str("health_check_id", health_check_id)
    if healthy is not None:
        require_bool("healthy", healthy)
    checks = _health_checks(_r53())
    if health_check_id not in checks:
        known = ", ".join(sorted(checks)) or "none yet"
        raise InputError(
            f"No health check {health_check_id!r} in the sandbox (known: {known}); use the Id that "
            "route53.create_health_check returned."
        )
    with _state.lock:
        if healthy is None:
            _state.explicit.pop(health_check_id, None)
        else:
            _state.explicit[health_check_id] = healthy


def health_status(health_check_id: str) -> bool:
    """Whether the plane considers the health check healthy now (probing if the clock moved)."""
    require_str("health_check_id", health_check_id)
    from stacklab import clock

    checks = _health_checks(_r53())
    if health_check_id not in checks:
        raise InputError(
            f"No health check {health_check_id!r} in the sandbox; use the Id that route53.create_health_check returned."
        )
    return _health(health_check_id, checks, clock().time())[0]


def health_report() -> str:
    """One line per health check in the sandbox: id, type, target and status (and how it was decided)."""
    from stacklab import clock

    checks = _health_checks(_r53())
    if not checks:
        return "No health checks in the sandbox."
    lines = []
    for cid, hc in checks.items():
        cfg = hc["HealthCheckConfig"]
        target = cfg.get("IPAddress") or cfg.get("FullyQualifiedDomainName") or ""
        if target and _loopback_target(cfg):
            target = "local server"
        healthy, how = _health(cid, checks, clock().time())
        path = cfg.get("ResourcePath") or ""
        lines.append(f"{cid}  {cfg.get('Type', '')} {target}{path}: {'HEALTHY' if healthy else 'UNHEALTHY'} — {how}")
    return "\n".join(lines)


def advance_health(seconds: float) -> str:
    """Move the sandbox clock forward ``seconds`` and re-evaluate every health check; returns the report."""
    require_number("seconds", seconds, minimum=0)
    from stacklab import clock

    clock().advance(seconds)
    return health_report()


# ------------------------------------------------------------------------------------- resolving


def _norm(name: str) -> str:
    require_str("name", name)
    text = name.strip().lower().replace("\\052", "*")
    if text in (".", ""):
        raise InputError("name must be a domain name such as 'www.example.com', not the root.")
    if not text.endswith("."):
        text += "."
    labels = text[:-1].split(".")
    if len(text) > 254 or any(not lab or len(lab) > 63 for lab in labels):
        raise InputError(f"{name!r} is not a valid domain name (empty label, label over 63 characters or too long).")
    if not all(re.fullmatch(r"[a-z0-9_*-]+", lab) for lab in labels):
        raise InputError(f"{name!r} has characters a domain name cannot have; use letters, digits, '-' and '.'.")
    return text


def _zones(r53: Any) -> list[dict]:
    zones: list[dict] = []
    for page in r53.get_paginator("list_hosted_zones").paginate():
        zones.extend(page["HostedZones"])
    return zones


def _short(zone_id: str) -> str:
    return zone_id.split("/")[-1]


def _find_zone(r53: Any, qname: str, zone_id: str | None) -> dict:
    zones = _zones(r53)
    if zone_id is not None:
        require_str("zone_id", zone_id)
        match = [z for z in zones if _short(z["Id"]) == _short(zone_id)]
        if not match:
            raise InputError(
                f"No hosted zone {zone_id!r} in the sandbox; use the Id route53.create_hosted_zone returned "
                "(e.g. zone['HostedZone']['Id'])."
            )
        zone = match[0]
        zname = _norm(zone["Name"])
        if not (qname == zname or qname.endswith("." + zname)):
            raise NotAuthoritative(
                f"{qname} is not inside the zone {zname} ({zone_id}): the zone's name servers would answer "
                "REFUSED. Ask for a name that ends with the zone's name."
            )
        return zone
    best: dict | None = None
    for zone in zones:
        if zone.get("Config", {}).get("PrivateZone"):
            continue
        zname = _norm(zone["Name"])
        if (qname == zname or qname.endswith("." + zname)) and (best is None or len(zname) > len(_norm(best["Name"]))):
            best = zone
    if best is None:
        names = ", ".join(sorted(_norm(z["Name"]) for z in zones if not z.get("Config", {}).get("PrivateZone")))
        raise NotAuthoritative(
            f"No public hosted zone in the sandbox contains {qname} (zones: {names or 'none'}): Route 53 is not "
            "authoritative for it and its name servers would answer REFUSED. Create the hosted zone first "
            "(route53.create_hosted_zone) or check the spelling."
        )
    return best


def _record_sets(r53: Any, zone_id: str) -> list[dict]:
    out: list[dict] = []
    for page in r53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id):
        for rr in page["ResourceRecordSets"]:
            rr = dict(rr)
            rr["Name"] = _norm(rr["Name"])
            out.append(rr)
    return out


def _policy(rr: dict) -> str:
    if "Weight" in rr:
        return "weighted"
    if "Region" in rr:
        return "latency"
    if "GeoLocation" in rr:
        return "geolocation"
    if "Failover" in rr:
        return "failover"
    if rr.get("MultiValueAnswer"):
        return "multivalue"
    if "CidrRoutingConfig" in rr or "GeoProximityLocation" in rr:
        return "unsupported"
    return "simple"


def _label(rr: dict) -> str:
    return rr.get("SetIdentifier") or rr["Name"]


def _made_up(seed: str, net: str, count: int) -> list[str]:
    digest = hashlib.sha256(seed.encode()).digest()
    base = ipaddress.ip_network(net)
    if base.version == 6:
        return [str(base[int.from_bytes(digest[i * 2 : i * 2 + 2], "big") + 1]) for i in range(count)]
    hosts = sorted({1 + digest[i] % 250 for i in range(count * 3)})[:count]
    return [str(base[h]) for h in hosts]


def _soa(zone: dict, rrsets: list[dict]) -> DnsRecord:
    zname = _norm(zone["Name"])
    for rr in rrsets:
        if rr["Name"] == zname and rr["Type"] == "SOA" and rr.get("ResourceRecords"):
            return DnsRecord(
                zname, "SOA", int(rr.get("TTL", 900)), _clean_value("SOA", rr["ResourceRecords"][0]["Value"])
            )
    return DnsRecord(zname, "SOA", 900, "ns-1.awsdns-00.com. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400")


def _clean_value(rtype: str, value: str) -> str:
    # moto 5.2.5 stores the apex SOA as the repr of a dict ("{'Value': 'ns-2048... 86400'}").
    m = re.fullmatch(r"\{'Value': '(.*)'\}", value)
    value = m.group(1) if m else value
    if rtype in ("CNAME", "NS", "PTR") and not value.endswith("."):
        value += "."
    elif rtype == "MX" and re.fullmatch(r"\d+ \S+[^.]", value):
        value += "."
    return value


class _Ctx:
    """Everything one query reads once: zones, record sets per zone, health checks, the clock."""

    def __init__(self, r53: Any, client: ClientLocation) -> None:
        from stacklab import clock

        self.r53 = r53
        self.client = client
        self.now = clock().time()
        self._checks: dict[str, dict] | None = None
        self._rrsets: dict[str, list[dict]] = {}
        self.notes: list[str] = []
        self.qname = ""

    @property
    def checks(self) -> dict[str, dict]:
        if self._checks is None:
            self._checks = _health_checks(self.r53)
        return self._checks

    def rrsets(self, zone: dict) -> list[dict]:
        zid = _short(zone["Id"])
        if zid not in self._rrsets:
            self._rrsets[zid] = _record_sets(self.r53, zone["Id"])
        return self._rrsets[zid]

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


@dataclass
class _Result:
    records: list[DnsRecord]
    policy: str
    chosen: list[str]
    reason: str
    healthy: bool = True


def _rr_healthy(rr: dict, ctx: _Ctx, zone: dict, depth: int) -> tuple[bool, str]:
    if rr.get("HealthCheckId"):
        ok, how = _health(rr["HealthCheckId"], ctx.checks, ctx.now)
        return ok, f"health check {rr['HealthCheckId'][:8]}… {how}"
    alias = rr.get("AliasTarget")
    if alias and alias.get("EvaluateTargetHealth") and _short(alias["HostedZoneId"]) == _short(zone["Id"]):
        res = _lookup(ctx, zone, _norm(alias["DNSName"]), rr["Type"], depth + 1)
        return res.healthy, f"alias target {_norm(alias['DNSName'])} is {'healthy' if res.healthy else 'unhealthy'}"
    return True, "no health check, so Route 53 always considers it healthy"


def _alias(rr: dict, qname: str, rtype: str, ctx: _Ctx, zone: dict, depth: int) -> _Result:
    alias = rr["AliasTarget"]
    target = _norm(alias["DNSName"])
    tzone = _short(alias["HostedZoneId"])
    if tzone == CLOUDFRONT_ZONE_ID:
        if rtype not in ("A", "AAAA"):
            return _Result([], "alias", [], f"an alias to CloudFront answers only A and AAAA queries, not {rtype}")
        found = None
        for page in _cloudfront().get_paginator("list_distributions").paginate():
            for d in page.get("DistributionList", {}).get("Items", []) or []:
                if _norm(d["DomainName"]) == target:
                    found = d
        if found is None:
            ctx.note(f"no distribution with the domain {target} exists in the sandbox: check the alias target")
        else:
            cnames = [_norm(a) for a in (found.get("Aliases", {}).get("Items") or [])]
            host = ctx.qname or qname  # the name the browser asked for is the Host header CloudFront sees
            if host not in cnames:
                ctx.note(
                    f"distribution {found['Id']} does not list {host.rstrip('.')} as an alternate domain name "
                    "(Aliases): CloudFront would refuse requests for it with 403 — add the name to the distribution"
                )
        net = "203.0.113.0/24" if rtype == "A" else "2001:db8:cf::/48"
        values = _made_up(target, net, 4)
        ctx.note("the CloudFront addresses are made up (documentation range): nothing in the sandbox is public")
        records = [DnsRecord(qname, rtype, AWS_TARGET_TTL, v) for v in values]
        why = (
            f"alias to the CloudFront distribution {target} (hosted zone {CLOUDFRONT_ZONE_ID}): Route 53 answers "
            f"the edge's addresses directly, with CloudFront's TTL ({AWS_TARGET_TTL} s)"
        )
        return _Result(records, "alias", [], why)
    s3_region = next((r for r, z in S3_WEBSITE_ZONE_IDS.items() if z == tzone), None)
    if s3_region is not None:
        if rtype not in ("A", "AAAA"):
            return _Result([], "alias", [], f"an alias to an S3 website endpoint answers only A queries, not {rtype}")
        endpoint_region = None
        m = re.match(r"(?:[a-z0-9.-]+\.)?s3-website[.-]([a-z0-9-]+)\.amazonaws\.com\.$", target)
        if m:
            endpoint_region = m.group(1)
        if endpoint_region != s3_region:
            ctx.note(
                f"the alias target {target} does not lie in the S3 website zone {tzone} of {s3_region}: AWS rejects "
                f"such an alias (use s3-website-{s3_region}.amazonaws.com with {tzone})"
            )
        bucket = qname.rstrip(".")
        try:
            _s3().get_bucket_website(Bucket=bucket)
        except Exception as exc:  # noqa: BLE001 - any error means no website bucket of that name
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            ctx.note(
                f"S3 answers requests for {bucket} only from a bucket named exactly {bucket} with website hosting "
                f"on; the sandbox says {code}"
            )
        if rtype == "AAAA":
            return _Result([], "alias", [], "S3 website endpoints have IPv4 addresses only: no AAAA answer")
        ctx.note("the S3 website address is made up (documentation range): nothing in the sandbox is public")
        records = [DnsRecord(qname, "A", AWS_TARGET_TTL, v) for v in _made_up(target, "198.51.100.0/24", 1)]
        why = (
            f"alias to the S3 website endpoint of {s3_region} (hosted zone {tzone}), with S3's TTL ({AWS_TARGET_TTL} s)"
        )
        return _Result(records, "alias", [], why)
    # An alias to a record in a hosted zone of the sandbox (usually the same zone).
    zones = {_short(z["Id"]): z for z in _zones(ctx.r53)}
    if tzone in zones:
        tz = zones[tzone]
        tzname = _norm(tz["Name"])
        if not (target == tzname or target.endswith("." + tzname)):
            raise StackLabError(
                f"The alias {qname} → {target} names zone {tzone} ({tzname}), which does not contain {target}: "
                "AWS rejects it. Point the alias at a record of that zone."
            )
        if depth >= _MAX_CHAIN:
            raise StackLabError(
                f"Alias loop: {qname} leads back to itself after {_MAX_CHAIN} steps; fix the alias targets."
            )
        res = _lookup(ctx, tz, target, rtype, depth + 1)
        if res.records is None:
            res = _Result([], res.policy, res.chosen, res.reason, res.healthy)
        records = [DnsRecord(qname if r.name == target else r.name, r.rtype, r.ttl, r.value) for r in res.records]
        why = f"alias to {target} in the same zone; that name's answer was used (with its TTL): {res.reason}"
        return _Result(records, f"alias → {res.policy}" if res.policy else "alias", res.chosen, why, res.healthy)
    ctx.note("this alias target is not modelled in the sandbox; its address is made up (documentation range)")
    values = _made_up(target, "192.0.2.0/24" if rtype == "A" else "2001:db8:a::/48", 2)
    return _Result(
        [DnsRecord(qname, rtype, AWS_TARGET_TTL, v) for v in values],
        "alias",
        [],
        f"alias to the AWS resource {target} (zone {tzone}), with its TTL ({AWS_TARGET_TTL} s)",
    )


def _records_of(rr: dict, qname: str, ctx: _Ctx, zone: dict, depth: int) -> _Result:
    if rr.get("AliasTarget"):
        return _alias(rr, qname, rr["Type"], ctx, zone, depth)
    ttl = int(rr.get("TTL", 300))
    values = [_clean_value(rr["Type"], v["Value"]) for v in rr.get("ResourceRecords", [])]
    return _Result([DnsRecord(qname, rr["Type"], ttl, v) for v in values], "", [], "")


def _choose(group: list[dict], qname: str, ctx: _Ctx, zone: dict, depth: int) -> _Result:
    policies = {_policy(rr) for rr in group}
    rtype = group[0]["Type"]
    if "unsupported" in policies:
        raise StackLabError(
            f"{qname} {rtype} uses IP-based or geoproximity routing, which this plane does not model; use one of "
            "simple, weighted, latency, geolocation, failover or multivalue answer."
        )
    if len(policies) > 1:
        raise StackLabError(
            f"The {rtype} records of {qname} mix routing policies ({', '.join(sorted(policies))}): AWS rejects that "
            "(moto accepts it). Keep one policy per name and type (delete the others)."
        )
    policy = policies.pop()
    if policy == "simple":
        if len(group) > 1:
            raise StackLabError(
                f"{qname} has {len(group)} simple {rtype} record sets: AWS allows one (moto creates a duplicate on a "
                "second CREATE). Delete the extra one, or use UPSERT to change a record."
            )
        res = _records_of(group[0], qname, ctx, zone, depth)
        if group[0].get("AliasTarget"):
            return res
        n = len(res.records)
        why = f"simple routing: the only {rtype} record set of this name, with {n} value{'s' if n != 1 else ''}."
        return _Result(res.records, "simple", [], why)
    health = {id(rr): _rr_healthy(rr, ctx, zone, depth) for rr in group}
    healthy = [rr for rr in group if health[id(rr)][0]]
    all_down = not healthy
    if all_down:
        healthy = list(group)
    down_note = " All records are unhealthy, so Route 53 considers them all healthy." if all_down else ""
    unhealthy = [_label(rr) for rr in group if not health[id(rr)][0]]
    skipped = f" Skipped as unhealthy: {', '.join(unhealthy)}." if unhealthy and not all_down else ""

    def finish(rr: dict, why: str) -> _Result:
        res = _records_of(rr, qname, ctx, zone, depth)
        if rr.get("AliasTarget"):
            why += f" It is an alias: {res.reason}"
        return _Result(res.records, policy, [_label(rr)], why + skipped + down_note, not all_down)

    if policy == "weighted":
        nonzero = [rr for rr in healthy if int(rr["Weight"]) > 0]
        pool = nonzero or healthy
        total = sum(int(rr["Weight"]) for rr in pool)
        with _state.lock:
            rng = _rng()
            if total > 0:
                pick = rng.choices(pool, weights=[int(rr["Weight"]) for rr in pool])[0]
            else:
                pick = rng.choice(pool)
        if total > 0:
            share = int(pick["Weight"]) / total
            weight = int(pick["Weight"])
            why = f"weighted: picked '{_label(pick)}' at random with probability {weight}/{total} = {share:.0%}"
        else:
            why = f"weighted: every candidate has weight 0, so each is equally likely (1/{len(pool)})"
        return finish(pick, why + ".")
    if policy == "latency":
        region = ctx.client.region
        ranked = sorted(
            healthy, key=lambda rr: latency_ms(region, rr["Region"]) if rr["Region"] in REGION_COORDINATES else 10**6
        )
        pick = ranked[0]
        parts = ", ".join(
            f"{rr['Region']} {latency_ms(region, rr['Region'])} ms"
            for rr in ranked
            if rr["Region"] in REGION_COORDINATES
        )
        why = f"latency: from {region} the lowest-latency Region with a record is {pick['Region']} ({parts})."
        return finish(pick, why)
    if policy == "geolocation":
        c = ctx.client
        levels: list[tuple[str, Any]] = [
            (
                f"subdivision {c.country}-{c.subdivision}",
                lambda g: (
                    c.subdivision and g.get("CountryCode") == c.country and g.get("SubdivisionCode") == c.subdivision
                ),
            ),
            (
                f"country {c.country}",
                lambda g: c.country and g.get("CountryCode") == c.country and not g.get("SubdivisionCode"),
            ),
            (f"continent {c.continent}", lambda g: g.get("ContinentCode") == c.continent),
            ("default (*)", lambda g: g.get("CountryCode") == "*"),
        ]
        passed: list[str] = []
        for level, matches in levels:
            found = [rr for rr in group if matches(rr.get("GeoLocation", {}))]
            if not found:
                continue
            rr = found[0]
            if health[id(rr)][0] or all_down:
                return finish(
                    rr,
                    f"geolocation: the most specific record for the client is the {level} record '{_label(rr)}'"
                    + (f" ({'; '.join(passed)})" if passed else "")
                    + ".",
                )
            passed.append(f"the {level} record '{_label(rr)}' is unhealthy, so Route 53 tried a larger area")
        why = (
            f"geolocation: no record matches {c.describe()} (subdivision, country, continent) and there is no "
            "default '*' record, so Route 53 answers NOERROR with no record."
        )
        if passed:
            why += " " + "; ".join(passed) + "."
        return _Result([], "geolocation", [], why, False)
    if policy == "failover":
        primary = next((rr for rr in group if rr["Failover"] == "PRIMARY"), None)
        secondary = next((rr for rr in group if rr["Failover"] == "SECONDARY"), None)
        if primary is not None and (health[id(primary)][0] or all_down):
            how = health[id(primary)][1]
            why = f"failover: the PRIMARY '{_label(primary)}' is healthy ({how}), so it is answered."
            if not primary.get("HealthCheckId") and not (primary.get("AliasTarget") or {}).get("EvaluateTargetHealth"):
                why = (
                    f"failover: the PRIMARY '{_label(primary)}' has no health check, so Route 53 always considers it "
                    "healthy and never fails over to the SECONDARY."
                )
            return finish(primary, why)
        if secondary is not None:
            why = (
                f"failover: the PRIMARY is unhealthy ({health[id(primary)][1] if primary is not None else 'missing'}), "
                f"so the SECONDARY '{_label(secondary)}' is answered."
            )
            return finish(secondary, why)
        return finish(group[0], "failover: only one record of the pair exists.")
    # multivalue
    pool = healthy
    if len(pool) > MULTIVALUE_MAX:
        with _state.lock:
            pool = _rng().sample(pool, MULTIVALUE_MAX)
    records: list[DnsRecord] = []
    for rr in pool:
        records.extend(_records_of(rr, qname, ctx, zone, depth).records)
    why = (
        f"multivalue answer: {'all' if len(pool) == len(healthy) else f'{MULTIVALUE_MAX} random'} of the "
        f"{len(healthy)} {'records (all unhealthy: up to 8 are returned anyway)' if all_down else 'healthy records'}"
        f" (Route 53 returns up to {MULTIVALUE_MAX})."
    )
    return _Result(records, "multivalue", [_label(rr) for rr in pool], why + skipped, not all_down)


def _lookup(ctx: _Ctx, zone: dict, qname: str, rtype: str, depth: int) -> _Result:
    """Answer records for ``qname``/``rtype`` inside ``zone``; records=None means NXDOMAIN."""
    rrsets = ctx.rrsets(zone)
    zname = _norm(zone["Name"])
    at_name = [rr for rr in rrsets if rr["Name"] == qname]
    owner = qname
    if not at_name:
        exists = any(rr["Name"].endswith("." + qname) for rr in rrsets)
        if exists:
            return _Result(
                [], "", [], f"{qname} has no records itself (only names below it do): NOERROR, no data", False
            )
        # wildcard at the closest encloser
        labels = qname.split(".")
        for i in range(1, len(labels) - 1):
            parent = ".".join(labels[i:])
            if not parent.endswith(zname) or len(parent) < len(zname):
                break
            wild = "*." + parent
            found = [rr for rr in rrsets if rr["Name"] == wild]
            if found:
                at_name, owner = found, wild
                break
            if any(rr["Name"] == parent or rr["Name"].endswith("." + parent) for rr in rrsets) and parent != zname:
                break
        if not at_name:
            return _Result(None, "", [], f"no record named {qname} exists in the zone {zname}: NXDOMAIN", False)  # type: ignore[arg-type]
    group = [rr for rr in at_name if rr["Type"] == rtype]
    via = f" (matched the wildcard record {owner})" if owner != qname else ""
    if group:
        res = _choose(group, qname, ctx, zone, depth)
        res.reason += via
        return res
    cnames = [rr for rr in at_name if rr["Type"] == "CNAME"]
    if cnames and rtype != "CNAME":
        res = _choose(cnames, qname, ctx, zone, depth)
        out = list(res.records)
        why = f"{qname} is a CNAME{via}; {res.reason}"
        if out and depth < _MAX_CHAIN:
            target = _norm(out[0].value)
            follow = _follow(ctx, target, rtype, depth + 1)
            if follow is not None:
                out += follow.records or []
                why += f" Then {target}: {follow.reason}"
            else:
                why += f" A resolver would now look up {target} elsewhere (outside the sandbox's zones)."
        return _Result(out, res.policy, res.chosen, why, res.healthy)
    types = ", ".join(sorted({rr["Type"] for rr in at_name}))
    return _Result(
        [], "", [], f"{qname} exists (types: {types}) but has no {rtype} record: NOERROR, no data{via}", False
    )


def _follow(ctx: _Ctx, target: str, rtype: str, depth: int) -> _Result | None:
    """Resolve a CNAME target the way a recursive resolver would, when the sandbox knows it."""
    if target.endswith(".cloudfront.net."):
        fake = {"Name": target, "Type": rtype, "AliasTarget": {"HostedZoneId": CLOUDFRONT_ZONE_ID, "DNSName": target}}
        res = _alias(fake, target, rtype, ctx, {"Id": "", "Name": target}, depth)
        return res
    try:
        zone = _find_zone(ctx.r53, target, None)
    except NotAuthoritative:
        return None
    res = _lookup(ctx, zone, target, rtype, depth)
    if res.records is None:
        return _Result([], res.policy, res.chosen, res.reason, False)
    return res


def _cloudfront() -> Any:
    return _client("cloudfront")


def _s3() -> Any:
    return _client("s3")


def resolve(
    name: str,
    rtype: str = "A",
    *,
    client: str | ClientLocation | None = None,
    zone_id: str | None = None,
) -> Answer:
    """Answer the query ``name``/``rtype`` for ``client`` as Route 53 would, from the sandbox's records.

    ``client`` is a name in :data:`CLIENTS` ("Paris", "Tokyo", "Ohio", ...) or a
    :class:`ClientLocation` (default: Virginia). ``zone_id`` picks a hosted zone (needed for a
    private zone, or when two zones have the same name). Raises :class:`NotAuthoritative` when
    no hosted zone contains ``name`` (a DNS server answers REFUSED).
    """
    qname = _norm(name)
    require_str("rtype", rtype)
    rtype = rtype.strip().upper()
    if rtype not in _TYPES:
        raise InputError(f"rtype must be one of {', '.join(_TYPES)}; got {rtype!r}.")
    loc = client_location(client)
    r53 = _r53()
    zone = _find_zone(r53, qname, zone_id)
    return _answer(_Ctx(r53, loc), zone, qname, rtype)


def _answer(ctx: _Ctx, zone: dict, qname: str, rtype: str) -> Answer:
    loc = ctx.client
    ctx.notes = []
    ctx.qname = qname
    res = _lookup(ctx, zone, qname, rtype, 0)
    zname = _norm(zone["Name"])
    if res.records is None:
        return Answer(
            qname, rtype, loc, "NXDOMAIN", zname, [], "", [], res.reason, ctx.notes, _soa(zone, ctx.rrsets(zone))
        )
    apex_cname = [rr for rr in ctx.rrsets(zone) if rr["Name"] == zname and rr["Type"] == "CNAME"]
    if apex_cname:
        ctx.note(f"the zone apex {zname} has a CNAME record: AWS rejects that (moto accepts it); use an alias A record")
    soa = None if res.records else _soa(zone, ctx.rrsets(zone))
    return Answer(qname, rtype, loc, "NOERROR", zname, res.records, res.policy, res.chosen, res.reason, ctx.notes, soa)


def sample(
    name: str,
    rtype: str = "A",
    *,
    client: str | ClientLocation | None = None,
    n: int = 1000,
    zone_id: str | None = None,
) -> Counter:
    """Ask the same query ``n`` times; count the answers (by chosen record, else by values).

    The records and health are read once for the ``n`` queries (a snapshot), so it stays fast.
    """
    require_number("n", n, minimum=1, maximum=100_000, integer=True)
    first = resolve(name, rtype, client=client, zone_id=zone_id)  # validates the input and finds the zone
    r53 = _r53()
    zone = _find_zone(r53, first.name, zone_id)
    ctx = _Ctx(r53, first.client)  # one snapshot of the records for all n queries
    counts: Counter = Counter()
    for _ in range(n - 1):
        ans = _answer(ctx, zone, first.name, first.rtype)
        counts[", ".join(ans.chosen) or ", ".join(ans.values) or ans.rcode] += 1
    for ans in (first,):
        counts[", ".join(ans.chosen) or ", ".join(ans.values) or ans.rcode] += 1
    return counts


def answers_table(name: str, rtype: str = "A", clients: list[str] | None = None, *, zone_id: str | None = None) -> str:
    """A text table: for each client location, the answer's values, the record chosen and its TTL."""
    locs = [client_location(c) for c in (clients or list(CLIENTS))]
    rows = [("client", "answer", "chosen", "TTL")]
    for loc in locs:
        ans = resolve(name, rtype, client=loc, zone_id=zone_id)
        values = ", ".join(ans.values) or ("NXDOMAIN" if ans.rcode == "NXDOMAIN" else "(no answer)")
        rows.append((loc.name, values, ", ".join(ans.chosen) or "-", "-" if ans.ttl is None else str(ans.ttl)))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


# ----------------------------------------------------------------------------------- DNS protocol


class _QuietLogger:
    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


class _Resolver:
    def __init__(self, location: ClientLocation) -> None:
        self.location = location

    def resolve(self, request: Any, handler: Any) -> Any:
        from dnslib import QTYPE, RCODE, RR

        reply = request.reply()
        reply.header.aa = 1
        qname = str(request.q.qname)
        qtype = QTYPE.get(request.q.qtype)
        try:
            ans = resolve(qname, str(qtype), client=self.location)
        except NotAuthoritative:
            reply.header.aa = 0
            reply.header.rcode = RCODE.REFUSED
            return reply
        except Exception:  # noqa: BLE001 - a DNS server answers SERVFAIL rather than dying
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        for rec in ans.records:
            value = rec.value
            if rec.rtype in ("TXT", "SPF") and not value.startswith('"'):
                value = f'"{value}"'
            try:
                reply.add_answer(*RR.fromZone(f"{rec.name} {rec.ttl} IN {rec.rtype} {value}"))
            except Exception:  # noqa: BLE001 - a value dnslib cannot encode is skipped
                continue
        if ans.rcode == "NXDOMAIN":
            reply.header.rcode = RCODE.NXDOMAIN
        if not ans.records and ans.soa is not None:
            try:
                reply.add_auth(*RR.fromZone(ans.soa.text()))
            except Exception:  # noqa: BLE001
                pass
        return reply


def serve(client: str | ClientLocation | None = None) -> tuple[str, int]:
    """Serve Route 53's answers over DNS (UDP, and TCP on the same port) on 127.0.0.1; returns (host, port).

    One server per client location: every query it receives is answered as if asked from that
    location (default Virginia). Servers stop when the sandbox stops.
    """
    from dnslib.server import DNSServer

    loc = client_location(client)
    _r53()
    with _state.lock:
        running = _state.servers.get(loc.name)
        if running is not None:
            return "127.0.0.1", running[0].server.server_address[1]
        resolver = _Resolver(loc)
        udp = DNSServer(resolver, address="127.0.0.1", port=0, logger=_QuietLogger())
        port = udp.server.server_address[1]
        servers = [udp]
        try:
            servers.append(DNSServer(resolver, address="127.0.0.1", port=port, tcp=True, logger=_QuietLogger()))
        except OSError:
            pass  # the TCP port is taken: serve UDP only
        for srv in servers:
            srv.server.daemon_threads = True
            srv.start_thread()
        _state.servers[loc.name] = servers
        return "127.0.0.1", port


def stop() -> None:
    """Stop every DNS server this plane started (the sandbox calls this when it stops)."""
    with _state.lock:
        running = list(_state.servers.values())
        _state.servers.clear()
    for servers in running:
        for srv in servers:
            try:
                srv.server.shutdown()
                srv.server.server_close()
            except Exception:  # noqa: BLE001 - stopping must not raise
                pass


# ------------------------------------------------------------------------------------- explorer


class Explorer:
    """An interactive view of :func:`resolve`: name, type, client location and health in; answer out.

    ``update(name=..., client=..., health={check_id: bool})`` is what the widgets call; it
    returns the text shown, so the logic is testable without a browser.
    """

    def __init__(self, name: str, rtype: str = "A", client: str | ClientLocation | None = None) -> None:
        self.name = _norm(name).rstrip(".")
        self.rtype = rtype
        self.client = client_location(client).name if not isinstance(client, ClientLocation) else client.name
        self._widget: Any = None
        self.output = self.render()

    def render(self) -> str:
        """The answer's text for the current inputs (errors become a readable line)."""
        try:
            loc = CLIENTS.get(self.client) or client_location(self.client)
            return resolve(self.name, self.rtype, client=loc).text()
        except StackLabError as exc:
            return f"{self.name} {self.rtype}: {exc}"

    def update(
        self,
        *,
        name: str | None = None,
        rtype: str | None = None,
        client: str | None = None,
        health: dict[str, bool | None] | None = None,
    ) -> str:
        """Change some inputs, recompute and return the text shown."""
        if name is not None:
            self.name = name
        if rtype is not None:
            self.rtype = rtype
        if client is not None:
            self.client = client_location(client).name
        for check_id, healthy in (health or {}).items():
            set_health(check_id, healthy)
        self.output = self.render()
        if self._widget is not None:
            self._widget.children[-1].value = self.output
        return self.output

    def widget(self) -> Any:
        """The ipywidgets box (built on first use)."""
        if self._widget is not None:
            return self._widget
        import ipywidgets as w

        name = w.Text(value=self.name, description="name")
        rtype = w.Dropdown(options=list(_TYPES), value=self.rtype, description="type")
        client = w.Dropdown(options=list(CLIENTS), value=self.client, description="client")
        toggles = []
        for cid in sorted(_health_checks(_r53())):
            box = w.Checkbox(value=health_status(cid), description=f"{cid[:8]}… healthy", indent=False)
            box.observe(lambda ch, cid=cid: self.update(health={cid: ch["new"]}), names="value")
            toggles.append(box)
        out = w.Textarea(value=self.output, layout=w.Layout(width="100%", height="12em"), disabled=True)
        name.observe(lambda ch: self.update(name=ch["new"]) if ch["new"].strip() else None, names="value")
        rtype.observe(lambda ch: self.update(rtype=ch["new"]), names="value")
        client.observe(lambda ch: self.update(client=ch["new"]), names="value")
        self._widget = w.VBox([w.HBox([name, rtype, client]), *toggles, out])
        return self._widget

    def __repr__(self) -> str:
        return self.output

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle: dict[str, Any] = {}
        try:
            bundle = dict(self.widget()._repr_mimebundle_(**kwargs) or {})
        except Exception:  # noqa: BLE001 - no widget front end: text only
            bundle = {}
        bundle["text/plain"] = self.output
        return bundle


def explorer(name: str, rtype: str = "A", client: str | ClientLocation | None = None) -> Explorer:
    """An interactive explorer for ``name`` (ipywidgets); its text form is the current answer."""
    return Explorer(name, rtype, client)

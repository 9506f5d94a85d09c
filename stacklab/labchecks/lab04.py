"""Checks for Lab 04 — Route 53: a hosted zone, an apex alias, weighted, geolocation and failover records.

Each check reads the hosted zone through boto3 and asks the course's Route 53 plane
(:mod:`stacklab.planes.dns`) what clients would be answered, then names the exact mistake: a CNAME
at the zone apex (moto accepts it, AWS rejects it), a weighted pair without SetIdentifiers or with
the wrong split, a geolocation set without a default record, a failover PRIMARY without a health
check…
"""

from __future__ import annotations

from typing import Any

from stacklab.checks import CheckFailed, lab_check
from stacklab.labchecks import aws

LESSON = "04"
DOMAIN = "example.org."
_RESET_HINT = (
    "If you restarted the kernel or ran stacklab.reset() since, the sandbox is empty again: "
    "re-run the exercise cells from the top."
)


# ------------------------------------------------------------------------------------ helpers


def _zone(zone_id: Any) -> dict:
    source = "route53.create_hosted_zone(...)['HostedZone']['Id']"
    if isinstance(zone_id, dict):
        raise CheckFailed(
            "`zone_id` holds a whole dict (a boto3 response or part of one), not the hosted zone ID.",
            f"Take just the ID out of it: `zone_id = {source}`.",
        )
    if not isinstance(zone_id, str) or not zone_id.strip():
        raise CheckFailed(
            f"`zone_id` should be the hosted zone ID, a string like '/hostedzone/Z123...'; it holds {zone_id!r}.",
            f"Set it from the response: `zone_id = {source}`.",
        )
    short = zone_id.strip().split("/")[-1]
    r53 = aws("route53")
    zones = {
        z["Id"].split("/")[-1]: z
        for page in r53.get_paginator("list_hosted_zones").paginate()
        for z in page["HostedZones"]
    }
    if short not in zones:
        raise CheckFailed(
            f"no hosted zone has the ID {zone_id!r} in the sandbox.", f"Use `zone_id = {source}`. {_RESET_HINT}"
        )
    return zones[short]


def _records(zone: dict, name: str) -> list[dict]:
    r53 = aws("route53")
    out = []
    for page in r53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone["Id"]):
        for rr in page["ResourceRecordSets"]:
            rname = rr["Name"].lower().replace("\\052", "*")
            if not rname.endswith("."):
                rname += "."
            if rname == name:
                out.append(rr)
    return out


def _plane() -> Any:
    from stacklab.planes import dns

    return dns


def _lab_zone(zone_id: Any) -> dict:
    zone = _zone(zone_id)
    name = zone["Name"].lower().rstrip(".") + "."
    if name != DOMAIN:
        raise CheckFailed(
            f"the hosted zone {zone['Id']} is for {name.rstrip('.')}, but the lab uses {DOMAIN.rstrip('.')}.",
            f"Create the zone with Name='{DOMAIN.rstrip('.')}' and store its ID in `zone_id`.",
        )
    return zone


# ------------------------------------------------------------------------------------- checks


@lab_check("04.zone", LESSON, needs=("zone_id",), title="Exercise 1 · The hosted zone", exercise=1)
def check_zone(zone_id: Any) -> str:
    """A public hosted zone for example.org with its four name servers."""
    zone = _lab_zone(zone_id)
    if zone.get("Config", {}).get("PrivateZone"):
        raise CheckFailed(
            f"{zone['Id']} is a private hosted zone: it answers only inside its VPCs, never on the internet.",
            "Create a public zone: route53.create_hosted_zone(Name='example.org', CallerReference=...) without VPC.",
        )
    ns = [rr for rr in _records(zone, DOMAIN) if rr["Type"] == "NS"]
    servers = [r["Value"] for r in ns[0]["ResourceRecords"]] if ns else []
    if len(servers) != 4:
        raise CheckFailed(
            f"the zone's NS record lists {len(servers)} name servers instead of Route 53's four.",
            "Do not edit or delete the NS record Route 53 created; it is what the registrar must point at.",
        )
    return f"public hosted zone {zone['Id']} for example.org; delegate to its 4 name servers ({servers[0]}, ...)."


@lab_check("04.apex", LESSON, needs=("zone_id",), title="Exercise 2 · Apex alias to CloudFront", exercise=2)
def check_apex(zone_id: Any) -> str:
    """An alias A record at example.org whose target is the lab's CloudFront distribution."""
    zone = _lab_zone(zone_id)
    records = _records(zone, DOMAIN)
    if any(rr["Type"] == "CNAME" for rr in records):
        raise CheckFailed(
            "example.org has a CNAME record: a CNAME cannot sit at the zone apex (the apex already holds the SOA "
            "and NS records). moto accepts it, but Route 53 rejects it with InvalidChangeBatch.",
            "Delete the CNAME and create an A record with AliasTarget={'HostedZoneId': 'Z2FDTNDATAQYW2', "
            "'DNSName': distribution_domain, 'EvaluateTargetHealth': False}.",
        )
    a_records = [rr for rr in records if rr["Type"] == "A"]
    if not a_records:
        raise CheckFailed(
            "example.org has no A record yet.",
            "Create an alias A record at the apex (Name='example.org', Type='A', AliasTarget={...}).",
        )
    rr = a_records[0]
    alias = rr.get("AliasTarget")
    if not alias:
        values = ", ".join(r["Value"] for r in rr.get("ResourceRecords", []))
        raise CheckFailed(
            f"example.org is a plain A record ({values}), not an alias: CloudFront's addresses change, so "
            "hard-coded addresses break.",
            "Use AliasTarget={'HostedZoneId': 'Z2FDTNDATAQYW2', 'DNSName': distribution_domain, ...} and no "
            "TTL/ResourceRecords.",
        )
    cf = aws("cloudfront")
    domains = {
        d["DomainName"].lower(): d
        for page in cf.get_paginator("list_distributions").paginate()
        for d in (page.get("DistributionList", {}).get("Items") or [])
    }
    target = alias["DNSName"].lower().rstrip(".")
    if target not in domains:
        raise CheckFailed(
            f"the alias points at {target}, which is not a CloudFront distribution of the sandbox.",
            "Use the distribution's DomainName (the `distribution_domain` variable of the setup cell).",
        )
    if alias["HostedZoneId"] != "Z2FDTNDATAQYW2":
        raise CheckFailed(
            f"the alias uses the hosted zone ID {alias['HostedZoneId']}; every CloudFront alias target uses "
            "Z2FDTNDATAQYW2 (not your own zone's ID, not an S3 website zone ID).",
            "Set AliasTarget['HostedZoneId'] = 'Z2FDTNDATAQYW2'.",
        )
    answer = _plane().resolve("example.org", zone_id=zone["Id"])
    if not answer.values or answer.ttl != 60:
        raise CheckFailed(f"example.org does not resolve as expected: {answer.reason}", "Re-create the alias record.")
    return (
        f"example.org is an alias A record to {target} (zone Z2FDTNDATAQYW2); it answers "
        f"{len(answer.values)} addresses with CloudFront's TTL of 60 s."
    )


@lab_check("04.weighted", LESSON, needs=("zone_id",), title="Exercise 3 · Weighted 90/10", exercise=3)
def check_weighted(zone_id: Any) -> str:
    """Two weighted A records for api.example.org, 90 % / 10 %, each with a SetIdentifier."""
    zone = _lab_zone(zone_id)
    name = "api." + DOMAIN
    records = [rr for rr in _records(zone, name) if rr["Type"] == "A"]
    if not records:
        raise CheckFailed("api.example.org has no A records yet.", "Create two weighted A records (Weight=90 and 10).")
    if len(records) != 2:
        raise CheckFailed(
            f"api.example.org has {len(records)} A record set(s); the exercise asks for exactly two (blue and green).",
            "Create one with Weight=90 and one with Weight=10; delete any extra.",
        )
    missing = [rr for rr in records if "Weight" not in rr]
    if missing:
        raise CheckFailed(
            "one of the api.example.org records has no Weight, so it is not part of a weighted group.",
            "Give both records a Weight (90 and 10) and a SetIdentifier.",
        )
    if any(not rr.get("SetIdentifier") for rr in records):
        raise CheckFailed(
            "a weighted record has no SetIdentifier: AWS rejects that (moto accepts it). The SetIdentifier tells the "
            "records of a weighted group apart.",
            "Add SetIdentifier='blue' to one record and SetIdentifier='green' to the other.",
        )
    if len({rr["SetIdentifier"] for rr in records}) != 2:
        raise CheckFailed(
            "both weighted records use the same SetIdentifier; each record of a group needs its own.",
            "Use SetIdentifier='blue' and SetIdentifier='green'.",
        )
    weights = sorted(int(rr["Weight"]) for rr in records)
    total = sum(weights)
    if total == 0 or weights[1] * 10 != total * 9:
        raise CheckFailed(
            f"the weights are {weights[1]} and {weights[0]}, a {weights[1] * 100 // max(total, 1)}/"
            f"{weights[0] * 100 // max(total, 1)} split; the exercise asks for 90/10.",
            "Set Weight=90 on the current version and Weight=10 on the new one.",
        )
    counts = _plane().sample(name, n=1000, zone_id=zone["Id"])
    top = max(counts.values())
    return (
        f"api.example.org is weighted {weights[1]}/{weights[0]}: {top} of 1000 sampled answers went to the "
        "heavy record."
    )


@lab_check("04.geo", LESSON, needs=("zone_id",), title="Exercise 4 · Geolocation with a default", exercise=4)
def check_geo(zone_id: Any) -> str:
    """Geolocation records for shop.example.org: France, Europe, and a default for everyone else."""
    zone = _lab_zone(zone_id)
    name = "shop." + DOMAIN
    records = [rr for rr in _records(zone, name) if rr["Type"] == "A"]
    if not records:
        raise CheckFailed("shop.example.org has no A records yet.", "Create the three geolocation records.")
    geos = [rr.get("GeoLocation") for rr in records]
    if not all(geos):
        raise CheckFailed(
            "some shop.example.org records have no GeoLocation, so this is not a geolocation group.",
            "Give every record a GeoLocation: {'CountryCode': 'FR'}, {'ContinentCode': 'EU'}, {'CountryCode': '*'}.",
        )
    plane = _plane()
    expected = {"Paris": {"CountryCode": "FR"}, "London": {"ContinentCode": "EU"}}
    for client, geo in expected.items():
        if not any(all(g.get(k) == v for k, v in geo.items()) and len(g) == len(geo) for g in geos):
            key, value = next(iter(geo.items()))
            raise CheckFailed(
                f"there is no record with GeoLocation {{'{key}': '{value}'}} (for clients like {client}).",
                f"Add a record with GeoLocation={{'{key}': '{value}'}} and its own SetIdentifier.",
            )
    if not any(g.get("CountryCode") == "*" for g in geos):
        answer = plane.resolve(name, client="Tokyo", zone_id=zone["Id"])
        raise CheckFailed(
            "there is no default record (GeoLocation {'CountryCode': '*'}), so a client in Tokyo gets "
            f"{'no answer at all' if answer.nodata else answer.values}: no match and no default means no answer.",
            "Add a record with GeoLocation={'CountryCode': '*'} (the default) for everyone else.",
        )
    answers = {c: plane.resolve(name, client=c, zone_id=zone["Id"]) for c in ("Paris", "London", "Tokyo")}
    if len({tuple(a.values) for a in answers.values()}) != 3:
        raise CheckFailed(
            "Paris, London and Tokyo do not get three different answers; each record should point at its own address.",
            "Give the France, Europe and default records different IP addresses.",
        )
    parts = ", ".join(f"{c} → {a.chosen[0]}" for c, a in answers.items())
    return f"shop.example.org answers by place ({parts}), with a default for the rest of the world."


@lab_check("04.failover", LESSON, needs=("zone_id",), title="Exercise 5 · Failover that fails over", exercise=5)
def check_failover(zone_id: Any) -> str:
    """A PRIMARY/SECONDARY pair for www.example.org, the PRIMARY with a health check."""
    zone = _lab_zone(zone_id)
    name = "www." + DOMAIN
    records = [rr for rr in _records(zone, name) if rr["Type"] == "A"]
    primary = [rr for rr in records if rr.get("Failover") == "PRIMARY"]
    secondary = [rr for rr in records if rr.get("Failover") == "SECONDARY"]
    if not primary or not secondary:
        missing = "PRIMARY" if not primary else "SECONDARY"
        raise CheckFailed(
            f"www.example.org has no {missing} failover record.",
            "Create two A records with Failover='PRIMARY' and Failover='SECONDARY', each with a SetIdentifier.",
        )
    check_id = primary[0].get("HealthCheckId")
    if not check_id:
        if secondary[0].get("HealthCheckId"):
            raise CheckFailed(
                "the health check is on the SECONDARY, and the PRIMARY has none: Route 53 then considers the "
                "PRIMARY always healthy and never fails over.",
                "Move HealthCheckId to the PRIMARY record (the SECONDARY may go without one).",
            )
        raise CheckFailed(
            "the PRIMARY record has no health check, so Route 53 always considers it healthy and never answers "
            "the SECONDARY, even when the primary is down.",
            "Create a health check for the primary origin (route53.create_health_check) and set HealthCheckId on "
            "the PRIMARY record.",
        )
    checks = {hc["Id"]: hc for hc in aws("route53").list_health_checks()["HealthChecks"]}
    if check_id not in checks:
        raise CheckFailed(
            f"the PRIMARY names health check {check_id}, which does not exist.",
            "Use the Id create_health_check returned.",
        )
    plane = _plane()
    before = plane._state.explicit.get(check_id)
    plane.set_health(check_id, False)  # the drill: the primary goes down...
    try:
        down = plane.resolve(name, zone_id=zone["Id"])
    finally:
        plane.set_health(check_id, before)  # ...and comes back as it was
    up = plane.resolve(name, zone_id=zone["Id"])
    if down.chosen != [secondary[0]["SetIdentifier"]] or up.chosen != [primary[0]["SetIdentifier"]]:
        raise CheckFailed(
            f"the drill did not switch as expected (healthy: {up.chosen}, primary down: {down.chosen}).",
            "Check that the PRIMARY and SECONDARY point at different addresses and that only the PRIMARY has "
            "the check.",
        )
    return (
        f"www.example.org answers the PRIMARY ({', '.join(up.values)}) while its health check is healthy, and the "
        f"SECONDARY ({', '.join(down.values)}) when it is not."
    )

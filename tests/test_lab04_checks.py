"""Lab 04's checks pass on the solution and name the exact mistake in realistic wrong answers."""

from __future__ import annotations

import time

import pytest
from support.labcheck import failed, run

import stacklab
from stacklab.planes.http import Response, serve


@pytest.fixture(autouse=True)
def fresh(box, tmp_path, monkeypatch):
    monkeypatch.setenv("STACKLAB_PROGRESS", str(tmp_path / "progress.json"))
    stacklab.reset()
    stacklab.client("route53").list_hosted_zones()
    stacklab.client("cloudfront").list_distributions()




# ------------------------------------------------------------------------------------ builders


def r53():
    return stacklab.client("route53")


def make_zone(name: str = "example.org", **kwargs) -> str:
    return r53().create_hosted_zone(Name=name, CallerReference=f"t-{name}-{time.perf_counter()}", **kwargs)[
        "HostedZone"
    ]["Id"]


def change(zone_id: str, *records: dict) -> None:
    r53().change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": r} for r in records]},
    )


def a(name: str, value: str, **kwargs) -> dict:
    return {"Name": name, "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": value}], **kwargs}


def distribution() -> str:
    cfg = {
        "CallerReference": f"t{time.perf_counter()}",
        "Comment": "",
        "Enabled": True,
        "Aliases": {"Quantity": 1, "Items": ["example.org"]},
        "Origins": {
            "Quantity": 1,
            "Items": [{"Id": "o", "DomainName": "b.s3.amazonaws.com", "S3OriginConfig": {"OriginAccessIdentity": ""}}],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": "o",
            "ViewerProtocolPolicy": "allow-all",
            "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
            "MinTTL": 0,
            "TrustedSigners": {"Enabled": False, "Quantity": 0},
        },
    }
    return stacklab.client("cloudfront").create_distribution(DistributionConfig=cfg)["Distribution"]["DomainName"]


def alias(target: str, zone: str = "Z2FDTNDATAQYW2") -> dict:
    return {"HostedZoneId": zone, "DNSName": target, "EvaluateTargetHealth": False}


def health_check() -> str:
    server = serve("lab04-test-origin", lambda req: Response(200, {}, b"OK"))
    config = {"Type": "HTTP", "IPAddress": "127.0.0.1", "Port": server.port, "ResourcePath": "/health"}
    return r53().create_health_check(CallerReference=f"t{time.perf_counter()}", HealthCheckConfig=config)[
        "HealthCheck"
    ]["Id"]


# ------------------------------------------------------------------------------------ exercise 1


def test_zone_passes_and_catches_mistakes():
    zone_id = make_zone()
    assert run("04.zone", zone_id=zone_id)
    assert run("04.zone", zone_id=zone_id.split("/")[-1]), "the short ID works too"
    assert "whole dict" in failed("04.zone", zone_id={"HostedZone": {"Id": zone_id}})
    assert "no hosted zone has the ID" in failed("04.zone", zone_id="/hostedzone/ZNOPE")
    other = make_zone("example.net")
    assert "the lab uses example.org" in failed("04.zone", zone_id=other)
    assert "not run" not in failed("04.zone", zone_id=...)


def test_private_zone_is_named():
    vpc = stacklab.client("ec2").create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    zone_id = make_zone(VPC={"VPCRegion": "us-east-1", "VPCId": vpc}, HostedZoneConfig={"PrivateZone": True})
    assert "private hosted zone" in failed("04.zone", zone_id=zone_id)


# ------------------------------------------------------------------------------------ exercise 2


def test_apex_alias_passes():
    zone_id = make_zone()
    change(zone_id, {"Name": "example.org", "Type": "A", "AliasTarget": alias(distribution())})
    assert run("04.apex", zone_id=zone_id)


def test_apex_cname_is_rejected_like_aws_would():
    zone_id = make_zone()
    change(
        zone_id, {"Name": "example.org", "Type": "CNAME", "TTL": 300, "ResourceRecords": [{"Value": distribution()}]}
    )
    assert "CNAME cannot sit at the zone apex" in failed("04.apex", zone_id=zone_id)


def test_apex_wrong_zone_id_plain_a_and_missing():
    zone_id = make_zone()
    assert "no A record yet" in failed("04.apex", zone_id=zone_id)
    change(zone_id, {"Name": "example.org", "Type": "A", "AliasTarget": alias(distribution(), "Z3AQBSTGFYJSTF")})
    assert "Z2FDTNDATAQYW2" in failed("04.apex", zone_id=zone_id)
    zone2 = make_zone("example.org")
    change(zone2, a("example.org", "203.0.113.5"))
    assert "not an alias" in failed("04.apex", zone_id=zone2)
    zone3 = make_zone("example.org")
    change(zone3, {"Name": "example.org", "Type": "A", "AliasTarget": alias("dnope.cloudfront.net")})
    assert "not a CloudFront distribution" in failed("04.apex", zone_id=zone3)


# ------------------------------------------------------------------------------------ exercise 3


def test_weighted_passes_and_catches_mistakes():
    zone_id = make_zone()
    change(
        zone_id,
        a("api.example.org", "192.0.2.10", SetIdentifier="blue", Weight=90),
        a("api.example.org", "192.0.2.20", SetIdentifier="green", Weight=10),
    )
    assert run("04.weighted", zone_id=zone_id)

    fifty = make_zone()
    change(
        fifty,
        a("api.example.org", "192.0.2.10", SetIdentifier="blue", Weight=50),
        a("api.example.org", "192.0.2.20", SetIdentifier="green", Weight=50),
    )
    assert "50/50 split" in failed("04.weighted", zone_id=fifty)

    no_ids = make_zone()  # moto accepts Weight without SetIdentifier; AWS does not
    change(no_ids, a("api.example.org", "192.0.2.10", Weight=90), a("api.example.org", "192.0.2.20", Weight=10))
    assert "no SetIdentifier" in failed("04.weighted", zone_id=no_ids)

    simple = make_zone()
    change(simple, a("api.example.org", "192.0.2.10"))
    assert "exactly two" in failed("04.weighted", zone_id=simple)


# ------------------------------------------------------------------------------------ exercise 4

GEO = [
    ("france", {"CountryCode": "FR"}, "192.0.2.31"),
    ("europe", {"ContinentCode": "EU"}, "192.0.2.32"),
    ("default", {"CountryCode": "*"}, "192.0.2.33"),
]


def test_geo_passes_and_catches_missing_default():
    zone_id = make_zone()
    change(zone_id, *[a("shop.example.org", v, SetIdentifier=i, GeoLocation=g) for i, g, v in GEO])
    assert run("04.geo", zone_id=zone_id)

    no_default = make_zone()
    change(no_default, *[a("shop.example.org", v, SetIdentifier=i, GeoLocation=g) for i, g, v in GEO[:2]])
    message = failed("04.geo", zone_id=no_default)
    assert "no default record" in message and "no answer at all" in message

    no_europe = make_zone()
    change(no_europe, *[a("shop.example.org", v, SetIdentifier=i, GeoLocation=g) for i, g, v in (GEO[0], GEO[2])])
    assert "ContinentCode': 'EU'" in failed("04.geo", zone_id=no_europe)

    same = make_zone()
    change(same, *[a("shop.example.org", "192.0.2.30", SetIdentifier=i, GeoLocation=g) for i, g, _ in GEO])
    assert "three different answers" in failed("04.geo", zone_id=same)


# ------------------------------------------------------------------------------------ exercise 5


def test_failover_passes_and_catches_missing_health_check():
    zone_id = make_zone()
    hc = health_check()
    change(
        zone_id,
        a("www.example.org", "192.0.2.51", SetIdentifier="primary", Failover="PRIMARY", HealthCheckId=hc),
        a("www.example.org", "192.0.2.52", SetIdentifier="secondary", Failover="SECONDARY"),
    )
    assert run("04.failover", zone_id=zone_id)

    no_check = make_zone()
    change(
        no_check,
        a("www.example.org", "192.0.2.51", SetIdentifier="primary", Failover="PRIMARY"),
        a("www.example.org", "192.0.2.52", SetIdentifier="secondary", Failover="SECONDARY"),
    )
    assert "PRIMARY record has no health check" in failed("04.failover", zone_id=no_check)

    on_secondary = make_zone()
    change(
        on_secondary,
        a("www.example.org", "192.0.2.51", SetIdentifier="primary", Failover="PRIMARY"),
        a("www.example.org", "192.0.2.52", SetIdentifier="secondary", Failover="SECONDARY", HealthCheckId=hc),
    )
    assert "health check is on the SECONDARY" in failed("04.failover", zone_id=on_secondary)

    lonely = make_zone()
    change(lonely, a("www.example.org", "192.0.2.51", SetIdentifier="primary", Failover="PRIMARY", HealthCheckId=hc))
    assert "no SECONDARY" in failed("04.failover", zone_id=lonely)

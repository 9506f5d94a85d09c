"""The Route 53 plane answers as Route 53 does: each routing policy, health thresholds, aliases, DNS protocol."""

from __future__ import annotations

import dns.message
import dns.query
import dns.rcode
import dns.resolver
import pytest

import stacklab
from stacklab.planes import dns as r53dns
from stacklab.planes.http import Response, serve

ORIGIN = {"up": True}


def rr(**kwargs):
    return {"Action": "CREATE", "ResourceRecordSet": kwargs}


def a(name, value, ttl=60, **kwargs):
    return rr(Name=name, Type="A", TTL=ttl, ResourceRecords=[{"Value": value}], **kwargs)


@pytest.fixture(scope="module")
def zone(box):
    stacklab.reset()
    r53 = stacklab.client("route53")
    zid = r53.create_hosted_zone(Name="example.com", CallerReference="t")["HostedZone"]["Id"]
    server = serve("dns-test-origin", lambda req: Response(200 if ORIGIN["up"] else 503, {}, b"ok"))
    hc_local = r53.create_health_check(
        CallerReference="local",
        HealthCheckConfig={
            "Type": "HTTP",
            "IPAddress": "127.0.0.1",
            "Port": server.port,
            "ResourcePath": "/health",
            "RequestInterval": 10,
            "FailureThreshold": 3,
        },
    )["HealthCheck"]["Id"]
    hc_remote = r53.create_health_check(
        CallerReference="remote",
        HealthCheckConfig={
            "Type": "HTTPS",
            "FullyQualifiedDomainName": "origin.example.net",
            "Port": 443,
            "ResourcePath": "/",
            "RequestInterval": 30,
            "FailureThreshold": 3,
        },
    )["HealthCheck"]["Id"]
    cf = stacklab.client("cloudfront")
    dist = cf.create_distribution(
        DistributionConfig={
            "CallerReference": "t",
            "Comment": "",
            "Enabled": True,
            "Aliases": {"Quantity": 1, "Items": ["example.com"]},
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {"Id": "o", "DomainName": "b.s3.amazonaws.com", "S3OriginConfig": {"OriginAccessIdentity": ""}}
                ],
            },
            "DefaultCacheBehavior": {
                "TargetOriginId": "o",
                "ViewerProtocolPolicy": "allow-all",
                "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
                "MinTTL": 0,
                "TrustedSigners": {"Enabled": False, "Quantity": 0},
            },
        }
    )["Distribution"]
    short = zid.split("/")[-1]
    changes = [
        rr(
            Name="example.com",
            Type="A",
            AliasTarget={
                "HostedZoneId": "Z2FDTNDATAQYW2",
                "DNSName": dist["DomainName"],
                "EvaluateTargetHealth": False,
            },
        ),
        rr(
            Name="www.example.com",
            Type="A",
            AliasTarget={
                "HostedZoneId": "Z2FDTNDATAQYW2",
                "DNSName": dist["DomainName"],
                "EvaluateTargetHealth": False,
            },
        ),
        rr(
            Name="site.example.com",
            Type="A",
            AliasTarget={
                "HostedZoneId": "Z3AQBSTGFYJSTF",
                "DNSName": "s3-website-us-east-1.amazonaws.com",
                "EvaluateTargetHealth": False,
            },
        ),
        rr(
            Name="shop.example.com",
            Type="A",
            AliasTarget={"HostedZoneId": short, "DNSName": "simple.example.com", "EvaluateTargetHealth": False},
        ),
        a("simple.example.com", "192.0.2.1", ttl=300),
        a("w.example.com", "192.0.2.10", SetIdentifier="blue", Weight=90),
        a("w.example.com", "192.0.2.20", SetIdentifier="green", Weight=10),
        a("zero.example.com", "192.0.2.11", SetIdentifier="z1", Weight=0),
        a("zero.example.com", "192.0.2.12", SetIdentifier="z2", Weight=0),
        a(
            "geo.example.com",
            "192.0.2.31",
            SetIdentifier="oh",
            GeoLocation={"CountryCode": "US", "SubdivisionCode": "OH"},
        ),
        a("geo.example.com", "192.0.2.32", SetIdentifier="us", GeoLocation={"CountryCode": "US"}),
        a("geo.example.com", "192.0.2.33", SetIdentifier="fr", GeoLocation={"CountryCode": "FR"}),
        a("geo.example.com", "192.0.2.34", SetIdentifier="eu", GeoLocation={"ContinentCode": "EU"}),
        a("geo.example.com", "192.0.2.35", SetIdentifier="default", GeoLocation={"CountryCode": "*"}),
        a("geonodef.example.com", "192.0.2.36", SetIdentifier="fr", GeoLocation={"CountryCode": "FR"}),
        a("lat.example.com", "192.0.2.41", SetIdentifier="use1", Region="us-east-1"),
        a("lat.example.com", "192.0.2.42", SetIdentifier="euw3", Region="eu-west-3"),
        a("lat.example.com", "192.0.2.43", SetIdentifier="apne1", Region="ap-northeast-1"),
        a("fo.example.com", "192.0.2.51", SetIdentifier="primary", Failover="PRIMARY", HealthCheckId=hc_local),
        a("fo.example.com", "192.0.2.52", SetIdentifier="secondary", Failover="SECONDARY"),
        a("nohc.example.com", "192.0.2.53", SetIdentifier="primary", Failover="PRIMARY"),
        a("nohc.example.com", "192.0.2.54", SetIdentifier="secondary", Failover="SECONDARY"),
        a("remote.example.com", "192.0.2.55", SetIdentifier="primary", Failover="PRIMARY", HealthCheckId=hc_remote),
        a("remote.example.com", "192.0.2.56", SetIdentifier="secondary", Failover="SECONDARY"),
        a("deep.a.example.com", "192.0.2.60"),
        a("*.wild.example.com", "192.0.2.61"),
        rr(Name="cdn.example.com", Type="CNAME", TTL=300, ResourceRecords=[{"Value": dist["DomainName"]}]),
        rr(Name="txt.example.com", Type="TXT", TTL=300, ResourceRecords=[{"Value": '"hello"'}]),
    ]
    changes += [
        a("mv.example.com", f"192.0.2.{100 + i}", SetIdentifier=f"m{i}", MultiValueAnswer=True) for i in range(10)
    ]
    r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": changes})
    return {"id": zid, "hc_local": hc_local, "hc_remote": hc_remote, "dist": dist, "r53": r53}


@pytest.fixture(autouse=True)
def healthy_again(zone):
    ORIGIN["up"] = True
    yield
    r53dns._state.explicit.clear()  # every health check back to probing / its default


# ------------------------------------------------------------------------------------- policies


def test_simple_answer_has_the_record_ttl(zone):
    ans = r53dns.resolve("simple.example.com")
    assert (ans.rcode, ans.values, ans.ttl, ans.policy) == ("NOERROR", ["192.0.2.1"], 300, "simple")


def test_alias_to_cloudfront_uses_made_up_addresses_and_60s(zone):
    ans = r53dns.resolve("example.com")
    assert ans.policy == "alias" and ans.ttl == 60 and len(ans.values) == 4
    assert all(v.startswith("203.0.113.") for v in ans.values)
    assert "Z2FDTNDATAQYW2" in ans.reason
    assert not any("alternate domain name" in n for n in ans.notes)
    www = r53dns.resolve("www.example.com")  # not in the distribution's Aliases
    assert any("alternate domain name" in n for n in www.notes)


def test_alias_to_s3_website_and_missing_bucket_note(zone):
    ans = r53dns.resolve("site.example.com")
    assert ans.ttl == 60 and ans.values[0].startswith("198.51.100.")
    assert any("NoSuchBucket" in n for n in ans.notes)


def test_alias_to_record_in_same_zone_uses_the_target_ttl(zone):
    ans = r53dns.resolve("shop.example.com")
    assert ans.values == ["192.0.2.1"] and ans.ttl == 300 and ans.policy == "alias → simple"
    assert ans.records[0].name == "shop.example.com."


def test_weighted_is_proportional_and_reproducible(zone):

    first = r53dns.sample("w.example.com", n=2000)
    assert 0.86 < first["blue"] / 2000 < 0.94
    r53dns._on_reset()
    again = r53dns.sample("w.example.com", n=50)
    r53dns._on_reset()
    assert r53dns.sample("w.example.com", n=50) == again


def test_weight_zero_everywhere_means_equal_chances(zone):
    counts = r53dns.sample("zero.example.com", n=400)
    assert set(counts) == {"z1", "z2"} and min(counts.values()) > 150


@pytest.mark.parametrize(
    ("client", "expected"),
    [("Ohio", "oh"), ("Virginia", "us"), ("Paris", "fr"), ("Frankfurt", "eu"), ("Tokyo", "default")],
)
def test_geolocation_most_specific_wins(zone, client, expected):
    assert r53dns.resolve("geo.example.com", client=client).chosen == [expected]


def test_geolocation_without_default_gives_no_answer(zone):
    ans = r53dns.resolve("geonodef.example.com", client="Tokyo")
    assert ans.rcode == "NOERROR" and ans.nodata and "no default" in ans.reason
    assert r53dns.resolve("geonodef.example.com", client="Paris").values == ["192.0.2.36"]


@pytest.mark.parametrize(
    ("client", "expected"),
    [("Virginia", "use1"), ("Ohio", "use1"), ("London", "euw3"), ("Tokyo", "apne1"), ("Sydney", "apne1")],
)
def test_latency_lowest_wins(zone, client, expected):
    assert r53dns.resolve("lat.example.com", client=client).chosen == [expected]


def test_failover_switches_only_after_threshold(zone):
    stacklab.clock().advance(1)
    assert r53dns.resolve("fo.example.com").chosen == ["primary"]
    ORIGIN["up"] = False
    seen = []
    for _ in range(4):
        stacklab.clock().advance(10)
        seen.append(r53dns.resolve("fo.example.com").chosen[0])
    assert seen == ["primary", "primary", "secondary", "secondary"]
    ORIGIN["up"] = True
    back = []
    for _ in range(3):
        stacklab.clock().advance(10)
        back.append(r53dns.resolve("fo.example.com").chosen[0])
    assert back == ["secondary", "secondary", "primary"]


def test_failover_primary_without_health_check_never_fails_over(zone):
    ans = r53dns.resolve("nohc.example.com")
    assert ans.chosen == ["primary"] and "no health check" in ans.reason


def test_remote_checks_are_never_probed_but_can_be_set(zone):
    stacklab.clock().advance(600)
    assert r53dns.health_status(zone["hc_remote"]) is True
    r53dns.set_health(zone["hc_remote"], False)
    assert r53dns.resolve("remote.example.com").chosen == ["secondary"]


def test_multivalue_at_most_eight_healthy(zone):
    ans = r53dns.resolve("mv.example.com")
    assert len(ans.values) == 8 and len(set(ans.values)) == 8 and ans.policy == "multivalue"


def test_cname_is_followed_to_cloudfront(zone):
    ans = r53dns.resolve("cdn.example.com")
    assert ans.records[0].rtype == "CNAME" and ans.records[0].value == zone["dist"]["DomainName"] + "."
    assert len(ans.values) == 4


@pytest.mark.parametrize(
    ("name", "rtype", "rcode", "nodata"),
    [
        ("missing.example.com", "A", "NXDOMAIN", False),
        ("simple.example.com", "AAAA", "NOERROR", True),
        ("a.example.com", "A", "NOERROR", True),  # empty non-terminal
        ("x.wild.example.com", "A", "NOERROR", False),
    ],
)
def test_rcodes(zone, name, rtype, rcode, nodata):
    ans = r53dns.resolve(name, rtype)
    assert (ans.rcode, ans.nodata) == (rcode, nodata)


# ------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "www.other.org"}, "REFUSED"),
        ({"name": ""}, "must not be empty"),
        ({"name": "bad name.example.com"}, "characters"),
        ({"name": "simple.example.com", "rtype": "XYZ"}, "rtype must be one of"),
        ({"name": "simple.example.com", "client": "Atlantis"}, "Unknown client location"),
        ({"name": "simple.example.com", "zone_id": "ZNOPE"}, "No hosted zone"),
    ],
)
def test_bad_input(zone, kwargs, message):
    with pytest.raises(stacklab.StackLabError, match=message):
        r53dns.resolve(**kwargs)


def test_bad_health_and_location_input(zone):
    with pytest.raises(stacklab.InputError, match="No health check"):
        r53dns.set_health("nope", False)
    with pytest.raises(stacklab.InputError, match="True or False"):
        r53dns.set_health(zone["hc_local"], "yes")
    with pytest.raises(stacklab.InputError, match="continent"):
        r53dns.ClientLocation("Mars", "XX")
    with pytest.raises(stacklab.InputError, match="region"):
        r53dns.latency_ms("us-east-1", "mars-1")


# ------------------------------------------------------------------------------ DNS protocol, UI


def test_served_over_dns_protocol(zone):
    host, port = r53dns.serve("Paris")
    res = dns.resolver.Resolver(configure=False)
    res.nameservers, res.port, res.lifetime = [host], port, 2
    assert [r.to_text() for r in res.resolve("geo.example.com", "A")] == ["192.0.2.33"]
    with pytest.raises(dns.resolver.NXDOMAIN):
        res.resolve("missing.example.com", "A")
    reply = dns.query.udp(dns.message.make_query("x.other.org", "A"), host, port=port, timeout=2)
    assert dns.rcode.to_text(reply.rcode()) == "REFUSED"
    tcp = dns.query.tcp(dns.message.make_query("simple.example.com", "A"), host, port=port, timeout=2)
    assert tcp.answer[0].ttl == 300


def test_explorer_logic_without_browser(zone):
    ex = r53dns.explorer("fo.example.com", client="Paris")
    assert "chosen: primary" in repr(ex)
    text = ex.update(health={zone["hc_local"]: False})
    assert "chosen: secondary" in text
    assert "Unknown" not in ex.update(client="Tokyo")
    assert "REFUSED" in ex.update(name="www.other.org")
    assert ex._repr_mimebundle_()["text/plain"] == ex.output


# ------------------------------------------------------------------------- health in every policy


@pytest.fixture(scope="module")
def health_zone(zone):
    r53 = zone["r53"]
    zid = r53.create_hosted_zone(Name="health.test", CallerReference="health")["HostedZone"]["Id"]

    def check(ref, **extra):
        config = {"Type": "HTTPS", "FullyQualifiedDomainName": f"{ref}.example.net", "Port": 443, **extra}
        return r53.create_health_check(CallerReference=ref, HealthCheckConfig=config)["HealthCheck"]["Id"]

    ids = {ref: check(ref) for ref in ("w1", "w2", "g1", "m1", "m2", "p", "s")}
    ids["off"] = check("off", Disabled=True)
    ids["calc"] = r53.create_health_check(
        CallerReference="calc",
        HealthCheckConfig={"Type": "CALCULATED", "ChildHealthChecks": [ids["m1"], ids["m2"]], "HealthThreshold": 2},
    )["HealthCheck"]["Id"]
    changes = [
        a("w.health.test", "192.0.2.1", SetIdentifier="w1", Weight=90, HealthCheckId=ids["w1"]),
        a("w.health.test", "192.0.2.2", SetIdentifier="w2", Weight=10, HealthCheckId=ids["w2"]),
        a("w.health.test", "192.0.2.3", SetIdentifier="w0", Weight=0),
        a(
            "g.health.test",
            "192.0.2.11",
            SetIdentifier="fr",
            GeoLocation={"CountryCode": "FR"},
            HealthCheckId=ids["g1"],
        ),
        a("g.health.test", "192.0.2.12", SetIdentifier="eu", GeoLocation={"ContinentCode": "EU"}),
        a("m.health.test", "192.0.2.21", SetIdentifier="m1", MultiValueAnswer=True, HealthCheckId=ids["m1"]),
        a("m.health.test", "192.0.2.22", SetIdentifier="m2", MultiValueAnswer=True, HealthCheckId=ids["m2"]),
        a("f.health.test", "192.0.2.31", SetIdentifier="p", Failover="PRIMARY", HealthCheckId=ids["p"]),
        a("f.health.test", "192.0.2.32", SetIdentifier="s", Failover="SECONDARY", HealthCheckId=ids["s"]),
        a("d.health.test", "192.0.2.41", SetIdentifier="p", Failover="PRIMARY", HealthCheckId=ids["off"]),
        a("d.health.test", "192.0.2.42", SetIdentifier="s", Failover="SECONDARY"),
        a("dup.health.test", "192.0.2.51"),
        a("dup.health.test", "192.0.2.52"),  # moto creates a second record set on a duplicate CREATE
        a("mix.health.test", "192.0.2.61", SetIdentifier="x", Weight=1),
        a("mix.health.test", "192.0.2.62", SetIdentifier="y", Region="us-east-1"),
    ]
    r53.change_resource_record_sets(
        HostedZoneId=zid, ChangeBatch={"Changes": [rr(**c["ResourceRecordSet"]) for c in changes]}
    )
    yield ids
    for check_id in ids.values():
        r53dns.set_health(check_id, None)


def test_weighted_skips_unhealthy_then_uses_zero_weights(health_zone):
    r53dns.set_health(health_zone["w1"], False)
    assert set(r53dns.sample("w.health.test", n=200)) == {"w2"}
    r53dns.set_health(health_zone["w2"], False)
    assert set(r53dns.sample("w.health.test", n=50)) == {"w0"}, "weight 0 is used when every weighted one is down"


def test_geolocation_unhealthy_match_falls_back_to_larger_area(health_zone):
    assert r53dns.resolve("g.health.test", client="Paris").chosen == ["fr"]
    r53dns.set_health(health_zone["g1"], False)
    ans = r53dns.resolve("g.health.test", client="Paris")
    assert ans.chosen == ["eu"] and "unhealthy" in ans.reason


def test_multivalue_leaves_out_unhealthy_but_answers_all_when_none_is_healthy(health_zone):
    r53dns.set_health(health_zone["m1"], False)
    assert r53dns.resolve("m.health.test").values == ["192.0.2.22"]
    r53dns.set_health(health_zone["m2"], False)
    assert sorted(r53dns.resolve("m.health.test").values) == ["192.0.2.21", "192.0.2.22"]


def test_calculated_and_disabled_checks(health_zone):
    assert r53dns.health_status(health_zone["calc"]) is True
    r53dns.set_health(health_zone["m2"], False)
    assert r53dns.health_status(health_zone["calc"]) is False
    r53dns.set_health(health_zone["off"], False)  # a disabled check is healthy whatever it says
    assert r53dns.resolve("d.health.test").chosen == ["p"]


def test_failover_both_unhealthy_answers_the_primary(health_zone):
    r53dns.set_health(health_zone["p"], False)
    assert r53dns.resolve("f.health.test").chosen == ["s"]
    r53dns.set_health(health_zone["s"], False)
    ans = r53dns.resolve("f.health.test")
    assert ans.chosen == ["p"] and "considers them all healthy" in ans.reason


@pytest.mark.parametrize(("name", "message"), [("dup.health.test", "2 simple"), ("mix.health.test", "mix routing")])
def test_configurations_aws_rejects_are_named(health_zone, name, message):
    with pytest.raises(stacklab.StackLabError, match=message):
        r53dns.resolve(name)

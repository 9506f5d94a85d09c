"""The CloudFront edge plane follows CloudFront's documented rules (TTL table, behaviours, invalidations, OAC)."""

from __future__ import annotations

import email.utils
import http.server
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
import requests

import stacklab
from stacklab.errors import InputError
from stacklab.planes import edge

NOW = datetime(2026, 1, 15, 9, 0, 0, tzinfo=UTC)
DAY, YEAR = 86400, 31536000


def http_date(seconds_from_now: int) -> str:
    return email.utils.format_datetime(NOW + timedelta(seconds=seconds_from_now), usegmt=True)


# ------------------------------------------------------------------------ the documented TTL table
# "Manage how long content stays in the cache (expiration)", table of origin headers vs Minimum TTL.
TTL_TABLE = [
    # (id, headers, min, default, max, expected ttl, words in the rule)
    ("max-age, MinTTL 0, below MaxTTL", {"Cache-Control": "max-age=3600"}, 0, DAY, YEAR, 3600, "between"),
    ("max-age, MinTTL 0, above MaxTTL: lesser of max-age and MaxTTL",
     {"Cache-Control": "max-age=3600"}, 0, 60, 300, 300, "above MaxTTL"),
    ("max-age between MinTTL and MaxTTL", {"Cache-Control": "max-age=3600"}, 60, DAY, YEAR, 3600, "between"),
    ("max-age below MinTTL: MinTTL", {"Cache-Control": "max-age=30"}, 60, DAY, YEAR, 60, "below MinTTL"),
    ("max-age above MaxTTL: MaxTTL", {"Cache-Control": "public, max-age=90000"}, 60, 600, 3600, 3600,
     "above MaxTTL"),
    ("no header, MinTTL 0: DefaultTTL", {}, 0, DAY, YEAR, DAY, "DefaultTTL"),
    ("no header, MinTTL > 0: greater of MinTTL and DefaultTTL", {"Content-Type": "text/css"}, 60, 600, YEAR, 600,
     "DefaultTTL"),
    ("s-maxage wins over max-age, MinTTL 0", {"Cache-Control": "max-age=60, s-maxage=600"}, 0, DAY, YEAR, 600,
     "s-maxage=600"),
    ("s-maxage above MaxTTL, MinTTL 0", {"Cache-Control": "max-age=60, s-maxage=9000"}, 0, 60, 3600, 3600,
     "above MaxTTL"),
    ("s-maxage between MinTTL and MaxTTL", {"Cache-Control": "s-maxage=600,max-age=10"}, 100, DAY, YEAR, 600,
     "between"),
    ("s-maxage below MinTTL", {"Cache-Control": "s-maxage=50"}, 100, DAY, YEAR, 100, "below MinTTL"),
    ("s-maxage above MaxTTL", {"Cache-Control": "s-maxage=5000"}, 100, 1000, 4000, 4000, "above MaxTTL"),
    ("Expires, MinTTL 0, sooner than MaxTTL", {"Expires": http_date(1800)}, 0, DAY, YEAR, 1800, "Expires"),
    ("Expires, MinTTL 0, later than MaxTTL", {"Expires": http_date(7200)}, 0, 60, 3600, 3600, "above MaxTTL"),
    ("Expires between MinTTL and MaxTTL", {"Expires": http_date(1800)}, 60, DAY, YEAR, 1800, "between"),
    ("Expires before MinTTL", {"Expires": http_date(30)}, 60, DAY, YEAR, 60, "below MinTTL"),
    ("Expires after MaxTTL", {"Expires": http_date(10 * DAY)}, 60, DAY, 2 * DAY, 2 * DAY, "above MaxTTL"),
    ("Expires in the past, MinTTL 0: not cached", {"Expires": http_date(-60)}, 0, DAY, YEAR, 0, "in the past"),
    ("max-age beats Expires", {"Cache-Control": "max-age=100", "Expires": http_date(5000)}, 0, DAY, YEAR, 100,
     "max-age=100"),
    ("no-cache, MinTTL 0: honoured", {"Cache-Control": "no-cache"}, 0, DAY, YEAR, 0, "does not cache"),
    ("no-store, MinTTL 0: honoured", {"Cache-Control": "no-store"}, 0, DAY, YEAR, 0, "does not cache"),
    ("private, MinTTL 0: honoured", {"Cache-Control": "private, max-age=600"}, 0, DAY, YEAR, 0, "does not cache"),
    ("no-cache, MinTTL > 0: MinTTL", {"Cache-Control": "no-cache"}, 30, DAY, YEAR, 30, "caches for MinTTL"),
    ("no-store, MinTTL > 0: MinTTL", {"cache-control": "No-Store"}, 30, DAY, YEAR, 30, "caches for MinTTL"),
    ("private, MinTTL > 0: MinTTL", {"Cache-Control": "private"}, 45, DAY, YEAR, 45, "caches for MinTTL"),
    ("max-age=0, MinTTL 0: not cached", {"Cache-Control": "max-age=0"}, 0, DAY, YEAR, 0, "not cached"),
    ("malformed max-age ignored: DefaultTTL", {"Cache-Control": "max-age=soon"}, 0, 600, YEAR, 600, "DefaultTTL"),
    ("the notes' max-age=3600 against a 300 s MaxTTL", {"Cache-Control": "max-age=3600"}, 0, 300, 300, 300,
     "MaxTTL (300 s)"),
]


@pytest.mark.parametrize(("headers", "low", "default", "high", "expected", "words"),
                         [row[1:] for row in TTL_TABLE], ids=[row[0] for row in TTL_TABLE])
def test_effective_ttl_table(headers, low, default, high, expected, words):
    ttl, rule = edge.effective_ttl(headers, low, default, high, NOW)
    assert ttl == expected, rule
    assert words in rule


def test_effective_ttl_bad_input():
    with pytest.raises(InputError, match="MinTTL <= DefaultTTL <= MaxTTL"):
        edge.effective_ttl({}, 100, 10, 1000, NOW)
    with pytest.raises(InputError, match="whole number"):
        edge.effective_ttl({}, "0", 10, 1000, NOW)
    with pytest.raises(InputError, match="at least 0"):
        edge.effective_ttl({}, -1, 10, 1000, NOW)
    with pytest.raises(InputError, match="timezone-aware"):
        edge.effective_ttl({}, 0, 10, 1000, datetime(2026, 1, 1))
    with pytest.raises(InputError, match="dict of response headers"):
        edge.effective_ttl("max-age=3", 0, 10, 1000, NOW)
    ttl, rule = edge.effective_ttl({"Expires": "tomorrow"}, 0, 10, 1000, NOW)
    assert ttl == 0 and "not an HTTP date" in rule


def test_ttl_explorer_callback_without_a_browser():
    explorer = edge.ttl_explorer("max-age=3600", default_ttl=300, max_ttl=300)
    assert repr(explorer).startswith("TTL explorer (change the inputs in a live kernel): effective TTL 300 s")
    assert explorer.evaluate("", expires_in=120, min_ttl=0) == (120, "Expires is 120 s from now is between MinTTL 0 "
                                                                       "and MaxTTL 31536000: 120 s")
    assert explorer.widget is not None  # builds the ipywidgets UI
    explorer._controls["cache_control"].value = "no-store"
    assert "Effective TTL: 0 s" in explorer._out.value
    explorer._controls["min_ttl"].value = 5000
    assert "MinTTL <= DefaultTTL" in explorer._out.value  # shown, never raised
    explorer._controls["min_ttl"].value = 60
    explorer._controls["expires_in"].value = "soon"
    assert "invalid literal" in explorer._out.value
    with pytest.raises(InputError):
        edge.ttl_explorer(cache_control=3600)


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(autouse=True)
def fresh(box):
    stacklab.reset()
    edge.configure(origin_latency_ms=80, edge_latency_ms=5)


def s3():
    return stacklab.client("s3")


def cf():
    return stacklab.client("cloudfront")


def behaviour(origin="s3", low=0, default=DAY, high=YEAR, query=False, pattern=None, methods=("GET", "HEAD")):
    item = {"TargetOriginId": origin, "ViewerProtocolPolicy": "redirect-to-https",
            "MinTTL": low, "DefaultTTL": default, "MaxTTL": high,
            "AllowedMethods": {"Quantity": len(methods), "Items": list(methods),
                               "CachedMethods": {"Quantity": 2, "Items": ["GET", "HEAD"]}},
            "ForwardedValues": {"QueryString": query, "Cookies": {"Forward": "none"}}}
    if pattern:
        item["PathPattern"] = pattern
    return item


def make(bucket="mybucket", *, behaviours=(), errors=(), root="index.html", policy="oac", origins=None,
         default=None, enabled=True, ref="ref") -> dict:
    if bucket and not _exists(bucket):
        s3().create_bucket(Bucket=bucket)
        for key, body, extra in (("index.html", b"<h1>home</h1>", {"ContentType": "text/html"}),
                                 ("style.css", b"body{}", {"ContentType": "text/css", "CacheControl": "max-age=3600"}),
                                 ("error.html", b"<p>not here</p>", {"ContentType": "text/html"}),
                                 ("api/data", b"{}", {"ContentType": "application/json"}),
                                 ("images/a.png", b"A", {}), ("images/b.png", b"B", {}), ("Images/c.png", b"C", {})):
            s3().put_object(Bucket=bucket, Key=key, Body=body, **extra)
    config = {
        "CallerReference": ref, "Comment": "test", "Enabled": enabled, "DefaultRootObject": root,
        "Origins": {"Quantity": 1, "Items": origins or [
            {"Id": "s3", "DomainName": f"{bucket}.s3.us-east-1.amazonaws.com",
             "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
        "DefaultCacheBehavior": default or behaviour(),
        "CacheBehaviors": {"Quantity": len(behaviours), "Items": list(behaviours)},
        "CustomErrorResponses": {"Quantity": len(errors), "Items": list(errors)},
    }
    dist = cf().create_distribution(DistributionConfig=config)["Distribution"]
    if policy == "oac":
        grant(bucket, dist["ARN"])
    return dist


def _exists(bucket: str) -> bool:
    return bucket in [b["Name"] for b in s3().list_buckets()["Buckets"]]


def grant(bucket: str, source_arn: str | None, *, principal=None, actions="s3:GetObject") -> None:
    statement = {"Effect": "Allow", "Principal": principal or {"Service": "cloudfront.amazonaws.com"},
                 "Action": actions, "Resource": f"arn:aws:s3:::{bucket}/*"}
    if source_arn:
        statement["Condition"] = {"StringEquals": {"AWS:SourceArn": source_arn}}
    s3().put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))


def invalidate(dist_id: str, *paths: str, ref: str = "inv") -> str:
    return cf().create_invalidation(DistributionId=dist_id, InvalidationBatch={
        "Paths": {"Quantity": len(paths), "Items": list(paths)}, "CallerReference": ref})["Invalidation"]["Id"]


def xcache(dist_id: str, path: str) -> str:
    return edge.request(dist_id, path).header("X-Cache")


# ------------------------------------------------------------------------------ lazy loading


def test_lazy_loading_age_and_expiry_on_the_sandbox_clock():
    dist = make()
    first = edge.request(dist["Id"], "/style.css")
    assert (first.status, first.header("X-Cache"), first.header("Age")) == (200, "Miss from cloudfront", None)
    assert first.latency_ms == 85 and first.ttl == 3600 and "max-age=3600" in first.ttl_rule
    stacklab.clock().advance(seconds=600)
    second = edge.request(dist["Id"], "/style.css")
    assert (second.header("X-Cache"), second.header("Age"), second.latency_ms) == ("Hit from cloudfront", "600", 5)
    assert second.body == b"body{}" and second.header("Via").endswith("(CloudFront)")
    stacklab.clock().advance(seconds=3001)
    stale = edge.request(dist["Id"], "/style.css")
    # expired; the origin still has the same object (same ETag) -> CloudFront revalidates: RefreshHit
    assert stale.header("X-Cache") == "RefreshHit from cloudfront" and stale.header("Age") is None
    assert stale.latency_ms == 85
    assert xcache(dist["Id"], "/style.css") == "Hit from cloudfront"


def test_changed_object_after_expiry_is_a_miss_with_the_new_body():
    dist = make()
    edge.request(dist["Id"], "/style.css")
    s3().put_object(Bucket="mybucket", Key="style.css", Body=b"body{color:red}", CacheControl="max-age=3600")
    assert edge.request(dist["Id"], "/style.css").body == b"body{}"  # still the cached copy
    stacklab.clock().advance(seconds=3601)
    fresh = edge.request(dist["Id"], "/style.css")
    assert fresh.header("X-Cache") == "Miss from cloudfront" and fresh.body == b"body{color:red}"


def test_default_root_object_only_for_the_root():
    dist = make()
    root = edge.request(dist["Id"], "/")
    assert root.status == 200 and root.body == b"<h1>home</h1>"
    assert xcache(dist["Id"], "/index.html") == "Hit from cloudfront"  # same object, same cache entry
    assert edge.request(dist["Id"], "/images/").status == 403  # S3 has no such key, and no ListBucket grant
    no_root = make(bucket="otherbucket", root="", ref="r2")
    assert edge.request(no_root["Id"], "/").status == 403


def test_query_string_in_the_cache_key_only_when_forwarded():
    dist = make()
    edge.request(dist["Id"], "/style.css?v=1")
    assert xcache(dist["Id"], "/style.css?v=2") == "Hit from cloudfront"
    forwarding = make(bucket="qsbucket", default=behaviour(query=True), ref="r2")
    edge.request(forwarding["Id"], "/style.css?v=1")
    assert xcache(forwarding["Id"], "/style.css?v=2") == "Miss from cloudfront"
    assert xcache(forwarding["Id"], "/style.css?v=1") == "Hit from cloudfront"


# ---------------------------------------------------------------------------- behaviours


def test_behaviour_precedence_first_match_wins_and_is_case_sensitive():
    items = [behaviour(pattern="/api/*", low=0, default=0, high=0),
             behaviour(pattern="images/?.png", default=60),
             behaviour(pattern="/images/*", default=120)]
    dist = make(behaviours=items)
    config = cf().get_distribution(Id=dist["Id"])["Distribution"]["DistributionConfig"]
    assert edge.match_behavior(config, "/api/data")[0] == "/api/*"
    assert edge.match_behavior(config, "/images/a.png")[0] == "images/?.png"
    assert edge.match_behavior(config, "/images/ab.png")[0] == "/images/*"
    assert edge.match_behavior(config, "/images/sub/a.png")[0] == "/images/*"
    assert edge.match_behavior(config, "/Images/c.png")[0] == "Default (*)"
    assert edge.match_behavior(config, "/index.html")[0] == "Default (*)"
    api = edge.request(dist["Id"], "/api/data")
    assert api.ttl == 0 and api.behavior == "/api/*"
    assert xcache(dist["Id"], "/api/data") == "Miss from cloudfront"  # TTL 0: never stored
    assert edge.request(dist["Id"], "/images/a.png").ttl == 60
    assert edge.request(dist["Id"], "/Images/c.png").ttl == DAY
    with pytest.raises(InputError, match="must start with '/'"):
        edge.match_behavior(config, "index.html")


def test_methods_not_allowed_and_disabled_distribution():
    dist = make()
    denied = edge.request(dist["Id"], "/index.html", method="POST")
    assert denied.status == 403 and denied.header("X-Cache") == "Error from cloudfront"
    off = make(bucket="offbucket", enabled=False, ref="r2")
    assert edge.request(off["Id"], "/index.html").status == 403


# ------------------------------------------------------------------------------- errors


def test_custom_error_response_and_error_caching():
    error = {"ErrorCode": 403, "ResponsePagePath": "/error.html", "ResponseCode": "404", "ErrorCachingMinTTL": 30}
    dist = make(errors=[error])
    missing = edge.request(dist["Id"], "/nope.html")
    assert (missing.status, missing.body, missing.header("X-Cache")) == (404, b"<p>not here</p>",
                                                                       "Error from cloudfront")
    assert missing.latency_ms == 165  # the origin twice: the object, then the error page
    s3().put_object(Bucket="mybucket", Key="nope.html", Body=b"now here")
    stacklab.clock().advance(seconds=29)
    cached = edge.request(dist["Id"], "/nope.html")
    assert cached.status == 404 and cached.header("Age") == "29"
    stacklab.clock().advance(seconds=1)
    assert edge.request(dist["Id"], "/nope.html").body == b"now here"


def test_errors_cached_ten_seconds_by_default():
    dist = make(bucket="plain", policy=None)
    assert edge.request(dist["Id"], "/index.html").status == 403
    grant("plain", dist["ARN"])
    stacklab.clock().advance(seconds=9)
    assert edge.request(dist["Id"], "/index.html").status == 403
    stacklab.clock().advance(seconds=1)
    assert edge.request(dist["Id"], "/index.html").status == 200


# ------------------------------------------------------------------------ origin access control


def test_oac_bucket_policy_decides_access():
    dist = make(policy=None)
    path = "/index.html"
    cases = [
        ("no policy", None, 403),
        ("wrong distribution", "arn:aws:cloudfront::123456789012:distribution/EDFDVBD6EXAMPLE", 403),
        ("right SourceArn", dist["ARN"], 200),
    ]
    for label, arn, status in cases:
        if arn:
            grant("mybucket", arn)
        stacklab.clock().advance(seconds=11)  # past error caching
        assert edge.request(dist["Id"], path).status == status, label
    # no condition: AWS allows any distribution (not safe, but allowed)
    grant("mybucket", None)
    edge.clear()
    assert edge.request(dist["Id"], path).status == 200
    # the ListBucket grant turns a missing object's 403 into a 404
    assert edge.request(dist["Id"], "/missing").status == 403
    grant("mybucket", None, actions=["s3:GetObject", "s3:ListBucket"])
    s3().put_bucket_policy(Bucket="mybucket", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "cloudfront.amazonaws.com"}, "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::mybucket/*"},
        {"Effect": "Allow", "Principal": {"Service": "cloudfront.amazonaws.com"}, "Action": "s3:ListBucket",
         "Resource": "arn:aws:s3:::mybucket"}]}))
    assert edge.request(dist["Id"], "/missing2").status == 404


def test_oac_access_pure_rules():
    arn = "arn:aws:cloudfront::123456789012:distribution/ABC"
    allow = {"Effect": "Allow", "Principal": {"Service": ["cloudfront.amazonaws.com"]}, "Action": ["s3:Get*"],
             "Resource": ["arn:aws:s3:::b/*"], "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:cloudfront::*"}}}
    assert edge.oac_access({"Statement": [allow]}, "b", "k", arn) == "cloudfront"
    assert edge.oac_access({"Statement": {**allow, "Resource": "arn:aws:s3:::other/*"}}, "b", "k", arn) == ""
    public = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}
    assert edge.oac_access({"Statement": [public]}, "b", "k", arn) == "public"
    deny = {**public, "Effect": "Deny"}
    assert edge.oac_access({"Statement": [allow, deny]}, "b", "k", arn) == ""
    other_condition = {**allow, "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}}}
    assert edge.oac_access({"Statement": [other_condition]}, "b", "k", arn) == ""
    assert edge.oac_access(None, "b", "k", arn) == ""


def test_public_object_without_oac_grant():
    dist = make(bucket="pub", policy=None)
    s3().put_object(Bucket="pub", Key="open.txt", Body=b"hello", ACL="public-read")
    assert edge.request(dist["Id"], "/open.txt").status == 200
    grant("pub", None, principal="*")
    assert edge.request(dist["Id"], "/style.css").status == 200
    s3().put_public_access_block(Bucket="pub", PublicAccessBlockConfiguration={
        "BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
        "RestrictPublicBuckets": True})
    assert edge.request(dist["Id"], "/index.html").status == 403


# ----------------------------------------------------------------------------- invalidations


def test_invalidation_exact_path_and_wildcards():
    dist = make()
    for path in ("/index.html", "/style.css", "/images/a.png", "/images/b.png"):
        edge.request(dist["Id"], path)
    invalidate(dist["Id"], "/index.html", ref="one")
    assert xcache(dist["Id"], "/index.html") == "Miss from cloudfront"
    assert xcache(dist["Id"], "/style.css") == "Hit from cloudfront"
    invalidate(dist["Id"], "/images/*", ref="two")
    assert xcache(dist["Id"], "/images/a.png") == "Miss from cloudfront"
    assert xcache(dist["Id"], "/images/b.png") == "Miss from cloudfront"
    assert xcache(dist["Id"], "/style.css") == "Hit from cloudfront"
    # each invalidation is applied once: the entries fetched since stay cached
    assert xcache(dist["Id"], "/images/a.png") == "Hit from cloudfront"
    invalidate(dist["Id"], "/*", ref="three")
    assert xcache(dist["Id"], "/style.css") == "Miss from cloudfront"
    log = edge.invalidation_log(dist["Id"])
    assert [item["Paths"] for item in log] == [["/index.html"], ["/images/*"], ["/*"]]
    assert log[1]["Evicted"] == ["/images/a.png", "/images/b.png"]


def test_invalidation_path_without_leading_slash_or_other_case_evicts_nothing():
    dist = make()
    edge.request(dist["Id"], "/index.html")
    edge.request(dist["Id"], "/images/a.png")
    invalidate(dist["Id"], "index.html", "/Images/a.png", "/im*ges/a.png")  # moto accepts all three
    assert xcache(dist["Id"], "/index.html") == "Hit from cloudfront"
    assert xcache(dist["Id"], "/images/a.png") == "Hit from cloudfront"
    ignored = edge.invalidation_log(dist["Id"])[0]["Ignored"]
    assert ignored[0].startswith("index.html (no leading '/': AWS rejects the request with InvalidArgument)")
    assert "only as the last character" in ignored[1]


def test_invalidation_with_query_strings():
    dist = make(default=behaviour(query=True))
    edge.request(dist["Id"], "/style.css?v=1")
    invalidate(dist["Id"], "/style.css", ref="a")
    assert xcache(dist["Id"], "/style.css?v=1") == "Hit from cloudfront"
    invalidate(dist["Id"], "/style.css*", ref="b")
    assert xcache(dist["Id"], "/style.css?v=1") == "Miss from cloudfront"


# ------------------------------------------------------------------------- origins and serving


def test_custom_origin_on_loopback_and_http_serving():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = f"origin saw {self.path}".encode()
            self.send_response(200)
            self.send_header("Cache-Control", "s-maxage=120, max-age=10")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        origin = {"Id": "app", "DomainName": "127.0.0.1", "OriginPath": "/v1",
                  "CustomOriginConfig": {"HTTPPort": server.server_address[1], "HTTPSPort": 443,
                                         "OriginProtocolPolicy": "http-only"}}
        dist = make(bucket=None, origins=[origin], default=behaviour(origin="app"), root="", policy=None)
        reply = edge.request(dist["Id"], "/hello")
        assert reply.text == "origin saw /v1/hello" and reply.ttl == 120
        served = requests.get(edge.url(dist["Id"]) + "/hello", timeout=5)
        assert served.status_code == 200 and served.headers["X-Cache"] == "Hit from cloudfront"
        assert served.headers["Age"] == "0"
    finally:
        server.shutdown()
        server.server_close()
    closed = edge.request(dist["Id"], "/other")
    assert closed.status == 504 and closed.header("X-Cache") == "Error from cloudfront"


def test_unreachable_origin_is_a_502():
    origin = {"Id": "web", "DomainName": "example.com",
              "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "http-only"}}
    dist = make(bucket=None, origins=[origin], default=behaviour(origin="web"), root="", policy=None)
    reply = edge.request(dist["Id"], "/")
    assert reply.status == 502 and "127.0.0.1 only" in reply.text


# ------------------------------------------------------------------- metrics, stats, replay, reset


def test_metrics_stats_and_replay():
    dist = make()
    stream = edge.replay(dist["Id"], ["/index.html", "/style.css", "/nope"] * 67, every=1)
    assert len(stream.responses) == 201
    assert repr(stream) == "201 requests (Error 67, Hit 132, Miss 2): hit ratio 65.7%, mean latency 12.6 ms"
    assert stream.cumulative_hit_ratio()[1] == 0.0
    assert stream.plot() is not None
    stats = edge.stats(dist["Id"])
    assert stats["requests"] == 201 and stats["hits"] == 132 and stats["errors_4xx"] == 67
    assert edge.flush_metrics() > 0 and edge.flush_metrics() == 0
    cloudwatch = stacklab.client("cloudwatch", region_name="us-east-1")
    dims = [{"Name": "DistributionId", "Value": dist["Id"]}, {"Name": "Region", "Value": "Global"}]
    clock = stacklab.clock()
    window = {"StartTime": clock.now() - timedelta(hours=1), "EndTime": clock.now() + timedelta(minutes=1),
              "Period": 3600, "Namespace": "AWS/CloudFront", "Dimensions": dims}
    requests_sum = cloudwatch.get_metric_statistics(MetricName="Requests", Statistics=["Sum"], **window)
    assert requests_sum["Datapoints"][0]["Sum"] == 201
    hit_rate = cloudwatch.get_metric_statistics(MetricName="CacheHitRate", Statistics=["Average"], **window)
    assert round(hit_rate["Datapoints"][0]["Average"], 2) == round(100 * 132 / 134, 2)
    error_rate = cloudwatch.get_metric_statistics(MetricName="4xxErrorRate", Statistics=["Average"], **window)
    assert round(error_rate["Datapoints"][0]["Average"], 2) == round(100 * 67 / 201, 2)
    names = {m["MetricName"] for m in cloudwatch.list_metrics(Namespace="AWS/CloudFront")["Metrics"]}
    assert names == {"Requests", "BytesDownloaded", "4xxErrorRate", "5xxErrorRate", "TotalErrorRate",
                     "CacheHitRate"}


def test_reset_clears_the_cache():
    dist = make()
    edge.request(dist["Id"], "/style.css")
    assert "style.css" in repr(edge.cache_table(dist["Id"]))
    stacklab.reset()
    assert repr(edge.cache_table(dist["Id"])) == "(the edge cache is empty)"
    assert edge.stats(dist["Id"])["requests"] == 0


def test_bad_input():
    dist = make()
    with pytest.raises(InputError, match="No CloudFront distribution has the id 'E123'"):
        edge.request("E123", "/index.html")
    with pytest.raises(InputError, match="must start with '/'"):
        edge.request(dist["Id"], "index.html")
    with pytest.raises(InputError, match="spaces"):
        edge.request(dist["Id"], "/a b")
    with pytest.raises(InputError, match="must be a string"):
        edge.request(None, "/")
    with pytest.raises(InputError, match="dict of header names"):
        edge.request(dist["Id"], "/", headers=["x"])
    with pytest.raises(InputError, match="not one string"):
        edge.replay(dist["Id"], "/index.html")
    with pytest.raises(InputError, match="empty"):
        edge.replay(dist["Id"], [])
    with pytest.raises(InputError, match="at least 0"):
        edge.configure(origin_latency_ms=-1)
    with pytest.raises(InputError, match="No CloudFront distribution"):
        edge.serve("E404")


def test_s3_website_origin_goes_through_the_website_plane():
    s3().create_bucket(Bucket="sitebucket")
    s3().put_bucket_website(Bucket="sitebucket", WebsiteConfiguration={
        "IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": "error.html"}})
    s3().put_bucket_policy(Bucket="sitebucket", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::sitebucket/*"}]}))
    s3().put_object(Bucket="sitebucket", Key="docs/index.html", Body=b"docs home", ContentType="text/html",
                    CacheControl="max-age=120")
    origin = {"Id": "web", "DomainName": "sitebucket.s3-website-us-east-1.amazonaws.com",
              "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "http-only"}}
    dist = make(bucket=None, origins=[origin], default=behaviour(origin="web"), root="", policy=None)
    folder = edge.request(dist["Id"], "/docs/")  # the website endpoint's index document, unlike a REST origin
    assert folder.status == 200 and folder.text == "docs home" and folder.ttl == 120
    assert xcache(dist["Id"], "/docs/") == "Hit from cloudfront"
    assert edge.request(dist["Id"], "/nope").status == 404

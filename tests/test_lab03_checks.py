"""Lab 03's checks pass on the solution and name the exact mistake in realistic wrong answers."""

from __future__ import annotations

import json

import pytest
from support.labcheck import failed, run

import stacklab

BUCKET = "lab03-site"


@pytest.fixture(autouse=True)
def fresh(box, tmp_path, monkeypatch):
    monkeypatch.setenv("STACKLAB_PROGRESS", str(tmp_path / "progress.json"))
    stacklab.reset()
    s3 = stacklab.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="index.html", Body=b"<h1>v1</h1>", ContentType="text/html")
    s3.put_object(Bucket=BUCKET, Key="app.css", Body=b"h1{}", ContentType="text/css")
    s3.put_object(Bucket=BUCKET, Key="api/status.json", Body=b"{}", ContentType="application/json")




# ------------------------------------------------------------------------------------ builders


def cf():
    return stacklab.client("cloudfront")


def s3():
    return stacklab.client("s3")


def behaviour(low=0, default=3600, high=86400, pattern=None):
    item = {"TargetOriginId": "site", "ViewerProtocolPolicy": "redirect-to-https",
            "MinTTL": low, "DefaultTTL": default, "MaxTTL": high,
            "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}}}
    return {"PathPattern": pattern, **item} if pattern else item


def build_distribution(*, domain=f"{BUCKET}.s3.us-east-1.amazonaws.com", root="index.html", ttls=(0, 3600, 86400),
                       oac=True, ref="lab03") -> str:
    extra = {}
    if oac:
        extra["OriginAccessControlId"] = cf().create_origin_access_control(OriginAccessControlConfig={
            "Name": f"oac-{ref}", "OriginAccessControlOriginType": "s3", "SigningBehavior": "always",
            "SigningProtocol": "sigv4"})["OriginAccessControl"]["Id"]
    origin = {"Id": "site", "DomainName": domain, **extra}
    if ".s3-website" in domain:
        origin["CustomOriginConfig"] = {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "http-only"}
    else:
        origin["S3OriginConfig"] = {"OriginAccessIdentity": ""}
    config = {"CallerReference": ref, "Comment": "lab", "Enabled": True, "DefaultRootObject": root,
              "Origins": {"Quantity": 1, "Items": [origin]}, "DefaultCacheBehavior": behaviour(*ttls)}
    return cf().create_distribution(DistributionConfig=config)["Distribution"]["Id"]


def arn(dist_id: str) -> str:
    return cf().get_distribution(Id=dist_id)["Distribution"]["ARN"]


def put_policy(dist_id: str | None, *, principal=None, resource=f"arn:aws:s3:::{BUCKET}/*", source_arn=None) -> None:
    statement = {"Effect": "Allow", "Principal": principal or {"Service": "cloudfront.amazonaws.com"},
                 "Action": "s3:GetObject", "Resource": resource}
    if dist_id or source_arn:
        statement["Condition"] = {"StringEquals": {"AWS:SourceArn": source_arn or arn(dist_id)}}
    s3().put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))


def add_behaviours(dist_id: str, *items: dict, default: dict | None = None) -> None:
    response = cf().get_distribution_config(Id=dist_id)
    config = response["DistributionConfig"]
    current = (config.get("CacheBehaviors") or {}).get("Items") or []
    merged = current + list(items)
    config["CacheBehaviors"] = {"Quantity": len(merged), "Items": merged}
    if default is not None:
        config["DefaultCacheBehavior"] = default
    cf().update_distribution(Id=dist_id, IfMatch=response["ETag"], DistributionConfig=config)


def set_cache_control(value: str | None, content_type: str | None = "text/css") -> None:
    extra = {"ContentType": content_type} if content_type else {}
    if value:
        extra["CacheControl"] = value
    s3().copy_object(Bucket=BUCKET, Key="app.css", CopySource={"Bucket": BUCKET, "Key": "app.css"},
                     MetadataDirective="REPLACE", **extra)


def invalidate(dist_id: str, *paths: str, ref: str = "inv") -> str:
    return cf().create_invalidation(DistributionId=dist_id, InvalidationBatch={
        "Paths": {"Quantity": len(paths), "Items": list(paths)}, "CallerReference": ref})["Invalidation"]["Id"]


def solution() -> dict:
    dist_id = build_distribution()
    put_policy(dist_id)
    add_behaviours(dist_id, behaviour(0, 0, 0, "/api/*"))
    set_cache_control("max-age=604800")
    add_behaviours(dist_id, behaviour(0, 86400, 31536000, "*.css"))
    from stacklab.planes import edge

    edge.request(dist_id, "/")
    s3().put_object(Bucket=BUCKET, Key="index.html", Body=b"<h1>v2</h1>", ContentType="text/html")
    return {"dist_id": dist_id, "invalidation_id": invalidate(dist_id, "/index.html")}


# --------------------------------------------------------------------------------- the solution


def test_the_solution_passes_every_check():
    ns = solution()
    for check_id in ("03.distribution", "03.oac", "03.api", "03.cachecontrol", "03.invalidation"):
        result = run(check_id, **ns)
        assert result, result.text()
    assert run("03.cachecontrol", **ns).message.startswith("/app.css uses behaviour '*.css': max-age=604800")
    assert "the edge now serves the new home page" in run("03.invalidation", **ns).message


def test_unanswered_and_malformed_ids():
    assert "still holds `...`" in run("03.distribution", dist_id=...).message
    assert "is not defined yet" in run("03.oac").message
    assert "holds a whole dict" in failed("03.distribution", dist_id={"Distribution": {}})
    assert "holds the distribution's ARN" in failed(
        "03.distribution", dist_id="arn:aws:cloudfront::123456789012:distribution/E2ABC")
    assert "holds the distribution's domain name" in failed("03.distribution", dist_id="d111111abcdef8.cloudfront.net")
    assert failed("03.distribution", dist_id="E2QWRUHAPOMQZL") == (
        "no CloudFront distribution has the id 'E2QWRUHAPOMQZL' in the sandbox.")


# --------------------------------------------------------------------------- 03.distribution


def test_distribution_without_or_with_a_slashed_default_root_object():
    assert "has no DefaultRootObject" in failed("03.distribution", dist_id=build_distribution(root=""))
    assert "without a leading '/'" in failed("03.distribution", dist_id=build_distribution(root="/index.html",
                                                                                           ref="b"))


def test_distribution_with_default_ttls_left_at_cloudfront_defaults():
    message = failed("03.distribution", dist_id=build_distribution(ttls=(0, 86400, 31536000)))
    assert message == ("the default cache behaviour has MinTTL 0 / DefaultTTL 86400 / MaxTTL 31536000 (CloudFront's "
                       "defaults: did you leave them out?); the exercise asks for MinTTL 0 / DefaultTTL 3600 / "
                       "MaxTTL 86400.")
    assert "MinTTL 60 / DefaultTTL 3600" in failed("03.distribution", dist_id=build_distribution(ttls=(60, 3600, 86400),
                                                                                                ref="b"))


def test_distribution_with_the_website_endpoint_or_another_bucket_or_no_oac():
    website = build_distribution(domain=f"{BUCKET}.s3-website-us-east-1.amazonaws.com")
    assert "website endpoint" in failed("03.distribution", dist_id=website)
    s3().create_bucket(Bucket="other-bucket")
    other = build_distribution(domain="other-bucket.s3.amazonaws.com", ref="b")
    assert "no origin points at the bucket lab03-site" in failed("03.distribution", dist_id=other)


def test_distribution_without_any_origin_access_control():
    assert "no origin access control" in failed("03.distribution", dist_id=build_distribution(oac=False))


# ---------------------------------------------------------------------------------- 03.oac


def test_oac_without_a_policy_or_condition():
    dist_id = build_distribution()
    assert "has no bucket policy" in failed("03.oac", dist_id=dist_id)
    put_policy(None)
    assert failed("03.oac", dist_id=dist_id).startswith("the statement has no AWS:SourceArn condition: any CloudFront "
                                                         "distribution, in any AWS account, could read the bucket.")


def test_oac_for_the_wrong_distribution():
    mine = build_distribution()
    theirs = build_distribution(ref="other")
    put_policy(theirs)
    message = failed("03.oac", dist_id=mine)
    assert message.startswith(f"the AWS:SourceArn condition names {arn(theirs)}, not your distribution {arn(mine)}")


def test_oac_public_or_wrong_resource():
    dist_id = build_distribution()
    put_policy(None, principal="*")
    assert "the bucket is public" in failed("03.oac", dist_id=dist_id)
    put_policy(dist_id, resource=f"arn:aws:s3:::{BUCKET}")
    assert "does not cover the bucket's objects" in failed("03.oac", dist_id=dist_id)
    put_policy(None, principal={"AWS": "arn:aws:iam::123456789012:root"})
    assert "no statement allows s3:GetObject to the service principal" in failed("03.oac", dist_id=dist_id)


# ---------------------------------------------------------------------------------- 03.api


def test_api_behaviour_missing_or_wrong_pattern():
    dist_id = build_distribution()
    assert "has no cache behaviour for /api/*" in failed("03.api", dist_id=dist_id)
    add_behaviours(dist_id, behaviour(0, 0, 0, "/api"))
    assert "the behaviour '/api' does not match /api/status.json" in failed("03.api", dist_id=dist_id)


def test_api_behaviour_with_ttls_left_on():
    dist_id = build_distribution()
    add_behaviours(dist_id, behaviour(0, 3600, 86400, "/api/*"))
    assert failed("03.api", dist_id=dist_id).startswith(
        "the behaviour '/api/*' has MinTTL 0 / DefaultTTL 3600 / MaxTTL 86400: an API response without caching "
        "headers would stay cached 3600 s")
    other = build_distribution(ref="b")
    add_behaviours(other, behaviour(0, 0, 60, "/api/*"))
    assert "one with max-age up to 60 s" in failed("03.api", dist_id=other)


# -------------------------------------------------------------------------- 03.cachecontrol


def test_cache_control_overridden_by_max_ttl():
    dist_id = build_distribution()
    set_cache_control("max-age=604800")
    message = failed("03.cachecontrol", dist_id=dist_id)
    assert message.startswith("the TTL is overridden by MaxTTL: max-age=604800 is above MaxTTL: MaxTTL (86400 s) "
                              "applies (behaviour 'Default (*)'")


def test_cache_control_missing_or_wrong_value():
    dist_id = build_distribution()
    add_behaviours(dist_id, behaviour(0, 86400, 31536000, "*.css"))
    assert "has no Cache-Control, so the edge keeps it for the DefaultTTL (86400 s)" in failed(
        "03.cachecontrol", dist_id=dist_id)
    set_cache_control("max-age=7d")
    assert "effective TTL is 86400 s" in failed("03.cachecontrol", dist_id=dist_id)
    set_cache_control("max-age=604800, no-store")
    assert "effective TTL is 0 s" in failed("03.cachecontrol", dist_id=dist_id)


def test_cache_control_replace_dropped_the_content_type_or_default_changed():
    dist_id = build_distribution()
    add_behaviours(dist_id, behaviour(0, 86400, 31536000, "*.css"))
    set_cache_control("max-age=604800", content_type=None)
    assert "MetadataDirective REPLACE replaced every header" in failed("03.cachecontrol", dist_id=dist_id)
    other = build_distribution(ref="b")
    set_cache_control("max-age=604800")
    add_behaviours(other, default=behaviour(0, 3600, 31536000))
    assert "the default behaviour's TTLs changed" in failed("03.cachecontrol", dist_id=other)


# --------------------------------------------------------------------------- 03.invalidation


def _ready() -> str:
    dist_id = build_distribution()
    put_policy(dist_id)
    from stacklab.planes import edge

    edge.request(dist_id, "/")
    s3().put_object(Bucket=BUCKET, Key="index.html", Body=b"<h1>v2</h1>", ContentType="text/html")
    return dist_id


def test_invalidation_without_leading_slash():
    dist_id = _ready()
    message = failed("03.invalidation", dist_id=dist_id, invalidation_id=invalidate(dist_id, "index.html"))
    assert message.startswith("the path 'index.html' has no leading '/': AWS rejects the whole request with "
                              "InvalidArgument")


def test_invalidation_of_the_wrong_path():
    dist_id = _ready()
    message = failed("03.invalidation", dist_id=dist_id, invalidation_id=invalidate(dist_id, "/Index.html"))
    assert message == "the invalidation names /Index.html, which does not cover /index.html."
    result = run("03.invalidation", dist_id=dist_id, invalidation_id=invalidate(dist_id, "/", ref="b"))
    assert not result and "by its own path" in result.hint
    assert "empties the whole cache" in failed("03.invalidation", dist_id=dist_id,
                                               invalidation_id=invalidate(dist_id, "/*", ref="c"))


def test_invalidation_before_the_upload_or_unknown_id():
    dist_id = build_distribution()
    put_policy(dist_id)
    from stacklab.planes import edge

    early = invalidate(dist_id, "/index.html")
    edge.request(dist_id, "/")  # the old page is cached again after the invalidation
    s3().put_object(Bucket=BUCKET, Key="index.html", Body=b"<h1>v2</h1>", ContentType="text/html")
    assert "the edge still serves the old home page" in failed("03.invalidation", dist_id=dist_id,
                                                               invalidation_id=early)
    assert "has no invalidation 'I2NOPE'" in failed("03.invalidation", dist_id=dist_id, invalidation_id="I2NOPE")
    assert "holds a whole dict" in failed("03.invalidation", dist_id=dist_id, invalidation_id={"Invalidation": {}})


def test_invalidation_when_the_edge_cannot_read_the_bucket():
    dist_id = build_distribution()
    message = failed("03.invalidation", dist_id=dist_id, invalidation_id=invalidate(dist_id, "/index.html"))
    assert message.startswith("the edge answers 403 for /")

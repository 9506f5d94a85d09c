"""Checks for Lab 03 — CloudFront caching (distribution, OAC policy, /api/* behaviour, Cache-Control, invalidation).

Each check reads the sandbox through boto3 and applies the CloudFront rules of
:mod:`stacklab.planes.edge` (the same functions the edge uses), so a ✅ means the edge really
behaves as the exercise asks; a ❌ names the rule that decided otherwise.
"""

from __future__ import annotations

import json
import re
from typing import Any

from stacklab.checks import CheckFailed, lab_check
from stacklab.labchecks import aws

LESSON = "03"
BUCKET = "lab03-site"
REST_DOMAINS = (f"{BUCKET}.s3.us-east-1.amazonaws.com", f"{BUCKET}.s3.amazonaws.com")
DEFAULT_TTLS = (0, 3600, 86400)
CSS_TTL = 604800
_ID_RE = re.compile(r"[A-Z0-9]{10,16}")
_RESET_HINT = (
    "If you restarted the kernel or ran stacklab.reset() since, the sandbox is empty again: "
    "re-run the exercise cells from the top."
)
_SOURCE = "cloudfront.create_distribution(...)['Distribution']['Id']"


# ------------------------------------------------------------------------------------ helpers


def _dist_id(value: Any) -> str:
    if isinstance(value, dict):
        raise CheckFailed("`dist_id` holds a whole dict (a boto3 response or part of one), not the distribution ID.",
                          f"Take just the ID: `dist_id = {_SOURCE}`.")
    if not isinstance(value, str):
        raise CheckFailed(f"`dist_id` should be the distribution ID, a string such as 'E2ABC…'; it holds "
                          f"{type(value).__name__} {value!r}.", f"Set it from the response: `dist_id = {_SOURCE}`.")
    value = value.strip()
    if value.startswith("arn:"):
        raise CheckFailed("`dist_id` holds the distribution's ARN; the API calls take its Id.",
                          f"Use `dist_id = {_SOURCE}`.")
    if value.endswith(".cloudfront.net"):
        raise CheckFailed("`dist_id` holds the distribution's domain name; the API calls take its Id.",
                          f"Use `dist_id = {_SOURCE}`.")
    if not _ID_RE.fullmatch(value):
        raise CheckFailed(f"`dist_id` is {value!r}, which does not look like a distribution ID "
                          "(upper-case letters and digits, e.g. 'E2QWRUHAPOMQZL').", f"Use `dist_id = {_SOURCE}`.")
    return value


def _distribution(dist_id: Any) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    ident = _dist_id(dist_id)
    try:
        return aws("cloudfront").get_distribution(Id=ident)["Distribution"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchDistribution":
            raise CheckFailed(f"no CloudFront distribution has the id {ident!r} in the sandbox.",
                              f"Use the Id create_distribution returned. {_RESET_HINT}") from exc
        raise


def _ttls(behaviour: dict[str, Any]) -> tuple[int, int, int]:
    from stacklab.planes.edge import _ttls as ttls

    return ttls(behaviour)


def _ttl_words(ttls: tuple[int, int, int]) -> str:
    return f"MinTTL {ttls[0]} / DefaultTTL {ttls[1]} / MaxTTL {ttls[2]}"


# ------------------------------------------------------------------------- 1. the distribution


@lab_check("03.distribution", LESSON, needs=("dist_id",), title="Exercise 1 · The distribution", exercise=1)
def check_distribution(dist_id: Any) -> str:
    """An S3 REST origin for lab03-site, DefaultRootObject index.html, TTLs 0/3600/86400, an OAC."""
    dist = _distribution(dist_id)
    config = dist["DistributionConfig"]
    origins = (config.get("Origins") or {}).get("Items") or []
    domains = [o["DomainName"] for o in origins]
    if not any(d in REST_DOMAINS for d in domains):
        website = [d for d in domains if ".s3-website" in d and d.startswith(BUCKET)]
        if website:
            raise CheckFailed(
                f"the origin is the bucket's website endpoint ({website[0]}), a custom origin that origin access "
                "control cannot sign for.", f"Use the REST endpoint `{REST_DOMAINS[0]}` as DomainName.")
        raise CheckFailed(f"no origin points at the bucket {BUCKET} (origins: {', '.join(domains) or 'none'}).",
                          f"Set the origin's DomainName to `{REST_DOMAINS[0]}`.")
    root = config.get("DefaultRootObject") or ""
    if not root:
        raise CheckFailed("the distribution has no DefaultRootObject, so a request for / is passed to S3 as an empty "
                          "key and fails.", "Set DefaultRootObject='index.html'.")
    if root.startswith("/"):
        raise CheckFailed(f"DefaultRootObject is {root!r}: CloudFront wants the object's name without a leading '/'.",
                          "Set DefaultRootObject='index.html'.")
    if root != "index.html":
        raise CheckFailed(f"DefaultRootObject is {root!r}; the site's home page is index.html.",
                          "Set DefaultRootObject='index.html'.")
    ttls = _ttls(config["DefaultCacheBehavior"])
    if ttls != DEFAULT_TTLS:
        extra = ""
        if ttls[1:] == (86400, 31536000):
            extra = " (CloudFront's defaults: did you leave them out?)"
        raise CheckFailed(f"the default cache behaviour has {_ttl_words(ttls)}{extra}; the exercise asks for "
                          f"{_ttl_words(DEFAULT_TTLS)}.",
                          "Set MinTTL=0, DefaultTTL=3600, MaxTTL=86400 in DefaultCacheBehavior.")
    oacs = aws("cloudfront").list_origin_access_controls()["OriginAccessControlList"].get("Items") or []
    if not any(o.get("OriginAccessControlOriginType") == "s3" for o in oacs):
        raise CheckFailed("the sandbox has no origin access control for S3.",
                          "Create one with cloudfront.create_origin_access_control(...) (type 's3', sigv4, always) "
                          "and pass its Id as the origin's OriginAccessControlId.")
    return (f"Distribution {dist['Id']}: origin {BUCKET} (REST endpoint), DefaultRootObject index.html, "
            f"{_ttl_words(ttls)}, origin access control present.")


# --------------------------------------------------------------------------- 2. the OAC policy


def _cloudfront_statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    from stacklab.planes.edge import _action_matches, _listed, _statement_list

    found = []
    for statement in _statement_list(policy):
        principal = statement.get("Principal")
        if statement.get("Effect") != "Allow" or not isinstance(principal, dict):
            continue
        if "cloudfront.amazonaws.com" not in _listed(principal.get("Service")):
            continue
        if _action_matches(_listed(statement.get("Action")), "s3:GetObject"):
            found.append(statement)
    return found


@lab_check("03.oac", LESSON, needs=("dist_id",), title="Exercise 2 · Only your distribution reads the bucket",
           exercise=2)
def check_oac(dist_id: Any) -> str:
    """The bucket policy allows s3:GetObject to cloudfront.amazonaws.com with AWS:SourceArn = this distribution."""
    from botocore.exceptions import ClientError

    from stacklab.planes.edge import _listed, _resource_matches, oac_access

    dist = _distribution(dist_id)
    arn = dist["ARN"]
    try:
        policy = json.loads(aws("s3").get_bucket_policy(Bucket=BUCKET)["Policy"])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchBucketPolicy", "NoSuchBucket"):
            raise CheckFailed(f"the bucket {BUCKET} has no bucket policy, so CloudFront's requests are denied (403).",
                              "Put a policy that allows s3:GetObject to the service principal "
                              "cloudfront.amazonaws.com with an AWS:SourceArn condition.") from exc
        raise
    if oac_access(policy, BUCKET, "index.html", arn) == "public":
        raise CheckFailed("the policy lets everyone (Principal \"*\") read the objects: the bucket is public, which "
                          "origin access control exists to avoid.",
                          "Use Principal {'Service': 'cloudfront.amazonaws.com'} instead of '*'.")
    statements = _cloudfront_statements(policy)
    if not statements:
        raise CheckFailed("no statement allows s3:GetObject to the service principal cloudfront.amazonaws.com.",
                          "With OAC, CloudFront signs as Principal {'Service': 'cloudfront.amazonaws.com'}.")
    objects = f"arn:aws:s3:::{BUCKET}/*"
    if not any(_resource_matches(_listed(s.get("Resource")), f"arn:aws:s3:::{BUCKET}/index.html")
               for s in statements):
        resources = ", ".join(r for s in statements for r in _listed(s.get("Resource")))
        raise CheckFailed(f"the statement's Resource is {resources}, which does not cover the bucket's objects.",
                          f"s3:GetObject acts on objects: use Resource '{objects}'.")
    unconditioned = [s for s in statements if not s.get("Condition")]
    if unconditioned:
        raise CheckFailed("the statement has no AWS:SourceArn condition: any CloudFront distribution, in any AWS "
                          "account, could read the bucket.",
                          f"Add Condition {{'StringEquals': {{'AWS:SourceArn': '{arn}'}}}}.")
    if oac_access(policy, BUCKET, "index.html", arn) != "cloudfront":
        named = sorted({v for s in statements for tests in (s.get("Condition") or {}).values()
                        if isinstance(tests, dict) for k, vs in tests.items() if k.lower() == "aws:sourcearn"
                        for v in _listed(vs)})
        raise CheckFailed(f"the AWS:SourceArn condition names {', '.join(named) or 'something else'}, not your "
                          f"distribution {arn}; CloudFront's requests for it are denied (403).",
                          f"Use the ARN create_distribution returned: {arn}.")
    return f"Only distribution {dist['Id']} may read {BUCKET} (s3:GetObject, AWS:SourceArn = {arn})."


# --------------------------------------------------------------------------- 3. the /api/* behaviour


@lab_check("03.api", LESSON, needs=("dist_id",), title="Exercise 3 · Never cache the API", exercise=3)
def check_api(dist_id: Any) -> str:
    """A behaviour matching /api/status.json with MinTTL, DefaultTTL and MaxTTL all 0."""
    from stacklab.planes.edge import effective_ttl, match_behavior
    from stacklab.sandbox import current

    dist = _distribution(dist_id)
    config = dist["DistributionConfig"]
    items = (config.get("CacheBehaviors") or {}).get("Items") or []
    pattern, behaviour = match_behavior(config, "/api/status.json")
    if pattern == "Default (*)":
        api_like = [b["PathPattern"] for b in items if "api" in b["PathPattern"]]
        if api_like:
            raise CheckFailed(f"the behaviour {api_like[0]!r} does not match /api/status.json, so API requests use "
                              "the default behaviour (cached for an hour).",
                              "Use PathPattern '/api/*': '*' stands for the rest of the path.")
        raise CheckFailed("the distribution has no cache behaviour for /api/*, so API requests use the default "
                          "behaviour (DefaultTTL 3600: cached for an hour).",
                          "Add a CacheBehaviors item with PathPattern '/api/*' (update_distribution with the ETag).")
    ttls = _ttls(behaviour)
    if ttls != (0, 0, 0):
        now = current().clock.now()
        plain, _ = effective_ttl({}, *ttls, now=now) if ttls[0] <= ttls[1] <= ttls[2] else (ttls[1], "")
        raise CheckFailed(f"the behaviour {pattern!r} has {_ttl_words(ttls)}: an API response without caching "
                          f"headers would stay cached {plain} s, and one with max-age up to {ttls[2]} s.",
                          "Set MinTTL=0, DefaultTTL=0 and MaxTTL=0 on the /api/* behaviour.")
    if _ttls(config["DefaultCacheBehavior"]) != DEFAULT_TTLS:
        raise CheckFailed("the /api/* behaviour is right, but the default behaviour's TTLs changed from "
                          f"{_ttl_words(DEFAULT_TTLS)}.", "Keep the DefaultCacheBehavior as in Exercise 1.")
    return f"Requests for /api/status.json use the behaviour {pattern!r} with TTL 0: never cached."


# ------------------------------------------------------------------------ 4. Cache-Control on app.css


@lab_check("03.cachecontrol", LESSON, needs=("dist_id",), title="Exercise 4 · Keep app.css for 7 days",
           exercise=4)
def check_cachecontrol(dist_id: Any) -> str:
    """/app.css has an effective TTL of 604800 s and is still served as text/css."""
    from botocore.exceptions import ClientError

    from stacklab.planes.edge import effective_ttl, match_behavior
    from stacklab.sandbox import current

    dist = _distribution(dist_id)
    config = dist["DistributionConfig"]
    try:
        head = aws("s3").head_object(Bucket=BUCKET, Key="app.css")
    except ClientError as exc:
        raise CheckFailed(f"there is no object app.css in {BUCKET}.", f"Run the setup cell at the top. {_RESET_HINT}") \
            from exc
    headers = {}
    if head.get("CacheControl"):
        headers["Cache-Control"] = head["CacheControl"]
    pattern, behaviour = match_behavior(config, "/app.css")
    ttls = _ttls(behaviour)
    ttl, rule = effective_ttl(headers, *ttls, now=current().clock.now())
    if ttl != CSS_TTL:
        if not headers:
            raise CheckFailed(f"app.css has no Cache-Control, so the edge keeps it for the DefaultTTL ({ttl} s).",
                              "Copy it onto itself with MetadataDirective='REPLACE' and CacheControl='max-age=604800'.")
        if "above MaxTTL" in rule:
            raise CheckFailed(f"the TTL is overridden by MaxTTL: {rule} (behaviour {pattern!r}, {_ttl_words(ttls)}).",
                              "Add a cache behaviour for '*.css' whose MaxTTL is at least 604800; leave the default "
                              "behaviour as it is.")
        raise CheckFailed(f"app.css's effective TTL is {ttl} s ({rule}; Cache-Control {head['CacheControl']!r}); the "
                          "exercise asks for 604800 s (7 days).",
                          "Use Cache-Control 'max-age=604800' on the object.")
    if _ttls(config["DefaultCacheBehavior"]) != DEFAULT_TTLS:
        raise CheckFailed(f"app.css gets 604800 s, but the default behaviour's TTLs changed from "
                          f"{_ttl_words(DEFAULT_TTLS)}, which affects every other file.",
                          "Give *.css its own behaviour instead and restore the default behaviour.")
    if head.get("ContentType") != "text/css":
        raise CheckFailed(f"app.css now has Content-Type {head.get('ContentType')!r}: MetadataDirective REPLACE "
                          "replaced every header, and browsers refuse a stylesheet without text/css.",
                          "Copy it again with ContentType='text/css' as well as the CacheControl.")
    return f"/app.css uses behaviour {pattern!r}: {rule}; still text/css."


# ------------------------------------------------------------------------------ 5. the invalidation


@lab_check("03.invalidation", LESSON, needs=("dist_id", "invalidation_id"),
           title="Exercise 5 · Invalidate the home page", exercise=5)
def check_invalidation(dist_id: Any, invalidation_id: Any) -> str:
    """An invalidation of /index.html exactly; the edge then serves the new home page."""
    from botocore.exceptions import ClientError

    from stacklab.planes import edge

    dist = _distribution(dist_id)
    if isinstance(invalidation_id, dict):
        raise CheckFailed("`invalidation_id` holds a whole dict, not the invalidation's Id.",
                          "Use `invalidation_id = response['Invalidation']['Id']`.")
    if not isinstance(invalidation_id, str) or not invalidation_id.strip():
        raise CheckFailed(f"`invalidation_id` should be the invalidation's Id (a string); it holds "
                          f"{invalidation_id!r}.",
                          "Use `invalidation_id = response['Invalidation']['Id']`.")
    try:
        batch = aws("cloudfront").get_invalidation(DistributionId=dist["Id"], Id=invalidation_id.strip())
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchInvalidation":
            raise CheckFailed(f"distribution {dist['Id']} has no invalidation {invalidation_id!r}.",
                              "Create it with cloudfront.create_invalidation(DistributionId=dist_id, ...) and keep "
                              "response['Invalidation']['Id'].") from exc
        raise
    paths = list(batch["Invalidation"]["InvalidationBatch"]["Paths"].get("Items") or [])
    bare = [p for p in paths if not p.startswith("/")]
    if bare:
        raise CheckFailed(f"the path {bare[0]!r} has no leading '/': AWS rejects the whole request with "
                          "InvalidArgument (moto accepted it, but nothing was invalidated).",
                          "Paths are relative to the distribution and start with '/': '/index.html'.")
    if "/*" in paths:
        raise CheckFailed("'/*' empties the whole cache: every file goes back to the origin on its next request.",
                          "Name only the home page: '/index.html'.")
    if "/index.html" not in paths:
        if "/" in paths:
            hint = "The home page is cached as the default root object: invalidate it by its own path, '/index.html'."
        else:
            hint = "Paths are case-sensitive and must name the object exactly: '/index.html'."
        raise CheckFailed(f"the invalidation names {', '.join(paths)}, which does not cover /index.html.", hint)
    served = edge.request(dist["Id"], "/")
    current = aws("s3").get_object(Bucket=BUCKET, Key="index.html")["Body"].read()
    if served.status != 200:
        raise CheckFailed(f"the edge answers {served.status} for / — CloudFront cannot read the bucket.",
                          "Fix the bucket policy of Exercise 2 (then wait out the 10 s error caching: "
                          "stacklab.clock().advance(seconds=10)).")
    if served.body != current:
        raise CheckFailed(f"the edge still serves the old home page ({served.header('X-Cache')}): the invalidation "
                          "ran before the new index.html was uploaded, and the old one was cached again.",
                          "Upload the new index.html first, then create a new invalidation.")
    return f"Invalidation {invalidation_id.strip()} named /index.html; the edge now serves the new home page."

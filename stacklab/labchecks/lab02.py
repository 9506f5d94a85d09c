"""Checks for Lab 02 — host a static website on S3 (website configuration, public read, error page, logs).

Each check reads the sandbox through boto3 and asks the website plane (``stacklab.planes.website``)
what a visitor would get, and names the exact mistake: no error document, a policy on the bucket
ARN instead of its objects, Block Public Access still on, an error page nobody may read, logs
written into the site's own bucket or without a prefix…
"""

from __future__ import annotations

import json
from typing import Any

from stacklab.checks import CheckFailed, lab_check
from stacklab.labchecks import aws, expect_name

LESSON = "02"
INDEX = "index.html"
ERROR = "error.html"
LOG_PRINCIPAL = "logging.s3.amazonaws.com"
_RESET_HINT = (
    "If you restarted the kernel or ran stacklab.reset() since, the sandbox is empty again: "
    "re-run the exercise cells from the top."
)


# ------------------------------------------------------------------------------------ helpers


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def _bucket_name(name: str, value: Any) -> str:
    name_value = expect_name(name, value, "bucket name", "'lab02-site'", ("s3://", "arn:", "http"))
    from botocore.exceptions import ClientError

    try:
        aws("s3").head_bucket(Bucket=name_value)
    except ClientError as exc:
        if _code(exc) in ("404", "NoSuchBucket", "NotFound"):
            raise CheckFailed(
                f"no bucket is named {name_value!r} in the sandbox.",
                f"Create it with s3.create_bucket(Bucket={name_value!r}). {_RESET_HINT}",
            ) from None
        raise
    return name_value


def _website(bucket: str) -> dict:
    from botocore.exceptions import ClientError

    try:
        return aws("s3").get_bucket_website(Bucket=bucket)
    except ClientError as exc:
        if _code(exc) == "NoSuchWebsiteConfiguration":
            raise CheckFailed(
                f"{bucket} has no website configuration: website hosting is off.",
                f"Run `!aws s3 website s3://{bucket}/ --index-document index.html --error-document error.html` "
                "(or s3.put_bucket_website).",
            ) from None
        raise


def _head(bucket: str, key: str) -> dict | None:
    from botocore.exceptions import ClientError

    try:
        return aws("s3").head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if _code(exc) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def _policy(bucket: str) -> dict | None:
    from botocore.exceptions import ClientError

    try:
        return json.loads(aws("s3").get_bucket_policy(Bucket=bucket)["Policy"])
    except ClientError as exc:
        if _code(exc) == "NoSuchBucketPolicy":
            return None
        raise


def _statements(policy: dict | None) -> list[dict]:
    found = (policy or {}).get("Statement") or []
    found = found if isinstance(found, list) else [found]
    return [s for s in found if isinstance(s, dict)]


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _block(bucket: str) -> dict[str, bool]:
    from botocore.exceptions import ClientError

    try:
        found = aws("s3").get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except ClientError as exc:
        if _code(exc) == "NoSuchPublicAccessBlockConfiguration":
            return {}
        raise
    return {k: bool(v) for k, v in found.items()}


def _get(bucket: str, path: str) -> Any:
    from stacklab.planes import website

    return website.get(bucket, path)


# ------------------------------------------------------------------------------------- checks


@lab_check(
    "02.website", LESSON, needs=("site_bucket",), title="Website hosting with index and error documents", exercise=1
)
def website_enabled(site_bucket: Any) -> str:
    """Website hosting on, IndexDocument index.html, ErrorDocument error.html, both pages uploaded as HTML."""
    bucket = _bucket_name("site_bucket", site_bucket)
    config = _website(bucket)
    if config.get("RedirectAllRequestsTo"):
        raise CheckFailed(
            f"{bucket} redirects every request to {config['RedirectAllRequestsTo'].get('HostName')!r}: "
            "it serves no pages.",
            "Configure IndexDocument and ErrorDocument instead of RedirectAllRequestsTo.",
        )
    suffix = (config.get("IndexDocument") or {}).get("Suffix")
    if suffix != INDEX:
        raise CheckFailed(
            f"the index document of {bucket} is {suffix!r}; the exercise uses {INDEX!r}.",
            "Pass --index-document index.html (IndexDocument={'Suffix': 'index.html'}).",
        )
    error = (config.get("ErrorDocument") or {}).get("Key")
    if not error:
        raise CheckFailed(
            f"{bucket} has no error document: a missing page would get AWS's plain default 404 page.",
            "Add --error-document error.html (ErrorDocument={'Key': 'error.html'}) to the website configuration.",
        )
    if error != ERROR:
        raise CheckFailed(
            f"the error document of {bucket} is {error!r}; the exercise uses {ERROR!r}.",
            "Pass --error-document error.html.",
        )
    for key in (INDEX, ERROR):
        found = _head(bucket, key)
        if found is None:
            raise CheckFailed(
                f"{bucket} has no object {key!r}, so the website has nothing to serve for it.",
                f"Upload it: s3.put_object(Bucket={bucket!r}, Key={key!r}, Body=..., ContentType='text/html').",
            )
        kind = found.get("ContentType") or ""
        if not kind.startswith("text/html"):
            raise CheckFailed(
                f"{key} is stored with Content-Type {kind!r}: browsers would download it instead of showing it.",
                "Upload it again with ContentType='text/html'.",
            )
    return f"{bucket} hosts a website: index document {INDEX}, error document {ERROR}, both uploaded as text/html."


@lab_check("02.public", LESSON, needs=("site_bucket",), title="Public read through the bucket policy", exercise=2)
def public_read(site_bucket: Any) -> str:
    """The bucket policy grants s3:GetObject on the objects to everyone, with BPA's policy settings off."""
    bucket = _bucket_name("site_bucket", site_bucket)
    _website(bucket)
    policy = _policy(bucket)
    if policy is None:
        raise CheckFailed(
            f"{bucket} has no bucket policy, so anonymous visitors may read nothing (403).",
            "Attach a policy that allows s3:GetObject to Principal '*' on arn:aws:s3:::BUCKET/*.",
        )
    block = _block(bucket)
    on = [name for name in ("BlockPublicPolicy", "RestrictPublicBuckets") if block.get(name)]
    if on:
        raise CheckFailed(
            f"Block Public Access on {bucket} still has {' and '.join(on)} on, which "
            + (
                "makes S3 refuse a public policy."
                if on == ["BlockPublicPolicy"]
                else "makes S3 ignore a public policy."
            ),
            "put_public_access_block with BlockPublicPolicy=False and RestrictPublicBuckets=False for this bucket "
            "(the two ACL settings may stay on).",
        )
    allows = [
        s for s in _statements(policy) if s.get("Effect") == "Allow" and "s3:GetObject" in _listed(s.get("Action"))
    ]
    if not allows:
        raise CheckFailed(
            f"the policy of {bucket} allows no s3:GetObject.",
            "Add a statement with Effect 'Allow', Action 's3:GetObject', Principal '*'.",
        )
    if not any(s.get("Principal") == "*" or "*" in _listed((s.get("Principal") or {}).get("AWS")) for s in allows):
        raise CheckFailed(
            f"the policy of {bucket} allows s3:GetObject only to named principals, not to anonymous visitors.",
            'Website visitors are anonymous: use "Principal": "*".',
        )
    resources = [r for s in allows for r in _listed(s.get("Resource"))]
    if f"arn:aws:s3:::{bucket}" in resources and f"arn:aws:s3:::{bucket}/*" not in resources:
        raise CheckFailed(
            f"the policy's Resource is arn:aws:s3:::{bucket}: that names the bucket, not its objects.",
            f"Use arn:aws:s3:::{bucket}/* so that s3:GetObject applies to every object.",
        )
    response = _get(bucket, "/")
    if response.status != 200:
        raise CheckFailed(
            f"the website endpoint still answers {response.status} for / (the policy does not reach index.html).",
            f"Grant s3:GetObject on arn:aws:s3:::{bucket}/* and look for a Deny statement.",
        )
    return (
        f"the website endpoint serves {bucket}'s home page (200): the policy grants public read and "
        "Block Public Access allows it."
    )


@lab_check("02.errordoc", LESSON, needs=("site_bucket",), title="The error document is served", exercise=3)
def error_served(site_bucket: Any) -> str:
    """A missing page answers 404 with the body of error.html."""
    bucket = _bucket_name("site_bucket", site_bucket)
    config = _website(bucket)
    error = (config.get("ErrorDocument") or {}).get("Key")
    if not error:
        raise CheckFailed(
            f"{bucket} has no error document set, so a missing page gets AWS's default 404 page.",
            "Set ErrorDocument={'Key': 'error.html'} in the website configuration.",
        )
    response = _get(bucket, "/lab02-check-no-such-page.html")
    if response.status != 404:
        raise CheckFailed(
            f"a missing page answered {response.status}, not 404.",
            "Do not add routing rules that redirect 404 errors in this lab.",
        )
    if "Custom Error Document" in response.text:
        why = (
            "it does not exist"
            if "NoSuchKey" in response.text.split("Custom Error Document", 1)[1]
            else ("visitors may not read it")
        )
        raise CheckFailed(
            f"the error document {error!r} is set but could not be served ({why}), so visitors get AWS's default page.",
            f"Upload {error} and make sure the public-read policy covers it (arn:aws:s3:::{bucket}/*).",
        )
    expected = aws("s3").get_object(Bucket=bucket, Key=error)["Body"].read()
    if response.body != expected:
        raise CheckFailed(
            f"a missing page did not get the body of {error}.", f"Upload {error} and set it as the error document."
        )
    return f"a missing page answers 404 with the body of {error} ({len(expected)} bytes)."


@lab_check(
    "02.logging", LESSON, needs=("site_bucket", "log_bucket"), title="Access logs to a separate bucket", exercise=4
)
def logging_separate(site_bucket: Any, log_bucket: Any) -> str:
    """Server access logging from the site into a separate bucket, under a prefix, permitted by policy."""
    bucket = _bucket_name("site_bucket", site_bucket)
    logs = _bucket_name("log_bucket", log_bucket)
    if logs == bucket:
        raise CheckFailed(
            f"`log_bucket` is the site's own bucket {bucket!r}: each log write would be logged again, without end.",
            f"Create a separate bucket, e.g. logs-{bucket}, and log into it.",
        )
    enabled = aws("s3").get_bucket_logging(Bucket=bucket).get("LoggingEnabled")
    if not enabled:
        raise CheckFailed(
            f"server access logging is not enabled on {bucket}. Did put_bucket_logging fail with "
            "InvalidTargetBucketForLogging?",
            f"Give {logs} a bucket policy allowing {LOG_PRINCIPAL} to s3:PutObject on arn:aws:s3:::{logs}/PREFIX*, "
            "then call put_bucket_logging again.",
        )
    target, prefix = enabled.get("TargetBucket"), enabled.get("TargetPrefix") or ""
    if target == bucket:
        raise CheckFailed(
            f"{bucket} logs into itself: every log object is itself a logged request, so logs grow without end.",
            f"Set TargetBucket to {logs!r}.",
        )
    if target != logs:
        raise CheckFailed(
            f"{bucket} logs into {target!r}, not into `log_bucket` ({logs!r}).",
            f"Set TargetBucket to {logs!r} (or set `log_bucket` to the bucket you used).",
        )
    if not prefix:
        raise CheckFailed(
            f"the logs of {bucket} have no TargetPrefix, so they land at the top of {logs}, mixed with anything else.",
            f"Set TargetPrefix, e.g. '{bucket}-logs/' (end it with a slash).",
        )
    granted = any(
        s.get("Effect") == "Allow"
        and LOG_PRINCIPAL
        in _listed((s.get("Principal") or {}).get("Service") if isinstance(s.get("Principal"), dict) else None)
        and any(a in ("s3:PutObject", "s3:*") for a in _listed(s.get("Action")))
        for s in _statements(_policy(logs))
    )
    if not granted:
        raise CheckFailed(
            f"{logs} has no bucket policy statement letting {LOG_PRINCIPAL} s3:PutObject: log delivery would fail.",
            f"Allow the service principal {LOG_PRINCIPAL} s3:PutObject on arn:aws:s3:::{logs}/{prefix}*.",
        )
    from stacklab.planes import website

    before = len(website.access_log(logs, prefix)["plane"])
    _get(bucket, "/")
    after = len(website.access_log(logs, prefix)["plane"])
    if after != before + 1:
        raise CheckFailed(
            f"a visit to {bucket} did not add a log record under {logs}/{prefix}.", "Check the logging configuration."
        )
    return f"{bucket} logs to {logs} under {prefix!r}; a visit just added a record there."

"""Lab 02's checks pass on the solution and name the exact mistake in realistic wrong answers."""

from __future__ import annotations

import json

import pytest
from support.labcheck import failed, run

import stacklab

SITE = "lab02-site"
LOGS = "logs-lab02-site"
PREFIX = "lab02-site-logs/"
POLICY_OFF = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": False,
    "RestrictPublicBuckets": False,
}


@pytest.fixture(autouse=True)
def fresh(box, tmp_path, monkeypatch):
    monkeypatch.setenv("STACKLAB_PROGRESS", str(tmp_path / "progress.json"))
    stacklab.reset()
    # moto builds a service's state on its first call (s3control imports its models, ~0.4 s); in the lab
    # the learner's own cells make that first call, so make it here before timing the checks.
    s3().list_buckets()
    try:
        stacklab.client("s3control").get_public_access_block(AccountId="123456789012")
    except Exception:  # noqa: BLE001 - no account-level configuration: the usual answer
        pass


def s3():
    return stacklab.client("s3")




# ------------------------------------------------------------------------------------ builders


def build_site(*, error: str | None = "error.html", error_object: bool = True, content_type: str = "text/html"):
    s3().create_bucket(Bucket=SITE)
    s3().put_object(Bucket=SITE, Key="index.html", Body=b"<h1>Lab 02</h1>", ContentType=content_type)
    if error_object:
        s3().put_object(Bucket=SITE, Key="error.html", Body=b"<h1>Not here</h1>", ContentType="text/html")
    config = {"IndexDocument": {"Suffix": "index.html"}}
    if error:
        config["ErrorDocument"] = {"Key": error}
    s3().put_bucket_website(Bucket=SITE, WebsiteConfiguration=config)


def make_public(*, resource: str = f"arn:aws:s3:::{SITE}/*", block: dict | None = None, principal=None):
    s3().put_public_access_block(Bucket=SITE, PublicAccessBlockConfiguration=block or POLICY_OFF)
    statement = {
        "Effect": "Allow",
        "Principal": principal or "*",
        "Action": "s3:GetObject",
        "Resource": resource,
    }
    s3().put_bucket_policy(Bucket=SITE, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))


def log_policy(bucket: str, prefix: str = PREFIX) -> str:
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{bucket}/{prefix}*",
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def build_logging(*, target: str = LOGS, prefix: str = PREFIX) -> None:
    if target != SITE:
        s3().create_bucket(Bucket=target)
        s3().put_bucket_policy(Bucket=target, Policy=log_policy(target, prefix))
    else:
        policy = json.loads(log_policy(SITE, prefix))
        policy["Statement"].append(
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{SITE}/*"}
        )
        s3().put_bucket_policy(Bucket=SITE, Policy=json.dumps(policy))
    s3().put_bucket_logging(
        Bucket=SITE, BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": target, "TargetPrefix": prefix}}
    )


def solution() -> None:
    build_site()
    make_public()
    build_logging()


# ---------------------------------------------------------------------------------- the solution


def test_the_solution_passes_every_check():
    solution()
    ns = {"site_bucket": SITE, "log_bucket": LOGS}
    messages = {}
    for check_id in ("02.website", "02.public", "02.errordoc", "02.logging"):
        result = run(check_id, **ns)
        assert result, result.text()
        messages[check_id] = result.message
    assert messages["02.website"].startswith("lab02-site hosts a website: index document index.html")
    assert "serves lab02-site's home page (200)" in messages["02.public"]
    assert messages["02.errordoc"] == "a missing page answers 404 with the body of error.html (17 bytes)."
    assert messages["02.logging"].startswith("lab02-site logs to logs-lab02-site under 'lab02-site-logs/'")


def test_unanswered_lab_fails_without_traceback():
    assert failed("02.website", site_bucket=SITE) == "no bucket is named 'lab02-site' in the sandbox."
    assert "`log_bucket` is not defined yet" in failed("02.logging", site_bucket=SITE)
    assert "still holds `...`" in failed("02.logging", site_bucket=SITE, log_bucket=...)


# ---------------------------------------------------------------------------------- 02.website


def test_website_error_document_not_set():
    build_site(error=None)
    assert failed("02.website", site_bucket=SITE).startswith("lab02-site has no error document")


def test_website_hosting_off_or_wrong_type_or_missing_page():
    s3().create_bucket(Bucket=SITE)
    assert failed("02.website", site_bucket=SITE) == "lab02-site has no website configuration: website hosting is off."
    stacklab.reset()
    build_site(content_type="binary/octet-stream")
    assert "stored with Content-Type 'binary/octet-stream'" in failed("02.website", site_bucket=SITE)
    stacklab.reset()
    build_site(error_object=False)
    assert failed("02.website", site_bucket=SITE).startswith("lab02-site has no object 'error.html'")


def test_website_variable_mistakes():
    build_site()
    assert "holds a whole dict" in failed("02.website", site_bucket={"Location": "/lab02-site"})
    assert "a URL or ARN" in failed("02.website", site_bucket="s3://lab02-site")


# ----------------------------------------------------------------------------------- 02.public


def test_public_policy_on_the_bucket_arn_instead_of_its_objects():
    build_site()
    make_public(resource=f"arn:aws:s3:::{SITE}")
    assert failed("02.public", site_bucket=SITE).startswith(
        "the policy's Resource is arn:aws:s3:::lab02-site: that names the bucket, not its objects."
    )


def test_public_block_public_access_still_on():
    build_site()
    make_public(block={**POLICY_OFF, "RestrictPublicBuckets": True})
    message = failed("02.public", site_bucket=SITE)
    assert "still has RestrictPublicBuckets on" in message and "ignore a public policy" in message
    make_public(block={**POLICY_OFF, "BlockPublicPolicy": True})
    assert "refuse a public policy" in failed("02.public", site_bucket=SITE)


def test_public_no_policy_or_named_principal():
    build_site()
    assert failed("02.public", site_bucket=SITE).startswith("lab02-site has no bucket policy")
    make_public(principal={"AWS": "arn:aws:iam::123456789012:root"})
    assert "only to named principals" in failed("02.public", site_bucket=SITE)


# --------------------------------------------------------------------------------- 02.errordoc


def test_errordoc_not_set():
    build_site(error=None)
    make_public()
    assert failed("02.errordoc", site_bucket=SITE).startswith("lab02-site has no error document set")


def test_errordoc_not_readable_or_missing():
    build_site()
    make_public(resource=f"arn:aws:s3:::{SITE}/index.html")
    assert "could not be served (visitors may not read it)" in failed("02.errordoc", site_bucket=SITE)
    s3().delete_object(Bucket=SITE, Key="error.html")
    make_public()
    assert "could not be served (it does not exist)" in failed("02.errordoc", site_bucket=SITE)


# ---------------------------------------------------------------------------------- 02.logging


def test_logging_into_itself():
    build_site()
    build_logging(target=SITE)
    assert "is the site's own bucket" in failed("02.logging", site_bucket=SITE, log_bucket=SITE)
    s3().create_bucket(Bucket=LOGS)
    assert failed("02.logging", site_bucket=SITE, log_bucket=LOGS).startswith("lab02-site logs into itself")


def test_logging_without_prefix():
    build_site()
    make_public()
    build_logging(prefix="")
    assert "have no TargetPrefix" in failed("02.logging", site_bucket=SITE, log_bucket=LOGS)


def test_logging_target_without_permission():
    build_site()
    make_public()
    s3().create_bucket(Bucket=LOGS)
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match="InvalidTargetBucketForLogging"):
        s3().put_bucket_logging(
            Bucket=SITE, BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": LOGS, "TargetPrefix": PREFIX}}
        )
    message = failed("02.logging", site_bucket=SITE, log_bucket=LOGS)
    assert message.startswith("server access logging is not enabled on lab02-site")
    build_logging()
    s3().delete_bucket_policy(Bucket=LOGS)
    assert "has no bucket policy statement letting logging.s3.amazonaws.com" in failed(
        "02.logging", site_bucket=SITE, log_bucket=LOGS
    )


def test_logging_to_another_bucket_than_log_bucket():
    build_site()
    make_public()
    build_logging(target="other-logs")
    s3().create_bucket(Bucket=LOGS)
    assert "logs into 'other-logs', not into `log_bucket`" in failed("02.logging", site_bucket=SITE, log_bucket=LOGS)
    assert run("02.logging", site_bucket=SITE, log_bucket="other-logs")

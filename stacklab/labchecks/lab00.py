"""Checks used in lesson 00 to show how lab checks work: one small bucket exercise."""

from __future__ import annotations

from typing import Any

from stacklab.checks import CheckFailed, lab_check
from stacklab.labchecks import aws, expect_name, tag

LESSON = "00"


@lab_check("00.first_bucket", LESSON, needs=("bucket_name",), title="Your first bucket", exercise=1)
def first_bucket(bucket_name: Any) -> str:
    """The bucket exists, has versioning enabled and the tag course=serverless-hands-on."""
    name = expect_name("bucket_name", bucket_name, "bucket's name", "'my-first-bucket'", ("s3://", "arn:"))
    s3 = aws("s3")
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    if name not in names:
        raise CheckFailed(
            f"there is no bucket called {name!r} in the sandbox (it has: {', '.join(names) or 'none'}).",
            "Create it with s3.create_bucket(Bucket=bucket_name).",
        )
    status = s3.get_bucket_versioning(Bucket=name).get("Status")
    if status != "Enabled":
        state = "has never been enabled" if status is None else f"is {status}"
        raise CheckFailed(
            f"bucket {name!r} exists, but its versioning {state}.",
            "s3.put_bucket_versioning(Bucket=bucket_name, VersioningConfiguration={'Status': 'Enabled'})",
        )
    try:
        tags = s3.get_bucket_tagging(Bucket=name)["TagSet"]
    except Exception:  # noqa: BLE001 - NoSuchTagSet: no tags yet
        tags = []
    if tag(tags, "course") != "serverless-hands-on":
        raise CheckFailed(
            f"bucket {name!r} has no tag course=serverless-hands-on.",
            "s3.put_bucket_tagging(Bucket=bucket_name, Tagging={'TagSet': [{'Key': 'course', "
            "'Value': 'serverless-hands-on'}]})",
        )
    return f"bucket {name!r} exists, versioning is Enabled, tag course=serverless-hands-on is set"

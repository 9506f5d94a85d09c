"""Lesson 00's demonstration check: passes on the answer, names each realistic mistake."""

from __future__ import annotations

import pytest

import stacklab
from stacklab.checks import check


@pytest.fixture()
def s3():
    stacklab.start()
    yield stacklab.client("s3")
    stacklab.stop()


def _answer(s3, name="my-first-bucket", versioning=True, tag=True):
    s3.create_bucket(Bucket=name)
    if versioning:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    if tag:
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": "course", "Value": "serverless-hands-on"}]})


def test_passes_on_the_answer(s3):
    _answer(s3)
    result = check("00.first_bucket", namespace={"bucket_name": "my-first-bucket"})
    assert result.passed and "versioning is Enabled" in result.text()


@pytest.mark.parametrize(
    ("setup", "value", "message"),
    [
        ({"versioning": False}, "my-first-bucket", "versioning has never been enabled"),
        ({"tag": False}, "my-first-bucket", "has no tag course=serverless-hands-on"),
        ({}, "my-frist-bucket", "there is no bucket called 'my-frist-bucket'"),
        ({}, "s3://my-first-bucket", "the check wants the bare name"),
        ({}, 42, "should be the bucket's name"),
    ],
)
def test_names_the_mistake(s3, setup, value, message):
    _answer(s3, **setup)
    result = check("00.first_bucket", namespace={"bucket_name": value})
    assert not result.passed
    assert message in result.text()


def test_suspended_versioning_is_named(s3):
    _answer(s3)
    s3.put_bucket_versioning(Bucket="my-first-bucket", VersioningConfiguration={"Status": "Suspended"})
    assert "versioning is Suspended" in check("00.first_bucket", namespace={"bucket_name": "my-first-bucket"}).text()


def test_undefined_variable_is_not_a_traceback(s3):
    result = check("00.first_bucket", namespace={})
    assert not result.passed and "not defined yet" in result.text()

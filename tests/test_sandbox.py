"""The sandbox: fake credentials, seeded IDs, idempotent start, reset, CLI server, real-AWS refusal."""

from __future__ import annotations

import os
import subprocess
import time

import boto3
import pytest
import requests

import stacklab
from stacklab import netguard, sandbox


@pytest.fixture()
def box(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAPLANTEDREALKEY01")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "planted-secret")
    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "https://s3.example.com")
    started = stacklab.start()
    yield started
    stacklab.stop()


def test_start_hides_real_credentials_and_restores_them_on_stop(box):
    assert os.environ["AWS_ACCESS_KEY_ID"] == sandbox.FAKE_ACCESS_KEY
    assert "AWS_PROFILE" not in os.environ
    assert "AWS_ENDPOINT_URL_S3" not in os.environ
    creds = boto3.Session().get_credentials()
    assert creds.access_key == sandbox.FAKE_ACCESS_KEY
    stacklab.stop()
    assert os.environ["AWS_ACCESS_KEY_ID"] == "AKIAPLANTEDREALKEY01"
    assert os.environ["AWS_PROFILE"] == "production"
    assert not netguard.installed()
    stacklab.start()  # the fixture stops it again


def test_start_is_fast_and_describes_itself(box):
    stacklab.stop()
    began = time.perf_counter()
    again = stacklab.start()
    assert time.perf_counter() - began < 1.0
    text = repr(again)
    assert "123456789012" in text and "loopback only" in text and "fake" in text


def test_ids_are_seeded_and_start_twice_gives_a_fresh_identical_account(box):
    # The same calls in the same order give the same IDs (as when a notebook runs again).
    def run() -> tuple[str, list]:
        buckets = boto3.client("s3").list_buckets()["Buckets"]
        vpc = boto3.client("ec2").create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        boto3.client("s3").create_bucket(Bucket="course-bucket")
        return vpc, buckets

    first, _ = run()
    stacklab.start()
    again, buckets = run()
    assert buckets == [] and again == first


def test_start_fresh_false_keeps_resources(box):
    boto3.client("s3").create_bucket(Bucket="keep-me")
    stacklab.start(fresh=False)
    assert [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]] == ["keep-me"]


def test_reset_wipes_and_rewinds_the_clock(box):
    boto3.client("s3").create_bucket(Bucket="gone-soon")
    stacklab.clock().advance(hours=2)
    calls = []
    sandbox.on_reset(lambda: calls.append(1))
    stacklab.reset()
    assert boto3.client("s3").list_buckets()["Buckets"] == []
    assert stacklab.clock().now().isoformat() == "2026-01-15T09:00:00+00:00"
    assert calls


def test_non_loopback_traffic_is_refused_with_the_packages_error(box):
    with pytest.raises(stacklab.RealAWSBlockedError, match="example.org"):
        requests.get("https://example.org/", timeout=2)
    import socket

    with pytest.raises(stacklab.RealAWSBlockedError):
        socket.create_connection(("93.184.216.34", 443), timeout=1)
    with pytest.raises(stacklab.RealAWSBlockedError):
        socket.getaddrinfo("sts.amazonaws.com", 443)


def test_unmocked_call_never_leaves_the_machine(box):
    # A client pointed at a real-looking endpoint that moto does not intercept is stopped by the guard.
    client = boto3.client("s3", endpoint_url="https://not-aws.example.net")
    with pytest.raises(stacklab.RealAWSBlockedError):
        client.list_buckets()


def test_cli_server_shares_state_and_runs_the_notes_commands(box):
    stacklab.start(cli=True, fresh=False)
    assert os.environ["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    boto3.client("s3").create_bucket(Bucket="examplebucket")
    command = (
        "aws s3 website s3://examplebucket/ --index-document index.html --error-document error.html"
    )
    done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    website = boto3.client("s3").get_bucket_website(Bucket="examplebucket")
    assert website["IndexDocument"] == {"Suffix": "index.html"}
    assert website["ErrorDocument"] == {"Key": "error.html"}


def test_real_aws_needs_an_explicit_opt_in(box):
    with pytest.raises(stacklab.StackLabError, match="allow_real_aws=True"):
        stacklab.start(target="aws")
    with pytest.raises(stacklab.StackLabError, match="restart the kernel"):
        stacklab.start(target="aws", allow_real_aws=True)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"region": "mars-1"}, "region must be one of"),
        ({"seed": -1}, "seed must be at least 0"),
        ({"seed": 1.5}, "seed must be a whole number"),
        ({"cli": "yes"}, "cli must be True or False"),
        ({"target": "prod"}, "target must be one of"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, message):
    with pytest.raises(stacklab.InputError, match=message):
        stacklab.start(**kwargs)


def test_functions_that_need_the_sandbox_say_how_to_start_it():
    stacklab.stop()
    with pytest.raises(stacklab.SandboxNotStartedError, match=r"stacklab.start\(\)"):
        stacklab.client("s3")
    with pytest.raises(stacklab.SandboxNotStartedError):
        stacklab.reset()


def test_client_rejects_unknown_services(box):
    with pytest.raises(stacklab.InputError, match="no service called 'ec3'"):
        stacklab.client("ec3")
    assert stacklab.client("s3").meta.region_name == "us-east-1"


def test_aws_variables_set_while_running_are_hidden_by_start_and_restored_by_stop(monkeypatch):
    stacklab.start()
    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIASETLATERXXXXXXXX")
    stacklab.start()
    assert "AWS_PROFILE" not in os.environ and os.environ["AWS_ACCESS_KEY_ID"] != "AKIASETLATERXXXXXXXX"
    stacklab.stop()
    assert os.environ["AWS_PROFILE"] == "production" and os.environ["AWS_ACCESS_KEY_ID"] == "AKIASETLATERXXXXXXXX"


def test_requests_to_aws_urls_reach_moto_after_a_reset():
    stacklab.start()
    stacklab.reset()
    pool = stacklab.client("cognito-idp").create_user_pool(PoolName="p")["UserPool"]["Id"]
    jwks = requests.get(f"https://cognito-idp.us-east-1.amazonaws.com/{pool}/.well-known/jwks.json", timeout=5)
    assert jwks.status_code == 200 and jwks.json()["keys"]
    stacklab.stop()


def test_warm_up_waits_while_a_notebook_cell_runs(monkeypatch):
    import IPython

    class Events:
        def __init__(self):
            self.handlers = {}

        def register(self, name, handler):
            self.handlers[name] = handler

    class Shell:
        events = Events()

    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell())
    monkeypatch.setattr(sandbox, "_cell_events_registered", False)
    sandbox._watch_cells()  # start() runs inside a cell: no warming yet
    assert not sandbox._idle.is_set()
    Shell.events.handlers["post_run_cell"](None)
    assert sandbox._idle.is_set()
    Shell.events.handlers["pre_run_cell"](None)
    assert not sandbox._idle.is_set()
    sandbox._idle.set()

"""Lesson 01's reference designs and the inventory of what each leaves you to run."""

from __future__ import annotations

import pytest

import stacklab
from stacklab import architectures


@pytest.fixture()
def box():
    stacklab.start()
    yield
    stacklab.stop()


def test_three_tier_skeleton_is_highly_available(box, capsys):
    built = architectures.build_three_tier(prefix="shop")
    printed = capsys.readouterr().out
    assert "ec2.create_vpc" in printed and "MultiAZ=True" in printed
    ec2, elbv2, rds = (stacklab.client(s) for s in ("ec2", "elbv2", "rds"))
    zones = {s["AvailabilityZone"] for s in ec2.describe_subnets(SubnetIds=built.subnet_ids)["Subnets"]}
    assert zones == {"us-east-1a", "us-east-1b"}
    lb = elbv2.describe_load_balancers(LoadBalancerArns=[built.alb_arn])["LoadBalancers"][0]
    assert lb["Type"] == "application" and lb["Scheme"] == "internet-facing"
    assert rds.describe_db_instances(DBInstanceIdentifier=built.db_instance_id)["DBInstances"][0]["MultiAZ"]
    inventory = architectures.inventory()
    assert inventory.servers_to_run == 5  # 2 instances + 1 ALB + primary and standby
    assert "Servers to run: 5" in repr(inventory)


def test_serverless_skeleton_leaves_no_server_to_run(box, capsys):
    built = architectures.build_serverless(prefix="shop")
    assert built.bucket == "shop-site-assets"
    inventory = architectures.inventory()
    assert inventory.servers_to_run == 0
    assert [row[0] for row in inventory.managed] == [
        "S3 buckets", "DynamoDB tables", "Lambda functions", "HTTP/WebSocket APIs", "Cognito user pools",
    ]
    assert "nothing" in inventory.text().split("AWS runs")[0]


def test_single_az_database_has_no_standby(box, capsys):
    architectures.build_three_tier(prefix="dev", multi_az=False, instance_type="t3.micro")
    assert architectures.inventory().servers_to_run == 4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prefix": "Shop"}, "lower-case"),
        ({"prefix": ""}, "must not be empty"),
        ({"instance_type": "m5.large"}, "instance_type must be one of"),
        ({"multi_az": "yes"}, "multi_az must be True or False"),
    ],
)
def test_bad_input_is_rejected(box, kwargs, message):
    with pytest.raises(stacklab.InputError, match=message):
        architectures.build_three_tier(**kwargs)


def test_needs_the_sandbox():
    with pytest.raises(stacklab.SandboxNotStartedError):
        architectures.inventory()

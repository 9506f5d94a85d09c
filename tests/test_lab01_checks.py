"""Lab 01's checks pass on the solution and name the exact mistake in realistic wrong answers."""

from __future__ import annotations

import pytest
from support.labcheck import failed, run

import stacklab
from stacklab import costs

AMI = "ami-03c3da4cfa8e8943a"  # one of moto's default Amazon Linux 2023 images


@pytest.fixture(autouse=True)
def fresh(box, tmp_path, monkeypatch):
    monkeypatch.setenv("STACKLAB_PROGRESS", str(tmp_path / "progress.json"))
    stacklab.reset()
    # moto rebuilds a service's state on its first call after a reset (~0.4 s for EC2); in the lab the
    # learner's own cells make that first call, so do it here before timing the checks.
    stacklab.client("ec2").describe_vpcs()
    stacklab.client("elbv2").describe_load_balancers()
    stacklab.client("autoscaling").describe_auto_scaling_groups()
    stacklab.client("rds").describe_db_instances()




# ------------------------------------------------------------------------------------ builders


def ec2():
    return stacklab.client("ec2")


def elbv2():
    return stacklab.client("elbv2")


def build_vpc(cidr: str = "10.0.0.0/16", name: str | None = "lab01-vpc") -> str:
    kwargs = {}
    if name is not None:
        kwargs["TagSpecifications"] = [{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": name}]}]
    return ec2().create_vpc(CidrBlock=cidr, **kwargs)["Vpc"]["VpcId"]


def build_subnets(vpc_id: str, zones=("us-east-1a", "us-east-1b"), third: int = 1) -> list[str]:
    return [
        ec2().create_subnet(VpcId=vpc_id, CidrBlock=f"10.0.{third + i}.0/24", AvailabilityZone=zone)["Subnet"][
            "SubnetId"
        ]
        for i, zone in enumerate(zones)
    ]


def build_alb(
    vpc_id: str,
    subnet_ids: list[str],
    *,
    kind: str = "application",
    scheme: str = "internet-facing",
    name: str = "lab01-alb",
    listener: bool = True,
    tg: tuple[str, int] = ("HTTP", 80),
    action: str = "forward",
) -> tuple[str, str]:
    lb = elbv2().create_load_balancer(Name=name, Subnets=subnet_ids, Scheme=scheme, Type=kind)
    arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
    group = elbv2().create_target_group(
        Name=f"{name}-tg", Protocol=tg[0], Port=tg[1], VpcId=vpc_id, TargetType="instance"
    )["TargetGroups"][0]["TargetGroupArn"]
    if listener:
        if action == "forward":
            default = {"Type": "forward", "TargetGroupArn": group}
        else:
            default = {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}
        protocol = "TCP" if kind == "network" else "HTTP"
        elbv2().create_listener(LoadBalancerArn=arn, Protocol=protocol, Port=80, DefaultActions=[default])
    return arn, group


def build_asg(
    subnet_ids: list[str],
    tg_arn: str | None,
    *,
    min_size: int = 2,
    instance_type: str = "t3.micro",
    name: str = "lab01-web",
) -> str:
    lt = ec2().create_launch_template(
        LaunchTemplateName=f"{name}-lt", LaunchTemplateData={"ImageId": AMI, "InstanceType": instance_type}
    )["LaunchTemplate"]["LaunchTemplateId"]
    extra = {"TargetGroupARNs": [tg_arn]} if tg_arn else {}
    stacklab.client("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateId": lt, "Version": "$Latest"},
        MinSize=min_size,
        MaxSize=4,
        DesiredCapacity=min_size,
        VPCZoneIdentifier=",".join(subnet_ids),
        **extra,
    )
    return name


def build_db(subnet_ids: list[str] | None, *, multi_az: bool = True, engine: str = "postgres") -> str:
    rds = stacklab.client("rds")
    extra = {}
    if subnet_ids:
        rds.create_db_subnet_group(
            DBSubnetGroupName="lab01-db-subnets", DBSubnetGroupDescription="lab 01", SubnetIds=subnet_ids
        )
        extra["DBSubnetGroupName"] = "lab01-db-subnets"
    rds.create_db_instance(
        DBInstanceIdentifier="lab01-db",
        Engine=engine,
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        MasterUsername="app",
        MasterUserPassword="NotARealPassw0rd",
        MultiAZ=multi_az,
        **extra,
    )
    return "lab01-db"


def solution() -> dict:
    vpc_id = build_vpc()
    subnet_ids = build_subnets(vpc_id)
    alb_arn, tg_arn = build_alb(vpc_id, subnet_ids)
    asg_name = build_asg(subnet_ids, tg_arn)
    db_instance_id = build_db(subnet_ids)
    return {
        "vpc_id": vpc_id,
        "subnet_ids": subnet_ids,
        "alb_arn": alb_arn,
        "tg_arn": tg_arn,
        "asg_name": asg_name,
        "db_instance_id": db_instance_id,
    }


# --------------------------------------------------------------------------------- the solution


def test_the_solution_passes_every_check():
    ns = solution()
    ns["managed_pieces"] = 5
    built = costs.ThreeTier(instance_type="t3.micro", db_instance_class="db.t3.micro")
    ns["three_tier_monthly_usd"] = round(costs.monthly_cost(built, 1_000_000).total, 2)
    messages = {}
    for check_id in ("01.vpc", "01.subnets", "01.alb", "01.asg", "01.db", "01.count", "01.cost"):
        result = run(check_id, **ns)
        assert result, result.text()
        messages[check_id] = result.message
    assert messages["01.vpc"] == f"VPC {ns['vpc_id']} has CIDR 10.0.0.0/16 and tag Name=lab01-vpc."
    assert "us-east-1a" in messages["01.subnets"] and "us-east-1b" in messages["01.subnets"]
    assert "application and internet-facing" in messages["01.alb"] and "HTTP:80" in messages["01.alb"]
    assert "Min 2 / Desired 2 / Max 4" in messages["01.asg"] and "t3.micro" in messages["01.asg"]
    assert "Multi-AZ" in messages["01.db"] and "postgres" in messages["01.db"]
    assert messages["01.count"].startswith("5 pieces to run: 2 EC2 instances")
    assert messages["01.cost"].startswith("$71.16 a month matches the cost model")


# ------------------------------------------------------------------------------------ 01.vpc


def test_vpc_wrong_cidr():
    assert failed("01.vpc", vpc_id=build_vpc("10.1.0.0/16")).endswith(
        "has CIDR 10.1.0.0/16; the exercise asks for 10.0.0.0/16."
    )


def test_vpc_missing_or_wrong_name_tag():
    assert failed("01.vpc", vpc_id=build_vpc(name=None)).endswith("has no Name tag.")
    assert "is tagged Name='lab01'" in failed("01.vpc", vpc_id=build_vpc(name="lab01"))


def test_vpc_id_is_a_response_a_number_or_unknown():
    response = ec2().create_vpc(CidrBlock="10.0.0.0/16")
    assert "holds a whole dict" in failed("01.vpc", vpc_id=response)
    assert "it holds int 123" in failed("01.vpc", vpc_id=123)
    assert failed("01.vpc", vpc_id="vpc-123") == "no VPC has the id 'vpc-123' in the sandbox."
    assert "which is not a VPC ID" in failed("01.vpc", vpc_id="subnet-123")


def test_vpc_default_vpc_is_not_yours():
    default = next(v["VpcId"] for v in ec2().describe_vpcs()["Vpcs"] if v["IsDefault"])
    assert "the sandbox's default VPC" in failed("01.vpc", vpc_id=default)


# -------------------------------------------------------------------------------- 01.subnets


def test_subnets_in_the_same_az():
    vpc_id = build_vpc()
    same = build_subnets(vpc_id, zones=("us-east-1a", "us-east-1a"))
    assert failed("01.subnets", vpc_id=vpc_id, subnet_ids=same).startswith("both subnets are in us-east-1a")


def test_subnet_in_another_vpc():
    vpc_id = build_vpc()
    mine = build_subnets(vpc_id, zones=("us-east-1a",))
    other = build_vpc("10.0.0.0/16", name="other")
    theirs = build_subnets(other, zones=("us-east-1b",), third=2)
    message = failed("01.subnets", vpc_id=vpc_id, subnet_ids=mine + theirs)
    assert message == f"subnet {theirs[0]} is in VPC {other}, not in your lab VPC {vpc_id}."
    default = ec2().describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"][0]
    message = failed("01.subnets", vpc_id=vpc_id, subnet_ids=mine + [default["SubnetId"]])
    assert "(the sandbox's default VPC)" in message


def test_only_one_subnet_or_not_a_list():
    vpc_id = build_vpc()
    one = build_subnets(vpc_id, zones=("us-east-1a",))
    message = failed("01.subnets", vpc_id=vpc_id, subnet_ids=one)
    assert message.startswith("`subnet_ids` holds one subnet ID; the exercise asks for exactly 2.")
    assert "at least two Availability Zones" in message
    assert "is a single string" in failed("01.subnets", vpc_id=vpc_id, subnet_ids=one[0])
    assert "the same subnet ID twice" in failed("01.subnets", vpc_id=vpc_id, subnet_ids=one * 2)
    assert failed("01.subnets", vpc_id=vpc_id, subnet_ids=[one[0], "subnet-0000"]).startswith(
        "no subnet has the id 'subnet-0000'"
    )


# ------------------------------------------------------------------------------------ 01.alb


def _network() -> tuple[str, list[str]]:
    vpc_id = build_vpc()
    return vpc_id, build_subnets(vpc_id)


def test_alb_network_load_balancer_instead():
    vpc_id, subnets = _network()
    arn, _ = build_alb(vpc_id, subnets, kind="network", tg=("TCP", 80))
    assert "is a network load balancer; the exercise asks for an Application Load Balancer" in failed(
        "01.alb", subnet_ids=subnets, alb_arn=arn
    )


def test_alb_in_one_az_only():
    vpc_id, subnets = _network()
    arn, _ = build_alb(vpc_id, subnets[:1])
    assert failed("01.alb", subnet_ids=subnets, alb_arn=arn) == (
        "lab01-alb is in only one Availability Zone (us-east-1a)."
    )


def test_alb_internal_scheme():
    vpc_id, subnets = _network()
    arn, _ = build_alb(vpc_id, subnets, scheme="internal")
    assert "has scheme 'internal'" in failed("01.alb", subnet_ids=subnets, alb_arn=arn)


def test_alb_without_listener_or_forward():
    vpc_id, subnets = _network()
    arn, _ = build_alb(vpc_id, subnets, listener=False)
    assert failed("01.alb", subnet_ids=subnets, alb_arn=arn).endswith(
        "has no listener, so it accepts no requests at all."
    )
    arn2, _ = build_alb(vpc_id, subnets, name="fixed", action="fixed-response")
    assert "does not forward to any target group" in failed("01.alb", subnet_ids=subnets, alb_arn=arn2)


def test_alb_target_group_on_the_wrong_port():
    vpc_id, subnets = _network()
    arn, _ = build_alb(vpc_id, subnets, tg=("HTTP", 8080))
    assert "on HTTP:8080; the web servers listen on HTTP:80" in failed("01.alb", subnet_ids=subnets, alb_arn=arn)


def test_alb_arn_is_a_target_group_or_unknown():
    vpc_id, subnets = _network()
    _, tg = build_alb(vpc_id, subnets)
    assert "holds a target group's ARN" in failed("01.alb", subnet_ids=subnets, alb_arn=tg)
    missing = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/gone/0123456789abcdef"
    assert failed("01.alb", subnet_ids=subnets, alb_arn=missing).startswith("no load balancer has the ARN")


# ------------------------------------------------------------------------------------ 01.asg


def _front() -> tuple[list[str], str, str]:
    vpc_id, subnets = _network()
    arn, tg = build_alb(vpc_id, subnets)
    return subnets, arn, tg


def test_asg_min_size_one():
    subnets, arn, tg = _front()
    name = build_asg(subnets, tg, min_size=1)
    assert failed("01.asg", subnet_ids=subnets, alb_arn=arn, asg_name=name).startswith("lab01-web has MinSize 1")


def test_asg_in_one_subnet():
    subnets, arn, tg = _front()
    name = build_asg(subnets[:1], tg)
    assert failed("01.asg", subnet_ids=subnets, alb_arn=arn, asg_name=name).startswith(
        "lab01-web launches into only one subnet (us-east-1a)"
    )


def test_asg_not_attached_to_the_target_group():
    subnets, arn, tg = _front()
    name = build_asg(subnets, None)
    assert "is not attached to any target group" in failed("01.asg", subnet_ids=subnets, alb_arn=arn, asg_name=name)
    other = elbv2().create_target_group(Name="other", Protocol="HTTP", Port=80, VpcId=_vpc_of(subnets))
    other_arn = other["TargetGroups"][0]["TargetGroupArn"]
    stacklab.client("autoscaling").attach_load_balancer_target_groups(
        AutoScalingGroupName=name, TargetGroupARNs=[other_arn]
    )
    assert "attached to a target group the ALB does not forward to" in failed(
        "01.asg", subnet_ids=subnets, alb_arn=arn, asg_name=name
    )


def _vpc_of(subnets: list[str]) -> str:
    return ec2().describe_subnets(SubnetIds=subnets[:1])["Subnets"][0]["VpcId"]


def test_asg_wrong_instance_type_or_unknown_name():
    subnets, arn, tg = _front()
    name = build_asg(subnets, tg, instance_type="t3.small")
    assert "launches t3.small; the exercise uses t3.micro" in failed(
        "01.asg", subnet_ids=subnets, alb_arn=arn, asg_name=name
    )
    assert failed("01.asg", subnet_ids=subnets, alb_arn=arn, asg_name="web") == (
        "no Auto Scaling group is named 'web' (the sandbox has: lab01-web)."
    )


def test_asg_with_a_launch_configuration():
    subnets, arn, tg = _front()
    autoscaling = stacklab.client("autoscaling")
    autoscaling.create_launch_configuration(LaunchConfigurationName="old", ImageId=AMI, InstanceType="t3.micro")
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="legacy",
        LaunchConfigurationName="old",
        MinSize=2,
        MaxSize=4,
        VPCZoneIdentifier=",".join(subnets),
        TargetGroupARNs=[tg],
    )
    assert "uses launch configuration 'old'" in failed("01.asg", subnet_ids=subnets, alb_arn=arn, asg_name="legacy")


# ------------------------------------------------------------------------------------- 01.db


def test_db_single_az():
    _, subnets = _network()
    ident = build_db(subnets, multi_az=False)
    assert failed("01.db", subnet_ids=subnets, db_instance_id=ident).startswith(
        "lab01-db is a Single-AZ deployment (MultiAZ=False)"
    )


def test_db_missing():
    _, subnets = _network()
    assert failed("01.db", subnet_ids=subnets, db_instance_id="lab01-db") == (
        "no RDS DB instance is named 'lab01-db' (the sandbox has none)."
    )
    assert "holds a whole dict" in failed("01.db", subnet_ids=subnets, db_instance_id={"DBInstance": {}})


def test_db_without_subnet_group():
    _, subnets = _network()
    ident = build_db(None)
    assert "is not in a DB subnet group" in failed("01.db", subnet_ids=subnets, db_instance_id=ident)


def test_db_other_engine_is_accepted_and_named():
    _, subnets = _network()
    ident = build_db(subnets, engine="mysql")
    result = run("01.db", subnet_ids=subnets, db_instance_id=ident)
    assert result and "runs mysql" in result.message and "the lab suggests postgres" in result.message


# ---------------------------------------------------------------------------------- 01.count


def test_count_names_the_piece_left_out():
    solution()
    assert run("01.count", managed_pieces=5)
    four = failed("01.count", managed_pieces=4)
    assert four.startswith("`managed_pieces` is 4, 1 piece short: did you leave out the Multi-AZ standby")
    assert "or count the Auto Scaling group as one piece instead of its 2 EC2 instances?" in four
    assert failed("01.count", managed_pieces=3).startswith(
        "`managed_pieces` is 3: you counted each resource once: the Auto Scaling group runs 2 EC2 instances"
    )
    assert failed("01.count", managed_pieces=9) == (
        "`managed_pieces` is 9, but the sandbox runs fewer pieces than that."
    )
    assert "should be a whole number" in failed("01.count", managed_pieces="5")


def test_count_follows_what_is_in_the_sandbox():
    assert failed("01.count", managed_pieces=5) == "the sandbox runs nothing to count yet."
    ns = solution()
    build_alb(_vpc_of(ns["subnet_ids"]), ns["subnet_ids"], name="extra-nlb", kind="network", tg=("TCP", 80))
    five = failed("01.count", managed_pieces=5)
    assert five.startswith("`managed_pieces` is 5, 1 piece short:")
    assert "count only one of your 2 load balancers (lab01-alb, extra-nlb)" in five
    result = run("01.count", managed_pieces=6)
    assert result and "2 load balancers (lab01-alb, extra-nlb)" in result.message
    stacklab.client("rds").modify_db_instance(DBInstanceIdentifier="lab01-db", MultiAZ=False, ApplyImmediately=True)
    assert run("01.count", managed_pieces=5)


# ----------------------------------------------------------------------------------- 01.cost


def _by_hand(hours: float = 730, rds: str = "multi_az", storage: str = "multi_az", servers: int = 2) -> float:
    p = costs.load_prices()
    rps = 1_000_000 / (hours * 3600)
    lcu = max(rps / 25, rps * 3600 * 10 / 1e6)
    return (
        servers * hours * p.value("ec2_t3_micro")
        + 2 * 8 * p.value("ebs_gp3_storage")
        + hours * p.value("alb_hour")
        + lcu * hours * p.value("alb_lcu_hour")
        + 2 * hours * p.value("public_ipv4_hour")
        + hours * p.value(f"rds_pg_db_t3_micro_{rds}")
        + 20 * p.value(f"rds_storage_gp3_{storage}")
    )


def test_cost_by_hand_matches_the_model_within_a_cent():
    assert run("01.cost", three_tier_monthly_usd=_by_hand())
    assert run("01.cost", three_tier_monthly_usd=_by_hand() + 0.009)
    assert not run("01.cost", three_tier_monthly_usd=_by_hand() + 0.02)


def test_cost_forgot_the_multi_az_doubling():
    message = failed("01.cost", three_tier_monthly_usd=_by_hand(rds="single_az", storage="single_az"))
    assert "you priced the database as Single-AZ" in message
    assert "priced the database instance as Single-AZ" in failed(
        "01.cost", three_tier_monthly_usd=_by_hand(rds="single_az")
    )


def test_cost_used_a_720_hour_month():
    assert "you used a 720-hour month (24 × 30)" in failed("01.cost", three_tier_monthly_usd=_by_hand(hours=24 * 30))
    both = failed("01.cost", three_tier_monthly_usd=_by_hand(hours=720, rds="single_az", storage="single_az"))
    assert "720-hour month" in both and "Single-AZ" in both


def test_cost_other_mistakes():
    assert "you priced one web server" in failed("01.cost", three_tier_monthly_usd=_by_hand(servers=1))
    assert "left out the line 'Public IPv4 addresses' ($7.30)" in failed(
        "01.cost", three_tier_monthly_usd=_by_hand() - 7.30
    )
    default = costs.monthly_cost(costs.ThreeTier(), 1_000_000)
    assert "the cost model's default design" in failed("01.cost", three_tier_monthly_usd=default.total)
    assert "holds a whole CostBreakdown" in failed("01.cost", three_tier_monthly_usd=default)
    assert "should be a number of dollars" in failed("01.cost", three_tier_monthly_usd="$71.16")


def test_cost_needs_no_sandbox(monkeypatch):
    import importlib

    monkeypatch.setattr(importlib.import_module("stacklab.sandbox"), "_current", None)
    assert run("01.cost", three_tier_monthly_usd=_by_hand())

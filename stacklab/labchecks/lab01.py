"""Checks for Lab 01 — build the three-tier skeleton (VPC, subnets, ALB, Auto Scaling group, RDS).

Each check reads the sandbox through boto3 (never a copy of the learner's variables) and names the
exact mistake: the wrong CIDR, both subnets in one AZ, a Network Load Balancer, an internal
scheme, MinSize 1, a Single-AZ database, a miscount of what you would have to manage…
"""

from __future__ import annotations

import ipaddress
from typing import Any

from stacklab.checks import CheckFailed, lab_check
from stacklab.labchecks import aws, expect_id, expect_id_list, expect_name, joined, tag

LESSON = "01"
VPC_CIDR = "10.0.0.0/16"
VPC_NAME = "lab01-vpc"
INSTANCE_TYPE = "t3.micro"
MIN_SIZE = 2
_RESET_HINT = (
    "If you restarted the kernel or ran stacklab.reset() since, the sandbox is empty again: "
    "re-run the exercise cells from the top."
)


# ------------------------------------------------------------------------------------ helpers


def _vpc(ec2: Any, vpc_id: Any) -> dict:
    vpc_id = expect_id("vpc_id", vpc_id, "vpc-", "VPC ID", "ec2.create_vpc(...)['Vpc']['VpcId']")
    found = ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Vpcs"]
    if not found:
        raise CheckFailed(
            f"no VPC has the id {vpc_id!r} in the sandbox.", f"Use the id create_vpc returned. {_RESET_HINT}"
        )
    return found[0]


def _subnets(ec2: Any, subnet_ids: Any) -> list[dict]:
    ids = expect_id_list(
        "subnet_ids",
        subnet_ids,
        "subnet-",
        "subnet ID",
        2,
        "ec2.create_subnet(...)['Subnet']['SubnetId']",
        why="An Application Load Balancer needs subnets in at least two Availability Zones.",
    )
    found = {s["SubnetId"]: s for s in ec2.describe_subnets(Filters=[{"Name": "subnet-id", "Values": ids}])["Subnets"]}
    missing = [i for i in ids if i not in found]
    if missing:
        raise CheckFailed(
            f"no subnet has the id {missing[0]!r} in the sandbox.",
            f"Use the ids create_subnet returned. {_RESET_HINT}",
        )
    return [found[i] for i in ids]


def _zones(subnets: list[dict]) -> str:
    return joined(sorted({s["AvailabilityZone"] for s in subnets}))


def _load_balancer(elbv2: Any, alb_arn: Any) -> dict:
    source = "elbv2.create_load_balancer(...)['LoadBalancers'][0]['LoadBalancerArn']"
    arn = expect_id("alb_arn", alb_arn, "arn:aws:elasticloadbalancing:", "load balancer ARN", source)
    if ":targetgroup/" in arn:
        raise CheckFailed(
            "`alb_arn` holds a target group's ARN, not the load balancer's.", f"Use `alb_arn = {source}`."
        )
    if ":listener/" in arn or ":listener-rule/" in arn:
        raise CheckFailed("`alb_arn` holds a listener's ARN, not the load balancer's.", f"Use `alb_arn = {source}`.")
    from botocore.exceptions import ClientError

    try:
        return elbv2.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("LoadBalancerNotFound", "ValidationError"):
            raise CheckFailed(
                f"no load balancer has the ARN {arn!r} in the sandbox.", f"Use `alb_arn = {source}`. {_RESET_HINT}"
            ) from None
        raise


def _forwarded_target_groups(elbv2: Any, lb_arn: str) -> tuple[list[dict], list[dict]]:
    """(listeners, target groups their default actions forward to)."""
    listeners = elbv2.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]
    arns: list[str] = []
    for listener in listeners:
        for action in listener.get("DefaultActions", []):
            if action.get("Type") != "forward":
                continue
            candidates = [action.get("TargetGroupArn")]
            candidates += [t.get("TargetGroupArn") for t in action.get("ForwardConfig", {}).get("TargetGroups", [])]
            arns += [a for a in candidates if a and a not in arns]
    groups = elbv2.describe_target_groups(TargetGroupArns=arns)["TargetGroups"] if arns else []
    return listeners, groups


# ------------------------------------------------------------------------------------- checks


@lab_check("01.vpc", LESSON, needs=("vpc_id",), title="Exercise 1 · The VPC", exercise=1)
def check_vpc(vpc_id: Any) -> str:
    """A VPC with CIDR 10.0.0.0/16 tagged Name=lab01-vpc."""
    vpc = _vpc(aws("ec2"), vpc_id)
    vid = vpc["VpcId"]
    if vpc.get("IsDefault"):
        raise CheckFailed(
            f"{vid} is the sandbox's default VPC ({vpc['CidrBlock']}), not one you created.",
            f"Create your own: ec2.create_vpc(CidrBlock='{VPC_CIDR}', ...), and store its VpcId.",
        )
    if vpc["CidrBlock"] != VPC_CIDR:
        raise CheckFailed(
            f"VPC {vid} has CIDR {vpc['CidrBlock']}; the exercise asks for {VPC_CIDR}.",
            f"A VPC's primary CIDR cannot be changed: create a new VPC with CidrBlock='{VPC_CIDR}' "
            "(and delete this one with ec2.delete_vpc).",
        )
    name = tag(vpc.get("Tags"), "Name")
    if name is None:
        raise CheckFailed(
            f"VPC {vid} has no Name tag.",
            f"Tag it: ec2.create_tags(Resources=[vpc_id], Tags=[{{'Key': 'Name', 'Value': '{VPC_NAME}'}}]).",
        )
    if name != VPC_NAME:
        raise CheckFailed(
            f"VPC {vid} is tagged Name={name!r}; the exercise asks for Name={VPC_NAME!r}.",
            f"Re-tag it: ec2.create_tags(Resources=[vpc_id], Tags=[{{'Key': 'Name', 'Value': '{VPC_NAME}'}}]).",
        )
    return f"VPC {vid} has CIDR {VPC_CIDR} and tag Name={VPC_NAME}."


@lab_check(
    "01.subnets", LESSON, needs=("vpc_id", "subnet_ids"), title="Exercise 2 · Two subnets in two AZs", exercise=2
)
def check_subnets(vpc_id: Any, subnet_ids: Any) -> str:
    """Two subnets of the lab VPC in two different Availability Zones."""
    ec2 = aws("ec2")
    vpc = _vpc(ec2, vpc_id)
    subnets = _subnets(ec2, subnet_ids)
    network = ipaddress.ip_network(vpc["CidrBlock"])
    for subnet in subnets:
        if subnet["VpcId"] != vpc["VpcId"]:
            default = " (the sandbox's default VPC)" if subnet.get("DefaultForAz") or _is_default(ec2, subnet) else ""
            raise CheckFailed(
                f"subnet {subnet['SubnetId']} is in VPC {subnet['VpcId']}{default}, "
                f"not in your lab VPC {vpc['VpcId']}.",
                "Create it in the lab VPC: ec2.create_subnet(VpcId=vpc_id, CidrBlock='10.0.1.0/24', "
                "AvailabilityZone='us-east-1a').",
            )
        if not ipaddress.ip_network(subnet["CidrBlock"]).subnet_of(network):  # type: ignore[arg-type]
            raise CheckFailed(
                f"subnet {subnet['SubnetId']} has CIDR {subnet['CidrBlock']}, outside the VPC's {network}.",
                "Pick CIDRs inside 10.0.0.0/16, e.g. 10.0.1.0/24 and 10.0.2.0/24.",
            )
    zones = {s["AvailabilityZone"] for s in subnets}
    if len(zones) < len(subnets):
        raise CheckFailed(
            f"both subnets are in {subnets[0]['AvailabilityZone']}: if that Availability Zone fails, everything "
            "in it fails together.",
            "Create the second subnet with another AvailabilityZone (e.g. 'us-east-1b'); a subnet cannot move, "
            "so delete the wrong one (ec2.delete_subnet) or make a new one and update subnet_ids.",
        )
    described = " and ".join(f"{s['SubnetId']} ({s['CidrBlock']}, {s['AvailabilityZone']})" for s in subnets)
    return f"subnets {described} are in VPC {vpc['VpcId']}, in two different Availability Zones."


def _is_default(ec2: Any, subnet: dict) -> bool:
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [subnet["VpcId"]]}])["Vpcs"]
    return bool(vpcs and vpcs[0].get("IsDefault"))


@lab_check(
    "01.alb", LESSON, needs=("subnet_ids", "alb_arn"), title="Exercise 3 · The Application Load Balancer", exercise=3
)
def check_alb(subnet_ids: Any, alb_arn: Any) -> str:
    """An internet-facing ALB in both lab subnets whose listener forwards to an HTTP:80 target group."""
    ec2, elbv2 = aws("ec2"), aws("elbv2")
    subnets = _subnets(ec2, subnet_ids)
    lb = _load_balancer(elbv2, alb_arn)
    name = lb["LoadBalancerName"]
    if lb["Type"] != "application":
        raise CheckFailed(
            f"{name} is a {lb['Type']} load balancer; the exercise asks for an Application Load Balancer.",
            "Web traffic (HTTP, routing by path or host) goes through an ALB: create one with Type='application'. "
            "A load balancer's type cannot be changed.",
        )
    if lb["Scheme"] != "internet-facing":
        raise CheckFailed(
            f"{name} has scheme {lb['Scheme']!r}: only clients inside the VPC could reach it, not your users.",
            "Create it with Scheme='internet-facing' (the scheme cannot be changed later).",
        )
    zones = [z["ZoneName"] for z in lb.get("AvailabilityZones", [])]
    lb_subnets = {z["SubnetId"] for z in lb.get("AvailabilityZones", [])}
    if len(set(zones)) < 2:
        raise CheckFailed(
            f"{name} is in only one Availability Zone ({joined(sorted(set(zones)))}).",
            "Give it both lab subnets: elbv2.set_subnets(LoadBalancerArn=alb_arn, Subnets=subnet_ids). "
            "(Real AWS refuses an ALB with fewer than two AZs.)",
        )
    wanted = {s["SubnetId"] for s in subnets}
    if lb_subnets != wanted:
        raise CheckFailed(
            f"{name} is in subnets {joined(sorted(lb_subnets))}, not in the two lab subnets {joined(sorted(wanted))}.",
            "Move it: elbv2.set_subnets(LoadBalancerArn=alb_arn, Subnets=subnet_ids).",
        )
    listeners, groups = _forwarded_target_groups(elbv2, lb["LoadBalancerArn"])
    if not listeners:
        raise CheckFailed(
            f"{name} has no listener, so it accepts no requests at all.",
            "Add one: elbv2.create_listener(LoadBalancerArn=alb_arn, Protocol='HTTP', Port=80, "
            "DefaultActions=[{'Type': 'forward', 'TargetGroupArn': tg_arn}]).",
        )
    if not groups:
        raise CheckFailed(
            f"{name}'s listener does not forward to any target group, so no request reaches a web server.",
            "Make the listener's default action {'Type': 'forward', 'TargetGroupArn': tg_arn} (elbv2.modify_listener).",
        )
    http = [g for g in groups if g.get("Protocol") == "HTTP" and g.get("Port") == 80]
    if not http:
        group = groups[0]
        raise CheckFailed(
            f"{name} forwards to target group {group['TargetGroupName']} on "
            f"{group.get('Protocol')}:{group.get('Port')}; "
            "the web servers listen on HTTP:80.",
            "Create a target group with Protocol='HTTP', Port=80 and point the listener at it.",
        )
    group = http[0]
    listener = next(
        item for item in listeners if any(group["TargetGroupArn"] in str(a) for a in item.get("DefaultActions", []))
    )
    return (
        f"ALB {name} is application and internet-facing, in {joined(sorted(set(zones)))}; its "
        f"{listener['Protocol']}:{listener['Port']} listener forwards to target group "
        f"{group['TargetGroupName']} (HTTP:80)."
    )


@lab_check(
    "01.asg",
    LESSON,
    needs=("subnet_ids", "alb_arn", "asg_name"),
    title="Exercise 4 · Launch template and Auto Scaling group",
    exercise=4,
)
def check_asg(subnet_ids: Any, alb_arn: Any, asg_name: Any) -> str:
    """A launch template (t3.micro) and an ASG with MinSize ≥ 2 in both subnets, in the ALB's target group."""
    ec2, elbv2, autoscaling = aws("ec2"), aws("elbv2"), aws("autoscaling")
    name = expect_name("asg_name", asg_name, "Auto Scaling group's name", "'lab01-web'")
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    if not groups:
        others = [g["AutoScalingGroupName"] for g in autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]]
        there = f" (the sandbox has: {', '.join(others)})" if others else " (the sandbox has none)"
        raise CheckFailed(
            f"no Auto Scaling group is named {name!r}{there}.", f"Create it, or fix `asg_name`. {_RESET_HINT}"
        )
    group = groups[0]
    spec = group.get("LaunchTemplate") or (
        group.get("MixedInstancesPolicy", {}).get("LaunchTemplate", {}).get("LaunchTemplateSpecification")
    )
    if not spec:
        used = group.get("LaunchConfigurationName")
        what = f"launch configuration {used!r}" if used else "no launch template"
        raise CheckFailed(
            f"{name} uses {what}; the exercise asks for a launch template.",
            "Launch configurations are legacy: create a launch template (ec2.create_launch_template) and pass "
            "LaunchTemplate={'LaunchTemplateId': lt_id, 'Version': '$Latest'} to create_auto_scaling_group.",
        )
    ref = (
        {"LaunchTemplateId": spec["LaunchTemplateId"]}
        if spec.get("LaunchTemplateId")
        else {"LaunchTemplateName": spec["LaunchTemplateName"]}
    )
    version = spec.get("Version") or "$Default"
    data = ec2.describe_launch_template_versions(**ref, Versions=[version])["LaunchTemplateVersions"][0]
    lt_name, lt_data = data["LaunchTemplateName"], data.get("LaunchTemplateData", {})
    if not lt_data.get("ImageId"):
        raise CheckFailed(
            f"launch template {lt_name} has no ImageId, so the group could not launch anything.",
            "Put an AMI id in LaunchTemplateData, e.g. one from ec2.describe_images(Owners=['amazon'], ...).",
        )
    if lt_data.get("InstanceType") != INSTANCE_TYPE:
        raise CheckFailed(
            f"launch template {lt_name} launches {lt_data.get('InstanceType') or 'no instance type'}; "
            f"the exercise uses {INSTANCE_TYPE}.",
            f"Create a new version with InstanceType='{INSTANCE_TYPE}' (ec2.create_launch_template_version) "
            "or a new template.",
        )
    low, high, desired = group["MinSize"], group["MaxSize"], group["DesiredCapacity"]
    if low < MIN_SIZE:
        raise CheckFailed(
            f"{name} has MinSize {low}: if that one instance (or its AZ) fails, the site is down until a "
            "replacement boots.",
            f"Keep at least one server per AZ: autoscaling.update_auto_scaling_group(AutoScalingGroupName=asg_name, "
            f"MinSize={MIN_SIZE}, DesiredCapacity={MIN_SIZE}).",
        )
    if high < low:
        raise CheckFailed(
            f"{name} has MaxSize {high}, below its MinSize {low}.", "Set MaxSize ≥ MinSize (e.g. MaxSize=4)."
        )
    subnets = _subnets(ec2, subnet_ids)
    wanted = {s["SubnetId"] for s in subnets}
    used = {s.strip() for s in (group.get("VPCZoneIdentifier") or "").split(",") if s.strip()}
    if len(used) < 2 and used <= wanted:
        zone = next(s["AvailabilityZone"] for s in subnets if s["SubnetId"] in used) if used else "no subnet"
        raise CheckFailed(
            f"{name} launches into only one subnet ({zone}): an outage of that AZ takes every web server down.",
            "Give it both: update_auto_scaling_group(AutoScalingGroupName=asg_name, "
            "VPCZoneIdentifier=','.join(subnet_ids)).",
        )
    if used != wanted:
        raise CheckFailed(
            f"{name} uses subnets {joined(sorted(used))}, not the two lab subnets {joined(sorted(wanted))}.",
            "Set VPCZoneIdentifier=','.join(subnet_ids) (update_auto_scaling_group).",
        )
    lb = _load_balancer(elbv2, alb_arn)
    _, forwarded = _forwarded_target_groups(elbv2, lb["LoadBalancerArn"])
    if not forwarded:
        raise CheckFailed(
            f"the ALB {lb['LoadBalancerName']} forwards to no target group yet, so nothing can reach {name}.",
            "Finish Exercise 3 first (listener → target group), then attach the group's target group.",
        )
    attached = set(group.get("TargetGroupARNs") or [])
    match = [g for g in forwarded if g["TargetGroupArn"] in attached]
    if not attached:
        raise CheckFailed(
            f"{name} is not attached to any target group, so the ALB never sends its instances a request.",
            "autoscaling.attach_load_balancer_target_groups(AutoScalingGroupName=asg_name, "
            "TargetGroupARNs=[tg_arn]) — or pass TargetGroupARNs when you create the group.",
        )
    if not match:
        raise CheckFailed(
            f"{name} is attached to a target group the ALB does not forward to; the ALB's listener forwards to "
            f"{joined([g['TargetGroupName'] for g in forwarded])}.",
            "Attach that target group: autoscaling.attach_load_balancer_target_groups(...).",
        )
    return (
        f"Auto Scaling group {name} launches {INSTANCE_TYPE} from launch template {lt_name} "
        f"({lt_data['ImageId']}); Min {low} / Desired {desired} / Max {high} across {_zones(subnets)}; "
        f"registered with target group {match[0]['TargetGroupName']}, which the ALB forwards to."
    )


@lab_check(
    "01.db", LESSON, needs=("subnet_ids", "db_instance_id"), title="Exercise 5 · Multi-AZ RDS database", exercise=5
)
def check_db(subnet_ids: Any, db_instance_id: Any) -> str:
    """An RDS DB instance with Multi-AZ on, in a DB subnet group over the two lab subnets."""
    ec2, rds = aws("ec2"), aws("rds")
    ident = expect_name("db_instance_id", db_instance_id, "DB instance identifier", "'lab01-db'")
    from botocore.exceptions import ClientError

    try:
        db = rds.describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "DBInstanceNotFound":
            raise
        others = [d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]]
        there = f" (the sandbox has: {', '.join(others)})" if others else " (the sandbox has none)"
        raise CheckFailed(
            f"no RDS DB instance is named {ident!r}{there}.", f"Create it, or fix `db_instance_id`. {_RESET_HINT}"
        ) from None
    ident = db["DBInstanceIdentifier"]
    if not db.get("MultiAZ"):
        raise CheckFailed(
            f"{ident} is a Single-AZ deployment (MultiAZ=False): if its AZ fails, the database is down and the "
            "app with it.",
            "Turn on the standby: rds.modify_db_instance(DBInstanceIdentifier=db_instance_id, MultiAZ=True, "
            "ApplyImmediately=True).",
        )
    subnets = _subnets(ec2, subnet_ids)
    wanted = {s["SubnetId"] for s in subnets}
    group = db.get("DBSubnetGroup") or {}
    in_group = {s["SubnetIdentifier"] for s in group.get("Subnets", [])}
    if not group:
        raise CheckFailed(
            f"{ident} is not in a DB subnet group, so it would land in the default VPC, not the lab VPC.",
            "Create one (rds.create_db_subnet_group(..., SubnetIds=subnet_ids)) and pass DBSubnetGroupName when "
            "you create the DB instance.",
        )
    if in_group != wanted:
        raise CheckFailed(
            f"{ident}'s DB subnet group {group.get('DBSubnetGroupName')} covers {joined(sorted(in_group))}, not the "
            f"two lab subnets {joined(sorted(wanted))}.",
            "Create the DB subnet group with SubnetIds=subnet_ids.",
        )
    engine = " ".join(filter(None, [db.get("Engine"), db.get("EngineVersion")])) or "an unknown engine"
    note = "" if db.get("Engine") == "postgres" else f" (the lab suggests postgres; {db.get('Engine')} is fine too)"
    return (
        f"DB instance {ident} runs {engine}{note} on {db.get('DBInstanceClass')} with "
        f"{db.get('AllocatedStorage')} GiB, Multi-AZ (a standby in a second AZ), in DB subnet group "
        f"{group.get('DBSubnetGroupName')} over {_zones(subnets)}."
    )


def _inventory() -> dict[str, Any]:
    """What runs in the sandbox that someone has to size, patch and watch."""
    ec2, elbv2, rds = aws("ec2"), aws("elbv2"), aws("rds")
    instances = [
        i
        for r in ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}])[
            "Reservations"
        ]
        for i in r["Instances"]
    ]
    by_group: dict[str, int] = {}
    for instance in instances:
        owner = tag(instance.get("Tags"), "aws:autoscaling:groupName") or "(no group)"
        by_group[owner] = by_group.get(owner, 0) + 1
    lbs = [lb["LoadBalancerName"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]]
    dbs = [(d["DBInstanceIdentifier"], bool(d.get("MultiAZ"))) for d in rds.describe_db_instances()["DBInstances"]]
    return {
        "instances": len(instances),
        "by_group": by_group,
        "groups": len([g for g in by_group if g != "(no group)"]),
        "lbs": lbs,
        "dbs": dbs,
        "db_servers": sum(2 if multi else 1 for _, multi in dbs),
        "standbys": sum(1 for _, multi in dbs if multi),
    }


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@lab_check("01.count", LESSON, needs=("managed_pieces",), title="Exercise 6 · Count what you manage", exercise=6)
def check_count(managed_pieces: Any) -> str:
    """managed_pieces = EC2 instances running + load balancers + database servers (Multi-AZ counts 2)."""
    if isinstance(managed_pieces, bool) or not isinstance(managed_pieces, int):
        if isinstance(managed_pieces, float) and managed_pieces.is_integer():
            managed_pieces = int(managed_pieces)
        else:
            raise CheckFailed(
                f"`managed_pieces` should be a whole number; it holds "
                f"{type(managed_pieces).__name__} {managed_pieces!r}.",
                "Count the pieces and write the number, e.g. `managed_pieces = 2 + 1 + 1`.",
            )
    inv = _inventory()
    expected = inv["instances"] + len(inv["lbs"]) + inv["db_servers"]
    if expected == 0:
        raise CheckFailed(
            "the sandbox runs nothing to count yet.",
            "Do Exercises 3–5 first (load balancer, Auto Scaling group, database).",
        )
    if managed_pieces == expected:
        groups = ", ".join(f"{n} in {g}" for g, n in sorted(inv["by_group"].items()))
        db_parts = ", ".join(f"{d} {'primary + standby' if multi else 'single'}" for d, multi in inv["dbs"]) or "none"
        return (
            f"{expected} pieces to run: {_plural(inv['instances'], 'EC2 instance')} ({groups}), "
            f"{_plural(len(inv['lbs']), 'load balancer')} ({', '.join(inv['lbs']) or 'none'}), "
            f"{_plural(inv['db_servers'], 'database server')} ({db_parts})."
        )
    rule = (
        "Count what runs: every EC2 instance the Auto Scaling group keeps running (its desired capacity), every "
        "load balancer, and every database server — a Multi-AZ database is two servers, primary and standby. "
        "The VPC, subnets, target group, listener, launch template and the group itself are configuration, not "
        "servers."
    )
    # (value the mistake gives, what happened, the same as a question)
    mistakes: list[tuple[int, str, str]] = []
    if inv["standbys"]:
        mistakes.append(
            (
                expected - inv["standbys"],
                "left out the Multi-AZ standby, a second database server you pay for by the hour",
                "leave out the Multi-AZ standby (a second database server)",
            )
        )
    if inv["lbs"]:
        mistakes.append(
            (
                expected - len(inv["lbs"]),
                "left out the load balancer",
                "leave out the load balancer",
            )
        )
    if len(inv["lbs"]) > 1:
        names = ", ".join(inv["lbs"])
        mistakes.append(
            (
                expected - len(inv["lbs"]) + 1,
                f"counted one load balancer, but the sandbox runs {len(inv['lbs'])} ({names}); "
                "every one bills by the hour",
                f"count only one of your {len(inv['lbs'])} load balancers ({names})",
            )
        )
    if inv["groups"] and inv["instances"] != inv["groups"]:
        instances = _plural(inv["instances"], "EC2 instance")
        mistakes.append(
            (
                expected - inv["instances"] + inv["groups"],
                f"counted the Auto Scaling group as one piece; it runs {instances}, each a server to patch and watch",
                f"count the Auto Scaling group as one piece instead of its {instances}",
            )
        )
        if inv["standbys"]:
            mistakes.append(
                (
                    expected - inv["instances"] + inv["groups"] - inv["standbys"],
                    f"counted each resource once: the Auto Scaling group runs {instances} and the Multi-AZ database "
                    "is two servers (primary and standby)",
                    f"count each resource once (the group runs {instances}; Multi-AZ is two database servers)",
                )
            )
    found = [m for m in mistakes if m[0] == managed_pieces]
    gap = expected - managed_pieces
    if len(found) == 1:
        raise CheckFailed(f"`managed_pieces` is {managed_pieces}: you {found[0][1]}.", rule)
    if found:
        options = ", or ".join(m[2] for m in found)
        raise CheckFailed(
            f"`managed_pieces` is {managed_pieces}, {_plural(gap, 'piece')} short: did you {options}?", rule
        )
    direction = "more" if gap > 0 else "fewer"
    raise CheckFailed(f"`managed_pieces` is {managed_pieces}, but the sandbox runs {direction} pieces than that.", rule)


# ------------------------------------------------------------------------------------ the bill

COST_REQUESTS = 1_000_000
COST_TOLERANCE = 0.01


def built_design() -> Any:
    """The skeleton this lab builds, as a :class:`stacklab.costs.ThreeTier` (other fields: model defaults)."""
    from stacklab import costs

    return costs.ThreeTier(instance_type=INSTANCE_TYPE, db_instance_class="db.t3.micro")


def _cost_variants() -> tuple[float, list[tuple[str, float]]]:
    """The model's total, and the totals of the usual mistakes (what each one is, and its total)."""
    import dataclasses

    from stacklab import costs

    design = built_design()
    table = costs.load_prices()
    bill = costs.monthly_cost(design, COST_REQUESTS, table)
    expected = bill.total
    month = table.hours_per_month
    short = dataclasses.replace(table, hours_per_month=24 * 30)
    single = costs.monthly_cost(dataclasses.replace(design, multi_az=False), COST_REQUESTS, table)
    single_short = costs.monthly_cost(dataclasses.replace(design, multi_az=False), COST_REQUESTS, short)
    db_hour = next(i for i in bill.items if i.name.startswith("RDS PostgreSQL"))
    db_storage = next(i for i in bill.items if i.name.startswith("RDS storage"))
    single_hour = next(i for i in single.items if i.name.startswith("RDS PostgreSQL"))
    single_storage = next(i for i in single.items if i.name.startswith("RDS storage"))
    ec2 = next(i for i in bill.items if i.name.startswith("EC2 "))
    variants = [
        (
            "you priced the database as Single-AZ. A Multi-AZ deployment runs (and bills) a standby too: its "
            "hourly price and its storage price are twice the Single-AZ ones",
            single.total,
        ),
        (
            "you priced the database instance as Single-AZ: the Multi-AZ hourly price (primary + standby) is "
            "twice the Single-AZ one",
            expected - db_hour.dollars + single_hour.dollars,
        ),
        (
            "you priced the database storage as Single-AZ: Multi-AZ stores every GB twice, so its GB-month "
            "price is twice the Single-AZ one",
            expected - db_storage.dollars + single_storage.dollars,
        ),
        (
            f"you used a {24 * 30}-hour month (24 × 30). AWS bills by the hour and its calculator uses "
            f"{month:g} hours a month (365 × 24 / 12)",
            costs.monthly_cost(design, COST_REQUESTS, short).total,
        ),
        (
            f"you used a {24 * 30}-hour month (24 × 30; AWS's calculator uses {month:g}) and priced the "
            "database as Single-AZ (Multi-AZ bills a standby too)",
            single_short.total,
        ),
        (
            "you priced one web server: the Auto Scaling group runs two (MinSize 2, one per AZ)",
            expected - ec2.dollars / 2,
        ),
        (
            "you priced the cost model's default design (t3.small servers, db.t3.small) instead of the skeleton "
            f"you built ({INSTANCE_TYPE}, db.t3.micro)",
            costs.monthly_cost(costs.ThreeTier(), COST_REQUESTS, table).total,
        ),
    ]
    for item in bill.items:
        variants.append((f"you left out the line '{item.name}' (${item.dollars:,.2f})", expected - item.dollars))
    return expected, variants


@lab_check(
    "01.cost",
    LESSON,
    needs=("three_tier_monthly_usd",),
    title="Exercise 7 · What the skeleton costs a month",
    exercise=7,
    needs_sandbox=False,
)
def check_cost(three_tier_monthly_usd: Any) -> str:
    """The monthly bill at 1M requests, within 1 cent of stacklab.costs for the built design."""
    import numbers

    from stacklab import costs

    value = three_tier_monthly_usd
    if isinstance(value, costs.CostBreakdown):
        raise CheckFailed(
            "`three_tier_monthly_usd` holds a whole CostBreakdown; the exercise asks for the number you added up.",
            "Add the line items yourself (hours × hourly price, GB × GB-month price) and store the sum.",
        )
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise CheckFailed(
            f"`three_tier_monthly_usd` should be a number of dollars; it holds {type(value).__name__} {value!r}.",
            "Store the sum as a float, e.g. `three_tier_monthly_usd = 2 * hours * prices.value('ec2_t3_micro') + ...`.",
        )
    value = float(value)
    expected, variants = _cost_variants()
    table = costs.load_prices()
    if abs(value - expected) <= COST_TOLERANCE:
        return (
            f"${value:,.2f} a month matches the cost model within 1 cent: 2 × {INSTANCE_TYPE}, an ALB in 2 AZs and "
            f"db.t3.micro Multi-AZ with 20 GB, at {COST_REQUESTS:,} requests/month "
            f"({table.region} prices as of {table.as_of})."
        )
    rule = (
        f"Price every line at {table.hours_per_month:g} hours a month: 2 EC2 instances and their 8 GB root volumes, "
        "the ALB hour and its capacity units, 2 public IPv4 addresses, the Multi-AZ DB instance and its Multi-AZ "
        "storage (each is in the table above)."
    )
    for what, total in variants:
        if abs(value - total) <= COST_TOLERANCE:
            raise CheckFailed(f"`three_tier_monthly_usd` is ${value:,.2f}: {what}.", rule)
    direction = "above" if value > expected else "below"
    raise CheckFailed(
        f"`three_tier_monthly_usd` is ${value:,.2f}, ${abs(value - expected):,.2f} {direction} the cost model's "
        "bill for the skeleton.",
        rule,
    )

"""Lesson 01's two reference designs, built in the sandbox, and an inventory of what each leaves you to run.

``build_three_tier()`` creates the notes' EC2-based design (VPC with subnets in two AZs, ALB,
launch template and Auto Scaling group, RDS Multi-AZ); ``build_serverless()`` creates the
serverless one (S3 website bucket, DynamoDB table, Lambda function, HTTP API, Cognito user pool).
Both print every call they make, so the lesson shows the real API calls without repeating them.
``inventory()`` reads the sandbox back and sorts what it finds into "servers you run" and
"services AWS runs for you".
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from typing import Any

from stacklab._validate import require_bool, require_choice, require_str
from stacklab.errors import InputError
from stacklab.sandbox import client, current

#: Instance types the skeleton accepts (the ones the course's price table knows).
INSTANCE_TYPES = ("t3.micro", "t3.small", "t3.medium")
DB_CLASSES = ("db.t3.micro", "db.t3.small", "db.t4g.micro")
_LAMBDA_SOURCE = '''import json


def handler(event, context):
    return {"statusCode": 200, "body": json.dumps({"message": "hello from Lambda"})}
'''


def _say(step: str, call: str, result: str) -> None:
    print(f"{step:<4} {call:<62} -> {result}")


def _prefix(prefix: str) -> str:
    require_str("prefix", prefix)
    if not (prefix.replace("-", "").isalnum() and prefix.islower() and len(prefix) <= 20):
        raise InputError(
            f"prefix must be up to 20 lower-case letters, digits or dashes (it starts resource names), got {prefix!r}."
        )
    return prefix


@dataclass
class ThreeTierSkeleton:
    """IDs of what ``build_three_tier`` created."""

    vpc_id: str
    subnet_ids: list[str]
    alb_arn: str
    target_group_arn: str
    launch_template_id: str
    asg_name: str
    db_instance_id: str


@dataclass
class ServerlessSkeleton:
    """IDs of what ``build_serverless`` created."""

    bucket: str
    table: str
    function_name: str
    api_id: str
    user_pool_id: str


def _ami_id(ec2: Any) -> str:
    images = ec2.describe_images(
        Owners=["amazon"], Filters=[{"Name": "name", "Values": ["al2023-ami-2023*-x86_64"]}]
    )["Images"]
    if not images:
        images = ec2.describe_images(Owners=["amazon"])["Images"]
    return max(images, key=lambda image: image.get("Name", ""))["ImageId"]


def build_three_tier(
    prefix: str = "web",
    *,
    instance_type: str = "t3.small",
    db_instance_class: str = "db.t3.small",
    multi_az: bool = True,
) -> ThreeTierSkeleton:
    """Create the EC2-based three-tier skeleton in the sandbox, printing each call."""
    prefix = _prefix(prefix)
    require_choice("instance_type", instance_type, INSTANCE_TYPES)
    require_choice("db_instance_class", db_instance_class, DB_CLASSES)
    require_bool("multi_az", multi_az)
    region = current().region
    ec2, elbv2, autoscaling, rds = (client(s) for s in ("ec2", "elbv2", "autoscaling", "rds"))
    zones = [f"{region}a", f"{region}b"]

    vpc_id = ec2.create_vpc(
        CidrBlock="10.0.0.0/16",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": f"{prefix}-vpc"}]}],
    )["Vpc"]["VpcId"]
    _say("VPC", "ec2.create_vpc(CidrBlock='10.0.0.0/16')", vpc_id)
    subnet_ids = []
    for number, zone in enumerate(zones, start=1):
        cidr = f"10.0.{number}.0/24"
        subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]
        subnet_ids.append(subnet)
        _say("4", f"ec2.create_subnet(CidrBlock='{cidr}', AvailabilityZone='{zone}')", subnet)

    alb = elbv2.create_load_balancer(
        Name=f"{prefix}-alb", Subnets=subnet_ids, Type="application", Scheme="internet-facing"
    )["LoadBalancers"][0]
    _say("4", f"elbv2.create_load_balancer(Name='{prefix}-alb', Type='application')", alb["DNSName"])
    target_group = elbv2.create_target_group(
        Name=f"{prefix}-servers", Protocol="HTTP", Port=80, VpcId=vpc_id, TargetType="instance"
    )["TargetGroups"][0]["TargetGroupArn"]
    _say("4", "elbv2.create_target_group(Protocol='HTTP', Port=80)", target_group.split(":")[-1])
    elbv2.create_listener(
        LoadBalancerArn=alb["LoadBalancerArn"], Protocol="HTTP", Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": target_group}],
    )
    _say("4", "elbv2.create_listener(Port=80, forward to the target group)", "listening on :80")

    ami = _ami_id(ec2)
    template_id = ec2.create_launch_template(
        LaunchTemplateName=f"{prefix}-server",
        LaunchTemplateData={"ImageId": ami, "InstanceType": instance_type},
    )["LaunchTemplate"]["LaunchTemplateId"]
    _say("5", f"ec2.create_launch_template(ImageId=<AMI>, InstanceType='{instance_type}')", template_id)
    asg_name = f"{prefix}-servers"
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=asg_name,
        LaunchTemplate={"LaunchTemplateId": template_id, "Version": "$Latest"},
        MinSize=2, MaxSize=6, DesiredCapacity=2,
        VPCZoneIdentifier=",".join(subnet_ids),
        TargetGroupARNs=[target_group],
    )
    _say("6", "autoscaling.create_auto_scaling_group(Min=2, Max=6, Desired=2)", asg_name)

    rds.create_db_subnet_group(
        DBSubnetGroupName=f"{prefix}-db", DBSubnetGroupDescription="database subnets in two AZs",
        SubnetIds=subnet_ids,
    )
    db_id = f"{prefix}-db"
    rds.create_db_instance(
        DBInstanceIdentifier=db_id, Engine="postgres", DBInstanceClass=db_instance_class,
        AllocatedStorage=20, MasterUsername="app", MasterUserPassword="sandbox-only-password",
        DBSubnetGroupName=f"{prefix}-db", MultiAZ=multi_az,
    )
    _say("7", f"rds.create_db_instance(Engine='postgres', MultiAZ={multi_az})", db_id)
    return ThreeTierSkeleton(vpc_id, subnet_ids, alb["LoadBalancerArn"], target_group, template_id, asg_name, db_id)


def _lambda_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("app.py", date_time=(2026, 1, 1, 0, 0, 0))
        archive.writestr(info, _LAMBDA_SOURCE)
    return buffer.getvalue()


def build_serverless(prefix: str = "web") -> ServerlessSkeleton:
    """Create the serverless skeleton in the sandbox, printing each call."""
    prefix = _prefix(prefix)
    s3, dynamodb, iam, lam, apigw, cognito = (
        client(s) for s in ("s3", "dynamodb", "iam", "lambda", "apigatewayv2", "cognito-idp")
    )
    bucket = f"{prefix}-site-assets"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_website(
        Bucket=bucket,
        WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": "error.html"}},
    )
    _say("Pres", "s3.create_bucket + put_bucket_website(index.html, error.html)", bucket)

    table = f"{prefix}-items"
    dynamodb.create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    _say("Data", "dynamodb.create_table(BillingMode='PAY_PER_REQUEST')", table)

    role_arn = iam.create_role(
        RoleName=f"{prefix}-function-role",
        AssumeRolePolicyDocument=(
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
            '"Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'
        ),
    )["Role"]["Arn"]
    function_name = f"{prefix}-api"
    function_arn = lam.create_function(
        FunctionName=function_name, Runtime="python3.12", Role=role_arn, Handler="app.handler",
        Code={"ZipFile": _lambda_zip()}, MemorySize=512, Timeout=10,
    )["FunctionArn"]
    _say("API", "lambda.create_function(Runtime='python3.12', MemorySize=512)", function_name)

    api_id = apigw.create_api(Name=f"{prefix}-http-api", ProtocolType="HTTP")["ApiId"]
    integration = apigw.create_integration(
        ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=function_arn, PayloadFormatVersion="2.0"
    )["IntegrationId"]
    apigw.create_route(ApiId=api_id, RouteKey="GET /items", Target=f"integrations/{integration}")
    apigw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    _say("API", "apigatewayv2.create_api(ProtocolType='HTTP') + route GET /items", api_id)

    pool_id = cognito.create_user_pool(PoolName=f"{prefix}-users")["UserPool"]["Id"]
    _say("Auth", "cognito-idp.create_user_pool()", pool_id)
    return ServerlessSkeleton(bucket, table, function_name, api_id, pool_id)


@dataclass
class Inventory:
    """What the sandbox holds, sorted by who runs it."""

    servers: list[tuple[str, int, str]] = field(default_factory=list)
    managed: list[tuple[str, int, str]] = field(default_factory=list)

    @property
    def servers_to_run(self) -> int:
        """Running pieces billed by the hour that you size, patch and scale."""
        return sum(count for _, count, _ in self.servers)

    def text(self) -> str:
        """The inventory as a plain-text table."""
        lines = ["You run (sized, patched, scaled and billed by the hour):"]
        lines += [f"  {count:>3}  {what:<34} {note}" for what, count, note in self.servers] or ["    -  nothing"]
        lines.append("AWS runs for you (billed per request or per GB stored):")
        lines += [f"  {count:>3}  {what:<34} {note}" for what, count, note in self.managed] or ["    -  nothing"]
        lines.append(f"Servers to run: {self.servers_to_run}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()


def inventory() -> Inventory:
    """Count what the sandbox holds now, read back through boto3."""
    found = Inventory()
    ec2, elbv2, rds = client("ec2"), client("elbv2"), client("rds")
    instances = [
        i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
        if i["State"]["Name"] in ("pending", "running")
    ]
    if instances:
        found.servers.append(("EC2 instances", len(instances), "web/app servers (Auto Scaling)"))
    albs = elbv2.describe_load_balancers()["LoadBalancers"]
    if albs:
        found.servers.append(("load balancers", len(albs), "billed per hour + capacity units"))
    dbs = rds.describe_db_instances()["DBInstances"]
    if dbs:
        standbys = sum(1 for db in dbs if db.get("MultiAZ"))
        note = f"{standbys} with a Multi-AZ standby" if standbys else "single-AZ"
        found.servers.append(("database instances (+ standbys)", len(dbs) + standbys, note))
    counts = [
        ("S3 buckets", len(client("s3").list_buckets()["Buckets"]), "storage, per GB and request"),
        ("DynamoDB tables", len(client("dynamodb").list_tables()["TableNames"]), "on-demand: per request"),
        ("Lambda functions", len(client("lambda").list_functions()["Functions"]), "per request and GB-second"),
        ("HTTP/WebSocket APIs", len(client("apigatewayv2").get_apis()["Items"]), "per request"),
        ("Cognito user pools", len(client("cognito-idp").list_user_pools(MaxResults=60)["UserPools"]),
         "per monthly active user"),
    ]
    found.managed.extend(row for row in counts if row[1])
    return found

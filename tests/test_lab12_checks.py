"""Lab 12's checks pass on the solution and name the exact mistake in realistic wrong answers."""

from __future__ import annotations

import json
import random

import pytest
import redis
from botocore.exceptions import ClientError
from support.labcheck import failed, run

import stacklab
from stacklab.planes import sql

TOKEN = "lab12-auth-token-2026"
RG = "lab12-redis"


def ec():
    return stacklab.client("elasticache")


def ec2():
    return stacklab.client("ec2")


@pytest.fixture(autouse=True)
def progress(tmp_path, monkeypatch):
    monkeypatch.setenv("STACKLAB_PROGRESS", str(tmp_path / "progress.json"))


@pytest.fixture(scope="module")
def lab(box):
    """The lab's starting point and the solution of exercises 1 and 2, built once for the module."""
    stacklab.reset()
    vpc = ec2().create_vpc(CidrBlock="10.12.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2().create_subnet(VpcId=vpc, CidrBlock=f"10.12.{i}.0/24", AvailabilityZone=az)["Subnet"]["SubnetId"]
               for i, az in ((1, "us-east-1a"), (2, "us-east-1b"))]  # fmt: skip
    app = ec2().create_security_group(GroupName="lab12-app", Description="app", VpcId=vpc)["GroupId"]
    ec().create_cache_cluster(CacheClusterId="lab12-sessions", Engine="memcached", CacheNodeType="cache.t4g.micro",
                              NumCacheNodes=2)  # fmt: skip
    stacklab.client("s3").create_bucket(Bucket="lab12-backups")
    rds = stacklab.client("rds")
    rds.create_db_cluster(DBClusterIdentifier="lab12-db", Engine="aurora-postgresql", MasterUsername="app_admin",
                          MasterUserPassword="Lab12-Passw0rd!", DatabaseName="shop")  # fmt: skip
    rds.create_db_instance(DBInstanceIdentifier="lab12-db-1", DBClusterIdentifier="lab12-db",
                           Engine="aurora-postgresql", DBInstanceClass="db.serverless")  # fmt: skip
    db = sql.connect("lab12-db", autocommit=True)
    db.execute("DROP TABLE IF EXISTS products")
    db.execute("CREATE TABLE products (id int PRIMARY KEY, name text NOT NULL, price numeric(8, 2) NOT NULL)")
    db.execute("INSERT INTO products SELECT g, 'product ' || g, 5 * g + 0.99 FROM generate_series(1, 20) AS g")
    ec().create_cache_subnet_group(CacheSubnetGroupName="lab12-cache-subnets", CacheSubnetGroupDescription="c",
                                   SubnetIds=subnets)  # fmt: skip
    ec().create_cache_subnet_group(CacheSubnetGroupName="one-subnet", CacheSubnetGroupDescription="c",
                                   SubnetIds=subnets[:1])  # fmt: skip
    sg = new_sg(vpc, "lab12-cache", port=6379, source=app)
    create_rg(RG, sg)
    primary = ec().describe_replication_groups(ReplicationGroupId=RG)["ReplicationGroups"][0]["NodeGroups"][0]
    r = redis.Redis(host=primary["PrimaryEndpoint"]["Address"], port=6379, password=TOKEN, decode_responses=True,
                    socket_timeout=2)  # fmt: skip
    yield {"vpc": vpc, "subnets": subnets, "app": app, "sg": sg, "db": db, "r": r}
    r.close()
    db.close()


def new_sg(vpc, name, port=6379, source=None, cidr=None, protocol="tcp"):
    sg = ec2().create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
    if source or cidr:
        perm = {"IpProtocol": protocol}
        if protocol != "-1":
            perm.update(FromPort=port, ToPort=port)
        if source:
            perm["UserIdGroupPairs"] = [{"GroupId": source}]
        if cidr:
            perm["IpRanges"] = [{"CidrIp": cidr}]
        ec2().authorize_security_group_ingress(GroupId=sg, IpPermissions=[perm])
    return sg


def create_rg(rg_id, sg, **changes):
    settings = dict(ReplicationGroupId=rg_id, ReplicationGroupDescription="catalogue", Engine="redis",
                    CacheNodeType="cache.t4g.micro", NumCacheClusters=3, AutomaticFailoverEnabled=True,
                    MultiAZEnabled=True, TransitEncryptionEnabled=True, AuthToken=TOKEN,
                    CacheSubnetGroupName="lab12-cache-subnets", SecurityGroupIds=[sg])  # fmt: skip
    settings.update(changes)
    return ec().create_replication_group(**{k: v for k, v in settings.items() if v is not None})


def net(lab, sg, group="lab12-cache-subnets"):
    return dict(subnet_group_name=group, cache_sg_id=sg, app_sg_id=lab["app"], private_subnet_ids=lab["subnets"])


# ------------------------------------------------------------------------------------ exercise 1


def test_network_passes_on_the_solution(lab):
    assert run("12.network", **net(lab, lab["sg"])), "the solution must pass"


@pytest.mark.parametrize(("name", "rule", "expected"), [
    ("open-world", {"cidr": "0.0.0.0/0"}, "open to 0.0.0.0/0 on port 6379"),
    ("vpc-cidr", {"cidr": "10.12.0.0/16"}, "allows address range(s) ['10.12.0.0/16']"),
    ("memcached-port", {"port": 11211, "source": "APP"}, "11211, Memcached's port"),
    ("all-ports", {"protocol": "-1", "source": "APP"}, "opens all protocols and ports"),
    ("no-rule", {}, "no inbound rule from the app's security group"),
])  # fmt: skip
def test_network_names_the_security_group_mistake(lab, name, rule, expected):
    if rule.get("source") == "APP":
        rule = {**rule, "source": lab["app"]}
    sg = new_sg(lab["vpc"], f"wrong-{name}", **rule)
    assert expected in failed("12.network", **net(lab, sg))


def test_network_refuses_a_subnet_group_in_one_subnet_and_a_missing_one(lab):
    assert "it should hold both private subnets" in failed("12.network", **net(lab, lab["sg"], "one-subnet"))
    assert "there is no cache subnet group 'nope'" in failed("12.network", **net(lab, lab["sg"], "nope"))
    assert "holds a whole dict" in failed("12.network", **net(lab, {"GroupId": lab["sg"]}))


# ------------------------------------------------------------------------------------ exercise 2


def test_replication_passes_on_the_solution(lab):
    assert run("12.replication", rg_id=RG, cache_sg_id=lab["sg"])


def test_failover_without_replicas_is_refused_and_the_check_says_why(lab):
    with pytest.raises(ClientError) as err:
        create_rg("one-node-failover", lab["sg"], NumCacheClusters=1)
    assert err.value.response["Error"]["Code"] == "InvalidParameterCombination"
    message = failed("12.replication", rg_id="one-node-failover", cache_sg_id=lab["sg"])
    assert "automatic failover needs at least one replica" in message


@pytest.mark.parametrize(("rg_id", "changes", "expected"), [
    ("one-node", {"NumCacheClusters": 1, "AutomaticFailoverEnabled": False, "MultiAZEnabled": False},
     "has no replicas (1 node)"),
    ("two-nodes", {"NumCacheClusters": 2}, "has 1 replica(s)"),
    ("no-failover", {"AutomaticFailoverEnabled": False, "MultiAZEnabled": False}, "automatic failover disabled"),
    ("no-tls", {"TransitEncryptionEnabled": False, "AuthToken": None}, "in-transit encryption off"),
    ("other-token", {"AuthToken": "someone-elses-token-1"}, "the lab's token was refused"),
    ("no-subnets", {"CacheSubnetGroupName": None}, "not lab12-cache-subnets"),
])  # fmt: skip
def test_replication_names_the_mistake(lab, rg_id, changes, expected):
    create_rg(rg_id, lab["sg"], **changes)
    assert expected in failed("12.replication", rg_id=rg_id, cache_sg_id=lab["sg"])


# ------------------------------------------------------------------------------------ exercises 3 and 4


def reader(lab, *, ttl=lambda: 300 + random.randint(0, 60), read_cache=True, fill=True):
    r, db = lab["r"], lab["db"]

    def get_product(product_id):
        key = f"product:{product_id}"
        cached = r.get(key) if read_cache else None
        if cached is not None:
            return json.loads(cached)
        row = db.execute("SELECT id, name, price FROM products WHERE id = %s", (product_id,)).fetchone()
        product = {"id": row[0], "name": row[1], "price": float(row[2])}
        if fill:
            r.set(key, json.dumps(product), ex=ttl())
        return product

    return get_product


def writer(lab, *, to_db=True, to_cache="set", ttl=lambda: 300 + random.randint(0, 60)):
    r, db = lab["r"], lab["db"]

    def update_price(product_id, price):
        if to_db:
            db.execute("UPDATE products SET price = %s WHERE id = %s", (price, product_id))
        key = f"product:{product_id}"
        if to_cache == "delete":
            r.delete(key)
        elif to_cache == "set":
            row = db.execute("SELECT id, name FROM products WHERE id = %s", (product_id,)).fetchone()
            r.set(key, json.dumps({"id": row[0], "name": row[1], "price": float(price)}), ex=ttl())

    return update_price


def test_lazy_passes_on_the_solution_and_leaves_the_data_as_it_was(lab):
    before = lab["db"].execute("SELECT price FROM products WHERE id = 7").fetchone()[0]
    assert run("12.lazy", get_product=reader(lab))
    assert run("12.lazy", get_product=reader(lab)), "the check must be repeatable"
    assert lab["db"].execute("SELECT price FROM products WHERE id = 7").fetchone()[0] == before
    assert lab["r"].exists("product:7") == 0


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"ttl": lambda: None}, "wrote product:7 without a TTL (TTL -1)"),
    ({"fill": False}, "never fills the cache"),
    ({"read_cache": False}, "does not read the cache first"),
    ({"ttl": lambda: 300}, "every key got the same TTL (300 s)"),
    ({"ttl": lambda: 3600}, "with a TTL of 3600 s"),
])  # fmt: skip
def test_lazy_names_the_mistake(lab, kwargs, expected):
    assert expected in failed("12.lazy", get_product=reader(lab, **kwargs))


def test_lazy_reports_a_broken_or_missing_function(lab):
    assert "returned Ellipsis" in failed("12.lazy", get_product=lambda product_id: ...)
    assert "raised ZeroDivisionError" in failed("12.lazy", get_product=lambda product_id: 1 / 0)
    assert "should be a function" in failed("12.lazy", get_product=None)


def test_write_through_passes_on_the_solution(lab):
    before = lab["db"].execute("SELECT price FROM products WHERE id = 7").fetchone()[0]
    assert run("12.write_through", update_price=writer(lab), get_product=reader(lab))
    assert lab["db"].execute("SELECT price FROM products WHERE id = 7").fetchone()[0] == before


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"to_cache": None}, "writes the database only: product:7 in the cache still holds price 35.99"),
    ({"to_db": False}, "the database still holds 35.99"),
    ({"to_cache": "delete"}, "deleted product:7 instead of writing it"),
    ({"ttl": lambda: None}, "update_price wrote product:7 without a TTL"),
])  # fmt: skip
def test_write_through_names_the_mistake(lab, kwargs, expected):
    assert expected in failed("12.write_through", update_price=writer(lab, **kwargs), get_product=reader(lab))


# ------------------------------------------------------------------------------------ exercise 5


def test_snapshot_passes_on_the_solution(lab):
    ec().create_snapshot(ReplicationGroupId=RG, SnapshotName="good")
    ec().copy_snapshot(SourceSnapshotName="good", TargetSnapshotName="good", TargetBucket="lab12-backups")
    assert run("12.snapshot", snapshot_name="good")


def test_a_memcached_snapshot_is_refused_and_the_check_says_why(lab):
    with pytest.raises(ClientError) as err:
        ec().create_snapshot(CacheClusterId="lab12-sessions", SnapshotName="sessions")
    assert err.value.response["Error"]["Code"] == "InvalidParameterCombination"
    assert "Memcached has no snapshots" in failed("12.snapshot", snapshot_name="sessions")


def test_snapshot_names_the_mistake(lab):
    ec().create_snapshot(ReplicationGroupId=RG, SnapshotName="not-exported")
    assert "was not exported" in failed("12.snapshot", snapshot_name="not-exported")
    create_rg("other-rg", lab["sg"])
    ec().create_snapshot(ReplicationGroupId="other-rg", SnapshotName="other")
    assert "a snapshot of 'other-rg', not of lab12-redis" in failed("12.snapshot", snapshot_name="other")
    assert "holds a whole dict" in failed("12.snapshot", snapshot_name={"SnapshotName": "good"})

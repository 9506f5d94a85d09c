"""The ElastiCache plane: endpoints, topology, replication, failover, replica counts and scaling."""

from __future__ import annotations

import pytest
import redis
from botocore.exceptions import ClientError
from pymemcache.client.base import Client as MemcacheClient
from support.cache_plane import ec, fresh, group, redis_cluster

from stacklab.planes import cache


@pytest.fixture(autouse=True)
def _fresh(box):
    fresh()


def members(rid="rg1"):
    rg = ec().describe_replication_groups(ReplicationGroupId=rid)["ReplicationGroups"][0]
    return [(m["CacheClusterId"], m["CurrentRole"]) for m in rg["NodeGroups"][0]["NodeGroupMembers"]]


def code(exc_info):
    return exc_info.value.response["Error"]["Code"]


# ------------------------------------------------------------------------------------ endpoints


def test_redis_cluster_node_endpoint_is_served_under_its_aws_name():
    redis_cluster()
    described = ec().describe_cache_clusters(CacheClusterId="c1", ShowCacheNodeInfo=True)["CacheClusters"][0]
    node = described["CacheNodes"][0]
    assert node["CacheNodeId"] == "0001" and node["CacheNodeStatus"] == "available"
    address = node["Endpoint"]["Address"]
    assert address.startswith("c1.") and address.endswith(".0001.use1.cache.amazonaws.com")
    assert node["Endpoint"]["Port"] == 6379
    client = redis.Redis(host=node["Endpoint"]["Address"], port=6379, decode_responses=True, socket_timeout=2)
    assert client.set("greeting", "hello") and client.get("greeting") == "hello"
    # AWS returns CacheNodes only when asked
    assert "CacheNodes" not in ec().describe_cache_clusters(CacheClusterId="c1")["CacheClusters"][0]


def test_memcached_cluster_has_configuration_endpoint_and_11211_nodes():
    ec().create_cache_cluster(CacheClusterId="m1", Engine="memcached", CacheNodeType="cache.t4g.micro", NumCacheNodes=3)
    described = ec().describe_cache_clusters(CacheClusterId="m1", ShowCacheNodeInfo=True)["CacheClusters"][0]
    cfg = described["ConfigurationEndpoint"]
    assert cfg["Address"].startswith("m1.") and ".cfg.use1.cache.amazonaws.com" in cfg["Address"]
    assert cfg["Port"] == 11211
    assert [n["CacheNodeId"] for n in described["CacheNodes"]] == ["0001", "0002", "0003"]
    node = described["CacheNodes"][1]["Endpoint"]
    client = MemcacheClient((node["Address"], node["Port"]), timeout=2, connect_timeout=2)
    assert client.set("k", "v", noreply=False) and client.get("k") == b"v"
    client.close()
    hashed = cache.connect("m1")
    for i in range(20):
        hashed.set(f"key{i}", str(i))
    assert [hashed.get(f"key{i}") for i in range(3)] == [b"0", b"1", b"2"]
    assert cache.stats("m1")["CurrItems"] == 21


def test_replication_group_has_primary_replicas_and_reader_endpoint():
    rg = group(clusters=3)
    assert rg["MemberClusters"] == ["rg1-001", "rg1-002", "rg1-003"]
    ng = rg["NodeGroups"][0]
    assert ng["PrimaryEndpoint"]["Address"].startswith("master.rg1.")
    assert ng["ReaderEndpoint"]["Address"].startswith("replica.rg1.")
    assert members() == [("rg1-001", "primary"), ("rg1-002", "replica"), ("rg1-003", "replica")]
    listed = [c["CacheClusterId"] for c in ec().describe_cache_clusters()["CacheClusters"]]
    assert listed == ["rg1-001", "rg1-002", "rg1-003"]
    alone = ec().describe_cache_clusters(ShowCacheClustersNotInReplicationGroups=True)["CacheClusters"]
    assert alone == []
    member = ec().describe_cache_clusters(CacheClusterId="rg1-002")["CacheClusters"][0]
    assert member["ReplicationGroupId"] == "rg1"


def test_writes_on_primary_are_read_from_replicas_and_replicas_refuse_writes():
    endpoint = group(clusters=2)["NodeGroups"][0]["PrimaryEndpoint"]
    primary = redis.Redis(host=endpoint["Address"], port=endpoint["Port"], decode_responses=True, socket_timeout=2)
    assert primary.set("user:1", "Ada")
    reader = cache.connect("rg1", endpoint="reader")
    assert reader.get("user:1") == "Ada"
    assert reader.info()["role"] == "slave" and primary.info()["role"] == "master"
    with pytest.raises(redis.exceptions.ReadOnlyError, match="read only replica"):
        reader.set("user:2", "Bob")
    direct = cache.connect("rg1", endpoint="rg1-002")
    with pytest.raises(redis.exceptions.ReadOnlyError):
        direct.incr("counter")


def test_test_failover_promotes_a_replica_and_primary_endpoint_follows():
    group(clusters=3)
    before = cache.connect("rg1")
    before.set("k", "v")
    ec().test_failover(ReplicationGroupId="rg1", NodeGroupId="0001")
    assert members() == [("rg1-001", "replica"), ("rg1-002", "primary"), ("rg1-003", "replica")]
    after = cache.connect("rg1")  # same name, now the new primary
    assert after.get("k") == "v" and after.set("k2", "v2")
    assert after.info()["role"] == "master"
    with pytest.raises(redis.exceptions.ReadOnlyError):  # a connection still on the old primary
        before.set("k3", "v3")
    events = [e["Message"] for e in ec().describe_events(SourceIdentifier="rg1")["Events"]]
    assert events == ["Failover from primary node rg1-001 to replica node rg1-002 completed",
                      "Test Failover API called for node group 0001"]  # newest first  # fmt: skip
    cluster_events = [e["Message"] for e in ec().describe_events(SourceType="cache-cluster")["Events"]]
    assert cluster_events == ["Finished recovery for cache nodes rg1-001", "Recovering cache nodes rg1-001",
                              "Failover from primary node rg1-001 to replica node rg1-002 completed"]  # fmt: skip


def test_test_failover_needs_automatic_failover_and_a_known_node_group():
    group(rid="solo", clusters=1, AutomaticFailoverEnabled=False)
    with pytest.raises(ClientError) as exc:
        ec().test_failover(ReplicationGroupId="solo", NodeGroupId="0001")
    assert code(exc) == "InvalidReplicationGroupState"
    group(rid="rg2", clusters=2)
    with pytest.raises(ClientError) as exc:
        ec().test_failover(ReplicationGroupId="rg2", NodeGroupId="0009")
    assert code(exc) == "NodeGroupNotFoundFault"
    with pytest.raises(ClientError) as exc:
        ec().test_failover(ReplicationGroupId="nope", NodeGroupId="0001")
    assert code(exc) == "ReplicationGroupNotFoundFault"


def test_increase_and_decrease_replica_count():
    group(clusters=2)
    ec().increase_replica_count(ReplicationGroupId="rg1", NewReplicaCount=3, ApplyImmediately=True)
    assert [m for m, _ in members()] == ["rg1-001", "rg1-002", "rg1-003", "rg1-004"]
    cache.connect("rg1").set("k", "v")
    assert cache.connect("rg1", endpoint="rg1-004").get("k") == "v"
    ec().decrease_replica_count(ReplicationGroupId="rg1", NewReplicaCount=1, ApplyImmediately=True)
    assert members() == [("rg1-001", "primary"), ("rg1-002", "replica")]
    with pytest.raises(ClientError) as exc:  # automatic failover keeps one replica
        ec().decrease_replica_count(ReplicationGroupId="rg1", NewReplicaCount=0, ApplyImmediately=True)
    assert code(exc) == "InvalidParameterCombination"
    with pytest.raises(ClientError) as exc:
        ec().increase_replica_count(ReplicationGroupId="rg1", NewReplicaCount=6, ApplyImmediately=True)
    assert "at most 5" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        ec().decrease_replica_count(ReplicationGroupId="rg1", ReplicasToRemove=["rg1-001"], ApplyImmediately=True)
    assert "primary" in exc.value.response["Error"]["Message"]


def test_modify_cache_cluster_scales_memcached_nodes_out_and_in():
    ec().create_cache_cluster(CacheClusterId="m1", Engine="memcached", CacheNodeType="cache.t4g.micro", NumCacheNodes=2)
    ec().modify_cache_cluster(CacheClusterId="m1", NumCacheNodes=4, ApplyImmediately=True)
    nodes = ec().describe_cache_clusters(CacheClusterId="m1", ShowCacheNodeInfo=True)["CacheClusters"][0]["CacheNodes"]
    assert [n["CacheNodeId"] for n in nodes] == ["0001", "0002", "0003", "0004"]
    with pytest.raises(ClientError, match="CacheNodeIdsToRemove"):
        ec().modify_cache_cluster(CacheClusterId="m1", NumCacheNodes=3, ApplyImmediately=True)
    ec().modify_cache_cluster(CacheClusterId="m1", NumCacheNodes=3, CacheNodeIdsToRemove=["0002"],
                              ApplyImmediately=True)  # fmt: skip
    described = ec().describe_cache_clusters(CacheClusterId="m1", ShowCacheNodeInfo=True)["CacheClusters"][0]
    assert [n["CacheNodeId"] for n in described["CacheNodes"]] == ["0001", "0003", "0004"]
    assert described["NumCacheNodes"] == 3
    # not applied immediately: pending until the maintenance window
    out = ec().modify_cache_cluster(CacheClusterId="m1", CacheNodeType="cache.m7g.large")["CacheCluster"]
    assert out["PendingModifiedValues"]["CacheNodeType"] == "cache.m7g.large"
    assert out["CacheNodeType"] == "cache.t4g.micro"
    out = ec().modify_cache_cluster(CacheClusterId="m1", CacheNodeType="cache.m7g.large", ApplyImmediately=True)
    assert out["CacheCluster"]["CacheNodeType"] == "cache.m7g.large"


def test_vertical_scaling_of_a_replication_group_keeps_its_data():
    group(clusters=2)
    cache.connect("rg1").set("k", "v")
    ec().modify_replication_group(ReplicationGroupId="rg1", CacheNodeType="cache.r7g.large", ApplyImmediately=True)
    rg = ec().describe_replication_groups(ReplicationGroupId="rg1")["ReplicationGroups"][0]
    assert rg["CacheNodeType"] == "cache.r7g.large"
    assert cache.connect("rg1").get("k") == "v"

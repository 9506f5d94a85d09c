"""The ElastiCache plane: cluster mode (hash slots, MOVED, RedisCluster), bad input, engines, cleanup after reset."""

from __future__ import annotations

import socket
import subprocess
import threading

import pytest
import redis
from botocore.exceptions import ClientError
from support.cache_plane import ec, fresh, group, redis_cluster, sharded

import stacklab
from stacklab import sandbox as sandbox_module
from stacklab.errors import InputError, RealAWSBlockedError
from stacklab.planes import cache
from stacklab.planes.cache_redis import key_slot


@pytest.fixture(autouse=True)
def _fresh(box):
    fresh()


def members(rid="rg1"):
    rg = ec().describe_replication_groups(ReplicationGroupId=rid)["ReplicationGroups"][0]
    return [(m["CacheClusterId"], m["CurrentRole"]) for m in rg["NodeGroups"][0]["NodeGroupMembers"]]


def code(exc_info):
    return exc_info.value.response["Error"]["Code"]


# ------------------------------------------------------------------------------------ cluster mode


def test_cluster_mode_splits_slots_and_answers_moved():
    rg = sharded()
    assert rg["ClusterEnabled"] is True
    assert rg["ConfigurationEndpoint"]["Address"].startswith("clustercfg.cm.")
    assert [g["Slots"] for g in rg["NodeGroups"]] == ["0-5461", "5462-10922", "10923-16383"]
    assert rg["MemberClusters"] == ["cm-0001-001", "cm-0001-002", "cm-0002-001", "cm-0002-002", "cm-0003-001",
                                    "cm-0003-002"]  # fmt: skip
    client = cache.connect("cm", endpoint="configuration")
    for i in range(30):
        client.set(f"user:{i}", i)
    assert [client.get(f"user:{i}") for i in range(30)] == [str(i) for i in range(30)]
    shard1 = cache.connect("cm", endpoint="cm-0001-001")
    foreign = next(f"user:{i}" for i in range(30) if key_slot(f"user:{i}") > 5461)
    with pytest.raises(redis.exceptions.MovedError, match=r"^\d+ cm-000[23]-001\.cm\..*:6379$"):
        shard1.get(foreign)
    with pytest.raises(redis.exceptions.ResponseError, match="don.t hash to the same slot"):
        shard1.mget("a", "b", "c", "d")
    owner = next(m for m in ("cm-0001-001", "cm-0002-001", "cm-0003-001")
                 if cache.connect("cm", endpoint=m).execute_command("CLUSTER", "KEYSLOT", "{user}:1") is not None
                 and _owns(m, key_slot("{user}:1")))  # fmt: skip
    assert cache.connect("cm", endpoint=owner).mget("{user}:1", "{user}:2") == [None, None]  # one hash tag: one slot


def _owns(member: str, slot: int) -> bool:
    shard = int(member.split("-")[1]) - 1
    start, end = [(0, 5461), (5462, 10922), (10923, 16383)][shard]
    return start <= slot <= end


def test_key_slot_matches_redis_cluster_spec():
    assert key_slot("foo") == 12182 and key_slot("{user1000}.following") == key_slot("{user1000}.followers")
    assert key_slot("123456789") == 0x31C3 % 16384


def test_cluster_commands_refused_without_cluster_mode():
    redis_cluster()
    with pytest.raises(redis.exceptions.ResponseError, match="cluster support disabled"):
        cache.connect("c1").execute_command("CLUSTER", "SLOTS")


# ------------------------------------------------------------------------------------ bad input


def test_bad_input_gives_clear_errors():
    with pytest.raises(ClientError) as exc:
        ec().describe_cache_clusters(CacheClusterId="missing")
    assert code(exc) == "CacheClusterNotFound"
    with pytest.raises(InputError, match="No ElastiCache cluster"):
        cache.connect("missing")
    with pytest.raises(ClientError, match="NumCacheNodes should be 1"):
        ec().create_cache_cluster(CacheClusterId="r2", Engine="redis", CacheNodeType="cache.t4g.micro", NumCacheNodes=2)
    with pytest.raises(ClientError, match="between 1 and 40"):
        ec().create_cache_cluster(CacheClusterId="m9", Engine="memcached", CacheNodeType="cache.t4g.micro",
                                  NumCacheNodes=41)  # fmt: skip
    with pytest.raises(ClientError, match="NumCacheClusters must be between 1 and 6"):
        group(clusters=7)
    with pytest.raises(ClientError, match="at least one replica"):
        group(rid="x", clusters=1, AutomaticFailoverEnabled=True)
    redis_cluster()
    with pytest.raises(InputError, match="endpoint='primary'"):
        cache.connect("c1", endpoint="reader")
    group(clusters=2)
    with pytest.raises(InputError, match="cluster mode disabled"):
        cache.connect("rg1", endpoint="configuration")
    with pytest.raises(ClientError) as exc:
        ec().delete_cache_cluster(CacheClusterId="rg1-002")
    assert code(exc) == "InvalidCacheClusterState"


def test_wrong_endpoint_name_or_port_is_refused_by_the_guard():
    redis_cluster()
    address = ec().describe_cache_clusters(CacheClusterId="c1", ShowCacheNodeInfo=True)["CacheClusters"][0][
        "CacheNodes"][0]["Endpoint"]["Address"]  # fmt: skip
    for host, port in ((address, 6380), ("c2" + address[2:], 6379)):
        client = redis.Redis(host=host, port=port, socket_connect_timeout=1)
        with pytest.raises((redis.exceptions.ConnectionError, RealAWSBlockedError), match="Blocked a network"):
            client.ping()


def test_engine_in_use_names_the_engine():
    assert cache.engine_in_use("redis").startswith("fakeredis")
    text = cache.engine_in_use("memcached")
    assert "memcached" in text
    with pytest.raises(InputError):
        cache.engine_in_use("mongodb")


# ------------------------------------------------------------------------------------ lifecycle


def _memcached_children() -> list[str]:
    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(__import__("os").getpid())], capture_output=True,
                         text=True, timeout=5).stdout  # fmt: skip
    return [line for line in out.splitlines() if "memcached" in line]


def test_reset_stops_every_server_thread_and_process():
    redis_cluster()
    group(clusters=3)
    ec().create_cache_cluster(CacheClusterId="m1", Engine="memcached", CacheNodeType="cache.t4g.micro", NumCacheNodes=2)
    ports = [n.port for n in cache._state.redis.values()] + [n.port for n in cache._state.memcached.values()]
    client = cache.connect("rg1")
    client.set("k", "v")
    assert len(ports) == 6
    stacklab.reset()
    assert not cache._state.redis and not cache._state.memcached and not cache._state.endpoints
    assert not [t for t in threading.enumerate() if t.name.startswith("stacklab-redis") or "memcached" in t.name]
    assert not _memcached_children()
    for port in ports:
        with socket.socket() as s:
            s.settimeout(0.5)
            assert s.connect_ex(("127.0.0.1", port)) != 0
    from stacklab import netguard

    assert not [h for h, _ in netguard.local_endpoints() if h.endswith(".cache.amazonaws.com")]


def test_delete_replication_group_stops_its_nodes():
    group(clusters=2)
    ec().delete_replication_group(ReplicationGroupId="rg1")
    assert not cache._state.redis
    with pytest.raises(ClientError) as exc:
        ec().describe_replication_groups(ReplicationGroupId="rg1")
    assert code(exc) == "ReplicationGroupNotFoundFault"
    redis_cluster()
    ec().delete_cache_cluster(CacheClusterId="c1")
    assert not cache._state.redis


def test_valkey_engine_is_served_like_redis_oss():
    out = ec().create_cache_cluster(CacheClusterId="v1", Engine="valkey", CacheNodeType="cache.t4g.micro",
                                    NumCacheNodes=1)["CacheCluster"]  # fmt: skip
    assert (out["Engine"], out["NumCacheNodes"]) == ("valkey", 1)
    ec().create_replication_group(ReplicationGroupId="vg", ReplicationGroupDescription="d", Engine="valkey",
                                  CacheNodeType="cache.t4g.micro", NumCacheClusters=2,
                                  AutomaticFailoverEnabled=True)  # fmt: skip
    engines = {c["CacheClusterId"]: c["Engine"] for c in ec().describe_cache_clusters()["CacheClusters"]}
    assert engines == {"v1": "valkey", "vg-001": "valkey", "vg-002": "valkey"}
    assert cache.connect("v1").set("k", "v") and cache.connect("vg").set("k", "v")


def test_stop_at_exit_stops_everything_too():
    group(clusters=2)
    ec().create_cache_cluster(CacheClusterId="m1", Engine="memcached", CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    assert cache.clear in sandbox_module._stop_hooks
    stacklab.stop()  # what atexit runs
    try:
        assert not cache._state.redis and not cache._state.memcached
        assert not _memcached_children()
        assert not [t for t in threading.enumerate() if t.name.startswith("stacklab-redis")]
    finally:
        stacklab.start()


def test_online_resharding_moves_keys_to_their_new_shards():
    sharded(shards=2)
    client = cache.connect("cm", endpoint="configuration")
    for i in range(40):
        client.set(f"item:{i}", i)
    out = ec().modify_replication_group_shard_configuration(ReplicationGroupId="cm", NodeGroupCount=4,
                                                            ApplyImmediately=True)["ReplicationGroup"]  # fmt: skip
    assert [g["Slots"] for g in out["NodeGroups"]] == ["0-4095", "4096-8191", "8192-12287", "12288-16383"]
    assert "cm-0004-002" in out["MemberClusters"]
    scaled = cache.connect("cm", endpoint="configuration")
    assert [scaled.get(f"item:{i}") for i in range(40)] == [str(i) for i in range(40)]
    out = ec().modify_replication_group_shard_configuration(ReplicationGroupId="cm", NodeGroupCount=3,
                                                            NodeGroupsToRemove=["0002"],
                                                            ApplyImmediately=True)["ReplicationGroup"]  # fmt: skip
    assert [g["NodeGroupId"] for g in out["NodeGroups"]] == ["0001", "0003", "0004"]
    again = cache.connect("cm", endpoint="configuration")
    assert [again.get(f"item:{i}") for i in range(40)] == [str(i) for i in range(40)]
    with pytest.raises(ClientError, match="NodeGroupsToRemove"):
        ec().modify_replication_group_shard_configuration(ReplicationGroupId="cm", NodeGroupCount=1,
                                                          NodeGroupsToRemove=["0009"],
                                                          ApplyImmediately=True)  # fmt: skip
    group(clusters=2)
    with pytest.raises(ClientError, match="cluster mode disabled"):
        ec().modify_replication_group_shard_configuration(ReplicationGroupId="rg1", NodeGroupCount=2,
                                                          ApplyImmediately=True)  # fmt: skip

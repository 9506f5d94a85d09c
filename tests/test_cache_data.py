"""The ElastiCache plane's data: snapshots and S3 export, eviction policies, TTL on the sandbox clock, the
memcached stand-in, parameter groups, serverless caches, metrics, caching strategies, a Redis given by URL."""

from __future__ import annotations

import threading

import pytest
import redis
from botocore.exceptions import ClientError
from pymemcache.client.base import Client as MemcacheClient
from support.cache_plane import ec, fresh, group, redis_cluster, sharded

import stacklab
from stacklab.errors import InputError
from stacklab.planes import cache, cache_memcached, cache_snapshots
from stacklab.planes.cache_strategies import LazyLoading, WriteThrough, speedup_class, ttl_with_jitter


@pytest.fixture(autouse=True)
def _fresh(box):
    fresh()


def fill(client):
    client.set("s", "text")
    client.hset("h", mapping={"a": "1", "b": "2"})
    client.rpush("l", "x", "y", "z")
    client.sadd("set", "m", "n")
    client.zadd("z", {"p": 1.5, "q": 2})
    client.set("ttl", "soon", ex=100)


def check_filled(client, with_ttl=True):
    assert client.get("s") == "text"
    assert client.hgetall("h") == {"a": "1", "b": "2"}
    assert client.lrange("l", 0, -1) == ["x", "y", "z"]
    assert client.smembers("set") == {"m", "n"}
    assert client.zrange("z", 0, -1, withscores=True) == [("p", 1.5), ("q", 2.0)]
    if with_ttl:
        assert 0 < client.ttl("ttl") <= 100


# ------------------------------------------------------------------------------------ snapshots


def test_snapshot_captures_data_and_restores_into_a_new_cluster_and_group():
    group()
    fill(cache.connect("rg1"))
    snap = ec().create_snapshot(SnapshotName="nightly", ReplicationGroupId="rg1")["Snapshot"]
    assert snap["SnapshotStatus"] == "available"
    described = ec().describe_snapshots(SnapshotName="nightly")["Snapshots"][0]
    assert described["NodeSnapshots"][0]["CacheSize"] == "1 MB"
    cache.connect("rg1").flushall()  # the snapshot keeps its own copy
    redis_cluster("restored", SnapshotName="nightly")
    check_filled(cache.connect("restored"))
    group("rg2", SnapshotName="nightly")
    check_filled(cache.connect("rg2", endpoint="reader"))


def test_expired_keys_are_not_restored():
    redis_cluster()
    cache.connect("c1").set("short", "x", ex=10)
    ec().create_snapshot(SnapshotName="s1", CacheClusterId="c1")
    stacklab.clock().advance(11)
    redis_cluster("c2", SnapshotName="s1")
    assert cache.connect("c2").get("short") is None


def test_export_to_s3_and_restore_from_the_object():
    group()
    fill(cache.connect("rg1"))
    ec().create_snapshot(SnapshotName="nightly", ReplicationGroupId="rg1")
    s3 = stacklab.client("s3")
    with pytest.raises(ClientError, match="does not exist"):
        ec().copy_snapshot(SourceSnapshotName="nightly", TargetSnapshotName="export", TargetBucket="missing-bucket")
    s3.create_bucket(Bucket="cache-backups")
    out = ec().copy_snapshot(SourceSnapshotName="nightly", TargetSnapshotName="export", TargetBucket="cache-backups")
    assert out["Snapshot"]["SnapshotName"] == "export"
    body = s3.get_object(Bucket="cache-backups", Key="export-0001.rdb")["Body"].read()
    assert body.startswith(cache_snapshots.HEADER)
    with pytest.raises(ClientError, match="already exists"):
        ec().copy_snapshot(SourceSnapshotName="nightly", TargetSnapshotName="export", TargetBucket="cache-backups")
    group("seeded", SnapshotArns=["arn:aws:s3:::cache-backups/export-0001.rdb"])
    check_filled(cache.connect("seeded"))
    # a copy inside ElastiCache
    ec().copy_snapshot(SourceSnapshotName="nightly", TargetSnapshotName="nightly-copy")
    redis_cluster("from-copy", SnapshotName="nightly-copy")
    check_filled(cache.connect("from-copy"))


def test_bad_snapshot_sources():
    s3 = stacklab.client("s3")
    s3.create_bucket(Bucket="bkt")
    s3.put_object(Bucket="bkt", Key="real.rdb", Body=b"REDIS0011\xfa\x09redis-ver")
    with pytest.raises(ClientError, match="real Redis RDB"):
        redis_cluster(SnapshotArns=["arn:aws:s3:::bkt/real.rdb"])
    with pytest.raises(ClientError, match="does not exist|NoSuchKey|Cannot read"):
        redis_cluster(SnapshotArns=["arn:aws:s3:::bkt/none.rdb"])
    with pytest.raises(ClientError) as exc:
        redis_cluster(SnapshotName="never-taken")
    assert exc.value.response["Error"]["Code"] == "SnapshotNotFoundFault"
    ec().create_cache_cluster(CacheClusterId="m1", Engine="memcached", CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    with pytest.raises(ClientError, match="memcached") as exc:
        ec().create_snapshot(SnapshotName="mc", CacheClusterId="m1")
    assert exc.value.response["Error"]["Code"] == "InvalidParameterCombination"


def test_cluster_mode_snapshot_exports_one_file_per_shard_and_restores_by_slot():
    sharded(shards=2, replicas=0)
    client = cache.connect("cm", endpoint="configuration")
    for i in range(20):
        client.set(f"k{i}", str(i))
    ec().create_snapshot(SnapshotName="cms", ReplicationGroupId="cm")
    stacklab.client("s3").create_bucket(Bucket="bkup")
    ec().copy_snapshot(SourceSnapshotName="cms", TargetSnapshotName="x", TargetBucket="bkup")
    keys = sorted(o["Key"] for o in stacklab.client("s3").list_objects_v2(Bucket="bkup")["Contents"])
    assert keys == ["x-0001.rdb", "x-0002.rdb"]
    ec().create_replication_group(ReplicationGroupId="cm3", ReplicationGroupDescription="d", Engine="redis",
                                  CacheNodeType="cache.t4g.micro", NumNodeGroups=3, ReplicasPerNodeGroup=0,
                                  AutomaticFailoverEnabled=True,
                                  SnapshotArns=[f"arn:aws:s3:::bkup/{k}" for k in keys])  # fmt: skip
    restored = cache.connect("cm3", endpoint="configuration")
    assert [restored.get(f"k{i}") for i in range(20)] == [str(i) for i in range(20)]


def test_snapshot_file_format_round_trip_and_damage():
    entries = [{"key": "YQ==", "type": "string", "value": "Yg==", "expire_at_ms": None}]
    assert cache_snapshots.loads(cache_snapshots.dumps(entries)) == entries
    with pytest.raises(InputError, match="first line"):
        cache_snapshots.loads(b"hello\n")


# ------------------------------------------------------------------------------------ TTL, INFO, eviction


def test_ttl_follows_the_sandbox_clock():
    redis_cluster()
    client = cache.connect("c1")
    client.set("session", "abc", ex=60)
    assert client.ttl("session") == 60
    stacklab.clock().advance(59)
    assert client.get("session") == "abc"
    stacklab.clock().advance(2)
    assert client.get("session") is None


def test_info_reports_hits_misses_and_clients():
    redis_cluster()
    client = cache.connect("c1")
    client.set("a", "1")
    client.get("a")
    client.get("nope")
    client.mget("a", "nope", "nope2")
    info = client.info()
    assert (info["keyspace_hits"], info["keyspace_misses"]) == (2, 3)
    assert info["connected_clients"] >= 1 and info["maxmemory_policy"] == "volatile-lru"
    stats = cache.stats("c1")
    assert (stats["CacheHits"], stats["CacheMisses"], stats["CurrItems"]) == (2, 3, 1)


def _policy_group(name, policy):
    ec().create_cache_parameter_group(CacheParameterGroupName=name, CacheParameterGroupFamily="redis7",
                                      Description="lesson")  # fmt: skip
    ec().modify_cache_parameter_group(CacheParameterGroupName=name, ParameterNameValues=[
        {"ParameterName": "maxmemory-policy", "ParameterValue": policy}])  # fmt: skip


def test_allkeys_lru_evicts_the_least_recently_used_keys():
    _policy_group("lru", "allkeys-lru")
    redis_cluster(CacheParameterGroupName="lru")
    cache.set_maxmemory("c1", 4096)  # about 24 keys of 100 bytes in the model
    client = cache.connect("c1")
    for i in range(40):
        client.set(f"k{i:02d}", "x" * 100)
        client.get("k00")  # keep k00 hot
    assert client.get("k00") is not None
    assert client.get("k01") is None  # the coldest went first
    assert cache.stats("c1")["Evictions"] > 0
    assert client.info()["evicted_keys"] == cache.stats("c1")["Evictions"]


def test_default_volatile_lru_evicts_only_keys_with_ttl_then_refuses_writes():
    redis_cluster()
    cache.set_maxmemory("c1", 2048)
    client = cache.connect("c1")
    for i in range(10):
        client.set(f"perm{i}", "x" * 100)
    for i in range(5):
        client.set(f"temp{i}", "x" * 100, ex=3600)
    assert all(client.get(f"perm{i}") for i in range(10))
    with pytest.raises(redis.exceptions.ResponseError, match="maxmemory"):
        for i in range(30):
            client.set(f"more{i}", "x" * 100)
    assert all(client.get(f"temp{i}") is None for i in range(5))


def test_noeviction_refuses_writes_with_oom():
    _policy_group("noev", "noeviction")
    redis_cluster(CacheParameterGroupName="noev")
    cache.set_maxmemory("c1", 1024)
    client = cache.connect("c1")
    with pytest.raises(redis.exceptions.OutOfMemoryError, match="command not allowed when used memory"):
        for i in range(50):
            client.set(f"k{i}", "x" * 100)
    assert client.get("k0") is not None  # reads still work


def test_parameter_groups_rules():
    params = ec().describe_cache_parameters(CacheParameterGroupName="default.redis7")["Parameters"]
    assert {p["ParameterName"]: p["ParameterValue"] for p in params}["maxmemory-policy"] == "volatile-lru"
    with pytest.raises(ClientError) as exc:
        ec().modify_cache_parameter_group(CacheParameterGroupName="default.redis7", ParameterNameValues=[
            {"ParameterName": "maxmemory-policy", "ParameterValue": "allkeys-lru"}])  # fmt: skip
    assert exc.value.response["Error"]["Code"] == "InvalidCacheParameterGroupState"
    _policy_group("mine", "allkeys-lfu")
    user = ec().describe_cache_parameters(CacheParameterGroupName="mine", Source="user")["Parameters"]
    assert [(p["ParameterName"], p["ParameterValue"]) for p in user] == [("maxmemory-policy", "allkeys-lfu")]
    with pytest.raises(ClientError, match="Invalid value"):
        ec().modify_cache_parameter_group(CacheParameterGroupName="mine", ParameterNameValues=[
            {"ParameterName": "maxmemory-policy", "ParameterValue": "lru"}])  # fmt: skip
    with pytest.raises(ClientError) as exc:
        ec().describe_cache_parameters(CacheParameterGroupName="nope")
    assert exc.value.response["Error"]["Code"] == "CacheParameterGroupNotFound"
    with pytest.raises(InputError):
        cache.set_maxmemory("c9", 4096)


# ------------------------------------------------------------------------------------ memcached stand-in


@pytest.fixture
def standin():
    cache_memcached.use_real_memcached = False
    yield
    cache_memcached.use_real_memcached = True


def test_memcached_stand_in_speaks_the_text_protocol(standin):
    assert cache.engine_in_use("memcached") == "embedded memcached stand-in (pure Python)"
    ec().create_cache_cluster(CacheClusterId="m1", Engine="memcached", CacheNodeType="cache.t4g.micro", NumCacheNodes=1)
    cfg = ec().describe_cache_clusters(CacheClusterId="m1")["CacheClusters"][0]["ConfigurationEndpoint"]
    client = MemcacheClient((cfg["Address"], cfg["Port"]), timeout=2, connect_timeout=2, default_noreply=False)
    assert client.set("n", "10") and client.incr("n", 5) == 15 and client.decr("n", 20) == 0
    assert client.add("n", "x") is False and client.replace("missing", "x") is False
    assert client.append("n", "1") and client.get("n") == b"01"
    value, token = client.gets("n")
    assert client.cas("n", "2", token) and client.cas("n", "3", token) is False
    client.set("t", "v", expire=30)
    stacklab.clock().advance(31)
    assert client.get("t") is None
    assert client.touch("n", 5) and client.delete("n") and client.delete("n") is False
    stats = client.stats()
    assert stats[b"get_misses"] >= 1 and stats[b"curr_items"] == 0
    assert client.flush_all()


def test_memcached_stand_in_evicts_lru_at_its_limit(standin):
    node = cache_memcached.start_node(1)
    try:
        client = MemcacheClient(("127.0.0.1", node.port), timeout=2, connect_timeout=2)
        for i in range(30):
            client.set(f"k{i}", "x" * 50_000)
        assert client.get("k0") is None and client.get("k29") is not None
        assert int(client.stats()[b"evictions"]) > 0
        client.close()
    finally:
        node.stop()
    assert not [t for t in threading.enumerate() if t.name == "stacklab-memcached"]


# ------------------------------------------------------------------------------------ serverless, metrics


def test_serverless_cache_create_describe_connect_delete():
    out = ec().create_serverless_cache(ServerlessCacheName="sessions", Engine="valkey",
                                       CacheUsageLimits={"DataStorage": {"Maximum": 10, "Unit": "GB"}})  # fmt: skip
    item = out["ServerlessCache"]
    assert item["Status"] == "available" and item["Endpoint"]["Port"] == 6379 and item["ReaderEndpoint"]["Port"] == 6380
    assert item["Endpoint"]["Address"].startswith("sessions-") and ".serverless.use1.cache.amazonaws.com" in \
        item["Endpoint"]["Address"]
    client = redis.Redis(host=item["Endpoint"]["Address"], port=6379, decode_responses=True, socket_timeout=2)
    assert client.set("k", "v") and cache.connect("sessions", endpoint="reader").get("k") == "v"
    assert [c["ServerlessCacheName"] for c in ec().describe_serverless_caches()["ServerlessCaches"]] == ["sessions"]
    with pytest.raises(ClientError) as exc:
        ec().create_serverless_cache(ServerlessCacheName="sessions", Engine="valkey")
    assert exc.value.response["Error"]["Code"] == "ServerlessCacheAlreadyExistsFault"
    ec().delete_serverless_cache(ServerlessCacheName="sessions")
    with pytest.raises(ClientError) as exc:
        ec().describe_serverless_caches(ServerlessCacheName="sessions")
    assert exc.value.response["Error"]["Code"] == "ServerlessCacheNotFoundFault"
    mc = ec().create_serverless_cache(ServerlessCacheName="pages", Engine="memcached")["ServerlessCache"]
    assert mc["Endpoint"]["Port"] == 11211 and "ReaderEndpoint" not in mc
    assert cache.connect("pages").set("a", "b")


def test_flush_metrics_writes_elasticache_metrics():
    redis_cluster()
    client = cache.connect("c1")
    client.set("a", "1")
    client.get("a")
    client.get("b")
    assert cache.flush_metrics() == 5
    cw = stacklab.client("cloudwatch")
    metrics = {m["MetricName"] for m in cw.list_metrics(Namespace="AWS/ElastiCache")["Metrics"]}
    assert metrics == {"CacheHits", "CacheMisses", "Evictions", "CurrConnections", "CurrItems"}


# ------------------------------------------------------------------------------------ strategies


class FakeDb:
    def __init__(self):
        self.rows = {"user:1": "Ada", "user:2": "Grace"}

    def load(self, key):
        return self.rows.get(key)

    def store(self, key, value):
        self.rows[key] = value


def test_lazy_loading_serves_stale_data_until_ttl_and_write_through_does_not():
    redis_cluster()
    client = cache.connect("c1")
    db = FakeDb()
    lazy = LazyLoading(client, db.load, db.store, ttl=60, check_freshness=True)
    assert [lazy.get("user:1") for _ in range(4)] == ["Ada"] * 4
    lazy.put("user:1", "Ada L.")
    assert lazy.get("user:1") == "Ada"  # stale
    stacklab.clock().advance(61)
    assert lazy.get("user:1") == "Ada L."
    report = lazy.report()
    assert report["hit_ratio"] == 0.667 and report["stale_reads"] == 1 and report["db_reads"] == 2
    client.flushall()
    wt = WriteThrough(client, db.load, db.store, ttl=60, check_freshness=True)
    wt.put("user:2", "Grace H.")
    assert wt.get("user:2") == "Grace H."
    assert wt.report()["stale_reads"] == 0 and wt.report()["cache_writes"] == 1
    assert lazy.get("user:9") is None


def test_strategy_helpers():
    import random

    rng = random.Random(0)
    values = {ttl_with_jitter(300, 30, rng) for _ in range(50)}
    assert min(values) >= 300 and max(values) <= 330 and len(values) > 5
    assert [speedup_class(r) for r in (1.5, 5, 50, 500)] == ["<2x", "2-10x", "10-100x", ">100x"]
    with pytest.raises(InputError):
        LazyLoading(object(), len, print)
    with pytest.raises(InputError):
        ttl_with_jitter(0, 1, rng)


# ------------------------------------------------------------------------------------ Redis by URL


def test_a_redis_given_by_url_backs_the_nodes(monkeypatch):
    from fakeredis import TcpFakeServer

    server = TcpFakeServer(("127.0.0.1", 0), server_type="redis")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("STACKLAB_REDIS_URL", f"redis://127.0.0.1:{server.server_address[1]}/0")
        assert cache.engine_in_use("redis").startswith("redis at 127.0.0.1")
        group()
        client = cache.connect("rg1")
        client.set("k", "v")
        assert cache.connect("rg1", endpoint="reader").get("k") == "v"
        with pytest.raises(redis.exceptions.ReadOnlyError):
            cache.connect("rg1", endpoint="reader").set("k", "w")
        client.close()
        stacklab.reset()
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.skipif(cache_memcached.memcached_binary() is None, reason="no memcached installed")
def test_a_real_memcached_dies_with_a_killed_kernel(tmp_path):
    import subprocess
    import sys
    import time

    script = tmp_path / "kernel.py"
    script.write_text("import os\nfrom stacklab.planes import cache_memcached as m\nn = m.start_node(8)\n"
                      "print(n.port, flush=True)\nos.kill(os.getpid(), 9)\n")  # fmt: skip
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=20)
    port = int(out.stdout.strip())
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        ps = subprocess.run(["ps", "-eo", "args="], capture_output=True, text=True, timeout=5).stdout
        if f"-p {port} " not in ps:
            break
        time.sleep(0.05)
    assert f"-p {port} " not in ps

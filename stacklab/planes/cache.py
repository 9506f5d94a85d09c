"""Amazon ElastiCache, with data: moto stores clusters and replication groups, this plane serves them.

moto 5.2.5 creates ElastiCache clusters and replication groups as records only: no node endpoints (even
with ``ShowCacheNodeInfo=True``), a replication group gets only its primary (``NumCacheClusters`` is
ignored), no reader endpoint, no cluster mode, and ``modify_cache_cluster``, ``test_failover``,
``increase/decrease_replica_count``, ``copy_snapshot`` and the serverless caches are missing. Importing
this module (the sandbox imports it before the first ``elasticache`` boto3 call; import it yourself when an
``!aws elasticache`` cell comes first) extends moto's backend (the missing operations are in
:mod:`stacklab.planes.cache_operations`), so boto3 in the kernel and ``!aws elasticache`` both see:

* ``describe_cache_clusters(ShowCacheNodeInfo=True)``: ``CacheNodes`` with ``Endpoint`` ``{Address, Port}``
  (``c1.abc123.0001.use1.cache.amazonaws.com:6379`` / ``:11211``), memcached clusters a
  ``ConfigurationEndpoint`` (``c1.abc123.cfg.use1.cache.amazonaws.com:11211``); the member clusters of
  replication groups are listed too (``rg-001``, ``rg-002``, ... with ``ReplicationGroupId``);
* replication groups with the topology asked for: ``NumCacheClusters`` (primary + replicas) or
  ``ReplicasPerNodeGroup``; ``NodeGroups[].PrimaryEndpoint`` / ``ReaderEndpoint`` (the sandbox points the
  reader name at the first replica; AWS spreads connections over all replicas), ``NodeGroupMembers`` with
  ``CurrentRole``; cluster mode enabled (``ClusterMode="enabled"``, ``NumNodeGroups`` > 1 or a
  ``*.cluster.on`` parameter group): ``NumNodeGroups`` shards with the 16,384 hash slots split evenly,
  ``ConfigurationEndpoint`` (``clustercfg.rg.abc123.use1.cache.amazonaws.com:6379``);
* ``modify_replication_group_shard_configuration`` (``NodeGroupCount``, ``NodeGroupsToRemove``): online
  resharding of a cluster mode enabled group, keys moved to the shards that own their slots;
* ``test_failover`` (a replica is promoted; the primary endpoint follows it; ``describe_events`` shows AWS's
  "Test Failover API called for node group ..." and "Failover from primary node ... completed" events),
  ``increase_replica_count`` / ``decrease_replica_count`` (``NewReplicaCount``), ``modify_cache_cluster``
  (``NumCacheNodes`` for memcached: nodes added/removed; ``CacheNodeType`` stored);
* snapshots that hold data: ``create_snapshot`` captures the keys, ``SnapshotName`` / ``SnapshotArns``
  restore them, ``copy_snapshot`` copies or (``TargetBucket``) exports ``TARGET-0001.rdb`` (one file per
  shard) to the sandbox's S3 — in the sandbox's documented format, not real RDB
  (:mod:`stacklab.planes.cache_snapshots`); memcached has no snapshots (AWS's error);
* parameter groups (``maxmemory-policy`` acted on; :mod:`stacklab.planes.cache_parameters`), serverless
  caches (``create/describe/delete_serverless_cache``; :mod:`stacklab.planes.cache_serverless`) and RBAC user
  groups (``create/describe/modify/delete_user_group``; users' access strings enforced on replication groups
  created with ``UserGroupIds``; :mod:`stacklab.planes.cache_rbac`).

Data plane: every Redis node (primary or replica) is a RESP server on ``127.0.0.1:<free port>``
(:mod:`stacklab.planes.cache_redis`: fakeredis underneath, or a real Redis/Valkey given by
``STACKLAB_REDIS_URL``); every memcached node is a real ``memcached`` process when ``/usr/bin/memcached``
exists, else a pure-Python stand-in speaking the memcached text protocol
(:mod:`stacklab.planes.cache_memcached`). Their endpoint names are registered with
:func:`stacklab.netguard.add_local_endpoint`, so ``redis.Redis(host=<Endpoint Address>, port=6379)`` and
``pymemcache.Client((<Address>, 11211))`` connect exactly as on AWS. Servers start when a cluster is
created (a node starts in milliseconds) and stop on ``stacklab.reset()`` / at exit.

Rules the nodes follow (read from moto's records on every connection or command):

* replicas share their primary's data set (replication is synchronous here; on AWS it is asynchronous,
  usually sub-second lag) and answer writes with ``READONLY You can't write against a read only replica.``;
* a replication group created with ``AuthToken`` (AWS requires ``TransitEncryptionEnabled=True`` and 16-128
  characters, symbols only ``! & # $ ^ < > -``) needs ``AUTH <token>``: without it ``NOAUTH Authentication
  required.`` (redis-py 8 opens with ``HELLO 3``, so it sees ``NOAUTH HELLO must be called with the client
  already authenticated...``), with a wrong one ``WRONGPASS invalid username-password pair or user is
  disabled.``; ``modify_replication_group(AuthToken=..., AuthTokenUpdateStrategy="ROTATE" | "SET" |
  "DELETE")`` rotates it (during a ROTATE both tokens work). In-transit encryption itself is not simulated:
  the nodes speak plain TCP on 127.0.0.1 (on AWS, clients must use TLS, ``ssl=True``);
* cluster mode enabled: a key whose hash slot (CRC16 of the key or its ``{hash tag}``, mod 16384) belongs to
  another shard gets ``MOVED <slot> <address>:6379``; ``CLUSTER SLOTS`` / ``CLUSTER SHARDS`` answer, so
  ``redis.cluster.RedisCluster(host=<ConfigurationEndpoint>, port=6379)`` works;
* ``INFO`` (replication role, keyspace hits/misses, evicted keys, connected clients), which fakeredis lacks;
* key expiry follows the sandbox clock (``stacklab.clock().advance(61)`` expires a 60-second TTL), for Redis
  and the memcached stand-in; a real memcached process keeps wall time.

A real Redis/Valkey given by ``STACKLAB_REDIS_URL`` must be dedicated to the sandbox: each shard uses one of
its databases 0-15 and empties it when the shard is created.

Public API (all take the ids the learner used with boto3):

* :func:`engine_in_use` ``(engine="redis") -> str`` — e.g. ``"memcached 1.6.18 (/usr/bin/memcached)"`` or
  ``"embedded memcached stand-in (pure Python)"``; ``"fakeredis 2.41.0 (embedded, in this kernel)"``;
* :func:`nodes` ``(resource_id) -> list[dict]`` — one row per node: ``CacheClusterId``, ``CacheNodeId``,
  ``Role`` (``primary``/``replica``/``node``), ``Shard``, ``Slots``, ``Address``, ``Port`` (AWS names);
* :func:`connect` ``(resource_id, *, endpoint="primary", password=None, **kwargs)`` — a ``redis.Redis``
  connected to the endpoint *name* (``"primary"``, ``"reader"``, a member cluster id), a
  ``redis.cluster.RedisCluster`` for ``endpoint="configuration"`` (cluster mode), or a pymemcache
  ``HashClient`` over a memcached cluster's nodes; it turns off redis-py's retries (3 by default, with
  backoff), so a refused AUTH fails at once;
* :func:`stats` ``(resource_id) -> dict`` — ``CacheHits``, ``CacheMisses``, ``CurrConnections`` summed over
  the resource's nodes, ``Evictions`` and ``CurrItems`` once per shard; :func:`flush_metrics` ``() -> int``
  writes per-node values to CloudWatch (``AWS/ElastiCache``, dimensions ``CacheClusterId``, ``CacheNodeId``)
  at the sandbox time;
* :func:`set_maxmemory` ``(resource_id, nbytes)`` — a lesson-scale ``maxmemory`` so eviction by the parameter
  group's ``maxmemory-policy`` can be watched (see :mod:`stacklab.planes.cache_eviction`);
* :func:`clear` — stop every server, thread and memcached process (``reset()`` and exit call it).

Timing note for lessons: a plain ``redis.Redis(...)`` whose AUTH is refused retries 3 times with backoff
(redis-py's default, 3-5 s, as against AWS); pass ``retry=redis.retry.Retry(redis.backoff.NoBackoff(), 0)``
or use :func:`connect`. The first Redis node of a kernel imports fakeredis (~0.5 s idle).

Caching strategies (lazy loading, write-through, TTL jitter, measured hit ratio) are in
:mod:`stacklab.planes.cache_strategies`. Connecting to a name that is not a registered endpoint (a typo, or
port 6380 instead of 6379) is refused by the network guard with ``RealAWSBlockedError`` naming it (redis-py
wraps it in a ``ConnectionError``).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stacklab import netguard
from stacklab._validate import require_choice, require_number, require_str
from stacklab.errors import InputError, StackLabError
from stacklab.planes import cache_memcached, cache_parameters, cache_rbac, cache_snapshots
from stacklab.planes.cache_clock import server_time

if TYPE_CHECKING:
    from stacklab.planes.cache_redis import NodeView, RedisNode, Shard

__all__ = [
    "clear",
    "connect",
    "engine_in_use",
    "flush_metrics",
    "nodes",
    "set_maxmemory",
    "stats",
]

REDIS_PORT = 6379
MEMCACHED_PORT = 11211
#: ElastiCache's default ``maxmemory-policy`` (default.redis7 parameter group).
DEFAULT_POLICY = cache_parameters.DEFAULT_POLICY
MAX_REPLICAS = 5
#: Memory of each sandbox memcached node (AWS's depends on the node type: cache.t4g.micro has 0.5 GiB).
MEMCACHED_NODE_MB = 64
_show = threading.local()


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.shards: dict[str, Shard] = {}
        self.redis: dict[str, RedisNode] = {}  # cache cluster id -> node
        self.memcached: dict[tuple[str, str], cache_memcached.MemcachedNode] = {}
        self.endpoints: dict[str, set[tuple[str, int]]] = {}  # resource id -> names registered
        self.maxmemory: dict[str, int] = {}
        self.published: dict[tuple[str, str], dict[str, float]] = {}
        self.next_db = 0  # STACKLAB_REDIS_URL: the next database number to give a shard


_state = _State()


# ------------------------------------------------------------------------------------ names


def _region_short(region: str) -> str:
    words = {"east": "e", "west": "w", "north": "n", "south": "s", "central": "c", "southeast": "se",
             "northeast": "ne", "northwest": "nw", "southwest": "sw"}  # fmt: skip
    parts = region.split("-")
    return parts[0] + "".join(words.get(p, p[:1]) for p in parts[1:-1]) + parts[-1]


def _domain(be: Any) -> str:
    """``abc123.use1.cache.amazonaws.com``: AWS's per-account, per-Region label (here derived, so stable)."""
    label = hashlib.sha1(f"{be.account_id}:{be.region_name}".encode()).hexdigest()[:6]
    return f"{label}.{_region_short(be.region_name)}.cache.amazonaws.com"


def _node_address(be: Any, cluster: Any, node_id: str) -> str:
    rg = getattr(cluster, "replication_group_id", None)
    if rg and getattr(cluster, "_sl_member", False):
        return f"{cluster.cache_cluster_id}.{rg}.{_domain(be)}"
    return f"{cluster.cache_cluster_id}.{_domain(be).replace('.', f'.{node_id}.', 1)}"


def _node_hex(cluster_id: str) -> str:
    return hashlib.sha1(cluster_id.encode()).hexdigest()


# ------------------------------------------------------------------------------------ moto access


def _backend() -> Any:
    from moto.elasticache.models import elasticache_backends

    from stacklab.sandbox import current

    box = current()
    return elasticache_backends[box.account_id][box.region]


def _error(code: str, message: str) -> Exception:
    from moto.elasticache.exceptions import ElastiCacheException

    return ElastiCacheException(code, message)


def _now_ms() -> int:
    return int(server_time() * 1000)


def _engine(obj: Any) -> str:
    return (getattr(obj, "engine", None) or "redis").lower()


# ------------------------------------------------------------------------------------ servers


def _redis_url() -> str | None:
    return os.environ.get("STACKLAB_REDIS_URL") or None


def _redis() -> Any:
    """The Redis node module (imported on first use: fakeredis and redis-py take ~0.3 s to import)."""
    from stacklab.planes import cache_redis

    return cache_redis


def _shard(key: str) -> Shard:
    with _state.lock:
        if key not in _state.shards:
            url = _redis_url()
            _state.next_db += 1
            _state.shards[key] = _redis().Shard(url=url, db=(_state.next_db - 1) % 16 if url else 0)
            if url:
                _state.shards[key].client().flushdb()
        return _state.shards[key]


def _register(resource: str, host: str, port: int, local: int) -> None:
    netguard.add_local_endpoint(host, port, local)
    with _state.lock:
        _state.endpoints.setdefault(resource, set()).add((host, port))


def _unregister(resource: str) -> None:
    with _state.lock:
        names = _state.endpoints.pop(resource, set())
    for host, port in names:
        netguard.remove_local_endpoint(host, port)


def _start_redis_node(cluster_id: str, shard: Shard) -> RedisNode:
    with _state.lock:
        node = _state.redis.get(cluster_id)
        if node is None:
            node = _redis().RedisNode(cluster_id, shard, lambda: _view(cluster_id))
            _state.redis[cluster_id] = node
        return node


def _stop_redis_node(cluster_id: str) -> None:
    with _state.lock:
        node = _state.redis.pop(cluster_id, None)
    if node is not None:
        node.stop()


def _start_memcached(cluster: Any, node_id: str) -> cache_memcached.MemcachedNode:
    key = (cluster.cache_cluster_id, node_id)
    with _state.lock:
        if key in _state.memcached:
            return _state.memcached[key]
    node = cache_memcached.start_node(MEMCACHED_NODE_MB)
    with _state.lock:
        _state.memcached[key] = node
    return node


def _stop_memcached(cluster_id: str, node_ids: list[str] | None = None) -> None:
    with _state.lock:
        keys = [k for k in _state.memcached if k[0] == cluster_id and (node_ids is None or k[1] in node_ids)]
        stopping = [_state.memcached.pop(k) for k in keys]
    for node in stopping:
        node.stop()


def clear() -> None:
    """Stop every node (servers, threads, memcached processes) and forget endpoints (``reset()`` calls it)."""
    with _state.lock:
        redis_nodes = list(_state.redis.values())
        mc_nodes = list(_state.memcached.values())
        resources = list(_state.endpoints)
        _state.redis.clear()
        _state.memcached.clear()
        _state.shards.clear()
        _state.maxmemory.clear()
        _state.published.clear()
        _state.next_db = 0
    for resource in resources:
        _unregister(resource)
    stoppers = [threading.Thread(target=n.stop, name="stacklab-cache-stop") for n in [*redis_nodes, *mc_nodes]]
    for thread in stoppers:
        thread.start()
    for thread in stoppers:
        thread.join(timeout=3)


# ------------------------------------------------------------------------------------ topology


def _groups(rg: Any) -> list[dict[str, Any]]:
    """The shards of a replication group: ``[{"id", "slots": (start, end) | None, "members", "primary"}]``."""
    return rg._sl_groups  # type: ignore[no-any-return]


def _slot_ranges(count: int) -> list[tuple[int, int]]:
    """16,384 hash slots split evenly over ``count`` shards (the first shards take the remainder)."""
    size, extra = divmod(_redis().SLOTS, count)
    out, start = [], 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0) - 1
        out.append((start, end))
        start = end + 1
    return out


def _new_member(be: Any, rg: Any, cluster_id: str, az: str) -> Any:
    from moto.elasticache.models import CacheCluster

    member = CacheCluster(
        account_id=be.account_id, region_name=be.region_name, cache_cluster_id=cluster_id,
        cache_node_type=rg.cache_node_type, replication_group_id=rg.replication_group_id, az_mode=None,
        preferred_availability_zone=az, num_cache_nodes=1, engine=rg.engine, engine_version=rg.engine_version,
        cache_parameter_group_name=rg.cache_parameter_group_name, cache_subnet_group_name=rg.cache_subnet_group_name,
        transit_encryption_enabled=rg.transit_encryption_enabled, network_type=rg.network_type,
        ip_discovery=rg.ip_discovery, snapshot_name=None, preferred_maintenance_window=rg.preferred_maintenance_window,
        port=rg.port, notification_topic_arn=rg.notification_topic_arn,
        auto_minor_version_upgrade=rg.auto_minor_version_upgrade, snapshot_retention_limit=rg.snapshot_retention_limit,
        snapshot_window=rg.snapshot_window, auth_token=None, outpost_mode=None, preferred_outpost_arn=None,
        preferred_availability_zones=None, cache_security_group_names=rg.cache_security_group_names,
        security_group_ids=rg.security_group_ids, tags=None, snapshot_arns=None, preferred_outpost_arns=None,
        log_delivery_configurations=[], cache_node_ids_to_remove=None, cache_node_ids_to_reboot=None,
    )  # fmt: skip
    member._sl_member = True
    member._sl_node_ids = ["0001"]
    member.num_cache_nodes = 1  # moto sets it only for the "redis" and "memcached" engines
    member.replication_group_id = rg.replication_group_id
    member.auth_token_enabled = rg.auth_token_enabled
    member.at_rest_encryption_enabled = rg.at_rest_encryption_enabled
    be.cache_clusters[cluster_id] = member
    return member


def _member_id(rg: Any, group_id: str, member_index: int) -> str:
    rid = rg.replication_group_id
    if rg._sl_cluster_mode:
        return f"{rid}-{group_id}-{member_index + 1:03d}"
    return f"{rid}-{member_index + 1:03d}"


def _add_member(be: Any, rg: Any, group: dict[str, Any]) -> str:
    gi = group["id"]
    used = set(group["members"])
    index = 0
    while _member_id(rg, gi, index) in used or _member_id(rg, gi, index) in be.cache_clusters:
        index += 1
    cluster_id = _member_id(rg, gi, index)
    azs = rg._sl_azs or [f"{be.region_name}a", f"{be.region_name}b", f"{be.region_name}c"]
    _new_member(be, rg, cluster_id, azs[len(group["members"]) % len(azs)])
    group["members"].append(cluster_id)
    _start_redis_node(cluster_id, _shard(f"{rg.replication_group_id}/{group['id']}"))
    return cluster_id


def _remove_member(be: Any, rg: Any, group: dict[str, Any], cluster_id: str) -> None:
    group["members"].remove(cluster_id)
    be.cache_clusters.pop(cluster_id, None)
    _stop_redis_node(cluster_id)


def _sync_rg(be: Any, rg: Any) -> None:
    """Write the group's topology into moto's record (what describe_replication_groups returns) and DNS names."""
    rid = rg.replication_group_id
    domain = f"{rid}.{_domain(be)}"
    node_groups, members = [], []
    _unregister(rid)
    for group in _groups(rg):
        ng: dict[str, Any] = {"node_group_id": group["id"], "status": "available", "node_group_members": []}
        for cluster_id in group["members"]:
            member = be.cache_clusters[cluster_id]
            address = _node_address(be, member, "0001")
            entry: dict[str, Any] = {"cache_cluster_id": cluster_id, "cache_node_id": "0001",
                                     "preferred_availability_zone": member.preferred_availability_zone}  # fmt: skip
            if not rg._sl_cluster_mode:
                entry["read_endpoint"] = {"address": address, "port": rg.port}
                entry["current_role"] = "primary" if cluster_id == group["primary"] else "replica"
            ng["node_group_members"].append(entry)
            members.append(cluster_id)
            _register(rid, address, rg.port, _state.redis[cluster_id].port)
        primary_port = _state.redis[group["primary"]].port
        replicas = [m for m in group["members"] if m != group["primary"]]
        if rg._sl_cluster_mode:
            ng["slots"] = f"{group['slots'][0]}-{group['slots'][1]}"
        else:
            ng["primary_endpoint"] = {"address": f"master.{domain}", "port": rg.port}
            ng["reader_endpoint"] = {"address": f"replica.{domain}", "port": rg.port}
            _register(rid, f"master.{domain}", rg.port, primary_port)
            reader = _state.redis[replicas[0]].port if replicas else primary_port
            _register(rid, f"replica.{domain}", rg.port, reader)
        node_groups.append(ng)
    rg.node_groups = node_groups
    rg.member_clusters = members
    rg.cluster_enabled = rg._sl_cluster_mode
    rg.cluster_mode = "enabled" if rg._sl_cluster_mode else "disabled"
    if rg._sl_cluster_mode:
        rg.configuration_endpoint = {"address": f"clustercfg.{domain}", "port": rg.port}
        _register(rid, f"clustercfg.{domain}", rg.port, _state.redis[_groups(rg)[0]["primary"]].port)
    elif hasattr(rg, "configuration_endpoint"):
        del rg.configuration_endpoint


def _view(cluster_id: str) -> NodeView:
    """What moto's records say about a Redis node now (called for every connection and command)."""
    NodeView = _redis().NodeView  # noqa: N806 - the class, imported lazily
    try:
        be = _backend()
    except StackLabError:
        return NodeView(role="replica")
    if cluster_id.startswith("serverless:"):
        return NodeView(node_id=_node_hex(cluster_id), maxmemory=_state.maxmemory.get(cluster_id.split(":", 1)[1]))
    cluster = be.cache_clusters.get(cluster_id)
    if cluster is None:
        return NodeView(role="replica")
    rg = be.replication_groups.get(cluster.replication_group_id or "")
    resource = rg.replication_group_id if rg is not None else cluster_id
    view = NodeView(node_id=_node_hex(cluster_id), address=_node_address(be, cluster, "0001"),
                    engine_version=cluster.engine_version or "7.1.0",
                    maxmemory=_state.maxmemory.get(resource), policy=_policy(be, cluster))  # fmt: skip
    if rg is None or not hasattr(rg, "_sl_groups"):
        view.password = cluster.auth_token
        return view
    view.password = getattr(rg, "_sl_auth_token", None)
    view.other_passwords = list(getattr(rg, "_sl_old_tokens", []))
    view.users = cache_rbac.users_for(be, rg)
    for group in _groups(rg):
        if cluster_id in group["members"]:
            view.role = "primary" if group["primary"] == cluster_id else "replica"
            if view.role == "primary":
                view.extra = {"connected_slaves": len(group["members"]) - 1}
            else:
                primary = be.cache_clusters[group["primary"]]
                view.extra = {"master_host": _node_address(be, primary, "0001"), "master_port": rg.port,
                              "master_link_status": "up"}  # fmt: skip
    if rg._sl_cluster_mode:
        view.slots = []
        for group in _groups(rg):
            order = [group["primary"]] + [m for m in group["members"] if m != group["primary"]]
            view.slots.append((group["slots"][0], group["slots"][1],
                               [(_node_address(be, be.cache_clusters[m], "0001"), rg.port, _node_hex(m))
                                for m in order]))  # fmt: skip
    return view


def _policy(be: Any, cluster: Any) -> str:
    return cache_parameters.policy_for(be, cluster.cache_parameter_group_name)


# ------------------------------------------------------------------------------------ moto additions


def _restore_source(be: Any, snapshot_name: str | None, snapshot_arns: list[str] | None,
                    engine: str) -> list[dict[str, Any]] | None:  # fmt: skip
    """The entries to restore (from a snapshot by name or an exported file in S3), or None."""
    if not snapshot_name and not snapshot_arns:
        return None
    if engine == "memcached":
        raise _error("InvalidParameterCombination",
                     "Snapshots are not supported for the memcached engine: only Redis OSS and Valkey caches "
                     "can be restored from a backup.")
    if snapshot_name:
        if snapshot_name not in be.snapshots:
            from moto.elasticache.exceptions import SnapshotNotFound

            raise SnapshotNotFound(snapshot_name)
        return list(getattr(be.snapshots[snapshot_name], "_sl_data", []))
    entries: list[dict[str, Any]] = []
    for arn in snapshot_arns or []:
        entries += _read_s3_snapshot(be, arn)
    return entries


def _read_s3_snapshot(be: Any, arn: str) -> list[dict[str, Any]]:
    from moto.s3.models import s3_backends

    prefix = "arn:aws:s3:::"
    if not isinstance(arn, str) or not arn.startswith(prefix) or "/" not in arn[len(prefix):]:
        raise _error("InvalidParameterValue", f"Invalid SnapshotArns value {arn!r}: use arn:aws:s3:::bucket/key.rdb.")
    bucket, key = arn[len(prefix):].split("/", 1)
    s3 = s3_backends[be.account_id]["aws"]
    try:
        obj = s3.get_object(bucket, key)
    except Exception as exc:  # noqa: BLE001 - moto raises several S3 errors
        raise _error("InvalidParameterValue", f"Cannot read {arn}: {type(exc).__name__}. Check the bucket and key "
                                              "(and that ElastiCache may read the object).") from exc  # fmt: skip
    if obj is None:
        raise _error("InvalidParameterValue", f"The S3 object {arn} does not exist.")
    try:
        return cache_snapshots.loads(obj.value)
    except InputError as exc:
        raise _error("InvalidParameterValue", str(exc)) from exc


def _validate_cluster(kwargs: dict[str, Any]) -> None:
    engine = (kwargs.get("engine") or "redis").lower()
    count = kwargs.get("num_cache_nodes")
    if engine not in ("redis", "valkey", "memcached"):
        raise _error("InvalidParameterValue", f"Invalid Engine {engine!r}: use redis, valkey or memcached.")
    if engine == "memcached" and count is not None and not 1 <= count <= 40:
        raise _error("InvalidParameterValue", "NumCacheNodes must be between 1 and 40 for memcached clusters.")
    if engine != "memcached" and count not in (None, 1):
        raise _error("InvalidParameterValue", "NumCacheNodes should be 1 if engine is redis: add replicas with a "
                                              "replication group instead.")  # fmt: skip


def _after_create_cluster(be: Any, cluster: Any, kwargs: dict[str, Any]) -> None:
    engine = _engine(cluster)
    if engine == "memcached":
        if kwargs.get("port") is None:
            cluster.port = MEMCACHED_PORT
        cluster._sl_node_ids = [f"{i + 1:04d}" for i in range(cluster.num_cache_nodes)]
        _sync_memcached(be, cluster)
        return
    cluster.engine = engine
    cluster._sl_node_ids = ["0001"]
    cluster.num_cache_nodes = 1  # moto sets these only for engine "redis", not "valkey"
    for name in ("replication_group_id", "snapshot_name", "snapshot_window"):
        if not hasattr(cluster, name):
            setattr(cluster, name, kwargs.get(name))
    cluster.snapshot_arns = getattr(cluster, "snapshot_arns", None) or []
    entries = _restore_source(be, kwargs.get("snapshot_name"), kwargs.get("snapshot_arns"), engine)
    shard = _shard(cluster.cache_cluster_id)
    node = _start_redis_node(cluster.cache_cluster_id, shard)
    _register(cluster.cache_cluster_id, _node_address(be, cluster, "0001"), cluster.port, node.port)
    if entries:
        cache_snapshots.load(entries, lambda _key: shard.client(), _now_ms())


def _sync_memcached(be: Any, cluster: Any) -> None:
    cid = cluster.cache_cluster_id
    _unregister(cid)
    missing = [n for n in cluster._sl_node_ids if (cid, n) not in _state.memcached]
    errors: list[Exception] = []

    def start(node_id: str) -> None:
        try:
            _start_memcached(cluster, node_id)
        except Exception as exc:  # noqa: BLE001 - reported below, in the caller's thread
            errors.append(exc)

    starters = [threading.Thread(target=start, args=(n,), name="stacklab-memcached-start") for n in missing]
    for thread in starters:  # nodes start side by side (a process each)
        thread.start()
    for thread in starters:
        thread.join(timeout=5)
    if errors:
        raise errors[0]
    for node_id in cluster._sl_node_ids:
        _register(cid, _node_address(be, cluster, node_id), cluster.port, _state.memcached[(cid, node_id)].port)
    first = _state.memcached[(cid, cluster._sl_node_ids[0])]
    _register(cid, _config_address(be, cluster), cluster.port, first.port)


def _config_address(be: Any, cluster: Any) -> str:
    return f"{cluster.cache_cluster_id}.{_domain(be).replace('.', '.cfg.', 1)}"


def _cache_nodes(self: Any) -> list[dict[str, Any]] | None:
    if not getattr(_show, "nodes", False) or not hasattr(self, "_sl_node_ids"):
        return None
    be = _backend()
    return [{"cache_node_id": nid, "cache_node_status": "available",
             "cache_node_create_time": self.cache_cluster_create_time,
             "endpoint": {"address": _node_address(be, self, nid), "port": self.port},
             "parameter_group_status": "in-sync",
             "customer_availability_zone": self.preferred_availability_zone or f"{be.region_name}a"}
            for nid in self._sl_node_ids]  # fmt: skip


def _configuration_endpoint(self: Any) -> dict[str, Any] | None:
    if _engine(self) != "memcached" or not hasattr(self, "_sl_node_ids"):
        return None
    return {"address": _config_address(_backend(), self), "port": self.port}


def _create_rg(be: Any, original: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    rid = kwargs.get("replication_group_id")
    engine = (kwargs.get("engine") or "redis").lower()
    if engine == "memcached":
        raise _error("InvalidParameterValue",
                     "Replication groups are for Redis OSS / Valkey; memcached has no replication: create a "
                     "memcached cluster with NumCacheNodes instead.")
    groups_n = kwargs.get("num_node_groups") or 1
    cluster_mode = (kwargs.get("cluster_mode") or "").lower() == "enabled" or groups_n > 1 or \
        (kwargs.get("cache_parameter_group_name") or "").endswith(".cluster.on")
    clusters = kwargs.get("num_cache_clusters")
    per_group = kwargs.get("replicas_per_node_group")
    if clusters is not None and not 1 <= clusters <= MAX_REPLICAS + 1:
        raise _error("InvalidParameterValue", "NumCacheClusters must be between 1 and 6 (a primary and up to "
                                              "5 replicas).")  # fmt: skip
    if per_group is not None and not 0 <= per_group <= MAX_REPLICAS:
        raise _error("InvalidParameterValue", "ReplicasPerNodeGroup must be between 0 and 5.")
    if not 1 <= groups_n <= 500:
        raise _error("InvalidParameterValue", "NumNodeGroups must be between 1 and 500.")
    replicas = per_group if per_group is not None else (clusters - 1 if clusters else 0)
    if cluster_mode and clusters is not None and per_group is None:
        replicas = clusters - 1
    if kwargs.get("automatic_failover_enabled") and replicas < 1 and not cluster_mode:
        raise _error("InvalidParameterCombination",
                     "Automatic failover needs at least one replica: set NumCacheClusters to 2 or more "
                     "(or disable automatic failover).")
    if cluster_mode and kwargs.get("automatic_failover_enabled") is False:
        raise _error("InvalidParameterCombination", "Cluster mode enabled replication groups need "
                                                    "AutomaticFailoverEnabled=True.")  # fmt: skip
    if kwargs.get("multi_az_enabled") and not kwargs.get("automatic_failover_enabled"):
        raise _error("InvalidParameterCombination", "Multi-AZ needs AutomaticFailoverEnabled=True.")
    token = kwargs.get("auth_token")
    if token is not None:
        _check_token(token, kwargs.get("transit_encryption_enabled"))
    user_groups = kwargs.get("user_group_ids") or []
    if user_groups:
        if token is not None:
            raise _error("InvalidParameterCombination", "Use either AuthToken or UserGroupIds (RBAC), not both.")
        if not kwargs.get("transit_encryption_enabled"):
            raise _error("InvalidParameterCombination", "UserGroupIds (RBAC) needs TransitEncryptionEnabled=True.")
        for gid in user_groups:
            if gid not in getattr(be, "_sl_user_groups", {}):
                raise _error("UserGroupNotFound", f"User group {gid} not found: create it with create_user_group.")
    entries = _restore_source(be, kwargs.get("snapshot_name"), kwargs.get("snapshot_arns"), engine)
    rg = original(be, **kwargs)
    rg.engine = engine
    rg._sl_cluster_mode = cluster_mode
    rg._sl_auth_token = token
    rg._sl_azs = list(kwargs.get("preferred_cache_cluster_azs") or [])
    rg.automatic_failover = "enabled" if (kwargs.get("automatic_failover_enabled") or cluster_mode) else "disabled"
    slots = _slot_ranges(groups_n) if cluster_mode else [None] * groups_n
    rg._sl_groups = [{"id": f"{i + 1:04d}", "slots": slots[i], "members": [], "primary": ""} for i in range(groups_n)]
    for group in rg._sl_groups:
        for _ in range(replicas + 1):
            _add_member(be, rg, group)
        group["primary"] = group["members"][0]
    _sync_rg(be, rg)
    if entries:
        _load_into_rg(rg, entries)
    if rid:
        rg.snapshotting_cluster_id = rg.member_clusters[-1] if rg.snapshot_retention_limit else None
    return rg


def _check_token(token: Any, transit: Any) -> None:
    if not transit:
        raise _error("InvalidParameterValue", "The AUTH token is only allowed when TransitEncryptionEnabled is "
                                              "set to true.")  # fmt: skip
    allowed = set("!&#$^<>-")
    if not isinstance(token, str) or not 16 <= len(token) <= 128 or \
            any(not (c.isascii() and c.isalnum()) and c not in allowed for c in token):
        raise _error("InvalidParameterValue", "Invalid AuthToken: use 16 to 128 characters, letters, digits and "
                                              "only these symbols: ! & # $ ^ < > -.")  # fmt: skip


def _load_into_rg(rg: Any, entries: list[dict[str, Any]]) -> None:
    from stacklab.planes.cache_redis import key_slot

    groups = _groups(rg)

    def client_for(key: bytes) -> Any:
        group = groups[0]
        if rg._sl_cluster_mode:
            slot = key_slot(key)
            group = next(g for g in groups if g["slots"][0] <= slot <= g["slots"][1])
        return _shard(f"{rg.replication_group_id}/{group['id']}").client()

    cache_snapshots.load(entries, client_for, _now_ms())


def _delete_rg(be: Any, rg_id: str) -> None:
    rg = be.replication_groups.get(rg_id)
    if rg is None or not hasattr(rg, "_sl_groups"):
        return
    for group in _groups(rg):
        for cluster_id in list(group["members"]):
            be.cache_clusters.pop(cluster_id, None)
            _stop_redis_node(cluster_id)
        with _state.lock:
            _state.shards.pop(f"{rg_id}/{group['id']}", None)
    _unregister(rg_id)
    be.replication_groups.pop(rg_id, None)


def _delete_cluster(be: Any, cluster_id: str) -> None:
    cluster = be.cache_clusters.get(cluster_id)
    if cluster is None:
        return
    if getattr(cluster, "_sl_member", False):
        raise _error("InvalidCacheClusterState", f"Cache cluster {cluster_id} is a member of replication group "
                                                 f"{cluster.replication_group_id}: use decrease_replica_count or "
                                                 "delete_replication_group.")  # fmt: skip
    _stop_redis_node(cluster_id)
    _stop_memcached(cluster_id)
    _unregister(cluster_id)
    with _state.lock:
        _state.shards.pop(cluster_id, None)


def _snapshot_after(be: Any, snap: Any, rg_id: str | None, cluster_id: str | None) -> None:
    """Capture the data of the snapshot's source into the snapshot record (moto keeps only metadata)."""
    now = _now_ms()
    data: list[dict[str, Any]] = []
    node_snaps: list[dict[str, Any]] = []
    parts: dict[str, list[dict[str, Any]]] = {}
    created = _clock_now()
    if rg_id:
        rg = be.replication_groups[rg_id]
        for group in _groups(rg):
            entries = cache_snapshots.capture(_shard(f"{rg_id}/{group['id']}").client(), now)
            data += entries
            parts[group["id"]] = entries
            node_snaps.append({"cache_cluster_id": group["primary"], "node_group_id": group["id"],
                               "cache_node_id": "0001", "cache_size": cache_snapshots.size_label(entries),
                               "cache_node_create_time": rg.replication_group_create_time,
                               "snapshot_create_time": created})  # fmt: skip
        snap.engine = rg.engine
        snap.num_node_groups = len(_groups(rg))
        snap.cache_node_type = rg.cache_node_type
    else:
        cluster = be.cache_clusters[cluster_id]
        key = cluster_id
        if getattr(cluster, "_sl_member", False):
            rg = be.replication_groups[cluster.replication_group_id]
            group = next(g for g in _groups(rg) if cluster_id in g["members"])
            key = f"{rg.replication_group_id}/{group['id']}"
        data = cache_snapshots.capture(_shard(key).client(), now)
        node_snaps.append({"cache_cluster_id": cluster_id, "cache_node_id": "0001",
                           "cache_size": cache_snapshots.size_label(data),
                           "cache_node_create_time": cluster.cache_cluster_create_time,
                           "snapshot_create_time": created})  # fmt: skip
    snap._sl_data = data
    snap._sl_parts = parts or {"0001": data}
    snap.node_snapshots = node_snaps


def _clock_now() -> Any:
    from stacklab.sandbox import current

    return current().clock.now()


def _install() -> None:
    """Extend moto's ElastiCache backend and responses (idempotent)."""
    from moto.elasticache import models, responses

    cls = responses.ElastiCacheResponse
    if getattr(cls, "_stacklab_cache", False):
        return
    cls._stacklab_cache = True  # type: ignore[attr-defined]
    backend_cls = models.ElastiCacheBackend
    models.CacheCluster.cache_nodes = property(_cache_nodes)  # type: ignore[attr-defined]
    models.CacheCluster.configuration_endpoint = property(_configuration_endpoint)  # type: ignore[attr-defined]

    create_cluster = backend_cls.create_cache_cluster

    def create_cache_cluster(self: Any, **kwargs: Any) -> Any:
        _validate_cluster(kwargs)
        rg_id = kwargs.get("replication_group_id")
        if rg_id and _engine_of_kwargs(kwargs) != "memcached":
            return _add_replica_cluster(self, rg_id, kwargs["cache_cluster_id"])
        engine = _engine_of_kwargs(kwargs)
        if kwargs.get("auth_token") is not None:
            _check_token(kwargs["auth_token"], kwargs.get("transit_encryption_enabled"))
        _restore_source(self, kwargs.get("snapshot_name"), kwargs.get("snapshot_arns"), engine)  # validate first
        cluster = create_cluster(self, **kwargs)
        _after_create_cluster(self, cluster, kwargs)
        return cluster

    backend_cls.create_cache_cluster = create_cache_cluster
    delete_cluster = backend_cls.delete_cache_cluster

    def delete_cache_cluster(self: Any, cache_cluster_id: str) -> Any:
        _delete_cluster(self, cache_cluster_id)
        cluster = delete_cluster(self, cache_cluster_id)
        self.cache_clusters.pop(cache_cluster_id, None)
        return cluster

    backend_cls.delete_cache_cluster = delete_cache_cluster
    create_rg = backend_cls.create_replication_group

    def create_replication_group(self: Any, **kwargs: Any) -> Any:
        return _create_rg(self, create_rg, kwargs)

    backend_cls.create_replication_group = create_replication_group
    delete_rg = backend_cls.delete_replication_group

    def delete_replication_group(self: Any, replication_group_id: str, retain_primary_cluster: Any) -> Any:
        rg = delete_rg(self, replication_group_id, retain_primary_cluster)
        _delete_rg(self, replication_group_id)
        return rg

    backend_cls.delete_replication_group = delete_replication_group
    create_snap = backend_cls.create_snapshot

    def create_snapshot(self: Any, snapshot_name: str, replication_group_id: str | None,
                        cache_cluster_id: str | None, kms_key_id: str | None, tags: Any) -> Any:  # fmt: skip
        source = self.cache_clusters.get(cache_cluster_id or "")
        if source is not None and _engine(source) == "memcached":
            raise _error("InvalidParameterCombination", f"Cache cluster {cache_cluster_id} runs memcached, which "
                                                        "has no snapshots (backup and restore are for Redis OSS and "
                                                        "Valkey).")  # fmt: skip
        snap = create_snap(self, snapshot_name, replication_group_id, cache_cluster_id, kms_key_id, tags)
        _snapshot_after(self, snap, replication_group_id, cache_cluster_id)
        return snap

    backend_cls.create_snapshot = create_snapshot
    from stacklab.planes import cache_operations

    cache_operations.install(cls)


def _engine_of_kwargs(kwargs: dict[str, Any]) -> str:
    return (kwargs.get("engine") or "redis").lower()


def _add_replica_cluster(be: Any, rg_id: str, cluster_id: str) -> Any:
    rg = be.replication_groups.get(rg_id)
    if rg is None:
        from moto.elasticache.exceptions import ReplicationGroupNotFound

        raise ReplicationGroupNotFound(rg_id)
    if rg._sl_cluster_mode:
        raise _error("InvalidParameterCombination", "Add replicas to a cluster mode enabled replication group with "
                                                    "increase_replica_count.")  # fmt: skip
    if cluster_id in be.cache_clusters:
        from moto.elasticache.exceptions import CacheClusterAlreadyExists

        raise CacheClusterAlreadyExists(cluster_id)
    group = _groups(rg)[0]
    if len(group["members"]) > MAX_REPLICAS:
        raise _error("InvalidParameterValue", "A shard has at most 5 replicas.")
    _new_member(be, rg, cluster_id, f"{be.region_name}b")
    group["members"].append(cluster_id)
    _start_redis_node(cluster_id, _shard(f"{rg_id}/{group['id']}"))
    _sync_rg(be, rg)
    return be.cache_clusters[cluster_id]


def _hooks() -> None:
    from stacklab.sandbox import on_reset, on_stop

    on_reset(clear)
    on_stop(clear)


_install()
_hooks()


# ------------------------------------------------------------------------------------ public API


def engine_in_use(engine: str = "redis") -> str:
    """Which server answers the plane's ``engine`` nodes (``"redis"``, ``"valkey"`` or ``"memcached"``)."""
    require_choice("engine", engine, ("redis", "valkey", "memcached"))
    if engine == "memcached":
        return cache_memcached.engine()
    url = _redis_url()
    if url:
        from urllib.parse import urlsplit

        where = urlsplit(url)
        return f"redis at {where.hostname}:{where.port or REDIS_PORT} (STACKLAB_REDIS_URL)"
    import fakeredis

    return f"fakeredis {fakeredis.__version__} (embedded, in this kernel)"


def _resource(resource_id: str) -> tuple[str, Any]:
    """``("replication-group" | "cluster" | "serverless", moto record)`` for an id, or a clear InputError."""
    require_str("resource_id", resource_id)
    be = _backend()
    if resource_id in be.replication_groups and hasattr(be.replication_groups[resource_id], "_sl_groups"):
        return "replication-group", be.replication_groups[resource_id]
    if resource_id in be.cache_clusters and hasattr(be.cache_clusters[resource_id], "_sl_node_ids"):
        return "cluster", be.cache_clusters[resource_id]
    if resource_id in getattr(be, "serverless_caches", {}):
        return "serverless", be.serverless_caches[resource_id]
    known = sorted([*be.replication_groups, *[c for c, v in be.cache_clusters.items()
                                              if not getattr(v, "_sl_member", False)],
                    *getattr(be, "serverless_caches", {})])  # fmt: skip
    raise InputError(f"No ElastiCache cluster, replication group or serverless cache is called {resource_id!r} in "
                     f"the sandbox (it has: {', '.join(known) or 'none'}). Create it with boto3 first.")  # fmt: skip


def nodes(resource_id: str) -> list[dict[str, Any]]:
    """One row per node of a cluster, replication group or serverless cache, as AWS would name them."""
    kind, obj = _resource(resource_id)
    be = _backend()
    rows: list[dict[str, Any]] = []
    if kind == "replication-group":
        for group in _groups(obj):
            for cid in group["members"]:
                rows.append({"CacheClusterId": cid, "CacheNodeId": "0001",
                             "Role": "primary" if cid == group["primary"] else "replica", "Shard": group["id"],
                             "Slots": f"{group['slots'][0]}-{group['slots'][1]}" if group["slots"] else "",
                             "Address": _node_address(be, be.cache_clusters[cid], "0001"),
                             "Port": obj.port})  # fmt: skip
    elif kind == "cluster":
        for nid in obj._sl_node_ids:
            rows.append({"CacheClusterId": obj.cache_cluster_id, "CacheNodeId": nid,
                         "Role": "node" if _engine(obj) == "memcached" else "primary", "Shard": "0001", "Slots": "",
                         "Address": _node_address(be, obj, nid), "Port": obj.port})  # fmt: skip
    else:
        rows.append({"CacheClusterId": obj.serverless_cache_name, "CacheNodeId": "serverless", "Role": "primary",
                     "Shard": "", "Slots": "", "Address": obj.endpoint["address"],
                     "Port": obj.endpoint["port"]})  # fmt: skip
    return rows


def connect(resource_id: str, *, endpoint: str = "primary", password: str | None = None, **kwargs: Any) -> Any:
    """A client connected to an endpoint *name*, as an application on AWS would connect.

    Redis: a ``redis.Redis`` (``endpoint`` ``"primary"``, ``"reader"``, or a member cluster id) or, for a
    cluster mode enabled group (``endpoint="configuration"``), a ``redis.cluster.RedisCluster``; ``kwargs``
    go to the client (default ``decode_responses=True``, 2 s timeouts). Memcached: a pymemcache
    ``HashClient`` over the cluster's node endpoints (``endpoint`` is ignored).
    """
    require_str("endpoint", endpoint)
    if password is not None:
        require_str("password", password)
    kind, obj = _resource(resource_id)
    be = _backend()
    if _engine(obj) == "memcached":
        from pymemcache.client.hash import HashClient

        if kind == "serverless":
            servers = [(obj.endpoint["address"], obj.endpoint["port"])]
        else:
            servers = [(_node_address(be, obj, nid), obj.port) for nid in obj._sl_node_ids]
        kwargs.setdefault("connect_timeout", 2)
        kwargs.setdefault("timeout", 2)
        return HashClient(servers, **kwargs)
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    kwargs.setdefault("decode_responses", True)
    kwargs.setdefault("retry", Retry(NoBackoff(), 0))  # a refused AUTH fails at once (redis-py retries 3 times)
    kwargs.setdefault("socket_timeout", 2)
    kwargs.setdefault("socket_connect_timeout", 2)
    host, port = _endpoint_address(be, kind, obj, endpoint)
    if endpoint == "configuration":
        from redis.cluster import RedisCluster

        return RedisCluster(host=host, port=port, password=password, **kwargs)
    return redis.Redis(host=host, port=port, password=password, **kwargs)


def _endpoint_address(be: Any, kind: str, obj: Any, endpoint: str) -> tuple[str, int]:
    if kind == "serverless":
        choices = {"primary": obj.endpoint, "reader": obj.reader_endpoint or obj.endpoint}
        if endpoint not in choices:
            raise InputError(f"A serverless cache has the endpoints 'primary' and 'reader', not {endpoint!r}.")
        return choices[endpoint]["address"], choices[endpoint]["port"]
    if kind == "cluster":
        if endpoint not in ("primary", obj.cache_cluster_id):
            raise InputError(f"Cluster {obj.cache_cluster_id} has one node endpoint: use endpoint='primary'.")
        return _node_address(be, obj, "0001"), obj.port
    domain = f"{obj.replication_group_id}.{_domain(be)}"
    if obj._sl_cluster_mode:
        if endpoint not in ("configuration", *obj.member_clusters):
            raise InputError(f"{obj.replication_group_id} runs in cluster mode: connect to endpoint='configuration' "
                             "(a RedisCluster client follows MOVED redirects) or to a member cluster id.")  # fmt: skip
    elif endpoint == "configuration":
        raise InputError(f"{obj.replication_group_id} has cluster mode disabled: use endpoint='primary' (writes) "
                         "or 'reader' (reads).")  # fmt: skip
    names = {"primary": f"master.{domain}", "reader": f"replica.{domain}", "configuration": f"clustercfg.{domain}"}
    if endpoint in names:
        return names[endpoint], obj.port
    if endpoint in obj.member_clusters:
        return _node_address(be, be.cache_clusters[endpoint], "0001"), obj.port
    raise InputError(f"Unknown endpoint {endpoint!r}: use 'primary', 'reader' or one of "
                     f"{', '.join(obj.member_clusters)}.")  # fmt: skip


def _node_keys(kind: str, obj: Any) -> tuple[list[str], list[tuple[str, str]]]:
    if kind == "replication-group":
        return list(obj.member_clusters), []
    if kind == "serverless":
        key = f"serverless:{obj.serverless_cache_name}"
        return ([], [(key, "0001")]) if _engine(obj) == "memcached" else ([key], [])
    if _engine(obj) == "memcached":
        return [], [(obj.cache_cluster_id, nid) for nid in obj._sl_node_ids]
    return [obj.cache_cluster_id], []


def _node_stats(node_key: str) -> dict[str, int]:
    node = _state.redis[node_key]
    return {"CacheHits": node.hits, "CacheMisses": node.misses, "Evictions": node.shard.evicted,
            "CurrConnections": node.connections, "CurrItems": int(node.shard.client().dbsize())}  # fmt: skip


def _memcached_stats(key: tuple[str, str]) -> dict[str, int]:
    from pymemcache.client.base import Client

    node = _state.memcached[key]
    client = Client(("127.0.0.1", node.port), connect_timeout=2, timeout=2)
    try:
        raw = client.stats()
    finally:
        client.close()
    return {"CacheHits": int(raw[b"get_hits"]), "CacheMisses": int(raw[b"get_misses"]),
            "Evictions": int(raw[b"evictions"]), "CurrConnections": max(0, int(raw[b"curr_connections"]) - 1),
            "CurrItems": int(raw[b"curr_items"])}  # fmt: skip


def stats(resource_id: str) -> dict[str, int]:
    """``CacheHits``, ``CacheMisses``, ``CurrConnections`` summed over the nodes; ``Evictions`` and ``CurrItems``
    once per shard (its primary and replicas hold one data set; CloudWatch reports them per node).
    """
    kind, obj = _resource(resource_id)
    redis_keys, mc_keys = _node_keys(kind, obj)
    total = {"CacheHits": 0, "CacheMisses": 0, "Evictions": 0, "CurrConnections": 0, "CurrItems": 0}
    seen_shards: set[int] = set()
    for key in redis_keys:
        one = _node_stats(key)
        shard_id = id(_state.redis[key].shard)
        if shard_id in seen_shards:
            one["Evictions"] = one["CurrItems"] = 0  # one data set per shard, counted once
        seen_shards.add(shard_id)
        total = {k: total[k] + one[k] for k in total}
    for mkey in mc_keys:
        one = _memcached_stats(mkey)
        total = {k: total[k] + one[k] for k in total}
    return total


def set_maxmemory(resource_id: str, nbytes: int | None) -> None:
    """Give a Redis resource a small ``maxmemory`` (bytes) so eviction can be watched at lesson scale.

    On AWS, ``maxmemory`` follows from the node type (e.g. cache.t4g.micro: 0.5 GiB, minus the 25 %
    ``reserved-memory-percent``); filling that takes minutes, so the sandbox lets a lesson shrink it. ``None``
    removes the limit. The policy comes from the cluster's parameter group (``maxmemory-policy``, default
    ``volatile-lru``).
    """
    kind, obj = _resource(resource_id)
    if _engine(obj) == "memcached":
        raise InputError("set_maxmemory is for Redis OSS / Valkey resources; memcached nodes evict by LRU at their "
                         "own memory limit.")  # fmt: skip
    if nbytes is not None:
        require_number("nbytes", nbytes, minimum=1024, integer=True)
    with _state.lock:
        if nbytes is None:
            _state.maxmemory.pop(resource_id, None)
        else:
            _state.maxmemory[resource_id] = int(nbytes)


def flush_metrics() -> int:
    """Write the nodes' counters to CloudWatch (namespace ``AWS/ElastiCache``, per ``CacheClusterId`` and
    ``CacheNodeId``) at the sandbox clock's time; returns how many datapoints were written.

    ``CacheHits``, ``CacheMisses`` and ``Evictions`` are written as the increase since the last flush (sums per
    period, as AWS reports them); ``CurrConnections`` and ``CurrItems`` as the current value.
    """
    from stacklab.sandbox import client, current

    be = _backend()
    when = current().clock.now()
    data: list[dict[str, Any]] = []
    resources = [("replication-group", r) for r in be.replication_groups.values() if hasattr(r, "_sl_groups")]
    resources += [("cluster", c) for c in be.cache_clusters.values()
                  if hasattr(c, "_sl_node_ids") and not getattr(c, "_sl_member", False)]  # fmt: skip
    for kind, obj in resources:
        redis_keys, mc_keys = _node_keys(kind, obj)
        rows = [(k, "0001", _node_stats(k)) for k in redis_keys if k in _state.redis]
        rows += [(c, n, _memcached_stats((c, n))) for c, n in mc_keys if (c, n) in _state.memcached]
        for cluster_id, node_id, values in rows:
            previous = _state.published.get((cluster_id, node_id), {})
            _state.published[(cluster_id, node_id)] = dict(values)
            dims = [{"Name": "CacheClusterId", "Value": cluster_id}, {"Name": "CacheNodeId", "Value": node_id}]
            for name, value in values.items():
                if name in ("CacheHits", "CacheMisses", "Evictions"):
                    value -= previous.get(name, 0)
                data.append({"MetricName": name, "Dimensions": dims, "Timestamp": when, "Value": float(value),
                             "Unit": "Count"})  # fmt: skip
    cw = client("cloudwatch")
    for i in range(0, len(data), 500):
        cw.put_metric_data(Namespace="AWS/ElastiCache", MetricData=data[i : i + 500])
    return len(data)

"""The ElastiCache operations moto 5.2.5 lacks or only stores, added to its ``ElastiCacheResponse`` by
:mod:`stacklab.planes.cache` (so boto3 and ``!aws elasticache`` both reach them).

* ``describe_cache_clusters``: ``ShowCacheNodeInfo`` (``CacheNodes`` only when asked, as AWS) and
  ``ShowCacheClustersNotInReplicationGroups``;
* ``modify_cache_cluster``: ``NumCacheNodes`` (memcached: add nodes; remove the ``CacheNodeIdsToRemove``),
  ``CacheNodeType``, ``CacheParameterGroupName``; without ``ApplyImmediately`` the change waits in
  ``PendingModifiedValues`` (AWS applies it in the next maintenance window; the sandbox never does);
* ``test_failover`` (needs automatic failover and a replica; the first replica is promoted) with AWS's events
  in ``describe_events``; ``increase_replica_count`` / ``decrease_replica_count`` (``ApplyImmediately=True``,
  at most 5 replicas, at least 1 with automatic failover, never the primary);
* ``modify_replication_group`` ``AuthToken`` with ``AuthTokenUpdateStrategy`` ``ROTATE`` / ``SET`` / ``DELETE``;
* ``modify_replication_group_shard_configuration``: online resharding (cluster mode enabled only);
* ``copy_snapshot``: a copy in ElastiCache, or an export to S3 (``TargetBucket``: ``TARGET-<node group>.rdb``);
* plus the handlers of :mod:`stacklab.planes.cache_serverless`, :mod:`stacklab.planes.cache_parameters` and
  :mod:`stacklab.planes.cache_rbac`.
"""

from __future__ import annotations

import copy
from typing import Any

from stacklab.planes import cache, cache_parameters, cache_rbac, cache_serverless, cache_snapshots
from stacklab.planes.cache import _error

__all__ = ["install"]


def install(cls: Any) -> None:
    """Response handlers for what moto's ElastiCache lacks (boto3 and ``!aws`` both reach them)."""
    from moto.core.responses import ActionResult, PaginatedResult
    from moto.elasticache.exceptions import CacheClusterNotFound

    def describe_cache_clusters(self: Any) -> Any:
        clusters = self.elasticache_backend.describe_cache_clusters(cache_cluster_id=self._get_param("CacheClusterId"))
        if self._get_bool_param("ShowCacheClustersNotInReplicationGroups"):
            clusters = [c for c in clusters if not getattr(c, "_sl_member", False)]
        cache._show.nodes = bool(self._get_bool_param("ShowCacheNodeInfo"))
        try:
            _, _, body = self.serialized(PaginatedResult({"CacheClusters": clusters}))
        finally:
            cache._show.nodes = False
        return body

    def modify_cache_cluster(self: Any) -> Any:
        be = self.elasticache_backend
        cid = self._get_param("CacheClusterId")
        cluster = be.cache_clusters.get(cid)
        if cluster is None:
            raise CacheClusterNotFound(cid)
        count = self._get_int_param("NumCacheNodes")
        remove = self._get_param("CacheNodeIdsToRemove") or []
        node_type = self._get_param("CacheNodeType")
        group = self._get_param("CacheParameterGroupName")
        if count is not None:
            cache._validate_cluster({"engine": cache._engine(cluster), "num_cache_nodes": count})
        if cache._engine(cluster) == "memcached" and count is not None:
            current = list(cluster._sl_node_ids)
            if count < len(current):
                if len(remove) != len(current) - count or any(r not in current for r in remove):
                    raise _error("InvalidParameterValue",
                                 f"To go from {len(current)} to {count} nodes, list the {len(current) - count} "
                                 f"node id(s) to remove in CacheNodeIdsToRemove (nodes: {', '.join(current)}).")
        apply_now = bool(self._get_bool_param("ApplyImmediately"))
        pending: dict[str, Any] = {}
        if not apply_now:
            if count is not None and count != cluster.num_cache_nodes:
                pending["num_cache_nodes"] = count
                if remove:
                    pending["cache_node_ids_to_remove"] = remove
            if node_type and node_type != cluster.cache_node_type:
                pending["cache_node_type"] = node_type
            cluster.pending_modified_values = pending or None
        else:
            _apply_cluster_change(be, cluster, count, remove, node_type)
            cluster.pending_modified_values = None
        if group:
            cluster.cache_parameter_group_name = group
        return ActionResult({"CacheCluster": cluster})

    def test_failover(self: Any) -> Any:
        be = self.elasticache_backend
        rg = _rg_or_fail(be, self._get_param("ReplicationGroupId"))
        group = _group_or_fail(rg, self._get_param("NodeGroupId"))
        if rg.automatic_failover != "enabled":
            raise _error("InvalidReplicationGroupState",
                         f"Replication group {rg.replication_group_id} does not have automatic failover enabled: "
                         "enable it first (modify_replication_group AutomaticFailoverEnabled=True).")
        replicas = [m for m in group["members"] if m != group["primary"]]
        if not replicas:
            raise _error("InvalidReplicationGroupState", f"Node group {group['id']} has no replica to promote.")
        old = group["primary"]
        _event(be, rg.replication_group_id, "replication-group",
               f"Test Failover API called for node group {group['id']}")  # fmt: skip
        group["primary"] = replicas[0]
        cache._sync_rg(be, rg)
        done = f"Failover from primary node {old} to replica node {replicas[0]} completed"
        _event(be, old, "cache-cluster", done)
        _event(be, rg.replication_group_id, "replication-group", done)
        _event(be, old, "cache-cluster", f"Recovering cache nodes {old}")
        _event(be, old, "cache-cluster", f"Finished recovery for cache nodes {old}")
        return ActionResult({"ReplicationGroup": rg})

    def modify_replication_group_shard_configuration(self: Any) -> Any:
        be = self.elasticache_backend
        rg = _rg_or_fail(be, self._get_param("ReplicationGroupId"))
        count = self._get_int_param("NodeGroupCount")
        if not rg._sl_cluster_mode:
            raise _error("InvalidReplicationGroupState",
                         f"{rg.replication_group_id} has cluster mode disabled: scale it up (CacheNodeType) or "
                         "add replicas instead.")
        if not self._get_bool_param("ApplyImmediately"):
            raise _error("InvalidParameterValue", "ApplyImmediately must be true for online resharding.")
        if count is None or not 1 <= count <= 500:
            raise _error("InvalidParameterValue", "NodeGroupCount must be between 1 and 500.")
        remove = list(self._get_param("NodeGroupsToRemove") or [])
        _reshard(be, rg, count, remove)
        return ActionResult({"ReplicationGroup": rg})

    def describe_events(self: Any) -> Any:
        events = list(getattr(self.elasticache_backend, "_sl_events", []))
        source, kind = self._get_param("SourceIdentifier"), self._get_param("SourceType")
        events = [e for e in events if (not source or e["SourceIdentifier"] == source)
                  and (not kind or e["SourceType"] == kind)]  # fmt: skip
        return ActionResult({"Events": list(reversed(events))})

    def change_replicas(self: Any, increase: bool) -> Any:
        be = self.elasticache_backend
        rg = _rg_or_fail(be, self._get_param("ReplicationGroupId"))
        if not self._get_bool_param("ApplyImmediately"):
            raise _error("InvalidParameterValue", "ApplyImmediately must be true: changing the replica count later "
                                                  "is not supported.")  # fmt: skip
        count = self._get_int_param("NewReplicaCount")
        per_group = {c.get("NodeGroupId"): int(c.get("NewReplicaCount"))
                     for c in self._get_param("ReplicaConfiguration") or []}  # fmt: skip
        remove = list(self._get_param("ReplicasToRemove") or [])
        if count is None and not per_group and not remove:
            raise _error("InvalidParameterValue", "Give NewReplicaCount (or ReplicaConfiguration"
                                                  f"{'' if increase else ' or ReplicasToRemove'}).")  # fmt: skip
        for group in cache._groups(rg):
            current = len(group["members"]) - 1
            target = per_group.get(group["id"], count)
            to_remove = [m for m in remove if m in group["members"]]
            if target is None and not to_remove:
                continue
            if group["primary"] in to_remove:
                raise _error("InvalidParameterValue", f"{group['primary']} is the primary; only replicas can be "
                                                      "removed (fail over first to remove this node).")  # fmt: skip
            if target is None:
                target = current - len(to_remove)
            if increase and not current < target <= cache.MAX_REPLICAS:
                raise _error("InvalidParameterValue", f"NewReplicaCount must be greater than the current {current} "
                                                      "and at most 5.")  # fmt: skip
            if not increase and not 0 <= target < current:
                raise _error("InvalidParameterValue", f"NewReplicaCount must be less than the current {current}.")
            if not increase and target < 1 and rg.automatic_failover == "enabled":
                raise _error("InvalidParameterCombination", "With automatic failover enabled a shard keeps at least "
                                                            "one replica.")  # fmt: skip
            while len(group["members"]) - 1 < target:
                cache._add_member(be, rg, group)
            victims = to_remove or [m for m in group["members"] if m != group["primary"]][target - current:]
            for cluster_id in victims[: max(0, len(group["members"]) - 1 - target)]:
                cache._remove_member(be, rg, group, cluster_id)
        cache._sync_rg(be, rg)
        return ActionResult({"ReplicationGroup": rg})

    def increase_replica_count(self: Any) -> Any:
        return change_replicas(self, True)

    def decrease_replica_count(self: Any) -> Any:
        return change_replicas(self, False)

    def copy_snapshot(self: Any) -> Any:
        be = self.elasticache_backend
        source = self._get_param("SourceSnapshotName")
        target = self._get_param("TargetSnapshotName")
        bucket = self._get_param("TargetBucket")
        if source not in be.snapshots:
            from moto.elasticache.exceptions import SnapshotNotFound

            raise SnapshotNotFound(source)
        snap = be.snapshots[source]
        copied = copy.copy(snap)
        copied.snapshot_name = target
        copied.arn = snap.arn.rsplit(":", 1)[0] + f":{target}"
        if bucket:
            _export(be, snap, bucket, target)
            return ActionResult({"Snapshot": copied})
        if target in be.snapshots:
            from moto.elasticache.exceptions import SnapshotAlreadyExists

            raise SnapshotAlreadyExists(target)
        be.snapshots[target] = copied
        return ActionResult({"Snapshot": copied})

    modify_rg = cls.modify_replication_group

    def modify_replication_group(self: Any) -> Any:
        be = self.elasticache_backend
        token = self._get_param("AuthToken")
        strategy = (self._get_param("AuthTokenUpdateStrategy") or "").upper()
        rg = _rg_or_fail(be, self._get_param("ReplicationGroupId"))
        if token is not None or strategy:
            _rotate_token(rg, token, strategy)
        return modify_rg(self)

    for name, handler in {"describe_cache_clusters": describe_cache_clusters,
                          "modify_cache_cluster": modify_cache_cluster, "test_failover": test_failover,
                          "increase_replica_count": increase_replica_count,
                          "decrease_replica_count": decrease_replica_count, "copy_snapshot": copy_snapshot,
                          "modify_replication_group": modify_replication_group, "describe_events": describe_events,
                          "modify_replication_group_shard_configuration": modify_replication_group_shard_configuration,
                          **cache_serverless.handlers(), **cache_parameters.handlers(),
                          **cache_rbac.handlers()}.items():  # fmt: skip
        setattr(cls, name, handler)


def _rotate_token(rg: Any, token: str | None, strategy: str) -> None:
    """AUTH token changes: ``ROTATE`` adds a token (old and new both work), ``SET`` keeps only the new one,
    ``DELETE`` removes AUTH (AWS allows it only with in-transit encryption mode ``preferred``)."""
    if strategy not in ("SET", "ROTATE", "DELETE"):
        raise _error("InvalidParameterValue", "AuthTokenUpdateStrategy must be SET, ROTATE or DELETE.")
    if strategy == "DELETE":
        if token:
            raise _error("InvalidParameterCombination", "Do not pass AuthToken with AuthTokenUpdateStrategy=DELETE.")
        rg._sl_auth_token, rg._sl_old_tokens = None, []
        rg.auth_token_enabled = False
        return
    if token is None:
        raise _error("InvalidParameterValue", f"AuthTokenUpdateStrategy={strategy} needs AuthToken.")
    cache._check_token(token, rg.transit_encryption_enabled)
    old = getattr(rg, "_sl_auth_token", None)
    rg._sl_old_tokens = [old] if strategy == "ROTATE" and old and old != token else []
    rg._sl_auth_token = token
    rg.auth_token_enabled = True
    rg.auth_token_last_modified_date = cache._clock_now()


def _reshard(be: Any, rg: Any, count: int, remove: list[str]) -> None:
    """Online resharding: add or remove shards, split the 16,384 slots evenly again and move every key to the
    shard that now owns its slot (AWS moves slots one by one while serving; here it happens at once)."""
    from stacklab.planes.cache_redis import key_slot

    groups = cache._groups(rg)
    rid = rg.replication_group_id
    current = len(groups)
    if count == current:
        raise _error("InvalidParameterValue", f"{rid} already has {count} node groups.")
    if count < current:
        remove = remove or [g["id"] for g in groups[count:]]
        unknown = [r for r in remove if r not in {g["id"] for g in groups}]
        if unknown or len(remove) != current - count:
            raise _error("InvalidParameterValue", f"List {current - count} node group(s) to remove in "
                                                  f"NodeGroupsToRemove (its node groups: "
                                                  f"{', '.join(g['id'] for g in groups)}).")  # fmt: skip
    entries: list[dict[str, Any]] = []
    now = cache._now_ms()
    for group in groups:
        shard = cache._shard(f"{rid}/{group['id']}")
        entries += cache_snapshots.capture(shard.client(), now)
        shard.client().flushall()
    replicas = len(groups[0]["members"]) - 1
    for group in [g for g in groups if g["id"] in remove]:
        for cluster_id in list(group["members"]):
            cache._remove_member(be, rg, group, cluster_id)
        groups.remove(group)
        with cache._state.lock:
            cache._state.shards.pop(f"{rid}/{group['id']}", None)
    used = {g["id"] for g in groups}
    next_id = 1
    while len(groups) < count:
        while f"{next_id:04d}" in used:
            next_id += 1
        group = {"id": f"{next_id:04d}", "slots": None, "members": [], "primary": ""}
        used.add(group["id"])
        groups.append(group)
        for _ in range(replicas + 1):
            cache._add_member(be, rg, group)
        group["primary"] = group["members"][0]
    groups.sort(key=lambda g: g["id"])
    for group, slots in zip(groups, cache._slot_ranges(count), strict=True):
        group["slots"] = slots
    cache._sync_rg(be, rg)
    owner = {g["id"]: cache._shard(f"{rid}/{g['id']}").client() for g in groups}

    def client_for(key: bytes) -> Any:
        slot = key_slot(key)
        return owner[next(g["id"] for g in groups if g["slots"][0] <= slot <= g["slots"][1])]

    cache_snapshots.load(entries, client_for, now)
    _event(be, rid, "replication-group", f"Online resharding to {count} node groups completed")


def _event(be: Any, source: str, kind: str, message: str) -> None:
    """Record an ElastiCache event (``describe_events``, newest first) at the sandbox clock's time."""
    if not hasattr(be, "_sl_events"):
        be._sl_events = []
    when = cache._clock_now()
    be._sl_events.append({"SourceIdentifier": source, "SourceType": kind, "Message": message, "Date": when})


def _rg_or_fail(be: Any, rg_id: str) -> Any:
    rg = be.replication_groups.get(rg_id or "")
    if rg is None or not hasattr(rg, "_sl_groups"):
        from moto.elasticache.exceptions import ReplicationGroupNotFound

        raise ReplicationGroupNotFound(rg_id)
    return rg


def _group_or_fail(rg: Any, group_id: str) -> dict[str, Any]:
    for group in cache._groups(rg):
        if group["id"] == group_id:
            return group
    raise _error("NodeGroupNotFoundFault", f"Node group {group_id} not found in replication group "
                                           f"{rg.replication_group_id} (its node groups: "
                                           f"{', '.join(g['id'] for g in cache._groups(rg))}).")  # fmt: skip


def _apply_cluster_change(be: Any, cluster: Any, count: int | None, remove: list[str], node_type: str | None) -> None:
    if node_type:
        cluster.cache_node_type = node_type  # vertical scaling: a new node type, same data (stored only)
    if cache._engine(cluster) != "memcached" or count is None:
        return
    ids = list(cluster._sl_node_ids)
    if count < len(ids):
        cache._stop_memcached(cluster.cache_cluster_id, remove)
        ids = [i for i in ids if i not in remove]
    n = max([int(i) for i in cluster._sl_node_ids] + [0])
    while len(ids) < count:
        n += 1
        ids.append(f"{n:04d}")
    cluster._sl_node_ids = ids
    cluster.num_cache_nodes = count
    cache._sync_memcached(be, cluster)


def _export(be: Any, snap: Any, bucket: str, target: str) -> None:
    from moto.s3.models import s3_backends

    s3 = s3_backends[be.account_id]["aws"]
    if bucket not in s3.buckets:
        raise _error("InvalidParameterValue", f"The S3 bucket {bucket} does not exist. Create it in the same "
                                              "Region as the snapshot first.")  # fmt: skip
    parts = getattr(snap, "_sl_parts", {"0001": list(getattr(snap, "_sl_data", []))})
    keys = {f"{target}-{group}.rdb": entries for group, entries in sorted(parts.items())}
    for key in keys:
        if key in s3.buckets[bucket].keys:
            raise _error("SnapshotAlreadyExistsFault", f"{key} already exists in bucket {bucket}: choose another "
                                                       "TargetSnapshotName.")  # fmt: skip
    for key, entries in keys.items():
        s3.put_object(bucket, key, cache_snapshots.dumps(entries))

"""Helpers shared by the ElastiCache plane's tests (tests/test_cache_*.py)."""

from __future__ import annotations

import threading
from typing import Any

import stacklab

TOKEN = "correct-horse-battery-1"


def fresh() -> None:
    """Reset the sandbox, after the sandbox's background warm-up has finished importing.

    Outside IPython the warm-up imports moto's modules at once; a reset that walks ``sys.modules`` meanwhile can
    hit "dictionary changed size during iteration" (a race in sandbox._forget_backends, reported).
    """
    for thread in threading.enumerate():
        if thread.name == "stacklab-warm-up":
            thread.join(timeout=60)
    stacklab.reset()


def ec() -> Any:
    """An ElastiCache client of the sandbox."""
    return stacklab.client("elasticache")


def redis_cluster(cid: str = "c1", **kw: Any) -> dict[str, Any]:
    """Create a one-node Redis OSS cluster."""
    return ec().create_cache_cluster(CacheClusterId=cid, Engine="redis", CacheNodeType="cache.t4g.micro",
                                     NumCacheNodes=1, **kw)["CacheCluster"]  # fmt: skip


def group(rid: str = "rg1", clusters: int = 3, **kw: Any) -> dict[str, Any]:
    """Create a cluster mode disabled replication group of ``clusters`` nodes (failover on when it can be)."""
    kw.setdefault("AutomaticFailoverEnabled", clusters > 1)
    return ec().create_replication_group(ReplicationGroupId=rid, ReplicationGroupDescription="test", Engine="redis",
                                         CacheNodeType="cache.t4g.micro", NumCacheClusters=clusters,
                                         **kw)["ReplicationGroup"]  # fmt: skip


def sharded(rid: str = "cm", shards: int = 3, replicas: int = 1) -> dict[str, Any]:
    """Create a cluster mode enabled replication group."""
    return ec().create_replication_group(ReplicationGroupId=rid, ReplicationGroupDescription="test", Engine="redis",
                                         CacheNodeType="cache.t4g.micro", NumNodeGroups=shards,
                                         ReplicasPerNodeGroup=replicas,
                                         AutomaticFailoverEnabled=True)["ReplicationGroup"]  # fmt: skip

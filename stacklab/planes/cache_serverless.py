"""ElastiCache Serverless for the sandbox: ``create_serverless_cache`` / ``describe_serverless_caches`` /
``delete_serverless_cache``, which moto 5.2.5 lacks, added to moto's ElastiCache with AWS's response shapes.

A serverless cache is stored on moto's ElastiCache backend (``serverless_caches``) and served by one node of
the plane (:mod:`stacklab.planes.cache_redis` for ``redis``/``valkey``, :mod:`stacklab.planes.cache_memcached`
for ``memcached``) behind AWS's endpoint names: ``NAME-abc123.serverless.use1.cache.amazonaws.com`` on port
6379 (Redis OSS / Valkey; ``ReaderEndpoint`` on 6380, reads from replicas) or 11211 (Memcached).

Simplifications, said plainly: the cache is ``available`` at once (AWS takes minutes), runs on a single node
(AWS scales it out and in by itself within ``CacheUsageLimits``: ``DataStorage`` in GB and
``ECPUPerSecond``, which are stored, not enforced), and speaks plain TCP (AWS serverless caches require TLS).
"""

from __future__ import annotations

from typing import Any

from stacklab.planes import cache, cache_memcached

__all__ = ["handlers"]

_ENGINES = {"redis": ("7", "7.1"), "valkey": ("8", "8.0"), "memcached": ("1.6", "1.6.22")}


class ServerlessCache:
    """moto-style record of a serverless cache (attributes named as the API's members, snake_case)."""

    def __init__(self, be: Any, name: str, engine: str, params: dict[str, Any]) -> None:
        major, full = _ENGINES[engine]
        self.serverless_cache_name = name
        self.description = params.get("Description") or ""
        self.create_time = cache._clock_now()
        self.status = "available"
        self.engine = engine
        self.major_engine_version = params.get("MajorEngineVersion") or major
        self.full_engine_version = full
        self.cache_usage_limits = params.get("CacheUsageLimits")
        self.security_group_ids = params.get("SecurityGroupIds") or []
        self.subnet_ids = params.get("SubnetIds") or []
        self.user_group_id = params.get("UserGroupId")
        self.snapshot_retention_limit = params.get("SnapshotRetentionLimit") or 0
        self.daily_snapshot_time = params.get("DailySnapshotTime") or "04:00"
        self.arn = f"arn:aws:elasticache:{be.region_name}:{be.account_id}:serverlesscache:{name}"
        label = cache._domain(be).split(".", 1)
        host = f"{name}-{label[0]}.serverless.{label[1]}"
        port = cache.MEMCACHED_PORT if engine == "memcached" else cache.REDIS_PORT
        self.endpoint = {"address": host, "port": port}
        self.reader_endpoint = None if engine == "memcached" else {"address": host, "port": 6380}


def _node_key(name: str) -> str:
    return f"serverless:{name}"


def _start(be: Any, item: ServerlessCache) -> None:
    key = _node_key(item.serverless_cache_name)
    if item.engine == "memcached":
        with cache._state.lock:
            node = cache._state.memcached.get((key, "0001")) or cache_memcached.start_node(64)
            cache._state.memcached[(key, "0001")] = node
        local = node.port
    else:
        local = cache._start_redis_node(key, cache._shard(key)).port
    cache._register(key, item.endpoint["address"], item.endpoint["port"], local)
    if item.reader_endpoint:
        cache._register(key, item.reader_endpoint["address"], item.reader_endpoint["port"], local)


def _stop(name: str) -> None:
    key = _node_key(name)
    cache._unregister(key)
    cache._stop_redis_node(key)
    cache._stop_memcached(key)
    with cache._state.lock:
        cache._state.shards.pop(key, None)


def _not_found(name: str) -> Exception:
    return cache._error("ServerlessCacheNotFoundFault", f"Serverless cache {name} not found.")


def handlers() -> dict[str, Any]:
    """The response methods to add to moto's ``ElastiCacheResponse``."""
    from moto.core.responses import ActionResult

    def store(self: Any) -> dict[str, ServerlessCache]:
        be = self.elasticache_backend
        if not hasattr(be, "serverless_caches"):
            be.serverless_caches = {}
        return be.serverless_caches  # type: ignore[no-any-return]

    def create_serverless_cache(self: Any) -> Any:
        be = self.elasticache_backend
        params = self._get_params()
        name = params.get("ServerlessCacheName") or ""
        engine = (params.get("Engine") or "").lower()
        if engine not in _ENGINES:
            message = f"Engine must be one of redis, valkey, memcached; got {engine!r}."
            raise cache._error("InvalidParameterValue", message)
        if not name or len(name) > 40 or not name[0].isalpha() or "--" in name or name.endswith("-") or \
                not all(c.isalnum() or c == "-" for c in name):
            raise cache._error("InvalidParameterValue", "ServerlessCacheName must be 1-40 letters, digits or hyphens, "
                                                        "start with a letter, and have no two consecutive hyphens "
                                                        "nor end with one.")  # fmt: skip
        caches = store(self)
        if name in caches:
            raise cache._error("ServerlessCacheAlreadyExistsFault", f"Serverless cache {name} already exists.")
        item = ServerlessCache(be, name, engine, params)
        caches[name] = item
        _start(be, item)
        return ActionResult({"ServerlessCache": item})

    def describe_serverless_caches(self: Any) -> Any:
        caches = store(self)
        name = self._get_param("ServerlessCacheName")
        if name:
            if name not in caches:
                raise _not_found(name)
            return ActionResult({"ServerlessCaches": [caches[name]]})
        return ActionResult({"ServerlessCaches": list(caches.values())})

    def delete_serverless_cache(self: Any) -> Any:
        caches = store(self)
        name = self._get_param("ServerlessCacheName")
        if name not in caches:
            raise _not_found(name)
        item = caches.pop(name)
        item.status = "deleting"
        _stop(name)
        return ActionResult({"ServerlessCache": item})

    return {"create_serverless_cache": create_serverless_cache,
            "describe_serverless_caches": describe_serverless_caches,
            "delete_serverless_cache": delete_serverless_cache}  # fmt: skip

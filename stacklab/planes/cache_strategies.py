"""Caching strategies over a real cache client and a real (or simulated) database, measured honestly.

* :class:`LazyLoading` (cache-aside): read the cache; on a miss read the database and put the value in the
  cache with a TTL (optionally with jitter, so keys written together do not all expire together). Writes go
  to the database only (``put``), so the cache can serve stale data until the TTL ends.
* :class:`WriteThrough`: reads as lazy loading; ``put`` writes the database **and** the cache, so reads after
  a write are fresh, at the price of a cache write per database write (and caching data never read).

Both take any ``redis.Redis`` (``decode_responses=True``) or pymemcache client, and two callables:
``load(key) -> str | None`` (read the database, e.g. a ``SELECT`` through psycopg on the lesson-11
PostgreSQL) and ``store(key, value)`` (write it). :meth:`Strategy.report` gives counts and ratios that do
not vary between runs: ``hit_ratio``, ``cache_reads``, ``db_reads``, ``db_writes``, ``cache_writes``,
``stale_reads`` (when ``check_freshness=True``, each cache hit is compared with the database) and
``speedup``: mean database read time / mean cache read time, rounded to a class (``"<2x"``, ``"2-10x"``,
``"10-100x"``, ``">100x"``), never raw wall time.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from stacklab._validate import require_bool, require_number, require_str
from stacklab.errors import InputError

__all__ = ["LazyLoading", "WriteThrough", "speedup_class", "ttl_with_jitter"]


def ttl_with_jitter(ttl: int, jitter: int, rng: random.Random) -> int:
    """``ttl`` plus a random 0..``jitter`` seconds (spreads expiries so keys do not all miss together)."""
    require_number("ttl", ttl, minimum=1, integer=True)
    require_number("jitter", jitter, minimum=0, integer=True)
    return ttl + (rng.randint(0, jitter) if jitter else 0)


def speedup_class(ratio: float) -> str:
    """A rounded class for a latency ratio (outputs must not show raw, varying timings)."""
    require_number("ratio", ratio, minimum=0)
    if ratio < 2:
        return "<2x"
    if ratio < 10:
        return "2-10x"
    if ratio < 100:
        return "10-100x"
    return ">100x"


class _Client:
    """Adapter: the same get/set over redis-py and pymemcache."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.memcached = not hasattr(client, "setex")
        if not hasattr(client, "get") or not hasattr(client, "set"):
            raise InputError("cache must be a redis-py client (redis.Redis) or a pymemcache client.")

    def get(self, key: str) -> str | None:
        value = self.client.get(key)
        if isinstance(value, bytes):
            return value.decode()
        return value  # type: ignore[no-any-return]

    def set(self, key: str, value: str, ttl: int | None) -> None:
        if self.memcached:
            self.client.set(key, value, expire=ttl or 0)
        else:
            self.client.set(key, value, ex=ttl)


class Strategy:
    """Shared bookkeeping of the two strategies (use :class:`LazyLoading` or :class:`WriteThrough`)."""

    name = "strategy"

    def __init__(
        self,
        cache: Any,
        load: Callable[[str], str | None],
        store: Callable[[str, str], None],
        *,
        ttl: int | None = 300,
        jitter: int = 0,
        seed: int = 0,
        check_freshness: bool = False,
    ) -> None:
        if not callable(load) or not callable(store):
            raise InputError("load and store must be callables: load(key) -> str | None, store(key, value).")
        if ttl is not None:
            require_number("ttl", ttl, minimum=1, integer=True)
        require_number("jitter", jitter, minimum=0, integer=True)
        require_bool("check_freshness", check_freshness)
        self.cache = _Client(cache)
        self.load, self.store = load, store
        self.ttl, self.jitter = ttl, jitter
        self.rng = random.Random(seed)
        self.check_freshness = check_freshness
        names = ("cache_reads", "hits", "db_reads", "db_writes", "cache_writes", "stale_reads")
        self.counts = dict.fromkeys(names, 0)
        self._cache_time = 0.0
        self._db_time = 0.0

    def _ttl(self) -> int | None:
        return None if self.ttl is None else ttl_with_jitter(self.ttl, self.jitter, self.rng)

    def _db_read(self, key: str) -> str | None:
        start = time.perf_counter()
        value = self.load(key)
        self._db_time += time.perf_counter() - start
        self.counts["db_reads"] += 1
        return value

    def get(self, key: str) -> str | None:
        """Read ``key``: from the cache, else from the database (then cached with the TTL)."""
        require_str("key", key)
        start = time.perf_counter()
        value = self.cache.get(key)
        self._cache_time += time.perf_counter() - start
        self.counts["cache_reads"] += 1
        if value is not None:
            self.counts["hits"] += 1
            if self.check_freshness:
                fresh = self.load(key)
                if fresh != value:
                    self.counts["stale_reads"] += 1
            return value
        value = self._db_read(key)
        if value is not None:
            self.cache.set(key, value, self._ttl())
            self.counts["cache_writes"] += 1
        return value

    def put(self, key: str, value: str) -> None:
        """Write ``key`` (the strategy decides whether the cache is written too)."""
        raise NotImplementedError

    def report(self) -> dict[str, Any]:
        """Counts and ratios (deterministic for a given sequence of calls), and the rounded speed-up class."""
        reads, hits = self.counts["cache_reads"], self.counts["hits"]
        misses = reads - hits
        out: dict[str, Any] = {"strategy": self.name, **{k: v for k, v in self.counts.items() if k != "hits"}}
        out["hit_ratio"] = round(hits / reads, 3) if reads else 0.0
        if reads and misses and self._cache_time > 0:
            out["speedup"] = speedup_class((self._db_time / misses) / (self._cache_time / reads))
        else:
            out["speedup"] = "n/a"
        return out


class LazyLoading(Strategy):
    """Cache-aside: writes go to the database only; the cache fills on misses and may be stale until the TTL."""

    name = "lazy loading"

    def put(self, key: str, value: str) -> None:
        """Write the database only (the cached copy, if any, stays until its TTL ends)."""
        require_str("key", key)
        require_str("value", value, allow_empty=True)
        self.store(key, value)
        self.counts["db_writes"] += 1


class WriteThrough(Strategy):
    """Every write goes to the database and the cache, so reads after a write are fresh."""

    name = "write-through"

    def put(self, key: str, value: str) -> None:
        """Write the database, then the cache (with the TTL, so unread data still expires)."""
        require_str("key", key)
        require_str("value", value, allow_empty=True)
        self.store(key, value)
        self.counts["db_writes"] += 1
        self.cache.set(key, value, self._ttl())
        self.counts["cache_writes"] += 1

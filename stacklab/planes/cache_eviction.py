"""Eviction under ``maxmemory`` for the Redis nodes of the ElastiCache plane (fakeredis never evicts).

A measured-memory model, honest about what it is: a key costs the bytes of its name and value(s) plus
:data:`KEY_OVERHEAD` bytes (roughly what Redis spends on a key's dict entry and object headers). Before a
write, as Redis does, when the used memory is over ``maxmemory`` keys are evicted by the policy until it is
not; then the write runs (so memory may exceed the limit by one write, as on Redis). Policies (Redis's names,
the ``maxmemory-policy`` parameter; ElastiCache's default is ``volatile-lru``):

* ``noeviction`` → the write is refused: ``OOM command not allowed when used memory > 'maxmemory'.``;
* ``allkeys-lru`` / ``volatile-lru``: least recently used first (exact LRU over a logical access counter;
  Redis approximates it by sampling ``maxmemory-samples`` keys);
* ``allkeys-lfu`` / ``volatile-lfu``: least frequently used first (exact counts; Redis uses a decaying
  logarithmic counter);
* ``allkeys-random`` / ``volatile-random``: a seeded random key;
* ``volatile-ttl``: the key that expires soonest.

``volatile-*`` policies evict only keys with a TTL; with none left, the write gets the OOM error (as Redis).
"""

from __future__ import annotations

import random
from typing import Any

from stacklab.errors import InputError
from stacklab.planes.cache_clock import server_time

__all__ = ["KEY_OVERHEAD", "POLICIES", "make_room", "used_memory"]

KEY_OVERHEAD = 64
POLICIES = ("noeviction", "allkeys-lru", "volatile-lru", "allkeys-lfu", "volatile-lfu", "allkeys-random",
            "volatile-random", "volatile-ttl")  # fmt: skip
OOM = "OOM command not allowed when used memory > 'maxmemory'."


def _size(value: Any) -> int:
    if isinstance(value, (bytes, str)):
        return len(value)
    if isinstance(value, (int, float)):
        return 8
    if isinstance(value, dict):
        return sum(_size(k) + _size(v) for k, v in value.items())
    try:
        return sum(_size(v) for v in value)
    except TypeError:
        return 16


def _items(shard: Any) -> dict[bytes, tuple[int, float | None]]:
    """key -> (bytes, expire-at or None) for the live keys of a shard's data set."""
    if shard.fake is None:
        client = shard.client()
        out: dict[bytes, tuple[int, float | None]] = {}
        for key in client.scan_iter(count=1000):
            ttl = client.pttl(key)
            out[key] = (int(client.memory_usage(key) or 0), ttl / 1000 if ttl and ttl > 0 else None)
        return out
    now = server_time()
    db = shard.fake.dbs[0]
    with shard.fake.lock:
        entries = list(db._dict.items())
    return {key: (len(key) + _size(item.value) + KEY_OVERHEAD, item.expireat)
            for key, item in entries if item.expireat is None or item.expireat >= now}  # fmt: skip


def used_memory(shard: Any) -> int:
    """Bytes the shard's live keys use in the model (``INFO memory`` ``used_memory`` of its nodes)."""
    return sum(size for size, _ in _items(shard).values())


def make_room(shard: Any, maxmemory: int, policy: str) -> str | None:
    """Evict by ``policy`` until the shard fits ``maxmemory``; the OOM error text when the write must be refused."""
    if policy not in POLICIES:
        raise InputError(f"maxmemory-policy must be one of {', '.join(POLICIES)}; got {policy!r}.")
    with shard.lock:
        items = _items(shard)
        used = sum(size for size, _ in items.values())
        if used <= maxmemory:
            return None
        if policy == "noeviction":
            return OOM
        rng = random.Random(f"{shard.evicted}-{len(items)}")
        client = shard.client()
        while used > maxmemory:
            candidates = [k for k, (_, exp) in items.items() if policy.startswith("allkeys") or exp is not None]
            if not candidates:
                return OOM
            victim = _victim(shard, policy, candidates, items, rng)
            client.delete(victim)
            used -= items.pop(victim)[0]
            shard.forget([victim])
            shard.evicted += 1
    return None


def _victim(shard: Any, policy: str, keys: list[bytes], items: dict[bytes, tuple[int, float | None]],
            rng: random.Random) -> bytes:  # fmt: skip
    keys = sorted(keys)
    if policy.endswith("lru"):
        return min(keys, key=lambda k: shard.last_used.get(k, 0))
    if policy.endswith("lfu"):
        return min(keys, key=lambda k: (shard.uses.get(k, 0), shard.last_used.get(k, 0)))
    if policy == "volatile-ttl":
        return min(keys, key=lambda k: items[k][1] or 0.0)
    return rng.choice(keys)

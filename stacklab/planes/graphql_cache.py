"""AppSync server-side caching: which field results are cached, under which key, for how long.

The API cache is configured with ``create_api_cache`` (moto stores it: ``ttl``, ``apiCachingBehavior``,
``type``); this module holds the cached *data* and follows AppSync's rules, reading the configuration
from moto on every request:

* ``FULL_REQUEST_CACHING``: every resolver's result is cached for the cache's ``ttl``, keyed on the
  field and the contents of ``$context.arguments`` and ``$context.identity`` (AppSync's documented
  keys; for nested fields ``$context.source`` is added, so two parents never share an entry);
* ``PER_RESOLVER_CACHING``: only resolvers with a ``cachingConfig`` are cached, for *their* ``ttl``
  (1-3600 s), keyed on the field and the values of their ``cachingKeys`` (``$context.arguments.id``,
  ``$context.identity.sub``, ``$context.source.id``; no keys = one entry for the field);
* ``OPERATION_LEVEL_CACHING``: the whole response, keyed on the query, variables, operation name
  and the caller's identity, for the cache's ``ttl``.

Entries expire on the **sandbox clock**; hits and misses are counted per API (:func:`stats`);
``flush_api_cache`` and ``delete_api_cache`` (boto3 or CLI) empty the API's entries, and so does
``stacklab.reset()``. Simplifications: no cache size limits or eviction by instance ``type``, errors
are never cached, encryption settings have no effect.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from stacklab._validate import require_str

__all__ = ["BEHAVIORS", "clear", "flush", "get", "key_for_field", "key_for_operation", "put", "stats"]

#: AppSync's caching behaviours.
BEHAVIORS = ("FULL_REQUEST_CACHING", "PER_RESOLVER_CACHING", "OPERATION_LEVEL_CACHING")
_MISSING = object()


@dataclass
class _ApiCache:
    entries: dict[str, tuple[float, Any]] = field(default_factory=dict)
    hits: int = 0
    misses: int = 0


_caches: dict[str, _ApiCache] = {}
_lock = threading.RLock()


def _now() -> float:
    from stacklab.sandbox import current

    return current().clock.time()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _lookup_path(ctx: dict[str, Any], path: str) -> Any:
    parts = path.split(".")
    root = {"arguments": ctx.get("arguments"), "identity": ctx.get("identity"), "source": ctx.get("source")}
    if parts[0] not in ("$context", "$ctx") or len(parts) < 2 or parts[1] not in root:
        return None
    value: Any = root[parts[1]]
    for part in parts[2:]:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def key_for_field(behavior: str, resolver: dict[str, Any], ctx: dict[str, Any], nested: bool) -> str | None:
    """The cache key of one field's result, or None when this field is not cached under ``behavior``."""
    where = f"{resolver['typeName']}.{resolver['fieldName']}"
    if behavior == "FULL_REQUEST_CACHING":
        parts = {"arguments": ctx.get("arguments"), "identity": ctx.get("identity")}
        if nested:
            parts["source"] = ctx.get("source")
        return f"{where}|{_canonical(parts)}"
    if behavior == "PER_RESOLVER_CACHING" and resolver.get("cachingConfig"):
        keys = resolver["cachingConfig"].get("cachingKeys") or []
        return f"{where}|{_canonical({k: _lookup_path(ctx, k) for k in keys})}"
    return None


def key_for_operation(query: str, variables: Any, operation_name: str | None, identity: Any) -> str:
    """The cache key of a whole operation (``OPERATION_LEVEL_CACHING``)."""
    return "operation|" + _canonical([query, variables or {}, operation_name, identity])


def get(api_id: str, key: str) -> tuple[bool, Any]:
    """``(True, value)`` for a live entry (a hit), else ``(False, None)`` (a miss); both are counted."""
    require_str("api_id", api_id)
    with _lock:
        cache = _caches.setdefault(api_id, _ApiCache())
        expires, value = cache.entries.get(key, (0.0, _MISSING))
        if value is not _MISSING and _now() < expires:
            cache.hits += 1
            return True, value
        cache.entries.pop(key, None)
        cache.misses += 1
        return False, None


def put(api_id: str, key: str, value: Any, ttl: float) -> None:
    """Keep ``value`` under ``key`` for ``ttl`` seconds of sandbox time."""
    require_str("api_id", api_id)
    if ttl and ttl > 0:
        with _lock:
            _caches.setdefault(api_id, _ApiCache()).entries[key] = (_now() + float(ttl), value)


def stats(api_id: str) -> dict[str, int]:
    """``{"hits", "misses", "entries"}`` of the API (live entries only)."""
    require_str("api_id", api_id)
    with _lock:
        cache = _caches.get(api_id) or _ApiCache()
        now = _now()
        live = sum(1 for expires, _ in cache.entries.values() if expires > now)
        return {"hits": cache.hits, "misses": cache.misses, "entries": live}


def flush(api_id: str) -> int:
    """Empty the API's cache (what ``flush_api_cache`` does); returns how many entries were dropped."""
    require_str("api_id", api_id)
    with _lock:
        cache = _caches.get(api_id)
        if cache is None:
            return 0
        dropped = len(cache.entries)
        cache.entries.clear()
        return dropped


def clear() -> None:
    """Forget every API's entries and counters (``stacklab.reset()`` calls it)."""
    with _lock:
        _caches.clear()


def _install() -> None:
    """Make moto's ``flush_api_cache`` / ``delete_api_cache`` empty the cached data too (idempotent)."""
    from moto.appsync.models import AppSyncBackend

    if getattr(AppSyncBackend, "_stacklab_graphql_cache", False):
        return
    flush_api_cache, delete_api_cache = AppSyncBackend.flush_api_cache, AppSyncBackend.delete_api_cache

    def flushing(self: Any, api_id: str) -> None:
        flush_api_cache(self, api_id)
        flush(api_id)

    def deleting(self: Any, api_id: str) -> None:
        delete_api_cache(self, api_id)
        flush(api_id)

    AppSyncBackend.flush_api_cache = flushing  # type: ignore[method-assign]
    AppSyncBackend.delete_api_cache = deleting  # type: ignore[method-assign]
    AppSyncBackend._stacklab_graphql_cache = True  # type: ignore[attr-defined]


def _hooks() -> None:
    from stacklab.sandbox import on_reset, on_stop

    on_reset(clear)
    on_stop(clear)


_install()
_hooks()

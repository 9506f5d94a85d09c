"""Snapshot data for the ElastiCache plane: capture a Redis data set, restore it, and the exported file format.

``create_snapshot`` (boto3) captures every live key of the source's shards with :func:`capture`: its type,
value and absolute expiry time. Restoring (``create_cache_cluster`` / ``create_replication_group`` with
``SnapshotName`` or ``SnapshotArns``) writes the keys back with :func:`load`; as with an RDB file, a key
whose expiry time has passed by then is not restored.

The file that ``copy_snapshot(TargetBucket=...)`` writes to S3 is **not a real RDB file**: it is the
sandbox's own, documented, line-oriented format (:func:`dumps` / :func:`loads`)::

    STACKLAB-RDB-JSON 1
    {"key": "<base64>", "type": "string", "value": "<base64>", "expire_at_ms": 1768467660000}
    {"key": "<base64>", "type": "hash", "value": {"<base64 field>": "<base64 value>"}, "expire_at_ms": null}

Types kept: string, hash, list, set, zset (member → score). Other types (streams, modules) are skipped and
counted. A real ``.rdb`` file (it starts with ``REDIS``) is recognised and refused with a clear message:
the sandbox cannot parse Redis's binary format.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from stacklab.errors import InputError

__all__ = ["HEADER", "capture", "dumps", "load", "loads", "size_label"]

HEADER = b"STACKLAB-RDB-JSON 1"


def _b(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _u(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))


def capture(client: Any, now_ms: int) -> list[dict[str, Any]]:
    """Every live key of the data set behind ``client`` (a redis-py client, bytes replies), sorted by key."""
    entries: list[dict[str, Any]] = []
    for key in sorted(client.scan_iter(count=1000)):
        kind = client.type(key)
        kind = kind.decode() if isinstance(kind, bytes) else str(kind)
        pttl = client.pttl(key)
        value: Any
        if kind == "string":
            value = _b(client.get(key))
        elif kind == "hash":
            value = {_b(f): _b(v) for f, v in sorted(client.hgetall(key).items())}
        elif kind == "list":
            value = [_b(v) for v in client.lrange(key, 0, -1)]
        elif kind == "set":
            value = sorted(_b(v) for v in client.smembers(key))
        elif kind == "zset":
            value = {_b(m): s for m, s in client.zrange(key, 0, -1, withscores=True)}
        else:
            continue
        entries.append({"key": _b(key), "type": kind, "value": value,
                        "expire_at_ms": now_ms + pttl if pttl is not None and pttl > 0 else None})  # fmt: skip
    return entries


def load(entries: list[dict[str, Any]], client_for: Callable[[bytes], Any], now_ms: int) -> int:
    """Write ``entries`` back (``client_for(key)`` picks the shard); returns how many keys were restored."""
    restored = 0
    for entry in entries:
        expire = entry.get("expire_at_ms")
        if expire is not None and expire <= now_ms:
            continue
        key = _u(entry["key"])
        client = client_for(key)
        kind, value = entry["type"], entry["value"]
        client.delete(key)
        if kind == "string":
            client.set(key, _u(value))
        elif kind == "hash":
            client.hset(key, mapping={_u(f): _u(v) for f, v in value.items()})
        elif kind == "list":
            client.rpush(key, *[_u(v) for v in value])
        elif kind == "set":
            client.sadd(key, *[_u(v) for v in value])
        elif kind == "zset":
            client.zadd(key, {_u(m): float(s) for m, s in value.items()})
        else:
            continue
        if expire is not None:
            client.pexpire(key, int(expire - now_ms))
        restored += 1
    return restored


def dumps(entries: list[dict[str, Any]]) -> bytes:
    """The exported file: the header line, then one JSON object per key."""
    lines = [HEADER] + [json.dumps(e, sort_keys=True).encode() for e in entries]
    return b"\n".join(lines) + b"\n"


def loads(data: bytes) -> list[dict[str, Any]]:
    """Parse an exported file (raises InputError for a real RDB file or anything else)."""
    if data.startswith(b"REDIS"):
        raise InputError("This is a real Redis RDB file; the sandbox restores only files it exported itself "
                         "(STACKLAB-RDB-JSON). Export one with copy_snapshot(..., TargetBucket=...).")  # fmt: skip
    lines = data.splitlines()
    if not lines or lines[0].strip() != HEADER:
        raise InputError("Not a snapshot file exported by the sandbox (the first line must be "
                         f"{HEADER.decode()!r}).")  # fmt: skip
    try:
        return [json.loads(line) for line in lines[1:] if line.strip()]
    except json.JSONDecodeError as exc:
        raise InputError(f"The snapshot file is damaged: {exc}.") from exc


def size_label(entries: list[dict[str, Any]]) -> str:
    """AWS's ``CacheSize`` text for a node snapshot, in whole MB (rounded up)."""
    size = len(dumps(entries))
    return f"{-(-size // (1024 * 1024))} MB"

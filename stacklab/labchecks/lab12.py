"""Checks for Lab 12 — ElastiCache: a locked-down Redis replication group, lazy loading and write-through over
PostgreSQL, and a snapshot exported to S3.

Each check reads the configuration with boto3 to name a wrong setting, then **uses the cache** as the
application would: it connects with redis-py to the replication group's endpoint *names* (served by
:mod:`stacklab.planes.cache`) and, for the caching functions, calls the learner's ``get_product`` /
``update_price`` and compares what the cache and the database (:mod:`stacklab.planes.sql`) then hold. The
caching checks put the row and the cache key back as they found them, so they give the same answer every
time they run.
"""

from __future__ import annotations

import json
from contextlib import suppress
from typing import Any

from stacklab.checks import CheckFailed, lab_check
from stacklab.labchecks import aws, expect_id, expect_name

LESSON = "12"
RG_ID, SESSIONS_ID, DB_ID = "lab12-redis", "lab12-sessions", "lab12-db"
SUBNET_GROUP, BUCKET = "lab12-cache-subnets", "lab12-backups"
TOKEN = "lab12-auth-token-2026"
REDIS_PORT, MEMCACHED_PORT = 6379, 11211
TTL_MIN, TTL_MAX = 300, 360
PROBE_ID = 7
JITTER_IDS = (1, 2, 3, 4, 5, 6)
_RESET_HINT = (
    "If you restarted the kernel or ran stacklab.reset() since, the sandbox is empty again: re-run the cells "
    "from the top."
)


# ------------------------------------------------------------------------------------ helpers


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _group(rg_id: str) -> dict[str, Any]:
    try:
        return aws("elasticache").describe_replication_groups(ReplicationGroupId=rg_id)["ReplicationGroups"][0]
    except Exception as exc:  # noqa: BLE001 - botocore ClientError
        if _code(exc) == "ReplicationGroupNotFoundFault":
            raise CheckFailed(
                f"there is no replication group {rg_id!r}. If create_replication_group raised "
                "InvalidParameterCombination, automatic failover needs at least one replica to promote.",
                f"Create it with NumCacheClusters=3 (a primary and two replicas). {_RESET_HINT}",
            ) from None
        raise


def _redis(rg_id: str, endpoint: str = "PrimaryEndpoint") -> Any:
    """A redis-py client on the group's primary (or reader) endpoint name, authenticated with the lab token."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    address = (_group(rg_id).get("NodeGroups") or [{}])[0].get(endpoint) or {}
    if not address.get("Address"):
        raise CheckFailed(f"the replication group {rg_id} has no {endpoint}.", "Re-create it as exercise 2 asks.")
    # No retries: redis-py's default retries a refused AUTH with backoff for seconds.
    return redis.Redis(
        host=address["Address"],
        port=address.get("Port", REDIS_PORT),
        password=TOKEN,
        socket_timeout=2,
        socket_connect_timeout=2,
        decode_responses=True,
        retry=Retry(NoBackoff(), 0),
    )


def _db() -> Any:
    from stacklab.planes import sql

    return sql.connect(DB_ID, autocommit=True)


def _db_price(db: Any, product_id: int) -> float:
    row = db.execute("SELECT price FROM products WHERE id = %s", (product_id,)).fetchone()
    if row is None:
        raise CheckFailed(f"the products table has no row with id {product_id}.", f"Run the setup cells. {_RESET_HINT}")
    return float(row[0])


def _cached(r: Any, product_id: int) -> tuple[Any, int]:
    """The decoded JSON under ``product:<id>`` (None when absent) and its TTL in seconds (-2 absent, -1 none)."""
    key = f"product:{product_id}"
    raw = r.get(key)
    ttl = int(r.ttl(key))
    if raw is None:
        return None, ttl
    try:
        return json.loads(raw), ttl
    except ValueError:
        raise CheckFailed(
            f"the cache holds {raw!r} under {key}, which is not JSON.",
            "Store json.dumps(product) (a dict with id, name and price).",
        ) from None


def _price_of(value: Any) -> float | None:
    if isinstance(value, dict) and isinstance(value.get("price"), int | float | str):
        with suppress(ValueError):
            return float(value["price"])
    return None


def _callable(name: str, value: Any, signature: str) -> Any:
    if not callable(value):
        raise CheckFailed(
            f"`{name}` should be a function; it holds {type(value).__name__}.", f"Define it: `def {signature}: ...`."
        )
    return value


def _call(fn: Any, name: str, *args: Any) -> Any:
    try:
        return fn(*args)
    except CheckFailed:
        raise
    except Exception as exc:  # noqa: BLE001 - the learner's code
        raise CheckFailed(
            f"{name}{args!r} raised {type(exc).__name__}: {exc}",
            "Run it yourself in a cell, fix the error, then run the check again.",
        ) from None


def _ttl_problem(ttl: int, key: str, who: str) -> None:
    if ttl == -1:
        raise CheckFailed(
            f"{who} wrote {key} without a TTL (TTL -1): it never expires, so a stale value would "
            "stay forever and, under the default volatile-lru policy, could never be evicted.",
            f"Pass ex=TTL to r.set, with TTL = {TTL_MIN} + random.randint(0, {TTL_MAX - TTL_MIN}).",
        )
    if not TTL_MIN - 5 <= ttl <= TTL_MAX:
        raise CheckFailed(
            f"{who} set {key} with a TTL of {ttl} s; the exercise asks for {TTL_MIN} s plus a jitter "
            f"of 0–{TTL_MAX - TTL_MIN} s.",
            f"Use ex={TTL_MIN} + random.randint(0, {TTL_MAX - TTL_MIN}).",
        )


# ------------------------------------------------------------------------------------ exercise 1


@lab_check(
    "12.network",
    LESSON,
    needs=("subnet_group_name", "cache_sg_id", "app_sg_id", "private_subnet_ids"),
    title="Cache subnet group and a security group open to the app only",
    exercise=1,
)
def network(subnet_group_name: Any, cache_sg_id: Any, app_sg_id: Any, private_subnet_ids: Any) -> str:
    name = expect_name("subnet_group_name", subnet_group_name, "cache subnet group name", f"'{SUBNET_GROUP}'")
    sg_id = expect_id(
        "cache_sg_id", cache_sg_id, "sg-", "security group ID", "ec2.create_security_group(...)['GroupId']"
    )
    try:
        group = aws("elasticache").describe_cache_subnet_groups(CacheSubnetGroupName=name)["CacheSubnetGroups"][0]
    except Exception as exc:  # noqa: BLE001
        if _code(exc) == "CacheSubnetGroupNotFoundFault":
            raise CheckFailed(
                f"there is no cache subnet group {name!r}.",
                "Create it with ec.create_cache_subnet_group(...) over both private subnets.",
            ) from None
        raise
    have = sorted(s["SubnetIdentifier"] for s in group.get("Subnets") or [])
    if sorted(private_subnet_ids) != have:
        raise CheckFailed(
            f"the subnet group {name} holds {have}; it should hold both private subnets "
            f"{sorted(private_subnet_ids)} (two Availability Zones, so replicas can live apart).",
            "Re-create it with SubnetIds=private_subnet_ids.",
        )
    sgs = aws("ec2").describe_security_groups(GroupIds=[sg_id])["SecurityGroups"]
    rules = sgs[0].get("IpPermissions") or []
    for rule in rules:
        cidrs = [c["CidrIp"] for c in rule.get("IpRanges") or []] + [
            c["CidrIpv6"] for c in rule.get("Ipv6Ranges") or []
        ]
        ports = "all ports" if rule.get("IpProtocol") == "-1" else f"port {rule.get('FromPort')}"
        if any(c in ("0.0.0.0/0", "::/0") for c in cidrs):
            raise CheckFailed(
                f"the cache's security group is open to 0.0.0.0/0 on {ports}: anything that can route "
                "to the subnets (peered VPCs, VPN, a compromised host) can connect to the cache.",
                "Revoke that rule and allow TCP 6379 with the app's security group as the source "
                "(IpPermissions=[{..., 'UserIdGroupPairs': [{'GroupId': app_sg_id}]}]).",
            )
        if cidrs:
            raise CheckFailed(
                f"the cache's security group allows address range(s) {cidrs} on {ports}; the exercise "
                "allows only the app's security group, whatever addresses its instances get.",
                "Revoke it and use 'UserIdGroupPairs': [{'GroupId': app_sg_id}] as the source.",
            )
    sources = [(r, p.get("GroupId")) for r in rules for p in r.get("UserIdGroupPairs") or []]
    for rule, source in sources:
        if source != app_sg_id:
            raise CheckFailed(
                f"the cache's security group admits the security group {source}; only the app's "
                f"({app_sg_id}) should reach the cache.",
                "Revoke that rule.",
            )
        if rule.get("IpProtocol") == "-1" or (rule.get("FromPort"), rule.get("ToPort")) != (REDIS_PORT, REDIS_PORT):
            span = (
                "all protocols and ports"
                if rule.get("IpProtocol") == "-1"
                else f"ports {rule.get('FromPort')}–{rule.get('ToPort')}"
            )
            if (rule.get("FromPort"), rule.get("ToPort")) == (MEMCACHED_PORT, MEMCACHED_PORT):
                raise CheckFailed(
                    "the rule allows TCP 11211, Memcached's port; this cache runs Redis OSS, which listens on 6379.",
                    "Allow FromPort=6379, ToPort=6379 instead.",
                )
            raise CheckFailed(
                f"the rule from the app's security group opens {span}; the cache needs TCP 6379 only.",
                "Replace it with IpProtocol='tcp', FromPort=6379, ToPort=6379.",
            )
    if not sources:
        raise CheckFailed(
            "the cache's security group has no inbound rule from the app's security group, so the "
            "app cannot reach the cache.",
            "ec2.authorize_security_group_ingress(GroupId=cache_sg_id, IpPermissions=[{'IpProtocol': "
            "'tcp', 'FromPort': 6379, 'ToPort': 6379, 'UserIdGroupPairs': [{'GroupId': app_sg_id}]}]).",
        )
    return f"subnet group {name} spans both private subnets; {sg_id} admits only TCP 6379 from the app's security group"


# ------------------------------------------------------------------------------------ exercise 2


@lab_check(
    "12.replication",
    LESSON,
    needs=("rg_id", "cache_sg_id"),
    title="Redis replication group: failover, TLS, AUTH, reader endpoint",
    exercise=2,
)
def replication(rg_id: Any, cache_sg_id: Any) -> str:
    rg_id = expect_name("rg_id", rg_id, "replication group id", f"'{RG_ID}'")
    group = _group(rg_id)
    members = [m for g in group.get("NodeGroups") or [] for m in g.get("NodeGroupMembers") or []]
    replicas = [m for m in members if m.get("CurrentRole") == "replica"]
    if not replicas:
        raise CheckFailed(
            f"{rg_id} has no replicas ({len(members)} node): if its primary fails there is nothing to "
            "promote, so automatic failover cannot work and the data is lost.",
            "Delete it and create it again with NumCacheClusters=3.",
        )
    if len(replicas) != 2:
        raise CheckFailed(
            f"{rg_id} has {len(replicas)} replica(s); the exercise asks for a primary and two replicas.",
            "Use NumCacheClusters=3.",
        )
    if group.get("AutomaticFailover") != "enabled":
        raise CheckFailed(
            f"{rg_id} has automatic failover {group.get('AutomaticFailover')}: when the primary fails "
            "nobody promotes a replica, and writes stop until you act.",
            "Create it with AutomaticFailoverEnabled=True and MultiAZEnabled=True.",
        )
    if group.get("MultiAZ") != "enabled":
        raise CheckFailed(
            f"{rg_id} has Multi-AZ {group.get('MultiAZ')}: replicas may share the primary's Availability Zone.",
            "Create it with MultiAZEnabled=True.",
        )
    if not group.get("TransitEncryptionEnabled"):
        raise CheckFailed(
            f"{rg_id} has in-transit encryption off: data and the AUTH token would cross the network in clear text.",
            "Create it with TransitEncryptionEnabled=True.",
        )
    if not group.get("AuthTokenEnabled"):
        raise CheckFailed(
            f"{rg_id} has no AUTH token: any client that reaches port 6379 can read and write.",
            "Create it with AuthToken=TOKEN (the token of the setup cell).",
        )
    clusters = aws("elasticache").describe_cache_clusters(ShowCacheNodeInfo=True)["CacheClusters"]
    first = next((c for c in clusters if c.get("ReplicationGroupId") == rg_id), None) or {}
    if first and first.get("CacheSubnetGroupName") != SUBNET_GROUP:
        raise CheckFailed(
            f"{rg_id}'s nodes are in the subnet group {first.get('CacheSubnetGroupName')!r}, not {SUBNET_GROUP}.",
            f"Create it with CacheSubnetGroupName='{SUBNET_GROUP}'.",
        )
    # moto 5.2.5 does not return SecurityGroups for cache clusters; judged only when the API shows them.
    sg_ids = [s.get("SecurityGroupId") for s in first.get("SecurityGroups") or []]
    if sg_ids and cache_sg_id not in sg_ids:
        raise CheckFailed(
            f"{rg_id}'s nodes carry the security group(s) {sg_ids}, not the cache's {cache_sg_id}.",
            "Create it with SecurityGroupIds=[cache_sg_id].",
        )
    import redis

    try:
        _redis(rg_id).set("lab12:check", "primary")
        seen = _redis(rg_id, "ReaderEndpoint").get("lab12:check")
        refused = ""
        try:
            _redis(rg_id, "ReaderEndpoint").set("lab12:check", "replica")
        except redis.exceptions.ReadOnlyError as exc:
            refused = str(exc)
    except redis.exceptions.AuthenticationError as exc:
        raise CheckFailed(
            f"the lab's token was refused ({exc}): the group was created with another AUTH token.",
            "Create it with AuthToken=TOKEN.",
        ) from None
    if seen != "primary" or not refused:
        raise CheckFailed(
            "the reader endpoint did not behave as a replica (a write through it was accepted).",
            "Re-create the group with NumCacheClusters=3.",
        )
    _redis(rg_id).delete("lab12:check")
    return (
        f"{rg_id}: 1 primary + 2 replicas, automatic failover and Multi-AZ on, TLS + AUTH; the reader endpoint "
        "serves reads and refuses writes"
    )


# ------------------------------------------------------------------------------------ exercise 3


@lab_check("12.lazy", LESSON, needs=("get_product",), title="Lazy loading with a TTL and jitter", exercise=3)
def lazy(get_product: Any) -> str:
    fn = _callable("get_product", get_product, "get_product(product_id)")
    r, db = _redis(RG_ID), _db()
    key = f"product:{PROBE_ID}"
    before = _db_price(db, PROBE_ID)
    r.delete(key)
    try:
        first = _call(fn, "get_product", PROBE_ID)
        if _price_of(first) != before:
            raise CheckFailed(
                f"get_product({PROBE_ID}) returned {first!r}; the database says price {before}.",
                "On a miss, read the row, cache it and return it as a dict {'id', 'name', 'price'}.",
            )
        value, ttl = _cached(r, PROBE_ID)
        if value is None:
            raise CheckFailed(
                f"after get_product({PROBE_ID}) missed, the cache still has no {key}: the function reads "
                "the database but never fills the cache.",
                f"After the SELECT, r.set('{key}', json.dumps(product), ex=ttl).",
            )
        _ttl_problem(ttl, key, "get_product")
        db.execute("UPDATE products SET price = price + 1000 WHERE id = %s", (PROBE_ID,))
        second = _call(fn, "get_product", PROBE_ID)
        if _price_of(second) != before:
            raise CheckFailed(
                f"the second get_product({PROBE_ID}) returned the database's current price "
                f"{_price_of(second)} although {key} was cached: the function does not read the cache "
                "first, so every call still costs a database query.",
                f"Start with cached = r.get('{key}') and return json.loads(cached) when it is there.",
            )
    finally:
        db.execute("UPDATE products SET price = %s WHERE id = %s", (before, PROBE_ID))
        r.delete(key)
    ttls = []
    for pid in JITTER_IDS:
        r.delete(f"product:{pid}")
        _call(fn, "get_product", pid)
        ttls.append(_cached(r, pid)[1])
        r.delete(f"product:{pid}")
    for ttl in ttls:
        _ttl_problem(ttl, "product:N", "get_product")
    if len(set(ttls)) == 1:
        raise CheckFailed(
            f"every key got the same TTL ({ttls[0]} s): keys loaded together expire together, and "
            "the database takes all the misses at once.",
            f"Add jitter: ex={TTL_MIN} + random.randint(0, {TTL_MAX - TTL_MIN}).",
        )
    return (
        f"a miss reads PostgreSQL and caches {key} for {TTL_MIN}–{TTL_MAX} s, each key with its own TTL; "
        "a hit is served from Redis"
    )


# ------------------------------------------------------------------------------------ exercise 4


@lab_check(
    "12.write_through",
    LESSON,
    needs=("update_price", "get_product"),
    title="Write-through on a price change",
    exercise=4,
)
def write_through(update_price: Any, get_product: Any) -> str:
    fn = _callable("update_price", update_price, "update_price(product_id, price)")
    read = _callable("get_product", get_product, "get_product(product_id)")
    r, db = _redis(RG_ID), _db()
    key = f"product:{PROBE_ID}"
    before = _db_price(db, PROBE_ID)
    new = round(before + 4.25, 2)
    r.delete(key)
    try:
        _call(read, "get_product", PROBE_ID)  # the key is cached with the old price
        _call(fn, "update_price", PROBE_ID, new)
        in_db = _db_price(db, PROBE_ID)
        value, ttl = _cached(r, PROBE_ID)
        if in_db != new:
            raise CheckFailed(
                f"after update_price({PROBE_ID}, {new}) the database still holds {in_db}: the cache is "
                "not the source of truth, the database is.",
                "UPDATE products SET price = %s WHERE id = %s first, then write the cache.",
            )
        if value is None:
            raise CheckFailed(
                f"update_price deleted {key} instead of writing it: that is invalidation (the next read "
                "misses and lazy-loads), not write-through.",
                f"After the UPDATE, r.set('{key}', json.dumps(product), ex=ttl) with the new row.",
            )
        if _price_of(value) != new:
            raise CheckFailed(
                f"update_price writes the database only: {key} in the cache still holds price "
                f"{_price_of(value)}, so readers get the old price until the TTL runs out.",
                f"After the UPDATE, write the new row to the cache: r.set('{key}', ..., ex=ttl).",
            )
        _ttl_problem(ttl, key, "update_price")
    finally:
        db.execute("UPDATE products SET price = %s WHERE id = %s", (before, PROBE_ID))
        r.delete(key)
    return f"update_price writes PostgreSQL, then {key} in Redis (with a TTL): readers never see the old price"


# ------------------------------------------------------------------------------------ exercise 5


@lab_check(
    "12.snapshot", LESSON, needs=("snapshot_name",), title="A snapshot of the Redis group, exported to S3", exercise=5
)
def snapshot(snapshot_name: Any) -> str:
    name = expect_name("snapshot_name", snapshot_name, "snapshot name", "'lab12-nightly'")
    snaps = aws("elasticache").describe_snapshots()["Snapshots"]
    snap = next((s for s in snaps if s.get("SnapshotName") == name), None)
    if snap is None:
        raise CheckFailed(
            f"there is no snapshot named {name!r}. (CreateSnapshot on the Memcached cluster "
            f"{SESSIONS_ID} is refused: Memcached has no snapshots.)",
            f"ec.create_snapshot(ReplicationGroupId='{RG_ID}', SnapshotName=snapshot_name).",
        )
    if snap.get("Engine") == "memcached" or snap.get("CacheClusterId") == SESSIONS_ID:
        raise CheckFailed(
            f"{name} was taken from the Memcached cluster {SESSIONS_ID}: Memcached keeps no data on "
            "disk and ElastiCache offers no snapshots for it.",
            f"Snapshot the Redis group: ReplicationGroupId='{RG_ID}'.",
        )
    source = snap.get("ReplicationGroupId") or snap.get("CacheClusterId")
    if source != RG_ID and not str(source).startswith(f"{RG_ID}-"):
        raise CheckFailed(
            f"{name} is a snapshot of {source!r}, not of {RG_ID}.",
            f"ec.create_snapshot(ReplicationGroupId='{RG_ID}', SnapshotName=...).",
        )
    objects = aws("s3").list_objects_v2(Bucket=BUCKET).get("Contents") or []
    if not any(o["Key"].startswith(name) for o in objects):
        listed = [o["Key"] for o in objects] or "nothing"
        raise CheckFailed(
            f"the snapshot exists but was not exported: {BUCKET} holds {listed}.",
            f"ec.copy_snapshot(SourceSnapshotName=snapshot_name, TargetSnapshotName=snapshot_name, "
            f"TargetBucket='{BUCKET}').",
        )
    return f"{name} is a snapshot of {RG_ID}, exported to s3://{BUCKET}/"

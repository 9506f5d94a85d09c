"""Redis nodes for the ElastiCache plane: one RESP server on 127.0.0.1 per node, AWS's rules in front.

A :class:`Shard` is one data set: fakeredis's in-memory server (default) or one database of a real
Redis/Valkey given by URL (``STACKLAB_REDIS_URL`` or ``Shard(url=...)``). The primary and the replicas of a
shard share it, so a write to the primary is visible on every replica at once (on AWS replication is
asynchronous, usually well under a second behind).

A :class:`RedisNode` is a small RESP2/RESP3 server (threads, 127.0.0.1, a free port) that forwards each
command to its shard and applies, first, the rules read from the control plane by its ``view`` callback
(called for every connection and command, so a failover or a new auth token takes effect at once):

* ``AUTH [user] password`` / ``HELLO n AUTH user password`` against the group's ``AuthToken``: a command
  before authenticating → ``NOAUTH Authentication required.``, a wrong password → ``WRONGPASS invalid
  username-password pair or user is disabled.``, AUTH on a node without a token → Redis's ``ERR AUTH <password>
  called without any password configured ...``;
* RBAC (the view's ``users``, from :mod:`stacklab.planes.cache_rbac`): ``AUTH <user> <password>`` against the
  group's users, then each command checked against the user's access string (``NOPERM ...``);
* writes on a replica → ``READONLY You can't write against a read only replica.``;
* cluster mode: a key in another shard's hash slots → ``MOVED <slot> <address>:<port>``; keys of one command
  in different slots → ``CROSSSLOT Keys in request don't hash to the same slot``; ``CLUSTER SLOTS``,
  ``CLUSTER SHARDS``, ``CLUSTER INFO``, ``CLUSTER KEYSLOT``, ``CLUSTER MYID``, ``READONLY``/``READWRITE``;
  without cluster mode ``CLUSTER ...`` → ``ERR This instance has cluster support disabled``;
* ``INFO`` (which fakeredis lacks): role, connected clients, keyspace hits/misses, evicted keys, memory;
* eviction under ``maxmemory`` (the view's ``maxmemory``/``policy``) by :mod:`stacklab.planes.cache_eviction`.

Redis key expiry follows the sandbox clock: the server's time is the wall clock plus how far the sandbox
clock has been advanced (:mod:`stacklab.planes.cache_clock`), so ``stacklab.clock().advance(61)`` expires a
key set with ``ex=60``.
Simplifications: pub/sub and blocking commands are forwarded only for the embedded engine; ``MULTI``
blocks are checked command by command; hits/misses count ``GET``-family reads (``GET``, ``MGET`` per key,
``GETEX``, ``GETDEL``, ``HGET``, ``HGETALL``) as Redis's ``keyspace_hits``/``keyspace_misses`` do.
"""

from __future__ import annotations

import binascii
import json
import select
import socket
import socketserver
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fakeredis
import redis
from fakeredis._clients._tcp_server import encode_reply

from stacklab.errors import InputError
from stacklab.planes.cache_clock import ShiftedTime

__all__ = ["NodeView", "RedisNode", "Shard", "key_slot"]

SLOTS = 16384
_POLL = 0.05  # idle wait per connection; pushed pub/sub messages wait at most this long
_READ_TIMEOUT = 5.0
_COMMANDS: dict[str, list[Any]] = json.loads(
    (Path(fakeredis.__file__).parent / "commands.json").read_text(encoding="utf-8")
)
#: (first, last, step) key positions where fakeredis's table differs from Redis's ``COMMAND INFO`` (variadic keys).
_KEY_SPECS = {
    **dict.fromkeys(("mget", "del", "exists", "unlink", "touch", "watch", "sunion", "sinter", "sdiff", "pfcount",
                     "sunionstore", "sinterstore", "sdiffstore", "pfmerge"), (1, -1, 1)),
    "mset": (1, -1, 2), "msetnx": (1, -1, 2), "blpop": (1, -2, 1), "brpop": (1, -2, 1), "bzpopmin": (1, -2, 1),
    "bzpopmax": (1, -2, 1),
}  # fmt: skip
_HIT_COMMANDS = {"get", "mget", "getex", "getdel", "hget", "hgetall"}
NOAUTH = "NOAUTH Authentication required."
WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
READONLY = "READONLY You can't write against a read only replica."


# ------------------------------------------------------------------------------------ time


def _install_clock() -> None:
    """Make fakeredis judge expiry on the sandbox-shifted clock (see :mod:`stacklab.planes.cache_clock`)."""
    from fakeredis._socket import _base

    if not isinstance(_base.time, ShiftedTime):
        _base.time = ShiftedTime()  # type: ignore[assignment]


_install_clock()


# ------------------------------------------------------------------------------------ hash slots


def _crc16(data: bytes) -> int:
    return binascii.crc_hqx(data, 0)


def key_slot(key: str | bytes) -> int:
    """The Redis Cluster hash slot of ``key``: CRC16 of the key (or its non-empty ``{hash tag}``) mod 16384."""
    if isinstance(key, str):
        key = key.encode()
    if not isinstance(key, bytes):
        raise InputError(f"key_slot needs a str or bytes key, got {type(key).__name__}.")
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1 : end]
    return _crc16(key) % SLOTS


def command_keys(args: list[bytes]) -> list[bytes]:
    """The key arguments of a command, from Redis's command table (``EVAL`` by its numkeys)."""
    name = args[0].decode("utf-8", "replace").lower()
    if name in ("eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro") and len(args) > 2:
        try:
            return args[3 : 3 + int(args[2])]
        except ValueError:
            return []
    spec = _COMMANDS.get(name)
    if name in _KEY_SPECS:
        first, last, step = _KEY_SPECS[name]
    elif spec is None or spec[3] <= 0:
        return []
    else:
        first, last, step = spec[3], spec[4], spec[5] or 1
    last = len(args) + last if last < 0 else last
    return args[first : last + 1 : step]


def is_write(name: str) -> bool:
    """True for commands Redis flags ``write`` (refused by replicas)."""
    spec = _COMMANDS.get(name.lower())
    return bool(spec and "write" in spec[2])


# ------------------------------------------------------------------------------------ shards


class Shard:
    """One data set (a shard's primary and replicas share it)."""

    def __init__(self, url: str | None = None, db: int = 0) -> None:
        self.url = url
        self.db = db
        self.fake = None if url else fakeredis.FakeServer(version=(7, 2))
        self.lock = threading.RLock()
        self.ticks = 0  # a logical clock for LRU (deterministic, unlike wall time)
        self.last_used: dict[bytes, int] = {}
        self.uses: dict[bytes, int] = {}
        self.evicted = 0

    def client(self) -> redis.Redis:
        """A redis-py client straight to the data set (no rules: for snapshots and the plane itself)."""
        if self.fake is not None:
            return fakeredis.FakeRedis(server=self.fake)
        return redis.Redis.from_url(self.url, db=self.db, socket_timeout=_READ_TIMEOUT)  # type: ignore[arg-type]

    def touch(self, keys: list[bytes]) -> None:
        """Record an access of ``keys`` (for the LRU/LFU eviction policies)."""
        with self.lock:
            self.ticks += 1
            for key in keys:
                self.last_used[key] = self.ticks
                self.uses[key] = self.uses.get(key, 0) + 1

    def forget(self, keys: list[bytes]) -> None:
        with self.lock:
            for key in keys:
                self.last_used.pop(key, None)
                self.uses.pop(key, None)


class _Backend:
    """One connection from a node to its shard's data set."""

    def __init__(self, shard: Shard) -> None:
        self.shard = shard
        if shard.fake is not None:
            from fakeredis._clients._sync import FakeRedisConnection

            self.conn: Any = FakeRedisConnection(server=shard.fake, protocol=2)
            self.sock = self.conn.get_socket()
        else:
            self.sock = None
            self._proto = 2
            self.conn = self._url_connection(2)
        self.queued: list[Any] = []

    def _url_connection(self, protocol: int) -> Any:
        options = redis.connection.parse_url(self.shard.url)  # type: ignore[arg-type]
        return redis.Connection(**options | {"db": self.shard.db, "socket_timeout": _READ_TIMEOUT,
                                             "protocol": protocol})  # fmt: skip

    @property
    def protocol(self) -> int:
        if self.sock is not None:
            return int(self.sock._client_info.protocol_version)
        return self._proto

    def call(self, args: list[bytes]) -> None:
        """Send a command; its reply (and any pushed message) comes from :meth:`replies`."""
        if self.sock is not None:
            self.sock.sendall(b"".join(self.conn.pack_command(*args)))
            return
        if args[0].lower() == b"hello" and len(args) > 1 and args[1] in (b"2", b"3"):
            self.conn.disconnect()  # the parser must match the protocol the client chose
            self._proto = int(args[1])
            self.conn = self._url_connection(self._proto)
        try:
            self.conn.send_command(*args)
            self.queued.append(self.conn.read_response())
        except redis.ResponseError as exc:
            self.queued.append(exc)

    def replies(self) -> list[Any]:
        out, self.queued = self.queued, []
        if self.sock is not None:
            while self.conn.can_read():
                try:
                    out.append(self.conn.read_response(disable_decoding=True))
                except (redis.ResponseError, fakeredis._helpers.SimpleError) as exc:
                    out.append(exc)
        return out

    def close(self) -> None:
        try:
            self.conn.disconnect()
        except Exception:  # noqa: BLE001 - closing is best effort
            pass


# ------------------------------------------------------------------------------------ nodes


@dataclass
class NodeView:
    """What the control plane says about a node right now (built by the plane for every command)."""

    role: str = "primary"  # or "replica"
    password: str | None = None
    node_id: str = ""
    address: str = ""
    #: Cluster mode: ``[(start, end, [(address, port, node_id), ...primary first])]`` for every shard.
    slots: list[tuple[int, int, list[tuple[str, int, str]]]] | None = None
    maxmemory: int | None = None
    policy: str = "volatile-lru"
    engine_version: str = "7.1.0"
    extra: dict[str, Any] = field(default_factory=dict)
    #: Tokens also accepted while a rotation is under way (``AuthTokenUpdateStrategy="ROTATE"``).
    other_passwords: list[str] = field(default_factory=list)
    #: RBAC: the users of the group's user groups by user name (:class:`stacklab.planes.cache_rbac.Acl`).
    users: dict[str, Any] | None = None

    def accepted(self) -> list[str]:
        """Every AUTH password the node accepts now."""
        return [p for p in [self.password, *self.other_passwords] if p]


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    block_on_close = False

    def __init__(self, node: RedisNode) -> None:
        self.node = node
        self.stopping = threading.Event()
        self.handlers: set[threading.Thread] = set()
        super().__init__(("127.0.0.1", 0), _Handler)


class RedisNode:
    """A Redis node: a RESP server on 127.0.0.1 in front of a :class:`Shard`."""

    def __init__(self, name: str, shard: Shard, view: Callable[[], NodeView],
                 on_write: Callable[[RedisNode], None] | None = None) -> None:  # fmt: skip
        self.name = name
        self.shard = shard
        self.view = view
        self.on_write = on_write
        self.hits = 0
        self.misses = 0
        self.connections = 0
        self.commands = 0
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"stacklab-redis-{name}", daemon=True)  # fmt: skip
        self._thread.start()

    @property
    def port(self) -> int:
        """The local TCP port (127.0.0.1) this node listens on."""
        return int(self._server.server_address[1])

    def stop(self) -> None:
        """Close the listening socket and every client connection (waits at most ~1 s)."""
        server = self._server
        server.stopping.set()
        server.shutdown()
        server.server_close()
        self._thread.join(timeout=1)
        for thread in list(server.handlers):
            thread.join(timeout=1)


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        node = self.server.node
        me = threading.current_thread()
        self.server.handlers.add(me)
        sock: socket.socket = self.request
        backend = _Backend(node.shard)
        self.authed = False
        self.user_name: str | None = None
        self.cluster_readonly = False
        node.connections += 1
        buf = b""
        try:
            while not self.server.stopping.is_set():
                self._flush(sock, backend)
                readable, _, _ = select.select([sock], [], [], _POLL)
                if not readable:
                    continue
                data = sock.recv(65536)
                if not data:
                    break
                buf += data
                while True:
                    parsed = _parse(buf)
                    if parsed is None:
                        break
                    args, buf = parsed
                    if args:
                        self._command(sock, backend, args)
        except (ConnectionError, OSError):
            pass
        finally:
            node.connections -= 1
            backend.close()
            self.server.handlers.discard(me)

    def _flush(self, sock: socket.socket, backend: _Backend) -> None:
        for reply in backend.replies():
            sock.sendall(encode_reply(reply, backend.protocol))

    def _error(self, sock: socket.socket, message: str) -> None:
        sock.sendall(b"-" + message.encode() + b"\r\n")

    def _command(self, sock: socket.socket, backend: _Backend, args: list[bytes]) -> None:
        node = self.server.node
        view = node.view()
        name = args[0].decode("utf-8", "replace").lower()
        node.commands += 1
        self._flush(sock, backend)
        if name == "auth":
            return self._auth(sock, view, args[1:])
        if name == "hello":
            return self._hello(sock, backend, view, args)
        if view.users is not None:
            refusal = self._rbac(view.users, name, args)
            if refusal:
                return self._error(sock, refusal)
        elif view.password and not self.authed and name not in ("quit",):
            return self._error(sock, NOAUTH)
        if name == "info":
            return sock.sendall(encode_reply(_info(node, view).encode(), backend.protocol, nested=True))
        if name in ("cluster", "readonly", "readwrite", "asking"):
            return self._cluster(sock, backend, view, name, args)
        keys = command_keys(args)
        if view.slots is not None and keys:
            refusal = _slot_refusal(view, keys)
            if refusal:
                return self._error(sock, refusal)
        if is_write(name):
            if view.role != "primary":
                return self._error(sock, READONLY)
            if view.maxmemory is not None:
                from stacklab.planes import cache_eviction

                refusal = cache_eviction.make_room(node.shard, view.maxmemory, view.policy)
                if refusal:
                    return self._error(sock, refusal)
        if keys:
            node.shard.touch(keys)
        backend.call(args)
        if name in _HIT_COMMANDS:
            self._count(sock, backend, name, keys)
        if is_write(name) and node.on_write is not None:
            node.on_write(node)

    def _count(self, sock: socket.socket, backend: _Backend, name: str, keys: list[bytes]) -> None:
        node = self.server.node
        replies = backend.replies()
        for reply in replies:
            values = reply if name == "mget" and isinstance(reply, list) else [reply]
            for value in values:
                if isinstance(value, Exception):
                    continue
                if value is None or value in ({}, []):
                    node.misses += 1
                else:
                    node.hits += 1
            sock.sendall(encode_reply(reply, backend.protocol))

    def _rbac(self, users: dict[str, Any], name: str, args: list[bytes]) -> str | None:
        """The refusal for a command under RBAC, or None (the connection acts as its user, else ``default``)."""
        acl = users.get(self.user_name or "default")
        if self.user_name is None and (acl is None or not acl.accepts("")):
            return NOAUTH if name != "quit" else None
        if acl is None or not acl.enabled:
            return NOAUTH
        if name in ("quit", "ping") and len(args) <= 2 or name == "info":
            return None
        spec = _COMMANDS.get(name)
        if not acl.may_run(name, list(spec[6]) if spec else []):
            return f"NOPERM User {acl.name} has no permissions to run the '{name}' command"
        if not all(acl.may_touch(key) for key in command_keys(args)):
            return "NOPERM No permissions to access a key"
        return None

    def _login(self, view: NodeView, user: str, password: str) -> bool:
        """Check a user name and password (RBAC users, else the AUTH token) and remember the user."""
        if view.users is not None:
            acl = view.users.get(user)
            if acl is None or not acl.accepts(password):
                return False
            self.user_name = user
            self.authed = True
            return True
        if user == "default" and password in view.accepted():
            self.authed = True
            return True
        return False

    def _auth(self, sock: socket.socket, view: NodeView, args: list[bytes]) -> None:
        if not args or len(args) > 2:
            return self._error(sock, "ERR wrong number of arguments for 'auth' command")
        user = args[0].decode() if len(args) == 2 else "default"
        if view.users is not None:
            if self._login(view, user, args[-1].decode("utf-8", "replace")):
                return sock.sendall(b"+OK\r\n")
            return self._error(sock, WRONGPASS)
        if not view.password:
            return self._error(sock, "ERR AUTH <password> called without any password configured for the default "
                                     "user. Are you sure your configuration is correct?")  # fmt: skip
        if self._login(view, user, args[-1].decode("utf-8", "replace")):
            return sock.sendall(b"+OK\r\n")
        return self._error(sock, WRONGPASS)

    def _hello(self, sock: socket.socket, backend: _Backend, view: NodeView, args: list[bytes]) -> None:
        rest = list(args)
        if len(rest) >= 5 and rest[2].lower() == b"auth":
            user, password = rest[3].decode(), rest[4].decode("utf-8", "replace")
            del rest[2:5]
            if not view.password and view.users is None:
                return self._error(sock, "ERR AUTH <password> called without any password configured for the "
                                         "default user. Are you sure your configuration is correct?")  # fmt: skip
            if not self._login(view, user, password):
                return self._error(sock, WRONGPASS)
        default = (view.users or {}).get("default")
        needs_auth = bool(view.password) or (view.users is not None and not (default and default.accepts("")))
        if needs_auth and not self.authed:
            return self._error(sock, "NOAUTH HELLO must be called with the client already authenticated, otherwise "
                                     "the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the "
                                     "client and select the RESP protocol version at the same time")  # fmt: skip
        backend.call(rest)

    def _cluster(self, sock: socket.socket, backend: _Backend, view: NodeView, name: str, args: list[bytes]) -> None:
        proto = backend.protocol
        if view.slots is None:
            return self._error(sock, "ERR This instance has cluster support disabled")
        if name in ("readonly", "readwrite", "asking"):
            self.cluster_readonly = name == "readonly"
            return sock.sendall(b"+OK\r\n")
        sub = args[1].decode().lower() if len(args) > 1 else ""
        if sub == "slots":
            reply = [[start, end, *[[addr.encode(), port, nid.encode()] for addr, port, nid in members]]
                     for start, end, members in view.slots]  # fmt: skip
        elif sub == "shards":
            reply = [{b"slots": [start, end],
                      b"nodes": [{b"id": nid.encode(), b"endpoint": addr.encode(), b"hostname": addr.encode(),
                                  b"port": port, b"role": b"master" if i == 0 else b"replica",
                                  b"replication-offset": 0, b"health": b"online"}
                                 for i, (addr, port, nid) in enumerate(members)]}
                     for start, end, members in view.slots]  # fmt: skip
            if proto == 2:
                reply = [_flatten(r) for r in reply]
        elif sub == "info":
            reply = (f"cluster_state:ok\r\ncluster_slots_assigned:{SLOTS}\r\ncluster_slots_ok:{SLOTS}\r\n"
                     f"cluster_known_nodes:{sum(len(m) for _, _, m in view.slots)}\r\n"
                     f"cluster_size:{len(view.slots)}\r\n").encode()  # fmt: skip
        elif sub == "keyslot" and len(args) == 3:
            reply = key_slot(args[2])
        elif sub == "myid":
            reply = view.node_id.encode()
        else:
            message = f"ERR Unknown subcommand or wrong number of arguments for '{sub}'. Try CLUSTER HELP."
            return self._error(sock, message)
        sock.sendall(encode_reply(reply, proto))


def _flatten(value: Any) -> Any:
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in (k, _flatten(v))]
    if isinstance(value, list):
        return [_flatten(v) for v in value]
    return value


def _slot_refusal(view: NodeView, keys: list[bytes]) -> str | None:
    slots = {key_slot(k) for k in keys}
    if len(slots) > 1:
        return "CROSSSLOT Keys in request don't hash to the same slot"
    slot = slots.pop()
    assert view.slots is not None
    for start, end, members in view.slots:
        if start <= slot <= end:
            if any(nid == view.node_id for _, _, nid in members):
                return None
            address, port, _ = members[0]
            return f"MOVED {slot} {address}:{port}"
    return f"CLUSTERDOWN Hash slot {slot} not served"


def _info(node: RedisNode, view: NodeView) -> str:
    client = node.shard.client()
    keys = client.dbsize()
    from stacklab.planes import cache_eviction

    used = cache_eviction.used_memory(node.shard)
    role = "master" if view.role == "primary" else "slave"
    sections = {
        "Server": {"redis_version": view.engine_version, "redis_mode": "cluster" if view.slots else "standalone",
                   "tcp_port": 6379},
        "Clients": {"connected_clients": node.connections},
        "Memory": {"used_memory": used, "maxmemory": view.maxmemory or 0, "maxmemory_policy": view.policy},
        "Stats": {"total_commands_processed": node.commands, "keyspace_hits": node.hits,
                  "keyspace_misses": node.misses, "evicted_keys": node.shard.evicted},
        "Replication": {"role": role, **view.extra},
        "Keyspace": {"db0": f"keys={keys},expires=0,avg_ttl=0"} if keys else {},
    }  # fmt: skip
    lines = []
    for section, values in sections.items():
        lines.append(f"# {section}")
        lines += [f"{k}:{v}" for k, v in values.items()]
        lines.append("")
    return "\r\n".join(lines)


def _parse(buf: bytes) -> tuple[list[bytes], bytes] | None:
    """One command from the start of ``buf`` (RESP array or inline), or None when incomplete."""
    if not buf:
        return None
    if buf[:1] != b"*":
        end = buf.find(b"\n")
        if end < 0:
            return None
        return buf[:end].strip().split(), buf[end + 1 :]
    end = buf.find(b"\r\n")
    if end < 0:
        return None
    count = int(buf[1:end])
    pos = end + 2
    args: list[bytes] = []
    for _ in range(count):
        end = buf.find(b"\r\n", pos)
        if end < 0:
            return None
        size = int(buf[pos + 1 : end])
        start = end + 2
        if len(buf) < start + size + 2:
            return None
        args.append(buf[start : start + size])
        pos = start + size + 2
    return args, buf[pos:]

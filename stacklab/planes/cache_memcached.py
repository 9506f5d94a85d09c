"""Memcached nodes for the ElastiCache plane: a real ``memcached`` when installed, else a pure-Python stand-in.

:func:`start_node` starts one node on ``127.0.0.1:<free port>`` and returns a :class:`MemcachedNode`:

* ``/usr/bin/memcached`` (or ``memcached`` on the PATH) when present — the course's setup installs it with
  apt on a fresh machine — run as ``memcached -l 127.0.0.1 -p PORT -m MB -U 0 -t 1`` (UDP off); it keeps
  its own (wall) clock, so the sandbox clock does not expire its items;
* otherwise :class:`StandIn`, a threaded server speaking the memcached **text protocol** (``get``/``gets``,
  ``set``/``add``/``replace``/``append``/``prepend``/``cas``, ``delete``, ``incr``/``decr``, ``touch``,
  ``flush_all``, ``stats``, ``version``, ``verbosity``, ``quit``; ``noreply``), with memcached's expiry rule
  (0 = never, up to 30 days = seconds from now, larger = a Unix time; negative = already expired) judged on
  the wall clock plus how far the sandbox clock was advanced, and LRU eviction when its items exceed the
  memory limit (item bytes = key + value + 48 bytes of header, a model). Enough for pymemcache.

A real memcached runs under a small `sh` "leash" holding a pipe from this process: if the kernel dies, even
by SIGKILL, the leash kills memcached, so no server outlives the kernel. Each node gets 64 MB.

:func:`engine` says which one runs (the lesson prints it).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import socketserver
import subprocess
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from stacklab.errors import InputError, StackLabError
from stacklab.planes.cache_clock import clock_offset

__all__ = ["MemcachedNode", "StandIn", "engine", "memcached_binary", "start_node"]

_THIRTY_DAYS = 60 * 60 * 24 * 30
_ITEM_HEADER = 48
_STORE = {"set", "add", "replace", "append", "prepend", "cas"}
#: Set to False (tests) to force the pure-Python stand-in.
use_real_memcached = True


def memcached_binary() -> str | None:
    """Path of the memcached server program, or None."""
    if not use_real_memcached:
        return None
    return shutil.which("memcached") or (shutil.which("/usr/bin/memcached"))


def engine() -> str:
    """Which memcached engine the plane uses for new nodes."""
    binary = memcached_binary()
    if binary is None:
        return "embedded memcached stand-in (pure Python)"
    try:
        out = subprocess.run([binary, "-V"], capture_output=True, text=True, timeout=2).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        out = "memcached"
    return f"{out} ({binary})"


@dataclass
class MemcachedNode:
    """A running memcached node: its local port and how to stop it."""

    port: int
    process: subprocess.Popen | None = None
    server: StandIn | None = None

    def stop(self) -> None:
        """Stop the node (terminate the child process, or shut the stand-in down)."""
        if self.process is not None:
            _kill(self.process)
        if self.server is not None:
            self.server.stop()


_LEASH = 'exec 3<&0; "$@" <&- & pid=$!; read -r _ <&3; kill -9 $pid 2>/dev/null'


def _kill(proc: subprocess.Popen) -> None:
    """Kill memcached and its leash (one process group; a cache keeps nothing worth a graceful stop)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=2)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=1)
    if proc.stdin is not None:
        proc.stdin.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_node(memory_mb: int = 64) -> MemcachedNode:
    """Start one memcached node on 127.0.0.1 (real memcached when installed); ready when it returns."""
    if isinstance(memory_mb, bool) or not isinstance(memory_mb, int) or memory_mb < 1:
        raise InputError(f"memory_mb must be a whole number of megabytes ≥ 1, got {memory_mb!r}.")
    binary = memcached_binary()
    if binary is None:
        server = StandIn(memory_mb * 1024 * 1024)
        return MemcachedNode(port=server.port, server=server)
    for _ in range(3):
        port = _free_port()
        cmd = [binary, "-l", "127.0.0.1", "-p", str(port), "-m", str(memory_mb), "-U", "0", "-t", "1"]
        if os.geteuid() == 0:
            cmd += ["-u", "root"]
        # A small sh keeps memcached on a leash: when this kernel dies, even by SIGKILL, the pipe on sh's stdin
        # closes, `read` returns and sh kills memcached, so no server outlives the kernel.
        proc = subprocess.Popen(["/bin/sh", "-c", _LEASH, "sh", *cmd], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return MemcachedNode(port=port, process=proc)
            except OSError:
                time.sleep(0.01)
        _kill(proc)
    raise StackLabError(f"{binary} did not start on 127.0.0.1; run `{binary} -vv -l 127.0.0.1` to see why, "
                        "or uninstall it to use the embedded stand-in.")  # fmt: skip


# ------------------------------------------------------------------------------------ the stand-in


class _Item:
    __slots__ = ("cas", "expires", "flags", "value")

    def __init__(self, value: bytes, flags: int, expires: float | None, cas: int) -> None:
        self.value, self.flags, self.expires, self.cas = value, flags, expires, cas


class StandIn(socketserver.ThreadingTCPServer):
    """A pure-Python memcached (text protocol) on 127.0.0.1."""

    allow_reuse_address = True
    daemon_threads = True
    block_on_close = False

    def __init__(self, limit_bytes: int) -> None:
        self.items: OrderedDict[bytes, _Item] = OrderedDict()  # LRU order: oldest first
        self.limit = limit_bytes
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.handlers: set[threading.Thread] = set()
        self.stats = {"get_hits": 0, "get_misses": 0, "evictions": 0, "total_items": 0, "cmd_get": 0, "cmd_set": 0,
                      "curr_connections": 0, "total_connections": 0}  # fmt: skip
        self.next_cas = 0
        self.started = time.time()
        super().__init__(("127.0.0.1", 0), _MemcacheHandler)
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="stacklab-memcached", daemon=True)  # fmt: skip
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=1)
        for thread in list(self.handlers):
            thread.join(timeout=1)

    # -- storage (call with the lock held)
    @staticmethod
    def now() -> float:
        return time.time() + clock_offset()

    def expiry(self, exptime: int) -> float | None:
        if exptime == 0:
            return None
        if exptime < 0:
            return self.now() - 1
        if exptime <= _THIRTY_DAYS:
            return self.now() + exptime
        return float(exptime) + clock_offset()

    def live(self, key: bytes) -> _Item | None:
        item = self.items.get(key)
        if item is not None and item.expires is not None and item.expires <= self.now():
            del self.items[key]
            return None
        return item

    def used(self) -> int:
        return sum(len(k) + len(i.value) + _ITEM_HEADER for k, i in self.items.items())

    def store(self, key: bytes, item: _Item) -> None:
        self.next_cas += 1
        item.cas = self.next_cas
        self.items[key] = item
        self.items.move_to_end(key)
        self.stats["total_items"] += 1
        while self.used() > self.limit and len(self.items) > 1:
            self.items.popitem(last=False)
            self.stats["evictions"] += 1


class _MemcacheHandler(socketserver.StreamRequestHandler):
    server: StandIn
    timeout = 0.05

    def handle(self) -> None:
        srv = self.server
        me = threading.current_thread()
        srv.handlers.add(me)
        with srv.lock:
            srv.stats["curr_connections"] += 1
            srv.stats["total_connections"] += 1
        try:
            while not srv.stopping.is_set():
                try:
                    line = self.rfile.readline()
                except TimeoutError:
                    continue
                if not line:
                    break
                if not self._line(line.rstrip(b"\r\n")):
                    break
                self.wfile.flush()
        except (ConnectionError, OSError):
            pass
        finally:
            with srv.lock:
                srv.stats["curr_connections"] -= 1
            srv.handlers.discard(me)

    def _read_exact(self, size: int) -> bytes:
        data = b""
        deadline = time.monotonic() + 5
        while len(data) < size + 2 and time.monotonic() < deadline and not self.server.stopping.is_set():
            try:
                data += self.rfile.read(size + 2 - len(data))
            except TimeoutError:
                continue
        return data

    def _line(self, line: bytes) -> bool:
        parts = line.split()
        if not parts:
            self.wfile.write(b"ERROR\r\n")
            return True
        cmd = parts[0].decode("ascii", "replace").lower()
        srv = self.server
        noreply = parts[-1] == b"noreply"
        if noreply:
            parts = parts[:-1]
        out: bytes
        with srv.lock:
            if cmd in ("get", "gets") and len(parts) > 1:
                out = b""
                for key in parts[1:]:
                    srv.stats["cmd_get"] += 1
                    item = srv.live(key)
                    if item is None:
                        srv.stats["get_misses"] += 1
                        continue
                    srv.stats["get_hits"] += 1
                    srv.items.move_to_end(key)
                    cas = b" %d" % item.cas if cmd == "gets" else b""
                    out += b"VALUE %s %d %d%s\r\n%s\r\n" % (key, item.flags, len(item.value), cas, item.value)
                out += b"END\r\n"
            elif cmd in _STORE and len(parts) >= (6 if cmd == "cas" else 5):
                try:
                    flags, exptime, size = int(parts[2]), int(parts[3]), int(parts[4])
                except ValueError:
                    out = b"CLIENT_ERROR bad command line format\r\n"
                else:
                    srv.lock.release()
                    try:
                        data = self._read_exact(size)
                    finally:
                        srv.lock.acquire()
                    if len(data) != size + 2 or data[-2:] != b"\r\n":
                        out = b"CLIENT_ERROR bad data chunk\r\n"
                    else:
                        out = self._store(cmd, parts, flags, exptime, data[:-2])
            elif cmd == "delete" and len(parts) == 2:
                out = b"DELETED\r\n" if srv.live(parts[1]) and srv.items.pop(parts[1], None) else b"NOT_FOUND\r\n"
            elif cmd in ("incr", "decr") and len(parts) == 3:
                out = self._incr(cmd, parts[1], parts[2])
            elif cmd == "touch" and len(parts) == 3:
                item = srv.live(parts[1])
                if item is None:
                    out = b"NOT_FOUND\r\n"
                else:
                    item.expires = srv.expiry(int(parts[2]))
                    out = b"TOUCHED\r\n"
            elif cmd == "flush_all":
                srv.items.clear()
                out = b"OK\r\n"
            elif cmd == "stats" and len(parts) == 1:
                out = self._stats()
            elif cmd == "version":
                out = b"VERSION 1.6.0-stacklab-standin\r\n"
            elif cmd == "verbosity":
                out = b"OK\r\n"
            elif cmd == "quit":
                return False
            else:
                out = b"ERROR\r\n"
        if not noreply:
            self.wfile.write(out)
        return True

    def _store(self, cmd: str, parts: list[bytes], flags: int, exptime: int, value: bytes) -> bytes:
        srv = self.server
        key = parts[1]
        if len(key) > 250:
            return b"CLIENT_ERROR bad command line format\r\n"
        srv.stats["cmd_set"] += 1
        current = srv.live(key)
        if cmd == "add" and current is not None or cmd in ("replace", "append", "prepend") and current is None:
            return b"NOT_STORED\r\n"
        if cmd == "cas":
            if current is None:
                return b"NOT_FOUND\r\n"
            if current.cas != int(parts[5]):
                return b"EXISTS\r\n"
        if cmd in ("append", "prepend") and current is not None:
            value = current.value + value if cmd == "append" else value + current.value
            flags, expires = current.flags, current.expires
        else:
            expires = srv.expiry(exptime)
        srv.store(key, _Item(value, flags, expires, 0))
        return b"STORED\r\n"

    def _incr(self, cmd: str, key: bytes, amount: bytes) -> bytes:
        srv = self.server
        item = srv.live(key)
        if item is None:
            return b"NOT_FOUND\r\n"
        try:
            delta, value = int(amount), int(item.value)
        except ValueError:
            return b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
        value = (value + delta) % 2**64 if cmd == "incr" else max(0, value - delta)
        item.value = str(value).encode()
        return item.value + b"\r\n"

    def _stats(self) -> bytes:
        srv = self.server
        values = {"pid": 0, "uptime": int(time.time() - srv.started), "version": "1.6.0-stacklab-standin",
                  "curr_items": len(srv.items), "bytes": srv.used(), "limit_maxbytes": srv.limit,
                  **srv.stats}  # fmt: skip
        return b"".join(b"STAT %s %s\r\n" % (k.encode(), str(v).encode()) for k, v in values.items()) + b"END\r\n"

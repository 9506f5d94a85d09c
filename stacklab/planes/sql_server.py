"""Local PostgreSQL 16 servers for the SQL plane: the binaries ``pgserver`` bundles, on 127.0.0.1.

Measured on the course machine (2 cores): ``initdb`` takes ~0.55 s, copying an initialised data
directory and handing it to the server's user ~0.1 s, and the postmaster is ready ~0.03 s
later (1-MB WAL segments keep the directory at 22 MB instead of 38 MB). So ``initdb`` runs **once per
machine** into a template (``~/.cache/stacklab/postgres-16.2-wal1``)
and every server starts from a copy in ~0.15 s. One server per Aurora cluster (not one database per
cluster on a shared server) because a cluster owns its roles (the master user and its password),
its databases and its connections (a failover terminates them), as on AWS.

PostgreSQL refuses to run as root: when the kernel runs as root the servers run as the unprivileged
user ``pgserver`` (created with ``useradd`` when missing, as the ``pgserver`` package itself does).
Servers listen on 127.0.0.1 only (plus a Unix socket in their data directory for the plane's own
superuser connection); TCP logins need a password (``scram-sha-256``). Every session starts with
``lock_timeout`` = :data:`LOCK_TIMEOUT_MS` (2 s) and ``statement_timeout`` = :data:`STATEMENT_TIMEOUT_MS` (45 s)
so a blocked or runaway statement fails instead of hanging the notebook (AWS leaves both off by default;
this is the sandbox's "never hang" rule, and a session may still ``SET`` other values). They are children of one
launcher thread with ``PR_SET_PDEATHSIG``: if the kernel dies without stopping them they get SIGTERM,
so no orphan ``postgres`` survives the kernel (the thread ends once no server runs). ``stop()`` shuts a
server down (fast mode, SIGKILL after 5 s) and deletes its data directory; data directories that a
dead kernel left in the temp directory are deleted at the next start.

Public API: ``PostgresServer.start() -> PostgresServer`` (``.port``, ``.pid``, ``.socket_dir``,
``.admin_connect(dbname)``, ``.stop()``, ``.alive()``), ``stop_launcher()``.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import queue
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from stacklab.errors import StackLabError

#: The plane's own superuser (like ``rdsadmin`` on RDS); it logs in over the Unix socket only.
ADMIN_USER = "stacklab_admin"
_SERVICE_USER = "pgserver"
_VERSION = "16.2"
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0
#: Session defaults so that nothing waits forever (a learner can ``SET`` them per session, as with a parameter
#: group on AWS, where both are 0 = off by default): a statement waiting for a lock fails after 2 s with
#: ``canceling statement due to lock timeout``; any statement is cancelled after 45 s (the Data API's call limit).
LOCK_TIMEOUT_MS = 2000
STATEMENT_TIMEOUT_MS = 45000
_SETTINGS = {
    # a teaching server: durability traded for speed (data lives until reset anyway)
    "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
    "shared_buffers": "16MB", "max_connections": "40", "listen_addresses": "127.0.0.1",
    "password_encryption": "scram-sha-256", "log_min_messages": "fatal",
    "lock_timeout": str(LOCK_TIMEOUT_MS), "statement_timeout": str(STATEMENT_TIMEOUT_MS),
}  # fmt: skip
_lock = threading.Lock()


def binaries() -> Path:
    """The directory with ``initdb`` and ``postgres`` (from the installed ``pgserver`` package)."""
    spec = importlib.util.find_spec("pgserver")  # found, not imported: its import prints warnings
    if spec is None or not spec.submodule_search_locations:
        raise StackLabError(
            "The SQL plane needs the pgserver package (it bundles PostgreSQL 16): "
            "run `pip install pgserver` in the course environment, or set STACKLAB_POSTGRES_URL."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (path / "postgres").exists():
        raise StackLabError(f"pgserver is installed but has no PostgreSQL binaries in {path}: reinstall it.")
    return path


def _service_ids() -> tuple[int, int] | None:
    """(uid, gid) to run PostgreSQL as, or None to run as the current (non-root) user."""
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        entry = pwd.getpwnam(_SERVICE_USER)
    except KeyError:
        subprocess.run(["useradd", "-s", "/bin/false", _SERVICE_USER], check=True, capture_output=True, timeout=30)
        entry = pwd.getpwnam(_SERVICE_USER)
    return entry.pw_uid, entry.pw_gid


def _chown_tree(path: Path, ids: tuple[int, int] | None) -> None:
    if ids is None:
        return
    for root, _dirs, files in os.walk(path):
        os.chown(root, *ids)
        for name in files:
            os.chown(os.path.join(root, name), *ids)


def _run_as(ids: tuple[int, int] | None) -> dict[str, Any]:
    return {} if ids is None else {"user": ids[0], "group": ids[1]}


def template_dir() -> Path:
    """The initialised data directory every server is copied from (created on first use)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stacklab" / f"postgres-{_VERSION}-wal1"
    ready = cache / "template" / "PG_VERSION"
    with _lock:
        if ready.exists():
            return cache / "template"
        ids = _service_ids()
        work = Path(tempfile.mkdtemp(prefix="stacklab-initdb-"))
        try:
            _chown_tree(work, ids)
            result = subprocess.run(
                [str(binaries() / "initdb"), "-D", str(work / "data"), "-U", ADMIN_USER, "--auth-local=trust",
                 "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
                 "--wal-segsize=1"],
                capture_output=True, text=True, cwd=work, timeout=60, **_run_as(ids),
            )  # fmt: skip
            if result.returncode != 0:
                raise StackLabError(f"initdb failed ({result.returncode}): {result.stderr.strip()[-500:]}")
            cache.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=cache))
            shutil.copytree(work / "data", staging / "template", symlinks=True)
            shutil.rmtree(cache / "template", ignore_errors=True)
            (staging / "template").rename(cache / "template")
            shutil.rmtree(staging, ignore_errors=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return cache / "template"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _parent_death_signal() -> None:  # runs in the child, after the uid change
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class _Launcher:
    """One thread that forks every server: PR_SET_PDEATHSIG fires when the *forking thread* ends,
    so servers must not be forked by short-lived threads (say the moto server's request threads)."""

    def __init__(self) -> None:
        self.jobs: queue.Queue[Any] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="stacklab-postgres-launcher", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            func, future = job
            try:
                future.set_result(func())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                future.set_exception(exc)

    def call(self, func: Any) -> Any:
        future: Future[Any] = Future()
        self.jobs.put((func, future))
        return future.result(timeout=_START_TIMEOUT + 5)

    def stop(self) -> None:
        self.jobs.put(None)
        self.thread.join(timeout=_STOP_TIMEOUT)


_launcher: _Launcher | None = None


def _launch(func: Any) -> Any:
    global _launcher
    with _lock:
        if _launcher is None or not _launcher.thread.is_alive():
            _launcher = _Launcher()
        launcher = _launcher
    return launcher.call(func)


_running: set[PostgresServer] = set()


def stop_launcher() -> None:
    """End the launcher thread once no server runs (a new one starts on demand).

    The servers it forked would get SIGTERM when it ends, so it stays while any server runs."""
    global _launcher
    with _lock:
        if any(server.alive() for server in _running):
            return
        launcher, _launcher = _launcher, None
    if launcher is not None:
        launcher.stop()


def _sweep_stale(max_age: float = 60.0) -> None:
    """Delete data directories left by kernels that died (their postmaster is gone), older than a minute."""
    for path in Path(tempfile.gettempdir()).glob("stacklab-pg-*"):
        try:
            if time.time() - path.stat().st_mtime < max_age:
                continue
            pid_file = path / "data" / "postmaster.pid"
            pid = int(pid_file.read_text().split()[0]) if pid_file.exists() else 0
            if pid and Path(f"/proc/{pid}").exists():
                continue
            shutil.rmtree(path, ignore_errors=True)
        except (OSError, ValueError, IndexError):
            continue


class PostgresServer:
    """One PostgreSQL postmaster on 127.0.0.1 with its own data directory."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="stacklab-pg-"))
        self.data = self.root / "data"
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while it runs."""
        return self.process.pid if self.process is not None else None

    @property
    def socket_dir(self) -> str:
        """Directory of the server's Unix socket (the plane's superuser connects there)."""
        return str(self.data)

    @classmethod
    def start(cls) -> PostgresServer:
        """Copy the template, start the postmaster, wait until it accepts connections (~0.15 s)."""
        template = template_dir()
        _sweep_stale()
        server = cls()
        ids = _service_ids()
        try:
            shutil.copytree(template, server.data, symlinks=True)
            os.chmod(server.data, 0o700)
            _chown_tree(server.root, ids)
            server.port = _free_port()
            args = [str(binaries() / "postgres"), "-D", str(server.data), "-p", str(server.port),
                    "-k", str(server.data)]  # fmt: skip
            for key, value in _SETTINGS.items():
                args += ["-c", f"{key}={value}"]
            with open(server.root / "log", "wb") as log:  # a file: a full pipe would block the server
                server.process = _launch(
                    lambda: subprocess.Popen(
                        args, cwd=server.root, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                        preexec_fn=_parent_death_signal, **_run_as(ids),
                    )
                )  # fmt: skip
            server._wait_ready()
            with _lock:
                _running.add(server)
        except BaseException:
            server.stop()
            raise
        return server

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + _START_TIMEOUT
        pid_file = self.data / "postmaster.pid"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = (self.root / "log").read_text(errors="replace")
                raise StackLabError(f"PostgreSQL exited at start ({self.process.returncode}): {err.strip()[-500:]}")
            try:
                lines = pid_file.read_text().splitlines()
            except FileNotFoundError:
                lines = []
            if len(lines) >= 8 and lines[7].strip() == "ready":
                return
            time.sleep(0.01)
        raise StackLabError(f"PostgreSQL did not get ready within {_START_TIMEOUT:.0f} s; see {self.root}.")

    def alive(self) -> bool:
        """True while the postmaster runs."""
        return self.process is not None and self.process.poll() is None

    def admin_connect(self, dbname: str = "postgres") -> Any:
        """A superuser psycopg connection over the Unix socket (autocommit)."""
        import psycopg

        return psycopg.connect(
            host=self.socket_dir, port=self.port, user=ADMIN_USER, dbname=dbname, autocommit=True, connect_timeout=5
        )

    def stop(self) -> None:
        """Fast shutdown (SIGINT), SIGKILL after 5 s, then delete the data directory."""
        process, self.process = self.process, None
        with _lock:
            _running.discard(self)
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(_STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(_STOP_TIMEOUT)
        shutil.rmtree(self.root, ignore_errors=True)

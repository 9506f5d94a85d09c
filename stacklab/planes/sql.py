"""Aurora PostgreSQL-compatible endpoints for the sandbox's DB clusters, on a real PostgreSQL 16.

moto 5.2.5 stores Aurora clusters and instances as records only: the endpoint names do not resolve,
no SQL runs, ``EnableHttpEndpoint`` is ignored and the RDS Data API returns empty records. This plane
gives every ``aurora-postgresql`` cluster a real PostgreSQL server (the binaries that ``pgserver``
bundles), reached with psycopg at the cluster's own endpoint names, exactly as on AWS::

    c = rds.describe_db_clusters(DBClusterIdentifier="shop")["DBClusters"][0]
    psycopg.connect(host=c["Endpoint"], port=5432, user="app_admin", password="...", dbname="shop")

Public API (all read the cluster from moto on **every** call; nothing is copied):

* ``endpoint(cluster_id, *, reader=False) -> (host, port)``: the cluster's ``Endpoint`` (writer,
  ``…cluster-…rds.amazonaws.com``) or ``ReaderEndpoint`` (``…cluster-ro-…``) and its port (5432), after
  starting the cluster's server if needed and registering the name with
  :func:`stacklab.netguard.add_local_endpoint`;
* ``connect(cluster_id, *, reader=False, dbname=None, user=None, password=None, **kwargs)
  -> psycopg.Connection``: connects to that endpoint name (master user and password by default, the
  cluster's ``DatabaseName`` or ``postgres``); ``autocommit`` and other psycopg keywords pass through;
* ``master_credentials(cluster_id) -> {"username", "password"}``: ``MasterUsername`` and
  ``MasterUserPassword``, or the secret of ``ManageMasterUserPassword`` read from Secrets Manager;
* ``error_text(exc) -> str``: a psycopg error as the database said it (``FATAL: password authentication
  failed for user "app_admin"``), without the local address and port, for deterministic notebook output;
* ``server_pid(cluster_id) -> int | None``: the postmaster's process id (to show it is gone after reset);
* ``failovers(cluster_id) -> list[dict]``: what ``failover_db_cluster`` did to connections
  (``{"from": old writer, "to": new writer, "terminated_sessions": n}``);
* ``running() -> list[str]``: clusters whose server runs now; ``stop_all()``: stop every server
  (``stacklab.reset()`` and kernel exit call it);
* ``use_server(url | None)``: use an existing PostgreSQL (a superuser URL on 127.0.0.1) instead of the
  embedded one; the ``STACKLAB_POSTGRES_URL`` environment variable does the same.

The RDS Data API (``rds-data``: ``execute_statement``, ``batch_execute_statement``,
``begin/commit/rollback_transaction``) runs for real: see :mod:`stacklab.planes.sql_data_api`, whose
``execute_statement(**kwargs) -> dict`` is also a plain function (same keywords as boto3). The Serverless
v2 capacity model (ACUs, metrics, cost, plot) is :mod:`stacklab.planes.sql_capacity`.

AWS rules followed:

* one server per cluster (its storage volume): writer and readers share the data, as Aurora instances
  do. It starts on demand (first psycopg connection to an endpoint name, first Data API call, or
  ``endpoint()``/``connect()``) in ~0.15 s from a template data directory (see
  :mod:`stacklab.planes.sql_server` for the measurements and why), listens on 127.0.0.1 only, and stops
  with ``stacklab.reset()`` (all databases gone: a clean slate) and at kernel exit;
* a cluster without DB instances has nothing behind its endpoints (clear error); only
  ``aurora-postgresql`` clusters are served (PostgreSQL 16.2);
* the master user (``MasterUsername`` with ``MasterUserPassword``, or the generated password of
  ``ManageMasterUserPassword`` stored in Secrets Manager) is a login role with ``CREATEDB``/``CREATEROLE``
  but **not** a superuser (as ``rds_superuser`` on Aurora), owner of ``postgres`` and of ``DatabaseName``;
  logins over TCP need the password (scram-sha-256): a wrong one fails with PostgreSQL's
  ``password authentication failed``. A password changed with ``modify_db_cluster`` (or a rotated
  secret) applies from the next connection or Data API call;
* ``ReaderEndpoint`` and the readers' instance endpoints give **read-only** sessions (writes fail with
  ``cannot execute INSERT in a read-only transaction``) through :mod:`stacklab.planes.sql_reader`;
  with no reader instance the reader endpoint reaches the writer, as on AWS;
* ``failover_db_cluster`` (moto moves the writer flag): every session of the cluster is terminated (the
  old writer restarts on AWS; clients see ``terminating connection due to administrator command``),
  the writer endpoint and the new writer's instance endpoint then accept writes and the old writer's
  instance endpoint is read-only. The time AWS needs to switch over is not modelled;
* ``EnableHttpEndpoint`` is kept (moto drops it except for a few Serverless v1 versions) and
  ``rds.enable_http_endpoint`` / ``disable_http_endpoint`` (``ResourceArn``) are added; the Data API
  checks it.

How names reach the local server: psycopg 3 resolves host names in Python (``socket.getaddrinfo``),
but keeps the port it was given, so an endpoint registered with ``netguard.add_local_endpoint`` would
reach 127.0.0.1:5432. This module therefore wraps psycopg's resolver for ``*.rds.amazonaws.com`` names
only: the name of a sandbox cluster or instance becomes ``hostaddr=127.0.0.1`` and its local port
(starting the server on first use); a wrong port fails as a timeout would on AWS; an unknown name
fails to resolve. Other clients (raw sockets, asyncpg) use the netguard registration directly.

moto quirks handled: the managed master secret holds ``admin``/``P@55w0rd!`` in moto; here it holds the
cluster's ``MasterUsername`` and a generated (seeded) password, as on AWS.
Simplifications: every session starts with ``lock_timeout`` 2 s and ``statement_timeout`` 45 s (see
:mod:`stacklab.planes.sql_server`; AWS leaves both off) so a statement blocked by another session's row
lock fails with ``canceling statement due to lock timeout`` instead of hanging the notebook (``SET
lock_timeout = ...`` in a session changes it); no TLS (``sslmode=require`` fails locally), a reader session could
``SET default_transaction_read_only = off``; IAM database authentication is not modelled.
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from stacklab import netguard, sandbox
from stacklab._validate import require_bool, require_str
from stacklab.errors import InputError, StackLabError
from stacklab.planes.sql_reader import ReadOnlyProxy
from stacklab.planes.sql_server import ADMIN_USER, PostgresServer, stop_launcher

ENGINES = ("aurora-postgresql",)
_RDS_SUFFIX = ".rds.amazonaws.com"
_lock = threading.RLock()


@dataclass
class _ExternalServer:
    """An existing PostgreSQL given by URL (``use_server`` / ``STACKLAB_POSTGRES_URL``)."""

    url: str
    port: int
    created_databases: set[str] = field(default_factory=set)
    created_roles: set[str] = field(default_factory=set)

    def admin_connect(self, dbname: str = "postgres") -> Any:
        import psycopg

        return psycopg.connect(self.url, dbname=dbname, autocommit=True, connect_timeout=5)

    def alive(self) -> bool:
        return True

    def stop(self) -> None:
        """Drop what the plane created, so a reset leaves the server as it found it."""
        from psycopg import sql

        with self.admin_connect() as conn:
            for name in sorted(self.created_databases):
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            for name in sorted(self.created_roles):
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@dataclass
class _Live:
    """What runs for one cluster (the configuration itself is always read from moto)."""

    arn: str
    server: Any
    proxy: ReadOnlyProxy | None = None
    password: str | None = None
    names: set[tuple[str, int]] = field(default_factory=set)


_live: dict[str, _Live] = {}
_failovers: dict[str, list[dict[str, Any]]] = {}  # by cluster ARN, until reset
_external_url: str | None = None


# ------------------------------------------------------------------------------------ moto lookups


def _rds() -> Any:
    from moto.rds.models import rds_backends

    box = sandbox.current()
    return rds_backends[box.account_id][box.region]


def _clusters() -> dict[str, Any]:
    return dict(_rds().clusters)


def find_cluster(ref: str) -> Any:
    """moto's cluster record for an identifier or ARN (raises InputError naming the known clusters)."""
    require_str("cluster_id", ref)
    clusters = _clusters()
    key = ref.split(":cluster:", 1)[1] if ref.startswith("arn:") and ":cluster:" in ref else ref
    cluster = clusters.get(key.lower())
    if cluster is None or (ref.startswith("arn:") and cluster.db_cluster_arn != ref):
        known = ", ".join(sorted(clusters)) or "none yet"
        raise InputError(
            f"No DB cluster {ref!r} in the sandbox (clusters: {known}). Create it with "
            "rds.create_db_cluster(DBClusterIdentifier=..., Engine='aurora-postgresql', ...)."
        )
    return cluster


def master_credentials(cluster_id: str) -> dict[str, str]:
    """The master user name and password of a cluster, as an application would get them."""
    cluster = find_cluster(cluster_id)
    if getattr(cluster, "manage_master_user_password", False) and hasattr(cluster, "master_user_secret"):
        arn = cluster.master_user_secret.secret_arn
        secret = _rds().secretsmanager.get_secret_value(arn, None, None)
        value = json.loads(secret["SecretString"])
        return {"username": value["username"], "password": value["password"]}
    return {"username": cluster.master_username, "password": getattr(cluster, "_master_user_password", "") or ""}


def _writer(cluster: Any) -> Any:
    return next((m for m in cluster.members if m.is_cluster_writer), None)


# ------------------------------------------------------------------------------------ servers


def use_server(url: str | None) -> None:
    """Use an existing PostgreSQL (superuser URL on 127.0.0.1) for new clusters; None = embedded."""
    global _external_url
    if url is not None:
        require_str("url", url)
        if not url.startswith(("postgresql://", "postgres://")):
            raise InputError(
                f"use_server needs a URL like postgresql://postgres:pw@127.0.0.1:5432/postgres, got {url!r}."
            )
    _external_url = url


def _new_server() -> Any:
    url = _external_url or os.environ.get("STACKLAB_POSTGRES_URL")
    if not url:
        return PostgresServer.start()
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(url)
    host = str(params.get("host") or "127.0.0.1")
    if not host.startswith("/") and not netguard.is_loopback(host):
        raise InputError(f"STACKLAB_POSTGRES_URL must point at 127.0.0.1 (the sandbox stays local), got host {host!r}.")
    return _ExternalServer(url=url, port=int(params.get("port") or 5432))


def _provision(live: _Live, cluster: Any, creds: dict[str, str]) -> None:
    """Create the master role (CREATEDB, CREATEROLE: no superuser, as on Aurora) and the databases."""
    from psycopg import sql

    user, password = sql.Identifier(creds["username"]), sql.Literal(creds["password"])
    with live.server.admin_connect() as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (creds["username"],)).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(
            sql.SQL(verb + " ROLE {} LOGIN CREATEDB CREATEROLE PASSWORD {}").format(user, password)
        )
        if isinstance(live.server, _ExternalServer) and not exists:
            live.server.created_roles.add(creds["username"])
        if not isinstance(live.server, _ExternalServer):
            conn.execute(sql.SQL("ALTER DATABASE postgres OWNER TO {}").format(user))
        name = cluster.database_name
        if name and not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), user))
            if isinstance(live.server, _ExternalServer):
                live.server.created_databases.add(name)
    live.password = creds["password"]


def _sync_password(live: _Live, creds: dict[str, str]) -> None:
    """A changed master password (modify_db_cluster, secret rotation) applies at the next use, as on AWS."""
    if live.password == creds["password"]:
        return
    from psycopg import sql

    with live.server.admin_connect() as conn:
        user, password = sql.Identifier(creds["username"]), sql.Literal(creds["password"])
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(user, password))
    live.password = creds["password"]


def _register(live: _Live, cluster: Any) -> None:
    """Point the cluster's endpoint names at the server (writer) or the read-only door (readers)."""
    port = int(cluster.port)
    readers = [m for m in cluster.members if not m.is_cluster_writer]
    if readers and live.proxy is None:
        live.proxy = ReadOnlyProxy(live.server.port).start()
    read_port = live.proxy.port if readers and live.proxy else live.server.port
    wanted = {(cluster.endpoint, port): live.server.port, (cluster.reader_endpoint, port): read_port}
    for member in cluster.members:
        wanted[(member.address, port)] = live.server.port if member.is_cluster_writer else read_port
    for host, p in live.names - set(wanted):
        netguard.remove_local_endpoint(host, p)
    for (host, p), local in wanted.items():
        netguard.add_local_endpoint(host, p, local)
    live.names = set(wanted)


def ensure(cluster_id: str) -> _Live:
    """Start the cluster's server if needed and bring it in line with moto's record (internal helper)."""
    _sql_data_api.expire_transactions()  # a clock check: an abandoned Data API transaction frees its locks
    cluster = find_cluster(cluster_id)
    if cluster.engine not in ENGINES:
        raise StackLabError(
            f"Cluster {cluster.db_cluster_identifier} runs {cluster.engine}; the sandbox's SQL plane serves "
            f"{', '.join(ENGINES)} only (PostgreSQL 16). Create the cluster with Engine='aurora-postgresql'."
        )
    if not cluster.members:
        raise StackLabError(
            f"Cluster {cluster.db_cluster_identifier} has no DB instances, so nothing answers at its endpoints "
            "(as on AWS). Add a writer: rds.create_db_instance(DBInstanceIdentifier=..., DBClusterIdentifier="
            f"'{cluster.db_cluster_identifier}', Engine='aurora-postgresql', DBInstanceClass='db.serverless')."
        )
    creds = master_credentials(cluster.db_cluster_identifier)
    with _lock:
        _prune()
        live = _live.get(cluster.db_cluster_arn)
        if live is not None and not live.server.alive():
            _stop_live(live)
            live = None
        if live is None:
            live = _Live(arn=cluster.db_cluster_arn, server=_new_server())
            _live[live.arn] = live
            try:
                _provision(live, cluster, creds)
            except BaseException:
                _stop_live(_live.pop(live.arn))
                raise
        _sync_password(live, creds)
        _register(live, cluster)
        return live


def endpoint(cluster_id: str, *, reader: bool = False) -> tuple[str, int]:
    """The cluster's writer (or reader) endpoint name and port, ready for psycopg."""
    require_bool("reader", reader)
    ensure(cluster_id)
    cluster = find_cluster(cluster_id)
    return (cluster.reader_endpoint if reader else cluster.endpoint), int(cluster.port)


def connect(
    cluster_id: str,
    *,
    reader: bool = False,
    dbname: str | None = None,
    user: str | None = None,
    password: str | None = None,
    **kwargs: Any,
) -> Any:
    """A psycopg connection to the cluster's endpoint name (master credentials unless given)."""
    import psycopg

    host, port = endpoint(cluster_id, reader=reader)
    cluster = find_cluster(cluster_id)
    creds = master_credentials(cluster_id)
    kwargs.setdefault("connect_timeout", 5)
    return psycopg.connect(
        host=host, port=port, dbname=dbname or cluster.database_name or "postgres",
        user=user or creds["username"], password=creds["password"] if password is None else password, **kwargs,
    )  # fmt: skip


def failovers(cluster_id: str) -> list[dict[str, Any]]:
    """What each ``failover_db_cluster`` did to the cluster's connections (oldest first)."""
    cluster = find_cluster(cluster_id)
    with _lock:
        return [dict(event) for event in _failovers.get(cluster.db_cluster_arn, [])]


def running() -> list[str]:
    """Identifiers of the clusters whose server runs now (sorted)."""
    with _lock:
        _prune()
        arns = set(_live)
    return sorted(c.db_cluster_identifier for c in _clusters().values() if c.db_cluster_arn in arns)


def _prune() -> None:
    """Stop the servers of clusters that moto no longer has (deleted)."""
    arns = {c.db_cluster_arn for c in _clusters().values()}
    for arn in [a for a in _live if a not in arns]:
        _stop_live(_live.pop(arn))


def _stop_live(live: _Live) -> None:
    for host, port in live.names:
        netguard.remove_local_endpoint(host, port)
    live.names.clear()
    if live.proxy is not None:
        live.proxy.stop()
        live.proxy = None
    try:
        live.server.stop()
    except Exception:  # noqa: BLE001 - an external server may be gone already
        pass


def stop_all() -> None:
    """Stop every cluster's server and reader door, forget their endpoint names (reset and exit)."""
    from stacklab.planes import sql_data_api

    sql_data_api.forget_transactions()
    with _lock:
        _failovers.clear()
        while _live:
            _stop_live(_live.popitem()[1])
        stop_launcher()


def error_text(exc: BaseException) -> str:
    """A psycopg error as the database said it, without local addresses or ports (for notebook output)."""
    if not isinstance(exc, BaseException):
        raise InputError(f"error_text needs an exception (say from `except psycopg.Error as e`), got {exc!r}.")
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None)
    if primary:
        return f"{getattr(diag, 'severity_nonlocalized', None) or 'ERROR'}: {primary}"
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    if "FATAL:" in text:
        return "FATAL: " + text.split("FATAL:", 1)[1].strip()
    return re.sub(r'"127\.0\.0\.1", port \d+', "the endpoint", text)


def server_pid(cluster_id: str) -> int | None:
    """The postmaster's process id of a cluster's embedded server (None when not running)."""
    cluster = find_cluster(cluster_id)
    with _lock:
        live = _live.get(cluster.db_cluster_arn)
        return getattr(live.server, "pid", None) if live else None


# ------------------------------------------------------------------------------------ failover


def _after_failover(cluster: Any, old_writer: str | None) -> None:
    """The writer restarts on AWS: every session of the cluster is closed; the names move."""
    new_writer = _writer(cluster)
    event = {"from": old_writer, "to": new_writer.db_instance_identifier if new_writer else None,
             "terminated_sessions": 0}  # fmt: skip
    with _lock:
        _failovers.setdefault(cluster.db_cluster_arn, []).append(event)
        live = _live.get(cluster.db_cluster_arn)
        if live is None:
            return
        with live.server.admin_connect() as conn:
            row = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND usename <> %s",
                (ADMIN_USER,),
            ).fetchone()
        event["terminated_sessions"] = int(row[0]) if row else 0
        if live.proxy is not None:
            live.proxy.drop_all()
        _register(live, cluster)


# ------------------------------------------------------------------------------------ moto and psycopg additions


def _install_moto() -> None:
    """Keep ``EnableHttpEndpoint``, add ``enable_http_endpoint``/``disable_http_endpoint``, hook failover."""
    from moto.core.responses import ActionResult
    from moto.rds import models, responses

    if getattr(models.DBCluster, "_stacklab_sql", False):
        return
    models.DBCluster._stacklab_sql = True  # type: ignore[attr-defined]

    def set_http_endpoint(self: Any, val: bool | None) -> None:
        # AWS: Data API for Aurora PostgreSQL and MySQL, Serverless v2 and provisioned (recent versions)
        # and Serverless v1; moto keeps it only for a few v1 versions.
        self._enable_http_endpoint = bool(val) and str(self.engine).startswith("aurora")

    models.DBCluster.enable_http_endpoint = models.DBCluster.enable_http_endpoint.setter(set_http_endpoint)

    def switch(enabled: bool) -> Any:
        def handler(self: Any) -> Any:
            arn = self.params.get("ResourceArn") or ""
            cluster = next((c for c in self.backend.clusters.values() if c.db_cluster_arn == arn), None)
            if cluster is None:
                from moto.rds.exceptions import DBClusterNotFoundError

                raise DBClusterNotFoundError(arn.split(":")[-1], f"DBCluster {arn} not found.")
            cluster.enable_http_endpoint = enabled
            return ActionResult({"ResourceArn": arn, "HttpEndpointEnabled": cluster.http_endpoint_enabled})

        return handler

    responses.RDSResponse.enable_http_endpoint = switch(True)  # type: ignore[attr-defined]
    responses.RDSResponse.disable_http_endpoint = switch(False)  # type: ignore[attr-defined]
    failover = models.RDSBackend.failover_db_cluster

    def managed_secret(self: Any) -> str:
        # AWS stores the cluster's master user name and a generated password; moto stores admin/P@55w0rd!.
        from moto.moto_api._internal import mock_random

        password = mock_random.get_random_string(length=28, include_digits=True)
        return json.dumps({"username": self.resource.master_username, "password": password})

    models.MasterUserSecret._generate_secret_string = managed_secret

    def failover_and_drop(self: Any, db_cluster_identifier: str, target_db_instance_identifier: Any = None) -> Any:
        before = self.clusters.get(db_cluster_identifier)
        old = _writer(before) if before is not None else None
        cluster = failover(self, db_cluster_identifier, target_db_instance_identifier)
        _after_failover(cluster, old.db_instance_identifier if old is not None else None)
        return cluster

    models.RDSBackend.failover_db_cluster = failover_and_drop


def _local_target(host: str, port: int) -> int:
    """The local port behind an RDS endpoint name, starting the cluster's server on first use."""
    import psycopg

    name = host.strip().rstrip(".").lower()
    for cluster in _clusters().values():
        names = {cluster.endpoint, cluster.reader_endpoint, *(m.address for m in cluster.members)}
        if name not in {n.lower() for n in names}:
            continue
        if port != int(cluster.port):
            raise psycopg.OperationalError(
                f'connection to server at "{host}", port {port} failed: timeout expired (nothing listens on port '
                f"{port}; cluster {cluster.db_cluster_identifier} listens on {cluster.port}, see describe_db_clusters)"
            )
        try:
            ensure(cluster.db_cluster_identifier)
        except StackLabError as exc:
            raise psycopg.OperationalError(f'connection to server at "{host}" failed: {exc}') from exc
        local = netguard.local_endpoints().get((name, port))
        if local is not None:
            return local
    raise psycopg.OperationalError(
        f"failed to resolve host {host!r}: no DB cluster or instance in the sandbox has this endpoint "
        "(copy Endpoint or ReaderEndpoint from rds.describe_db_clusters)."
    )


def _install_psycopg() -> None:
    """psycopg 3 resolves host names in Python (socket.getaddrinfo) but keeps the *port* it was given;
    an endpoint name served on a local port needs both replaced, so RDS names are resolved here."""
    from psycopg import _conninfo_attempts as attempts

    resolve = attempts._resolve_hostnames
    if getattr(resolve, "_stacklab_sql", False):
        return

    def resolve_rds(params: Any) -> Any:
        host = str(params.get("host") or "")
        if host.lower().rstrip(".").endswith(_RDS_SUFFIX) and not params.get("hostaddr") and sandbox.is_running():
            port = int(params.get("port") or 5432)
            return [{**params, "hostaddr": "127.0.0.1", "port": str(_local_target(host, port))}]
        return resolve(params)

    resolve_rds._stacklab_sql = True  # type: ignore[attr-defined]
    attempts._resolve_hostnames = resolve_rds


_install_moto()
_install_psycopg()
sandbox.on_reset(stop_all)
sandbox.on_stop(stop_all)

from stacklab.planes import sql_data_api as _sql_data_api  # noqa: E402  (installs the rds-data operations)

__all__ = [
    "connect", "endpoint", "error_text", "failovers", "find_cluster", "master_credentials", "running", "server_pid",
    "stop_all", "use_server",
]  # fmt: skip
_ = _sql_data_api

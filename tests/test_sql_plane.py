"""The SQL plane: Aurora endpoints on a real PostgreSQL, master credentials, reader endpoint, failover, cleanup."""

from __future__ import annotations

import os
import shutil
import threading

import psycopg
import pytest

import stacklab
from stacklab import netguard
from stacklab.errors import InputError, StackLabError
from stacklab.planes import sql

PASSWORD = "s3cret-pass"


def make_cluster(name: str = "shop", *, instances: int = 2, **extra) -> dict:
    rds = stacklab.client("rds")
    kwargs = {"MasterUsername": "app_admin", "MasterUserPassword": PASSWORD, "DatabaseName": "shop", **extra}
    if extra.get("ManageMasterUserPassword"):
        kwargs.pop("MasterUserPassword")
    cluster = rds.create_db_cluster(DBClusterIdentifier=name, Engine="aurora-postgresql", **kwargs)["DBCluster"]
    for i in range(instances):
        rds.create_db_instance(DBInstanceIdentifier=f"{name}-{i + 1}", DBClusterIdentifier=name,
                               Engine="aurora-postgresql", DBInstanceClass="db.serverless")  # fmt: skip
    return cluster


@pytest.fixture()
def fresh(box):
    stacklab.reset()
    yield box
    stacklab.reset()


def test_endpoint_names_work_for_psycopg_with_master_credentials(fresh):
    cluster = make_cluster()
    with psycopg.connect(host=cluster["Endpoint"], port=5432, user="app_admin", password=PASSWORD, dbname="shop") as c:
        c.execute("CREATE TABLE items (id serial PRIMARY KEY, name text)")
        c.execute("INSERT INTO items (name) VALUES ('pen')")
        assert c.execute("SELECT current_user, current_database()").fetchone() == ("app_admin", "shop")
        assert c.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (False,)
        assert c.execute("SHOW server_version").fetchone()[0].startswith("16.")
    assert sql.endpoint("shop") == (cluster["Endpoint"], 5432)
    assert sql.endpoint("shop", reader=True) == (cluster["ReaderEndpoint"], 5432)
    assert sql.running() == ["shop"]


LOGINS = [  # user, password, database → outcome (as on Aurora: the master user, by password, over TCP)
    ("app_admin", PASSWORD, "shop", "ok"),
    ("app_admin", PASSWORD, "postgres", "ok"),
    ("app_admin", "wrong-password", "shop", "password authentication failed"),
    ("postgres", PASSWORD, "shop", "password authentication failed"),
    ("stacklab_admin", "guess", "shop", "password authentication failed"),
    ("app_admin", PASSWORD, "nope", 'database "nope" does not exist'),
]


def test_logins_table(fresh):
    cluster = make_cluster(instances=1)
    for user, password, dbname, outcome in LOGINS:
        kwargs = {"host": cluster["Endpoint"], "port": 5432, "user": user, "password": password, "dbname": dbname}
        if outcome == "ok":
            with psycopg.connect(**kwargs) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
        else:
            with pytest.raises(psycopg.OperationalError, match=outcome) as err:
                psycopg.connect(**kwargs)
            assert sql.error_text(err.value).startswith("FATAL: ") and "127.0.0.1" not in sql.error_text(err.value)


def test_managed_master_password_comes_from_the_secret(fresh):
    make_cluster("vault", instances=1, ManageMasterUserPassword=True)
    creds = sql.master_credentials("vault")
    assert creds["username"] == "app_admin" and len(creds["password"]) >= 8
    with sql.connect("vault") as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("app_admin",)


def test_changed_master_password_applies(fresh):
    make_cluster(instances=1)
    sql.connect("shop").close()
    stacklab.client("rds").modify_db_cluster(DBClusterIdentifier="shop", MasterUserPassword="new-pass-123",
                                             ApplyImmediately=True)  # fmt: skip
    host, port = sql.endpoint("shop")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(host=host, port=port, user="app_admin", password=PASSWORD, dbname="shop")
    psycopg.connect(host=host, port=port, user="app_admin", password="new-pass-123", dbname="shop").close()


def test_reader_endpoint_is_read_only_with_replicas(fresh):
    cluster = make_cluster()
    with sql.connect("shop", autocommit=True) as writer:
        writer.execute("CREATE TABLE t (v int)")
        writer.execute("INSERT INTO t VALUES (1)")
    with psycopg.connect(host=cluster["ReaderEndpoint"], port=5432, user="app_admin", password=PASSWORD,
                         dbname="shop") as reader:  # fmt: skip
        assert reader.execute("SELECT v FROM t").fetchall() == [(1,)]
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction, match="read-only transaction") as err:
            reader.execute("INSERT INTO t VALUES (2)")
        assert sql.error_text(err.value) == "ERROR: cannot execute INSERT in a read-only transaction"


def test_reader_endpoint_reaches_the_writer_without_replicas(fresh):
    make_cluster(instances=1)  # AWS: with no Aurora Replica the reader endpoint connects to the primary
    with sql.connect("shop", reader=True) as conn:
        conn.execute("CREATE TABLE t (v int)")


def test_instance_endpoints_follow_their_role(fresh):
    make_cluster()
    rds = stacklab.client("rds")
    members = {i["DBInstanceIdentifier"]: i["Endpoint"]["Address"] for i in rds.describe_db_instances()["DBInstances"]}
    with psycopg.connect(host=members["shop-2"], port=5432, user="app_admin", password=PASSWORD, dbname="shop") as c:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            c.execute("CREATE TABLE t (v int)")
    with psycopg.connect(host=members["shop-1"], port=5432, user="app_admin", password=PASSWORD, dbname="shop") as c:
        c.execute("CREATE TABLE t (v int)")


def test_failover_moves_the_writer_and_drops_sessions(fresh):
    make_cluster()
    old = sql.connect("shop", autocommit=True)
    old.execute("CREATE TABLE t (v int)")
    out = stacklab.client("rds").failover_db_cluster(DBClusterIdentifier="shop")["DBCluster"]
    assert {m["DBInstanceIdentifier"]: m["IsClusterWriter"] for m in out["DBClusterMembers"]} == {
        "shop-1": False, "shop-2": True}  # fmt: skip
    assert sql.failovers("shop") == [{"from": "shop-1", "to": "shop-2", "terminated_sessions": 1}]
    with pytest.raises(psycopg.OperationalError):
        old.execute("SELECT 1")
    old.close()
    with sql.connect("shop") as new:  # the writer endpoint now reaches the new writer; the data is shared
        new.execute("INSERT INTO t VALUES (1)")
    members = {i["DBInstanceIdentifier"]: i["Endpoint"]["Address"]
               for i in stacklab.client("rds").describe_db_instances()["DBInstances"]}  # fmt: skip
    with psycopg.connect(host=members["shop-1"], port=5432, user="app_admin", password=PASSWORD, dbname="shop") as c:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            c.execute("INSERT INTO t VALUES (2)")


def test_failover_before_any_connection_is_recorded(fresh):
    make_cluster()
    stacklab.client("rds").failover_db_cluster(DBClusterIdentifier="shop", TargetDBInstanceIdentifier="shop-2")
    assert sql.failovers("shop") == [{"from": "shop-1", "to": "shop-2", "terminated_sessions": 0}]
    with sql.connect("shop") as conn:  # the server starts with shop-2 as the writer
        conn.execute("CREATE TABLE t (v int)")
    stacklab.reset()
    make_cluster()
    assert sql.failovers("shop") == []


def test_reset_stops_everything(fresh):
    cluster = make_cluster()
    with sql.connect("shop", reader=True) as conn:
        conn.execute("SELECT 1")
    pid = sql.server_pid("shop")
    assert pid is not None and os.path.exists(f"/proc/{pid}")
    stacklab.reset()
    assert not os.path.exists(f"/proc/{pid}") or "Z" in open(f"/proc/{pid}/status").read().split("State:")[1][:4]
    assert not [t for t in threading.enumerate() if t.name.startswith("stacklab-") and "warm" not in t.name]
    assert (cluster["Endpoint"], 5432) not in netguard.local_endpoints()
    make_cluster()  # a clean slate: same names, no old tables
    with sql.connect("shop") as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)


def test_deleted_cluster_stops_its_server(fresh):
    make_cluster(instances=1)
    sql.endpoint("shop")
    rds = stacklab.client("rds")
    rds.delete_db_instance(DBInstanceIdentifier="shop-1")
    rds.delete_db_cluster(DBClusterIdentifier="shop", SkipFinalSnapshot=True)
    assert sql.running() == []


def test_bad_input(fresh):
    cluster = make_cluster("empty", instances=0)
    with pytest.raises(InputError, match="No DB cluster 'ghost'"):
        sql.endpoint("ghost")
    with pytest.raises(StackLabError, match="has no DB instances"):
        sql.connect("empty")
    with pytest.raises(psycopg.OperationalError, match="has no DB instances"):
        psycopg.connect(host=cluster["Endpoint"], port=5432, user="app_admin", password=PASSWORD, connect_timeout=2)
    make_cluster(instances=1)
    host, _ = sql.endpoint("shop")
    with pytest.raises(psycopg.OperationalError, match="listens on 5432"):
        psycopg.connect(host=host, port=5433, user="app_admin", password=PASSWORD, connect_timeout=2)
    with pytest.raises(psycopg.OperationalError, match="no DB cluster or instance"):
        psycopg.connect(host="nope.cluster-x.us-east-1.rds.amazonaws.com", port=5432, connect_timeout=2)
    with pytest.raises(InputError, match="reader must be True or False"):
        sql.endpoint("shop", reader="yes")
    with pytest.raises(InputError, match="postgresql://"):
        sql.use_server("mysql://x")
    with pytest.raises(InputError, match="needs an exception"):
        sql.error_text("boom")
    stacklab.client("rds").create_db_cluster(DBClusterIdentifier="my", Engine="aurora-mysql", MasterUsername="a",
                                             MasterUserPassword=PASSWORD)  # fmt: skip
    with pytest.raises(StackLabError, match="aurora-postgresql"):
        sql.endpoint("my")


def test_enable_http_endpoint_is_stored_and_switchable(fresh):
    cluster = make_cluster(instances=0, EnableHttpEndpoint=True)
    assert cluster["HttpEndpointEnabled"] is True
    rds = stacklab.client("rds")
    out = rds.disable_http_endpoint(ResourceArn=cluster["DBClusterArn"])
    assert out["HttpEndpointEnabled"] is False
    assert rds.describe_db_clusters(DBClusterIdentifier="shop")["DBClusters"][0]["HttpEndpointEnabled"] is False
    assert rds.enable_http_endpoint(ResourceArn=cluster["DBClusterArn"])["HttpEndpointEnabled"] is True


def test_no_orphan_postgres_when_the_kernel_dies():
    import subprocess
    import sys
    import time

    code = (  # a kernel that dies without running atexit (kill -9, crash)
        "import os\nfrom stacklab.planes.sql_server import PostgresServer\n"
        "s = PostgresServer.start()\nprint(s.pid, s.root, flush=True)\nos._exit(0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    pid_text, root = out.stdout.split()
    pid = int(pid_text)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            state = open(f"/proc/{pid}/status").read().split("State:")[1].split()[0]
        except FileNotFoundError:
            break
        if state == "Z":
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"postmaster {pid} outlived its kernel")
    shutil.rmtree(root, ignore_errors=True)


def test_existing_server_by_url(fresh):
    from stacklab.planes.sql_server import ADMIN_USER, PostgresServer

    external = PostgresServer.start()
    try:
        sql.use_server(f"postgresql://{ADMIN_USER}@/postgres?host={external.socket_dir}&port={external.port}")
        cluster = make_cluster()
        with psycopg.connect(host=cluster["Endpoint"], port=5432, user="app_admin", password=PASSWORD,
                             dbname="shop") as conn:  # fmt: skip
            assert conn.execute("SELECT inet_server_port()").fetchone() == (external.port,)
        assert sql.server_pid("shop") is None  # not ours to stop
        stacklab.reset()  # drops what the plane created, leaves the server running
        assert external.alive()
        with external.admin_connect() as admin:
            assert admin.execute("SELECT count(*) FROM pg_database WHERE datname = 'shop'").fetchone() == (0,)
            assert admin.execute("SELECT count(*) FROM pg_roles WHERE rolname = 'app_admin'").fetchone() == (0,)
    finally:
        sql.use_server(None)
        external.stop()

"""The RDS Data API on the SQL plane: typed records, parameters, transactions, errors, and `aws rds-data`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from botocore.exceptions import ClientError

import stacklab
from stacklab.planes import sql, sql_server
from stacklab.planes import sql_data_api as api

PASSWORD = "s3cret-pass"


@pytest.fixture(scope="module")
def db(box):
    stacklab.reset()
    rds = stacklab.client("rds")
    cluster = rds.create_db_cluster(DBClusterIdentifier="shop", Engine="aurora-postgresql", MasterUsername="app_admin",
                                    MasterUserPassword=PASSWORD, DatabaseName="shop",
                                    EnableHttpEndpoint=True)["DBCluster"]  # fmt: skip
    rds.create_db_instance(DBInstanceIdentifier="shop-1", DBClusterIdentifier="shop", Engine="aurora-postgresql",
                           DBInstanceClass="db.serverless")  # fmt: skip
    sm = stacklab.client("secretsmanager")
    secret = sm.create_secret(Name="shop-admin", SecretString=json.dumps({"username": "app_admin",
                                                                          "password": PASSWORD}))["ARN"]  # fmt: skip
    data = stacklab.client("rds-data")
    call = {"resourceArn": cluster["DBClusterArn"], "secretArn": secret, "database": "shop"}
    data.execute_statement(**call, sql="""CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL,
        price numeric(8,2), qty bigint, ok boolean, ratio float8, born date, at timestamp, uid uuid, doc jsonb,
        tags text[], nums int[], raw bytea)""")
    yield data, call, cluster, secret
    stacklab.reset()


def test_types_round_trip(db):
    data, call, _, _ = db
    params = [
        {"name": "name", "value": {"stringValue": "pen"}},
        {"name": "price", "value": {"stringValue": "1.50"}, "typeHint": "DECIMAL"},
        {"name": "qty", "value": {"longValue": 7}},
        {"name": "ok", "value": {"booleanValue": True}},
        {"name": "ratio", "value": {"doubleValue": 0.25}},
        {"name": "born", "value": {"stringValue": "2024-02-29"}, "typeHint": "DATE"},
        {"name": "at", "value": {"stringValue": "2024-02-29 10:30:00"}, "typeHint": "TIMESTAMP"},
        {"name": "uid", "value": {"stringValue": "12345678-1234-5678-1234-567812345678"}, "typeHint": "UUID"},
        {"name": "doc", "value": {"stringValue": '{"a": 1}'}, "typeHint": "JSON"},
        {"name": "raw", "value": {"blobValue": b"\x00\x01"}},
    ]
    out = data.execute_statement(**call, parameters=params, sql="""INSERT INTO items
        (name, price, qty, ok, ratio, born, at, uid, doc, tags, nums, raw) VALUES
        (:name, :price, :qty, :ok, :ratio, :born, :at, :uid, :doc, '{a,b}', '{1,2}', :raw)""")
    assert out["numberOfRecordsUpdated"] == 1 and out["generatedFields"] == []
    row = data.execute_statement(**call, sql="SELECT * FROM items WHERE name = :n",
                                 parameters=[{"name": "n", "value": {"stringValue": "pen"}}])["records"][0]  # fmt: skip
    assert row == [
        {"longValue": 1}, {"stringValue": "pen"}, {"stringValue": "1.50"}, {"longValue": 7}, {"booleanValue": True},
        {"doubleValue": 0.25}, {"stringValue": "2024-02-29"}, {"stringValue": "2024-02-29 10:30:00"},
        {"stringValue": "12345678-1234-5678-1234-567812345678"}, {"stringValue": '{"a":1}'},
        {"arrayValue": {"stringValues": ["a", "b"]}}, {"arrayValue": {"longValues": [1, 2]}},
        {"blobValue": b"\x00\x01"},
    ]


def test_nulls_metadata_json_and_options(db):
    data, call, _, _ = db
    data.execute_statement(**call, sql="INSERT INTO items (name, price) VALUES ('cap', NULL)")
    out = data.execute_statement(**call, sql="SELECT name, price, id FROM items WHERE name = 'cap'",
                                 includeResultMetadata=True, resultSetOptions={"longReturnType": "STRING"})  # fmt: skip
    name, price, ident = out["records"][0]
    assert (name, price, set(ident)) == ({"stringValue": "cap"}, {"isNull": True}, {"stringValue"})
    assert [(m["name"], m["typeName"], m["type"]) for m in out["columnMetadata"]] == [
        ("name", "text", 12), ("price", "numeric", 2), ("id", "int4", 4)]  # fmt: skip
    assert out["numberOfRecordsUpdated"] == 0
    js = data.execute_statement(**call, sql="SELECT name, price FROM items WHERE name = 'cap'", formatRecordsAs="JSON")
    assert "records" not in js and json.loads(js["formattedRecords"]) == [{"name": "cap", "price": None}]
    dec = data.execute_statement(**call, sql="SELECT 2.5::numeric, 3::numeric",
                                 resultSetOptions={"decimalReturnType": "DOUBLE_OR_LONG"})  # fmt: skip
    assert dec["records"] == [[{"doubleValue": 2.5}, {"longValue": 3}]]


def test_placeholders_leave_strings_casts_and_percent_alone(db):
    data, call, _, _ = db
    out = data.execute_statement(**call, sql="SELECT ':x' AS s, :v::text AS t, '5%' AS p -- :y",
                                 parameters=[{"name": "v", "value": {"longValue": 3}}])  # fmt: skip
    assert out["records"] == [[{"stringValue": ":x"}, {"stringValue": "3"}, {"stringValue": "5%"}]]


def test_returning_and_batch(db):
    data, call, _, _ = db
    out = data.execute_statement(**call, sql="INSERT INTO items (name) VALUES ('r') RETURNING name")
    assert out["records"] == [[{"stringValue": "r"}]] and out["numberOfRecordsUpdated"] == 1
    sets = [[{"name": "n", "value": {"stringValue": f"b{i}"}}] for i in range(3)]
    batch = data.batch_execute_statement(**call, sql="INSERT INTO items (name) VALUES (:n)", parameterSets=sets)
    assert batch["updateResults"] == [{"generatedFields": []}] * 3
    with pytest.raises(ClientError, match="not-null"):  # all or nothing
        data.batch_execute_statement(**call, sql="INSERT INTO items (name) VALUES (:n)", parameterSets=[
            [{"name": "n", "value": {"stringValue": "c1"}}], [{"name": "n", "value": {"isNull": True}}]])  # fmt: skip
    count = data.execute_statement(**call, sql="SELECT count(*) FROM items WHERE name = 'c1'")["records"]
    assert count == [[{"longValue": 0}]]


def test_transactions(db):
    data, call, _, _ = db
    auth = {k: call[k] for k in ("resourceArn", "secretArn")}
    tx = data.begin_transaction(**call)["transactionId"]
    data.execute_statement(**call, sql="INSERT INTO items (name) VALUES ('tx')", transactionId=tx)
    seen = data.execute_statement(**call, sql="SELECT count(*) FROM items WHERE name = 'tx'")["records"]
    assert seen == [[{"longValue": 0}]]  # not committed yet: other sessions do not see it
    assert data.commit_transaction(**auth, transactionId=tx)["transactionStatus"] == "Transaction Committed"
    seen = data.execute_statement(**call, sql="SELECT count(*) FROM items WHERE name = 'tx'")["records"]
    assert seen == [[{"longValue": 1}]]
    with pytest.raises(ClientError) as err:
        data.commit_transaction(**auth, transactionId=tx)
    assert err.value.response["Error"]["Code"] == "TransactionNotFoundException"
    tx2 = data.begin_transaction(**call)["transactionId"]
    data.execute_statement(**call, sql="DELETE FROM items", transactionId=tx2)
    assert data.rollback_transaction(**auth, transactionId=tx2)["transactionStatus"] == "Rollback Complete"
    tx3 = data.begin_transaction(**call)["transactionId"]
    with pytest.raises(ClientError, match="DatabaseErrorException"):
        data.execute_statement(**call, sql="SELEC 1", transactionId=tx3)
    with pytest.raises(ClientError, match="error from a previous call"):
        data.execute_statement(**call, sql="SELECT 1", transactionId=tx3)
    tx4 = data.begin_transaction(**call)["transactionId"]
    stacklab.current().clock.advance(181)
    with pytest.raises(ClientError, match="expired"):
        data.execute_statement(**call, sql="SELECT 1", transactionId=tx4)


def test_abandoned_transaction_expires_on_any_call_and_frees_its_row_locks(db):
    data, call, _, _ = db
    data.execute_statement(**call, sql="INSERT INTO items (id, name, qty) VALUES (900, 'locked', 1)")
    held = data.begin_transaction(**call)["transactionId"]
    data.execute_statement(**call, sql="UPDATE items SET qty = 2 WHERE id = 900", transactionId=held)
    stacklab.current().clock.advance(minutes=10)  # the transaction is never used again
    started = time.monotonic()
    out = data.execute_statement(**call, sql="UPDATE items SET qty = 3 WHERE id = 900")  # no transactionId
    assert out["numberOfRecordsUpdated"] == 1 and time.monotonic() - started < 1.5
    rows = data.execute_statement(**call, sql="SELECT qty FROM items WHERE id = 900")["records"]
    assert rows == [[{"longValue": 3}]]  # the abandoned update was rolled back, not committed
    with pytest.raises(ClientError, match="3 minutes") as err:
        data.execute_statement(**call, sql="SELECT 1", transactionId=held)
    assert err.value.response["Error"]["Code"] == "TransactionNotFoundException"


def test_transaction_in_use_is_kept_and_ends_after_24_hours(db, monkeypatch):
    data, call, _, _ = db
    monkeypatch.setattr(api, "_TX_MAX_SECONDS", 300)  # 24 h of calls every 2 minutes would be slow
    tx = data.begin_transaction(**call)["transactionId"]
    for _ in range(2):
        stacklab.current().clock.advance(150)  # used within 3 minutes: still open
        data.execute_statement(**call, sql="SELECT 1", transactionId=tx)
    stacklab.current().clock.advance(150)
    assert api.expire_transactions() == [tx]  # the cheap clock check, without a Data API call
    with pytest.raises(ClientError, match="24 hours"):
        data.execute_statement(**call, sql="SELECT 1", transactionId=tx)


def test_new_connection_checks_the_clock(db):
    data, call, _, _ = db
    tx = data.begin_transaction(**call)["transactionId"]
    stacklab.current().clock.advance(181)
    with sql.connect("shop", connect_timeout=5) as conn:  # ensure() runs the expiry check
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert tx not in api._transactions


def test_blocked_statement_fails_fast_with_the_lock_named(db, monkeypatch):
    data, call, _, _ = db
    monkeypatch.setattr(sql_server, "LOCK_TIMEOUT_MS", 200)
    data.execute_statement(**call, sql="INSERT INTO items (id, name, qty) VALUES (901, 'busy', 1)")
    holder = data.begin_transaction(**call)["transactionId"]
    data.execute_statement(**call, sql="UPDATE items SET qty = 2 WHERE id = 901", transactionId=holder)
    started = time.monotonic()
    code, message, status = error_of(data.execute_statement, **call, sql="UPDATE items SET qty = 5 WHERE id = 901")
    assert time.monotonic() - started < 3
    assert (code, status) == ("DatabaseErrorException", 400)
    assert "canceling statement due to lock timeout" in message and 'relation "items"' in message
    assert "SQLState: 55P03" in message
    auth = {k: call[k] for k in ("resourceArn", "secretArn")}
    data.commit_transaction(**auth, transactionId=holder)  # the holder was not disturbed
    rows = data.execute_statement(**call, sql="SELECT qty FROM items WHERE id = 901")["records"]
    assert rows == [[{"longValue": 2}]]


def test_statement_timeout_is_aws_shaped(db, monkeypatch):
    data, call, _, _ = db
    monkeypatch.setattr(sql_server, "STATEMENT_TIMEOUT_MS", 200)
    code, message, status = error_of(data.execute_statement, **call, sql="SELECT pg_sleep(5)")
    assert (code, status) == ("StatementTimeoutException", 400) and "0.2 seconds" in message
    tx = data.begin_transaction(**call)["transactionId"]
    with pytest.raises(ClientError, match="StatementTimeoutException"):
        data.execute_statement(**call, sql="SELECT pg_sleep(5)", transactionId=tx)
    with pytest.raises(ClientError, match="error from a previous call"):  # the transaction ended with it
        data.execute_statement(**call, sql="SELECT 1", transactionId=tx)


def test_server_sessions_have_timeouts(db):
    with sql.connect("shop", connect_timeout=5) as conn:  # a learner's psycopg session
        assert conn.execute("SHOW lock_timeout").fetchone() == ("2s",)
        assert conn.execute("SHOW statement_timeout").fetchone() == ("45s",)


def error_of(func, **kwargs):
    with pytest.raises(ClientError) as err:
        func(**kwargs)
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"], \
        err.value.response["ResponseMetadata"]["HTTPStatusCode"]  # fmt: skip


def test_errors_table(db):
    data, call, cluster, secret = db
    rds = stacklab.client("rds")
    sm = stacklab.client("secretsmanager")
    bad_secret = sm.create_secret(Name="bad", SecretString=json.dumps({"username": "app_admin", "password": "no"}))
    not_json = sm.create_secret(Name="notjson", SecretString="hello")
    off = rds.create_db_cluster(DBClusterIdentifier="off", Engine="aurora-postgresql", MasterUsername="a",
                                MasterUserPassword=PASSWORD)["DBCluster"]  # fmt: skip
    empty = rds.create_db_cluster(DBClusterIdentifier="empty", Engine="aurora-postgresql", MasterUsername="a",
                                  MasterUserPassword=PASSWORD, EnableHttpEndpoint=True)["DBCluster"]  # fmt: skip
    arn = cluster["DBClusterArn"]
    table = [
        ({"sql": "SELEC 1"}, "DatabaseErrorException", 'syntax error at or near "SELEC"'),
        ({"sql": "SELECT * FROM nope"}, "DatabaseErrorException", "SQLState: 42P01"),
        ({"sql": "SELECT :missing"}, "BadRequestException", "No value specified for parameter: missing"),
        ({"resourceArn": arn.replace("shop", "ghost")}, "NotFoundException", "not found"),
        ({"resourceArn": "not-an-arn:shop"}, "BadRequestException", "Invalid resourceArn"),
        ({"resourceArn": off["DBClusterArn"]}, "HttpEndpointNotEnabledException", "HttpEndpoint is not enabled"),
        ({"resourceArn": empty["DBClusterArn"]}, "DatabaseNotFoundException", "has no DB instance"),
        ({"secretArn": secret + "x"}, "SecretsErrorException", "not found"),
        ({"secretArn": not_json["ARN"]}, "InvalidSecretException", "username"),
        ({"secretArn": bad_secret["ARN"]}, "DatabaseErrorException", "password authentication failed"),
        ({"database": "nope"}, "DatabaseErrorException", 'database "nope" does not exist'),
        ({"parameters": [{"name": "a", "value": {"arrayValue": {"longValues": [1]}}}], "sql": "SELECT :a"},
         "BadRequestException", "Array parameters are not supported"),
        ({"parameters": [{"name": "a", "value": {"stringValue": "x"}, "typeHint": "DATE"}], "sql": "SELECT :a"},
         "BadRequestException", "not a valid DATE"),
    ]
    for change, code, message in table:
        kwargs = {**call, "sql": "SELECT 1", **change}
        got_code, got_message, status = error_of(data.execute_statement, **kwargs)
        assert (got_code, message in got_message) == (code, True), (change, got_code, got_message)
        assert status == api._STATUS[code]
        plain = error_of(api.execute_statement, **kwargs)  # the plain function raises the same
        assert plain[0] == code


def test_plain_function_returns_boto_shape(db):
    _, call, _, _ = db
    out = api.execute_statement(**call, sql="SELECT 1 AS one")
    assert out == {"numberOfRecordsUpdated": 0, "records": [[{"longValue": 1}]]}


def test_aws_cli_runs_sql_against_the_sandbox(db):
    _, call, _, _ = db
    stacklab.start(cli=True, fresh=False)
    cmd = [os.path.join(os.path.dirname(sys.executable), "aws"), "rds-data", "execute-statement",
           "--resource-arn", call["resourceArn"], "--secret-arn", call["secretArn"], "--database", "shop",
           "--sql", "SELECT 40 + 2 AS answer"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=os.environ.copy())
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["records"] == [[{"longValue": 42}]]
    cmd[-1] = "SELEC 1"
    bad = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=os.environ.copy())
    assert bad.returncode != 0 and "DatabaseErrorException" in bad.stderr

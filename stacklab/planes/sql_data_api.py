"""The RDS Data API (``rds-data``) answered by running the SQL on the cluster's PostgreSQL.

moto 5.2.5 answers ``execute_statement`` with ``{"records": []}`` for any SQL and 404s the other
operations. Importing this module (``stacklab.planes.sql`` does; the sandbox imports it before the first
``rds``/``rds-data`` call) replaces moto's ``rds-data`` responses, so boto3 in the kernel and
``!aws rds-data ...`` cells both run SQL for real. The same operations are plain functions, with
boto3's keyword arguments, returning boto3's response dict (without ``ResponseMetadata``) or raising
``botocore.exceptions.ClientError`` with AWS's error code:

* ``execute_statement(resourceArn, secretArn, sql, database=None, parameters=None, transactionId=None,
  includeResultMetadata=False, formatRecordsAs="NONE", resultSetOptions=None, ...) -> dict``;
* ``batch_execute_statement(resourceArn, secretArn, sql, parameterSets=None, ...) -> {"updateResults"}``;
* ``begin_transaction(resourceArn, secretArn, database=None) -> {"transactionId"}``;
* ``commit_transaction(resourceArn, secretArn, transactionId) -> {"transactionStatus": "Transaction Committed"}``;
* ``rollback_transaction(...) -> {"transactionStatus": "Rollback Complete"}``.

AWS rules implemented (reference: the Data API reference and "Using the Amazon RDS Data API" in the
Aurora User Guide):

* the cluster (``resourceArn``) must exist (``NotFoundException``), have the HTTP endpoint enabled
  (``EnableHttpEndpoint=True`` at create time or ``rds.enable_http_endpoint(ResourceArn=...)``; else
  ``HttpEndpointNotEnabledException``) and have a DB instance (``DatabaseNotFoundException``);
* the credentials come only from the Secrets Manager secret ``secretArn`` (JSON ``username``/``password``):
  unknown → ``SecretsErrorException``; not JSON with both keys → ``InvalidSecretException``; a wrong
  password → the database refuses the login (``DatabaseErrorException``, PostgreSQL's message);
* SQL errors → ``DatabaseErrorException`` with PostgreSQL's message, ``Position`` and ``SQLState``
  (the current service model marks ``BadRequestException``, which older Data API versions returned
  for SQL errors, as deprecated; it is still used here for malformed requests);
* named parameters ``:name`` with typed values (``longValue``, ``doubleValue``, ``stringValue``,
  ``booleanValue``, ``blobValue``, ``isNull``; ``arrayValue`` parameters are not supported, as on AWS) and
  ``typeHint`` ``DECIMAL``/``TIMESTAMP``/``DATE``/``TIME``/``UUID``/``JSON`` (the string is converted);
* records as typed fields: integers ``longValue``, floats ``doubleValue``, booleans ``booleanValue``,
  NULL ``{"isNull": true}``, ``bytea`` ``blobValue``, arrays ``arrayValue``; ``numeric``, dates, times,
  timestamps, UUIDs, JSON and other types as ``stringValue`` (``resultSetOptions``: ``decimalReturnType``
  ``DOUBLE_OR_LONG``, ``longReturnType`` ``STRING``); ``columnMetadata`` with ``includeResultMetadata``;
  ``formatRecordsAs="JSON"`` → ``formattedRecords`` (a JSON string of row objects) instead of ``records``;
  ``numberOfRecordsUpdated``; ``generatedFields`` is always empty for PostgreSQL (AWS: use ``RETURNING``);
* without ``transactionId`` each call commits on success; a transaction ends with commit/rollback, after
  an error of one of its statements, when no call has used its id for **3 minutes**, or **24 hours** after
  it began (both on the sandbox clock; rolled back, as on AWS) → afterwards ``TransactionNotFoundException``.
  Expiry is checked at the start of **every** Data API call (any transaction, any operation), at every new
  connection to the cluster (``stacklab.planes.sql.ensure``), after ``sql_capacity.simulate`` moves the
  clock, and by :func:`expire_transactions`, so an abandoned transaction releases its row locks as soon
  as the clock has moved past its deadline;
* a call runs for at most **45 seconds** on AWS; by default the statement is then stopped
  (``continueAfterTimeout=True`` lets it run on, the caller still gets the error). Here every Data API
  session has ``statement_timeout`` = :data:`~stacklab.planes.sql_server.STATEMENT_TIMEOUT_MS` (45 s) →
  ``StatementTimeoutException``, and ``lock_timeout`` =
  :data:`~stacklab.planes.sql_server.LOCK_TIMEOUT_MS` (2 s): a statement waiting for a row another
  transaction holds fails with ``DatabaseErrorException`` ``ERROR: canceling statement due to lock timeout``
  (with PostgreSQL's ``Where: while updating tuple … in relation "orders"``; SQLState ``55P03``) instead of
  waiting. AWS sets no lock timeout: there the statement would wait up to the 45-second call limit.

Simplifications: ``schema`` is ignored (AWS ignores it too); ``continueAfterTimeout`` is accepted but the
statement is always stopped at the timeout (nothing runs on after the call); the 45 s are wall-clock
time (the sandbox clock does not move during a statement); the lock timeout is the sandbox's own "never
hang" rule; ``dbConnectionId`` is not returned; the 1 MiB result limit is not enforced; connections are
not pooled.

Public helpers besides the operations: ``expire_transactions() -> list[str]`` (roll back expired
transactions now; returns their ids), ``forget_transactions()`` (the plane's reset).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from stacklab import sandbox

_STATUS = {
    "BadRequestException": 400, "DatabaseErrorException": 400, "HttpEndpointNotEnabledException": 400,
    "SecretsErrorException": 400, "InvalidSecretException": 400, "NotFoundException": 404,
    "DatabaseNotFoundException": 404, "TransactionNotFoundException": 404, "StatementTimeoutException": 400,
}  # fmt: skip
_TX_IDLE_SECONDS = 180
_TX_MAX_SECONDS = 24 * 3600
_DOCS = "https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/data-api.html"


class _DataApiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _client_error(err: _DataApiError, operation: str) -> Any:
    from botocore.exceptions import ClientError

    return ClientError(
        {"Error": {"Code": err.code, "Message": err.message},
         "ResponseMetadata": {"HTTPStatusCode": _STATUS.get(err.code, 400)}},
        operation,
    )  # fmt: skip


@dataclass
class _Transaction:
    arn: str
    conn: Any
    last_used: float
    started: float


_transactions: dict[str, _Transaction] = {}
_ended: dict[str, str] = {}
_lock = threading.RLock()


def _expiry(tx: _Transaction, now: float) -> str | None:
    """Why ``tx`` has expired at ``now`` (sandbox seconds), or None while it is still open."""
    if now - tx.started > _TX_MAX_SECONDS:
        return "The transaction was rolled back after 24 hours, the Data API's maximum transaction time."
    if now - tx.last_used > _TX_IDLE_SECONDS:
        return "The transaction may have expired (no call used it for more than 3 minutes; it was rolled back)."
    return None


def expire_transactions() -> list[str]:
    """Roll back every Data API transaction idle for over 3 minutes or open for over 24 hours (sandbox clock)."""
    if not sandbox.is_running():
        return []
    now = sandbox.current().clock.time()
    with _lock:
        due = [(tx_id, cause) for tx_id, tx in _transactions.items() if (cause := _expiry(tx, now))]
    for tx_id, cause in due:
        try:
            _end(tx_id, cause)
        except Exception:  # noqa: BLE001 - the server may be gone already; the transaction is ended anyway
            pass
    return [tx_id for tx_id, _ in due]


def forget_transactions() -> None:
    """Roll back and close every open Data API transaction (the SQL plane's reset does this)."""
    with _lock:
        for tx in _transactions.values():
            try:
                tx.conn.close()
            except Exception:  # noqa: BLE001 - the server may be gone already
                pass
        _transactions.clear()
        _ended.clear()


# ------------------------------------------------------------------------------------ request checks


def _require(kwargs: dict[str, Any], name: str) -> str:
    value = kwargs.get(name)
    if not isinstance(value, str) or not value:
        raise _DataApiError("BadRequestException", f"{name} is required and must be a non-empty string.")
    return value


def _cluster(arn: str) -> Any:
    from stacklab.planes import sql

    if not re.fullmatch(r"arn:aws[\w-]*:rds:[\w-]+:\d{12}:cluster:[\w-]+", arn):
        raise _DataApiError("BadRequestException", f"Invalid resourceArn {arn!r}: expected a DB cluster ARN "
                            "(arn:aws:rds:REGION:ACCOUNT:cluster:NAME).")  # fmt: skip
    cluster = next((c for c in sql._clusters().values() if c.db_cluster_arn == arn), None)
    if cluster is None:
        raise _DataApiError("NotFoundException", f"DB cluster {arn} not found.")
    if not cluster.http_endpoint_enabled:
        raise _DataApiError(
            "HttpEndpointNotEnabledException",
            f"HttpEndpoint is not enabled for cluster {cluster.db_cluster_identifier}. Please refer to {_DOCS}"
            "#data-api.troubleshooting",
        )
    if not cluster.members:
        name = cluster.db_cluster_identifier
        raise _DataApiError("DatabaseNotFoundException", f"DB cluster {name} has no DB instance.")
    return cluster


def _secret(secret_arn: str) -> dict[str, str]:
    from moto.secretsmanager.models import secretsmanager_backends

    box = sandbox.current()
    try:
        value = secretsmanager_backends[box.account_id][box.region].get_secret_value(secret_arn, None, None)
    except Exception as exc:  # noqa: BLE001 - moto raises its own not-found types
        raise _DataApiError("SecretsErrorException", f"The secret {secret_arn} was not found.") from exc
    try:
        creds = json.loads(value.get("SecretString") or "")
        return {"username": str(creds["username"]), "password": str(creds["password"])}
    except (ValueError, KeyError, TypeError) as exc:
        raise _DataApiError(
            "InvalidSecretException", f"The secret {secret_arn} must be JSON with 'username' and 'password' keys."
        ) from exc


def _db_error(exc: Exception) -> _DataApiError:
    from stacklab.planes import sql_server

    diag = getattr(exc, "diag", None)
    message = (getattr(diag, "message_primary", None) or str(exc).strip()).strip()
    severity = getattr(diag, "severity_nonlocalized", None) or "ERROR"
    text = f"{severity}: {message}"
    position = getattr(diag, "statement_position", None)
    state = getattr(diag, "sqlstate", None)
    if state == "57014" and "statement timeout" in message:
        return _DataApiError(
            "StatementTimeoutException",
            f"The SQL statement ran longer than {sql_server.STATEMENT_TIMEOUT_MS / 1000:g} seconds, the Data API's "
            "call timeout, and was stopped. Make it faster, or split the work into smaller statements.",
        )
    context = getattr(diag, "context", None)
    if state == "55P03" and context:  # lock_not_available: name the row and table that were locked
        text += f"\n  Where: {context.strip()}"
    if position:
        text += f"\n  Position: {position}"
    if state:
        text += f"; SQLState: {state}"
    return _DataApiError("DatabaseErrorException", text)


def _connect(kwargs: dict[str, Any], cluster: Any) -> Any:
    import psycopg

    from stacklab.planes import sql

    creds = _secret(_require(kwargs, "secretArn"))
    live = sql.ensure(cluster.db_cluster_identifier)
    database = kwargs.get("database") or cluster.database_name or "postgres"
    try:
        return psycopg.connect(
            host="127.0.0.1", port=live.server.port, user=creds["username"], password=creds["password"],
            dbname=database, connect_timeout=5, options=_session_options(),
        )  # fmt: skip
    except psycopg.OperationalError as exc:
        detail = str(exc).strip().splitlines()[-1].split("FATAL:", 1)[-1].strip()
        raise _DataApiError("DatabaseErrorException", f"FATAL: {detail}") from exc


def _session_options() -> str:
    """Timeouts of every Data API session (set here too, so they hold on a server given to ``use_server``)."""
    from stacklab.planes import sql_server

    return f"-c lock_timeout={sql_server.LOCK_TIMEOUT_MS} -c statement_timeout={sql_server.STATEMENT_TIMEOUT_MS}"


def _transaction(tx_id: str, arn: str) -> _Transaction:
    """The open transaction ``tx_id`` (expired ones were rolled back when this call began)."""
    now = sandbox.current().clock.time()
    with _lock:
        tx = _transactions.get(tx_id)
        if tx is None or tx.arn != arn:
            cause = _ended.get(tx_id, "It was not started by BeginTransaction for this resourceArn.")
            raise _DataApiError("TransactionNotFoundException", f"Transaction {tx_id} is not found. {cause}")
        tx.last_used = now
        return tx


def _end(tx_id: str, cause: str, *, commit: bool = False) -> None:
    with _lock:
        tx = _transactions.pop(tx_id, None)
        _ended[tx_id] = cause
    if tx is not None:
        try:
            if commit:
                tx.conn.commit()
            else:
                tx.conn.rollback()
        finally:
            tx.conn.close()


# ------------------------------------------------------------------------------------ parameters


_PLACEHOLDER = re.compile(
    r"""('(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/|\$\$.*?\$\$|::|%|(?<!:):[A-Za-z_]\w*)""", re.S
)


def _convert_sql(text: str, names: set[str]) -> str:
    """``:name`` placeholders → psycopg's ``%(name)s`` (strings, comments and ``::`` casts left alone)."""

    def repl(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "%":
            return "%%"
        if token.startswith(":") and token != "::":
            name = token[1:]
            if name not in names:
                raise _DataApiError("BadRequestException", f"No value specified for parameter: {name}")
            return f"%({name})s"
        return token.replace("%", "%%")  # psycopg reads % everywhere, inside strings too

    return _PLACEHOLDER.sub(repl, text)


def _param_value(param: dict[str, Any]) -> Any:
    from psycopg.types.json import Jsonb

    value = param.get("value") or {}
    if not isinstance(value, dict) or len(value) != 1:
        raise _DataApiError("BadRequestException", f"Parameter {param.get('name')!r} needs exactly one typed value.")
    kind, raw = next(iter(value.items()))
    if kind == "isNull":
        return None
    if kind == "arrayValue":
        raise _DataApiError("BadRequestException", "Array parameters are not supported.")
    if kind == "blobValue":
        return bytes(raw)
    hint = param.get("typeHint")
    if kind != "stringValue" or not hint:
        return raw
    try:
        return {
            "DECIMAL": decimal.Decimal, "UUID": uuid.UUID, "JSON": lambda s: Jsonb(json.loads(s)),
            "TIMESTAMP": dt.datetime.fromisoformat, "DATE": dt.date.fromisoformat, "TIME": dt.time.fromisoformat,
        }[hint](raw)  # fmt: skip
    except KeyError as exc:
        raise _DataApiError("BadRequestException", f"Unknown typeHint {hint!r}.") from exc
    except (ValueError, decimal.InvalidOperation) as exc:
        raise _DataApiError("BadRequestException", f"Value {raw!r} of parameter {param.get('name')!r} "
                            f"is not a valid {hint}.") from exc  # fmt: skip


def _params(parameters: Any) -> dict[str, Any]:
    if parameters is None:
        return {}
    if not isinstance(parameters, list):
        raise _DataApiError("BadRequestException", "parameters must be a list of {name, value} objects.")
    return {str(p.get("name")): _param_value(p) for p in parameters}


# ------------------------------------------------------------------------------------ results


def _field(value: Any, options: dict[str, Any]) -> dict[str, Any]:
    if value is None:
        return {"isNull": True}
    if isinstance(value, bool):
        return {"booleanValue": value}
    if isinstance(value, int):
        return {"stringValue": str(value)} if options.get("longReturnType") == "STRING" else {"longValue": value}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, decimal.Decimal):
        if options.get("decimalReturnType") == "DOUBLE_OR_LONG":
            return {"longValue": int(value)} if value == value.to_integral_value() else {"doubleValue": float(value)}
        return {"stringValue": str(value)}
    if isinstance(value, (bytes, memoryview)):
        return {"blobValue": bytes(value)}
    if isinstance(value, list):
        return {"arrayValue": _array(value)}
    return {"stringValue": _text(value)}


def _text(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _array(values: list[Any]) -> dict[str, Any]:
    if any(isinstance(v, list) for v in values):
        return {"arrayValues": [_array(v) for v in values]}
    if all(isinstance(v, bool) for v in values):
        return {"booleanValues": values}
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return {"longValues": values}
    if all(isinstance(v, float) for v in values):
        return {"doubleValues": values}
    return {"stringValues": [_text(v) for v in values]}


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str, dict)):
        return value
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return _text(value)


#: JDBC type codes (java.sql.Types) that columnMetadata.type reports, by PostgreSQL type name.
_JDBC = {
    "int2": 5, "int4": 4, "int8": -5, "float4": 7, "float8": 8, "numeric": 2, "bool": -7, "text": 12,
    "varchar": 12, "bpchar": 1, "date": 91, "time": 92, "timestamp": 93, "timestamptz": 93, "bytea": -2,
}  # fmt: skip


def _metadata(cur: Any) -> list[dict[str, Any]]:
    out = []
    for col in cur.description:
        info = cur.connection.adapters.types.get(col.type_code)
        array = info is not None and info.array_oid == col.type_code
        name = ("_" + info.name if array else info.name) if info else "unknown"
        out.append({
            "name": col.name, "label": col.name, "typeName": name, "type": 2003 if array else _JDBC.get(name, 1111),
            "isSigned": name in ("int2", "int4", "int8", "float4", "float8", "numeric"), "isCurrency": False,
            "isCaseSensitive": name in ("text", "varchar", "bpchar"), "isAutoIncrement": False, "nullable": 2,
            "precision": col.precision or col.internal_size or 0, "scale": col.scale or 0, "schemaName": "",
            "tableName": "", "arrayBaseColumnType": 0,
        })  # fmt: skip
    return out


def _run(conn: Any, kwargs: dict[str, Any], sql_text: str, values: dict[str, Any]) -> dict[str, Any]:
    query = _convert_sql(sql_text, set(values))
    with conn.cursor() as cur:
        cur.execute(query, values)
        result: dict[str, Any] = {"numberOfRecordsUpdated": 0}
        if cur.description is None:
            result["numberOfRecordsUpdated"] = max(cur.rowcount, 0)
            result["generatedFields"] = []
            return result
        rows = cur.fetchall()
        if cur.statusmessage and not cur.statusmessage.startswith("SELECT"):
            result["numberOfRecordsUpdated"] = max(cur.rowcount, 0)  # INSERT ... RETURNING
        if kwargs.get("includeResultMetadata"):
            result["columnMetadata"] = _metadata(cur)
        if kwargs.get("formatRecordsAs", "NONE") == "JSON":
            names = [c.name for c in cur.description]
            result["formattedRecords"] = json.dumps([dict(zip(names, map(_json_value, r), strict=True)) for r in rows])
        else:
            options = kwargs.get("resultSetOptions") or {}
            result["records"] = [[_field(v, options) for v in row] for row in rows]
        return result


def _with_connection(kwargs: dict[str, Any], work: Any) -> Any:
    """Run ``work(conn)`` in the call's transaction, or in its own connection committed on success."""
    import psycopg

    arn = _require(kwargs, "resourceArn")
    cluster = _cluster(arn)
    _secret(_require(kwargs, "secretArn"))
    tx_id = kwargs.get("transactionId")
    if tx_id:
        tx = _transaction(str(tx_id), arn)
        try:
            return work(tx.conn)
        except psycopg.Error as exc:
            _end(str(tx_id), "The transaction was stopped because of an error from a previous call.")
            raise _db_error(exc) from exc
    conn = _connect(kwargs, cluster)
    try:
        out = work(conn)
        conn.commit()
        return out
    except psycopg.Error as exc:
        conn.rollback()
        raise _db_error(exc) from exc
    finally:
        conn.close()


# ------------------------------------------------------------------------------------ operations


def _operation(name: str, func: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    sandbox.current()
    expire_transactions()
    try:
        return func(kwargs)
    except _DataApiError as err:
        raise _client_error(err, name) from None


def _execute(kwargs: dict[str, Any]) -> dict[str, Any]:
    sql_text = _require(kwargs, "sql")
    if kwargs.get("formatRecordsAs", "NONE") not in ("NONE", "JSON"):
        raise _DataApiError("BadRequestException", "formatRecordsAs must be NONE or JSON.")
    values = _params(kwargs.get("parameters"))
    return _with_connection(kwargs, lambda conn: _run(conn, kwargs, sql_text, values))


def execute_statement(**kwargs: Any) -> dict[str, Any]:
    """Run one SQL statement, as ``boto3.client('rds-data').execute_statement`` (same keywords)."""
    return _operation("ExecuteStatement", _execute, kwargs)


def _batch(kwargs: dict[str, Any]) -> dict[str, Any]:
    sql_text = _require(kwargs, "sql")
    sets = [_params(s) for s in kwargs.get("parameterSets") or []]

    def work(conn: Any) -> dict[str, Any]:
        for values in sets or [{}]:
            _run(conn, {}, sql_text, values)
        return {"updateResults": [{"generatedFields": []} for _ in sets]}

    return _with_connection(kwargs, work)


def batch_execute_statement(**kwargs: Any) -> dict[str, Any]:
    """Run one statement once per parameter set, all or nothing (as boto3's call)."""
    return _operation("BatchExecuteStatement", _batch, kwargs)


def _begin(kwargs: dict[str, Any]) -> dict[str, Any]:
    from moto.moto_api._internal import mock_random

    arn = _require(kwargs, "resourceArn")
    conn = _connect(kwargs, _cluster(arn))
    tx_id = mock_random.get_random_string(length=48)
    now = sandbox.current().clock.time()
    with _lock:
        _transactions[tx_id] = _Transaction(arn=arn, conn=conn, last_used=now, started=now)
    return {"transactionId": tx_id}


def begin_transaction(**kwargs: Any) -> dict[str, Any]:
    """Start a transaction; later calls pass its ``transactionId``."""
    return _operation("BeginTransaction", _begin, kwargs)


def _finish(kwargs: dict[str, Any], commit: bool) -> dict[str, Any]:
    import psycopg

    arn = _require(kwargs, "resourceArn")
    _cluster(arn)
    _secret(_require(kwargs, "secretArn"))
    tx_id = _require(kwargs, "transactionId")
    _transaction(tx_id, arn)
    try:
        _end(tx_id, "The transaction was already ended by CommitTransaction or RollbackTransaction.", commit=commit)
    except psycopg.Error as exc:
        raise _db_error(exc) from exc
    return {"transactionStatus": "Transaction Committed" if commit else "Rollback Complete"}


def commit_transaction(**kwargs: Any) -> dict[str, Any]:
    """Commit a transaction started with :func:`begin_transaction`."""
    return _operation("CommitTransaction", lambda kw: _finish(kw, True), kwargs)


def rollback_transaction(**kwargs: Any) -> dict[str, Any]:
    """Roll back a transaction started with :func:`begin_transaction`."""
    return _operation("RollbackTransaction", lambda kw: _finish(kw, False), kwargs)


# ------------------------------------------------------------------------------------ moto wiring


_OPERATIONS = {
    "execute_statement": (execute_statement, "Execute"),
    "batch_execute_statement": (batch_execute_statement, "BatchExecute"),
    "begin_transaction": (begin_transaction, "BeginTransaction"),
    "commit_transaction": (commit_transaction, "CommitTransaction"),
    "rollback_transaction": (rollback_transaction, "RollbackTransaction"),
}


def _install() -> None:
    """Replace moto's rds-data responses with the operations above (idempotent)."""
    from botocore.exceptions import ClientError
    from moto.rdsdata import responses, urls

    cls = responses.RDSDataServiceResponse
    if getattr(cls, "_stacklab_sql", False):
        return
    cls._stacklab_sql = True  # type: ignore[attr-defined]

    def handler(func: Any) -> Any:
        def respond(self: Any) -> Any:
            try:
                body = json.loads(self.body or "{}")
            except ValueError:
                body = {}
            for entry in body.get("parameters") or []:
                value = entry.get("value") or {}
                if "blobValue" in value:
                    import base64

                    value["blobValue"] = base64.b64decode(value["blobValue"])
            try:
                out = func(**body)
            except ClientError as exc:
                err = exc.response["Error"]
                status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
                headers = {"x-amzn-ErrorType": err["Code"], "status": str(status)}  # moto reads the status here
                return status, headers, json.dumps({"message": err["Message"]})
            return 200, {}, json.dumps(out, default=_blob_json)

        return respond

    for method, (func, path) in _OPERATIONS.items():
        setattr(cls, method, handler(func))
        urls.url_paths["{0}/" + path + "$"] = urls.response.dispatch


def _blob_json(value: Any) -> Any:
    import base64

    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


_install()

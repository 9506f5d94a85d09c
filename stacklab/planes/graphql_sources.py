"""AppSync data sources: what a resolver's rendered request does, and the result it hands back.

:func:`call` takes a data source (AWS's ``DataSource`` shape, read from the control plane) and the
request that the request mapping template produced, and returns ``$ctx.result`` — or raises
:class:`DataSourceError` (``$ctx.error`` = ``{message, type}``):

* ``AMAZON_DYNAMODB`` (``dynamodbConfig.tableName``/``awsRegion``), through boto3 against the sandbox's
  DynamoDB: ``GetItem`` (``key``, ``consistentRead``) → the item or null; ``PutItem`` (``key``,
  ``attributeValues``, ``condition``) → the item written; ``UpdateItem`` (``key``, ``update``,
  ``condition``) → the item after the update; ``DeleteItem`` (``key``, ``condition``) → the item deleted;
  ``Query`` (``query``, ``index``, ``filter``, ``limit``, ``nextToken``, ``scanIndexForward``,
  ``consistentRead``, ``select``) and ``Scan`` (``index``, ``filter``, ``limit``, ``nextToken``) →
  ``{items, nextToken, scannedCount}``; ``BatchGetItem`` (``tables``: ``{T: {keys, consistentRead}}``)
  → ``{data: {T: [item or null, ...]}, unprocessedKeys}`` in the order of the keys. ``condition``,
  ``update``, ``query`` and ``filter`` are ``{expression, expressionNames, expressionValues}``; items
  come back as plain JSON (AppSync converts DynamoDB's typed values). A failed condition →
  ``DynamoDB:ConditionalCheckFailedException``; other DynamoDB errors → ``DynamoDB:<code>``;
* ``AWS_LAMBDA`` (``lambdaConfig.lambdaFunctionArn``): ``{operation: "Invoke", payload}`` runs the
  function through :mod:`stacklab.planes.functions`; a function error → its ``errorMessage`` with
  ``errorType`` ``Lambda:Unhandled``. (The direct-Lambda event, used when a resolver has no templates,
  is built by the executor.);
* ``HTTP`` (``httpConfig.endpoint``): ``{method, resourcePath, params: {query, headers, body}}`` sent
  to the endpoint — **loopback only** (127.0.0.1 / localhost), 10 s timeout — →
  ``{statusCode, headers, body}``;
* ``NONE``: ``{payload}`` → the payload (a local resolver);
* ``RELATIONAL_DATABASE`` (``rdsHttpEndpointConfig``): ``{statements, variableMap}`` run in order through
  the RDS Data API of :mod:`stacklab.planes.sql_data_api` (engineer S's plane) when it is installed →
  the JSON text ``{"sqlStatementResults": [...]}`` that ``$util.rds.toJsonObject`` reads; without that
  plane → an error saying so. ``variableMap`` values are substituted as SQL literals, as AppSync does.

Simplifications: no ``BatchPutItem``/``BatchDeleteItem``/``TransactWriteItems``/``Sync``, no IAM check of
the ``serviceRoleArn``, ``BatchInvoke`` is not batched, HTTP ``authorizationConfig`` (SigV4) is ignored.
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode, urlsplit

from stacklab.errors import StackLabError

__all__ = ["DataSourceError", "call", "from_dynamodb"]

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_HTTP_TIMEOUT_S = 10.0
#: Where the SQL plane's RDS Data API function ``execute_statement(**kwargs)`` may live (first found wins).
_SQL_MODULES = ("stacklab.planes.sql_data_api", "stacklab.planes.sql")


class DataSourceError(StackLabError):
    """The data source failed: ``$ctx.error`` is ``{"message": message, "type": error_type}``."""

    def __init__(self, message: str, error_type: str) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type


def from_dynamodb(value: dict[str, Any]) -> Any:
    """A DynamoDB-typed value (``{"S": "x"}``, ``{"M": {...}}``, ...) as plain JSON, as AppSync returns it."""
    if not isinstance(value, dict) or len(value) != 1:
        raise DataSourceError(f"Not a DynamoDB typed value: {value!r}.", "DynamoDB:ValidationException")
    kind, inner = next(iter(value.items()))
    if kind == "S":
        return inner
    if kind == "N":
        number = float(inner)
        return int(number) if number.is_integer() and "." not in inner and "e" not in inner.lower() else number
    if kind == "BOOL":
        return bool(inner)
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: from_dynamodb(v) for k, v in inner.items()}
    if kind == "L":
        return [from_dynamodb(v) for v in inner]
    if kind in ("SS", "NS", "BS"):
        return [from_dynamodb({kind[0]: v}) for v in inner]
    if kind == "B":
        return base64.b64encode(inner).decode() if isinstance(inner, bytes) else inner
    raise DataSourceError(f"Unknown DynamoDB type {kind!r}.", "DynamoDB:ValidationException")


def _item(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if raw is None else {k: from_dynamodb(v) for k, v in raw.items()}


def _expression(kwargs: dict[str, Any], spec: Any, key: str) -> None:
    if not spec:
        return
    if not isinstance(spec, dict) or not spec.get("expression"):
        raise DataSourceError(f"The {key} needs an 'expression'.", "MappingTemplate")
    target = {"condition": "ConditionExpression", "update": "UpdateExpression", "query": "KeyConditionExpression",
              "filter": "FilterExpression"}[key]  # fmt: skip
    kwargs[target] = spec["expression"]
    if spec.get("expressionNames"):
        kwargs.setdefault("ExpressionAttributeNames", {}).update(spec["expressionNames"])
    if spec.get("expressionValues"):
        kwargs.setdefault("ExpressionAttributeValues", {}).update(spec["expressionValues"])


def _token(value: Any) -> str | None:
    return base64.b64encode(json.dumps(value).encode()).decode() if value else None


def _untoken(token: Any) -> Any:
    try:
        return json.loads(base64.b64decode(str(token)))
    except ValueError:
        raise DataSourceError("The nextToken is not valid.", "DynamoDB:ValidationException") from None


_clients: dict[tuple[str | None, int, int], Any] = {}
_clients_lock = threading.Lock()


def _dynamodb_client(region: str | None) -> Any:
    """A DynamoDB client of the sandbox, reused while the sandbox session lasts (creating one costs ~10 ms)."""
    import boto3

    from stacklab.sandbox import client, current

    key = (region, id(current()), id(boto3.DEFAULT_SESSION))
    with _clients_lock:
        if key not in _clients:
            for old in [k for k in _clients if k[1:] != key[1:]]:
                del _clients[old]
            _clients[key] = client("dynamodb", region_name=region) if region else client("dynamodb")
        return _clients[key]


def _dynamodb(config: dict[str, Any], request: dict[str, Any]) -> Any:
    table = config["tableName"]
    client = _dynamodb_client(config.get("awsRegion"))
    op = request.get("operation")
    kwargs: dict[str, Any] = {"TableName": table}
    if op in ("GetItem", "PutItem", "UpdateItem", "DeleteItem") and not isinstance(request.get("key"), dict):
        raise DataSourceError(f"Value for field '$[key]' not found (needed by {op}).", "MappingTemplate")
    from botocore.exceptions import ClientError

    try:
        if op == "GetItem":
            resp = client.get_item(Key=request["key"], ConsistentRead=bool(request.get("consistentRead")), **kwargs)
            return _item(resp.get("Item"))
        if op == "PutItem":
            item = {**(request.get("attributeValues") or {}), **request["key"]}
            _expression(kwargs, request.get("condition"), "condition")
            client.put_item(Item=item, **kwargs)
            return _item(item)
        if op == "UpdateItem":
            _expression(kwargs, request.get("update"), "update")
            _expression(kwargs, request.get("condition"), "condition")
            return _item(client.update_item(Key=request["key"], ReturnValues="ALL_NEW", **kwargs).get("Attributes"))
        if op == "DeleteItem":
            _expression(kwargs, request.get("condition"), "condition")
            return _item(client.delete_item(Key=request["key"], ReturnValues="ALL_OLD", **kwargs).get("Attributes"))
        if op in ("Query", "Scan"):
            if op == "Query":
                if not request.get("query"):
                    raise DataSourceError("Value for field '$[query]' not found.", "MappingTemplate")
                _expression(kwargs, request["query"], "query")
                if request.get("scanIndexForward") is False:
                    kwargs["ScanIndexForward"] = False
                if request.get("consistentRead"):
                    kwargs["ConsistentRead"] = True
            _expression(kwargs, request.get("filter"), "filter")
            if request.get("index"):
                kwargs["IndexName"] = request["index"]
            if request.get("limit") is not None:
                kwargs["Limit"] = int(request["limit"])
            if request.get("nextToken"):
                kwargs["ExclusiveStartKey"] = _untoken(request["nextToken"])
            resp = client.query(**kwargs) if op == "Query" else client.scan(**kwargs)
            items = [_item(i) for i in resp.get("Items", [])]
            return {"items": items, "nextToken": _token(resp.get("LastEvaluatedKey")),
                    "scannedCount": resp.get("ScannedCount", 0)}  # fmt: skip
        if op == "BatchGetItem":
            return _batch_get(client, request)
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        message = exc.response["Error"].get("Message") or code
        if code == "ConditionalCheckFailedException":
            message = "The conditional request failed"
        raise DataSourceError(f"{message} (Service: DynamoDb, Status Code: 400)", f"DynamoDB:{code}") from None
    raise DataSourceError(f"Unsupported operation '{op}' for a DynamoDB data source: use GetItem, PutItem, "
                          "UpdateItem, DeleteItem, Query, Scan or BatchGetItem.", "MappingTemplate")  # fmt: skip


def _batch_get(client: Any, request: dict[str, Any]) -> dict[str, Any]:
    tables = request.get("tables")
    if not isinstance(tables, dict) or not tables:
        raise DataSourceError("Value for field '$[tables]' not found.", "MappingTemplate")
    wanted = {t: {"Keys": spec.get("keys") or [], "ConsistentRead": bool(spec.get("consistentRead"))}
              for t, spec in tables.items()}  # fmt: skip
    found = client.batch_get_item(RequestItems=wanted).get("Responses", {})
    data = {}
    for table, spec in wanted.items():
        rows = found.get(table, [])
        ordered = []
        for key in spec["Keys"]:
            match = next((r for r in rows if all(r.get(k) == v for k, v in key.items())), None)
            ordered.append(_item(match))
        data[table] = ordered
    return {"data": data, "unprocessedKeys": {t: [] for t in wanted}}


def _lambda(config: dict[str, Any], request: dict[str, Any]) -> Any:
    from stacklab.planes import functions

    op = request.get("operation")
    if op not in ("Invoke", "BatchInvoke"):
        raise DataSourceError(f"Unsupported operation '{op}' for a Lambda data source: use Invoke.", "MappingTemplate")
    result = functions.invoke(config["lambdaFunctionArn"], request.get("payload"))
    if result.function_error:
        body = result.json() or {}
        raise DataSourceError(str(body.get("errorMessage") or "Lambda function failed"), "Lambda:Unhandled")
    return result.json()


def _http(config: dict[str, Any], request: dict[str, Any]) -> Any:
    endpoint = config["endpoint"].rstrip("/")
    if urlsplit(endpoint).hostname not in _LOOPBACK:
        raise DataSourceError(f"The sandbox reaches only loopback HTTP endpoints (127.0.0.1); {endpoint} is not one.",
                              "HttpDataSourceError")  # fmt: skip
    method = str(request.get("method") or "GET").upper()
    path = str(request.get("resourcePath") or "")
    if not path.startswith("/"):
        raise DataSourceError("resourcePath must start with '/'.", "MappingTemplate")
    params = request.get("params") or {}
    query = params.get("query") or {}
    body = params.get("body")
    data = None if body is None else (body if isinstance(body, str) else json.dumps(body)).encode()
    url = endpoint + path + (("?" + urlencode(query)) if query else "")
    headers = {str(k): str(v) for k, v in (params.get("headers") or {}).items()}
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=_HTTP_TIMEOUT_S) as resp:  # noqa: S310 - loopback checked
            status, headers, text = resp.status, dict(resp.headers.items()), resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        status, headers, text = exc.code, dict(exc.headers.items()), exc.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        raise DataSourceError(f"Unable to reach {url}: {exc}", "HttpDataSourceError") from None
    return {"statusCode": status, "headers": headers, "body": text}


def _sql_literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _relational(config: dict[str, Any], request: dict[str, Any]) -> Any:
    import importlib
    import importlib.util

    rds = config["rdsHttpEndpointConfig"]
    execute = None
    for module_name in _SQL_MODULES:
        if importlib.util.find_spec(module_name) is not None:
            execute = getattr(importlib.import_module(module_name), "execute_statement", None)
            if execute is not None:
                break
    if execute is None:
        raise DataSourceError("RELATIONAL_DATABASE data sources need the course's SQL plane "
                              "(stacklab.planes.sql_data_api), which is not installed.", "RDSHttp")  # fmt: skip
    statements = request.get("statements")
    if not isinstance(statements, list) or not statements or len(statements) > 2:
        raise DataSourceError("statements must be a list of one or two SQL statements.", "MappingTemplate")
    variables = request.get("variableMap") or {}
    cluster = rds["dbClusterIdentifier"]
    if not cluster.startswith("arn:"):
        from stacklab.sandbox import current

        box = current()
        cluster = f"arn:aws:rds:{rds.get('awsRegion') or box.region}:{box.account_id}:cluster:{cluster}"
    results = []
    for sql in statements:
        for name in sorted(variables, key=len, reverse=True):
            sql = sql.replace(str(name), _sql_literal(variables[name]))
        kwargs = {"resourceArn": cluster, "secretArn": rds["awsSecretStoreArn"], "sql": sql,
                  "includeResultMetadata": True}  # fmt: skip
        if rds.get("databaseName"):
            kwargs["database"] = rds["databaseName"]
        try:
            out = execute(**kwargs)
        except Exception as exc:  # noqa: BLE001 - the Data API's error becomes $ctx.error
            raise DataSourceError(str(exc), "RDSHttp:" + type(exc).__name__) from None
        results.append({"records": out.get("records", []), "columnMetadata": out.get("columnMetadata", []),
                        "numberOfRecordsUpdated": out.get("numberOfRecordsUpdated", 0)})  # fmt: skip
    return json.dumps({"sqlStatementResults": results})


def call(data_source: dict[str, Any], request: Any) -> Any:
    """Send ``request`` (the rendered request template) to ``data_source``; return ``$ctx.result``."""
    kind = data_source.get("type")
    if kind == "NONE":
        return request.get("payload") if isinstance(request, dict) else None
    if not isinstance(request, dict):
        raise DataSourceError("The request mapping template must produce a JSON object.", "MappingTemplate")
    if kind == "AMAZON_DYNAMODB":
        return _dynamodb(data_source["dynamodbConfig"], request)
    if kind == "AWS_LAMBDA":
        return _lambda(data_source["lambdaConfig"], request)
    if kind == "HTTP":
        return _http(data_source["httpConfig"], request)
    if kind == "RELATIONAL_DATABASE":
        return _relational(data_source["relationalDatabaseConfig"], request)
    raise DataSourceError(f"Data sources of type {kind} are stored but not executed in the sandbox.",
                          "UnsupportedDataSource")  # fmt: skip

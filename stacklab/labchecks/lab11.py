"""Checks for Lab 11 — Aurora Serverless v2 and DynamoDB (cluster, safe query, transaction, conditional write).

Check 1 reads the cluster with boto3 (``describe_db_clusters``/``describe_db_instances``), validates its
ACU range with the SQL plane's rules (:func:`stacklab.planes.sql_capacity.scaling`) and runs ``SELECT 1``
through the RDS Data API. Checks 2–4 **call the learner's function** with inputs chosen to expose the
usual mistakes (a quote in a name, an injection string, a failing second statement, a second registration
of the same e-mail) and compare the database's state, read independently with parameterised queries,
with what a correct function leaves. Each check removes its own test rows first, so it gives the same
answer every time it runs.
"""

from __future__ import annotations

from typing import Any

from stacklab.checks import CheckFailed, lab_check
from stacklab.errors import StackLabError
from stacklab.labchecks import aws

LESSON = "11"
CLUSTER = "lab11-orders"
MIN_ACU, MAX_ACU = 0.5, 8.0
SHOP = "lab11-shop"
USERS_TABLE = "lab11-users"
CHECK_ITEM, CHECK_CUSTOMER = "check-widget", "check-bot"
CHECK_EMAIL = "check-bot@example.com"
_RESET_HINT = (
    "If you restarted the kernel or ran stacklab.reset() since, the sandbox is empty again: re-run the cells "
    "from the top."
)


# ------------------------------------------------------------------------------------ helpers


def _error_code(exc: BaseException) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _cluster_arn(value: Any) -> str:
    if isinstance(value, dict):
        raise CheckFailed("`cluster_arn` holds a whole dict (a boto3 response?), not the cluster's ARN.",
                          "Take the ARN: `cluster_arn = rds.create_db_cluster(...)['DBCluster']"
                          "['DBClusterArn']`.")  # fmt: skip
    if not isinstance(value, str) or not value.strip().startswith("arn:aws:rds:") or ":cluster:" not in value:
        raise CheckFailed(f"`cluster_arn` should be the DB cluster's ARN (arn:aws:rds:...:cluster:{CLUSTER}); "
                          f"it holds {type(value).__name__} {value!r}.",
                          "Set it from the response: `cluster_arn = ...['DBCluster']['DBClusterArn']`.")  # fmt: skip
    return value.strip()


def _describe(arn: str) -> dict[str, Any]:
    try:
        return aws("rds").describe_db_clusters(DBClusterIdentifier=arn)["DBClusters"][0]
    except Exception as exc:  # noqa: BLE001 - botocore ClientError
        if _error_code(exc) == "DBClusterNotFoundFault":
            name = arn.rsplit(":", 1)[-1]
            raise CheckFailed(f"there is no DB cluster {name!r} in the sandbox.", _RESET_HINT) from None
        raise


def _acu_range(cluster: dict[str, Any]) -> tuple[float, float]:
    from stacklab.planes import sql_capacity

    if not cluster.get("ServerlessV2ScalingConfiguration"):
        raise CheckFailed(f"{cluster['DBClusterIdentifier']} has no ServerlessV2ScalingConfiguration, so its "
                          "instances cannot use db.serverless (it is a provisioned-only cluster).",
                          f"Create it with ServerlessV2ScalingConfiguration={{'MinCapacity': {MIN_ACU}, "
                          f"'MaxCapacity': {MAX_ACU:g}}}.")  # fmt: skip
    try:
        config = sql_capacity.scaling(cluster["DBClusterIdentifier"])
    except StackLabError as exc:
        raise CheckFailed(f"the ACU range is invalid: {exc}",
                          "AWS would refuse this create_db_cluster call. Use MinCapacity ≤ MaxCapacity, both in "
                          "0.5-ACU steps, MaxCapacity from 1 to 256.") from None  # fmt: skip
    low, high = config["MinCapacity"], config["MaxCapacity"]
    if (low, high) != (MIN_ACU, MAX_ACU):
        raise CheckFailed(f"the ACU range is {low:g}–{high:g}; the exercise asks for {MIN_ACU:g}–{MAX_ACU:g} ACUs.",
                          f"rds.modify_db_cluster(DBClusterIdentifier='{CLUSTER}', ServerlessV2ScalingConfiguration="
                          f"{{'MinCapacity': {MIN_ACU}, 'MaxCapacity': {MAX_ACU:g}}}, "
                          "ApplyImmediately=True)")  # fmt: skip
    return low, high


def _instances(cluster: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    rds = aws("rds")
    members = cluster.get("DBClusterMembers") or []
    described = [rds.describe_db_instances(DBInstanceIdentifier=m["DBInstanceIdentifier"])["DBInstances"][0]
                 for m in members]  # fmt: skip
    writers = [m["DBInstanceIdentifier"] for m in members if m.get("IsClusterWriter")]
    add = ("rds.create_db_instance(DBInstanceIdentifier=..., DBClusterIdentifier=..., Engine='aurora-postgresql', "
           "DBInstanceClass='db.serverless', AvailabilityZone=...)")  # fmt: skip
    if len(described) < 2 or not writers:
        raise CheckFailed(f"the cluster has {len(described)} DB instance(s); it needs a writer and a reader, so that "
                          "a failover has somewhere to go (Multi-AZ).", f"Add them: {add}, once per AZ.")  # fmt: skip
    wrong = [f"{d['DBInstanceIdentifier']} ({d['DBInstanceClass']})" for d in described
             if d["DBInstanceClass"] != "db.serverless"]  # fmt: skip
    if wrong:
        raise CheckFailed(f"{', '.join(wrong)} is a provisioned instance class, not Serverless v2.",
                          "Delete it and create it again with DBInstanceClass='db.serverless'.")  # fmt: skip
    zones = {d["DBInstanceIdentifier"]: d.get("AvailabilityZone") for d in described}
    if len(set(zones.values())) < 2:
        raise CheckFailed(f"writer and reader are in the same Availability Zone ({sorted(set(zones.values()))[0]}): "
                          "losing that AZ loses both.",
                          "Create the reader with AvailabilityZone='us-east-1b' (writer in us-east-1a).")  # fmt: skip
    writer = next(d for d in described if d["DBInstanceIdentifier"] == writers[0])
    reader = next(d for d in described if d["DBInstanceIdentifier"] != writers[0])
    return writer, reader


def _data_api_ping(cluster: dict[str, Any]) -> None:
    if not cluster.get("HttpEndpointEnabled"):
        raise CheckFailed(f"the Data API is not enabled on {cluster['DBClusterIdentifier']} (HttpEndpointEnabled is "
                          "false), so rds-data calls get HttpEndpointNotEnabledException.",
                          "Create the cluster with EnableHttpEndpoint=True, or call "
                          "rds.enable_http_endpoint(ResourceArn=cluster_arn).")  # fmt: skip
    secret = (cluster.get("MasterUserSecret") or {}).get("SecretArn")
    if not secret:
        raise CheckFailed("the cluster has no MasterUserSecret: the Data API takes its credentials from a Secrets "
                          "Manager secret, and this cluster's password is not in one.",
                          "Create the cluster with ManageMasterUserPassword=True (RDS then keeps the password in "
                          "Secrets Manager).")  # fmt: skip
    try:
        answer = aws("rds-data").execute_statement(resourceArn=cluster["DBClusterArn"], secretArn=secret,
                                                   sql="SELECT 1 AS ok")  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - botocore ClientError
        raise CheckFailed(f"SELECT 1 through the Data API failed: {_error_code(exc)} {exc}", _RESET_HINT) from None
    if answer.get("records") != [[{"longValue": 1}]]:
        raise CheckFailed(f"SELECT 1 through the Data API answered {answer.get('records')!r}.", _RESET_HINT)


def _shop() -> tuple[str, str]:
    """ARN and secret ARN of the lab's ready-made cluster (created by the setup cell)."""
    try:
        cluster = aws("rds").describe_db_clusters(DBClusterIdentifier=SHOP)["DBClusters"][0]
    except Exception as exc:  # noqa: BLE001
        if _error_code(exc) == "DBClusterNotFoundFault":
            raise CheckFailed(f"the lab's cluster {SHOP} is gone.", _RESET_HINT) from None
        raise
    return cluster["DBClusterArn"], cluster["MasterUserSecret"]["SecretArn"]


def _sql(text: str, **params: Any) -> list[list[Any]]:
    """Run ``text`` on the shop cluster with string/long parameters; rows as plain Python values."""
    arn, secret = _shop()
    values = [{"name": k, "value": {"longValue": v} if isinstance(v, int) else {"stringValue": v}}
              for k, v in params.items()]  # fmt: skip
    answer = aws("rds-data").execute_statement(resourceArn=arn, secretArn=secret, database="shop", sql=text,
                                               parameters=values)  # fmt: skip
    return [[next(iter(f.values())) for f in row] for row in answer.get("records") or []]


def _callable(name: str, value: Any, signature: str) -> Any:
    if not callable(value):
        raise CheckFailed(f"`{name}` should be a function `{signature}`; it holds {type(value).__name__} {value!r}.",
                          f"Define it with `def {signature}:` in the exercise cell and run the cell.")  # fmt: skip
    return value


def _call(name: str, func: Any, *args: Any) -> tuple[Any, BaseException | None]:
    try:
        return func(*args), None
    except Exception as exc:  # noqa: BLE001 - the learner's function may raise anything
        return None, exc


def _rows(name: str, value: Any) -> list[Any]:
    if isinstance(value, dict):
        raise CheckFailed(f"`{name}` returned the whole execute_statement response, not its records.",
                          "Return `response['records']`.")  # fmt: skip
    if not isinstance(value, list):
        raise CheckFailed(f"`{name}` returned {type(value).__name__} {value!r}; it should return the list of records.",
                          "Return `response['records']` from the Data API call.")  # fmt: skip
    return value


# ------------------------------------------------------------------------------------ exercise 1


@lab_check("11.cluster", LESSON, needs=("cluster_arn",), title="A Serverless v2 cluster: ACUs, Multi-AZ, Data API",
           exercise=1)  # fmt: skip
def cluster(cluster_arn: Any) -> str:
    """The cluster runs aurora-postgresql with 0.5–8 ACUs, db.serverless writer + reader in two AZs, Data API on."""
    cluster = _describe(_cluster_arn(cluster_arn))
    if cluster.get("Engine") != "aurora-postgresql":
        raise CheckFailed(f"the cluster's engine is {cluster.get('Engine')!r}; the lab uses 'aurora-postgresql'.",
                          "Delete it and create it again with Engine='aurora-postgresql'.")  # fmt: skip
    low, high = _acu_range(cluster)
    writer, reader = _instances(cluster)
    _data_api_ping(cluster)
    return (f"{cluster['DBClusterIdentifier']}: {low:g}–{high:g} ACUs; writer {writer['DBInstanceIdentifier']} in "
            f"{writer['AvailabilityZone']}, reader {reader['DBInstanceIdentifier']} in {reader['AvailabilityZone']} "
            "(db.serverless, Multi-AZ); SELECT 1 through the Data API answers 1.")  # fmt: skip


# ------------------------------------------------------------------------------------ exercise 2


@lab_check("11.safe_query", LESSON, needs=("find_orders",), title="A parameterised Data API query", exercise=2)
def safe_query(find_orders: Any) -> str:
    """``find_orders(customer)`` binds the name as a parameter: quotes and injection strings are just data."""
    func = _callable("find_orders", find_orders, "find_orders(customer)")
    count = "SELECT count(*) FROM orders WHERE customer = :c"
    attack = "nobody' OR '1'='1"
    total = _sql("SELECT count(*) FROM orders")[0][0]
    for name in ("ada", attack, "O'Brien"):
        expected = _sql(count, c=name)[0][0]
        result, error = _call("find_orders", func, name)
        if error is not None:
            code = _error_code(error)
            if code == "DatabaseErrorException" and "'" in name:
                raise CheckFailed(f"find_orders({name!r}) failed with a SQL syntax error: the quote in the name ended "
                                  "the SQL string, so the value was pasted into the SQL text (string concatenation).",
                                  "Write `WHERE customer = :customer` and pass parameters=[{'name': 'customer', "
                                  "'value': {'stringValue': customer}}].")  # fmt: skip
            raise CheckFailed(f"find_orders({name!r}) raised {code or type(error).__name__}: {error}",
                              "Call data.execute_statement(resourceArn=shop_arn, secretArn=shop_secret, "
                              "database='shop', sql=..., parameters=...) and return its records.")  # fmt: skip
        rows = _rows("find_orders", result)
        if name == attack and rows:
            raise CheckFailed(f"SQL injection: find_orders({attack!r}) returned {len(rows)} of the {total} orders. "
                              "The input was pasted into the SQL text, so `OR '1'='1'` became part of the query.",
                              "Never build SQL with + or f-strings: put `:customer` in the SQL and pass the value in "
                              "parameters=[...].")  # fmt: skip
        if len(rows) != expected:
            raise CheckFailed(f"find_orders({name!r}) returned {len(rows)} record(s); the table has {expected} "
                              f"order(s) of {name}.", "Select the orders WHERE customer = :customer.")  # fmt: skip
    return (f"find_orders returns ada's and O'Brien's orders; {attack!r} finds nothing (0 of {total} orders): "
            "the value travels as a parameter, never as SQL.")  # fmt: skip


# ------------------------------------------------------------------------------------ exercise 3


@lab_check("11.transaction", LESSON, needs=("place_order",), title="An order and its stock in one transaction",
           exercise=3)  # fmt: skip
def transaction(place_order: Any) -> str:
    """``place_order`` inserts the order and decrements stock atomically: a failing update leaves no order."""
    func = _callable("place_order", place_order, "place_order(customer, item, qty)")
    _sql("DELETE FROM orders WHERE customer = :c", c=CHECK_CUSTOMER)
    # A fresh item per run: a transaction that an earlier, wrong place_order left open still holds the row
    # lock of the item it updated (until it expires), and reusing that row would make this check wait.
    runs = _sql("SELECT count(*) FROM stock WHERE item LIKE :p", p=f"{CHECK_ITEM}-%")[0][0]
    item = f"{CHECK_ITEM}-{runs + 1}"
    _sql("INSERT INTO stock(item, qty) VALUES (:i, 1)", i=item)

    def state() -> tuple[int, int]:
        orders = _sql("SELECT count(*) FROM orders WHERE customer = :c", c=CHECK_CUSTOMER)[0][0]
        return orders, _sql("SELECT qty FROM stock WHERE item = :i", i=item)[0][0]

    _, error = _call("place_order", func, CHECK_CUSTOMER, item, 1)
    if error is not None:
        raise CheckFailed(f"place_order({CHECK_CUSTOMER!r}, 'check-widget-N', 1) with 1 in stock raised "
                          f"{_error_code(error) or type(error).__name__}: {error}",
                          "Begin a transaction, pass its transactionId to both statements, then commit.")  # fmt: skip
    orders, stock = state()
    if orders != 1 or stock != 0:
        raise CheckFailed(f"after a successful order of the last {CHECK_ITEM}, the database shows {orders} order(s) "
                          f"and {stock} in stock (expected 1 and 0): the transaction was never committed.",
                          "End with data.commit_transaction(resourceArn=..., secretArn=..., "
                          "transactionId=tx).")  # fmt: skip
    _call("place_order", func, CHECK_CUSTOMER, item, 1)
    orders, stock = state()
    if orders != 1:
        raise CheckFailed(f"ordering a {CHECK_ITEM} with 0 in stock saved an order anyway ({orders} orders, stock "
                          f"{stock}): the INSERT committed on its own before the UPDATE failed. The statements did "
                          "not run in one transaction.",
                          "Pass transactionId=tx to EVERY execute_statement between begin_transaction and "
                          "commit_transaction, and call rollback_transaction when a statement fails.")  # fmt: skip
    return (f"1 in stock: the order is saved and stock drops to 0; 0 in stock: the UPDATE fails its CHECK and "
            f"the order is rolled back with it ({orders} order, stock {stock}).")  # fmt: skip


# ------------------------------------------------------------------------------------ exercise 4


@lab_check("11.conditional", LESSON, needs=("register_user",), title="A DynamoDB conditional write", exercise=4)
def conditional(register_user: Any) -> str:
    """``register_user`` creates a user once; a second registration of the e-mail is refused, not overwritten."""
    ddb = aws("dynamodb")
    try:
        table = ddb.describe_table(TableName=USERS_TABLE)["Table"]
    except Exception as exc:  # noqa: BLE001
        if _error_code(exc) == "ResourceNotFoundException":
            raise CheckFailed(f"there is no DynamoDB table {USERS_TABLE!r}.",
                              f"Create it: ddb.create_table(TableName='{USERS_TABLE}', KeySchema=[{{'AttributeName': "
                              "'email', 'KeyType': 'HASH'}], ..., "
                              "BillingMode='PAY_PER_REQUEST').") from None  # fmt: skip
        raise
    keys = {k["KeyType"]: k["AttributeName"] for k in table["KeySchema"]}
    if keys != {"HASH": "email"}:
        raise CheckFailed(f"{USERS_TABLE}'s key is {keys}; the exercise asks for the partition key `email` alone "
                          "(one item per e-mail address).",
                          "Delete the table and create it with KeySchema=[{'AttributeName': 'email', "
                          "'KeyType': 'HASH'}].")  # fmt: skip
    func = _callable("register_user", register_user, "register_user(email, name)")
    ddb.delete_item(TableName=USERS_TABLE, Key={"email": {"S": CHECK_EMAIL}})
    first, error = _call("register_user", func, CHECK_EMAIL, "First")
    if error is not None:
        code = _error_code(error)
        why = (" The condition is false for a new e-mail: use attribute_not_exists(email)."
               if code == "ConditionalCheckFailedException" else "")  # fmt: skip
        raise CheckFailed(f"registering a new e-mail raised {code or type(error).__name__}: {error}.{why}",
                          "put_item(..., ConditionExpression='attribute_not_exists(email)'), "
                          "then return True.")  # fmt: skip
    if first is False:
        raise CheckFailed("registering a new e-mail returned False: the conditional write was refused, so the "
                          "condition is false for a new e-mail (attribute_exists instead of attribute_not_exists?).",
                          "Use ConditionExpression='attribute_not_exists(email)': true only when no item has "
                          "this key.")  # fmt: skip
    if first is not True:
        raise CheckFailed(f"registering a new e-mail returned {first!r}; it should return True.",
                          "Return True after the put_item succeeds.")  # fmt: skip
    second, error = _call("register_user", func, CHECK_EMAIL, "Second")
    item = ddb.get_item(TableName=USERS_TABLE, Key={"email": {"S": CHECK_EMAIL}}, ConsistentRead=True).get("Item")
    name = (item or {}).get("name", {}).get("S")
    if name == "Second":
        raise CheckFailed("the second registration of the same e-mail overwrote the first user (name is now "
                          "'Second'): put_item replaces an item with the same key unless a condition stops it.",
                          "Add ConditionExpression='attribute_not_exists(email)' to put_item.")  # fmt: skip
    if error is not None:
        code = _error_code(error)
        raise CheckFailed(f"the second registration raised {code or type(error).__name__} out of register_user; the "
                          "write was refused, but the function should report it by returning False.",
                          "Catch the ClientError whose Error.Code is 'ConditionalCheckFailedException' and return "
                          "False.")  # fmt: skip
    if second is not False:
        raise CheckFailed(f"the second registration returned {second!r}; it should return False (e-mail taken).",
                          "Return False when put_item raises ConditionalCheckFailedException.")  # fmt: skip
    if name != "First":
        raise CheckFailed(f"after the two registrations the stored name is {name!r}, expected 'First'.",
                          "Store the name as the attribute `name` (a string).")  # fmt: skip
    return (
        "first registration → True; the same e-mail again → False (ConditionalCheckFailedException), and the "
        "stored user is still 'First'."
    )

"""Lab 11's checks pass on the solution and name the exact mistake in realistic wrong answers."""

from __future__ import annotations

import contextlib

import pytest
from botocore.exceptions import ClientError
from support.labcheck import failed, run

import stacklab

SCALING = {"MinCapacity": 0.5, "MaxCapacity": 8}


def rds():
    return stacklab.client("rds")


def data():
    return stacklab.client("rds-data")


def ddb():
    return stacklab.client("dynamodb")


@pytest.fixture(scope="module")
def shop(box):
    """The lab's ready-made cluster lab11-shop with its tables (no subnet group: the checks do not read it)."""
    cluster = rds().create_db_cluster(
        DBClusterIdentifier="lab11-shop", Engine="aurora-postgresql", DatabaseName="shop", MasterUsername="shop_admin",
        ManageMasterUserPassword=True, ServerlessV2ScalingConfiguration=SCALING, EnableHttpEndpoint=True,
    )["DBCluster"]  # fmt: skip
    rds().create_db_instance(DBInstanceIdentifier="lab11-shop-1", DBClusterIdentifier="lab11-shop",
                             Engine="aurora-postgresql", DBInstanceClass="db.serverless")  # fmt: skip
    where = {"resourceArn": cluster["DBClusterArn"], "secretArn": cluster["MasterUserSecret"]["SecretArn"],
             "database": "shop"}  # fmt: skip
    data().execute_statement(**where, sql="CREATE TABLE orders (id serial PRIMARY KEY, customer text NOT NULL, "
                                          "item text NOT NULL, qty int NOT NULL)")  # fmt: skip
    data().execute_statement(**where, sql="CREATE TABLE stock (item text PRIMARY KEY, qty int NOT NULL "
                                          "CHECK (qty >= 0))")  # fmt: skip
    for customer, item in (("ada", "tea"), ("ada", "mug"), ("grace", "tea"), ("O'Brien", "kettle")):
        data().execute_statement(**where, sql="INSERT INTO orders (customer, item, qty) VALUES (:c, :i, 1)",
                                 parameters=[{"name": "c", "value": {"stringValue": customer}},
                                             {"name": "i", "value": {"stringValue": item}}])  # fmt: skip
    return where


# ------------------------------------------------------------------------------------ exercise 1


def make_cluster(name, *, scaling=SCALING, http=True, zones=("us-east-1a", "us-east-1b"), klass="db.serverless"):
    kwargs = {"ServerlessV2ScalingConfiguration": scaling} if scaling else {}
    arn = rds().create_db_cluster(
        DBClusterIdentifier=name, Engine="aurora-postgresql", DatabaseName="orders", MasterUsername="orders_admin",
        ManageMasterUserPassword=True, EnableHttpEndpoint=http, **kwargs,
    )["DBCluster"]["DBClusterArn"]  # fmt: skip
    for n, zone in enumerate(zones, start=1):
        rds().create_db_instance(DBInstanceIdentifier=f"{name}-{n}", DBClusterIdentifier=name, DBInstanceClass=klass,
                                 Engine="aurora-postgresql", AvailabilityZone=zone)  # fmt: skip
    return arn


def test_cluster_passes_on_the_solution(shop):
    result = run("11.cluster", cluster_arn=make_cluster("lab11-orders"))
    assert result, result.text()
    assert "0.5–8 ACUs" in result.message and "us-east-1b" in result.message


@pytest.mark.parametrize(
    ("name", "options", "expected"),
    [
        ("acu-inverted", {"scaling": {"MinCapacity": 4, "MaxCapacity": 2}}, "MaxCapacity 2.0 is below MinCapacity 4.0"),
        ("acu-steps", {"scaling": {"MinCapacity": 0.5, "MaxCapacity": 4.25}}, "not a multiple of 0.5"),
        ("acu-huge", {"scaling": {"MinCapacity": 0.5, "MaxCapacity": 512}}, "outside AWS's limits"),
        ("acu-other", {"scaling": {"MinCapacity": 0.5, "MaxCapacity": 4}}, "asks for 0.5–8"),
        ("no-scaling", {"scaling": None}, "has no ServerlessV2ScalingConfiguration"),
        ("no-http", {"http": False}, "Data API is not enabled"),
        ("one-az", {"zones": ("us-east-1a", "us-east-1a")}, "same Availability Zone"),
        ("writer-only", {"zones": ("us-east-1a",)}, "needs a writer and a reader"),
        ("provisioned", {"klass": "db.r6g.large"}, "provisioned instance class"),
    ],
)
def test_cluster_names_the_mistake(shop, name, options, expected):
    assert expected in failed("11.cluster", cluster_arn=make_cluster(name, **options))


def test_cluster_refuses_a_response_dict_and_an_unknown_arn(shop):
    assert "whole dict" in failed("11.cluster", cluster_arn={"DBCluster": {}})
    ghost = "arn:aws:rds:us-east-1:123456789012:cluster:ghost"
    assert "no DB cluster 'ghost'" in failed("11.cluster", cluster_arn=ghost)
    assert "should be the DB cluster's ARN" in failed("11.cluster", cluster_arn="lab11-orders")


# ------------------------------------------------------------------------------------ exercise 2


def solution_find_orders(where):
    def find_orders(customer):
        sql = "SELECT id, item, qty FROM orders WHERE customer = :customer ORDER BY id"
        values = [{"name": "customer", "value": {"stringValue": customer}}]
        return data().execute_statement(**where, sql=sql, parameters=values)["records"]

    return find_orders


def test_safe_query_passes_on_the_solution(shop):
    result = run("11.safe_query", find_orders=solution_find_orders(shop))
    assert result, result.text()


def test_safe_query_catches_string_concatenation(shop):
    def find_orders(customer):
        sql = f"SELECT id, item, qty FROM orders WHERE customer = '{customer}' ORDER BY id"
        return data().execute_statement(**shop, sql=sql)["records"]

    assert failed("11.safe_query", find_orders=find_orders).startswith("SQL injection: ")


def test_safe_query_catches_a_quote_that_breaks_the_sql(shop):
    def find_orders(customer):  # "sanitises" the attack's OR away, still pastes the value into the SQL
        value = customer.split(" OR ")[0]
        return data().execute_statement(**shop, sql="SELECT id FROM orders WHERE customer = '" + value + "'")["records"]

    assert "string concatenation" in failed("11.safe_query", find_orders=find_orders)


def test_safe_query_names_other_mistakes(shop):
    def whole_response(customer):
        return data().execute_statement(**shop, sql="SELECT id FROM orders WHERE customer = :c",
                                        parameters=[{"name": "c", "value": {"stringValue": customer}}])  # fmt: skip

    def identifier_quotes(customer):
        return data().execute_statement(**shop, sql=f'SELECT id FROM orders WHERE customer = "{customer}"')["records"]

    assert "whole execute_statement response" in failed("11.safe_query", find_orders=whole_response)
    assert 'column "ada" does not exist' in failed("11.safe_query", find_orders=identifier_quotes)
    assert "should be a function" in failed("11.safe_query", find_orders=None)


# ------------------------------------------------------------------------------------ exercise 3


def order_function(where, *, transaction=True, pass_tx=True, commit=True):
    """place_order as the solution writes it, with knobs for the usual mistakes."""

    def place_order(customer, item, qty):
        values = [{"name": "customer", "value": {"stringValue": customer}},
                  {"name": "item", "value": {"stringValue": item}},
                  {"name": "qty", "value": {"longValue": qty}}]  # fmt: skip
        tx = data().begin_transaction(**where)["transactionId"] if transaction else None
        extra = {"transactionId": tx} if tx and pass_tx else {}
        try:
            insert = "INSERT INTO orders (customer, item, qty) VALUES (:customer, :item, :qty)"
            data().execute_statement(**where, **extra, parameters=values, sql=insert)
            data().execute_statement(**where, **extra, parameters=values[1:],
                                     sql="UPDATE stock SET qty = qty - :qty WHERE item = :item")  # fmt: skip
        except ClientError:
            if tx:
                with contextlib.suppress(ClientError):
                    data().rollback_transaction(resourceArn=where["resourceArn"], secretArn=where["secretArn"],
                                                transactionId=tx)  # fmt: skip
            raise
        if tx and commit:
            data().commit_transaction(resourceArn=where["resourceArn"], secretArn=where["secretArn"], transactionId=tx)

    return place_order


def test_transaction_passes_on_the_solution_every_time(shop):
    for _ in range(2):
        result = run("11.transaction", place_order=order_function(shop))
        assert result, result.text()


@pytest.mark.parametrize(
    ("mistake", "expected"),
    [
        ({"transaction": False}, "did not run in one transaction"),
        ({"pass_tx": False}, "did not run in one transaction"),
        ({"commit": False}, "never committed"),
    ],
)
def test_transaction_names_the_mistake(shop, mistake, expected):
    assert expected in failed("11.transaction", place_order=order_function(shop, **mistake))


def test_transaction_still_answers_after_a_transaction_was_left_open(shop):
    failed("11.transaction", place_order=order_function(shop, commit=False))
    assert run("11.transaction", place_order=order_function(shop))


# ------------------------------------------------------------------------------------ exercise 4


@pytest.fixture
def users_table(shop):
    with contextlib.suppress(ClientError):
        ddb().delete_table(TableName="lab11-users")
    ddb().create_table(TableName="lab11-users", BillingMode="PAY_PER_REQUEST",
                       KeySchema=[{"AttributeName": "email", "KeyType": "HASH"}],
                       AttributeDefinitions=[{"AttributeName": "email", "AttributeType": "S"}])  # fmt: skip
    return "lab11-users"


def register_function(*, condition="attribute_not_exists(email)", catch=True):
    def register_user(email, name):
        extra = {"ConditionExpression": condition} if condition else {}
        try:
            ddb().put_item(TableName="lab11-users", Item={"email": {"S": email}, "name": {"S": name}}, **extra)
        except ClientError as err:
            if catch and err.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    return register_user


def test_conditional_passes_on_the_solution_every_time(users_table):
    for _ in range(2):
        result = run("11.conditional", register_user=register_function())
        assert result, result.text()


@pytest.mark.parametrize(
    ("mistake", "expected"),
    [
        ({"condition": None}, "overwrote the first user"),
        ({"catch": False}, "should report it by returning False"),
        ({"condition": "attribute_exists(email)"}, "condition is false for a new e-mail"),
    ],
)
def test_conditional_names_the_mistake(users_table, mistake, expected):
    assert expected in failed("11.conditional", register_user=register_function(**mistake))


def test_conditional_checks_the_table(shop):
    with contextlib.suppress(ClientError):
        ddb().delete_table(TableName="lab11-users")
    assert "no DynamoDB table 'lab11-users'" in failed("11.conditional", register_user=register_function())
    ddb().create_table(TableName="lab11-users", BillingMode="PAY_PER_REQUEST",
                       KeySchema=[{"AttributeName": "email", "KeyType": "HASH"},
                                  {"AttributeName": "created", "KeyType": "RANGE"}],
                       AttributeDefinitions=[{"AttributeName": "email", "AttributeType": "S"},
                                             {"AttributeName": "created", "AttributeType": "S"}])  # fmt: skip
    assert "partition key `email` alone" in failed("11.conditional", register_user=register_function())

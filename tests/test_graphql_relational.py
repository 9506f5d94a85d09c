"""AppSync RELATIONAL_DATABASE resolvers run their SQL on the SQL plane's real PostgreSQL (Data API shapes)."""

from __future__ import annotations

import json

import pytest

import stacklab
from stacklab.planes import graphql as gq

SCHEMA = b"type Item { id: ID! name: String } type Query { item(id: ID!): Item } schema { query: Query }"
REQUEST = ('{"version": "2018-05-29", "statements": ["SELECT id, name FROM items WHERE id = :ID"], '
           '"variableMap": {":ID": $util.toJson($ctx.args.id)}}')  # fmt: skip
RESPONSE = "$utils.toJson($utils.rds.toJsonObject($ctx.result)[0][0])"


@pytest.fixture()
def aurora_api(box):
    rds, data = stacklab.client("rds"), stacklab.client("rds-data")
    arn = rds.create_db_cluster(
        DBClusterIdentifier="db", Engine="aurora-postgresql", MasterUsername="app",
        MasterUserPassword="S3cretPassw0rd!", EnableHttpEndpoint=True, DatabaseName="shop",
        ServerlessV2ScalingConfiguration={"MinCapacity": 0.5, "MaxCapacity": 2},
    )["DBCluster"]["DBClusterArn"]  # fmt: skip
    rds.create_db_instance(DBInstanceIdentifier="db-1", DBClusterIdentifier="db", Engine="aurora-postgresql",
                           DBInstanceClass="db.serverless")  # fmt: skip
    secret = stacklab.client("secretsmanager").create_secret(
        Name="dbsecret", SecretString=json.dumps({"username": "app", "password": "S3cretPassw0rd!"})
    )["ARN"]
    where = {"resourceArn": arn, "secretArn": secret, "database": "shop"}
    data.execute_statement(**where, sql="CREATE TABLE items (id text PRIMARY KEY, name text)")
    data.execute_statement(**where, sql="INSERT INTO items VALUES ('1', 'pen')")
    appsync = stacklab.client("appsync")
    api = appsync.create_graphql_api(name="rel", authenticationType="API_KEY")["graphqlApi"]["apiId"]
    appsync.start_schema_creation(apiId=api, definition=SCHEMA)
    key = appsync.create_api_key(apiId=api)["apiKey"]["id"]
    appsync.create_data_source(apiId=api, name="aurora", type="RELATIONAL_DATABASE", relationalDatabaseConfig={
        "relationalDatabaseSourceType": "RDS_HTTP_ENDPOINT",
        "rdsHttpEndpointConfig": {"awsRegion": "us-east-1", "dbClusterIdentifier": arn, "databaseName": "shop",
                                  "awsSecretStoreArn": secret}})  # fmt: skip
    appsync.create_resolver(apiId=api, typeName="Query", fieldName="item", dataSourceName="aurora",
                            requestMappingTemplate=REQUEST, responseMappingTemplate=RESPONSE)  # fmt: skip
    yield api, {"x-api-key": key}
    stacklab.reset()


def test_a_relational_resolver_runs_its_sql_on_the_cluster(aurora_api):
    api, headers = aurora_api
    assert gq.execute(api, '{ item(id: "1") { id name } }', headers=headers) == {"data": {"item": {"id": "1",
                                                                                                   "name": "pen"}}}
    # the variable map binds the argument as a parameter: a quote in it is data, not SQL
    missing = gq.execute(api, """{ item(id: "1' OR '1'='1") { id name } }""", headers=headers)
    assert missing["data"] == {"item": None} or missing.get("errors"), missing
    assert missing.get("data", {}).get("item") is None

"""The ElastiCache plane's security: AUTH tokens (and rotation), RBAC user groups and access strings, as tables
of requests and expected outcomes."""

from __future__ import annotations

import pytest
import redis
from botocore.exceptions import ClientError
from support.cache_plane import TOKEN, ec, fresh, group, redis_cluster

from stacklab.planes import cache


@pytest.fixture(autouse=True)
def _fresh(box):
    fresh()


# ------------------------------------------------------------------------------------ security

AUTH_TABLE = [
    # (password given, expected outcome)
    (None, redis.exceptions.AuthenticationError),  # HELLO/command without AUTH -> NOAUTH
    ("wrong-password-123456", redis.exceptions.AuthenticationError),  # WRONGPASS
    (TOKEN, "ok"),
]


@pytest.mark.parametrize(("password", "outcome"), AUTH_TABLE)
def test_auth_token_table(password, outcome):
    group(clusters=2, TransitEncryptionEnabled=True, AuthToken=TOKEN)
    client = cache.connect("rg1", password=password)
    if outcome == "ok":
        assert client.set("k", "v") and client.get("k") == "v"
    else:
        with pytest.raises(outcome):
            client.get("k")


def test_auth_errors_are_redis_texts_over_resp2():
    group(clusters=1, TransitEncryptionEnabled=True, AuthToken=TOKEN, AutomaticFailoverEnabled=False)
    plain = cache.connect("rg1", protocol=2)
    with pytest.raises(redis.exceptions.AuthenticationError, match="Authentication required"):
        plain.get("k")
    wrong = cache.connect("rg1", protocol=2, password="nope-nope-nope-nope")
    with pytest.raises(redis.exceptions.AuthenticationError, match="invalid username-password pair"):
        wrong.get("k")
    assert cache.connect("rg1", protocol=2, password=TOKEN).ping()


def test_auth_on_a_cluster_without_token_is_an_error():
    redis_cluster()
    with pytest.raises(redis.exceptions.AuthenticationError):
        cache.connect("c1", password=TOKEN, protocol=2).ping()


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"AuthToken": TOKEN}, "TransitEncryptionEnabled"),
    ({"AuthToken": "short", "TransitEncryptionEnabled": True}, "16 to 128"),
    ({"AuthToken": "has space in the token!", "TransitEncryptionEnabled": True}, "16 to 128"),
])  # fmt: skip
def test_auth_token_rules(kwargs, fragment):
    with pytest.raises(ClientError, match=fragment):
        group(clusters=2, **kwargs)


def test_auth_token_rotation_accepts_old_and_new_until_set():
    group(clusters=2, TransitEncryptionEnabled=True, AuthToken=TOKEN)
    new = "brand-new-token-4567"
    ec().modify_replication_group(ReplicationGroupId="rg1", AuthToken=new, AuthTokenUpdateStrategy="ROTATE",
                                  ApplyImmediately=True)  # fmt: skip
    assert cache.connect("rg1", password=TOKEN).ping() and cache.connect("rg1", password=new).ping()
    ec().modify_replication_group(ReplicationGroupId="rg1", AuthToken=new, AuthTokenUpdateStrategy="SET",
                                  ApplyImmediately=True)  # fmt: skip
    with pytest.raises(redis.exceptions.AuthenticationError):
        cache.connect("rg1", password=TOKEN).ping()
    assert cache.connect("rg1", password=new).ping()
    with pytest.raises(ClientError, match="SET, ROTATE or DELETE"):
        ec().modify_replication_group(ReplicationGroupId="rg1", AuthToken=new, AuthTokenUpdateStrategy="SWAP",
                                      ApplyImmediately=True)  # fmt: skip


# ------------------------------------------------------------------------------------ RBAC


def _rbac_group():
    client = ec()
    client.create_user(UserId="app-default", UserName="default", Engine="redis", AccessString="off ~* +@all",
                       NoPasswordRequired=False, Passwords=["default-password-123"])  # fmt: skip
    client.create_user(UserId="reader", UserName="reader", Engine="redis", AccessString="on ~product:* +@read",
                       Passwords=["reader-password-123"])  # fmt: skip
    client.create_user(UserId="writer", UserName="writer", Engine="redis", AccessString="on ~* +@all -@dangerous",
                       Passwords=["writer-password-123"])  # fmt: skip
    out = client.create_user_group(UserGroupId="app-users", Engine="redis", UserIds=["app-default", "reader", "writer"])
    assert out["Status"] == "active" and out["UserIds"] == ["app-default", "reader", "writer"]
    group(clusters=2, TransitEncryptionEnabled=True, UserGroupIds=["app-users"])


RBAC_TABLE = [
    # (user, password, command, expected: "ok" or an error fragment)
    (None, None, ("GET", "product:1"), "Authentication required"),
    ("reader", "wrong-password-999", ("GET", "product:1"), "invalid username-password pair"),
    ("default", "default-password-123", ("GET", "product:1"), "invalid username-password pair"),  # user is off
    ("reader", "reader-password-123", ("GET", "product:1"), "ok"),
    ("reader", "reader-password-123", ("SET", "product:1", "x"), "no permissions to run the 'set' command"),
    ("reader", "reader-password-123", ("GET", "session:1"), "No permissions to access a key"),
    ("writer", "writer-password-123", ("SET", "product:1", "x"), "ok"),
    ("writer", "writer-password-123", ("FLUSHALL",), "no permissions to run the 'flushall' command"),
]


@pytest.mark.parametrize(("user", "password", "command", "expected"), RBAC_TABLE)
def test_rbac_user_group_table(user, password, command, expected):
    _rbac_group()
    client = cache.connect("rg1", username=user, password=password, protocol=2) if user else \
        cache.connect("rg1", protocol=2)
    if expected == "ok":
        client.execute_command(*command)
    else:
        with pytest.raises(redis.exceptions.RedisError, match=expected):
            client.execute_command(*command)


def test_rbac_rules():
    with pytest.raises(ClientError) as exc:
        ec().create_user_group(UserGroupId="g", Engine="redis", UserIds=["nobody"])
    assert exc.value.response["Error"]["Code"] == "UserNotFound"
    ec().create_user(UserId="u1", UserName="u1", Engine="redis", AccessString="on ~* +@all",
                     Passwords=["u1-password-12345678"])  # fmt: skip
    with pytest.raises(ClientError) as exc:
        ec().create_user_group(UserGroupId="g", Engine="redis", UserIds=["u1"])
    assert exc.value.response["Error"]["Code"] == "DefaultUserRequired"
    ec().create_user_group(UserGroupId="g", Engine="redis", UserIds=["default", "u1"])
    with pytest.raises(ClientError, match="TransitEncryptionEnabled"):
        group(clusters=2, UserGroupIds=["g"])
    with pytest.raises(ClientError, match="not both"):
        group(clusters=2, UserGroupIds=["g"], TransitEncryptionEnabled=True, AuthToken=TOKEN)
    group(clusters=2, UserGroupIds=["g"], TransitEncryptionEnabled=True)
    assert cache.connect("rg1").set("k", "v")  # moto's built-in default user: on, nopass, +@all
    assert ec().describe_user_groups(UserGroupId="g")["UserGroups"][0]["ReplicationGroups"] == ["rg1"]


def test_a_single_node_cluster_with_auth_token():
    with pytest.raises(ClientError, match="TransitEncryptionEnabled"):
        redis_cluster(AuthToken=TOKEN)
    redis_cluster(AuthToken=TOKEN, TransitEncryptionEnabled=True)
    with pytest.raises(redis.exceptions.AuthenticationError):
        cache.connect("c1").ping()
    assert cache.connect("c1", password=TOKEN).ping()

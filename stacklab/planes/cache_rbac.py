"""Role-based access control (RBAC) for the ElastiCache plane: user groups (which moto lacks) and access strings.

moto stores ElastiCache users (``create_user`` with ``Passwords``/``NoPasswordRequired`` and an
``AccessString``) but has no user groups. This module adds ``create_user_group``, ``describe_user_groups``,
``modify_user_group`` (``UserIdsToAdd`` / ``UserIdsToRemove``) and ``delete_user_group`` to moto's
ElastiCache, with AWS's rules: a group needs a user whose user name is ``default`` (``DefaultUserRequired``),
its users must exist. A replication group created with ``UserGroupIds`` (AWS requires in-transit encryption,
and no ``AuthToken``) is then guarded by its group's users, read from moto on every command:

* a new connection acts as the ``default`` user: if that user has a password or is ``off``, commands get
  ``NOAUTH Authentication required.``;
* ``AUTH <user name> <password>`` (or ``HELLO 3 AUTH ...``) succeeds for an ``on`` user of the group with that
  password (or ``nopass``), else ``WRONGPASS invalid username-password pair or user is disabled.``;
* the user's access string decides (rules in order, the last that matches a command wins): ``on``/``off``,
  ``~pattern`` / ``allkeys`` (key patterns, glob), ``+@all`` / ``-@all``, ``+@category`` / ``-@category``
  (``read``, ``write``, ``dangerous``, ``keyspace``, ... from Redis's command table), ``+command`` /
  ``-command``. A refused command gets ``NOPERM User <name> has no permissions to run the '<cmd>' command``,
  a key outside the patterns ``NOPERM No permissions to access a key``.

Simplification: pub/sub channel rules (``&pattern``) and selectors are not modelled.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Acl", "handlers", "users_for"]


@dataclass
class Acl:
    """One user's rights, parsed from its access string."""

    name: str
    enabled: bool = False
    nopass: bool = False
    passwords: list[str] = field(default_factory=list)
    key_patterns: list[str] = field(default_factory=list)
    rules: list[tuple[bool, str]] = field(default_factory=list)  # (allow, "@category" or "command")

    @classmethod
    def parse(cls, name: str, access: str, passwords: list[str], nopass: bool) -> Acl:
        acl = cls(name=name, nopass=nopass, passwords=list(passwords))
        for token in (access or "").split():
            low = token.lower()
            if low in ("on", "off"):
                acl.enabled = low == "on"
            elif low == "nopass":
                acl.nopass = True
            elif low == "allkeys":
                acl.key_patterns.append("*")
            elif token.startswith("~"):
                acl.key_patterns.append(token[1:])
            elif low == "allcommands":
                acl.rules.append((True, "@all"))
            elif low == "nocommands":
                acl.rules.append((False, "@all"))
            elif token[:1] in "+-" and len(token) > 1:
                acl.rules.append((token[0] == "+", low[1:]))
        return acl

    def accepts(self, password: str) -> bool:
        """True when this user may log in with ``password``."""
        return self.enabled and (self.nopass or password in self.passwords)

    def may_run(self, command: str, categories: list[str]) -> bool:
        """True when the rules allow ``command`` (categories such as ``@read`` from Redis's table)."""
        allowed = False
        for allow, target in self.rules:
            if target == "@all" or target == command or target in categories:
                allowed = allow
        return allowed

    def may_touch(self, key: bytes) -> bool:
        """True when ``key`` matches one of the user's key patterns."""
        text = key.decode("utf-8", "replace")
        return any(fnmatch.fnmatchcase(text, pattern) for pattern in self.key_patterns)


def users_for(be: Any, rg: Any) -> dict[str, Acl] | None:
    """The users guarding a replication group (by user name), or None when it does not use RBAC."""
    group_ids = list(getattr(rg, "user_group_ids", None) or [])
    if not group_ids:
        return None
    out: dict[str, Acl] = {}
    for group_id in group_ids:
        group = _groups(be).get(group_id)
        if group is None:
            continue
        for user_id in group["UserIds"]:
            user = be.users.get(user_id)
            if user is None or user.status != "active":
                continue
            out[user.name] = Acl.parse(user.name, user.access_string, user.passwords or [],
                                       bool(user.no_password_required))  # fmt: skip
    return out


def _groups(be: Any) -> dict[str, dict[str, Any]]:
    if not hasattr(be, "_sl_user_groups"):
        be._sl_user_groups = {}
    return be._sl_user_groups  # type: ignore[no-any-return]


def handlers() -> dict[str, Any]:
    """Response methods to add to moto's ``ElastiCacheResponse``."""
    from moto.core.responses import ActionResult

    from stacklab.planes.cache import _error

    def shape(be: Any, group: dict[str, Any]) -> dict[str, Any]:
        rgs = [r for r, v in be.replication_groups.items() if group["UserGroupId"] in (v.user_group_ids or [])]
        arn = f"arn:aws:elasticache:{be.region_name}:{be.account_id}:usergroup:{group['UserGroupId']}"
        return {**group, "Status": "active", "MinimumEngineVersion": "6.0", "ReplicationGroups": sorted(rgs),
                "ARN": arn}  # fmt: skip

    def check_users(be: Any, user_ids: list[str]) -> None:
        for uid in user_ids:
            if uid not in be.users:
                raise _error("UserNotFound", f"User {uid} not found.")
        if not any(be.users[u].name == "default" for u in user_ids):
            raise _error("DefaultUserRequired", "A user group must contain a user with the user name 'default'.")

    def create_user_group(self: Any) -> Any:
        be = self.elasticache_backend
        gid = self._get_param("UserGroupId") or ""
        if gid in _groups(be):
            raise _error("UserGroupAlreadyExists", f"User group {gid} already exists.")
        engine = (self._get_param("Engine") or "").lower()
        if engine not in ("redis", "valkey"):
            raise _error("InvalidParameterValue", "Engine must be redis or valkey for a user group.")
        user_ids = list(self._get_param("UserIds") or [])
        check_users(be, user_ids)
        group = {"UserGroupId": gid, "Engine": engine, "UserIds": user_ids}
        _groups(be)[gid] = group
        return ActionResult(shape(be, group))

    def describe_user_groups(self: Any) -> Any:
        be = self.elasticache_backend
        gid = self._get_param("UserGroupId")
        if gid:
            if gid not in _groups(be):
                raise _error("UserGroupNotFound", f"User group {gid} not found.")
            return ActionResult({"UserGroups": [shape(be, _groups(be)[gid])]})
        return ActionResult({"UserGroups": [shape(be, g) for g in _groups(be).values()]})

    def modify_user_group(self: Any) -> Any:
        be = self.elasticache_backend
        gid = self._get_param("UserGroupId")
        if gid not in _groups(be):
            raise _error("UserGroupNotFound", f"User group {gid} not found.")
        group = _groups(be)[gid]
        ids = [u for u in group["UserIds"] if u not in (self._get_param("UserIdsToRemove") or [])]
        ids += [u for u in self._get_param("UserIdsToAdd") or [] if u not in ids]
        check_users(be, ids)
        group["UserIds"] = ids
        return ActionResult(shape(be, group))

    def delete_user_group(self: Any) -> Any:
        be = self.elasticache_backend
        gid = self._get_param("UserGroupId")
        if gid not in _groups(be):
            raise _error("UserGroupNotFound", f"User group {gid} not found.")
        out = shape(be, _groups(be).pop(gid))
        return ActionResult({**out, "Status": "deleting"})

    return {"create_user_group": create_user_group, "describe_user_groups": describe_user_groups,
            "modify_user_group": modify_user_group, "delete_user_group": delete_user_group}  # fmt: skip

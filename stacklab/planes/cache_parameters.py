"""ElastiCache parameter groups for the sandbox (moto 5.2.5 has none): the few parameters the plane acts on.

Adds to moto's ElastiCache (boto3 and ``!aws``): ``create_cache_parameter_group``,
``describe_cache_parameter_groups``, ``modify_cache_parameter_group``, ``reset_cache_parameter_group``,
``describe_cache_parameters`` and ``delete_cache_parameter_group``. Default groups (``default.redis7``,
``default.redis7.cluster.on``, ``default.valkey8``, ``default.memcached1.6``, ...) exist implicitly and, as
on AWS, cannot be modified or deleted.

Parameters modelled (others are accepted and stored, not acted on): ``maxmemory-policy`` (default
``volatile-lru``, ElastiCache's default for Redis OSS and Valkey; read by the Redis nodes on every write),
``reserved-memory-percent`` (default 25), ``cluster-enabled`` (``yes`` in ``*.cluster.on`` groups) for Redis
families; ``max_item_size`` (1048576) for memcached families.
"""

from __future__ import annotations

from typing import Any

from stacklab.planes import cache_eviction

__all__ = ["DEFAULT_POLICY", "handlers", "policy_for"]

DEFAULT_POLICY = "volatile-lru"
_FAMILIES = ("redis6.x", "redis7", "valkey7", "valkey8", "memcached1.6")
_REDIS_DEFAULTS = {
    "maxmemory-policy": ("string", DEFAULT_POLICY, ",".join(cache_eviction.POLICIES),
                         "The eviction policy for keys when maximum memory usage is reached."),
    "reserved-memory-percent": ("integer", "25", "0-100", "The percent of a node's memory reserved for nondata use."),
    "cluster-enabled": ("string", "no", "yes,no", "Enable cluster mode."),
}  # fmt: skip
_MEMCACHED_DEFAULTS = {"max_item_size": ("integer", "1048576", "1048576-134217728", "The size of the largest item.")}


def _defaults(family: str, name: str) -> dict[str, tuple[str, str, str, str]]:
    if family.startswith("memcached"):
        return dict(_MEMCACHED_DEFAULTS)
    out = dict(_REDIS_DEFAULTS)
    if name.endswith(".cluster.on"):
        out["cluster-enabled"] = ("string", "yes", "yes,no", "Enable cluster mode.")
    return out


def _family_of_default(name: str) -> str | None:
    if not name.startswith("default."):
        return None
    family = name[len("default."):].removesuffix(".cluster.on")
    return family if family in _FAMILIES else None


def _groups(be: Any) -> dict[str, dict[str, Any]]:
    if not hasattr(be, "_sl_parameter_groups"):
        be._sl_parameter_groups = {}
    return be._sl_parameter_groups  # type: ignore[no-any-return]


def _group(be: Any, name: str | None) -> dict[str, Any] | None:
    if not name:
        return None
    groups = _groups(be)
    if name in groups:
        return groups[name]
    family = _family_of_default(name)
    if family is None:
        return None
    return {"name": name, "family": family, "description": f"Default parameter group for {family}",
            "parameters": {}, "default": True}  # fmt: skip


def policy_for(be: Any, group_name: str | None) -> str:
    """The ``maxmemory-policy`` in force for a cluster using ``group_name`` (None = its default group)."""
    group = _group(be, group_name)
    if group is None:
        return DEFAULT_POLICY
    return str(group["parameters"].get("maxmemory-policy", DEFAULT_POLICY))


def handlers() -> dict[str, Any]:
    """Response methods to add to moto's ``ElastiCacheResponse``."""
    from moto.core.responses import ActionResult

    from stacklab.planes.cache import _error

    def not_found(name: str) -> Exception:
        return _error("CacheParameterGroupNotFound", f"CacheParameterGroup {name} not found.")

    def record(be: Any, group: dict[str, Any]) -> dict[str, Any]:
        return {"CacheParameterGroupName": group["name"], "CacheParameterGroupFamily": group["family"],
                "Description": group["description"], "IsGlobal": False,
                "ARN": f"arn:aws:elasticache:{be.region_name}:{be.account_id}:parametergroup:"
                       f"{group['name']}"}  # fmt: skip

    def create_cache_parameter_group(self: Any) -> Any:
        be = self.elasticache_backend
        name = self._get_param("CacheParameterGroupName") or ""
        family = self._get_param("CacheParameterGroupFamily") or ""
        if family not in _FAMILIES:
            raise _error("InvalidParameterValue", f"Unknown CacheParameterGroupFamily {family!r}: use one of "
                                                  f"{', '.join(_FAMILIES)}.")  # fmt: skip
        if not name or name.startswith("default.") or _group(be, name) is not None:
            raise _error("CacheParameterGroupAlreadyExists", f"Parameter group {name} already exists or uses the "
                                                             "reserved prefix 'default.'.")  # fmt: skip
        group = {"name": name, "family": family, "description": self._get_param("Description") or "",
                 "parameters": {}, "default": False}  # fmt: skip
        _groups(be)[name] = group
        return ActionResult({"CacheParameterGroup": record(be, group)})

    def describe_cache_parameter_groups(self: Any) -> Any:
        be = self.elasticache_backend
        name = self._get_param("CacheParameterGroupName")
        if name:
            group = _group(be, name)
            if group is None:
                raise not_found(name)
            return ActionResult({"CacheParameterGroups": [record(be, group)]})
        return ActionResult({"CacheParameterGroups": [record(be, g) for g in _groups(be).values()]})

    def modify_cache_parameter_group(self: Any) -> Any:
        be = self.elasticache_backend
        name = self._get_param("CacheParameterGroupName")
        group = _group(be, name)
        if group is None:
            raise not_found(name)
        if group["default"]:
            raise _error("InvalidCacheParameterGroupState",
                         f"{name} is a default parameter group and cannot be modified: create your own group, "
                         "then modify it.")
        defaults = _defaults(group["family"], name)
        for item in self._get_param("ParameterNameValues") or []:
            pname, value = item.get("ParameterName"), item.get("ParameterValue")
            if pname == "maxmemory-policy" and value not in cache_eviction.POLICIES:
                raise _error("InvalidParameterValue", f"Invalid value {value!r} for maxmemory-policy: use one of "
                                                      f"{', '.join(cache_eviction.POLICIES)}.")  # fmt: skip
            if pname not in defaults and pname:
                defaults_names = ", ".join(sorted(defaults))
                raise _error("InvalidParameterValue", f"The sandbox models only these parameters of {group['family']}:"
                                                      f" {defaults_names}; got {pname!r}.")  # fmt: skip
            group["parameters"][pname] = value
        return ActionResult({"CacheParameterGroupName": name})

    def reset_cache_parameter_group(self: Any) -> Any:
        be = self.elasticache_backend
        name = self._get_param("CacheParameterGroupName")
        group = _group(be, name)
        if group is None:
            raise not_found(name)
        names = [p.get("ParameterName") for p in self._get_param("ParameterNameValues") or []]
        if self._get_bool_param("ResetAllParameters") or not names:
            group["parameters"].clear()
        for pname in names:
            group["parameters"].pop(pname, None)
        return ActionResult({"CacheParameterGroupName": name})

    def describe_cache_parameters(self: Any) -> Any:
        be = self.elasticache_backend
        name = self._get_param("CacheParameterGroupName")
        group = _group(be, name)
        if group is None:
            raise not_found(name)
        source = self._get_param("Source")
        params = []
        for pname, (kind, default, allowed, text) in sorted(_defaults(group["family"], name).items()):
            user = pname in group["parameters"]
            row = {"ParameterName": pname, "ParameterValue": group["parameters"].get(pname, default),
                   "Description": text, "Source": "user" if user else "system", "DataType": kind,
                   "AllowedValues": allowed, "IsModifiable": pname != "cluster-enabled",
                   "ChangeType": "immediate"}  # fmt: skip
            if source in (None, row["Source"]):
                params.append(row)
        return ActionResult({"Parameters": params})

    def delete_cache_parameter_group(self: Any) -> Any:
        be = self.elasticache_backend
        name = self._get_param("CacheParameterGroupName")
        group = _group(be, name)
        if group is None:
            raise not_found(name)
        if group["default"]:
            raise _error("InvalidCacheParameterGroupState", f"{name} is a default parameter group and cannot be "
                                                            "deleted.")  # fmt: skip
        in_use = [c for c, v in be.cache_clusters.items() if v.cache_parameter_group_name == name]
        if in_use:
            raise _error("InvalidCacheParameterGroupState", f"{name} is in use by {', '.join(sorted(in_use))}.")
        _groups(be).pop(name)
        from moto.core.responses import EmptyResult

        return EmptyResult()

    return {"create_cache_parameter_group": create_cache_parameter_group,
            "describe_cache_parameter_groups": describe_cache_parameter_groups,
            "modify_cache_parameter_group": modify_cache_parameter_group,
            "reset_cache_parameter_group": reset_cache_parameter_group,
            "describe_cache_parameters": describe_cache_parameters,
            "delete_cache_parameter_group": delete_cache_parameter_group}  # fmt: skip

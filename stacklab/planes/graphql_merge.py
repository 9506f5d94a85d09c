"""AppSync Merged APIs: source API associations and schema merges, added to moto when imported.

moto 5.2.5 ignores ``apiType`` (every API comes back without it) and has none of the association
operations. Importing this module extends moto's appsync backend so boto3 **and** ``!aws appsync``
accept AWS's shapes:

* ``create_graphql_api(apiType="MERGED", mergedApiExecutionRoleArn=ROLE, ...)`` (``apiType`` is
  ``GRAPHQL`` by default and shown by ``get_graphql_api`` / ``list_graphql_apis``; ``MERGED`` needs
  the role; a Merged API refuses ``start_schema_creation``: its schema comes from its sources);
* ``associate_source_graphql_api(mergedApiIdentifier, sourceApiIdentifier, description,
  sourceApiAssociationConfig={"mergeType": "MANUAL_MERGE" | "AUTO_MERGE"})`` and its mirror
  ``associate_merged_graphql_api`` (from the source's side); ``get_source_api_association``,
  ``update_source_api_association``, ``list_source_api_associations(apiId)`` (a merged API lists its
  sources, a source API its merged APIs), ``disassociate_source_graphql_api`` /
  ``disassociate_merged_graphql_api``, ``start_schema_merge``.
  Association ids are seeded; ``associationArn`` is ``MERGED_API_ARN/sourceApiAssociations/ID``.

Public API
----------
``effective_schema(api_id) -> str | None``
    A Merged API's schema: the merge of its associations' last successfully merged source schemas
    (``None`` for a non-merged API, or a merged one with nothing merged yet). The executor uses it.
``resolver_owner(api_id, type_name, field_name) -> str | None``
    The source API whose resolver runs for that field of a Merged API (``None``: no source resolver).
``merge_schemas(sources) -> MergeResult``
    The merge itself, on ``[(source_api_id, sdl, resolver_fields)]`` (pure; used by the above).

Merge rules (AppSync's, as its developer guide "Merged APIs" describes them)
--------------------------------------------------------------------------
* Types with the same name are merged **field by field**; enum values and union members are
  united; the same field with the same arguments and type in two sources is one field.
* **Conflicts** fail the merge (status ``MERGE_FAILED``, ``sourceApiAssociationStatusDetail`` naming
  the conflict; the merged API keeps its previous schema): the same field with a different type or
  arguments, a name that is a different kind of type in two sources, or **two resolvers** for one
  field (a field is resolved by exactly one source). ``@canonical`` on a type or field makes that
  source's definition (and resolver) win; ``@hidden`` leaves a type or field out of the merged API.
  (``@renamed`` is not implemented.) These directives never appear in the merged schema.
* A new association is merged at once. ``MANUAL_MERGE`` (default) then picks up source changes only
  on ``start_schema_merge``; ``AUTO_MERGE`` re-merges when the source's schema or resolvers changed
  (checked whenever the merged schema is read). The merge is synchronous here, so the status is
  ``MERGE_SUCCESS`` or ``MERGE_FAILED`` at once (AWS passes through ``MERGE_SCHEDULED`` /
  ``MERGE_IN_PROGRESS``); ``lastSuccessfulMergeDate`` is the sandbox clock.
* Disassociating removes the source's types and fields at once (AWS: ``DELETION_IN_PROGRESS``).
Not implemented: cross-account associations (RAM), ``list_types_by_association``, pagination.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLError, parse
from graphql.language import ast as gast
from graphql.language.printer import print_ast

from stacklab._validate import require_str
from stacklab.planes import graphql_control as control

__all__ = ["MergeResult", "effective_schema", "merge_schemas", "resolver_owner"]

API_TYPES = ("GRAPHQL", "MERGED")
MERGE_TYPES = ("MANUAL_MERGE", "AUTO_MERGE")
_MERGE_DIRECTIVES = re.compile(r"\s*@(?:canonical|hidden)\b")
_NotFound, _BadRequest = control._NotFound, control._BadRequest


# ------------------------------------------------------------------------------------ merging (pure)


@dataclass
class MergeResult:
    """A merge's outcome: the SDL (None if it failed), the conflicts, and who resolves which field."""

    sdl: str | None
    conflicts: list[str] = field(default_factory=list)
    owners: dict[tuple[str, str], str] = field(default_factory=dict)


@dataclass
class _Type:
    kind: str
    source: str
    canonical: bool
    head: str = ""
    directives: dict[str, str] = field(default_factory=dict)
    fields: dict[str, tuple[str, str, bool, str]] = field(default_factory=dict)  # name -> (text, sig, canon, src)
    members: list[str] = field(default_factory=list)


_KINDS = {
    gast.ObjectTypeDefinitionNode: "type", gast.ObjectTypeExtensionNode: "type",
    gast.InterfaceTypeDefinitionNode: "interface", gast.InterfaceTypeExtensionNode: "interface",
    gast.InputObjectTypeDefinitionNode: "input", gast.InputObjectTypeExtensionNode: "input",
    gast.EnumTypeDefinitionNode: "enum", gast.EnumTypeExtensionNode: "enum",
    gast.UnionTypeDefinitionNode: "union", gast.UnionTypeExtensionNode: "union",
    gast.ScalarTypeDefinitionNode: "scalar", gast.ScalarTypeExtensionNode: "scalar",
}  # fmt: skip


def _has(node: Any, name: str) -> bool:
    return any(d.name.value == name for d in getattr(node, "directives", None) or ())


def _signature(node: Any) -> str:
    args = ", ".join(_MERGE_DIRECTIVES.sub("", print_ast(a)) for a in getattr(node, "arguments", None) or ())
    return f"({args}): {print_ast(node.type)}"


def _add_fields(merged: _Type, node: Any, source: str, type_canonical: bool, out: MergeResult) -> None:
    for fld in getattr(node, "fields", None) or ():
        if _has(fld, "hidden"):
            continue
        name, sig = fld.name.value, _signature(fld)
        canonical = type_canonical or _has(fld, "canonical")
        old = merged.fields.get(name)
        entry = (_MERGE_DIRECTIVES.sub("", print_ast(fld)), sig, canonical, source)
        if old is None or (canonical and not old[2]):
            merged.fields[name] = entry
        elif old[1] != sig and not old[2]:
            out.conflicts.append(f"Field '{node.name.value}.{name}' is '{old[1]}' in source API {old[3]} but "
                                 f"'{sig}' in source API {source}: merge conflict (mark one @canonical or "
                                 "make them identical).")  # fmt: skip


def _add_type(types: dict[str, _Type], node: Any, source: str, out: MergeResult) -> None:
    kind, name = _KINDS[type(node)], node.name.value
    canonical = _has(node, "canonical")
    merged = types.get(name)
    if merged is None:
        merged = types[name] = _Type(kind, source, canonical)
    elif merged.kind != kind:
        out.conflicts.append(f"Type '{name}' is a {merged.kind} in source API {merged.source} but a {kind} in "
                             f"source API {source}: merge conflict.")  # fmt: skip
        return
    for directive in node.directives or ():
        if directive.name.value not in ("canonical", "hidden"):
            merged.directives.setdefault(print_ast(directive), print_ast(directive))
    for interface in getattr(node, "interfaces", None) or ():
        if interface.name.value not in merged.members:
            merged.members.append(interface.name.value)
    if kind in ("type", "interface", "input"):
        _add_fields(merged, node, source, canonical, out)
    elif kind == "enum":
        for value in node.values or ():
            merged.fields.setdefault(value.name.value, (value.name.value, "", False, source))
    elif kind == "union":
        for member in node.types or ():
            if member.name.value not in merged.members:
                merged.members.append(member.name.value)


def _render(types: dict[str, _Type], roots: dict[str, str]) -> str:
    parts = []
    if roots:
        parts.append("schema {\n" + "\n".join(f"  {op}: {name}" for op, name in roots.items()) + "\n}")
    for name, t in types.items():
        directives = "".join(f" {d}" for d in t.directives)
        if t.kind == "scalar":
            parts.append(f"scalar {name}{directives}")
        elif t.kind == "union":
            parts.append(f"union {name}{directives} = {' | '.join(t.members)}")
        else:
            implements = f" implements {' & '.join(t.members)}" if t.members and t.kind != "enum" else ""
            body = "\n".join(f"  {text}" for text, *_ in t.fields.values())
            parts.append(f"{t.kind} {name}{implements}{directives} {{\n{body}\n}}")
    return "\n\n".join(parts) + "\n"


def merge_schemas(sources: list[tuple[str, str, set[tuple[str, str]]]]) -> MergeResult:
    """Merge source schemas ``[(source_api_id, sdl, {(type, field) with a resolver})]`` by AppSync's rules."""
    out = MergeResult(None)
    types: dict[str, _Type] = {}
    roots: dict[str, str] = {}
    hidden: set[tuple[str, str]] = set()
    for source, sdl, _ in sources:
        try:
            document = parse(sdl, no_location=True)
        except GraphQLError as exc:
            out.conflicts.append(f"The schema of source API {source} does not parse: {exc.message}")
            continue
        for node in document.definitions:
            if isinstance(node, gast.SchemaDefinitionNode):
                for op in node.operation_types:
                    roots.setdefault(op.operation.value, op.type.name.value)
            elif type(node) in _KINDS:
                if _has(node, "hidden"):
                    hidden.add((node.name.value, "*"))
                    continue
                _add_type(types, node, source, out)
    for type_name, _ in hidden:
        types.pop(type_name, None)
    for source, _, resolved in sources:
        for type_name, field_name in sorted(resolved):
            entry = types.get(type_name, _Type("", "", False)).fields.get(field_name)
            if entry is None:
                continue
            owner = out.owners.get((type_name, field_name))
            if owner is None or (entry[2] and entry[3] == source):
                out.owners[(type_name, field_name)] = source
            elif not entry[2]:
                out.conflicts.append(f"Field '{type_name}.{field_name}' has a resolver in source API {owner} and "
                                     f"in source API {source}: one source API resolves a field.")  # fmt: skip
    if not out.conflicts:
        out.sdl = _render(types, roots)
    return out


# ------------------------------------------------------------------------------------ state on moto's objects


def _backend(region: str | None = None) -> Any:
    from moto.appsync.models import appsync_backends

    from stacklab.sandbox import current

    box = current()
    return appsync_backends[box.account_id][region or box.region]


def _api_type(api: Any) -> str:
    return getattr(api, "stacklab_api_type", "GRAPHQL")


def _associations(api: Any) -> dict[str, dict[str, Any]]:
    """A merged API's associations by id (AWS's ``SourceApiAssociation`` shape, plus private ``_`` keys)."""
    return control._store(api, "stacklab_associations")


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not k.startswith("_")}


def _id_of(identifier: Any, what: str) -> str:
    if not isinstance(identifier, str) or not identifier:
        raise _BadRequest(f"{what} must be an API id or ARN.")
    return identifier.rsplit("apis/", 1)[-1] if identifier.startswith("arn:") else identifier


def _get_api(identifier: Any, what: str) -> Any:
    from moto.appsync.exceptions import GraphqlAPINotFound

    api_id = _id_of(identifier, what)
    try:
        return _backend().get_graphql_api(api_id)
    except GraphqlAPINotFound:
        raise _NotFound(f"GraphQL API {api_id} not found.") from None


def _source_state(source: Any) -> tuple[str, set[tuple[str, str]]]:
    stored = source.graphql_schema
    sdl = stored.definition if stored is not None and stored.status == "SUCCESS" else ""
    return sdl, set(control.resolvers(source))


def _merge(merged: Any, association_id: str) -> None:
    """Merge one association's current source schema with the others' last merged ones; set its status."""
    from stacklab.sandbox import current

    record = _associations(merged)[association_id]
    try:
        source = _backend().get_graphql_api(record["sourceApiId"])
    except Exception:  # noqa: BLE001 - moto's NotFound: the source API was deleted
        record.update(sourceApiAssociationStatus="MERGE_FAILED",
                      sourceApiAssociationStatusDetail=f"Source API {record['sourceApiId']} no longer exists.")
        return  # fmt: skip
    sdl, resolved = _source_state(source)
    others = [r["_snapshot"] for k, r in _associations(merged).items() if k != association_id and r.get("_snapshot")]
    result = merge_schemas([*others, (source.api_id, sdl, resolved)])
    if result.sdl is not None:
        from stacklab.planes import graphql_schema

        try:
            graphql_schema.build(result.sdl)
        except (GraphQLError, TypeError) as exc:
            result.conflicts.append(f"The merged schema is not valid: {exc}")
    if result.conflicts:
        record.update(sourceApiAssociationStatus="MERGE_FAILED", sourceApiAssociationStatusDetail=result.conflicts[0])
    else:
        record.update(sourceApiAssociationStatus="MERGE_SUCCESS",
                      sourceApiAssociationStatusDetail="Merge completed successfully.",
                      lastSuccessfulMergeDate=current().clock.time(),
                      _snapshot=(source.api_id, sdl, resolved))  # fmt: skip
    record["_seen"] = (sdl, resolved)
    merged.stacklab_merged = None  # recomputed on the next read


def _auto_merge(merged: Any) -> None:
    for association_id, record in list(_associations(merged).items()):
        if record["sourceApiAssociationConfig"].get("mergeType") != "AUTO_MERGE":
            continue
        try:
            now = _source_state(_backend().get_graphql_api(record["sourceApiId"]))
        except Exception:  # noqa: BLE001 - a deleted source: keep what was merged
            continue
        if record.get("_seen") != now:
            _merge(merged, association_id)


def _merged_result(merged: Any) -> MergeResult | None:
    _auto_merge(merged)
    cached = getattr(merged, "stacklab_merged", None)
    if cached is None:
        snapshots = [r["_snapshot"] for r in _associations(merged).values() if r.get("_snapshot")]
        cached = merge_schemas(snapshots) if snapshots else MergeResult(None)
        merged.stacklab_merged = cached
    return cached


def effective_schema(api_id: str) -> str | None:
    """The merged schema of Merged API ``api_id`` (None for a GraphQL API or when nothing is merged yet)."""
    require_str("api_id", api_id)
    try:
        api = _backend().get_graphql_api(api_id)
    except Exception:  # noqa: BLE001 - moto's NotFound: the executor reports unknown APIs itself
        return None
    if _api_type(api) != "MERGED":
        return None
    result = _merged_result(api)
    return result.sdl if result is not None else None


def resolver_owner(api_id: str, type_name: str, field_name: str) -> str | None:
    """The id of the source API whose resolver runs for ``type_name.field_name`` of Merged API ``api_id``."""
    require_str("api_id", api_id)
    require_str("type_name", type_name)
    require_str("field_name", field_name)
    try:
        api = _backend().get_graphql_api(api_id)
    except Exception:  # noqa: BLE001
        return None
    if _api_type(api) != "MERGED":
        return None
    result = _merged_result(api)
    return result.owners.get((type_name, field_name)) if result is not None else None


# ------------------------------------------------------------------------------------ operations added to moto


def _new_association_id() -> str:
    from stacklab.sandbox import current

    counter = getattr(_new_association_id, "counter", 0) + 1
    _new_association_id.counter = counter  # type: ignore[attr-defined]
    rng = random.Random(f"stacklab-appsync-association-{current().seed}-{counter}")
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(26))


def _config(params: dict[str, Any]) -> dict[str, str]:
    config = params.get("sourceApiAssociationConfig") or {}
    merge_type = config.get("mergeType", "MANUAL_MERGE") if isinstance(config, dict) else None
    if merge_type not in MERGE_TYPES:
        raise _BadRequest(f"sourceApiAssociationConfig.mergeType must be one of {', '.join(MERGE_TYPES)}.")
    return {"mergeType": merge_type}


def _associate(merged: Any, source: Any, params: dict[str, Any]) -> Any:
    if _api_type(merged) != "MERGED":
        raise _BadRequest(f"API {merged.api_id} is not a Merged API (create it with apiType='MERGED').")
    if _api_type(source) == "MERGED":
        raise _BadRequest(f"API {source.api_id} is a Merged API; a source API must be a GRAPHQL API.")
    if any(r["sourceApiId"] == source.api_id for r in _associations(merged).values()):
        raise _BadRequest(f"Source API {source.api_id} is already associated with Merged API {merged.api_id}.")
    association_id = _new_association_id()
    record = {"associationId": association_id, "associationArn": f"{merged.arn}/sourceApiAssociations/{association_id}",
              "sourceApiId": source.api_id, "sourceApiArn": source.arn, "mergedApiId": merged.api_id,
              "mergedApiArn": merged.arn, "sourceApiAssociationConfig": _config(params),
              "sourceApiAssociationStatus": "MERGE_SCHEDULED"}  # fmt: skip
    if params.get("description") is not None:
        record["description"] = str(params["description"])
    _associations(merged)[association_id] = record
    _merge(merged, association_id)
    return control._ok({"sourceApiAssociation": _public(record)})


def _path_after(self: Any, marker: str) -> str:
    parts = control._path_parts(self)
    return parts[parts.index(marker) + 1]


def associate_source_graphql_api(self: Any) -> Any:
    params = control._params(self)
    merged = _get_api(_path_after(self, "mergedApis"), "mergedApiIdentifier")
    return _associate(merged, _get_api(params.get("sourceApiIdentifier"), "sourceApiIdentifier"), params)


def associate_merged_graphql_api(self: Any) -> Any:
    params = control._params(self)
    source = _get_api(_path_after(self, "sourceApis"), "sourceApiIdentifier")
    return _associate(_get_api(params.get("mergedApiIdentifier"), "mergedApiIdentifier"), source, params)


def _existing(merged: Any, association_id: str) -> dict[str, Any]:
    record = _associations(merged).get(association_id)
    if record is None:
        raise _NotFound(f"Source API association {association_id} not found.")
    return record


def get_source_api_association(self: Any) -> Any:
    merged = _get_api(_path_after(self, "mergedApis"), "mergedApiIdentifier")
    _auto_merge(merged)
    return control._ok({"sourceApiAssociation": _public(_existing(merged, _path_after(self, "sourceApiAssociations")))})


def update_source_api_association(self: Any) -> Any:
    params = control._params(self)
    merged = _get_api(_path_after(self, "mergedApis"), "mergedApiIdentifier")
    record = _existing(merged, _path_after(self, "sourceApiAssociations"))
    if params.get("sourceApiAssociationConfig") is not None:
        record["sourceApiAssociationConfig"] = _config(params)
    if params.get("description") is not None:
        record["description"] = str(params["description"])
    return control._ok({"sourceApiAssociation": _public(record)})


def start_schema_merge(self: Any) -> Any:
    merged = _get_api(_path_after(self, "mergedApis"), "mergedApiIdentifier")
    association_id = _path_after(self, "sourceApiAssociations")
    _existing(merged, association_id)
    _merge(merged, association_id)
    status = _associations(merged)[association_id]["sourceApiAssociationStatus"]
    return control._ok({"sourceApiAssociationStatus": status})


def _disassociate(merged: Any, association_id: str) -> Any:
    _existing(merged, association_id)
    del _associations(merged)[association_id]
    merged.stacklab_merged = None
    return control._ok({"sourceApiAssociationStatus": "DELETION_IN_PROGRESS"})


def disassociate_source_graphql_api(self: Any) -> Any:
    merged = _get_api(_path_after(self, "mergedApis"), "mergedApiIdentifier")
    return _disassociate(merged, _path_after(self, "sourceApiAssociations"))


def disassociate_merged_graphql_api(self: Any) -> Any:
    source = _get_api(_path_after(self, "sourceApis"), "sourceApiIdentifier")
    association_id = _path_after(self, "mergedApiAssociations")
    for api in _backend().graphql_apis.values():
        record = _associations(api).get(association_id)
        if record is not None and record["sourceApiId"] == source.api_id:
            return _disassociate(api, association_id)
    raise _NotFound(f"Source API association {association_id} not found.")


def list_source_api_associations(self: Any) -> Any:
    api = _get_api(_path_after(self, "apis"), "apiId")
    if _api_type(api) == "MERGED":
        records = list(_associations(api).values())
    else:
        records = [r for other in _backend().graphql_apis.values() for r in _associations(other).values()
                   if r["sourceApiId"] == api.api_id]  # fmt: skip
    keys = ("associationId", "associationArn", "sourceApiId", "sourceApiArn", "mergedApiId", "mergedApiArn",
            "description")  # fmt: skip
    return control._ok({"sourceApiAssociationSummaries": [{k: r[k] for k in keys if k in r} for r in records]})


_OPERATIONS = (associate_source_graphql_api, associate_merged_graphql_api, get_source_api_association,
               update_source_api_association, start_schema_merge, disassociate_source_graphql_api,
               disassociate_merged_graphql_api, list_source_api_associations)  # fmt: skip
_PATHS = (
    "{0}/v1/mergedApis/(?P<mergedApiIdentifier>[^/]+)/sourceApiAssociations$",
    "{0}/v1/mergedApis/(?P<mergedApiIdentifier>[^/]+)/sourceApiAssociations/(?P<associationId>[^/]+)$",
    "{0}/v1/mergedApis/(?P<mergedApiIdentifier>[^/]+)/sourceApiAssociations/(?P<associationId>[^/]+)/merge$",
    "{0}/v1/sourceApis/(?P<sourceApiIdentifier>[^/]+)/mergedApiAssociations$",
    "{0}/v1/sourceApis/(?P<sourceApiIdentifier>[^/]+)/mergedApiAssociations/(?P<associationId>[^/]+)$",
    "{0}/v1/apis/(?P<apiId>[^/]+)/sourceApiAssociations$",
)


def _with_api_type(original: Any) -> Any:
    """Wrap moto's create/get/list_graphql_api(s) so ``apiType`` (and the merged role) are stored and shown."""

    def wrapped(self: Any) -> Any:
        if original.__name__ == "create_graphql_api":
            api_type = self._get_param("apiType") or "GRAPHQL"
            role = self._get_param("mergedApiExecutionRoleArn")
            if api_type not in API_TYPES:
                raise _BadRequest(f"apiType must be one of {', '.join(API_TYPES)}, got {api_type!r}.")
            if api_type == "MERGED" and not role:
                raise _BadRequest("mergedApiExecutionRoleArn is required when apiType is MERGED.")
        response = original(self)
        result = getattr(response, "result", None)
        if not isinstance(result, dict):
            return response
        shown = result.get("graphqlApis") or [result.get("graphqlApi")]
        backend = self.appsync_backend
        for entry in shown:
            if not isinstance(entry, dict) or entry.get("apiId") not in backend.graphql_apis:
                continue
            api = backend.graphql_apis[entry["apiId"]]
            if original.__name__ == "create_graphql_api":
                api.stacklab_api_type, api.stacklab_merged_role = api_type, role
            entry["apiType"] = _api_type(api)
            if getattr(api, "stacklab_merged_role", None):
                entry["mergedApiExecutionRoleArn"] = api.stacklab_merged_role
        return response

    wrapped.__name__ = original.__name__
    return wrapped


def _refuse_schema_on_merged(original: Any) -> Any:
    def start_schema_creation(self: Any) -> Any:
        api = self.appsync_backend.graphql_apis.get(self._get_param("apiId"))
        if api is not None and _api_type(api) == "MERGED":
            raise _BadRequest("A Merged API's schema comes from its source APIs: associate them and merge instead.")
        return original(self)

    return start_schema_creation


def _install() -> None:
    """Add the operations to moto's AppSync responses and URL table (idempotent)."""
    from moto.appsync import responses, urls

    cls = responses.AppSyncResponse
    if getattr(cls, "_stacklab_graphql_merge", False):
        return
    for path in _PATHS:
        urls.url_paths[path] = cls.dispatch
    for operation in _OPERATIONS:
        setattr(cls, operation.__name__, operation)
    for name in ("create_graphql_api", "get_graphql_api", "list_graphql_apis"):
        setattr(cls, name, _with_api_type(getattr(cls, name)))
    cls.start_schema_creation = _refuse_schema_on_merged(cls.start_schema_creation)
    cls._stacklab_graphql_merge = True  # type: ignore[attr-defined]
    control._refresh_server_routes()


def _reset_ids() -> None:
    _new_association_id.counter = 0  # type: ignore[attr-defined]


def _hooks() -> None:
    from stacklab.sandbox import on_reset

    on_reset(_reset_ids)


_install()
_hooks()

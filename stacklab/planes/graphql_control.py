"""AppSync's control plane for data sources, resolvers and functions, added to moto when imported.

moto 5.2.5 answers ``create_data_source`` and ``create_function`` with 404 and raises
``NotImplementedError`` for ``create_resolver``. Importing this module adds these operations to moto's
appsync backend, so boto3 in the kernel **and** ``!aws appsync ...`` against the sandbox's server accept
AWS's request shapes and answer AWS's response shapes:

* ``create_data_source`` / ``get_data_source`` / ``list_data_sources`` / ``update_data_source`` /
  ``delete_data_source`` — types ``AMAZON_DYNAMODB`` (``dynamodbConfig``), ``AWS_LAMBDA``
  (``lambdaConfig``), ``HTTP`` (``httpConfig.endpoint``), ``NONE``, ``RELATIONAL_DATABASE``
  (``relationalDatabaseConfig.rdsHttpEndpointConfig``); stored as sent, plus ``dataSourceArn``;
* ``create_resolver`` / ``get_resolver`` / ``list_resolvers`` / ``update_resolver`` /
  ``delete_resolver`` — ``kind`` ``UNIT`` (default; needs an existing ``dataSourceName``) or ``PIPELINE``
  (``pipelineConfig.functions``: existing function ids), VTL templates or ``runtime``
  ``{"name": "APPSYNC_JS", "runtimeVersion": "1.0.0"}`` + ``code``, ``cachingConfig`` ``{ttl,
  cachingKeys}``; ``resolverArn``;
* ``evaluate_mapping_template(template=..., context=JSON)`` — renders a VTL template with
  :mod:`stacklab.planes.graphql_vtl` (``evaluationResult``, or ``error.message``; ``stash``, ``outErrors``);
* ``create_function`` / ``get_function`` / ``list_functions`` / ``update_function`` /
  ``delete_function`` / ``list_resolvers_by_function`` — pipeline functions with a seeded 26-character
  ``functionId`` and ``functionArn``.

If ``!aws appsync`` reached the sandbox's server before this import, the server's AppSync routes are
rebuilt so the new operations answer there too.

AWS's validation (errors are AWS-shaped ``ClientError``\\ s): an unknown API → ``NotFoundException``; an
unknown data source / resolver / function → ``NotFoundException``; a duplicate data source name or a
second resolver on a field → ``BadRequestException``; a resolver on a type or field that the API's schema
does not have (or before a schema exists) → ``BadRequestException`` ("No field named F found on type
T"); a type without its configuration (``AMAZON_DYNAMODB`` without ``dynamodbConfig`` ...), an unknown
type, a bad name, a ``cachingConfig.ttl`` outside 1-3600, a pipeline naming an unknown function, or a
JS resolver without ``code`` → ``BadRequestException``; deleting a function that a pipeline uses →
``ConcurrentModificationException``.

Everything is kept **on moto's GraphqlAPI object** (``stacklab_data_sources``, ``stacklab_resolvers``,
``stacklab_functions``), so ``stacklab.reset()`` and ``delete_graphql_api`` wipe it. :func:`data_sources`,
:func:`resolvers`, :func:`functions` and :func:`graphql_api` read it for the executor (the same objects
boto3 answers from). Not implemented: pagination tokens (every list is one page), ``syncConfig``
conflict handling, ``maxBatchSize`` batching, and data source types other than the five above (stored,
refused at execution).
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from stacklab._validate import require_str

__all__ = ["DATA_SOURCE_TYPES", "data_sources", "functions", "graphql_api", "resolvers"]

#: The data source types this course executes (AWS has more: they are stored but not executed).
DATA_SOURCE_TYPES = ("AMAZON_DYNAMODB", "AWS_LAMBDA", "HTTP", "NONE", "RELATIONAL_DATABASE")
_ALL_TYPES = (*DATA_SOURCE_TYPES, "AMAZON_ELASTICSEARCH", "AMAZON_OPENSEARCH_SERVICE", "AMAZON_EVENTBRIDGE",
              "AMAZON_BEDROCK_RUNTIME")  # fmt: skip
_CONFIG_FOR = {"AMAZON_DYNAMODB": "dynamodbConfig", "AWS_LAMBDA": "lambdaConfig", "HTTP": "httpConfig",
               "RELATIONAL_DATABASE": "relationalDatabaseConfig", "AMAZON_ELASTICSEARCH": "elasticsearchConfig",
               "AMAZON_OPENSEARCH_SERVICE": "openSearchServiceConfig",
               "AMAZON_EVENTBRIDGE": "eventBridgeConfig"}  # fmt: skip
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")
_DS_FIELDS = ("description", "type", "serviceRoleArn", *sorted(set(_CONFIG_FOR.values())), "metricsConfig")
_RESOLVER_FIELDS = ("dataSourceName", "requestMappingTemplate", "responseMappingTemplate", "kind", "pipelineConfig",
                    "syncConfig", "cachingConfig", "maxBatchSize", "runtime", "code", "metricsConfig")  # fmt: skip
_FUNCTION_FIELDS = ("name", "description", "dataSourceName", "requestMappingTemplate", "responseMappingTemplate",
                    "functionVersion", "syncConfig", "maxBatchSize", "runtime", "code")  # fmt: skip


def _errors() -> tuple[type, type, type]:
    from moto.appsync.exceptions import AppSyncExceptions

    class NotFound(AppSyncExceptions):
        code = 404

        def __init__(self, message: str) -> None:
            super().__init__("NotFoundException", message)
            self.description = json.dumps({"message": message})

    class BadRequest(AppSyncExceptions):
        code = 400

        def __init__(self, message: str) -> None:
            super().__init__("BadRequestException", message)
            self.description = json.dumps({"message": message})

    class Conflict(AppSyncExceptions):
        code = 409

        def __init__(self, message: str) -> None:
            super().__init__("ConcurrentModificationException", message)
            self.description = json.dumps({"message": message})

    return NotFound, BadRequest, Conflict


_NotFound, _BadRequest, _Conflict = _errors()


# ------------------------------------------------------------------------------------ store access


def _store(api: Any, name: str) -> dict[Any, dict[str, Any]]:
    if not hasattr(api, name):
        setattr(api, name, {})
    return getattr(api, name)


def graphql_api(api_id: str, *, region: str | None = None) -> Any:
    """moto's GraphqlAPI object for ``api_id`` (raises moto's ``NotFoundException`` if unknown)."""
    require_str("api_id", api_id)
    from moto.appsync.models import appsync_backends

    from stacklab.sandbox import current

    box = current()
    return appsync_backends[box.account_id][region or box.region].get_graphql_api(api_id)


def data_sources(api: Any) -> dict[str, dict[str, Any]]:
    """The API's data sources by name (AWS's ``DataSource`` shape)."""
    return _store(api, "stacklab_data_sources")


def resolvers(api: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """The API's resolvers by ``(typeName, fieldName)`` (AWS's ``Resolver`` shape)."""
    return _store(api, "stacklab_resolvers")  # type: ignore[return-value]


def functions(api: Any) -> dict[str, dict[str, Any]]:
    """The API's pipeline functions by ``functionId`` (AWS's ``FunctionConfiguration`` shape)."""
    return _store(api, "stacklab_functions")


# ------------------------------------------------------------------------------------ validation


def _check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > 65536:
        raise _BadRequest(f"Invalid {what} name {name!r}: it must match [_A-Za-z][_0-9A-Za-z]*.")
    return name


def _check_data_source(params: dict[str, Any]) -> None:
    ds_type = params.get("type")
    if ds_type not in _ALL_TYPES:
        raise _BadRequest(f"Invalid data source type {ds_type!r}: use one of {', '.join(_ALL_TYPES)}.")
    key = _CONFIG_FOR.get(ds_type)
    if key and not params.get(key):
        raise _BadRequest(f"Data source of type {ds_type} requires {key}.")
    if ds_type == "AMAZON_DYNAMODB" and not (params["dynamodbConfig"].get("tableName")
                                            and params["dynamodbConfig"].get("awsRegion")):  # fmt: skip
        raise _BadRequest("dynamodbConfig needs tableName and awsRegion.")
    if ds_type == "AWS_LAMBDA" and not params["lambdaConfig"].get("lambdaFunctionArn"):
        raise _BadRequest("lambdaConfig needs lambdaFunctionArn.")
    if ds_type == "HTTP" and not str(params["httpConfig"].get("endpoint") or "").startswith(("http://", "https://")):
        raise _BadRequest("httpConfig.endpoint must be a URL starting with http:// or https://.")
    if ds_type == "RELATIONAL_DATABASE":
        rds = params["relationalDatabaseConfig"].get("rdsHttpEndpointConfig") or {}
        if not (rds.get("dbClusterIdentifier") and rds.get("awsSecretStoreArn")):
            raise _BadRequest("relationalDatabaseConfig.rdsHttpEndpointConfig needs dbClusterIdentifier "
                              "and awsSecretStoreArn.")  # fmt: skip


def _check_code(params: dict[str, Any], what: str) -> None:
    runtime = params.get("runtime")
    if runtime:
        if runtime.get("name") != "APPSYNC_JS":
            raise _BadRequest(f"Invalid runtime {runtime.get('name')!r}: the only runtime is APPSYNC_JS.")
        if not params.get("code"):
            raise _BadRequest(f"The code for the {what} is required when a runtime is specified.")
    elif params.get("code"):
        raise _BadRequest(f"A runtime must be specified along with the code of the {what}.")


def _check_schema_field(api: Any, type_name: str, field_name: str) -> None:
    from graphql import GraphQLError

    from stacklab.planes import graphql_schema

    schema = getattr(api, "graphql_schema", None)
    if schema is None or schema.status != "SUCCESS":
        raise _BadRequest("Schema is not created or is invalid: run start_schema_creation first.")
    try:
        built = graphql_schema.build(schema.definition)
    except GraphQLError as exc:
        raise _BadRequest(f"Schema is invalid: {exc.message}") from None
    problem = graphql_schema.has_field(built, type_name, field_name)
    if problem:
        raise _BadRequest(problem)


def _check_resolver(api: Any, params: dict[str, Any]) -> None:
    kind = params.get("kind") or "UNIT"
    if kind not in ("UNIT", "PIPELINE"):
        raise _BadRequest(f"Invalid resolver kind {kind!r}: use UNIT or PIPELINE.")
    params["kind"] = kind
    if kind == "UNIT":
        name = params.get("dataSourceName")
        if not name:
            raise _BadRequest("A UNIT resolver requires dataSourceName.")
        if name not in data_sources(api):
            raise _NotFound(f"No data source found named {name}.")
    else:
        ids = (params.get("pipelineConfig") or {}).get("functions")
        if not isinstance(ids, list) or not ids:
            raise _BadRequest("A PIPELINE resolver requires pipelineConfig.functions (a list of function ids).")
        for fid in ids:
            if fid not in functions(api):
                raise _NotFound(f"No function found with id {fid}.")
    caching = params.get("cachingConfig")
    if caching is not None:
        ttl = caching.get("ttl")
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= 3600:
            raise _BadRequest(f"cachingConfig.ttl must be between 1 and 3600 seconds, got {ttl!r}.")
        keys = caching.get("cachingKeys") or []
        bad = [k for k in keys if not str(k).startswith(("$context.arguments", "$context.identity",
                                                          "$context.source"))]  # fmt: skip
        if bad:
            raise _BadRequest(f"Invalid cachingKeys {bad}: keys start with $context.arguments, "
                              "$context.identity or $context.source.")  # fmt: skip
    _check_code(params, "resolver")


def _arn(api: Any, suffix: str) -> str:
    return f"{api.arn}/{suffix}"


def _pick(params: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {k: copy.deepcopy(params[k]) for k in fields if params.get(k) is not None}


# ------------------------------------------------------------------------------------ operations


def _params(response: Any) -> dict[str, Any]:
    body = json.loads(response.body or "{}") if response.body else {}
    return body if isinstance(body, dict) else {}


def _path_parts(response: Any) -> list[str]:
    from urllib.parse import unquote

    return [unquote(p) for p in response.path.split("?")[0].split("/")]


def _api(response: Any) -> Any:
    parts = _path_parts(response)
    return response.appsync_backend.get_graphql_api(parts[parts.index("apis") + 1])


def _ok(body: dict[str, Any] | None = None) -> tuple[int, dict[str, str], str]:
    return 200, {"Content-Type": "application/json"}, json.dumps(body or {})


def create_data_source(self: Any) -> Any:
    api, params = _api(self), _params(self)
    name = _check_name(params.get("name"), "data source")
    if name in data_sources(api):
        raise _BadRequest(f"Data source with name {name} already exists.")
    _check_data_source(params)
    record = {"dataSourceArn": _arn(api, f"datasources/{name}"), "name": name, **_pick(params, _DS_FIELDS)}
    data_sources(api)[name] = record
    return _ok({"dataSource": record})


def _existing_data_source(api: Any, name: str) -> dict[str, Any]:
    record = data_sources(api).get(name)
    if record is None:
        raise _NotFound(f"Data source {name} not found.")
    return record


def get_data_source(self: Any) -> Any:
    return _ok({"dataSource": _existing_data_source(_api(self), _path_parts(self)[-1])})


def list_data_sources(self: Any) -> Any:
    return _ok({"dataSources": list(data_sources(_api(self)).values())})


def update_data_source(self: Any) -> Any:
    api, params, name = _api(self), _params(self), _path_parts(self)[-1]
    old = _existing_data_source(api, name)
    _check_data_source(params)
    record = {"dataSourceArn": old["dataSourceArn"], "name": name, **_pick(params, _DS_FIELDS)}
    data_sources(api)[name] = record
    return _ok({"dataSource": record})


def delete_data_source(self: Any) -> Any:
    api, name = _api(self), _path_parts(self)[-1]
    _existing_data_source(api, name)
    del data_sources(api)[name]
    return _ok()


def _resolver_key(self: Any) -> tuple[Any, str, str]:
    parts = _path_parts(self)
    at = parts.index("types")
    return _api(self), parts[at + 1], parts[at + 3] if len(parts) > at + 3 else ""


def _resolver_record(api: Any, type_name: str, field_name: str, params: dict[str, Any]) -> dict[str, Any]:
    record = {"typeName": type_name, "fieldName": field_name,
              "resolverArn": _arn(api, f"types/{type_name}/resolvers/{field_name}"),
              **_pick(params, _RESOLVER_FIELDS)}  # fmt: skip
    if record["kind"] == "PIPELINE":
        record.pop("dataSourceName", None)
    return record


def create_resolver(self: Any) -> Any:
    api, type_name, _ = _resolver_key(self)
    params = _params(self)
    field_name = params.get("fieldName")
    if not isinstance(field_name, str) or not field_name:
        raise _BadRequest("fieldName is required.")
    _check_schema_field(api, type_name, field_name)
    if (type_name, field_name) in resolvers(api):
        raise _BadRequest("Only one resolver is allowed per field.")
    _check_resolver(api, params)
    record = _resolver_record(api, type_name, field_name, params)
    resolvers(api)[(type_name, field_name)] = record
    return _ok({"resolver": record})


def _existing_resolver(api: Any, type_name: str, field_name: str) -> dict[str, Any]:
    record = resolvers(api).get((type_name, field_name))
    if record is None:
        raise _NotFound(f"No resolver found for {type_name}.{field_name}.")
    return record


def get_resolver(self: Any) -> Any:
    return _ok({"resolver": _existing_resolver(*_resolver_key(self))})


def list_resolvers(self: Any) -> Any:
    api, type_name, _ = _resolver_key(self)
    return _ok({"resolvers": [r for (t, _f), r in resolvers(api).items() if t == type_name]})


def update_resolver(self: Any) -> Any:
    api, type_name, field_name = _resolver_key(self)
    _existing_resolver(api, type_name, field_name)
    params = _params(self)
    _check_schema_field(api, type_name, field_name)
    _check_resolver(api, params)
    record = _resolver_record(api, type_name, field_name, params)
    resolvers(api)[(type_name, field_name)] = record
    return _ok({"resolver": record})


def delete_resolver(self: Any) -> Any:
    api, type_name, field_name = _resolver_key(self)
    _existing_resolver(api, type_name, field_name)
    del resolvers(api)[(type_name, field_name)]
    return _ok()


def _check_function(api: Any, params: dict[str, Any]) -> None:
    _check_name(params.get("name"), "function")
    name = params.get("dataSourceName")
    if not name:
        raise _BadRequest("dataSourceName is required.")
    if name not in data_sources(api):
        raise _NotFound(f"No data source found named {name}.")
    _check_code(params, "function")
    if not params.get("runtime") and params.get("functionVersion") not in ("2018-05-29",):
        raise _BadRequest("functionVersion must be 2018-05-29 for a VTL function.")


def _function_id() -> str:
    from moto.moto_api._internal import mock_random

    return "".join(mock_random.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(26))


def create_function(self: Any) -> Any:
    api, params = _api(self), _params(self)
    _check_function(api, params)
    fid = _function_id()
    record = {"functionId": fid, "functionArn": _arn(api, f"functions/{fid}"), **_pick(params, _FUNCTION_FIELDS)}
    functions(api)[fid] = record
    return _ok({"functionConfiguration": record})


def _existing_function(api: Any, fid: str) -> dict[str, Any]:
    record = functions(api).get(fid)
    if record is None:
        raise _NotFound(f"No function found with id {fid}.")
    return record


def _fid(self: Any) -> str:
    parts = _path_parts(self)
    return parts[parts.index("functions") + 1]


def get_function(self: Any) -> Any:
    return _ok({"functionConfiguration": _existing_function(_api(self), _fid(self))})


def list_functions(self: Any) -> Any:
    return _ok({"functions": list(functions(_api(self)).values())})


def update_function(self: Any) -> Any:
    api, params, fid = _api(self), _params(self), _fid(self)
    old = _existing_function(api, fid)
    _check_function(api, params)
    record = {"functionId": fid, "functionArn": old["functionArn"], **_pick(params, _FUNCTION_FIELDS)}
    functions(api)[fid] = record
    return _ok({"functionConfiguration": record})


def _users_of(api: Any, fid: str) -> list[dict[str, Any]]:
    return [r for r in resolvers(api).values() if fid in ((r.get("pipelineConfig") or {}).get("functions") or [])]


def delete_function(self: Any) -> Any:
    api, fid = _api(self), _fid(self)
    _existing_function(api, fid)
    users = _users_of(api, fid)
    if users:
        names = ", ".join(f"{r['typeName']}.{r['fieldName']}" for r in users)
        raise _Conflict(f"Function {fid} is used by the pipeline resolvers {names}: remove it from them first.")
    del functions(api)[fid]
    return _ok()


def list_resolvers_by_function(self: Any) -> Any:
    api, fid = _api(self), _fid(self)
    _existing_function(api, fid)
    return _ok({"resolvers": _users_of(api, fid)})


def evaluate_mapping_template(self: Any) -> Any:
    """AppSync's ``EvaluateMappingTemplate``: render a VTL template against a JSON context, no API needed."""
    import random

    from stacklab.planes import graphql_vtl as vtl
    from stacklab.sandbox import current

    params = _params(self)
    template, context = params.get("template"), params.get("context")
    if not isinstance(template, str) or not isinstance(context, str):
        raise _BadRequest("template and context (a JSON string) are required.")
    try:
        ctx = json.loads(context)
    except ValueError as exc:
        raise _BadRequest(f"context is not valid JSON: {exc}") from None
    if not isinstance(ctx, dict):
        raise _BadRequest('context must be a JSON object such as {"arguments": {}}.')
    box = current()
    try:
        out = vtl.render(template, ctx, now=box.clock.now(), rng=random.Random(f"evaluate-{box.seed}"))
    except vtl.UtilError as exc:
        return _ok({"error": {"message": exc.message}, "logs": []})
    except vtl.MappingTemplateError as exc:
        return _ok({"error": {"message": str(exc)}, "logs": []})
    result = json.dumps(out.value) if out.returned else out.text
    body = {"evaluationResult": result, "logs": [], "stash": json.dumps(ctx.get("stash") or {})}
    if out.errors:
        body["outErrors"] = json.dumps(out.errors)
    return _ok(body)


_OPERATIONS = (create_data_source, get_data_source, list_data_sources, update_data_source, delete_data_source,
               create_resolver, get_resolver, list_resolvers, update_resolver, delete_resolver, create_function,
               get_function, list_functions, update_function, delete_function, list_resolvers_by_function,
               evaluate_mapping_template)  # fmt: skip
_PATHS = (
    "{0}/v1/apis/(?P<api_id>[^/]+)/datasources$",
    "{0}/v1/apis/(?P<api_id>[^/]+)/datasources/(?P<name>[^/]+)$",
    "{0}/v1/apis/(?P<api_id>[^/]+)/functions$",
    "{0}/v1/apis/(?P<api_id>[^/]+)/functions/(?P<function_id>[^/]+)$",
    "{0}/v1/apis/(?P<api_id>[^/]+)/functions/(?P<function_id>[^/]+)/resolvers$",
    "{0}/v1/apis/(?P<api_id>[^/]+)/types/(?P<type_name>[^/]+)/resolvers$",
    "{0}/v1/apis/(?P<api_id>[^/]+)/types/(?P<type_name>[^/]+)/resolvers/(?P<field_name>[^/]+)$",
    "{0}/v1/dataplane-evaluatetemplate$",
)


def _install() -> None:
    """Add the operations to moto's AppSync responses and URL table (idempotent)."""
    from moto.appsync import responses, urls

    cls = responses.AppSyncResponse
    if getattr(cls, "_stacklab_graphql_control", False):
        return
    for path in _PATHS:
        urls.url_paths[path] = cls.dispatch
    for operation in _OPERATIONS:
        setattr(cls, operation.__name__, operation)
    cls._stacklab_graphql_control = True  # type: ignore[attr-defined]
    _refresh_server_routes()


def _refresh_server_routes() -> None:
    """Make the sandbox's moto server (``!aws`` cells) rebuild its AppSync routes with the new paths.

    The server builds one Flask app per service on that service's first request; if ``!aws appsync``
    ran before this module was imported, that app lacks the paths added here and would answer 404.
    """
    from stacklab.sandbox import current, is_running

    if not is_running():
        return
    wsgi = getattr(getattr(current()._server, "_server", None), "app", None)
    instances = getattr(wsgi, "app_instances", None)
    if isinstance(instances, dict):
        instances.pop("appsync", None)


_install()

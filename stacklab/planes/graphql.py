"""AWS AppSync GraphQL APIs, executed: moto stores the API and its schema, this plane runs queries.

moto 5.2.5 stores GraphQL APIs, schemas (``start_schema_creation``), API keys and API caches, but has
no data sources, resolvers or functions and executes nothing. Importing this module (the sandbox
does it before the first ``appsync`` call) adds the missing control plane to moto
(:mod:`stacklab.planes.graphql_control`: ``create_data_source`` / ``create_resolver`` /
``create_function`` and their get/list/update/delete, in AWS's shapes, for boto3 **and** ``!aws
appsync``), and this module executes operations against the schema stored in AppSync, reading the API,
schema, resolvers, data sources, functions, keys and cache settings from moto's store on **every**
request.

Quick start (what a lesson does)::

    a = stacklab.client("appsync")
    api_id = a.create_graphql_api(name="blog", authenticationType="API_KEY")["graphqlApi"]["apiId"]
    a.start_schema_creation(apiId=api_id, definition=b"type Query { hello: String }")
    key = a.create_api_key(apiId=api_id)["apiKey"]["id"]
    a.create_data_source(apiId=api_id, name="local", type="NONE")
    a.create_resolver(apiId=api_id, typeName="Query", fieldName="hello", dataSourceName="local",
                      requestMappingTemplate='{"version": "2018-05-29", "payload": "hi"}',
                      responseMappingTemplate="$util.toJson($ctx.result)")
    graphql.execute(api_id, "{ hello }", headers={"x-api-key": key})   # {'data': {'hello': 'hi'}}

Public API
----------
``execute(api_id, query, variables=None, headers=None, operation_name=None) -> dict``
    Run one GraphQL operation in-process; returns AppSync's response body ``{"data": ..., "errors":
    [...]}`` (``errors`` only when there are some; ``extensions.stacklabCache`` only when the API has
    a cache). Each error has ``path``, ``data``, ``errorType``, ``errorInfo``, ``locations``
    ``[{"line", "column", "sourceName"}]`` and ``message``. A refused request (no, wrong or expired
    API key) comes back as ``{"errors": [{"errorType": "UnauthorizedException", "message": ...}]}``
    (HTTP 401 through :func:`post`); an unknown ``api_id`` raises :class:`InputError`.
``post(api_id, body, headers=None) -> Response``
    The same over AppSync's HTTP contract: ``body`` is the JSON text (or dict) of
    ``{"query", "variables", "operationName"}``; returns a :class:`stacklab.planes.http.Response`
    (200 with the GraphQL body; 400 ``MalformedHttpRequestException`` "Unable to parse GraphQL query."
    for a body that is not JSON or has no ``query``; 401 ``UnauthorizedException``; 404
    ``NotFoundException`` for an unknown API).
``url(api_id) -> str`` / ``serve(api_id) -> LocalServer`` / ``stop_servers()``
    Serve the API as HTTP ``POST /graphql`` on 127.0.0.1 (one server per API; ``GET`` → 405, other
    paths → 404), stopped by ``stacklab.reset()`` and at kernel exit:
    ``requests.post(url(api_id), json={"query": ...}, headers={"x-api-key": key}, timeout=5)``.
``cache_stats(api_id) -> dict``
    ``{"hits": int, "misses": int, "entries": int, "behavior": str | None}`` of the API's cache
    (:mod:`stacklab.planes.graphql_cache`); ``flush_api_cache`` (boto3 or CLI) empties it.

Modules (one concept each): :mod:`~stacklab.planes.graphql_control` (control plane added to moto,
incl. ``evaluate_mapping_template``), :mod:`~stacklab.planes.graphql_schema` (AppSync scalars and
directives), :mod:`~stacklab.planes.graphql_vtl` (Velocity with ``$ctx``/``$util``),
:mod:`~stacklab.planes.graphql_resolvers` (UNIT/PIPELINE), :mod:`~stacklab.planes.graphql_sources`
(data sources), :mod:`~stacklab.planes.graphql_cache` (caching). A warm query costs ~1-5 ms.

Execution (AppSync's rules; the simplifications are listed at the end)
--------------------------------------------------------------------
1. The schema stored by ``start_schema_creation`` is built with graphql-core, with AppSync's scalars
   (``AWSDate``, ``AWSTime``, ``AWSDateTime``, ``AWSTimestamp``, ``AWSEmail``, ``AWSJSON``, ``AWSURL``,
   ``AWSPhone``, ``AWSIPAddress``) and directives (``@aws_api_key``, ``@aws_iam``, ``@aws_oidc``,
   ``@aws_lambda``, ``@aws_cognito_user_pools``, ``@aws_auth``, ``@aws_subscribe``) added. A query that
   does not parse → one error ``errorType: "InvalidSyntax"``; a query that does not validate
   (unknown field, missing argument, ...) → ``errorType: "ValidationError"`` with graphql-java's
   wording for unknown fields (``Validation error of type FieldUndefined: ...``), ``data: null``.
   A ``subscription`` operation over HTTP → ``errorType: "UnsupportedOperation"`` (real-time delivery is
   engineer Q2's ``graphql_subscriptions``).
2. Authorization. If ``stacklab.planes.graphql_auth`` exists (engineer Q2), its
   ``authorize(api: dict, headers: Mapping[str, str], document) -> AuthContext`` decides (it raises
   ``GraphQLAuthError`` with ``status``, ``errorType``, ``message``, turned into AppSync's error
   response); for every field resolved ``auth_context.allows(parent_type_name, field_name)`` is asked
   (False → the field is null with ``"Not Authorized to access FIELD on type TYPE"``,
   ``errorType: "Unauthorized"``), and ``$ctx.identity`` is ``auth_context.identity``. Without that
   module only ``API_KEY`` is enforced here: the ``x-api-key`` header must name a key of the API
   that has not expired on the **sandbox clock** (moto dates keys with the wall clock; the plane
   judges ``expires`` against ``stacklab.clock()``).
   ``api`` is the ``get_graphql_api(apiId)["graphqlApi"]`` dict read from moto (``name``, ``apiId``,
   ``arn``, ``authenticationType``, ``additionalAuthenticationProviders``, ``userPoolConfig``,
   ``openIDConnectConfig``, ``lambdaAuthorizerConfig``, ``xrayEnabled``) plus ``"apiKeys"``:
   ``[{"id", "description", "expires", "expired"}]`` (``expired`` judged on the sandbox clock);
   ``headers`` have lower-case names; ``document`` is graphql-core's parsed ``DocumentNode``. Other
   exceptions from ``authorize`` propagate (a bug should be seen).
3. Merged APIs: if ``stacklab.planes.graphql_merge`` exists, ``effective_schema(api_id)`` (SDL or
   None) replaces the stored schema and ``resolver_owner(api_id, type_name, field_name)`` names the
   source API whose resolver runs.
4. Each field with a resolver (``create_resolver`` on ``TYPE.FIELD``) runs it; other fields resolve
   from the parent object (``parent[field]``); a top-level field without a resolver is null, as on
   AppSync. A ``UNIT`` resolver renders its ``requestMappingTemplate`` (Velocity, by
   :mod:`stacklab.planes.graphql_vtl`, with ``$ctx``/``$context``, ``$util``, ``#return``), sends the
   request to its data source (:mod:`stacklab.planes.graphql_sources`: ``AMAZON_DYNAMODB``,
   ``AWS_LAMBDA``, ``HTTP`` (loopback only), ``NONE``, ``RELATIONAL_DATABASE``), then renders the
   ``responseMappingTemplate`` with ``$ctx.result``. A ``PIPELINE`` resolver renders its before
   template, runs its functions in order (each with ``$ctx.prev.result`` and a shared ``$ctx.stash``),
   then its after template. A Lambda data source without templates gets AppSync's direct-Lambda
   event (``arguments``, ``source``, ``identity``, ``info{fieldName, parentTypeName, variables,
   selectionSetList, selectionSetGraphQL}``, ``stash``, ``prev``, ``request``). ``runtime
   APPSYNC_JS`` resolvers are stored and shown, but **not executed offline** (no maintained
   pure-PyPI JavaScript engine is installed): the field gets an error saying so.
   Template problems → ``errorType: "MappingTemplate"``; ``$util.error`` → its own type;
   data-source errors → AWS's type (e.g. ``DynamoDB:ConditionalCheckFailedException``) — with a
   ``"version": "2018-05-29"`` request template only if the response template raises ``$ctx.error``
   (AWS's rule; ``2017-02-28`` fails the field at once). Details: :mod:`stacklab.planes.graphql_resolvers`.
5. After each successful mutation field, ``stacklab.planes.graphql_subscriptions.publish(api_id,
   mutation_field_name, result)`` is called if that module exists.
6. Caching (when the API has an API cache, ``create_api_cache``): ``FULL_REQUEST_CACHING`` caches
   every resolver's result for the cache's ``ttl``, keyed on ``$context.arguments`` and
   ``$context.identity`` (AppSync's documented keys; ``$context.source`` too for nested fields);
   ``PER_RESOLVER_CACHING`` caches the results of resolvers that have a ``cachingConfig``
   (``ttl``, ``cachingKeys`` such as ``$context.arguments.id``, ``$context.identity.sub``) for that
   ttl; ``OPERATION_LEVEL_CACHING`` caches whole responses. TTLs run on the sandbox clock; hits and
   misses are counted (:func:`cache_stats`) and the response carries ``extensions.stacklabCache`` with
   the hits/misses of that request (AppSync itself sends no such extension).

Simplifications: no request/response size limits, no query depth/complexity limits, no X-Ray or
CloudWatch logs, no ``@aws_subscribe`` delivery here (engineer Q2's module), no custom domains;
VTL runs on airspeed (a Python Velocity engine), whose null handling differs in corner cases.
"""

from __future__ import annotations

import calendar
import importlib
import importlib.util
import json
import random
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from graphql import GraphQLError, OperationType, parse, validate
from graphql import execute as gql_execute
from graphql.language import ast as gast
from graphql.language.printer import print_ast

from stacklab._validate import require_str
from stacklab.errors import InputError
from stacklab.planes import graphql_cache as cache
from stacklab.planes import graphql_control as control
from stacklab.planes import graphql_resolvers as resolvers
from stacklab.planes import graphql_schema
from stacklab.planes.http import LocalServer, Request, Response

__all__ = ["Response", "cache_stats", "execute", "post", "serve", "stop_servers", "url"]

_UNAUTHORIZED = "You are not authorized to make this call."


class _Refused(Exception):
    """The request is refused before execution (HTTP status + AppSync's error body)."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"errors": [{"errorType": error_type, "message": message}]}


# ------------------------------------------------------------------------------------ optional modules


_absent: set[str] = set()


def _optional(name: str) -> Any:
    """Engineer Q2's module ``stacklab.planes.NAME`` if it exists, else None (imported lazily).

    A module found missing is remembered as missing for the rest of the process (a lookup on disk
    costs ~1 ms per request on the course machine); one already imported is always used.
    """
    module = f"stacklab.planes.{name}"
    if module in sys.modules:
        return sys.modules[module]
    if module in _absent:
        return None
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        _absent.add(module)
        return None
    return importlib.import_module(module)


# ------------------------------------------------------------------------------------ API keys on the sandbox clock


def _install_key_clock() -> None:
    """Record when moto issued each API key, so expiry is judged on the sandbox clock (idempotent)."""
    from moto.appsync.models import GraphqlAPIKey

    if getattr(GraphqlAPIKey, "_stacklab_clock", False):
        return
    init = GraphqlAPIKey.__init__

    def init_recorded(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        from stacklab.sandbox import current, is_running

        self.stacklab_issued = (time.time(), current().clock.time() if is_running() else time.time())

    GraphqlAPIKey.__init__ = init_recorded  # type: ignore[method-assign]
    GraphqlAPIKey._stacklab_clock = True  # type: ignore[attr-defined]


def _key_expired(key: Any) -> bool:
    """Expired on the sandbox clock: the key's lifetime (``expires`` - issue time) counted from its issue.

    A key issued before this plane was imported has no record: it is judged against the wall clock.
    """
    from stacklab.sandbox import current

    now = current().clock.time()
    wall, sandbox = getattr(key, "stacklab_issued", (time.time(), now))
    lifetime = calendar.timegm(key.expires.timetuple()) - wall
    return now >= sandbox + lifetime


def _api_dict(api: Any) -> dict[str, Any]:
    """The API as ``get_graphql_api`` shows it, plus ``apiKeys`` (with ``expired`` on the sandbox clock)."""
    keys = [{"id": k.key_id, "description": k.description, "expires": calendar.timegm(k.expires.timetuple()),
             "expired": _key_expired(k)} for k in api.api_keys.values()]  # fmt: skip
    return {"name": api.name, "apiId": api.api_id, "arn": api.arn, "authenticationType": api.authentication_type,
            "additionalAuthenticationProviders": api.additional_authentication_providers or [],
            "lambdaAuthorizerConfig": api.lambda_authorizer_config, "openIDConnectConfig": api.open_id_connect_config,
            "userPoolConfig": api.user_pool_config, "xrayEnabled": api.xray_enabled, "apiKeys": keys}  # fmt: skip


class _ApiKeyAuth:
    """API-key-only authorization (used when engineer Q2's graphql_auth module is absent)."""

    identity = None

    def allows(self, parent_type_name: str, field_name: str) -> bool:
        return True


def _authorize(api: Any, headers: dict[str, str], document: gast.DocumentNode) -> Any:
    auth = _optional("graphql_auth")
    if auth is not None:
        error_class = getattr(auth, "GraphQLAuthError", None)
        try:
            return auth.authorize(_api_dict(api), headers, document)
        except Exception as exc:
            if error_class is not None and isinstance(exc, error_class):
                status = int(getattr(exc, "status", 401))
                error_type = str(getattr(exc, "errorType", "UnauthorizedException"))
                raise _Refused(status, error_type, str(getattr(exc, "message", exc))) from None
            raise
    extra = api.additional_authentication_providers or []
    modes = [api.authentication_type] + [p.get("authenticationType") for p in extra]
    if "API_KEY" not in modes:
        raise _Refused(401, "UnauthorizedException", f"This API uses {api.authentication_type}; only API_KEY "
                       "authorization is available in this sandbox (stacklab.planes.graphql_auth is not "
                       "installed).")  # fmt: skip
    key = api.api_keys.get(headers.get("x-api-key", ""))
    if key is None or _key_expired(key):  # AppSync answers an expired key like an unknown one
        raise _Refused(401, "UnauthorizedException", _UNAUTHORIZED)
    return _ApiKeyAuth()


# ------------------------------------------------------------------------------------ execution


def _selection_list(selection_set: Any, fragments: dict[str, Any], prefix: str = "") -> list[str]:
    out: list[str] = []
    for node in getattr(selection_set, "selections", None) or []:
        if isinstance(node, gast.FieldNode):
            name = node.alias.value if node.alias else node.name.value
            if name.startswith("__"):
                continue
            out.append(prefix + name)
            out += _selection_list(node.selection_set, fragments, f"{prefix}{name}/")
        elif isinstance(node, gast.InlineFragmentNode):
            out += _selection_list(node.selection_set, fragments, prefix)
        elif isinstance(node, gast.FragmentSpreadNode) and node.name.value in fragments:
            out += _selection_list(fragments[node.name.value].selection_set, fragments, prefix)
    return out


class _Run:
    """One request: the API, who calls, the headers, the errors appended on the way, cache counters."""

    def __init__(self, api: Any, auth: Any, headers: dict[str, str], env: resolvers.Environment) -> None:
        self.api = api
        self.auth = auth
        self.headers = headers
        self.env = env
        self.behavior: str | None = None
        self.cache_ttl = 0
        if api.api_cache is not None:
            self.behavior, self.cache_ttl = api.api_cache.api_caching_behavior, int(api.api_cache.ttl or 0)
        self.hits = 0
        self.misses = 0
        self.merge = _optional("graphql_merge")
        self.subscriptions = _optional("graphql_subscriptions")


def _owner_api(run: _Run, type_name: str, field_name: str) -> Any:
    if run.merge is None or not hasattr(run.merge, "resolver_owner"):
        return run.api
    owner = run.merge.resolver_owner(run.api.api_id, type_name, field_name)
    return run.api if not owner or owner == run.api.api_id else control.graphql_api(owner)


def _default(source: Any, field_name: str) -> Any:
    if isinstance(source, Mapping):
        return source.get(field_name)
    return getattr(source, field_name, None)


def _resolve(source: Any, info: Any, **arguments: Any) -> Any:
    run: _Run = info.context
    parent, name = info.parent_type.name, info.field_name
    if not run.auth.allows(parent, name):
        raise resolvers.FieldError(f"Not Authorized to access {name} on type {parent}", "Unauthorized")
    api = _owner_api(run, parent, name)
    resolver = control.resolvers(api).get((parent, name))
    if resolver is None:
        return _default(source, name)
    ctx = {
        "arguments": arguments, "source": source, "identity": getattr(run.auth, "identity", None), "stash": {},
        "request": {"headers": dict(run.headers)},
        "info": {"fieldName": name, "parentTypeName": parent, "variables": _variables(info),
                 "selectionSetList": _selection_list(info.field_nodes[0].selection_set, info.fragments),
                 "selectionSetGraphQL": print_ast(info.field_nodes[0].selection_set)
                 if info.field_nodes[0].selection_set else ""},
    }  # fmt: skip
    key = cache.key_for_field(run.behavior, resolver, ctx, info.path.prev is not None) if run.behavior else None
    if key is not None:
        hit, value = cache.get(run.api.api_id, key)
        if hit:
            run.hits += 1
            return value
        run.misses += 1
    first_appended = len(run.env.errors)
    value = resolvers.run(api, resolver, ctx, run.env)
    for error in run.env.errors[first_appended:]:
        error.setdefault("path", info.path.as_list())
        node = info.field_nodes[0].loc
        error.setdefault("locations", _locations_of(info.field_nodes[0]) if node else None)
    if key is not None:
        ttl = run.cache_ttl if run.behavior == "FULL_REQUEST_CACHING" else resolver["cachingConfig"]["ttl"]
        cache.put(run.api.api_id, key, value, ttl)
    if info.operation.operation == OperationType.MUTATION and info.path.prev is None and run.subscriptions is not None:
        # only the fields the mutation selected can reach subscribers (AppSync's rule)
        run.subscriptions.publish(run.api.api_id, name, value, ctx["info"]["selectionSetList"])
    return value


def _variables(info: Any) -> dict[str, Any]:
    values = info.variable_values
    return dict(getattr(values, "coerced", values) or {})


def _locations_of(node: Any) -> list[dict[str, Any]]:
    source_location = node.loc.source.get_location(node.loc.start)
    return [{"line": source_location.line, "column": source_location.column, "sourceName": None}]


def _error_dict(error: GraphQLError) -> dict[str, Any]:
    original = error.original_error
    locations = [{"line": loc.line, "column": loc.column, "sourceName": None} for loc in error.locations or []]
    if isinstance(original, resolvers.FieldError):
        message, error_type, data, info = original.message, original.error_type, original.data, original.info
    else:
        message, error_type, data, info = error.message, None, None, None
        if original is not None and not isinstance(original, GraphQLError):
            message, error_type = f"{type(original).__name__}: {original}", "InternalFailure"
    return {"path": error.path, "data": data, "errorType": error_type, "errorInfo": info,
            "locations": locations or None, "message": message}  # fmt: skip


def _validation_error(error: GraphQLError) -> dict[str, Any]:
    out = _error_dict(error)
    message = error.message
    if message.startswith("Cannot query field "):
        field_name = message.split("'")[1] if "'" in message else "?"
        parent = message.split("on type '")[1].split("'")[0] if "on type '" in message else "?"
        message = (f"Validation error of type FieldUndefined: Field '{field_name}' in type '{parent}' is undefined "
                   f"@ '{field_name}'")  # fmt: skip
    out.update(message=message, errorType="ValidationError")
    return out


def _schema_of(api: Any) -> Any:
    merge = _optional("graphql_merge")
    definition = None
    if merge is not None and hasattr(merge, "effective_schema"):
        definition = merge.effective_schema(api.api_id)
    if definition is None:
        stored = api.graphql_schema
        if stored is None or stored.status != "SUCCESS":
            raise _Refused(400, "BadRequestException", "The API has no valid schema: run start_schema_creation first.")
        definition = stored.definition
    return graphql_schema.build(definition)


_validations: dict[tuple[int, str], list[GraphQLError]] = {}


def _validated(schema: Any, query: str, document: gast.DocumentNode) -> list[GraphQLError]:
    """graphql-core's validation errors, remembered per (schema, query text): validation is pure."""
    key = (id(schema), query)
    with _lock:
        known = _validations.get(key)
    if known is None:
        known = list(validate(schema, document))
        with _lock:
            if len(_validations) > 512:
                _validations.clear()
            _validations[key] = known
    return known


def _rng(api_id: str) -> random.Random:
    from stacklab.sandbox import current

    with _lock:
        counter = _counters.get(api_id, 0)
        _counters[api_id] = counter + 1
    return random.Random(f"stacklab-appsync-{current().seed}-{api_id}-{counter}")


_lock = threading.Lock()
_counters: dict[str, int] = {}


def _check_inputs(api_id: Any, query: Any, variables: Any, headers: Any, operation_name: Any) -> None:
    require_str("api_id", api_id)
    if not isinstance(query, str):
        raise InputError(f"query must be a GraphQL document as a string, got {type(query).__name__}.")
    if variables is not None and not isinstance(variables, Mapping):
        raise InputError(f"variables must be a dict such as {{'id': '1'}}, got {type(variables).__name__}.")
    if headers is not None and not isinstance(headers, Mapping):
        raise InputError(f"headers must be a dict such as {{'x-api-key': KEY}}, got {type(headers).__name__}.")
    if operation_name is not None:
        require_str("operation_name", operation_name)


def _api_or_refuse(api_id: str) -> Any:
    from moto.appsync.exceptions import GraphqlAPINotFound

    try:
        return control.graphql_api(api_id)
    except GraphqlAPINotFound:
        raise _Refused(404, "NotFoundException", f"GraphQL API {api_id} not found.") from None


def _run(api_id: str, query: str, variables: Mapping[str, Any] | None, headers: Mapping[str, str] | None,
         operation_name: str | None) -> tuple[int, dict[str, Any]]:  # fmt: skip
    api = _api_or_refuse(api_id)
    lowered = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
    try:
        document = parse(query)
    except GraphQLError as exc:
        error = _error_dict(exc)
        error.update(errorType="InvalidSyntax", message=f"Invalid Syntax : {exc.message}")
        return 200, {"data": None, "errors": [error]}
    auth = _authorize(api, lowered, document)
    schema = _schema_of(api)
    problems = _validated(schema, query, document)
    if problems:
        return 200, {"data": None, "errors": [_validation_error(e) for e in problems]}
    from stacklab.sandbox import current

    run = _Run(api, auth, lowered, resolvers.Environment(current().clock.now(), _rng(api_id)))
    op_key = None
    if run.behavior == "OPERATION_LEVEL_CACHING":
        op_key = cache.key_for_operation(query, dict(variables or {}), operation_name, run.auth.identity)
        hit, body = cache.get(api.api_id, op_key)
        if hit:
            return 200, {**body, "extensions": {"stacklabCache": {"hits": 1, "misses": 0}}}
        run.misses += 1
    operation = next((d for d in document.definitions if isinstance(d, gast.OperationDefinitionNode)
                      and (operation_name is None or (d.name and d.name.value == operation_name))), None)  # fmt: skip
    if operation is not None and operation.operation == OperationType.SUBSCRIPTION:
        return 200, {"data": None, "errors": [{"path": None, "data": None, "errorType": "UnsupportedOperation",
                     "errorInfo": None, "locations": None, "message": "Subscriptions are not delivered over "
                     "HTTP POST: use the real-time endpoint (stacklab.planes.graphql_subscriptions)."}]}  # fmt: skip
    result = gql_execute(schema, document, context_value=run, variable_values=dict(variables or {}),
                         operation_name=operation_name, field_resolver=_resolve)  # fmt: skip
    errors = [_error_dict(e) for e in result.errors or []]
    errors += [{"path": e.get("path"), "data": e.get("data"), "errorType": e.get("errorType"),
                "errorInfo": e.get("errorInfo"), "locations": e.get("locations"), "message": e["message"]}
               for e in run.env.errors]  # fmt: skip
    body: dict[str, Any] = {"data": result.data}
    if errors:
        body["errors"] = errors
    if op_key is not None and not errors:
        cache.put(api.api_id, op_key, body, run.cache_ttl)
    if run.behavior:
        body["extensions"] = {"stacklabCache": {"hits": run.hits, "misses": run.misses}}
    return 200, body


def execute(api_id: str, query: str, variables: Mapping[str, Any] | None = None,
            headers: Mapping[str, str] | None = None, operation_name: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Run one GraphQL operation against the AppSync API ``api_id``; returns AppSync's response body.

    ``headers`` carry the credentials (``{"x-api-key": key}`` or ``{"Authorization": token}``). An
    unknown ``api_id`` raises :class:`InputError`; refusals (bad or expired key) come back as
    ``{"errors": [{"errorType": "UnauthorizedException", ...}]}`` (HTTP 401 through :func:`post`).
    """
    _check_inputs(api_id, query, variables, headers, operation_name)
    try:
        return _run(api_id, query, variables, headers, operation_name)[1]
    except _Refused as exc:
        if exc.status == 404:
            raise InputError(f"There is no AppSync GraphQL API {api_id!r} in the sandbox: use the apiId that "
                             "create_graphql_api returned.") from None  # fmt: skip
        return exc.body


def post(api_id: str, body: str | bytes | Mapping[str, Any], headers: Mapping[str, str] | None = None) -> Response:
    """AppSync's HTTP endpoint in-process: ``POST /graphql`` with a JSON ``body``; returns the HTTP response."""
    require_str("api_id", api_id)
    if headers is not None and not isinstance(headers, Mapping):
        raise InputError(f"headers must be a dict such as {{'x-api-key': KEY}}, got {type(headers).__name__}.")
    if isinstance(body, Mapping):
        payload: Any = dict(body)
    elif isinstance(body, (str, bytes)):
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            payload = None
    else:
        raise InputError(f"body must be JSON text or a dict with 'query', got {type(body).__name__}.")
    try:
        if (not isinstance(payload, dict) or not isinstance(payload.get("query"), str)
                or not isinstance(payload.get("variables") or {}, dict)
                or not isinstance(payload.get("operationName") or "", str)):  # fmt: skip
            raise _Refused(400, "MalformedHttpRequestException", "Unable to parse GraphQL query.")
        status, out = _run(api_id, payload["query"], payload.get("variables"), headers, payload.get("operationName"))
    except _Refused as exc:
        status, out = exc.status, exc.body
    return Response(status, {"Content-Type": "application/json; charset=UTF-8"}, json.dumps(out).encode())


def cache_stats(api_id: str) -> dict[str, Any]:
    """Hits, misses and live entries of the API's cache, and its ``apiCachingBehavior`` (None: no cache)."""
    require_str("api_id", api_id)
    try:
        api = _api_or_refuse(api_id)
    except _Refused:
        raise InputError(f"There is no AppSync GraphQL API {api_id!r} in the sandbox.") from None
    behavior = api.api_cache.api_caching_behavior if api.api_cache is not None else None
    return {**cache.stats(api_id), "behavior": behavior}


# ------------------------------------------------------------------------------------ HTTP serving

_servers: dict[str, LocalServer] = {}


def _handler_for(api_id: str) -> Any:
    def handle(request: Request) -> Response:
        if request.path.rstrip("/") != "/graphql":
            return Response(404, {"Content-Type": "application/json"}, b'{"message":"Not Found"}')
        if request.method != "POST":
            body = b'{"errors":[{"errorType":"MethodNotAllowed","message":"Use POST /graphql."}]}'
            return Response(405, {"Content-Type": "application/json", "Allow": "POST"}, body)
        return post(api_id, request.body, request.headers)

    return handle


def serve(api_id: str) -> LocalServer:
    """Serve the API on 127.0.0.1 (``POST /graphql``); one server per API, stopped by ``stacklab.reset()``."""
    require_str("api_id", api_id)
    try:
        _api_or_refuse(api_id)
    except _Refused:
        raise InputError(f"There is no AppSync GraphQL API {api_id!r} in the sandbox.") from None
    with _lock:
        server = _servers.get(api_id)
        if server is None:
            server = _servers[api_id] = LocalServer(f"appsync-{api_id}", _handler_for(api_id))
        return server


def url(api_id: str) -> str:
    """The API's GraphQL endpoint over loopback: ``http://127.0.0.1:PORT/graphql`` (starts the server)."""
    return f"{serve(api_id).url}/graphql"


def stop_servers() -> None:
    """Stop every GraphQL server of this plane (reset and kernel exit call it)."""
    with _lock:
        servers = list(_servers.values())
        _servers.clear()
        _counters.clear()
    for server in servers:
        server.stop()


def _hooks() -> None:
    from stacklab.sandbox import on_reset, on_stop

    on_reset(stop_servers)
    on_stop(stop_servers)


_install_key_clock()
_hooks()

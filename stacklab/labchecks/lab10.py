"""Checks for Lab 10 — AppSync GraphQL (API key, DynamoDB resolvers, a subscription, per-resolver caching).

Each check reads the configuration with boto3 (to name a wrong setting), then **calls the API** through the
AppSync plane (:func:`stacklab.planes.graphql.execute`, with the learner's API key) and compares the answers
with what the exercise asks. The checks write one product, ``check-10``, to the table (an upsert, so running
them again gives the same answer); the caching check flushes the API cache and moves the sandbox clock past
the resolver's TTL.
"""

from __future__ import annotations

import json
import time
from typing import Any

from stacklab.checks import CheckFailed, lab_check
from stacklab.labchecks import aws

LESSON = "10"
TABLE, SOURCE = "lab10-products", "products"
PROBE = {"id": "check-10", "name": "Check lamp", "price": 19.5}
MIN_KEY_DAYS, CACHE_TTL = 30, 60
ADD = ("mutation Add($id: ID!, $name: String!, $price: Float) "
       "{ addProduct(id: $id, name: $name, price: $price) { id name price } }")  # fmt: skip
GET = "query Get($id: ID!) { getProduct(id: $id) { id name price } }"
_RESET_HINT = (
    "If you restarted the kernel or ran stacklab.reset() since, the sandbox is empty again: re-run the cells "
    "from the top."
)
_EXPECTED = {("Query", "getProduct"): "GetItem", ("Mutation", "addProduct"): "PutItem"}


# ------------------------------------------------------------------------------------ helpers


def _error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _api(api_id: Any) -> str:
    if isinstance(api_id, dict):
        raise CheckFailed("`api_id` holds a whole dict, not the GraphQL API's id.",
                          "Use the id: `api_id = appsync.create_graphql_api(...)['graphqlApi']['apiId']`.")  # fmt: skip
    if not isinstance(api_id, str) or not api_id.strip():
        raise CheckFailed(f"`api_id` should be the GraphQL API's id (a string); it holds {type(api_id).__name__} "
                          f"{api_id!r}.", "Run the setup cells at the top again.")  # fmt: skip
    try:
        aws("appsync").get_graphql_api(apiId=api_id.strip())
    except Exception as exc:  # noqa: BLE001 - botocore ClientError
        if _error_code(exc) == "NotFoundException":
            raise CheckFailed(f"there is no GraphQL API {api_id!r} in the sandbox.", _RESET_HINT) from None
        raise
    return api_id.strip()


def _key_id(api_key: Any) -> str:
    if isinstance(api_key, dict):
        raise CheckFailed("`api_key` holds a whole dict (a boto3 response), not the key.",
                          "Take its id: `api_key = appsync.create_api_key(...)['apiKey']['id']`.")  # fmt: skip
    if not isinstance(api_key, str) or not api_key.strip() or api_key.strip() == "...":
        raise CheckFailed(f"`api_key` should be the API key's id (a string); it holds {type(api_key).__name__} "
                          f"{api_key!r}.", "Set it: `api_key = appsync.create_api_key(...)['apiKey']['id']`.")
    return api_key.strip()


def _execute(api: str, query: str, key: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    from stacklab.planes import graphql

    return graphql.execute(api, query, variables=variables, headers={"x-api-key": key})


def _usable_key(api: str, api_key: Any, exercise: str = "exercise 1") -> str:
    """The key id, if AppSync accepts it now; else CheckFailed saying why (unknown, expired)."""
    from stacklab.planes import graphql_auth

    key = _key_id(api_key)
    keys = {k["id"]: k for k in graphql_auth.api_record(api).get("apiKeys") or []}
    if key not in keys:
        raise CheckFailed(f"{key!r} is not one of the API's keys ({len(keys)} key(s) on lab10-shop).",
                          "Set `api_key` to the id that create_api_key returned for api_id.")  # fmt: skip
    if keys[key]["expired"]:
        raise CheckFailed(f"the API key {key} has expired: AppSync refuses every request made with it "
                          "(401 UnauthorizedException), as it would refuse an unknown key.",
                          f"Create a new key (fix {exercise}): keys last 7 days unless created with a later "
                          "`expires`.")  # fmt: skip
    return key


def _first_error(reply: dict[str, Any]) -> str:
    errors = reply.get("errors") or []
    if not errors:
        return ""
    return f"{errors[0].get('errorType')}: {errors[0].get('message')}"


def _resolver(api: str, type_name: str, field: str) -> dict[str, Any] | None:
    try:
        return aws("appsync").get_resolver(apiId=api, typeName=type_name, fieldName=field)["resolver"]
    except Exception as exc:  # noqa: BLE001
        if _error_code(exc) == "NotFoundException":
            return None
        raise


def _rendered(api: str, template: str) -> dict[str, Any] | None:
    """The request template rendered with the probe's arguments (AppSync's evaluate_mapping_template)."""
    context = json.dumps({"arguments": PROBE, "source": None, "identity": None})
    try:
        result = aws("appsync").evaluate_mapping_template(template=template, context=context)
        return json.loads(result.get("evaluationResult") or "null")
    except Exception:  # noqa: BLE001 - a template that does not render: reported by the call itself
        return None


def _misplaced(api: str, operation: str, wanted: tuple[str, str]) -> str | None:
    """``Type.field`` of another resolver whose request template sends ``operation``."""
    for type_name in ("Query", "Mutation"):
        for resolver in aws("appsync").list_resolvers(apiId=api, typeName=type_name).get("resolvers") or []:
            if (resolver["typeName"], resolver["fieldName"]) == wanted:
                continue
            rendered = _rendered(api, resolver.get("requestMappingTemplate") or "")
            if isinstance(rendered, dict) and rendered.get("operation") == operation:
                return f"{resolver['typeName']}.{resolver['fieldName']}"
    return None


# ------------------------------------------------------------------------- 1. API key


@lab_check("10.api_key", LESSON, needs=("api_id", "api_key"), title="Exercise 1 · A working API key", exercise=1)
def check_api_key(api_id: Any, api_key: Any) -> str:
    """A key of the API, not expired on the sandbox clock, valid for at least 30 more days, accepted by AppSync."""
    api = _api(api_id)
    key = _usable_key(api, api_key)
    listed = {k["id"]: k for k in aws("appsync").list_api_keys(apiId=api)["apiKeys"]}
    days = (float(listed[key]["expires"]) - time.time()) / 86400
    if days < MIN_KEY_DAYS - 1:
        raise CheckFailed(f"the key is valid for about {round(days)} more day(s); the web app needs at least "
                          f"{MIN_KEY_DAYS} (create_api_key without `expires` gives 7 days).",
                          f"Create it with expires=int(time.time()) + {MIN_KEY_DAYS} * 86400.")  # fmt: skip
    reply = _execute(api, "{ __typename }", key)
    if reply.get("errors"):
        raise CheckFailed(f"AppSync refused the key: {_first_error(reply)}.", _RESET_HINT)
    return f"AppSync accepts key {key[:6]}…, valid for {round(days)} more days."


# ------------------------------------------------------------------------- 2. resolvers


def _check_resolver(api: str, type_name: str, field: str) -> None:
    operation = _EXPECTED[(type_name, field)]
    resolver = _resolver(api, type_name, field)
    if resolver is None:
        where = _misplaced(api, operation, (type_name, field))
        if where:
            raise CheckFailed(f"your {operation} resolver is attached to {where}, not to {type_name}.{field}: a "
                              f"resolver belongs to one field of one type, and {type_name}.{field} has none (so it "
                              "returns null).",
                              f"delete_resolver on {where} and create_resolver(typeName='{type_name}', "
                              f"fieldName='{field}', ...).")  # fmt: skip
        raise CheckFailed(f"{type_name}.{field} has no resolver: AppSync returns null for it.",
                          f"create_resolver(apiId=api_id, typeName='{type_name}', fieldName='{field}', "
                          f"dataSourceName='{SOURCE}', requestMappingTemplate=..., responseMappingTemplate=...).")
    if resolver.get("dataSourceName") != SOURCE:
        raise CheckFailed(f"{type_name}.{field} uses data source {resolver.get('dataSourceName')!r}, not "
                          f"{SOURCE!r} (the {TABLE} table).", f"Attach it to dataSourceName='{SOURCE}'.")
    rendered = _rendered(api, resolver.get("requestMappingTemplate") or "")
    if not isinstance(rendered, dict):
        raise CheckFailed(f"{type_name}.{field}'s request template does not render to a JSON object.",
                          "Try it with appsync.evaluate_mapping_template(template=..., context=...).")  # fmt: skip
    if rendered.get("operation") != operation:
        raise CheckFailed(f"{type_name}.{field}'s request template sends operation {rendered.get('operation')!r}; "
                          f"{'reading one item by its key' if operation == 'GetItem' else 'writing an item'} is "
                          f"{operation}.", f'Use "operation": "{operation}" in the template.')  # fmt: skip
    key = rendered.get("key")
    if not isinstance(key, dict) or set(key) != {"id"}:
        named = ", ".join(sorted(key)) if isinstance(key, dict) else repr(key)
        raise CheckFailed(f"{type_name}.{field}'s template uses the key {named}; the table {TABLE}'s partition key "
                          "is `id` (DynamoDB refuses a key that does not match the table's schema).",
                          '"key": {"id": $util.dynamodb.toDynamoDBJson($ctx.args.id)}')  # fmt: skip
    if key["id"] != {"S": PROBE["id"]}:
        raise CheckFailed(f"{type_name}.{field}'s key renders as {json.dumps(key['id'])} for id "
                          f"{PROBE['id']!r}, not {{\"S\": \"{PROBE['id']}\"}}.",
                          "Build it from the argument: $util.dynamodb.toDynamoDBJson($ctx.args.id).")  # fmt: skip


@lab_check("10.resolvers", LESSON, needs=("api_id", "api_key"), title="Exercise 2 · DynamoDB resolvers",
           exercise=2)  # fmt: skip
def check_resolvers(api_id: Any, api_key: Any) -> str:
    """Query.getProduct (GetItem) and Mutation.addProduct (PutItem) on the products table: a write reads back."""
    api = _api(api_id)
    key = _usable_key(api, api_key)
    for type_name, field in _EXPECTED:
        _check_resolver(api, type_name, field)
    added = _execute(api, ADD, key, PROBE)
    if added.get("errors") or not (added.get("data") or {}).get("addProduct"):
        raise CheckFailed(f"addProduct({PROBE['id']!r}) failed: {_first_error(added) or 'it returned null'}.",
                          "Check the PutItem template's attributeValues and the response template "
                          "($util.toJson($ctx.result)).")  # fmt: skip
    item = aws("dynamodb").get_item(TableName=TABLE, Key={"id": {"S": PROBE["id"]}}).get("Item") or {}
    if item.get("name", {}).get("S") != PROBE["name"] or "price" not in item:
        raise CheckFailed(f"after addProduct the item in {TABLE} is {json.dumps(item)}: name and price are not "
                          "both stored.", 'attributeValues: $util.dynamodb.toMapValuesJson({"name": $ctx.args.name, '
                          '"price": $ctx.args.price})')  # fmt: skip
    read = _execute(api, GET, key, {"id": PROBE["id"]})
    product = (read.get("data") or {}).get("getProduct")
    if read.get("errors") or not product or product.get("name") != PROBE["name"]:
        raise CheckFailed(f"getProduct({PROBE['id']!r}) answered {json.dumps(product)} "
                          f"{_first_error(read)}".strip() + ", not the product just added.",
                          "The response template should be $util.toJson($ctx.result).")  # fmt: skip
    return (f"addProduct wrote {PROBE['id']} to {TABLE} (PutItem) and getProduct read it back (GetItem): "
            f"{product['name']} at {product['price']}.")  # fmt: skip


# ------------------------------------------------------------------------- 3. subscription


def _subscription_targets(api: str) -> dict[str, tuple[str, ...] | None]:
    """``{field of Subscription: mutations named by its @aws_subscribe, or None without the directive}``."""
    from graphql import parse
    from graphql.language import ast as gast

    from stacklab.planes import graphql_auth

    targets: dict[str, tuple[str, ...] | None] = {}
    sdl = graphql_auth.schema_sdl(graphql_auth.api_record(api))
    for node in parse(sdl, no_location=True).definitions if sdl else ():
        if isinstance(node, gast.ObjectTypeDefinitionNode) and node.name.value == "Subscription":
            for fld in node.fields or ():
                targets[fld.name.value] = None
                for directive in fld.directives or ():
                    if directive.name.value != "aws_subscribe":
                        continue
                    for arg in directive.arguments or ():
                        if arg.name.value == "mutations" and isinstance(arg.value, gast.ListValueNode):
                            targets[fld.name.value] = tuple(
                                v.value for v in arg.value.values if isinstance(v, gast.StringValueNode))
    return targets


@lab_check("10.subscription", LESSON, needs=("api_id", "api_key"), title="Exercise 3 · A live subscription",
           exercise=3)  # fmt: skip
def check_subscription(api_id: Any, api_key: Any) -> str:
    """Subscription.onAddProduct is linked to addProduct with @aws_subscribe and receives the mutation's result."""
    from stacklab.planes import graphql_subscriptions

    api = _api(api_id)
    key = _usable_key(api, api_key)
    status = aws("appsync").get_schema_creation_status(apiId=api)
    if status.get("status") == "FAILED":
        raise CheckFailed(f"the last schema upload failed: {status.get('details')}", "Fix the SDL and upload it again.")
    targets = _subscription_targets(api)
    if "onAddProduct" not in targets:
        raise CheckFailed("the schema has no Subscription.onAddProduct field"
                          + (f" (Subscription has {', '.join(sorted(targets))})" if targets else "") + ".",
                          "Add `type Subscription { onAddProduct: Product @aws_subscribe(mutations: "
                          "[\"addProduct\"]) }` and upload the schema with start_schema_creation.")  # fmt: skip
    mutations = targets["onAddProduct"]
    if mutations is None:
        raise CheckFailed("onAddProduct has no @aws_subscribe directive: nothing links it to a mutation, so no "
                          "client would ever receive a message.",
                          "onAddProduct: Product @aws_subscribe(mutations: [\"addProduct\"])")  # fmt: skip
    if "addProduct" not in mutations:
        raise CheckFailed(f"onAddProduct's @aws_subscribe names {', '.join(mutations) or 'no mutation'}, not "
                          "addProduct: adding a product would notify nobody.",
                          "@aws_subscribe(mutations: [\"addProduct\"])")  # fmt: skip
    for type_name, field in _EXPECTED:
        if _resolver(api, type_name, field) is None:
            raise CheckFailed(f"{type_name}.{field} lost its resolver.", "Do exercise 2 first (or again).")
    sub = graphql_subscriptions.subscribe(api, "subscription { onAddProduct { id name } }",
                                          headers={"x-api-key": key})  # fmt: skip
    try:
        added = _execute(api, ADD, key, PROBE)
        messages = sub.received()
    finally:
        sub.close()
    if added.get("errors"):
        raise CheckFailed(f"addProduct failed: {_first_error(added)}.", "Check exercise 2 again.")
    wanted = {"data": {"onAddProduct": {"id": PROBE["id"], "name": PROBE["name"]}}}
    if wanted not in messages:
        raise CheckFailed(f"a subscriber of onAddProduct received {messages} after addProduct.",
                          "Make sure addProduct selects id and name, and the schema upload succeeded.")  # fmt: skip
    return f"onAddProduct is linked to addProduct: a subscriber received {json.dumps(wanted['data'])}."


# ------------------------------------------------------------------------- 4. caching


@lab_check("10.cache", LESSON, needs=("api_id", "api_key"), title="Exercise 4 · Per-resolver caching", exercise=4)
def check_cache(api_id: Any, api_key: Any) -> str:
    """PER_RESOLVER_CACHING, getProduct cached 60 s on $context.arguments.id: miss, hit, other id miss, expiry."""
    from stacklab import clock

    api = _api(api_id)
    key = _usable_key(api, api_key)
    try:
        cache = aws("appsync").get_api_cache(apiId=api)["apiCache"]
    except Exception as exc:  # noqa: BLE001
        if _error_code(exc) == "NotFoundException":
            raise CheckFailed("the API has no cache.", "appsync.create_api_cache(apiId=api_id, ttl=..., "
                              "apiCachingBehavior='PER_RESOLVER_CACHING', type='SMALL')") from None
        raise
    if cache.get("apiCachingBehavior") != "PER_RESOLVER_CACHING":
        raise CheckFailed(f"the API cache uses {cache.get('apiCachingBehavior')}, which caches more than "
                          "getProduct (every resolver, or whole responses); the exercise caches getProduct only.",
                          "update_api_cache(..., apiCachingBehavior='PER_RESOLVER_CACHING', ...).")  # fmt: skip
    resolver = _resolver(api, "Query", "getProduct")
    if resolver is None:
        raise CheckFailed("Query.getProduct has no resolver.", "Do exercise 2 first.")
    config = resolver.get("cachingConfig") or {}
    if not config:
        raise CheckFailed("Query.getProduct has no cachingConfig: with PER_RESOLVER_CACHING only resolvers that "
                          "have one are cached.", "update_resolver(..., cachingConfig={'ttl': 60, 'cachingKeys': "
                          "['$context.arguments.id']}) (repeat the resolver's other settings).")  # fmt: skip
    if int(config.get("ttl") or 0) != CACHE_TTL:
        raise CheckFailed(f"getProduct is cached for {config.get('ttl')} s, not {CACHE_TTL} s.",
                          f"cachingConfig={{'ttl': {CACHE_TTL}, ...}}")  # fmt: skip
    if "$context.arguments.id" not in (config.get("cachingKeys") or []):
        raise CheckFailed(f"getProduct's caching keys are {config.get('cachingKeys')}: without "
                          "$context.arguments.id, products with different ids would share one cache entry.",
                          "cachingKeys=['$context.arguments.id']")  # fmt: skip
    aws("appsync").flush_api_cache(apiId=api)

    def outcome(product_id: str) -> str:
        reply = _execute(api, GET, key, {"id": product_id})
        counted = (reply.get("extensions") or {}).get("stacklabCache") or {}
        return "hit" if counted.get("hits") else "miss"

    seen = [outcome(PROBE["id"]), outcome(PROBE["id"]), outcome("check-other")]
    clock().advance(seconds=CACHE_TTL + 1)
    seen.append(outcome(PROBE["id"]))
    if seen != ["miss", "hit", "miss", "miss"]:
        raise CheckFailed(f"reads of getProduct gave {seen}, expected miss, hit, miss (other id), miss (after "
                          f"{CACHE_TTL + 1} s).", "Check the resolver's cachingConfig.")  # fmt: skip
    return (f"getProduct: miss, hit, miss for another id, and a miss again {CACHE_TTL + 1} s later (TTL "
            f"{CACHE_TTL} s on $context.arguments.id).")  # fmt: skip

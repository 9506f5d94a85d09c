"""AppSync schemas for graphql-core: AWS's scalars and directives, built once per schema text.

:func:`build` turns the SDL that ``start_schema_creation`` stored into a
:class:`graphql.GraphQLSchema`, adding what AppSync predefines and a schema must not declare itself:
the scalars ``AWSDate``, ``AWSTime``, ``AWSDateTime``, ``AWSTimestamp``, ``AWSEmail``, ``AWSJSON``,
``AWSURL``, ``AWSPhone``, ``AWSIPAddress`` and the directives ``@aws_api_key``, ``@aws_iam``,
``@aws_oidc``, ``@aws_lambda``, ``@aws_cognito_user_pools(cognito_groups)``, ``@aws_auth``,
``@aws_subscribe(mutations)``, ``@aws_publish``. (A schema that declares one of them anyway keeps its
own declaration.) Scalars validate their input as AppSync documents (an ``AWSDateTime`` needs a time
zone offset, an ``AWSEmail`` an ``@`` ...); ``AWSJSON`` input is parsed, so resolvers see maps and lists,
and output is serialised to a JSON string. Simplification: ``AWSPhone`` accepts any string of digits,
spaces, ``+``, ``-``, ``(``, ``)`` and ``.``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import threading
from collections.abc import Callable
from typing import Any

from graphql import GraphQLError, GraphQLScalarType, GraphQLSchema, build_ast_schema, parse
from graphql.language import ast as gast

from stacklab._validate import require_str
from stacklab.errors import InputError

__all__ = ["AWS_SCALARS", "build", "has_field", "scalar_prelude"]

_DATE = r"\d{4}-\d{2}-\d{2}"
_TIME = r"\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?"
_ZONE = r"(Z|[+-]\d{2}:\d{2}(:\d{2})?)"
_CHECKS: dict[str, Callable[[str], bool]] = {
    "AWSDate": lambda v: re.fullmatch(f"{_DATE}{_ZONE}?", v) is not None,
    "AWSTime": lambda v: re.fullmatch(f"{_TIME}{_ZONE}?", v) is not None,
    "AWSDateTime": lambda v: re.fullmatch(f"{_DATE}T{_TIME}{_ZONE}", v) is not None,
    "AWSEmail": lambda v: re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", v) is not None,
    "AWSURL": lambda v: re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*://\S+", v) is not None,
    "AWSPhone": lambda v: re.fullmatch(r"\+?[0-9 ().-]{3,}", v) is not None,
    "AWSIPAddress": lambda v: _is_ip(v),
}
_DESCRIPTIONS = {
    "AWSDate": "an ISO 8601 date such as 2026-01-15",
    "AWSTime": "an ISO 8601 time such as 09:30:00Z",
    "AWSDateTime": "an ISO 8601 date-time with a time zone offset, such as 2026-01-15T09:30:00Z",
    "AWSEmail": "an email address such as ana@example.com",
    "AWSURL": "a URL with a scheme, such as https://example.com/x",
    "AWSPhone": "a phone number such as +1 206 555 0100",
    "AWSIPAddress": "an IPv4 or IPv6 address (optionally with a /prefix)",
}
#: The scalars AppSync predefines.
AWS_SCALARS = (*_CHECKS, "AWSTimestamp", "AWSJSON")
_DIRECTIVES = {
    "aws_api_key": "directive @aws_api_key on FIELD_DEFINITION | OBJECT",
    "aws_iam": "directive @aws_iam on FIELD_DEFINITION | OBJECT",
    "aws_oidc": "directive @aws_oidc on FIELD_DEFINITION | OBJECT",
    "aws_lambda": "directive @aws_lambda on FIELD_DEFINITION | OBJECT",
    "aws_cognito_user_pools": (
        "directive @aws_cognito_user_pools(cognito_groups: [String]) on FIELD_DEFINITION | OBJECT"
    ),
    "aws_auth": "directive @aws_auth(cognito_groups: [String]) on FIELD_DEFINITION",
    "aws_subscribe": "directive @aws_subscribe(mutations: [String]) on FIELD_DEFINITION",
    "aws_publish": "directive @aws_publish(subscriptions: [String]) on FIELD_DEFINITION",
    # merged APIs: source schemas may use these (see graphql_merge)
    "canonical": "directive @canonical on OBJECT | INTERFACE | INPUT_OBJECT | ENUM | UNION | SCALAR | FIELD_DEFINITION",
    "hidden": "directive @hidden on OBJECT | INTERFACE | INPUT_OBJECT | ENUM | UNION | SCALAR | FIELD_DEFINITION",
    "renamed": "directive @renamed(to: String!) on OBJECT | INTERFACE | INPUT_OBJECT | ENUM | UNION | SCALAR | "
    "FIELD_DEFINITION",
}
_cache: dict[str, GraphQLSchema] = {}
_lock = threading.Lock()


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def _checked(name: str) -> Callable[[Any], Any]:
    def parse_value(value: Any) -> Any:
        if not isinstance(value, str) or not _CHECKS[name](value):
            raise GraphQLError(f"Invalid {name} value {value!r}: expected {_DESCRIPTIONS[name]}.")
        return value

    return parse_value


def _parse_json(value: Any) -> Any:
    if not isinstance(value, str):
        raise GraphQLError(f"Invalid AWSJSON value {value!r}: expected a string holding JSON.")
    try:
        return json.loads(value)
    except ValueError as exc:
        raise GraphQLError(f"Invalid AWSJSON value {value!r}: {exc}.") from None


def _serialize_json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _parse_timestamp(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise GraphQLError(f"Invalid AWSTimestamp value {value!r}: expected whole seconds since the epoch.")
    return value


def _literal(parse_value: Callable[[Any], Any]) -> Callable[..., Any]:
    def parse_literal(node: Any, _variables: Any = None) -> Any:
        if isinstance(node, gast.IntValueNode):
            return parse_value(int(node.value))
        if isinstance(node, gast.StringValueNode):
            return parse_value(node.value)
        raise GraphQLError("Expected a string or an integer literal.")

    return parse_literal


def _scalar(name: str) -> GraphQLScalarType:
    if name == "AWSJSON":
        parse_value: Callable[[Any], Any] = _parse_json
        serialize: Callable[[Any], Any] = _serialize_json
    elif name == "AWSTimestamp":
        parse_value, serialize = _parse_timestamp, _parse_timestamp
    else:
        parse_value, serialize = _checked(name), str
    return GraphQLScalarType(name, serialize=serialize, parse_value=parse_value, parse_literal=_literal(parse_value))


def scalar_prelude(document: gast.DocumentNode) -> str:
    """The SDL of AppSync's scalars and directives that ``document`` does not declare itself."""
    declared = {d.name.value for d in document.definitions if hasattr(d, "name") and d.name is not None}
    lines = [f"scalar {name}" for name in AWS_SCALARS if name not in declared]
    lines += [sdl for name, sdl in _DIRECTIVES.items() if name not in declared]
    return "\n".join(lines)


def build(definition: str) -> GraphQLSchema:
    """The executable schema of an AppSync SDL (cached by its text). Raises ``GraphQLError`` if invalid."""
    require_str("definition", definition)
    key = hashlib.sha256(definition.encode()).hexdigest()
    with _lock:
        schema = _cache.get(key)
    if schema is not None:
        return schema
    document = parse(definition)
    full = parse(definition + "\n" + scalar_prelude(document))
    schema = build_ast_schema(full)
    for name in AWS_SCALARS:
        original = schema.type_map.get(name)
        if isinstance(original, GraphQLScalarType):
            replacement = _scalar(name)
            for attr in ("serialize", "coerce_output_value", "parse_value", "coerce_input_value", "parse_literal"):
                setattr(original, attr, getattr(replacement, attr))
            original.coerce_input_literal = None
    with _lock:
        _cache[key] = schema
    return schema


def has_field(schema: GraphQLSchema, type_name: str, field_name: str) -> str | None:
    """None if ``type_name.field_name`` exists in ``schema``, else AppSync's reason why not."""
    if not isinstance(type_name, str) or not isinstance(field_name, str):
        raise InputError("type_name and field_name must be strings such as 'Query' and 'getPost'.")
    graphql_type = schema.type_map.get(type_name)
    if graphql_type is None or not hasattr(graphql_type, "fields"):
        return f"Type {type_name} not found in schema."
    if field_name not in graphql_type.fields:  # type: ignore[union-attr]
        return f"No field named {field_name} found on type {type_name}"
    return None

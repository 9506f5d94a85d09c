"""AppSync authorization: the five modes, and AppSync's directive rules per type and field.

The executor (:mod:`stacklab.planes.graphql`) and the real-time endpoint
(:mod:`stacklab.planes.graphql_subscriptions`) call :func:`authorize` once per request with the API as
``get_graphql_api()["graphqlApi"]`` shows it (read from moto on every request), the request headers and
the parsed operation; then, for every field they resolve, :meth:`AuthContext.allows`.

Public API
----------
``authorize(api, headers, document) -> AuthContext``
    Pick the mode the request's credentials name, among the API's ``authenticationType`` and
    ``additionalAuthenticationProviders``, and verify them. Raises :class:`GraphQLAuthError`
    (``status``, ``error_type``, ``message``) when no configured mode accepts the request.
``AuthContext``
    ``.mode`` (``"API_KEY"`` ...), ``.identity`` (AppSync's ``$ctx.identity`` for that mode; ``None`` for
    an API key), ``.resolver_context`` (Lambda authorizer's), ``.allows(type_name, field_name) -> bool``.
``OidcIssuer(issuer)`` / ``oidc_issuer(issuer) -> OidcIssuer``
    An offline OpenID Connect provider: a local RS256 key registered under ``issuer`` (no discovery,
    no network); ``.token(sub, client_id, ...)`` issues ID tokens dated on the sandbox clock.
``api_record(api_id) -> dict``
    The API as ``get_graphql_api`` shows it, read from moto now (what :func:`authorize` takes).
``sign_iam(api_id, body, access_key_id, secret_access_key, session_token=None) -> dict``
    The SigV4 headers (service ``appsync``, sandbox clock) a client sends with an ``AWS_IAM`` request.

Which mode a request uses (AppSync decides from the request, not by trying every mode)
-------------------------------------------------------------------------------------------
* ``x-api-key`` header → ``API_KEY``: the key must be one of the API's keys (moto's store) and not
  expired on the **sandbox clock**.
* ``Authorization: AWS4-HMAC-SHA256 ...`` → ``AWS_IAM``: the signature is checked like
  :func:`stacklab.planes.sigv4.verify` (scope ``REGION/appsync``, 5-minute skew, keys from moto's IAM);
  each field then needs ``appsync:GraphQL`` on ``arn:aws:appsync:REGION:ACCOUNT:apis/ID/types/TYPE/
  fields/FIELD`` in the caller's identity policies (explicit Deny wins).
* ``Authorization: <JWT>`` whose ``iss`` is a configured user pool
  (``https://cognito-idp.REGION.amazonaws.com/POOL``) → ``AMAZON_COGNITO_USER_POOLS``: RS256 signature
  with the sandbox Cognito's keys (:func:`stacklab.planes.gateway._cognito_keys`), expiry on the sandbox
  clock, ``appIdClientRegex`` against ``aud`` / ``client_id``; ``cognito:groups`` become the identity's
  ``groups``. (The sandbox knows when a token was issued only if :mod:`stacklab.planes.gateway` — which
  this module imports — was loaded before ``initiate_auth``; a token issued earlier is judged by its
  own ``exp``.)
* ``Authorization: <JWT>`` whose ``iss`` is the ``openIDConnectConfig.issuer`` → ``OPENID_CONNECT``:
  signature with the key of the local :class:`OidcIssuer` registered for that issuer (an unregistered
  issuer is refused: the sandbox never fetches a JWKS), ``clientId`` against ``aud``, ``exp``, and
  ``iatTTL`` / ``authTTL`` (milliseconds after ``iat`` / ``auth_time``) on the sandbox clock.
* any other ``Authorization`` value → ``AWS_LAMBDA`` when configured: the token must match
  ``identityValidationExpression`` (else refused without calling), then the authorizer function
  (``authorizerUri``) is invoked with AppSync's event (``authorizationToken``, ``requestContext``
  {``apiId``, ``accountId``, ``requestId``, ``queryString``, ``operationName``, ``variables``},
  ``requestHeaders``) and must answer ``{"isAuthorized": bool, "resolverContext": {...},
  "deniedFields": [...], "ttlOverride": int}``; the answer is cached per token for ``ttlOverride`` or
  ``authorizerResultTtlInSeconds`` (default 300, 0 = no cache) on the sandbox clock.
Refusals are 401 ``UnauthorizedException`` (403 with sigv4's type for a bad signature).

Field rules (:meth:`AuthContext.allows`, AppSync's documented directive rules)
---------------------------------------------------------------------------
* The directives on the **field** decide; if the field has none, those on its **type**; if neither
  has any, only the API's **default** mode may read it (requests of additional modes are refused).
* Once a type or field carries an auth directive, only the listed modes may read it: the default mode
  is **not** implied and must be listed too (``@aws_api_key @aws_cognito_user_pools``).
* ``@aws_cognito_user_pools(cognito_groups: [...])`` and ``@aws_auth(cognito_groups: [...])`` (the
  older form, for a Cognito default mode) admit only users in one of the groups.
* A Cognito default mode with ``defaultAction: DENY`` refuses its users on types and fields without a
  directive (only explicitly annotated ones are readable); ``ALLOW`` (the default) admits them.
* ``AWS_IAM`` additionally needs the caller's policies to allow ``appsync:GraphQL`` on the field.
* A Lambda authorizer's ``deniedFields`` (``Type.field`` or the field ARN) are refused.
* Introspection fields (types ``__Schema`` ...) are always readable.

Simplifications: ``authorize`` sees headers, not the body, so an IAM signature covers the payload
through the signed ``x-amz-content-sha256`` header (which :func:`sign_iam` adds); the Cognito
``sourceIp`` is ``127.0.0.1``; ``@aws_subscribe`` subscriptions inherit their field rules like queries.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from graphql import parse
from graphql.language import ast as gast
from graphql.language.printer import print_ast

from stacklab._validate import require_str
from stacklab.errors import InputError, StackLabError

__all__ = ["MODES", "AuthContext", "GraphQLAuthError", "OidcIssuer", "api_record", "authorize", "oidc_issuer",
           "sign_iam"]

#: AppSync's authorization modes.
MODES = ("API_KEY", "AWS_IAM", "AMAZON_COGNITO_USER_POOLS", "OPENID_CONNECT", "AWS_LAMBDA")
_DIRECTIVE_MODE = {"aws_api_key": "API_KEY", "aws_iam": "AWS_IAM", "aws_oidc": "OPENID_CONNECT",
                   "aws_lambda": "AWS_LAMBDA", "aws_cognito_user_pools": "AMAZON_COGNITO_USER_POOLS",
                   "aws_auth": "AMAZON_COGNITO_USER_POOLS"}  # fmt: skip
_NOT_AUTHORIZED = "You are not authorized to make this call."
_NO_HEADER = "Valid authorization header not provided."
_LAMBDA_TTL_DEFAULT = 300


class GraphQLAuthError(StackLabError):
    """AppSync refused the request: ``status`` (401/403), ``error_type`` and ``message`` are AppSync's answer."""

    def __init__(self, message: str, error_type: str = "UnauthorizedException", status: int = 401) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.status = status

    @property
    def errorType(self) -> str:  # noqa: N802 - AppSync's JSON spelling, read by the executor
        """``error_type`` under AppSync's JSON name."""
        return self.error_type

    @property
    def body(self) -> dict[str, Any]:
        """AppSync's error body."""
        return {"errors": [{"errorType": self.error_type, "message": self.message}]}


# ------------------------------------------------------------------------------------ field rules


@dataclass(frozen=True)
class _Rule:
    modes: frozenset[str]
    groups: dict[str, tuple[str, ...] | None]  # mode -> cognito groups (None: any user)


def _rule_of(directives: Any) -> _Rule | None:
    modes: set[str] = set()
    groups: dict[str, tuple[str, ...] | None] = {}
    for directive in directives or ():
        mode = _DIRECTIVE_MODE.get(directive.name.value)
        if mode is None:
            continue
        modes.add(mode)
        for arg in directive.arguments or ():
            if arg.name.value == "cognito_groups" and isinstance(arg.value, gast.ListValueNode):
                listed = tuple(v.value for v in arg.value.values if isinstance(v, gast.StringValueNode))
                groups[mode] = tuple(groups.get(mode) or ()) + listed
        groups.setdefault(mode, None)
    return _Rule(frozenset(modes), groups) if modes else None


_rules_cache: dict[str, dict[tuple[str, str | None], _Rule]] = {}
_lock = threading.Lock()


def _rules(sdl: str) -> dict[tuple[str, str | None], _Rule]:
    """``{(type, None): type rule, (type, field): field rule}`` from the schema's auth directives."""
    with _lock:
        known = _rules_cache.get(sdl)
    if known is not None:
        return known
    out: dict[tuple[str, str | None], _Rule] = {}
    kinds = (gast.ObjectTypeDefinitionNode, gast.ObjectTypeExtensionNode, gast.InterfaceTypeDefinitionNode)
    for node in parse(sdl, no_location=True).definitions:
        if not isinstance(node, kinds):
            continue
        name = node.name.value
        rule = _rule_of(node.directives)
        if rule is not None:
            old = out.get((name, None))
            out[(name, None)] = rule if old is None else _Rule(old.modes | rule.modes, {**old.groups, **rule.groups})
        for fld in node.fields or ():
            rule = _rule_of(fld.directives)
            if rule is not None:
                out[(name, fld.name.value)] = rule
    with _lock:
        if len(_rules_cache) > 64:
            _rules_cache.clear()
        _rules_cache[sdl] = out
    return out


@dataclass
class AuthContext:
    """Who called and how: what :func:`authorize` returns; ask :meth:`allows` for each field."""

    mode: str
    identity: dict[str, Any] | None
    resolver_context: dict[str, Any] | None = None
    default_mode: str = "API_KEY"
    default_action: str | None = None
    groups: tuple[str, ...] = ()
    denied_fields: tuple[str, ...] = ()
    api_arn: str = ""
    schema: str = ""
    caller: Any = field(default=None, repr=False)

    def _iam_allows(self, type_name: str, field_name: str) -> bool:
        from stacklab.planes import sigv4

        resource = f"{self.api_arn}/types/{type_name}/fields/{field_name}"
        return sigv4.identity_decision(self.caller, resource, action="appsync:GraphQL") == "allow"

    def allows(self, parent_type_name: str, field_name: str) -> bool:
        """True when this caller may read ``parent_type_name.field_name`` under AppSync's directive rules."""
        require_str("parent_type_name", parent_type_name)
        require_str("field_name", field_name)
        if parent_type_name.startswith("__") or field_name.startswith("__"):
            return True
        if self.mode == "AWS_LAMBDA" and (f"{parent_type_name}.{field_name}" in self.denied_fields
                                          or f"{self.api_arn}/types/{parent_type_name}/fields/{field_name}"
                                          in self.denied_fields):  # fmt: skip
            return False
        rules = _rules(self.schema) if self.schema else {}
        rule = rules.get((parent_type_name, field_name)) or rules.get((parent_type_name, None))
        if rule is None:
            if self.mode != self.default_mode:
                return False
            if self.mode == "AMAZON_COGNITO_USER_POOLS" and self.default_action == "DENY":
                return False
        elif self.mode not in rule.modes:
            return False
        else:
            wanted = rule.groups.get(self.mode)
            if wanted is not None and not set(wanted) & set(self.groups):
                return False
        return self.mode != "AWS_IAM" or self._iam_allows(parent_type_name, field_name)


# ------------------------------------------------------------------------------------ helpers


def _box() -> Any:
    from stacklab.sandbox import current

    return current()


def schema_sdl(api: Mapping[str, Any]) -> str:
    """The SDL that applies to ``api`` (a dict with ``apiId``): a merged API's effective schema, else the
    stored one; ``""`` when there is none."""
    import sys

    api_id = str(api.get("apiId") or "")
    merge = sys.modules.get("stacklab.planes.graphql_merge")
    if merge is not None:
        merged = merge.effective_schema(api_id)
        if merged is not None:
            return merged
    from moto.appsync.models import appsync_backends

    box = _box()
    region = str(api.get("arn", "")).split(":")[3] if str(api.get("arn", "")).count(":") >= 5 else box.region
    try:
        stored = appsync_backends[box.account_id][region].get_graphql_api(api_id).graphql_schema
    except Exception:  # noqa: BLE001 - moto's NotFound: an API without a stored schema has no directives
        return ""
    return stored.definition if stored is not None and stored.status == "SUCCESS" else ""


def api_record(api_id: str) -> dict[str, Any]:
    """The API as ``get_graphql_api(apiId)["graphqlApi"]`` shows it, read from moto now (for :func:`authorize`).

    Raises :class:`InputError` for an unknown API.
    """
    import sys

    from moto.appsync.exceptions import GraphqlAPINotFound
    from moto.appsync.models import appsync_backends

    require_str("api_id", api_id)
    box = _box()
    try:
        api = appsync_backends[box.account_id][box.region].get_graphql_api(api_id)
    except GraphqlAPINotFound:
        raise InputError(f"GraphQL API {api_id!r} not found: use the apiId that create_graphql_api returned.") from None
    executor = sys.modules.get("stacklab.planes.graphql")
    if executor is not None and hasattr(executor, "_api_dict"):
        return dict(executor._api_dict(api))  # includes apiKeys judged on the sandbox clock
    return {"name": api.name, "apiId": api.api_id, "arn": api.arn, "authenticationType": api.authentication_type,
            "additionalAuthenticationProviders": api.additional_authentication_providers or [],
            "lambdaAuthorizerConfig": api.lambda_authorizer_config, "openIDConnectConfig": api.open_id_connect_config,
            "userPoolConfig": api.user_pool_config}  # fmt: skip


def _unverified(token: str) -> dict[str, Any]:
    try:
        part = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _is_jwt(token: str) -> bool:
    return token.count(".") == 2 and bool(_unverified(token))


def _decode(token: str, keys: Any) -> dict[str, Any]:
    from joserfc import jwt
    from joserfc.errors import JoseError

    try:
        return dict(jwt.decode(token, keys, algorithms=["RS256"]).claims)
    except (JoseError, ValueError, TypeError, KeyError, IndexError):
        raise GraphQLAuthError("Unable to parse JWT token.") from None


def _providers(api: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The default mode first (with the API's own configs), then each additional provider."""
    default = {"authenticationType": api.get("authenticationType"), "userPoolConfig": api.get("userPoolConfig"),
               "openIDConnectConfig": api.get("openIDConnectConfig"),
               "lambdaAuthorizerConfig": api.get("lambdaAuthorizerConfig")}  # fmt: skip
    extra = [dict(p) for p in api.get("additionalAuthenticationProviders") or [] if isinstance(p, Mapping)]
    return [default, *extra]


def _context(api: Mapping[str, Any], mode: str, identity: dict[str, Any] | None, **extra: Any) -> AuthContext:
    pool = api.get("userPoolConfig") or {}
    return AuthContext(mode, identity, default_mode=str(api.get("authenticationType")),
                       default_action=pool.get("defaultAction") if isinstance(pool, Mapping) else None,
                       api_arn=str(api.get("arn") or ""), schema=schema_sdl(api), **extra)  # fmt: skip


# ------------------------------------------------------------------------------------ API_KEY


def _api_key(api: Mapping[str, Any], key: str) -> AuthContext:
    keys = api.get("apiKeys")
    if keys is None:  # not given by the caller: read moto's store through the executor's sandbox-clock view
        import sys

        from moto.appsync.models import appsync_backends

        box = _box()
        region = str(api.get("arn")).split(":")[3]
        stored = appsync_backends[box.account_id][region].get_graphql_api(str(api.get("apiId")))
        executor = sys.modules.get("stacklab.planes.graphql")
        if executor is not None and hasattr(executor, "_api_dict"):
            keys = executor._api_dict(stored)["apiKeys"]
        else:  # moto dated the key with the wall clock
            keys = [{"id": k.key_id, "expired": k.expires.replace(tzinfo=UTC).timestamp() <= time.time()}
                    for k in stored.api_keys.values()]  # fmt: skip
    found = next((k for k in keys if k.get("id") == key), None)
    if found is None or found.get("expired"):
        raise GraphQLAuthError(_NOT_AUTHORIZED)
    return _context(api, "API_KEY", None)


# ------------------------------------------------------------------------------------ Cognito user pools


def _cognito(api: Mapping[str, Any], provider: dict[str, Any], token: str, headers: Mapping[str, str]) -> AuthContext:
    config = provider.get("userPoolConfig") or {}
    # imported here, not at module level: it costs ~1 s; the sandbox imports it before any Cognito call,
    # so it records when tokens are issued (expiry on the sandbox clock)
    from stacklab.planes import gateway

    claims = _decode(token, gateway._cognito_keys())
    _check_dates(claims, token)
    audience = str(claims.get("aud") or claims.get("client_id") or "")
    regex = config.get("appIdClientRegex")
    if regex and not re.fullmatch(str(regex), audience):
        raise GraphQLAuthError(_NOT_AUTHORIZED)
    groups = claims.get("cognito:groups") or []
    identity = {"sub": claims.get("sub"), "issuer": claims.get("iss"),
                "username": claims.get("cognito:username") or claims.get("username"), "claims": claims,
                "sourceIp": [headers.get("x-forwarded-for", "127.0.0.1")],
                "defaultAuthStrategy": config.get("defaultAction") or "ALLOW", "groups": groups or None}  # fmt: skip
    return _context(api, "AMAZON_COGNITO_USER_POOLS", identity, groups=tuple(str(g) for g in groups))


def _check_dates(claims: dict[str, Any], token: str) -> None:
    """``exp`` against the sandbox clock (shifted when the sandbox's Cognito issued the token)."""
    from stacklab.planes import gateway

    now = _box().clock.time()
    issued = gateway._state.token_issued.get(str(claims.get("jti")))
    shift = 0.0 if issued is None else issued - float(claims.get("iat", issued))
    if "exp" in claims and now >= float(claims["exp"]) + shift:
        raise GraphQLAuthError("Token has expired.")


def _pool_issuer(provider: dict[str, Any]) -> str | None:
    config = provider.get("userPoolConfig") or {}
    pool, region = config.get("userPoolId"), config.get("awsRegion") or _box().region
    return f"https://cognito-idp.{region}.amazonaws.com/{pool}" if pool else None


# ------------------------------------------------------------------------------------ OpenID Connect


_issuers: dict[str, OidcIssuer] = {}


class OidcIssuer:
    """An offline OpenID Connect provider: an RS256 key kept in the kernel, registered under ``issuer``."""

    def __init__(self, issuer: str) -> None:
        from joserfc.jwk import RSAKey

        require_str("issuer", issuer)
        if not issuer.startswith("https://"):
            raise InputError(f"issuer must be an https:// URL such as 'https://auth.example.com', got {issuer!r}.")
        self.issuer = issuer.rstrip("/")
        self.key = RSAKey.generate_key(2048, parameters={"kid": f"stacklab-{len(_issuers) + 1}", "use": "sig"})
        self._count = 0
        with _lock:
            _issuers[self.issuer] = self

    def jwks(self) -> dict[str, Any]:
        """The public JSON Web Key Set (what ``ISSUER/.well-known/jwks.json`` would serve)."""
        return {"keys": [self.key.as_dict(private=False)]}

    def token(self, sub: str, client_id: str, *, ttl: int = 3600, claims: Mapping[str, Any] | None = None,
              auth_time: float | None = None) -> str:  # fmt: skip
        """An ID token for ``sub`` with ``aud=client_id``, ``iat``/``auth_time`` = sandbox clock, ``exp`` = +ttl s."""
        from joserfc import jwt

        require_str("sub", sub)
        require_str("client_id", client_id)
        if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl <= 0:
            raise InputError(f"ttl must be a positive number of seconds, got {ttl!r}.")
        if claims is not None and not isinstance(claims, Mapping):
            raise InputError(f"claims must be a dict of extra claims, got {type(claims).__name__}.")
        now = int(_box().clock.time())
        self._count += 1
        payload = {"iss": self.issuer, "sub": sub, "aud": client_id, "iat": now, "exp": now + ttl,
                   "auth_time": int(auth_time if auth_time is not None else now), "token_use": "id",
                   "jti": f"{self.key.kid}-{self._count}", **dict(claims or {})}  # fmt: skip
        return jwt.encode({"alg": "RS256", "kid": self.key.kid}, payload, self.key)


def oidc_issuer(issuer: str) -> OidcIssuer:
    """The local issuer registered for ``issuer`` (created on first use); cleared by ``stacklab.reset()``."""
    require_str("issuer", issuer)
    with _lock:
        known = _issuers.get(issuer.rstrip("/"))
    return known if known is not None else OidcIssuer(issuer)


def _oidc(api: Mapping[str, Any], provider: dict[str, Any], token: str) -> AuthContext:
    config = provider.get("openIDConnectConfig") or {}
    issuer = str(config.get("issuer") or "").rstrip("/")
    local = _issuers.get(issuer)
    if local is None:
        raise GraphQLAuthError(f"No local OIDC issuer is registered for {issuer!r}: the sandbox never fetches "
                               "keys over the network (create one with graphql_auth.oidc_issuer(issuer)).")  # fmt: skip
    from joserfc.jwk import KeySet

    claims = _decode(token, KeySet([local.key]))
    now = _box().clock.time()
    aud = claims.get("aud")
    auds = set(aud if isinstance(aud, list) else [aud])
    if str(claims.get("iss", "")).rstrip("/") != issuer or (config.get("clientId") and config["clientId"] not in auds):
        raise GraphQLAuthError(_NOT_AUTHORIZED)
    if now >= float(claims.get("exp", 0)):
        raise GraphQLAuthError("Token has expired.")
    for ttl_name, claim in (("iatTTL", "iat"), ("authTTL", "auth_time")):
        ttl_ms = config.get(ttl_name)
        if ttl_ms and now >= float(claims.get(claim, 0)) + float(ttl_ms) / 1000:
            raise GraphQLAuthError("Token has expired.")
    identity = {"claims": claims, "sub": claims.get("sub"), "issuer": claims.get("iss")}
    return _context(api, "OPENID_CONNECT", identity)


# ------------------------------------------------------------------------------------ AWS_IAM


def sign_iam(api_id: str, body: str | bytes, access_key_id: str, secret_access_key: str,
             session_token: str | None = None) -> dict[str, str]:  # fmt: skip
    """SigV4 headers for ``POST https://API_ID.appsync-api.REGION.amazonaws.com/graphql`` (service ``appsync``)."""
    from stacklab.planes import sigv4

    require_str("api_id", api_id)
    payload = body.encode() if isinstance(body, str) else body
    if not isinstance(payload, bytes):
        raise InputError(f"body must be the request's JSON text, got {type(body).__name__}.")
    host = f"{api_id}.appsync-api.{_box().region}.amazonaws.com"
    headers = {"content-type": "application/json", "x-amz-content-sha256": hashlib.sha256(payload).hexdigest()}
    return sigv4.sign("POST", f"https://{host}/graphql", access_key_id=access_key_id,
                      secret_access_key=secret_access_key, session_token=session_token, body=payload,
                      headers=headers, service="appsync")  # fmt: skip


def _iam(api: Mapping[str, Any], headers: Mapping[str, str]) -> AuthContext:
    from botocore.awsrequest import AWSRequest

    from stacklab.planes import sigv4

    box = _box()
    region = str(api.get("arn")).split(":")[3]
    authorization, amz_date = headers.get("authorization", ""), headers.get("x-amz-date")
    try:
        parts = sigv4._parse_authorization(authorization, amz_date)
        scope = parts["Credential"].split("/")
        if len(scope) != 5 or scope[2] != region or scope[3] != "appsync" or scope[4] != "aws4_request":
            raise sigv4.SigV4Error("Credential should be scoped to a valid region and to service 'appsync'.",
                                   "InvalidSignatureException")  # fmt: skip
        sigv4._check_time(str(amz_date), box.clock.now())
        key, caller = sigv4._lookup(scope[0], headers.get("x-amz-security-token"), box.account_id)
        names = [n for n in parts["SignedHeaders"].split(";") if n]
        if "host" not in names or "x-amz-content-sha256" not in names or any(n not in headers for n in names):
            raise sigv4.SigV4Error(sigv4._BAD_SIGNATURE, "InvalidSignatureException")
        request = AWSRequest(method="POST", url=f"https://{headers['host']}/graphql",
                             headers={n: headers[n] for n in names})  # fmt: skip
        request.context["timestamp"] = str(amz_date)
        creds = key.create_credentials()
        signer = sigv4._auth_for(creds.access_key, creds.secret_key, creds.token, region, datetime.now(UTC), "appsync")
        expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
        if scope[1] != str(amz_date)[:8] or expected != parts["Signature"]:
            raise sigv4.SigV4Error(sigv4._BAD_SIGNATURE, "InvalidSignatureException")
    except sigv4.SigV4Error as exc:
        raise GraphQLAuthError(exc.message, exc.error_type, 403) from None
    identity = {"accountId": caller.account_id, "cognitoIdentityAuthProvider": None,
                "cognitoIdentityAuthType": None, "cognitoIdentityId": None, "cognitoIdentityPoolId": None,
                "sourceIp": ["127.0.0.1"], "userArn": caller.arn, "username": caller.principal_id}  # fmt: skip
    return _context(api, "AWS_IAM", identity, caller=caller)


# ------------------------------------------------------------------------------------ AWS_LAMBDA


_lambda_cache: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}


def _lambda(api: Mapping[str, Any], provider: dict[str, Any], token: str, headers: Mapping[str, str],
            document: gast.DocumentNode) -> AuthContext:  # fmt: skip
    from stacklab.planes import functions

    config = provider.get("lambdaAuthorizerConfig") or {}
    pattern = config.get("identityValidationExpression")
    if pattern and not re.fullmatch(str(pattern), token):
        raise GraphQLAuthError(_NOT_AUTHORIZED)
    uri = str(config.get("authorizerUri") or "")
    ttl_default = int(config.get("authorizerResultTtlInSeconds", _LAMBDA_TTL_DEFAULT) or 0)
    now = _box().clock.time()
    key = (uri, token)
    with _lock:
        cached = _lambda_cache.get(key)
    if cached is not None and cached[0] > now:
        result = cached[1]
    else:
        operation = next((d for d in document.definitions if isinstance(d, gast.OperationDefinitionNode)), None)
        event = {"authorizationToken": token, "requestHeaders": dict(headers),
                 "requestContext": {"apiId": api.get("apiId"), "accountId": _box().account_id,
                                    "requestId": str(uuid.UUID(int=len(_lambda_cache) + 1)),
                                    "queryString": print_ast(document),
                                    "operationName": operation.name.value if operation and operation.name else None,
                                    "variables": {}}}  # fmt: skip
        try:
            result = functions.invoke(uri, event).json()
        except (StackLabError, ValueError) as exc:
            raise GraphQLAuthError(f"The Lambda authorizer failed: {exc}") from None
        if not isinstance(result, dict) or not isinstance(result.get("isAuthorized"), bool):
            raise GraphQLAuthError('The Lambda authorizer must return {"isAuthorized": true|false, ...}.')
        override = result.get("ttlOverride")
        ttl = int(override) if isinstance(override, int | float) and not isinstance(override, bool) else ttl_default
        if ttl > 0:
            with _lock:
                _lambda_cache[key] = (now + ttl, result)
    if not result["isAuthorized"]:
        raise GraphQLAuthError(_NOT_AUTHORIZED)
    context = result.get("resolverContext") or {}
    denied = tuple(str(f) for f in result.get("deniedFields") or [])
    return _context(api, "AWS_LAMBDA", {"resolverContext": context}, resolver_context=context, denied_fields=denied)


# ------------------------------------------------------------------------------------ entry point


def _check(api: Any, headers: Any, document: Any) -> None:
    if not isinstance(api, Mapping) or not api.get("apiId") or not api.get("authenticationType"):
        raise InputError("api must be get_graphql_api(apiId=...)['graphqlApi'] (a dict with apiId and "
                         "authenticationType).")  # fmt: skip
    if not isinstance(headers, Mapping):
        raise InputError(f"headers must be a dict such as {{'x-api-key': KEY}}, got {type(headers).__name__}.")
    if not isinstance(document, gast.DocumentNode):
        raise InputError("document must be graphql.parse(query) (a DocumentNode).")


def authorize(api: Mapping[str, Any], headers: Mapping[str, str], document: gast.DocumentNode) -> AuthContext:
    """Authenticate one request under the API's modes: its :class:`AuthContext`, or :class:`GraphQLAuthError`."""
    _check(api, headers, document)
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    providers = _providers(api)
    by_mode: dict[str, list[dict[str, Any]]] = {}
    for provider in providers:
        by_mode.setdefault(str(provider.get("authenticationType")), []).append(provider)
    if "x-api-key" in lowered and "API_KEY" in by_mode:
        return _api_key(api, lowered["x-api-key"])
    token = lowered.get("authorization", "").strip()
    if not token:
        raise GraphQLAuthError(_NOT_AUTHORIZED if set(by_mode) == {"API_KEY"} else _NO_HEADER)
    if token.startswith("AWS4-HMAC-SHA256") and "AWS_IAM" in by_mode:
        return _iam(api, lowered)
    if _is_jwt(token):
        issuer = str(_unverified(token).get("iss", "")).rstrip("/")
        for provider in by_mode.get("AMAZON_COGNITO_USER_POOLS", []):
            if _pool_issuer(provider) == issuer:
                return _cognito(api, provider, token, lowered)
        for provider in by_mode.get("OPENID_CONNECT", []):
            if str((provider.get("openIDConnectConfig") or {}).get("issuer", "")).rstrip("/") == issuer:
                return _oidc(api, provider, token)
    if "AWS_LAMBDA" in by_mode:
        return _lambda(api, by_mode["AWS_LAMBDA"][0], token, lowered, document)
    raise GraphQLAuthError(_NOT_AUTHORIZED)


def clear() -> None:
    """Forget local OIDC issuers and cached Lambda authorizer results (``stacklab.reset()`` calls it)."""
    with _lock:
        _issuers.clear()
        _lambda_cache.clear()
        _rules_cache.clear()


def _hooks() -> None:
    from stacklab.sandbox import on_reset, on_stop

    on_reset(clear)
    on_stop(clear)


_hooks()

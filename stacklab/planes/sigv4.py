"""AWS Signature Version 4 for ``execute-api``: sign a request as a client would, verify it as API Gateway does.

A REST API method whose ``authorizationType`` is ``AWS_IAM`` only runs for requests signed with the
credentials of an IAM identity allowed to ``execute-api:Invoke`` it. This module gives both sides:

* :func:`sign` returns the headers (``Authorization``, ``X-Amz-Date``, ``Host``, and
  ``X-Amz-Security-Token`` for temporary credentials) a client adds to its request; :func:`auth` wraps
  the same as a ``requests`` authentication object (``requests.get(url, auth=sigv4.auth(...))``).
  Both sign with botocore's ``SigV4Auth`` at the **sandbox clock**'s time (so outputs are the same on
  every run), scope ``DATE/REGION/execute-api/aws4_request``.
* :func:`verify` is what the gateway runs (:mod:`stacklab.planes.gateway` calls it for ``AWS_IAM``
  methods): it parses ``Authorization``, checks the request time, finds the access key in the
  sandbox's IAM, recomputes the signature with botocore from the canonical request (only the headers
  named in ``SignedHeaders``) and compares with :func:`hmac.compare_digest`. It returns the
  :class:`Caller`, or raises :class:`SigV4Error` carrying AWS's answer (all 403):

  * missing ``Authorization`` → ``{"message":"Missing Authentication Token"}``;
  * not a SigV4 ``Authorization`` or no ``X-Amz-Date`` → ``"Authorization header requires 'Credential'
    parameter. ..."`` (``IncompleteSignatureException``);
  * a credential scope for another region or service → ``"Credential should be scoped to ..."``;
  * ``X-Amz-Date`` more than 5 minutes before the sandbox clock → ``"Signature expired: T is now earlier
    than NOW-5min (NOW - 5 min.)"`` (``"Signature not yet current: ..."`` for one in the future);
  * an unknown, inactive or deleted access key, or a wrong session token → ``"The security token
    included in the request is invalid."``;
  * any other difference (tampered body, signed header, path or query, wrong secret) → ``"The request
    signature we calculated does not match the signature you provided. Check your AWS Secret Access Key
    and signing method. Consult the service documentation for details."``

  **The secret comes from moto, not from the API**: IAM never returns a secret access key after
  ``create_access_key``, so :func:`verify` reads it from moto's IAM backend (the user's access keys) or
  STS backend (``assume_role`` credentials), through moto's own ``moto.iam.access_control`` helpers.
* :func:`identity_decision` evaluates the caller's **identity policies** — an IAM user's inline
  policies, attached managed policies and its groups' inline and attached policies; an assumed role's
  inline and attached policies (gathered by moto's ``collect_policies``) — for ``execute-api:Invoke``
  on a method ARN ``arn:aws:execute-api:REGION:ACCOUNT:API_ID/STAGE/METHOD/PATH``: ``"deny"`` (an
  explicit Deny), ``"allow"`` or ``"none"``. ``Action``/``NotAction`` and ``Resource``/``NotResource``
  match case-insensitively for actions, with IAM's ``*`` and ``?`` wildcards. moto's own evaluator
  (``IAMPolicyStatement``) is not used for the decision: it turns an Allow whose condition fails into a
  Deny and matches actions case-sensitively; a statement with a ``Condition`` is applied only when the
  caller's ``condition`` function can judge it (the gateway passes its ``aws:SourceIp`` /
  ``aws:SourceVpce`` evaluator), otherwise it is ignored.

Simplifications: only the ``Authorization`` header form (no presigned query-string signatures), only
``X-Amz-Date`` (not ``Date``); paths are compared as the gateway received them (a client must send
reserved characters percent-encoded as it signed them); the query string is canonicalized from its
decoded names and values, as the SigV4 specification says (so ``a=x+y`` and ``a=x%20y`` sign alike);
the gateway keeps the last value of a repeated query key; permission boundaries, SCPs and session
policies do not exist in the sandbox; assumed-role credentials are accepted until the role session
is gone (moto dates their expiry with the wall clock, so expiry is not checked).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from stacklab._validate import require_str
from stacklab.errors import InputError, StackLabError

__all__ = ["MAX_SKEW", "Caller", "SigV4Error", "auth", "identity_decision", "sign", "verify", "verify_request"]

#: How far ``X-Amz-Date`` may be from the server's clock (AWS: 5 minutes).
MAX_SKEW = timedelta(minutes=5)
_SERVICE = "execute-api"
_ALGORITHM = "AWS4-HMAC-SHA256"
_STAMP = "%Y%m%dT%H%M%SZ"
_INVALID_TOKEN = "The security token included in the request is invalid."
_BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)


class SigV4Error(StackLabError):
    """A request API Gateway refuses before any policy is read; ``status``/``body``/``error_type`` are AWS's answer."""

    def __init__(self, message: str, error_type: str, status: int = 403) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.status = status

    @property
    def body(self) -> bytes:
        """The JSON body API Gateway answers with."""
        return json.dumps({"message": self.message}).encode()


@dataclass(frozen=True)
class Caller:
    """A verified SigV4 caller, as API Gateway puts it in ``requestContext.identity``."""

    access_key: str
    arn: str
    account_id: str
    principal_id: str
    kind: str  # "user" or "assumed-role"
    policies: tuple[dict[str, Any], ...] = field(default=(), repr=False, compare=False, hash=False)

    def identity(self) -> dict[str, str]:
        """The ``requestContext.identity`` fields API Gateway fills for an IAM-authorized request."""
        return {"accessKey": self.access_key, "accountId": self.account_id, "caller": self.principal_id,
                "user": self.principal_id, "userArn": self.arn}  # fmt: skip


# ------------------------------------------------------------------------------------ signing


def _sandbox() -> Any:
    from stacklab.sandbox import current

    return current()


def _check_headers(headers: Any) -> dict[str, str]:
    if headers is None:
        return {}
    if not isinstance(headers, dict):
        raise InputError(f"headers must be a dict of header name -> value, got {type(headers).__name__}.")
    return {str(k): str(v) for k, v in headers.items()}


def _check_body(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode()
    if not isinstance(body, bytes):
        raise InputError(f"body must be bytes or str, got {type(body).__name__}.")
    return body


def _auth_for(
    access_key_id: str, secret: str, token: str | None, region: str, when: datetime, service: str = _SERVICE
) -> Any:
    from botocore.auth import SigV4Auth
    from botocore.credentials import Credentials

    class _ClockedSigV4Auth(SigV4Auth):
        """botocore's signer with the timestamp taken from ``when`` instead of the wall clock."""

        def _modify_request_before_signing(self, request: Any) -> None:
            request.context["timestamp"] = when.strftime(_STAMP)
            super()._modify_request_before_signing(request)

    return _ClockedSigV4Auth(Credentials(access_key_id, secret, token), service, region)


def sign(
    method: str,
    url: str,
    *,
    access_key_id: str,
    secret_access_key: str,
    session_token: str | None = None,
    body: bytes | str = b"",
    headers: dict[str, str] | None = None,
    region: str | None = None,
    service: str = _SERVICE,
    when: datetime | None = None,
) -> dict[str, str]:
    """Sign ``METHOD url`` for ``execute-api``; return the headers to send (``headers`` plus the signature's).

    ``url`` is the full URL the request goes to (``https://API.execute-api.REGION.amazonaws.com/STAGE/PATH``
    or the sandbox's ``gateway.url(...)``), query string included. ``region`` defaults to the sandbox's;
    ``when`` (timezone-aware) to the sandbox clock. Raises :class:`InputError` for malformed input.
    """
    require_str("method", method)
    require_str("url", url)
    require_str("access_key_id", access_key_id)
    require_str("secret_access_key", secret_access_key)
    if session_token is not None:
        require_str("session_token", session_token)
    require_str("service", service)
    split = urlsplit(url)
    if split.scheme not in ("http", "https") or not split.netloc:
        raise InputError(f"url must be an absolute http(s) URL such as 'https://abc.execute-api...', got {url!r}.")
    body_bytes, extra = _check_body(body), _check_headers(headers)
    if when is None:
        when = _sandbox().clock.now()
    elif not isinstance(when, datetime) or when.tzinfo is None:
        raise InputError(f"when must be a timezone-aware datetime (or None for the sandbox clock), got {when!r}.")
    region = region if region is not None else _sandbox().region
    require_str("region", region)
    from botocore.awsrequest import AWSRequest

    request = AWSRequest(method=method.upper(), url=split._replace(query="").geturl(), data=body_bytes,
                         headers=extra, params=parse_qsl(split.query, keep_blank_values=True))  # fmt: skip
    signer = _auth_for(access_key_id, secret_access_key, session_token, region, when.astimezone(UTC), service)
    signer.add_auth(request)
    out = dict(extra)
    if _header(out, "host") is None:
        out["Host"] = signer.headers_to_sign(request)["host"]
    for name in ("X-Amz-Date", "X-Amz-Security-Token", "Authorization"):
        if name in request.headers:
            out[name] = request.headers[name]
    return out


def auth(
    access_key_id: str,
    secret_access_key: str,
    session_token: str | None = None,
    *,
    region: str | None = None,
) -> Any:
    """A ``requests`` auth object that signs each request with :func:`sign` (``requests.get(url, auth=...)``)."""
    import requests

    require_str("access_key_id", access_key_id)
    require_str("secret_access_key", secret_access_key)

    class SigV4RequestsAuth(requests.auth.AuthBase):
        def __call__(self, r: Any) -> Any:
            body = r.body or b""
            signed = sign(r.method, r.url, access_key_id=access_key_id, secret_access_key=secret_access_key,
                          session_token=session_token, body=body, region=region)  # fmt: skip
            r.headers.update(signed)
            return r

    return SigV4RequestsAuth()


# ------------------------------------------------------------------------------------ verifying


def _header(headers: dict[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _parse_authorization(value: str, amz_date: str | None) -> dict[str, str]:
    parts: dict[str, str] = {}
    if value.startswith(_ALGORITHM + " "):
        for item in value[len(_ALGORITHM) + 1 :].split(","):
            key, _, val = item.strip().partition("=")
            parts[key] = val
    missing = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if not parts.get(name)
    ]
    if not amz_date:
        missing.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    if missing:
        raise SigV4Error(" ".join(missing) + f" Authorization={value}", "IncompleteSignatureException")
    return parts


def _check_time(amz_date: str, now: datetime) -> None:
    try:
        sent = datetime.strptime(amz_date, _STAMP).replace(tzinfo=UTC)
    except ValueError:
        raise SigV4Error(_BAD_SIGNATURE, "InvalidSignatureException") from None
    stamp = lambda t: t.strftime(_STAMP)  # noqa: E731
    if sent < now - MAX_SKEW:
        raise SigV4Error(
            f"Signature expired: {amz_date} is now earlier than {stamp(now - MAX_SKEW)} ({stamp(now)} - 5 min.)",
            "InvalidSignatureException",
        )
    if sent > now + MAX_SKEW:
        raise SigV4Error(
            f"Signature not yet current: {amz_date} is still later than {stamp(now + MAX_SKEW)} "
            f"({stamp(now)} + 5 min.)",
            "InvalidSignatureException",
        )


def _lookup(access_key_id: str, token: str | None, account_id: str) -> tuple[Any, Caller]:
    """moto's access-key object (it holds the secret) and the caller it belongs to."""
    from moto.iam.access_control import CreateAccessKeyFailure, IAMPolicy, create_access_key
    from moto.iam.models import iam_backends

    lookup_headers = {"X-Amz-Security-Token": token} if token is not None else {}
    try:
        key = create_access_key(account_id, "aws", access_key_id, lookup_headers)
    except (CreateAccessKeyFailure, KeyError):
        raise SigV4Error(_INVALID_TOKEN, "UnrecognizedClientException") from None
    backend = iam_backends[account_id]["aws"]
    if hasattr(key, "_owner_user_name"):  # an IAM user's long-term key
        user = backend.get_user(key._owner_user_name)
        if any(k.access_key_id == access_key_id and k.status != "Active" for k in user.access_keys):
            raise SigV4Error(_INVALID_TOKEN, "UnrecognizedClientException")
        kind, principal_id = "user", str(user.id)
    else:
        role = backend.get_role(key._owner_role_name)
        kind, principal_id = "assumed-role", f"{role.id}:{key._session_name}"
    # moto's IAMPolicy reads a managed policy's default version or an inline document.
    policies = tuple(IAMPolicy(p)._policy_json for p in key.collect_policies())
    return key, Caller(access_key_id, key.arn, account_id, principal_id, kind, policies)


def verify(
    method: str,
    url_or_path: str,
    headers: dict[str, str],
    body: bytes | str = b"",
    *,
    region: str | None = None,
) -> Caller:
    """Authenticate a SigV4-signed ``execute-api`` request as API Gateway does; return the :class:`Caller`.

    ``url_or_path`` is the request's URL or its path (``/STAGE/PATH?query``, as it reached the server;
    the ``Host`` header then comes from ``headers``). Raises :class:`SigV4Error` with AWS's status and
    message for an unsigned, malformed, expired, unknown-key or wrongly signed request, and
    :class:`InputError` for arguments of the wrong type. Identity policies are not evaluated here:
    see :func:`identity_decision`.
    """
    require_str("method", method)
    require_str("url_or_path", url_or_path)
    headers, body_bytes = _check_headers(headers), _check_body(body)
    box = _sandbox()
    region = region if region is not None else box.region
    require_str("region", region)
    split = urlsplit(url_or_path)
    if not split.path.startswith("/"):
        raise InputError(f"url_or_path must be a URL or a path starting with '/', got {url_or_path!r}.")
    authorization = _header(headers, "authorization")
    if not authorization:
        raise SigV4Error("Missing Authentication Token", "MissingAuthenticationTokenException")
    amz_date = _header(headers, "x-amz-date")
    parts = _parse_authorization(authorization, amz_date)
    scope = parts["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise SigV4Error(
            f"Credential should be scoped to a valid region. Authorization={authorization}", "InvalidSignatureException"
        )
    access_key_id, scope_date, scope_region, scope_service = scope[:4]
    if scope_region != region:
        raise SigV4Error(f"Credential should be scoped to a valid region, not '{scope_region}'. ",
                         "InvalidSignatureException")  # fmt: skip
    if scope_service != _SERVICE:
        raise SigV4Error(f"Credential should be scoped to correct service: '{_SERVICE}'. ", "InvalidSignatureException")
    _check_time(str(amz_date), box.clock.now())
    key, caller = _lookup(access_key_id, _header(headers, "x-amz-security-token"), box.account_id)
    if scope_date != str(amz_date)[:8] or not _signature_matches(
        key, method, split, headers, body_bytes, parts, str(amz_date), region
    ):
        raise SigV4Error(_BAD_SIGNATURE, "InvalidSignatureException")
    return caller


def _signature_matches(
    key: Any, method: str, split: Any, headers: dict[str, str], body: bytes, parts: dict, amz_date: str, region: str
) -> bool:
    from botocore.awsrequest import AWSRequest

    signed_names = [n.strip().lower() for n in parts["SignedHeaders"].split(";") if n.strip()]
    if "host" not in signed_names:
        return False  # SigV4 requires Host to be signed
    signed = {}
    for name in signed_names:
        value = _header(headers, name)
        if value is None:
            return False
        signed[name] = value
    declared = signed.get("x-amz-content-sha256")
    if declared is not None and declared != hashlib.sha256(body).hexdigest():
        return False  # a signed payload hash that is not the body's
    host = signed["host"]
    request = AWSRequest(method=method.upper(), url=f"https://{host}{split.path}", data=body, headers=signed,
                         params=parse_qsl(split.query, keep_blank_values=True))  # fmt: skip
    request.context["timestamp"] = amz_date
    credentials = key.create_credentials()
    signer = _auth_for(credentials.access_key, credentials.secret_key, credentials.token, region, datetime.now(UTC))
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    return hmac.compare_digest(expected, parts["Signature"])


# ------------------------------------------------------------------------------------ identity policies


def _iam_match(pattern: str, value: str, *, case: bool) -> bool:
    """IAM wildcard matching: ``*`` any run of characters, ``?`` one character, nothing else special."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _statement_applies(st: dict, action: str, resource: str, condition: Any) -> bool:
    if "NotAction" in st:
        if any(_iam_match(str(p), action, case=False) for p in _as_list(st["NotAction"])):
            return False
    elif not any(_iam_match(str(p), action, case=False) for p in _as_list(st.get("Action"))):
        return False
    if "NotResource" in st:
        if any(_iam_match(str(p), resource, case=True) for p in _as_list(st["NotResource"])):
            return False
    elif not any(_iam_match(str(p), resource, case=True) for p in _as_list(st.get("Resource"))):
        return False
    if st.get("Condition"):
        return condition is not None and condition(st["Condition"]) is True
    return True


def identity_decision(
    caller: Caller,
    resource: str,
    *,
    action: str = "execute-api:Invoke",
    condition: Any = None,
) -> str:
    """``"deny"`` (explicit Deny), ``"allow"`` or ``"none"`` for ``action`` on ``resource`` under the caller's policies.

    ``condition`` is an optional function ``(condition_block) -> True | False | None`` judging a
    statement's ``Condition`` (None: not understood, the statement is ignored).
    """
    if not isinstance(caller, Caller):
        raise InputError(f"caller must be the Caller that verify() returned, got {type(caller).__name__}.")
    require_str("resource", resource)
    require_str("action", action)
    allowed = False
    for policy in caller.policies:
        for st in _as_list(policy.get("Statement")):
            if not isinstance(st, dict) or not _statement_applies(st, action, resource, condition):
                continue
            if st.get("Effect") == "Deny":
                return "deny"
            allowed = allowed or st.get("Effect") == "Allow"
    return "allow" if allowed else "none"


def verify_request(
    *,
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes | str = b"",
    resource: str,
    service: str = _SERVICE,
    region: str | None = None,
) -> bool:
    """True when the request is correctly signed (:func:`verify`) and the caller's identity policies allow
    ``execute-api:Invoke`` on ``resource`` (:func:`identity_decision`); False otherwise.

    A yes/no shortcut for planes without resource policies (HTTP APIs); call :func:`verify` and
    :func:`identity_decision` to get AWS's exact refusal.
    """
    if service != _SERVICE:
        raise InputError(f"service must be {_SERVICE!r} (API Gateway's signing name), got {service!r}.")
    try:
        caller = verify(method, url, headers, body, region=region)
    except SigV4Error:
        return False
    return identity_decision(caller, resource) == "allow"

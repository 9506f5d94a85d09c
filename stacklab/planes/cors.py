"""CORS as a browser enforces it: what a web page's ``fetch()`` would see when it calls your API.

CORS is enforced by the *browser*, not by API Gateway: the API only sends headers, and the browser
decides whether the page's JavaScript may read the answer. :func:`browser_fetch` plays the browser's part
(the WHATWG Fetch standard, as Chrome applies it) against a URL on 127.0.0.1 (``gateway.url(...)``, an
HTTP API's URL, any local server) with ``requests``, or in-process against a callable
``(method, path, headers, body) -> Response``:

1. **Simple or preflighted?** A request is *simple* when its method is ``GET``, ``HEAD`` or ``POST`` and
   every header the page sets is CORS-safelisted (``Accept``, ``Accept-Language``, ``Content-Language``,
   ``Content-Type`` with ``application/x-www-form-urlencoded``, ``multipart/form-data`` or ``text/plain``,
   ``Range``; values up to 128 bytes). Anything else (``PUT``, ``DELETE``, ``Content-Type:
   application/json``, ``Authorization``, ``x-api-key``, ...) needs a preflight.
2. **Preflight**: ``OPTIONS`` with ``Origin``, ``Access-Control-Request-Method`` and
   ``Access-Control-Request-Headers`` (the unsafe header names, lower-case, sorted, comma-separated), no
   credentials. The response must pass the CORS check (below), have a 2xx status, allow the method in
   ``Access-Control-Allow-Methods`` (``*`` counts only without credentials; ``GET``/``HEAD``/``POST``
   always pass) and every unsafe header in ``Access-Control-Allow-Headers`` (``*`` counts only without
   credentials and never covers ``Authorization``).
3. **Actual request** with ``Origin``; its response must pass the CORS check too. A simple request is
   sent even when the answer is then blocked — the server *did* act on it; only the page cannot read it.

The **CORS check**: ``Access-Control-Allow-Origin`` must be present, a single value, and either ``*``
(only when credentials are not included) or exactly the page's origin; with ``credentials=True``
(``credentials: 'include'``) ``Access-Control-Allow-Credentials`` must be ``true``. A readable response
shows the page only the CORS-safelisted response headers (``Cache-Control``, ``Content-Language``,
``Content-Length``, ``Content-Type``, ``Expires``, ``Last-Modified``, ``Pragma``) plus those named in
``Access-Control-Expose-Headers``. The ``reason`` of a blocked request is Chrome's console message.

Simplifications (said in the lessons): a same-origin URL skips CORS entirely; no preflight cache
(``Access-Control-Max-Age``), no cookies are stored or sent, redirects are not followed, and
``Access-Control-Allow-Private-Network`` is not modelled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from stacklab._validate import require_bool, require_str
from stacklab.errors import InputError, StackLabError

TIMEOUT_S = 10.0
_SAFE_METHODS = ("GET", "HEAD", "POST")
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_SAFE_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")
_SAFE_REQUEST_HEADERS = ("accept", "accept-language", "content-language", "content-type", "range")
_SAFE_RESPONSE_HEADERS = (
    "cache-control", "content-language", "content-length", "content-type", "expires", "last-modified", "pragma",
)  # fmt: skip
_FORBIDDEN = (
    "accept-charset", "accept-encoding", "access-control-request-headers", "access-control-request-method",
    "connection", "content-length", "cookie", "cookie2", "date", "dnt", "expect", "host", "keep-alive",
    "origin", "referer", "te", "trailer", "transfer-encoding", "upgrade", "via",
)  # fmt: skip
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class CorsResult:
    """What the page's JavaScript sees after ``fetch()``."""

    blocked: bool
    reason: str | None
    preflighted: bool
    preflight_status: int | None
    server_status: int | None  # what the server answered to the actual request (None: never sent)
    status: int | None  # what JavaScript reads (None when blocked: fetch() rejects with a TypeError)
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    exchanges: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = list(self.exchanges)
        lines.append(f"BLOCKED: {self.reason}" if self.blocked else f"OK: JavaScript reads status {self.status}")
        return "\n".join(lines)


Sender = Callable[[str, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]


def _origin_of(url: str) -> str:
    split = urlsplit(url)
    default = {"http": 80, "https": 443}.get(split.scheme)
    port = f":{split.port}" if split.port and split.port != default else ""
    return f"{split.scheme}://{split.hostname}{port}"


def _check_origin(origin: str) -> str:
    require_str("origin", origin)
    split = urlsplit(origin)
    if split.scheme not in ("http", "https") or not split.hostname or split.path not in ("", "/") or split.query:
        raise InputError(f"origin must be a page's origin such as 'https://app.example.com', got {origin!r}.")
    return _origin_of(origin)


def _sender_for_url(url: str) -> tuple[Sender, str, str]:
    split = urlsplit(url)
    if split.scheme not in ("http", "https") or split.hostname not in _LOOPBACK:
        raise InputError(f"url must be on 127.0.0.1 (e.g. gateway.url(api_id, 'prod') + '/items'), got {url!r}.")
    import requests

    def send(method: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        try:
            resp = requests.request(method, url, headers=headers, data=body or None, timeout=TIMEOUT_S,
                                    allow_redirects=False)  # fmt: skip
        except requests.RequestException as exc:
            raise StackLabError(f"Could not reach {url}: {exc}. Is the server still running?") from None
        return resp.status_code, dict(resp.headers.items()), resp.content

    return send, url, _origin_of(url)


def _sender_for_callable(handler: Callable[..., Any], path: str) -> Sender:
    require_str("path", path)
    if not path.startswith("/"):
        raise InputError(f"path must start with '/', got {path!r}.")

    def send(method: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        out = handler(method, path, dict(headers), body)
        if isinstance(out, tuple) and len(out) == 3:
            status, resp_headers, payload = out
        elif hasattr(out, "status") and hasattr(out, "headers"):
            status, resp_headers, payload = out.status, out.headers, getattr(out, "body", b"")
        else:
            raise InputError("the callable must return a Response (status, headers, body) or a 3-tuple.")
        if isinstance(payload, str):
            payload = payload.encode()
        return int(status), dict(resp_headers or {}), payload or b""

    return send


def _header(headers: dict[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _unsafe_headers(headers: dict[str, str]) -> list[str]:
    unsafe = set()
    for name, value in headers.items():
        low = name.lower()
        if low not in _SAFE_REQUEST_HEADERS or len(value.encode()) > 128:
            unsafe.add(low)
        elif low == "content-type" and value.split(";")[0].strip().lower() not in _SAFE_CONTENT_TYPES:
            unsafe.add(low)
    return sorted(unsafe)


def _list(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def _cors_check(headers: dict[str, str], origin: str, credentials: bool) -> str | None:
    """None when the response passes the CORS check, else Chrome's reason."""
    allow = _header(headers, "access-control-allow-origin")
    if allow is None:
        return "No 'Access-Control-Allow-Origin' header is present on the requested resource."
    if "," in allow:
        return f"The 'Access-Control-Allow-Origin' header contains multiple values '{allow}', but only one is allowed."
    allow = allow.strip()
    if allow == "*":
        if credentials:
            return (
                "The value of the 'Access-Control-Allow-Origin' header in the response must not be the wildcard "
                "'*' when the request's credentials mode is 'include'."
            )
        return None
    if allow != origin:
        return (
            f"The 'Access-Control-Allow-Origin' header has a value '{allow}' that is not equal to the supplied origin."
        )
    if credentials:
        allow_credentials = _header(headers, "access-control-allow-credentials") or ""
        if allow_credentials != "true":
            return (
                f"The value of the 'Access-Control-Allow-Credentials' header in the response is "
                f"'{allow_credentials}' which must be 'true' when the request's credentials mode is 'include'."
            )
    return None


def _preflight_reason(
    status: int, headers: dict[str, str], origin: str, method: str, unsafe: list[str], credentials: bool
) -> str | None:
    problem = _cors_check(headers, origin, credentials)
    if problem is not None:
        return f"Response to preflight request doesn't pass access control check: {problem}"
    if not 200 <= status <= 299:
        return "Response to preflight request doesn't pass access control check: It does not have HTTP ok status."
    methods = _list(_header(headers, "access-control-allow-methods"))
    if method not in _SAFE_METHODS and method not in methods and not ("*" in methods and not credentials):
        return f"Method {method} is not allowed by Access-Control-Allow-Methods in preflight response."
    allowed = {h.lower() for h in _list(_header(headers, "access-control-allow-headers"))}
    for name in unsafe:
        wildcard = "*" in allowed and not credentials and name != "authorization"
        if name not in allowed and not wildcard:
            return f"Request header field {name} is not allowed by Access-Control-Allow-Headers in preflight response."
    return None


def _visible(headers: dict[str, str], credentials: bool) -> dict[str, str]:
    exposed = {h.lower() for h in _list(_header(headers, "access-control-expose-headers"))}
    everything = "*" in exposed and not credentials
    return {
        k: v
        for k, v in sorted(headers.items(), key=lambda kv: kv[0].lower())
        if k.lower() != "set-cookie" and (everything or k.lower() in _SAFE_RESPONSE_HEADERS or k.lower() in exposed)
    }


def browser_fetch(
    url_or_callable: str | Callable[..., Any],
    method: str = "GET",
    *,
    origin: str,
    headers: dict[str, str] | None = None,
    credentials: bool = False,
    body: bytes | str | None = None,
    path: str = "/",
) -> CorsResult:
    """Do what a browser does for ``fetch(url, {method, headers, body, credentials})`` from a page at ``origin``.

    ``url_or_callable`` is a URL on 127.0.0.1, or a callable ``(method, path, headers, body)`` returning a
    :class:`~stacklab.planes.http.Response` (e.g. ``lambda m, p, h, b: gateway.request(api, "prod", m, p,
    headers=h, body=b)``) called with ``path``. Returns a :class:`CorsResult`; ``blocked`` with Chrome's
    console ``reason`` when CORS forbids the page to read the answer.
    """
    require_str("method", method)
    method = method.upper()
    if method not in _METHODS:
        raise InputError(f"method must be one of {', '.join(_METHODS)}, got {method!r}.")
    origin = _check_origin(origin)
    require_bool("credentials", credentials)
    if headers is not None and not isinstance(headers, dict):
        raise InputError(f"headers must be a dict of name -> value, got {type(headers).__name__}.")
    headers = {str(k): str(v) for k, v in (headers or {}).items()}
    for name in headers:
        if name.lower() in _FORBIDDEN or name.lower().startswith(("proxy-", "sec-")):
            raise InputError(f"A page's JavaScript cannot set the {name!r} header: the browser controls it.")
    if isinstance(body, str):
        body = body.encode()
    if body is not None and not isinstance(body, bytes):
        raise InputError(f"body must be bytes, str or None, got {type(body).__name__}.")
    if body and method in ("GET", "HEAD"):
        raise InputError(f"A {method} request cannot have a body (fetch() raises a TypeError).")
    if isinstance(url_or_callable, str):
        send, shown, target_origin = _sender_for_url(url_or_callable)
    elif callable(url_or_callable):
        send, shown, target_origin = _sender_for_callable(url_or_callable, path), path, None
    else:
        raise InputError(f"url_or_callable must be a URL or a callable, got {type(url_or_callable).__name__}.")
    prefix = f"Access to fetch at '{shown}' from origin '{origin}' has been blocked by CORS policy: "
    exchanges: list[str] = []
    if target_origin == origin:  # same origin: no CORS at all
        status, resp_headers, payload = send(method, headers, body or b"")
        exchanges.append(f"{method} {shown} (same origin) -> {status}")
        return CorsResult(False, None, False, None, status, status, dict(resp_headers),
                          payload.decode(errors="replace"), exchanges)  # fmt: skip
    unsafe = _unsafe_headers(headers)
    preflighted = method not in _SAFE_METHODS or bool(unsafe)
    preflight_status = None
    if preflighted:
        pre_headers = {"Origin": origin, "Access-Control-Request-Method": method, "Accept": "*/*"}
        if unsafe:
            pre_headers["Access-Control-Request-Headers"] = ",".join(unsafe)
        preflight_status, pre_resp, _ = send("OPTIONS", pre_headers, b"")
        extra = f", Access-Control-Request-Headers: {','.join(unsafe)}" if unsafe else ""
        exchanges.append(f"OPTIONS {shown} (preflight for {method}{extra}) -> {preflight_status}")
        reason = _preflight_reason(preflight_status, pre_resp, origin, method, unsafe, credentials)
        if reason is not None:
            exchanges.append(f"{method} {shown} not sent")
            return CorsResult(True, prefix + reason, True, preflight_status, None, None, {}, None, exchanges)
    status, resp_headers, payload = send(method, {**headers, "Origin": origin}, body or b"")
    exchanges.append(f"{method} {shown} -> {status}")
    problem = _cors_check(resp_headers, origin, credentials)
    if problem is not None:
        if problem.startswith("No 'Access-Control-Allow-Origin'"):
            problem += (
                " If an opaque response serves your needs, set the request's mode to 'no-cors' to fetch the "
                "resource with CORS disabled."
            )
        return CorsResult(True, prefix + problem, preflighted, preflight_status, status, None, {}, None, exchanges)
    visible = _visible(resp_headers, credentials)
    return CorsResult(False, None, preflighted, preflight_status, status, status, visible,
                      payload.decode(errors="replace"), exchanges)  # fmt: skip

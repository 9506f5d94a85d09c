"""Loopback-only networking for the kernel: nothing the sandbox does may leave this machine.

While installed, any attempt to resolve a non-loopback host name or connect a socket to a
non-loopback address raises :class:`stacklab.errors.RealAWSBlockedError` naming the destination.
Unix-domain sockets and 127.0.0.0/8 / ::1 / ``localhost`` stay allowed (local servers, Jupyter).

Local endpoints: a data plane that serves an AWS endpoint name (say an ElastiCache node
``c1.abc123.0001.use1.cache.amazonaws.com:6379``) registers it with :func:`add_local_endpoint`; while the
guard is installed, resolving that name and port gives ``127.0.0.1`` and the plane's real port, so a
client library connects to the endpoint address exactly as the learner would on AWS.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from typing import Any

from stacklab.errors import InputError, RealAWSBlockedError

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
_lock = threading.Lock()
_originals: dict[str, Any] = {}
_blocked: list[str] = []
_endpoints: dict[tuple[str, int], int] = {}


def is_loopback(host: object) -> bool:
    """True when ``host`` (a name or IP literal) is on this machine's loopback interface."""
    if host is None:
        return True  # getaddrinfo(None, port) means the local host
    if isinstance(host, bytes):
        host = host.decode("idna", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip().strip("[]").rstrip(".").lower()
    if name in ("", *_LOCAL_NAMES) or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _refuse(host: object, port: object) -> RealAWSBlockedError:
    where = f"{host}:{port}" if port not in (None, "") else str(host)
    _blocked.append(where)
    return RealAWSBlockedError(
        f"Blocked a network connection to {where}: the course sandbox never leaves this machine "
        "(only 127.0.0.1/localhost is allowed). If this came from a boto3 call, the service or "
        "operation is not mocked; use the sandbox's clients (stacklab.client) and the lesson's "
        "local planes. Reaching real AWS needs stacklab.start(target='aws', allow_real_aws=True) "
        "in a fresh kernel."
    )


def _address_host(address: object) -> object:
    if isinstance(address, tuple) and address:
        return address[0]
    return address


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    if self.family != getattr(socket, "AF_UNIX", None) and not is_loopback(_address_host(address)):
        port = address[1] if isinstance(address, tuple) and len(address) > 1 else None
        raise _refuse(_address_host(address), port)
    return _originals["connect"](self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> Any:
    if self.family != getattr(socket, "AF_UNIX", None) and not is_loopback(_address_host(address)):
        port = address[1] if isinstance(address, tuple) and len(address) > 1 else None
        raise _refuse(_address_host(address), port)
    return _originals["connect_ex"](self, address)


def _name(host: Any) -> str:
    if isinstance(host, bytes):
        host = host.decode("idna", "replace")
    return str(host).strip().rstrip(".").lower()


def _local_port(host: Any, port: Any) -> int | None:
    try:
        return _endpoints.get((_name(host), int(port)))
    except (TypeError, ValueError):
        return None


def _guarded_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    local = _local_port(host, port)
    if local is not None:
        return _originals["getaddrinfo"]("127.0.0.1", local, *args, **kwargs)
    if not is_loopback(host):
        raise _refuse(host, port)
    return _originals["getaddrinfo"](host, port, *args, **kwargs)


def _guarded_gethostbyname(host: Any) -> Any:
    if any(name == _name(host) for name, _ in _endpoints):
        return "127.0.0.1"
    if not is_loopback(host):
        raise _refuse(host, None)
    return _originals["gethostbyname"](host)


def _guarded_gethostbyname_ex(host: Any) -> Any:
    if not is_loopback(host):
        raise _refuse(host, None)
    return _originals["gethostbyname_ex"](host)


def _unwrap_botocore(send: Any) -> Any:
    """botocore wraps socket errors in HTTPClientError; surface the guard's own error instead."""

    def guarded_send(self: Any, request: Any) -> Any:
        try:
            return send(self, request)
        except Exception as exc:
            inner = getattr(exc, "kwargs", {}).get("error")
            if isinstance(inner, RealAWSBlockedError):
                raise inner from None
            raise

    return guarded_send


def install() -> None:
    """Allow only loopback traffic from this process (idempotent)."""
    with _lock:
        if _originals:
            return
        from botocore.httpsession import URLLib3Session

        _originals["botocore_send"] = URLLib3Session.send
        URLLib3Session.send = _unwrap_botocore(URLLib3Session.send)  # type: ignore[method-assign]
        _originals.update(
            connect=socket.socket.connect,
            connect_ex=socket.socket.connect_ex,
            getaddrinfo=socket.getaddrinfo,
            gethostbyname=socket.gethostbyname,
            gethostbyname_ex=socket.gethostbyname_ex,
        )
        socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
        socket.getaddrinfo = _guarded_getaddrinfo
        socket.gethostbyname = _guarded_gethostbyname
        socket.gethostbyname_ex = _guarded_gethostbyname_ex


def uninstall() -> None:
    """Restore normal networking (idempotent)."""
    with _lock:
        if not _originals:
            return
        from botocore.httpsession import URLLib3Session

        URLLib3Session.send = _originals["botocore_send"]  # type: ignore[method-assign]
        socket.socket.connect = _originals["connect"]  # type: ignore[method-assign]
        socket.socket.connect_ex = _originals["connect_ex"]  # type: ignore[method-assign]
        socket.getaddrinfo = _originals["getaddrinfo"]
        socket.gethostbyname = _originals["gethostbyname"]
        socket.gethostbyname_ex = _originals["gethostbyname_ex"]
        _originals.clear()


def installed() -> bool:
    """True while the loopback-only guard is active."""
    return bool(_originals)


def blocked_attempts() -> list[str]:
    """Destinations refused since the guard was first installed (most recent last)."""
    return list(_blocked)


def add_local_endpoint(host: str, port: int, local_port: int) -> None:
    """Make ``host:port`` (an AWS endpoint name) resolve to ``127.0.0.1:local_port`` while the guard is on."""
    if not isinstance(host, str) or not host.strip() or " " in host.strip():
        raise InputError(f"add_local_endpoint needs a host name such as 'x.cache.amazonaws.com', got {host!r}.")
    for label, value in (("port", port), ("local_port", local_port)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
            raise InputError(f"add_local_endpoint: {label} must be a TCP port number 1-65535, got {value!r}.")
    with _lock:
        _endpoints[(_name(host), port)] = local_port


def remove_local_endpoint(host: str, port: int) -> None:
    """Forget a name registered with :func:`add_local_endpoint` (unknown names are ignored)."""
    with _lock:
        _endpoints.pop((_name(host), port), None)


def local_endpoints() -> dict[tuple[str, int], int]:
    """The registered ``(host, port) -> local port`` map (a copy)."""
    with _lock:
        return dict(_endpoints)

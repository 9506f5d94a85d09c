"""Small building blocks: the sandbox clock, response display, loopback detection."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stacklab import netguard
from stacklab.clock import EPOCH, SandboxClock
from stacklab.display import show
from stacklab.errors import InputError, RealAWSBlockedError
from stacklab.netguard import is_loopback


def test_clock_moves_only_forward_when_told():
    clock = SandboxClock()
    assert clock.now() == EPOCH
    assert clock.advance(30, minutes=1).isoformat() == "2026-01-15T09:01:30+00:00"
    assert clock.time() == EPOCH.timestamp() + 90
    with pytest.raises(InputError, match="cannot go back"):
        clock.set(EPOCH)
    clock.set(datetime(2026, 2, 1, tzinfo=UTC))
    clock.reset()
    assert clock.now() == EPOCH


@pytest.mark.parametrize("bad", [-1, "10", float("nan")])
def test_clock_rejects_bad_steps(bad):
    with pytest.raises(InputError):
        SandboxClock().advance(bad)


def test_clock_needs_aware_datetimes():
    with pytest.raises(InputError, match="timezone-aware"):
        SandboxClock(datetime(2026, 1, 1))


def test_show_drops_response_metadata_and_formats_dates():
    response = {"Vpc": {"VpcId": "vpc-1", "Created": datetime(2026, 1, 1, tzinfo=UTC)},
                "ResponseMetadata": {"RequestId": "x"}}
    text = repr(show(response))
    assert "ResponseMetadata" not in text and "2026-01-01T00:00:00+00:00" in text
    assert repr(show(response, "Vpc")).startswith('{\n  "Vpc"')
    with pytest.raises(InputError, match="has no Subnet"):
        show(response, "Subnet")


@pytest.mark.parametrize(
    ("host", "expected"),
    [("127.0.0.1", True), ("127.5.5.5", True), ("::1", True), ("localhost", True), (None, True),
     ("10.0.0.1", False), ("s3.amazonaws.com", False), ("169.254.169.254", False), ("8.8.8.8", False)],
)
def test_loopback_detection(host, expected):
    assert is_loopback(host) is expected


def test_local_endpoint_names_resolve_to_the_plane_port_only_while_registered():
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    name = "c1.abc123.0001.use1.cache.amazonaws.com"
    was_installed = netguard.installed()
    netguard.install()
    try:
        netguard.add_local_endpoint(name, 6379, port)
        assert netguard.local_endpoints()[(name, 6379)] == port
        with socket.create_connection((name.upper() + ".", 6379), timeout=2) as conn:
            assert conn.getpeername() == ("127.0.0.1", port)
        assert socket.gethostbyname(name) == "127.0.0.1"
        with pytest.raises(RealAWSBlockedError):
            socket.getaddrinfo(name, 6380)  # another port of the name is not registered
        netguard.remove_local_endpoint(name, 6379)
        with pytest.raises(RealAWSBlockedError):
            socket.getaddrinfo(name, 6379)
    finally:
        netguard.remove_local_endpoint(name, 6379)
        listener.close()
        if not was_installed:
            netguard.uninstall()


@pytest.mark.parametrize(
    "host, port, local, fragment",
    [("", 6379, 1234, "host name"), ("a b", 6379, 1234, "host name"), ("x.aws", 0, 1234, "port"),
     ("x.aws", 6379, 70000, "local_port"), ("x.aws", True, 1234, "port")],
)
def test_local_endpoint_rejects_bad_input(host, port, local, fragment):
    with pytest.raises(InputError, match=fragment):
        netguard.add_local_endpoint(host, port, local)

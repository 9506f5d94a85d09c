"""Serverless Full-Stack, hands-on: the course package.

Every notebook starts with ``import stacklab; stacklab.start()``: a mocked AWS account with fake
credentials, seeded IDs, a controllable clock and a loopback-only network.
"""

from __future__ import annotations

from stacklab.clock import SandboxClock
from stacklab.display import show
from stacklab.errors import InputError, RealAWSBlockedError, SandboxNotStartedError, StackLabError
from stacklab.sandbox import Sandbox, client, current, reset, start, stop

__version__ = "0.1.0"

__all__ = [
    "InputError",
    "RealAWSBlockedError",
    "Sandbox",
    "SandboxNotStartedError",
    "StackLabError",
    "client",
    "clock",
    "reset",
    "current",
    "show",
    "start",
    "stop",
]


def clock() -> SandboxClock:
    """The running sandbox's clock (``stacklab.clock().advance(hours=1)``)."""
    return current().clock

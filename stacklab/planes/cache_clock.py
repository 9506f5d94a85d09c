"""Time for the ElastiCache plane's servers: the wall clock plus how far the sandbox clock was advanced.

Redis (fakeredis) and the memcached stand-in judge key expiry on :func:`server_time`, so a lesson that
advances the sandbox clock (``stacklab.clock().advance(61)``) sees a key set with a 60-second TTL expire,
while real time still passes as usual. A real ``memcached`` process keeps its own clock.
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["ShiftedTime", "clock_offset", "server_time"]


def clock_offset() -> float:
    """Seconds the sandbox clock has been advanced since its start (0 without a sandbox)."""
    from stacklab import sandbox

    if not sandbox.is_running():
        return 0.0
    clock = sandbox.current().clock
    return (clock.now() - clock._start).total_seconds()


def server_time() -> float:
    """The cache servers' current time (Unix seconds)."""
    return time.time() + clock_offset()


class ShiftedTime:
    """A stand-in for the ``time`` module whose ``time()`` is :func:`server_time` (for fakeredis)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def time() -> float:
        return server_time()

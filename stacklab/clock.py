"""The sandbox clock: a controllable time source for the local planes (TTLs, quotas, expiry).

It starts at a fixed instant so lessons print the same times on every run, and moves only when
told to (``advance``) — a lesson can jump an hour ahead to watch a cache entry expire.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from stacklab._validate import require_number
from stacklab.errors import InputError

#: Where every sandbox clock starts (a fixed, documented instant).
EPOCH = datetime(2026, 1, 15, 9, 0, 0, tzinfo=UTC)


class SandboxClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime = EPOCH) -> None:
        self._start = self._check(start)
        self._now = self._start
        self._lock = threading.Lock()

    @staticmethod
    def _check(value: object) -> datetime:
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise InputError(
                f"The clock needs a timezone-aware datetime, got {value!r}; "
                "pass e.g. datetime(2026, 1, 15, 9, 0, tzinfo=timezone.utc)."
            )
        return value.astimezone(UTC)

    def now(self) -> datetime:
        """The current sandbox time (UTC, timezone-aware)."""
        with self._lock:
            return self._now

    def time(self) -> float:
        """The current sandbox time as a Unix timestamp in seconds."""
        return self.now().timestamp()

    def advance(self, seconds: float = 0, *, minutes: float = 0, hours: float = 0, days: float = 0) -> datetime:
        """Move the clock forward and return the new time."""
        for name, value in (("seconds", seconds), ("minutes", minutes), ("hours", hours), ("days", days)):
            require_number(name, value, minimum=0)
        step = timedelta(seconds=seconds, minutes=minutes, hours=hours, days=days)
        with self._lock:
            self._now += step
            return self._now

    def set(self, when: datetime) -> datetime:
        """Jump to ``when`` (never backwards: time in the sandbox only moves forward)."""
        when = self._check(when)
        with self._lock:
            if when < self._now:
                raise InputError(
                    f"The sandbox clock cannot go back from {self._now.isoformat()} to {when.isoformat()}; "
                    "use stacklab.reset() to start again from the beginning."
                )
            self._now = when
            return self._now

    def reset(self) -> None:
        """Go back to the starting instant (used by ``stacklab.reset()``)."""
        with self._lock:
            self._now = self._start

    def __repr__(self) -> str:
        return f"SandboxClock(now={self.now().isoformat()})"

"""Traffic on the sandbox clock: send requests at a steady pace of *simulated* time and tally the answers.

Metrics, alarms, throttles and quotas all depend on *when* requests arrive. :func:`spread` sends
``count`` requests, request ``i`` at ``start + i * every`` seconds on the sandbox clock (the clock is
moved there first; if the previous request already moved it further — a slow handler — the request
goes at once, since sandbox time never goes back), and records the time and HTTP status of each.
Nothing waits for real time, so ten simulated minutes of traffic take as long as the requests do.

``send(i)`` makes request ``i`` and returns what answered it: a plane :class:`~stacklab.planes.http.Response`
(``.status``), a ``requests.Response`` (``.status_code``) or a plain status code (``int``).
The returned :class:`Traffic` prints deterministically and groups statuses per period.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from stacklab._validate import require_number
from stacklab.errors import InputError

__all__ = ["Shot", "Traffic", "spread", "status_of"]

#: Most requests one call of :func:`spread` sends (a lesson cell stays well under its time budget).
MAX_REQUESTS = 10_000


@dataclass(frozen=True)
class Shot:
    """One request: its index, the sandbox time it was sent at, and the status that answered it."""

    index: int
    at: datetime
    status: int


@dataclass
class Traffic:
    """The requests one :func:`spread` sent, oldest first."""

    shots: list[Shot] = field(default_factory=list)

    def counts(self) -> dict[int, int]:
        """How many requests got each status, by status code."""
        return dict(sorted(Counter(s.status for s in self.shots).items()))

    def per_period(self, seconds: float) -> list[tuple[datetime, dict[int, int]]]:
        """Statuses per period of ``seconds`` (periods aligned to the Unix epoch, as CloudWatch aligns them)."""
        require_number("seconds", seconds, minimum=1, maximum=86_400)
        buckets: dict[datetime, Counter] = {}
        for shot in self.shots:
            stamp = shot.at.timestamp()
            start = datetime.fromtimestamp(stamp - stamp % seconds, tz=shot.at.tzinfo)
            buckets.setdefault(start, Counter())[shot.status] += 1
        return [(start, dict(sorted(c.items()))) for start, c in sorted(buckets.items())]

    def summary(self) -> str:
        """One line: how many requests, over which sandbox times, with which statuses."""
        if not self.shots:
            return "0 requests"
        statuses = ", ".join(f"{code} x{n}" for code, n in self.counts().items())
        first, last = self.shots[0].at, self.shots[-1].at
        return (f"{len(self.shots)} requests from {first.strftime('%H:%M:%S')} to {last.strftime('%H:%M:%S')} "
                f"(sandbox clock): {statuses}")

    def __len__(self) -> int:
        return len(self.shots)

    def __repr__(self) -> str:
        return self.summary()


def status_of(answer: Any) -> int:
    """The HTTP status of a plane Response, a ``requests.Response`` or an ``int``."""
    if isinstance(answer, bool):
        raise InputError(f"send(i) returned {answer!r}; return the response (or its status code), not a bool.")
    if isinstance(answer, int):
        status = answer
    else:
        status = getattr(answer, "status", None)
        if not isinstance(status, int):
            status = getattr(answer, "status_code", None)
        if not isinstance(status, int):
            raise InputError(
                f"send(i) returned {type(answer).__name__}, which has no HTTP status; return the response of "
                "gateway.request(...) or requests.get(...), or its status code."
            )
    if not 100 <= status <= 599:
        raise InputError(f"send(i) returned the status {status}, which is not an HTTP status code (100-599).")
    return status


def spread(send: Callable[[int], Any], count: int, *, every: float, start: datetime | None = None) -> Traffic:
    """Send ``count`` requests, request ``i`` at ``start + i * every`` seconds of sandbox time.

    ``start`` defaults to the sandbox clock's current time. The clock is left at the last request's
    time (or later, if the handler moved it).
    """
    from stacklab.sandbox import current

    if not callable(send):
        raise InputError(f"send must be a function send(i) that makes request i, got {send!r}.")
    require_number("count", count, minimum=1, maximum=MAX_REQUESTS, integer=True)
    require_number("every", every, minimum=0, maximum=86_400)
    clock = current().clock
    first = clock.now() if start is None else start
    if start is not None and start < clock.now():
        raise InputError(f"start {start.isoformat()} is before the sandbox clock's time "
                         f"{clock.now().isoformat()}; sandbox time never goes back: leave start out.")
    traffic = Traffic()
    for i in range(int(count)):
        due = first + timedelta(seconds=i * every)
        if due > clock.now():
            clock.set(due)
        at = clock.now()
        traffic.shots.append(Shot(i, at, status_of(send(i))))
    return traffic

"""Traffic on the sandbox clock: requests at a steady pace of simulated time, tallied per status and period."""

from __future__ import annotations

from datetime import timedelta

import pytest

import stacklab
from stacklab.errors import InputError
from stacklab.planes.http import Response
from stacklab.traffic import spread, status_of


class _Requests:
    def __init__(self, code):
        self.status_code = code


@pytest.fixture(autouse=True)
def fresh(box):
    stacklab.reset()


def test_requests_are_spread_on_the_sandbox_clock():
    clock = stacklab.clock()
    start = clock.now()
    seen = []

    def send(i):
        seen.append(clock.now())
        return Response(500 if i % 4 == 3 else 200)

    traffic = spread(send, 8, every=15)
    assert seen == [start + timedelta(seconds=15 * i) for i in range(8)]
    assert clock.now() == start + timedelta(seconds=105)
    assert traffic.counts() == {200: 6, 500: 2}
    assert [s.at for s in traffic.shots] == seen
    assert traffic.per_period(60) == [(start, {200: 3, 500: 1}), (start + timedelta(minutes=1), {200: 3, 500: 1})]
    assert repr(traffic) == "8 requests from 09:00:00 to 09:01:45 (sandbox clock): 200 x6, 500 x2"
    assert len(traffic) == 8


def test_a_slow_request_delays_the_next_but_time_never_goes_back():
    clock = stacklab.clock()
    start = clock.now()

    def send(i):
        if i == 0:
            clock.advance(seconds=25)  # a handler that took 25 s of sandbox time
        return 200

    traffic = spread(send, 3, every=10)
    assert [s.at - start for s in traffic.shots] == [timedelta(0), timedelta(seconds=25), timedelta(seconds=25)]


def test_start_in_the_future_and_status_kinds():
    clock = stacklab.clock()
    later = clock.now() + timedelta(minutes=5)
    traffic = spread(lambda i: [_Requests(404), Response(201), 429][i], 3, every=0, start=later)
    assert traffic.counts() == {201: 1, 404: 1, 429: 1}
    assert clock.now() == later
    assert spread(lambda i: 200, 1, every=1).summary().startswith("1 requests")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"send": "nope", "count": 1, "every": 1}, "send must be a function"),
        ({"send": lambda i: 200, "count": 0, "every": 1}, "count must be at least 1"),
        ({"send": lambda i: 200, "count": 2.5, "every": 1}, "count must be a whole number"),
        ({"send": lambda i: 200, "count": 1, "every": -1}, "every must be at least 0"),
        ({"send": lambda i: "ok", "count": 1, "every": 1}, "has no HTTP status"),
        ({"send": lambda i: 42, "count": 1, "every": 1}, "not an HTTP status code"),
        ({"send": lambda i: True, "count": 1, "every": 1}, "not a bool"),
    ],
)
def test_bad_input(kwargs, message):
    with pytest.raises(InputError, match=message):
        spread(kwargs.pop("send"), **kwargs)


def test_start_in_the_past_and_bad_period():
    clock = stacklab.clock()
    clock.advance(seconds=10)
    with pytest.raises(InputError, match="sandbox time never goes back"):
        spread(lambda i: 200, 1, every=1, start=clock.now() - timedelta(seconds=5))
    with pytest.raises(InputError, match="seconds must be at least 1"):
        spread(lambda i: 200, 1, every=1).per_period(0)
    assert status_of(Response(503)) == 503
    assert spread(lambda i: 200, 1, every=1).summary() != "0 requests"

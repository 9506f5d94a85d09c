"""The event-loop thread the websocket planes run on."""

from __future__ import annotations

import asyncio

import pytest

from stacklab.errors import InputError
from stacklab.planes import loop_thread


def test_a_loop_runs_in_its_named_daemon_thread_and_stops():
    loop, thread = loop_thread.start("stacklab-test-loop", wait_s=2, what="The test loop")
    try:
        assert thread.daemon and thread.name == "stacklab-test-loop" and loop.is_running()

        async def answer() -> int:
            return 42

        assert asyncio.run_coroutine_threadsafe(answer(), loop).result(2) == 42
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(2)
    assert not thread.is_alive()


@pytest.mark.parametrize("kwargs", [{"name": ""}, {"wait_s": 0}, {"what": 3}])
def test_bad_arguments_are_refused(kwargs):
    args = {"name": "x", "wait_s": 1, "what": "The loop"} | kwargs
    with pytest.raises(InputError):
        loop_thread.start(args.pop("name"), **args)

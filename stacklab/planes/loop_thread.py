"""An asyncio event loop running in a daemon thread: what the websocket servers of the planes live on."""

from __future__ import annotations

import asyncio
import threading

from stacklab._validate import require_number, require_str
from stacklab.errors import StackLabError


def start(name: str, *, wait_s: float, what: str) -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
    """Start a new event loop in a daemon thread called ``name``; wait up to ``wait_s`` until it runs.

    ``what`` names the loop in the error raised when it does not start in time.
    """
    require_str("name", name)
    require_str("what", what)
    require_number("wait_s", wait_s, minimum=0.01)
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_forever()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    if not ready.wait(wait_s):
        raise StackLabError(f"{what} did not start within {wait_s:g} s; run stacklab.reset() and try again.")
    return loop, thread

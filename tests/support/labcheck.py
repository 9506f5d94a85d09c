"""Helpers shared by the lab-check tests: run a check in a given namespace, timed, never a traceback."""

from __future__ import annotations

import gc
import time

from stacklab.checks import CheckResult, check

#: A check must answer well under the 3 s cell budget, even on a loaded CI machine.
MAX_SECONDS = 2.0


def run(check_id: str, **namespace) -> CheckResult:
    """Run ``check_id`` with ``namespace`` as the notebook's variables; assert it is fast and clean."""
    # The cyclic collector is paused while timing: late in a full test session the process holds every
    # earlier test's moto state, and a full collection there (seconds) says nothing of a learner's kernel.
    gc.disable()
    try:
        started = time.perf_counter()
        result = check(check_id, namespace=namespace)
        elapsed = time.perf_counter() - started
    finally:
        gc.enable()
    assert elapsed < MAX_SECONDS, f"{check_id} took {elapsed:.2f} s"
    for text in (result.text(), result._repr_html_()):
        assert "Traceback" not in text and "could not run" not in text, text
    return result


def failed(check_id: str, **namespace) -> str:
    """Run a check that must fail with a hint; return its message."""
    result = run(check_id, **namespace)
    assert not result, result.text()
    assert result.hint, "every failure carries a hint"
    return result.message

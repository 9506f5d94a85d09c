"""Shared fixtures of the unit tests."""

from __future__ import annotations

import pytest

import stacklab


@pytest.fixture(scope="module")
def box():
    """A running sandbox for a whole test module (stopped afterwards)."""
    stacklab.start()
    yield stacklab.current()
    stacklab.stop()

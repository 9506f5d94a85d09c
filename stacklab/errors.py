"""The package's own errors: every public function raises these, with a message that says what to do."""

from __future__ import annotations


class StackLabError(Exception):
    """Base error of the course package. The message says what was wrong and what to do."""


class InputError(StackLabError, ValueError):
    """A public function was called with an argument it cannot use."""


class RealAWSBlockedError(StackLabError):
    """Something tried to leave this machine (real AWS or any non-loopback address) from the sandbox."""


class SandboxNotStartedError(StackLabError):
    """A function needs the sandbox, but ``stacklab.start()`` has not been run in this kernel."""

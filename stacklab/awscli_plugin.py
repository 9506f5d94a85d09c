"""AWS CLI v1 plugin loaded in the sandbox's AWS config: ``AWS_ENDPOINT_URL`` wins over the CLI's built-in
endpoint overrides.

AWS CLI v1 pins some services' endpoints in us-east-1 (``rds``, ``sqs``, ``docdb``, ``neptune`` go to
``https://rds.amazonaws.com`` and so on) and then ignores ``AWS_ENDPOINT_URL``, so ``!aws rds ...`` would
try to leave the machine (and be refused by the network guard). With this plugin the sandbox's endpoint is
used, as it is for every other service. An explicit ``--endpoint-url`` still wins.
"""

from __future__ import annotations

import os
from typing import Any


def _endpoint_from_env(parsed_globals: Any = None, **_: Any) -> None:
    url = os.environ.get("AWS_ENDPOINT_URL")
    if url and parsed_globals is not None and getattr(parsed_globals, "endpoint_url", None) is None:
        parsed_globals.endpoint_url = url


def awscli_initialize(event_hooks: Any) -> None:
    """The AWS CLI's plugin entry point."""
    event_hooks.register_first("before-building-argument-table-parser", _endpoint_from_env)

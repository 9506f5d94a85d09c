"""Readable, deterministic views of boto3 responses for notebooks."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from stacklab.errors import InputError


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if hasattr(value, "read"):
        return "<stream>"
    return value


class Shown:
    """A response rendered as indented JSON, without the per-request ResponseMetadata."""

    def __init__(self, value: Any, keys: tuple[str, ...] = ()) -> None:
        data = _plain(value)
        if keys:
            if not isinstance(data, dict):
                raise InputError("keys= only works on a dict response; drop keys= to show the whole value.")
            missing = [k for k in keys if k not in data]
            if missing:
                raise InputError(f"The response has no {', '.join(missing)}; it has {', '.join(sorted(data))}.")
            data = {k: data[k] for k in keys}
        self.data = data
        self.text = json.dumps(data, indent=2, sort_keys=False, default=str, ensure_ascii=False)

    def __repr__(self) -> str:
        return self.text


def show(response: Any, *keys: str) -> Shown:
    """Show a boto3 response (or any JSON-like value) as readable JSON, minus ResponseMetadata.

    ``show(resp, "Vpc")`` keeps only the named top-level keys.
    """
    for key in keys:
        if not isinstance(key, str):
            raise InputError(f"Keys to show must be strings, got {key!r}.")
    return Shown(response, tuple(keys))

"""The labs' checks, one module per lab (``labNN.py``), imported by :func:`stacklab.checks.check`.

Helpers here turn the usual wrong values (a whole response instead of its ID, a string instead of
a list, a typo'd prefix) into a :class:`~stacklab.checks.CheckFailed` that names the mistake.
"""

from __future__ import annotations

from typing import Any

from stacklab.checks import CheckFailed


def aws(service: str) -> Any:
    """A boto3 client for ``service`` in the running sandbox."""
    from stacklab.sandbox import client

    return client(service)


def _kind(value: Any) -> str:
    text = repr(value)
    if len(text) > 50:
        text = text[:47] + "..."
    return f"{type(value).__name__} {text}"


def expect_name(
    name: str, value: Any, what: str, example: str, refuse: tuple[str, ...] = ("arn:",)
) -> str:
    """``value`` stripped if it is a non-empty name string; else CheckFailed naming the mistake.

    ``what`` names the thing ("bucket name"), ``example`` is a right assignment's value
    (``"'lab02-site'"``); values starting with one of ``refuse`` (ARNs, URLs) are refused too.
    """
    if isinstance(value, dict):
        raise CheckFailed(
            f"`{name}` holds a whole dict (a boto3 response?), not the {what}.",
            f"Set it to the name itself: `{name} = {example}`.",
        )
    if not isinstance(value, str) or not value.strip():
        raise CheckFailed(
            f"`{name}` should be the {what} (a string); it holds {type(value).__name__} {value!r}.",
            f"Set it to the name itself: `{name} = {example}`.",
        )
    text = value.strip()
    if text.startswith(refuse):
        raise CheckFailed(
            f"`{name}` is {text!r}: a URL or ARN, not the {what}; the check wants the bare name.",
            f"Use just the name: `{name} = {example}`.",
        )
    return text


def expect_id(name: str, value: Any, prefix: str, what: str, source: str) -> str:
    """``value`` if it is a string starting with ``prefix``; else CheckFailed naming the mistake.

    ``what`` names the resource ("VPC ID"), ``source`` says where to get it
    (``"ec2.create_vpc(...)['Vpc']['VpcId']"``).
    """
    if isinstance(value, dict):
        raise CheckFailed(
            f"`{name}` holds a whole dict (a boto3 response or part of one), not the {what}.",
            f"Take just the {what} out of it: `{name} = {source}`.",
        )
    if not isinstance(value, str):
        raise CheckFailed(
            f"`{name}` should be the {what}, a string starting with {prefix!r}; it holds {_kind(value)}.",
            f"Set it from the response: `{name} = {source}`.",
        )
    if not value.strip().startswith(prefix):
        raise CheckFailed(
            f"`{name}` is {value!r}, which is not a {what} (those start with {prefix!r}).",
            f"Set it from the response: `{name} = {source}`.",
        )
    return value.strip()


def expect_id_list(name: str, value: Any, prefix: str, what: str, count: int, source: str, why: str = "") -> list[str]:
    """``value`` as a list of ``count`` distinct ID strings starting with ``prefix``; else CheckFailed.

    ``why`` (a sentence) is added when the list has the wrong length.
    """
    if isinstance(value, str):
        raise CheckFailed(
            f"`{name}` is a single string {value!r}; it should be a list of {count} {what}s.",
            f"Put them in a list: `{name} = [first_id, second_id]`.",
        )
    if not isinstance(value, list | tuple):
        raise CheckFailed(
            f"`{name}` should be a list of {count} {what}s; it holds {_kind(value)}.",
            f"Build it from the responses, e.g. `{name} = [{source}, ...]`.",
        )
    items = [expect_id(f"{name}[{i}]", v, prefix, what, source) for i, v in enumerate(value)]
    if len(items) != count:
        noun = "one" if len(items) == 1 else str(len(items))
        raise CheckFailed(
            f"`{name}` holds {noun} {what}{'' if len(items) == 1 else 's'}; the exercise asks for exactly "
            f"{count}.{' ' + why if why else ''}",
            f"Create the missing one(s) and list all {count}: `{name} = [first_id, second_id]`.",
        )
    if len(set(items)) != len(items):
        raise CheckFailed(
            f"`{name}` lists the same {what} twice ({items[0]!r}); it needs {count} different ones.",
            "Create a second one (in another Availability Zone) and put its ID in the list.",
        )
    return items


def tag(tags: list[dict[str, str]] | None, key: str) -> str | None:
    """The value of tag ``key`` in an AWS ``Tags`` list, or None."""
    for item in tags or []:
        if item.get("Key") == key:
            return item.get("Value")
    return None


def joined(items: list[str]) -> str:
    """``a + b + c`` for short lists in messages."""
    return " + ".join(items) if items else "none"

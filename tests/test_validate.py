"""The shared argument validators: each names the argument and what to pass."""

from __future__ import annotations

import pytest

from stacklab._validate import require_bool, require_choice, require_number, require_str
from stacklab.errors import InputError, StackLabError


def test_valid_values_pass_through():
    assert require_str("name", "web") == "web"
    assert require_bool("flag", False) is False
    assert require_number("n", 3, minimum=0, maximum=5, integer=True) == 3
    assert require_choice("kind", "a", ["a", "b"]) == "a"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: require_str("name", 3), "name must be a string, got int 3"),
        (lambda: require_str("name", "  "), "name must not be empty"),
        (lambda: require_bool("flag", 1), "flag must be True or False"),
        (lambda: require_number("n", True), "n must be a number"),
        (lambda: require_number("n", 1.5, integer=True), "n must be a whole number"),
        (lambda: require_number("n", -1, minimum=0), "n must be at least 0"),
        (lambda: require_number("n", 9, maximum=5), "n must be at most 5"),
        (lambda: require_number("n", float("nan")), "got NaN"),
        (lambda: require_choice("kind", "c", ["a", "b"]), "kind must be one of 'a', 'b'; got 'c'"),
    ],
)
def test_bad_values_raise_the_packages_error(call, message):
    with pytest.raises(InputError, match=message) as exc:
        call()
    assert isinstance(exc.value, StackLabError) and isinstance(exc.value, ValueError)

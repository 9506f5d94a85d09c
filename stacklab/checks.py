"""Lab checks: run ``check("01.vpc")`` after an exercise cell to get ✅ or ❌ with the exact mistake.

A lab's checks live in ``stacklab/labchecks/labNN.py`` and register themselves with
:func:`lab_check`. A check function receives the notebook variables it ``needs`` as keyword
arguments and returns a sentence saying what it verified, or raises :class:`CheckFailed` naming
the mistake and a hint. :func:`check` never shows a traceback: an undefined variable, a leftover
``...``, an AWS error or a bug in the check all become a ❌ result that says what to do.
Every outcome is recorded in the learner's progress file (:mod:`stacklab.progress`).
"""

from __future__ import annotations

import difflib
import html
import importlib
import keyword
import pkgutil
import re
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stacklab._validate import require_str
from stacklab.errors import InputError, RealAWSBlockedError, SandboxNotStartedError, StackLabError

__all__ = ["CheckFailed", "CheckResult", "LabCheck", "check", "lab_check", "list_checks"]

_ID_RE = re.compile(r"(\d{2})\.([a-z0-9][a-z0-9_-]*)")
_LESSON_RE = re.compile(r"\d{2}")
_START_CELL = "run the `import stacklab; stacklab.start()` cell at the top of the notebook first"


class CheckFailed(Exception):
    """Raised by a check function: ``mistake`` says exactly what is wrong, ``hint`` how to fix it."""

    def __init__(self, mistake: str, hint: str = "") -> None:
        super().__init__(mistake)
        self.mistake = mistake
        self.hint = hint


@dataclass(frozen=True)
class LabCheck:
    """One registered check (what :func:`list_checks` returns)."""

    check_id: str
    lesson: str
    needs: tuple[str, ...]
    title: str
    exercise: int | None
    func: Callable[..., str] = field(repr=False, compare=False)
    needs_sandbox: bool = True


_REGISTRY: dict[str, LabCheck] = {}


def lab_check(
    check_id: str,
    lesson: str,
    needs: tuple[str, ...] = (),
    title: str = "",
    *,
    exercise: int | None = None,
    needs_sandbox: bool = True,
) -> Callable[[Callable[..., str]], Callable[..., str]]:
    """Register the decorated function as the check ``check_id`` ("NN.name") of lesson ``lesson``.

    The function gets each name in ``needs`` as a keyword argument and returns what it verified,
    or raises :class:`CheckFailed`. ``exercise`` is the lab exercise the check follows (used to
    tell the learner which cell defines a missing variable).
    """
    require_str("check_id", check_id)
    require_str("lesson", lesson)
    match = _ID_RE.fullmatch(check_id)
    if not match:
        raise InputError(
            f"check_id must look like 'NN.name' (two-digit lesson, dot, lower-case name), got {check_id!r}."
        )
    if match.group(1) != lesson:
        raise InputError(
            f"check_id {check_id!r} starts with {match.group(1)!r} but lesson is {lesson!r}: make them agree."
        )
    if isinstance(needs, str) or not isinstance(needs, tuple):
        raise InputError(f"needs must be a tuple of variable names, e.g. ('vpc_id',), got {needs!r}.")
    for name in needs:
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise InputError(f"needs holds {name!r}, which is not a Python variable name.")
    if not isinstance(title, str):
        raise InputError(f"title must be a string, got {type(title).__name__}.")
    if exercise is not None and (isinstance(exercise, bool) or not isinstance(exercise, int) or exercise < 1):
        raise InputError(f"exercise must be a positive whole number or None, got {exercise!r}.")

    def register(func: Callable[..., str]) -> Callable[..., str]:
        if not callable(func):
            raise InputError(f"@lab_check decorates a function, got {func!r}.")
        old = _REGISTRY.get(check_id)
        same = old is not None and (old.func.__module__, old.func.__qualname__) == (
            func.__module__,
            func.__qualname__,
        )
        if old is not None and not same:
            raise InputError(
                f"Two checks use the id {check_id!r} ({old.func.__module__}.{old.func.__qualname__} and "
                f"{func.__module__}.{func.__qualname__}): give one of them another id."
            )
        _REGISTRY[check_id] = LabCheck(check_id, lesson, needs, title or check_id, exercise, func, needs_sandbox)
        return func

    return register


# ---------------------------------------------------------------------------------------- results


def _code_html(text: str) -> str:
    """Escape ``text`` for HTML and show `backticked` parts as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text, quote=False))


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: truthy when it passed; renders as HTML and as plain text."""

    check_id: str
    title: str
    passed: bool
    message: str
    hint: str = ""
    warnings: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.passed

    @property
    def icon(self) -> str:
        """✅ or ❌."""
        return "✅" if self.passed else "❌"

    def text(self) -> str:
        """The plain-text rendering (deterministic)."""
        lines = [f"{self.icon} {self.check_id} — {self.message}"]
        if self.hint:
            lines.append(f"   Hint: {self.hint}")
        lines.extend(f"   ⚠ {w}" for w in self.warnings)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()

    __str__ = text

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text())

    def _repr_html_(self) -> str:
        colour, background = ("#1a7f37", "#eefbf1") if self.passed else ("#cf222e", "#fff0f0")
        verdict = "passed" if self.passed else "not yet"
        parts = [
            f'<div class="stacklab-check" style="border-left:6px solid {colour};background:{background};'
            'color:#1f2328;padding:8px 12px;margin:4px 0;border-radius:4px;font-family:sans-serif;line-height:1.45">',
            f'<div><span style="font-size:1.2em">{self.icon}</span> <strong>{html.escape(self.title)}</strong> '
            f'<span style="color:#57606a">({html.escape(self.check_id)}: {verdict})</span></div>',
            f"<div>{_code_html(self.message)}</div>",
        ]
        if self.hint:
            parts.append(f'<div style="margin-top:4px"><strong>Hint:</strong> {_code_html(self.hint)}</div>')
        for warning in self.warnings:
            parts.append(f'<div style="margin-top:4px;color:#9a6700">⚠ {_code_html(warning)}</div>')
        parts.append("</div>")
        return "".join(parts)


# ------------------------------------------------------------------------------------ discovery


def _load_lesson(lesson: str) -> None:
    """Import ``stacklab.labchecks.labNN`` if it exists (its checks register on import)."""
    name = f"stacklab.labchecks.lab{lesson}"
    if name in sys.modules:
        return
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise


def _lessons_with_checks() -> list[str]:
    import stacklab.labchecks as package

    found = []
    for info in pkgutil.iter_modules(package.__path__):
        match = re.fullmatch(r"lab(\d{2})", info.name)
        if match:
            found.append(match.group(1))
    return sorted(found)


def _ordered(items: list[LabCheck]) -> list[LabCheck]:
    order = {cid: i for i, cid in enumerate(_REGISTRY)}
    return sorted(items, key=lambda c: (c.lesson, c.exercise or 0, order[c.check_id]))


def list_checks(lesson: str | None = None) -> list[LabCheck]:
    """The registered checks, in lesson and exercise order; only lesson ``lesson`` ("01") if given."""
    if lesson is None:
        for found in _lessons_with_checks():
            _load_lesson(found)
        return _ordered(list(_REGISTRY.values()))
    require_str("lesson", lesson)
    if not _LESSON_RE.fullmatch(lesson):
        raise InputError(f"lesson must be a two-digit lesson number as a string, e.g. '01'; got {lesson!r}.")
    _load_lesson(lesson)
    return _ordered([c for c in _REGISTRY.values() if c.lesson == lesson])


def _lookup(check_id: Any) -> LabCheck:
    if not isinstance(check_id, str) or not check_id.strip():
        raise InputError(
            f"check() needs a check id such as '01.vpc' (a string), got {check_id!r}: "
            "copy the id from the lab's check cell."
        )
    check_id = check_id.strip()
    prefix = check_id.split(".", 1)[0]
    if not _LESSON_RE.fullmatch(prefix):
        raise InputError(
            f"Unknown check {check_id!r}: check ids start with the two-digit lesson number, e.g. '01.vpc'. "
            "Copy the id from the lab's check cell."
        )
    _load_lesson(prefix)
    found = _REGISTRY.get(check_id)
    if found is not None:
        return found
    known = [c.check_id for c in _ordered([c for c in _REGISTRY.values() if c.lesson == prefix])]
    if not known:
        lessons = ", ".join(_lessons_with_checks()) or "none"
        raise InputError(
            f"Unknown check {check_id!r}: lesson {prefix} has no lab checks (lessons with checks: {lessons})."
        )
    close = difflib.get_close_matches(check_id, known, n=1)
    maybe = f" Did you mean {close[0]!r}?" if close else ""
    raise InputError(f"Unknown check {check_id!r}.{maybe} Lesson {prefix}'s checks are: {', '.join(known)}.")


# ---------------------------------------------------------------------------------------- running


def _notebook_namespace(depth: int) -> dict[str, Any]:
    """The kernel's user namespace in IPython, else the globals of the code that called check()."""
    ipython = sys.modules.get("IPython")
    if ipython is not None:
        shell = ipython.get_ipython()
        if shell is not None and isinstance(getattr(shell, "user_ns", None), dict):
            return shell.user_ns
    return sys._getframe(depth + 1).f_globals


def _has_ellipsis(value: Any) -> bool:
    if value is Ellipsis:
        return True
    if isinstance(value, list | tuple | set | frozenset):
        return any(v is Ellipsis for v in value)
    if isinstance(value, dict):
        return any(v is Ellipsis for v in value.values())
    return False


def _defining_exercise(lab: LabCheck, name: str) -> int | None:
    """The first exercise of the lesson whose check needs ``name`` (that is where it is set)."""
    numbers = [c.exercise for c in _REGISTRY.values() if c.lesson == lab.lesson and name in c.needs and c.exercise]
    return min(numbers) if numbers else lab.exercise


def _where(lab: LabCheck, name: str) -> str:
    number = _defining_exercise(lab, name)
    return f"the exercise cell above (Exercise {number})" if number else "the exercise cell above"


_NOT_FOUND_WORDS = {
    "InvalidVpcID.NotFound": "no VPC has the id {ref}",
    "InvalidSubnetID.NotFound": "no subnet has the id {ref}",
    "InvalidInstanceID.NotFound": "no EC2 instance has the id {ref}",
    "InvalidAMIID.NotFound": "no AMI has the id {ref}",
    "InvalidLaunchTemplateId.NotFound": "no launch template has the id {ref}",
    "InvalidLaunchTemplateName.NotFoundException": "no launch template has the name {ref}",
    "InvalidGroup.NotFound": "no security group has the id {ref}",
    "LoadBalancerNotFound": "no load balancer has that ARN",
    "TargetGroupNotFound": "no target group has that ARN",
    "ListenerNotFound": "no listener has that ARN",
    "DBInstanceNotFound": "no DB instance has that identifier",
    "DBSubnetGroupNotFoundFault": "no DB subnet group has that name",
    "NoSuchBucket": "no bucket has that name",
    "ResourceNotFoundException": "the resource does not exist",
}


def _client_error_words(exc: Any) -> tuple[str, str]:
    from botocore import xform_name

    error = exc.response.get("Error", {}) if isinstance(getattr(exc, "response", None), dict) else {}
    code = error.get("Code", "Error")
    raw = (error.get("Message") or str(exc)).strip()
    operation = xform_name(getattr(exc, "operation_name", "") or "the call")
    template = _NOT_FOUND_WORDS.get(code)
    words = raw
    if template is not None:
        quoted = re.search(r"'([^']+)'", raw)
        if "{ref}" not in template or quoted:
            words = template.format(ref=repr(quoted.group(1)) if quoted else "")
    mistake = f"{operation} says {code}: {words}"
    hint = (
        "Check the value the exercise asked you to set: print it and compare it with what the create_… call "
        "returned. If you restarted the kernel or ran stacklab.reset() since, run the exercise cells again "
        "(the sandbox forgets everything)."
    )
    return mistake, hint


def _evaluate(lab: LabCheck, namespace: dict[str, Any]) -> tuple[bool, str, str]:
    """Run one check; returns (passed, message, hint). Never raises for the learner's mistakes."""
    values: dict[str, Any] = {}
    for name in lab.needs:
        if name not in namespace:
            return (
                False,
                (f"`{name}` is not defined yet — run {_where(lab, name)} first; it must set `{name}`."),
                "Run the cells from the top in order (Run ▸ Run All Above Selected Cell) if you restarted the kernel.",
            )
        value = namespace[name]
        if _has_ellipsis(value):
            return (
                False,
                (
                    f"`{name}` still holds `...` — replace the `...` in {_where(lab, name)} with your answer "
                    f"and run that cell again."
                ),
                f"`...` (Ellipsis) marks the place for your code; `{name}` must hold the real value.",
            )
        values[name] = value
    if lab.needs_sandbox:
        from stacklab.sandbox import is_running

        if not is_running():
            return (
                False,
                f"The sandbox is not running — {_START_CELL}.",
                ("After restarting the kernel, run the notebook's cells again from the top."),
            )
    try:
        outcome = lab.func(**values)
    except CheckFailed as failed:
        return False, failed.mistake, failed.hint
    except SandboxNotStartedError:
        return False, f"The sandbox is not running — {_START_CELL}.", ""
    except RealAWSBlockedError as exc:
        return False, f"The check was stopped from leaving this machine: {exc}", ""
    except Exception as exc:  # noqa: BLE001 - every failure becomes a readable result
        from botocore.exceptions import ClientError, ParamValidationError

        if isinstance(exc, ClientError):
            mistake, hint = _client_error_words(exc)
            return False, mistake, hint
        if isinstance(exc, ParamValidationError):
            detail = " ".join(str(exc.kwargs.get("report", exc)).split())
            return (
                False,
                f"boto3 refused a value before sending it: {detail}",
                ("IDs and names are strings such as 'vpc-0abc…'; take them from the create_… response."),
            )
        if isinstance(exc, StackLabError):
            return False, str(exc), ""
        return (
            False,
            f"the check could not run: {type(exc).__name__}: {exc}",
            ("This looks like a problem in the course, not in your answer: please report it with this message."),
        )
    if not isinstance(outcome, str) or not outcome.strip():
        return (
            False,
            (f"the check could not run: {lab.check_id} returned {outcome!r} instead of a description."),
            "This is a problem in the course, not in your answer: please report it.",
        )
    return True, outcome.strip(), ""


def _record(lab: LabCheck, passed: bool, message: str) -> tuple[str, ...]:
    """Record the outcome; any failure becomes a warning line instead of an exception."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            progress = importlib.import_module("stacklab.progress")
            progress.record_check(lab.check_id, lab.lesson, passed, message)
        return tuple(f"progress: {w.message}" for w in caught)
    except Exception as exc:  # noqa: BLE001 - recording must never break a check
        return (f"Your result was not saved to your progress file ({type(exc).__name__}: {exc}).",)


def check(check_id: str, namespace: dict | None = None) -> CheckResult:
    """Run lab check ``check_id`` (e.g. "01.vpc") against the notebook's variables and the sandbox.

    ``namespace`` defaults to the notebook's variables (IPython's user namespace, else the caller's
    globals); tests pass a dict. Returns a :class:`CheckResult` (✅/❌) and records it in progress.
    """
    lab = _lookup(check_id)
    if namespace is None:
        namespace = _notebook_namespace(1)
    elif not isinstance(namespace, dict):
        raise InputError(f"namespace must be a dict of variable names to values, got {type(namespace).__name__}.")
    passed, message, hint = _evaluate(lab, namespace)
    notes = _record(lab, passed, message)
    return CheckResult(lab.check_id, lab.title, passed, message, hint, notes)

"""The lab-check framework: every learner mistake becomes a readable ❌, never a traceback."""

from __future__ import annotations

import importlib
import json
import sys
import types

import pytest

import stacklab
from stacklab import checks
from stacklab.checks import CheckFailed, CheckResult, check, lab_check, list_checks
from stacklab.errors import InputError

sandbox_module = importlib.import_module("stacklab.sandbox")
DEMO_IDS = (
    "14.demo-vpc",
    "14.demo-answer",
    "14.demo-offline",
    "14.demo-bug",
    "14.demo-none",
    "14.demo-client",
)


@pytest.fixture(scope="module", autouse=True)
def demo_checks():
    """A few checks in lesson 14 (exam practice, which has no lab) that exercise every path of check()."""

    @lab_check("14.demo-vpc", "14", needs=("vpc_id",), title="Demo · the VPC", exercise=1)
    def demo_vpc(vpc_id):
        vpc = stacklab.client("ec2").describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]
        return f"VPC {vpc['VpcId']} has CIDR {vpc['CidrBlock']}"

    @lab_check("14.demo-answer", "14", needs=("vpc_id", "answer"), title="Demo · <the answer>", exercise=2)
    def demo_answer(vpc_id, answer):
        if answer != 42:
            raise CheckFailed(f"`answer` is {answer!r}, not 42.", "Ask <Deep Thought> & wait.")
        return "`answer` is 42."

    @lab_check("14.demo-offline", "14", needs=("answer",), needs_sandbox=False)
    def demo_offline(answer):
        return f"answer is {answer}"

    @lab_check("14.demo-bug", "14", needs_sandbox=False)
    def demo_bug():
        return 1 / 0

    @lab_check("14.demo-none", "14", needs_sandbox=False)
    def demo_none():
        return None

    @lab_check("14.demo-client", "14", needs_sandbox=False)
    def demo_client():
        stacklab.client("ec2")
        return "unreachable without a sandbox"

    yield
    for check_id in DEMO_IDS:
        checks._REGISTRY.pop(check_id, None)


@pytest.fixture(autouse=True)
def progress_file(tmp_path, monkeypatch):
    path = tmp_path / "progress.json"
    monkeypatch.setenv("STACKLAB_PROGRESS", str(path))
    return path


def _no_traceback(result: CheckResult) -> None:
    for text in (result.text(), result._repr_html_()):
        assert "Traceback" not in text and 'File "' not in text


# ------------------------------------------------------------------------------ learner mistakes


def test_an_undefined_variable_names_the_exercise_that_sets_it(box):
    result = check("14.demo-answer", namespace={})
    assert not result and result.passed is False
    assert result.message == (
        "`vpc_id` is not defined yet — run the exercise cell above (Exercise 1) first; it must set `vpc_id`."
    )
    later = check("14.demo-answer", namespace={"vpc_id": "vpc-1"})
    assert "`answer` is not defined yet" in later.message and "(Exercise 2)" in later.message
    _no_traceback(result)


@pytest.mark.parametrize("value", [..., [..., ...], {"a": ...}])
def test_a_leftover_ellipsis_says_to_replace_it(box, value):
    result = check("14.demo-vpc", namespace={"vpc_id": value})
    assert not result
    assert result.message.startswith("`vpc_id` still holds `...` — replace the `...`")
    assert "(Exercise 1)" in result.message


def test_check_failed_shows_the_mistake_and_the_hint_exactly(box):
    result = check("14.demo-answer", namespace={"vpc_id": "vpc-1", "answer": 41})
    assert not result
    assert result.message == "`answer` is 41, not 42."
    assert result.hint == "Ask <Deep Thought> & wait."
    assert result.text() == "❌ 14.demo-answer — `answer` is 41, not 42.\n   Hint: Ask <Deep Thought> & wait."


def test_an_aws_error_is_told_in_plain_words(box):
    result = check("14.demo-vpc", namespace={"vpc_id": "vpc-123"})
    assert not result
    assert result.message == "describe_vpcs says InvalidVpcID.NotFound: no VPC has the id 'vpc-123'"
    assert "create_" in result.hint and "stacklab.reset()" in result.hint
    _no_traceback(result)


def test_a_wrong_id_type_is_told_in_plain_words(box):
    result = check("14.demo-vpc", namespace={"vpc_id": 123})
    assert not result
    assert result.message.startswith("boto3 refused a value before sending it: ")
    assert "VpcIds[0]" in result.message and "123" in result.message
    _no_traceback(result)


def test_a_bug_in_the_check_says_the_check_could_not_run(box):
    result = check("14.demo-bug", namespace={})
    assert result.message == "the check could not run: ZeroDivisionError: division by zero"
    assert "report" in result.hint
    nothing = check("14.demo-none", namespace={})
    assert not nothing and nothing.message.startswith("the check could not run:")


def test_sandbox_not_started_says_to_run_the_start_cell(monkeypatch):
    monkeypatch.setattr(sandbox_module, "_current", None)
    result = check("14.demo-vpc", namespace={"vpc_id": "vpc-1"})
    assert not result
    assert "sandbox is not running" in result.message and "stacklab.start()" in result.message
    inside = check("14.demo-client", namespace={})  # the check itself hits SandboxNotStartedError
    assert not inside and "stacklab.start()" in inside.message
    _no_traceback(inside)


# ------------------------------------------------------------------------------------- passing


def test_a_pass_says_what_was_verified_and_renders_deterministically(box):
    stacklab.reset()
    vpc_id = stacklab.client("ec2").create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    first = check("14.demo-vpc", namespace={"vpc_id": vpc_id})
    second = check("14.demo-vpc", namespace={"vpc_id": vpc_id})
    assert first and first.passed is True
    assert first.text() == f"✅ 14.demo-vpc — VPC {vpc_id} has CIDR 10.0.0.0/16"
    assert repr(first) == str(first) == first.text()
    assert first.text() == second.text() and first._repr_html_() == second._repr_html_()
    page = first._repr_html_()
    assert "✅" in page and "Demo · the VPC" in page and "10.0.0.0/16" in page


def test_html_escapes_and_shows_code_and_hint():
    result = CheckResult("14.x", "A <title>", False, "`x` is <b>", "Try `y` & see", ("careful",))
    page = result._repr_html_()
    assert "A &lt;title&gt;" in page and "<code>x</code> is &lt;b&gt;" in page
    assert "<strong>Hint:</strong> Try <code>y</code> &amp; see" in page and "⚠ careful" in page
    assert "❌" in page and "not yet" in page
    assert result.text() == "❌ 14.x — `x` is <b>\n   Hint: Try `y` & see\n   ⚠ careful"


def test_ipython_pretty_printing_uses_the_text():
    result = CheckResult("14.x", "t", True, "fine")
    printed = []
    result._repr_pretty_(types.SimpleNamespace(text=printed.append), False)
    assert printed == ["✅ 14.x — fine"]


# ------------------------------------------------------------------------------------- namespace

answer = 42  # read by the default namespace test below


def test_without_a_namespace_the_callers_globals_are_used(monkeypatch):
    outside = types.ModuleType("IPython")
    outside.get_ipython = lambda: None  # no kernel, even if another test made an InteractiveShell
    monkeypatch.setitem(sys.modules, "IPython", outside)
    result = check("14.demo-offline")
    assert result and result.message == "answer is 42"


def test_in_a_kernel_the_ipython_user_namespace_is_used(monkeypatch):
    shell = types.SimpleNamespace(user_ns={"answer": "from the kernel"})
    fake = types.ModuleType("IPython")
    fake.get_ipython = lambda: shell
    monkeypatch.setitem(sys.modules, "IPython", fake)
    assert check("14.demo-offline").message == "answer is from the kernel"


def test_namespace_must_be_a_dict():
    with pytest.raises(InputError, match="namespace must be a dict"):
        check("14.demo-offline", namespace=[("answer", 1)])


# -------------------------------------------------------------------------------------- progress


def test_every_outcome_is_recorded_in_the_progress_file(box, progress_file):
    check("14.demo-answer", namespace={"vpc_id": "vpc-1", "answer": 41})
    doc = json.loads(progress_file.read_text())
    entry = doc["checks"]["14.demo-answer"]
    assert entry["lesson"] == "14" and entry["last_result"] == "fail" and entry["passed"] is False
    assert entry["detail"] == "`answer` is 41, not 42."
    ok = check("14.demo-answer", namespace={"vpc_id": "vpc-1", "answer": 42})
    assert ok and not ok.warnings
    entry = json.loads(progress_file.read_text())["checks"]["14.demo-answer"]
    assert entry["passed"] is True and entry["last_result"] == "pass" and entry["attempts"] == 2


def test_a_progress_failure_is_a_warning_line_not_an_error(monkeypatch):
    progress = importlib.import_module("stacklab.progress")

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(progress, "record_check", broken)
    result = check("14.demo-offline", namespace={"answer": 1})
    assert result.passed
    assert result.warnings == ("Your result was not saved to your progress file (OSError: disk full).",)
    assert result.text().endswith("\n   ⚠ Your result was not saved to your progress file (OSError: disk full).")


def test_an_unwritable_progress_path_is_a_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("STACKLAB_PROGRESS", str(tmp_path))  # a directory, not a file
    result = check("14.demo-offline", namespace={"answer": 1})
    assert result.passed and len(result.warnings) == 1 and "not saved" in result.warnings[0]


def test_progress_warnings_are_shown_in_the_result(progress_file):
    progress_file.write_text("{not json")
    result = check("14.demo-offline", namespace={"answer": 1})
    assert result.passed
    assert any(w.startswith("progress: ") and "could not be read" in w for w in result.warnings)


# ---------------------------------------------------------------------------------- the registry


def test_unknown_ids_list_the_lessons_checks():
    with pytest.raises(InputError, match=r"Did you mean '01\.vpc'\?.*01\.vpc, 01\.subnets, 01\.alb"):
        check("01.vcp")
    with pytest.raises(InputError, match="14.demo-vpc"):
        check("14.nope")
    with pytest.raises(InputError, match="lesson 99 has no lab checks"):
        check("99.anything")
    with pytest.raises(InputError, match="two-digit lesson number"):
        check("vpc")
    with pytest.raises(InputError, match="'01.vpc'"):
        check(1)


def test_lab_check_rejects_bad_registrations():
    def f():
        return "ok"

    with pytest.raises(InputError, match="'NN.name'"):
        lab_check("vpc", "01")(f)
    with pytest.raises(InputError, match="make them agree"):
        lab_check("02.vpc", "01")
    with pytest.raises(InputError, match="tuple of variable names"):
        lab_check("14.x", "14", needs="vpc_id")
    with pytest.raises(InputError, match="not a Python variable name"):
        lab_check("14.x", "14", needs=("vpc id",))
    with pytest.raises(InputError, match="exercise must be"):
        lab_check("14.x", "14", exercise=0)
    with pytest.raises(InputError, match="Two checks use the id '14.demo-bug'"):
        lab_check("14.demo-bug", "14")(f)


def test_list_checks_in_lesson_and_exercise_order():
    ids = [c.check_id for c in list_checks("01")]
    assert ids == ["01.vpc", "01.subnets", "01.alb", "01.asg", "01.db", "01.count", "01.cost"]
    assert [c.exercise for c in list_checks("01")] == [1, 2, 3, 4, 5, 6, 7]
    everything = [c.check_id for c in list_checks()]
    assert everything.index("01.cost") < everything.index("14.demo-answer")
    assert set(DEMO_IDS) <= set(everything) and set(ids) <= set(everything)
    assert list_checks("99") == []
    with pytest.raises(InputError, match="two-digit"):
        list_checks("1")
    first = list_checks("01")[0]
    assert first.lesson == "01" and first.needs == ("vpc_id",) and first.title.startswith("Exercise 1")

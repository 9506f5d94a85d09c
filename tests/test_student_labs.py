"""Learner copies: solutions stripped, outputs cleared, committed copies current."""

from __future__ import annotations

import nbformat
import pytest

from stacklab import student_labs
from stacklab.errors import InputError, StackLabError


def test_solution_block_is_replaced_keeping_comments_and_indentation():
    source = (
        "# Exercise 1\nec2 = boto3.client('ec2')\n"
        "    ### BEGIN SOLUTION\n    vpc_id = make()\n    ### END SOLUTION\nprint(1)"
    )
    out = student_labs.strip_solution(source)
    assert "make()" not in out
    assert "    # YOUR CODE HERE\n    ...\nprint(1)" in out
    assert out.startswith("# Exercise 1\nec2 = boto3.client('ec2')\n")


def test_unbalanced_markers_and_bad_input_are_reported():
    with pytest.raises(StackLabError, match="Unbalanced"):
        student_labs.strip_solution("### BEGIN SOLUTION\nx = 1\n")
    with pytest.raises(InputError):
        student_labs.strip_solution(42)  # type: ignore[arg-type]


def test_learner_copy_clears_outputs_and_leaves_the_solution_untouched():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n")
    cell.outputs = [nbformat.v4.new_output("stream", text="hi")]
    cell.execution_count = 3
    nb.cells.append(cell)
    copy = student_labs.learner_copy(nb)
    assert copy["cells"][0]["outputs"] == [] and copy["cells"][0]["execution_count"] is None
    assert "x = 1" not in copy["cells"][0]["source"]
    assert nb.cells[0].source.startswith("### BEGIN")


def test_committed_learner_copies_are_current():
    stale = student_labs.generate(check_only=True)
    assert not stale, f"run `python -m stacklab student-labs`: stale {stale}"


def _learner_copies():
    return sorted(student_labs.learner_path(p) for p in (student_labs.ROOT / "labs" / "solutions").glob("*_lab.ipynb"))


@pytest.mark.parametrize("copy", _learner_copies(), ids=lambda p: p.name)
def test_checks_in_an_unanswered_learner_copy_name_the_mistake_without_tracebacks(copy):
    from stacklab.notebook_runner import run_notebook

    result = run_notebook(copy)
    check_cells = [c for c in result.notebook.cells if c.cell_type == "code" and "check(" in c.source]
    assert check_cells, "a lab without check cells"
    for cell in check_cells:
        kinds = [o.get("output_type") for o in cell.outputs]
        assert "error" not in kinds, f"raw traceback from: {cell.source}"
        text = "".join(str(o.get("data", {}).get("text/plain", "")) + str(o.get("text", "")) for o in cell.outputs)
        assert "❌" in text, f"an unanswered exercise passed its check: {cell.source}"


def test_generate_needs_a_course_root(tmp_path):
    with pytest.raises(InputError, match="no labs/solutions folder"):
        student_labs.generate(tmp_path)

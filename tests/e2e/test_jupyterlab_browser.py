"""Real-browser tests: every lesson opened in JupyterLab and run with "Run All" in headless Chromium.

The test fails on any error or stderr output, on "Error displaying widget", or when a quiz does not
answer a click. Screenshots of a few key cells are saved in build/e2e/ (test artifacts).
Run alone with ``make e2e``; ``make test`` runs them too.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.browser_lab import ARTIFACTS, CHROMIUM_ARGS, chromium_path, jupyterlab, shutdown_kernels

from stacklab.notebook_runner import ROOT

LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
#: Lessons whose first figure output is photographed (a diagram, a plot) besides every quiz.
FIGURE_SHOTS = ("01", "06", "09")
RUN_ALL_TIMEOUT_S = 120
WIDGET_TIMEOUT_MS = 30_000
RETRY_AFTER_S = 10
#: Tracebacks and anything written to stderr (JupyterLab renders both with the stderr MIME type).
ERROR_OUTPUTS = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is installed by `make test` setup")


@pytest.fixture(scope="module")
def lab_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with jupyterlab(tmp_path_factory.mktemp("jupyterlab")) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    path = chromium_path()
    if path is None:
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            pytest.fail("Chromium is missing although setup runs as root: run `bash tools/setup.sh` again.")
        pytest.skip("no system Chromium: install it (sudo apt-get install -y chromium) to run the browser tests")
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _run_all(page: object) -> None:
    page.get_by_role("menuitem", name="Edit", exact=True).click()
    page.locator("li[data-command='editmenu:clear-all']").click()
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.locator("li[data-command='runmenu:run-all']").click()


def _wait_until_done(page: object, lesson: str) -> None:
    deadline = time.monotonic() + RUN_ALL_TIMEOUT_S
    script = """() => {
        const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
            .map(p => p.textContent.trim());
        const status = document.querySelector('.jp-Notebook-ExecutionIndicator')?.getAttribute('data-status');
        const failed = document.querySelectorAll(ERRORS).length > 0;
        return {prompts, status, failed};
    }""".replace("ERRORS", repr(ERROR_OUTPUTS))
    started = time.monotonic()
    while True:
        state = page.evaluate(script)
        prompts = state["prompts"]
        untouched = all(p.strip() in ("[ ]:", "[]:") for p in prompts)
        if untouched and state["status"] == "idle" and time.monotonic() - started > RETRY_AFTER_S:
            # "Run All" reached JupyterLab before the kernel was connected and did nothing: ask again
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.locator("li[data-command='runmenu:run-all']").click()
            started = time.monotonic()
        done = prompts and all(p.startswith("[") and p[1:-2].strip().isdigit() for p in prompts)
        if (done or state["failed"]) and state["status"] == "idle":
            return  # finished, or stopped at an error (reported by the caller)
        if time.monotonic() > deadline:
            pending = sum(1 for p in prompts if not p[1:-2].strip().isdigit())
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"{lesson}-timeout.png"), full_page=True)
            raise AssertionError(f"{lesson}: Run All did not finish in {RUN_ALL_TIMEOUT_S} s ({pending} cells pending)")
        time.sleep(0.5)


def _answer_quiz_by_click(page: object, lesson: str) -> object:
    # JupyterLab renders cells (and widget views) as they scroll into view: go to the quiz first
    page.locator(".jp-Notebook .jp-CodeCell").last.scroll_into_view_if_needed()
    quiz = page.locator(".jp-OutputArea-output").filter(has_text="Check answer").last
    try:
        quiz.wait_for(state="visible", timeout=WIDGET_TIMEOUT_MS)
    except playwright_api.TimeoutError:
        raise AssertionError(f"{lesson}: the quiz widget did not render") from None
    quiz.scroll_into_view_if_needed()
    button = quiz.get_by_role("button", name="Check answer").first
    first_question = button.locator("xpath=..")  # the question's box: stem, options, button, feedback
    options = first_question.locator("input[type=radio], input[type=checkbox]")
    assert options.count() >= 2, f"{lesson}: the first quiz question shows no options"
    options.first.check()
    button.click()
    feedback = first_question.locator(".widget-html").last
    deadline = time.monotonic() + 15
    while not feedback.inner_text().strip():
        if time.monotonic() > deadline:
            raise AssertionError(f"{lesson}: the quiz did not answer a click on 'Check answer'")
        time.sleep(0.2)
    return first_question


@pytest.mark.parametrize("notebook", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_runs_all_in_jupyterlab(notebook: Path, lab_url: str, browser: object) -> None:
    lesson = notebook.stem
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        # a workspace of its own, reset: only this notebook is open (no tab restored from an earlier lesson)
        page.goto(f"{lab_url}/lab/workspaces/{lesson}/tree/notebooks/{notebook.name}?reset", timeout=60_000)
        page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=60_000)
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
        _run_all(page)
        _wait_until_done(page, lesson)

        errors = page.locator(ERROR_OUTPUTS)
        assert errors.count() == 0, f"{lesson}: error output in the browser:\n" + "\n---\n".join(
            errors.nth(i).inner_text()[:1500] for i in range(min(errors.count(), 3))
        )
        broken = page.get_by_text("Error displaying widget")
        assert broken.count() == 0, f"{lesson}: {broken.count()} widget(s) failed to display"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        if "quiz(" in notebook.read_text():
            answered = _answer_quiz_by_click(page, lesson)
            answered.screenshot(path=str(ARTIFACTS / f"{lesson}-quiz.png"))
        if lesson[:2] in FIGURE_SHOTS:
            figures = page.locator(".jp-OutputArea-output img")
            try:
                figures.first.wait_for(state="attached", timeout=WIDGET_TIMEOUT_MS)
            except playwright_api.TimeoutError:
                raise AssertionError(f"{lesson}: no figure rendered in the browser") from None
            figures.first.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / f"{lesson}-figure.png"))
    finally:
        page.close()
        shutdown_kernels(lab_url)

"""The dashboard in a real headless Chromium (Debian's /usr/bin/chromium) driven by Playwright,
against the app served by a real uvicorn on a free 127.0.0.1 port: log in, start a run of a
pipeline with a manual approval from its page, watch the log stream show the build's line,
press Approve, see the run succeed.

With FLOWPLAN_SCREENSHOTS=1 the test also saves docs/screenshots/pipelines.png, pipeline.png and
run-approval.png (the README shows them); normal runs leave those files alone.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from web_app import serve
from web_workspace import PASSWORDS, web  # noqa: F401  (the fixture)

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="no /usr/bin/chromium (scripts/test installs Debian's "
                                       "chromium package)")


def screenshot(page, name: str) -> None:
    if os.environ.get("FLOWPLAN_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def slow_build(web) -> None:
    """The release pipeline's first step waits a moment before its line, so that the run page is
    open (and streaming) when the line is printed, and a moment after it, so that the page does
    not reload (for the run's next status) before the test has seen the streamed line."""
    import json

    store = web.context.store
    record = store.get_pipeline("release")
    definition = json.loads(json.dumps(record.definition))
    step = definition["stages"]["build"]["tasks"]["compile"]["steps"]["hello"]
    step["run"] = {"$deferred": "sleep 2; echo ${run.variables.greeting} from build > out.txt; "
                                "cat out.txt; sleep 2", "sensitive": False}
    store.register_pipeline("release", definition, record.content_hash + "-slow")


def test_log_in_run_watch_the_log_approve_and_see_it_succeed(web):
    from playwright.sync_api import expect, sync_playwright

    slow_build(web)
    web.start("quick")
    web.wait("quick#1", "succeeded")
    with serve(web.app) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                             args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{base}/pipelines/release")
            expect(page).to_have_url(re.compile(r"/login\?next=%2Fpipelines%2Frelease$"))
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", PASSWORDS["alice"])
            page.click("button[type=submit]")
            expect(page).to_have_url(f"{base}/pipelines/release")
            expect(page.locator("h1")).to_have_text("Pipeline release")

            page.fill("input[name=var_greeting]", "hello from the browser")
            page.get_by_role("button", name="Run", exact=True).click()
            expect(page).to_have_url(f"{base}/runs/release/1")
            hello = page.locator("details[data-step-id]").first
            streamed = hello.locator("pre.log span.live")      # lines the event stream added
            expect(streamed).to_contain_text("hello from the browser from build",
                                             timeout=20_000)

            approve = page.get_by_role("button", name="Approve", exact=True)
            expect(approve).to_be_visible(timeout=20_000)
            expect(page.get_by_role("button", name="Reject", exact=True)).to_be_visible()
            expect(page.locator("#run-status")).to_have_text("waiting")
            screenshot(page, "run-approval.png")
            approve.click()

            expect(page.locator("#run-status")).to_have_text("succeeded", timeout=30_000)
            expect(page.get_by_role("button", name="Approve", exact=True)).to_have_count(0)
            expect(page.locator("text=approve by")).to_contain_text("alice")
            expect(page.locator('pre.log[data-log-for]').filter(has_text="deployed")
                   ).to_have_count(1)

            page.goto(f"{base}/pipelines/release")
            expect(page.locator("table.runs")).to_contain_text("succeeded")
            screenshot(page, "pipeline.png")
            page.goto(f"{base}/")
            expect(page.locator("table.list")).to_contain_text("release")
            screenshot(page, "pipelines.png")
        finally:
            browser.close()
    (decision,) = web.context.store.approvals(web.context.service.get("release#1").id)
    assert (decision.user, decision.decision) == ("alice", "approve")
    run = web.context.service.get("release#1")
    assert (run.status, run.user, run.trigger) == ("succeeded", "alice", "dashboard")


def test_markup_in_a_log_line_stays_text_in_the_browser(web):
    from playwright.sync_api import expect, sync_playwright

    store = web.context.store
    record = store.get_pipeline("quick")
    definition = dict(record.definition)
    definition["stages"] = {"only": {"index": 0, "trigger": "auto", "tasks": {"one": {
        "needs": [], "timeout": None, "retries": 0, "allow_failure": False, "when": None,
        "steps": {"<img src=x onerror=window.pwned=1>": {
            "index": 0, "type": "command", "shell": "bash -e", "env": {}, "timeout": None,
            "outputs": [], "run": "sleep 1; echo '<script>window.pwned=2</script>'"}}}}}}
    store.register_pipeline("quick", definition, record.content_hash + "-markup")
    with serve(web.app) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                             args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(f"{base}/login")
            page.fill("input[name=username]", "bob")
            page.fill("input[name=password]", PASSWORDS["bob"])
            page.click("button[type=submit]")
            ref = web.start("quick", user="bob")
            page.goto(f"{base}/runs/{ref.replace('#', '/')}")
            expect(page.locator("pre.log").first).to_contain_text(
                "<script>window.pwned=2</script>", timeout=20_000)
            expect(page.locator("#run-status")).to_have_text("succeeded", timeout=20_000)
            expect(page.locator("details summary .name").first).to_have_text(
                "<img src=x onerror=window.pwned=1>")
            assert page.evaluate("window.pwned === undefined")
        finally:
            browser.close()

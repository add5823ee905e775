"""The dashboard in headless Chromium (Debian's package, driven by Playwright) against a real server.

Screenshots are kept under pytest's temporary directory (or $LOKILOG_TEST_ARTEFACTS).
"""
from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from tests.conftest import run_lokilog
from tests.serve_helpers import bearer, create_token, make_demo, running_server

playwright_api = pytest.importorskip("playwright.sync_api")
httpx = pytest.importorskip("httpx")

CHROMIUM = os.environ.get("LOKILOG_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

if not shutil.which(CHROMIUM):
    pytest.skip(f"no Chromium at {CHROMIUM} (scripts/test installs Debian's chromium)", allow_module_level=True)


@pytest.fixture(autouse=True)
def _no_thread_leaks():
    """As conftest's, except for the browser driver's executor threads, which live as long as the browser."""
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate()
              if t not in before and t.is_alive() and not t.name.startswith("asyncio_")]
    assert not leaked, f"threads left running: {leaked}"


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory) -> Path:
    chosen = os.environ.get("LOKILOG_TEST_ARTEFACTS")
    path = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    loki = make_demo(tmp_path_factory.mktemp("browser-demo"))
    tokens = {"admin": create_token(loki, "control", "audit", name="admin"), "read": create_token(loki, "read", name="reader")}
    with running_server(loki) as server, playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=FLAGS, timeout=30_000)
        try:
            yield server, tokens, browser
        finally:
            browser.close()


def _open(browser, server, token):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.set_default_timeout(10_000)
    page.goto(f"{server.url}/dashboard/#token={token}")
    page.wait_for_selector('#connection[data-state="live"]')
    return page


def test_the_demo_run_renders_and_the_token_leaves_the_url(site, artefacts):
    server, tokens, browser = site
    page = _open(browser, server, tokens["admin"])
    try:
        page.wait_for_function("document.querySelector('#run-session').textContent === 'session-demo'")
        assert page.text_content("#run-status") == "failed"
        assert page.locator("#tasks tbody tr").count() == 3
        assert page.text_content('#tasks tr[data-task="task-003"] td:nth-child(3)') == "failed"
        page.wait_for_selector("#budgets .bar")
        page.wait_for_function("document.querySelector('#audit-status').textContent.startsWith('Intact')")
        head = httpx.get(f"{server.url}/api/events?limit=1", headers=bearer(tokens["read"])).json()["head_seq"]
        assert page.locator("#event-list tbody tr").count() == head
        assert "token" not in page.url
        page.screenshot(path=str(artefacts / "dashboard-demo.png"), full_page=True)
    finally:
        page.close()


def test_a_new_event_shows_live_after_lokilog_emit(site, artefacts):
    # Shown without a reload, through the SSE tail; how fast is the benchmark's figure
    # (scripts/bench/bench_serve.py: append -> SSE p99), not a timing asserted here.
    server, tokens, browser = site
    page = _open(browser, server, tokens["admin"])
    try:
        done = run_lokilog("emit", "browser-probe", "-s", "hook", "note=hello", loki=server.loki)
        assert done.returncode == 0
        page.wait_for_selector('#event-list tr[data-type="browser-probe"]', timeout=15_000)
        page.fill("#filter-type", "browser-probe")
        assert page.locator("#event-list tbody tr").count() == 1
        page.screenshot(path=str(artefacts / "dashboard-live-event.png"))
    finally:
        page.close()


def _checkpoint(server, tokens, queue: Path, before: str) -> str:
    queue.parent.mkdir(parents=True, exist_ok=True)
    queue.write_text(before)
    made = httpx.post(f"{server.url}/api/checkpoints", json={"message": "browser"}, headers=bearer(tokens["admin"]), timeout=20)
    made.raise_for_status()
    return made.json()["id"]


def _ask_then_confirm(page, checkpoint_id: str, before_confirm=None) -> None:
    row = page.locator(f'#checkpoint-list tr[data-checkpoint="{checkpoint_id}"]')
    row.locator("button.rollback").click()
    confirm = row.locator("button.confirm-rollback")
    confirm.wait_for()
    if before_confirm is not None:
        before_confirm()
    confirm.click()


def test_two_step_rollback_then_undo(site, artefacts):
    server, tokens, browser = site
    queue = server.loki / "queue" / "pending.json"
    checkpoint_id = _checkpoint(server, tokens, queue, '["ready"]\n')
    queue.write_text('["broken"]\n')
    page = _open(browser, server, tokens["admin"])
    try:
        def first_click_only_asks():
            assert queue.read_text() == '["broken"]\n'
            page.screenshot(path=str(artefacts / "dashboard-rollback-confirm.png"))

        _ask_then_confirm(page, checkpoint_id, first_click_only_asks)
        page.wait_for_selector("#undo-banner:not([hidden])")
        assert checkpoint_id in page.text_content("#undo-text")
        assert queue.read_text() == '["ready"]\n'
        page.screenshot(path=str(artefacts / "dashboard-rolled-back.png"))
        page.click("#undo-button")
        page.wait_for_function("document.querySelector('#undo-text').textContent === 'Rollback undone.'")
        assert queue.read_text() == '["broken"]\n'
        page.screenshot(path=str(artefacts / "dashboard-undone.png"))
    finally:
        page.close()


def test_a_read_token_is_refused_a_control_action(site, artefacts):
    server, tokens, browser = site
    queue = server.loki / "queue" / "pending.json"
    checkpoint_id = _checkpoint(server, tokens, queue, '["kept"]\n')
    queue.write_text('["current"]\n')
    page = _open(browser, server, tokens["read"])
    try:
        _ask_then_confirm(page, checkpoint_id)
        page.wait_for_selector("#message:not([hidden])")
        assert "refused (403)" in page.text_content("#message")
        assert queue.read_text() == '["current"]\n'
        assert page.locator("#undo-banner").is_hidden()
        assert page.text_content("#audit-status") == "This token has no audit scope."
        page.screenshot(path=str(artefacts / "dashboard-read-refused.png"))
    finally:
        page.close()


def test_the_page_reconnects_by_itself_and_loses_nothing(site, tmp_path, artefacts):
    from eventlog import FileEventLog

    _, _, browser = site  # one browser per module: the driver allows one sync session at a time
    loki = make_demo(tmp_path)
    token = create_token(loki, "read", name="watcher")
    with running_server(loki) as first:
        page = _open(browser, first, token)
    try:
        # The server is gone; an event is appended while the page cannot hear about it.
        page.wait_for_selector('#connection[data-state="offline"]', timeout=10_000)
        with FileEventLog(loki) as log:
            missed = log.append("while-away", "runner", {"note": "appended while the server was down"}).seq
        with running_server(loki, "--port", str(first.port)):
            page.wait_for_selector(f'#event-list tr[data-seq="{missed}"]', timeout=20_000)
            page.wait_for_selector('#connection[data-state="live"]')
            with FileEventLog(loki) as log:
                after = log.append("after-reconnect", "runner", {}).seq
            page.wait_for_selector(f'#event-list tr[data-seq="{after}"]', timeout=5_000)
            seqs = page.eval_on_selector_all("#event-list tbody tr", "rows => rows.map(r => Number(r.dataset.seq))")
            assert seqs == sorted(seqs, reverse=True) and len(seqs) == len(set(seqs))
            page.screenshot(path=str(artefacts / "dashboard-reconnected.png"))
    finally:
        page.close()

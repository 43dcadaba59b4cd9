"""One real-browser pass: `streamlit run app.py` against `optera sim`, driven by headless chromium.

It covers what AppTest cannot: the real frontend, websockets, dialogs and
keyboard input. Screenshots of every page go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import os
import re

import httpx
import pytest
from browser_kit import (CHROMIUM, DEMO_KEY, chromium, go, metric, new_page, no_exception, running, server_env,
                         shot, slider_thumb, start_sim, start_streamlit, wait_for_text, wait_idle)

from optera.models import MACHINE_TYPES

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed (apt install chromium)"),
]


OPTIMUM_JS = """() => {
    const box = [...document.querySelectorAll('[data-testid="stMarkdownContainer"]')]
        .find(b => b.innerText.includes('for a profit of'));
    return box ? box.innerText : '';
}"""
OPTIMUM_CHANGED_JS = "(old) => { const t = (" + OPTIMUM_JS + ")(); return t !== '' && t !== old; }"


def optimum_text(page) -> str:
    """The optimum's exact profit sentence (the headline figure is rounded: a small step may not move it)."""
    page.wait_for_function(OPTIMUM_JS)
    return page.evaluate(OPTIMUM_JS)


def test_every_page_slider_deploy_and_chat_in_chromium(tmp_path):
    sim, sim_url = start_sim(tmp_path)
    with running(sim):
        app, app_url = start_streamlit("app.py", server_env(tmp_path, sim_url), tmp_path / "app.log")
        with running(app), chromium() as browser:
            before = httpx.get(sim_url + "/machines", headers={"X-Api-Key": DEMO_KEY}, timeout=5).json()
            page = new_page(browser)
            page.goto(app_url)
            page.get_by_role("heading", name="Overview", exact=True).first.wait_for()
            page.locator('[data-testid="stMetric"]').filter(has_text="Energy price").first.wait_for()
            wait_idle(page)
            no_exception(page, "overview")
            assert re.fullmatch(r"\d+\.\d{4}", metric(page, "Energy price"))
            assert "MARA-compatible API at " + sim_url in page.locator('[data-testid="stSidebar"]').inner_text()
            shot(page, "overview")

            # Optimizer: one arrow-key step on the energy slider changes the optimum
            go(page, "Optimizer")
            no_exception(page, "optimizer")
            first = optimum_text(page)
            thumb = slider_thumb(page, "Energy price")
            start_value = float(thumb.get_attribute("aria-valuenow") or thumb.input_value())
            thumb.focus()
            thumb.press("ArrowRight")
            page.wait_for_function(OPTIMUM_CHANGED_JS, arg=first, timeout=30_000)
            wait_idle(page)
            assert float(thumb.get_attribute("aria-valuenow") or thumb.input_value()) == pytest.approx(
                start_value + 0.01)
            no_exception(page, "optimizer after slider")
            shot(page, "optimizer")

            # deploy through the confirmation dialog
            page.get_by_role("button", name=re.compile("Deploy the optimal allocation")).click()
            dialog = page.get_by_role("dialog")
            dialog.get_by_text("Send this allocation to").wait_for()
            shot(page, "optimizer_dialog")
            dialog.get_by_role("button", name="Deploy", exact=True).click()
            wait_for_text(page, re.compile("Deployed and verified"))
            no_exception(page, "optimizer after deploy")

            # Intel
            go(page, "Intel", timeout_ms=60_000)
            page.locator('[data-testid="stMetric"]').first.wait_for()
            no_exception(page, "intel")
            shot(page, "intel")

            # Chat: the built-in analyst answers
            go(page, "Chat")
            no_exception(page, "chat")
            box = page.locator('[data-testid="stChatInput"] textarea')
            box.fill("best allocation")
            box.press("Enter")
            page.wait_for_function(
                "() => document.querySelectorAll('[data-testid=\"stChatMessage\"]').length >= 2")
            wait_idle(page)
            no_exception(page, "chat after question")
            messages = page.locator('[data-testid="stChatMessage"]')
            assert messages.count() == 2  # idle after the chat's st.rerun(), not in the gap before it
            answer = messages.nth(1).inner_text()
            assert "best allocation" in messages.nth(0).inner_text()
            assert len(answer.strip()) > 20 and re.search(r"\d", answer), answer
            shot(page, "chat")

        # the deploy really reached the site, and the app recorded it
        from optera.store import Store

        store = Store(tmp_path / "browser.db")
        deployed = store.deployments()[0]
        assert deployed["result"] == "ok" and deployed["source"] == "app"
        site = httpx.get(sim_url + "/machines", headers={"X-Api-Key": DEMO_KEY}, timeout=5).json()
        assert {n: site[n] for n in MACHINE_TYPES} == deployed["requested"]
        assert {n: site[n] for n in MACHINE_TYPES} != {n: before.get(n, 0) for n in MACHINE_TYPES}
        assert store.latest_snapshot()[0].allocation.to_dict() == deployed["requested"]


def test_deep_link_to_a_page_keeps_sidebar_and_data(tmp_path):
    """A bookmark or a browser reload on /optimizer must show the same app as navigating there."""
    app, url = start_streamlit("app.py", server_env(tmp_path), tmp_path / "app.log")
    with running(app), chromium() as browser:
        page = new_page(browser)
        page.goto(url + "/optimizer")
        page.get_by_role("heading", name="Optimizer", exact=True).first.wait_for()
        page.locator('[data-testid="stMetric"]').filter(has_text="Optimal profit").first.wait_for()
        wait_idle(page)
        shot(page, "optimizer_deep_link")
        sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
        assert "Data source" in sidebar, sidebar
        links = [t.strip() for t in page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()]
        assert [re.sub(r"^\w+\n", "", t).strip() for t in links] == ["Overview", "Optimizer", "Intel", "Chat"], links

"""The analyst's journeys in headless chromium against the running app (issue 10, item 8).

One `optera sim` on a clock file (so a test can make a new price point appear), one
`streamlit run app.py` against it and one browser session serve the journeys, in file
order, as an analyst would work through them: a what-if that holds through a price tick,
a cap and the honest prompt it brings, a deploy the Overview follows, chat answers read
for numbers computed here from the simulator's own prices, and screenshots of every page
at 1,440 and 800 px with a check that nothing is cut. Every wait is on a condition (the
app's run state, the text an action should produce), never a fixed sleep. Numbers are
checked against sums written here from /prices and /inventory, whatever their display
format (see :func:`shows`). Over 350 lines because the journeys share one server and one
session, so they live in one module.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import pytest

from optera.clock import FileClock, utcnow
from optera.mara import MaraClient
from optera.models import MACHINE_TYPES, Inventory
from optera.sim.api import DEMO_ALLOCATION
from optera.store import Store
from optera.vocabulary import LABELS

from browser_kit import (
    CHROMIUM,
    DEMO_KEY,
    chromium,
    go,
    layout_problems,
    metric,
    new_page,
    no_exception,
    running,
    server_env,
    shot,
    sidebar_collapse_frees_room,
    slider_thumb,
    start_sim,
    start_streamlit,
    wait_drawn,
    wait_for_text,
    wait_idle,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed (apt install chromium)"),
]

TICK = timedelta(minutes=5)
PERIODS_PER_DAY = 288  # money is per 5-minute period (OPTERA_PERIOD_MINUTES, unset here)
HEIGHT = 1000
PAGES = ("Overview", "Optimizer", "Intel", "Chat")
WIDTHS = (1440, 800)
SLOW_MS = 60_000  # the first page of a fresh server syncs 90 days of prices first
WHAT_IF = re.compile(r"(energy|hash|token) ([\d,.]+) \(live ([\d,.]+)\)")
# a number as a page or an answer shows it: 1,234 · 2.9654 · $4.1M · -$355k
NUMBER = re.compile(r"(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?\s?([kMBT]?)(?![\w])")
SCALE = {"": 1.0, "k": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}


def shows(text: str, value: float) -> bool:
    """True if `text` shows |value| at the precision it is written with (so '$4.1M' shows 4,123,629)."""
    for whole, frac, suffix in NUMBER.findall(text):
        scale = SCALE[suffix]
        shown = float(whole.replace(",", "") + "." + (frac or "0")) * scale
        half = 0.5 * 10 ** -len(frac) * scale
        if abs(shown - abs(value)) <= half + 1e-9 * abs(value):
            return True
    return False


@dataclass
class Site:
    sim_url: str
    app_url: str
    clock: FileClock
    browser: object

    def api(self, path: str):
        return httpx.get(self.sim_url + path, headers={"X-Api-Key": DEMO_KEY}, timeout=10, trust_env=False).json()

    def latest(self) -> dict:
        return self.api("/prices")[0]

    def inventory(self) -> Inventory:
        return Inventory.from_api(self.api("/inventory"))

    def running(self) -> dict[str, int]:
        machines = self.api("/machines")
        return {n: machines[n] for n in MACHINE_TYPES}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("journeys")
    clock = FileClock(tmp / "clock")
    now = utcnow()
    # an hour behind the wall clock, on the price grid: ticks stay in the past, where the app accepts prices
    start = now.replace(minute=now.minute - now.minute % 5, second=0) - timedelta(hours=1)
    clock.set(start)
    sim, sim_url = start_sim(tmp, clock.path)
    with running(sim):
        # the app has watched the site since two days ago: yesterday's profit is known
        with MaraClient(sim_url, DEMO_KEY) as client:
            Store(tmp / "browser.db").add_snapshot(client.get_status(), fetched_at=now - timedelta(days=2))
        app, app_url = start_streamlit("app.py", server_env(tmp, sim_url), tmp / "app.log")
        with running(app), chromium() as browser:
            yield Site(sim_url, app_url, clock, browser)


@pytest.fixture(scope="module")
def page(site):
    """One analyst's session for every journey, as one would work through them (a fresh session
    costs 3 to 9 s to load here); each journey leaves it at live values with no dialog open."""
    page = new_page(site.browser, width=WIDTHS[0], height=HEIGHT)
    page.goto(site.app_url)
    page.get_by_role("heading", name="Overview", exact=True).first.wait_for(timeout=SLOW_MS)
    page.locator('[data-testid="stMetric"]').first.wait_for(timeout=SLOW_MS)  # after the first sync
    wait_idle(page, SLOW_MS)
    yield page
    page.context.close()


def visit(page, title: str) -> None:
    """Go to a page unless the session is already on it."""
    if not page.get_by_role("heading", name=title, exact=True).count():
        go(page, title, timeout_ms=SLOW_MS)
    wait_idle(page)


def price_tick(page, site: Site) -> dict:
    """A new price point: the simulator's clock moves 5 minutes and the sidebar's Refresh now syncs it."""
    when = site.clock.advance(TICK)
    page.get_by_role("button", name="Refresh now").click()
    page.locator('[data-testid="stSidebar"]').get_by_text(f"Prices as of {when:%Y-%m-%d %H:%M} UTC").wait_for()
    wait_idle(page)
    latest = site.latest()
    assert latest["timestamp"] == when.isoformat()
    return latest


def what_if_line(page) -> str:
    return page.get_by_text(re.compile(r"^Answering at")).inner_text()


def held_and_live(line: str) -> dict[str, tuple[float, float]]:
    """{price: (what-if value, live value)} from the line the Optimizer answers at."""
    return {name: (float(held.replace(",", "")), float(live.replace(",", "")))
            for name, held, live in WHAT_IF.findall(line)}


def slider_value(page, label: str) -> float:
    return float(slider_thumb(page, label).input_value())


def wait_answering_at(page, label: str, value: float) -> None:
    """Wait until the Optimizer answers at `value` for the price labelled `label` (a what-if)."""
    short = label.split()[0].lower()
    page.get_by_text(re.compile(rf"{short} {re.escape(f'{value:,.4f}')} \(live")).wait_for()
    wait_idle(page)


def type_exact(page, label: str, value: float) -> None:
    """Type a what-if into the exact box under a slider."""
    box = page.get_by_label(f"{label}, exact")
    box.fill(f"{value:.4f}")
    box.press("Enter")
    wait_answering_at(page, label, value)


def reset_to_latest(page) -> None:
    page.get_by_role("button", name="Reset to latest").click()
    page.get_by_text(re.compile(r"^Answering at live values")).wait_for()
    wait_idle(page)


def test_a_what_if_at_90_percent_holds_through_a_price_tick(site, page):
    visit(page, "Optimizer")
    no_exception(page, "optimizer")
    assert what_if_line(page).startswith("Answering at live values")
    before = site.latest()

    # energy by keyboard: the slider's end, then one page (a tenth of the range) back
    thumb = slider_thumb(page, "Energy price")
    top = float(thumb.get_attribute("max"))
    thumb.focus()
    thumb.press("End")
    wait_answering_at(page, "Energy price", top)
    thumb.press("PageDown")
    energy = round(0.9 * top, 2)
    wait_answering_at(page, "Energy price", energy)
    # hash typed exactly, at 90% of its slider's range
    hash_top = float(slider_thumb(page, "Hash price").get_attribute("max"))
    hash_ = round(0.9 * hash_top, 4)
    type_exact(page, "Hash price", hash_)
    assert slider_value(page, "Energy price") == pytest.approx(energy)
    assert slider_value(page, "Hash price") == pytest.approx(hash_)
    line = what_if_line(page)
    assert line.startswith("Answering at what-if values") and "token, power limit live" in line, line
    assert held_and_live(line) == {"energy": (energy, round(before["energy_price"], 4)),
                                   "hash": (hash_, round(before["hash_price"], 4))}

    after = price_tick(page, site)
    no_exception(page, "optimizer after a price tick")
    # the what-ifs hold; the live values beside them move; the token price, not pinned, follows
    assert slider_value(page, "Energy price") == pytest.approx(energy)
    assert slider_value(page, "Hash price") == pytest.approx(hash_)
    moved = held_and_live(what_if_line(page))
    assert moved == {"energy": (energy, round(after["energy_price"], 4)),
                     "hash": (hash_, round(after["hash_price"], 4))}, what_if_line(page)
    assert round(after["energy_price"], 4) != round(before["energy_price"], 4)
    assert slider_value(page, "Token price") == pytest.approx(after["token_price"], abs=0.005)

    # and through a page switch
    go(page, "Overview")
    go(page, "Optimizer")
    assert held_and_live(what_if_line(page)) == moved
    assert slider_value(page, "Energy price") == pytest.approx(energy)

    reset_to_latest(page)
    assert slider_value(page, "Energy price") == pytest.approx(after["energy_price"], abs=0.005)


def test_a_cap_the_site_breaks_gets_the_honest_prompt_then_is_cleared_on_the_overview(site, page):
    assert site.running() == DEMO_ALLOCATION, "this journey needs the demo site as it starts (20 ASIC inference)"
    inventory = site.inventory()
    # prices at which only ASIC inference earns: the optimum under a cap of 10 runs exactly 10 of them
    prices = {"Energy price": 2.0, "Hash price": 1.0, "Token price": 2.0}
    energy, hash_, token = prices.values()

    def unit_profit(name: str) -> float:
        spec = inventory[name]
        return spec.hashrate * hash_ + spec.tokens * token - spec.power * energy

    assert [n for n in MACHINE_TYPES if unit_profit(n) > 0] == ["asic_compute"]
    now_profit = sum(DEMO_ALLOCATION[n] * unit_profit(n) for n in MACHINE_TYPES)
    less = now_profit - 10 * unit_profit("asic_compute")
    assert less > 0

    visit(page, "Optimizer")
    for label, value in prices.items():
        type_exact(page, label, value)
    page.get_by_text("Constraints", exact=True).click()
    cap = page.get_by_label("Cap · ASIC inference")
    cap.fill("10")
    cap.press("Enter")
    warning = page.locator('[data-testid="stAlert"]').filter(has_text="less")
    warning.wait_for()
    wait_idle(page)
    no_exception(page, "optimizer with a cap")
    text = warning.inner_text()
    assert "because the current allocation breaks" in text and "ASIC inference" in text, text
    assert shows(text, less), (less, text)
    assert shows(text, less * PERIODS_PER_DAY), (less * PERIODS_PER_DAY, text)  # and per day

    # the dialog says it too, before anything is sent
    page.get_by_role("button", name=re.compile("Deploy the optimal allocation")).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("It earns less because").wait_for()
    wait_idle(page)
    assert "ASIC inference" in dialog.get_by_text("It earns less because").inner_text()
    assert shows(dialog.inner_text(), less)
    dialog.get_by_role("button", name="Cancel").click()
    dialog.wait_for(state="detached")
    wait_idle(page)
    reset_to_latest(page)

    # the saved cap shows on the Overview, which can clear it
    go(page, "Overview")
    notice = page.get_by_text(re.compile("Your caps apply to"))
    assert "ASIC inference" in notice.inner_text()
    page.get_by_role("button", name="Clear caps").click()
    notice.wait_for(state="detached")
    wait_idle(page)
    go(page, "Optimizer")
    assert page.get_by_text(re.compile("Constraints in force")).count() == 0
    assert page.locator('[data-testid="stAlert"]').filter(has_text="because the current allocation breaks").count() == 0
    assert site.running() == DEMO_ALLOCATION  # nothing was sent


def grid_rows(grid) -> dict[str, dict[str, str]]:
    """A table of machine types drawn by st.dataframe (from the grid's accessible table) or st.table, as text
    by type."""
    grid.locator("table tr").nth(len(MACHINE_TYPES)).wait_for(state="attached")  # the grid fills in after the run
    rows = grid.locator("table tr").evaluate_all(
        "rows => rows.map(r => [...r.querySelectorAll('th, td')].map(c => c.innerText.trim()))")
    head, body = rows[0], rows[1:]
    by_label = {cells[0]: dict(zip(head, cells)) for cells in body if cells}
    return {n: by_label[LABELS[n]] for n in MACHINE_TYPES}


def units(rows: dict[str, dict[str, str]], column: str) -> dict[str, int]:
    return {n: int(float(rows[n][column].replace(",", ""))) for n in MACHINE_TYPES}


def test_a_deploy_from_the_optimizer_is_followed_by_the_overview(site, page):
    before = site.running()
    inventory = site.inventory()
    visit(page, "Optimizer")
    assert what_if_line(page).startswith("Answering at live values")
    page.get_by_role("button", name=re.compile("Deploy the optimal allocation")).click()
    dialog = page.get_by_role("dialog")
    # the dialog's body, not only its frame: the text, every row of the change, then the button
    dialog.get_by_text("Power after deploy").wait_for()
    change = grid_rows(dialog.locator('[data-testid="stDataFrame"]'))
    wait_idle(page)
    assert units(change, "Now") == before
    dialog.get_by_role("button", name="Deploy", exact=True).click()
    wait_for_text(page, re.compile("Deployed and verified"))
    no_exception(page, "optimizer after deploy")
    after = site.running()
    assert after == units(change, "After") != before

    go(page, "Overview")
    no_exception(page, "overview after deploy")
    watts = sum(after[n] * inventory[n].power for n in MACHINE_TYPES)
    used = metric(page, "Power used")
    assert shows(used, watts / (1e6 if "MW" in used else 1e3)), (watts, used)
    site_now = page.locator('[data-testid="stTable"]').filter(has_text="Units").first
    assert units(grid_rows(site_now), "Units") == after
    # today's deploy leaves yesterday alone: the demo allocation ran all of it
    made, intervals = yesterday_profit(site, DEMO_ALLOCATION)
    shown = metric(page, "Realized profit, yesterday")
    assert intervals > 0 and shows(shown, made), (made, shown)


def chat(page, question: str) -> str:
    """Ask the chat and return the answer once the run that stored it has finished."""
    messages = page.locator('[data-testid="stChatMessage"]')
    count = messages.count()
    box = page.locator('[data-testid="stChatInput"] textarea')
    box.fill(question)
    box.press("Enter")
    messages.nth(count + 1).wait_for()
    wait_idle(page)
    assert messages.count() == count + 2  # idle after the chat's st.rerun(), not in the gap before it
    assert question in messages.nth(count).inner_text()
    return messages.nth(count + 1).inner_text()


def yesterday_profit(site: Site, allocation: dict[str, int]) -> tuple[float, int]:
    """Profit of `allocation` summed over yesterday's price points (UTC), and their number."""
    inventory = site.inventory()
    today = utcnow().replace(hour=0, minute=0, second=0)
    points = [p for p in site.api("/prices")
              if today - timedelta(days=1) <= datetime.fromisoformat(p["timestamp"]) < today]
    total = sum(allocation[n] * (inventory[n].hashrate * p["hash_price"] + inventory[n].tokens * p["token_price"]
                                 - inventory[n].power * p["energy_price"]) for p in points for n in MACHINE_TYPES)
    return total, len(points)


def test_the_chat_answers_with_the_numbers_of_the_sites_own_prices(site, page):
    """Yesterday's profit (the demo allocation ran all day) and a doubled energy price, from /prices."""
    visit(page, "Chat")
    no_exception(page, "chat")
    made, intervals = yesterday_profit(site, DEMO_ALLOCATION)
    doubled = 2 * site.latest()["energy_price"]
    first = chat(page, "how much did we make yesterday?")
    second = chat(page, "what if energy price doubles?")
    no_exception(page, "chat after two questions")
    assert shows(first, made) and shows(first, intervals), (made, intervals, first)
    assert shows(second, doubled), (doubled, second)


# -- screenshots and narrow screens ------------------------------------------------------------------

# Found by this test on 28 Nov 2026 and left to the layout work of issue 10 (item 7): reported as an
# expected failure while any of them shows; any other problem fails the test.
KNOWN_LAYOUT: set[str] = set()  # a layout problem found and not fixed yet goes here, with its issue
# the tabs whose charts are drawn only when opened; the pages open on the first, a table
CHART_TABS = {"Overview": ("Summary", "Price chart", "Economics chart", "Realized profit per day"),
              "Intel": ("Summary and forecast", "Forecast charts")}


def open_tab(page, name: str, shows: str) -> None:
    """Open a tab that computes on demand and wait until it shows `shows` (a CSS selector) and is idle.

    Wait on the content itself: a chart's element is only a placeholder while plotly's script
    loads on its first use in a session, and an empty page counts as drawn."""
    page.get_by_role("tab", name=name, exact=True).click()
    page.locator(f'[role="tabpanel"]:not([hidden]) {shows}').first.wait_for()
    wait_idle(page)
    wait_drawn(page)


def test_every_page_drawn_at_1440_and_800_px_with_nothing_cut(page):
    """Screenshots of every page at both widths (test-artifacts/screenshots/<page>_<width>.png); no KPI or
    button label cut, no legend over a title or axis labels, and at 800 px the sidebar collapses."""
    problems = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": HEIGHT})
        for title in PAGES:
            visit(page, title)
            no_exception(page, f"{title} at {width} px")
            assert shot(page, f"{title.lower()}_{width}").stat().st_size > 10_000
            problems += [f"{width} px, {title}: {p}" for p in layout_problems(page)]
            for tab in CHART_TABS.get(title, ())[1:]:
                open_tab(page, tab, '[data-testid="stPlotlyChart"] .main-svg')
                no_exception(page, f"{title}, {tab}, at {width} px")
                shot(page, f"{title.lower()}_{tab.split()[0].lower()}_{width}")
                problems += [f"{width} px, {title}, {tab}: {p}" for p in layout_problems(page)]
            if title in CHART_TABS:
                open_tab(page, CHART_TABS[title][0], '[data-testid="stTable"]')  # as the next visit expects it
    if not sidebar_collapse_frees_room(page):  # collapsed, the sidebar gives its room back to the main area
        problems.append("800 px: the collapsed sidebar still takes room")
    new = [p for p in problems if p not in KNOWN_LAYOUT]
    assert not new, "\n".join(new)
    if problems:
        pytest.xfail("known layout problems (issue 10, item 7):\n" + "\n".join(problems))

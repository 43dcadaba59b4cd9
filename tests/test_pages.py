"""Every page driven through streamlit.testing (AppTest), on the embedded simulator."""

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from optera.config import load_settings
from optera.store import Store

TIMEOUT = 60


@pytest.fixture(autouse=True)
def _fresh_caches():
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


def app(page: str | None = None) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metric(at, label):
    for m in at.metric:
        if m.label == label:
            return m
    raise AssertionError(f"no metric {label!r}: {[m.label for m in at.metric]}")


def text_of(at) -> str:
    parts = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success"):
        parts += [getattr(e, "value", "") or "" for e in getattr(at, kind)]
    return "\n".join(map(str, parts))


def test_overview_shows_latest_prices_and_site():
    at = app()
    store = Store(load_settings().db_path)
    now, prev = store.latest_prices(2)
    assert metric(at, "Energy price").value == f"{now.energy_price:.4f}"
    assert metric(at, "Hash price").value == f"{now.hash_price:.4f}"
    assert metric(at, "Token price").value == f"{now.token_price:.4f}"
    assert metric(at, "Energy price").delta == f"{now.energy_price - prev.energy_price:+.4f}"
    assert "Embedded simulator" in text_of(at.sidebar) or "Embedded simulator" in text_of(at)
    assert metric(at, "Power used").value.endswith("kW")
    assert len(at.get("plotly_chart")) >= 2


def test_overview_range_selector_changes_window():
    at = app()
    before = [c for c in at.caption if "price points in range" in c.value][0].value
    at.segmented_control[0].set_value("24 h").run()
    after = [c for c in at.caption if "price points in range" in c.value][0].value
    assert not at.exception
    assert before != after and after.startswith("288 ")


def test_overview_failing_source_keeps_cached_data(monkeypatch):
    at = app()
    shown = metric(at, "Energy price").value
    monkeypatch.setenv("MARA_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("MARA_API_KEY", "do-not-show-me")
    st.cache_resource.clear()
    at.sidebar.button(key="refresh_now").click().run()
    assert not at.exception
    assert any("The data source failed" in e.value for e in at.error)
    assert metric(at, "Energy price").value == shown
    assert "do-not-show-me" not in text_of(at) + text_of(at.sidebar)


def test_optimizer_slider_moves_result():
    at = app("views/optimizer.py")
    first = metric(at, "Optimal profit per period").value
    at.slider(key="keep_opt_energy_price").set_value(0.0).run()
    assert not at.exception
    second = metric(at, "Optimal profit per period").value
    assert first != second
    # at zero energy cost everything that earns runs: the power limit binds
    assert any("power limit" in c.value.lower() for c in at.caption)


def test_optimizer_table_matches_hand_calculation():
    at = app("views/optimizer.py")
    at.slider(key="keep_opt_energy_price").set_value(0.5).run()
    at.slider(key="keep_opt_hash_price").set_value(2.0).run()
    at.slider(key="keep_opt_token_price").set_value(1.0).run()
    table = at.dataframe[0].value
    from optera.models import DEFAULT_INVENTORY, MACHINE_TYPES
    profit = 0.0
    for name, units in zip(MACHINE_TYPES, table["Optimal units"]):
        s = DEFAULT_INVENTORY[name]
        profit += units * (s.hashrate * 2.0 + s.tokens * 1.0 - s.power * 0.5)
    assert metric(at, "Optimal profit per period").value == f"{profit:,.2f}"


def test_optimizer_impossible_constraints_message():
    at = app("views/optimizer.py")
    at.number_input(key="keep_lock_asic_compute").set_value(500).run()
    assert not at.exception
    assert any("No allocation satisfies" in e.value for e in at.error)


def test_optimizer_manual_editor_validates_and_repairs():
    at = app("views/optimizer.py")
    at.number_input(key="keep_manual_asic_compute").set_value(100).run()
    assert any("exceeds" in w.value for w in at.warning)
    [b for b in at.button if b.label == "Repair"][0].click().run()
    assert not at.exception
    assert not any("exceeds" in w.value for w in at.warning)
    assert at.number_input(key="keep_manual_asic_compute").value <= 66


def test_widget_values_survive_page_switch():
    at = app("views/optimizer.py")
    at.slider(key="keep_opt_energy_price").set_value(1.23).run()
    at.switch_page("views/overview.py").run()
    at.switch_page("views/optimizer.py").run()
    assert at.slider(key="keep_opt_energy_price").value == pytest.approx(1.23)


def test_chat_answers_and_history_survives_rerun():
    at = app("views/chat.py")
    at.chat_input[0].set_value("what is the best allocation?").run()
    assert not at.exception
    assert len(at.chat_message) >= 2
    assert at.chat_message[0].name == "user"
    at.run()
    assert len(at.chat_message) >= 2
    [b for b in at.button if b.label == "Clear history"][0].click().run()
    assert len(at.chat_message) == 0


def test_intel_page_renders():
    at = app("views/intel.py")
    assert not at.exception
    assert len(at.get("plotly_chart")) >= 3


def test_malformed_source_url_shows_a_banner(monkeypatch):
    monkeypatch.setenv("MARA_API_URL", "http://[::1")
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    assert "MARA_API_URL" in text_of(at) and "http:// or https:// URL" in text_of(at)


def test_optimizer_lock_above_cap_is_a_message_and_the_page_stays_usable():
    at = app("views/optimizer.py")
    at.number_input(key="keep_cap_gpu_compute").set_value(2).run()
    at.number_input(key="keep_lock_gpu_compute").set_value(5).run()
    assert not at.exception
    assert any("Check the constraints" in e.value and "cap" in e.value for e in at.error)
    # the manual editor and history are still there
    assert at.number_input(key="keep_manual_gpu_compute") is not None
    assert any(s.value == "Deployment history" for s in at.subheader)


def test_forecast_preset_lands_on_the_optimizer_sliders():
    at = app("views/intel.py")
    [b for b in at.button if b.label.startswith("Use the 1-hour forecast")][0].click().run()
    assert not at.exception
    preset = at.session_state["forecast_preset"]
    assert set(preset) == {"energy_price", "hash_price", "token_price"}
    at.switch_page("views/optimizer.py").run()
    for name, value in preset.items():
        assert at.slider(key=f"keep_opt_{name}").value == pytest.approx(value)

"""The LLM agent end to end: the real openai client against a local Chat Completions fake."""

from __future__ import annotations

import copy
import json
import re
import socket
from datetime import datetime, timedelta

import pandas as pd
import pytest
from chat_site import hand_profit, prices_in, read_every

from optera.chat.llm import MAX_TOOL_ROUNDS, LLMAgent, no_deploy_note, phrase_brief, safe_markdown
from optera.chat.tools import TOOL_NAMES, Toolbox
from optera.clock import ManualClock
from optera.config import Secret, Settings
from optera.mara import MaraClient
from optera.models import Allocation
from optera.service import Service
from optera.sim.api import DEMO_KEY, Simulator
from optera.store import Store
from optera.sync import sync
from tests.fake_openai import FakeOpenAI

KEY = "sk-test-VERYSECRET-0123456789abcdef"
NOW = datetime(2025, 6, 22, 12, 0)
RUNNING = {"air_miners": 20, "hydro_miners": 10, "gpu_compute": 4}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A store synced from the simulator, with a known current allocation."""
    tmp = tmp_path_factory.mktemp("llm")
    sim = Simulator(now=lambda: NOW, history_days=1)
    client = MaraClient("http://simulator.local", DEMO_KEY, transport=sim.transport())
    store = Store(tmp / "llm.db")
    client.set_allocation(Allocation.from_counts(RUNNING))
    read_every(store, NOW - timedelta(days=1), NOW, RUNNING)  # a day of status reads for the ledger
    assert sync(client, store).ok  # its read is the newest status
    return sim, client, store, tmp


@pytest.fixture()
def fake():
    with FakeOpenAI() as server:
        yield server


def make_agent(site, fake, **kwargs) -> LLMAgent:
    sim, client, store, tmp = site
    settings = Settings(openai_api_key=Secret(KEY), openai_base_url=fake.base_url, llm_model="fake-model",
                        db_path=tmp / "llm.db")
    return LLMAgent(settings, Toolbox(Service(settings, client=client, store=store), clock=ManualClock(NOW)),
                    **kwargs)


def run(agent: LLMAgent, history, question: str) -> str:
    chunks = list(agent.stream(history, question))
    assert all(isinstance(c, str) for c in chunks)
    return "".join(chunks)


def tool_messages(request) -> list[dict]:
    return [m for m in request["body"]["messages"] if m["role"] == "tool"]


def test_plain_text_answer_streams_and_sends_the_contract(site, fake):
    fake.push({"text": "Prices look steady today.", "chunks": 4})
    agent = make_agent(site, fake)
    chunks = list(agent.stream([], "how are prices?"))
    assert "".join(chunks) == "Prices look steady today."
    assert len(chunks) >= 2  # really streamed, not one blob
    (req,) = fake.requests
    body = req["body"]
    assert req["path"] == "/v1/chat/completions"
    assert body["model"] == "fake-model" and body["stream"] is True and body["temperature"] == 0.2
    assert {t["function"]["name"] for t in body["tools"]} == set(TOOL_NAMES)
    assert req["headers"]["authorization"] == f"Bearer {KEY}"
    system = body["messages"][0]
    assert system["role"] == "system"
    assert "tool" in system["content"] and "propose_deploy" in system["content"]
    assert body["messages"][-1] == {"role": "user", "content": "how are prices?"}
    assert agent.tool_calls == [] and agent.proposal is None and agent.rounds == 0


def test_history_is_sent_and_not_mutated(site, fake):
    fake.push({"text": "ok"})
    history = [{"role": "user", "content": "status?", "tools": []},
               {"role": "assistant", "content": "All fine.", "tools": [{"name": "get_status"}]}]
    before = copy.deepcopy(history)
    run(make_agent(site, fake), history, "and now?")
    sent = fake.requests[0]["body"]["messages"]
    assert sent[1:] == [{"role": "user", "content": "status?"}, {"role": "assistant", "content": "All fine."},
                        {"role": "user", "content": "and now?"}]
    assert history == before


def test_one_tool_round_feeds_the_tool_result_back(site, fake):
    sim, client, store, _ = site
    fake.push({"tool_calls": [{"name": "get_status", "arguments": "{}"}]},
              {"text": "You run 20 air miners.", "chunks": 2})
    agent = make_agent(site, fake)
    out = run(agent, [], "status?")
    assert out.strip() == "You run 20 air miners."
    assert agent.rounds == 1
    assert [c["name"] for c in agent.tool_calls] == ["get_status"]
    result = agent.tool_calls[0]["result"]
    status = client.get_status()
    assert result["allocation"] == status.allocation.to_dict()
    assert result["profit"] == pytest.approx(status.total_revenue - status.total_power_cost)
    second = fake.requests[1]["body"]["messages"]
    assistant = [m for m in second if m["role"] == "assistant" and m.get("tool_calls")]
    assert assistant[0]["tool_calls"][0]["function"] == {"name": "get_status", "arguments": "{}"}
    (tool_msg,) = tool_messages(fake.requests[1])
    assert tool_msg["tool_call_id"] == assistant[0]["tool_calls"][0]["id"]
    assert json.loads(tool_msg["content"])["allocation"] == status.allocation.to_dict()


def test_two_tool_rounds_with_arguments_split_over_chunks(site, fake):
    sim, client, store, _ = site
    fake.push({"tool_calls": [{"name": "get_prices", "arguments": json.dumps({"hours": 2})}], "chunks": 5},
              {"tool_calls": [{"name": "explain_allocation", "arguments": "{}"}]},
              {"text": "Done."})
    agent = make_agent(site, fake)
    out = run(agent, [], "prices over 2 hours, and explain")
    assert out.endswith("Done.")
    assert agent.rounds == 2 and len(fake.requests) == 3
    prices_call, explain_call = agent.tool_calls
    assert prices_call["arguments"] == {"hours": 2}
    frame = store.price_history()
    last = frame.index[-1]
    window = frame[frame.index > last - pd.Timedelta(hours=2)]  # two hours of 5-minute intervals, the newest last
    assert prices_call["result"]["points"] == len(window) == 24
    assert prices_call["result"]["energy_price"]["max"] == pytest.approx(window["energy_price"].max())
    latest = store.latest_prices(1)[0]
    expected = (20 * 1000 + 10 * 5000) * latest.hash_price + 4 * 1000 * latest.token_price \
        - (20 * 3500 + 10 * 5000 + 4 * 5000) * latest.energy_price
    assert explain_call["result"]["profit"] == pytest.approx(expected)
    assert len(tool_messages(fake.requests[2])) == 2


def test_round_limit_stops_with_a_message(site, fake):
    fake.push(*[{"tool_calls": [{"name": "get_status", "arguments": "{}"}]}] * (MAX_TOOL_ROUNDS + 1))
    agent = make_agent(site, fake)
    out = run(agent, [], "loop forever")
    assert f"stopped after {MAX_TOOL_ROUNDS} rounds" in out
    assert agent.rounds == MAX_TOOL_ROUNDS
    assert len(fake.requests) == MAX_TOOL_ROUNDS + 1
    assert len(agent.tool_calls) == MAX_TOOL_ROUNDS


def test_bad_key_401(site, fake):
    fake.push({"status": 401, "message": f"Incorrect API key provided: {KEY}"})
    history = [{"role": "user", "content": "hi"}]
    agent = make_agent(site, fake)
    out = run(agent, history, "status?")
    assert "rejected the API key" in out
    assert KEY not in out and KEY[:12] not in out
    assert history == [{"role": "user", "content": "hi"}]
    assert len(fake.requests) == 1  # 401 is not retried


def test_rate_limited_429(site, fake):
    fake.push({"status": 429, "message": "slow down"}, {"status": 429, "message": "slow down"})
    agent = make_agent(site, fake)
    out = run(agent, [], "status?")
    assert "429" in out and "rate-limiting" in out
    assert KEY not in out


def test_slow_server_times_out(site, fake):
    fake.push({"delay": 1.5, "text": "too late"}, {"delay": 1.5, "text": "too late"})
    agent = make_agent(site, fake, timeout=0.3)
    out = run(agent, [], "status?")
    assert "did not answer within 0.3 s" in out
    assert KEY not in out


def test_connection_refused(site):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sim, client, store, tmp = site
    settings = Settings(openai_api_key=Secret(KEY), openai_base_url=f"http://127.0.0.1:{port}/v1",
                        llm_model="m", db_path=tmp / "llm.db")
    agent = LLMAgent(settings, Toolbox(Service(settings, store=store)))
    out = run(agent, [], "status?")
    assert "Could not connect to the LLM server" in out and f"127.0.0.1:{port}" in out
    assert KEY not in out


def test_malformed_tool_arguments_are_reported_and_the_model_recovers(site, fake):
    fake.push({"tool_calls": [{"name": "get_prices", "arguments": '{"hours": 2'}]},
              {"text": "Sorry, here is the answer."})
    agent = make_agent(site, fake)
    out = run(agent, [], "prices?")
    assert "malformed arguments for `get_prices`" in out
    assert out.endswith("Sorry, here is the answer.")
    (tool_msg,) = tool_messages(fake.requests[1])
    assert "not valid JSON" in json.loads(tool_msg["content"])["error"]


def test_unknown_tool_and_bad_tool_arguments(site, fake):
    fake.push({"tool_calls": [{"name": "launch_rockets", "arguments": "{}"},
                              {"name": "get_prices", "arguments": '{"hours": -3}'}]},
              {"text": "I cannot do that."})
    agent = make_agent(site, fake)
    out = run(agent, [], "launch")
    assert "does not exist" in out and out.endswith("I cannot do that.")
    results = [json.loads(m["content"]) for m in tool_messages(fake.requests[1])]
    assert "unknown tool" in results[0]["error"]
    assert "hours: must be positive" in results[1]["error"]


def test_error_after_a_tool_round_keeps_partial_answer(site, fake):
    fake.push({"text": "Let me check.", "tool_calls": [{"name": "get_status", "arguments": "{}"}]},
              {"status": 500, "message": "boom"})
    agent = make_agent(site, fake)
    out = run(agent, [], "status?")
    assert out.startswith("Let me check.")
    assert "error (500)" in out
    assert agent.tool_calls[0]["name"] == "get_status"


def test_phrase_brief(site, fake):
    sim, client, store, tmp = site
    settings = Settings(openai_api_key=Secret(KEY), openai_base_url=fake.base_url, llm_model="m",
                        db_path=tmp / "llm.db")
    draft = "Energy is 0.6500 per period, down 2.0%. Profit is 1,234.50 per period."
    fake.push({"text": "Energy costs 0.6500 per period (down 2.0%), and profit stands at 1,234.50."})
    assert phrase_brief(settings, {"energy": 0.65}, draft).startswith("Energy costs 0.6500")
    assert fake.requests[-1]["body"].get("stream") in (None, False)
    fake.push({"text": "Energy is 0.65 and profit will reach 9,999 tomorrow."})
    assert phrase_brief(settings, {}, draft) == draft  # an invented number -> keep the draft
    fake.push({"status": 401, "message": "no"})
    assert phrase_brief(settings, {}, draft) == draft
    assert phrase_brief(Settings(db_path=tmp / "x.db"), {}, draft) == draft  # no LLM configured
    fake.push({"text": "Energy is 0.6500 and profit 1,234.50, across 100 sites."})
    assert phrase_brief(settings, {}, draft) == draft  # "100" is not in the draft


def test_propose_deploy_only_proposes(site, fake):
    from optera.optimize import solve

    sim, client, store, _ = site
    fake.push({"tool_calls": [{"name": "propose_deploy", "arguments": '{"allocation": "optimal"}'}]},
              {"text": "Here is the proposal; confirm it to deploy."})
    agent = make_agent(site, fake)
    out = run(agent, [], "deploy the best allocation")
    assert out.endswith("confirm it to deploy.")
    expected = solve(store.latest_prices(1)[0], 1_000_000).allocation
    assert agent.proposal["kind"] == "deploy_proposal"
    assert agent.proposal["target"] == expected.to_dict()
    assert client.get_status().allocation == Allocation(air_miners=20, hydro_miners=10, gpu_compute=4)
    assert store.deployments() == []


def test_empty_model_answer_is_explained(site, fake):
    fake.push({"text": ""})
    out = run(make_agent(site, fake), [], "hi")
    assert "empty answer" in out


def test_the_system_prompt_asks_for_the_understood_line_and_gives_now(site, fake):
    fake.push({"text": "Understood: status now. Fine."})
    run(make_agent(site, fake), [], "status?")
    body = fake.requests[0]["body"]
    system = body["messages"][0]["content"]
    assert 'Start every answer with one line "Understood: ..."' in system and "assumptions" in system
    assert "Now is 2025-06-22 12:00 UTC" in system
    names = {t["function"]["name"] for t in body["tools"]}
    assert {"get_pnl", "best_worst_day", "left_on_table", "last_deploy"} <= names


def test_the_model_reads_the_ledger_over_a_range(site, fake):
    sim, client, store, _ = site
    fake.push({"tool_calls": [{"name": "get_pnl", "arguments": json.dumps(
        {"start": "2025-06-22T09:00:00Z", "end": "2025-06-22T11:00:00Z", "by": "hour"})}]},
              {"text": "Understood: profit 09:00-11:00 UTC."})
    agent = make_agent(site, fake)
    run(agent, [], "how much did we make between 9 and 11?")
    (tool_msg,) = tool_messages(fake.requests[1])
    result = json.loads(tool_msg["content"])
    points = prices_in(store, datetime(2025, 6, 22, 9), datetime(2025, 6, 22, 11))
    assert len(points) == 24 == result["total"]["intervals"]
    assert result["total"]["realized_profit"] == pytest.approx(sum(hand_profit(RUNNING, p) for p in points),
                                                               rel=1e-12)
    assert len(result["rows"]) == 2 and result["assumptions"]


@pytest.mark.parametrize("name", ["__proposal__", "__query__", "![x](http://127.0.0.1:9/p.png)"])
def test_a_tool_named_like_a_marker_or_markup_is_an_error_and_no_proposal(site, fake, name):
    fake.push({"tool_calls": [{"name": name, "arguments": '{"target": {"air_miners": 1}}'}]},
              {"text": "Understood: nothing."})
    agent = make_agent(site, fake)
    out = run(agent, [], "deploy")
    (tool_msg,) = tool_messages(fake.requests[1])
    assert "unknown tool" in json.loads(tool_msg["content"])["error"]
    assert agent.proposal is None and "](" not in out and "![" not in out
    assert "marker" not in agent.tool_calls[0] and re.fullmatch(r"[\w.?-]+", agent.tool_calls[0]["name"])


def test_propose_deploy_of_what_already_runs_is_no_proposal(site, fake):
    fake.push({"tool_calls": [{"name": "propose_deploy", "arguments": json.dumps({"allocation": RUNNING})}]},
              {"text": "Understood: deploy what runs. The site already runs this."})
    agent = make_agent(site, fake)
    run(agent, [], "deploy what we run")
    result = agent.tool_calls[0]["result"]
    assert result["kind"] == "no_change" and result["units_moved"] == 0 and agent.proposal is None


@pytest.mark.parametrize("text, proposal, note", [
    ("I have deployed the optimum.", None, "deploys happen only when you confirm a proposal card"),
    ("It has been deployed.", {"kind": "deploy_proposal"}, "it happens only when you confirm the card below"),
    ("We switched to the optimum.", None, "No deploy was sent"),
    ("Confirm the card to deploy.", None, ""),
    ("Here is the optimum; nothing was changed.", None, ""),
])
def test_a_claimed_deploy_gets_a_note(text, proposal, note):
    got = no_deploy_note(text, proposal)
    assert (note in got and got.startswith("*No deploy was sent")) if note else got == ""


def test_safe_markdown_keeps_formatting_but_no_remote_image_hidden_link_or_html():
    text = ("**Profit** is up.\n\n![pixel](http://127.0.0.1:9/p.png) [Re-enter your API key](http://evil.example/k)"
            "\n\n[ref]: http://evil.example/r\n<img src=x onerror=alert(1)> key " + KEY)
    out = safe_markdown(text)
    assert out.startswith("**Profit** is up.")
    assert "[image not shown: pixel]" in out and "p.png" not in out
    assert "Re-enter your API key (`http://evil.example/k`)" in out and "](" not in out
    assert "evil.example/r" not in out and "<img" not in out and "&lt;img" in out
    assert KEY not in out and KEY[:12] not in out

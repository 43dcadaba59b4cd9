"""Chat latency: built-in answers (server side) and scripted LLM conversations against the local fake.

The site has 7 days of prices, status reads every 15 minutes and a deploy two days before
"now", so the history questions read a real ledger. The parser's own accuracy and parse
time are in ``bench.bench_parser``.

Run: .venv/bin/python -m bench.bench_chat
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from optera.chat.analyst import BuiltinAnalyst
from optera.chat.llm import LLMAgent
from optera.chat.tools import Toolbox
from optera.clock import ManualClock
from optera.config import Secret, Settings
from optera.mara import MaraClient
from optera.models import Allocation
from optera.service import Service
from optera.sim.api import DEMO_KEY, Simulator
from optera.store import Store
from optera.sync import sync
from tests.chat_site import deploy, read_every
from tests.fake_openai import FakeOpenAI

NOW = datetime(2025, 6, 28, 12, 0)  # a Saturday; the newest price
A = {"air_miners": 20, "hydro_miners": 10, "gpu_compute": 4}
B = {"hydro_miners": 10, "immersion_miners": 20, "asic_compute": 10}
REPEATS = 15
QUESTIONS = [  # (question, follows on from the one before)
    ("how are we doing?", False),
    ("what are prices doing over the last 6 hours?", False),
    ("what is the best allocation?", False),
    ("what if energy price doubles?", False),
    ("If energy costs 0.9, hash price is 2.2 and tokens pay 0.4, what should I run with 200 kW?", False),
    ("and with 800 kW?", True),
    ("why no gpus?", True),
    ("deploy it", True),
    ("how much did we make yesterday?", False),
    ("how much did we leave on the table last week?", False),
    ("what were our best and worst days this week?", False),
    ("when was energy cheapest yesterday?", False),
    ("what did the last deploy change?", False),
    ("how would holding have done yesterday?", False),
    ("backtest the last 24 hours", False),
    ("tell me a joke", False),
]
CONVERSATIONS = {
    "plain answer": [{"text": "Prices are steady."}],
    "status (1 tool)": [{"tool_calls": [{"name": "get_status", "arguments": "{}"}]}, {"text": "You run 34 units."}],
    "yesterday's profit (ledger, 1 tool)": [
        {"tool_calls": [{"name": "get_pnl", "arguments": '{"start": "2025-06-27T00:00:00Z", '
                                                         '"end": "2025-06-28T00:00:00Z"}'}]},
        {"text": "Understood: yesterday's realized profit."}],
    "what-if (2 rounds)": [
        {"tool_calls": [{"name": "get_prices", "arguments": '{"hours": 6}'}]},
        {"tool_calls": [{"name": "what_if", "arguments": '{"energy_price": 2.1, "power_limit": 800000}'}]},
        {"text": "The optimum gains this much."}],
    "deploy (2 tools, 1 round)": [
        {"tool_calls": [{"name": "optimize", "arguments": "{}"},
                        {"name": "propose_deploy", "arguments": '{"allocation": "optimal"}'}]},
        {"text": "Confirm the card to deploy."}],
    "runaway (round limit)": [{"tool_calls": [{"name": "get_status", "arguments": "{}"}]}] * 6,
}


def _site(tmp: Path) -> tuple[MaraClient, Store]:
    """Seven days of prices; status reads of A, a deploy to B two days before now, reads of B since."""
    sim = Simulator(now=lambda: NOW, history_days=7)
    client = MaraClient("http://simulator.local", DEMO_KEY, transport=sim.transport())
    store = Store(tmp / "bench_chat.db")
    client.set_allocation(Allocation.from_counts(A))
    sync(client, store)
    deployed = NOW - timedelta(days=2)
    read_every(store, NOW - timedelta(days=7), deployed, A)
    deploy(store, deployed, A, B)
    read_every(store, deployed + timedelta(minutes=15), NOW, B)
    client.set_allocation(Allocation.from_counts(B))
    store.add_snapshot(client.get_status(), fetched_at=NOW)
    return client, store


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        client, store = _site(tmp)
        settings = Settings(db_path=tmp / "bench_chat.db")
        toolbox = Toolbox(Service(settings, client=client, store=store), clock=ManualClock(NOW + timedelta(minutes=2)))
        analyst = BuiltinAnalyst(toolbox)
        print(f"Built-in analyst over {store.price_count():,} stored prices (7 days) with status reads every "
              f"15 minutes; it answers in one piece, so the whole answer (parse, tools, words) is the first "
              f"token. Median and max of {REPEATS} runs, server side.\n")
        print("| question | intent | tools | median ms | max ms |")
        print("|---|---|---|---:|---:|")
        previous = None
        for question, followup in QUESTIONS:
            times = []
            for _ in range(REPEATS):
                t0 = time.perf_counter()
                answer = analyst.answer(question, previous if followup else None)
                times.append((time.perf_counter() - t0) * 1000)
            previous = answer.query
            tools = ", ".join(c["name"] for c in answer.tool_calls) or "-"
            print(f"| {question}{' (follow-up)' if followup else ''} | {answer.query.intent} | {tools} | "
                  f"{statistics.median(times):.1f} | {max(times):.1f} |")

        print("\nLLM agent (real openai client) against the local scripted fake server.\n")
        print("| conversation | tool rounds | requests | tools run | first chunk ms | total ms |")
        print("|---|---:|---:|---:|---:|---:|")
        with FakeOpenAI() as fake:
            llm_settings = Settings(openai_api_key=Secret("sk-bench"), openai_base_url=fake.base_url,
                                    llm_model="fake", db_path=tmp / "bench_chat.db")
            for name, script in CONVERSATIONS.items():
                fake.requests.clear()
                fake.push(*script)
                agent = LLMAgent(llm_settings, toolbox)
                t0 = time.perf_counter()
                first = None
                for _ in agent.stream([], name):
                    if first is None:
                        first = (time.perf_counter() - t0) * 1000
                total = (time.perf_counter() - t0) * 1000
                print(f"| {name} | {agent.rounds} | {len(fake.requests)} | {len(agent.tool_calls)} | "
                      f"{first or 0:.1f} | {total:.1f} |")
        store.close()


if __name__ == "__main__":
    main()

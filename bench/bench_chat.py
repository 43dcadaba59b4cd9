"""Chat latency: built-in answers (server side) and scripted LLM conversations against the local fake.

Run: .venv/bin/python -m bench.bench_chat
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from optera.chat.analyst import BuiltinAnalyst
from optera.config import Secret, Settings
from optera.chat.llm import LLMAgent
from optera.mara import MaraClient
from optera.models import Allocation
from optera.sim.api import DEMO_KEY, Simulator
from optera.store import Store
from optera.sync import sync
from optera.service import Service
from optera.chat.tools import Toolbox
from tests.fake_openai import FakeOpenAI

QUESTIONS = [
    "status",
    "what are prices doing?",
    "what is the best allocation?",
    "what if energy is 2.1 with 800 kW",
    "compare with current",
    "backtest the last 24 hours",
    "why this allocation?",
    "deploy it",
    "tell me a joke",
]

CONVERSATIONS = {
    "plain answer": [{"text": "Prices are steady."}],
    "status (1 tool)": [{"tool_calls": [{"name": "get_status", "arguments": "{}"}]}, {"text": "You run 34 units."}],
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


def _site(tmp: Path):
    sim = Simulator(now=lambda: datetime(2025, 6, 28, 12, 0), history_days=7)
    client = MaraClient("http://simulator.local", DEMO_KEY, transport=sim.transport())
    store = Store(tmp / "bench_chat.db")
    client.set_allocation(Allocation(air_miners=20, hydro_miners=10, gpu_compute=4))
    sync(client, store)
    return client, store


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        client, store = _site(tmp)
        settings = Settings(db_path=tmp / "bench_chat.db")
        toolbox = Toolbox(Service(settings, client=client, store=store))
        analyst = BuiltinAnalyst(toolbox)
        print(f"Built-in analyst, {store.price_count():,} stored prices (7 days); whole answer = first token. "
              "Median and max of 15 runs.\n")
        print("| question | tools | median ms | max ms |")
        print("|---|---|---:|---:|")
        for q in QUESTIONS:
            times = []
            for _ in range(15):
                t0 = time.perf_counter()
                answer = analyst.answer(q)
                times.append((time.perf_counter() - t0) * 1000)
            tools = ", ".join(c["name"] for c in answer.tool_calls) or "-"
            print(f"| {q} | {tools} | {statistics.median(times):.1f} | {max(times):.1f} |")

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

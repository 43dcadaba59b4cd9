"""The names every surface speaks: machine types, prices, strategies, constraints.

API field names (``asic_compute``, ``energy_price``) stay inside the code; pages,
the CLI's text output, chat answers and the brief show the human names from here,
so a label changes in one place.
"""

from __future__ import annotations

MACHINE_TYPES: tuple[str, ...] = ("air_miners", "hydro_miners", "immersion_miners", "gpu_compute", "asic_compute")
MINER_TYPES: tuple[str, ...] = MACHINE_TYPES[:3]
INFERENCE_TYPES: tuple[str, ...] = MACHINE_TYPES[3:]

LABELS: dict[str, str] = {
    "air_miners": "Air miners",
    "hydro_miners": "Hydro miners",
    "immersion_miners": "Immersion miners",
    "gpu_compute": "GPU inference",
    "asic_compute": "ASIC inference",
}
# the same names inside a sentence ("20 ASIC inference units", "hydro miners")
LOWER: dict[str, str] = {n: (v if v[:3].isupper() else v.lower()) for n, v in LABELS.items()}

PRICE_COLUMNS: tuple[str, ...] = ("energy_price", "hash_price", "token_price")
PRICE_LABELS: dict[str, str] = {"energy_price": "Energy price", "hash_price": "Hash price",
                                "token_price": "Token price"}
PRICE_SHORT: dict[str, str] = {"energy_price": "energy", "hash_price": "hash", "token_price": "token"}
PRICE_MEANING: dict[str, str] = {
    "energy_price": "what the site pays per watt of power drawn, per period",
    "hash_price": "what one unit of hashrate earns per period (bitcoin mining)",
    "token_price": "what one token of inference throughput earns per period (AI inference)",
}

STRATEGIES: tuple[str, ...] = ("optimal", "hold", "fixed", "hindsight")
STRATEGY_LABELS: dict[str, str] = {
    "optimal": "Re-optimise every interval",
    "hold": "Hold the current allocation",
    "fixed": "A fixed allocation",
    "hindsight": "Best single allocation in hindsight",
    "schedule": "Best schedule in hindsight",
    "policy": "Your policy",
}

CONSTRAINT_LABELS: dict[str, str] = {
    "power": "Power limit",
    "cap": "Cap",
    "lock": "Lock",
    "min_share": "Minimum inference share",
    "max_share": "Maximum inference share",
    "min_tokens": "Minimum tokens",
    "min_hashrate": "Minimum hashrate",
    "max_moved": "Most units moved",
    "switching_cost": "Switching cost per unit moved",
}

# the autopilot's policy, the same in the backtest, the CLI flags and the app
POLICY_LABELS: dict[str, str] = {
    "switching_cost": "Switching cost per unit moved",
    "payback": "Payback of a move (intervals)",
    "min_hold": "Minimum hold (intervals)",
    "min_gain": "Minimum gain per period to act",
    "max_moved": "Most units moved per deploy",
    "max_deploys_per_hour": "Most deploys per hour",
    "headroom_w": "Power headroom to keep (W)",
}
DECISIONS: tuple[str, ...] = ("deploy", "hold")
AUTOPILOT_MODES: dict[str, str] = {"dry_run": "Dry run", "live": "Live"}
AUTOPILOT_STATUS: dict[str, str] = {"running": "Running", "pausing": "Pausing", "paused": "Paused",
                                    "not running": "Not running"}
DEPLOY_SOURCES: dict[str, str] = {"app": "In the app", "cli": "Command line", "chat": "Chat",
                                  "autopilot": "Autopilot"}
# what became of each autopilot decision: why it held, or what happened to its deploy (optera.audit's results)
AUTOPILOT_OUTCOMES: dict[str, str] = {
    "hold": "Held", "paused": "Held: paused", "sync_failed": "Held: the sync failed",
    "prices_stale": "Held: prices too old", "storage_failed": "Held: the database failed",
    "dry_run": "Would deploy (dry run)", "ok": "Deployed", "noop": "Nothing to send",
    "no_limit": "Not sent: no fresh power limit", "unsafe": "Not sent: the site could not be read",
    "invalid": "Not sent: over a limit or cap", "stale": "Not sent: the site changed", "unrecorded": "Not sent: "
    "could not be recorded", "refused": "Refused by the site", "error": "Deploy failed",
    "unverified": "Sent, not verified", "mismatch": "Sent, the site reports otherwise",
    "over_limit": "Sent, the site is over its limit", "pending": "Sent, outcome unknown",
}

STAT_LABELS: dict[str, str] = {
    "mean": "Mean", "std": "Standard deviation", "min": "Lowest", "max": "Highest", "first": "First",
    "last": "Last", "change": "Change", "change_pct": "Change (%)",
}

GLOSSARY = (
    "**Prices** come from the site's API every 5 minutes. *Energy price* is what the site pays per watt "
    "drawn; *hash price* is what one unit of hashrate earns (bitcoin mining); *token price* is what one token "
    "of inference throughput earns (AI inference). All three are **per period**: the API does not say how long "
    "a period is, so Optera assumes the price cadence (a setting, `OPTERA_PERIOD_MINUTES`, 5 minutes by "
    "default) and derives every per-day figure from it. Money is shown in the API's own unit, labelled with "
    "`OPTERA_MONEY_UNIT` ($ by default)."
)


def label(name: str) -> str:
    """Human name of a machine type, price or strategy; the name itself if unknown."""
    return LABELS.get(name) or PRICE_LABELS.get(name) or STRATEGY_LABELS.get(name) or name


def machine_type(text: str) -> str | None:
    """The API field for a user's word ("asic", "ASIC inference", "hydro_miners"), or None."""
    t = " ".join(str(text).lower().replace("_", " ").replace("-", " ").split())
    for name in MACHINE_TYPES:
        if t in (name.replace("_", " "), LABELS[name].lower()):
            return name
    words = {"air": "air_miners", "hydro": "hydro_miners", "immersion": "immersion_miners",
             "gpu": "gpu_compute", "gpus": "gpu_compute", "asic": "asic_compute", "asics": "asic_compute"}
    return words.get(t)

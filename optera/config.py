"""Settings from environment variables and `.streamlit/secrets.toml`.

Environment variables win over secrets.toml. Secrets are kept in :class:`Secret`
so that printing, logging or repr-ing the settings never shows a key.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

PROJECT_ROOT = Path(__file__).resolve().parent.parent
OFFICIAL_MARA_URL = "https://mara-hackathon-api.onrender.com"
DEFAULT_DB = "data/optera.db"
DEFAULT_MODEL = "gpt-4o"


class Secret:
    """A string that never shows itself in repr/str/f-strings."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def get(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Settings:
    mara_api_url: str | None = None
    mara_api_key: Secret | None = None
    db_path: Path = PROJECT_ROOT / DEFAULT_DB
    openai_api_key: Secret | None = None
    openai_base_url: str | None = None
    llm_model: str = DEFAULT_MODEL
    period_minutes: float = 5.0
    sim_state: Path = field(default=PROJECT_ROOT / "data" / "sim_state.json")
    btc_live: bool = True

    @property
    def source(self) -> str:
        """'simulator' (embedded), 'mara' (official URL) or 'custom' (MARA_API_URL)."""
        if self.mara_api_url:
            return "custom"
        if self.mara_api_key:
            return "mara"
        return "simulator"

    @property
    def base_url(self) -> str:
        if self.mara_api_url:
            return self.mara_api_url.rstrip("/")
        if self.mara_api_key:
            return OFFICIAL_MARA_URL
        return "http://simulator.local"

    @property
    def source_label(self) -> str:
        return {
            "simulator": "Embedded simulator (offline)",
            "mara": "MARA hackathon API",
            "custom": f"MARA-compatible API at {self.base_url}",
        }[self.source]

    @property
    def llm_configured(self) -> bool:
        return bool(self.openai_api_key) or bool(self.openai_base_url)

    @property
    def periods_per_day(self) -> float:
        return 24 * 60 / self.period_minutes

    def secret_values(self) -> list[str]:
        """The raw secrets, for redaction."""
        return [s.get() for s in (self.mara_api_key, self.openai_api_key) if s]


def _read_secrets(path: Path) -> Mapping[str, object]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def load_settings(env: Mapping[str, str] | None = None, secrets_path: Path | None = None) -> Settings:
    env = os.environ if env is None else env
    secrets = _read_secrets(secrets_path or PROJECT_ROOT / ".streamlit" / "secrets.toml")

    def get(name: str) -> str | None:
        value = env.get(name)
        if value is None or value == "":
            raw = secrets.get(name)
            value = str(raw) if raw not in (None, "") else None
        return value.strip() if isinstance(value, str) else value

    db = Path(get("OPTERA_DB") or DEFAULT_DB)
    if not db.is_absolute():
        db = PROJECT_ROOT / db
    sim_state = Path(get("OPTERA_SIM_STATE") or db.with_name(db.stem + "_sim.json"))
    try:
        period = float(get("OPTERA_PERIOD_MINUTES") or 5)
        if not (period > 0):
            period = 5.0
    except ValueError:
        period = 5.0
    mara_key = get("MARA_API_KEY")
    openai_key = get("OPENAI_API_KEY")
    return Settings(
        mara_api_url=get("MARA_API_URL"),
        mara_api_key=Secret(mara_key) if mara_key else None,
        db_path=db,
        openai_api_key=Secret(openai_key) if openai_key else None,
        openai_base_url=get("OPENAI_BASE_URL"),
        llm_model=get("OPTERA_LLM_MODEL") or DEFAULT_MODEL,
        period_minutes=period,
        sim_state=sim_state,
        btc_live=(get("OPTERA_BTC_LIVE") or "1").lower() not in ("0", "false", "no", "off"),
    )

"""Settings from environment variables and `.streamlit/secrets.toml`.

Environment variables win over secrets.toml. Every value is validated when the
settings are built: a malformed secrets.toml or a setting out of range is a
:class:`ConfigError` that names the setting, never a silent fallback. The checks are
the few below, in plain Python: a pydantic dataclass ran the same ones and added about
a seventh to `optera optimize`'s start (BENCHMARKS.md, "The command line"). Keys are
kept in :class:`Secret`, so printing, logging or repr-ing the settings never shows one,
and are registered with :mod:`optera.redaction` so every text that leaves the process
is masked.
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from . import redaction
from .errors import ConfigError
from .units import Money

PROJECT_ROOT = Path(__file__).resolve().parent.parent
OFFICIAL_MARA_URL = "https://mara-hackathon-api.onrender.com"
SIMULATOR_URL = "http://simulator.local"
DEFAULT_DB = "data/optera.db"
DEFAULT_MODEL = "gpt-4o"
DEFAULT_HISTORY_DAYS = 90
SECRETS_FILE = PROJECT_ROOT / ".streamlit" / "secrets.toml"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


class Secret:
    """A string that never shows itself in repr/str/f-strings."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value
        redaction.remember(value)

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


def _period(v: float) -> float:
    if not math.isfinite(v) or not 0 < v <= 1440:
        raise ValueError("must be a number of minutes above 0 and at most 1440 (one day)")
    return v


def _history(v: float) -> float:
    if not math.isfinite(v) or not 1 <= v <= 3650:
        raise ValueError("must be a number of days from 1 to 3650")
    return v


def _url(v: str | None) -> str | None:
    if v is None:
        return None
    try:
        parts = urlsplit(v)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError("must be an http:// or https:// URL with a host, e.g. http://127.0.0.1:8787")
    return v


def _unit(v: str) -> str:
    v = v.strip()
    if not 1 <= len(v) <= 8 or any(c in v for c in "<>[]()*_`\\"):
        raise ValueError("must be 1 to 8 plain characters, e.g. $, USD or €")
    return v


def _number_field(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise ValueError("must be a number")
    try:
        return float(v)
    except ValueError:
        raise ValueError("must be a number") from None


def _text(optional: bool):
    def check(v: Any) -> str | None:
        if v is None and optional:
            return None
        if not isinstance(v, str):
            raise ValueError("must be text")
        return v
    return check


def _secret(v: Any) -> Secret | None:
    if v is not None and not isinstance(v, Secret):
        raise ValueError("must be a Secret")  # never shown: a raw key here is a programming error
    return v


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError("must be true or false")
    return v


# field -> its checks, in order; each returns the value to keep or raises ValueError
_CHECKS = {
    "mara_api_url": (_text(True), _url), "mara_api_key": (_secret,), "db_path": (Path,),
    "openai_api_key": (_secret,), "openai_base_url": (_text(True), _url), "llm_model": (_text(False),),
    "period_minutes": (_number_field, _period), "sim_state": (Path,), "btc_live": (_bool,),
    "money_unit": (_text(False), _unit), "history_days": (_number_field, _history),
}


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
    money_unit: str = "$"
    history_days: float = DEFAULT_HISTORY_DAYS

    def __post_init__(self) -> None:
        """Check and normalise every field; a bad one is a ConfigError naming its setting."""
        for f in fields(self):
            value = getattr(self, f.name)
            try:
                for step in _CHECKS[f.name]:
                    value = step(value)
            except (ValueError, TypeError) as e:
                name = _FIELD_ENV.get(f.name, f.name)
                secret = f.name in ("mara_api_key", "openai_api_key")
                shown = "********" if secret else redaction.safe(repr(value), 80)
                raise ConfigError(f"{name}={shown} {e}") from None
            object.__setattr__(self, f.name, value)

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
        return SIMULATOR_URL

    @property
    def source_label(self) -> str:
        """Where the data comes from, safe to show (credentials in a URL are masked)."""
        return {
            "simulator": "Embedded simulator (offline)",
            "mara": "MARA hackathon API",
            "custom": f"MARA-compatible API at {redaction.redact(self.base_url)}",
        }[self.source]

    @property
    def llm_configured(self) -> bool:
        return bool(self.openai_api_key) or bool(self.openai_base_url)

    @property
    def periods_per_day(self) -> float:
        return 24 * 60 / self.period_minutes

    @property
    def money(self) -> Money:
        """How money is written: the unit label and the period length."""
        return Money(self.money_unit, self.period_minutes)

    def secret_values(self) -> list[str]:
        """The raw secrets, for redaction."""
        return [s.get() for s in (self.mara_api_key, self.openai_api_key) if s]


def _read_secrets(path: Path) -> Mapping[str, object]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML ({e}); fix it or remove it") from None
    except OSError as e:
        raise ConfigError(f"{path} cannot be read ({e.strerror or e})") from None


def _flag(name: str, value: str | None, default: bool) -> bool:
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ConfigError(f"{name}={value!r} is not a yes/no value; use 1 or 0")


def _number(name: str, value: str | None, default: float) -> float:
    if value is None:
        return default
    try:
        return float(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a number") from None


_FIELD_ENV = {"period_minutes": "OPTERA_PERIOD_MINUTES", "history_days": "OPTERA_HISTORY_DAYS",
              "mara_api_url": "MARA_API_URL", "openai_base_url": "OPENAI_BASE_URL",
              "money_unit": "OPTERA_MONEY_UNIT", "db_path": "OPTERA_DB", "sim_state": "OPTERA_SIM_STATE",
              "llm_model": "OPTERA_LLM_MODEL", "btc_live": "OPTERA_BTC_LIVE", "mara_api_key": "MARA_API_KEY",
              "openai_api_key": "OPENAI_API_KEY"}


def load_settings(env: Mapping[str, str] | None = None, secrets_path: Path | None = None) -> Settings:
    """The settings in force; raises ConfigError naming the setting that is wrong."""
    env = os.environ if env is None else env
    secrets = _read_secrets(secrets_path or SECRETS_FILE)

    def get(name: str) -> str | None:
        value: Any = env.get(name)
        if value is None or value == "":
            raw = secrets.get(name)
            if isinstance(raw, (dict, list)):
                raise ConfigError(f"{name} in secrets.toml must be a plain value, not a table or list")
            value = str(raw) if raw not in (None, "") else None
        return value.strip() if isinstance(value, str) else value

    db = Path(get("OPTERA_DB") or DEFAULT_DB)
    if not db.is_absolute():
        db = PROJECT_ROOT / db
    sim_state = Path(get("OPTERA_SIM_STATE") or db.with_name(db.stem + "_sim.json"))
    mara_key = get("MARA_API_KEY")
    openai_key = get("OPENAI_API_KEY")
    return Settings(
        mara_api_url=get("MARA_API_URL"),
        mara_api_key=Secret(mara_key) if mara_key else None,
        db_path=db,
        openai_api_key=Secret(openai_key) if openai_key else None,
        openai_base_url=get("OPENAI_BASE_URL"),
        llm_model=get("OPTERA_LLM_MODEL") or DEFAULT_MODEL,
        period_minutes=_number("OPTERA_PERIOD_MINUTES", get("OPTERA_PERIOD_MINUTES"), 5.0),
        sim_state=sim_state,
        btc_live=_flag("OPTERA_BTC_LIVE", get("OPTERA_BTC_LIVE"), True),
        money_unit=get("OPTERA_MONEY_UNIT") or "$",
        history_days=_number("OPTERA_HISTORY_DAYS", get("OPTERA_HISTORY_DAYS"), DEFAULT_HISTORY_DAYS),
    )

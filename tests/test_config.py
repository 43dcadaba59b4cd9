"""Settings: every value checked when built, a bad one named in a ConfigError, keys never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from optera.config import PROJECT_ROOT, Secret, Settings, load_settings
from optera.errors import ConfigError

NO_FILE = Path("/nonexistent/secrets.toml")


def test_defaults_are_the_offline_simulator():
    s = load_settings(env={}, secrets_path=NO_FILE)
    assert s.source == "simulator" and s.period_minutes == 5.0 and s.periods_per_day == 288
    assert s.db_path == PROJECT_ROOT / "data" / "optera.db"
    assert s.sim_state == PROJECT_ROOT / "data" / "optera_sim.json"
    assert s.money_unit == "$" and s.history_days == 90 and s.btc_live is True


@pytest.mark.parametrize("name, value, reason", [
    ("OPTERA_PERIOD_MINUTES", "0", "above 0 and at most 1440"),
    ("OPTERA_PERIOD_MINUTES", "1441", "above 0 and at most 1440"),
    ("OPTERA_PERIOD_MINUTES", "nan", "above 0 and at most 1440"),
    ("OPTERA_PERIOD_MINUTES", "five", "is not a number"),
    ("OPTERA_HISTORY_DAYS", "0.5", "from 1 to 3650"),
    ("OPTERA_HISTORY_DAYS", "inf", "from 1 to 3650"),
    ("MARA_API_URL", "ftp://example.com", "http:// or https:// URL"),
    ("MARA_API_URL", "http://[::1", "http:// or https:// URL"),
    ("MARA_API_URL", "http://host:99999", "http:// or https:// URL"),
    ("OPENAI_BASE_URL", "localhost:11434", "http:// or https:// URL"),
    ("OPTERA_MONEY_UNIT", "<b>$</b>", "1 to 8 plain characters"),
    ("OPTERA_MONEY_UNIT", "dollars!!", "1 to 8 plain characters"),
    ("OPTERA_BTC_LIVE", "maybe", "not a yes/no value"),
])
def test_a_bad_value_is_an_error_naming_the_setting(name, value, reason):
    with pytest.raises(ConfigError) as e:
        load_settings(env={name: value}, secrets_path=NO_FILE)
    assert name in e.value.message and reason in e.value.message


def test_environment_wins_over_secrets_toml_and_a_bad_file_says_where(tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('OPTERA_MONEY_UNIT = "EUR"\nOPTERA_PERIOD_MINUTES = 15\n')
    s = load_settings(env={"OPTERA_PERIOD_MINUTES": "60"}, secrets_path=secrets)
    assert s.money_unit == "EUR" and s.period_minutes == 60 and s.periods_per_day == 24
    secrets.write_text('OPTERA_MONEY_UNIT = "EUR\n')
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(env={}, secrets_path=secrets)
    secrets.write_text('[OPTERA_DB]\npath = "x"\n')
    with pytest.raises(ConfigError, match="plain value, not a table"):
        load_settings(env={}, secrets_path=secrets)


def test_keys_never_show_not_even_in_the_error_about_them():
    key = "sk-config-test-0123456789"
    s = load_settings(env={"MARA_API_KEY": key, "OPENAI_API_KEY": key}, secrets_path=NO_FILE)
    assert s.source == "mara" and s.mara_api_key.get() == key
    assert key not in repr(s) and key not in str(s)
    with pytest.raises(ConfigError) as e:  # the key in a malformed URL
        load_settings(env={"MARA_API_KEY": key, "MARA_API_URL": f"ftp://u:{key}@host"}, secrets_path=NO_FILE)
    assert "MARA_API_URL" in e.value.message and key not in e.value.message
    with pytest.raises(ConfigError) as e:  # a raw string where a Secret belongs
        Settings(openai_api_key="sk-raw-never-shown")
    assert "OPENAI_API_KEY=********" in e.value.message and "sk-raw" not in e.value.message


def test_built_in_code_the_same_checks_apply_and_paths_are_paths(tmp_path):
    s = Settings(db_path=str(tmp_path / "x.db"), period_minutes=10, mara_api_key=Secret("k"))
    assert s.db_path == tmp_path / "x.db" and isinstance(s.db_path, Path)
    assert s.period_minutes == 10.0 and isinstance(s.period_minutes, float)
    for bad in ({"period_minutes": True}, {"period_minutes": -5}, {"btc_live": "yes"}, {"llm_model": None},
                {"history_days": "many"}):
        with pytest.raises(ConfigError):
            Settings(**bad)

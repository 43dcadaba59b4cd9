"""The README stays true: every command and flag of `optera` is documented there."""

import argparse
from pathlib import Path

from optera.cli.args import build_parser

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_every_command_is_in_the_readme():
    missing = [name for name in _commands() if f"optera {name}" not in README]
    assert not missing, f"commands missing from the README: {missing}"


def test_every_flag_is_in_the_readme():
    missing = []
    for name, parser in _commands().items():
        for action in parser._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help" and flag not in README:
                    missing.append(f"optera {name} {flag}")
    assert not missing, f"flags missing from the README: {missing}"


def test_every_setting_is_in_the_readme():
    import optera.config as config

    names = set(config._FIELD_ENV.values()) | {"MARA_API_KEY", "OPTERA_DB", "OPTERA_BTC_LIVE", "OPENAI_API_KEY",
                                               "OPTERA_LLM_MODEL"}
    assert not [n for n in names if f"`{n}`" not in README]

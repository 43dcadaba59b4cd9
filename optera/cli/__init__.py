"""The `optera` command. Its flags and JSON output are a contract that scripts rely on.

Every failure ends in one line on stderr and a non-zero exit chosen by the error's
type (:func:`optera.errors.exit_code`): 2 for bad flags, impossible constraints and
deploys refused before sending, 1 when the data source or the database fails or a
sent deploy is not verified. Heavy libraries are imported by the command that needs
them, so `optera --help` starts like a small tool.
"""

from __future__ import annotations

import sys
from typing import Sequence

from ..errors import OpteraError, exit_code
from ..redaction import safe
from .args import build_parser

COMMANDS = ("sim", "sync", "status", "optimize", "deploy", "backtest", "pnl", "autopilot", "db")


def _fail(message: str, code: int) -> int:
    print(f"optera: {safe(message, 1000)}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.command in ("backtest", "pnl"):
            from . import history as module
        elif args.command == "autopilot":
            from . import autopilot as module
        else:
            from . import commands as module
        return getattr(module, f"cmd_{args.command}")(args)
    except OpteraError as e:
        return _fail(e.message, exit_code(e))
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as e:  # noqa: BLE001 - the contract: never a traceback, even for a bug
        return _fail(f"internal error: {type(e).__name__}: {e}", 1)


if __name__ == "__main__":
    sys.exit(main())

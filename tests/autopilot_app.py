"""A page that draws the autopilot's components as the Overview and Intel pages do (AppTest script)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from optera.config import load_settings  # noqa: E402
from optera.service import Service  # noqa: E402
from ui.autopilot import autopilot_panel, policy_backtest  # noqa: E402

svc = Service(load_settings())
autopilot_panel(svc)
policy_backtest(svc, svc.price_window())

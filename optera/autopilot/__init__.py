"""The autopilot: the live loop over the backtested policy (`loop`), and what the app reads of it (`state`)."""

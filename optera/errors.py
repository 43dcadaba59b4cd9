"""Every error Optera raises, in one tree.

Callers choose what to do from the type, never from the wording::

    OpteraError                 root; ``message`` is safe to show (keys redacted)
    ├── InputError              bad input from a user, a flag, a file or a model (CLI exit 2)
    │   ├── ValidationError     a value or payload failed validation; names the field and value
    │   ├── ConfigError         a setting is malformed (secrets.toml, OPTERA_PERIOD_MINUTES, …)
    │   ├── BacktestInputError  prices or a window a backtest cannot use
    │   └── ToolError           bad arguments to a chat tool
    ├── SourceError             the MARA API (or another source) failed (CLI exit 1)
    │   ├── AuthError           401/403: the key is missing or wrong
    │   ├── RateLimitedError    429 after every retry
    │   ├── UnavailableError    unreachable, timed out or 5xx after every retry
    │   ├── BadResponseError    not JSON, too large, or fails validation
    │   └── RefusedError        another 4xx: the server refused and said why
    ├── StorageError            the local database (CLI exit 1)
    │   ├── DatabaseLockedError another program holds the write lock
    │   ├── DatabaseCorruptError the file is not a readable database (recoverable)
    │   └── DatabasePathError   the folder is missing, read-only or not a folder
    ├── DeployError             a deploy did not complete as asked; ``result`` says how
    │   ├── DeployNotSent       refused before sending: invalid, stale, no fresh limit (CLI exit 2)
    │   └── DeployUnverified    sent, but the read-back disagrees or failed (CLI exit 1)
    └── AutopilotError          the autopilot cannot start or must stop

``InputError`` also derives from ``ValueError`` so that numeric helpers raising it
still read naturally to callers that validate with ``except ValueError``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "OpteraError", "InputError", "ValidationError", "ConfigError", "BacktestInputError", "ToolError",
    "SourceError", "AuthError", "RateLimitedError", "UnavailableError", "BadResponseError", "RefusedError",
    "StorageError", "DatabaseLockedError", "DatabaseCorruptError", "DatabasePathError",
    "DeployError", "DeployNotSent", "DeployUnverified", "AutopilotError", "exit_code",
]


class OpteraError(Exception):
    """Root of every Optera error; ``message`` is safe to show to a user."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputError(OpteraError, ValueError):
    """Input that cannot be used: the message says which and why."""


class ValidationError(InputError):
    """A value or payload failed validation; names the field and the offending value."""

    def __init__(self, field: str, value: Any, reason: str):
        from .redaction import redact, shorten

        self.field = field
        self.value = value
        self.reason = reason
        try:
            shown = repr(value)
        except ValueError:  # an int of more than 4300 digits has no repr
            shown = f"a whole number of {value.bit_length() * 0.30103:.0f} digits"
        # redact before cutting: a key split by the cut could not be matched any more
        super().__init__(f"{field}: {reason} (got {shorten(redact(shown), 80)})")


class ConfigError(InputError):
    """A setting is malformed; the message names it and the accepted values."""


class BacktestInputError(InputError):
    """Prices, a window or an allocation a backtest cannot use."""


class ToolError(InputError):
    """A bad tool argument; its message goes back to the caller (often a model) to correct."""


class SourceError(OpteraError):
    """The data source failed; the message says what to check."""


class AuthError(SourceError):
    """401/403: the key is missing or wrong."""


class RateLimitedError(SourceError):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class UnavailableError(SourceError):
    """Unreachable, timed out, or 5xx after every retry."""

    def __init__(self, message: str, unreachable: bool = False):
        super().__init__(message)
        self.unreachable = unreachable


class BadResponseError(SourceError):
    """The answer is not JSON, is too large, or fails validation."""


class RefusedError(SourceError):
    """A 4xx other than 401/403/429: the server refused the request and said why."""

    def __init__(self, message: str, status: int, server_message: str = ""):
        super().__init__(message)
        self.status = status
        self.server_message = server_message


class StorageError(OpteraError):
    """The local database cannot be used; the message says what to do."""


class DatabaseLockedError(StorageError):
    """Another program holds the database's write lock longer than the busy timeout."""


class DatabaseCorruptError(StorageError):
    """The file is not a readable SQLite database; `optera db recover` rebuilds it."""


class DatabasePathError(StorageError):
    """The database's folder is missing, not a folder, or not writable."""


class DeployError(OpteraError):
    """A deploy did not complete as asked; ``result`` is the recorded DeployResult."""

    def __init__(self, message: str, result: Any = None):
        super().__init__(message)
        self.result = result


class DeployNotSent(DeployError):
    """Nothing was sent: the allocation was invalid, stale, or the site's limit could not be read."""


class DeployUnverified(DeployError):
    """Sent, but the read-back failed, disagrees, or shows the site over its limit."""


class AutopilotError(OpteraError):
    """The autopilot cannot start (another one runs) or had to stop."""


def exit_code(error: BaseException) -> int:
    """The CLI's exit code for an error: 2 for bad input and unsent deploys, 1 otherwise."""
    if isinstance(error, (InputError, DeployNotSent)):
        return 2
    return 1

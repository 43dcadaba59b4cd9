"""Keys out of every text that leaves the process, and text from outside made safe to show.

Redaction happens *before* any cut (a key split by a cut cannot be matched any
more), and covers the keys the settings hold, anything that looks like a bearer
token or an OpenAI key, and credentials inside URLs. Settings register their
secrets here when loaded, so every surface (pages, CLI, logs, the database)
redacts the same way without passing keys around.
"""

from __future__ import annotations

import re
import threading
from typing import Iterable

MASK = "********"
_known: set[str] = set()
_lock = threading.Lock()
_PATTERNS = [
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"), "sk-" + MASK),
    (re.compile(r"(?i)\b(bearer|token|api[_-]?key|x-api-key)(\s*[:=]\s*|\s+)([A-Za-z0-9._~+/\-]{8,}=*)"),
     lambda m: f"{m.group(1)}{m.group(2)}{MASK}"),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^/\s:@]+)(?::[^/\s@]*)?@"), lambda m: f"{m.group(1)}{MASK}@"),
]
_MIN_SECRET = 4  # shorter "secrets" would redact ordinary words


def remember(*secrets: str | None) -> None:
    """Register secret values to be masked in every redacted text from now on."""
    with _lock:
        _known.update(s for s in secrets if s and len(s) >= _MIN_SECRET)


def forget_all() -> None:
    """Drop registered secrets (tests that switch settings)."""
    with _lock:
        _known.clear()


def redact(text: object, extra: Iterable[str | None] = ()) -> str:
    """The text with every known secret, token-looking string and URL credential masked."""
    out = "" if text is None else str(text)
    with _lock:
        secrets = sorted({*_known, *(s for s in extra if s and len(s) >= _MIN_SECRET)}, key=len, reverse=True)
    for secret in secrets:
        if secret in out:
            out = out.replace(secret, MASK)
    for pattern, repl in _PATTERNS:
        out = pattern.sub(repl, out)
    return out


def shorten(text: str, limit: int) -> str:
    """Cut to at most ``limit`` characters with an ellipsis (call after redact)."""
    text = str(text)
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def safe(text: object, limit: int = 300, extra: Iterable[str | None] = ()) -> str:
    """Redacted, whitespace-folded and cut: the form for any text from outside."""
    return shorten(" ".join(redact(text, extra).split()), limit)


def plain(text: object, limit: int = 2000) -> str:
    """Outside text made inert for Markdown: no links, images or HTML survive rendering.

    Every character Markdown or HTML gives meaning to is backslash-escaped, so a
    server message reading ``![x](http://host/pixel.png)`` shows as those characters
    and the browser fetches nothing.
    """
    text = safe(text, limit)
    return re.sub(r"([\\`*_{}\[\]()<>#+\-.!|~:&$])", r"\\\1", text)

"""The language server's settings from the environment, checked when the server starts (before it
answers anything): a value that is not a number in range is a usage error (exit 2), not a crash."""
from __future__ import annotations

import os

from netc.dsl.errors import UsageError


def _setting(name: str, default, parse, ok, want: str):
    """A number from the environment; a value that is not one is a usage error (exit 2), not a crash."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = parse(raw)
    except (ValueError, OverflowError):
        value = None
    if value is None or not ok(value):
        raise UsageError(f"{name}={raw[:40]!r} is not {want}", hint=f"unset {name} for the default ({default:g})")
    return value


#: each analysis gets this much time (NETC_LSP_TIMEOUT) and the server this much memory (NETC_LSP_MEMORY_MB)
BUDGET_S = _setting("NETC_LSP_TIMEOUT", 3.0, float, lambda v: 0 <= v <= 86400,
                    "a number of seconds from 0 (no budget) to 86400")
MEMORY_MB = _setting("NETC_LSP_MEMORY_MB", 4096, int, lambda v: v == 0 or 256 <= v <= 1 << 30,
                     "a whole number of megabytes, at least 256 (0: no cap)")

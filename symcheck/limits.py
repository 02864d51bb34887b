"""Verification's bounds and how they are written: the defaults, and sizes
like ``2G``. The command line reads them for its options without importing
verification itself (:mod:`symcheck.verify`), which a ``--no-verify`` run
never needs.
"""

from __future__ import annotations

import re

#: Refuse runs whose estimated memory is above this many bytes (``--max-memory``).
DEFAULT_MAX_MEMORY = 2 * 1024**3
#: Kill the onnxruntime child after this many seconds (``--verify-timeout``).
DEFAULT_TIMEOUT = 60.0

_UNITS = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]


def parse_memory(text: str) -> int:
    """``2G``, ``512M``, ``1.5GiB``, ``64k`` or plain bytes -> bytes (binary units).

    >>> parse_memory("512M"), parse_memory("2G"), parse_memory("1000")
    (536870912, 2147483648, 1000)
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", str(text), re.IGNORECASE)
    if not match:
        raise ValueError(f"{text!r} is not a size like 512M or 2G")
    number, unit = match.groups()
    value = int(float(number) * 1024 ** "bkmgt".index(unit.lower() or "b"))
    if value < 1:
        raise ValueError(f"{text!r} is not a positive size")
    return value


def memory_text(n: int) -> str:
    """``2 GiB``, ``37.3 GiB``, ``512 MiB``; huge values stay readable.

    >>> memory_text(2 * 1024**3), memory_text(40_000_000_000)
    ('2 GiB', '37.3 GiB')
    """
    if n.bit_length() > 1000:
        return "more than 10^300 bytes"
    value, unit = float(n), 0
    while value >= 1024 and unit < len(_UNITS) - 1:
        value /= 1024
        unit += 1
    return f"{value:.3g} {_UNITS[unit]}" if unit else f"{n} bytes"

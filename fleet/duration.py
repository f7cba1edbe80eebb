"""Durations as operators type them ("90s", "5m", "1h", "30d", "0"), for the server's flags and the fleet CLI."""

from __future__ import annotations

import re

__all__ = ["parse_duration"]

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", re.IGNORECASE)


def parse_duration(text: str) -> float:
    """Seconds of ``text`` (a number with an optional unit s, m, h, d, w); raises ValueError."""
    match = _DURATION.fullmatch(str(text))
    if match is None:
        raise ValueError(f"{text!r} is not a duration (examples: 90s, 5m, 1h, 30d, 0)")
    return float(match.group(1)) * _UNITS[match.group(2).lower()]

"""Durations as operators type them on the command line: ``90s``, ``15m``, ``24h``, ``30d``, ``2w``."""

import re
from datetime import timedelta

UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
PATTERN = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")


def parse_duration(text):
    """``"24h"`` → ``timedelta(hours=24)``; raises ``ValueError`` on anything else."""
    match = PATTERN.match(text or "")
    if not match:
        raise ValueError(f"invalid duration {text!r}: expected a number and a unit among s, m, h, d, w (e.g. 24h)")
    value, unit = match.groups()
    return timedelta(**{UNITS[unit]: int(value)})

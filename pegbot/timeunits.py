"""Time units: pegbot keeps time as int nanoseconds UTC, and these are its only constants.

One module so that a ``1e9`` typed as ``1_000_000`` in one room cannot disagree with another
room's ``_NS``; conversions to and from seconds live here too, rounding the same way
everywhere (to the nearest nanosecond).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "NS_PER_DAY",
    "NS_PER_HOUR",
    "NS_PER_MIN",
    "NS_PER_MS",
    "NS_PER_S",
    "NS_PER_US",
    "ns_to_s",
    "s_to_ns",
]

NS_PER_US: Final = 1_000
NS_PER_MS: Final = 1_000_000
NS_PER_S: Final = 1_000_000_000
NS_PER_MIN: Final = 60 * NS_PER_S
NS_PER_HOUR: Final = 3_600 * NS_PER_S
NS_PER_DAY: Final = 86_400 * NS_PER_S


def s_to_ns(seconds: float) -> int:
    """Seconds (a setting, a duration) as int nanoseconds, to the nearest one."""
    return round(seconds * NS_PER_S)


def ns_to_s(ns: int) -> float:
    """Int nanoseconds as float seconds (for metrics and humans, never to decide an order)."""
    return ns / NS_PER_S

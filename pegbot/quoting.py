"""Pure quoting helpers: exact arithmetic on ticks that strategies and risk share.

Every function here is a pure function of its arguments (no state, no clock, no I/O) and
exact: prices in ticks are :class:`~fractions.Fraction` (or a float taken at its exact value),
and a parameter written as a decimal (``0.1`` bps) means that decimal, not its binary float.
Rounding always goes the safe way for a passive quote: onto the grid *away* from the touch,
inward for a band.

The helpers read only what they need of the contract's objects (:class:`Touch`,
:class:`Excess`), so this module depends on nothing but :mod:`pegbot.market`; the strategy
contract (:mod:`pegbot.strategy`) and the book (:mod:`pegbot.book`) both build on it.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from typing import Protocol

from pegbot.market import Side

__all__ = [
    "Excess",
    "Touch",
    "band_ticks",
    "bps_ticks",
    "frac",
    "inventory_skew",
    "post_only_clamp",
    "round_passive",
]


class Touch(Protocol):
    """The best prices of a book (a :class:`pegbot.strategy.BookView` has them)."""

    @property
    def best_bid(self) -> int | None:
        """Best bid tick, None when the side is empty."""

    @property
    def best_ask(self) -> int | None:
        """Best ask tick, None when the side is empty."""


class Excess(Protocol):
    """Holdings measured from their target (a :class:`pegbot.strategy.Inventory` is one)."""

    @property
    def excess_units(self) -> int:
        """Base held above the target, in qty units (negative when below)."""


def frac(value: float | int | str | Decimal) -> Fraction:
    """A parameter as an exact fraction of its *decimal* spelling (0.1 is 1/10)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not finite: {value}")
        return Fraction(repr(value))
    return Fraction(value)


def bps_ticks(fair_ticks: Fraction, bps: Fraction) -> Fraction:
    """``bps`` basis points of a price given in ticks, in ticks."""
    return fair_ticks * bps / 10_000


def band_ticks(ref_ticks: Fraction | float, band_bps: Fraction | float) -> tuple[int, int]:
    """The inclusive whole-tick band ``[ref·(1−b), ref·(1+b)]``, rounded inward.

    Exact for every input: ``ref_ticks`` is taken at its exact value (a float's binary value),
    a float ``band_bps`` at its decimal spelling (:func:`frac`).
    """
    ref = ref_ticks if isinstance(ref_ticks, Fraction) else Fraction(ref_ticks)
    bps = band_bps if isinstance(band_bps, Fraction) else frac(band_bps)
    width = bps_ticks(ref, bps)
    return math.ceil(ref - width), math.floor(ref + width)


def round_passive(side: Side, price_ticks: Fraction) -> int:
    """Round onto the grid away from the touch: bids down, asks up."""
    return math.floor(price_ticks) if side is Side.BUY else math.ceil(price_ticks)


def post_only_clamp(side: Side, price_ticks: int, book: Touch) -> int:
    """Move a price so that it cannot take: a bid below the best ask, an ask above the bid."""
    if side is Side.BUY:
        best_ask = book.best_ask
        return price_ticks if best_ask is None else min(price_ticks, best_ask - 1)
    best_bid = book.best_bid
    return price_ticks if best_bid is None else max(price_ticks, best_bid + 1)


def inventory_skew(inventory: Excess, range_units: int) -> Fraction:
    """Excess inventory over its range, clipped to ``[-1, 1]`` (positive when long)."""
    if range_units <= 0:
        raise ValueError(f"range_units must be positive, got {range_units}")
    q = Fraction(inventory.excess_units, range_units)
    return max(Fraction(-1), min(Fraction(1), q))

"""fixed_spread: one bid and one ask a fixed number of ticks around the mid or the fair value.

The reference strategy for cross-checks with other engines (hftbacktest, the simulator): its
quotes follow from the inputs by integer arithmetic alone. With reference price ``m`` in
ticks (a half tick when the mid sits between two ticks):

    bid = ceil(m) − half_spread_ticks − skew
    ask = floor(m) + half_spread_ticks − skew

so a one-tick book with ``half_spread_ticks = 1`` is quoted exactly at the touch. The
optional skew is ``round(q · skew_ticks)`` for ``q`` the excess inventory over
``inventory_range_lots``, clipped to ``[-1, 1]``; it shifts both quotes down when long.
Post-only: a quote that would take is moved one tick behind the touch.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Literal

from pydantic import Field

from pegbot.market import Market, Side
from pegbot.quoting import inventory_skew, post_only_clamp
from pegbot.strategy import ALL_INPUTS, DesiredQuotes, MarketState, Quote, StrategyParams


class Params(StrategyParams):
    """fixed_spread parameters.

    Attributes:
        half_spread_ticks: Ticks from the reference to each quote.
        reference: ``mid`` of the book or the peg's ``fair`` value.
        size_lots: Lots per quote.
        skew_ticks: Shift of both quotes at full inventory skew (0 = off).
        inventory_range_lots: Excess inventory (lots) at which the skew is full.
    """

    half_spread_ticks: int = Field(default=1, ge=1)
    reference: Literal["mid", "fair"] = "mid"
    size_lots: int = Field(default=1000, gt=0)
    skew_ticks: int = Field(default=0, ge=0)
    inventory_range_lots: int = Field(default=100_000, gt=0)


class FixedSpread:
    """The fixed-spread strategy (see the module docstring)."""

    name = "fixed_spread"
    inputs = ALL_INPUTS

    def __init__(self, params: Params, market: Market) -> None:
        """Build from validated parameters.

        Args:
            params: The strategy parameters.
            market: The market quoted.
        """
        self.params = params
        self.market = market
        self._range_units = market.lots_to_units(params.inventory_range_lots)

    def quote(self, state: MarketState) -> DesiredQuotes:
        """Return one bid and one ask; empty when the reference is unknown."""
        p = self.params
        if p.reference == "fair":
            ref = state.fair.price_ticks if state.fair is not None else None
        else:
            mid = state.book.mid_ticks()
            ref = None if mid is None else Fraction(mid)
        if ref is None:
            return DesiredQuotes((), note=f"no {p.reference} price")
        skew = 0
        if p.skew_ticks:
            # Round half away from zero so the skew is symmetric in the sign of q.
            x = inventory_skew(state.inventory, self._range_units) * p.skew_ticks
            skew = math.floor(x + Fraction(1, 2)) if x >= 0 else -math.floor(-x + Fraction(1, 2))
        bid = post_only_clamp(Side.BUY, math.ceil(ref) - p.half_spread_ticks - skew, state.book)
        ask = post_only_clamp(Side.SELL, math.floor(ref) + p.half_spread_ticks - skew, state.book)
        quotes = []
        if bid > 0:
            quotes.append(Quote(Side.BUY, bid, p.size_lots, "b0"))
        if ask > 0:
            quotes.append(Quote(Side.SELL, ask, p.size_lots, "a0"))
        return DesiredQuotes(tuple(quotes))


def build(params: Params, market: Market) -> FixedSpread:
    """Build the strategy (the loader's entry point)."""
    return FixedSpread(params, market)


__all__ = ["FixedSpread", "Params", "build"]

"""peg_ladder: the desk's default, a two-sided ladder around the peg's fair value.

``levels`` quotes a side, the first ``first_bps`` from fair and each next one ``step_bps``
further, rounded away from the touch to whole ticks. The whole ladder moves with inventory:
when the desk holds more base than its target, prices shift down (sell sooner, buy later)
*and* bid sizes shrink while ask sizes grow, the reverse when short. Skewing size alone would
leave a one-sided inventory stuck at the same prices.

The inner half-spread never falls below ``min_spread_bps``/2 nor below what pays the maker fee
twice plus ``min_edge_bps``, so a round trip at the inner levels earns money after fees. No
quote ever leaves the peg band ``fair ± band_bps``: levels beyond it are dropped, not clamped
(clamping would pile size at the edge). Optional defence walls rest at the band edges: a
large bid at the floor and a large ask at the ceiling, where mint/redeem arbitrage starts to
pay. Quotes are post-only: a price that would take is moved one tick behind the touch.
"""

from __future__ import annotations

import math
from fractions import Fraction

from pydantic import Field, model_validator

from pegbot.market import Market, Side
from pegbot.quoting import band_ticks, frac, inventory_skew, post_only_clamp
from pegbot.strategy import ALL_INPUTS, DesiredQuotes, MarketState, Quote, StrategyParams


class Params(StrategyParams):
    """peg_ladder parameters (bps are of the fair price).

    Attributes:
        levels: Quotes per side.
        first_bps: Distance of the first level from fair.
        step_bps: Distance between consecutive levels.
        size_lots: Lots per level, or one entry per level (inner first).
        min_spread_bps: Smallest bid-ask distance at the inner levels.
        min_edge_bps: Edge kept above the round-trip maker fee.
        band_bps: Half-width of the peg band no quote may leave.
        inventory_range_lots: Excess inventory (lots) at which the skew is full.
        price_skew_bps: Price shift of the whole ladder at full skew.
        size_skew: Size change at full skew, as a fraction (1 = the buying side vanishes
            when fully long).
        wall_lots: Size of each defence wall at the band edges (0 = no walls).
    """

    levels: int = Field(default=3, ge=1, le=20)
    first_bps: float = Field(default=10.0, gt=0)
    step_bps: float = Field(default=10.0, gt=0)
    size_lots: int | list[int] = 1000
    min_spread_bps: float = Field(default=0.0, ge=0)
    min_edge_bps: float = Field(default=0.0, ge=0)
    band_bps: float = Field(default=100.0, gt=0, le=5000)
    inventory_range_lots: int = Field(default=100_000, gt=0)
    price_skew_bps: float = Field(default=10.0, ge=0)
    size_skew: float = Field(default=0.5, ge=0, le=1)
    wall_lots: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _check(self) -> Params:
        sizes = self.size_lots if isinstance(self.size_lots, list) else [self.size_lots]
        if isinstance(self.size_lots, list) and len(self.size_lots) != self.levels:
            raise ValueError(
                f"size_lots has {len(self.size_lots)} entries, levels is {self.levels}"
            )
        if any(s <= 0 for s in sizes):
            raise ValueError("every size_lots entry must be positive")
        # A skew as wide as the band would push a whole side out of it; below that, every
        # ask stays at or above the band floor and every bid at or below its ceiling.
        if self.price_skew_bps >= self.band_bps:
            raise ValueError("price_skew_bps must be smaller than band_bps")
        return self


class PegLadder:
    """The peg ladder strategy (see the module docstring)."""

    name = "peg_ladder"
    inputs = ALL_INPUTS

    def __init__(self, params: Params, market: Market) -> None:
        """Build from validated parameters.

        Args:
            params: The strategy parameters.
            market: The market quoted (its maker fee sets the fee floor of the spread).
        """
        self.params = params
        self.market = market
        sizes = params.size_lots
        self._sizes = list(sizes) if isinstance(sizes, list) else [sizes] * params.levels
        fee_bps = frac(market.maker_fee) * 10_000
        min_half_bps = max(frac(params.min_spread_bps), 2 * fee_bps + frac(params.min_edge_bps)) / 2
        first = max(frac(params.first_bps), min_half_bps)
        # Distance of each level from the centre as a fraction of fair, computed once.
        self._offsets = [(first + i * frac(params.step_bps)) / 10_000 for i in range(params.levels)]
        self._band_bps = frac(params.band_bps)
        self._skew = frac(params.price_skew_bps) / 10_000
        self._size_skew = frac(params.size_skew)
        self._range_units = market.lots_to_units(params.inventory_range_lots)
        # The last answer: on a quiet peg most ticks repeat the inputs that matter.
        self._memo_key: tuple[object, ...] | None = None
        self._memo: DesiredQuotes = DesiredQuotes()
        # The ladder before the book's clamps, by (fair, inventory): the exact arithmetic
        # runs only when one of those moves, not at every change of the touch.
        self._raw_key: tuple[object, ...] | None = None
        self._raw: list[tuple[Side, int, int, str]] = []
        self._band: tuple[int, int] = (0, 0)

    def quote(self, state: MarketState) -> DesiredQuotes:
        """Return the ladder for ``state``; empty when the fair value is unknown."""
        fair = state.fair
        if fair is None:
            return DesiredQuotes((), note="no fair value")
        book = state.book
        key = (fair.price_ticks, state.inventory.excess_units, book.best_bid, book.best_ask)
        if key != self._memo_key:
            self._memo = self._ladder(fair.price_ticks, state)
            self._memo_key = key
        return self._memo

    def _ladder(self, f: Fraction, state: MarketState) -> DesiredQuotes:
        raw_key = (f, state.inventory.excess_units)
        if raw_key != self._raw_key:
            self._raw, self._band = self._unclamped(f, state)
            self._raw_key = raw_key
        lo, hi = self._band
        book = state.book
        quotes: list[Quote] = []
        for side, price, lots, level in self._raw:
            price = post_only_clamp(side, price, book)
            if lo <= price <= hi:
                quotes.append(Quote(side, price, lots, level))
        if self.params.wall_lots:
            self._add_walls(quotes, lo, hi, state)
        return DesiredQuotes(tuple(quotes))

    def _unclamped(
        self, f: Fraction, state: MarketState
    ) -> tuple[list[tuple[Side, int, int, str]], tuple[int, int]]:
        # Every level's side, price and size around the skewed centre, and the band.
        q = inventory_skew(state.inventory, self._range_units)
        center = f - q * self._skew * f
        band = band_ticks(f, self._band_bps)
        # Long (q > 0): bids shrink, asks grow; floor keeps sizes monotone in q.
        qs = q * self._size_skew
        factors = {Side.BUY: 1 - qs, Side.SELL: 1 + qs}
        raw: list[tuple[Side, int, int, str]] = []
        for i, offset in enumerate(self._offsets):
            half = f * offset
            base = self._sizes[i]
            for side, price, prefix in (
                (Side.BUY, math.floor(center - half), "b"),
                (Side.SELL, math.ceil(center + half), "a"),
            ):
                lots = math.floor(base * factors[side])
                if lots > 0:
                    raw.append((side, price, lots, f"{prefix}{i}"))
        return raw, band

    def _add_walls(self, quotes: list[Quote], lo: int, hi: int, state: MarketState) -> None:
        # Walls rest exactly at the band edges. A wall that would take (the market is already
        # through the band) or touch our own other side is left out rather than moved inside.
        lowest_ask = min((q.price_ticks for q in quotes if q.side is Side.SELL), default=hi + 1)
        highest_bid = max((q.price_ticks for q in quotes if q.side is Side.BUY), default=lo - 1)
        wall = self.params.wall_lots
        if lo < lowest_ask and post_only_clamp(Side.BUY, lo, state.book) == lo:
            quotes.append(Quote(Side.BUY, lo, wall, "bw"))
            highest_bid = max(highest_bid, lo)
        if hi > highest_bid and post_only_clamp(Side.SELL, hi, state.book) == hi:
            quotes.append(Quote(Side.SELL, hi, wall, "aw"))


def build(params: Params, market: Market) -> PegLadder:
    """Build the strategy (the loader's entry point)."""
    return PegLadder(params, market)


__all__ = ["Params", "PegLadder", "build"]

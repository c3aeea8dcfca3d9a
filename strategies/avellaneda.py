"""avellaneda: Avellaneda–Stoikov reservation price and spread, made to survive a peg.

With inventory ``q`` (in units of ``inventory_unit_lots``), volatility ``σ`` (bps per √s),
risk aversion ``γ`` (per bps per unit of q), order-arrival decay ``κ`` (per bps) and horizon
``τ`` (s), the model quotes around the reservation price

    r = s − q·γ·σ²·τ                      (bps of s)

with the total spread

    δ = γ·σ²·τ + (2/γ)·ln(1 + γ/κ)         (bps of s).

The classic form breaks on a pegged market: the mid does not move, σ becomes 0 (a plain
implementation then stops quoting), and the inventory skew ``q·γ·σ²·τ`` vanishes with σ. Here
σ is the larger of an EWMA estimate and ``sigma_floor_bps``, and δ is at least
``min_spread_bps`` and at least the round-trip maker fee plus ``min_edge_bps``, so quotes and
skew never vanish.

σ is estimated from the reference price this strategy sees on each call (its only state): an
exponentially weighted mean of squared log returns per second with half-life
``vol_halflife_s``, in the time of ``state.now_ns``. The model is a float model; its result is
put on the tick grid once, rounding away from the touch.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Literal

from pydantic import Field

from pegbot.market import Market, Side
from pegbot.quoting import band_ticks, frac, post_only_clamp, round_passive
from pegbot.strategy import ALL_INPUTS, DesiredQuotes, MarketState, Quote, StrategyParams
from pegbot.timeunits import NS_PER_S


class Params(StrategyParams):
    """Avellaneda–Stoikov parameters.

    Attributes:
        gamma: Risk aversion, per bps per inventory unit.
        kappa: Decay of order arrival with distance, per bps.
        horizon_s: Horizon τ in seconds (the infinite-horizon desk uses a rolling τ).
        sigma_floor_bps: Smallest volatility used, bps per √s.
        vol_halflife_s: Half-life of the volatility estimate.
        reference: Price the model quotes around: the peg's fair value, the mid or the
            microprice.
        min_spread_bps: Smallest total spread.
        min_edge_bps: Edge kept above the round-trip maker fee.
        max_spread_bps: Largest total spread.
        inventory_unit_lots: Lots per unit of q.
        max_q: q is clipped to ±max_q.
        max_skew_bps: The reservation price moves at most this far from the reference (the
            model's ``q·γ·σ²·τ`` is unbounded in γ and τ).
        size_lots: Lots per quote.
        size_eta: Shrinks the side that adds inventory by ``exp(−η·|q|)``.
        levels: Quotes per side.
        level_step_bps: Distance between levels.
        band_bps: Optional band around the reference no quote may leave.
    """

    gamma: float = Field(default=0.1, gt=0)
    kappa: float = Field(default=0.1, gt=0)
    horizon_s: float = Field(default=60.0, gt=0)
    sigma_floor_bps: float = Field(default=0.5, gt=0)
    vol_halflife_s: float = Field(default=60.0, gt=0)
    reference: Literal["fair", "mid", "microprice"] = "fair"
    min_spread_bps: float = Field(default=0.0, ge=0)
    min_edge_bps: float = Field(default=0.0, ge=0)
    max_spread_bps: float = Field(default=1000.0, gt=0)
    inventory_unit_lots: int = Field(default=10_000, gt=0)
    max_q: float = Field(default=10.0, gt=0)
    max_skew_bps: float = Field(default=100.0, gt=0, lt=10_000)
    size_lots: int = Field(default=1000, gt=0)
    size_eta: float = Field(default=0.0, ge=0)
    levels: int = Field(default=1, ge=1, le=20)
    level_step_bps: float = Field(default=10.0, gt=0)
    band_bps: float | None = Field(default=None, gt=0)


class Avellaneda:
    """The Avellaneda–Stoikov strategy with floors (see the module docstring).

    Attributes:
        sigma_bps: The current volatility estimate before the floor, bps per √s.
    """

    name = "avellaneda"
    inputs = ALL_INPUTS

    def __init__(self, params: Params, market: Market) -> None:
        """Build from validated parameters.

        Args:
            params: The strategy parameters.
            market: The market quoted (its maker fee sets the fee floor of the spread).
        """
        self.params = params
        self.market = market
        fee_bps = float(market.maker_fee) * 10_000
        self._min_spread = max(params.min_spread_bps, 2 * fee_bps + params.min_edge_bps)
        self._unit_units = market.lots_to_units(params.inventory_unit_lots)
        self._var: float = 0.0  # per second, in (log return)²
        self._last_ref: float | None = None
        self._last_ns = 0

    @property
    def sigma_bps(self) -> float:
        """Estimated volatility before the floor, bps per √s."""
        return math.sqrt(self._var) * 10_000

    def reset(self) -> None:
        """Forget the volatility estimate."""
        self._var, self._last_ref, self._last_ns = 0.0, None, 0

    def _reference(self, state: MarketState) -> Fraction | None:
        ref = self.params.reference
        if ref == "fair":
            return state.fair.price_ticks if state.fair is not None else None
        value = state.book.mid_ticks() if ref == "mid" else state.book.microprice_ticks()
        return None if value is None else Fraction(value)

    def _update_vol(self, ref: float, now_ns: int) -> None:
        last = self._last_ref
        if last is not None and now_ns > self._last_ns:
            dt = (now_ns - self._last_ns) / NS_PER_S
            ret = math.log(ref / last)
            alpha = 1.0 - 0.5 ** (dt / self.params.vol_halflife_s)
            self._var += alpha * (ret * ret / dt - self._var)
        if last is None or now_ns > self._last_ns:
            self._last_ref, self._last_ns = ref, now_ns

    def quote(self, state: MarketState) -> DesiredQuotes:
        """Return the quotes for ``state``; empty when the reference is unknown."""
        ref = self._reference(state)
        if ref is None:
            return DesiredQuotes((), note=f"no {self.params.reference} price")
        p = self.params
        ref_f = float(ref)
        self._update_vol(ref_f, state.now_ns)
        sigma = max(self.sigma_bps, p.sigma_floor_bps)
        q = state.inventory.excess_units / self._unit_units
        q = max(-p.max_q, min(p.max_q, q))
        risk_term = p.gamma * sigma * sigma * p.horizon_s  # bps
        spread = risk_term + (2.0 / p.gamma) * math.log1p(p.gamma / p.kappa)
        spread = min(max(spread, self._min_spread), p.max_spread_bps)
        bps_to_ticks = ref_f / 10_000
        skew_bps = max(-p.max_skew_bps, min(p.max_skew_bps, q * risk_term))
        center = ref - Fraction(skew_bps * bps_to_ticks)
        half = Fraction(spread / 2 * bps_to_ticks)
        step = Fraction(p.level_step_bps * bps_to_ticks)
        lo, hi = (0, 1 << 62) if p.band_bps is None else band_ticks(ref, frac(p.band_bps))
        # The side that adds inventory shrinks (η); the reducing side keeps its size.
        shrink = math.exp(-p.size_eta * abs(q))
        bid_lots = math.floor(p.size_lots * shrink) if q > 0 else p.size_lots
        ask_lots = math.floor(p.size_lots * shrink) if q < 0 else p.size_lots
        quotes: list[Quote] = []
        for i in range(p.levels):
            offset = half + i * step
            for side, sign, lots, prefix in (
                (Side.BUY, -1, bid_lots, "b"),
                (Side.SELL, 1, ask_lots, "a"),
            ):
                price = post_only_clamp(
                    side, round_passive(side, center + sign * offset), state.book
                )
                if lots > 0 and price > 0 and lo <= price <= hi:
                    quotes.append(Quote(side, price, lots, f"{prefix}{i}"))
        return DesiredQuotes(tuple(quotes))


def build(params: Params, market: Market) -> Avellaneda:
    """Build the strategy (the loader's entry point)."""
    return Avellaneda(params, market)


__all__ = ["Avellaneda", "Params", "build"]

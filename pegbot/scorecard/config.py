"""What the scorecard measures against: thresholds, bands and market-making obligations.

Two pydantic tables, frozen and strict about unknown keys (a misspelt obligation must fail
loudly, not silently pass): :class:`ScorecardSettings` (the FX-jump threshold, the band a
requote must land in, the bands and horizons of the figures) and :class:`ObligationSettings`,
the ``[obligations]`` table.

How obligations are measured — the way venues measure them
----------------------------------------------------------

A market-making agreement states *presence, size and spread*: firm two-sided quotes of at
least a minimum size within a maximum spread, for at least a share of the trading time (the
EU's rule for market-making agreements, Delegated Regulation 2017/578 art. 2, asks for 50 %
of continuous trading; Deutsche Börse's Designated Sponsors have a maximum spread, a
minimum quote volume on both sides and a minimum participation time). Venues check it on
*snapshots of their own book*, not on a continuous clock: Injective's liquidity program takes
a book snapshot about once a minute and counts a snapshot toward uptime only when the maker
has, on both sides, orders of at least the minimum size within the maximum spread of the
*mid*; Paradex samples quotes every few seconds, distances measured from the mid/top of
book. Binance publishes no formula for its spot liquidity programs (they are ranked on maker
volume share), so there is nothing of theirs to copy.

The choice here follows that practice. A snapshot is taken every ``sample_interval_s``
(default 1 s: finer than a venue's minute, since evaluation runs are minutes long) from the
start of the measured span; a snapshot *meets* the obligations when all of these hold:

* ``two_sided``: at least one order of ours rests on each side;
* ``spread``: our quoted spread, ``(our best ask - our best bid) / their midpoint``, is at
  most ``max_spread_bps``;
* ``depth_bid`` / ``depth_ask``: our resting value (quote currency) within ``depth_band_bps``
  of the reference is at least ``min_depth_quote`` on that side. The reference is the
  market's public mid, our orders included, as venues measure it (``band_reference =
  "mid"``), or the fair value (``"fair"``, the desk's own view of the peg).

Uptime is the share of snapshots that meet them, and the obligation passes when uptime is at
least ``min_uptime``. The defaults are illustrative for a small KGST desk, not any venue's
agreement: put the agreement's numbers in the table.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["ObligationSettings", "ScorecardSettings"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ObligationSettings(_Model):
    """``[obligations]``: a market-making agreement, checked on regular snapshots.

    Attributes:
        max_spread_bps: Largest quoted spread of ours (best ask - best bid over their mid).
        min_depth_quote: Least value of ours, per side, within ``depth_band_bps`` of the
            reference, in the quote currency.
        depth_band_bps: The band around the reference that counts toward depth.
        band_reference: ``mid`` (the public mid, ours included: how venues measure) or
            ``fair`` (the fair value).
        min_uptime: Least share of snapshots meeting every condition for a pass.
        sample_interval_s: Seconds between snapshots.
    """

    max_spread_bps: float = Field(default=50.0, gt=0)
    min_depth_quote: float = Field(default=50.0, ge=0)
    depth_band_bps: float = Field(default=100.0, gt=0)
    band_reference: Literal["mid", "fair"] = "mid"
    min_uptime: float = Field(default=0.9, ge=0, le=1)
    sample_interval_s: float = Field(default=1.0, gt=0)


class ScorecardSettings(_Model):
    """How the scorecard reads the event stream.

    Attributes:
        jump_bps: A fair-value change at least this large is an FX jump, timed on its own.
        requote_band_bps: After a jump the bot has requoted once each side has an order
            within this band of the new fair (and none rests on the wrong side of it).
        value_bands_bps: Bands around fair for our quoted value per side.
        mid_bands_bps: Bands around fair for the share of time the market mid spent inside.
        markouts_s: Horizons of the fill markouts, in seconds.
        obligations: The market-making obligations.
    """

    jump_bps: float = Field(default=100.0, gt=0)
    requote_band_bps: float = Field(default=50.0, gt=0)
    value_bands_bps: tuple[int, ...] = (10, 50, 100)
    mid_bands_bps: tuple[int, ...] = (10, 25, 50)
    markouts_s: tuple[float, ...] = (1.0, 5.0, 30.0)
    obligations: ObligationSettings = ObligationSettings()

    @field_validator("value_bands_bps", "mid_bands_bps", "markouts_s")
    @classmethod
    def _positive_sorted(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not v or any(x <= 0 for x in v):
            raise ValueError("must be a non-empty list of positive numbers")
        if len(set(v)) != len(v):
            raise ValueError("must not repeat a value")
        return tuple(sorted(v))

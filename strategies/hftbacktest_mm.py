"""hftbacktest_mm: the market maker measured with hftbacktest, for cross-checking engines.

Every wake-up (the scenario's timer, 100 ms in ``backtests/hftbacktest_crosscheck.toml``),
with best bid ``bb`` and best ask ``ba`` in ticks, position ``q`` (lots away from the
inventory target) and ``skew = round(2 × q / limit)`` (half to even, as Python and numpy
round):

    bid = min((bb + ba − 1) // 2 − skew, bb)
    ask = max((bb + ba + 2) // 2 − skew, ba), and at least bid + 1

No bid once ``q ≥ limit``, no ask once ``q ≤ −limit``. One order of ``size_lots`` per side;
the reconciler keeps an order already at its target and replaces the rest. The quotes depend
on the best prices and the position only, so a backtest may skip wake-ups where neither
changed (its :attr:`HftbacktestMM.inputs` say so).
"""

from __future__ import annotations

from pydantic import Field

from pegbot.market import Market, Side
from pegbot.strategy import (
    DesiredQuotes,
    Input,
    MarketState,
    Quote,
    StrategyParams,
)


class Params(StrategyParams):
    """hftbacktest_mm parameters.

    Attributes:
        size_lots: Lots per quote.
        limit_lots: Position (lots from the target) at which one side stops quoting.
    """

    size_lots: int = Field(default=50_000, gt=0)
    limit_lots: int = Field(default=2_000_000, gt=0)


class HftbacktestMM:
    """The cross-check market maker (see the module docstring)."""

    name = "hftbacktest_mm"
    #: The quotes read only the best bid and ask prices and the position.
    inputs = frozenset({Input.BEST_PRICES, Input.INVENTORY})

    def __init__(self, params: Params, market: Market) -> None:
        """Build from validated parameters.

        Args:
            params: The strategy parameters.
            market: The market quoted.
        """
        self.params = params
        self.market = market
        self._upl = market.units_per_lot
        # The same inputs give the same (immutable) quotes: keep recent ones, a backtest
        # asks again and again at the same few prices.
        self._cache: dict[tuple[int, int, bool, bool], DesiredQuotes] = {}

    def quote(self, state: MarketState) -> DesiredQuotes:
        """Return the bid and ask; empty while the book is one-sided or empty."""
        book = state.book
        bb, ba = book.best_bid, book.best_ask
        if bb is None or ba is None:
            return DesiredQuotes((), note="one-sided book")
        p = self.params
        # Position in lots, truncated toward zero (lots are whole on the venue anyway).
        q = int(state.inventory.excess_units / self._upl)
        skew = round(2 * q / p.limit_lots)
        bid = min((bb + ba - 1) // 2 - skew, bb)
        ask = max((bb + ba + 2) // 2 - skew, ba)
        if ask <= bid:
            ask = bid + 1
        key = (bid, ask, q < p.limit_lots and bid > 0, q > -p.limit_lots and ask > 0)
        out = self._cache.get(key)
        if out is None:
            quotes = []
            if key[2]:
                quotes.append(Quote(Side.BUY, bid, p.size_lots, "b0"))
            if key[3]:
                quotes.append(Quote(Side.SELL, ask, p.size_lots, "a0"))
            if len(self._cache) >= 4096:
                self._cache.clear()
            out = self._cache[key] = DesiredQuotes(tuple(quotes))
        return out


def build(params: Params, market: Market) -> HftbacktestMM:
    """Build the strategy (the loader's entry point)."""
    return HftbacktestMM(params, market)


__all__ = ["HftbacktestMM", "Params", "build"]

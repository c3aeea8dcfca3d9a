"""touch_ladder: a benchmark-only strategy whose ladder follows the market's touch.

peg_ladder quotes around the fair value, so a book message alone rarely moves it; to time the
book-message → order-request path the benchmark needs quotes that a book message *does* move.
This ladder puts ``levels`` bids from one tick below the market's best bid down, and as many
asks from one tick above the market's best ask up, where "the market" is the book without our
own resting orders (read from ``state.live_orders``). Pure, like every strategy.
"""

from __future__ import annotations

from pydantic import Field

from pegbot.book import ASK, BID
from pegbot.market import Market, Side
from pegbot.strategy import ALL_INPUTS, DesiredQuotes, MarketState, Quote, StrategyParams


class Params(StrategyParams):
    """touch_ladder parameters."""

    levels: int = Field(default=5, ge=1, le=20)
    size_lots: int = Field(default=1000, gt=0)


class TouchLadder:
    """See the module docstring."""

    name = "touch_ladder"
    inputs = ALL_INPUTS

    def __init__(self, params: Params, market: Market) -> None:
        """Build from validated parameters."""
        self.params = params
        self.upl = market.units_per_lot

    def _market_touch(self, state: MarketState, side: int) -> int | None:
        ours: dict[int, int] = {}
        want = Side.BUY if side == BID else Side.SELL
        for o in state.live_orders:
            if o.side is want:
                ours[o.price_ticks] = ours.get(o.price_ticks, 0) + o.lots * self.upl
        for price, qty in state.book.top(side, self.params.levels * 2 + 5):
            if qty > ours.get(price, 0):
                return price
        return None

    def quote(self, state: MarketState) -> DesiredQuotes:
        """The ladder behind the market's touch on both sides."""
        bb = self._market_touch(state, BID)
        ba = self._market_touch(state, ASK)
        if bb is None or ba is None:
            return DesiredQuotes((), note="one-sided market")
        n, size = self.params.levels, self.params.size_lots
        quotes = [Quote(Side.BUY, bb - 1 - i, size, f"b{i}") for i in range(n)]
        quotes += [Quote(Side.SELL, ba + 1 + i, size, f"a{i}") for i in range(n)]
        return DesiredQuotes(tuple(q for q in quotes if q.price_ticks > 0))


def build(params: Params, market: Market) -> TouchLadder:
    """The loader's entry point."""
    return TouchLadder(params, market)

"""hftbacktest_mm: the quotes follow the documented rule, and the quote cache changes nothing."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pegbot.backtest.book import DenseBookView
from pegbot.market import Market, Side
from pegbot.strategy import DesiredQuotes, Inventory, MarketState, Quote
from strategies.hftbacktest_mm import HftbacktestMM, Params

MARKET = Market.kgst_usdt()
UPL = MARKET.units_per_lot
EMPTY = np.zeros(4, dtype=np.int64)


def _state(bb: int | None, ba: int | None, lots: int) -> MarketState:
    book = DenseBookView(EMPTY, EMPTY, 0, bb, ba, 0)
    return MarketState(0, book, None, Inventory(10**12 + lots * UPL, 0, 10**12))


def _rule(bb: int, ba: int, q: int, size: int, limit: int) -> DesiredQuotes:
    # The module docstring's rule, written out independently.
    skew = round(2 * q / limit)
    bid = min((bb + ba - 1) // 2 - skew, bb)
    ask = max((bb + ba + 2) // 2 - skew, ba)
    ask = max(ask, bid + 1)
    quotes = []
    if q < limit and bid > 0:
        quotes.append(Quote(Side.BUY, bid, size, "b0"))
    if q > -limit and ask > 0:
        quotes.append(Quote(Side.SELL, ask, size, "a0"))
    return DesiredQuotes(tuple(quotes))


steps = st.lists(
    st.tuples(st.integers(1, 40), st.integers(0, 6), st.integers(-25, 25)), min_size=1, max_size=40
)


@settings(max_examples=200, deadline=None)
@given(steps)
def test_cached_quotes_equal_fresh_ones(seq: list[tuple[int, int, int]]) -> None:
    params = Params(size_lots=5, limit_lots=10)
    kept = HftbacktestMM(params, MARKET)  # one instance: its cache fills up along the way
    for bb, spread, q in seq:
        state = _state(bb, bb + spread, q)
        got = kept.quote(state)
        assert got == HftbacktestMM(params, MARKET).quote(state)  # a cold cache
        assert got.quotes == _rule(bb, bb + spread, q, 5, 10).quotes


def test_one_sided_book_quotes_nothing() -> None:
    mm = HftbacktestMM(Params(), MARKET)
    assert mm.quote(_state(None, 1140, 0)).quotes == ()
    assert mm.quote(_state(1140, None, 0)).quotes == ()


def test_cache_stays_bounded() -> None:
    mm = HftbacktestMM(Params(size_lots=5, limit_lots=10), MARKET)
    for bb in range(1, 5000):
        out = mm.quote(_state(bb, bb + 1, 0))
        assert [q.price_ticks for q in out.quotes] == [bb, bb + 1]
    assert len(mm._cache) <= 4096

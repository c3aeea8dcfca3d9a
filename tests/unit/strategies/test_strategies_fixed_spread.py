"""fixed_spread: the integer reference strategy."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pegbot.book import OrderBook
from pegbot.market import Market
from pegbot.strategy import FairView, Inventory, MarketState, load_strategy
from strategies.fixed_spread import FixedSpread

MARKET = Market.kgst_usdt()
UNITS = MARKET.units_per_lot


def _book(bid: int | None, ask: int | None) -> OrderBook:
    book = OrderBook()
    book.apply_snapshot([(bid, 10**12)] if bid else [], [(ask, 10**12)] if ask else [])
    return book


def _state(book: OrderBook, fair: Fraction | None = None, excess_lots: int = 0) -> MarketState:
    return MarketState(
        now_ns=0,
        book=book,
        fair=None if fair is None else FairView.make(fair),
        inventory=Inventory(excess_lots * UNITS, 0, 0),
    )


def _fs(**params: Any) -> FixedSpread:
    s = load_strategy("fixed_spread", MARKET, params)
    assert isinstance(s, FixedSpread)
    return s


def _pair(s: FixedSpread, state: MarketState) -> tuple[int | None, int | None]:
    d = s.quote(state)
    return d.best_bid, d.best_ask


def test_one_tick_book_is_quoted_at_the_touch() -> None:
    assert _pair(_fs(half_spread_ticks=1), _state(_book(1143, 1144))) == (1143, 1144)
    assert _pair(_fs(half_spread_ticks=3), _state(_book(1143, 1144))) == (1141, 1146)


def test_integer_mid() -> None:
    assert _pair(_fs(half_spread_ticks=1), _state(_book(1142, 1144))) == (1142, 1144)
    assert _pair(_fs(half_spread_ticks=2), _state(_book(1142, 1144))) == (1141, 1145)


def test_fair_reference_and_sizes() -> None:
    s = _fs(reference="fair", half_spread_ticks=2, size_lots=700)
    d = s.quote(_state(_book(1100, 1200), fair=Fraction(2287, 2)))
    assert (d.best_bid, d.best_ask) == (1142, 1145)
    assert all(q.lots == 700 for q in d.quotes)
    assert s.quote(_state(_book(1100, 1200))).quotes == ()


def test_skew_rounds_half_away_from_zero() -> None:
    s = _fs(half_spread_ticks=2, skew_ticks=3, inventory_range_lots=1000)
    book = _book(1100, 1102)  # mid 1101
    assert _pair(s, _state(book, excess_lots=0)) == (1099, 1103)
    assert _pair(s, _state(book, excess_lots=500)) == (1097, 1101)  # 1.5 ticks → 2
    assert _pair(s, _state(book, excess_lots=-500)) == (1101, 1105)
    assert _pair(s, _state(book, excess_lots=10**6)) == (1096, 1101)  # 3, ask post-only


def test_post_only_and_empty_book() -> None:
    s = _fs(reference="fair", half_spread_ticks=1, skew_ticks=5, inventory_range_lots=1)
    # Fully short: both quotes shift up 5 ticks; the bid would take the 1144 ask.
    assert _pair(s, _state(_book(1143, 1144), fair=Fraction(1143), excess_lots=-5)) == (1143, 1149)
    assert _fs().quote(_state(_book(None, 1144))).quotes == ()


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 20),
    st.integers(0, 10),
    st.integers(2, 5000),
    st.integers(1, 5),
    st.integers(-5000, 5000),
    st.integers(-5000, 5000),
)
def test_bid_below_ask_and_monotone(
    half: int, skew: int, bid: int, spread: int, x1: int, x2: int
) -> None:
    s = _fs(half_spread_ticks=half, skew_ticks=skew, inventory_range_lots=1000)
    book = _book(bid, bid + spread)
    lo, hi = sorted((x1, x2))
    d1, d2 = s.quote(_state(book, excess_lots=lo)), s.quote(_state(book, excess_lots=hi))
    for d in (d1, d2):
        if d.best_bid is not None and d.best_ask is not None:
            assert d.best_bid < d.best_ask
            assert d.best_bid < bid + spread and d.best_ask > bid
    for q in d2.quotes:
        other = d1.get(q.level_id)
        if other is not None:
            assert q.price_ticks <= other.price_ticks

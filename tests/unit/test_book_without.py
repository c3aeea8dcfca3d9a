"""The market without our own orders: what risk and the signaler judge the market by."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pegbot.book import ASK, BID, BookWithout, OrderBook


def _book() -> OrderBook:
    b = OrderBook()
    b.apply_snapshot([(1143, 500), (1142, 900), (1140, 100)], [(1144, 300), (1146, 700)])
    return b


def test_our_levels_are_left_out_and_a_level_that_is_only_ours_disappears() -> None:
    view = BookWithout(_book(), {1143: 500}, {1144: 100})
    assert view.best_bid == 1142 and view.best_bid_qty == 900  # 1143 held only our bid
    assert view.best_ask == 1144 and view.best_ask_qty == 200  # others still rest there
    assert view.mid_ticks() == (1142 + 1144) / 2
    assert view.levels(BID) == [(1142, 900), (1140, 100)]
    assert view.top(ASK, 5) == [(1144, 200), (1146, 700)]


def test_a_market_of_our_orders_only_is_empty() -> None:
    view = BookWithout(_book(), {1143: 500, 1142: 900, 1140: 100}, {1144: 300, 1146: 700})
    assert view.best_bid is None and view.best_ask is None and not view.is_two_sided
    assert view.mid_ticks() is None and view.levels(ASK) == []


@given(
    bids=st.dictionaries(st.integers(1100, 1143), st.integers(1, 10_000), max_size=12),
    asks=st.dictionaries(st.integers(1144, 1190), st.integers(1, 10_000), max_size=12),
    ours=st.data(),
)
def test_the_view_equals_the_book_rebuilt_without_our_quantities(
    bids: dict[int, int], asks: dict[int, int], ours: st.DataObject
) -> None:
    book = OrderBook()
    book.apply_snapshot(list(bids.items()), list(asks.items()))
    out_b = {t: ours.draw(st.integers(0, q)) for t, q in bids.items() if ours.draw(st.booleans())}
    out_a = {t: ours.draw(st.integers(0, q)) for t, q in asks.items() if ours.draw(st.booleans())}
    rest = OrderBook()
    rest.apply_snapshot(
        [(t, q - out_b.get(t, 0)) for t, q in bids.items() if q > out_b.get(t, 0)],
        [(t, q - out_a.get(t, 0)) for t, q in asks.items() if q > out_a.get(t, 0)],
    )
    view = BookWithout(book, out_b, out_a)
    assert (view.best_bid, view.best_ask) == (rest.best_bid, rest.best_ask)
    assert (view.best_bid_qty, view.best_ask_qty) == (rest.best_bid_qty, rest.best_ask_qty)
    assert view.levels(BID) == rest.levels(BID) and view.levels(ASK) == rest.levels(ASK)
    assert view.top(BID, 3) == rest.top(BID, 3)

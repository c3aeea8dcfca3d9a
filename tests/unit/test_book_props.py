"""OrderBook against a trivially correct reference (plain dicts, sorted on every query)."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pegbot.book import ASK, BID, OrderBook

# Ticks mostly near the top (dense, like KGST around 1143) plus some far away, so both the
# tick walk and the full-scan fallback of the best-price repair get exercised.
# Few distinct values, so removals often hit existing levels (and the best one).
ticks = st.one_of(st.integers(1138, 1150), st.sampled_from([1, 700, 1100, 1200, 4000]))
qtys = st.one_of(st.just(0), st.integers(1, 5), st.integers(1, 10**12))
sides = st.sampled_from([BID, ASK])
level = st.tuples(sides, ticks, qtys)

op = st.one_of(
    st.tuples(st.just("set"), level),
    st.tuples(st.just("set_bid"), st.tuples(ticks, qtys)),
    st.tuples(st.just("set_ask"), st.tuples(ticks, qtys)),
    st.tuples(st.just("side"), st.tuples(sides, st.lists(st.tuples(ticks, qtys), max_size=12))),
    st.tuples(
        st.just("columns"),
        st.tuples(st.lists(level, max_size=20), st.integers(0, 5), st.integers(0, 25)),
    ),
    st.tuples(
        st.just("snapshot"),
        st.tuples(
            st.lists(st.tuples(ticks, qtys), max_size=15),
            st.lists(st.tuples(ticks, qtys), max_size=15),
        ),
    ),
    st.tuples(st.just("clear"), st.none()),
)


class RefBook:
    def __init__(self) -> None:
        self.side: dict[int, dict[int, int]] = {BID: {}, ASK: {}}

    def set(self, side: int, tick: int, qty: int) -> None:
        if qty:
            self.side[side][tick] = qty
        else:
            self.side[side].pop(tick, None)

    def sorted(self, side: int) -> list[tuple[int, int]]:
        return sorted(self.side[side].items(), reverse=side == BID)


def apply(book: OrderBook, ref: RefBook, name: str, arg: Any) -> None:
    if name == "set":
        side, tick, qty = arg
        book.set_level(side, tick, qty)
        ref.set(side, tick, qty)
    elif name in ("set_bid", "set_ask"):
        tick, qty = arg
        getattr(book, name)(tick, qty)
        ref.set(BID if name == "set_bid" else ASK, tick, qty)
    elif name == "side":
        side, levels = arg
        book.apply_side(side, levels)
        for tick, qty in levels:
            ref.set(side, tick, qty)
    elif name == "columns":
        rows, start, stop = arg
        stop = min(stop, len(rows))
        s = [r[0] for r in rows]
        t = [r[1] for r in rows]
        q = [r[2] for r in rows]
        book.apply_columns(s, t, q, start, stop)
        for side, tick, qty in rows[start:stop]:
            ref.set(side, tick, qty)
    elif name == "snapshot":
        bids, asks = arg
        book.apply_snapshot(bids, asks, update_id=9)
        # A snapshot ignores zero quantities (they are not removals of anything).
        ref.side = {BID: {t: q for t, q in bids if q}, ASK: {t: q for t, q in asks if q}}
    elif name == "clear":
        book.clear()
        ref.side = {BID: {}, ASK: {}}


def check(book: OrderBook, ref: RefBook, ref_ticks: float, bps: float, n: int) -> None:
    bids, asks = ref.sorted(BID), ref.sorted(ASK)
    assert book.bids == dict(bids) and book.asks == dict(asks)
    bb = bids[0][0] if bids else None
    ba = asks[0][0] if asks else None
    assert book.best_bid == bb and book.best_ask == ba
    assert book.best_bid_qty == (bids[0][1] if bids else 0)
    assert book.best_ask_qty == (asks[0][1] if asks else 0)
    two = bb is not None and ba is not None
    assert book.is_two_sided == two
    assert book.is_crossed == (two and bb >= ba)  # type: ignore[operator]
    if two:
        assert book.spread_ticks() == ba - bb  # type: ignore[operator]
        assert book.mid_ticks() == (bb + ba) / 2  # type: ignore[operator]
        bq, aq = bids[0][1], asks[0][1]
        micro = Fraction(bb * aq + ba * bq, bq + aq)  # type: ignore[operator]
        assert math.isclose(book.microprice_ticks(), micro, rel_tol=1e-12)  # type: ignore[arg-type]
        assert math.isclose(book.spread_bps(), (ba - bb) / ((ba + bb) / 2) * 1e4, rel_tol=1e-12)  # type: ignore[arg-type,operator]
    else:
        assert book.mid_ticks() is None and book.spread_ticks() is None
    assert book.top(BID, n) == bids[:n] and book.top(ASK, n) == asks[:n]
    assert book.levels(BID) == bids and book.levels(ASK) == asks
    ref_f = Fraction(ref_ticks)
    half = ref_f * Fraction(str(bps)) / 10_000
    for side, levels in ((BID, bids), (ASK, asks)):
        inside = [(t, q) for t, q in levels if abs(t - ref_f) <= half]
        want = (sum(q for _, q in inside), sum(t * q for t, q in inside))
        assert book.depth_within(side, ref_ticks, bps) == want


@settings(max_examples=300, deadline=None)
@given(
    ops=st.lists(op, max_size=40),
    ref_ticks=st.one_of(st.floats(1100, 1200), st.sampled_from([1143.5, 1143.0])),
    bps=st.one_of(st.floats(0, 500), st.sampled_from([0, 8.745, 10, 50, 100])),
    n=st.integers(0, 12),
)
def test_book_equals_reference(
    ops: list[tuple[str, object]], ref_ticks: float, bps: float, n: int
) -> None:
    book, ref = OrderBook(), RefBook()
    for name, arg in ops:
        apply(book, ref, name, arg)
        check(book, ref, ref_ticks, bps, n)
    copy = book.copy()
    check(copy, ref, ref_ticks, bps, n)

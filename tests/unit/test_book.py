"""OrderBook: snapshot, updates, removal and every view, on hand-checked KGST-like books."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pegbot.book import ASK, BID, CrossedBookError, OrderBook
from pegbot.market import Market

M = Market.kgst_usdt()  # tick 1e-5, qty unit 1e-8


def kgst_book() -> OrderBook:
    # Around 1/87.45 = 0.011435: bid 0.01143, ask 0.01144 (one-tick spread).
    book = OrderBook()
    book.apply_snapshot(
        bids=[(1143, 1000), (1142, 2500), (1140, 70), (1100, 5)],
        asks=[(1144, 800), (1145, 3000), (1150, 12), (1200, 1)],
        update_id=77,
    )
    return book


def test_empty_book() -> None:
    book = OrderBook()
    assert book.best_bid is None and book.best_ask is None
    assert book.best_bid_qty == 0 and book.best_ask_qty == 0
    assert not book.is_two_sided and not book.is_crossed
    assert book.mid_ticks() is None and book.microprice_ticks() is None
    assert book.spread_ticks() is None and book.spread_bps() is None
    assert book.top(BID, 5) == [] and book.levels(ASK) == []
    assert book.depth_within(BID, 1143, 100) == (0, 0)


def test_snapshot_sets_levels_and_ignores_zero_quantities() -> None:
    book = OrderBook()
    book.apply_snapshot([(10, 5), (9, 0)], [(12, 0), (13, 4)], update_id=5)
    assert book.bids == {10: 5} and book.asks == {13: 4}
    assert book.best_bid == 10 and book.best_ask == 13 and book.update_id == 5
    # A new snapshot replaces everything.
    book.apply_snapshot([(7, 1)], [], update_id=6)
    assert book.bids == {7: 1} and book.asks == {} and book.best_ask is None


def test_top_of_book_views() -> None:
    book = kgst_book()
    assert (book.best_bid, book.best_ask) == (1143, 1144)
    assert (book.best_bid_qty, book.best_ask_qty) == (1000, 800)
    assert book.spread_ticks() == 1
    assert book.mid_ticks() == 1143.5
    # Microprice leans toward the ask here: more size on the bid.
    assert book.microprice_ticks() == pytest.approx((1143 * 800 + 1144 * 1000) / 1800)
    assert book.microprice_ticks() > book.mid_ticks()  # type: ignore[operator]
    # 1 tick / 1143.5 ticks = 8.745 bps: the one-tick spread of KGST/USDT.
    assert book.spread_bps() == pytest.approx(1 / 1143.5 * 10_000)
    mid_price = M.tick_size * Decimal("1143.5")
    assert mid_price == Decimal("0.011435")


def test_updates_absolute_quantities_and_removal() -> None:
    book = kgst_book()
    book.set_bid(1143, 400)  # absolute, not a delta
    assert book.bids[1143] == 400 and book.best_bid == 1143
    book.set_bid(1143, 0)  # removing the best: the next one takes over
    assert book.best_bid == 1142 and 1143 not in book.bids
    book.set_ask(1144, 0)
    book.set_ask(1145, 0)
    assert book.best_ask == 1150
    book.set_ask(1143, 9)  # a better ask
    assert book.best_ask == 1143
    book.set_bid(999, 0)  # removing an absent level is a no-op
    assert book.best_bid == 1142
    book.set_level(BID, 1144, 3)
    book.set_level(ASK, 1143, 0)
    assert book.best_bid == 1144 and book.best_ask == 1150


def test_removing_the_best_far_from_the_next_level_scans() -> None:
    book = OrderBook()
    book.apply_snapshot([(1000, 1), (10, 2)], [(1001, 1), (5000, 2)])
    book.set_bid(1000, 0)  # next bid is 990 ticks away: beyond the walk
    book.set_ask(1001, 0)
    assert book.best_bid == 10 and book.best_ask == 5000
    book.set_bid(10, 0)
    book.set_ask(5000, 0)
    assert book.best_bid is None and book.best_ask is None


def test_apply_side_and_columns_match_single_updates() -> None:
    updates = [(BID, 1143, 0), (BID, 1141, 50), (ASK, 1144, 0), (ASK, 1144, 10), (BID, 1144, 0)]
    one = kgst_book()
    for side, tick, qty in updates:
        one.set_level(side, tick, qty)
    two = kgst_book()
    two.apply_side(BID, [(t, q) for s, t, q in updates if s == BID])
    two.apply_side(ASK, [(t, q) for s, t, q in updates if s == ASK])
    three = kgst_book()
    sides, ticks, qtys = zip(*updates, strict=True)
    three.apply_columns(sides, ticks, qtys)
    for b in (two, three):
        assert b.bids == one.bids and b.asks == one.asks
        assert (b.best_bid, b.best_ask) == (one.best_bid, one.best_ask) == (1142, 1144)


def test_apply_columns_row_range() -> None:
    book = OrderBook()
    sides, ticks, qtys = [BID, BID, ASK, ASK], [10, 11, 12, 13], [1, 2, 3, 4]
    book.apply_columns(sides, ticks, qtys, start=1, stop=3)
    assert book.bids == {11: 2} and book.asks == {12: 3}


def test_top_levels_best_first_dense_and_sparse() -> None:
    book = kgst_book()
    assert book.top(BID, 2) == [(1143, 1000), (1142, 2500)]
    assert book.top(BID, 10) == [(1143, 1000), (1142, 2500), (1140, 70), (1100, 5)]
    assert book.top(ASK, 3) == [(1144, 800), (1145, 3000), (1150, 12)]
    assert book.top(ASK, 0) == []
    assert book.levels(ASK) == [(1144, 800), (1145, 3000), (1150, 12), (1200, 1)]
    assert book.levels(BID)[0] == (1143, 1000)


def test_depth_within_bps_of_any_reference() -> None:
    book = kgst_book()
    # ±10 bps of 1143.5 ticks = ±1.1435 ticks: 1142.36..1144.64 -> bids 1143, asks 1144.
    assert book.depth_within(BID, 1143.5, 10) == (1000, 1000 * 1143)
    assert book.depth_within(ASK, 1143.5, 10) == (800, 800 * 1144)
    # ±50 bps of the fair 1/87.45 in ticks (1143.51...): 1137.79..1149.23.
    fair_ticks = float(Decimal(1) / Decimal("87.45") / M.tick_size)
    base, value = book.depth_within(BID, fair_ticks, 50)
    assert base == 1000 + 2500 + 70 and value == 1000 * 1143 + 2500 * 1142 + 70 * 1140
    assert M.notional_of_tick_units(value) == Decimal("0.00000040778")
    base, _ = book.depth_within(ASK, fair_ticks, 50)
    assert base == 800 + 3000
    # A reference far away sees nothing; a huge band sees the whole side.
    assert book.depth_within(ASK, 500, 10) == (0, 0)
    assert book.depth_within(ASK, 1143.5, 10_000)[0] == 800 + 3000 + 12 + 1
    assert book.depth_within(BID, 1143.5, -1) == (0, 0)


def test_band_edges_are_inclusive_and_exact() -> None:
    # 1% of 1000 ticks is exactly 10 ticks: both edges count.
    book = OrderBook()
    book.apply_snapshot([(990, 1), (989, 1)], [(1010, 1), (1011, 1)])
    assert book.depth_within(BID, 1000, 100) == (1, 990)
    assert book.depth_within(ASK, 1000, 100) == (1, 1010)


def test_crossed_detection() -> None:
    book = kgst_book()
    assert not book.is_crossed
    book.check_not_crossed()
    book.set_bid(1144, 5)  # locked: bid == ask
    assert book.is_crossed
    with pytest.raises(CrossedBookError, match="1144"):
        book.check_not_crossed()
    book.set_bid(1144, 0)
    assert not book.is_crossed


def test_clear_and_copy_are_independent() -> None:
    book = kgst_book()
    snap = book.copy()
    book.set_bid(1143, 0)
    assert snap.best_bid == 1143 and snap.bids[1143] == 1000 and snap.update_id == 77
    book.clear()
    assert book.bids == {} and book.best_bid is None and book.update_id == 0
    assert snap.best_ask == 1144
    assert "best_bid=1143" in repr(snap)


def test_quantities_off_the_lot_grid_are_held_exactly() -> None:
    # Real books carry sizes from older, finer step sizes; qty units keep them exact.
    book = OrderBook()
    book.set_bid(M.price_to_ticks("0.01143"), M.qty_to_units("12.12345678"))
    assert M.units_to_qty(book.best_bid_qty) == Decimal("12.12345678")

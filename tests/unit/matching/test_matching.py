"""Worked examples of the queue, fill, taking and latency rules of pegbot.matching."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pegbot.book import OrderBook
from pegbot.market import Market, Side
from pegbot.matching import (
    ConstantLatency,
    FillEngine,
    InterpolatedLatency,
    LatencyDataError,
    LogProbQueue,
    LogProbQueue2,
    PowerProbQueue,
    PowerProbQueue2,
    PowerProbQueue3,
    RiskAverse,
    fill_fee,
)

BUY, SELL = Side.BUY, Side.SELL


def test_risk_averse_queue_falls_only_on_trades_and_caps_on_depth() -> None:
    eng = FillEngine(RiskAverse())
    eng.add("b1", BUY, 100, 10, level_qty=30, ts_ns=1)
    assert eng.order("b1").ahead_units == 30  # type: ignore[union-attr]
    # Depth grows: nobody joined ahead of us.
    assert eng.on_depth(BUY, 100, 50, 2) == []
    assert eng.order("b1").ahead_units == 30  # type: ignore[union-attr]
    # Depth falls to 20: at most 20 can be ahead.
    eng.on_depth(BUY, 100, 20, 3)
    assert eng.order("b1").ahead_units == 20  # type: ignore[union-attr]
    # A seller hits 15 at our price: still 5 ahead, no fill.
    assert eng.on_trade(SELL, 100, 15, 4) == []
    assert eng.order("b1").ahead_units == 5  # type: ignore[union-attr]
    # 10 more: 5 go to the queue ahead, 5 to us.
    (f,) = eng.on_trade(SELL, 100, 10, 5)
    assert (f.order_id, f.side, f.price_ticks, f.qty_units, f.maker, f.ts_ns) == (
        "b1",
        BUY,
        100,
        5,
        True,
        5,
    )
    assert f.leaves_units == 5 and not f.closed
    # Exactly the remaining 5: one closing fill, then the order is gone for good.
    (g,) = eng.on_trade(SELL, 100, 5, 6)
    assert g.qty_units == 5 and g.leaves_units == 0 and g.closed
    assert "b1" not in eng and len(eng) == 0
    assert eng.on_trade(SELL, 100, 5, 7) == []
    assert eng.on_depth(SELL, 100, 5, 8) == []
    assert eng.cancel("b1") == 0


def test_fill_equal_to_remaining_in_one_trade_closes_once() -> None:
    # hftbacktest's partial_fill_exchange aborts exactly here (issues #301, #312).
    eng = FillEngine(PowerProbQueue(3))
    eng.add(7, SELL, 1144, 50_000, level_qty=0, ts_ns=0)
    fills = eng.on_trade(BUY, 1144, 50_000, 1)
    assert [(f.order_id, f.qty_units, f.leaves_units) for f in fills] == [(7, 50_000, 0)]
    assert len(eng) == 0 and eng.best_own_ask is None
    assert eng.on_trade(BUY, 1144, 50_000, 2) == []


def test_no_partial_fill_fills_whole_order_once_queue_is_exhausted() -> None:
    eng = FillEngine(partial_fills=False)
    eng.add("a", BUY, 100, 10, level_qty=5, ts_ns=0)
    assert eng.on_trade(SELL, 100, 5, 1) == []  # queue ahead exactly consumed, not us
    (f,) = eng.on_trade(SELL, 100, 1, 2)
    assert f.qty_units == 10 and f.closed


def test_trade_through_our_price_fills_fully_at_our_price() -> None:
    eng = FillEngine()
    eng.add("ask", SELL, 101, 40, level_qty=1_000, ts_ns=0)
    eng.add("ask2", SELL, 103, 40, level_qty=0, ts_ns=0)
    fills = eng.on_trade(BUY, 102, 1, 9)
    assert [(f.order_id, f.price_ticks, f.qty_units, f.maker) for f in fills] == [
        ("ask", 101, 40, True)
    ]
    assert "ask2" in eng and eng.best_own_ask == 103
    # Trades on the wrong side never touch asks.
    assert eng.on_trade(SELL, 103, 100, 10) == []


def test_book_crossing_our_order_fills_at_our_price() -> None:
    eng = FillEngine()
    eng.add("b", BUY, 100, 10, level_qty=20, ts_ns=0)
    eng.add("s", SELL, 105, 10, level_qty=20, ts_ns=0)
    assert eng.on_depth(SELL, 101, 7, 1) == []  # an ask above our bid: no cross
    (f,) = eng.on_depth(SELL, 99, 7, 2)  # an ask below our bid: a seller came to us
    assert (f.order_id, f.price_ticks, f.qty_units, f.maker, f.closed) == ("b", 100, 10, True, True)
    assert eng.on_depth(BUY, 105, 0, 3) == []  # a removal never crosses
    (g,) = eng.on_bbo(105, 106, 4)
    assert (g.order_id, g.price_ticks) == ("s", 105)
    assert len(eng) == 0


def test_power_prob_queue_splits_a_cancel_between_front_and_back() -> None:
    eng = FillEngine(PowerProbQueue(3))
    eng.add("b", BUY, 100, 10, level_qty=30, ts_ns=0)
    eng.on_depth(BUY, 100, 100, 1)  # 70 joined behind us
    eng.on_depth(BUY, 100, 80, 2)  # 20 canceled somewhere
    # p(back) = 1 / (1 + (30/70)^3) = 0.927..; the front loses 20 * 0.073 = 1.46 → 1 (down).
    p_back = 70**3 / (70**3 + 30**3)
    assert int(20 * (1 - p_back)) == 1
    assert eng.order("b").ahead_units == 29  # type: ignore[union-attr]
    # RiskAverse would still have 30 ahead.
    ra = FillEngine(RiskAverse())
    ra.add("b", BUY, 100, 10, level_qty=30, ts_ns=0)
    ra.on_depth(BUY, 100, 100, 1)
    ra.on_depth(BUY, 100, 80, 2)
    assert ra.order("b").ahead_units == 30  # type: ignore[union-attr]


def test_prob_queue_does_not_count_a_trade_twice() -> None:
    eng = FillEngine(PowerProbQueue(1))
    eng.add("b", BUY, 100, 10, level_qty=30, ts_ns=0)
    eng.on_depth(BUY, 100, 100, 1)
    eng.on_trade(SELL, 100, 10, 2)  # the queue ahead pays for the trade once
    assert eng.order("b").ahead_units == 20  # type: ignore[union-attr]
    eng.on_depth(BUY, 100, 90, 3)  # the book shows the same trade: no further cut
    assert eng.order("b").ahead_units == 20  # type: ignore[union-attr]
    eng.on_depth(BUY, 100, 60, 4)  # a real cancel of 30: front 20 vs back 70
    # p(back) = 70 / 90; the front loses 30 * 20/90 = 6.67 → 6.
    assert eng.order("b").ahead_units == 14  # type: ignore[union-attr]


def test_cancel_larger_than_back_comes_out_of_the_front() -> None:
    eng = FillEngine(PowerProbQueue2(2))
    eng.add("b", BUY, 100, 10, level_qty=50, ts_ns=0)
    eng.on_depth(BUY, 100, 55, 1)  # 5 behind us
    eng.on_depth(BUY, 100, 20, 2)  # 35 canceled: at most 5 from behind
    ahead = eng.order("b").ahead_units  # type: ignore[union-attr]
    assert ahead is not None and ahead <= 20
    p = (5 / 55) ** 2
    cut = 35 * (1 - p) + max(35 * p - 5, 0)
    assert ahead == min(50 - int(cut), 20)


@pytest.mark.parametrize(
    "model",
    [
        PowerProbQueue(3),
        PowerProbQueue2(3),
        PowerProbQueue3(3),
        LogProbQueue(10**8),
        LogProbQueue2(),
    ],
    ids=repr,
)
def test_every_prob_model_stays_between_zero_and_risk_averse(model: object) -> None:
    for prev, new, ahead in [(100, 60, 30), (100, 0, 100), (10**15, 1, 10**14), (5, 4, 5)]:
        got = model.on_depth(ahead, prev, new, 0)  # type: ignore[attr-defined]
        assert 0 <= got <= min(ahead, new)
    assert model.prob(0.0, 10.0) == pytest.approx(1.0)  # type: ignore[attr-defined]


def test_our_orders_at_one_price_keep_fifo_and_conserve_volume() -> None:
    eng = FillEngine()
    eng.add("first", SELL, 200, 5, level_qty=10, ts_ns=0)
    eng.add("second", SELL, 200, 8, level_qty=10, ts_ns=1)
    fills = eng.on_trade(BUY, 200, 17, 2)
    # 10 external ahead of both, then "first" (5), then "second": 17 reaches 2 of it.
    assert [(f.order_id, f.qty_units, f.leaves_units) for f in fills] == [
        ("first", 5, 0),
        ("second", 2, 6),
    ]
    assert eng.order("second").ahead_units == 0  # type: ignore[union-attr]
    assert eng.cancel("second") == 6
    assert eng.best_own_ask is None


def _book() -> OrderBook:
    book = OrderBook()
    book.apply_snapshot(bids=[(99, 40), (98, 50)], asks=[(101, 5), (102, 10), (104, 100)])
    return book


def test_take_walks_levels_and_never_takes_the_same_quantity_twice() -> None:
    eng = FillEngine()
    book = _book()
    fills = eng.take(book, BUY, 12, 102, "t1", 5)
    assert [(f.price_ticks, f.qty_units, f.maker, f.leaves_units) for f in fills] == [
        (101, 5, False, 7),
        (102, 7, False, 0),
    ]
    # Before the book updates those levels, only 3 remain up to 102.
    again = eng.take(book, BUY, 10, 102, "t2", 6)
    assert [(f.price_ticks, f.qty_units, f.leaves_units) for f in again] == [(102, 3, 7)]
    assert eng.available(book, SELL, 102) == 0
    # The venue's next word on 102 replaces the overlay.
    book.set_ask(102, 9)
    eng.on_depth(SELL, 102, 9, 7)
    assert eng.available(book, SELL, 102) == 9
    assert eng.available(book, SELL, 101) == 0
    # A market order (no limit) sells into the bids, best first.
    sell = eng.take(book, SELL, 60, None, "m", 8)
    assert [(f.price_ticks, f.qty_units) for f in sell] == [(99, 40), (98, 20)]
    with pytest.raises(ValueError):
        eng.take(book, SELL, 0, None, "bad", 9)


def test_place_takes_then_rests_and_post_only_rejects() -> None:
    eng = FillEngine()
    book = _book()
    res = eng.place(book, "p", BUY, 101, 20, 1, post_only=True)
    assert res.rejected and not res.fills and "p" not in eng
    res = eng.place(book, "p", BUY, 101, 20, 2)
    assert [(f.price_ticks, f.qty_units) for f in res.fills] == [(101, 5)]
    assert res.resting
    view = eng.order("p")
    assert view is not None and view.leaves_units == 15 and view.qty_units == 20
    assert view.ahead_units == 0  # nobody bids at 101 in the book
    # Now the 101 ask is consumed, a post-only bid at 100 is fine and queues behind nothing.
    res = eng.place(book, "q", BUY, 100, 5, 3, post_only=True)
    assert res.resting and not res.rejected
    res = eng.place(book, "r", SELL, 99, 30, 4)
    assert [(f.price_ticks, f.qty_units, f.leaves_units) for f in res.fills] == [(99, 30, 0)]
    assert not res.resting and "r" not in eng
    # A bid joining at 99 queues behind the 10 left there, not the 40 the book still shows.
    res = eng.place(book, "s", BUY, 99, 5, 5)
    assert res.resting and eng.order("s").ahead_units == 10  # type: ignore[union-attr]


def test_bad_input_is_refused() -> None:
    eng = FillEngine()
    eng.add("x", BUY, 100, 1, 0, 0)
    with pytest.raises(ValueError):
        eng.add("x", BUY, 100, 1, 0, 0)
    with pytest.raises(ValueError):
        eng.add("y", BUY, 100, 0, 0, 0)
    with pytest.raises(ValueError):
        eng.add("y", BUY, 0, 1, 0, 0)
    with pytest.raises(ValueError):
        eng.add("y", BUY, 100, 1, -1, 0)
    with pytest.raises(ValueError):
        eng.on_trade(BUY, 100, 0, 0)
    with pytest.raises(ValueError):
        PowerProbQueue(0)
    with pytest.raises(ValueError):
        ConstantLatency(-1, 0)


def test_fill_fee_uses_maker_or_taker_rate() -> None:
    market = Market.kgst_usdt()
    eng = FillEngine()
    book = _book()
    (taker,) = eng.take(book, BUY, market.lots_to_units(5), None, "t", 0)[:1]
    assert fill_fee(market, taker) == market.notional(101, 5) * Decimal("0.001")
    eng.add("m", SELL, 1144, market.lots_to_units(1000), 0, 0)
    (maker,) = eng.on_trade(BUY, 1144, market.lots_to_units(1000), 1)
    # 1000 KGST at 0.01144 USDT = 11.44 USDT; 0.1 % = 0.01144 USDT.
    assert fill_fee(market, maker) == Decimal("0.01144")


def test_constant_latency() -> None:
    lat = ConstantLatency(10_000_000, 5_000_000)
    assert lat.entry_ns(123) == 10_000_000 and lat.response_ns(456) == 5_000_000


def test_interpolated_latency_from_recorded_rows() -> None:
    lat = InterpolatedLatency([(100, 130, 140), (0, 10, 30)])
    assert lat.entry_ns(-5) == 10  # before the data: first value
    assert lat.entry_ns(0) == 10
    assert lat.entry_ns(50) == 20  # halfway between 10 and 30
    assert lat.entry_ns(1_000) == 30
    # Response latency by exchange time: 20 at 10, 10 at 130.
    assert lat.response_ns(70) == 15
    assert lat.response_ns(130) == 10
    with pytest.raises(LatencyDataError):
        InterpolatedLatency([])
    with pytest.raises(LatencyDataError):
        InterpolatedLatency([(100, 90, 120)])


@pytest.mark.parametrize(("half", "fills"), [(False, [100, 100]), (True, [100, 200])])
def test_queue_fills_come_in_whole_lots(half: bool, fills: list[int]) -> None:
    got = []
    for trade in (180, 200):
        eng = FillEngine(lot_units=100, round_half_lot=half)
        eng.add("o", BUY, 100, 300, level_qty=50, ts_ns=0)
        # 130 or 150 units get past the 50 ahead: one lot (down), or 1 / 2 lots (nearest).
        (f,) = eng.on_trade(SELL, 100, trade, 1)
        got.append(f.qty_units)
        assert f.leaves_units == 300 - f.qty_units
    assert got == fills
    eng = FillEngine(lot_units=100, partial_fills=False)
    eng.add("o", BUY, 100, 300, level_qty=50, ts_ns=0)
    assert eng.on_trade(SELL, 100, 149, 1) == []  # less than a lot past the queue
    (f,) = eng.on_trade(SELL, 100, 100, 2)
    assert f.qty_units == 300 and f.closed
    with pytest.raises(ValueError):
        eng.add("bad", BUY, 100, 150, 0, 0)
    with pytest.raises(ValueError):
        FillEngine(lot_units=0)

"""The live scorecard: the runner's view folded into rolling figures and Prometheus gauges."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from pegbot.book import OrderBook
from pegbot.market import Market, Side
from pegbot.metrics import Metrics
from pegbot.metrics_table import OBLIGATIONS
from pegbot.scorecard import (
    Book,
    ObligationSettings,
    OrderKind,
    Quotes,
    ScorecardSettings,
    book_from_l2,
    score,
)
from pegbot.scorecard.fold import CONDITIONS
from pegbot.scorecard.live import LiveScorecard
from pegbot.strategy import LiveOrder, OrderStatus
from pegbot.timeunits import NS_PER_S

S = NS_PER_S
MARKET = Market("X/Q", "X", "Q", Decimal("0.01"), Decimal("1"), qty_decimals=0)


def order(
    side: Side, price: int, lots: int = 1, status: OrderStatus = OrderStatus.OPEN
) -> LiveOrder:
    return LiveOrder(f"pegbot-x-{side.name}-{price}", "L0", side, price, lots, status)


def book(*levels: tuple[int, int, int]) -> OrderBook:
    b = OrderBook()
    for side, tick, qty in levels:
        b.set_level(side, tick, qty)
    return b


def metrics(reg: CollectorRegistry) -> Metrics:
    m = Metrics(reg)
    m.init_bot(["sim"], ["X/Q"])
    return m


def value(reg: CollectorRegistry, name: str, **labels: str) -> float | None:
    return reg.get_sample_value(name, {"venue": "sim", "symbol": "X/Q", **labels})


def test_book_without_our_orders() -> None:
    b = book((1, 100, 5), (1, 99, 3), (-1, 101, 2), (-1, 102, 4))
    # We are 5 of the 100 bid (all of it) and 1 of the 101 ask (part of it).
    ev = book_from_l2(7, b, ((100, 5),), ((101, 1),))
    assert ev == Book(7, 100, 101, 99, 101)
    # A book lagging our orders: it shows 4 at 102 where we now have 9, so 102 is all ours.
    assert book_from_l2(7, b, (), ((102, 9),)).ask_ex == 101
    assert book_from_l2(7, b, (), ((102, 9), (101, 2))).ask_ex is None
    # Our 103 ask is not in the book yet: it changes nothing.
    assert book_from_l2(7, b, (), ((103, 1),)).ask_ex == 101


def test_rolling_uptime_gaps_and_gauges() -> None:
    reg = CollectorRegistry()
    live = LiveScorecard(MARKET, "sim", "X/Q", metrics=metrics(reg), window_s=10)
    # Every label set exists before anything happened (Metrics.init_bot made them).
    assert value(reg, "pegbot_scorecard_obligation_met", obligation="all") == 0
    assert value(reg, "pegbot_scorecard_wrong_side_fills_total", side="ask") == 0
    b = book((1, 99, 10), (-1, 101, 10))
    both = [order(Side.BUY, 99), order(Side.SELL, 101)]
    live.observe(0, b, both, Fraction(1))
    live.observe(4 * S, b, [both[0]], Fraction(1))  # two-sided for [0, 4)
    f = live.observe(7 * S, b, [both[0]], Fraction(1))  # ask empty [4, 7)
    assert f.two_sided_ratio == pytest.approx(4 / 7)
    assert f.one_sided_s == 3 and f.side_empty_s == {"bid": 0, "ask": 3}
    assert value(reg, "pegbot_scorecard_one_sided_seconds") == 3
    assert value(reg, "pegbot_scorecard_side_empty_seconds", side="ask") == 3
    assert value(reg, "pegbot_scorecard_observed_seconds_total") == 7
    assert value(reg, "pegbot_scorecard_two_sided_seconds_total") == 4
    # The ask comes back at 20 s: the run ends there, before any of it is folded.
    f = live.observe(20 * S, b, both, Fraction(1))
    assert f.two_sided_ratio == 0  # the window, 10-20 s, had no ask
    assert f.one_sided_s == 0 and f.side_empty_s["ask"] == 0
    f = live.observe(25 * S, b, both, Fraction(1))
    assert f.two_sided_ratio == pytest.approx(0.5)  # 15-20 one-sided, 20-25 two-sided


def test_a_pending_new_order_is_not_resting_but_a_pending_cancel_is() -> None:
    live = LiveScorecard(MARKET, "sim", "X/Q")
    orders = [
        order(Side.BUY, 99, status=OrderStatus.PENDING_NEW),
        order(Side.SELL, 101, status=OrderStatus.PENDING_CANCEL),
    ]
    live.observe(0, None, orders, None)
    f = live.observe(S, None, orders, None)
    assert f.side_empty_s == {"bid": 1, "ask": 0}


def test_jump_times_and_wrong_side_fills_reach_the_gauges() -> None:
    reg = CollectorRegistry()
    live = LiveScorecard(MARKET, "sim", "X/Q", metrics=metrics(reg))
    b = book((1, 99, 10), (-1, 101, 10))
    quotes = [order(Side.BUY, 99), order(Side.SELL, 101)]
    live.observe(0, b, quotes, Fraction(1))
    live.observe(S, b, quotes, Fraction("1.2"))  # fair 120 ticks: our ask 101 is wrong
    live.fill(2 * S, Side.SELL, 101, 1, True)
    f = live.observe(3 * S, b, quotes, Fraction("1.2"))
    assert f.jumps == 1 and f.jump_pull_s is None and f.jump_waiting_s == 2
    assert value(reg, "pegbot_scorecard_jump_waiting_seconds") == 2
    assert value(reg, "pegbot_scorecard_wrong_side_fills_total", side="ask") == 1
    assert value(reg, "pegbot_scorecard_fx_jumps_total") == 1
    requoted = [order(Side.BUY, 120), order(Side.SELL, 120)]
    f = live.observe(5 * S, b, requoted, Fraction("1.2"))
    assert (f.jump_pull_s, f.jump_requote_s, f.jump_waiting_s) == (4, 4, 0)
    assert value(reg, "pegbot_scorecard_jump_requote_seconds") == 4
    assert value(reg, "pegbot_scorecard_jump_waiting_seconds") == 0


def test_obligations_and_orders_per_fill() -> None:
    reg = CollectorRegistry()
    ob = ObligationSettings(max_spread_bps=300, min_depth_quote=1, min_uptime=0.5)
    live = LiveScorecard(MARKET, "sim", "X/Q", ScorecardSettings(obligations=ob), metrics(reg), 60)
    b = book((1, 100, 10), (-1, 102, 10))
    good = [order(Side.BUY, 100), order(Side.SELL, 102)]
    live.observe(0, b, good, Fraction(1))
    for _ in range(4):
        live.order(S, OrderKind.PLACED, Side.BUY)
    live.order(S, OrderKind.CANCELLED, Side.BUY)
    live.fill(S, Side.BUY, 100, 1, True)
    live.fill(S, Side.SELL, 102, 1, True)
    f = live.observe(4 * S, b, [good[0]], Fraction(1))  # snapshots 0..3 met
    f = live.observe(10 * S, b, [good[0]], Fraction(1))  # snapshots 4..9 one-sided
    assert f.obligation_ratio["all"] == pytest.approx(0.4)
    assert f.obligation_ratio["two_sided"] == pytest.approx(0.4)
    assert f.obligation_ratio["depth_bid"] == 1
    assert f.obligation_met == {
        "two_sided": False, "spread": False, "depth_bid": True, "depth_ask": False, "all": False
    }  # fmt: skip
    assert f.orders_per_fill == 2
    assert value(reg, "pegbot_scorecard_obligation_met", obligation="depth_bid") == 1
    assert value(reg, "pegbot_scorecard_obligation_ratio", obligation="all") == pytest.approx(0.4)
    assert value(reg, "pegbot_scorecard_orders_per_fill") == 2
    assert set(OBLIGATIONS) == set(f.obligation_ratio)


def test_the_obligation_label_names_each_condition_and_all() -> None:
    assert (*CONDITIONS, "all") == OBLIGATIONS


@given(st.lists(st.sampled_from(["both", "bid", "ask", "none"]), min_size=2, max_size=30))
def test_live_and_offline_agree_over_a_window_longer_than_the_span(plan: list[str]) -> None:
    b = book((1, 99, 10), (-1, 101, 10))
    live = LiveScorecard(MARKET, "sim", "X/Q", window_s=1000)
    events = []
    for i, s in enumerate(plan):
        orders = []
        if s in ("both", "bid"):
            orders.append(order(Side.BUY, 99))
        if s in ("both", "ask"):
            orders.append(order(Side.SELL, 101))
        f = live.observe(i * S, b, orders, Fraction(1))
        levels = {o.side: ((o.price_ticks, o.lots),) for o in orders}
        events.append(Quotes(i * S, levels.get(Side.BUY, ()), levels.get(Side.SELL, ())))
    card = score(MARKET, events, 0, (len(plan) - 1) * S)
    assert f.two_sided_ratio == pytest.approx(card.two_sided_uptime)
    assert f.obligation_ratio["two_sided"] == pytest.approx(
        card.obligations["conditions"]["two_sided"]
    )


def test_a_clock_reading_from_before_the_last_call_never_raises() -> None:
    live = LiveScorecard(MARKET, "sim", "X/Q")
    b = book((1, 99, 10), (-1, 101, 10))
    live.observe(10 * S, b, [order(Side.BUY, 99)], Fraction(1))
    live.order(12 * S, OrderKind.PLACED, Side.SELL)
    live.fill(11 * S, Side.BUY, 99, 1, True)  # stamped before the last call: taken at 12 s
    f = live.observe(11 * S, b, [order(Side.BUY, 99), order(Side.SELL, 101)], Fraction(1))
    assert f.side_empty_s == {"bid": 0, "ask": 0}
    f = live.observe(14 * S, b, [order(Side.BUY, 99), order(Side.SELL, 101)], Fraction(1))
    assert f.two_sided_ratio == pytest.approx(2 / 4)


def test_capacity_per_side_now_and_its_window_minimum() -> None:
    reg = CollectorRegistry()
    live = LiveScorecard(MARKET, "sim", "X/Q", metrics=metrics(reg), window_s=10)
    b = book((1, 99, 10), (-1, 101, 10))
    f = live.observe(0, b, [], Fraction(1))
    assert f.capacity == {"bid": None, "ask": None} and f.capacity_min == f.capacity
    # Before a measurement there is no series: a 0 would claim the side cannot be funded.
    assert value(reg, "pegbot_scorecard_capacity_min_levels", side="bid") is None
    live.capacity(1 * S, Side.BUY, 3, 30)
    live.capacity(1 * S, Side.SELL, 2, 20)
    live.capacity(2 * S, Side.SELL, 0, 4)  # the base ran short for a second
    live.capacity(3 * S, Side.SELL, 2, 25)
    f = live.observe(5 * S, b, [], Fraction(1))
    assert f.capacity == {"bid": (3, 30), "ask": (2, 25)}
    assert f.capacity_min == {"bid": (3, 30), "ask": (0, 4)}
    assert value(reg, "pegbot_scorecard_capacity_min_levels", side="ask") == 0
    assert value(reg, "pegbot_scorecard_capacity_min_lots", side="bid") == 30
    # At 12 s the window starts at 2 s: the short second is still in it (in force from 2 s
    # to 3 s); at 13.5 s the window starts after it, and the 3 s reading holds from then on.
    assert live.observe(12 * S, b, [], Fraction(1)).capacity_min["ask"] == (0, 4)
    f = live.observe(13 * S + S // 2, b, [], Fraction(1))
    assert f.capacity_min == {"bid": (3, 30), "ask": (2, 25)}
    assert value(reg, "pegbot_scorecard_capacity_min_levels", side="ask") == 2


def test_capacity_memory_is_bounded_without_observe() -> None:
    live = LiveScorecard(MARKET, "sim", "X/Q", window_s=10)
    for i in range(1000):
        live.capacity(i * S, Side.BUY, 1, 1)
    assert len(live._capacity["bid"]) <= 12

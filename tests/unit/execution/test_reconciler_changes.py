"""The reconciler's choice among keep, amend, cancel-replace, place and cancel."""

from __future__ import annotations

from pegbot.execution.budget import RateBudget, RateLimit
from pegbot.execution.reconciler import Reconciler
from pegbot.market import Market, Side
from pegbot.strategy import DesiredQuotes, LiveOrder, OrderStatus, Quote

MARKET = Market.kgst_usdt()
RUN = "chg1"


def rec(**kw: object) -> Reconciler:
    base: dict[str, object] = {
        "size_tolerance": "0.25",
        "amend": True,
        "replace": True,
        "first_seq": 100,
    }
    base.update(kw)
    return Reconciler(MARKET, RUN, **base)  # type: ignore[arg-type]


def order(level: str, price: int, lots: int, seq: int = 1, **kw: object) -> LiveOrder:
    side = Side.BUY if level.startswith("b") else Side.SELL
    status = kw.get("status", OrderStatus.OPEN)
    return LiveOrder(f"pegbot-{RUN}-{level}-{seq}", level, side, price, lots, status)  # type: ignore[arg-type]


def want(*quotes: tuple[str, int, int]) -> DesiredQuotes:
    return DesiredQuotes(
        tuple(Quote(Side.BUY if lv.startswith("b") else Side.SELL, p, n, lv) for lv, p, n in quotes)
    )


def test_a_small_size_change_is_kept() -> None:
    a = rec().diff(want(("b0", 1143, 2200)), [order("b0", 1143, 2000)])
    assert a.requests == 0 and a.kept == 1


def test_a_smaller_size_at_the_same_price_is_an_amend_that_keeps_the_queue() -> None:
    a = rec().diff(want(("b0", 1143, 1000)), [order("b0", 1143, 2000)])
    assert [(m.client_id, m.lots) for m in a.amends] == [(f"pegbot-{RUN}-b0-1", 1000)]
    assert not a.cancels and not a.places and not a.replaces


def test_without_amend_the_smaller_size_is_a_replace() -> None:
    a = rec(amend=False).diff(want(("b0", 1143, 1000)), [order("b0", 1143, 2000)])
    assert len(a.replaces) == 1 and a.replaces[0].place.quote.lots == 1000
    assert not a.cancels and not a.places


def test_a_new_price_moves_the_order_with_one_cancel_replace() -> None:
    a = rec().diff(want(("b0", 1142, 2000)), [order("b0", 1143, 2000)])
    assert len(a.replaces) == 1 and a.requests == 1
    r = a.replaces[0]
    assert r.cancel.client_id == f"pegbot-{RUN}-b0-1" and r.place.quote.price_ticks == 1142
    assert not a.cancels and not a.places


def test_without_replace_the_move_is_a_cancel_and_a_place() -> None:
    a = rec(replace=False).diff(want(("b0", 1142, 2000)), [order("b0", 1143, 2000)])
    assert len(a.cancels) == 1 and len(a.places) == 1 and not a.replaces


def test_a_whole_ladder_shifted_by_a_tick_is_rebound_not_moved() -> None:
    live = [order("b0", 1143, 2000, 1), order("b1", 1142, 2000, 2)]
    a = rec().diff(want(("b0", 1142, 2000), ("b1", 1141, 2000)), live)
    # The order at 1142 now serves b0; only the old b0 at 1143 moves (to 1141, for b1).
    assert len(a.rebinds) == 1 and len(a.replaces) == 1 and a.requests == 1
    assert a.replaces[0].place.quote.price_ticks == 1141


def test_replace_pairs_with_an_order_of_the_same_side_only() -> None:
    a = rec().diff(want(("b0", 1142, 2000)), [order("a0", 1150, 2000)])
    assert len(a.cancels) == 1 and len(a.places) == 1 and not a.replaces


def test_an_unacknowledged_order_is_never_replaced_and_holds_its_level() -> None:
    pending = order("b0", 1143, 2000, status=OrderStatus.PENDING_NEW)
    a = rec().diff(want(("b0", 1142, 2000)), [pending])
    assert a.requests == 0 and [s.reason for s in a.skipped] == ["level_busy"]


def test_an_amend_in_flight_is_kept_and_not_amended_again() -> None:
    amending = order("b0", 1143, 2000, status=OrderStatus.PENDING_AMEND)
    a = rec().diff(want(("b0", 1143, 1000)), [amending])
    assert a.requests == 0 and a.kept == 1


def test_the_exposure_cap_allows_a_replace_that_does_not_grow_the_side() -> None:
    # The side is full (one ladder): a place would wait, a replace swaps the lots.
    live = [order("b0", 1143, 2000, 1), order("b1", 1142, 2000, 2)]
    a = rec(cap_exposure=True).diff(want(("b0", 1141, 2000), ("b1", 1142, 2000)), live)
    assert len(a.replaces) == 1 and not a.places and not a.skipped


def test_the_exposure_cap_allows_replaces_that_shrink_a_side_over_its_ladder() -> None:
    # Risk defends: the whole ladder moves out and halves. Each replace shrinks the side, so
    # none waits for the cap (waiting turned them into cancels first: both sides empty).
    live = [order("b0", 1143, 2000, 1), order("b1", 1142, 2000, 2)]
    a = rec(cap_exposure=True).diff(want(("b0", 1141, 1000), ("b1", 1140, 1000)), live)
    assert len(a.replaces) == 2 and not a.cancels and not a.places and not a.skipped


def test_the_exposure_cap_holds_back_a_replace_that_would_grow_the_side() -> None:
    # An order whose cancel is not confirmed still counts (it can still fill): growing b0
    # from 2000 to 6000 lots would put more than the ladder on the side.
    live = [
        order("b0", 1143, 2000, 1),
        order("b1", 1142, 2000, 2),
        order("b2", 1140, 2000, 3, status=OrderStatus.PENDING_CANCEL),
    ]
    a = rec(cap_exposure=True).diff(want(("b0", 1141, 6000), ("b1", 1142, 2000)), live)
    assert not a.replaces and [s.reason for s in a.skipped] == ["exposure"]
    assert [c.client_id for c in a.cancels] == [f"pegbot-{RUN}-b0-1"]


def test_a_replace_held_back_by_the_rate_budget_leaves_the_order_resting() -> None:
    budget = RateBudget([RateLimit("ORDERS", 1, 1_000_000_000)], now_ns=0)
    budget.try_spend("place", 0)  # the one order token is gone
    a = rec(budget=budget).diff(want(("b0", 1142, 2000)), [order("b0", 1143, 2000)], now_ns=1)
    assert a.requests == 0 and [s.reason for s in a.skipped] == ["rate_budget"]

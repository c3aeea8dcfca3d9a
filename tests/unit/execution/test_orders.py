"""The order-state machine, case by case: every answer a venue can give, folded in."""

from __future__ import annotations

import pytest

from pegbot.execution.orders import DETACHED, OpenOrder, OrderTracker
from pegbot.execution.reconciler import Actions, Cancel, Place, Rebind, Reconciler
from pegbot.market import Market, Side
from pegbot.strategy import DesiredQuotes, OrderStatus, Quote

RUN = "run1"
MARKET = Market.kgst_usdt()


def place(level: str, seq: int, price: int = 1140, lots: int = 5, side: Side = Side.BUY) -> Place:
    return Place(Quote(side, price, lots, level), f"pegbot-{RUN}-{level}-{seq}")


def cid(level: str, seq: int) -> str:
    return f"pegbot-{RUN}-{level}-{seq}"


def tracker_with_open(*levels: str) -> OrderTracker:
    t = OrderTracker(RUN)
    t.apply(Actions(places=tuple(place(lv, i) for i, lv in enumerate(levels))))
    for i, lv in enumerate(levels):
        assert t.on_open(cid(lv, i), 10)
    return t


def test_a_place_is_pending_until_acknowledged_then_open() -> None:
    t = OrderTracker(RUN)
    sent = t.apply(Actions(places=(place("b0", 1),)))
    assert [p.client_id for p in sent.places] == [cid("b0", 1)]
    assert t.get(cid("b0", 1)).status is OrderStatus.PENDING_NEW
    assert t.on_open(cid("b0", 1), 5, Side.BUY, 1140, 4)
    o = t.get(cid("b0", 1))
    assert o is not None and o.status is OrderStatus.OPEN and o.lots == 4


def test_a_second_active_order_for_a_level_is_refused_not_sent() -> None:
    t = OrderTracker(RUN)
    t.apply(Actions(places=(place("b0", 1),)))
    sent = t.apply(Actions(places=(place("b0", 2),)))
    assert sent.places == () and [r.reason for r in sent.refused] == ["level_taken"]
    assert len(t) == 1


def test_a_level_being_cancelled_may_take_a_new_order() -> None:
    t = tracker_with_open("b0")
    sent = t.apply(
        Actions(cancels=(Cancel(cid("b0", 0), "b0", "reprice"),), places=(place("b0", 7),))
    )
    assert len(sent.cancels) == 1 and len(sent.places) == 1 and sent.refused == ()
    assert t.get(cid("b0", 0)).status is OrderStatus.PENDING_CANCEL


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("pending_new", "unacknowledged"),
        ("cancelling", "cancel_pending"),
        ("none", "unknown_order"),
    ],
)
def test_unsafe_cancels_are_refused(setup: str, reason: str) -> None:
    t = OrderTracker(RUN)
    if setup == "pending_new":
        t.apply(Actions(places=(place("b0", 0),)))
    elif setup == "cancelling":
        t = tracker_with_open("b0")
        t.apply(Actions(cancels=(Cancel(cid("b0", 0), "b0", "unwanted"),)))
    sent = t.apply(Actions(cancels=(Cancel(cid("b0", 0), "b0", "unwanted"),)))
    assert sent.cancels == () and [r.reason for r in sent.refused] == [reason]


def test_a_failed_cancel_leaves_the_order_open_for_another_try() -> None:
    t = tracker_with_open("a0")
    t.apply(Actions(cancels=(Cancel(cid("a0", 0), "a0", "unwanted"),)))
    t.on_cancel_failed(cid("a0", 0))
    assert t.get(cid("a0", 0)).status is OrderStatus.OPEN


def test_a_failed_cancel_after_the_requote_detaches_the_old_order_from_its_level() -> None:
    t = tracker_with_open("a1")
    t.apply(Actions(cancels=(Cancel(cid("a1", 0), "a1", "reprice"),), places=(place("a1", 7),)))
    t.on_cancel_failed(cid("a1", 0))
    old, new = t.get(cid("a1", 0)), t.get(cid("a1", 7))
    assert old is not None and old.status is OrderStatus.OPEN and old.level_id == DETACHED
    assert new is not None and new.level_id == "a1"
    # The next diff cancels the detached order (no desired quote has its level).
    actions = Reconciler(MARKET, RUN).diff(
        DesiredQuotes((Quote(Side.BUY, 1140, 5, "a1"),)), t.live_orders()
    )
    assert [c.client_id for c in actions.cancels] == [cid("a1", 0)]


def test_a_finished_order_never_comes_back() -> None:
    t = tracker_with_open("b0")
    assert t.on_closed(cid("b0", 0))
    assert not t.on_open(cid("b0", 0), 99, Side.BUY, 1140, 5)  # a late ack
    assert len(t) == 0 and t.is_finished(cid("b0", 0))


def test_an_ack_while_the_cancel_is_in_flight_keeps_it_pending_cancel() -> None:
    t = tracker_with_open("b0")
    t.apply(Actions(cancels=(Cancel(cid("b0", 0), "b0", "unwanted"),)))
    t.on_open(cid("b0", 0), 20, Side.BUY, 1140, 5)
    assert t.get(cid("b0", 0)).status is OrderStatus.PENDING_CANCEL


def test_fills_apply_once_and_close_the_order_when_nothing_is_left() -> None:
    t = tracker_with_open("b0")  # 5 lots
    assert t.on_fill(cid("b0", 0), "T1", filled_lots=2)
    assert not t.on_fill(cid("b0", 0), "T1", filled_lots=2)  # the same trade again
    assert t.get(cid("b0", 0)).lots == 3
    assert t.on_fill(cid("b0", 0), "T2", filled_lots=3)
    assert cid("b0", 0) not in t and t.is_finished(cid("b0", 0))


def test_a_venue_that_says_what_is_left_decides_when_the_order_is_done() -> None:
    t = tracker_with_open("b0")
    t.on_fill(cid("b0", 0), None, leaves_lots=0, closed=False)  # less than a lot left
    o = t.get(cid("b0", 0))
    assert o is not None and o.lots == 0
    t.on_fill(cid("b0", 0), None, leaves_lots=0, closed=True)
    assert cid("b0", 0) not in t


def test_an_unknown_outcome_holds_its_level_until_a_snapshot_settles_it() -> None:
    t = OrderTracker(RUN)
    t.apply(Actions(places=(place("b0", 1),)))
    t.on_unknown(cid("b0", 1))
    assert t.unknown == {cid("b0", 1)}
    assert t.apply(Actions(places=(place("b0", 2),))).refused[0].reason == "level_taken"
    # The snapshot does not list it: it never arrived.
    assert t.reconcile([], started_ns=100) == []
    assert len(t) == 0 and t.unknown == frozenset()


def test_an_unknown_outcome_found_resting_is_adopted_open() -> None:
    t = OrderTracker(RUN)
    t.apply(Actions(places=(place("b0", 1),)))
    t.on_unknown(cid("b0", 1))
    t.reconcile([OpenOrder(cid("b0", 1), Side.BUY, 1140, 5)], started_ns=100)
    assert t.get(cid("b0", 1)).status is OrderStatus.OPEN and t.unknown == frozenset()


def test_reconcile_finishes_what_closed_unseen_and_names_orphans() -> None:
    t = tracker_with_open("b0", "a0")  # both seen open at t=10
    t.apply(Actions(places=(place("b1", 9),)))  # sent, not answered yet
    snapshot = [
        OpenOrder(cid("a0", 1), Side.SELL, 1146, 5),
        OpenOrder("pegbot-other-b0-3", Side.BUY, 1139, 5),  # another run's
        OpenOrder("manual-1", Side.BUY, 1000, 1),  # not pegbot's: never touched
    ]
    assert t.reconcile(snapshot, started_ns=50) == ["pegbot-other-b0-3"]
    assert cid("b0", 0) not in t  # open at 10, missing from a snapshot begun at 50: gone
    assert cid("a0", 1) in t
    assert t.get(cid("b1", 9)).status is OrderStatus.PENDING_NEW  # its answer may still come


def test_reconcile_adopts_this_runs_orders_it_did_not_know() -> None:
    t = OrderTracker(RUN)
    t.reconcile([OpenOrder(cid("a2", 4), Side.SELL, 1150, 3)], started_ns=1)
    o = t.get(cid("a2", 4))
    assert o is not None and o.level_id == "a2" and o.status is OrderStatus.OPEN


def test_rebinds_move_an_order_to_another_level() -> None:
    t = tracker_with_open("b0")
    t.apply(Actions(rebinds=(Rebind(cid("b0", 0), "b1"),), places=(place("b0", 5),)))
    assert t.get(cid("b0", 0)).level_id == "b1"
    assert t.get(cid("b0", 5)).level_id == "b0"


def test_cancel_everything_and_finish_all() -> None:
    t = tracker_with_open("b0", "a0")
    t.apply(Actions(places=(place("b1", 9),)))
    out = t.cancel_everything()
    assert {o.client_id for o in out} == {cid("b0", 0), cid("a0", 1), cid("b1", 9)}
    assert t.cancel_everything() == []  # already being cancelled
    assert sorted(t.finish_all()) == sorted(o.client_id for o in out) and len(t) == 0


def test_live_orders_is_one_tuple_until_the_set_changes() -> None:
    t = tracker_with_open("b0")
    first = t.live_orders()
    assert t.live_orders() is first
    t.on_open(cid("b0", 0), 11)  # nothing changed
    assert t.live_orders() is first
    t.on_fill(cid("b0", 0), "T", filled_lots=1)
    assert t.live_orders() is not first


def test_memories_are_bounded() -> None:
    t = OrderTracker(RUN, memory=3)
    for n in range(10):
        t.retire(f"x{n}")
        t.on_fill("nobody", f"T{n}")
    sizes = t.memory_sizes()
    assert sizes["finished_ids"] == 3 and sizes["trade_ids"] == 3
    assert t.is_finished("x9") and not t.is_finished("x0")

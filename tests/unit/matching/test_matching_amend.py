"""Amend-keep-priority in the fill engine: worked examples and a twin-engine property.

The rule under test is Binance's "Order Amend Keep Priority": an order's quantity may only go
down, and it keeps its place in the queue, so an order amended from 5.5 to 5.0 trades exactly
as an order of 5.0 placed at the same moment would have.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pegbot.market import Side
from pegbot.matching import (
    EngineFill,
    FillEngine,
    LogProbQueue,
    PowerProbQueue,
    QueueModel,
    RiskAverse,
    amended_leaves,
)

BUY, SELL = Side.BUY, Side.SELL


def test_amend_reduces_in_place_and_the_queue_behind_moves_up() -> None:
    eng = FillEngine(RiskAverse())
    eng.add("a", BUY, 100, 10, level_qty=5, ts_ns=1)
    eng.add("b", BUY, 100, 10, level_qty=5, ts_ns=2)
    assert eng.amend("a", 4) == 4
    view = eng.order("a")
    assert view is not None and (view.qty_units, view.leaves_units, view.ahead_units) == (4, 4, 5)
    # 5 external ahead, then a's 4, then b: a trade of 12 gives a 4 and b 3.
    fills = eng.on_trade(SELL, 100, 12, 3)
    assert [(f.order_id, f.qty_units, f.leaves_units) for f in fills] == [("a", 4, 0), ("b", 3, 7)]


def test_amend_of_a_partly_filled_order_counts_what_executed() -> None:
    eng = FillEngine(RiskAverse())
    eng.add("a", SELL, 100, 10, level_qty=0, ts_ns=1)
    (f,) = eng.on_trade(BUY, 100, 6, 2)
    assert (f.qty_units, f.leaves_units) == (6, 4)
    # New total 8 of which 6 executed: 2 left to fill.
    assert eng.amend("a", 8) == 2
    view = eng.order("a")
    assert view is not None and (view.qty_units, view.leaves_units) == (8, 2)
    # New total at or below what executed: nothing is left, the order leaves the engine.
    assert eng.amend("a", 6) == 0
    assert "a" not in eng
    assert eng.on_trade(BUY, 100, 5, 3) == []


def test_amend_refuses_an_increase_an_equal_size_and_zero() -> None:
    eng = FillEngine(RiskAverse())
    eng.add("a", BUY, 100, 10, level_qty=3, ts_ns=1)
    for bad in (10, 11, 0, -1):
        with pytest.raises(ValueError):
            eng.amend("a", bad)
    view = eng.order("a")
    assert view is not None and (view.qty_units, view.leaves_units, view.ahead_units) == (10, 10, 3)


def test_amend_of_an_order_that_is_not_resting_is_none() -> None:
    eng = FillEngine(RiskAverse())
    assert eng.amend("nope", 1) is None
    eng.add("a", BUY, 100, 10, level_qty=0, ts_ns=1)
    eng.on_trade(SELL, 100, 10, 2)  # filled: gone
    assert eng.amend("a", 5) is None


def test_amend_keeps_whole_lots() -> None:
    eng = FillEngine(RiskAverse(), lot_units=5)
    eng.add("a", BUY, 100, 20, level_qty=0, ts_ns=1)
    with pytest.raises(ValueError):
        eng.amend("a", 12)
    assert eng.amend("a", 15) == 15


def test_amended_leaves_is_new_total_less_executed() -> None:
    assert amended_leaves(10, 10, 4) == 4
    assert amended_leaves(10, 4, 8) == 2
    assert amended_leaves(10, 4, 5) == -1


# -- the twin property --------------------------------------------------------------------------

EVENTS = st.lists(
    st.one_of(
        st.tuples(st.just("trade"), st.integers(1, 40)),
        st.tuples(st.just("depth"), st.integers(0, 120)),
    ),
    max_size=25,
)


def _feed(eng: FillEngine, events: list[tuple[str, int]]) -> list[list[tuple[object, int, int]]]:
    out: list[list[tuple[object, int, int]]] = []
    for kind, qty in events:
        fills: list[EngineFill] = (
            eng.on_trade(SELL, 100, qty, 0) if kind == "trade" else eng.on_depth(BUY, 100, qty, 0)
        )
        out.append([(f.order_id, f.qty_units, f.leaves_units) for f in fills])
    return out


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(1, 30), min_size=1, max_size=5),
    st.integers(0, 60),
    st.data(),
    EVENTS,
    st.sampled_from([RiskAverse(), PowerProbQueue(3), LogProbQueue()]),
)
def test_an_amended_order_trades_as_if_placed_at_its_new_size(
    sizes: list[int],
    level: int,
    data: st.DataObject,
    events: list[tuple[str, int]],
    model: QueueModel,
) -> None:
    """Priority kept means: same place, smaller size — fill for fill like a twin placed so."""
    which = data.draw(st.integers(0, len(sizes) - 1))
    big = sizes[which] + data.draw(st.integers(1, 20))
    amended = FillEngine(model)
    twin = FillEngine(model)
    for i, size in enumerate(sizes):
        amended.add(i, BUY, 100, big if i == which else size, level, i)
        twin.add(i, BUY, 100, size, level, i)
    before = {v.order_id: v.ahead_units for v in amended.orders()}
    assert amended.amend(which, sizes[which]) == sizes[which]
    assert {v.order_id: v.ahead_units for v in amended.orders()} == before
    assert _feed(amended, events) == _feed(twin, events)

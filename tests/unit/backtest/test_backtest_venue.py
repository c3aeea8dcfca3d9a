"""The backtest venue driven by hand: latency, answers, amend and cancel-replace semantics."""

from __future__ import annotations

import pandas as pd
import pytest
from _backtest_helpers import LOT, meta
from hypothesis import given, settings
from hypothesis import strategies as st

from pegbot.backtest import results
from pegbot.backtest.venue import SimVenue
from pegbot.matching import ConstantLatency, FillEngine, RiskAverse

ENTRY, RESPONSE = 10, 7


def venue(partial: bool = True) -> SimVenue:
    """A venue over ticks 1100..1200 with 100 lots bid at 1140 and asked at 1141."""
    v = SimVenue.standalone(
        meta().market(),
        FillEngine(RiskAverse(), partial_fills=partial, lot_units=LOT),
        ConstantLatency(ENTRY, RESPONSE),
        1100,
        1200,
    )
    v.set_level(1, 1140, 100 * LOT, 0)
    v.set_level(-1, 1141, 100 * LOT, 0)
    return v


def kinds(v: SimVenue, now: int) -> list[tuple[int, str, str, int]]:
    return [(r.at_ns, r.kind, r.client_id, r.leaves_units // LOT) for r in v.due(now)]


def test_requests_and_answers_take_their_latency() -> None:
    v = venue()
    v.send_place(100, "a", 1, 1140, 10 * LOT, True)
    v.act(100 + ENTRY - 1)
    assert v.resting() == {}  # not there yet
    v.act(100 + ENTRY)
    assert v.resting() == {"a": (1, 1140, 10 * LOT, 100 * LOT)}  # behind the level
    assert kinds(v, 100 + ENTRY + RESPONSE - 1) == []
    assert kinds(v, 200) == [(100 + ENTRY + RESPONSE, "ack", "a", 10)]


def test_amend_keeps_queue_priority() -> None:
    # a rests before b at 1140. Amended down, a keeps its place: a trade of 104 lots fills
    # the 4 lots a kept and nothing of b, which a still precedes.
    v = venue()
    v.send_place(0, "a", 1, 1140, 10 * LOT, True)
    v.send_place(1, "b", 1, 1140, 10 * LOT, True)
    v.act(20)
    v.send_amend(30, "a", 4 * LOT)
    v.act(40)
    assert list(v.resting()) == ["a", "b"]
    assert v.resting()["a"] == (1, 1140, 4 * LOT, 100 * LOT)  # queue ahead unchanged
    v.trade(-1, 1140, 104 * LOT, 50)
    assert v.resting() == {"b": (1, 1140, 10 * LOT, 0)}
    got = kinds(v, 100)
    assert (40 + RESPONSE, "amended", "a", 4) in got
    assert (50 + RESPONSE, "fill", "a", 0) in got
    assert [k for k in got if k[2] == "b"] == [(11 + RESPONSE, "ack", "b", 10)]
    amended = [o for o in v.records.orders if o[0] == "amended"]
    assert amended == [("amended", 40, "a", 1, 1140, 6 * LOT)]  # what the amend gave back


def test_replace_instead_joins_the_back_of_the_queue() -> None:
    # The same as above with a cancel-replace: the new order queues behind b.
    v = venue()
    v.send_place(0, "a", 1, 1140, 10 * LOT, True)
    v.send_place(1, "b", 1, 1140, 10 * LOT, True)
    v.act(20)
    v.send_replace(30, "a", "a2", 1, 1140, 4 * LOT, True)
    v.act(40)
    assert list(v.resting()) == ["b", "a2"]
    v.trade(-1, 1140, 104 * LOT, 50)
    assert v.resting() == {"b": (1, 1140, 6 * LOT, 0), "a2": (1, 1140, 4 * LOT, 0)}


def test_amend_to_what_executed_expires_the_order() -> None:
    v = venue()
    v.send_place(0, "a", 1, 1140, 10 * LOT, True)
    v.act(20)
    v.trade(-1, 1140, 106 * LOT, 30)  # 6 lots fill
    v.send_amend(40, "a", 6 * LOT)
    v.act(50)
    assert v.resting() == {}
    assert kinds(v, 100)[-1] == (50 + RESPONSE, "expired", "a", 0)
    assert ("expired", 50, "a", 1, 1140, 4 * LOT) in v.records.orders
    assert v.records.quotes[-1] == (50, 0, 0, 0, 0)


def test_amend_refusals() -> None:
    v = venue()
    v.send_place(0, "a", 1, 1140, 10 * LOT, True)
    v.act(20)
    v.send_amend(30, "a", 10 * LOT)  # not a reduction
    v.send_amend(31, "nobody", 1 * LOT)
    v.act(50)
    assert v.resting()["a"][2] == 10 * LOT
    got = [(k, c) for _, k, c, _ in kinds(v, 100)]
    assert got == [("ack", "a"), ("amend_rejected", "a"), ("not_found", "nobody")]


def test_replace_is_one_step_at_the_venue() -> None:
    v = venue()
    v.set_level(1, 1139, 30 * LOT, 0)
    v.send_place(0, "a", 1, 1140, 10 * LOT, True)
    v.act(20)
    v.send_replace(30, "a", "b", 1, 1139, 8 * LOT, True)
    v.act(40)
    assert v.resting() == {"b": (1, 1139, 8 * LOT, 30 * LOT)}  # behind the level there
    got = kinds(v, 100)
    assert got[1:] == [(40 + RESPONSE, "canceled", "a", 0), (40 + RESPONSE, "ack", "b", 8)]
    # One quote record for the step: the new order, never both, never none.
    assert [q for q in v.records.quotes if q[0] == 40] == [(40, 1139, 8 * LOT, 0, 0)]
    events = [o[:3] for o in v.records.orders]
    assert events == [("sent", 0, "a"), ("accepted", 10, "a"), ("sent", 30, "b"),
                      ("replace_sent", 30, "a"), ("canceled", 40, "a"),
                      ("accepted", 40, "b")]  # fmt: skip


def test_replace_of_a_filled_order_places_nothing() -> None:
    v = venue()
    v.send_place(0, "a", 1, 1140, 10 * LOT, True)
    v.act(20)
    v.send_replace(30, "a", "b", 1, 1139, 10 * LOT, True)
    v.trade(-1, 1140, 110 * LOT, 35)  # a fills completely before the replace lands
    v.act(40)
    assert v.resting() == {}
    got = [(k, c) for _, k, c, _ in kinds(v, 100)]
    assert got == [("ack", "a"), ("fill", "a"), ("not_found", "a"), ("not_attempted", "b")]
    assert not any(o[0] == "accepted" and o[2] == "b" for o in v.records.orders)


def test_replace_whose_new_order_would_cross_cancels_the_old_one_only() -> None:
    # Binance's STOP_ON_FAILURE: the cancel succeeded, the new (post-only) order is rejected.
    v = venue()
    v.send_place(0, "a", 1, 1140, 10 * LOT, True)
    v.act(20)
    v.send_replace(30, "a", "b", 1, 1141, 10 * LOT, True)
    v.act(40)
    assert v.resting() == {}
    got = [(k, c) for _, k, c, _ in kinds(v, 100)]
    assert got == [("ack", "a"), ("canceled", "a"), ("reject", "b")]
    assert v.rejects == 1


def test_a_taking_order_fills_as_taker_and_rests_the_rest() -> None:
    v = venue()
    v.send_place(0, "t", 1, 1142, 130 * LOT, False)  # takes the 100 asked at 1141
    v.act(20)
    assert v.resting() == {"t": (1, 1142, 30 * LOT, 0)}
    fills = [r.fill for r in v.due(100) if r.fill is not None]
    assert [(f.price_ticks, f.qty_units // LOT, f.maker) for f in fills] == [(1141, 100, False)]
    assert v.account.base_units == 0  # the venue's account moves when its logs are read
    assert v.records.fills[0][5] is False
    assert v.account.base_units == 100 * LOT


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["replace", "trade", "depth", "amend"]),
            st.integers(1136, 1140),
            st.integers(1, 30),
        ),
        max_size=40,
    )
)
def test_replacing_one_level_never_doubles_nor_empties_it(
    steps: list[tuple[str, int, int]],
) -> None:
    # One quote kept by cancel-replace under random trades and depth changes: at no time do
    # two of our orders rest, and every replace whose old order rested leaves the new one
    # resting in the same step (unless the market fills it at once).
    v = venue()
    v.send_place(0, "q0", 1, 1140, 20 * LOT, True)
    v.act(10)
    live, n, t = "q0", 0, 100
    for kind, price, lots in steps:
        t += 100
        if kind == "trade":
            v.trade(-1, price, lots * LOT, t)
        elif kind == "depth":
            v.set_level(1, price, lots * LOT, t)
        elif kind == "amend":
            v.send_amend(t, live, lots * LOT)
            v.act(t + ENTRY)
        else:
            n += 1
            new = f"q{n}"
            was_resting = live in v.resting()
            v.send_replace(t, live, new, 1, price, 20 * LOT, True)
            v.act(t + ENTRY)
            if was_resting:
                assert live not in v.resting()
                assert new in v.resting()
                q = [x for x in v.records.quotes if x[0] == t + ENTRY]
                assert q and all(x[1] == price for x in q)
                live = new
            else:
                assert new not in v.resting()
        assert len(v.resting()) <= 1
    v.due(t + 1000)


def test_standalone_records_are_read_once_built() -> None:
    v = venue()
    v.send_place(0, "a", 1, 1140, 10 * LOT, True)
    v.act(20)
    first = v.records
    assert v.records is first
    v.send_cancel(30, "a")
    v.act(40)
    assert v.records is not first and v.records.orders[-1][:3] == ("canceled", 40, "a")


@pytest.mark.parametrize("partial", [True, False])
def test_fills_reach_the_account_and_the_answers(partial: bool) -> None:
    v = venue(partial)
    v.send_place(0, "a", 1, 1140, 10 * LOT, True)
    v.act(20)
    v.trade(-1, 1140, 105 * LOT, 30)
    fills = [(r.at_ns, r.fill.qty_units // LOT, r.leaves_units // LOT) for r in v.due(100)
             if r.fill is not None]  # fmt: skip
    assert fills == ([(30 + RESPONSE, 5, 5)] if partial else [(30 + RESPONSE, 10, 0)])
    v.flush_logs()
    assert v.account.base_units == fills[0][1] * LOT
    assert v.account.cash_tu == -1140 * fills[0][1] * LOT


def test_results_count_what_an_amend_gave_back() -> None:
    # a: 10 lots from 10 ns, amended to 4 at 40 ns, expired at 70 ns after 4 lots filled.
    v = venue()
    v.send_place(0, "a", 1, 1140, 10 * LOT, True)
    v.act(20)
    v.send_amend(30, "a", 4 * LOT)
    v.act(40)
    v.trade(-1, 1140, 102 * LOT, 50)  # 2 lots fill
    v.send_amend(60, "a", 2 * LOT)  # down to what executed: the order expires
    v.act(70)
    cols = v.columns()
    segs = results._order_segments(pd.DataFrame(cols["orders"]), pd.DataFrame(cols["fills"]), 100)
    pieces = sorted(zip(*(x.tolist() for x in segs), strict=True), key=lambda x: x[3])
    assert pieces == [
        (1, 1140, 10 * LOT, 10, 40),
        (1, 1140, 4 * LOT, 40, 50),
        (1, 1140, 2 * LOT, 50, 70),
    ]

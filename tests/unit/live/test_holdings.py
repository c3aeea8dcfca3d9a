"""VenueHoldings: every fill moves the balances once, whatever arrives first (hypothesis)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from pegbot.execution.venue import Balance, Balances, Fill
from pegbot.live.holdings import VenueHoldings
from pegbot.market import Market, Side

M = Market.kgst_usdt()
U = M.units_per_lot


def fill(tid: str, ts: int, side: Side = Side.BUY, kgst: int = 100) -> Fill:
    return Fill("v", M.symbol, tid, "c", "o", side, 1140, kgst * U, Decimal(0), "USDT", True, ts)


def snapshot(kgst: Decimal, usdt: Decimal, as_of: int | None) -> Balances:
    return Balances(
        {"KGST": Balance("KGST", kgst, Decimal(0)), "USDT": Balance("USDT", usdt, Decimal(0))},
        as_of,
    )


def test_a_fill_already_in_the_balances_is_not_added_again() -> None:
    h = VenueHoldings(M)
    h.reset(snapshot(Decimal(1000), Decimal(100), as_of=50), sent_ns=0)
    assert not h.apply(fill("1", ts=50))  # at the snapshot's time: in it
    assert h.apply(fill("2", ts=51))
    assert h.balances["KGST"].total == 1100
    assert h.balances["USDT"].total == Decimal(100) - Decimal("0.01140") * 100


def test_a_new_snapshot_keeps_the_fills_after_it() -> None:
    h = VenueHoldings(M)
    h.reset(snapshot(Decimal(1000), Decimal(100), as_of=10), sent_ns=0)
    h.apply(fill("1", ts=20))
    h.apply(fill("2", ts=30))
    # The venue's next snapshot holds fill 1 (as of 25) but not fill 2.
    h.reset(snapshot(Decimal(1100), Decimal(0), as_of=25), sent_ns=0)
    assert h.balances["KGST"].total == 1200
    assert [f.trade_id for f in h.fills_after()] == ["2"]
    # An older snapshot answered late changes nothing.
    h.reset(snapshot(Decimal(1), Decimal(1), as_of=5), sent_ns=0)
    assert h.balances["KGST"].total == 1200


def test_without_a_venue_time_the_request_time_stands_in() -> None:
    h = VenueHoldings(M)
    h.reset(snapshot(Decimal(1000), Decimal(100), as_of=None), sent_ns=40)
    assert not h.apply(fill("1", ts=40))
    assert h.apply(fill("2", ts=41))


@settings(max_examples=200, deadline=None)
@given(
    times=st.lists(st.integers(1, 1000), min_size=1, max_size=20, unique=True),
    cut=st.integers(0, 1000),
    before=st.lists(st.booleans(), min_size=20, max_size=20),
    repeat=st.lists(st.booleans(), min_size=20, max_size=20),
)
def test_each_fill_counts_once_in_any_order(
    times: list[int], cut: int, before: list[bool], repeat: list[bool]
) -> None:
    # The venue: a starting balance, fills at ``times``; its snapshot is as of ``cut``. Each
    # fill reaches the holdings before or after the snapshot, some twice (stream + recovery).
    fills = [fill(str(i), t, Side.BUY if i % 2 else Side.SELL) for i, t in enumerate(times)]
    start = Decimal(10_000)
    moved = {f.trade_id: int(f.side) * 100 for f in fills}
    in_snapshot = start + sum(moved[f.trade_id] for f in fills if f.ts_ns <= cut)
    truth = start + sum(moved.values())
    h = VenueHoldings(M)
    h.reset(snapshot(start, Decimal(10_000), as_of=0), sent_ns=0)
    early = [f for i, f in enumerate(fills) if before[i]]
    late = [f for i, f in enumerate(fills) if not before[i]]
    for i, f in enumerate(early):
        h.apply(f)
        if repeat[i]:
            h.apply(f)
    h.reset(snapshot(in_snapshot, Decimal(10_000), as_of=cut), sent_ns=0)
    for i, f in enumerate(late):
        h.apply(f)
        if repeat[i]:
            h.apply(f)
    assert h.balances["KGST"].total == truth

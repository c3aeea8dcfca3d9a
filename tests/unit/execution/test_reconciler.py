"""The reconciler: minimal actions, tolerances, pending orders, filters, ids, and properties."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pegbot.execution.budget import RateBudget, RateLimit
from pegbot.execution.reconciler import (
    Actions,
    ClientId,
    Reconciler,
    orphans,
    parse_client_id,
)
from pegbot.market import Market, Side
from pegbot.strategy import DesiredQuotes, LiveOrder, OrderStatus, Quote

MARKET = Market.kgst_usdt()  # min qty 1 lot, min notional 1 USDT ≈ 88 lots at 1143 ticks
SEC = 1_000_000_000


def _ladder(bid0: int, ask0: int, n: int = 3, lots: int = 1000) -> DesiredQuotes:
    quotes = []
    for i in range(n):
        quotes.append(Quote(Side.BUY, bid0 - i, lots, f"b{i}"))
        quotes.append(Quote(Side.SELL, ask0 + i, lots, f"a{i}"))
    return DesiredQuotes(tuple(quotes))


def _apply(live: Sequence[LiveOrder], actions: Actions) -> list[LiveOrder]:
    """What the live set becomes once every action is confirmed by the venue."""
    cancelled = {c.client_id for c in actions.cancels}
    rebound = {r.client_id: r.level_id for r in actions.rebinds}
    out = []
    for o in live:
        if o.client_id in cancelled:
            continue
        level = rebound.get(o.client_id, o.level_id)
        out.append(LiveOrder(o.client_id, level, o.side, o.price_ticks, o.lots, o.status))
    for p in actions.places:
        q = p.quote
        out.append(
            LiveOrder(p.client_id, q.level_id, q.side, q.price_ticks, q.lots, OrderStatus.OPEN)
        )
    return out


def _open(d: DesiredQuotes, run: str = "r1") -> list[LiveOrder]:
    return [
        LiveOrder(f"pegbot-{run}-{q.level_id}-{i}", q.level_id, q.side, q.price_ticks, q.lots)
        for i, q in enumerate(d.quotes)
    ]


def test_first_diff_places_everything_inner_first() -> None:
    rec = Reconciler(MARKET, "r1")
    actions = rec.diff(_ladder(1142, 1145), [])
    assert actions.cancels == () and actions.rebinds == ()
    assert [p.client_id for p in actions.places] == [
        "pegbot-r1-b0-1",
        "pegbot-r1-a0-2",
        "pegbot-r1-b1-3",
        "pegbot-r1-a1-4",
        "pegbot-r1-b2-5",
        "pegbot-r1-a2-6",
    ]
    assert all(p.post_only for p in actions.places)
    assert rec.next_seq == 7


def test_nothing_to_do_when_live_matches() -> None:
    d = _ladder(1142, 1145)
    actions = Reconciler(MARKET, "r1").diff(d, _open(d))
    assert actions.requests == 0 and actions.kept == 6 and actions.rebinds == ()


def test_one_level_repriced() -> None:
    d = _ladder(1142, 1145)
    live = _open(d)
    new = DesiredQuotes(
        tuple(q if q.level_id != "a2" else Quote(Side.SELL, 1149, 1000, "a2") for q in d.quotes)
    )
    actions = Reconciler(MARKET, "r1").diff(new, live)
    assert [(c.level_id, c.reason) for c in actions.cancels] == [("a2", "reprice")]
    assert [(p.quote.level_id, p.quote.price_ticks) for p in actions.places] == [("a2", 1149)]


def test_ladder_shift_keeps_queue_position() -> None:
    # The ladder moved down one tick: four of six orders still sit at wanted prices.
    d = _ladder(1142, 1145)  # bids 1142 1141 1140, asks 1145 1146 1147
    shifted = _ladder(1141, 1144)  # bids 1141 1140 1139, asks 1144 1145 1146
    actions = Reconciler(MARKET, "r1").diff(shifted, _open(d))
    assert actions.requests == 4 and actions.kept == 4
    assert sorted((c.level_id, c.reason) for c in actions.cancels) == [
        ("a2", "reprice"),
        ("b0", "reprice"),
    ]
    assert sorted((p.quote.level_id, p.quote.price_ticks) for p in actions.places) == [
        ("a0", 1144),
        ("b2", 1139),
    ]
    assert {r.client_id: r.level_id for r in actions.rebinds} == {
        "pegbot-r1-b1-2": "b0",
        "pegbot-r1-b2-4": "b1",
        "pegbot-r1-a0-1": "a1",
        "pegbot-r1-a1-3": "a2",
    }
    # Keyed strictly by level, the same shift costs a cancel and a place per level.
    strict = Reconciler(MARKET, "r1", cross_level=False).diff(shifted, _open(d))
    assert strict.requests == 12 and strict.rebinds == ()


def test_tolerances() -> None:
    d = _ladder(1142, 1145, n=1, lots=1000)
    live = [
        LiveOrder("pegbot-r1-b0-1", "b0", Side.BUY, 1141, 950),  # 1 tick off, partly filled
        LiveOrder("pegbot-r1-a0-2", "a0", Side.SELL, 1145, 800),
    ]
    rec = Reconciler(MARKET, "r1", price_tolerance_ticks=1, size_tolerance=0.1)
    actions = rec.diff(d, live)
    assert [c.client_id for c in actions.cancels] == ["pegbot-r1-a0-2"]  # 20 % short
    assert [p.quote.level_id for p in actions.places] == ["a0"]
    exact = Reconciler(MARKET, "r1").diff(d, live)
    assert exact.requests == 4


def test_unwanted_levels_and_side_are_cancelled() -> None:
    d = _ladder(1142, 1145, n=2)
    actions = Reconciler(MARKET, "r1").diff(DesiredQuotes(d.quotes[:2]), _open(d))
    assert sorted((c.level_id, c.reason) for c in actions.cancels) == [
        ("a1", "unwanted"),
        ("b1", "unwanted"),
    ]
    pulled = Reconciler(MARKET, "r1").diff(DesiredQuotes(), _open(d))
    assert len(pulled.cancels) == 4 and pulled.places == ()


def test_pending_new_is_never_cancelled_and_blocks_its_level() -> None:
    live = [LiveOrder("pegbot-r1-b0-1", "b0", Side.BUY, 1140, 1000, OrderStatus.PENDING_NEW)]
    d = DesiredQuotes((Quote(Side.BUY, 1142, 1000, "b0"),))
    actions = Reconciler(MARKET, "r1").diff(d, live)
    assert actions.requests == 0
    assert [(s.level_id, s.reason) for s in actions.skipped] == [("b0", "level_busy")]
    # A pending order that matches counts as kept.
    same = Reconciler(MARKET, "r1").diff(DesiredQuotes((Quote(Side.BUY, 1140, 1000, "b0"),)), live)
    assert same.requests == 0 and same.kept == 1


def test_pending_cancel_is_not_cancelled_twice() -> None:
    live = [LiveOrder("pegbot-r1-b0-1", "b0", Side.BUY, 1140, 1000, OrderStatus.PENDING_CANCEL)]
    d = DesiredQuotes((Quote(Side.BUY, 1142, 1000, "b0"),))
    parallel = Reconciler(MARKET, "r1").diff(d, live)
    assert parallel.cancels == () and [p.quote.level_id for p in parallel.places] == ["b0"]
    waiting = Reconciler(MARKET, "r1", wait_for_cancel=True).diff(d, live)
    assert waiting.requests == 0 and [s.reason for s in waiting.skipped] == ["cancel_pending"]
    # Waiting also applies to a cancel sent in the same diff.
    open_live = [LiveOrder("pegbot-r1-b0-1", "b0", Side.BUY, 1140, 1000)]
    w2 = Reconciler(MARKET, "r1", wait_for_cancel=True).diff(d, open_live)
    assert len(w2.cancels) == 1 and w2.places == ()


def test_filters() -> None:
    market = Market(
        symbol="KGST/USDT", base="KGST", quote="USDT", tick_size=Decimal("0.00001"),
        lot_size=Decimal(1), min_qty=Decimal(10), min_notional=Decimal(5),
    )  # fmt: skip
    rec = Reconciler(market, "r1")
    d = DesiredQuotes(
        (
            Quote(Side.BUY, 1142, 9, "b0"),  # below min qty
            Quote(Side.BUY, 1141, 100, "b1"),  # 1.141 USDT < 5
            Quote(Side.BUY, 1140, 439, "b2"),  # 5.0046 USDT: fine
            Quote(Side.SELL, 1000, 500, "a0"),  # exactly 5 USDT: fine
        )
    )
    live = [LiveOrder("pegbot-r1-b0-9", "b0", Side.BUY, 1130, 9)]
    actions = rec.diff(d, live)
    assert sorted((s.level_id, s.reason) for s in actions.skipped) == [
        ("b0", "min_qty"),
        ("b1", "min_notional"),
    ]
    assert sorted(p.quote.level_id for p in actions.places) == ["a0", "b2"]
    assert [c.level_id for c in actions.cancels] == [
        "b0"
    ]  # a level that cannot be quoted is emptied


def test_client_ids() -> None:
    rec = Reconciler(MARKET, "abc123", first_seq=41)
    cid = rec.next_client_id("b0")
    assert cid == "pegbot-abc123-b0-41"
    assert parse_client_id(cid) == ClientId("abc123", "b0", 41)
    assert str(ClientId("abc123", "b0", 41)) == cid
    assert parse_client_id("x-TKT5PX2Fabc") is None
    assert parse_client_id("pegbot-a-b") is None
    with pytest.raises(ValueError):
        Reconciler(MARKET, "bad-run")
    with pytest.raises(ValueError):
        Reconciler(MARKET, "r1", size_tolerance=1)
    rec = Reconciler(MARKET, "r" * 8, first_seq=10**9)
    assert len(rec.next_client_id("bw123456")) == 35  # Binance allows 36
    with pytest.raises(ValueError, match="longer than 36"):
        Reconciler(MARKET, "r" * 8, first_seq=10**11).next_client_id("bw123456")
    with pytest.raises(ValueError):
        Reconciler(MARKET, "r" * 9)


def test_orphans() -> None:
    ids = ["pegbot-old-b0-3", "pegbot-new-a0-1", "x-TKT5PX2Fmanual", None, "pegbot-garbled"]
    assert orphans(ids, run="new") == ["pegbot-old-b0-3", "pegbot-garbled"]
    assert orphans(ids) == ["pegbot-old-b0-3", "pegbot-new-a0-1", "pegbot-garbled"]


def test_budget_cancels_first_then_inner_places() -> None:
    budget = RateBudget([RateLimit("ORDERS", 3, SEC)], place_reserve={})
    rec = Reconciler(MARKET, "r1", budget=budget)
    actions = rec.diff(_ladder(1142, 1145), [], now_ns=0)
    assert [p.quote.level_id for p in actions.places] == ["b0", "a0", "b1"]
    assert sorted(s.level_id for s in actions.skipped if s.reason == "rate_budget") == [
        "a1",
        "a2",
        "b2",
    ]
    live = _apply([], actions)
    later = rec.diff(_ladder(1142, 1145), live, now_ns=SEC)  # the bucket refilled
    assert [p.quote.level_id for p in later.places] == ["a1", "b2", "a2"]


def test_budget_keeps_a_reserve_for_cancels() -> None:
    budget = RateBudget(
        [RateLimit("REQUEST_WEIGHT", 4, 60 * SEC)], place_reserve={"REQUEST_WEIGHT": 2}
    )
    rec = Reconciler(MARKET, "r1", budget=budget)
    actions = rec.diff(_ladder(1142, 1145), [], now_ns=0)
    assert len(actions.places) == 2
    live = _apply([], actions)
    pulled = rec.diff(DesiredQuotes(), live, now_ns=0)
    assert len(pulled.cancels) == 2  # the reserve pays for them


# -- properties ---------------------------------------------------------------------------------


def _brute_max_matching(
    rec: Reconciler, wanted: list[Quote], live: list[LiveOrder], same_level: bool = False
) -> int:
    best = 0

    def go(i: int, used: frozenset[int], count: int) -> None:
        nonlocal best
        if count + (len(wanted) - i) <= best:
            return
        if i == len(wanted):
            best = max(best, count)
            return
        for j, o in enumerate(live):
            if same_level and o.level_id != wanted[i].level_id:
                continue
            if j not in used and rec._compatible(wanted[i], o):
                go(i + 1, used | {j}, count + 1)
        go(i + 1, used, count)

    go(0, frozenset(), 0)
    return best


quote_sets = st.lists(
    st.tuples(
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(1138, 1150),
        st.sampled_from([90, 100, 110, 200]),
    ),
    max_size=7,
)


@settings(max_examples=300, deadline=None)
@given(quote_sets, quote_sets, st.integers(0, 2), st.sampled_from(["0", "0.1"]), st.booleans())
def test_diff_reaches_desired_with_minimal_actions(
    want: list[tuple[Side, int, int]],
    have: list[tuple[Side, int, int]],
    tol: int,
    size_tol: str,
    cross: bool,
) -> None:
    desired = DesiredQuotes(
        tuple(
            Quote(s, p, n, f"{'b' if s is Side.BUY else 'a'}{i}")
            for i, (s, p, n) in enumerate(want)
        )
    )
    live = [
        LiveOrder(
            f"pegbot-old-{'b' if s is Side.BUY else 'a'}{i % 4}-{i}",
            f"{'b' if s is Side.BUY else 'a'}{i % 4}",
            s,
            p,
            n,
        )
        for i, (s, p, n) in enumerate(have)
    ]
    rec = Reconciler(
        MARKET, "r2", price_tolerance_ticks=tol, size_tolerance=size_tol, cross_level=cross
    )
    actions = rec.diff(desired, live)
    after = _apply(live, actions)
    # Each desired level holds exactly one order, within tolerance; nothing else remains.
    by_level: dict[str, list[LiveOrder]] = {}
    for o in after:
        by_level.setdefault(o.level_id, []).append(o)
    assert len(after) == len(desired.quotes)
    for q in desired.quotes:
        held = by_level.get(q.level_id, [])
        assert len(held) == 1 and rec._compatible(q, held[0])
    # No level is placed twice, and no order is both kept and cancelled.
    placed = [p.quote.level_id for p in actions.places]
    assert len(placed) == len(set(placed))
    assert len({c.client_id for c in actions.cancels}) == len(actions.cancels)
    # Minimal: only unmatched desired are placed, only unmatched live cancelled.
    m = _brute_max_matching(rec, list(desired.quotes), live, same_level=not cross)
    assert actions.kept == m
    assert actions.requests == len(desired.quotes) + len(live) - 2 * m


statuses = st.sampled_from(list(OrderStatus))


@settings(max_examples=300, deadline=None)
@given(quote_sets, quote_sets, st.lists(statuses, min_size=7, max_size=7), st.booleans())
def test_pending_orders_are_safe(
    want: list[tuple[Side, int, int]],
    have: list[tuple[Side, int, int]],
    status: list[OrderStatus],
    wait: bool,
) -> None:
    desired = DesiredQuotes(
        tuple(
            Quote(s, p, n, f"{'b' if s is Side.BUY else 'a'}{i}")
            for i, (s, p, n) in enumerate(want)
        )
    )
    live = [
        LiveOrder(f"pegbot-old-x{i}-{i}", f"{'b' if s is Side.BUY else 'a'}{i}", s, p, n, status[i])
        for i, (s, p, n) in enumerate(have)
    ]
    actions = Reconciler(MARKET, "r2", wait_for_cancel=wait).diff(desired, live)
    by_id = {o.client_id: o for o in live}
    acknowledged = (OrderStatus.OPEN, OrderStatus.PENDING_AMEND)
    for c in actions.cancels:
        assert by_id[c.client_id].status in acknowledged  # never one not yet acknowledged
    after = _apply(live, actions)
    active_levels = [o.level_id for o in after if o.status is not OrderStatus.PENDING_CANCEL]
    assert len(active_levels) == len(set(active_levels)), "two active orders on one level"
    if wait:
        busy = {o.level_id for o in live if o.status is OrderStatus.PENDING_CANCEL}
        busy |= {c.level_id for c in actions.cancels}
        assert not busy & {p.quote.level_id for p in actions.places}


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 5000),
    st.integers(1, 10_000),
    st.sampled_from(["0", "1", "10", "5.5"]),
    st.sampled_from(["0", "1", "5", "0.00001"]),
    st.sampled_from(["1", "0.1", "10"]),
)
def test_filters_agree_with_the_market_spec(
    ticks: int, lots: int, min_qty: str, min_notional: str, lot_size: str
) -> None:
    market = Market(
        symbol="KGST/USDT", base="KGST", quote="USDT", tick_size=Decimal("0.00001"),
        lot_size=Decimal(lot_size), min_qty=Decimal(min_qty), min_notional=Decimal(min_notional),
    )  # fmt: skip
    reason = Reconciler(market, "r1").filter_reason(Quote(Side.BUY, ticks, lots, "b0"))
    try:
        market.check_order(ticks, lots)
        ok = True
    except ValueError:
        ok = False
    assert (reason is None) == ok

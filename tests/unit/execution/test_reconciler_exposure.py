"""The reconciler's per-side exposure cap: one ladder a side, unconfirmed cancels included."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from pegbot.execution.reconciler import Reconciler
from pegbot.market import Market, Side
from pegbot.strategy import DesiredQuotes, LiveOrder, OrderStatus, Quote

MARKET = Market.kgst_usdt()


def _ladder(bid0: int, ask0: int, n: int = 2, lots: int = 1000) -> DesiredQuotes:
    quotes = []
    for i in range(n):
        quotes.append(Quote(Side.BUY, bid0 - i, lots, f"b{i}"))
        quotes.append(Quote(Side.SELL, ask0 + i, lots, f"a{i}"))
    return DesiredQuotes(tuple(quotes))


def _side_lots(live: list[LiveOrder], side: Side) -> int:
    return sum(o.lots for o in live if o.side is side)


def test_first_ladder_is_placed_whole() -> None:
    actions = Reconciler(MARKET, "r1", cap_exposure=True).diff(_ladder(1140, 1150), [])
    assert len(actions.places) == 4 and actions.skipped == ()


def test_requote_waits_for_the_cancel_when_the_side_is_full() -> None:
    rec = Reconciler(MARKET, "r1", cap_exposure=True)
    live = [LiveOrder("pegbot-r1-b0-1", "b0", Side.BUY, 1140, 1000)]
    want = DesiredQuotes((Quote(Side.BUY, 1142, 1000, "b0"),))
    first = rec.diff(want, live)
    # The old order is cancelled; the new one would make two orders a side: it waits.
    assert [c.client_id for c in first.cancels] == ["pegbot-r1-b0-1"]
    assert first.places == () and [(s.level_id, s.reason) for s in first.skipped] == [
        ("b0", "exposure")
    ]
    # Still waiting while the cancel is unconfirmed...
    pending = [replace(live[0], status=OrderStatus.PENDING_CANCEL)]
    assert rec.diff(want, pending).places == ()
    # ...and once it is confirmed the replacement goes out.
    assert [p.quote.price_ticks for p in rec.diff(want, []).places] == [1142]
    # Without the cap the replacement goes out beside the order being cancelled.
    free = Reconciler(MARKET, "r1").diff(want, live)
    assert len(free.cancels) == 1 and len(free.places) == 1


def test_the_room_left_goes_to_inner_levels_and_sides_are_independent() -> None:
    rec = Reconciler(MARKET, "r1", cap_exposure=True)
    # One stale bid of 1000 lots is being cancelled; the asks are all gone.
    live = [LiveOrder("pegbot-r1-b1-1", "b1", Side.BUY, 1130, 1000, OrderStatus.PENDING_CANCEL)]
    actions = rec.diff(_ladder(1140, 1150), live)
    placed = sorted(p.quote.level_id for p in actions.places)
    assert placed == ["a0", "a1", "b0"]  # the inner bid fits, the outer waits
    assert [(s.level_id, s.reason) for s in actions.skipped] == [("b1", "exposure")]


def test_partial_fills_count_what_is_left() -> None:
    rec = Reconciler(MARKET, "r1", cap_exposure=True)
    # A stale bid placed with 1000 lots, 400 left after fills, its cancel failed; the ladder
    # is 2 x 600 = 1200 lots: 800 of room, enough for the inner level only.
    live = [LiveOrder("pegbot-r1-b0-1", "b0", Side.BUY, 1135, 400)]
    want = DesiredQuotes((Quote(Side.BUY, 1140, 600, "b0"), Quote(Side.BUY, 1139, 600, "b1")))
    actions = rec.diff(want, live)
    assert len(actions.cancels) == 1
    assert [(p.quote.level_id, p.quote.lots) for p in actions.places] == [("b0", 600)]
    assert [(s.level_id, s.reason) for s in actions.skipped] == [("b1", "exposure")]


def test_pulled_side_places_nothing() -> None:
    rec = Reconciler(MARKET, "r1", cap_exposure=True)
    live = [LiveOrder("pegbot-r1-a0-1", "a0", Side.SELL, 1150, 1000, OrderStatus.PENDING_CANCEL)]
    want = DesiredQuotes((Quote(Side.BUY, 1140, 1000, "b0"),))
    actions = rec.diff(want, live)
    assert [p.quote.level_id for p in actions.places] == ["b0"]


@settings(max_examples=150, deadline=None)
@given(
    moves=st.lists(st.integers(-3, 3), min_size=1, max_size=12),
    cancel_ok=st.lists(st.booleans(), min_size=12, max_size=12),
    fill=st.lists(st.integers(0, 1000), min_size=12, max_size=12),
)
def test_never_more_than_one_ladder_whatever_the_cancels_do(
    moves: list[int], cancel_ok: list[bool], fill: list[int]
) -> None:
    """The shell's contract, played out: cancels may fail (the order stays open) or succeed;
    orders may part-fill. At no point does a side hold more lots than its ladder."""
    rec = Reconciler(MARKET, "r1", cap_exposure=True)
    ladder_lots = 2 * 1000
    live: list[LiveOrder] = []
    mid = 1145
    for step, move in enumerate(moves):
        mid += move
        actions = rec.diff(_ladder(mid - 5, mid + 5), live)
        by_id = {o.client_id: o for o in live}
        for rb in actions.rebinds:
            by_id[rb.client_id] = replace(by_id[rb.client_id], level_id=rb.level_id)
        for c in actions.cancels:
            if cancel_ok[step]:
                del by_id[c.client_id]
            # else: the cancel failed, the order is open again (bot_venue._cancel)
        for p in actions.places:
            q = p.quote
            by_id[p.client_id] = LiveOrder(p.client_id, q.level_id, q.side, q.price_ticks, q.lots)
        live = list(by_id.values())
        if live and fill[step]:
            o = live[step % len(live)]
            left = o.lots - fill[step]
            live = [x for x in live if x is not o] + ([replace(o, lots=left)] if left > 0 else [])
        for side in (Side.BUY, Side.SELL):
            assert _side_lots(live, side) <= ladder_lots, (step, live)
    # Once cancels work, the ladder comes back whole within a few diffs.
    for _ in range(4):
        actions = rec.diff(_ladder(mid - 5, mid + 5), live)
        gone = {c.client_id for c in actions.cancels}
        live = [o for o in live if o.client_id not in gone]
        live += [
            LiveOrder(
                p.client_id, p.quote.level_id, p.quote.side, p.quote.price_ticks, p.quote.lots
            )
            for p in actions.places
        ]
    assert sorted((o.side, o.price_ticks, o.lots) for o in live) == sorted(
        (q.side, q.price_ticks, q.lots) for q in _ladder(mid - 5, mid + 5).quotes
    )


def test_a_kept_order_within_size_tolerance_does_not_starve_the_other_levels() -> None:
    rec = Reconciler(MARKET, "r1", size_tolerance="0.1", cap_exposure=True)
    # b0 rests with 1080 lots where 1000 are wanted now: kept (within 10 %). b1 must still go
    # out, although 1080 + 1000 > 2 x 1000: the kept order counts as its quote.
    live = [LiveOrder("pegbot-r1-b0-1", "b0", Side.BUY, 1140, 1080)]
    want = DesiredQuotes((Quote(Side.BUY, 1140, 1000, "b0"), Quote(Side.BUY, 1139, 1000, "b1")))
    actions = rec.diff(want, live)
    assert actions.kept == 1 and [p.quote.level_id for p in actions.places] == ["b1"]
    # An order being cancelled still counts in full.
    stale = [
        *live,
        LiveOrder("pegbot-r1-b1-2", "b1", Side.BUY, 1130, 500, OrderStatus.PENDING_CANCEL),
    ]
    assert rec.diff(want, stale).places == ()

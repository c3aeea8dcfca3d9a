"""A venue runner on its own, against the in-memory stubs of pegbot.testing (no sockets)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from pegbot.execution import errors
from pegbot.live.runner import VenueRunner
from pegbot.market import Market, Side
from pegbot.peg.fair import FairValue
from pegbot.strategy import OrderStatus
from pegbot.testing import StubContext, StubFeed, StubVenue, book, inventory, stub_settings

MARKET = Market.kgst_usdt()
NOW = 1_000_000_000


def fair_value(price: str = "0.011435") -> FairValue:
    return FairValue.fixed(price, MARKET, NOW)


async def started_runner(**settings: object) -> tuple[VenueRunner, StubContext, StubVenue]:
    held = inventory(MARKET, excess_lots=0, target_lots=1_000_000, quote=10_000)
    ctx = StubContext(settings=stub_settings(**settings), fair_value=fair_value(), held=held)
    venue = StubVenue(MARKET, {"KGST": 1_000_000, "USDT": 10_000})
    runner = VenueRunner(ctx, "stub", ctx.settings.venues["stub"], venue)
    await runner.start()
    runner.feed = StubFeed(book(1143, 1144, local_ts=NOW))
    runner.user_connected = True
    runner.last_book_ns = NOW
    return runner, ctx, venue


async def settle(runner: VenueRunner) -> None:
    await runner.drain(1.0)
    await asyncio.sleep(0)


async def test_a_decision_places_the_ladder_and_acks_open_it() -> None:
    runner, ctx, venue = await started_runner()
    actions = runner.decide(NOW, ctx.fair_value)
    assert actions is not None and len(actions.places) == 4  # 2 levels a side
    assert all(o.status is OrderStatus.PENDING_NEW for o in runner.live.values())
    await settle(runner)
    assert [kind for kind, _ in venue.requests] == ["place"] * 4
    assert all(o.status is OrderStatus.OPEN for o in runner.live.values())
    assert {o.side for o in runner.live.values()} == {Side.BUY, Side.SELL}


async def test_an_unchanged_market_sends_nothing_more() -> None:
    runner, ctx, venue = await started_runner()
    runner.decide(NOW, ctx.fair_value)
    await settle(runner)
    sent = len(venue.requests)
    for i in range(5):
        ctx.now_ns = NOW + i
        runner.decide(ctx.now_ns, ctx.fair_value)
        await settle(runner)
    assert len(venue.requests) == sent


async def test_a_rejected_place_frees_its_level_and_counts() -> None:
    runner, ctx, venue = await started_runner()
    venue.fail_next.append(errors.WouldTakeError("Order would immediately match and take."))
    runner.decide(NOW, ctx.fair_value)
    await settle(runner)
    assert len(runner.live) == 3 and runner.status.rejects == 1
    runner.decide(NOW + 1, ctx.fair_value)  # the freed level is quoted again
    await settle(runner)
    assert len(runner.live) == 4


async def test_an_unknown_outcome_is_never_resent_before_a_snapshot() -> None:
    runner, ctx, venue = await started_runner()
    venue.fail_next.append(errors.OutcomeUnknownError("timed out"))
    runner.decide(NOW, ctx.fair_value)
    await settle(runner)
    unknown = next(iter(runner.orders.unknown))
    places = [c for k, c in venue.requests if k == "place"]
    runner.decide(NOW + 1, ctx.fair_value)
    await settle(runner)
    assert [c for k, c in venue.requests if k == "place"] == places  # nothing re-sent
    assert runner.need_recover
    await runner.recover_orders()  # the stub never received it: the level is free again
    assert unknown not in runner.live
    runner.decide(NOW + 2, ctx.fair_value)
    await settle(runner)
    assert len(runner.live) == 4


async def test_an_unknown_cancel_replace_leaves_no_order_stuck_cancelling() -> None:
    runner, ctx, venue = await started_runner()
    runner.decide(NOW, ctx.fair_value)
    await settle(runner)
    old = {o.client_id for o in runner.live.values()}
    venue.fail_next.append(errors.OutcomeUnknownError("timed out"))  # the first replace
    moved = fair_value("0.011465")  # 3 ticks up: every level wants a new price
    runner.decide(NOW + 1, moved)
    await settle(runner)
    assert any(k == "replace" for k, _ in venue.requests)
    # The old order of the lost replace is active again (not PENDING_CANCEL for good).
    assert all(o.status is not OrderStatus.PENDING_CANCEL for o in runner.live.values())
    await runner.recover_orders()  # the stub never saw the replace: its new order is gone
    for i in range(2, 5):
        runner.decide(NOW + i, moved)
        await settle(runner)
    resting = {u.client_id for u in venue.orders.values() if u.state.is_open}
    assert not old & resting, "an old-fair order still rests"
    assert len(runner.live) == 4 and set(runner.live) == resting


async def test_a_fill_applies_once_and_reaches_the_context() -> None:
    runner, ctx, venue = await started_runner()
    runner.decide(NOW, ctx.fair_value)
    await settle(runner)
    bid = next(o for o in runner.live.values() if o.side is Side.BUY)
    f = venue.fill(bid.client_id, 10)
    assert runner.record_fill(f)
    assert not runner.record_fill(f)  # the stream and the recovery both deliver it
    assert len(ctx.fills) == 1 and runner.status.fills == 1
    assert runner.live[bid.client_id].lots == bid.lots - 10
    assert runner.balances["KGST"].free == Decimal(1_000_000) + MARKET.lots_to_qty(10)


async def test_a_halt_cancels_everything_and_confirms() -> None:
    runner, ctx, venue = await started_runner()
    runner.decide(NOW, ctx.fair_value)
    await settle(runner)
    runner.halt(NOW + 1, "test")
    assert runner.decide(NOW + 2, ctx.fair_value) is None
    for _ in range(50):
        if runner.halt_confirmed:
            break
        await asyncio.sleep(0.01)
    assert runner.halt_confirmed and len(runner.live) == 0
    assert await venue.open_orders() == []
    assert ctx.transitions and ctx.transitions[-1].to_level.label == "halt"


async def test_the_scorecard_sees_what_rests_and_counts_each_request_and_fill_once() -> None:
    runner, ctx, venue = await started_runner()
    runner.decide(NOW, ctx.fair_value)
    runner.observe(NOW, ctx.fair_value)  # sent, not acknowledged: nothing rests yet
    await settle(runner)
    ctx.now_ns = NOW + 1_000_000_000
    runner.observe(ctx.now_ns, ctx.fair_value)
    ctx.now_ns = NOW + 3_000_000_000
    sc = runner.scorecard
    assert sc is not None
    figures = sc.observe(ctx.now_ns, None, runner.orders.live_orders(), ctx.fair_value.price)
    # One side-less second out of three, then both sides resting.
    assert figures.two_sided_ratio == 2 / 3 and figures.one_sided_s == 0
    bid = next(o for o in runner.live.values() if o.side is Side.BUY)
    f = venue.fill(bid.client_id, 10)
    runner.record_fill(f)
    runner.record_fill(f)  # delivered twice, counted once
    figures = sc.figures(ctx.now_ns)
    assert figures.orders_per_fill == 4.0  # four places, one fill


async def test_the_loop_hands_its_idle_moments_to_the_context() -> None:
    # After each decision with no book change waiting, the context may do work kept out of
    # decisions (the bot collects garbage there); with one waiting, it decides first.
    runner, ctx, _ = await started_runner(loop={"interval_s": 0.01})
    stop = asyncio.Event()
    task = asyncio.create_task(runner.decision_loop(stop))
    await asyncio.sleep(0.1)
    stop.set()
    runner.wake()
    await asyncio.wait_for(task, 1.0)
    assert ctx.idle_calls > 0
    assert ctx.idle_calls <= len(ctx.decisions)

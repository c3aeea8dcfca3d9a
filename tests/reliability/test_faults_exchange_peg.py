"""More faults with the bot running: clock skew, rejects, a symbol halt, partial fills, and the
rate sources going down, disagreeing and jumping. Same three checks as ``test_faults.py``:
risk state, the exchange's open orders, the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest
from _rel_bot import (
    SYM,
    assert_exchange_clean,
    assert_journal,
    level,
    open_sides,
    ours_open,
    quoting_both,
    reasons_of,
    watching,
)

from pegbot.market import Rounding
from pegbot.sim.config import DEMO_API_KEY
from pegbot.sim.testing import SimHandle
from pegbot.testing.bot import LEVELS, bot_settings, run_bot, seed_book, wait_for

pytestmark = pytest.mark.timeout(90)


async def test_clock_skew_resyncs_the_time_offset(
    sim: SimHandle, tmp_path: Path, reliability: Any
) -> None:
    await seed_book(sim)
    settings = bot_settings(sim, tmp_path)
    maker = sim.maker()
    await maker.load_markets()
    async with run_bot(settings) as bot, watching(sim) as w:
        await wait_for(lambda: quoting_both(sim), 10)
        venue: Any = bot.runners[0].venue
        # The server's clock falls 3 s behind ours: every signed request is "from the future".
        await sim.admin("faults", {"clock_skew_ms": -3000})
        await maker.load_time_difference()
        maker.options["adjustForTimeDifference"] = True
        placed = bot.runners[0].status.quotes_placed
        await maker.create_order("KGST/USDT", "market", "sell", 2500)  # a fill: requote
        await wait_for(lambda: venue.counters.get("clock_resync", 0) >= 1, 10)
        await wait_for(lambda: bot.runners[0].status.quotes_placed > placed + 1, 10)
        await wait_for(lambda: quoting_both(sim) and level(bot) in ("normal", "defend"), 10)
        resyncs = venue.counters.get("clock_resync", 0)
    assert_exchange_clean(sim, w, overlap=1)
    fills, _ = assert_journal(settings, sim)
    assert fills
    reliability.fault(
        "clock skew (-1021)", "server clock 3 s behind",
        f"-1021 -> time offset resynced ({resyncs}x), requests re-signed, fills and quotes go on",
    )  # fmt: skip


async def test_insufficient_balance_rejects_are_counted_and_the_other_side_quotes(
    sim: SimHandle, tmp_path: Path, reliability: Any
) -> None:
    await seed_book(sim)
    # The account's free USDT disappears on the exchange (a withdrawal, another tool) while
    # the bot still believes its last balance fetch: its bids are rejected until it refetches.
    settings = bot_settings(sim, tmp_path)
    acct = sim.exchange.engine.account(DEMO_API_KEY)
    async with run_bot(settings) as bot, watching(sim) as w:
        await wait_for(lambda: quoting_both(sim), 10)
        eng = sim.exchange.engine
        for o in [o for o in ours_open(sim) if int(o.side) > 0]:  # the bot must re-place them
            eng.cancel(DEMO_API_KEY, SYM, time.time_ns(), order_id=o.order_id)
        acct.balance("USDT").free = 0  # in the same instant: nothing to re-place them with
        sim.exchange.publish()
        await wait_for(lambda: bot.runners[0].rejects >= 1, 10)
        await asyncio.sleep(2.0)  # a balance refresh (1 s) later: bids trimmed, no more rejects
        sides = open_sides(sim)
        rejects = bot.runners[0].rejects
        lvl = level(bot)
    assert sides["sell"] >= 1, "the ask side stopped quoting"
    assert sides["buy"] == 0
    assert lvl in ("normal", "defend", "freeze"), lvl
    assert_exchange_clean(sim, w)
    assert_journal(settings, sim)
    reliability.fault(
        "insufficient balance", "quote balance emptied on the exchange, bids cancelled",
        f"{rejects} rejects counted (-2010), asks kept quoting ({sides['sell']} open), "
        f"risk {lvl}",
    )  # fmt: skip


async def test_symbol_halt_and_resume(sim: SimHandle, tmp_path: Path, reliability: Any) -> None:
    await seed_book(sim)
    settings = bot_settings(sim, tmp_path)
    # A short reject window, so the storm is over soon after the market reopens.
    settings = settings.model_copy(
        update={"risk": settings.risk.model_copy(update={"reject_window_s": 3.0})}
    )
    async with run_bot(settings) as bot, watching(sim) as w:
        await wait_for(lambda: quoting_both(sim), 10)
        await sim.admin("status", {"symbol": SYM, "status": "HALT"})
        maker = sim.maker()
        await maker.load_markets()
        for o in ours_open(sim):  # nudge it to requote into the halt
            with contextlib.suppress(ccxt.OrderNotFound):
                await sim.client().cancel_order(str(o.order_id), "KGST/USDT")
        await wait_for(lambda: bot.runners[0].rejects >= 1, 10)
        await wait_for(lambda: level(bot) in ("freeze", "halt"), 10)
        r0 = bot.runners[0].rejects
        await asyncio.sleep(2.0)
        halted: dict[str, Any] = {"open": len(ours_open(sim)), "level": level(bot)}
        halted["rejects"] = bot.runners[0].rejects
        halted["rejects_2s"] = halted["rejects"] - r0  # sent while stopped: should be few
        await sim.admin("status", {"symbol": SYM, "status": "TRADING"})
        if level(bot) == "halt":
            bot.resume()  # a halt latches until the operator resumes
        await wait_for(lambda: quoting_both(sim), 20)
    assert halted["open"] == 0
    assert_exchange_clean(sim, w)
    _, transitions = assert_journal(settings, sim)
    assert "reject_storm" in reasons_of(transitions)
    reliability.fault(
        "symbol halt", "exchangeInfo status HALT, then TRADING",
        f"{halted['rejects']} rejects (market closed) counted -> reject storm -> "
        f"{halted['level']} ({halted['rejects_2s']} more in the next 2 s); no order open while "
        "halted; quoting again after TRADING (+ operator resume if it latched)",
    )  # fmt: skip


async def test_partial_fills_are_journaled_once_and_the_rest_stays(
    sim: SimHandle, tmp_path: Path, reliability: Any
) -> None:
    await seed_book(sim)
    settings = bot_settings(sim, tmp_path)
    maker = sim.maker()
    await maker.load_markets()
    async with run_bot(settings) as bot, watching(sim) as w:
        await wait_for(lambda: quoting_both(sim), 10)
        best_bid = max((o for o in ours_open(sim) if int(o.side) > 0), key=lambda o: o.price)
        price = float(bot.runners[0].market.ticks_to_price(best_bid.price))
        for _ in range(3):  # 3 x 100 of a 1000 bid
            await maker.create_order(
                "KGST/USDT", "limit", "sell", 100, price, {"timeInForce": "IOC"}
            )
        await wait_for(lambda: bot.runners[0].status.fills >= 3, 10)
        await asyncio.sleep(0.5)
        eng = sim.exchange.engine
        order = next(
            o for o in eng.all_orders(DEMO_API_KEY, SYM) if o.order_id == best_bid.order_id
        )
        live = bot.runners[0].live.get(order.client_order_id)
    mkt = bot.runners[0].market
    assert order.executed_units == mkt.lots_to_units(300)
    if live is not None:  # still quoted: the bot knows what is left
        assert live.lots == 700
    assert_exchange_clean(sim, w, overlap=1)
    fills, _ = assert_journal(settings, sim)
    assert sum(f.qty_units for f in fills) == mkt.lots_to_units(300)
    reliability.fault(
        "partial fills", "3 x 100 of a 1000 bid taken",
        "3 fills journaled once each; the order's remaining 700 tracked (or requoted)",
    )  # fmt: skip


def _peg(a: Path, b: Path) -> str:
    return f"""[peg]
sources = [
  {{ name = "a", kind = "file", path = "{a}", interval_s = 0.2, max_age_s = 2 }},
  {{ name = "b", kind = "file", path = "{b}", interval_s = 0.2, max_age_s = 2 }},
]
[peg.fair]
max_disagreement_bps = 50
jump_bps = 200
jump_confirm_s = 30
"""


async def test_rate_sources_down_disputed_and_jumping(
    sim: SimHandle, tmp_path: Path, reliability: Any
) -> None:
    await seed_book(sim)
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("87.45")
    b.write_text("87.45")
    settings = bot_settings(sim, tmp_path, peg=_peg(a, b))
    alive = asyncio.Event()
    alive.set()

    async def touch() -> None:  # the sources are "up" while their files are refreshed
        while True:
            if alive.is_set():
                for p in (a, b):
                    os.utime(p)
            await asyncio.sleep(0.2)

    toucher = asyncio.create_task(touch())
    seen: dict[str, str] = {}
    try:
        async with run_bot(settings) as bot, watching(sim) as w:
            await wait_for(lambda: quoting_both(sim) and level(bot) == "normal", 10)
            # Down: nothing refreshes the sources.
            alive.clear()
            await wait_for(lambda: level(bot) == "freeze", 8)
            await wait_for(lambda: ours_open(sim) == [], 5)
            seen["down"] = level(bot)
            alive.set()
            await wait_for(lambda: quoting_both(sim) and level(bot) == "normal", 10)
            # Disputed: the sources disagree by ~180 bps (> 50).
            b.write_text("89.05")
            await wait_for(lambda: level(bot) == "defend", 8)
            seen["disputed"] = level(bot)
            b.write_text("87.45")
            await wait_for(lambda: level(bot) == "normal", 10)
            # Jump: both move 860 bps (> 200), each source confirming the other's step.
            # While the crowd still trades at the old level the bot quotes only what fits
            # its band around the new fair (bids; its asks would cross the crowd's bids) and
            # nothing on the wrong side; once the crowd follows, it quotes both sides.
            levels: set[str] = set()
            wrong_side: list[int] = []
            a.write_text("95.00")
            b.write_text("95.00")
            market = sim.exchange.engine.books["KGSTUSDT"].market
            new_fair_ticks = market.price_to_ticks(Decimal(1) / Decimal("95.00"), Rounding.DOWN)

            def rebased() -> bool:
                jump = bot.estimator.jump if bot.estimator is not None else None
                return jump is not None and jump.confirmed_at_ns is not None

            await wait_for(rebased, 8)
            t_jump = time.monotonic()
            await asyncio.sleep(1.0)

            def around_new_fair() -> bool:
                levels.add(level(bot))
                ours = ours_open(sim)
                bids = [o.price for o in ours if int(o.side) > 0]
                asks = [o.price for o in ours if int(o.side) < 0]
                wrong_side.extend(p for p in bids if p > new_fair_ticks)
                wrong_side.extend(p for p in asks if p <= new_fair_ticks)
                return bool(bids and asks) and max(bids) <= new_fair_ticks < min(asks)

            assert not around_new_fair() and wrong_side == []  # one side only, the right one
            maker = sim.maker()
            await maker.load_markets()
            await maker.cancel_all_orders("KGST/USDT")
            await seed_book(sim, bid="0.01048", ask="0.01058")
            await wait_for(around_new_fair, 15)
            assert wrong_side == [], wrong_side
            seen["jump"] = (
                f"back around the new fair in {time.monotonic() - t_jump:.1f} s "
                f"(levels on the way: {', '.join(sorted(levels))})"
            )
    finally:
        toucher.cancel()
    assert_exchange_clean(sim, w, overlap=1)
    _, transitions = assert_journal(settings, sim)
    text = reasons_of(transitions)
    for reason in ("fair_stale", "fair_disputed"):
        assert reason in text, (reason, text)
    assert LEVELS == 2
    reliability.fault(
        "rate sources down / disputed / jumping",
        "two file sources: stale, 180 bps apart, +860 bps",
        f"down -> {seen['down']} (quotes pulled), disputed -> {seen['disputed']} (wider), "
        f"confirmed jump -> {seen['jump']}; each transition journaled",
    )  # fmt: skip

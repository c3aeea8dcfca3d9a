"""The ledger is checked against the venue's balances at every refresh: fills in flight never
raise the alarm, a real difference (a withdrawal the bot cannot know of) does, and is re-synced.

A counterparty fills the bot every ~100 ms while it refreshes balances every 0.3 s and the
user stream delivers every event 400 ms late, so the balances fetched hold fills the bot has not
heard of yet, round after round: the mismatch counter must stay at zero. Then USDT leaves the
account behind the bot's back: the next refreshes find the ledger off, count it once
(``pegbot_ledger_mismatches_total``), log ``ledger_mismatch`` and re-sync, and the PnL
snapshots agree with the exchange again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from fractions import Fraction
from pathlib import Path

import pytest

from pegbot.market import Side
from pegbot.sim.accounts import amount_from_decimal
from pegbot.sim.config import DEMO_API_KEY
from pegbot.sim.model import MARKET, NewOrder
from pegbot.sim.testing import MAKER_KEY, SimHandle
from pegbot.testing.bot import bot_settings, exchange_holdings, run_bot, seed_book, wait_for

pytestmark = pytest.mark.timeout(90)
SYM = "KGSTUSDT"


async def _taker(sim: SimHandle, stop: asyncio.Event) -> None:
    # Small market orders against the bot's resting orders, straight into the engine.
    ex = sim.exchange
    market = ex.engine.books[SYM].market
    side = Side.SELL
    while not stop.is_set():
        ours = [o for o in ex.engine.open_orders(DEMO_API_KEY, SYM) if o.side is not side]
        if ours:
            with contextlib.suppress(Exception):
                req = NewOrder(SYM, side, MARKET, market.lots_to_units(50))
                ex.engine.place(MAKER_KEY, req, ex.now_ns())
                ex.publish()
        side = Side.BUY if side is Side.SELL else Side.SELL
        await asyncio.sleep(0.1)


async def test_fills_in_flight_raise_no_alarm_and_a_withdrawal_is_resynced(
    sim: SimHandle, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await seed_book(sim)
    settings = bot_settings(sim, tmp_path)
    settings = settings.model_copy(
        update={"loop": settings.loop.model_copy(update={"balance_refresh_s": 0.3})}
    )
    stop = asyncio.Event()
    with caplog.at_level(logging.INFO, logger="pegbot"):
        async with run_bot(settings) as bot:
            journal = bot.journal
            assert journal is not None

            def mismatches() -> float:
                value = bot.metrics.registry.get_sample_value(
                    "pegbot_ledger_mismatches_total", {"venue": "sim"}
                )
                return float(value or 0)

            await sim.admin("faults", {"ws_delay_ms": 400})  # fills reach the bot late
            taker = asyncio.create_task(_taker(sim, stop))
            try:
                await wait_for(lambda: len(journal.pnl_snapshots("sim")) >= 15, 30)
                await wait_for(lambda: journal.fill_count("sim") >= 20, 30)
            finally:
                stop.set()
                await taker
                await sim.admin("faults", {"ws_delay_ms": 0})
            assert mismatches() == 0, "a fill in flight was taken for a mismatch"
            # 25 USDT leave the account (a withdrawal through another channel).
            account = sim.exchange.engine.ledger.accounts[DEMO_API_KEY]
            account.balance("USDT").free -= amount_from_decimal("25")
            seen = len(journal.pnl_snapshots("sim"))
            await wait_for(lambda: mismatches() == 1, 10)
            await wait_for(lambda: len(journal.pnl_snapshots("sim")) >= seen + 3, 10)
            assert mismatches() == 1  # counted once, not at every refresh
            base, quote = exchange_holdings(sim)
            last = journal.pnl_snapshots("sim")[-1]
            assert (last["base"], last["quote"]) == (base, quote)
    found = [r for r in caplog.records if getattr(r, "event", None) == "ledger_mismatch"]
    assert len(found) == 1 and found[0].levelno == logging.ERROR
    assert Fraction(found[0].quote_difference) == -25  # type: ignore[attr-defined]

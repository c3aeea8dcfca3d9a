"""dry-run and paper modes: live market data from the simulator, nothing sent to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pegbot.market import Side
from pegbot.sim.testing import SimHandle
from pegbot.testing.bot import bot_settings, our_open_orders, run_bot, seed_book, wait_for

pytestmark = pytest.mark.timeout(60)

BALANCES = {"paper_balances": {"base": "1000000", "quote": "20000"}}


async def test_dry_run_logs_intended_orders_and_sends_nothing(
    sim: SimHandle, tmp_path: Path
) -> None:
    await seed_book(sim)
    settings = bot_settings(sim, tmp_path, mode="dry-run", venues={"sim": BALANCES})
    client = sim.client()
    await client.load_markets()
    async with run_bot(settings) as bot:
        runner = bot.runners[0]
        await wait_for(lambda: len(getattr(runner.venue, "intended", [])) >= 4, 6)
        assert await our_open_orders(client) == []
        assert await client.fetch_open_orders("KGST/USDT") == []  # not even another id


async def test_paper_fills_against_the_live_book(sim: SimHandle, tmp_path: Path) -> None:
    await seed_book(sim)
    settings = bot_settings(sim, tmp_path, mode="paper", venues={"sim": BALANCES})
    client = sim.client()
    await client.load_markets()
    maker = sim.maker()
    await maker.load_markets()
    async with run_bot(settings) as bot:
        runner = bot.runners[0]
        await wait_for(
            lambda: (
                runner.risk_state is not None
                and runner.risk_state.level.label == "normal"
                and {o.side for o in runner.live.values() if o.status.value == "open"}
                == {Side.BUY, Side.SELL}
            ),
            6,
        )
        assert await our_open_orders(client) == []  # paper orders never reach the venue
        base0 = bot.inventory(runner.market).base_units
        # The market trades through our (virtual) bid: the paper venue fills it.
        await maker.create_order("KGST/USDT", "market", "sell", 60_000)
        await wait_for(lambda: runner.status.fills > 0, 5)
        await wait_for(lambda: bot.inventory(runner.market).base_units > base0, 5)

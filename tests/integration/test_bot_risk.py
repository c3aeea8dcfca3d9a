"""Risk triggers end to end: each is injected through the simulator or the rate source,
reaches its level (quotes pulled on the exchange) and recovers; the kill switch latches."""

from __future__ import annotations

import asyncio
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pegbot.cli import app
from pegbot.control import Control
from pegbot.execution.risk import RiskLevel
from pegbot.live.bot import Bot
from pegbot.sim.testing import SimHandle
from pegbot.testing.bot import bot_settings, our_open_orders, run_bot, seed_book, wait_for

pytestmark = pytest.mark.timeout(60)


def level(bot: Bot) -> RiskLevel | None:
    rs = bot.runners[0].risk_state
    return None if rs is None else rs.level


def reasons(bot: Bot) -> tuple[str, ...]:
    rs = bot.runners[0].risk_state
    return () if rs is None else rs.reasons


async def quoting(bot: Bot, timeout: float = 5.0) -> None:
    runner = bot.runners[0]
    await wait_for(
        lambda: (
            level(bot) is RiskLevel.NORMAL
            and {o.side for o in runner.live.values() if o.status.value == "open"} == {1, -1}
        ),
        timeout,
    )


async def pulled(sim: SimHandle, bot: Bot, timeout: float = 5.0) -> None:
    client = sim.client()
    await client.load_markets()
    await wait_for(lambda: not bot.runners[0].live, timeout)
    assert await our_open_orders(client) == []


async def test_kill_leaves_no_order_on_the_exchange_and_latches(
    sim: SimHandle, tmp_path: Path
) -> None:
    await seed_book(sim)
    settings = bot_settings(sim, tmp_path)
    control = Control(settings.loop.control_dir)
    async with run_bot(settings) as bot:
        await quoting(bot)
        control.request_kill("test")
        await wait_for(lambda: level(bot) is RiskLevel.HALT, 3)
        await wait_for(lambda: bot.runners[0].halt_confirmed, 5)
        await pulled(sim, bot)
        assert control.latched() is not None and not control.kill_path.exists()
        assert bot.metrics.kill_switch.labels(venue="sim")._value.get() == 1
    # The latch survives a restart: the next bot starts halted and places nothing.
    async with run_bot(settings) as bot2:
        await wait_for(lambda: level(bot2) is RiskLevel.HALT, 3)
        await pulled(sim, bot2)
        assert bot2.runners[0].status.quotes_placed == 0
        control.request_resume()
        await quoting(bot2, timeout=5)
    assert bot2.final_summary["open_orders_after_shutdown"] == 0  # type: ignore[attr-defined]


async def test_ws_down_freezes_then_recovers(sim: SimHandle, tmp_path: Path) -> None:
    await seed_book(sim)
    async with run_bot(bot_settings(sim, tmp_path)) as bot:
        await quoting(bot)
        await sim.admin("drop_ws")
        await wait_for(lambda: level(bot) is RiskLevel.FREEZE, 3)
        assert {"book_unsynced", "ws_down"} & set(reasons(bot))
        await quoting(bot, timeout=8)


async def test_the_crowd_pulling_its_book_leaves_ours_quoting(
    sim: SimHandle, tmp_path: Path
) -> None:
    # The only other orders leave the book: ours are the market now. Risk defends (wider,
    # smaller) and both sides stay quoted on the exchange the whole time.
    await seed_book(sim)
    async with run_bot(bot_settings(sim, tmp_path)) as bot:
        await quoting(bot)
        maker = sim.maker()
        await maker.load_markets()
        await maker.cancel_all_orders("KGST/USDT")
        await wait_for(lambda: "book_empty" in reasons(bot), 3)
        client = sim.client()
        await client.load_markets()
        for _ in range(10):
            sides = {o["side"] for o in await our_open_orders(client)}
            assert sides == {"buy", "sell"}, sides
            await asyncio.sleep(0.2)
        assert level(bot) is RiskLevel.DEFEND


async def test_fair_stale_freezes_then_recovers(sim: SimHandle, tmp_path: Path) -> None:
    await seed_book(sim)
    rate = tmp_path / "usd_kgs.txt"
    rate.write_text("87.45\n")
    src = f'{{ name = "desk", kind = "file", path = "{rate}", interval_s = 0.1, max_age_s = 1.0 }}'
    fresh = True

    async def desk() -> None:  # the desk's process keeps the file fresh, while it lives
        while True:
            if fresh:
                os.utime(rate)
            await asyncio.sleep(0.1)

    keeper = asyncio.create_task(desk())
    try:
        async with run_bot(bot_settings(sim, tmp_path, peg=f"[peg]\nsources = [{src}]\n")) as bot:
            await quoting(bot)
            fresh = False  # nobody updates the file: the observation ages past max_age_s
            await wait_for(lambda: "fair_stale" in reasons(bot), 4)
            await pulled(sim, bot)
            fresh = True
            await quoting(bot)
    finally:
        keeper.cancel()


def _jump_settings(sim: SimHandle, tmp_path: Path, rate: Path) -> Any:
    src = f'{{ name = "desk", kind = "file", path = "{rate}", interval_s = 0.1, max_age_s = 600 }}'
    toml = f"[peg]\nsources = [{src}]\n[peg.fair]\njump_bps = 100\njump_confirm_s = 30\n"
    return bot_settings(sim, tmp_path, peg=toml)


async def test_an_unconfirmed_jump_holds_until_the_operator_rejects_it(
    sim: SimHandle, tmp_path: Path
) -> None:
    await seed_book(sim)
    rate = tmp_path / "usd_kgs.txt"
    rate.write_text("87.45\n")
    async with run_bot(_jump_settings(sim, tmp_path, rate)) as bot:
        await quoting(bot)
        # A 3 % devaluation in one reading, never read again: a jump nobody confirms.
        rate.write_text("90.10\n")
        await wait_for(lambda: "fair_jump" in reasons(bot), 3)
        await pulled(sim, bot)
        await asyncio.sleep(1.0)
        assert "fair_jump" in reasons(bot)  # time alone confirms nothing
        assert bot.estimator is not None and bot.estimator.jump is not None
        assert bot.estimator.jump.pending
        sample = bot.metrics.registry.get_sample_value(
            "pegbot_fair_jump_pending", {"venue": "sim", "symbol": "KGST/USDT"}
        )
        assert sample == 1
        # The operator calls it a bad print: the previous rate stands and quoting resumes.
        code = (
            CliRunner()
            .invoke(
                app, ["fair", "reject", "--control-dir", str(tmp_path / "control"), "--by", "desk"]
            )
            .exit_code
        )
        assert code == 0
        await quoting(bot, timeout=8)
        assert bot.estimator.jump.how == "rejected"
        fair = bot.fair(bot.clock())
        assert fair is not None and fair.price == Fraction(100, 8745)


async def test_a_jump_confirmed_by_the_next_reading_requotes_at_the_new_fair(
    sim: SimHandle, tmp_path: Path
) -> None:
    await seed_book(sim)
    rate = tmp_path / "usd_kgs.txt"
    rate.write_text("87.45\n")
    async with run_bot(_jump_settings(sim, tmp_path, rate)) as bot:
        await quoting(bot)
        rate.write_text("90.10\n")  # the som weakens 3 %: fair 0.011435 -> 0.011099
        await wait_for(lambda: "fair_jump" in reasons(bot), 3)
        await pulled(sim, bot)
        # The crowd reprices around the new fair, and the rate is read again unchanged.
        maker = sim.maker()
        await maker.load_markets()
        await maker.cancel_all_orders("KGST/USDT")
        await seed_book(sim, bid="0.01106", ask="0.01114")
        os.utime(rate)
        await wait_for(lambda: bot.estimator is not None and not bot.estimator.jump.pending, 3)
        assert bot.estimator.jump.how == "next_reading"
        await quoting(bot, timeout=10)
        ours = {o.price_ticks for o in bot.runners[0].live.values()}
        assert ours and all(1100 <= t <= 1120 for t in ours), ours  # around 1109.9 ticks


async def test_reject_storm_freezes_then_recovers(sim: SimHandle, tmp_path: Path) -> None:
    await seed_book(sim)
    rate = tmp_path / "usd_kgs.txt"
    rate.write_text("87.45\n")
    src = f'{{ name = "desk", kind = "file", path = "{rate}", interval_s = 0.1, max_age_s = 60 }}'
    settings = bot_settings(
        sim,
        tmp_path,
        peg=f"[peg]\nsources = [{src}]\n",
        risk={"rejects_freeze": 3, "reject_window_s": 1.0, "cooldown_s": 0.3},
    )
    async with run_bot(settings) as bot:
        await quoting(bot)
        # The market halts: cancels still work, every new order is refused. The fair value
        # moves two ticks, so the bot must requote into the halted market.
        await sim.admin("status", {"symbol": "KGSTUSDT", "status": "HALT"})
        rate.write_text("87.30\n")
        await wait_for(lambda: "reject_storm" in reasons(bot), 5)
        assert level(bot) is RiskLevel.FREEZE
        assert bot.runners[0].rejects >= 3
        await sim.admin("status", {"symbol": "KGSTUSDT", "status": "TRADING"})
        await quoting(bot, timeout=8)

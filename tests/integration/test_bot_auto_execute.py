"""``[peg.auto_execute]``: a new signal's exchange leg as one LIMIT IOC, within the caps.

Fair is 1/87.45 ≈ 0.011435 (1143.5 ticks). The maker account rests a bid at 0.01150, about
57 bps above fair, once the bot quotes (a wide maker book around fair comes first):
more than the mint costs (10 bps taker fee + 5 bps minimum edge), so the
signaler proposes ``mint_and_sell`` with limit price 0.01150. Our own ladder quotes 80 bps
and more from fair, so its asks sit above that bid and never trade with it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pegbot.config import Settings
from pegbot.live.autoexec import Plan
from pegbot.live.bot import Bot
from pegbot.market import Side
from pegbot.peg.fair import FairState
from pegbot.peg.signals import SignalKind, SignalState
from pegbot.sim.testing import SimHandle
from pegbot.testing.bot import bot_settings, run_bot, seed_book, wait_for

pytestmark = pytest.mark.timeout(60)

SYMBOL = "KGST/USDT"


def _toml(enabled: bool, max_signals: int = 1) -> str:
    return f"""[peg]
sources = [{{ name = "static", kind = "static", rate = "87.45", interval_s = 30, max_age_s = 60 }}]
[peg.signals]
cooldown_s = 0.3
hysteresis_bps = 0
[peg.auto_execute]
enabled = {str(enabled).lower()}
max_base_per_signal = "10000"
max_quote_per_day = "1000"
max_signals_per_day = {max_signals}
"""


def _settings(sim: SimHandle, tmp_path: Path, enabled: bool, defend_bps: float = 200) -> Settings:
    return bot_settings(
        sim, tmp_path, peg=_toml(enabled),
        params={"first_bps": 80, "step_bps": 10},
        risk={"deviation_defend_bps": defend_bps, "cooldown_s": 0.3},
    )  # fmt: skip


async def _maker_bid(sim: SimHandle, bot: Bot) -> tuple[Any, str]:
    """Once the bot quotes at risk ``normal``, the maker rests the rich bid (a fresh signal)."""
    await wait_for(lambda: _normal_and_quoting(bot), 8)
    maker = sim.maker()
    await maker.load_markets()
    bid = await maker.create_order(SYMBOL, "limit", "buy", 50_000, 0.01150)
    return maker, str(bid["id"])


async def _remaining(maker: Any, order_id: str) -> float:
    o = await maker.fetch_order(order_id, SYMBOL)
    return float(o["remaining"])


def _normal_and_quoting(bot: Bot) -> bool:
    r = bot.runners[0]
    rs = r.risk_state
    sides = {o.side for o in r.live.values() if o.status.value == "open"}
    return rs is not None and rs.level.label == "normal" and len(sides) == 2


def _proposed(bot: Bot) -> list[Any]:
    sg = bot.runners[0].signaler
    assert sg is not None
    return [s for s in sg.signals() if s.kind is SignalKind.MINT_AND_SELL]


def _journal(tmp_path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(tmp_path / "journal.sqlite") as conn:
        return list(conn.execute(sql))


async def test_flag_off_sends_nothing(sim: SimHandle, tmp_path: Path) -> None:
    await seed_book(sim, bid="0.01120", ask="0.01170")
    async with run_bot(_settings(sim, tmp_path, enabled=False)) as bot:
        maker, bid_id = await _maker_bid(sim, bot)
        await wait_for(lambda: _proposed(bot), 8)
        await asyncio.sleep(0.5)
        assert bot.auto is None
        assert all(s.state is SignalState.PROPOSED for s in _proposed(bot))
        assert bot.runners[0].status.fills == 0
        assert await _remaining(maker, bid_id) == 50_000


async def test_one_ioc_within_caps_then_caps_stop_the_next(sim: SimHandle, tmp_path: Path) -> None:
    await seed_book(sim, bid="0.01120", ask="0.01170")
    async with run_bot(_settings(sim, tmp_path, enabled=True)) as bot:
        maker, bid_id = await _maker_bid(sim, bot)
        runner = bot.runners[0]
        auto = bot.auto
        assert auto is not None
        market = runner.market

        def executed() -> list[Any]:
            return [s for s in _proposed(bot) if s.state is SignalState.EXECUTED]

        (sig,) = await wait_for(executed, 8)
        # Sized to the cap (the signal offered the whole 50,000 bid), sold at the limit.
        assert sig.size_units == market.qty_to_units("50000")
        assert "filled 10000 of 10000" in sig.reason
        assert sig.limit_ticks == market.price_to_ticks("0.01150")
        assert await _remaining(maker, bid_id) == 40_000
        await wait_for(lambda: runner.status.fills >= 1, 5)
        # The journal has the IOC order and its fill; balances and the ledger agree.
        cid = f"pegbot-{bot.run_id}-arb-1"
        fills = _journal(tmp_path, f"SELECT side, price_ticks, qty_units, maker FROM fills "
                                   f"WHERE client_id = '{cid}'")  # fmt: skip
        assert fills == [(-1, 1150, market.qty_to_units("10000"), 0)]
        orders = _journal(tmp_path, f"SELECT state, filled_units FROM order_events "
                                    f"WHERE client_id = '{cid}'")  # fmt: skip
        assert ("filled", market.qty_to_units("10000")) in orders
        states = _journal(tmp_path, f"SELECT from_state, to_state FROM signal_transitions "
                                    f"WHERE signal_id = '{sig.id}' ORDER BY seq")  # fmt: skip
        assert [s[1] for s in states] == ["proposed", "approved", "executed"]
        assert runner.balances["KGST"].total == Decimal("1000000") - Decimal("10000")
        assert bot.ledger is not None
        await wait_for(lambda: bot.ledger is not None and bot.ledger.holdings().base
                       == Decimal(990_000), 5)  # fmt: skip
        # The bid is still 50 bps above fair: a new signal comes after the cooldown, and the
        # one-a-day cap keeps it for a human.
        await wait_for(lambda: auto.skipped.get("max_signals_per_day", 0) >= 1, 8)
        assert auto.sent == 1
        assert await _remaining(maker, bid_id) == 40_000
        assert any(s.state is SignalState.PROPOSED for s in _proposed(bot))
        sample = bot.metrics.registry.get_sample_value(
            "pegbot_arb_auto_executions_total", {"venue": "sim", "result": "executed"}
        )
        assert sample == 1.0

        # An IOC that finds nothing at its price: the signal is rejected with the reason.
        pending = next(s for s in _proposed(bot) if s.state is SignalState.PROPOSED)
        assert runner.signaler is not None
        runner.signaler.approve(pending.id, bot.clock())
        far = Plan(Side.SELL, market.price_to_ticks("0.01200"), 1000, Decimal("12"))
        await auto._execute(runner, pending, far, f"pegbot-{bot.run_id}-arb-99")
        after = runner.signaler.signal(pending.id)
        assert after.state is SignalState.REJECTED
        assert after.reason.startswith("auto_execute: nothing filled at 0.012")
        assert await _remaining(maker, bid_id) == 40_000

        # Fair not ok, or the kill switch: nothing may be sent.
        fair = bot.fair(bot.clock())
        assert fair is not None and auto.blocked(runner, fair) == ""
        assert auto.blocked(runner, replace(fair, state=FairState.STALE)) == "fair_not_ok"
        bot.kill("test")
        assert auto.blocked(runner, fair) == "kill_switch"


async def test_risk_not_normal_blocks(sim: SimHandle, tmp_path: Path) -> None:
    # Once the maker's orders rest, mid sits ~70 bps above fair: past the 50 bps defend.
    await seed_book(sim, bid="0.01120", ask="0.01170")
    async with run_bot(_settings(sim, tmp_path, enabled=True, defend_bps=50)) as bot:
        maker, bid_id = await _maker_bid(sim, bot)
        auto = bot.auto
        assert auto is not None
        await wait_for(lambda: auto.skipped.get("risk_not_normal", 0) >= 1, 8)
        assert auto.sent == 0
        assert await _remaining(maker, bid_id) == 50_000
        assert all(s.state is SignalState.PROPOSED for s in _proposed(bot))

"""The desk's loop in the running bot: operator decisions and rebalance proposals.

A real bot quotes on the simulator through ccxt; the market raises an arbitrage signal (a rich
bid from the maker); ``pegbot signals approve`` — the real CLI, on the bot's journal — moves it
on, and the running bot applies it at once. A balance outside its band raises a rebalance
proposal after the next balance refresh.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pegbot.cli import app
from pegbot.live.bot import Bot
from pegbot.peg.signals import SignalKind, SignalState
from pegbot.sim.testing import SimHandle
from pegbot.testing.bot import bot_settings, run_bot, seed_book, wait_for

pytestmark = pytest.mark.timeout(60)

SIGNALS = """[peg]
sources = [{ name = "static", kind = "static", rate = "87.45", interval_s = 30, max_age_s = 60 }]
[peg.signals]
cooldown_s = 0.3
hysteresis_bps = 0
"""


def _cli(journal: Path, *args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(app, ["signals", *args, "--journal", str(journal)])
    return res.exit_code, res.stdout, res.stderr


def _signals(bot: Bot, kind: SignalKind) -> list[Any]:
    sg = bot.runners[0].signaler
    assert sg is not None
    return [s for s in sg.signals() if s.kind is kind]


async def test_an_operator_approval_reaches_the_running_bot(sim: SimHandle, tmp_path: Path) -> None:
    await seed_book(sim, bid="0.01120", ask="0.01170")
    settings = bot_settings(
        sim, tmp_path, peg=SIGNALS, params={"first_bps": 80, "step_bps": 10},
        risk={"deviation_defend_bps": 200, "cooldown_s": 0.3},
    )  # fmt: skip
    async with run_bot(settings) as bot:
        assert bot.desk is not None
        await wait_for(lambda: bot.runners[0].risk_state is not None, 10)
        maker = sim.maker()
        await maker.load_markets()
        await maker.create_order("KGST/USDT", "limit", "buy", 50_000, 0.01150)  # rich: sell KGST
        sig = (await wait_for(lambda: _signals(bot, SignalKind.MINT_AND_SELL), 10))[0]
        journal = settings.journal.path
        code, out, err = await asyncio.to_thread(
            _cli, journal, "approve", sig.id, "--by", "desk-alice", "--json"
        )
        assert code == 0, err
        assert json.loads(out)["state"] == "approved"
        # The running bot's signaler holds it approved (it applied the decision).
        held = {s.id: s for s in _signals(bot, SignalKind.MINT_AND_SELL)}
        assert held[sig.id].state is SignalState.APPROVED
        listed = await asyncio.to_thread(_cli, journal, "list", "--all", "--json")
        rows = {r["id"]: r for r in json.loads(listed[1])["signals"]}
        assert rows[sig.id]["state"] == "approved"
        sample = bot.metrics.registry.get_sample_value(
            "pegbot_signal_transitions_total", {"kind": "mint_and_sell", "to_state": "approved"}
        )
        assert sample == 1


async def test_a_balance_out_of_its_band_raises_a_rebalance_proposal(
    sim: SimHandle, tmp_path: Path
) -> None:
    # The demo account holds 1,000,000 KGST and 20,000 USDT: KGST is far above its band.
    desk = """[desk.rebalance]
enabled = true
kgst = { min = 100000, target = 200000, max = 300000 }
usdt = { min = 1000, target = 20000, max = 50000000 }
"""
    await seed_book(sim)
    settings = bot_settings(sim, tmp_path, desk, peg=SIGNALS)
    async with run_bot(settings) as bot:
        found = await wait_for(
            lambda: (
                _signals(bot, SignalKind.REBALANCE_REDEEM)
                or _signals(bot, SignalKind.REBALANCE_MINT)
            ),
            10,
        )
        assert found[0].kind is SignalKind.REBALANCE_REDEEM  # too much KGST: redeem it
        code, out, _ = await asyncio.to_thread(
            _cli, settings.journal.path, "list", "--all", "--json"
        )
        assert code == 0
        assert any(r["kind"] == "rebalance_redeem" for r in json.loads(out)["signals"])
        capacity = bot.metrics.registry.get_sample_value(
            "pegbot_ladder_capacity_levels", {"venue": "sim", "side": "ask"}
        )
        assert capacity == 2  # a million KGST funds both ask levels
        sample = bot.metrics.registry.get_sample_value
        # The venue's live scorecard gets the same measurements: its window minimum.
        card = {"venue": "sim", "symbol": "KGST/USDT", "side": "ask"}
        assert await wait_for(lambda: sample("pegbot_scorecard_capacity_min_levels", card), 5) == 2
        # The bands are exported beside the balances, and no chain watcher runs here.
        assert sample("pegbot_desk_balance_band_base", {"asset": "KGST", "bound": "max"}) == 3e5
        assert sample("pegbot_desk_balance_out_of_band", {"asset": "KGST"}) == 1
        assert sample("pegbot_chain_watcher_enabled") == 0

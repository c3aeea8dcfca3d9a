"""After a kill -9, the restart's books are exact: fills made while the bot was dead are in the
balances it fetches *and* in the fills it recovers, and must count once; the orders the dead
run left get their final states in the journal.

The real ``pegbot run`` quotes, is frozen (SIGSTOP) while the counterparty fills one of its
bids in full and another in part, and is killed (SIGKILL): it never saw those fills. A new
bot starts on the same journal: it cancels the orphans, recovers the fills, and its ledger,
PnL snapshots and journal must equal the exchange's balances, trades and order states.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from pegbot.execution.reconciler import parse_client_id
from pegbot.sim.config import DEMO_API_KEY
from pegbot.sim.testing import SimHandle
from pegbot.testing.bot import (
    bot_settings,
    bot_toml,
    exchange_holdings,
    key_env,
    run_bot,
    seed_book,
    wait_for,
)

pytestmark = pytest.mark.timeout(90)
SYM = "KGSTUSDT"


async def test_fills_made_while_dead_count_once_and_orders_end_final(
    sim: SimHandle, tmp_path: Path
) -> None:
    await seed_book(sim)
    config = bot_toml(sim, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEGBOT_")}
    env.update(key_env(), PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from pegbot.cli import main; main()", "run", "--config",
        str(config), env=env, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    eng = sim.exchange.engine
    try:
        await wait_for(lambda: len(eng.open_orders(DEMO_API_KEY, SYM)) == 4, 20)
        proc.send_signal(signal.SIGSTOP)  # alive for the exchange, deaf to its stream
        bids = sorted(
            (o for o in eng.open_orders(DEMO_API_KEY, SYM) if int(o.side) > 0),
            key=lambda o: -o.price,
        )
        maker = sim.maker()
        await maker.load_markets()
        await maker.create_order("KGST/USDT", "market", "sell", 1000)  # the best bid, in full
        await maker.create_order("KGST/USDT", "market", "sell", 300)  # part of the next one
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    dead_run = parse_client_id(bids[0].client_order_id).run  # type: ignore[union-attr]
    trades = eng.my_trades(DEMO_API_KEY, SYM)
    assert len(trades) == 2

    settings = bot_settings(sim, tmp_path)
    async with run_bot(settings) as bot:
        runner = bot.runners[0]
        # Orphans cancelled, the dead run's fills recovered, each once.
        assert runner.status.orphans_cancelled == 3
        assert runner.status.fills_recovered == 2
        journal = bot.journal
        assert journal is not None
        await wait_for(lambda: len(journal.pnl_snapshots("sim")) >= 2, 10)
        # Every snapshot equals the exchange's balances (nothing fills from here on).
        base, quote = exchange_holdings(sim)
        for snap in journal.pnl_snapshots("sim"):
            assert (snap["base"], snap["quote"]) == (base, quote), snap
        # So does what the strategy sees.
        assert Fraction(runner.balances["KGST"].total) == base
        # Every order of the dead run has its exchange state as its last journaled state.
        latest = journal.latest_orders("sim", "KGST/USDT")
        dead = [o for o in eng.all_orders(DEMO_API_KEY, SYM) if dead_run in o.client_order_id]
        assert len(dead) == 4
        for o in dead:
            got = latest[o.client_order_id]
            assert (got.state.value, got.filled_units) == (o.status.lower(), o.executed_units)
        assert {o.status for o in dead} == {"FILLED", "CANCELED"}
        assert any(o.status == "CANCELED" and o.executed_units for o in dead)  # partly filled
    assert bot.final_summary is not None and bot.final_summary["shutdown_complete"]

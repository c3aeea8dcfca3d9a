"""``pegbot run`` as a real process: kill -9 and restart, SIGTERM, the live-mode refusal."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections import Counter
from pathlib import Path

import pytest

from pegbot.execution.reconciler import parse_client_id
from pegbot.sim.config import DEMO_API_KEY, DEMO_API_SECRET
from pegbot.sim.testing import SimHandle
from pegbot.testing.bot import bot_settings, bot_toml, our_open_orders, run_bot, seed_book

pytestmark = pytest.mark.timeout(60)

_MAIN = "from pegbot.cli import main; main()"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEGBOT_")}
    env.update(
        PEGBOT_VENUES__SIM__API_KEY=DEMO_API_KEY,
        PEGBOT_VENUES__SIM__API_SECRET=DEMO_API_SECRET,
        PEGBOT_METRICS__ENABLED="false",
        **extra,
    )
    return env


async def _start(config: Path, env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", _MAIN, "run", "--config", str(config), *args,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def _orders_until(sim: SimHandle, cond, timeout: float):  # type: ignore[no-untyped-def]
    client = sim.client()
    await client.load_markets()
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        orders = await our_open_orders(client)
        if cond(orders):
            return orders
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"exchange orders never matched: {orders}")
        await asyncio.sleep(0.1)


async def test_restart_after_kill_9_cancels_orphans_and_never_duplicates(
    sim: SimHandle, tmp_path: Path
) -> None:
    await seed_book(sim)
    config = bot_toml(sim, tmp_path)
    proc = await _start(config, _env(tmp_path))
    maker = sim.maker()
    await maker.load_markets()
    try:
        await _orders_until(sim, lambda o: len(o) == 4, 20)
        # Freeze the bot, fill one of its orders, then kill -9: the dead process never saw
        # (nor journaled) the fill; the next start must recover it from the exchange.
        proc.send_signal(signal.SIGSTOP)
        await maker.create_order("KGST/USDT", "market", "sell", 300)
        first = await _orders_until(sim, lambda o: len(o) == 4, 5)
    finally:
        proc.send_signal(signal.SIGKILL)  # no cancel-all, no goodbye
        await proc.wait()
    old_run = {parse_client_id(o["clientOrderId"]).run for o in first}  # type: ignore[union-attr]
    assert len(old_run) == 1
    # The orders of the dead process are still resting.
    assert len(await _orders_until(sim, lambda o: len(o) == 4, 2)) == 4
    trades = await sim.client().fetch_my_trades("KGST/USDT")
    assert len(trades) == 1  # the exchange confirmed one fill of ours

    async with run_bot(bot_settings(sim, tmp_path)) as bot:
        now = await _orders_until(
            sim,
            lambda o: (
                len(o) == 4
                and all(parse_client_id(x["clientOrderId"]).run == bot.run_id for x in o)
            ),  # type: ignore[union-attr]
            10,
        )
        assert bot.runners[0].status.orphans_cancelled == 4
        # Nothing the exchange confirmed is missing from the journal after the restart.
        assert bot.journal is not None and bot.journal.fill_count("sim") == 1
        assert bot.runners[0].status.fills_recovered == 1
        levels = Counter(parse_client_id(o["clientOrderId"]).level_id for o in now)  # type: ignore[union-attr]
        assert set(levels.values()) == {1}  # one order per level, never two
        assert bot.run_id not in old_run


async def test_sigterm_cancels_everything_and_exits_cleanly(sim: SimHandle, tmp_path: Path) -> None:
    await seed_book(sim)
    config = bot_toml(sim, tmp_path)
    proc = await _start(config, _env(tmp_path), "--json")
    await _orders_until(sim, lambda o: len(o) == 4, 20)
    proc.send_signal(signal.SIGTERM)
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err.decode()[-2000:]
    summary = json.loads(out.decode().strip().splitlines()[-1])
    assert summary["open_orders_after_shutdown"] == 0
    assert summary["quotes_placed"] >= 4
    assert await _orders_until(sim, lambda o: o == [], 2) == []
    # Logs are JSON lines on stderr (not a terminal), with the mode in every record.
    records = [json.loads(line) for line in err.decode().splitlines() if line.startswith("{")]
    assert records and all(r["mode"] == "testnet" for r in records)
    assert DEMO_API_SECRET not in err.decode()


async def test_live_mode_refuses_to_start_without_the_acknowledgement(tmp_path: Path) -> None:
    config = tmp_path / "live.toml"
    config.write_text(
        'mode = "live"\n[peg]\nsources = [{ name = "s", kind = "static", rate = "87.45" }]\n'
    )
    proc = await _start(config, _env(tmp_path))
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2
    assert b"--i-understand-this-is-live" in err and b"PEGBOT_LIVE_ACK=1" in err
    # The mode can come from the environment too; a file cannot acknowledge it.
    config.write_text('mode = "dry-run"\nlive_ack = true\n')
    proc = await _start(config, _env(tmp_path, PEGBOT_MODE="live"))
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2
    assert b"live_ack" in err  # an unknown key, rejected with its path

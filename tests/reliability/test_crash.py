"""Crash safety: ``kill -9`` the real ``pegbot run`` at seeded random points, many times.

The simulator runs in the test's process; a taker keeps trading against the bot's quotes the
whole time, also while the bot is dead (its orphaned orders keep filling). After the last
restart the bot is stopped cleanly, and then:

* the journal holds every trade the exchange made with the bot's account, exactly once;
* no run ever placed an order while an order of an earlier run was still open (orphans are
  cancelled, and the cancel confirmed, before the first quote);
* no client order id was used twice, and nothing is left open;

and the recorder (``pegbot record``), killed the same way, lost at most the last second.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from _rel_bot import SYM, free_port, pegbot_cmd, subprocess_env

from pegbot.execution.reconciler import parse_client_id
from pegbot.journal import Journal
from pegbot.sim.config import DEMO_API_KEY
from pegbot.sim.testing import SimHandle
from pegbot.tape.rawlines import RawCounters, iter_raw_lines
from pegbot.testing.bot import bot_toml, key_env, seed_book

pytestmark = pytest.mark.timeout(180)
SEED = 20260704
KILLS = 8


async def _taker(sim: SimHandle, stop: asyncio.Event, rng: random.Random) -> int:
    """Market orders from the counterparty, both ways, every ~250 ms; returns how many."""
    maker = sim.maker()
    await maker.load_markets()
    n = 0
    while not stop.is_set():
        side = "sell" if rng.random() < 0.5 else "buy"
        with contextlib.suppress(Exception):
            await maker.create_order("KGST/USDT", "market", side, rng.choice([100, 200, 300]))
            n += 1
        await asyncio.sleep(0.25)
    return n


def _runs(sim: SimHandle) -> set[str]:
    """Run ids that placed orders on the exchange."""
    return {
        p.run
        for o in sim.exchange.engine.all_orders(DEMO_API_KEY, SYM)
        if (p := parse_client_id(o.client_order_id)) is not None
    }


async def _until(cond: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "the bot did not quote in time"
        await asyncio.sleep(0.05)


async def _spawn_bot(cfg: Path, log: Path) -> asyncio.subprocess.Process:
    fh = log.open("ab")
    try:
        return await asyncio.create_subprocess_exec(
            *pegbot_cmd("run", "--config", str(cfg), "--json"),
            env=subprocess_env(key_env()), stdout=fh, stderr=fh,
        )  # fmt: skip
    finally:
        fh.close()


def _runs_never_overlap(orders: list[Any]) -> tuple[int, int]:
    """Check no run placed an order while an earlier run's order was open; (runs, orders)."""
    by_run: dict[str, list[Any]] = {}
    for o in orders:
        parsed = parse_client_id(o.client_order_id)
        assert parsed is not None, o.client_order_id
        by_run.setdefault(parsed.run, []).append(o)
    runs = sorted(by_run, key=lambda r: min(o.time_ns for o in by_run[r]))
    for i, run in enumerate(runs[1:], start=1):
        first_place = min(o.time_ns for o in by_run[run])
        for earlier in runs[:i]:
            for o in by_run[earlier]:
                assert not o.is_open, f"{o.client_order_id} of an earlier run is still open"
                assert o.update_ns <= first_place, (
                    f"run {run} quoted while {o.client_order_id} of run {earlier} was open"
                )
    return len(runs), len(orders)


async def test_kill_9_at_random_points_loses_and_duplicates_nothing(
    sim: SimHandle, tmp_path: Path, reliability: Any
) -> None:
    rng = random.Random(SEED)
    await seed_book(sim)
    cfg = bot_toml(sim, tmp_path)
    log = tmp_path / "bot.log"
    stop = asyncio.Event()
    taker = asyncio.create_task(_taker(sim, stop, random.Random(SEED + 1)))
    kill_points = []
    kill_ns: list[int] = []
    try:
        for i in range(KILLS):
            runs_before = _runs(sim)
            proc = await _spawn_bot(cfg, log)
            if i % 4 == 3:
                delay = rng.uniform(0.3, 2.0)  # during start-up (imports, orphan cancel)
                await asyncio.sleep(delay)
                kill_points.append(f"start+{delay:.2f}s")
            else:
                await _until(lambda rb=runs_before: len(_runs(sim)) > len(rb), 30)
                delay = rng.uniform(0.0, 2.5)  # while quoting and being filled
                await asyncio.sleep(delay)
                kill_points.append(f"quote+{delay:.2f}s")
            os.kill(proc.pid, signal.SIGKILL)
            kill_ns.append(time.time_ns())
            assert await proc.wait() == -signal.SIGKILL
            await asyncio.sleep(rng.uniform(0.0, 0.6))  # dead for a while; orphans may fill
        # The last run: quote a while, then stop cleanly.
        runs_before = _runs(sim)
        proc = await _spawn_bot(cfg, log)
        await _until(lambda: len(_runs(sim)) > len(runs_before), 30)
        await asyncio.sleep(2.0)
        stop.set()
        trades_made = await taker
        await asyncio.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        rc = await asyncio.wait_for(proc.wait(), 30)
    finally:
        stop.set()
        if not taker.done():
            taker.cancel()
    assert rc == 0, log.read_text()[-3000:]
    eng = sim.exchange.engine
    orders = [o for o in eng.all_orders(DEMO_API_KEY, SYM)]
    ids = [o.client_order_id for o in orders]
    assert len(ids) == len(set(ids)), "a client order id was used twice"
    assert eng.open_orders(DEMO_API_KEY, SYM) == []
    runs, n_orders = _runs_never_overlap(orders)
    trades = {str(t.trade_id) for t in eng.my_trades(DEMO_API_KEY, SYM)}
    journal = Journal(tmp_path / "journal.sqlite")
    try:
        fills = journal.fills()
    finally:
        journal.close()
    journaled = [f.trade_id for f in fills]
    assert len(journaled) == len(set(journaled)), "a fill journaled twice"
    missing = trades - set(journaled)
    assert not missing, f"{len(missing)} exchange trades missing from the journal"
    assert set(journaled) <= trades
    assert len(trades) >= KILLS, "too few fills to mean anything"
    # Open at a kill: cancelled by the next run (orphans), or filled while the bot was dead.
    at_kill = [o for o in orders if any(o.time_ns < k < o.update_ns for k in kill_ns)]
    orphans = sum(1 for o in at_kill if o.status == "CANCELED")
    filled_dead = sum(1 for o in at_kill if o.executed_units > 0)
    assert at_kill, "no kill left an order behind: the test proves nothing"
    reliability.crashes.update(
        kills=KILLS, restarts=KILLS, seed=SEED, kill_points_s=kill_points,
        exchange_trades=len(trades), journal_fills=len(journaled), missing=0, duplicates=0,
        orphans_cancelled=orphans, orders_filled_while_dead=filled_dead,
        runs=runs, orders=n_orders, open_after=0, reused_client_ids=0, taker_orders=trades_made,
    )  # fmt: skip


async def test_recorder_kill_9_loses_at_most_the_last_second(
    sim: SimHandle, tmp_path: Path, reliability: Any
) -> None:
    await seed_book(sim)
    stop = asyncio.Event()
    taker = asyncio.create_task(_taker(sim, stop, random.Random(SEED + 2)))
    rng = random.Random(SEED + 3)
    losses = []
    try:
        for i in range(2):
            out = tmp_path / f"rec{i}"
            fh = (tmp_path / f"rec{i}.log").open("wb")
            proc = await asyncio.create_subprocess_exec(
                *pegbot_cmd("record", "--out", str(out), "--ws-url", sim.ws_url,
                            "--rest-url", sim.http_url, "--metrics-port", str(free_port())),
                env=subprocess_env(), stdout=fh, stderr=fh,
            )  # fmt: skip
            fh.close()
            await asyncio.sleep(3.0 + rng.uniform(0, 1.5))
            killed_ns = time.time_ns()
            os.kill(proc.pid, signal.SIGKILL)
            await proc.wait()
            files = sorted(out.glob("*.gz"))
            assert files, "the recorder wrote nothing"
            counters = RawCounters()
            lines = [ln for f in files for ln in iter_raw_lines(f, counters)]
            assert lines, "nothing readable after the kill"
            assert counters.corrupt_gzip == 0
            losses.append((killed_ns - max(ln.local_ns for ln in lines)) / 1e9)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await taker
    # Depth is pushed every 20 ms and trades every ~150 ms: the newest readable line is
    # at most a second (the flush interval is 0.5 s) older than the kill.
    assert max(losses) <= 1.0, losses
    reliability.crashes.update(recorder_kills=len(losses), recorder_lost_s=max(losses))

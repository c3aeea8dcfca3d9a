"""After a kill -9, nothing the exchange confirmed is missing once the bot restarts.

A subprocess plays the bot: it quotes through CcxtVenue against the simulator and writes each
fill to the journal *before* acting on it (here: announcing it on stdout). The test fills its
order in small pieces from the counterparty account, SIGKILLs the subprocess mid-stream, keeps
filling while it is dead, then restarts: reopens the journal and recovers with
``fills_since(last_fill_ns)``. The journal must then hold exactly the exchange's trades.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest

from pegbot.execution.ccxt_venue import make_ccxt_venue
from pegbot.journal import Journal
from pegbot.sim.config import DEMO_API_KEY, DEMO_API_SECRET
from pegbot.sim.testing import SimHandle

pytestmark = pytest.mark.timeout(60)

BOT = textwrap.dedent(
    """
    import asyncio, sys, time
    from pegbot.execution.ccxt_venue import make_ccxt_venue
    from pegbot.execution.venue import Fill
    from pegbot.journal import Journal
    from pegbot.market import Side

    async def main(http, ws, key, secret, path):
        journal = Journal(path)
        venue = make_ccxt_venue("binance", "KGST/USDT", api_key=key, secret=secret,
                                http_url=http, ws_url=ws, enable_rate_limit=False)
        await venue.start()
        await venue.place(Side.BUY, 1140, 100000, "pegbot-k1-b0-1")
        print("ready", flush=True)
        async for event in venue.events():
            if isinstance(event, Fill):
                journal.record_fill(event, time.time_ns())   # durable first ...
                print(event.trade_id, flush=True)            # ... then acted upon

    asyncio.run(main(*sys.argv[1:]))
    """
)


async def test_kill_9_then_recover_with_fills_since(sim: SimHandle, tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        BOT,
        sim.http_url,
        sim.ws_url,
        DEMO_API_KEY,
        DEMO_API_SECRET,
        str(path),
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert line.strip() == b"ready"
        maker = sim.maker()
        await maker.load_markets()
        announced: list[str] = []
        sells = 0
        while len(announced) < 8:
            await maker.create_order("KGST/USDT", "limit", "sell", "100", "0.0114")
            sells += 1
            try:
                line = await asyncio.wait_for(proc.stdout.readline(), 0.05)
            except TimeoutError:
                continue
            announced.append(line.decode().strip())
        for _ in range(3):  # more fills in flight while it is being killed
            await maker.create_order("KGST/USDT", "limit", "sell", "100", "0.0114")
            sells += 1
        os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()
        assert proc.returncode == -signal.SIGKILL
        for _ in range(5):  # and fills while it is down
            await maker.create_order("KGST/USDT", "limit", "sell", "100", "0.0114")
            sells += 1
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    # Restart.
    journal = Journal(path)
    stored = {f.trade_id for f in journal.fills()}
    assert set(announced) <= stored
    assert len(stored) < sells  # the dead bot missed some
    venue = make_ccxt_venue(
        "binance",
        "KGST/USDT",
        api_key=DEMO_API_KEY,
        secret=DEMO_API_SECRET,
        http_url=sim.http_url,
        ws_url=sim.ws_url,
        enable_rate_limit=False,
    )
    await venue.start(user_stream=False)
    try:
        since = journal.last_fill_ns(venue.name, venue.symbol) or 0
        recovered = await venue.fills_since(since)
        added = journal.record_fills(recovered, 0)
        assert added == sells - len(stored)
        everything = await venue.fills_since(0)
    finally:
        await venue.close()
    assert len(everything) == sells
    assert journal.fills() == everything  # exactly the exchange's trades, once each
    assert all(f.client_id == "pegbot-k1-b0-1" for f in journal.fills())
    journal.close()

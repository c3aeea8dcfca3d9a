"""A 418 ban is obeyed: from the request that learns of it to the last request of the process,
and by the next process started inside it.

Another client on the bot's IP spends the minute's weight and keeps going after its 429s;
the bot's next request earns the IP a ban (the simulator counts every request received while
an IP is banned). The bot stops at once: nothing more is sent, its stop reports at once the
orders it could not cancel (exit code 1 for ``pegbot run``), the ban is journaled, and a new
bot started inside the ban sends nothing until it ends, then recovers and quotes.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from pegbot.journal import Journal
from pegbot.live.bot import Bot
from pegbot.live.wiring import make_venue
from pegbot.sim.config import RateLimitConfig, SimConfig
from pegbot.sim.testing import SimHandle, default_sim_config
from pegbot.testing.bot import bot_settings, our_open_orders, seed_book, wait_for

pytestmark = pytest.mark.timeout(120)
BAN_S = 6
IP = "127.0.0.1"


@pytest.fixture
def sim_config() -> SimConfig:
    """The default simulator with short bans."""
    return default_sim_config().model_copy(
        update={"rate_limits": RateLimitConfig(ban_seconds=BAN_S)}
    )


def _banned(sim: SimHandle) -> bool:
    lim = sim.exchange.limiter
    return IP in lim.state(sim.exchange.now_ns())["bans"]


def _late_requests(sim: SimHandle, grace_s: float = 0.25) -> int:
    # Requests that reached the simulator while the IP was banned, more than a round trip
    # after the ban began (one already on its way when the 418 went out is no choice).
    ages = sim.exchange.limiter.banned_request_ages.get(IP, [])
    return sum(1 for a in ages if a > grace_s * 1e9)


async def _storm(sim: SimHandle) -> None:
    # Late in a minute, so the ban ends in a fresh weight window (inside the spent one, the
    # first request after the ban would earn the next ban at once).
    into = time.time() % 60.0
    if not 55.0 <= into <= 57.0:
        await asyncio.sleep((55.0 - into) % 60.0)
    lim = sim.exchange.limiter
    lim.spend(IP, 0, sim.exchange.now_ns(), lim.config.ban_after_429s)


async def test_a_ban_stops_every_request_and_a_restart_inside_it_waits(
    sim: SimHandle, tmp_path: Path
) -> None:
    await seed_book(sim)
    settings = bot_settings(sim, tmp_path)
    loop = settings.loop.model_copy(update={"shutdown_timeout_s": 3.0})
    settings = settings.model_copy(update={"loop": loop})
    reader = sim.client()
    await reader.load_markets()

    journal = Journal(settings.journal.path)
    bot = Bot(settings, make_venue, journal=journal)
    task = asyncio.create_task(bot.run())
    await wait_for(lambda: bot.started.is_set(), 15)
    await wait_for(lambda: len(sim.exchange.engine.open_orders(sim.api_key, "KGSTUSDT")) == 4, 10)
    await _storm(sim)
    await wait_for(lambda: _banned(sim), 10)  # the bot's next request earned it
    await asyncio.sleep(2.0)  # the bot keeps deciding meanwhile: nothing may go out
    t0 = time.monotonic()
    bot.stop()
    summary = await asyncio.wait_for(task, 10)
    took = time.monotonic() - t0
    assert _banned(sim), "the ban ended before the stop was tested"
    assert took < 1.0, f"the stop took {took:.1f} s inside a ban"
    assert not summary["shutdown_complete"]
    assert summary["open_orders_after_shutdown"] == 4  # said so, and which (logged)
    blocked_until = journal.venue_blocked_until("sim")
    assert blocked_until > time.time_ns()
    journal.close()

    # A new bot inside the ban: nothing until it ends, then orphans go and it quotes.
    settings2 = bot_settings(sim, tmp_path)
    journal2 = Journal(settings2.journal.path)
    bot2 = Bot(settings2, make_venue, journal=journal2)
    task2 = asyncio.create_task(bot2.run())
    try:
        await wait_for(lambda: not _banned(sim), BAN_S + 5)
        ended = time.monotonic()
        await wait_for(lambda: bot2.started.is_set(), 15)
        await wait_for(
            lambda: any(
                bot2.run_id in o.client_order_id
                for o in sim.exchange.engine.open_orders(sim.api_key, "KGSTUSDT")
            ),
            15,
        )
        back = time.monotonic() - ended
    finally:
        bot2.stop()
        summary2 = await asyncio.wait_for(task2, 30)
        journal2.close()
    assert _late_requests(sim) == 0, sim.exchange.limiter.banned_request_ages
    assert bot2.runners[0].status.orphans_cancelled == 4
    assert back < 5.0, f"quoting {back:.1f} s after the ban ended"
    assert summary2["shutdown_complete"] and summary2["open_orders_after_shutdown"] == 0
    assert await our_open_orders(reader) == []

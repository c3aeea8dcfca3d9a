"""Helpers of the bot's integration tests: a seeded book, fast settings, a running bot."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from pegbot.config import Settings, load_settings
from pegbot.live.bot import Bot
from pegbot.live.wiring import make_venue
from pegbot.sim.config import DEMO_API_KEY, DEMO_API_SECRET
from pegbot.sim.testing import SimHandle

STATIC_FAIR = """[peg]
sources = [{ name = "static", kind = "static", rate = "87.45", interval_s = 30, max_age_s = 60 }]
"""


async def seed_book(
    sim: SimHandle, bid: str = "0.01139", ask: str = "0.01148", qty: float = 50_000
) -> None:
    """The maker account rests one bid and one ask, so the book is two-sided.

    The defaults sit about 40 bps either side of fair: close enough that the mid stays
    within the deviation threshold while our own quotes are being replaced (the book the
    risk layer sees includes them), wide enough that our two levels a side fit inside.
    """
    maker = sim.maker()
    await maker.load_markets()
    await maker.create_order("KGST/USDT", "limit", "buy", qty, float(bid))
    await maker.create_order("KGST/USDT", "limit", "sell", qty, float(ask))


async def exchange_orders(client: Any, symbol: str = "KGST/USDT") -> list[dict[str, Any]]:
    """Our (``pegbot-``) open orders as the exchange reports them."""
    orders = await client.fetch_open_orders(symbol)
    return [o for o in orders if str(o.get("clientOrderId") or "").startswith("pegbot-")]


def settings_toml(sim: SimHandle, tmp_path: Path, name: str = "sim", toml: str = "") -> str:
    """The TOML of a fast bot on ``sim`` (two levels a side, 0.2 s timer, 0.3 s cooldown)."""
    return f'''mode = "testnet"
[venues.{name}]
rest_url = "{sim.http_url}"
ws_url = "{sim.ws_url}"
target_base = 1000000
[strategy]
name = "peg_ladder"
[strategy.params]
levels = 2
first_bps = 10
step_bps = 10
size_lots = 1000
inventory_range_lots = 20000
[risk]
cooldown_s = 0.3
book_stale_s = 30
[loop]
interval_s = 0.2
balance_refresh_s = 1.0
control_interval_s = 0.05
control_dir = "{tmp_path / "control"}"
[journal]
path = "{tmp_path / "journal.sqlite"}"
''' + (toml or STATIC_FAIR)


def settings_for(
    sim: SimHandle,
    tmp_path: Path,
    toml: str = "",
    name: str = "sim",
    params: dict[str, Any] | None = None,
    risk: dict[str, Any] | None = None,
    **overrides: Any,
) -> Settings:
    """Fast settings for a bot quoting on ``sim`` (static fair 87.45 KGS/USD unless changed)."""
    path = tmp_path / "bot.toml"
    path.write_text(settings_toml(sim, tmp_path, name, toml))
    environ = {
        f"PEGBOT_VENUES__{name.upper()}__API_KEY": DEMO_API_KEY,
        f"PEGBOT_VENUES__{name.upper()}__API_SECRET": DEMO_API_SECRET,
    }
    if params:
        overrides["strategy"] = {"params": params}
    if risk:
        overrides["risk"] = risk
    return load_settings(path, environ=environ, **overrides)


async def wait_for(cond: Callable[[], Any], timeout: float, step: float = 0.02) -> Any:
    """Poll ``cond`` until it is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(step)


@contextlib.asynccontextmanager
async def run_bot(settings: Settings, **kwargs: Any) -> AsyncIterator[Bot]:
    """A bot running in the test's loop; stopped (cancel-all confirmed) on exit.

    The summary of the run is left in ``bot.last_summary``.
    """
    bot = Bot(settings, make_venue, **kwargs)
    task = asyncio.create_task(bot.run())
    try:
        await wait_for(lambda: bot.started.is_set() or task.done(), 10)
        if task.done():
            task.result()
        yield bot
    finally:
        bot.stop()
        bot.last_summary = await asyncio.wait_for(task, 20)  # type: ignore[attr-defined]

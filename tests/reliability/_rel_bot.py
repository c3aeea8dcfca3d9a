"""Helpers of the reliability suite: bot configuration on a simulator, running it in-process
or as the real ``pegbot run`` subprocess, and reading the exchange's side of things.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from pegbot.bot import Bot
from pegbot.bot_wiring import make_venue
from pegbot.config import Settings, load_settings
from pegbot.journal import Journal
from pegbot.sim.config import DEMO_API_KEY, DEMO_API_SECRET
from pegbot.sim.testing import SimHandle

REPO = Path(__file__).resolve().parents[2]
SYMBOL = "KGST/USDT"
STATIC_PEG = """[peg]
sources = [{ name = "static", kind = "static", rate = "87.45", max_age_s = 60 }]
"""


def bot_toml(sim: SimHandle, tmp_path: Path, extra: str = "", peg: str = STATIC_PEG) -> Path:
    """A fast configuration of a bot quoting two levels a side on ``sim``; returns its path."""
    path = tmp_path / "bot.toml"
    path.write_text(
        f'''mode = "testnet"
[venues.sim]
rest_url = "{sim.http_url}"
ws_url = "{sim.ws_url}"
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
[metrics]
enabled = false
{extra}
'''
        + peg
    )
    return path


def key_env(key: str = DEMO_API_KEY, secret: str = DEMO_API_SECRET) -> dict[str, str]:
    """The venue's credentials as PEGBOT_ variables."""
    return {"PEGBOT_VENUES__SIM__API_KEY": key, "PEGBOT_VENUES__SIM__API_SECRET": secret}


def bot_settings(sim: SimHandle, tmp_path: Path, extra: str = "", **kw: Any) -> Settings:
    """Settings of :func:`bot_toml` with the demo account's keys."""
    return load_settings(bot_toml(sim, tmp_path, extra, **kw), environ=key_env())


async def seed_book(
    sim: SimHandle, bid: str = "0.01139", ask: str = "0.01148", qty: float = 50_000
) -> None:
    """The maker account rests a bid and an ask about 40 bps either side of fair."""
    maker = sim.maker()
    await maker.load_markets()
    await maker.create_order(SYMBOL, "limit", "buy", qty, float(bid))
    await maker.create_order(SYMBOL, "limit", "sell", qty, float(ask))


async def wait_for(cond: Callable[[], Any], timeout: float, step: float = 0.02) -> Any:
    """Poll ``cond`` until truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(step)


async def wait_for_async(cond: Callable[[], Any], timeout: float, step: float = 0.05) -> Any:
    """Like :func:`wait_for` with an async condition."""
    deadline = time.monotonic() + timeout
    while True:
        value = await cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(step)


@contextlib.asynccontextmanager
async def run_bot(settings: Settings, **kwargs: Any) -> AsyncIterator[Bot]:
    """A bot with its journal, running in the test's loop; stopped (cancel-all) on exit.

    After the block, ``bot.final`` holds the summary of :meth:`Bot.run`.
    """
    journal = Journal(settings.journal.path)
    bot = Bot(settings, make_venue, journal=journal, **kwargs)
    task = asyncio.create_task(bot.run())
    try:
        await wait_for(lambda: bot.started.is_set() or task.done(), 15)
        if task.done():
            task.result()
        yield bot
    finally:
        bot.stop()
        bot.final = await asyncio.wait_for(task, 30)  # type: ignore[attr-defined]
        journal.close()


async def our_open_orders(sim: SimHandle | Any) -> list[dict[str, Any]]:
    """``pegbot-`` orders open on the exchange (the demo account's, or a ccxt client's)."""
    client = _reader(sim) if isinstance(sim, SimHandle) else sim
    return [
        o
        for o in await client.fetch_open_orders(SYMBOL)
        if str(o.get("clientOrderId") or "").startswith("pegbot-")
    ]


def _reader(sim: SimHandle) -> Any:
    cache = sim.__dict__.setdefault("_rel_reader", None)
    if cache is None:
        cache = sim.client()
        sim.__dict__["_rel_reader"] = cache
    return cache


def sides(orders: list[dict[str, Any]]) -> set[str]:
    """The sides present in ccxt orders."""
    return {str(o["side"]) for o in orders}


def subprocess_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a ``pegbot`` subprocess: this checkout first on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEGBOT_")}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra or {})
    return env


def pegbot_cmd(*args: str) -> list[str]:
    """``python -m pegbot.cli`` with arguments (the installed ``pegbot`` script, same code)."""
    return [sys.executable, "-c", "from pegbot.cli import app; app()", *args]


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def non_loopback_ip() -> str | None:
    """An address of this machine that is not loopback (None if it has none)."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("10.255.255.255", 1))  # UDP: no packet is sent
        ip = str(s.getsockname()[0])
        if not ip.startswith("127."):
            return ip
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            ip = str(info[4][0])
            if not ip.startswith("127."):
                return ip
    return None


def reachable(host: str, port: int) -> bool:
    """Whether a TCP connect to ``host:port`` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False

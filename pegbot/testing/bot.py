"""A bot on the simulator, the way the tests run it: fast settings, a seeded book, polling.

Integration and reliability tests (and anyone trying a strategy end to end) start a
simulator (:class:`pegbot.sim.testing.SimHandle`), seed its book with the ``maker`` account
(:func:`seed_book`), and run the real :class:`~pegbot.live.bot.Bot` through unmodified ccxt
with :func:`bot_settings` — two levels a side, a 0.2 s timer, a 0.3 s cooldown, the som at a
static 87.45 KGS/USD — inside :func:`run_bot`, which stops it (cancel-all confirmed) on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

from pegbot.config import Settings, load_settings
from pegbot.journal import Journal
from pegbot.live.bot import Bot
from pegbot.live.wiring import make_venue
from pegbot.sim.accounts import amount_to_decimal
from pegbot.sim.config import DEMO_API_KEY, DEMO_API_SECRET
from pegbot.sim.testing import SimHandle

__all__ = [
    "LEVELS",
    "STATIC_PEG",
    "SYMBOL",
    "bot_settings",
    "bot_toml",
    "exchange_holdings",
    "key_env",
    "our_open_orders",
    "run_bot",
    "seed_book",
    "wait_for",
    "wait_for_async",
]

SYMBOL = "KGST/USDT"
#: Levels a side of the :func:`bot_toml` ladder.
LEVELS = 2
#: The som at a static 87.45 KGS/USD.
STATIC_PEG = """[peg]
sources = [{ name = "static", kind = "static", rate = "87.45", interval_s = 30, max_age_s = 60 }]
"""


def bot_toml(
    sim: SimHandle, tmp_path: Path, extra: str = "", peg: str = STATIC_PEG, name: str = "sim"
) -> Path:
    """Write the configuration of a fast bot quoting two levels a side on ``sim``.

    Args:
        sim: The simulator.
        tmp_path: Where the file, the journal and the control directory go.
        extra: TOML appended before the ``[peg]`` table (more tables, or keys of
            ``[metrics]``, the last table before it).
        peg: The ``[peg]`` table.
        name: The venue's name.

    Returns:
        The file's path (``tmp_path / "bot.toml"``).
    """
    path = tmp_path / "bot.toml"
    path.write_text(
        f'''mode = "testnet"
[venues.{name}]
rest_url = "{sim.http_url}"
ws_url = "{sim.ws_url}"
target_base = 1000000
[strategy]
name = "peg_ladder"
[strategy.params]
levels = {LEVELS}
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


def key_env(
    name: str = "sim", key: str = DEMO_API_KEY, secret: str = DEMO_API_SECRET
) -> dict[str, str]:
    """The venue's credentials as ``PEGBOT_`` variables."""
    prefix = f"PEGBOT_VENUES__{name.upper()}__"
    return {f"{prefix}API_KEY": key, f"{prefix}API_SECRET": secret}


def bot_settings(
    sim: SimHandle,
    tmp_path: Path,
    extra: str = "",
    *,
    peg: str = STATIC_PEG,
    name: str = "sim",
    params: dict[str, Any] | None = None,
    risk: dict[str, Any] | None = None,
    **overrides: Any,
) -> Settings:
    """Settings of :func:`bot_toml` with the demo account's keys.

    Args:
        sim: The simulator.
        tmp_path: Where the files go.
        extra: See :func:`bot_toml`.
        peg: The ``[peg]`` table.
        name: The venue's name.
        params: Strategy parameters to override.
        risk: Risk settings to override.
        **overrides: Any other setting (``mode="paper"``, ``venues={...}``).
    """
    if params:
        overrides["strategy"] = {"params": params}
    if risk:
        overrides["risk"] = risk
    path = bot_toml(sim, tmp_path, extra, peg, name)
    return load_settings(path, environ=key_env(name), **overrides)


async def seed_book(
    sim: SimHandle, bid: str = "0.01139", ask: str = "0.01148", qty: float = 50_000
) -> None:
    """The ``maker`` account rests one bid and one ask, so the book is two-sided.

    The defaults sit about 40 bps either side of fair: close enough that the mid stays
    within the deviation threshold, wide enough that two levels a side of ours fit inside.
    """
    maker = sim.maker()
    await maker.load_markets()
    await maker.create_order(SYMBOL, "limit", "buy", qty, float(bid))
    await maker.create_order(SYMBOL, "limit", "sell", qty, float(ask))


def exchange_holdings(sim: SimHandle, api_key: str = DEMO_API_KEY) -> tuple[Fraction, Fraction]:
    """KGST and USDT (free + locked) the exchange holds for ``api_key``, exactly."""
    account = sim.exchange.engine.ledger.accounts[api_key]
    k, u = account.balance("KGST"), account.balance("USDT")
    return (
        Fraction(amount_to_decimal(k.free + k.locked)),
        Fraction(amount_to_decimal(u.free + u.locked)),
    )


async def wait_for(cond: Callable[[], Any], timeout: float, step: float = 0.02) -> Any:
    """Poll ``cond`` until it is truthy and return its value; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(step)


async def wait_for_async(
    cond: Callable[[], Awaitable[Any]], timeout: float, step: float = 0.05
) -> Any:
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
    """A bot with its journal, running in the caller's loop; stopped on exit.

    After the block, :attr:`Bot.final_summary` holds what :meth:`Bot.run` returned.
    Keyword arguments go to :class:`~pegbot.live.bot.Bot` (``metrics``, ``clock``…).
    """
    journal = Journal(settings.journal.path)
    bot = Bot(settings, kwargs.pop("venue_factory", make_venue), journal=journal, **kwargs)
    task = asyncio.create_task(bot.run())
    try:
        await wait_for(lambda: bot.started.is_set() or task.done(), 15)
        if task.done():
            task.result()
        yield bot
    finally:
        bot.stop()
        await asyncio.wait_for(task, 30)
        journal.close()


async def our_open_orders(sim_or_client: SimHandle | Any) -> list[dict[str, Any]]:
    """``pegbot-`` orders open on the exchange, as ccxt reports them.

    Args:
        sim_or_client: The simulator (read with the demo account) or a ccxt client.
    """
    client: Any = sim_or_client
    if isinstance(sim_or_client, SimHandle):
        client = sim_or_client.__dict__.get("_pegbot_reader")
        if client is None:
            client = sim_or_client.__dict__["_pegbot_reader"] = sim_or_client.client()
    return [
        o
        for o in await client.fetch_open_orders(SYMBOL)
        if str(o.get("clientOrderId") or "").startswith("pegbot-")
    ]

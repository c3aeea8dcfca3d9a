"""A venue whose market data comes through ccxt.pro ``watch_order_book`` (quirks as data).

The simulator speaks Binance; ``market_data = "ccxt"`` in the venue's table makes the bot use
:class:`~pegbot.feeds.ccxt_feed.CcxtFeed` instead of the Binance stream feed, end to end.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pegbot.config import Settings
from pegbot.execution.quirks import quirks_for
from pegbot.feeds.binance import BinanceFeed
from pegbot.feeds.ccxt_feed import CcxtFeed
from pegbot.live.bot import Bot
from pegbot.market import Market
from pegbot.sim.testing import SimHandle
from pegbot.testing.bot import bot_settings, run_bot, seed_book, wait_for

pytestmark = pytest.mark.timeout(60)


def _settings(sim: SimHandle, tmp_path: Path, market_data: str | None) -> Settings:
    if market_data is None:
        return bot_settings(sim, tmp_path)
    return bot_settings(sim, tmp_path, venues={"sim": {"market_data": market_data}})


async def _rest_depth(sim: SimHandle, market: Market) -> tuple[int, dict[int, int], dict[int, int]]:
    url = f"{sim.http_url}/api/v3/depth?symbol=KGSTUSDT&limit=1000"
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        body: dict[str, Any] = await resp.json(content_type=None)
    bids = {market.price_to_ticks(p): market.qty_to_units(q) for p, q in body["bids"]}
    asks = {market.price_to_ticks(p): market.qty_to_units(q) for p, q in body["asks"]}
    return int(body["lastUpdateId"]), bids, asks


async def _book_equals_rest(sim: SimHandle, feed: CcxtFeed, market: Market) -> None:
    # The bot requotes now and then: retry until a REST snapshot and our book are at the
    # same update id, then they must be equal level for level.
    for _ in range(100):
        uid, bids, asks = await _rest_depth(sim, market)
        if feed.synced and feed.book.update_id == uid:
            assert feed.book.bids == bids
            assert feed.book.asks == asks
            return
        await asyncio.sleep(0.03)
    raise AssertionError("the ccxt feed's book never caught up with the REST depth")


def test_quirks_choose_the_feed() -> None:
    assert quirks_for("binance").market_data == "binance_stream"
    assert quirks_for("htx").market_data == "ccxt"
    assert quirks_for("kraken").market_data == "ccxt"


async def test_ccxt_feed_quotes_and_recovers_from_a_gap(sim: SimHandle, tmp_path: Path) -> None:
    await seed_book(sim)
    settings = _settings(sim, tmp_path, "ccxt")
    async with run_bot(settings) as bot:
        runner = bot.runners[0]
        await wait_for(lambda: runner.feed is not None, 5)
        feed = runner.feed
        assert isinstance(feed, CcxtFeed)
        await wait_for(lambda: _quoting_both_sides(bot), 8)
        market = runner.market
        await _book_equals_rest(sim, feed, market)

        # Our own quotes are in the book the feed built (exact ticks through ccxt's floats).
        # (polled: a requote may be on its way between the two reads)
        def ours_in_book() -> bool:
            ours = {o.price_ticks for o in runner.live.values()
                    if o.side > 0 and o.status.value == "open"}  # fmt: skip
            return bool(ours) and ours <= set(feed.book.bids)

        await wait_for(ours_in_book, 5)

        # A gap in the diffs: ccxt raises, the feed loses the book, resyncs, re-watches.
        gaps = feed.counters.gaps
        await sim.admin("skip_update_ids", {"symbol": "KGSTUSDT", "count": 3})
        maker = sim.maker()
        await maker.load_markets()
        await maker.create_order("KGST/USDT", "limit", "buy", 1000, 0.01120)
        await wait_for(lambda: feed.counters.gaps > gaps, 5)
        assert feed.counters.resyncs >= 1
        await wait_for(lambda: feed.synced and not runner.book_lost, 5)
        await _book_equals_rest(sim, feed, market)
        assert 1120 in feed.book.bids  # the order that exposed the gap is in the new book
        await wait_for(lambda: _quoting_both_sides(bot), 8)
    assert bot.final_summary["open_orders_after_shutdown"] == 0  # type: ignore[attr-defined]


async def test_binance_keeps_its_own_feed(sim: SimHandle, tmp_path: Path) -> None:
    await seed_book(sim)
    async with run_bot(_settings(sim, tmp_path, None)) as bot:
        await wait_for(lambda: bot.runners[0].feed is not None, 5)
        assert isinstance(bot.runners[0].feed, BinanceFeed)
        await wait_for(lambda: _quoting_both_sides(bot), 8)


def _quoting_both_sides(bot: Bot) -> bool:
    r = bot.runners[0]
    rs = r.risk_state
    sides = {o.side for o in r.live.values() if o.status.value == "open"}
    return rs is not None and rs.level.label == "normal" and len(sides) == 2

"""The live feed against a local Binance-compatible server (REST through unmodified ccxt)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator

import pytest
from _local_binance import LocalBinance, RefVenue, until

from pegbot.feeds.binance import (
    BinanceFeed,
    BookLost,
    BookUpdate,
    FeedConfig,
    Trade,
    backoff_delay,
)
from pegbot.market import Market, Side

pytestmark = pytest.mark.timeout(60)

MARKET = Market.kgst_usdt()


def venue_ticks(venue: RefVenue) -> tuple[dict[int, int], dict[int, int]]:
    conv = MARKET
    return (
        {conv.price_to_ticks(p): conv.qty_to_units(q) for p, q in venue.bids.items()},
        {conv.price_to_ticks(p): conv.qty_to_units(q) for p, q in venue.asks.items()},
    )


def book_matches(feed: BinanceFeed, venue: RefVenue) -> bool:
    bids, asks = venue_ticks(venue)
    return (
        feed.synced
        and feed.book.update_id == venue.last_id
        and feed.book.bids == bids
        and feed.book.asks == asks
    )


def config(server: LocalBinance, **kw: object) -> FeedConfig:
    base: dict[str, object] = {
        "ws_url": server.ws_url,
        "rest_url": server.rest_url,
        "depth_limit": 500,
        "first_event_wait": 0.2,
        "backoff_initial": 0.02,
        "backoff_max": 0.1,
        "snapshot_retry_delay": 0.02,
    }
    base.update(kw)
    return FeedConfig(**base)  # type: ignore[arg-type]


@pytest.fixture
async def server() -> AsyncIterator[LocalBinance]:
    async with LocalBinance() as srv:
        yield srv


async def test_feed_syncs_applies_resyncs_on_gap_and_reconnects(server: LocalBinance) -> None:
    venue = server.venue
    seen: list[BookUpdate | BookLost] = []
    trades: list[Trade] = []
    crossed_seen: list[int] = []

    def on_book(ev: BookUpdate | BookLost) -> None:
        seen.append(ev)
        if isinstance(ev, BookUpdate) and ev.book.is_crossed:
            crossed_seen.append(ev.update_id)

    # market=None: the feed loads it through ccxt from the local exchangeInfo.
    feed = BinanceFeed(
        config(server), None, on_book=on_book, on_trade=trades.append, rng=random.Random(1)
    )
    task = asyncio.create_task(feed.run())
    try:
        await server.wait_connections(1)
        assert server.paths[0] == "/stream?streams=kgstusdt@depth@100ms/kgstusdt@trade"
        assert feed.market is not None and feed.market.tick_size == MARKET.tick_size

        # 1. Buffer until the snapshot: m1 is older than the snapshot (dropped), m2 straddles.
        m1 = venue.diff(bids=[("0.01143", "900")], ids=2)
        server.depth_queue.append(venue.snapshot())
        m2 = venue.diff(asks=[("0.01144", "0"), ("0.01146", "5")], ids=3)
        await server.send(m1)
        await server.send(m2)
        await until(lambda: book_matches(feed, venue), what="first sync")
        assert server.depth_params[0] == {"symbol": "KGSTUSDT", "limit": "500"}
        assert feed.sync.counters.dropped_old == 1
        assert feed.book.best_ask == MARKET.price_to_ticks("0.01145")

        # 2. Live diffs (including a level removal and a new best) and a trade.
        await server.send(venue.diff(bids=[("0.01144", "10"), ("0.01140", "0")]))
        await server.send(venue.trade("0.01145", "123.5", buyer_maker=False))
        await server.send(venue.diff(asks=[("0.01145", "2999")], ids=4))
        await until(lambda: book_matches(feed, venue), what="live diffs")
        await until(lambda: len(trades) == 1, what="trade")
        assert trades[0].price == 1145 and trades[0].qty == 12_350_000_000
        assert trades[0].side is Side.BUY and trades[0].trade_id == venue.trade_id

        # 3. A gap: one diff never reaches the feed. It must notice, drop the book, resync.
        venue.diff(bids=[("0.01141", "5")])  # lost
        await server.send(venue.diff(asks=[("0.01147", "1")]))
        await until(lambda: feed.counters.gaps == 1, what="gap detected")
        await until(lambda: book_matches(feed, venue), what="resync after gap")
        assert len(server.depth_bodies) == 2
        assert feed.counters.resyncs == 1 and feed.sync.counters.gaps == 1
        assert any(isinstance(e, BookLost) and e.reason == "gap" for e in seen)
        # After the resync the next diff continues from the snapshot.
        await server.send(venue.diff(bids=[("0.01141", "0")]))
        await until(lambda: book_matches(feed, venue), what="diff after resync")

        # 4. The server drops the connection: reconnect, resync, carry on.
        await server.drop()
        await server.wait_connections(2)
        await server.send(venue.diff(bids=[("0.01139", "42")]))
        await until(lambda: book_matches(feed, venue), what="sync after reconnect")
        await server.send(venue.diff(asks=[("0.01150", "0")]))
        await until(lambda: book_matches(feed, venue), what="diff after reconnect")
        assert feed.counters.connects == 2 and feed.counters.disconnects == 1
        assert any(isinstance(e, BookLost) and e.reason == "disconnect" for e in seen)
        assert len(server.depth_bodies) == 3
        assert not crossed_seen and feed.counters.crossed == 0
        assert feed.counters.bad_messages == 0 and feed.counters.unknown_messages == 0
    finally:
        feed.stop()
        await asyncio.wait_for(task, 5)
    assert task.done() and task.exception() is None


async def test_feed_refetches_a_snapshot_that_is_too_old(server: LocalBinance) -> None:
    venue = server.venue
    feed = BinanceFeed(config(server), MARKET)
    task = asyncio.create_task(feed.run())
    try:
        await server.wait_connections(1)
        stale = venue.snapshot()
        venue.diff(bids=[("0.01143", "1")])  # happened before we subscribed
        first = venue.diff(asks=[("0.01144", "1")])
        server.depth_queue.append(stale)  # served first: predates the buffered stream
        await server.send(first)
        await until(lambda: book_matches(feed, venue), what="sync after stale snapshot")
        assert feed.counters.stale_snapshots == 1
        assert feed.sync.counters.stale_snapshots == 1
        assert len(server.depth_bodies) == 2
    finally:
        feed.stop()
        await asyncio.wait_for(task, 5)


async def test_feed_resyncs_on_unparseable_depth_and_counts_junk(server: LocalBinance) -> None:
    venue = server.venue
    feed = BinanceFeed(config(server), MARKET)
    events = feed.events()
    task = asyncio.create_task(feed.run())
    try:
        await server.wait_connections(1)
        await server.send(venue.diff(bids=[("0.01143", "5")]))
        await until(lambda: book_matches(feed, venue), what="sync")
        await server.send(b"not json at all")
        await server.send(b'{"stream":"kgstusdt@kline_1m","data":{"e":"kline"}}')
        await server.send(b'{"result":null,"id":1}')
        # A price off the 1e-5 grid: the diff cannot be applied, so the book is discarded.
        venue_off = venue.diff(bids=[("0.011435", "5")])
        venue.bids.pop("0.011435")
        await server.send(venue_off)
        await until(lambda: feed.counters.bad_messages == 2, what="bad messages counted")
        assert feed.counters.unknown_messages == 1 and feed.counters.control_messages == 1
        assert not feed.synced
        await server.send(venue.diff(asks=[("0.01149", "3")]))
        await until(lambda: book_matches(feed, venue), what="resync after bad diff")
        assert feed.counters.resyncs == 1
    finally:
        feed.stop()
        await asyncio.wait_for(task, 5)
    kinds = []
    async for ev in events:
        kinds.append(type(ev).__name__ + (f":{ev.reason}" if isinstance(ev, BookLost) else ""))
    assert kinds[0] == "BookUpdate"
    assert "BookLost:bad_message" in kinds
    assert kinds[-1] == "BookLost:disconnect"


async def test_feed_backs_off_while_the_server_is_down() -> None:
    # Bind a port, then close it: connections are refused there.
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    cfg = FeedConfig(
        ws_url=f"ws://127.0.0.1:{port}",
        rest_url=f"http://127.0.0.1:{port}",
        backoff_initial=0.01,
        backoff_max=0.04,
        open_timeout=1,
    )
    feed = BinanceFeed(cfg, MARKET, rng=random.Random(3))
    task = asyncio.create_task(feed.run())
    await until(lambda: feed.counters.connect_failures >= 4, what="retries")
    feed.stop()
    await asyncio.wait_for(task, 5)
    assert feed.counters.connects == 0 and not feed.synced


def test_backoff_is_exponential_capped_and_jittered() -> None:
    cfg = FeedConfig(backoff_initial=0.5, backoff_max=8.0, backoff_jitter=0.5)
    rng = random.Random(7)
    for attempt, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0), (99, 8.0)]:
        delays = [backoff_delay(attempt, cfg, rng) for _ in range(200)]
        assert all(ceiling * 0.5 <= d <= ceiling for d in delays)
        assert max(delays) - min(delays) > ceiling * 0.3  # the jitter spreads reconnects
    no_jitter = FeedConfig(backoff_initial=0.5, backoff_max=8.0, backoff_jitter=0.0)
    assert backoff_delay(3, no_jitter, rng) == 4.0


@pytest.mark.parametrize("fail_on", ["frame", "snapshot"])
async def test_a_failing_callback_stops_the_feed_loudly(server: LocalBinance, fail_on: str) -> None:
    def on_raw(local_ns: int, data: bytes) -> None:
        if (fail_on == "snapshot") == data.startswith(b'{"lastUpdateId"'):
            raise OSError(28, "No space left on device")

    feed = BinanceFeed(config(server), MARKET, on_raw=on_raw)
    task = asyncio.create_task(feed.run())
    await server.wait_connections(1)
    await server.send(server.venue.diff(bids=[("0.01143", "5")]))
    with pytest.raises(OSError, match="No space left"):
        await asyncio.wait_for(task, 5)
    assert feed.counters.connects == 1  # no silent reconnect-and-carry-on


async def test_feed_retries_load_markets_until_the_venue_answers() -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    cfg = FeedConfig(
        ws_url=f"ws://127.0.0.1:{port}",
        rest_url=f"http://127.0.0.1:{port}",
        backoff_initial=0.01,
        backoff_max=0.02,
    )
    feed = BinanceFeed(cfg, None)
    task = asyncio.create_task(feed.run())
    await until(lambda: feed.counters.connect_failures >= 3, what="load_markets retries")
    feed.stop()
    await asyncio.wait_for(task, 5)
    assert feed.market is None and feed.counters.connects == 0


async def test_feed_counters_are_exported_to_prometheus(server: LocalBinance) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from pegbot.feeds.metrics import FeedCollector

    venue = server.venue
    registry = CollectorRegistry()
    feed = BinanceFeed(config(server), MARKET)
    FeedCollector(feed).register(registry)
    labels = {"venue": "binance", "symbol": "KGST/USDT"}

    def sample(name: str, **extra: str) -> float | None:
        return registry.get_sample_value(name, {**labels, **extra})

    assert sample("pegbot_feed_gaps_total") == 0  # every series exists from the start
    assert sample("pegbot_feed_book_synced") == 0
    task = asyncio.create_task(feed.run())
    try:
        await server.wait_connections(1)
        await server.send(venue.diff(bids=[("0.01143", "5")]))
        await until(lambda: book_matches(feed, venue), what="sync")
        venue.diff(bids=[("0.01143", "6")])  # lost
        await server.send(venue.diff(bids=[("0.01143", "7")]))
        await server.send(b"junk")
        await until(lambda: feed.counters.gaps == 1 and book_matches(feed, venue), what="resync")
        assert sample("pegbot_feed_gaps_total") == 1
        assert sample("pegbot_feed_resyncs_total") == 1
        assert sample("pegbot_feed_snapshots_total") == 2
        assert sample("pegbot_feed_messages_total") == 3
        assert sample("pegbot_feed_skipped_messages_total", reason="bad") == 1
        assert sample("pegbot_feed_skipped_messages_total", reason="unknown") == 0
        assert sample("pegbot_feed_book_synced") == 1
        last = sample("pegbot_feed_last_message_timestamp_seconds")
        assert last is not None and abs(last - time.time()) < 60
        text = generate_latest(registry).decode()
        assert 'pegbot_feed_connects_total{symbol="KGST/USDT",venue="binance"} 1.0' in text
    finally:
        feed.stop()
        await asyncio.wait_for(task, 5)

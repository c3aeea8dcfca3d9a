"""The live feed fed real Binance recordings (tests/data/binance_raw, see its README) on loopback.

The recorded frames are sent as they were received, the recorded REST snapshot is served by the
local depth endpoint, and the feed's book is compared with an independent Decimal replay.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from _local_binance import LocalBinance, until

from pegbot.feeds.binance import BinanceFeed, BookLost, BookUpdate, FeedConfig, Trade
from pegbot.market import Market, Side
from pegbot.tape.rawlines import iter_raw_lines

pytestmark = pytest.mark.timeout(60)

DATA = Path(__file__).resolve().parents[1] / "data" / "binance_raw"
NEXO = Market("NEXO/USDT", "NEXO", "USDT", Decimal("0.001"), Decimal("0.1"))
BTC = Market("BTC/USDT", "BTC", "USDT", Decimal("0.01"), Decimal("0.00001"))

DecBook = dict[str, dict[Decimal, Decimal]]


def frames(name: str) -> Iterator[bytes]:
    for line in iter_raw_lines(DATA / name):
        assert line.complete
        yield line.payload


def is_snapshot(payload: bytes) -> bool:
    return payload.startswith(b'{"lastUpdateId"')


def reference_replay(payloads: list[bytes], upto_u: int | None = None) -> tuple[DecBook, int]:
    """Snapshot, then every later diff in file order, in Decimals (no gap handling)."""
    book: DecBook = {"b": {}, "a": {}}
    last = -1
    for raw in payloads:
        msg = orjson.loads(raw)
        if "lastUpdateId" in msg:
            last = msg["lastUpdateId"]
            book = {
                "b": {Decimal(p): Decimal(q) for p, q in msg["bids"] if Decimal(q)},
                "a": {Decimal(p): Decimal(q) for p, q in msg["asks"] if Decimal(q)},
            }
            continue
        data = msg["data"]
        if data.get("e") != "depthUpdate" or last < 0 or data["u"] <= last:
            continue
        if upto_u is not None and data["u"] > upto_u:
            break
        for side in ("b", "a"):
            for p, q in data[side]:
                if Decimal(q):
                    book[side][Decimal(p)] = Decimal(q)
                else:
                    book[side].pop(Decimal(p), None)
        last = data["u"]
    return book, last


def feed_book(feed: BinanceFeed, market: Market) -> DecBook:
    return {
        "b": {market.ticks_to_price(t): market.units_to_qty(q) for t, q in feed.book.bids.items()},
        "a": {market.ticks_to_price(t): market.units_to_qty(q) for t, q in feed.book.asks.items()},
    }


def kinds(payloads: list[bytes]) -> dict[str, int]:
    out: dict[str, int] = {}
    for raw in payloads:
        stream = orjson.loads(raw).get("stream", "snapshot").split("@")[-1]
        out[stream] = out.get(stream, 0) + 1
    return out


async def run_feed(
    server: LocalBinance, market: Market, to_send: list[bytes], **cfg: object
) -> tuple[BinanceFeed, list[BookUpdate | BookLost], list[Trade], asyncio.Task[None]]:
    updates: list[BookUpdate | BookLost] = []
    trades: list[Trade] = []

    def on_book(ev: BookUpdate | BookLost) -> None:
        if isinstance(ev, BookUpdate):
            assert not ev.book.is_crossed, f"crossed at {ev.update_id}"
        updates.append(ev)

    config = FeedConfig(
        symbol=market.symbol,
        ws_url=server.ws_url,
        rest_url=server.rest_url,
        first_event_wait=0.1,
        snapshot_retry_delay=0.02,
        **cfg,  # type: ignore[arg-type]
    )
    feed = BinanceFeed(config, market, on_book=on_book, on_trade=trades.append)
    task = asyncio.create_task(feed.run())
    await server.wait_connections(1)
    return feed, updates, trades, task


async def test_feed_replays_a_real_nexousdt_recording_exactly() -> None:
    payloads = list(frames("spot_nexousdt_20240723.dat.gz"))
    ws_frames = [p for p in payloads if not is_snapshot(p)]
    (snapshot,) = [p for p in payloads if is_snapshot(p)]
    snap_at = payloads.index(snapshot)
    counts = kinds(ws_frames)
    async with LocalBinance() as server:
        server.depth_queue.append(snapshot)  # the recorded REST body, byte for byte
        feed, updates, trades, task = await run_feed(server, NEXO, ws_frames)
        try:
            assert server.paths[0] == "/stream?streams=nexousdt@depth@100ms/nexousdt@trade"
            # As recorded: the frames before the snapshot, the snapshot, then the rest.
            for frame in ws_frames[:snap_at]:
                await server.send(frame)
            await until(lambda: feed.synced, what="first sync")
            for frame in ws_frames[snap_at:]:
                await server.send(frame)
            await until(lambda: feed.counters.messages == len(ws_frames), what="all frames")
            want, last_u = reference_replay(payloads)
            await until(lambda: feed.book.update_id == last_u, what="last diff applied")
            assert feed_book(feed, NEXO) == want
        finally:
            feed.stop()
            await asyncio.wait_for(task, 5)
    assert server.depth_params[0]["symbol"] == "NEXOUSDT"
    assert len(server.depth_bodies) == 1
    assert feed.counters.gaps == 0 and feed.counters.crossed == 0
    assert feed.counters.bad_messages == 0
    assert feed.counters.depth_messages == counts["100ms"] == 1188
    assert feed.counters.trades == len(trades) == counts["trade"] == 178
    # bookTicker is not subscribed; the recording has it, and the feed counts it as unknown.
    assert feed.counters.unknown_messages == counts["bookTicker"]
    first_trade = orjson.loads(next(f for f in ws_frames if b"@trade" in f))["data"]
    assert trades[0].trade_id == first_trade["t"]
    assert trades[0].price == NEXO.price_to_ticks(first_trade["p"])
    assert trades[0].side is (Side.SELL if first_trade["m"] else Side.BUY)
    assert sum(isinstance(u, BookUpdate) for u in updates) > 1000


async def test_feed_detects_a_real_gap_and_resyncs_from_a_newer_snapshot() -> None:
    intact = list(frames("spot_btcusdt_20240808_L1-1500.gz"))
    gapped = list(frames("spot_btcusdt_20240808_L1-1500_gap-line187-deleted.gz"))
    ws_frames = [p for p in gapped if not is_snapshot(p)]
    (snapshot,) = [p for p in gapped if is_snapshot(p)]
    snap_at = gapped.index(snapshot)
    # The deleted line (187 of the source) is the depthUpdate U 50093239408 u 50093239969.
    after_gap = next(
        i for i, f in enumerate(ws_frames) if b'"depthUpdate"' in f and b'"U":50093239970' in f
    )
    # What the venue would serve a few messages after the gap: the intact replay at that id.
    later_u = next(
        orjson.loads(f)["data"]["u"] for f in ws_frames[after_gap + 5 :] if b'"depthUpdate"' in f
    )
    later_book, at = reference_replay(intact, upto_u=later_u)
    assert at == later_u
    newer = {
        "lastUpdateId": later_u,
        "bids": [[str(p), str(q)] for p, q in sorted(later_book["b"].items(), reverse=True)],
        "asks": [[str(p), str(q)] for p, q in sorted(later_book["a"].items())],
    }
    async with LocalBinance() as server:
        server.depth_queue += [snapshot, newer]
        feed, updates, _, task = await run_feed(server, BTC, ws_frames)
        try:
            for frame in ws_frames[:snap_at]:
                await server.send(frame)
            await until(lambda: feed.synced, what="first sync")
            assert feed.book.update_id > 50093239218  # the straddling diff was applied
            for frame in ws_frames[snap_at : after_gap + 1]:
                await server.send(frame)
            await until(lambda: feed.counters.gaps == 1, what="gap detected")
            for frame in ws_frames[after_gap + 1 :]:
                await server.send(frame)
            await until(lambda: feed.counters.messages == len(ws_frames), what="all frames")
            want, last_u = reference_replay(intact)
            await until(lambda: feed.synced and feed.book.update_id == last_u, what="resynced")
            assert feed_book(feed, BTC) == want
        finally:
            feed.stop()
            await asyncio.wait_for(task, 5)
    assert len(server.depth_bodies) == 2 and feed.counters.resyncs == 1
    assert feed.counters.crossed == 0 and feed.counters.bad_messages == 0
    lost = [u for u in updates if isinstance(u, BookLost)]
    assert [u.reason for u in lost] == ["gap", "disconnect"]

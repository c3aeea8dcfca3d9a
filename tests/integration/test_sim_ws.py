"""The simulator's market streams and WebSocket API, driven through unmodified ccxt.pro."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import ccxt
import orjson
import pytest

from pegbot.sim.testing import SimHandle

SYMBOL = "KGST/USDT"


async def _next(coro: Any, timeout: float = 3.0) -> Any:
    return await asyncio.wait_for(coro, timeout)


async def test_watch_order_book_syncs_and_follows(sim: SimHandle) -> None:
    ex, maker = sim.client(), sim.maker()
    await maker.load_markets()
    await maker.create_order(SYMBOL, "limit", "sell", 1000, 0.01145)
    book = await _next(ex.watch_order_book(SYMBOL))
    assert book["asks"][0] == [0.01145, 1000.0]
    for i in range(5):
        await maker.create_order(SYMBOL, "limit", "buy", 100 + i, 0.01140 - i * 0.00001)
    deadline = asyncio.get_running_loop().time() + 3
    while len(book["bids"]) < 5:
        assert asyncio.get_running_loop().time() < deadline, book
        book = await _next(ex.watch_order_book(SYMBOL))
    assert book["bids"][0] == [0.0114, 100.0] and book["bids"][4] == [0.01136, 104.0]
    assert book["nonce"] == sim.exchange.engine.books["KGSTUSDT"].update_id
    # The local book equals the REST snapshot.
    snap = await ex.fetch_order_book(SYMBOL)
    assert snap["bids"] == book["bids"][:] and snap["asks"] == book["asks"][:]


async def test_watch_order_book_detects_an_injected_gap(sim: SimHandle) -> None:
    ex, maker = sim.client(), sim.maker()
    await maker.load_markets()
    await maker.create_order(SYMBOL, "limit", "sell", 1000, 0.01145)
    await _next(ex.watch_order_book(SYMBOL))
    await sim.admin("skip_update_ids", {"symbol": "KGSTUSDT", "count": 3})
    await maker.create_order(SYMBOL, "limit", "buy", 100, 0.0114)
    with pytest.raises(ccxt.InvalidNonce):  # ccxt's ChecksumError
        for _ in range(10):
            await _next(ex.watch_order_book(SYMBOL))
    # Watching again resubscribes, takes a fresh snapshot and is in sync.
    book = await _next(ex.watch_order_book(SYMBOL))
    assert book["bids"][0] == [0.0114, 100.0]
    await maker.create_order(SYMBOL, "limit", "buy", 200, 0.01141)
    book = await _next(ex.watch_order_book(SYMBOL))
    assert book["bids"][0] == [0.01141, 200.0]


async def test_watch_trades_and_ticker(sim: SimHandle) -> None:
    ex, maker = sim.client(), sim.maker()
    await ex.load_markets()
    await maker.load_markets()
    await maker.create_order(SYMBOL, "limit", "sell", 1000, 0.01145)
    watcher = asyncio.create_task(ex.watch_trades(SYMBOL))
    bids_asks = asyncio.create_task(ex.watch_bids_asks([SYMBOL]))
    await asyncio.sleep(0.2)  # let the subscriptions land
    await ex.create_order(SYMBOL, "market", "buy", 300)
    trades = await _next(watcher)
    assert [(t["price"], t["amount"], t["side"]) for t in trades] == [(0.01145, 300, "buy")]
    ticker = (await _next(bids_asks))[SYMBOL]
    assert ticker["ask"] == 0.01145 and ticker["askVolume"] == 700


async def test_watch_orders_and_my_trades(sim: SimHandle) -> None:
    ex, maker = sim.client(), sim.maker()
    await ex.load_markets()
    await maker.load_markets()
    orders_task = asyncio.create_task(ex.watch_orders(SYMBOL))
    await asyncio.sleep(0.3)  # the user-data subscription is in place
    placed = await ex.create_order(SYMBOL, "limit", "buy", 1000, 0.0114)
    orders = await _next(orders_task)
    assert orders[-1]["id"] == placed["id"] and orders[-1]["status"] == "open"
    # Watchers resolve on the next update, so each is armed before its trigger.
    trades_task = asyncio.create_task(ex.watch_my_trades(SYMBOL))
    orders_task = asyncio.create_task(ex.watch_orders(SYMBOL))
    await asyncio.sleep(0.1)
    await maker.create_order(SYMBOL, "market", "sell", 400)
    trades = await _next(trades_task)
    assert [(t["order"], t["price"], t["amount"], t["takerOrMaker"]) for t in trades] == [
        (placed["id"], 0.0114, 400, "maker")
    ]
    assert trades[0]["fee"]["currency"] == "KGST" and trades[0]["fee"]["cost"] == pytest.approx(0.4)
    mine = [o for o in await _next(orders_task) if o["id"] == placed["id"]][-1]
    assert mine["filled"] == 400 and mine["status"] == "open"
    orders_task = asyncio.create_task(ex.watch_orders(SYMBOL))
    balance_task = asyncio.create_task(ex.watch_balance())
    await asyncio.sleep(0.1)
    await ex.cancel_order(placed["id"], SYMBOL)
    mine = [o for o in await _next(orders_task) if o["id"] == placed["id"]][-1]
    assert mine["status"] == "canceled"
    balance = await _next(balance_task)
    assert balance["USDT"]["used"] == 0


async def test_raw_streams_subscribe_list_and_combined(sim: SimHandle) -> None:
    engine = sim.exchange.engine
    url = f"{sim.ws_url}/stream?streams=kgstusdt@trade"
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        await ws.send_str(
            orjson.dumps(
                {"method": "SUBSCRIBE", "params": ["kgstusdt@depth@100ms"], "id": 7}
            ).decode()
        )
        assert orjson.loads((await ws.receive()).data) == {"result": None, "id": 7}
        await ws.send_str('{"method":"LIST_SUBSCRIPTIONS","id":8}')
        listed = orjson.loads((await ws.receive()).data)
        assert listed == {"result": ["kgstusdt@depth@100ms", "kgstusdt@trade"], "id": 8}
        await ws.send_str('{"method":"SUBSCRIBE","params":["nope@depth"],"id":9}')
        err = orjson.loads((await ws.receive()).data)
        assert err["id"] == 9 and err["error"]["code"] == 2
        maker = sim.maker()
        await maker.create_order(SYMBOL, "limit", "sell", 1000, 0.01145)
        msg = orjson.loads((await asyncio.wait_for(ws.receive(), 2)).data)
        assert msg["stream"] == "kgstusdt@depth@100ms"
        data = msg["data"]
        assert (data["e"], data["U"], data["u"]) == ("depthUpdate", 1, 1)
        assert data["a"] == [["0.01145000", "1000.00000000"]]
        assert engine.books["KGSTUSDT"].update_id == 1


async def test_drop_ws_and_reconnect(sim: SimHandle) -> None:
    ex, maker = sim.client(), sim.maker()
    await maker.load_markets()
    await maker.create_order(SYMBOL, "limit", "sell", 1000, 0.01145)
    await _next(ex.watch_order_book(SYMBOL))
    first_conn = next(iter(sim.server.streams.conns))
    dropped = await sim.admin("drop_ws")
    assert dropped["streams"] == 1
    await maker.create_order(SYMBOL, "limit", "buy", 100, 0.0114)
    # ccxt.pro notices the close, reconnects, resubscribes and resyncs by itself.
    book: dict[str, Any] = {"bids": []}
    for _ in range(20):
        try:
            book = await _next(ex.watch_order_book(SYMBOL))
        except ccxt.NetworkError:
            continue
        if book["bids"]:
            break
    assert book["bids"][0] == [0.0114, 100.0] and book["asks"][0] == [0.01145, 1000.0]
    assert len(sim.server.streams.conns) == 1
    assert next(iter(sim.server.streams.conns)) is not first_conn


async def test_ws_api_rejects_a_bad_signature(sim: SimHandle) -> None:
    ex = sim.client(secret="not-the-secret")
    await ex.load_markets()
    # ccxt 4.5.90 maps the -1022 reply to AuthenticationError, then trips over its own
    # cleanup (it deletes the subscription twice) and may surface a KeyError instead.
    with pytest.raises((ccxt.AuthenticationError, KeyError)):
        await _next(ex.watch_orders(SYMBOL))
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{sim.ws_url}/ws-api/v3") as ws:
        params = {"apiKey": sim.api_key, "timestamp": sim.exchange.now_ms(), "signature": "00"}
        await ws.send_str(
            orjson.dumps(
                {"id": "a", "method": "userDataStream.subscribe.signature", "params": params}
            ).decode()
        )
        reply = orjson.loads((await ws.receive()).data)
        # A failed reply carries rateLimits too (WebSocket API, "Response format").
        limits = reply.pop("rateLimits")
        assert reply == {
            "id": "a",
            "status": 400,
            "error": {"code": -1022, "msg": "Signature for this request is not valid."},
        }
        assert [lim["rateLimitType"] for lim in limits] == ["REQUEST_WEIGHT"]


async def test_ws_api_order_methods_through_ccxt(sim: SimHandle) -> None:
    ex = sim.client()
    await ex.load_markets()
    placed = await _next(ex.create_order_ws(SYMBOL, "limit", "buy", 1000, 0.0114))
    assert placed["status"] == "open" and placed["price"] == 0.0114
    got = await _next(ex.fetch_order_ws(placed["id"], SYMBOL))
    assert got["id"] == placed["id"] and got["amount"] == 1000
    opened = await _next(ex.fetch_open_orders_ws(SYMBOL))
    assert [o["id"] for o in opened] == [placed["id"]]
    # ccxt 4.5.90 parses account.status without the spot type, so read the raw reply.
    balance = await _next(ex.fetch_balance_ws())
    usdt = next(b for b in balance["info"]["balances"] if b["asset"] == "USDT")
    assert usdt["locked"] == "11.40000000"
    canceled = await _next(ex.cancel_order_ws(placed["id"], SYMBOL))
    assert canceled["status"] == "canceled"
    with pytest.raises(ccxt.OrderNotFound):
        await _next(ex.cancel_order_ws(placed["id"], SYMBOL))
    with pytest.raises(ccxt.InsufficientFunds):
        await _next(ex.create_order_ws(SYMBOL, "limit", "buy", 10_000_000, 0.0114))


async def test_server_pings(sim: SimHandle) -> None:
    sim.server.exchange.config = sim.server.exchange.config.model_copy(
        update={"ping_interval_s": 0.2}
    )
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{sim.ws_url}/ws/kgstusdt@trade", autoping=False) as ws,
    ):
        msg = await asyncio.wait_for(ws.receive(), 2)
        assert msg.type == aiohttp.WSMsgType.PING
        await ws.pong(msg.data)


async def test_ws_api_ban_reply_says_when_the_ban_ends(sim: SimHandle) -> None:
    # WebSocket API "Rate limits": a 418 carries error.data.retryAfter, the ban's end (Unix ms).
    lim = sim.exchange.limiter
    lim.ban("127.0.0.1", 60, sim.exchange.now_ns())
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{sim.ws_url}/ws-api/v3") as ws:
        await ws.send_str(orjson.dumps({"id": "p", "method": "ping", "params": {}}).decode())
        reply = orjson.loads((await ws.receive()).data)
    assert reply["status"] == 418 and reply["error"]["code"] == -1003
    until_ms = lim.state(sim.exchange.now_ns())["bans"]["127.0.0.1"]
    assert reply["error"]["data"]["retryAfter"] == until_ms
    assert f"IP banned until {until_ms}" in reply["error"]["msg"]
    assert lim.requests_while_banned["127.0.0.1"] == 2  # the connection and the ping

"""The simulator's REST API, driven only through unmodified ccxt.pro (async)."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import ccxt
import pytest

from pegbot.sim.testing import SimHandle

SYMBOL = "KGST/USDT"


async def test_load_markets_and_order_book(sim: SimHandle) -> None:
    ex = sim.client()
    markets = await ex.load_markets()
    m = markets[SYMBOL]
    assert m["id"] == "KGSTUSDT" and m["spot"] and m["active"]
    assert m["precision"]["price"] == 0.00001 and m["precision"]["amount"] == 1
    assert m["limits"]["cost"]["min"] == 1
    maker = sim.maker()
    await maker.create_order(SYMBOL, "limit", "sell", 1000, 0.01145)
    await maker.create_order(SYMBOL, "limit", "buy", 1000, 0.01142)
    book = await ex.fetch_order_book(SYMBOL)
    assert book["asks"] == [[0.01145, 1000.0]] and book["bids"] == [[0.01142, 1000.0]]
    assert book["nonce"] == sim.exchange.engine.books["KGSTUSDT"].update_id == 2


async def test_limit_post_only_market_cancel_edit(sim: SimHandle) -> None:
    ex, maker = sim.client(), sim.maker()
    await ex.load_markets()
    bal0 = await ex.fetch_balance()
    assert bal0["USDT"]["free"] == 20000 and bal0["KGST"]["free"] == 1000000

    bid = await ex.create_order(SYMBOL, "limit", "buy", 1000, 0.01140)
    assert bid["status"] == "open" and bid["price"] == 0.0114 and bid["amount"] == 1000
    post = await ex.create_order(SYMBOL, "limit", "sell", 500, 0.0115, {"postOnly": True})
    assert post["postOnly"] is True and post["status"] == "open"
    opened = await ex.fetch_open_orders(SYMBOL)
    assert {o["id"] for o in opened} == {bid["id"], post["id"]}
    bal = await ex.fetch_balance()
    assert bal["USDT"]["used"] == pytest.approx(11.4) and bal["KGST"]["used"] == 500

    edited = await ex.edit_order(bid["id"], SYMBOL, "limit", "buy", 2000, 0.01141)
    assert edited["status"] == "open" and edited["amount"] == 2000 and edited["id"] != bid["id"]
    old = await ex.fetch_order(bid["id"], SYMBOL)
    assert old["status"] == "canceled"

    # The counterparty sells into our bid: a partial fill of the edited order.
    await maker.create_order(SYMBOL, "market", "sell", 1200)
    filled = await ex.fetch_order(edited["id"], SYMBOL)
    assert filled["status"] == "open" and filled["filled"] == 1200 and filled["remaining"] == 800
    trades = await ex.fetch_my_trades(SYMBOL)
    assert len(trades) == 1
    t = trades[0]
    assert (t["side"], t["takerOrMaker"], t["price"], t["amount"]) == (
        "buy",
        "maker",
        0.01141,
        1200,
    )
    assert t["fee"]["currency"] == "KGST" and t["fee"]["cost"] == pytest.approx(1.2)

    # A market buy by cost (quoteOrderQty) takes the maker's ask.
    await maker.create_order(SYMBOL, "limit", "sell", 5000, 0.01144)
    mkt = await ex.create_order(SYMBOL, "market", "buy", None, None, {"cost": 11.44})
    assert mkt["status"] == "closed" and mkt["filled"] == 1000 and mkt["cost"] == 11.44

    canceled = await ex.cancel_order(post["id"], SYMBOL)
    assert canceled["status"] == "canceled"
    rest = await ex.cancel_all_orders(SYMBOL)
    assert [o["id"] for o in rest] == [edited["id"]]
    assert await ex.fetch_open_orders(SYMBOL) == []
    bal = await ex.fetch_balance()
    assert bal["USDT"]["used"] == 0 and bal["KGST"]["used"] == 0
    # 1200 + 1000 bought, minus 0.1 % fees in KGST.
    assert bal["KGST"]["total"] == pytest.approx(1000000 + 2200 - 2.2)
    assert bal["USDT"]["total"] == pytest.approx(20000 - 1200 * 0.01141 - 11.44)


@pytest.mark.parametrize(
    ("call", "exc"),
    [
        ("insufficient", ccxt.InsufficientFunds),
        ("post_only_cross", ccxt.OrderImmediatelyFillable),
        ("lot", ccxt.InvalidOrder),
        ("price", ccxt.InvalidOrder),
        ("notional", ccxt.BadRequest),
        ("unknown_order", ccxt.OrderNotFound),
        ("missing_order", ccxt.OrderNotFound),
        ("duplicate", ccxt.InvalidOrder),
        ("bad_secret", ccxt.AuthenticationError),
        ("bad_key", ccxt.AuthenticationError),
        ("bad_symbol", ccxt.BadSymbol),
        ("halted", ccxt.MarketClosed),
    ],
)
async def test_errors_map_to_ccxt_exceptions(sim: SimHandle, call: str, exc: type) -> None:
    ex, maker = sim.client(), sim.maker()
    await ex.load_markets()
    await maker.load_markets()
    await maker.create_order(SYMBOL, "limit", "sell", 1000, 0.01145)
    with pytest.raises(exc):
        if call == "insufficient":
            await ex.create_order(SYMBOL, "limit", "buy", 10_000_000, 0.0114)
        elif call == "post_only_cross":
            await ex.create_order(SYMBOL, "limit", "buy", 100, 0.01145, {"postOnly": True})
        elif call == "lot":
            # ccxt rounds amounts locally; send the raw request to test the server's filter.
            await ex.private_post_order(
                {
                    "symbol": "KGSTUSDT",
                    "side": "BUY",
                    "type": "LIMIT",
                    "timeInForce": "GTC",
                    "quantity": "100.5",
                    "price": "0.0114",
                }
            )
        elif call == "price":
            await ex.private_post_order(
                {
                    "symbol": "KGSTUSDT",
                    "side": "BUY",
                    "type": "LIMIT",
                    "timeInForce": "GTC",
                    "quantity": "100",
                    "price": "0.011405",
                }
            )
        elif call == "notional":
            await ex.create_order(SYMBOL, "limit", "buy", 10, 0.0114)
        elif call == "unknown_order":
            await ex.cancel_order("999999", SYMBOL)
        elif call == "missing_order":
            await ex.fetch_order("999999", SYMBOL)
        elif call == "duplicate":
            await ex.create_order(SYMBOL, "limit", "buy", 100, 0.0114, {"clientOrderId": "dup"})
            await ex.create_order(SYMBOL, "limit", "buy", 100, 0.0114, {"clientOrderId": "dup"})
        elif call == "bad_secret":
            await sim.client(secret="wrong").fetch_balance()
        elif call == "bad_key":
            await sim.client(api_key="nobody").fetch_balance()
        elif call == "bad_symbol":
            await ex.public_get_depth({"symbol": "NOPEUSDT"})
        elif call == "halted":
            await sim.admin("status", {"symbol": "KGSTUSDT", "status": "HALT"})
            await ex.create_order(SYMBOL, "limit", "buy", 100, 0.0114)


async def test_timestamp_outside_recv_window_is_invalid_nonce(sim: SimHandle) -> None:
    ex = sim.client()
    await ex.load_markets()
    await sim.admin("faults", {"clock_skew_ms": 30_000})  # server 30 s ahead of the client
    with pytest.raises(ccxt.InvalidNonce):
        await ex.fetch_balance()
    await sim.admin("faults", {"clock_skew_ms": -5_000})  # client 5 s ahead of the server
    with pytest.raises(ccxt.InvalidNonce):
        await ex.fetch_balance()
    await sim.admin("faults", {"clock_skew_ms": 0})
    assert (await ex.fetch_balance())["USDT"]["free"] == 20000


async def test_time_ping_ticker_trades(sim: SimHandle) -> None:
    ex, maker = sim.client(), sim.maker()
    await ex.load_markets()
    before = int(time.time() * 1000)
    assert abs(await ex.fetch_time() - before) < 2000
    await maker.create_order(SYMBOL, "limit", "sell", 1000, 0.01145)
    await ex.create_order(SYMBOL, "market", "buy", 400)
    trades = await ex.fetch_trades(SYMBOL)
    assert [(t["price"], t["amount"], t["side"]) for t in trades] == [(0.01145, 400, "buy")]
    ticker = await ex.fetch_ticker(SYMBOL)
    assert ticker["last"] == 0.01145 and ticker["ask"] == 0.01145 and ticker["baseVolume"] == 400
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{sim.http_url}/api/v3/ping") as resp:
            assert resp.status == 200 and await resp.json() == {}
            assert int(resp.headers["X-MBX-USED-WEIGHT-1M"]) >= 1
        async with http.get(f"{sim.http_url}/api/v3/nothing") as resp:
            assert resp.status == 404


async def test_server_5xx_and_timeouts(sim: SimHandle) -> None:
    ex = sim.client(timeout=300)
    await ex.load_markets()
    await sim.admin("faults", {"rest_fail_rate": 1.0, "rest_fail_mode": "5xx"})
    with pytest.raises(ccxt.OperationFailed):  # a JSON -1001 body, as Binance sends
        await ex.fetch_order_book(SYMBOL)
    await sim.admin("faults", {"rest_fail_mode": "timeout", "rest_timeout_s": 2})
    with pytest.raises(ccxt.RequestTimeout):
        await ex.create_order(SYMBOL, "limit", "buy", 100, 0.0114)
    await sim.admin("faults", {"rest_fail_rate": 0})
    # The timed-out order was executed: the status was unknown, not failed.
    await asyncio.sleep(0)
    assert len(await ex.fetch_open_orders(SYMBOL)) == 1

"""The evaluation's observer against the public API: what it records from the exchange's event
hook is what unmodified ccxt reads back through REST (open orders, trades, balances, book)."""

from __future__ import annotations

from decimal import Decimal

import aiohttp
import pytest

from pegbot.evaluate.observer import ExchangeObserver
from pegbot.scorecard import Book, Holding, OrderAction, OrderKind, OwnFill, Quotes, RateSeen
from pegbot.sim.config import DEMO_API_KEY
from pegbot.sim.server import SimServer
from pegbot.sim.testing import SimHandle, default_sim_config

SYMBOL = "KGST/USDT"


async def test_the_observer_records_what_ccxt_reads_back() -> None:
    server = SimServer(default_sim_config(), "127.0.0.1", 0)
    obs = ExchangeObserver(server.exchange, DEMO_API_KEY, "KGSTUSDT")
    obs.attach(server)
    await server.start()
    sim = SimHandle(server)
    try:
        us, maker = sim.client(), sim.maker()
        await us.load_markets()
        await maker.load_markets()
        await maker.create_order(SYMBOL, "limit", "buy", 5000, 0.0113)  # everyone else's bid
        await us.create_order(SYMBOL, "limit", "buy", 1000, 0.0114)
        gone = await us.create_order(SYMBOL, "limit", "buy", 500, 0.01139)
        await us.create_order(SYMBOL, "limit", "sell", 700, 0.0115)
        await us.cancel_order(gone["id"], SYMBOL)
        await maker.create_order(SYMBOL, "limit", "sell", 300, 0.0114)  # takes 300 of our bid
        # Someone (the bot) reads the official rate: a RateSeen.
        async with aiohttp.ClientSession() as http, http.get(f"{sim.http_url}/XML/daily.xml"):
            pass

        m = obs.market
        opened = await us.fetch_open_orders(SYMBOL)
        rows = [
            (
                o["side"],
                m.price_to_ticks(Decimal(str(o["price"]))),
                m.qty_to_units(Decimal(str(o["remaining"]))),
            )
            for o in opened
        ]
        want_bids = sorted(((p, u) for s, p, u in rows if s == "buy"), reverse=True)
        want_asks = sorted((p, u) for s, p, u in rows if s == "sell")
        assert obs.levels() == (tuple(want_bids), tuple(want_asks))
        assert want_bids == [(1140, 700 * 10**8)] and want_asks == [(1150, 700 * 10**8)]
        quotes = [e for e in obs.events if isinstance(e, Quotes)]
        assert (quotes[-1].bids, quotes[-1].asks) == obs.levels()

        trades = await us.fetch_my_trades(SYMBOL)
        fills = [e for e in obs.events if isinstance(e, OwnFill)]
        assert [(f.side.name, f.price_ticks, f.qty_units, f.maker) for f in fills] == [
            (
                "BUY" if t["side"] == "buy" else "SELL",
                m.price_to_ticks(Decimal(str(t["price"]))),
                m.qty_to_units(Decimal(str(t["amount"]))),
                t["takerOrMaker"] == "maker",
            )
            for t in trades
        ]
        actions = [(a.kind, a.side.name) for a in obs.events if isinstance(a, OrderAction)]
        assert sorted(actions) == sorted(
            [(OrderKind.PLACED, "BUY")] * 2
            + [(OrderKind.PLACED, "SELL"), (OrderKind.CANCELLED, "BUY")]
        )
        balance = await us.fetch_balance()
        held = m.qty_to_units(Decimal(str(balance["total"]["KGST"])))
        inventory = [e for e in obs.events if isinstance(e, Holding)]
        assert inventory[-1].base_units == held
        # Before our bid bought 300 KGST, less the commission charged in KGST.
        fee = sum(m.qty_to_units(Decimal(str(t["fee"]["cost"]))) for t in trades)
        assert fee > 0
        assert inventory[0].base_units == held - 300 * 10**8 + fee

        book = [e for e in obs.events if isinstance(e, Book)][-1]
        ob = await us.fetch_order_book(SYMBOL)
        assert (book.bid, book.ask) == (
            m.price_to_ticks(Decimal(str(ob["bids"][0][0]))),
            m.price_to_ticks(Decimal(str(ob["asks"][0][0]))),
        )
        assert (book.bid_ex, book.ask_ex) == (1130, None)  # the maker's bid; no ask but ours
        assert sum(isinstance(e, RateSeen) for e in obs.events) == obs.rate_fetches == 1
        times = [e.ts_ns for e in obs.events]
        assert times == sorted(times)
    finally:
        await sim.close_clients()
        await server.stop()


async def test_the_429_storm_spends_the_window_without_a_429_of_its_own() -> None:
    import ccxt

    from pegbot.evaluate.harness import spend_weight
    from pegbot.sim.config import RateLimitConfig

    cfg = default_sim_config().model_copy(
        update={"rate_limits": RateLimitConfig(weight_per_minute=400, ban_after_429s=100)}
    )
    server = SimServer(cfg, "127.0.0.1", 0)
    await server.start()
    sim = SimHandle(server)
    try:
        ex = server.exchange
        async with aiohttp.ClientSession() as http:
            await spend_weight(http, sim.http_url, 400, ex.now_ns, ex.now_ns() + 200_000_000)
        limiter = ex.limiter
        win = limiter._ips["127.0.0.1"]  # the window of the minute it spent
        now = ex.now_ns()
        if win.start_ns != now - now % 60_000_000_000:
            pytest.skip("the minute turned during the test")
        assert (win.used, win.rejected) == (400, 0)
        # The next client on this IP (the bot) is refused until the minute turns.
        client = sim.client()
        with pytest.raises(ccxt.DDoSProtection, match="429"):
            await client.fetch_order_book(SYMBOL, limit=5)
        assert win.rejected == 1
    finally:
        await sim.close_clients()
        await server.stop()

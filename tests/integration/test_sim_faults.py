"""Rate limits, fault injection and the NBKR fixture over HTTP, as clients see them."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from fractions import Fraction

import aiohttp
import ccxt
import orjson
import pytest

from pegbot.peg.sources import NbkrSource
from pegbot.sim.config import RateLimitConfig, SimConfig
from pegbot.sim.testing import SimHandle, default_sim_config

SYMBOL = "KGST/USDT"


@pytest.fixture
def sim_config() -> SimConfig:
    return default_sim_config().model_copy(
        update={
            "rate_limits": RateLimitConfig(
                weight_per_minute=100, orders_per_10s=5, ban_after_429s=2, ban_seconds=60
            )
        }
    )


async def test_weight_headers_429_and_ban(sim: SimHandle) -> None:
    ex = sim.client()
    await ex.load_markets()  # weight 20
    used = int(ex.last_response_headers["X-MBX-USED-WEIGHT-1M"])
    assert used == 20
    with pytest.raises(ccxt.DDoSProtection):
        for _ in range(20):
            await ex.fetch_order_book(SYMBOL)  # weight 5 each
    assert int(ex.last_response_headers["Retry-After"]) >= 1
    async with aiohttp.ClientSession() as http:
        statuses = []
        for _ in range(3):
            # Keep going after reading the 429 (past the sim's ban_reaction_ms, inside which
            # a request counts as sent before the 429 could be read): the third earns a ban.
            await asyncio.sleep(0.06)
            async with http.get(f"{sim.http_url}/api/v3/ping") as resp:
                statuses.append(resp.status)
                retry = int(resp.headers["Retry-After"])
        assert statuses[-1] == 418 and 50 <= retry <= 60
    with pytest.raises(ccxt.DDoSProtection):
        await ex.fetch_time()
    await sim.admin("reset_limits")
    assert await ex.fetch_time() > 0


async def test_order_count_limit(sim: SimHandle) -> None:
    ex = sim.client()
    await ex.load_markets()
    for i in range(5):
        await ex.create_order(SYMBOL, "limit", "buy", 100, 0.0110 + i * 0.00001)
        assert ex.last_response_headers["X-MBX-ORDER-COUNT-10S"] == str(i + 1)
    with pytest.raises(ccxt.DDoSProtection):
        await ex.create_order(SYMBOL, "limit", "buy", 100, 0.0109)
    assert len(await ex.fetch_open_orders(SYMBOL)) == 5


async def test_ws_delay(sim: SimHandle) -> None:
    await sim.admin("faults", {"ws_delay_ms": 300})
    url = f"{sim.ws_url}/ws/kgstusdt@trade"
    maker, taker = sim.maker(), sim.client()
    await maker.load_markets()
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        await asyncio.sleep(0.05)
        await maker.create_order(SYMBOL, "limit", "sell", 1000, 0.01145)
        sent = time.monotonic()
        await taker.create_order(SYMBOL, "market", "buy", 100)
        msg = orjson.loads((await asyncio.wait_for(ws.receive(), 3)).data)
        assert msg["e"] == "trade" and time.monotonic() - sent >= 0.25


async def test_ws_reorder(sim: SimHandle) -> None:
    await sim.admin("faults", {"ws_reorder": True})
    sim.exchange.faults.rng.seed(1)
    url = f"{sim.ws_url}/ws/kgstusdt@trade"
    maker, taker = sim.maker(), sim.client()
    await maker.load_markets()
    await maker.create_order(SYMBOL, "limit", "sell", 5000, 0.01145)
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        await asyncio.sleep(0.05)
        # Stall the writer so several trades queue up behind one another.
        await sim.admin("faults", {"ws_delay_ms": 100})
        for _ in range(5):  # the module's order limit is 5 per 10 s
            await taker.create_order(SYMBOL, "market", "buy", 100)
        ids = []
        for _ in range(5):
            ids.append(orjson.loads((await asyncio.wait_for(ws.receive(), 3)).data)["t"])
    assert sorted(ids) == list(range(1, 6)) and ids != sorted(ids)
    assert sim.exchange.faults.injected["ws_reordered"] >= 1


async def test_halt_shows_in_exchange_info(sim: SimHandle) -> None:
    ex = sim.client()
    await sim.admin("status", {"symbol": "KGSTUSDT", "status": "HALT"})
    markets = await ex.load_markets()
    assert markets[SYMBOL]["active"] is False
    await sim.admin("status", {"symbol": "KGSTUSDT", "status": "TRADING"})
    markets = await ex.load_markets(reload=True)
    assert markets[SYMBOL]["active"] is True


async def test_admin_rejects_bad_input(sim: SimHandle) -> None:
    with pytest.raises(RuntimeError, match="unknown fault"):
        await sim.admin("faults", {"nonsense": 1})
    with pytest.raises(RuntimeError, match=r"within 0\.\.1"):
        await sim.admin("faults", {"rest_fail_rate": 2})
    with pytest.raises(RuntimeError, match="unknown admin action"):
        await sim.admin("explode")


async def test_nbkr_daily_xml_through_the_peg_source(sim: SimHandle) -> None:
    await sim.admin("nbkr", {"date": "20.03.2020", "rates": {"USD": "84.95", "EUR": "91.0312"}})
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{sim.http_url}/XML/daily.xml") as resp:
            raw = await resp.read()
            assert resp.headers["Content-Type"] == "text/xml; charset=windows-1251"
        assert raw.startswith(b'<?xml version="1.0" encoding="windows-1251"?>')
        assert b"<Value>84,9500</Value>" in raw and "Курсы".encode("cp1251") in raw
        obs = await NbkrSource(http, url=f"{sim.http_url}/XML/daily.xml").fetch(time.time_ns())
    assert obs.rate == Fraction(Decimal("84.95"))


async def test_a_fraction_of_rest_calls_fail(sim: SimHandle) -> None:
    ex = sim.client()
    await ex.load_markets()
    await sim.admin("faults", {"rest_fail_rate": 0.5})
    sim.exchange.faults.rng.seed(11)
    ok = failed = 0
    for _ in range(40):
        try:
            await ex.fetch_order_book(SYMBOL)
            ok += 1
        except ccxt.OperationFailed:
            failed += 1
        await sim.admin("reset_limits")
    assert 8 <= failed <= 32 and ok + failed == 40
    assert sim.exchange.faults.injected["rest_5xx"] == failed


def test_faults_from_config() -> None:
    from pegbot.sim.config import FaultConfig
    from pegbot.sim.exchange import Exchange

    cfg = SimConfig(faults=FaultConfig(halted=("KGSTUSDT",), clock_skew_ms=-2500))
    ex = Exchange(cfg, clock=lambda: 10_000_000_000)
    assert ex.engine.books["KGSTUSDT"].status == "HALT"
    assert ex.now_ms() == 10_000 - 2_500


async def test_slow_consumer_is_dropped(sim: SimHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    import pegbot.sim.ws as ws_module

    monkeypatch.setattr(ws_module, "MAX_QUEUED", 3)
    await sim.admin("faults", {"ws_delay_ms": 200})
    maker, taker = sim.maker(), sim.client()
    await maker.load_markets()
    await maker.create_order(SYMBOL, "limit", "sell", 5000, 0.01145)
    url = f"{sim.ws_url}/ws/kgstusdt@trade"
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        await asyncio.sleep(0.05)
        for _ in range(5):
            await taker.create_order(SYMBOL, "market", "buy", 100)
        kinds = []
        while True:
            msg = await asyncio.wait_for(ws.receive(), 3)
            kinds.append(msg.type)
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
        assert kinds[-1] in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == 1008
    assert sim.exchange.faults.injected["ws_slow_consumer_dropped"] == 1

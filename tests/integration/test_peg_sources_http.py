"""Rate sources over real HTTP (aiohttp server on 127.0.0.1): NBKR XML, JSON, failures, backoff."""

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from pegbot.book import OrderBook
from pegbot.market import Market
from pegbot.metrics import Metrics
from pegbot.peg.fair import FairEstimator, FairState, SourceSpec
from pegbot.peg.poll import RatePoller
from pegbot.peg.signals import ArbConfig, ArbCosts, ArbSignaler
from pegbot.peg.sinks import export_fair
from pegbot.peg.sources import HttpJsonSource, NbkrSource

DATA = Path(__file__).parent.parent / "data" / "peg"
NS = 1_000_000_000
MIN = 60 * NS
KGST = Market.kgst_usdt()


class Server:
    def __init__(self) -> None:
        self.body = (DATA / "daily_2026-07-03.xml").read_bytes()
        self.status = 200
        self.hang = asyncio.Event()
        self.hanging = False
        self.requests = 0
        self.runner: web.AppRunner | None = None
        self.base = ""

    async def daily(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.hanging:
            await self.hang.wait()
        return web.Response(
            body=self.body, status=self.status, content_type="text/xml", charset="windows-1251"
        )

    async def json(self, request: web.Request) -> web.Response:
        return web.Response(
            text='{"result": {"USD": {"KGS": "87.50"}}}', content_type="application/json"
        )


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    s = Server()
    app = web.Application()
    app.router.add_get("/XML/daily.xml", s.daily)
    app.router.add_get("/rates.json", s.json)
    s.runner = web.AppRunner(app)
    await s.runner.setup()
    await web.TCPSite(s.runner, "127.0.0.1", 0).start()
    s.base = f"http://127.0.0.1:{s.runner.addresses[0][1]}"
    yield s
    s.hang.set()
    await s.runner.cleanup()


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


async def test_nbkr_outage_keeps_the_last_rate_goes_stale_and_stops_signals(server: Server) -> None:
    est = FairEstimator(KGST, [SourceSpec("nbkr", max_age_ns=15 * MIN)])
    metrics = Metrics()
    metrics.init_peg("binance", "KGST/USDT", est.source_names)
    # 12:00 Bishkek on 03.07.2026, the day the fixture's rate is in force.
    clock = Clock(int(dt.datetime(2026, 7, 3, 6, 0, tzinfo=dt.UTC).timestamp()) * NS)
    async with aiohttp.ClientSession() as session:
        src = NbkrSource(session, url=server.base + "/XML/daily.xml", timeout_s=0.3)
        poller = RatePoller(src, est, interval_s=300, clock=clock, backoff_base_s=5,
                            backoff_max_s=60, metrics=metrics)  # fmt: skip
        obs = await poller.poll_once()
        assert obs is not None and obs.rate == Fraction(8745, 100)
        fv = est.evaluate(clock.now)
        assert fv.state is FairState.OK and fv.ticks == 1144
        export_fair(metrics, "binance", "KGST/USDT", fv)
        sample = metrics.registry.get_sample_value
        assert sample(
            "pegbot_fair_value_quote", {"venue": "binance", "symbol": "KGST/USDT"}
        ) == pytest.approx(1 / 87.45)
        assert (
            sample("pegbot_reference_last_update_timestamp_seconds", {"source": "nbkr"})
            == clock.now / NS
        )
        assert poller.next_delay_s() == 300

        server.body = (DATA / "malformed_truncated.xml").read_bytes()
        clock.now += 5 * MIN
        assert await poller.poll_once() is None
        assert poller.last_error is not None and poller.last_error.reason == "parse"
        assert [poller.next_delay_s()] == [5]
        server.body, server.status = b"busy", 503
        clock.now += 5 * MIN
        assert await poller.poll_once() is None and poller.last_error.reason == "http"
        assert poller.next_delay_s() == 10
        server.status, server.hanging = 200, True
        clock.now += 5 * MIN
        assert await poller.poll_once() is None and poller.last_error.reason == "timeout"
        assert poller.next_delay_s() == 20
        assert sample("pegbot_reference_errors_total", {"source": "nbkr", "reason": "parse"}) == 1
        assert sample("pegbot_reference_errors_total", {"source": "nbkr", "reason": "http"}) == 1
        assert sample("pegbot_reference_errors_total", {"source": "nbkr", "reason": "timeout"}) == 1
        assert est.errors("nbkr")[0] == 3

        clock.now += 1  # 15 min + 1 ns after the last good observation
        fv = est.evaluate(clock.now)
        assert fv.state is FairState.STALE and fv.price == Fraction(100, 8745)
        assert fv.age_ns == 15 * MIN + 1
        export_fair(metrics, "binance", "KGST/USDT", fv)
        assert (
            sample(
                "pegbot_fair_value_state",
                {"venue": "binance", "symbol": "KGST/USDT", "state": "stale"},
            )
            == 1
        )
        assert (
            sample(
                "pegbot_fair_value_state",
                {"venue": "binance", "symbol": "KGST/USDT", "state": "ok"},
            )
            == 0
        )
        assert (
            sample("pegbot_arb_signals_enabled", {"venue": "binance", "symbol": "KGST/USDT"}) == 0
        )

        # A dislocated book raises nothing while the fair value is stale; the status says why.
        signaler = ArbSignaler(KGST, ArbCosts(), ArbConfig(min_edge_bps=Decimal(0)))
        book = OrderBook()
        book.apply_snapshot([(1200, 10**11)], [(1201, 10**11)])
        assert signaler.evaluate(clock.now, book, fv) == []
        assert not signaler.status.enabled and signaler.status.reason == "fair value stale"

        server.hanging = False
        server.body = (DATA / "daily_2026-07-03.xml").read_bytes()
        assert await poller.poll_once() is not None and poller.failures == 0
        fv = est.evaluate(clock.now)
        assert fv.state is FairState.OK
        assert len(signaler.evaluate(clock.now, book, fv)) == 1 and signaler.status.enabled


async def test_backoff_is_capped(server: Server) -> None:
    est = FairEstimator(KGST, [SourceSpec("nbkr")])
    server.status = 500
    async with aiohttp.ClientSession() as session:
        src = NbkrSource(session, url=server.base + "/XML/daily.xml")
        poller = RatePoller(
            src, est, interval_s=300, clock=Clock(0), backoff_base_s=5, backoff_max_s=60
        )
        delays = []
        for _ in range(6):
            await poller.poll_once()
            delays.append(poller.next_delay_s())
    assert delays == [5, 10, 20, 40, 60, 60]
    assert server.requests == 6


async def test_run_loop_polls_until_stopped(server: Server) -> None:
    est = FairEstimator(KGST, [SourceSpec("nbkr"), SourceSpec("json")])
    async with aiohttp.ClientSession() as session:
        stop = asyncio.Event()
        pollers = [
            RatePoller(
                NbkrSource(session, url=server.base + "/XML/daily.xml"), est, interval_s=0.02
            ),
            RatePoller(
                HttpJsonSource(session, "json", server.base + "/rates.json", "result.USD.KGS"),
                est,
                interval_s=0.02,
            ),
        ]
        tasks = [asyncio.create_task(p.run(stop)) for p in pollers]
        await asyncio.sleep(0.15)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=2)
    assert server.requests >= 3
    # The real clock is past 03.07.2026, so NBKR's rate is in force: median of 87.45 and 87.50.
    fv = est.evaluate(time.time_ns())
    assert fv.state is FairState.OK and fv.usd_kgs == Fraction("87.475")
    assert fv.disagreement_bps == pytest.approx(0.05 / 87.475 * 1e4)


async def test_a_pending_jump_is_read_again_soon_and_confirmed_by_that_reading(
    server: Server,
) -> None:
    # NBKR steps 87.45 -> 95.00. The next reading is due in 300 s, but a jump waits for
    # confirmation: the poller asks again after jump_recheck_s, and that reading confirms it.
    est = FairEstimator(KGST, [SourceSpec("nbkr")])
    clock = Clock(int(dt.datetime(2026, 7, 3, 12, tzinfo=dt.UTC).timestamp()) * NS)
    async with aiohttp.ClientSession() as session:
        src = NbkrSource(session, url=server.base + "/XML/daily.xml")
        poller = RatePoller(src, est, interval_s=300, clock=clock, jump_recheck_s=2)
        await poller.poll_once()
        assert est.evaluate(clock.now).state is FairState.OK and poller.next_delay_s() == 300
        server.body = server.body.replace(b"87,4500", b"95,0000")
        clock.now += 300 * NS
        await poller.poll_once()
        assert poller.next_delay_s() == 2
        assert est.evaluate(clock.now).state is FairState.JUMP
        clock.now += 2 * NS
        await poller.poll_once()
        fv = est.evaluate(clock.now)
    assert fv.state is FairState.OK and fv.usd_kgs == Fraction(95)
    jump = est.jump
    assert jump is not None and jump.how == "next_reading"
    assert poller.next_delay_s() == 300

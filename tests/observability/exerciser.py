"""A pegbot process built from the real parts, for Prometheus to scrape in the PromQL tests.

Until ``pegbot demo --metrics-port`` runs the bot and the simulator together, this stands in
for it: the exchange simulator (order-flow crowd, :class:`SimMetrics` at its ``/metrics``),
the Binance feed keeping a book in sync with it over WebSocket, the peg's NBKR source polled
over HTTP from the simulator, the fair-value estimator and the arbitrage signaler with their
sinks, and a small quoting loop that places and cancels a bid and an ask around fair through
unmodified ccxt. Everything reports into one :class:`pegbot.metrics.Metrics` served on
127.0.0.1.

The desk runs as in the bot (:class:`pegbot.live.desk.DeskLoop` on a journal in a temporary
directory): the account's million KGST is above its rebalance band, so a rebalance is
proposed; the exerciser approves it as an operator would (``pegbot signals approve``, through
the journal), so the Desk row and the signal annotation have transitions to show. The ladder's
capacity is measured from the real balances and quotes, into the live scorecard too. The chain
watcher needs a JSON-RPC node (its own test runs one: tests/integration/test_desk_chain.py);
here the exerciser stands in for it, exporting a constant supply and fresh polls.

Prints one JSON line ``{"metrics_port": P, "sim_port": Q}`` once both listen, then runs until
SIGTERM/SIGINT (or ``--duration``), cancelling its orders on the way out.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import tempfile
import time
from decimal import Decimal
from fractions import Fraction
from typing import Any

import aiohttp

from pegbot.config import load_settings
from pegbot.desk import SignalDesk
from pegbot.execution.errors import VenueError, from_exception
from pegbot.execution.venue import Balance
from pegbot.feeds.binance import BinanceFeed
from pegbot.feeds.model import BookLost, BookUpdate, FeedConfig
from pegbot.journal import Journal
from pegbot.live.desk import DeskLoop
from pegbot.market import Market, Side
from pegbot.metrics import Metrics, start_metrics_server
from pegbot.peg.fair import FairEstimator, SourceSpec
from pegbot.peg.poll import RatePoller
from pegbot.peg.signals import ArbSignaler, SignalState
from pegbot.peg.sinks import SignalSinks, export_fair
from pegbot.peg.sources import NbkrSource
from pegbot.scorecard import (
    ObligationSettings,
    OrderKind,
    ScorecardSettings,
)
from pegbot.scorecard.live import LiveScorecard
from pegbot.sim.crowd import FlowSource
from pegbot.sim.metrics import SimMetrics
from pegbot.sim.server import SimServer
from pegbot.sim.testing import SimHandle, default_sim_config
from pegbot.strategy import DesiredQuotes, LiveOrder, Quote

VENUE, SYMBOL = "binance", "KGST/USDT"
# Feed losses -> the resync reasons of the metrics.
_LOST = {
    "gap": "gap",
    "disconnect": "reconnect",
    "crossed": "crossed",
    "bad_message": "bad_message",
}
MAX_BASE = Decimal(2_000_000)  # the "hard limit" shown as inventory_limit_ratio
QUOTE_OFFSET_TICKS = 2  # ~17 bps from fair: inside the 25 bps band
QUOTE_LOTS = 1000
# The account holds 1,000,000 KGST and 20,000 USDT: KGST is far above its band (a redemption).
DESK = {
    "rebalance": {
        "enabled": True,
        "kgst": {"min": 100_000, "target": 200_000, "max": 300_000},
        "usdt": {"min": 1_000, "target": 20_000, "max": 50_000_000},
    }
}
SUPPLY_KGST = 250_000_000.0  # the chain stand-in's constant totalSupply


class Exerciser:
    """The running parts and the quoting loop."""

    def __init__(self, metrics: Metrics, server: SimServer, market: Market) -> None:
        self.m = metrics
        self.server = server
        self.market = market
        # The live scorecard, fed as the runner will feed it (its metrics on the same registry),
        # against an agreement this loop meets: it requotes every half second, 1000 KGST a side.
        ob = ObligationSettings(max_spread_bps=50, min_depth_quote=5, min_uptime=0.5)
        self.card = LiveScorecard(
            market,
            VENUE,
            SYMBOL,
            ScorecardSettings(obligations=ob),
            metrics,
            window_s=60,
        )
        self.last_book_perf: float | None = None
        self.live: dict[str, tuple[Side, int, int]] = {}  # order id -> (side, ticks, units)
        self.seen_trades: set[str] = set()
        self.start_balance: tuple[Decimal, Decimal] | None = None
        self.balances: dict[str, Balance] = {}

    def desired(self, fair_ticks: float) -> DesiredQuotes:
        """The two quotes this loop wants around ``fair_ticks`` (the ladder whose capacity
        the desk measures)."""
        center = round(fair_ticks)
        return DesiredQuotes((
            Quote(Side.BUY, center - QUOTE_OFFSET_TICKS, QUOTE_LOTS, "b0"),
            Quote(Side.SELL, center + QUOTE_OFFSET_TICKS, QUOTE_LOTS, "a0"),
        ))  # fmt: skip

    def on_book(self, ev: BookUpdate | BookLost) -> None:
        if isinstance(ev, BookLost):
            self.m.book_resync(VENUE, SYMBOL, _LOST.get(ev.reason, "gap"))
        else:
            self.last_book_perf = time.perf_counter()

    async def place(self, client: Any, side: Side, ticks: int) -> None:
        units = self.market.lots_to_units(QUOTE_LOTS)
        t0 = time.perf_counter()
        if self.last_book_perf is not None:
            self.m.observe_tick_to_quote(VENUE, SYMBOL, t0 - self.last_book_perf)
        self.m.order_submitted(VENUE, SYMBOL, side)
        try:
            order = await client.create_order(
                SYMBOL,
                "limit",
                "buy" if side is Side.BUY else "sell",
                str(self.market.units_to_qty(units)),
                str(self.market.ticks_to_price(ticks)),
            )
        except Exception as exc:  # every venue failure is mapped to a bounded reason
            err = exc if isinstance(exc, VenueError) else from_exception(exc)
            self.m.order_rejected(VENUE, SYMBOL, err.reason)
            return
        self.m.observe_ack(VENUE, "submit", time.perf_counter() - t0)
        self.card.order(time.time_ns(), OrderKind.PLACED, side)
        if order.get("status") == "open":
            self.live[str(order["id"])] = (side, ticks, units)

    async def cancel_all(self, client: Any) -> None:
        for oid, (side, _, _) in list(self.live.items()):
            t0 = time.perf_counter()
            self.m.order_cancelled(VENUE, SYMBOL, side)
            try:
                await client.cancel_order(oid, SYMBOL)
                self.m.observe_ack(VENUE, "cancel", time.perf_counter() - t0)
                self.card.order(time.time_ns(), OrderKind.CANCELLED, side)
            except Exception as exc:
                err = exc if isinstance(exc, VenueError) else from_exception(exc)
                self.m.order_rejected(VENUE, SYMBOL, err.reason)
            del self.live[oid]

    async def account(self, client: Any, fair: Fraction | None) -> None:
        trades = await client.fetch_my_trades(SYMBOL)
        fees = Decimal(0)
        for t in trades:
            fees += Decimal(str((t.get("fee") or {}).get("cost") or 0))
            if t["id"] in self.seen_trades:
                continue
            self.seen_trades.add(t["id"])
            side = Side.BUY if t["side"] == "buy" else Side.SELL
            liquidity = "maker" if t.get("takerOrMaker") == "maker" else "taker"
            self.m.fill(VENUE, SYMBOL, side, liquidity, float(t["cost"]))
            m = self.market
            ticks = m.price_to_ticks(Decimal(str(t["price"])))
            units = m.qty_to_units(Decimal(str(t["amount"])))
            self.card.fill(time.time_ns(), side, ticks, units, liquidity == "maker")
        bal = await client.fetch_balance()
        base = Decimal(str(bal["total"].get("KGST", 0)))
        quote = Decimal(str(bal["total"].get("USDT", 0)))
        self.balances = {
            asset: Balance(
                asset,
                Decimal(str(bal["free"].get(asset, 0))),
                Decimal(str(bal["used"].get(asset, 0))),
            )
            for asset in ("KGST", "USDT")
        }
        if self.start_balance is None:
            self.start_balance = (base, quote)
        self.m.set_inventory(VENUE, SYMBOL, float(base), float(min(base / MAX_BASE, Decimal(1))))
        if fair is not None:
            b0, q0 = self.start_balance
            equity = float((base - b0) * Decimal(fair.numerator) / fair.denominator + quote - q0)
            self.m.set_pnl(VENUE, SYMBOL, {"unrealized": equity, "fees": float(fees)})


def stand_in_for_the_chain_watcher(metrics: Metrics, now_ns: int) -> None:
    """What a watcher with nothing new on chain exports each poll."""
    metrics.chain_enabled.set(1)
    metrics.chain_supply.set(SUPPLY_KGST)
    metrics.chain_wallet_balance.labels(wallet="desk").set(5_000.0)
    metrics.chain_block.set(now_ns // 3_000_000_000)  # a block every 3 s, like BSC's
    metrics.chain_polled.set(now_ns / 1e9)


def approve_proposals(desk: SignalDesk) -> None:
    """Approve every proposal as an operator would (the bot applies it at its next poll)."""
    for record in desk.store.records([SignalState.PROPOSED.value]):
        if not any(a.status == "pending" for a in desk.store.actions(record["id"])):
            with contextlib.suppress(ValueError):  # expired meanwhile: nothing to approve
                desk.decide(record["id"], "approve", "exerciser")


async def run(duration: float | None, speed: float) -> None:
    with tempfile.TemporaryDirectory(prefix="pegbot-exerciser-") as tmp:
        await _run(duration, speed, tmp)


async def _run(duration: float | None, speed: float, tmp: str) -> None:
    metrics = Metrics()
    metrics.add_process_collectors()
    metrics.set_build_info("paper")
    metrics.init_bot([VENUE], [SYMBOL])
    metrics.init_peg(VENUE, SYMBOL, ["nbkr"])
    metrics.init_desk([VENUE], wallets=["desk"])
    http_metrics = start_metrics_server(metrics.registry, port=0)
    config = default_sim_config()
    server = SimServer(config, market=FlowSource(config.flow, "KGSTUSDT", speed))
    SimMetrics().attach(server)
    await server.start()
    print(json.dumps({"metrics_port": http_metrics.port, "sim_port": server.port}), flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if duration:
        loop.call_later(duration, stop.set)

    market = Market.kgst_usdt()
    ex = Exerciser(metrics, server, market)
    estimator = FairEstimator(market, [SourceSpec("nbkr")])
    signaler = ArbSignaler(market, venue=VENUE, metrics=metrics)
    settings = load_settings(None, environ={}, desk=DESK, journal={"path": f"{tmp}/j.sqlite"})
    journal = Journal(settings.journal.path)
    sinks = SignalSinks(market, journal, metrics=metrics)
    desk = DeskLoop(
        settings, journal, sinks, {VENUE: signaler}, metrics, time.time_ns, lambda: None
    )
    operator = SignalDesk(journal)
    feed = BinanceFeed(
        FeedConfig(symbol=SYMBOL, ws_url=server.ws_url, rest_url=server.http_url),
        market,
        on_book=ex.on_book,
    )
    handle = SimHandle(server)
    client = handle.client()
    async with aiohttp.ClientSession() as http:
        poller = RatePoller(
            NbkrSource(http, url=f"{server.http_url}/XML/daily.xml"),
            estimator,
            interval_s=5.0,
            metrics=metrics,
        )
        tasks = [asyncio.create_task(feed.run()), asyncio.create_task(poller.run(stop))]
        metrics.set_state("quoting")
        metrics.set_kill_switch(VENUE, False)
        metrics.set_rate_limit(VENUE, 0.0)
        step = 0
        try:
            while not stop.is_set():
                now = time.time_ns()
                fair = estimator.evaluate(now)
                export_fair(metrics, VENUE, SYMBOL, fair)
                connected = feed.counters.connects > feed.counters.disconnects
                metrics.set_ws_connected(VENUE, "depth", connected)
                metrics.set_ws_connected(VENUE, "trades", connected)
                fair_ticks = float(fair.price / Fraction(market.tick_size)) if fair.price else None
                if feed.synced:
                    metrics.observe_book(
                        VENUE, SYMBOL, feed.book, market, fair_ticks, now,
                        confirmed_ns=feed.counters.confirmed_ns,
                    )  # fmt: skip
                    sinks.publish(signaler.evaluate(now, feed.book, fair))
                desired = ex.desired(fair_ticks) if fair_ticks is not None else None
                if desired is not None and step % 2 == 0:
                    await ex.cancel_all(client)
                    for q in desired.quotes:
                        await ex.place(client, q.side, q.price_ticks)
                metrics.observe_quotes(VENUE, SYMBOL, ex.live.values(), market, fair_ticks)
                orders = [
                    LiveOrder(oid, "L0", side, ticks, market.units_to_lots(units))
                    for oid, (side, ticks, units) in ex.live.items()
                ]
                ex.card.observe(now, feed.book if feed.synced else None, orders, fair.price)
                if step % 4 == 0:
                    await ex.account(client, fair.price)
                    desk.balances_refreshed(VENUE, market, ex.balances, fair, now)
                    desk.observe_capacity(VENUE, market, desired, ex.balances, now, ex.card)
                    approve_proposals(operator)
                    stand_in_for_the_chain_watcher(metrics, now)
                desk.poll(time.time_ns())
                metrics.set_risk(VENUE, SYMBOL, "normal" if fair.tradable else "freeze")
                metrics.heartbeat(time.time_ns())
                step += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.25)
        finally:
            metrics.set_state("stopping")
            with contextlib.suppress(Exception):
                await ex.cancel_all(client)
            feed.stop()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await handle.close_clients()
            await server.stop()
            http_metrics.close()
            journal.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=None, help="Stop after this many s.")
    parser.add_argument("--speed", type=float, default=5.0, help="Crowd speed (market s/s).")
    args = parser.parse_args()
    asyncio.run(run(args.duration, args.speed))


if __name__ == "__main__":
    main()

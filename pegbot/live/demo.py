"""``pegbot demo``: the simulator, the bot and the metrics endpoint in one process.

The simulator (KGST/USDT with its order-flow crowd, NBKR's ``daily.xml`` fixture) listens on
127.0.0.1; the bot quotes ``peg_ladder`` on it through unmodified ccxt with the simulator's
documented demo account; the fair value comes from the NBKR fixture over HTTP. The status
(fair, mid, deviation, our quotes, inventory, PnL, risk) is drawn live on a terminal (stderr),
or written as one line every two seconds otherwise. At the end — ``--duration`` or Ctrl-C — the
bot cancels everything, and the demo asks the exchange, with a fresh client, how many of our
orders are still open.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from pegbot.config import Settings, load_settings
from pegbot.journal import Journal
from pegbot.live.bot import Bot
from pegbot.live.runner import VenueRunner
from pegbot.live.wiring import make_venue
from pegbot.market import Side
from pegbot.metrics import Metrics, start_metrics_server
from pegbot.sim.client import make_pro_client
from pegbot.sim.config import DEMO_API_KEY, DEMO_API_SECRET, DEMO_BALANCES, SimConfig
from pegbot.sim.crowd import FlowSource
from pegbot.sim.flow import DepegShock
from pegbot.sim.metrics import SimMetrics
from pegbot.sim.server import SimServer
from pegbot.timeunits import NS_PER_S

__all__ = ["demo_settings", "run_demo", "status_snapshot"]

_STATUS_EVERY_S = 2.0


def demo_settings(http_url: str, ws_url: str, workdir: Path, metrics_port: int | None) -> Settings:
    """The demo's bot configuration: peg_ladder on the simulator, NBKR fair value."""
    return load_settings(
        None,
        environ={},
        mode="testnet",
        venues={
            "sim": {
                "rest_url": http_url,
                "ws_url": ws_url,
                "api_key": DEMO_API_KEY,
                "api_secret": DEMO_API_SECRET,
                "target_base": float(DEMO_BALANCES["KGST"]),
            }
        },
        strategy={
            "name": "peg_ladder",
            "params": {"levels": 3, "first_bps": 10, "step_bps": 10, "size_lots": 2000},
        },
        risk={"cooldown_s": 2.0, "book_stale_s": 30.0},
        peg={
            "sources": [
                {
                    "name": "nbkr",
                    "kind": "nbkr",
                    "url": f"{http_url}/XML/daily.xml",
                    "interval_s": 15,
                    "max_age_s": None,
                }
            ],
            # KGST/USDT's zero-fee promotion: a few bps of discount below fair is already a
            # buy-and-redeem edge, so the demo's depeg pushes raise signals to approve.
            "costs": {"exchange_fee_bps": 0},
            "signals": {"min_edge_bps": 3, "cooldown_s": 10},
        },
        journal={"path": str(workdir / "journal.sqlite")},
        metrics={"enabled": metrics_port is not None, "port": metrics_port or 0},
        loop={"interval_s": 0.5, "control_dir": str(workdir), "balance_refresh_s": 5.0},
    )


def status_snapshot(bot: Bot, start_equity: Fraction | None) -> dict[str, Any]:
    """What the status line shows, as plain data."""
    r: VenueRunner = bot.runners[0]
    market = r.market
    now = bot.clock()
    fair = bot.fair(now)
    fair_price = fair.price if fair is not None else None
    book = r.feed.book if r.feed is not None else None
    mid = book.mid_ticks() if book is not None else None
    mid_price = mid * float(market.tick_size) if mid is not None else None
    dev = (
        (mid_price - float(fair_price)) / float(fair_price) * 1e4
        if mid_price is not None and fair_price
        else None
    )
    bids = sorted((o.price_ticks, o.lots) for o in r.live.values() if o.side is Side.BUY)
    asks = sorted((o.price_ticks, o.lots) for o in r.live.values() if o.side is Side.SELL)
    inv = bot.inventory(market)
    equity = _equity(bot, fair_price)
    pnl = float(equity - start_equity) if equity is not None and start_equity is not None else None
    return {
        "fair": float(fair_price) if fair_price else None,
        "fair_state": fair.state.value if fair is not None else "none",
        "mid": mid_price,
        "deviation_bps": dev,
        "bids": [(market.format_price(p), lots) for p, lots in reversed(bids)],
        "asks": [(market.format_price(p), lots) for p, lots in asks],
        "inventory_base": market.format_qty(inv.base_units),
        "inventory_quote": market.format_qty(inv.quote_units),
        "pnl_at_fair": pnl,
        "risk": r.risk_state.level.label if r.risk_state is not None else "starting",
        "triggers": list(r.risk_state.reasons) if r.risk_state is not None else [],
        "quotes_placed": r.status.quotes_placed,
        "fills": r.status.fills,
        "signals": _signals(r),
    }


def _signals(r: VenueRunner) -> list[str]:
    # Live mint/redeem signals, newest first: "id kind state".
    if r.signaler is None:
        return []
    live = sorted(r.signaler.live(), key=lambda sig: sig.created_ns, reverse=True)
    return [f"{sig.id} {sig.kind.value} {sig.state.value}" for sig in live]


def _equity(bot: Bot, fair_price: Fraction | None) -> Fraction | None:
    if fair_price is None:
        return None
    m = bot.runners[0].market
    total = Fraction(0)
    for r in bot.runners:
        b = r.balances.get(m.base)
        q = r.balances.get(m.quote)
        total += Fraction(b.total if b else Decimal(0)) * fair_price
        total += Fraction(q.total if q else Decimal(0))
    return total


def _table(s: dict[str, Any]) -> Table:
    t = Table(title="pegbot demo — KGST/USDT on the local simulator", show_header=False)
    t.add_column("what", style="bold")
    t.add_column("value")

    def f(x: Any, fmt: str) -> str:
        return "—" if x is None else format(x, fmt)

    t.add_row("fair (NBKR)", f"{f(s['fair'], '.7f')}  [{s['fair_state']}]")
    t.add_row("mid", f(s["mid"], ".7f"))
    t.add_row("deviation", f"{f(s['deviation_bps'], '+.1f')} bps")
    t.add_row("our asks", "  ".join(f"{p}×{q}" for p, q in reversed(s["asks"])) or "—")
    t.add_row("our bids", "  ".join(f"{p}×{q}" for p, q in s["bids"]) or "—")
    t.add_row("inventory", f"{s['inventory_base']} KGST  {s['inventory_quote']} USDT")
    t.add_row("PnL at fair", f"{f(s['pnl_at_fair'], '+.4f')} USDT")
    t.add_row("risk", f"{s['risk']} {', '.join(s['triggers'])}")
    t.add_row("orders / fills", f"{s['quotes_placed']} / {s['fills']}")
    t.add_row("signals", "\n".join(s["signals"][:3]) or "—")
    return t


def _line(s: dict[str, Any]) -> str:
    bid = s["bids"][0][0] if s["bids"] else "-"
    ask = s["asks"][0][0] if s["asks"] else "-"
    dev = "-" if s["deviation_bps"] is None else f"{s['deviation_bps']:+.1f}"
    pnl = "-" if s["pnl_at_fair"] is None else f"{s['pnl_at_fair']:+.4f}"
    fair = "-" if s["fair"] is None else f"{s['fair']:.7f}"
    return (
        f"fair {fair} dev {dev}bps quotes {bid}/{ask} inv {s['inventory_base']} KGST "
        f"pnl {pnl} USDT risk {s['risk']} orders {s['quotes_placed']} fills {s['fills']} "
        f"signals {len(s['signals'])}{' newest ' + s['signals'][0] if s['signals'] else ''}"
    )


async def _show(bot: Bot, stop: asyncio.Event) -> None:
    await bot.started.wait()
    start_equity: Fraction | None = None
    console = Console(stderr=True)
    live = Live(console=console, auto_refresh=False) if console.is_terminal else None
    if live is not None:
        live.start()
    try:
        while not stop.is_set():
            fair = bot.fair(bot.clock())
            if start_equity is None and fair is not None:
                start_equity = _equity(bot, fair.price)
            snap = status_snapshot(bot, start_equity)
            if live is not None:
                live.update(_table(snap), refresh=True)
                delay = 0.25
            else:
                print(_line(snap), file=sys.stderr, flush=True)
                delay = _STATUS_EVERY_S
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
    finally:
        if live is not None:
            live.stop()


async def _open_pegbot_orders(http_url: str, ws_url: str) -> int:
    client = make_pro_client(http_url, ws_url, enableRateLimit=False)
    try:
        await client.load_markets()
        orders = await client.fetch_open_orders("KGST/USDT")
        return sum(1 for o in orders if str(o.get("clientOrderId", "")).startswith("pegbot-"))
    finally:
        await client.close()


async def _demo(duration: float | None, metrics_port: int | None, speed: float) -> dict[str, Any]:

    # A busier, thinner crowd than the calibrated quiet day, pushed off the peg and back
    # every 20 s (alternately 30 bps down and up), so that a short demo sees the market reach
    # our quotes (fills, inventory, skew and PnL move) and raises arbitrage signals.
    base = SimConfig()
    ns = NS_PER_S
    shocks = [
        DepegShock(
            at_ns=(3 + 20 * i) * ns,
            bps=-30.0 if i % 2 == 0 else 30.0,
            ramp_ns=3 * ns,
            hold_ns=8 * ns,
            revert_ns=3 * ns,
        )
        for i in range(60)
    ]
    flow = base.flow.model_copy(
        update={
            "rates": base.flow.rates.model_copy(update={"market_per_s": 1.0}),
            "sizes": base.flow.sizes.model_copy(
                update={"limit_median_lots": 4_000, "market_median_lots": 8_000}
            ),
            "scenarios": shocks,
        }
    )
    cfg = base.model_copy(update={"flow": flow})
    server = SimServer(cfg, "127.0.0.1", 0, market=FlowSource(cfg.flow, "KGSTUSDT", speed))
    metrics = Metrics()
    metrics.add_process_collectors()
    # One process, one /metrics: the simulator's pegbot_sim_* go on the bot's registry, so the
    # dashboard's Simulator row has data in the demo too. Attach before start (middlewares).
    SimMetrics(metrics.registry).attach(server)
    await server.start()
    mserver = None
    try:
        with tempfile.TemporaryDirectory(prefix="pegbot-demo-") as tmp:
            settings = demo_settings(server.http_url, server.ws_url, Path(tmp), metrics_port)
            if metrics_port is not None:
                mserver = start_metrics_server(metrics.registry, metrics_port, "127.0.0.1")
                print(f"metrics: {mserver.url}", file=sys.stderr, flush=True)
            journal_path = settings.journal.path
            print(
                f"signals: pegbot signals list --journal {journal_path}   "
                f"(then: pegbot signals approve ID --journal {journal_path})",
                file=sys.stderr,
                flush=True,
            )
            journal = Journal(settings.journal.path)
            bot = Bot(settings, make_venue, metrics=metrics, journal=journal)
            bot.handle_signals()

            async def on_started(b: Bot) -> None:
                if duration is not None:
                    await asyncio.sleep(duration)
                    b.stop()

            show = asyncio.create_task(_show(bot, bot.stop_event))
            try:
                summary = await bot.run(on_started=on_started)
            finally:
                bot.stop_event.set()
                await show
                journal.close()
        summary["open_orders_after_shutdown"] = await _open_pegbot_orders(
            server.http_url, server.ws_url
        )
        summary["simulator"] = server.http_url
        # The demo's one process runs the simulator, its crowd and the bot on one event loop:
        # their work sits inside every tick-to-quote measured here.
        summary["tick_to_quote_includes"] = (
            "the simulator and its crowd, sharing this process's event loop with the bot; "
            "the bot alone: benchmarks/bench_tick_to_quote.py (the simulator in its own process)"
        )
        if mserver is not None:
            summary["metrics_url"] = mserver.url
        return summary
    finally:
        if mserver is not None:
            mserver.close()
        await server.stop()


def run_demo(
    duration: float | None, metrics_port: int | None, as_json: bool, speed: float = 1.0
) -> dict[str, Any]:
    """Run the demo; returns the summary (quotes_placed, fills, final_state, open orders…)."""
    del as_json  # the caller prints; the status display goes to stderr either way
    return asyncio.run(_demo(duration, metrics_port, speed))

"""``pegbot replay``: watch a recorded order book replay live, with no internet and no keys.

It replays a bundled real Binance recording (NEXOUSDT spot, a thin one-tick-spread book, see
``pegbot/data/README.md``) through the same tape replay path the backtester uses, and shows
the live book: top levels, mid, microprice, spread, depth near the mid and the trades. On a
terminal it draws a live view; otherwise it prints one status line a second, so it is useful
in logs too.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from pegbot.book import ASK, BID, OrderBook
from pegbot.market import Market
from pegbot.tape.reader import Columns, TapeReader
from pegbot.tape.replay import BookReplayer
from pegbot.tape.schema import TRADE
from pegbot.timeunits import NS_PER_MS

DEMO_TAPE = "nexousdt_demo.parquet"
# How often the view refreshes, in wall-clock seconds.
FRAME_S = 0.1
DEPTH_BAND_BPS = 10


def bundled_tape() -> Path:
    """Path of the recording bundled with the package."""
    return Path(str(resources.files("pegbot.data").joinpath(DEMO_TAPE)))


@dataclass
class DemoStats:
    """What the replay saw; printed as the summary."""

    rows: int = 0
    level_updates: int = 0
    trades: int = 0
    trade_volume_units: int = 0
    crossed_frames: int = 0
    unsynced_frames: int = 0
    frames: int = 0
    spread_ticks: list[int] = field(default_factory=list)
    last_trade: tuple[int, int, int] | None = None  # (side, price ticks, qty units)


def _fmt_ts(ns: int) -> str:
    return (
        time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ns / 1e9))
        + f".{ns // NS_PER_MS % 1000:03d}Z"
    )


def _view(book: OrderBook, market: Market, stats: DemoStats, depth: int, synced: bool) -> Group:
    header = Text()
    header.append(f"{market.symbol} replay  ", style="bold")
    header.append(_fmt_ts(book.local_ts) + "  ")
    header.append(f"update {book.update_id}  ")
    header.append(
        "SYNCED" if synced else "UNKNOWN (waiting for snapshot)", style="green" if synced else "red"
    )
    lines = [header]
    mid = book.mid_ticks()
    if mid is not None:
        micro = book.microprice_ticks() or mid
        bid_base, _ = book.depth_within(BID, mid, DEPTH_BAND_BPS)
        ask_base, _ = book.depth_within(ASK, mid, DEPTH_BAND_BPS)
        lines.append(
            Text(
                f"mid {_price(market, mid)}  micro {_price(market, micro)}  "
                f"spread {book.spread_ticks()} ticks = {book.spread_bps():.1f} bps  "
                f"depth ±{DEPTH_BAND_BPS} bps: bid {market.format_qty(bid_base)} / "
                f"ask {market.format_qty(ask_base)} {market.base}"
            )
        )
    if stats.last_trade is not None:
        side, px, qty = stats.last_trade
        lines.append(
            Text(
                f"trades {stats.trades}  last {'BUY ' if side > 0 else 'SELL'} "
                f"{market.format_qty(qty)} @ {market.format_price(px)}"
            )
        )
    table = Table(show_header=True, header_style="bold", box=None, padding=(0, 2))
    table.add_column("bid qty", justify="right", style="green")
    table.add_column("bid", justify="right", style="green")
    table.add_column("ask", justify="left", style="red")
    table.add_column("ask qty", justify="left", style="red")
    bids, asks = book.top(BID, depth), book.top(ASK, depth)
    for i in range(depth):
        b = bids[i] if i < len(bids) else None
        a = asks[i] if i < len(asks) else None
        table.add_row(
            market.format_qty(b[1]) if b else "",
            _tick_price(market, b[0]) if b else "",
            _tick_price(market, a[0]) if a else "",
            market.format_qty(a[1]) if a else "",
        )
    return Group(*lines, table)


def _decimals(market: Market) -> int:
    exponent = market.tick_size.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _price(market: Market, ticks: float) -> str:
    # Mid and microprice fall between ticks; show one more decimal than the grid has.
    return f"{ticks * float(market.tick_size):.{_decimals(market) + 1}f}"


def _tick_price(market: Market, ticks: int) -> str:
    return f"{market.ticks_to_price(ticks):.{_decimals(market)}f}"


def _status_line(book: OrderBook, market: Market, stats: DemoStats) -> str:
    bb, ba = book.best_bid, book.best_ask
    bid = f"{market.format_qty(book.best_bid_qty)} @ {market.format_price(bb)}" if bb else "-"
    ask = f"{market.format_qty(book.best_ask_qty)} @ {market.format_price(ba)}" if ba else "-"
    return (
        f"{_fmt_ts(book.local_ts)} update={book.update_id} bid {bid} | ask {ask} "
        f"spread={book.spread_ticks()} ticks trades={stats.trades}"
    )


def _count_trades(cols: Columns, lo: int, hi: int, stats: DemoStats) -> None:
    kind = cols["kind"][lo:hi]
    idx = np.flatnonzero(kind == TRADE)
    if len(idx):
        stats.trades += len(idx)
        qty = cols["qty"][lo:hi][idx]
        stats.trade_volume_units += int(qty.sum())
        j = lo + int(idx[-1])
        stats.last_trade = (int(cols["side"][j]), int(cols["price"][j]), int(cols["qty"][j]))


def run_demo(
    tape: Path,
    speed: float,
    duration: float | None,
    depth: int,
    console: Console | None,
) -> tuple[DemoStats, OrderBook, Market]:
    """Replay ``tape`` at ``speed``× real time (``<= 0``: as fast as possible).

    Args:
        tape: The tape to replay.
        speed: Market seconds per wall second; 0 or less replays without waiting.
        duration: Stop after this many wall seconds (None: at the end of the tape).
        depth: Levels a side in the view.
        console: Draw a live view here; None prints one status line a second to stderr.

    Returns:
        What the replay saw, the final book and the tape's market.
    """
    reader = TapeReader(tape)
    market = reader.meta.market()
    cols = reader.read_all()
    local = cols["local_ts"]
    n = len(local)
    replayer = BookReplayer()
    stats = DemoStats(rows=n)
    if n == 0:
        return stats, replayer.book, market
    start_wall = time.monotonic()
    start_market = int(local[0])
    pos = 0
    last_line = 0.0
    live = Live(console=console, auto_refresh=False, transient=False) if console else None
    if live:
        live.start()
    try:
        while pos < n:
            elapsed = time.monotonic() - start_wall
            if duration is not None and elapsed >= duration:
                break
            if speed > 0:
                target = start_market + int(elapsed * speed * 1e9)
                stop = int(np.searchsorted(local, target, side="right"))
            else:
                stop = min(n, pos + 5_000)
            if stop > pos:
                replayer.apply(cols, pos, stop)
                _count_trades(cols, pos, stop, stats)
                pos = stop
            book = replayer.book
            stats.frames += 1
            if book.is_crossed:
                stats.crossed_frames += 1
            if not replayer.synced:
                stats.unsynced_frames += 1
            spread = book.spread_ticks()
            if spread is not None:
                stats.spread_ticks.append(spread)
            if live:
                live.update(_view(book, market, stats, depth, replayer.synced), refresh=True)
            elif speed > 0 and elapsed - last_line >= 1.0:
                last_line = elapsed
                print(_status_line(book, market, stats), file=sys.stderr, flush=True)
            if speed > 0 and pos < n:
                time.sleep(FRAME_S)
    finally:
        if live:
            live.stop()
    stats.level_updates = replayer.level_updates
    return stats, replayer.book, market


def register(app: typer.Typer) -> None:
    """Add ``pegbot replay``."""

    @app.command("replay")
    def replay_command(
        tape: Annotated[
            Path | None, typer.Option(help="Tape to replay (default: the bundled recording).")
        ] = None,
        speed: Annotated[
            float, typer.Option(help="Market seconds per wall second; 0 replays at full speed.")
        ] = 60.0,
        duration: Annotated[
            float | None, typer.Option(help="Stop after this many seconds.")
        ] = 30.0,
        depth: Annotated[int, typer.Option(min=1, max=50, help="Levels a side shown.")] = 10,
        as_json: Annotated[
            bool, typer.Option("--json", help="Print the summary as one JSON line.")
        ] = False,
    ) -> None:
        """Replay a recorded order book and show it live (no internet, no keys)."""
        path = tape or bundled_tape()
        if not path.exists():
            raise typer.BadParameter(f"no such tape: {path}", param_hint="--tape")
        console = Console() if sys.stdout.isatty() and not as_json else None
        stats, book, market = run_demo(path, speed, duration, depth, console)
        spreads = stats.spread_ticks
        summary = {
            "tape": str(path),
            "symbol": market.symbol,
            "rows": stats.rows,
            "level_updates": stats.level_updates,
            "trades": stats.trades,
            "trade_volume": market.format_qty(stats.trade_volume_units),
            "update_id": book.update_id,
            "local_ts": book.local_ts,
            "best_bid": market.format_price(book.best_bid) if book.best_bid else None,
            "best_ask": market.format_price(book.best_ask) if book.best_ask else None,
            "crossed_frames": stats.crossed_frames,
            "unsynced_frames": stats.unsynced_frames,
            "median_spread_ticks": int(np.median(spreads)) if spreads else None,
        }
        if as_json:
            print(json.dumps(summary))
        else:
            for key, value in summary.items():
                print(f"{key:>18}: {value}")

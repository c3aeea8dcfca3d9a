"""Commands of this room, registered on the ``pegbot`` app: ``pegbot record``."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from pegbot.feeds.binance import BINANCE_REST_URL, BINANCE_WS_URL, FeedConfig


def record_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory of the hourly gzip files.")],
    symbol: Annotated[str, typer.Option(help="Unified symbol, BASE/QUOTE.")] = "KGST/USDT",
    ws_url: Annotated[
        str, typer.Option(help="WebSocket base URL (combined streams).")
    ] = BINANCE_WS_URL,
    rest_url: Annotated[str, typer.Option(help="REST base URL for snapshots.")] = BINANCE_REST_URL,
    depth_limit: Annotated[
        int, typer.Option(min=1, max=5000, help="Levels of each REST snapshot.")
    ] = 1000,
    duration: Annotated[
        float | None, typer.Option(min=0, help="Stop after this many seconds (default: never).")
    ] = None,
    flush_interval: Annotated[
        float,
        typer.Option(
            min=0.01, max=1.0, help="Seconds between forced flushes (max loss on a crash)."
        ),
    ] = 0.5,
    metrics_port: Annotated[
        int, typer.Option(min=0, max=65535, help="Serve Prometheus metrics on 127.0.0.1:PORT.")
    ] = 0,
) -> None:
    """Record Binance depth and trade streams, and REST snapshots, as raw gzip lines.

    Writes lines of "<local_receive_ns> <message>" to OUT/<sym>_<YYYYMMDD>_<HH>.gz, one file
    per UTC hour. Prints a JSON summary on stdout when it stops.
    """
    from prometheus_client import CollectorRegistry, start_http_server

    from pegbot.feeds.binance import BinanceFeed
    from pegbot.feeds.metrics import FeedCollector
    from pegbot.feeds.recorder import RawRecorder, record

    if not logging.getLogger().handlers:
        logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
    config = FeedConfig(
        symbol=symbol, ws_url=ws_url, rest_url=rest_url or None, depth_limit=depth_limit
    )

    async def main() -> tuple[RawRecorder, BinanceFeed]:
        loop = asyncio.get_running_loop()

        def on_start(feed: BinanceFeed, recorder: RawRecorder) -> None:
            # SIGTERM (systemd stop) and Ctrl-C end the recording cleanly: the current file
            # gets its gzip trailer instead of a torn end.
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, feed.stop)
            if metrics_port:
                registry = CollectorRegistry()
                FeedCollector(feed, recorder=recorder).register(registry)
                # Loopback only: put a proxy or Prometheus agent in front to expose it.
                start_http_server(metrics_port, addr="127.0.0.1", registry=registry)

        return await record(
            config, out, duration=duration, flush_interval=flush_interval, feed_hook=on_start
        )

    recorder, feed = asyncio.run(main())
    summary = {
        "files": [str(p) for p in recorder.paths],
        "recorder": recorder.counters.as_dict(),
        "feed": feed.counters.as_dict(),
        "sync": feed.sync.counters.as_dict(),
    }
    typer.echo(json.dumps(summary))


def register(app: typer.Typer) -> None:
    """Add this room's commands to ``app``."""
    app.command("record")(record_command)

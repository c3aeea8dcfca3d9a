"""``pegbot sim``: run the Binance-compatible simulator on loopback.

Prints one JSON line with the URLs and the API key on stdout once it listens (so a script
can start it on port 0 and read where it is), logs on stderr, and stops cleanly on SIGINT
or SIGTERM. Without ``--api-key`` the documented demo key works:
``pegbot.sim.config.DEMO_API_KEY`` / ``DEMO_API_SECRET``.
"""

from __future__ import annotations

import asyncio
import json
import signal
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from pydantic import SecretStr, ValidationError

from pegbot.logging import event_log

from .config import DEMO_API_KEY, DEMO_BALANCES, AccountConfig, SimConfig
from .crowd import FlowSource
from .metrics import SimMetrics
from .replay import TapeSource
from .server import MarketSource, SimServer

log = event_log(__name__)


def build(
    config: SimConfig,
    market: str,
    speed: float,
    api_key: str | None,
    api_secret: str | None,
) -> tuple[SimConfig, MarketSource | None]:
    """Apply the command-line choices to ``config``; returns it and the market source."""
    source: MarketSource | None = None
    balances = dict(DEMO_BALANCES)
    symbols = config.symbols
    if market == "flow":
        source = FlowSource(config.flow, symbols[0].exchange_symbol, speed)
    elif market.startswith("tape:"):
        tape = TapeSource(Path(market[5:]), speed)
        spec = tape.symbol_config()
        if spec.exchange_symbol not in {s.exchange_symbol for s in symbols}:
            symbols = (spec, *symbols)
        balances[spec.base] = Decimal(1_000_000)
        balances.setdefault(spec.quote, Decimal(20_000))
        source = tape
    elif market != "none":
        raise typer.BadParameter("--market must be flow, none or tape:PATH")
    accounts = config.accounts
    if api_key:
        if not api_secret:
            raise typer.BadParameter("--api-secret is required with --api-key")
        accounts = (
            *(a for a in accounts if a.api_key != api_key),
            AccountConfig(api_key=api_key, api_secret=SecretStr(api_secret), balances=balances),
        )
    elif market.startswith("tape:"):
        accounts = tuple(
            a.model_copy(update={"balances": {**balances, **a.balances}}) for a in accounts
        )
    return config.model_copy(update={"symbols": symbols, "accounts": accounts}), source


def sim_command(
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port; 0 picks a free one.")] = 8080,
    api_key: Annotated[
        str | None, typer.Option(envvar="PEGBOT_SIM_API_KEY", help="API key to accept.")
    ] = None,
    api_secret: Annotated[
        str | None,
        typer.Option(envvar="PEGBOT_SIM_API_SECRET", help="Its HMAC secret.", show_default=False),
    ] = None,
    market: Annotated[
        str, typer.Option(help="flow (order-flow crowd), none (users only) or tape:PATH.")
    ] = "flow",
    speed: Annotated[float, typer.Option(help="Market seconds per real second.")] = 1.0,
    config: Annotated[Path | None, typer.Option(help="Simulator TOML configuration.")] = None,
) -> None:
    """Run the Binance-compatible exchange simulator (REST, streams, WS API) on loopback.

    Without --api-key the documented demo key works (pegbot.sim.config.DEMO_API_KEY and
    DEMO_API_SECRET). Prints the URLs as one JSON line, then serves until SIGINT/SIGTERM.
    """
    try:
        base = SimConfig.load(config) if config else SimConfig()
        cfg, source = build(base, market, speed, api_key, api_secret)
    except (OSError, ValueError, ValidationError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if speed <= 0:
        raise typer.BadParameter("--speed must be positive")
    server = SimServer(cfg, host, port, market=source)
    SimMetrics().attach(server)  # pegbot_sim_* at /metrics
    asyncio.run(_serve(server, api_key or DEMO_API_KEY))


async def _serve(server: SimServer, api_key: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    info = {
        "rest": f"{server.http_url}/api/v3",
        "ws": f"{server.ws_url}/ws",
        "ws_api": f"{server.ws_url}/ws-api/v3",
        "nbkr": f"{server.http_url}/XML/daily.xml",
        "admin": f"{server.http_url}/admin",
        "metrics": f"{server.http_url}/metrics",
        "api_key": api_key,
        "symbols": sorted(server.exchange.symbols),
    }
    print(json.dumps(info), flush=True)
    log.info("sim_listening", "simulator listening on %s", server.http_url, url=server.http_url)
    try:
        await stop.wait()
    finally:
        await server.stop()


def register(app: typer.Typer) -> None:
    """Add ``pegbot sim`` to ``app``."""
    app.command("sim")(sim_command)

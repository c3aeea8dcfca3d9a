"""Commands of the live bot: ``pegbot run``, ``kill``, ``resume``, ``demo`` (and ``replay``).

Commands stay thin: they build settings, call :mod:`pegbot.live.bot`, and print results on stdout.
Exit codes: 0 OK, 1 runtime error, 2 usage or configuration error (including live mode
without its acknowledgement).
"""

from __future__ import annotations

import asyncio
import getpass
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from pegbot.config import ConfigError, Settings, check_live_ack, load_settings
from pegbot.control import Control
from pegbot.logging import describe, event_log, setup_logging

log = event_log("pegbot.cli")

_CONFIG_HELP = "The bot's TOML configuration (PEGBOT_ variables override it)."


def _load(config: Path | None, **overrides: Any) -> Settings:
    try:
        return load_settings(config, **overrides)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _control_dir(config: Path | None, control_dir: Path | None) -> Path:
    if control_dir is not None:
        return control_dir
    return _load(config).loop.control_dir


def run_command(
    config: Annotated[Path, typer.Option("--config", "-c", help=_CONFIG_HELP)],
    mode: Annotated[
        str | None, typer.Option(help="dry-run, paper, testnet or live (overrides the file).")
    ] = None,
    live_ack: Annotated[
        bool,
        typer.Option(
            "--i-understand-this-is-live",
            help="Acknowledge that live mode trades real money (or PEGBOT_LIVE_ACK=1).",
        ),
    ] = False,
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: run until told).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Run the market-making bot until SIGTERM/SIGINT; cancels everything on the way out."""
    from pegbot.live.bot import Bot
    from pegbot.live.wiring import make_venue
    from pegbot.metrics import Metrics, start_metrics_server

    overrides: dict[str, Any] = {}
    if mode is not None:
        overrides["mode"] = mode
    settings = _load(config, **overrides)
    try:
        check_live_ack(settings, live_ack)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    setup_logging(settings.logging.format, settings.logging.level, context={"mode": settings.mode})
    log.info("config", "effective configuration", config=settings.redacted())
    metrics = Metrics()
    metrics.add_process_collectors()
    server = None
    if settings.metrics.enabled:
        server = start_metrics_server(
            metrics.registry, settings.metrics.port, settings.metrics.host
        )
        log.info("metrics_listening", "metrics at %s", server.url)

    async def main() -> dict[str, Any]:
        bot = Bot(settings, make_venue, metrics=metrics)
        bot.handle_signals()

        async def stop_later(b: Bot) -> None:
            if duration is not None:
                await asyncio.sleep(duration)
                b.stop()

        return await bot.run(on_started=stop_later)

    try:
        summary = asyncio.run(main())
    except Exception as exc:
        log.exception("bot_failed", "bot failed: %s", describe(exc))
        typer.echo(f"error: {describe(exc)}", err=True)
        raise typer.Exit(1) from exc
    finally:
        if server is not None:
            server.close()
    _print_summary(summary, as_json)
    if summary.get("open_orders_after_shutdown") or not summary.get("shutdown_complete", True):
        raise typer.Exit(1)


def _print_summary(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, default=str), flush=True)
        return
    for key, value in summary.items():
        print(f"{key:>28}: {value}")


def kill_command(
    config: Annotated[Path | None, typer.Option("--config", "-c", help=_CONFIG_HELP)] = None,
    control_dir: Annotated[
        Path | None, typer.Option(help="Control directory (default: loop.control_dir).")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why (logged and kept in the latch).")] = "operator",
) -> None:
    """Engage the kill switch: the bot cancels everything, confirms, and stays down."""
    ctl = Control(_control_dir(config, control_dir))
    ctl.request_kill(reason)
    typer.echo(json.dumps({"kill_requested": str(ctl.kill_path), "reason": reason}))


def resume_command(
    config: Annotated[Path | None, typer.Option("--config", "-c", help=_CONFIG_HELP)] = None,
    control_dir: Annotated[
        Path | None, typer.Option(help="Control directory (default: loop.control_dir).")
    ] = None,
) -> None:
    """Lift the kill switch: the bot leaves halt for freeze and quotes again after its cooldown."""
    ctl = Control(_control_dir(config, control_dir))
    ctl.request_resume()
    typer.echo(json.dumps({"resume_requested": str(ctl.resume_path)}))


def _fair_decision(decision: str, config: Path | None, control_dir: Path | None, by: str) -> None:
    ctl = Control(_control_dir(config, control_dir))
    path = ctl.request_fair_decision(decision, by)
    typer.echo(json.dumps({f"fair_{decision}_requested": str(path), "by": by}))


_BY_HELP = "Who decides (journaled and logged; default: the OS user)."


def fair_ack_command(
    config: Annotated[Path | None, typer.Option("--config", "-c", help=_CONFIG_HELP)] = None,
    control_dir: Annotated[
        Path | None, typer.Option(help="Control directory (default: loop.control_dir).")
    ] = None,
    by: Annotated[str | None, typer.Option(help=_BY_HELP)] = None,
) -> None:
    """Trust a jump of the fair value waiting for confirmation: the bot quotes at the new level."""
    _fair_decision("ack", config, control_dir, by or getpass.getuser())


def fair_reject_command(
    config: Annotated[Path | None, typer.Option("--config", "-c", help=_CONFIG_HELP)] = None,
    control_dir: Annotated[
        Path | None, typer.Option(help="Control directory (default: loop.control_dir).")
    ] = None,
    by: Annotated[str | None, typer.Option(help=_BY_HELP)] = None,
) -> None:
    """Set a jump of the fair value aside as a bad print: the previous rate stands."""
    _fair_decision("reject", config, control_dir, by or getpass.getuser())


fair_app = typer.Typer(
    name="fair",
    help="The operator's word on a jump of the fair value (quotes stay pulled until then).",
    no_args_is_help=True,
)
fair_app.command("ack")(fair_ack_command)
fair_app.command("reject")(fair_reject_command)


def demo_command(
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds, cancel all, summarise.")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve /metrics on 127.0.0.1 at this port (0: any free).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Last stdout line: the summary as one JSON object.")
    ] = False,
    speed: Annotated[float, typer.Option(help="Simulated market seconds per second.")] = 1.0,
) -> None:
    """Run the bot (peg_ladder through ccxt) against an in-process simulator, with live status.

    No internet and no keys: the simulator (KGST/USDT, an order-flow crowd, the NBKR rate
    fixture) listens on 127.0.0.1, the bot trades on it with the simulator's demo account.
    """
    from pegbot.live.demo import run_demo

    summary = run_demo(duration, metrics_port, as_json, speed)
    _print_summary(summary, as_json)
    if summary.get("open_orders_after_shutdown"):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``run``, ``demo``, ``kill``, ``resume`` and ``fair ack|reject``."""
    app.command("run")(run_command)
    app.command("demo")(demo_command)
    app.command("kill")(kill_command)
    app.command("resume")(resume_command)
    app.add_typer(fair_app, name="fair")


__all__ = ["register"]

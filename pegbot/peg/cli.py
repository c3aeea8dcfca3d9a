"""The ``pegbot signals`` command group and its ``scan`` (the signaler over a recorded tape).

``pegbot signals`` is a group: ``scan TAPE`` runs the arbitrage signaler over a recording;
the desk (:mod:`pegbot.desk.cli`) adds the operator commands on the journal (``list``,
``show``, ``approve``…). The old form ``pegbot signals TAPE`` is refused as an unknown
command (exit 2); the group's help names ``scan``.

Results go to stdout (one JSON object with ``--json``), errors to stderr: exit 1 for bad
input files, 2 for usage and configuration errors.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Annotated

import typer
from pydantic import ValidationError

from pegbot.peg.config import PegSettings
from pegbot.peg.replay import FairFileError, read_fair_file, run_signals
from pegbot.peg.signals import SignalEvent
from pegbot.peg.sinks import SignalSinks, open_jsonl
from pegbot.tape.reader import TapeReader


def signals_command(
    tape: Annotated[Path, typer.Argument(help="A recorded tape (.parquet).")],
    fair: Annotated[
        str | None, typer.Option("--fair", help="Fixed fair price in the quote currency.")
    ] = None,
    fair_file: Annotated[
        Path | None,
        typer.Option("--fair-file", help="CSV rate series: ts, and fair or usd_kgs."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML with [costs], [signals], [fair].")
    ] = None,
    jsonl: Annotated[
        Path | None, typer.Option("--jsonl", help="Also append every signal event here.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Run the mint/redeem arbitrage signaler over a recorded tape."""
    if (fair is None) == (fair_file is None):
        raise typer.BadParameter("give exactly one of --fair and --fair-file")
    try:
        settings = PegSettings.from_toml(config) if config else PegSettings()
    except ValidationError as exc:
        typer.echo(f"error: {config}: {exc}", err=True)
        raise typer.Exit(2) from exc
    except (OSError, ValueError) as exc:
        typer.echo(f"error: {config}: {exc}", err=True)
        raise typer.Exit(2) from exc
    price: Decimal | None = None
    if fair is not None:
        try:
            price = Decimal(fair)
        except InvalidOperation as exc:
            raise typer.BadParameter(f"--fair {fair!r} is not a number") from exc
        if not price.is_finite() or price <= 0:
            raise typer.BadParameter("--fair must be a positive number")
    try:
        series = read_fair_file(fair_file) if fair_file is not None else None
        max_age = settings.fair.max_age_s
        sink_file = open_jsonl(jsonl) if jsonl is not None else None
        try:
            run = run_signals(
                tape,
                settings.costs.build(),
                settings.signals.build(),
                fair_price=price,
                fair_series=series,
                fair_config=settings.fair.build(),
                fair_max_age_ns=None if max_age is None else int(max_age * 1e9),
                publish=None if sink_file is None else _sinks(tape, sink_file),
            )
        finally:
            if sink_file is not None:
                sink_file.close()
    except (OSError, ValueError, FairFileError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    result = run.to_json()
    if as_json:
        sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
        return
    summary = result["summary"]
    typer.echo(
        f"{summary['count']} signals ({summary['by_kind']}), size {summary['size']}, "
        f"expected profit {summary['expected_profit']} {summary['quote']}"
    )
    for sig in result["signals"]:
        typer.echo(
            f"  {sig['id']}  {sig['state']:<8} size {sig['size']:>12} vwap {sig['vwap']} "
            f"net {sig['net_edge_bps']} bps"
        )


def _sinks(tape: Path, fh: IO[str]) -> Callable[[list[SignalEvent]], None]:
    market = TapeReader(tape).meta.market()
    return SignalSinks(market, jsonl=fh).publish


#: ``pegbot signals …``: ``scan`` here, the operator commands from :mod:`pegbot.desk.cli`.
signals_app = typer.Typer(
    name="signals",
    help="Mint/redeem signals: scan a tape; list, approve and follow the desk's signals. "
    "Over a recorded tape: pegbot signals scan TAPE (formerly pegbot signals TAPE).",
    no_args_is_help=True,
)
signals_app.command("scan")(signals_command)


def register(app: typer.Typer) -> None:
    """Add this room's commands to ``app``."""
    app.add_typer(signals_app, name="signals")

"""Commands of this room: ``pegbot convert``, ``pegbot tape info``, ``pegbot tape book``.

Commands stay thin: they build a :class:`~pegbot.market.Market` from the options and call
the converters. Results go to stdout (JSON with ``--json``), errors to stderr with exit 1,
usage errors exit 2.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from pegbot.market import Market, MarketError
from pegbot.progress import progress_bar


class FromFormat(StrEnum):
    """Input formats of ``pegbot convert --from``."""

    binance_raw = "binance-raw"
    tardis = "tardis"
    hftbacktest_npz = "hftbacktest-npz"


class ToFormat(StrEnum):
    """Output formats of ``pegbot convert --to``."""

    hftbacktest_npz = "hftbacktest-npz"


def _market(symbol: str | None, tick: str | None, lot: str | None, qty_decimals: int) -> Market:
    if not symbol or not tick or not lot:
        raise typer.BadParameter("--symbol, --tick-size and --lot-size are required with --from")
    base, _, quote = symbol.partition("/")
    try:
        return Market(
            symbol=symbol,
            base=base,
            quote=quote,
            tick_size=Decimal(tick),
            lot_size=Decimal(lot),
            qty_decimals=qty_decimals,
        )
    except (MarketError, ArithmeticError) as exc:
        raise typer.BadParameter(str(exc)) from exc


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


def convert_command(
    inputs: Annotated[list[Path], typer.Argument(help="Input files, in time order.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output tape (.parquet) or .npz.")],
    from_: Annotated[
        FromFormat | None, typer.Option("--from", help="Convert these inputs to a tape.")
    ] = None,
    to: Annotated[ToFormat | None, typer.Option("--to", help="Convert a tape to this.")] = None,
    symbol: Annotated[str | None, typer.Option(help="Unified symbol, BASE/QUOTE.")] = None,
    tick_size: Annotated[str | None, typer.Option(help="Price tick, e.g. 0.00001.")] = None,
    lot_size: Annotated[str | None, typer.Option(help="Order size step, e.g. 1.")] = None,
    qty_decimals: Annotated[
        int, typer.Option(min=0, max=18, help="Decimals of stored quantities.")
    ] = 8,
    futures: Annotated[
        bool | None,
        typer.Option("--futures/--spot", help="Sync rules for binance-raw (default: detect)."),
    ] = None,
    no_progress: Annotated[
        bool, typer.Option("--no-progress", help="No progress bar on stderr (none off a terminal).")
    ] = False,
) -> None:
    """Convert recordings to a tape (--from) or a tape to another format (--to).

    Prints the conversion's counts as JSON on stdout.
    """
    from pegbot.tape.binance import ConvertError, convert_binance_raw
    from pegbot.tape.hftbacktest import NpzError, npz_to_tape, tape_to_npz
    from pegbot.tape.tardis import TardisError, convert_tardis

    if (from_ is None) == (to is None):
        raise typer.BadParameter("give exactly one of --from and --to")
    for path in inputs:
        if not path.is_file():
            raise typer.BadParameter(f"no such file: {path}")
    result: dict[str, Any]
    try:
        if to is not None:
            if len(inputs) != 1:
                raise typer.BadParameter("--to takes exactly one tape")
            events = tape_to_npz(inputs[0], out)
            result = {"out": str(out), "events": events}
        else:
            market = _market(symbol, tick_size, lot_size, qty_decimals)
            what = f"convert {inputs[0].name}" + (f" +{len(inputs) - 1}" if len(inputs) > 1 else "")
            with progress_bar(what, enabled=not no_progress, unit="bytes") as update:
                if from_ is FromFormat.binance_raw:
                    meta = convert_binance_raw(
                        inputs, out, market, futures=futures, progress=update
                    )
                elif from_ is FromFormat.tardis:
                    meta = convert_tardis(list(inputs), out, market, progress=update)
                else:
                    meta = npz_to_tape(list(inputs), out, market, progress=update)
            result = {"out": str(out), **meta.stats}
    except (ConvertError, TardisError, NpzError, MarketError, OSError) as exc:
        raise _fail(exc) from exc
    typer.echo(json.dumps(result, sort_keys=True))


# Plain-text help like the root app (pegbot.cli): no Rich markup to eat brackets.
tape_app = typer.Typer(
    help="Inspect tapes (recorded books).", no_args_is_help=True, rich_markup_mode=None
)


@tape_app.command("info")
def info_command(
    tape: Annotated[Path, typer.Argument(help="A tape (.parquet).")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Rows by kind, time span, grid, gaps, skipped lines by reason and feed latency."""
    from pegbot.tape.summary import tape_info

    try:
        info = tape_info(tape)
    except (OSError, ValueError) as exc:
        raise _fail(exc) from exc
    if as_json:
        typer.echo(json.dumps(info, sort_keys=True))
        return
    info.pop("stats")
    for key, value in info.items():
        if isinstance(value, dict):
            shown = {k: v for k, v in value.items() if v} if key == "skipped" else value
            value = json.dumps(shown, sort_keys=True)
        sys.stdout.write(f"{key:22} {value}\n")


@tape_app.command("book")
def book_command(
    tape: Annotated[Path, typer.Argument(help="A tape (.parquet).")],
    at: Annotated[int, typer.Option("--at", help="Local time, ns UTC: rows up to it apply.")],
    depth: Annotated[int, typer.Option(min=1, help="Levels per side.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """The book after every row with local_ts <= AT."""
    from pegbot.tape.summary import book_at

    try:
        book = book_at(tape, at, depth)
    except (OSError, ValueError) as exc:
        raise _fail(exc) from exc
    if as_json:
        typer.echo(json.dumps(book))
        return
    sys.stdout.write(f"update_id {book['update_id']}  synced {book['synced']}\n")
    for (bp, bq), (ap, aq) in zip(book["bids"], book["asks"], strict=False):
        sys.stdout.write(f"{bq:>18} {bp:>14} | {ap:<14} {aq:<18}\n")


def register(app: typer.Typer) -> None:
    """Add this room's commands to ``app``: ``convert``, ``tape`` and the ``replay`` viewer."""
    from pegbot.tape import viewer  # rich and the live view only when the CLI is built

    app.command("convert")(convert_command)
    app.add_typer(tape_app, name="tape")
    viewer.register(app)

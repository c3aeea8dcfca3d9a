"""This room's commands: ``pegbot backtest``, ``report``, ``sweep`` and ``native``.

Commands stay thin: they load the scenario, run the library code and print. Results go to
stdout (with ``--json`` the last line is one JSON object), progress to stderr
(:mod:`pegbot.progress`: a rich bar only on a terminal, never with ``--json``), errors to
stderr with exit 1; a bad scenario or override exits 2.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from pegbot.backtest.engine import BacktestError
from pegbot.backtest.scenario import ScenarioError, build_backtest, load_scenario
from pegbot.progress import progress_bar, wanted

NO_PROGRESS_HELP = "No progress bar on stderr (there is none with --json or off a terminal)."


def _json_line(obj: dict[str, Any]) -> None:
    typer.echo(json.dumps(obj, default=str, separators=(",", ":")))


def backtest_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML (backtests/*.toml).")],
    tape: Annotated[Path | None, typer.Option("--tape", help="Tape to replay instead.")] = None,
    strategy: Annotated[
        str | None, typer.Option("--strategy", help="Strategy module or file instead.")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override key=value (dotted path).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Results directory.")] = None,
    no_save: Annotated[bool, typer.Option("--no-save", help="Do not write results.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help=NO_PROGRESS_HELP)] = False,
) -> None:
    """Replay a tape through the strategy, risk and reconciler; write tables and a summary."""
    from pegbot.backtest import results
    from pegbot.strategy import StrategyError

    try:
        sc, where = load_scenario(scenario, set_ or [])
    except ScenarioError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        show = wanted(no_progress=no_progress, as_json=as_json)
        with progress_bar(f"backtest {sc.name}", enabled=show) as update:
            bt = build_backtest(sc, where, tape=tape, strategy=strategy, progress=update)
            run = bt.run()
    except (ScenarioError, StrategyError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except (BacktestError, OSError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    t0 = time.perf_counter()
    t = results.tables(run)
    summary = results.summarize(run, t)
    # The replay's wall_s is not all a quant waits for: the tables and the scorecard follow.
    summary["summary_s"] = round(time.perf_counter() - t0, 4)
    summary["scenario"] = sc.name
    summary["tape"] = str(bt.reader.path)
    if not no_save:
        dest = results.save(out or Path(sc.output), t, summary, sc.model_dump(mode="json"))
        summary["results"] = str(dest)
    if as_json:
        _json_line(summary)
        return
    for key in (
        "events",
        "wall_s",
        "events_per_s",
        "core_s",
        "decision_us",
        "summary_s",
        "fills",
        "volume_base",
        "pnl_quote",
        "fees_quote",
        "two_sided_uptime",
        "reconciled",
        "results",
    ):
        typer.echo(f"{key:18s} {summary.get(key)}")


def report_command(
    results_dir: Annotated[Path, typer.Argument(help="A results directory (or a sweep's).")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="HTML file to write.")] = None,
) -> None:
    """Write one self-contained HTML report of a backtest or a sweep."""
    from pegbot.backtest.report import write_report

    try:
        path = write_report(results_dir, out)
    except (OSError, ValueError, KeyError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(str(path))


def sweep_command(
    spec: Annotated[Path, typer.Argument(help="Sweep spec TOML (backtests/*sweep*.toml).")],
    workers: Annotated[int, typer.Option("--workers", "-j", help="Processes.")] = 2,
    dask: Annotated[
        str | None, typer.Option("--dask", help="Run on a Dask cluster at ADDRESS.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Results directory.")] = None,
    tape: Annotated[Path | None, typer.Option("--tape", help="Tape instead of the spec's.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the table as JSON.")] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help=NO_PROGRESS_HELP)] = False,
) -> None:
    """Run a scenario over a parameter grid (or optuna trials) on an executor."""
    from pegbot.backtest.sweep import SweepError, load_spec, run_sweep

    try:
        sw = load_spec(spec)
        if tape is not None:
            sw = dataclasses.replace(sw, tape=tape)
    except SweepError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        show = wanted(no_progress=no_progress, as_json=as_json)
        with progress_bar(f"sweep {spec.name}", enabled=show) as update:
            table, dest = run_sweep(sw, workers=workers, dask=dask, out=out, progress=update)
    except (SweepError, ScenarioError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except (BacktestError, OSError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        _json_line({"results": str(dest), "runs": table.to_dict(orient="records")})
    else:
        typer.echo(table.to_string(index=False))
        typer.echo(str(dest))
    failed = int(table["error"].notna().sum()) if "error" in table else 0
    if failed:
        # The other points are in the table; the failed ones carry their error.
        for err in table["error"].dropna().unique()[:5]:
            typer.echo(f"error: {err}", err=True)
        typer.echo(
            f"error: {failed} of {len(table)} points failed (see the error column)", err=True
        )
        raise typer.Exit(1)


def native_command(
    build: Annotated[
        bool, typer.Option("--build", help="Compile the decision path and scorecard first.")
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Build directory (default: build/native).")
    ] = None,
) -> None:
    """Build the decision path and scorecard with mypyc; say if this process runs them."""
    from pegbot import native

    if build:
        where = out or native.build_dir()
        native.build(where)
        env = "" if where == native.build_dir() else f" PEGBOT_NATIVE_DIR={where}"
        typer.echo(
            f"built {len(native.MODULES)} modules into {where}; "
            f"a process started with PEGBOT_NATIVE=1{env} runs them"
        )
    typer.echo(f"this process: {native.status()} ({native.build_dir()})")


def register(app: typer.Typer) -> None:
    """Add this room's commands to the ``pegbot`` app."""
    app.command("backtest")(backtest_command)
    app.command("report")(report_command)
    app.command("sweep")(sweep_command)
    app.command("native")(native_command)

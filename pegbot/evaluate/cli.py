"""``pegbot evaluate SCENARIO``: run the bot against a market scenario and score it.

Thin: load the scenario, call :func:`pegbot.evaluate.evaluation.evaluate`, print. Results go
to stdout (``--json``: one JSON object on the last line), progress to stderr (a bar only on a
terminal, never with ``--json``). Exit codes: 0 every target met, 1 a target failed or the
bot did not stop cleanly, 2 a bad scenario or option.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from pegbot.progress import progress_bar, wanted

from .scenario import ScenarioError, load_scenario

__all__ = ["evaluate_command", "register", "resolve_scenario"]

#: Where the shipped scenarios live (a source checkout's ``scenarios/``).
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def resolve_scenario(name: str) -> Path:
    """A scenario file: a path as given, else ``scenarios/<name>.toml`` of the checkout."""
    p = Path(name)
    if p.exists() or p.suffix == ".toml":
        return p
    return SCENARIOS / f"{name}.toml"


def evaluate_command(
    scenario: Annotated[
        str, typer.Argument(help="Scenario TOML, or the name of one in scenarios/.")
    ],
    no_bot: Annotated[
        bool, typer.Option("--no-bot", help="Run the market alone (no targets checked).")
    ] = False,
    baseline: Annotated[
        bool, typer.Option("--baseline", help="Also run it without the bot, to compare.")
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder (default out/evaluate/NAME).")
    ] = None,
    bot_config: Annotated[
        Path | None, typer.Option(help="The bot's configuration (default examples/sim.toml).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar.")] = False,
) -> None:
    """Run the simulator with a crowd scenario and the bot (pegbot run), and score the peg.

    The bot runs as a separate pegbot run process with the shipped example configuration
    pointed at the simulator; the exchange's own record is scored. Writes an HTML page with
    charts and the scorecard; exits 1 when a target of the scenario fails.
    """
    from .botconfig import EXAMPLE
    from .evaluation import evaluate

    try:
        sc = load_scenario(resolve_scenario(scenario))
    except ScenarioError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    example = bot_config or EXAMPLE
    if not example.is_file():
        typer.echo(f"error: no bot configuration at {example}", err=True)
        raise typer.Exit(2)
    folder = out or Path("out") / "evaluate" / sc.name
    show = wanted(no_progress=no_progress, as_json=as_json)
    with progress_bar(f"evaluate {sc.name}", enabled=show) as update:

        def progress(name: str, done: float, total: float) -> None:
            if update is not None:
                update(int(done), int(total))

        ev = evaluate(
            sc, folder, with_bot=not no_bot, baseline=baseline, example=example, progress=progress
        )
    if as_json:
        typer.echo(json.dumps(ev.to_json(), default=str, separators=(",", ":")))
    else:
        _print(ev)
    if not ev.passed:
        raise typer.Exit(1)


def _print(ev: object) -> None:
    from .evaluation import Evaluation

    assert isinstance(ev, Evaluation)
    runs = [r for r in (ev.result, ev.baseline) if r is not None]
    for r in runs:
        typer.echo(f"-- {ev.scenario.name} {'with' if r.with_bot else 'without'} the bot")
        for key, value in r.card.figures().items():
            typer.echo(f"{key:>32}: {value}")
    for c in ev.checks:
        typer.echo(f"{'pass' if c.ok else 'FAIL'} {c.target}: {c.value} (limit {c.limit}) {c.note}")
    typer.echo(f"report: {ev.report}")


def register(app: typer.Typer) -> None:
    """Add ``pegbot evaluate``."""
    app.command("evaluate")(evaluate_command)

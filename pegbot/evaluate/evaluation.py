"""An evaluation: a scenario run with the bot (and, on request, without), checked and reported.

:func:`evaluate` is what ``pegbot evaluate`` calls: it runs the scenario with the bot, or
without it (``with_bot=False``), optionally also the baseline without the bot, checks the
targets of the run with the bot, writes the HTML page into the output folder and returns an
:class:`Evaluation`, whose :meth:`Evaluation.to_json` is the command's ``--json`` output.
Runs go one after another (never in parallel): two bots on one machine would measure each
other's CPU.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .botconfig import EXAMPLE
from .harness import RunResult, run_scenario
from .report import html_report
from .scenario import Scenario
from .targets import Check, check_targets

__all__ = ["Evaluation", "evaluate"]


@dataclass
class Evaluation:
    """The runs of one evaluation, the checks and where the page went."""

    scenario: Scenario
    result: RunResult | None
    baseline: RunResult | None
    checks: list[Check]
    report: Path

    @property
    def passed(self) -> bool:
        """Every target holds and the bot stopped cleanly (a run without the bot passes)."""
        if self.result is None:
            return True
        return all(c.ok for c in self.checks) and self.result.bot_exit == 0

    def to_json(self) -> dict[str, Any]:
        """Everything measured, JSON-ready."""
        return {
            "scenario": self.scenario.name,
            "passed": self.passed,
            "targets": [asdict(c) for c in self.checks],
            "run": _run_json(self.result),
            "baseline": _run_json(self.baseline),
            "report": str(self.report),
        }


def _run_json(r: RunResult | None) -> dict[str, Any] | None:
    if r is None:
        return None
    return {
        "with_bot": r.with_bot,
        "start_ns": r.start_ns,
        "end_ns": r.end_ns,
        "rate_poll_s": r.rate_poll_s,
        "rate_fetches": r.rate_fetches,
        "first_two_sided_s": r.first_two_sided_s,
        "bot_exit": r.bot_exit,
        "bot_summary": r.bot_summary,
        "workdir": str(r.workdir),
        "notes": r.notes,
        "scorecard": r.card.to_dict(),
    }


def evaluate(
    sc: Scenario,
    out: Path,
    *,
    with_bot: bool = True,
    baseline: bool = False,
    example: Path = EXAMPLE,
    progress: Callable[[str, float, float], None] | None = None,
) -> Evaluation:
    """Run ``sc`` (see the module docstring); files go under ``out``.

    Args:
        sc: The scenario.
        out: The output folder (``bot/``, ``baseline/`` and ``report.html`` inside).
        with_bot: Run it with the bot; False runs only the market.
        baseline: With the bot, also run it without, for the comparison.
        example: The bot's configuration (the shipped example).
        progress: Called with (run name, seconds measured, seconds in the span).
    """
    out.mkdir(parents=True, exist_ok=True)

    def step(name: str) -> Callable[[float, float], None] | None:
        if progress is None:
            return None
        return lambda done, total: progress(name, done, total)

    result = base = None
    if with_bot:
        result = asyncio.run(run_scenario(sc, out / "bot", example=example, progress=step("bot")))
    if baseline or not with_bot:
        base = asyncio.run(
            run_scenario(sc, out / "baseline", with_bot=False, progress=step("no bot"))
        )
    checks = check_targets(sc, result.card) if result is not None else []
    report = out / "report.html"
    report.write_text(html_report(result, checks, base), encoding="utf-8")
    return Evaluation(sc, result, base, checks, report)

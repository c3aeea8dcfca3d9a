"""Peg evaluations: every scenario of ``scenarios/``, N times, with the bot and without it.

Each run is ``pegbot evaluate SCENARIO --baseline --json`` (the real bot as a separate
``pegbot run`` process with the shipped example configuration, the simulator and its crowd,
the exchange's record scored), one after another: two bots on a 2-core machine would measure
each other. Prints one table row per scenario (the min..max over the N runs when N > 1) and
writes every run's JSON to ``--out``.

Usage: ``python benchmarks/bench_evaluate.py [--runs N] [--only NAME ...] [--out DIR]``

Columns: two-sided uptime; the longest run with a side empty; per FX jump the seconds from
the jump until the bot read the rate, pulled its wrong-side orders for good and requoted
around the new fair (``-``: not within the run); wrong-side fills; orders placed per fill;
p90 of the public mid's distance from fair with the bot and without it; the share of time
that mid spent within 50 bps of fair, with and without; targets met.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "scenarios"

COLUMNS = (
    ("scenario", 13),
    ("two-sided", 9),
    ("max gap s", 9),
    ("read s", 7),
    ("pull s", 7),
    ("requote s", 9),
    ("wrong fills", 11),
    ("orders/fill", 11),
    ("mid p90 bot", 11),
    ("no bot", 7),
    ("±50 bot", 7),
    ("no bot", 7),
    ("targets", 8),
)


def run_one(name: str, out: Path) -> dict[str, Any]:
    """One ``pegbot evaluate NAME --baseline --json``; its JSON (exit code added)."""
    scenario = str(SCENARIOS / f"{name}.toml")
    cmd = [sys.executable, "-m", "pegbot.cli", "evaluate", scenario, "--baseline", "--json"]
    cmd += ["--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"{name}: no JSON (exit {proc.returncode}): {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    result["exit"] = proc.returncode
    (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def _fmt(values: list[float | None], spec: str) -> str:
    got = [v for v in values if v is not None]
    if not got:
        return "-"
    lo, hi = min(got), max(got)
    text = format(lo, spec) if lo == hi else f"{lo:{spec}}..{hi:{spec}}"
    return text + ("*" if len(got) < len(values) else "")


def row(name: str, runs: list[dict[str, Any]]) -> list[str]:
    """The table row of one scenario over its runs (``*``: some runs had no value)."""
    cards = [r["run"]["scorecard"] for r in runs]
    bases = [r["baseline"]["scorecard"] for r in runs]
    jumps = [c["jumps"][0] if c["jumps"] else None for c in cards]

    def jump(key: str) -> list[float | None]:
        return [j[key] if j else None for j in jumps]

    passed = sum(bool(r["passed"]) for r in runs)
    return [
        name,
        _fmt([c["two_sided_uptime"] * 100 for c in cards], ".2f") + "%",
        _fmt([c["longest_one_sided_s"] for c in cards], ".2f"),
        _fmt(jump("learned_s"), ".0f") if any(jumps) else "",
        _fmt(jump("pull_s"), ".1f") if any(jumps) else "",
        _fmt(jump("requote_s"), ".1f") if any(jumps) else "",
        _fmt([sum(j["wrong_side_fills"] for j in c["jumps"]) for c in cards], ".0f"),
        _fmt([c["orders"]["placed_per_fill"] for c in cards], ".1f"),
        _fmt([c["mid"]["p90"] for c in cards], ".1f"),
        _fmt([b["mid"]["p90"] for b in bases], ".1f"),
        _fmt([c["mid"]["within"]["50bps"] * 100 for c in cards], ".0f") + "%",
        _fmt([b["mid"]["within"]["50bps"] * 100 for b in bases], ".0f") + "%",
        f"{passed}/{len(runs)}",
    ]


def table(rows: list[list[str]]) -> str:
    """A Markdown table of ``rows`` under :data:`COLUMNS`."""
    head = "| " + " | ".join(c for c, _ in COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in COLUMNS) + "|"
    return "\n".join([head, rule, *("| " + " | ".join(r) + " |" for r in rows)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1, help="runs per scenario")
    ap.add_argument("--only", nargs="*", help="scenario names (default: all)")
    ap.add_argument("--out", type=Path, default=REPO / "out" / "bench_evaluate")
    args = ap.parse_args(argv)
    names = args.only or sorted(p.stem for p in SCENARIOS.glob("*.toml"))
    rows = []
    for name in names:
        runs = []
        for i in range(args.runs):
            print(f"{name} run {i + 1}/{args.runs} ...", file=sys.stderr, flush=True)
            runs.append(run_one(name, args.out / name / str(i + 1)))
        rows.append(row(name, runs))
        print(table(rows[-1:]), file=sys.stderr, flush=True)
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``pegbot evaluate`` end to end: the real command, the simulator, a real ``pegbot run``.

Fast variants of the shipped steady and FX-step scenarios (seconds instead of minutes). They
check that every figure is computed and sane — spans, shares, times within their windows —
not that the bot meets the scenarios' targets (whether it does is what the benchmarks
measure; the targets' verdicts are only checked to be there).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pegbot.evaluate.botconfig import EXAMPLE, JOURNAL_FILE, dump_toml, read_example
from pegbot.execution.venue import Fill
from pegbot.journal import Journal
from pegbot.market import Side

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(120)


def fast(name: str, tmp_path: Path, duration_s: float, warmup_s: float, at_s: float) -> Path:
    """The shipped scenario ``name``, shortened: its events moved to ``at_s``."""
    with (REPO / "scenarios" / f"{name}.toml").open("rb") as fh:
        data = tomllib.load(fh)
    data.update(duration_s=duration_s, warmup_s=warmup_s)
    data.pop("run_past_rate_poll_s", None)
    for ev in data.get("events", []):
        ev["at_s"] = at_s
    path = tmp_path / f"{name}.toml"
    path.write_text(dump_toml(data))
    return path


def evaluate(*args: str, cwd: Path) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-m", "pegbot.cli", "evaluate", *args, "--json"],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=110,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert lines, proc.stdout + proc.stderr[-3000:]
    return proc.returncode, json.loads(lines[-1])


def sane(card: dict[str, Any], span_s: float) -> None:
    assert card["span_s"] == pytest.approx(span_s)
    assert 0 <= card["two_sided_uptime"] <= 1
    assert 0 <= card["longest_one_sided_s"] <= span_s
    assert all(0 <= v <= card["longest_one_sided_s"] for v in card["longest_empty_s"].values())
    ob = card["obligations"]
    assert ob["samples"] == round(span_s / ob["settings"]["sample_interval_s"])
    assert 0 <= ob["uptime"] <= min(ob["conditions"].values()) <= 1
    for view in ("mid", "mid_ex_ours"):
        assert 0 < card[view]["measured_s"] <= span_s  # the crowd's book had a mid
        assert all(0 <= v <= 1 for v in card[view]["within"].values())
        assert card[view]["p50"] <= card[view]["p90"] <= card[view]["p99"]


def _stale_journal(path: Path) -> None:
    # What an earlier evaluation in the same folder leaves: a journal with its fills.
    path.parent.mkdir(parents=True)
    journal = Journal(path)
    old = Fill(
        "sim", "KGST/USDT", "1", "old-run", "1", Side.BUY, 1140, 1, Decimal(0), "KGST", True, 1
    )
    journal.record_fill(old)
    journal.close()


def test_steady_fast_with_the_baseline(tmp_path: Path) -> None:
    scenario = fast("steady", tmp_path, duration_s=8, warmup_s=6, at_s=0)
    _stale_journal(tmp_path / "out" / "bot" / JOURNAL_FILE)
    code, out = evaluate(str(scenario), "--baseline", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert code in (0, 1)  # a verdict either way; 2 would be a refused scenario
    assert out["scenario"] == "steady" and isinstance(out["passed"], bool)
    assert {t["target"] for t in out["targets"]} >= {"min_two_sided", "max_side_empty_s"}
    run, base = out["run"], out["baseline"]
    assert run["with_bot"] and not base["with_bot"]
    assert run["bot_summary"] is not None  # the pegbot run process printed its summary
    assert run["rate_fetches"] >= 1  # it read NBKR's fixture at start
    card = run["scorecard"]
    sane(card, 8)
    assert run["first_two_sided_s"] is not None  # the observer saw the bot's orders
    assert card["spread_bps"]["p50"] is None or card["spread_bps"]["p50"] > 0
    sane(base["scorecard"], 8)
    # Without the bot nothing of ours ever rests.
    assert base["scorecard"]["two_sided_uptime"] == 0
    assert base["scorecard"]["orders"]["placed"] == 0
    assert base["rate_fetches"] == 0
    page = Path(out["report"]).read_text()
    assert 'id="chart-price"' in page and 'id="chart-deviation"' in page and "Targets" in page
    # A fresh simulator's trade ids start over: the bot started with a fresh journal, not the
    # last run's (whose fill "1" it would have taken this run's trade 1 for).
    journal = Journal(tmp_path / "out" / "bot" / JOURNAL_FILE)
    assert all(f.client_id != "old-run" for f in journal.fills())
    journal.close()


def test_fx_step_fast_times_the_jump(tmp_path: Path) -> None:
    # The shipped example with only its NBKR poll shortened (and the run's URLs): the bot
    # reads the new rate within the fast run, so the times after learning exist to check.
    example = read_example(EXAMPLE)
    for src in example["peg"]["sources"]:
        src["interval_s"] = 2
    bot = tmp_path / "bot-example.toml"
    bot.write_text(dump_toml(example))
    scenario = fast("fx_step_down", tmp_path, duration_s=12, warmup_s=6, at_s=3)
    args = [str(scenario), "--bot-config", str(bot), "--out", str(tmp_path / "out")]
    code, out = evaluate(*args, cwd=tmp_path)
    assert code in (0, 1)
    run = out["run"]
    assert run["rate_poll_s"] == 2
    card = run["scorecard"]
    sane(card, 12)
    (jump,) = card["jumps"]
    assert jump["bps"] == pytest.approx((87.45 / 74.3 - 1) * 1e4)
    assert jump["to_price"] == pytest.approx(1 / 74.3)
    assert jump["window_s"] == pytest.approx(9, abs=0.5)
    assert jump["learned_s"] is not None and 0 <= jump["learned_s"] <= 2 + 1
    for key in ("pull_s", "requote_s"):
        assert jump[key] is None or 0 <= jump[key] <= jump["window_s"]
    for key in ("pull_after_learn_s", "requote_after_learn_s"):
        assert jump[key] is None or 0 <= jump[key] <= jump["window_s"] - jump["learned_s"]
    assert 0 <= jump["wrong_side_s"] <= jump["window_s"]
    assert jump["wrong_side_fills"] >= 0 and jump["wrong_side_cost_quote"] >= 0
    targets = {t["target"]: t for t in out["targets"]}
    assert {"max_pull_after_learn_s[jump 1]", "max_requote_after_learn_s[jump 1]"} <= set(targets)
    # The behaviour, not just the figures: wrong side gone within 1 s of reading the rate,
    # both sides around the new fair once the next reading (2 s later) confirmed the step,
    # nothing filled on the wrong side after the bot knew.
    assert jump["pull_after_learn_s"] is not None and jump["pull_after_learn_s"] <= 1.0
    assert jump["requote_after_learn_s"] is not None and jump["requote_after_learn_s"] <= 5.0
    assert jump["wrong_side_fills_after_learn"] == 0
    assert code == 0, [t for t in out["targets"] if not t["ok"]]

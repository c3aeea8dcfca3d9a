"""Sweeps over a process pool, and the HTML reports of a backtest and of a sweep."""

from __future__ import annotations

import concurrent.futures as cf
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _backtest_helpers import walk_tape

from pegbot.backtest import results
from pegbot.backtest.report import utc_iso, write_report
from pegbot.backtest.scenario import build_backtest, load_scenario
from pegbot.backtest.sweep import SweepError, grid_points, load_spec, run_sweep

ROOT = Path(__file__).resolve().parents[3]


def _tape(tmp_path: Path) -> Path:
    return walk_tape(tmp_path / "kgst.parquet")


def _spec(tmp_path: Path, tape: Path, body: str) -> Path:
    spec = tmp_path / "sweep.toml"
    spec.write_text(
        f'scenario = "{ROOT / "backtests/hftbacktest_crosscheck.toml"}"\n'
        f'tape = "{tape}"\noutput = "{tmp_path / "out"}"\n' + body
    )
    return spec


def test_grid_sweep_on_a_process_pool_and_its_report(tmp_path: Path) -> None:
    tape = _tape(tmp_path)
    body = '[grid]\n"strategy.params.size_lots" = [10000, 50000]\n"latency.entry_ms" = [1, 30]\n'
    spec = load_spec(_spec(tmp_path, tape, body))
    assert len(grid_points(spec.grid)) == 4
    with cf.ProcessPoolExecutor(2) as ex:
        table, dest = run_sweep(spec, executor=ex)
    assert len(table) == 4 and set(table["strategy.params.size_lots"]) == {10000, 50000}
    assert (table["events"] == table["events"].iloc[0]).all()
    # Each point equals the same backtest run here, in this process.
    sc, where = load_scenario(
        spec.scenario, ["strategy.params.size_lots=50000", "latency.entry_ms=30"]
    )
    run = build_backtest(sc, where, tape=tape).run()
    mine = results.summarize(run, results.tables(run))
    row = table[(table["strategy.params.size_lots"] == 50000) & (table["latency.entry_ms"] == 30)]
    assert int(row["fills"].iloc[0]) == mine["fills"] > 0
    assert row["pnl_quote"].iloc[0] == pytest.approx(mine["pnl_quote"])
    meta = json.loads((dest / "sweep.json").read_text())
    assert meta["points"] == 4 and len(meta["tape_sha256"]) == 64
    html = write_report(dest).read_text()
    assert 'id="chart-sweep"' in html and "<th>strategy.params.size_lots</th>" in html


def test_backtest_report_is_self_contained(tmp_path: Path) -> None:
    tape = _tape(tmp_path)
    sc, where = load_scenario(ROOT / "backtests/hftbacktest_crosscheck.toml", [])
    run = build_backtest(sc, where, tape=tape).run()
    t = results.tables(run)
    summary = results.summarize(run, t)
    out = results.save(tmp_path / "res", t, summary)
    html = write_report(out).read_text()
    # Price, inventory, PnL and markouts, drawn by the plotly.js written into the page.
    assert html.count('class="plotly-graph-div"') == 4
    assert "<script src" not in html and "<link" not in html  # nothing fetched
    assert "pnl_quote" in html
    # Times as UTC ISO, never the raw nanoseconds.
    assert utc_iso(summary["start_ns"]) in html and str(summary["start_ns"]) not in html


def test_spec_errors(tmp_path: Path) -> None:
    with pytest.raises(SweepError, match="exactly one"):
        load_spec(_spec(tmp_path, tmp_path / "x.parquet", ""))
    with pytest.raises(SweepError, match="unknown keys"):
        load_spec(_spec(tmp_path, tmp_path / "x.parquet", 'colour = "red"\n[grid]\na = [1]\n'))


def test_fixed_fair_risk_signaler_and_a_book_strategy(tmp_path: Path) -> None:
    # peg_ladder reads the whole book (not only the best prices), risk is on and clamps to
    # a band around a fixed fair (1 / 87.45 USDT), and the signaler runs alongside.
    tape = _tape(tmp_path)
    overrides = ["strategy.name=peg_ladder", "strategy.params={}", "fair.source=fixed",
                 "fair.rate=87.45", "risk.enabled=true", "risk.params={band_bps=300}",
                 "signals.enabled=true", "account.quote=1000000"]  # fmt: skip
    sc, where = load_scenario(ROOT / "backtests/hftbacktest_crosscheck.toml", overrides)
    bt = build_backtest(sc, where, tape=tape)
    run = bt.run()
    s = results.summarize(run, results.tables(run))
    assert s["mark"] == "fixed fair" and s["reconciled"] is True
    assert s["mid_near_fair"]["100bps"] is not None
    assert run.evaluations > 500  # a book strategy is asked at every timer tick with news
    band_lo, band_hi = 1143.5 * 0.97, 1143.5 * 1.03
    for o in run.venue.records.orders:
        if o[0] == "sent":
            assert band_lo <= o[4] <= band_hi  # risk kept every quote inside the band


def test_fair_from_a_rate_series_file(tmp_path: Path) -> None:
    from fractions import Fraction

    from _backtest_helpers import T0, meta

    from pegbot.backtest.scenario import FairSpec, make_fair

    path = tmp_path / "rates.csv"
    path.write_text(f"ts,usd_kgs\n{T0 - 3_600_000_000_000},87.45\n{T0 + 30_000_000_000},87.0\n")
    market = meta().market()
    fair, fixed = make_fair(FairSpec(source="series", file=str(path)), market, tmp_path)
    assert fixed is None
    before = fair(T0, None)  # type: ignore[arg-type]
    after = fair(T0 + 31_000_000_000, None)  # type: ignore[arg-type]
    assert before is not None and after is not None
    assert before.price_ticks == Fraction(100_000) / Fraction("87.45")
    assert after.price_ticks == Fraction(100_000) / Fraction("87.0")


def test_interpolated_latency_from_a_file(tmp_path: Path) -> None:
    from pegbot.backtest.scenario import LatencySpec, ScenarioError, make_latency
    from pegbot.matching import InterpolatedLatency

    path = tmp_path / "lat.csv"
    path.write_text("request,exchange,response\n0,10,15\n100,130,140\n")
    lat = make_latency(LatencySpec(kind="interpolated", file="lat.csv"), tmp_path)
    assert isinstance(lat, InterpolatedLatency)
    assert lat.entry_ns(50) == 20  # halfway between 10 and 30
    assert lat.response_ns(10) == 5
    path.write_text("0,10,5\n")
    with pytest.raises(ValueError, match="request <= exchange <= response"):
        make_latency(LatencySpec(kind="interpolated", file=str(path)), tmp_path)
    with pytest.raises(ScenarioError, match=r"latency\.file"):
        make_latency(LatencySpec(kind="interpolated"), tmp_path)


def test_sweep_heatmap_bins_continuous_optuna_values() -> None:
    from pegbot.backtest.report_figures import sweep_figure

    rng = np.random.default_rng(1)
    df = pd.DataFrame({"a": rng.uniform(0, 1, 40), "b": rng.integers(1, 1000, 40)})
    df["pnl_quote"] = df["a"] * 10 - df["b"] / 100
    fig = sweep_figure(df, ["a", "b"], "pnl_quote")
    assert fig is not None
    heat = fig.data[0]
    rows, cols = np.shape(heat.z)
    assert rows <= 8 and cols <= 8  # an 8 x 8 grid at most, not 40 x 40 mostly empty cells
    assert np.nansum(np.asarray(heat.customdata, dtype=float)) == 40  # every run in a cell
    # The bins' intervals label the axes.
    assert all(str(v).startswith("(") for v in (*heat.x, *heat.y))


def test_a_series_scenario_run_carries_its_fair_steps(tmp_path: Path) -> None:
    # build_backtest hands the rate series to the run, so every caller's summary marks at it.
    tape = _tape(tmp_path)
    rates = tmp_path / "rates.csv"
    rates.write_text("ts,usd_kgs\n1735686000000000000,87.45\n1735689630000000000,87.0\n")
    overrides = ["fair.source=series", f"fair.file={rates.as_posix()}"]
    sc, where = load_scenario(ROOT / "backtests/hftbacktest_crosscheck.toml", overrides)
    run = build_backtest(sc, where, tape=tape).run()
    assert [t for t, _ in run.fair_series] == [1735686000000000000, 1735689630000000000]
    s = results.summarize(run, results.tables(run))
    assert s["mark"] == "series fair"

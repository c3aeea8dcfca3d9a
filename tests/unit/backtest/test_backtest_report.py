"""The report's pieces: times as UTC ISO, thinning that keeps spikes and gaps, the scorecard
hook, and a clear error for a directory that holds no results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from pegbot.backtest.report import backtest_html, fmt, runs_table, scorecard_section, utc_iso
from pegbot.backtest.report_figures import price_figure, thin
from pegbot.cli import app

T0 = 1_735_689_600_000_000_000  # 2025-01-01T00:00:00Z


def test_times_are_utc_iso_and_never_raw_ns() -> None:
    assert utc_iso(T0 + 1_500_000) == "2025-01-01T00:00:00.001Z"
    assert fmt("start_ns", T0) == "2025-01-01T00:00:00.000Z"
    assert fmt("latency_ns", 2_500_000_000) == "2.5 s"  # a duration, not a date in 1970
    assert fmt("pnl_quote", 1.23456789) == "1.23457"
    table = runs_table(pd.DataFrame({"end_ns": [T0], "fills": [3]}))
    assert "end (UTC)" in table and "2025-01-01T00:00:00.000Z" in table and str(T0) not in table


def test_thin_keeps_each_buckets_extremes_and_the_gaps() -> None:
    t = T0 + np.arange(100_000, dtype=np.int64) * 1_000_000
    y = np.sin(np.arange(100_000) / 5_000.0)
    y[12_345] = 40.0  # a one-row spike
    y[60_000:70_000] = np.nan  # a side with no order
    tt, yy = thin(t, y, 2_000)
    assert len(tt) <= 2_000 and 40.0 in yy and np.isfinite(yy).all()
    assert (np.diff(tt) > 0).all()
    tg, yg = thin(t, y, 2_000, keep_gaps=True)
    gap = tg[np.isnan(yg)]
    assert len(gap) and gap.min() >= t[60_000] and gap.max() < t[70_000]


def test_price_chart_has_a_utc_time_axis() -> None:
    ts = T0 + np.arange(10, dtype=np.int64) * 1_000_000_000
    bbo = pd.DataFrame({"ts_ns": ts, "best_bid": 1140, "best_ask": 1141, "mid": 0.011405})
    fig = price_figure({"bbo": bbo}, {"mark": "mid"})
    assert fig is not None
    x = pd.to_datetime(fig.data[0].x)
    assert x[0] == pd.Timestamp("2025-01-01 00:00:00") and x[-1] == pd.Timestamp(
        "2025-01-01 00:00:09"
    )
    assert fig.layout.xaxis.title.text == "time (UTC)" and fig.layout.xaxis.rangeslider.visible


def test_scorecard_section_only_when_the_results_carry_one() -> None:
    assert scorecard_section(None) == "" and scorecard_section({}) == ""
    figures = {"two_sided_uptime": 0.985, "mid_deviation_bps": {"p50": 3.5, "p99": 41.0}}
    section = scorecard_section(figures)
    assert "Peg scorecard" in section and "0.985" in section and "p99: 41" in section
    summary = {"fills": 0, "markouts": {}}
    assert "Peg scorecard" not in backtest_html({}, summary, "t")
    assert "Peg scorecard" in backtest_html({}, {**summary, "scorecard": figures}, "t")


def test_report_of_a_directory_without_results_is_a_clear_error(tmp_path: Path) -> None:
    out = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert out.exit_code == 1
    assert "not a backtest's results (summary.json) or a sweep's (sweep.parquet)" in out.output

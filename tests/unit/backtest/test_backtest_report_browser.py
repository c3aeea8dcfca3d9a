"""The reports open in a real headless Chromium, offline: every chart drawn, nothing logged.

A real backtest (peg_ladder at a fixed fair, risk and the signaler on) and a real 2 x 2 sweep
on a process pool write their reports; Chromium (Debian's ``chromium``, installed by ``make
system``) loads each page with every host name unresolvable, so a chart that needed a CDN
would stay empty. From the DOM after plotly ran (``--dump-dom``) every chart div must have
become a plot with its SVG, the time charts a range slider and date ticks; Chromium's log
(``--enable-logging=stderr``) must hold no console line at all (errors, uncaught exceptions,
warnings: a clean page prints nothing). The screenshots stay in ``tests/artifacts/``
(git-ignored) for a person to look at; their paths are printed.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from _backtest_helpers import walk_tape

from pegbot.backtest import results
from pegbot.backtest.report import write_report
from pegbot.backtest.scenario import build_backtest, load_scenario
from pegbot.backtest.sweep import load_spec, run_sweep

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = ROOT / "tests" / "artifacts"
SCENARIO = ROOT / "backtests" / "hftbacktest_crosscheck.toml"
PEG = ["strategy.name=peg_ladder", "strategy.params={}", "fair.source=fixed", "fair.rate=87.45",
       "risk.enabled=true", "risk.params={band_bps=300}", "signals.enabled=true",
       "account.quote=1000000"]  # fmt: skip
TIME_CHARTS = ("chart-price", "chart-inventory", "chart-pnl")

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: `make system` installs it for CI")
        pytest.skip("chromium not installed (apt-get install chromium)")
    return path


def open_page(chromium: str, page: Path, shot: Path, profile: Path) -> tuple[str, list[str]]:
    """Load ``page`` headless; the DOM after its scripts ran and Chromium's console lines."""
    cmd = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # offline: nothing may be fetched
        "--enable-logging=stderr", "--v=0",  # console messages as ...:CONSOLE:... lines
        "--hide-scrollbars", "--window-size=1280,2600",
        "--virtual-time-budget=20000",  # let plotly draw before the DOM is dumped
        f"--screenshot={shot}", "--dump-dom", page.as_uri(),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return done.stdout, console


def chart_ids(html: str) -> list[str]:
    """The chart divs a page asks plotly to draw."""
    return re.findall(r'<div id="(chart-[\w-]+)" class="plotly-graph-div"', html)


def drawn(dom: str, chart: str) -> str:
    """The DOM of one chart after plotly drew it ("" if it never became a plot)."""
    m = re.search(rf'<div id="{chart}" class="plotly-graph-div[^"]*js-plotly-plot[^"]*"', dom)
    if m is None:
        return ""
    end = dom.find('<div class="chart">', m.end())
    return dom[m.end() : end if end > 0 else len(dom)]


def _check(chromium: str, report: Path, name: str, tmp_path: Path, want: list[str]) -> str:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"report_{name}.png"
    shot.unlink(missing_ok=True)
    html = report.read_text(encoding="utf-8")
    assert chart_ids(html) == want
    dom, console = open_page(chromium, report, shot, tmp_path / f"profile-{name}")
    assert console == [], "the page logged to the console:\n" + "\n".join(console)
    for chart in want:
        svg = drawn(dom, chart)
        assert 'class="main-svg"' in svg, f"{chart} was not drawn"
    assert shot.stat().st_size > 30_000  # a drawn page, not a blank one
    print(f"\nscreenshot of the {name} report: {shot}")
    return dom


def test_backtest_report_in_chromium(chromium: str, tmp_path: Path) -> None:
    tape = walk_tape(tmp_path / "kgst.parquet", steps=3000)
    sc, where = load_scenario(SCENARIO, PEG)
    run = build_backtest(sc, where, tape=tape).run()
    t = results.tables(run)
    summary = results.summarize(run, t)
    assert summary["fills"] > 0 and summary["mark"] == "fixed fair"
    report = write_report(results.save(tmp_path / "res", t, summary))
    want = ["chart-price", "chart-inventory", "chart-pnl", "chart-markouts"]
    dom = _check(chromium, report, "backtest", tmp_path, want)
    for chart in TIME_CHARTS:
        svg = drawn(dom, chart)
        assert 'class="rangeslider-container"' in svg, chart
        assert "2025" in svg, f"{chart}: no date on the time axis"
    price = drawn(dom, "chart-price")
    for legend in ("market mid", "fair", "our best bid", "our best ask", "our buys", "our sells"):
        assert f">{legend}<" in price, legend
    # One marker a fill (with its size and liquidity for the hover), in the plot and again in
    # the range slider's miniature.
    assert price.count('class="point plotly-customdata"') == 2 * summary["fills"]


def test_sweep_report_in_chromium(chromium: str, tmp_path: Path) -> None:
    tape = walk_tape(tmp_path / "kgst.parquet")
    spec = tmp_path / "sweep.toml"
    spec.write_text(
        f'scenario = "{SCENARIO}"\ntape = "{tape}"\noutput = "{tmp_path / "out"}"\n'
        '[grid]\n"strategy.params.size_lots" = [10000, 50000]\n"latency.entry_ms" = [1, 30]\n'
    )
    with cf.ProcessPoolExecutor(2) as ex:
        _, dest = run_sweep(load_spec(spec), executor=ex)
    dom = _check(chromium, write_report(dest), "sweep", tmp_path, ["chart-sweep"])
    heat = drawn(dom, "chart-sweep")
    assert 'class="hm"' in heat or "heatmaplayer" in heat  # the heatmap's image
    assert dom.count("<tr>") >= 5  # the runs' table: a header and four runs

"""Progress bars: drawn on a terminal, quiet off one, with ``--json`` and with ``--no-progress``.

The commands run for real (convert on a recorded Binance file, a backtest and a two-point
sweep on a small tape); only the console the bar draws on is swapped for a buffer that says
it is a terminal, the way Rich's ``force_terminal`` does for a captured screen.
"""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import pegbot.progress
from pegbot.cli import app
from pegbot.progress import progress_bar, wanted
from pegbot.tape.reader import TapeReader
from tests.unit.backtest._backtest_helpers import walk_tape

ROOT = Path(__file__).resolve().parents[2]
RAW = ROOT / "tests/data/binance_raw/spot_btcusdt_20240808_L1-1500.gz"
SCENARIO = ROOT / "backtests/hftbacktest_crosscheck.toml"
runner = CliRunner()


def _terminal() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, force_terminal=True, width=100), buf


@pytest.fixture
def screen(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """What the commands' bars draw, on a console that is a terminal."""
    con, buf = _terminal()
    monkeypatch.setattr(pegbot.progress, "stderr_console", lambda: con)
    return buf


def _tape(tmp_path: Path) -> Path:
    return walk_tape(tmp_path / "t.parquet", steps=300, seed=3)


def test_wanted_only_without_json_and_no_progress() -> None:
    assert wanted(no_progress=False) and wanted(no_progress=False, as_json=False)
    assert not wanted(no_progress=True)
    assert not wanted(no_progress=False, as_json=True)


def test_a_bar_is_drawn_on_a_terminal_and_counts() -> None:
    con, buf = _terminal()
    with progress_bar("sweep demo", enabled=True, console=con) as update:
        assert update is not None
        for i in range(1, 4):
            update(i, 3)
    assert "sweep demo" in buf.getvalue() and "3/3" in buf.getvalue()


def test_no_bar_off_a_terminal_or_when_not_wanted() -> None:
    buf = io.StringIO()
    with progress_bar("x", enabled=True, console=Console(file=buf)) as update:
        assert update is None  # a file or a pipe is not a terminal
    con, tty = _terminal()
    with progress_bar("x", enabled=False, console=con) as update:
        assert update is None
    assert buf.getvalue() == "" and tty.getvalue() == ""


def test_convert_draws_bytes_read_and_keeps_stdout_json(
    tmp_path: Path, screen: io.StringIO
) -> None:
    args = ["convert", str(RAW), "--from", "binance-raw", "--symbol", "BTC/USDT",
            "--tick-size", "0.01", "--lot-size", "0.00001"]  # fmt: skip
    out = runner.invoke(app, [*args, "-o", str(tmp_path / "a.parquet")])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["rows"] > 0
    drawn = screen.getvalue()
    size_kb = RAW.stat().st_size / 1000
    assert "convert spot_btcusdt" in drawn and f"{size_kb:.1f}/{size_kb:.1f} kB" in drawn
    screen.truncate(0)
    out = runner.invoke(app, [*args, "-o", str(tmp_path / "b.parquet"), "--no-progress"])
    assert out.exit_code == 0, out.output
    assert screen.getvalue() == ""


def test_tardis_progress_ends_at_the_input_size(tmp_path: Path) -> None:
    from pegbot.market import Market
    from pegbot.tape.tardis import convert_tardis

    files = sorted((ROOT / "tests/data/tardis").glob("*.csv"))
    tick, lot = Decimal("0.00001"), Decimal("1")
    market = Market(symbol="KGST/USDT", base="KGST", quote="USDT", tick_size=tick, lot_size=lot)
    seen: list[tuple[int, int]] = []
    convert_tardis(list(files), tmp_path / "t.parquet", market, lambda d, t: seen.append((d, t)))
    total = sum(f.stat().st_size for f in files)
    assert seen and seen[-1] == (total, total)
    assert all(done <= t for done, t in seen)


def test_backtest_bar_only_without_json(tmp_path: Path, screen: io.StringIO) -> None:
    tape = _tape(tmp_path)
    base = ["backtest", str(SCENARIO), "--tape", str(tape), "--no-save"]
    out = runner.invoke(app, [*base, "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout.splitlines()[-1])["events"] > 0
    assert screen.getvalue() == ""
    out = runner.invoke(app, base)
    assert out.exit_code == 0, out.output
    rows = TapeReader(tape).num_rows
    assert "backtest hftbacktest_crosscheck" in screen.getvalue()
    assert f"{rows}/{rows}" in screen.getvalue()
    screen.truncate(0)
    assert runner.invoke(app, [*base, "--no-progress"]).exit_code == 0
    assert screen.getvalue() == ""


def test_sweep_bar_advances_on_completed_points(tmp_path: Path, screen: io.StringIO) -> None:
    tape = _tape(tmp_path)
    spec = tmp_path / "sweep.toml"
    spec.write_text(
        f'scenario = "{SCENARIO}"\ntape = "{tape}"\noutput = "{tmp_path / "out"}"\n'
        '[grid]\n"latency.entry_ms" = [1, 30]\n'
    )
    out = runner.invoke(app, ["sweep", str(spec), "-j", "1", "--json"])
    assert out.exit_code == 0, out.output
    assert len(json.loads(out.stdout.splitlines()[-1])["runs"]) == 2
    assert screen.getvalue() == ""
    out = runner.invoke(app, ["sweep", str(spec), "-j", "1"])
    assert out.exit_code == 0, out.output
    assert "sweep sweep.toml" in screen.getvalue()
    # The final count is drawn whatever the refresh timing (an intermediate 1/2 may not be).
    assert "2/2" in screen.getvalue()

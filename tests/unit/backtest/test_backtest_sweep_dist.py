"""Sweeps on a real Dask cluster (``pegbot sweep --dask``) and optuna studies in SQLite.

One ``distributed.LocalCluster`` per module (loopback only, no dashboard), the tiny tape of
the sweep tests, the cross-check market maker.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from test_backtest_sweep import _spec, _tape

from pegbot.backtest.report import write_report
from pegbot.backtest.sweep import SweepError, load_spec, run_point, run_sweep

ROOT = Path(__file__).resolve().parents[3]
PEGBOT = [sys.executable, "-m", "pegbot"]
# Figures that must agree point by point (wall time may not).
SAME = ["events", "fills", "volume_base", "pnl_quote", "pnl_realised_quote", "fees_quote",
        "fill_ratio", "two_sided_uptime", "rejects", "markout_1s_bps",
        "depth_10bps_base"]  # fmt: skip
GRID = '[grid]\n"strategy.params.size_lots" = [10000, 50000]\n"latency.entry_ms" = [1, 30]\n'
KEYS = ["strategy.params.size_lots", "latency.entry_ms"]

pytestmark = pytest.mark.dist
distributed = pytest.importorskip("distributed")
optuna = pytest.importorskip("optuna")


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    with distributed.LocalCluster(
        host="127.0.0.1", n_workers=2, processes=True, threads_per_worker=1,
        dashboard_address=None, worker_dashboard_address=None,
    ) as c:  # fmt: skip
        yield c.scheduler_address


def _cli(*args: str) -> tuple[int, dict[str, Any] | None, str]:
    done = subprocess.run(
        [*PEGBOT, "sweep", *args, "--json", "--no-progress"],
        capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
    )  # fmt: skip
    lines = done.stdout.strip().splitlines()
    return done.returncode, json.loads(lines[-1]) if lines else None, done.stderr


def _by_point(runs: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(runs).set_index(KEYS).sort_index()


def test_dask_sweep_equals_the_process_pool(cluster: str, tmp_path: Path) -> None:
    assert cluster.startswith("tcp://127.0.0.1:")
    spec = _spec(tmp_path, _tape(tmp_path), GRID)
    rc, dask_out, err = _cli(str(spec), "--dask", cluster, "-o", str(tmp_path / "dask"))
    assert rc == 0, err
    rc, pool_out, err = _cli(str(spec), "-j", "2", "-o", str(tmp_path / "pool"))
    assert rc == 0, err
    assert dask_out is not None and pool_out is not None
    d, p = _by_point(dask_out["runs"]), _by_point(pool_out["runs"])
    assert len(d) == 4 and list(d.index) == list(p.index)
    assert d["error"].isna().all() and (d["fills"] > 0).all()
    pd.testing.assert_frame_equal(d[SAME], p[SAME])
    assert (d["fills"].nunique(), d["pnl_quote"].nunique()) != (1, 1)  # the points differ
    meta = json.loads((tmp_path / "dask" / "sweep.json").read_text())
    assert meta["executor"] == f"dask {cluster}" and meta["failed"] == 0


def test_a_failing_point_on_dask_is_reported_and_the_rest_kept(
    cluster: str, tmp_path: Path
) -> None:
    body = '[grid]\n"strategy.params.size_lots" = [10000, -5, 50000]\n"latency.entry_ms" = [1]\n'
    spec = _spec(tmp_path, _tape(tmp_path), body)
    rc, out, err = _cli(str(spec), "--dask", cluster)
    assert rc == 1
    assert "1 of 3 points failed" in err and "size_lots" in err
    assert out is not None
    t = _by_point(out["runs"])
    bad = t.loc[(-5, 1)]
    assert "StrategyError" in bad["error"] and "size_lots" in bad["error"]
    assert pd.isna(bad["pnl_quote"])
    good = t.drop(index=(-5, 1))
    assert len(good) == 2 and good["error"].isna().all() and (good["fills"] > 0).all()
    # The saved table has all three rows too.
    saved = pd.read_parquet(tmp_path / "out" / "sweep.parquet")
    assert len(saved) == 3 and saved["error"].notna().sum() == 1


OPTUNA = """[optuna]
trials = {trials}
seed = 7
storage = "sqlite:///{db}"
study = "mm"
[optuna.params]
"strategy.params.size_lots" = {{ low = 5000, high = 100000, log = true, int = true }}
"latency.entry_ms" = {{ low = 1, high = 40, int = true }}
"""


def test_optuna_on_the_process_pool_in_sqlite_resumes(tmp_path: Path) -> None:
    db = tmp_path / "db" / "sweep.db"
    spec = load_spec(_spec(tmp_path, _tape(tmp_path), OPTUNA.format(trials=3, db=db)))
    storage = f"sqlite:///{db}"
    with cf.ProcessPoolExecutor(2) as ex:
        first, _ = run_sweep(spec, workers=2, executor=ex)
        study = optuna.load_study(study_name="mm", storage=storage)
        assert len(study.trials) == 3 and len(first) == 3
        # Rerun: the same study, three more trials (not a fresh start from trial 0).
        second, dest = run_sweep(spec, workers=2, executor=ex)
    study = optuna.load_study(study_name="mm", storage=storage)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(study.trials) == 6 and len(done) == 6
    assert sorted(second["trial"]) == list(range(6))
    assert set(first["param_hash"]) <= set(second["param_hash"])
    # Each trial's value is the figure of its own point (ask/tell paired right).
    by_trial = second.set_index("trial")
    for t in done:
        row = by_trial.loc[t.number]
        assert row["pnl_quote"] == t.value
        assert {k: row[k] for k in KEYS} == t.params
    best = second.iloc[0]
    assert best["pnl_quote"] == study.best_value
    assert by_trial.loc[study.best_trial.number, "pnl_quote"] == study.best_value
    # ... and recomputing the best point here gives the same figure.
    params = {k: int(best[k]) for k in KEYS}
    again = run_point(str(spec.scenario), params, str(spec.tape))
    assert again["pnl_quote"] == best["pnl_quote"]
    meta = json.loads((dest / "sweep.json").read_text())
    assert meta["optuna_study"] == "mm" and meta["points"] == 6
    html = write_report(dest).read_text()
    assert 'id="chart-sweep"' in html and "<th>strategy.params.size_lots</th>" in html


def test_optuna_on_dask_relative_storage(cluster: str, tmp_path: Path) -> None:
    # A relative sqlite path is relative to the spec file, not to the current directory.
    spec = _spec(tmp_path, _tape(tmp_path), OPTUNA.format(trials=2, db="rel/s.db"))
    table, _ = run_sweep(load_spec(spec), dask=cluster)
    assert (tmp_path / "rel" / "s.db").is_file()
    study = optuna.load_study(study_name="mm", storage=f"sqlite:///{tmp_path / 'rel/s.db'}")
    assert len(study.trials) == 2 and table["error"].isna().all()
    assert table.iloc[0]["pnl_quote"] == study.best_value


_NO_DIST = """
import sys
from pegbot.backtest.report import write_report
from pegbot.backtest.sweep import SweepError, load_spec, run_sweep
grid, opt = load_spec(sys.argv[1]), load_spec(sys.argv[2])
table, _ = run_sweep(grid, workers=1)
print(len(table), *(m in sys.modules for m in ("dask", "distributed", "optuna")))
sys.modules["optuna"] = None  # import optuna -> ImportError, as when it is not installed
sys.modules["distributed"] = None
for spec, kw in ((grid, {"dask": "tcp://127.0.0.1:1"}), (opt, {})):
    try:
        run_sweep(spec, workers=1, **kw)
    except SweepError as exc:
        print(exc)
"""


def test_without_the_dist_extra(tmp_path: Path) -> None:
    tape = _tape(tmp_path)
    grid = _spec(tmp_path, tape, '[grid]\n"latency.entry_ms" = [1]\n')
    grid = grid.rename(tmp_path / "grid.toml")
    opt = _spec(tmp_path, tape, OPTUNA.format(trials=1, db=tmp_path / "x.db"))
    done = subprocess.run([sys.executable, "-c", _NO_DIST, str(grid), str(opt)],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "1 False False False"  # a grid on the pool imports none of them
    assert lines[1] == "--dask needs the dist extra: pip install 'pegbot[dist]'"
    assert lines[2] == "an [optuna] sweep needs the dist extra: pip install 'pegbot[dist]'"


def test_optuna_spec_errors(tmp_path: Path) -> None:
    x = tmp_path / "x.parquet"
    with pytest.raises(SweepError, match="unknown optuna keys"):
        load_spec(_spec(tmp_path, x, "[optuna]\ntrails = 3\n[optuna.params]\na = {choices=[1]}\n"))
    with pytest.raises(SweepError, match="needs low and high"):
        load_spec(_spec(tmp_path, x, "[optuna]\n[optuna.params]\na = { low = 1 }\n"))

"""``pegbot sweep SPEC``: one scenario over a parameter grid (or optuna trials), in parallel.

Each point is a pure function of (scenario, overrides, tape): :func:`run_point` builds and
runs the backtest and returns its summary, so any :class:`concurrent.futures.Executor` can
run the points — a process pool by default (fastest on one machine, no dependency; see
``shared/notes/anchors.md`` §6), or a Dask cluster with ``--dask ADDRESS`` (``pip install
'pegbot[dist]'``; imported only then). Workers are single-threaded (``OMP_NUM_THREADS=1``).

Spec (TOML, paths relative to the spec file)::

    scenario = "hftbacktest_crosscheck.toml"
    tape = "../recordings/kgst.parquet"     # optional: overrides the scenario's tape
    objective = "pnl_quote"                 # a summary key
    direction = "maximize"
    output = "out/sweep_example"
    [grid]                                  # every combination
    "strategy.params.size_lots" = [10000, 50000]
    "latency.entry_ms" = [5, 10, 20]
    [optuna]                                # instead of [grid]: adaptive search
    trials = 40
    storage = "sqlite:///out/sweep.db"      # optuna RDB storage (resumable)
    [optuna.params]
    "strategy.params.size_lots" = { low = 1000, high = 100000, log = true, int = true }

Results: one row per point (the parameters, the headline summary figures, a parameter hash,
the git commit and the tape's SHA-256) in ``sweep.parquet``, and ``sweep.json``; ``pegbot
report`` draws the heatmap.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import itertools
import json
import os
import subprocess
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pegbot.backtest.scenario import build_backtest, load_scenario

#: Summary figures kept in the sweep table.
COLUMNS = (
    "events", "wall_s", "fills", "volume_base", "pnl_quote", "pnl_realised_quote", "fees_quote",
    "fill_ratio", "two_sided_uptime", "rejects",
)  # fmt: skip


class SweepError(ValueError):
    """The sweep spec is invalid (the message says which key)."""


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep spec (see the module docstring)."""

    scenario: Path
    tape: Path | None
    objective: str
    direction: str
    output: Path
    grid: dict[str, list[Any]] = field(default_factory=dict)
    optuna: dict[str, Any] = field(default_factory=dict)

    @property
    def params(self) -> list[str]:
        """The swept keys, in spec order."""
        return list(self.grid) if self.grid else list(self.optuna.get("params", {}))


def load_spec(path: str | Path) -> SweepSpec:
    """Read and check a sweep spec."""
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SweepError(f"{p}: {exc}") from exc
    known = {"scenario", "tape", "objective", "direction", "output", "grid", "optuna"}
    extra = set(raw) - known
    if extra:
        raise SweepError(f"{p}: unknown keys {sorted(extra)}")
    if "scenario" not in raw:
        raise SweepError(f"{p}: scenario is required")
    grid, opt = raw.get("grid", {}), raw.get("optuna", {})
    if bool(grid) == bool(opt):
        raise SweepError(f"{p}: give exactly one of [grid] and [optuna]")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise SweepError(f"{p}: grid.{key} must be a non-empty list")
    direction = raw.get("direction", "maximize")
    if direction not in ("maximize", "minimize"):
        raise SweepError(f"{p}: direction must be maximize or minimize")
    here = p.resolve().parent

    def rel(v: str) -> Path:
        q = Path(v)
        return q if q.is_absolute() else here / q

    return SweepSpec(
        scenario=rel(raw["scenario"]),
        tape=rel(raw["tape"]) if raw.get("tape") else None,
        objective=raw.get("objective", "pnl_quote"),
        direction=direction,
        output=rel(raw.get("output", "out/sweep")),
        grid=grid,
        optuna=opt,
    )


def grid_points(grid: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid, as ``{key: value}``."""
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


def run_point(scenario: str, params: dict[str, Any], tape: str | None) -> dict[str, Any]:
    """Run one point; returns the summary (a pure function of its arguments)."""
    from pegbot.backtest import results

    overrides = [f"{k}={json.dumps(v)}" for k, v in params.items()]
    sc, where = load_scenario(scenario, overrides)
    run = results.attach_fair(build_backtest(sc, where, tape=tape).run(), sc, where)
    return results.summarize(run, results.tables(run))


def _init_worker() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"


def _row(params: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    row = dict(params)
    row["param_hash"] = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    for key in COLUMNS:
        row[key] = summary.get(key)
    for key, value in (summary.get("markouts") or {}).items():
        row[f"markout_{key}"] = value
    for key, value in (summary.get("mid_near_fair") or {}).items():
        row[f"mid_near_fair_{key}"] = value
    for key, value in (summary.get("our_depth_near_fair") or {}).items():
        if key.count("_") == 1:  # both sides only: "10bps_base"
            row[f"depth_{key}"] = value
    return row


def _git_sha() -> str:
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=False, cwd=Path(__file__).parent)  # fmt: skip
        return done.stdout.strip()
    except OSError:
        return ""


def _file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _executor(workers: int, dask: str | None) -> cf.Executor:
    if dask:
        try:
            from dask.distributed import Client
        except ImportError as exc:
            raise SweepError("--dask needs the dist extra: pip install 'pegbot[dist]'") from exc
        return Client(dask).get_executor()  # type: ignore[no-any-return]
    return cf.ProcessPoolExecutor(max_workers=workers, initializer=_init_worker)


def run_sweep(
    spec: SweepSpec,
    workers: int = 2,
    dask: str | None = None,
    out: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    executor: cf.Executor | None = None,
) -> tuple[pd.DataFrame, Path]:
    """Run every point of ``spec``; returns the table and the directory it was saved in."""
    sc, where = load_scenario(spec.scenario)  # fail fast on a bad scenario
    tape = spec.tape or (where / sc.tape if sc.tape else None)
    if tape is None or not Path(tape).is_file():
        raise SweepError(f"tape not found: {tape}")
    own = executor is None
    ex = executor or _executor(workers, dask)
    try:
        if spec.grid:
            rows = _run_grid(spec, ex, str(tape), progress)
        else:
            rows = _run_optuna(spec, ex, str(tape), max(1, workers), progress)
    finally:
        if own:
            ex.shutdown()
    df = pd.DataFrame(rows)
    ascending = spec.direction == "minimize"
    df = df.sort_values(spec.objective, ascending=ascending, na_position="last")
    dest = Path(out) if out is not None else spec.output
    dest.mkdir(parents=True, exist_ok=True)
    df.to_parquet(dest / "sweep.parquet", index=False)
    meta = {
        "params": spec.params,
        "objective": spec.objective,
        "direction": spec.direction,
        "scenario": str(spec.scenario),
        "tape": str(tape),
        "tape_sha256": _file_sha(Path(tape)),
        "git_sha": _git_sha(),
        "points": len(df),
    }
    (dest / "sweep.json").write_text(json.dumps(meta, indent=2) + "\n")
    return df.reset_index(drop=True), dest


def _run_grid(spec: SweepSpec, ex: cf.Executor, tape: str,
              progress: Callable[[int, int], None] | None) -> list[dict[str, Any]]:  # fmt: skip
    points = grid_points(spec.grid)
    futures = {ex.submit(run_point, str(spec.scenario), p, tape): p for p in points}
    rows = []
    for i, fut in enumerate(cf.as_completed(futures), 1):
        rows.append(_row(futures[fut], fut.result()))
        if progress is not None:
            progress(i, len(points))
    return rows


def _run_optuna(spec: SweepSpec, ex: cf.Executor, tape: str, batch: int,
                progress: Callable[[int, int], None] | None) -> list[dict[str, Any]]:  # fmt: skip
    try:
        import optuna
    except ImportError as exc:
        raise SweepError("[optuna] sweeps need optuna: pip install optuna") from exc
    cfg = spec.optuna
    space = cfg.get("params", {})
    if not space:
        raise SweepError("optuna.params is empty")
    study = optuna.create_study(
        direction=spec.direction,
        storage=cfg.get("storage"),
        study_name=cfg.get("study", spec.output.name),
        load_if_exists=True,
    )
    total = int(cfg.get("trials", 20))
    rows: list[dict[str, Any]] = []
    while len(rows) < total:
        # Ask a batch, run it on the executor, tell the results (the study stays in this process).
        trials = [study.ask() for _ in range(min(batch, total - len(rows)))]
        points = [_suggest(t, space) for t in trials]
        futures = [ex.submit(run_point, str(spec.scenario), p, tape) for p in points]
        for trial, p, fut in zip(trials, points, futures, strict=True):
            summary = fut.result()
            value = summary.get(spec.objective)
            study.tell(trial, float(value) if value is not None else None)
            rows.append(_row(p, summary))
            if progress is not None:
                progress(len(rows), total)
    return rows


def _suggest(trial: Any, space: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, d in space.items():
        if "choices" in d:
            out[key] = trial.suggest_categorical(key, list(d["choices"]))
        elif d.get("int"):
            out[key] = trial.suggest_int(
                key, int(d["low"]), int(d["high"]), log=d.get("log", False)
            )
        else:
            out[key] = trial.suggest_float(key, float(d["low"]), float(d["high"]),
                                           log=d.get("log", False))  # fmt: skip
    return out

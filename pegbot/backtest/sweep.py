"""``pegbot sweep SPEC``: one scenario over a parameter grid (or optuna trials), in parallel.

Each point is a pure function of (scenario, overrides, tape): :func:`run_point` builds and
runs the backtest and returns its summary, so any :class:`concurrent.futures.Executor` can
run the points — a process pool by default (fastest on one machine for CPU-bound points, and
no dependency), or a Dask cluster with ``--dask ADDRESS`` (``pip install 'pegbot[dist]'``;
imported only then). Workers are single-threaded (``OMP_NUM_THREADS=1``).

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
    trials = 40                             # trials added by each run
    storage = "sqlite:///out/sweep.db"      # optional; relative to the spec; resumable
    study = "size"                          # optional; default: the output folder's name
    seed = 1                                # optional: a reproducible TPE sampler
    [optuna.params]
    "strategy.params.size_lots" = { low = 1000, high = 100000, log = true, int = true }
    "queue.model" = { choices = ["risk_averse", "power2"] }

optuna runs ask/tell in this process and evaluates each batch of trials (as many as there
are workers) on the executor. A stored study is resumed: a rerun adds ``trials`` trials to
it, and the table lists every finished trial of the study (figures kept as the trial's
``row`` user attribute), so its best row is the study's best trial. A point that fails is a
row with its ``error`` (and a FAIL trial), not a lost sweep.

Results: one row per point (the parameters, the headline summary figures, a parameter hash,
the git commit and the tape's SHA-256) in ``sweep.parquet``, and ``sweep.json``; ``pegbot
report`` draws the heatmap.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import importlib
import itertools
import json
import math
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
    "events",
    "wall_s",
    "fills",
    "volume_base",
    "pnl_quote",
    "pnl_realised_quote",
    "fees_quote",
    "fill_ratio",
    "two_sided_uptime",
    "rejects",
)


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
    if opt:
        _check_optuna(p, opt)
    direction = raw.get("direction", "maximize")
    if direction not in ("maximize", "minimize"):
        raise SweepError(f"{p}: direction must be maximize or minimize")
    here = p.resolve().parent

    def rel(v: str) -> Path:
        q = Path(v)
        return q if q.is_absolute() else here / q

    storage = opt.get("storage")
    if isinstance(storage, str) and storage.startswith("sqlite:///"):
        db = storage.removeprefix("sqlite:///")
        if db and db != ":memory:" and not Path(db).is_absolute():
            opt = {**opt, "storage": "sqlite:///" + str(here / db)}  # relative to the spec
    return SweepSpec(
        scenario=rel(raw["scenario"]),
        tape=rel(raw["tape"]) if raw.get("tape") else None,
        objective=raw.get("objective", "pnl_quote"),
        direction=direction,
        output=rel(raw.get("output", "out/sweep")),
        grid=grid,
        optuna=opt,
    )


def _check_optuna(p: Path, opt: Mapping[str, Any]) -> None:
    extra = set(opt) - {"trials", "storage", "study", "seed", "params"}
    if extra:
        raise SweepError(f"{p}: unknown optuna keys {sorted(extra)}")
    params = opt.get("params")
    if not isinstance(params, dict) or not params:
        raise SweepError(f"{p}: optuna.params must name at least one parameter")
    for key, d in params.items():
        if not isinstance(d, dict) or not ("choices" in d or ("low" in d and "high" in d)):
            raise SweepError(f"{p}: optuna.params.{key} needs low and high, or choices")
    if int(opt.get("trials", 20)) < 1:
        raise SweepError(f"{p}: optuna.trials must be at least 1")


def grid_points(grid: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid, as ``{key: value}``."""
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]


def run_point(scenario: str, params: dict[str, Any], tape: str | None) -> dict[str, Any]:
    """Run one point; returns the summary (a pure function of its arguments)."""
    from pegbot.backtest import results

    overrides = [f"{k}={json.dumps(v)}" for k, v in params.items()]
    sc, where = load_scenario(scenario, overrides)
    run = build_backtest(sc, where, tape=tape).run()
    return results.summarize(run, results.tables(run))


def _init_worker() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"


def _row(
    params: dict[str, Any], summary: dict[str, Any] | None, error: str | None = None
) -> dict[str, Any]:
    row = dict(params)
    row["param_hash"] = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    row["error"] = error
    summary = summary or {}
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
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).parent,
        )
        return done.stdout.strip()
    except OSError:
        return ""


def _file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_NEED_DIST = "{what} needs the dist extra: pip install 'pegbot[dist]'"


def _dask_client(address: str) -> Any:
    # Imported only here: the process pool needs neither dask nor distributed.
    # (importlib: typed as Any, so mypy is the same with or without the extra installed)
    try:
        distributed = importlib.import_module("distributed")
    except ImportError as exc:
        raise SweepError(_NEED_DIST.format(what="--dask")) from exc
    try:
        return distributed.Client(address)
    except (OSError, TimeoutError) as exc:
        raise SweepError(f"--dask {address}: cannot reach the scheduler: {exc}") from exc


def _import_optuna() -> Any:
    try:
        return importlib.import_module("optuna")
    except ImportError as exc:
        raise SweepError(_NEED_DIST.format(what="an [optuna] sweep")) from exc


def run_sweep(
    spec: SweepSpec,
    workers: int = 2,
    dask: str | None = None,
    out: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    executor: cf.Executor | None = None,
) -> tuple[pd.DataFrame, Path]:
    """Run every point of ``spec``; returns the table and the directory it was saved in.

    A point that raises (in its worker, or because the worker died) is a row with its
    ``error`` and no figures; the other points are kept. ``error`` is None on good rows.

    Args:
        spec: The sweep.
        workers: Processes of the default pool (and the optuna batch size with it).
        dask: A Dask scheduler address (``tcp://host:port``): run the points there.
        out: Results directory instead of the spec's ``output``.
        progress: Called with (points done, points) as they finish.
        executor: Run on this executor instead (the caller shuts it down).
    """
    sc, where = load_scenario(spec.scenario)  # fail fast on a bad scenario
    tape = spec.tape or (where / sc.tape if sc.tape else None)
    if tape is None or not Path(tape).is_file():
        raise SweepError(f"tape not found: {tape}")
    tape = Path(tape).resolve()  # workers may run in another directory
    client = None
    if executor is not None:
        ex, batch = executor, max(1, workers)
    elif dask:
        client = _dask_client(dask)
        # pure=False: every submit runs (the points are pure, but a retry must not be a cache hit).
        ex = client.get_executor(pure=False)
        batch = max(1, sum(client.nthreads().values()))
    else:
        ex = cf.ProcessPoolExecutor(max_workers=workers, initializer=_init_worker)
        batch = max(1, workers)
    try:
        if spec.grid:
            rows = _run_grid(spec, ex, str(tape), progress)
        else:
            rows = _run_optuna(spec, ex, str(tape), batch, progress)
    finally:
        if executor is None:
            ex.shutdown()
        if client is not None:
            client.close()
    df = pd.DataFrame(rows)
    ascending = spec.direction == "minimize"
    order = [spec.objective] + (["trial"] if "trial" in df else [])
    df = df.sort_values(
        order,
        ascending=[ascending] + [True] * (len(order) - 1),
        na_position="last",
        kind="mergesort",
    )
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
        "failed": int(df["error"].notna().sum()) if "error" in df else 0,
        "executor": f"dask {dask}" if dask and executor is None else "local",
    }
    if spec.optuna:
        meta["optuna_storage"] = spec.optuna.get("storage")
        meta["optuna_study"] = _study_name(spec)
    (dest / "sweep.json").write_text(json.dumps(meta, indent=2) + "\n")
    return df.reset_index(drop=True), dest


def _outcome(fut: cf.Future[dict[str, Any]]) -> tuple[dict[str, Any] | None, str | None]:
    # The point's summary, or why there is none (its exception, a dead worker, ...).
    try:
        return fut.result(), None
    except Exception as exc:  # reported in the point's row, never lost
        return None, f"{type(exc).__name__}: {exc}"


def _run_grid(
    spec: SweepSpec, ex: cf.Executor, tape: str, progress: Callable[[int, int], None] | None
) -> list[dict[str, Any]]:
    points = grid_points(spec.grid)
    futures = {ex.submit(run_point, str(spec.scenario), p, tape): p for p in points}
    rows = []
    for i, fut in enumerate(cf.as_completed(futures), 1):
        rows.append(_row(futures[fut], *_outcome(fut)))
        if progress is not None:
            progress(i, len(points))
    return rows


def _study_name(spec: SweepSpec) -> str:
    return str(spec.optuna.get("study", spec.output.name))


def _run_optuna(
    spec: SweepSpec,
    ex: cf.Executor,
    tape: str,
    batch: int,
    progress: Callable[[int, int], None] | None,
) -> list[dict[str, Any]]:
    """Ask/tell from this process, trials evaluated on the executor; returns every trial's row.

    Each run adds ``trials`` trials to the study (a stored study is resumed, never
    restarted); the table holds all finished trials of the study, so its best row is the
    study's best trial.
    """
    optuna = _import_optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cfg = spec.optuna
    space = cfg.get("params", {})
    if not space:
        raise SweepError("optuna.params is empty")
    storage = cfg.get("storage")
    if isinstance(storage, str) and storage.startswith("sqlite:///"):
        Path(storage.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    seed = cfg.get("seed")
    study = optuna.create_study(
        direction=spec.direction,
        storage=storage,
        study_name=_study_name(spec),
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=int(seed)) if seed is not None else None,
    )
    if study.direction.name.lower() != spec.direction:
        raise SweepError(f"stored study {study.study_name!r} is {study.direction.name.lower()}")
    total = int(cfg.get("trials", 20))
    done = 0
    while done < total:
        # Ask a batch, run it on the executor, tell the results (the study stays here).
        trials = [study.ask() for _ in range(min(batch, total - done))]
        points = [_suggest(t, space) for t in trials]
        futures = [ex.submit(run_point, str(spec.scenario), p, tape) for p in points]
        for trial, p, fut in zip(trials, points, futures, strict=True):
            summary, error = _outcome(fut)
            row = _row(p, summary, error)
            row["trial"] = trial.number
            value = (summary or {}).get(spec.objective)
            trial.set_user_attr("row", row)
            if value is None or not math.isfinite(float(value)):
                if error is None:
                    row["error"] = f"objective {spec.objective} is {value}"
                    trial.set_user_attr("row", row)
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(trial, float(value))
            done += 1
            if progress is not None:
                progress(done, total)
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.state.is_finished() and "row" in t.user_attrs:
            rows.append(dict(t.user_attrs["row"]))
        elif t.state.is_finished():  # a trial told elsewhere: its parameters and value only
            rows.append(
                {
                    **t.params,
                    "trial": t.number,
                    spec.objective: t.value,
                    "error": None if t.value is not None else str(t.state.name),
                }
            )
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
            out[key] = trial.suggest_float(
                key, float(d["low"]), float(d["high"]), log=d.get("log", False)
            )
    return out

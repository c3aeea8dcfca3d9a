"""The full market-maker backtest, pegbot beside hftbacktest 2.4.4, on tapes of several shapes.

Inputs, each run by both engines on the same file (the tape, and its export with pegbot's npz
converter for hftbacktest):

* ``kgst`` — the synthetic KGST-like day of every other benchmark (``synth.make_columns``);
* ``kgst-like``, ``thin-quiet``, ``busy``, ``bursts`` — shapes from the generator
  (``synth.make_shape``, ``synth.SHAPES``): a KGST-like day of another seed and span, a thin
  quiet book with long silences, a busy book with 20 levels changing per diff, trade bursts;
* ``spot-slice`` — the real Binance spot BTCUSDT slice in ``tests/data`` (always there);
* ``spot-day`` and ``nexo`` — the real spot BTCUSDT day 2024-08-08 and the thin NEXOUSDT
  spot book (34 h) of the shared data (``../shared/data`` or ``$PEGBOT_SHARED_DATA``, see
  ``shared_data.py``); skipped, saying so, when absent.

The strategy is the cross-check market maker (``backtests/hftbacktest_crosscheck.toml``,
``strategies/hftbacktest_mm.py``): pegbot runs it in plain Python through the same Strategy →
DecisionStep → OrderTracker → venue path as every backtest, hftbacktest as a numba-jitted loop
over ``HashMapMarketDepthBacktest`` (risk-averse queue, no partial fills, 10 ms latency each
way, GTX post-only orders, maker 0 / taker 0.1 % by value), compiled on a slice first. Each
engine runs ``--repeat`` times, each run in its own process so that peak RSS is its own.

Printed per input and engine: events/s (tape rows ÷ wall and ÷ CPU time of the replay, the
same span for both; ranges over the runs: the machine is shared), µs per decision (wall ÷
decisions: pegbot's strategy decisions, hftbacktest's loop steps with a two-sided book),
decisions, fills, PnL (cash + position × last mid − fees), peak RSS and, for pegbot, the
seconds its summary and scorecard take after the replay, then whether fills and
PnL agree (the tolerance of ``hftbacktest_peer.agree``: fill counts within 0.1 %, PnL within
1e-9 of the traded notional).

    .venv/bin/python benchmarks/bench_backtest.py [--rows 2000000] [--repeat 3]
        [--inputs kgst,busy,...] [--python-peer] [--rss 1000000,2000000,5000000] [--json]
        [--native-ab]

``--python-peer`` adds hftbacktest with the same loop run as plain Python (``mm.py_func``)
calling its compiled backtest object; ``--rss`` instead runs pegbot alone on the KGST-like
tape at each size and prints its peak RSS (memory must not grow with the tape).

pegbot's line says which decision path ran: ``pegbot/native`` (the mypyc build of
``make native``, run with ``PEGBOT_NATIVE=1``), ``pegbot/source``, or ``pegbot/stale``
(asked for, but missing or older than the sources: the source ran). ``--native-ab`` runs
pegbot alone, the source and the build one after the other in each round (same neighbours
on a shared machine), and prints the speed ratio of each round.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from hftbacktest_peer import agree, peak_rss_mb, run_hftbacktest
from shared_data import BINANCE_RAW, HFTBACKTEST_EXAMPLES

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "backtests" / "hftbacktest_crosscheck.toml"
TMP = Path("/tmp/pegbot_bench_backtest")
SLICE = ROOT / "tests/data/binance_raw/spot_btcusdt_20240808_L1-1500.gz"
SPOT_DAY = HFTBACKTEST_EXAMPLES / "spot" / "btcusdt_20240808.gz"
NEXO = [BINANCE_RAW / "nexousdt_spot_2024-07" / f"nexousdt_2024072{d}.dat.gz" for d in (3, 4, 5)]

ENGINES = ("pegbot", "hftbacktest", "hftbacktest-py")
#: (size_lots, limit_lots) by market: KGST lots are 1 KGST; BTC and NEXO lots 1e-5.
PARAMS = {"kgst": (50_000, 2_000_000), "btc": (100, 4_000), "nexo": (2_000_000, 80_000_000)}
INPUTS = ("kgst", "kgst-like", "thin-quiet", "busy", "bursts", "spot-slice", "spot-day", "nexo")


def run_pegbot(tape: Path, size: int, limit: int) -> dict[str, Any]:
    """One pegbot run of the cross-check scenario (in this process)."""
    from pegbot.backtest import results
    from pegbot.backtest.scenario import build_backtest, load_scenario

    sc, where = load_scenario(
        SCENARIO,
        [f"strategy.params.size_lots={size}", f"strategy.params.limit_lots={limit}"],
    )
    run = build_backtest(sc, where, tape=tape).run()
    t0 = time.perf_counter()
    s = results.summarize(run, results.tables(run))
    summary_s = time.perf_counter() - t0
    return {
        "engine": "pegbot",
        "rows": run.events,
        "wall_s": run.wall_s,
        "cpu_s": run.cpu_s,  # the replay's span, as wall_s (not the JIT cache load before it)
        "core_s": run.core_s,  # of wall_s, inside the compiled core
        "decision_us": s["decision_us"],  # the wall time outside it, per decision
        "fills": s["fills"],
        "pnl": s["pnl_quote"],
        "fees": s["fees_quote"],
        "volume": s["volume_base"],
        "notional": s["volume_quote"],
        "evaluations": run.evaluations,
        # What the quant waits for after the replay: tables, summary and scorecard.
        "summary_s": summary_s,
        "peak_rss_mb": peak_rss_mb(),
    }


def _tape(key: str, rows: int) -> tuple[str, Path, str] | str:
    """(label, tape, params key) of an input, made if needed; a reason when unavailable."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from common import market
    from synth import SHAPES, make_columns, make_shape, write_tape

    from pegbot.tape.binance import convert_binance_raw

    TMP.mkdir(parents=True, exist_ok=True)
    if key == "kgst":
        path = TMP / f"synth_{rows}.parquet"
        if not path.exists():
            write_tape(path, make_columns(rows))
        return f"synthetic KGST-like day (make_columns), {rows:,} rows", path, "kgst"
    if key in SHAPES:
        shape = replace(SHAPES[key], rows=rows)
        path = TMP / f"shape_{key}_{rows}.parquet"
        if not path.exists():
            write_tape(path, make_shape(shape))
        return f"shape {key} ({shape.span_s / 3600:.1f} h), {rows:,} rows", path, "kgst"
    sources: dict[str, tuple[str, list[Path], Callable[[], Any], str]] = {
        "spot-slice": ("real spot BTCUSDT slice (tests/data)", [SLICE],
                       lambda: market("BTC/USDT", "0.01"), "btc"),
        "spot-day": ("real spot BTCUSDT 2024-08-08", [SPOT_DAY],
                     lambda: market("BTC/USDT", "0.01"), "btc"),
        "nexo": ("real spot NEXOUSDT 2024-07-23..25 (34 h)", NEXO,
                 lambda: market("NEXO/USDT", "0.001"), "nexo"),
    }  # fmt: skip
    label, files, mk, params = sources[key]
    missing = [f for f in files if not f.exists()]
    if missing:
        return f"{label}: {missing[0]} not found (shared data absent), skipped"
    path = TMP / f"real_{key}.parquet"
    if not path.exists():
        convert_binance_raw(files, path, mk())
    return label, path, params


def _child(args: argparse.Namespace) -> None:
    size, limit = PARAMS[args.params]
    if args.one == "pegbot":
        from pegbot import native

        out = run_pegbot(Path(args.tape), size, limit)
        out["engine"] = f"pegbot/{native.status()}"  # the decision path compiled or not
    else:  # hftbacktest, its loop compiled (numba) or in plain Python
        from pegbot.tape.reader import TapeReader

        reader = TapeReader(args.tape)
        meta = reader.meta
        out = run_hftbacktest(
            Path(args.npz),
            reader.num_rows,
            float(meta.tick_size),
            float(meta.lot_size),
            size,
            limit,
            compiled=args.one == "hftbacktest",
        )
        out["engine"] = args.one
    print(json.dumps(out))


def _run(
    engine: str, tape: Path, npz: Path, params: str, native: str | None = None
) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--one", engine, "--tape", str(tape), "--npz", str(npz),
           "--params", params]  # fmt: skip
    env = None if native is None else {**os.environ, "PEGBOT_NATIVE": native}
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        raise SystemExit(f"{engine} failed on {tape}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _span(values: list[float], fmt: str) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:{fmt}}" if f"{lo:{fmt}}" == f"{hi:{fmt}}" else f"{lo:{fmt}}-{hi:{fmt}}"


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    first = runs[0]
    return {
        "engine": first["engine"],
        "rows": first["rows"],
        "runs": len(runs),
        "eps_wall": [r["rows"] / r["wall_s"] for r in runs],
        "eps_cpu": [r["rows"] / r["cpu_s"] for r in runs],
        "us_per_decision": [r["wall_s"] / max(1, r["evaluations"]) * 1e6 for r in runs],
        "decisions": first["evaluations"],
        "fills": first["fills"],
        "pnl": first["pnl"],
        "notional": first["notional"],
        "peak_rss_mb": [r["peak_rss_mb"] for r in runs],
        "summary_s": [r["summary_s"] for r in runs if "summary_s" in r],
        # pegbot's replay split: rows/s of the compiled core alone, and the wall time outside
        # it per decision (the Python decision path).
        "core_eps": [r["rows"] / r["core_s"] for r in runs if r.get("core_s")],
        "us_outside_core": [r["decision_us"] for r in runs if r.get("decision_us")],
    }


def bench(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every input, every engine, ``args.repeat`` runs each; prints the table unless --json."""
    from pegbot.tape.hftbacktest import tape_to_npz

    engines = ENGINES if args.python_peer else ENGINES[:2]
    report: list[dict[str, Any]] = []
    for key in args.inputs.split(","):
        made = _tape(key, args.rows)
        if isinstance(made, str):
            print(made, file=sys.stderr)
            report.append({"input": key, "skipped": made})
            continue
        label, tape, params = made
        npz = tape.with_suffix(".npz")
        if not npz.exists():
            tape_to_npz(tape, npz)
        rows = {e: _summary([_run(e, tape, npz, params) for _ in range(args.repeat)])
                for e in engines}  # fmt: skip
        ours, theirs = rows["pegbot"], rows["hftbacktest"]
        entry = {"input": key, "label": label, **rows}
        entry["agree"] = agree(ours, theirs)
        report.append(entry)
        if args.json:
            continue
        print(f"\n{label}")
        for r in rows.values():
            print(
                f"  {r['engine']:14s} {_span([x / 1e6 for x in r['eps_wall']], '.2f'):>11s} M ev/s "
                f"wall {_span([x / 1e6 for x in r['eps_cpu']], '.2f'):>11s} CPU  "
                f"{_span(r['us_per_decision'], '.1f'):>11s} µs/decision  "
                f"decisions {r['decisions']:8d}  fills {r['fills']:7d}  PnL {r['pnl']:12.4f}  "
                f"peak RSS {_span(r['peak_rss_mb'], '.0f')} MB"
                + (f"  then summary {_span(r['summary_s'], '.2f')} s" if r["summary_s"] else "")
            )
            if r["core_eps"]:
                print(
                    f"  {'':14s} of which the compiled core "
                    f"{_span([x / 1e6 for x in r['core_eps']], '.2f')} M rows/s, "
                    f"outside it {_span(r['us_outside_core'], '.1f')} µs a decision"
                )
        verdict = "agree" if entry["agree"] else "DISAGREE"
        d_pnl = ours["pnl"] - theirs["pnl"]
        print(f"  fills {ours['fills']} vs {theirs['fills']}, PnL by {d_pnl:+.2e}: {verdict}")
    return report


def native_ab(args: argparse.Namespace) -> None:
    """pegbot alone, the source and the mypyc build one after the other, ``--repeat`` rounds.

    Interleaved so that both meet the same neighbours on a shared machine; the ratio is of
    each round's pair. Needs a fresh ``make native``.
    """
    for key in args.inputs.split(","):
        made = _tape(key, args.rows)
        if isinstance(made, str):
            print(made, file=sys.stderr)
            continue
        label, tape, params = made
        runs: dict[str, list[dict[str, Any]]] = {"0": [], "1": []}
        for _ in range(args.repeat):
            for native in ("0", "1"):
                runs[native].append(_run("pegbot", tape, tape, params, native))
        source, compiled = runs["0"], runs["1"]
        if compiled[0]["engine"] != "pegbot/native":
            raise SystemExit(f"the build did not load ({compiled[0]['engine']}): make native")
        same = all(
            (r["evaluations"], r["fills"], r["pnl"])
            == (source[0]["evaluations"], source[0]["fills"], source[0]["pnl"])
            for r in source + compiled
        )
        ratios = [s["wall_s"] / c["wall_s"] for s, c in zip(source, compiled, strict=True)]
        print(f"\n{label}")
        for name, rs in (("source", source), ("native", compiled)):
            summary = _summary(rs)
            eps = [x / 1e6 for x in summary["eps_wall"]]
            print(f"  pegbot/{name:7s} {_span(eps, '.2f'):>11s} M ev/s wall  "
                  f"{_span(summary['us_per_decision'], '.1f'):>11s} µs/decision")  # fmt: skip
        print(f"  native ÷ source speed by round: {', '.join(f'{x:.2f}' for x in ratios)}; "
              f"decisions, fills and PnL {'the same' if same else 'DIFFER'}")  # fmt: skip


def rss_scaling(sizes: list[int], as_json: bool) -> None:
    """pegbot alone on the KGST-like day at each size: peak RSS must stay flat."""
    out = []
    for rows in sizes:
        made = _tape("kgst", rows)
        assert not isinstance(made, str)
        _, tape, params = made
        r = _run("pegbot", tape, tape, params)
        out.append(
            {"rows": rows, "peak_rss_mb": r["peak_rss_mb"], "eps_wall": r["rows"] / r["wall_s"]}
        )
        if not as_json:
            print(f"  {rows:>10,} rows  peak RSS {r['peak_rss_mb']:6.0f} MB  "
                  f"{r['rows'] / r['wall_s'] / 1e6:.2f} M ev/s")  # fmt: skip
    if as_json:
        print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000, help="rows of the synthetic tapes")
    ap.add_argument("--repeat", type=int, default=3, help="runs per engine and input")
    ap.add_argument("--inputs", default=",".join(INPUTS), help=f"some of {','.join(INPUTS)}")
    ap.add_argument("--python-peer", action="store_true",
                    help="also hftbacktest with its loop in plain Python (slow)")  # fmt: skip
    ap.add_argument("--rss", help="comma-separated tape sizes: pegbot's peak RSS at each")
    ap.add_argument(
        "--native-ab", action="store_true", help="pegbot alone, source and build interleaved"
    )
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--one", choices=ENGINES, help=argparse.SUPPRESS)
    ap.add_argument("--tape", help=argparse.SUPPRESS)
    ap.add_argument("--npz", help=argparse.SUPPRESS)
    ap.add_argument("--params", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        _child(args)
    elif args.native_ab:
        native_ab(args)
    elif args.rss:
        rss_scaling([int(x) for x in args.rss.split(",")], args.json)
    else:
        report = bench(args)
        if args.json:
            print(json.dumps(report))


if __name__ == "__main__":
    main()

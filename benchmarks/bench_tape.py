"""Tape write and read rows/s, converter rows/s, side by side with hftbacktest.

* synthetic 5 M-row KGST-like tape: write (TapeWriter), read into numpy (``read_all`` and
  row group by row group), bytes per row; the same rows as an hftbacktest npz (write, load).
* all rates are per CPU-second of this process (see :func:`clock`).
* real Binance recordings (the shared data, ``shared_data.py``, when present): raw JSON → tape
  rows/s (parse only — with the compiled scanner and on the pure-Python path — and parse +
  write), and for the USD-M file hftbacktest's own ``binancefutures.convert`` on the same
  file, and the load speed of its npz.

Usage: ``python benchmarks/bench_tape.py [--rows 5000000] [--no-peers]``
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from pegbot.tape.binance import BinanceRawConverter
from pegbot.tape.hftbacktest import columns_to_events
from pegbot.tape.reader import TapeReader
from pegbot.tape.schema import TapeMeta
from pegbot.tape.writer import TapeWriter

sys.path.insert(0, str(Path(__file__).parent))
from common import REAL, H, market
from synth import kgst_meta, make_columns, write_tape


def clock() -> float:
    """CPU seconds of this process (all its threads).

    The benchmark machine is shared (2 cores, other jobs running), so wall time measures
    the neighbours as much as the code; CPU time is the fair figure. On an idle machine the
    single-threaded paths run at the same speed by either clock.
    """
    return time.process_time()


def best_of(n: int, fn: Any) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(n):
        t0 = clock()
        out = fn()
        best = min(best, clock() - t0)
    return best, out


def bench_synthetic(tmp: Path, rows: int) -> dict[str, float]:
    print(f"== tape I/O: synthetic KGST-like tape, {rows:,} rows ==")
    cols = make_columns(rows)
    path = tmp / "synth.parquet"
    t_write, _ = best_of(2, lambda: write_tape(path, cols))
    size = path.stat().st_size
    reader = TapeReader(path)
    t_read, got = best_of(5, reader.read_all)
    assert all(np.array_equal(got[k], cols[k]) for k in cols)
    t_iter, _ = best_of(5, lambda: sum(len(b["kind"]) for b in reader.iter_batches()))
    out = {
        "write_Mps": rows / t_write / 1e6,
        "read_all_Mps": rows / t_read / 1e6,
        "iter_batches_Mps": rows / t_iter / 1e6,
        "bytes_per_row": size / rows,
    }
    print(
        f"tape write {out['write_Mps']:6.1f} M rows/s | read_all {out['read_all_Mps']:6.1f} "
        f"M rows/s | iter_batches {out['iter_batches_Mps']:6.1f} M rows/s | "
        f"{out['bytes_per_row']:.2f} B/row"
    )
    ev = columns_to_events(cols, kgst_meta())
    npz = tmp / "synth.npz"
    t_npz_w, _ = best_of(1, lambda: np.savez_compressed(npz, data=ev))
    t_npz_r, _ = best_of(3, lambda: np.load(npz)["data"])
    out["npz_write_Mps"] = rows / t_npz_w / 1e6
    out["npz_load_Mps"] = rows / t_npz_r / 1e6
    out["npz_bytes_per_row"] = npz.stat().st_size / rows
    print(
        f"hftbacktest npz (same rows): write {out['npz_write_Mps']:6.1f} M rows/s | np.load "
        f"{out['npz_load_Mps']:6.1f} M rows/s | {out['npz_bytes_per_row']:.2f} B/row"
    )
    return out


def bench_real(tmp: Path, peers: bool) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    if not H.exists():
        print("(real data not found: skipped)")
        return results
    print("== converter: Binance raw JSON lines → tape ==")
    for label, files, symbol, tick in REAL:
        m = market(symbol, tick)
        paths = [H / f for f in files]

        def parse_only(m: Any = m, paths: Any = paths, fast: bool = True) -> dict[str, Any]:
            return BinanceRawConverter(m, fast=fast).convert_files(paths)

        t_parse, stats = best_of(3, parse_only)
        # The pure-Python path (no numba): the same tape, for comparison.
        t_slow, slow_stats = best_of(1, lambda m=m, paths=paths: parse_only(m, paths, False))
        assert slow_stats == stats, "fast and slow paths disagree"
        out_path = tmp / "real.parquet"

        def parse_write(m: Any = m, paths: Any = paths, out_path: Path = out_path) -> None:
            meta = TapeMeta("binance", m.symbol, m.tick_size, m.lot_size)
            with TapeWriter(out_path, meta) as w:
                BinanceRawConverter(m, w).convert_files(paths)

        t_full, _ = best_of(3, parse_write)
        rows = stats["rows"]
        lines = sum(f["lines"] for f in stats["files"])
        t_read, _ = best_of(3, TapeReader(out_path).read_all)
        r = {
            "rows": rows,
            "lines": lines,
            "convert_Mps": rows / t_parse / 1e6,
            "convert_slow_Mps": rows / t_slow / 1e6,
            "convert_write_Mps": rows / t_full / 1e6,
            "lines_per_s_M": lines / t_parse / 1e6,
            "read_Mps": rows / t_read / 1e6,
        }
        results[label] = r
        print(
            f"{label:38} {rows:>9,} rows from {lines:>7,} lines | convert "
            f"{r['convert_Mps']:5.2f} M rows/s ({r['lines_per_s_M']:.2f} M lines/s; pure Python "
            f"{r['convert_slow_Mps']:4.2f}) | + write {r['convert_write_Mps']:5.2f} M rows/s | "
            f"read back {r['read_Mps']:6.1f} M rows/s"
        )
    if peers:
        results.update(bench_hftbacktest(tmp))
    return results


def bench_hftbacktest(tmp: Path) -> dict[str, dict[str, float]]:
    try:
        from hftbacktest.data.utils import binancefutures
    except ImportError:
        print("(hftbacktest not installed: peer comparison skipped)")
        return {}
    src = H / "usdm/btcusdt_20240808.gz"
    npz = tmp / "hbt.npz"
    print("== peer: hftbacktest.data.utils.binancefutures.convert on USD-M BTCUSDT 2024-08-08 ==")
    with contextlib.redirect_stdout(io.StringIO()):
        binancefutures.convert(str(src), str(tmp / "warm.npz"), buffer_size=2_000_000)  # JIT
        t0 = clock()
        data = binancefutures.convert(str(src), str(npz), buffer_size=2_000_000)
        t_conv = clock() - t0
    t_load, loaded = best_of(3, lambda: np.load(npz)["data"])
    n = len(data)
    r = {"rows": n, "convert_Mps": n / t_conv / 1e6, "npz_load_Mps": len(loaded) / t_load / 1e6}
    print(
        f"hftbacktest convert {n:,} events in {t_conv:.2f} s = {r['convert_Mps']:.2f} M rows/s "
        f"(no sequence checks; includes writing its npz) | npz load "
        f"{r['npz_load_Mps']:.1f} M rows/s"
    )
    return {"hftbacktest USD-M BTCUSDT 2024-08-08": r}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description="tape and converter benchmarks")
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--no-peers", action="store_true")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out: dict[str, Any] = {"synthetic": bench_synthetic(Path(tmp), args.rows)}
        out["real"] = bench_real(Path(tmp), not args.no_peers)
    return out


if __name__ == "__main__":
    main()

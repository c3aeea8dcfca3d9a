"""Run the tape and book benchmarks and print a summary against the targets.

Usage: ``python benchmarks/run_all.py [--rows 5000000] [--no-peers]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import bench_book
import bench_tape
from common import real_tapes, synthetic_tape


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--no-peers", action="store_true")
    args = ap.parse_args()
    tape = bench_tape.main(["--rows", str(args.rows)] + (["--no-peers"] if args.no_peers else []))
    with tempfile.TemporaryDirectory() as tmp:
        tapes = [(synthetic_tape(Path(tmp), args.rows), "synthetic"), *real_tapes(Path(tmp))]
        print("== book: replay path (tape → numpy → OrderBook.apply_columns) ==")
        book = {label: bench_book.bench(path, label) for path, label in tapes}
    real = {k: v for k, v in tape["real"].items() if not k.startswith("hftbacktest")}
    print("\n== summary (targets on a 2-core machine) ==")
    syn = tape["synthetic"]
    print(f"tape read into numpy, synthetic: {syn['read_all_Mps']:.1f} M rows/s (target ≥ 20)")
    if real:
        conv = min(r["convert_Mps"] for r in real.values())
        conv_hi = max(r["convert_Mps"] for r in real.values())
        print(f"raw JSON conversion, real files: {conv:.2f}–{conv_hi:.2f} M rows/s (target ≥ 1)")
    print(
        f"book level updates, synthetic: {book['synthetic']['path_Mps']:.2f} M/s tape→book, "
        f"{book['synthetic']['replay_Mps']:.2f} M/s in memory (target ≥ 3)"
    )


if __name__ == "__main__":
    main()

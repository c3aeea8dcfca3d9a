"""Book level updates per second through the replay path: tape → numpy → OrderBook.

Prints, per tape: the whole path (read + replay), the replay alone (columns in memory), and
where the replay's time goes (numpy selection and ``tolist`` vs ``apply_columns``).

Usage: ``python benchmarks/bench_book.py [TAPE ...]`` (default: a 5 M-row synthetic tape,
and the real Binance recordings when the shared data exists, ``shared_data.py``).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from pegbot.book import OrderBook
from pegbot.tape.reader import TapeReader
from pegbot.tape.replay import BookReplayer
from pegbot.tape.schema import TRADE

sys.path.insert(0, str(Path(__file__).parent))
from bench_tape import clock
from common import real_tapes, synthetic_tape


def bench(path: Path, label: str) -> dict[str, float]:
    reader = TapeReader(path)
    t0 = clock()
    rep = BookReplayer()
    for cols in reader.iter_batches():
        rep.apply(cols)
    whole = clock() - t0
    cols = reader.read_all()
    best = float("inf")
    for _ in range(3):
        rep = BookReplayer()
        t0 = clock()
        rep.apply(cols)
        best = min(best, clock() - t0)
    n = rep.level_updates
    # Breakdown: selection + tolist, then apply_columns alone.
    t0 = clock()
    depth = cols["kind"] != TRADE
    idx = np.flatnonzero(depth)
    s, p, q = cols["side"][idx].tolist(), cols["price"][idx].tolist(), cols["qty"][idx].tolist()
    prep = clock() - t0
    book = OrderBook()
    t0 = clock()
    book.apply_columns(s, p, q)
    apply = clock() - t0
    out = {
        "level_updates": n,
        "path_Mps": n / whole / 1e6,
        "replay_Mps": n / best / 1e6,
        "prep_s": prep,
        "apply_s": apply,
        "apply_only_Mps": len(s) / apply / 1e6,
    }
    print(
        f"{label:42} {n:>10,} level updates | tape→book {out['path_Mps']:5.2f} M/s | "
        f"in-memory replay {out['replay_Mps']:5.2f} M/s | select+tolist {prep:5.2f} s, "
        f"apply_columns {apply:5.2f} s ({out['apply_only_Mps']:.2f} M/s)"
    )
    return out


def main(argv: list[str]) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tapes = [(Path(a), Path(a).name) for a in argv]
        if not tapes:
            tapes = [(synthetic_tape(Path(tmp)), "synthetic KGST-like 5 M rows")]
            tapes += real_tapes(Path(tmp))
        print("== book: replay path (tape → numpy → OrderBook.apply_columns) ==")
        for path, label in tapes:
            results[label] = bench(path, label)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])

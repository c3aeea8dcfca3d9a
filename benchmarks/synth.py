"""A synthetic KGST-like tape: tick 1e-5 near 0.0114, lot 1, a 1-tick spread, a diff every 100 ms.

Each 100 ms message sets the best bid and the best ask (one tick apart), removes any level
the touch moved through, and changes two random levels within 20 ticks of the touch; about
one message in ten carries a trade. The touch takes a ±1-tick random walk, so the book never
crosses. Generated with numpy in one pass (no Python per row).

Usage: ``python benchmarks/synth.py OUT.parquet [--rows 5000000] [--seed 1]``
"""

from __future__ import annotations

import argparse
import time
from decimal import Decimal
from pathlib import Path

import numpy as np

from pegbot.tape.reader import Columns
from pegbot.tape.schema import CLEAR, DIFF, SNAPSHOT, TRADE, TapeMeta
from pegbot.tape.writer import TapeWriter

START_NS = 1_735_689_600_000_000_000  # 2025-01-01 UTC
STEP_NS = 100_000_000
UNITS_PER_LOT = 10**8  # qty_decimals 8, lot 1


def kgst_meta() -> TapeMeta:
    return TapeMeta(
        exchange="synthetic",
        symbol="KGST/USDT",
        tick_size=Decimal("0.00001"),
        lot_size=Decimal("1"),
        source="benchmarks/synth.py",
    )


def make_columns(rows: int, seed: int = 1) -> Columns:
    """About ``rows`` rows (exactly ``rows`` after trimming) of a KGST-like tape."""
    rng = np.random.default_rng(seed)
    per_msg = 6.1  # 6 depth rows + 0.1 trades
    n_msg = int(rows / per_msg) + 2
    # Touch: best bid in ticks, ±1 random walk around 1140 (0.01140 USDT).
    steps = rng.choice([-1, 0, 0, 0, 0, 0, 0, 0, 0, 1], n_msg)
    bb = 1140 + np.cumsum(steps)
    bb = np.clip(bb, 1100, 1180)
    lots = rng.integers(1_000, 200_000, size=(n_msg, 4))
    lots[rng.random((n_msg, 4)) < 0.2] = 0
    lots[:, :2] = np.maximum(lots[:, :2], 1)
    deep_bid = bb - rng.integers(1, 21, n_msg)
    deep_ask = bb + 1 + rng.integers(1, 21, n_msg)
    # Six depth rows per message: bid@bb, ask@bb+1, ask@bb removed, bid@bb+1 removed, two deep.
    price = np.stack([bb, bb + 1, bb, bb + 1, deep_bid, deep_ask], axis=1)
    side = np.tile(np.array([1, -1, -1, 1, 1, -1], dtype=np.int8), (n_msg, 1))
    qty = (
        np.stack(
            [
                lots[:, 0],
                lots[:, 1],
                np.zeros(n_msg, np.int64),
                np.zeros(n_msg, np.int64),
                lots[:, 2],
                lots[:, 3],
            ],
            axis=1,
        )
        * UNITS_PER_LOT
    )
    exch = START_NS + np.arange(n_msg, dtype=np.int64) * STEP_NS
    local = exch + 4_000_000 + rng.integers(0, 2_000_000, n_msg)  # 4–6 ms feed latency
    local = np.maximum.accumulate(local)
    uid = 1_000 + np.arange(n_msg, dtype=np.int64) * 3
    d_cols = {
        "exch_ts": np.repeat(exch, 6),
        "local_ts": np.repeat(local, 6),
        "kind": np.full(n_msg * 6, DIFF, np.uint8),
        "side": side.ravel(),
        "price": price.ravel().astype(np.int64),
        "qty": qty.ravel().astype(np.int64),
        "first_update_id": np.repeat(uid - 2, 6),
        "update_id": np.repeat(uid, 6),
    }
    # Trades: one message in ten, at the touch, just before that message's diff.
    t_msg = np.flatnonzero(rng.random(n_msg) < 0.1)
    t_side = rng.choice(np.array([-1, 1], np.int8), len(t_msg))
    t_cols = {
        "exch_ts": exch[t_msg] - 1_000_000,
        "local_ts": local[t_msg],
        "kind": np.full(len(t_msg), TRADE, np.uint8),
        "side": t_side,
        "price": np.where(t_side > 0, bb[t_msg] + 1, bb[t_msg]).astype(np.int64),
        "qty": rng.integers(1, 5_000, len(t_msg)) * UNITS_PER_LOT,
        "first_update_id": np.zeros(len(t_msg), np.int64),
        "update_id": 1 + np.arange(len(t_msg), dtype=np.int64),
    }
    # Order: by message, trade first.
    d_key = np.repeat(np.arange(n_msg) * 2 + 1, 6)
    t_key = t_msg * 2
    key = np.concatenate([t_key, d_key])
    order = np.argsort(key, kind="stable")
    body = {k: np.concatenate([t_cols[k], d_cols[k]])[order] for k in d_cols}
    # A snapshot at the start: CLEAR plus 20 levels a side.
    lv = np.arange(20)
    snap: Columns = {
        "exch_ts": np.full(41, START_NS - STEP_NS, np.int64),
        "local_ts": np.full(41, START_NS - STEP_NS + 5_000_000, np.int64),
        "kind": np.array([CLEAR] + [SNAPSHOT] * 40, np.uint8),
        "side": np.array([0] + [1] * 20 + [-1] * 20, np.int8),
        "price": np.concatenate([[0], 1140 - lv, 1141 + lv]).astype(np.int64),
        "qty": np.concatenate([[0], np.full(40, 50_000 * UNITS_PER_LOT)]).astype(np.int64),
        "first_update_id": np.full(41, 999, np.int64),
        "update_id": np.full(41, 999, np.int64),
    }
    snap["qty"][0] = 0
    return {k: np.concatenate([snap[k], body[k]])[:rows] for k in body}


def write_tape(path: Path, cols: Columns) -> float:
    """Write ``cols`` as a tape; return seconds taken."""
    t0 = time.process_time()
    with TapeWriter(path, kgst_meta()) as w:
        step = 1 << 20
        n = len(cols["kind"])
        for a in range(0, n, step):
            w.write({k: v[a : a + step] for k, v in cols.items()})
    return time.process_time() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    t0 = time.perf_counter()
    cols = make_columns(args.rows, args.seed)
    gen = time.perf_counter() - t0
    dt = write_tape(args.out, cols)
    n = len(cols["kind"])
    print(
        f"generated {n:,} rows in {gen:.2f} s; wrote {args.out} in {dt:.2f} s "
        f"({n / dt / 1e6:.1f} M rows/s, {args.out.stat().st_size / n:.2f} B/row)"
    )


if __name__ == "__main__":
    main()

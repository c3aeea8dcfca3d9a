"""Synthetic tapes: the KGST-like day, and a generator of other shapes by parameters.

:func:`make_columns` is the KGST-like tape every benchmark and the cross-check test use:
tick 1e-5 near 0.0114, lot 1, a 1-tick spread, a diff every 100 ms. Each message sets the
best bid and the best ask (one tick apart), removes any level the touch moved through, and
changes two random levels within 20 ticks of the touch; about one message in ten carries a
trade. The touch takes a ±1-tick random walk, so the book never crosses.

:func:`make_shape` makes a tape of any shape on the same market from a few parameters —
rows, span, levels changed per diff, trade share, spread, random-walk step, seed, how
irregular the time between messages is (long silences) and how trades bunch (bursts that
walk through levels); :data:`SHAPES` names the ones the backtest benchmark runs. Both are
generated with numpy in one pass (no Python per row), the book never crossed on either side.

Usage::

    python benchmarks/synth.py OUT.parquet [--rows 5000000] [--seed 1]
    python benchmarks/synth.py OUT.parquet --shape busy [--rows N] [--span-s S] [--levels L]
        [--trade-share F] [--spread T] [--step T] [--silences A] [--burst K] [--seed N]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass, replace
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


@dataclass(frozen=True)
class Shape:
    """Parameters of :func:`make_shape`.

    Attributes:
        rows: Rows of the tape (exactly, after trimming).
        span_s: Market time the tape covers, seconds.
        levels: Levels changed per diff besides the touch (random, within ``depth`` ticks).
        trade_share: Share of rows that are trades.
        spread: Best ask minus best bid, ticks.
        step: Largest move of the touch per message, ticks (it moves one message in five).
        seed: Random seed.
        silences: Shape of the Pareto law of the time between messages (smaller: longer
            silences; 0: evenly spaced).
        burst: Mean trades per burst; a burst's trades walk one level deeper at a time
            with probability 0.3 each.
        depth: Levels a side in the initial snapshot, and the reach of the random levels.
    """

    rows: int = 2_000_000
    span_s: float = 14.7 * 3600
    levels: int = 2
    trade_share: float = 0.016
    spread: int = 1
    step: int = 1
    seed: int = 1
    silences: float = 0.0
    burst: float = 1.0
    depth: int = 20


#: The shapes ``bench_backtest.py`` runs (rows are set by its ``--rows``).
SHAPES: dict[str, Shape] = {
    # KGST/USDT as it might trade: quiet, one-tick spread, a few changes a second.
    "kgst-like": Shape(),
    # A thin quiet book with long silences: one level per diff, messages minutes apart at
    # times, a trade now and then.
    "thin-quiet": Shape(span_s=7 * 86400, levels=1, trade_share=0.03, silences=1.1),
    # A busy book: 20 levels change in every diff, a 2-tick spread moving up to 3 ticks.
    "busy": Shape(span_s=4 * 3600, levels=20, trade_share=0.05, spread=2, step=3),
    # Trade bursts: a third of the rows are trades, in bursts of ~25 walking through levels.
    "bursts": Shape(span_s=8 * 3600, levels=4, trade_share=0.35, burst=25.0),
}


def make_shape(shape: Shape) -> Columns:
    """A tape of the given shape on the KGST-like market (see the module docstring)."""
    rng = np.random.default_rng(shape.seed)
    sp, step, lv, depth = shape.spread, shape.step, shape.levels, shape.depth
    clear_rows = 2 * (step + sp - 1)  # levels the touch may have left inside the spread
    diff_rows = 2 + clear_rows + lv
    per_msg = diff_rows / (1.0 - shape.trade_share)
    n_msg = int(shape.rows / per_msg) + 2
    # Message times: evenly spaced, or Pareto gaps (long silences) scaled to the span.
    gaps = rng.pareto(shape.silences, n_msg) + 1.0 if shape.silences > 0 else np.ones(n_msg)
    t = np.cumsum(gaps)
    exch = START_NS + (t / t[-1] * shape.span_s * 1e9).astype(np.int64)
    exch = np.maximum.accumulate(exch + np.arange(n_msg))  # strictly increasing
    local = exch + 4_000_000 + rng.integers(0, 2_000_000, n_msg)  # 4–6 ms feed latency
    local = np.maximum.accumulate(local)
    # The touch: best bid in ticks, a walk of up to ``step`` ticks one message in five.
    moves = rng.integers(-step, step + 1, n_msg) * (rng.random(n_msg) < 0.2)
    bb = np.clip(1140 + np.cumsum(moves), 1000 + depth + step, 1300 - depth - step)
    ba = bb + sp
    lots = rng.integers(1_000, 200_000, size=(n_msg, 2 + lv)).astype(np.int64)
    lots[:, 2:][rng.random((n_msg, lv)) < 0.2] = 0
    # Per message: bid@bb, ask@ba, then no bid above bb and no ask below ba within reach of
    # a move, then ``lv`` random levels on either side within ``depth`` of the touch.
    cols_p = [bb, ba]
    cols_s = [np.ones(n_msg), -np.ones(n_msg)]
    cols_q = [lots[:, 0], lots[:, 1]]
    for k in range(1, step + sp):
        cols_p += [bb + k, ba - k]
        cols_s += [np.ones(n_msg), -np.ones(n_msg)]
        cols_q += [np.zeros(n_msg, np.int64)] * 2
    for j in range(lv):
        side = rng.choice(np.array([1, -1]), n_msg)
        off = rng.integers(1, depth + 1, n_msg)
        cols_p.append(np.where(side > 0, bb - off, ba + off))
        cols_s.append(side)
        cols_q.append(lots[:, 2 + j])
    price = np.stack(cols_p, axis=1).astype(np.int64)
    side = np.stack(cols_s, axis=1).astype(np.int8)
    qty = np.stack(cols_q, axis=1).astype(np.int64) * UNITS_PER_LOT
    uid = 1_000 + np.arange(n_msg, dtype=np.int64) * 3
    d_cols = {
        "exch_ts": np.repeat(exch, diff_rows),
        "local_ts": np.repeat(local, diff_rows),
        "kind": np.full(n_msg * diff_rows, DIFF, np.uint8),
        "side": side.ravel(),
        "price": price.ravel(),
        "qty": qty.ravel(),
        "first_update_id": np.repeat(uid - 2, diff_rows),
        "update_id": np.repeat(uid, diff_rows),
    }
    # Trades: bursts at random messages, just before that message's diff; a burst's trades
    # are on one side, at the touch and walking one level deeper at a time.
    n_trades = int(n_msg * (per_msg - diff_rows))
    n_burst = max(1, int(n_trades / shape.burst))
    sizes = rng.geometric(1.0 / shape.burst, n_burst) if shape.burst > 1 else np.ones(n_burst, int)
    while sizes.sum() < n_trades:  # a short draw (small tapes): more bursts
        sizes = np.concatenate([sizes, rng.geometric(1.0 / shape.burst, n_burst)])
    n_burst = len(sizes)
    t_msg = np.repeat(np.sort(rng.integers(0, n_msg, n_burst)), sizes)[:n_trades]
    b_side = np.repeat(rng.choice(np.array([-1, 1], np.int8), n_burst), sizes)[:n_trades]
    first = np.repeat(np.cumsum(sizes) - sizes, sizes)[:n_trades]
    deeper = (rng.random(len(t_msg)) < 0.3).astype(np.int64)
    walk = np.cumsum(deeper) - np.repeat(np.cumsum(deeper)[first] - deeper[first], 1)
    walk = np.minimum(walk, depth)
    t_cols = {
        "exch_ts": exch[t_msg] - 1_000_000,
        "local_ts": local[t_msg],
        "kind": np.full(len(t_msg), TRADE, np.uint8),
        "side": b_side,
        "price": np.where(b_side > 0, ba[t_msg] + walk, bb[t_msg] - walk).astype(np.int64),
        "qty": rng.integers(1, 5_000, len(t_msg)) * UNITS_PER_LOT,
        "first_update_id": np.zeros(len(t_msg), np.int64),
        "update_id": 1 + np.arange(len(t_msg), dtype=np.int64),
    }
    key = np.concatenate([t_msg * 2, np.repeat(np.arange(n_msg) * 2 + 1, diff_rows)])
    order = np.argsort(key, kind="stable")
    body = {k: np.concatenate([t_cols[k], d_cols[k]])[order] for k in d_cols}
    lv_ix = np.arange(depth)
    n_snap = 2 * depth + 1
    snap = {
        "exch_ts": np.full(n_snap, START_NS - STEP_NS, np.int64),
        "local_ts": np.full(n_snap, START_NS - STEP_NS + 5_000_000, np.int64),
        "kind": np.array([CLEAR] + [SNAPSHOT] * (2 * depth), np.uint8),
        "side": np.array([0] + [1] * depth + [-1] * depth, np.int8),
        "price": np.concatenate([[0], bb[0] - lv_ix, ba[0] + lv_ix]).astype(np.int64),
        "qty": np.concatenate([[0], np.full(2 * depth, 50_000 * UNITS_PER_LOT)]).astype(np.int64),
        "first_update_id": np.full(n_snap, 999, np.int64),
        "update_id": np.full(n_snap, 999, np.int64),
    }
    return {k: np.concatenate([snap[k], body[k]])[: shape.rows] for k in body}


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
    ap.add_argument("--shape", choices=sorted(SHAPES), help="a named shape (make_shape)")
    for name, value in asdict(Shape()).items():
        if name not in ("rows", "seed"):
            flag = "--" + name.replace("_", "-")
            ap.add_argument(flag, type=type(value), help=f"shape parameter (default {value})")
    args = ap.parse_args()
    t0 = time.perf_counter()
    given = {k: v for k, v in vars(args).items() if k in asdict(Shape()) and v is not None}
    custom = args.shape or any(k not in ("rows", "seed") for k in given)
    if custom:
        base = SHAPES[args.shape] if args.shape else Shape()
        cols = make_shape(replace(base, **given))
    else:
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

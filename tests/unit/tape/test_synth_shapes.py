"""The benchmark tape generator keeps its word: rows, span, trade share, a book never crossed."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from synth import SHAPES, Shape, make_shape

from pegbot.tape.schema import CLEAR, TRADE

ROWS = 60_000


def _crossed_messages(cols: dict[str, np.ndarray]) -> int:
    # Replay the book and count the message boundaries (local time changes) where it crossed.
    bids: dict[int, int] = {}
    asks: dict[int, int] = {}
    crossed = 0
    kind, side, price, qty = (cols[k].tolist() for k in ("kind", "side", "price", "qty"))
    local = cols["local_ts"].tolist()
    for i, k in enumerate(kind):
        if k == CLEAR:
            bids.clear()
            asks.clear()
        elif k != TRADE:
            book = bids if side[i] > 0 else asks
            if qty[i]:
                book[price[i]] = qty[i]
            else:
                book.pop(price[i], None)
        last = i + 1 == len(kind) or local[i + 1] != local[i]
        if last and bids and asks and max(bids) >= min(asks):
            crossed += 1
    return crossed


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_named_shapes(name: str) -> None:
    shape = replace(SHAPES[name], rows=ROWS)
    cols = make_shape(shape)
    assert all(len(c) == ROWS for c in cols.values())
    local = cols["local_ts"]
    assert (np.diff(local) >= 0).all()
    assert (cols["exch_ts"] < local).all()
    span = (local[-1] - local[0]) / 1e9
    assert span == pytest.approx(shape.span_s, rel=0.1)
    share = float((cols["kind"] == TRADE).mean())
    assert share == pytest.approx(shape.trade_share, rel=0.3, abs=0.005)
    assert _crossed_messages(cols) == 0


def test_parameters_shape_the_tape() -> None:
    quiet = make_shape(Shape(rows=ROWS, span_s=86_400, silences=1.1, seed=3))
    even = make_shape(Shape(rows=ROWS, span_s=86_400, seed=3))
    gaps_q = np.diff(np.unique(quiet["local_ts"]))
    gaps_e = np.diff(np.unique(even["local_ts"]))
    assert gaps_q.max() > 20 * gaps_e.max()  # long silences
    wide = make_shape(Shape(rows=ROWS, spread=3, levels=10, seed=3))
    d = wide["kind"] != TRADE
    per_msg = np.unique(wide["local_ts"][d], return_counts=True)[1]
    assert np.median(per_msg) == 2 + 2 * (1 + 3 - 1) + 10  # touch, clears, levels
    bursty = make_shape(Shape(rows=ROWS, trade_share=0.3, burst=20.0, seed=3))
    t = bursty["kind"] == TRADE
    runs = np.unique(bursty["local_ts"][t], return_counts=True)[1]
    assert runs.mean() > 5  # trades come in bursts at one message
    assert (
        make_shape(Shape(rows=ROWS, seed=3))["price"].tolist()
        == make_shape(Shape(rows=ROWS, seed=3))["price"].tolist()
    )

"""The backtest's speed measures leave no trace: GC thresholds restored, the reader thread gone."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import pytest
from _backtest_helpers import Fixed, book_rows, fills, run, write

from pegbot.strategy import ALL_INPUTS, DesiredQuotes, MarketState


class Boom:
    """Raises at its first decision."""

    name = "boom"
    inputs = ALL_INPUTS

    def quote(self, state: MarketState) -> DesiredQuotes:
        raise RuntimeError("boom")


def _rows() -> list[tuple[int, ...]]:
    rows: list[tuple[int, ...]] = list(book_rows(0))
    for i in range(1, 60):  # trades through our bid every 50 ms, across many row groups
        rows.append((i * 50, 4, -1, 1140, 30))
        rows.append((i * 50 + 1, 2, 1, 1140, 100))
    return rows


def _reader_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith("pegbot-tape"))


def test_gc_threshold_and_reader_thread_restored(tmp_path: Path) -> None:
    before = gc.get_threshold()
    r = run(write(tmp_path / "t.parquet", _rows(), group=5), Fixed(1140, lots=20))
    assert r.venue.records.fills  # it did trade
    assert r.cpu_s > 0 and r.wall_s > 0
    # The compiled core's share of the replay is measured, and is a part of it.
    assert 0 < r.core_s < r.wall_s
    assert gc.get_threshold() == before
    assert _reader_threads() == 0


def test_restored_when_the_strategy_raises(tmp_path: Path) -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError, match="boom"):
        run(write(tmp_path / "t.parquet", _rows(), group=5), Boom())
    assert gc.get_threshold() == before
    assert _reader_threads() == 0


def test_prefetched_row_groups_give_the_one_window_result(tmp_path: Path) -> None:
    rows = _rows()
    many = run(write(tmp_path / "a.parquet", rows, group=3), Fixed(1140, lots=20))
    one = run(write(tmp_path / "b.parquet", rows, group=10_000), Fixed(1140, lots=20))
    assert fills(many) == fills(one) and fills(one)
    assert many.local == one.local

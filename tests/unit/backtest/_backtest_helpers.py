"""Helpers shared by the backtest tests: hand-written tapes and a fixed-quote strategy."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from pegbot.backtest.engine import Backtest, BacktestRun
from pegbot.backtest.venue import Account
from pegbot.execution.reconciler import Reconciler
from pegbot.market import Side
from pegbot.matching import ConstantLatency, FillEngine, RiskAverse
from pegbot.strategy import ALL_INPUTS, DesiredQuotes, MarketState, Quote
from pegbot.tape.schema import CLEAR, DIFF, SNAPSHOT, TRADE, TapeMeta
from pegbot.tape.writer import TapeWriter

MS = 1_000_000
T0 = 1_735_689_600_000_000_000
LOT = 10**8  # qty units per KGST (lot 1, 8 decimals)


def meta() -> TapeMeta:
    return TapeMeta("test", "KGST/USDT", Decimal("0.00001"), Decimal("1"))


def write(path: Path, rows: list[Any], feed_ms: int = 1, group: int = 4) -> Path:
    """Rows of (exch_ms, kind, side, price, lots[, local_ms]) → a tape; local = exch + feed_ms."""
    exch = np.array([T0 + r[0] * MS for r in rows], dtype=np.int64)
    local = np.array(
        [T0 + (r[5] if len(r) > 5 else r[0] + feed_ms) * MS for r in rows], dtype=np.int64
    )
    cols = {
        "exch_ts": exch,
        "local_ts": local,
        "kind": np.array([r[1] for r in rows], dtype=np.uint8),
        "side": np.array([r[2] for r in rows], dtype=np.int8),
        "price": np.array([r[3] for r in rows], dtype=np.int64),
        "qty": np.array([r[4] * LOT for r in rows], dtype=np.int64),
        "first_update_id": np.arange(len(rows), dtype=np.int64),
        "update_id": np.arange(len(rows), dtype=np.int64),
    }
    with TapeWriter(path, meta(), row_group_rows=group) as w:  # tiny row groups: windows join
        w.write(cols)
    return path


def book_rows(ms: int = 0, bid: int = 1140, ask: int = 1141, lots: int = 100) -> list[Any]:
    return [(ms, CLEAR, 0, 0, 0), (ms, SNAPSHOT, 1, bid, lots), (ms, SNAPSHOT, -1, ask, lots)]


def walk_tape(path: Path, steps: int = 600, seed: int = 5) -> Path:
    """A KGST-like tape: the best prices walk a tick at a time every 100 ms, trades now and then."""
    rng = np.random.default_rng(seed)
    rows = book_rows(lots=60_000)
    bb = 1140
    for k in range(1, steps):
        bb += int(rng.choice([-1, 0, 0, 0, 1]))
        ms = k * 100
        rows += [(ms, DIFF, 1, bb, int(rng.integers(10_000, 90_000))),
                 (ms, DIFF, -1, bb + 1, int(rng.integers(10_000, 90_000))),
                 (ms, DIFF, -1, bb, 0), (ms, DIFF, 1, bb + 1, 0)]  # fmt: skip
        if k % 4 == 0:
            side = int(rng.choice([-1, 1]))
            rows.append((ms + 50, TRADE, side, bb if side < 0 else bb + 1, 90_000))
    return write(path, rows)


class Fixed:
    """Quotes one bid (and optionally one ask) at fixed prices, always."""

    name = "fixed"
    inputs = ALL_INPUTS

    def __init__(self, bid: int | None, ask: int | None = None, lots: int = 10) -> None:
        self.bid, self.ask, self.lots = bid, ask, lots

    def quote(self, state: MarketState) -> DesiredQuotes:
        q = []
        if self.bid is not None:
            q.append(Quote(Side.BUY, self.bid, self.lots, "b0"))
        if self.ask is not None:
            q.append(Quote(Side.SELL, self.ask, self.lots, "a0"))
        return DesiredQuotes(tuple(q))


def backtest(
    path: Path,
    strategy: Any,
    *,
    partial: bool = True,
    queue: Any = None,
    entry_ms: int = 10,
    response_ms: int = 10,
    reorder_ms: int = 10_000,
    post_only: bool = True,
    amend: bool = False,
    replace_orders: bool = False,
) -> Backtest:
    market = replace(meta().market(), maker_fee=Decimal("0.0001"), taker_fee=Decimal("0.001"))
    return Backtest(
        path,
        market,
        strategy,
        Reconciler(market, "t", post_only=post_only, amend=amend, replace=replace_orders),
        None,
        FillEngine(queue or RiskAverse(), partial_fills=partial, lot_units=LOT),
        ConstantLatency(entry_ms * MS, response_ms * MS),
        initial=Account(1_000 * LOT, 10**17),
        target_base_units=1_000 * LOT,
        reorder_ns=reorder_ms * MS,
    )


def run(path: Path, strategy: Any, **kw: Any) -> BacktestRun:
    """:func:`backtest` run to the end."""
    return backtest(path, strategy, **kw).run()


def fills(r: BacktestRun) -> list[tuple[int, str, int, int, int, int]]:
    return [(f[0] - T0, f[1], f[2], f[3], f[4] // LOT, f[7] // LOT) for f in r.venue.records.fills]

"""The compiled fill engine and the Python FillEngine are twins: same fills, same queues.

Random event sequences (hypothesis) go to both: orders added behind the external level,
cancels, amends, depth changes, trades and taking orders against an external book. After
every event the fills, the refusals and every resting order (side, price, quantity, open
quantity, queue ahead) must be the same, for every queue model, with and without partial
fills, with lots of one unit and of ten (rounded down or to nearest).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pegbot.book import OrderBook
from pegbot.market import Side
from pegbot.matching import (
    FillEngine,
    LogProbQueue,
    LogProbQueue2,
    PowerProbQueue,
    PowerProbQueue2,
    PowerProbQueue3,
    QueueModel,
    RiskAverse,
)
from pegbot.matching import compiled as fx

LO, HI = 95, 105  # the external book's range (dense index = tick - LO)
PRICES = st.integers(min_value=99, max_value=101)
SIDES = st.sampled_from([1, -1])
LOTS = st.integers(min_value=1, max_value=6)

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), SIDES, PRICES, LOTS),
        st.tuples(st.just("cancel"), st.integers(0, 12)),
        st.tuples(st.just("amend"), st.integers(0, 12), st.integers(-1, 7)),
        st.tuples(st.just("depth"), SIDES, st.integers(LO, HI), st.integers(0, 12)),
        st.tuples(st.just("trade"), SIDES, PRICES, st.integers(1, 12)),
        st.tuples(st.just("take"), SIDES, PRICES, LOTS),
    ),
    max_size=50,
)

MODELS: list[QueueModel] = [
    RiskAverse(),
    PowerProbQueue(3),
    PowerProbQueue2(2),
    PowerProbQueue3(3),
    LogProbQueue(10),
    LogProbQueue2(10),
]


def _fill(f: Any) -> tuple[int, ...]:
    return (f.ts_ns, f.order_id, int(f.side), f.price_ticks, f.qty_units, int(f.maker),
            f.leaves_units)  # fmt: skip


class Twins:
    """One FillEngine, one compiled engine, one external book, fed the same events."""

    def __init__(self, queue: QueueModel, partial: bool, lot: int, half: bool) -> None:
        self.py = FillEngine(queue, partial_fills=partial, lot_units=lot, round_half_lot=half)
        self.m = np.zeros(fx.M_LEN, dtype=np.int64)
        fx.configure(self.m, queue, partial, lot, half)
        self.fe = fx.alloc(self.m, 4, 64)
        self.lot = lot
        self.book = OrderBook()
        self.dense = np.zeros((2, HI - LO + 1), dtype=np.int64)  # bids, asks
        self.next_id = 0
        self.t = 0

    def compiled_fills(self) -> list[tuple[int, ...]]:
        c, n = fx.fill_section(self.m), int(self.m[fx.M_NFILL])
        out = [tuple(int(x) for x in self.fe[:7, c + j]) for j in range(n)]
        self.m[fx.M_NFILL] = 0
        return out

    def orders_equal(self) -> None:
        py = [
            (v.order_id, int(v.side), v.price_ticks, v.qty_units, v.leaves_units, v.ahead_units)
            for v in self.py.orders()
        ]
        n = int(self.m[fx.M_NORD])
        comp = [tuple(int(x) for x in self.fe[:6, i]) for i in range(n)]
        # Arrival order globally; FillEngine lists them by arrival too.
        assert comp == py
        assert self.py.best_own_bid == (None if self.m[fx.M_OWN_BID] == fx.NO_BID
                                        else int(self.m[fx.M_OWN_BID]))  # fmt: skip
        assert self.py.best_own_ask == (None if self.m[fx.M_OWN_ASK] == fx.NO_ASK
                                        else int(self.m[fx.M_OWN_ASK]))  # fmt: skip

    def step(self, op: tuple[Any, ...]) -> None:
        self.t += 1
        t, lot = self.t, self.lot
        kind = op[0]
        if kind == "add":
            _, side, price, lots = op
            oid = self.next_id
            self.next_id += 1
            level = self.book.bids.get(price, 0) if side > 0 else self.book.asks.get(price, 0)
            if len(self.py) >= int(self.m[fx.M_K]):
                self.fe = fx.grow(self.m, self.fe, 2 * int(self.m[fx.M_K]))
            self.py.add(oid, side, price, lots * lot, level, t)
            assert fx.add(self.m, self.fe, oid, side, price, lots * lot, lots * lot, level, t) == 0
        elif kind == "cancel":
            assert self.py.cancel(op[1]) == fx.cancel(self.m, self.fe, op[1])
        elif kind == "amend":
            _, oid, new_lots = op
            try:
                want: int | None = self.py.amend(oid, new_lots * lot)
            except ValueError:
                want = -99
            got = fx.amend(self.m, self.fe, oid, new_lots * lot)
            if want is None:
                assert got == fx.NOT_RESTING
            elif want == -99:
                assert got in (fx.ERR_NOT_REDUCED, fx.ERR_LOTS)
            else:
                assert got == want
        elif kind == "depth":
            _, side, price, lots = op
            if side > 0:
                self.book.set_bid(price, lots * lot)
            else:
                self.book.set_ask(price, lots * lot)
            self.dense[0 if side > 0 else 1, price - LO] = lots * lot
            want_f = [_fill(f) for f in self.py.on_depth(side, price, lots * lot, t)]
            fx.on_depth(self.m, self.fe, side, price, lots * lot, t)
            assert self.compiled_fills() == want_f
        elif kind == "trade":
            _, side, price, lots = op
            want_f = [_fill(f) for f in self.py.on_trade(side, price, lots * lot, t)]
            fx.on_trade(self.m, self.fe, side, price, lots * lot, t)
            assert self.compiled_fills() == want_f
        else:  # take: our side buys up to ``price`` (asks) or sells down to it (bids)
            _, side, price, lots = op
            oid = 1000 + t
            want_f = [_fill(f) for f in self.py.take(self.book, side, lots * lot, price, oid, t)]
            levels = self.dense[1] if side > 0 else self.dense[0]
            lo, hi = (0, price - LO) if side > 0 else (price - LO, HI - LO)
            left = fx.take(self.m, self.fe, levels, LO, lo, hi, side, lots * lot, oid, t)
            assert self.compiled_fills() == want_f
            assert left == (want_f[-1][6] if want_f else lots * lot)
            for p in range(LO, HI + 1):
                assert fx.taken_at(self.m, self.fe, -side, p) == (
                    self.book.asks.get(p, 0) if side > 0 else self.book.bids.get(p, 0)
                ) - self.py.available(self.book, -side, p)
        self.orders_equal()


@pytest.mark.parametrize("queue", MODELS, ids=repr)
@pytest.mark.parametrize(("partial", "lot", "half"), [(True, 1, False), (False, 1, False),
                                                      (True, 10, False), (True, 10, True),
                                                      (False, 10, True)])  # fmt: skip
@settings(max_examples=80, deadline=None)
@given(ops=OPS)
def test_the_compiled_engine_is_the_fill_engines_twin(
    queue: QueueModel, partial: bool, lot: int, half: bool, ops: list[tuple[Any, ...]]
) -> None:
    twins = Twins(queue, partial, lot, half)
    for op in ops:
        twins.step(op)


def test_refusals_are_codes_where_the_fill_engine_raises() -> None:
    m = np.zeros(fx.M_LEN, dtype=np.int64)
    fx.configure(m, RiskAverse(), True, 10, False)
    fe = fx.alloc(m, 1, 4)
    assert fx.add(m, fe, 1, 1, 100, 15, 15, 0, 0) == fx.ERR_LOTS
    assert fx.add(m, fe, 1, 1, 0, 10, 10, 0, 0) == fx.ERR_BAD
    assert fx.add(m, fe, 1, 1, 100, 10, 10, 0, 0) == 0
    assert fx.add(m, fe, 1, 1, 100, 10, 10, 0, 0) == fx.ERR_DUPLICATE
    assert fx.add(m, fe, 2, 1, 100, 10, 10, 0, 0) == fx.ERR_FULL
    assert fx.amend(m, fe, 1, 10) == fx.ERR_NOT_REDUCED
    assert fx.amend(m, fe, 2, 5) == fx.NOT_RESTING
    assert fx.on_trade(m, fe, -1, 100, 0, 1) == fx.ERR_BAD
    big = fx.grow(m, fe, 8)
    assert big.shape[1] > fe.shape[1] and int(m[fx.M_NORD]) == 1
    assert fx.add(m, big, 2, int(Side.SELL), 101, 10, 10, 5, 0) == 0
    assert [int(x) for x in big[:6, 1]] == [2, -1, 101, 10, 10, 5]

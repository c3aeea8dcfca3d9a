"""Property tests of pegbot.matching over random event sequences (hypothesis)."""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pegbot.book import OrderBook
from pegbot.market import Side
from pegbot.matching import (
    EngineFill,
    FillEngine,
    LogProbQueue,
    LogProbQueue2,
    PowerProbQueue,
    PowerProbQueue2,
    PowerProbQueue3,
    QueueModel,
    RiskAverse,
)

# A narrow band so orders, depth changes and trades keep meeting at the same prices.
PRICES = st.integers(min_value=99, max_value=101)
QTY = st.integers(min_value=1, max_value=60)
SIDE = st.sampled_from([Side.BUY, Side.SELL])

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), SIDE, PRICES, QTY),
        st.tuples(st.just("cancel"), st.integers(0, 15)),
        st.tuples(st.just("amend"), st.integers(0, 15), st.integers(-1, 61)),
        st.tuples(st.just("depth"), SIDE, PRICES, st.integers(0, 120)),
        st.tuples(st.just("trade"), SIDE, PRICES, QTY),
        st.tuples(st.just("bbo"), PRICES, PRICES),
    ),
    max_size=60,
)


class Run:
    """Drives one engine and checks the per-order invariants as it goes."""

    def __init__(self, queue: QueueModel, partial: bool) -> None:
        self.eng = FillEngine(queue, partial_fills=partial)
        self.qty: dict[int, int] = {}
        self.filled: dict[int, int] = defaultdict(int)
        self.closed: set[int] = set()
        self.canceled: dict[int, int] = {}

    def record(self, fills: list[EngineFill]) -> None:
        for f in fills:
            oid = f.order_id
            assert isinstance(oid, int)
            assert oid not in self.closed, "a closed order filled again"
            assert f.qty_units > 0 and f.maker
            self.filled[oid] += f.qty_units
            assert self.filled[oid] + f.leaves_units == self.qty[oid]
            if f.leaves_units == 0:
                self.closed.add(oid)
                assert oid not in self.eng

    def amend(self, oid: int, new: int) -> None:
        """Amend ``oid`` to ``new`` and check that nothing queued ahead moved."""
        before = {v.order_id: v for v in self.eng.orders()}
        view = before.get(oid)
        if view is None:
            assert self.eng.amend(oid, new) is None
            return
        if not 0 < new < view.qty_units:
            with pytest.raises(ValueError):
                self.eng.amend(oid, new)
            assert {v.order_id: v for v in self.eng.orders()} == before, "a refused amend acted"
            return
        left = self.eng.amend(oid, new)
        executed = view.qty_units - view.leaves_units
        assert left == max(new - executed, 0)
        after = {v.order_id: v for v in self.eng.orders()}
        # Priority kept: every order keeps its queue ahead, the amended one included.
        for other, was in before.items():
            if other in after:
                assert after[other].ahead_units == was.ahead_units
        if left:
            assert after[oid].qty_units == new and after[oid].leaves_units == left
            assert after[oid].leaves_units < view.leaves_units, "an amend grew the order"
            self.qty[oid] = new
        else:
            assert oid not in after
            self.qty[oid] = executed
            self.canceled[oid] = 0

    def check(self, book: dict[int, dict[int, int]]) -> None:
        for view in self.eng.orders():
            oid = view.order_id
            assert isinstance(oid, int)
            assert view.ahead_units >= 0, "negative queue ahead"
            assert view.ahead_units <= book[view.side].get(view.price_ticks, 0)
            assert 0 < view.leaves_units <= view.qty_units
            assert self.filled[oid] + view.leaves_units == view.qty_units
        for oid, qty in self.qty.items():
            assert self.filled[oid] <= qty
            done = self.filled[oid] + self.canceled.get(oid, 0)
            assert (oid in self.eng) == (oid not in self.closed and oid not in self.canceled)
            if oid not in self.eng:
                assert done == qty, "quantity lost: filled + canceled != ordered"


History = list[list[dict[int, int]]]


def drive(ops: list[tuple[object, ...]], runs: list[Run]) -> tuple[History, History]:
    """Apply ``ops`` to every run; return each run's cumulative fills and queue-ahead by step."""
    book: dict[int, dict[int, int]] = {1: {}, -1: {}}
    history: History = [[] for _ in runs]
    aheads: History = [[] for _ in runs]
    next_id = 0
    for op in ops:
        kind = op[0]
        for i, run in enumerate(runs):
            fills: list[EngineFill] = []
            if kind == "add":
                _, side, price, qty = op
                assert isinstance(side, Side) and isinstance(price, int) and isinstance(qty, int)
                run.qty[next_id] = qty
                run.eng.add(next_id, side, price, qty, book[side].get(price, 0), 0)
            elif kind == "cancel":
                oid = op[1]
                assert isinstance(oid, int)
                left = run.eng.cancel(oid)
                if left:
                    run.canceled[oid] = left
            elif kind == "amend":
                _, oid, new = op
                assert isinstance(oid, int) and isinstance(new, int)
                run.amend(oid, new)
            elif kind == "depth":
                _, side, price, qty = op
                assert isinstance(side, Side) and isinstance(price, int) and isinstance(qty, int)
                if i == 0:
                    book[side][price] = qty
                fills = run.eng.on_depth(side, price, qty, 0)
            elif kind == "trade":
                _, side, price, qty = op
                assert isinstance(side, Side) and isinstance(price, int) and isinstance(qty, int)
                fills = run.eng.on_trade(side, price, qty, 0)
                if run.eng.partial_fills:
                    # Fills at the trade's own price never exceed the traded volume.
                    assert sum(f.qty_units for f in fills if f.price_ticks == price) <= qty
            else:
                _, bb, ba = op
                assert isinstance(bb, int) and isinstance(ba, int)
                fills = run.eng.on_bbo(bb, ba, 0)
            run.record(fills)
            run.check(book)
            history[i].append(dict(run.filled))
            aheads[i].append({int(v.order_id): v.ahead_units for v in run.eng.orders()})
        if kind == "add":
            next_id += 1
    return history, aheads


@settings(max_examples=300, deadline=None)
@given(OPS, st.booleans())
def test_invariants_hold_for_every_model(ops: list[tuple[object, ...]], partial: bool) -> None:
    drive(
        ops,
        [
            Run(RiskAverse(), partial),
            Run(PowerProbQueue(3), partial),
            Run(PowerProbQueue3(2), partial),
            Run(LogProbQueue(), partial),
        ],
    )


@settings(max_examples=300, deadline=None)
@given(OPS, st.booleans(), st.sampled_from([PowerProbQueue(1), PowerProbQueue(3), LogProbQueue()]))
def test_risk_averse_never_fills_earlier_than_prob_models(
    ops: list[tuple[object, ...]], partial: bool, prob: QueueModel
) -> None:
    (ra, pq), (ahead_ra, ahead_pq) = drive(ops, [Run(RiskAverse(), partial), Run(prob, partial)])
    for step_ra, step_pq in zip(ra, pq, strict=True):
        for oid, qty in step_ra.items():
            assert qty <= step_pq.get(oid, 0), f"RiskAverse filled order {oid} before {prob!r}"
    for step_ra, step_pq in zip(ahead_ra, ahead_pq, strict=True):
        for oid, ahead in step_pq.items():
            if oid in step_ra:
                assert ahead <= step_ra[oid], f"{prob!r} put order {oid} further back"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(PRICES, QTY), min_size=1, max_size=8),
    st.lists(st.tuples(SIDE, QTY, st.one_of(st.none(), PRICES)), max_size=8),
)
def test_take_conserves_quantity_and_respects_limits(
    asks: list[tuple[int, int]], orders: list[tuple[Side, int, int | None]]
) -> None:
    book = OrderBook()
    book.apply_snapshot(bids=[(p - 7, q) for p, q in asks], asks=asks)
    start = {1: dict(book.bids), -1: dict(book.asks)}
    eng = FillEngine()
    taken: dict[tuple[int, int], int] = defaultdict(int)
    for n, (side, qty, limit) in enumerate(orders):
        fills = eng.take(book, side, qty, limit, n, 0)
        assert sum(f.qty_units for f in fills) <= qty
        left = qty
        for f in fills:
            left -= f.qty_units
            assert f.leaves_units == left and not f.maker
            if limit is not None:
                assert f.price_ticks <= limit if side > 0 else f.price_ticks >= limit
            taken[(-side, f.price_ticks)] += f.qty_units
        # Best price first.
        prices = [f.price_ticks for f in fills]
        assert prices == sorted(prices, reverse=side < 0)
    for (level_side, price), qty in taken.items():
        assert qty <= start[level_side][price], "took more than the level held"


MODELS = [
    RiskAverse(),
    PowerProbQueue(1),
    PowerProbQueue(3),
    PowerProbQueue2(2),
    PowerProbQueue3(3),
    LogProbQueue(),
    LogProbQueue(10**8),
    LogProbQueue2(),
]


@settings(max_examples=500, deadline=None)
@given(
    st.integers(0, 10**15),
    st.integers(0, 10**15),
    st.integers(0, 10**15),
    st.integers(0, 10**15),
    st.sampled_from(MODELS),
)
def test_queue_models_keep_ahead_within_zero_and_risk_averse(
    ahead: int, prev: int, new: int, traded: int, model: QueueModel
) -> None:
    ahead = min(ahead, prev)
    traded = min(traded, prev)
    got = model.on_depth(ahead, prev, new, traded)
    assert isinstance(got, int)
    assert 0 <= got <= min(ahead, new)

"""Properties of the order-state machine driven by the real reconciler and a model venue.

Hypothesis plays the market and the venue: desired ladders change at random, the venue
answers requests in any order (ack, reject, unknown outcome, cancelled, not found, failed
cancel), fills arrive (some twice), late acks arrive for finished orders, and open-orders
snapshots come in. After every step the rules of :mod:`pegbot.execution.orders` must hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from pegbot.execution.orders import DETACHED, OpenOrder, OrderTracker
from pegbot.execution.reconciler import Reconciler
from pegbot.market import Market, Side
from pegbot.strategy import DesiredQuotes, OrderStatus, Quote

MARKET = Market.kgst_usdt()
RUN = "prop"
LEVELS = [("b0", Side.BUY), ("b1", Side.BUY), ("a0", Side.SELL), ("a1", Side.SELL)]


@dataclass
class VenueOrder:
    side: Side
    price: int
    lots: int
    state: str = "in_flight"  # in_flight -> open -> closed


@dataclass
class Model:
    """What the venue really holds, and the requests not yet answered."""

    orders: dict[str, VenueOrder] = field(default_factory=dict)
    places: list[str] = field(default_factory=list)  # sent, not answered
    cancels: list[str] = field(default_factory=list)
    unknown: set[str] = field(default_factory=set)


class OrdersMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tracker = OrderTracker(RUN, memory=50)
        self.reconciler = Reconciler(MARKET, RUN, cap_exposure=True, size_tolerance="0.2")
        self.venue = Model()
        self.trade_seq = 0
        self.applied_trades: set[str] = set()
        self.finished: set[str] = set()
        self.now = 0

    def _tick(self) -> int:
        self.now += 1
        return self.now

    # -- the strategy wants something ---------------------------------------------------

    @rule(
        prices=st.lists(st.integers(1130, 1150), min_size=4, max_size=4),
        sizes=st.lists(st.integers(1000, 3000), min_size=4, max_size=4),
        present=st.lists(st.booleans(), min_size=4, max_size=4),
    )
    def decide(self, prices: list[int], sizes: list[int], present: list[bool]) -> None:
        quotes = [
            Quote(side, p, lots, level)
            for (level, side), p, lots, keep in zip(LEVELS, prices, sizes, present, strict=True)
            if keep
        ]
        before = {o.client_id: o.status for o in self.tracker.live_orders()}
        actions = self.reconciler.diff(DesiredQuotes(tuple(quotes)), self.tracker.live_orders())
        sent = self.tracker.apply(actions)
        # The reconciler and the tracker agree: nothing it asks for is unsafe.
        assert sent.refused == (), sent.refused
        for c in sent.cancels:
            # Never a cancel of an unacknowledged order, never a second cancel.
            assert before[c.client_id] is OrderStatus.OPEN
            self.venue.cancels.append(c.client_id)
        for p in sent.places:
            q = p.quote
            self.venue.orders[p.client_id] = VenueOrder(q.side, q.price_ticks, q.lots)
            self.venue.places.append(p.client_id)

    # -- the venue answers ---------------------------------------------------------------

    @precondition(lambda self: self.venue.places)
    @rule(i=st.integers(0, 100), outcome=st.sampled_from(["ack", "reject", "unknown", "ack"]))
    def answer_place(self, i: int, outcome: str) -> None:
        cid = self.venue.places.pop(i % len(self.venue.places))
        vo = self.venue.orders[cid]
        if outcome == "reject":
            vo.state = "closed"
            self.tracker.on_closed(cid)
            self.finished.add(cid)
        elif outcome == "unknown":
            # It may or may not have arrived; the tracker must wait for a snapshot.
            vo.state = "open" if i % 2 else "closed"
            self.tracker.on_unknown(cid)
            self.venue.unknown.add(cid)
        else:
            vo.state = "open"
            self.tracker.on_open(cid, self._tick(), vo.side, vo.price, vo.lots)

    @precondition(lambda self: self.venue.cancels)
    @rule(i=st.integers(0, 100), fail=st.booleans())
    def answer_cancel(self, i: int, fail: bool) -> None:
        cid = self.venue.cancels.pop(i % len(self.venue.cancels))
        vo = self.venue.orders[cid]
        if vo.state == "open" and fail:
            self.tracker.on_cancel_failed(cid)
            return
        vo.state = "closed"  # cancelled, or "not found" (filled or gone already)
        self.tracker.on_closed(cid)
        self.finished.add(cid)

    @precondition(lambda self: any(o.state == "open" for o in self.venue.orders.values()))
    @rule(i=st.integers(0, 100), part=st.integers(1, 3000), repeat=st.booleans())
    def fill(self, i: int, part: int, repeat: bool) -> None:
        open_ids = sorted(c for c, o in self.venue.orders.items() if o.state == "open")
        cid = open_ids[i % len(open_ids)]
        vo = self.venue.orders[cid]
        lots = min(part, vo.lots)
        vo.lots -= lots
        if vo.lots == 0:
            vo.state = "closed"
            self.finished.add(cid)
        self.trade_seq += 1
        trade = f"T{self.trade_seq}"
        assert self.tracker.on_fill(cid, trade, filled_lots=lots)
        self.applied_trades.add(trade)
        if repeat:  # the stream and the recovery both deliver it
            assert not self.tracker.on_fill(cid, trade, filled_lots=lots)

    @precondition(lambda self: self.finished)
    @rule(data=st.data())
    def late_ack(self, data: st.DataObject) -> None:
        cid = data.draw(st.sampled_from(sorted(self.finished)))
        vo = self.venue.orders[cid]
        assert not self.tracker.on_open(cid, self._tick(), vo.side, vo.price, vo.lots)

    @rule()
    def snapshot(self) -> None:
        started = self._tick()
        rows = [
            OpenOrder(c, o.side, o.price, o.lots)
            for c, o in self.venue.orders.items()
            if o.state == "open"
        ]
        assert self.tracker.reconcile(rows, started) == []  # every order is this run's
        for cid in list(self.venue.unknown):
            self.venue.unknown.discard(cid)
            if self.venue.orders[cid].state == "closed":
                self.finished.add(cid)

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def one_active_order_per_level(self) -> None:
        active = [
            o.level_id
            for o in self.tracker.live_orders()
            if o.status is not OrderStatus.PENDING_CANCEL and o.level_id != DETACHED
        ]
        assert len(active) == len(set(active)), active

    @invariant()
    def finished_orders_stay_finished(self) -> None:
        live = {o.client_id for o in self.tracker.live_orders()}
        # An order the venue closed and the tracker was told about is never live again.
        told = {c for c in self.finished if self.tracker.is_finished(c)}
        assert not (live & told)

    @invariant()
    def the_tracker_never_believes_in_more_than_the_venue_may_hold(self) -> None:
        for o in self.tracker.live_orders():
            vo = self.venue.orders[o.client_id]
            assert o.lots <= vo.lots or vo.state == "closed", (o, vo)


TestOrdersMachine = OrdersMachine.TestCase
TestOrdersMachine.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)

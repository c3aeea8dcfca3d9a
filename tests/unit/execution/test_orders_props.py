"""Properties of the order-state machine driven by the real reconciler and a model venue.

Hypothesis plays the market and the venue: desired ladders change at random, the venue
answers requests in any order (ack, reject, unknown outcome, cancelled, not found, failed
cancel; cancel-replaces half by half; amends applied, refused or too late), fills arrive
(some twice), late acks arrive for finished orders, and open-orders snapshots come in. After
every step the rules of :mod:`pegbot.execution.orders` must hold.
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
    replaces: list[tuple[str, str]] = field(default_factory=list)  # (old, new)
    amends: list[tuple[str, int]] = field(default_factory=list)  # (order, new lots)
    unknown: set[str] = field(default_factory=set)


class OrdersMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tracker = OrderTracker(RUN, memory=50)
        self.reconciler = Reconciler(
            MARKET, RUN, cap_exposure=True, size_tolerance="0.2", amend=True, replace=True
        )
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
        self._diff(quotes)

    @rule(factor=st.sampled_from([2, 3]))
    def shrink(self, factor: int) -> None:
        # The ladder stays where it is but wants less size: amends, not replacements.
        quotes = [
            Quote(o.side, o.price_ticks, max(1000, o.lots // factor), o.level_id)
            for o in self.tracker.live_orders()
            if o.status is not OrderStatus.PENDING_CANCEL and o.level_id
        ]
        by_level = {q.level_id: q for q in quotes}
        self._diff(list(by_level.values()))

    def _diff(self, quotes: list[Quote]) -> None:
        before = {o.client_id: o.status for o in self.tracker.live_orders()}
        actions = self.reconciler.diff(DesiredQuotes(tuple(quotes)), self.tracker.live_orders())
        sent = self.tracker.apply(actions)
        # The reconciler and the tracker agree: nothing it asks for is unsafe.
        assert sent.refused == (), sent.refused
        acked = (OrderStatus.OPEN, OrderStatus.PENDING_AMEND)
        for c in sent.cancels:
            # Never a cancel of an unacknowledged order, never a second cancel.
            assert before[c.client_id] in acked
            self.venue.cancels.append(c.client_id)
        for r in sent.replaces:
            # Only a resting, acknowledged order moves, and it moves once.
            assert before[r.cancel.client_id] is OrderStatus.OPEN
            q = r.place.quote
            self.venue.orders[r.place.client_id] = VenueOrder(q.side, q.price_ticks, q.lots)
            self.venue.replaces.append((r.cancel.client_id, r.place.client_id))
        for a in sent.amends:
            assert before[a.client_id] is OrderStatus.OPEN
            self.venue.amends.append((a.client_id, a.lots))
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

    @precondition(lambda self: self.venue.replaces)
    @rule(i=st.integers(0, 100), place_fails=st.booleans(), other_failure=st.booleans())
    def answer_replace(self, i: int, place_fails: bool, other_failure: bool) -> None:
        old, new = self.venue.replaces.pop(i % len(self.venue.replaces))
        vo, vn = self.venue.orders[old], self.venue.orders[new]
        if vo.state != "open":  # filled or gone: "not found", the new order not attempted
            vn.state = "closed"
            self.tracker.on_closed(old)
            self.tracker.on_closed(new)
            self.finished |= {old, new}
            return
        if other_failure:  # the request refused as a whole: nothing happened
            vn.state = "closed"
            self.tracker.on_cancel_failed(old)
            self.tracker.on_closed(new)
            self.finished.add(new)
            return
        vo.state = "closed"
        self.tracker.on_closed(old)
        self.finished.add(old)
        if place_fails:  # 409: cancelled, the new order rejected
            vn.state = "closed"
            self.tracker.on_closed(new)
            self.finished.add(new)
        else:
            vn.state = "open"
            self.tracker.on_open(new, self._tick(), vn.side, vn.price, vn.lots)

    @precondition(lambda self: self.venue.amends)
    @rule(i=st.integers(0, 100), refused=st.booleans())
    def answer_amend(self, i: int, refused: bool) -> None:
        cid, lots = self.venue.amends.pop(i % len(self.venue.amends))
        vo = self.venue.orders[cid]
        if vo.state != "open":
            self.tracker.on_closed(cid)
            self.finished.add(cid)
        elif refused or lots >= vo.lots:  # the venue refuses anything but a reduce
            self.tracker.on_amend_failed(cid)
        else:
            vo.lots = lots
            self.tracker.on_amended(cid, self._tick(), lots)

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
    def the_tracker_never_believes_in_less_than_the_venue_holds(self) -> None:
        # Every order resting on the venue is known (exposure is never underestimated),
        # unless its placement's outcome is still unknown (then it holds its level).
        live = {o.client_id for o in self.tracker.live_orders()}
        for cid, vo in self.venue.orders.items():
            if vo.state == "open":
                assert cid in live, cid

    @invariant()
    def the_tracker_never_believes_in_more_than_the_venue_may_hold(self) -> None:
        for o in self.tracker.live_orders():
            vo = self.venue.orders[o.client_id]
            assert o.lots <= vo.lots or vo.state == "closed", (o, vo)


TestOrdersMachine = OrdersMachine.TestCase
TestOrdersMachine.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)

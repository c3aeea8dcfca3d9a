"""Our orders as the shell knows them: one pure state machine for the live bot and the backtest.

The reconciler decides *what* to send; this module keeps the record of *what is out there*
and is the only place that changes it. Both shells — the live runner
(:mod:`pegbot.live.runner`) and the backtest engine (:mod:`pegbot.backtest.engine`) — apply
the reconciler's actions here and fold every venue answer in here, so the rule that decides
what is resting exists once and the two worlds cannot drift apart.

An order's life, from our side of the wire (:class:`~pegbot.strategy.OrderStatus`)::

    place sent ──► PENDING_NEW ──ack / open update──► OPEN ──cancel sent──► PENDING_CANCEL
         │              │   ▲                        │  ▲  ▲                   │
         │     outcome unknown (kept, level busy)    │  │  └──cancel failed────┘
         │              │              amend sent ──►│  │
         │              │                  PENDING_AMEND ──answered / failed
         └──────────────┴──► finished: filled, cancelled, rejected, expired, not found

A cancel-replace moves the old order to ``PENDING_CANCEL`` and adds its successor as
``PENDING_NEW`` in one step; each half then settles on its own answer.

Rules (each one a property test in ``tests/unit/execution/test_orders_props.py``):

* a level never holds two *active* orders (``PENDING_NEW`` or ``OPEN``): a place for a level
  that still holds one is refused, never sent; an order whose cancel failed is ``OPEN`` again,
  and if its level took a new order meanwhile it serves no level (:data:`DETACHED`) — the next
  diff cancels it again or lets it serve a level it fits;
* an order is never cancelled before the venue acknowledged it (a cancel can overtake the
  place and leave it resting), nor cancelled twice; only an acknowledged, resting order
  (``OPEN``) is amended or replaced, and an amend only ever reduces;
* a placement whose outcome is unknown stays ``PENDING_NEW`` — its level busy — until an
  open-orders snapshot (:meth:`OrderTracker.reconcile`) says whether it exists; it is never
  re-sent under a new id before that;
* every fill is applied once (by trade id), and a finished order never comes back: a late
  ack or stream event for it is ignored. Both memories are bounded (the oldest forgotten
  first), so a bot running for months stays flat.

Nothing here does I/O or reads a clock: times come in as arguments.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from pegbot.execution.reconciler import (
    Actions,
    Amend,
    Cancel,
    Place,
    Replace,
    is_pegbot_order,
    parse_client_id,
)
from pegbot.market import Side
from pegbot.strategy import LiveOrder, OrderStatus
from pegbot.values import value

__all__ = ["DETACHED", "ID_MEMORY", "OpenOrder", "OrderTracker", "Refusal", "ToSend"]

#: Ids each bounded memory keeps (finished orders, applied trades).
ID_MEMORY = 20_000
#: The level of an order that serves none (its cancel failed after its level was re-quoted).
DETACHED = ""

_NEW, _OPEN = OrderStatus.PENDING_NEW, OrderStatus.OPEN
_CANCELLING, _AMENDING = OrderStatus.PENDING_CANCEL, OrderStatus.PENDING_AMEND


@value
class Refusal:
    """An action the tracker would not let out, and why (a reconciler bug if it ever shows).

    Attributes:
        client_id: The order.
        level_id: Its level.
        reason: ``unacknowledged`` (cancel of a ``PENDING_NEW`` order), ``cancel_pending``,
            ``unknown_order``, ``level_taken`` (a second active order for a level),
            ``id_reused``, ``not_open`` (an amend or replace of an order not resting and
            acknowledged) or ``not_a_reduce``.
    """

    client_id: str
    level_id: str
    reason: str


@value
class ToSend:
    """The requests to send after :meth:`OrderTracker.apply`, in this order."""

    cancels: tuple[Cancel, ...] = ()
    places: tuple[Place, ...] = ()
    refused: tuple[Refusal, ...] = ()
    replaces: tuple[Replace, ...] = ()
    amends: tuple[Amend, ...] = ()


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """One open order as a venue snapshot lists it (in lots of the market).

    Attributes:
        client_id: Client order id (None for orders placed without one).
        side: Buy or sell.
        price_ticks: Limit price.
        lots: Remaining size.
    """

    client_id: str | None
    side: Side
    price_ticks: int
    lots: int


class OrderTracker:
    """The live set and its memories (see the module docstring).

    Args:
        run_id: This run's id: an open order of ours unknown to the set is adopted only if
            its client id carries this run (another run's orders are orphans). None adopts
            nothing.
        memory: Ids each bounded memory keeps.
    """

    __slots__ = (
        "_done",
        "_open_seen_ns",
        "_orders",
        "_seen_trades",
        "_snapshot",
        "_unknown",
        "memory",
        "run_id",
        "version",
    )

    def __init__(self, run_id: str | None = None, memory: int = ID_MEMORY) -> None:
        if memory < 1:
            raise ValueError(f"memory must be >= 1, got {memory}")
        self.run_id = run_id
        self.memory = memory
        #: Bumped on every change of the live set (a cheap "did anything change" test).
        self.version = 0
        self._orders: dict[str, LiveOrder] = {}
        self._snapshot: tuple[LiveOrder, ...] | None = ()
        self._unknown: set[str] = set()
        # Local time each order was last known open (ack, stream, snapshot): a snapshot taken
        # after that which lacks the order proves it gone.
        self._open_seen_ns: dict[str, int] = {}
        self._done: OrderedDict[str, None] = OrderedDict()
        self._seen_trades: OrderedDict[str, None] = OrderedDict()

    # -- views ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._orders)

    def __contains__(self, client_id: object) -> bool:
        return client_id in self._orders

    def get(self, client_id: str) -> LiveOrder | None:
        """The live order with this client id, if any."""
        return self._orders.get(client_id)

    def live_orders(self) -> tuple[LiveOrder, ...]:
        """Every live order; the same tuple object until the set changes."""
        snap = self._snapshot
        if snap is None:
            snap = self._snapshot = tuple(self._orders.values())
        return snap

    def client_ids(self) -> list[str]:
        """Client ids of the live orders, sorted."""
        return sorted(self._orders)

    @property
    def unknown(self) -> frozenset[str]:
        """Placements whose outcome the venue did not tell (waiting for a snapshot)."""
        return frozenset(self._unknown)

    def is_finished(self, client_id: str) -> bool:
        """Whether ``client_id`` is remembered as finished (or retired)."""
        return client_id in self._done

    def _changed(self) -> None:
        self.version += 1
        self._snapshot = None

    def _set(self, order: LiveOrder) -> None:
        self._orders[order.client_id] = order
        self._changed()

    # -- the reconciler's actions ---------------------------------------------------------

    def apply(self, actions: Actions) -> ToSend:
        """Apply rebinds, mark cancels, replaces and amends, add places; return what to send.

        An action that would break a rule of the module docstring is refused (kept out of
        the result, listed in :attr:`ToSend.refused`) instead of being sent.
        """
        # Runs once per decision that sends anything: orders are rebuilt in place in the
        # dict (one snapshot reset at the end), and the actions' own tuples are passed on
        # when nothing is refused (the usual case) instead of being copied.
        orders = self._orders
        changed = False
        for rb in actions.rebinds:
            o = orders.get(rb.client_id)
            if o is not None and o.status is not _CANCELLING:
                orders[o.client_id] = _with(o, level_id=rb.level_id)
                changed = True
        refused: list[Refusal] = []
        cancels = actions.cancels
        if cancels:
            sent_c: list[Cancel] | None = None  # the cancels let out, once one is refused
            for i, c in enumerate(cancels):
                cid = c.client_id
                o = orders.get(cid)
                if o is None or o.status is _NEW or o.status is _CANCELLING:
                    why = (
                        "unknown_order"
                        if o is None
                        else "unacknowledged"
                        if o.status is _NEW
                        else "cancel_pending"
                    )
                    refused.append(Refusal(cid, c.level_id, why))
                    if sent_c is None:
                        sent_c = list(cancels[:i])
                    continue
                orders[cid] = LiveOrder(cid, o.level_id, o.side, o.price_ticks, o.lots, _CANCELLING)
                changed = True
                if sent_c is not None:
                    sent_c.append(c)
            if sent_c is not None:
                cancels = tuple(sent_c)
        amends: tuple[Amend, ...] = ()
        if actions.amends:
            sent_a: list[Amend] = []
            for a in actions.amends:
                o = orders.get(a.client_id)
                if o is None or o.status is not _OPEN:
                    refused.append(Refusal(a.client_id, a.level_id, "not_open"))
                elif not 0 < a.lots < o.lots:
                    refused.append(Refusal(a.client_id, a.level_id, "not_a_reduce"))
                else:
                    orders[a.client_id] = _with(o, status=_AMENDING)
                    changed = True
                    sent_a.append(a)
            amends = tuple(sent_a)
        replaces: tuple[Replace, ...] = ()
        places = actions.places
        if actions.replaces:
            sent_r: list[Replace] = []
            for r in actions.replaces:
                o = orders.get(r.cancel.client_id)
                if o is None or o.status is not _OPEN:
                    refused.append(Refusal(r.cancel.client_id, r.cancel.level_id, "not_open"))
                    continue
                orders[o.client_id] = _with(o, status=_CANCELLING)
                why = self._place_refusal(r.place)
                if why:  # put the old order back: nothing of this replace goes out
                    orders[o.client_id] = o
                    refused.append(Refusal(r.place.client_id, r.place.quote.level_id, why))
                    continue
                self._add(r.place)
                changed = True
                sent_r.append(r)
            replaces = tuple(sent_r)
        if places:
            sent_p: list[Place] | None = None  # the places let out, once one is refused
            for i, p in enumerate(places):
                why = self._place_refusal(p)
                if why:
                    refused.append(Refusal(p.client_id, p.quote.level_id, why))
                    if sent_p is None:
                        sent_p = list(places[:i])
                    continue
                q = p.quote
                cid = p.client_id
                orders[cid] = LiveOrder(cid, q.level_id, q.side, q.price_ticks, q.lots, _NEW)
                changed = True
                if sent_p is not None:
                    sent_p.append(p)
            if sent_p is not None:
                places = tuple(sent_p)
        if changed:
            self._changed()
        return ToSend(cancels, places, tuple(refused), replaces, amends)

    def _place_refusal(self, p: Place) -> str:
        cid = p.client_id
        if cid in self._orders or cid in self._done:
            return "id_reused"
        level = p.quote.level_id
        for o in self._orders.values():
            if o.level_id == level and o.status is not _CANCELLING:
                return "level_taken"
        return ""

    def _add(self, p: Place) -> None:
        q = p.quote
        self._set(LiveOrder(p.client_id, q.level_id, q.side, q.price_ticks, q.lots, _NEW))

    def cancel_everything(self) -> list[LiveOrder]:
        """Mark every order not yet being cancelled ``PENDING_CANCEL`` and return them.

        For a shell that cancels one by one (the backtest); unacknowledged orders are
        included, since a cancel-all must leave nothing behind (their cancels may find
        nothing and come back "not found").
        """
        out = [o for o in self._orders.values() if o.status is not _CANCELLING]
        for o in out:
            self._orders[o.client_id] = _with(o, status=_CANCELLING)
        if out:
            self._changed()
        return out

    # -- venue answers ---------------------------------------------------------------------

    def on_open(
        self,
        client_id: str,
        now_ns: int,
        side: Side | None = None,
        price_ticks: int | None = None,
        lots: int | None = None,
    ) -> bool:
        """The venue says the order is open (an ack, a stream event, a snapshot row).

        ``PENDING_NEW`` becomes ``OPEN``; ``PENDING_CANCEL`` stays (the cancel is still in
        flight). Price and size are taken when given. An order of this run unknown to the set
        is adopted when side, price and size are given.

        Returns:
            True when the order is (now) in the live set.
        """
        if client_id in self._done:
            return False  # finished already: a late ack never revives it
        orders = self._orders
        o = orders.get(client_id)
        if o is None:
            parsed = parse_client_id(client_id)
            if (
                parsed is None
                or self.run_id is None
                or parsed.run != self.run_id
                or side is None
                or price_ticks is None
                or lots is None
            ):
                return False  # not ours to quote with (another run's orders are orphans)
            new: LiveOrder | None = LiveOrder(
                client_id, parsed.level_id, side, price_ticks, lots, _OPEN
            )
        else:
            status = _OPEN if o.status is _NEW else o.status  # an amend or cancel still flies
            price = o.price_ticks if price_ticks is None else price_ticks
            size = o.lots if lots is None else lots
            # A new object only when something changed (an ack of a cancel in flight, a
            # repeated stream event): the snapshot stays the same tuple otherwise.
            new = (
                None
                if status is o.status and price == o.price_ticks and size == o.lots
                else LiveOrder(client_id, o.level_id, o.side, price, size, status)
            )
        if self._unknown:
            self._unknown.discard(client_id)
        self._open_seen_ns[client_id] = now_ns
        if new is not None:
            orders[client_id] = new
            self.version += 1  # _changed(), inline: this runs for every ack
            self._snapshot = None
        return True

    def on_closed(self, client_id: str) -> bool:
        """The order is done: filled, cancelled, rejected, expired or not found.

        Returns:
            True when it was in the live set.
        """
        if self._unknown:
            self._unknown.discard(client_id)
        self._open_seen_ns.pop(client_id, None)
        # retire(), inline (this runs for every order's end): remembered as the newest.
        done = self._done
        if client_id in done:
            done.move_to_end(client_id)
        else:
            done[client_id] = None
            if len(done) > self.memory:
                done.popitem(last=False)
        if self._orders.pop(client_id, None) is None:
            return False
        self.version += 1
        self._snapshot = None
        return True

    def on_unknown(self, client_id: str) -> None:
        """The placement's outcome is unknown: keep it ``PENDING_NEW`` until a snapshot."""
        if client_id in self._orders:
            self._unknown.add(client_id)

    def on_cancel_failed(self, client_id: str) -> None:
        """A cancel failed (not "not found"): the order is ``OPEN`` again, to be retried.

        If its level holds another active order by now (the requote went out), it is
        :data:`DETACHED` from the level instead of making it two.
        """
        o = self._orders.get(client_id)
        if o is None or o.status is not _CANCELLING:
            return
        taken = any(
            x.level_id == o.level_id and x.status is not _CANCELLING for x in self._orders.values()
        )
        self._set(_with(o, level_id=DETACHED if taken else o.level_id, status=_OPEN))

    def on_amended(self, client_id: str, now_ns: int, lots: int) -> None:
        """The venue reduced the order to ``lots`` (remaining): ``OPEN`` again."""
        o = self._orders.get(client_id)
        if o is None:
            return
        self._open_seen_ns[client_id] = now_ns
        if lots <= 0:
            self.on_closed(client_id)  # reduced to or below what had filled: it expired
            return
        status = _OPEN if o.status is _AMENDING else o.status
        self._set(_with(o, lots=lots, status=status))

    def on_amend_failed(self, client_id: str) -> None:
        """An amend was refused or lost: the order rests as it was (``OPEN``)."""
        o = self._orders.get(client_id)
        if o is not None and o.status is _AMENDING:
            self._set(_with(o, status=_OPEN))

    def on_fill(
        self,
        client_id: str,
        trade_id: str | None,
        filled_lots: int = 0,
        leaves_lots: int | None = None,
        closed: bool | None = None,
    ) -> bool:
        """Fold one fill of one of our orders in, once.

        Args:
            client_id: The order.
            trade_id: The venue's trade id (None: no duplicate check, for venues that
                cannot repeat a fill).
            filled_lots: Lots the fill took (used when ``leaves_lots`` is None; a partial lot
                counts as a whole one, so the order never looks bigger than it is).
            leaves_lots: What remains open, when the venue says.
            closed: The venue says whether the order is done (None: done when nothing is
                left in whole lots). An order with less than a lot left stays until the
                venue closes it: it can still fill.

        Returns:
            False for a fill already applied (same trade id).
        """
        if trade_id is not None:
            if trade_id in self._seen_trades:
                return False
            _remember(self._seen_trades, trade_id, self.memory)
        o = self._orders.get(client_id)
        if o is not None:
            left = o.lots - filled_lots if leaves_lots is None else leaves_lots
            if (left <= 0) if closed is None else closed:
                self.on_closed(client_id)
            else:
                self._set(_with(o, lots=max(0, left)))
        return True

    def seen_trade(self, trade_id: str) -> bool:
        """Whether a fill with this trade id was applied (within the memory)."""
        return trade_id in self._seen_trades

    def reconcile(self, snapshot: Iterable[OpenOrder], started_ns: int) -> list[str]:
        """Settle the set against an open-orders snapshot taken from ``started_ns`` on.

        Orders of ours in the snapshot are folded in as :meth:`on_open`; an order of ours
        missing from it is finished when its placement outcome was unknown or it was last
        seen open before the snapshot began (so it closed meanwhile and its event was
        missed). An order sent but not yet answered is left alone: its answer may still come.

        Returns:
            Client ids of ``pegbot-`` orders in the snapshot that must be cancelled: another
            run's (orphans) and ones this run already finished or retired.
        """
        listed: set[str] = set()
        to_cancel: list[str] = []
        for row in snapshot:
            cid = row.client_id
            if cid is None or not is_pegbot_order(cid):
                continue  # another program's order on the account: never touched
            listed.add(cid)
            parsed = parse_client_id(cid)
            if parsed is None or parsed.run != self.run_id or cid in self._done:
                to_cancel.append(cid)
                continue
            self.on_open(cid, started_ns, row.side, row.price_ticks, row.lots)
        for cid in list(self._orders):
            if cid in listed:
                continue
            seen = self._open_seen_ns.get(cid)
            if cid in self._unknown or (seen is not None and seen < started_ns):
                self.on_closed(cid)
        return to_cancel

    def finish_all(self) -> list[str]:
        """Every order is gone (a cancel-all the venue confirmed); returns their ids."""
        gone = list(self._orders)
        for cid in gone:
            self.on_closed(cid)
        return gone

    def retire(self, client_id: str) -> None:
        """Never let ``client_id`` into the live set (finished, or not quoting's to own)."""
        _remember(self._done, client_id, self.memory)

    def memory_sizes(self) -> dict[str, int]:
        """Sizes of the bounded memories and the set (for the load benchmark)."""
        return {
            "live": len(self._orders),
            "finished_ids": len(self._done),
            "trade_ids": len(self._seen_trades),
            "open_seen": len(self._open_seen_ns),
            "unknown": len(self._unknown),
        }


def _with(
    o: LiveOrder,
    *,
    level_id: str | None = None,
    lots: int | None = None,
    status: OrderStatus | None = None,
) -> LiveOrder:
    # dataclasses.replace, without its generic machinery (this runs per answer in backtests).
    return LiveOrder(
        o.client_id,
        o.level_id if level_id is None else level_id,
        o.side,
        o.price_ticks,
        o.lots if lots is None else lots,
        o.status if status is None else status,
    )


def _remember(memory: OrderedDict[str, None], key: str, limit: int) -> None:
    # The newest last; a key seen again moves to the end (a new key is there already).
    if key in memory:
        memory.move_to_end(key)
        return
    memory[key] = None
    if len(memory) > limit:
        memory.popitem(last=False)

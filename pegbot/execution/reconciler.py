"""The reconciler: the fewest venue requests that turn the live orders into the desired ones.

Desired quotes and live orders are both keyed by ladder level. For each desired quote the
reconciler picks, in order of preference:

* **keep** — an order already resting close enough (price within ``price_tolerance_ticks``,
  remaining size within ``size_tolerance``) stays, with its queue position (on a large-tick
  market like KGST/USDT the queue decides most passive fills);
* **amend** (``amend=True``) — an order at the right price but too large is reduced with
  Binance's amend-keep-priority: one request, the queue position kept (a reduce only);
* **cancel-replace** (``replace=True``) — an order of the same side that must move (another
  price, or more size) is cancelled and its successor placed in one atomic request
  (Binance ``order/cancelReplace``, STOP_ON_FAILURE): the level is never empty and the side
  never holds both;
* **place** — a new order, when no order of ours is left to move;

and every live order left over is **cancelled**. Matching is first by level and then, when a
whole ladder shifts by a tick, across levels on the same side: the resting order at a price
that is still wanted simply serves the other level (a :class:`Rebind`, no venue call). The
matching is a maximum bipartite matching, so as many orders as possible are kept or amended.

Rules that make the output safe to send as it is:

* an order sent but not yet acknowledged (``PENDING_NEW``) is never cancelled — a cancel can
  overtake it and leave it resting — and its level gets no second order until it is known;
* an order whose cancel is in flight (``PENDING_CANCEL``) is not cancelled twice; with
  ``wait_for_cancel`` its level also waits for the cancel before a new order goes there;
* quotes breaking the exchange filters (min quantity, min notional) are skipped and counted;
* with ``cap_exposure``, a side never holds more than one ladder: the lots that count against
  the side are those of *every* order of ours there — resting, ``PENDING_NEW`` and
  ``PENDING_CANCEL`` (a cancel not yet confirmed can still fill) — and a place goes out only
  while that sum plus its lots stays within the side's desired lots (the sum of the side's
  quotes that pass the filters; a kept order larger than its quote, within
  ``size_tolerance``, counts as its quote). A requote whose old order is still being
  cancelled therefore waits one round trip for the cancel; while cancels keep failing,
  nothing is added at all;
* an order whose amend is in flight (``PENDING_AMEND``) is kept as long as its price is
  wanted (its size is being fixed) and is never amended or replaced twice;
* cancels go first, then cancel-replaces, amends and places from the inner levels out,
  while the rate budget allows; whatever it does not allow is skipped and comes back at the
  next diff.

Client order ids are ``pegbot-<run>-<level>-<n>``, ``n`` counting up within the run, within
Binance's 36 characters of ``[A-Za-z0-9-_]``. The level in an id is where the order was
*placed*; after a rebind the shell's live set, not the id, says which level it serves.

What the shell does with the output (the contract the async bot builds on):

1. apply ``rebinds`` to its live set;
2. send ``cancels`` and mark each order ``PENDING_CANCEL``; drop it on the cancel's ack, on
   a fill of its remainder, or on :class:`~pegbot.execution.errors.OrderNotFoundError`;
3. send ``replaces``: the old order ``PENDING_CANCEL``, its successor ``PENDING_NEW``; each
   half settles as the venue answers it (the successor is never placed when the cancel
   fails);
4. send ``amends`` and mark each order ``PENDING_AMEND``; ``OPEN`` at the new size on the
   answer, ``OPEN`` at the old size when the amend fails;
5. send ``places`` and add each as ``PENDING_NEW``; ``OPEN`` on the ack, dropped on a reject;
   on an error with ``outcome_unknown`` keep it ``PENDING_NEW`` until an open-orders fetch
   says whether it exists (never re-send it under a new id before that);
6. on ``RiskState.cancel_all`` call the venue's cancel-all and confirm with an open-orders
   fetch, instead of diffing.

:class:`pegbot.execution.orders.OrderTracker` does all of this for both shells.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from pegbot.execution.budget import RateBudget
from pegbot.market import Market, Side
from pegbot.quoting import frac
from pegbot.strategy import DesiredQuotes, LiveOrder, OrderStatus, Quote
from pegbot.values import value

__all__ = [
    "CLIENT_ID_PREFIX",
    "Actions",
    "Amend",
    "Cancel",
    "ClientId",
    "Place",
    "Rebind",
    "Reconciler",
    "Replace",
    "Skip",
    "is_pegbot_order",
    "orphans",
    "parse_client_id",
]

CLIENT_ID_PREFIX = "pegbot-"
_MAX_CLIENT_ID = 36
_RUN_RE = re.compile(r"^[A-Za-z0-9]{1,8}$")
_CLIENT_ID_RE = re.compile(r"^pegbot-([A-Za-z0-9]{1,8})-([A-Za-z0-9]{1,8})-([0-9]+)$")


@dataclass(frozen=True, slots=True)
class ClientId:
    """A parsed client order id.

    Attributes:
        run: The run that placed it.
        level_id: The level it was placed for.
        seq: Its number within the run.
    """

    run: str
    level_id: str
    seq: int

    def __str__(self) -> str:
        return f"{CLIENT_ID_PREFIX}{self.run}-{self.level_id}-{self.seq}"


def parse_client_id(client_id: str) -> ClientId | None:
    """Parse ``pegbot-<run>-<level>-<n>``; None for anything else (not ours)."""
    m = _CLIENT_ID_RE.match(client_id)
    return None if m is None else ClientId(m.group(1), m.group(2), int(m.group(3)))


def is_pegbot_order(client_id: str | None) -> bool:
    """Whether a client order id was made by pegbot (any run)."""
    return client_id is not None and client_id.startswith(CLIENT_ID_PREFIX)


def orphans(open_client_ids: Iterable[str | None], run: str | None = None) -> list[str]:
    """The pegbot orders to cancel at start: every ``pegbot-`` order not of ``run``.

    Orders of other software on the same account (no ``pegbot-`` prefix) are never touched.
    """
    out = []
    for cid in open_client_ids:
        if cid is None or not is_pegbot_order(cid):
            continue
        parsed = parse_client_id(cid)
        if run is None or parsed is None or parsed.run != run:
            out.append(cid)
    return out


# -- actions ----------------------------------------------------------------------------------


@value
class Place:
    """Send a new order.

    Attributes:
        quote: What to place.
        client_id: Its new client order id.
        post_only: Send as a maker-only order (``LIMIT_MAKER``).
    """

    quote: Quote
    client_id: str
    post_only: bool = True


@value
class Cancel:
    """Cancel a live order.

    Attributes:
        client_id: The order's client id.
        level_id: The level it served.
        reason: ``reprice`` (its level wants another price or size) or ``unwanted``.
    """

    client_id: str
    level_id: str
    reason: str


@value
class Amend:
    """Reduce a live order's size, keeping its queue position.

    Attributes:
        client_id: The order's client id.
        level_id: The level it serves.
        lots: Its new size (smaller than the order's remaining size).
    """

    client_id: str
    level_id: str
    lots: int


@value
class Replace:
    """Cancel a live order and place its successor in one atomic venue request.

    Attributes:
        cancel: The order replaced (its client id and level).
        place: The successor.
    """

    cancel: Cancel
    place: Place


@value
class Rebind:
    """A live order now serves another level; bookkeeping only, no venue call.

    Attributes:
        client_id: The order's client id.
        level_id: The level it serves from now on.
    """

    client_id: str
    level_id: str


@value
class Skip:
    """A desired quote or cancel not acted on now.

    Attributes:
        level_id: The level.
        reason: ``min_qty``, ``min_notional``, ``level_busy`` (an unacknowledged order
            holds the level), ``cancel_pending``, ``exposure`` (the side already holds its
            ladder's lots, counting unconfirmed cancels) or ``rate_budget``.
    """

    level_id: str
    reason: str


@value
class Actions:
    """The result of one diff, in the order to send it: cancels, replaces, amends, places.

    Attributes:
        cancels: Orders to cancel.
        places: Orders to place.
        rebinds: Level changes of kept orders (no venue call).
        skipped: What was left out, and why.
        kept: Live orders left as they are (amended ones included).
        amends: Orders to reduce in place.
        replaces: Orders to move with one cancel-replace.
    """

    cancels: tuple[Cancel, ...] = ()
    places: tuple[Place, ...] = ()
    rebinds: tuple[Rebind, ...] = ()
    skipped: tuple[Skip, ...] = ()
    kept: int = 0
    amends: tuple[Amend, ...] = ()
    replaces: tuple[Replace, ...] = ()

    @property
    def requests(self) -> int:
        """Venue requests this diff sends."""
        return len(self.cancels) + len(self.places) + len(self.amends) + len(self.replaces)


_NONE: frozenset[str] = frozenset()
#: Desired sets whose filtered form the reconciler keeps (see Reconciler.diff).
_WANTED_MEMORY = 256


class _Wanted:
    """The quotes of one desired set that pass the filters, indexed for the diff.

    Attributes:
        quotes: The quotes let through, in desired order.
        skips: The filter skips.
        levels: Their level ids.
        index: Level id -> position in ``quotes``.
        inner: Positions in ``quotes``, inner levels first (the order places go out in):
            by how many quotes of the side are better priced, then bids before asks, then
            by level id.
    """

    __slots__ = ("index", "inner", "levels", "quotes", "skips")

    def __init__(self, quotes: tuple[Quote, ...], skips: tuple[Skip, ...] = ()) -> None:
        self.quotes = quotes
        self.skips = skips
        index: dict[str, int] = {}
        keyed: list[tuple[int, bool, str, int]] = []
        for i, q in enumerate(quotes):
            index[q.level_id] = i
            # _rank, inline: how many quotes of the side are better priced.
            side, price, rank = q.side, q.price_ticks, 0
            for o in quotes:
                if o.side is side and (
                    o.price_ticks > price if side > 0 else o.price_ticks < price
                ):
                    rank += 1
            keyed.append((rank, side < 0, q.level_id, i))
        keyed.sort()  # level ids are unique: no two keys tie
        self.index = index
        self.levels = frozenset(index)
        self.inner = tuple(k[3] for k in keyed)


# -- the reconciler ---------------------------------------------------------------------------


class Reconciler:
    """Diff desired quotes against live orders (see the module docstring).

    Attributes:
        market: Filters and the lot/tick grid.
        run: Run id used in client order ids.
        budget: The rate budget, or None for none (backtests).
    """

    def __init__(
        self,
        market: Market,
        run: str,
        price_tolerance_ticks: int = 0,
        size_tolerance: Fraction | float | str = 0,
        budget: RateBudget | None = None,
        wait_for_cancel: bool = False,
        cross_level: bool = True,
        post_only: bool = True,
        first_seq: int = 1,
        cap_exposure: bool = False,
        amend: bool = False,
        replace: bool = False,
    ) -> None:
        """Configure.

        Args:
            market: The market (min qty and min notional filters).
            run: Short run id, 1-8 ASCII letters or digits.
            price_tolerance_ticks: A live order this close to the desired price is kept.
            size_tolerance: A live order whose remaining size is within this fraction of the
                desired size is kept (0.1 = ±10 %).
            budget: Rate budget to respect, fed with ``now_ns``.
            wait_for_cancel: Place on a level only once its old order's cancel is confirmed
                (no moment with two orders on a level, one more round trip per requote).
            cross_level: Let a live order serve another level of the same side.
            post_only: Places are maker-only.
            first_seq: First order number (a restarted run continues after its last one).
            cap_exposure: Never let a side's orders (resting, unacknowledged and being
                cancelled) exceed the side's desired lots (the live bot; see the module
                docstring). Off by default: a backtest's cancels are immediate.
            amend: Reduce a too-large order in place (the venue keeps its queue position).
            replace: Move an order with one cancel-replace instead of a cancel and a place.
        """
        if not _RUN_RE.match(run):
            raise ValueError(f"run id must be 1-8 ASCII letters or digits, got {run!r}")
        if price_tolerance_ticks < 0:
            raise ValueError("price_tolerance_ticks must be >= 0")
        tol = (
            frac(size_tolerance) if isinstance(size_tolerance, float) else Fraction(size_tolerance)
        )
        if not 0 <= tol < 1:
            raise ValueError(f"size_tolerance must be within [0, 1), got {size_tolerance}")
        self.market = market
        self.run = run
        self.price_tolerance_ticks = price_tolerance_ticks
        self.size_tolerance = tol
        self._tol_num, self._tol_den = tol.numerator, tol.denominator
        self.budget = budget
        self.wait_for_cancel = wait_for_cancel
        self.cross_level = cross_level
        self.post_only = post_only
        self.cap_exposure = cap_exposure
        self.amend = amend
        self.replace = replace
        self._seq = first_seq
        # Filters as integer thresholds: lots >= min_lots, ticks × lots >= min_tick_lots.
        self._min_lots = max(1, math.ceil(Fraction(market.min_qty) / Fraction(market.lot_size)))
        self._min_tick_lots = math.ceil(
            Fraction(market.min_notional) / (Fraction(market.tick_size) * Fraction(market.lot_size))
        )
        # The filters' verdict on recent desired sets, by object: strategies hand the same
        # immutable object back whenever their inputs repeat (hftbacktest_mm keeps one per
        # pair of prices, peg_ladder its last). Each entry holds its object, so an id is
        # never reused while it is a key.
        self._wanted: dict[int, tuple[DesiredQuotes, _Wanted]] = {}

    # -- ids --------------------------------------------------------------------------------

    def next_client_id(self, level_id: str) -> str:
        """A fresh client order id for ``level_id``."""
        cid = f"{CLIENT_ID_PREFIX}{self.run}-{level_id}-{self._seq}"
        if len(cid) > _MAX_CLIENT_ID:
            raise ValueError(f"client order id {cid!r} is longer than {_MAX_CLIENT_ID}")
        self._seq += 1
        return cid

    @property
    def next_seq(self) -> int:
        """The number the next client order id will carry."""
        return self._seq

    # -- filters ----------------------------------------------------------------------------

    def filter_reason(self, quote: Quote) -> str | None:
        """Why the exchange would refuse ``quote`` (``min_qty``, ``min_notional``), or None.

        :meth:`diff` applies the same two rules inline (it runs once per decision).
        """
        if quote.lots < self._min_lots:
            return "min_qty"
        if quote.price_ticks * quote.lots < self._min_tick_lots:
            return "min_notional"
        return None

    def _compatible(self, d: Quote, o: LiveOrder) -> bool:
        # Kept as it is, or (amend) reduced in place, or (amend in flight) left to finish.
        if d.side is not o.side or abs(d.price_ticks - o.price_ticks) > self.price_tolerance_ticks:
            return False
        if o.status is OrderStatus.PENDING_AMEND:
            return True
        # |Δlots| ≤ tolerance × lots, in integers: the tolerance is num/den exactly.
        if abs(o.lots - d.lots) * self._tol_den <= self._tol_num * d.lots:
            return True
        return self.amend and o.status is OrderStatus.OPEN and d.lots < o.lots

    def _needs_amend(self, d: Quote, o: LiveOrder) -> bool:
        # A match that is not a keep within tolerance: reduce the order to the quote.
        return (
            o.status is OrderStatus.OPEN
            and d.lots < o.lots
            and (o.lots - d.lots) * self._tol_den > self._tol_num * d.lots
        )

    # -- the diff ---------------------------------------------------------------------------

    def diff(self, desired: DesiredQuotes, live: Sequence[LiveOrder], now_ns: int = 0) -> Actions:
        """Compute the actions that bring ``live`` to ``desired``.

        Args:
            desired: What risk let through.
            live: Our orders believed to be on the venue, each bound to a level.
            now_ns: Time for the rate budget.

        Returns:
            The actions; apply the rebinds to the live set and send the requests in order.
        """
        # This runs at every decision, so the usual case costs one look-up and one
        # comparison per order: each order is paired with the quote of its own level, the
        # first compatible order of a level keeping it (what the matching's first pass
        # does). The bipartite matching runs only when, with cross-level matching on, a quote
        # and an order are both left over (an order may serve another level).
        hit = self._wanted.get(id(desired))
        if hit is not None and hit[0] is desired:
            w = hit[1]
        else:
            w = self._filter(desired)
            if len(self._wanted) >= _WANTED_MEMORY:
                self._wanted.clear()
            self._wanted[id(desired)] = (desired, w)
        wanted = w.quotes
        skipped = list(w.skips)
        pc, pn = OrderStatus.PENDING_CANCEL, OrderStatus.PENDING_NEW
        cancelling: set[str] | frozenset[str] = _NONE
        active: Sequence[LiveOrder] = live
        for o in live:
            if o.status is pc:
                active = [o for o in live if o.status is not pc]
                cancelling = {o.level_id for o in live if o.status is pc}
                break

        match: dict[int, int] = {}  # desired index -> live index
        movable: list[LiveOrder] = []  # unmatched acknowledged orders: cancel or replace
        busy: set[str] = set()  # levels an unacknowledged, unmatched order still holds
        index = w.index
        compatible = self._compatible
        for j, o in enumerate(active):
            i = index.get(o.level_id)
            if i is not None and i not in match and compatible(wanted[i], o):
                match[i] = j
            elif o.status is pn:
                busy.add(o.level_id)
            else:
                movable.append(o)
        rebinds: tuple[Rebind, ...] = ()
        if self.cross_level and len(match) < len(wanted) and len(match) < len(active):
            match, rebinds, movable, busy = self._full_match(wanted, active)
        n_matched = len(match)

        budget = self.budget
        amends: list[Amend] = []
        if self.amend and match:
            for i in sorted(match):  # in desired order
                d, o = wanted[i], active[match[i]]
                if not self._needs_amend(d, o):
                    continue
                if budget is not None and not budget.try_spend("amend", now_ns):
                    skipped.append(Skip(d.level_id, "rate_budget"))
                else:
                    amends.append(Amend(o.client_id, d.level_id, d.lots))

        # Inner levels first: bids from the highest price down, asks from the lowest up.
        to_place = [wanted[i] for i in w.inner if i not in match] if n_matched < len(wanted) else []
        room = self._room(wanted, live, match, active) if self.cap_exposure else None

        replaces: list[Replace] = []
        if self.replace and movable and to_place:
            to_place, movable = self._pair_replaces(
                to_place, movable, busy, room, budget, now_ns, replaces, skipped
            )

        levels = w.levels
        cancels = [
            Cancel(o.client_id, o.level_id, "reprice" if o.level_id in levels else "unwanted")
            for o in movable
        ]
        sent_cancels = cancels
        if budget is not None and cancels:
            sent_cancels = []
            for c in cancels:
                if budget.try_spend("cancel", now_ns):
                    sent_cancels.append(c)
                else:
                    skipped.append(Skip(c.level_id, "rate_budget"))

        places: list[Place] = []
        if to_place:
            # A level whose old order is being cancelled waits, if asked to, for that cancel.
            waiting = cancelling | {c.level_id for c in cancels} if self.wait_for_cancel else _NONE
            post_only = self.post_only
            for q in to_place:
                level = q.level_id
                if level in busy:
                    skipped.append(Skip(level, "level_busy"))
                elif level in waiting:
                    skipped.append(Skip(level, "cancel_pending"))
                elif room is not None and q.lots > room[q.side]:
                    skipped.append(Skip(level, "exposure"))
                elif budget is not None and not budget.try_spend("place", now_ns):
                    skipped.append(Skip(level, "rate_budget"))
                else:
                    if room is not None:
                        room[q.side] -= q.lots
                    places.append(Place(q, self.next_client_id(level), post_only))
        return Actions(
            tuple(sent_cancels),
            tuple(places),
            rebinds,
            tuple(skipped),
            n_matched,
            tuple(amends),
            tuple(replaces),
        )

    def _filter(self, desired: DesiredQuotes) -> _Wanted:
        # filter_reason's rules, inlined: the quotes let through and the skips.
        min_lots, min_tick_lots = self._min_lots, self._min_tick_lots
        quotes = desired.quotes
        for q in quotes:
            if q.lots < min_lots or q.price_ticks * q.lots < min_tick_lots:
                break
        else:
            return _Wanted(quotes)
        wanted: list[Quote] = []
        skipped: list[Skip] = []
        for q in quotes:
            if q.lots < min_lots:
                skipped.append(Skip(q.level_id, "min_qty"))
            elif q.price_ticks * q.lots < min_tick_lots:
                skipped.append(Skip(q.level_id, "min_notional"))
            else:
                wanted.append(q)
        return _Wanted(tuple(wanted), tuple(skipped))

    def _full_match(
        self, wanted: Sequence[Quote], active: Sequence[LiveOrder]
    ) -> tuple[dict[int, int], tuple[Rebind, ...], list[LiveOrder], set[str]]:
        # The bipartite matching (with cross-level edges): the match in desired order, the
        # rebinds, and the unmatched orders to move or wait for.
        found = self._max_matching(list(wanted), list(active))
        match = {i: found[i] for i in sorted(found)}
        rebinds = tuple(
            Rebind(active[j].client_id, wanted[i].level_id)
            for i, j in match.items()
            if active[j].level_id != wanted[i].level_id
        )
        matched = set(match.values())
        movable: list[LiveOrder] = []
        busy: set[str] = set()
        for j, o in enumerate(active):
            if j in matched:
                continue
            if o.status is OrderStatus.PENDING_NEW:
                busy.add(o.level_id)
            else:
                movable.append(o)
        return match, rebinds, movable, busy

    def _pair_replaces(
        self,
        to_place: list[Quote],
        movable: list[LiveOrder],
        busy: set[str],
        room: dict[Side, int] | None,
        budget: RateBudget | None,
        now_ns: int,
        replaces: list[Replace],
        skipped: list[Skip],
    ) -> tuple[list[Quote], list[LiveOrder]]:
        # Each quote still to place takes an unmatched order of its side with it: its own
        # level's first, else the nearest price. Only acknowledged, resting orders move
        # (an amend in flight finishes first); a level an unacknowledged order holds waits.
        left_quotes: list[Quote] = []
        free = [o for o in movable if o.status is OrderStatus.OPEN]
        stay: set[str] = set()  # a replace the budget held back: the order stays as it is
        for q in to_place:
            if q.level_id in busy:
                left_quotes.append(q)
                continue
            same_side = [o for o in free if o.side is q.side]
            if not same_side:
                left_quotes.append(q)
                continue
            old = min(
                same_side,
                key=lambda o: (o.level_id != q.level_id, abs(o.price_ticks - q.price_ticks)),
            )
            # A replace that does not grow the order never adds exposure (the side may be
            # over its ladder while the whole ladder shrinks, as when risk defends).
            grows = q.lots - old.lots
            if room is not None and grows > 0 and grows > room[q.side]:
                left_quotes.append(q)  # the place path records the exposure skip
                continue
            if budget is not None and not budget.try_spend("replace", now_ns):
                skipped.append(Skip(q.level_id, "rate_budget"))
                free.remove(old)
                stay.add(old.client_id)
                continue
            free.remove(old)
            if room is not None:
                room[q.side] -= grows
            reason = "reprice" if old.level_id == q.level_id else "unwanted"
            replaces.append(
                Replace(
                    Cancel(old.client_id, old.level_id, reason),
                    Place(q, self.next_client_id(q.level_id), self.post_only),
                )
            )
        gone = {r.cancel.client_id for r in replaces} | stay
        return left_quotes, [o for o in movable if o.client_id not in gone]

    @staticmethod
    def _room(
        wanted: Sequence[Quote],
        live: Sequence[LiveOrder],
        match: dict[int, int],
        active: Sequence[LiveOrder],
    ) -> dict[Side, int]:
        # Lots a side may still add: its ladder minus every order of ours there, whatever
        # its status (an unconfirmed cancel, or one that failed, can still fill). A kept
        # order larger than its quote (within size_tolerance, or being amended down) counts
        # as its quote's lots, so the tolerance never starves the other levels of the side.
        room = {Side.BUY: 0, Side.SELL: 0}
        for q in wanted:
            room[q.side] += q.lots
        for o in live:
            room[o.side] -= o.lots
        for i, j in match.items():
            excess = active[j].lots - wanted[i].lots
            if excess > 0:
                room[active[j].side] += excess
        return room

    def _max_matching(self, wanted: list[Quote], active: list[LiveOrder]) -> dict[int, int]:
        # Kuhn's augmenting paths over small sets (a few dozen orders). Same-level pairs are
        # matched first and tried first, so ids stay with their level whenever the count of
        # kept orders does not suffer.
        if not wanted or not active:
            return {}
        owner: dict[int, int] = {}  # live index -> desired index
        for i, d in enumerate(wanted):
            level = d.level_id
            for j, o in enumerate(active):
                if o.level_id == level and j not in owner and self._compatible(d, o):
                    owner[j] = i
                    break
        # Without cross-level edges an unmatched quote's only candidates are its own
        # level's orders, which the pass above already tried: no augmenting path exists.
        if self.cross_level and len(owner) < len(wanted) and len(owner) < len(active):
            adj: list[list[int]] = []
            # A level holding an unacknowledged order takes no order from another level: if
            # that order turns out unmatched, it still holds the level.
            pending = {o.level_id for o in active if o.status is OrderStatus.PENDING_NEW}
            for d in wanted:
                same = [
                    j
                    for j, o in enumerate(active)
                    if o.level_id == d.level_id and self._compatible(d, o)
                ]
                other = []
                if d.level_id not in pending:
                    other = [
                        j
                        for j, o in enumerate(active)
                        if o.level_id != d.level_id and self._compatible(d, o)
                    ]
                adj.append(same + other)
            matched = set(owner.values())
            for i in range(len(wanted)):
                if i not in matched and _augment(i, adj, owner, set()):
                    matched.add(i)
        return {i: j for j, i in owner.items()}


def _augment(i: int, adj: list[list[int]], owner: dict[int, int], seen: set[int]) -> bool:
    for j in adj[i]:
        if j in seen:
            continue
        seen.add(j)
        if j not in owner or _augment(owner[j], adj, owner, seen):
            owner[j] = i
            return True
    return False


def _rank(q: Quote, wanted: Sequence[Quote]) -> int:
    # How many quotes of the same side are better priced: 0 for the inner level.
    if q.side > 0:
        return sum(1 for o in wanted if o.side is q.side and o.price_ticks > q.price_ticks)
    return sum(1 for o in wanted if o.side is q.side and o.price_ticks < q.price_ticks)

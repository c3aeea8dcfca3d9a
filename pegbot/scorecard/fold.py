"""One fold of the event stream: the state in force, its constant pieces, jumps and snapshots.

Everything the scorecard says is about *time*: how long both sides rested, how long the mid
stayed near fair, how long after a jump the wrong-side orders were gone. :class:`Fold` is the
single place that turns the event stream into time. It keeps the state in force (the market's
top, our orders, the fair value, inventory), and between two events — while nothing changes —
hands the constant piece ``[t0, t1)`` to its ``on_segment`` callback. It also takes the
obligation snapshots on a fixed grid and times each FX jump. The full scorecard
(:mod:`pegbot.scorecard.card`) and the live one (:mod:`pegbot.scorecard.live`) are two readers
of the same fold, so "two-sided" or "time to pull" cannot mean two things.

The contract:

* Events come in non-decreasing ``ts_ns`` (a later one earlier raises ``ValueError``). The
  state at time ``t`` is the state after every event with ``ts_ns <= t``.
* Only ``[start_ns, end)`` is measured: events before ``start_ns`` set the state (orders
  already resting, a fair already known) but add no time; jumps are jumps inside the span.
* Snapshots are taken at ``start_ns + k * sample_interval``, on the state in force then.
* A jump is a fair change of at least ``jump_bps`` from the last known fair. It stays *active*
  (collecting its times and wrong-side fills) until the next jump or the end. An order of
  ours is on the wrong side when it is a bid above the new fair or an ask below it. Time to
  pull: from the jump to the moment the wrong side was cleared *for good* (the start of the
  last stretch without a wrong-side order, lasting to the window's end; None if the window
  ends with one resting) — orders the market took, or the bot put back at the old price, do
  not count as pulled. ``wrong_side_ns`` adds up all the time one rested. Time to requote:
  the first moment with no wrong-side order and, on each side, an order within
  ``requote_band_bps`` of the new fair. Learned: the first :class:`RateSeen` at or after the
  jump. A wrong-side fill is a buy above, or a sell below, the new fair while the jump is
  active.

Pure: no I/O, no clock; exact comparisons against the fair in integer ticks (bounds are
rounded inward from the exact fraction once per fair value).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

from pegbot.market import Side
from pegbot.timeunits import s_to_ns

from .config import ObligationSettings, ScorecardSettings
from .events import Book, Event, Fair, Holding, Level, OrderAction, OwnFill, Quotes, RateSeen

__all__ = [
    "CONDITIONS",
    "Fold",
    "Jump",
    "State",
    "band_bounds",
    "obligation_checks",
    "quoted_spread_bps",
    "wrong_side",
]

#: The obligation conditions of a snapshot, in report order (``all`` is their conjunction).
CONDITIONS = ("two_sided", "spread", "depth_bid", "depth_ask")


@dataclass(slots=True)
class State:
    """What is in force between two events (see :mod:`pegbot.scorecard.events`)."""

    bid: int | None = None
    ask: int | None = None
    bid_ex: int | None = None
    ask_ex: int | None = None
    bids: tuple[Level, ...] = ()
    asks: tuple[Level, ...] = ()
    fair: Fraction | None = None
    base_units: int | None = None

    @property
    def best_bid(self) -> int | None:
        """Our best bid, or None when we have no bid."""
        return max(p for p, _ in self.bids) if self.bids else None

    @property
    def best_ask(self) -> int | None:
        """Our best ask, or None when we have no ask."""
        return min(p for p, _ in self.asks) if self.asks else None

    @property
    def two_sided(self) -> bool:
        """At least one order of ours rests on each side."""
        return bool(self.bids) and bool(self.asks)


def band_bounds(ref: Fraction, bps: float, scale: int = 1) -> tuple[int, int]:
    """Integer bounds ``(lo, hi)``: ``scale * p`` is within ±bps of ``ref`` iff lo <= it <= hi.

    ``scale=2`` bounds ``bid + ask`` for a mid. Exact: the float ``bps`` is taken as the binary
    fraction it is, and the bounds are rounded inward.
    """
    # In integers (the Fractions' arithmetic was most of a long scorecard's time):
    # scale * ref * (1 ∓ bps / 10_000) = scale * a * (d ∓ c) / (b * d).
    a, b = ref.numerator, ref.denominator
    c, d = Fraction(bps).as_integer_ratio()
    d *= 10_000
    den = b * d
    return -(-scale * a * (d - c) // den), scale * a * (d + c) // den


def wrong_side(bids: tuple[Level, ...], asks: tuple[Level, ...], fair: Fraction) -> bool:
    """Whether a bid of ours is above ``fair`` or an ask of ours below it."""
    return any(p > fair for p, _ in bids) or any(p < fair for p, _ in asks)


def quoted_spread_bps(bid: int, ask: int) -> float:
    """``(ask - bid)`` over their midpoint, in bps."""
    return (ask - bid) * 20_000 / (ask + bid)


def _value_within(levels: tuple[Level, ...], lo: int, hi: int) -> int:
    # Sum of ticks x units of the orders priced within [lo, hi] (exact).
    return sum(p * q for p, q in levels if lo <= p <= hi)


def obligation_checks(
    st: State,
    ob: ObligationSettings,
    tick_unit_value: float,
    band: tuple[int, int] | None,
) -> tuple[bool, bool, bool, bool]:
    """One snapshot's conditions, in :data:`CONDITIONS` order.

    Args:
        st: The state at the snapshot.
        ob: The obligations.
        tick_unit_value: Quote-currency value of one tick times one qty unit.
        band: The depth band's integer bounds around the state's reference (the fair, or
            the public mid; None without one), from :func:`band_bounds`: a parameter so
            that a caller taking many snapshots computes it once per reference.
    """
    bb, ba = st.best_bid, st.best_ask
    two = bb is not None and ba is not None
    spread = bb is not None and ba is not None and quoted_spread_bps(bb, ba) <= ob.max_spread_bps
    if band is None:
        return two, spread, False, False
    lo, hi = band
    need = ob.min_depth_quote
    bid_ok = bool(st.bids) and _value_within(st.bids, lo, hi) * tick_unit_value >= need
    ask_ok = bool(st.asks) and _value_within(st.asks, lo, hi) * tick_unit_value >= need
    return two, spread, bid_ok, ask_ok


@dataclass(slots=True)
class Jump:
    """One FX jump and how the bot answered it (times in ns; None: not within the window)."""

    at_ns: int
    from_ticks: Fraction
    to_ticks: Fraction
    learned_ns: int | None = None
    pulled_ns: int | None = None
    requoted_ns: int | None = None
    closed_ns: int | None = None
    wrong_since: int | None = None
    wrong_ns: int = 0
    wrong_fills: int = 0
    #: Of those, the ones after the bot read the new rate (what it could have avoided).
    wrong_fills_after_learn: int = 0
    wrong_units: int = 0
    #: What the wrong-side fills cost against the new fair, in ticks x units (>= 0).
    wrong_cost_tu: Fraction = field(default_factory=Fraction)

    @property
    def bps(self) -> float:
        """The jump's size, signed, in bps of the old fair."""
        return float((self.to_ticks / self.from_ticks - 1) * 10_000)


class Fold:
    """Folds events into constant pieces, snapshots and jumps (see the module docstring).

    Args:
        settings: Thresholds and obligations.
        start_ns: Start of the measured span.
        tick_unit_value: Quote-currency value of one tick times one qty unit.
        on_segment: Called with ``(t0, t1, state)`` for each constant piece of the span.
        on_samples: Called with ``(t, n, state, conditions)`` for ``n`` snapshots at ``t``,
            ``t + interval``, ... that fall in one constant piece (so share state and
            conditions): a quiet week is a few calls, not one per second.
        on_fill: Called with each fill inside the span and the state when it came.
        on_order: Called with each order action inside the span.
    """

    def __init__(
        self,
        settings: ScorecardSettings,
        start_ns: int,
        tick_unit_value: float,
        on_segment: Callable[[int, int, State], None] | None = None,
        on_samples: Callable[[int, int, State, tuple[bool, bool, bool, bool]], None] | None = None,
        on_fill: Callable[[OwnFill, State], None] | None = None,
        on_order: Callable[[OrderAction], None] | None = None,
    ) -> None:
        self.settings = settings
        self.start_ns = start_ns
        self.tick_unit_value = tick_unit_value
        self.state = State()
        self.jumps: list[Jump] = []
        self.now_ns = start_ns  # the span is folded up to here
        self._prev_ts: int | None = None
        self._last_fair: Fraction | None = None
        self.sample_ns = s_to_ns(settings.obligations.sample_interval_s)  # between snapshots
        self._next_sample = start_ns
        self._requote: tuple[int, int] | None = None  # band bounds around the active jump's fair
        self._on_segment = on_segment
        self._on_samples = on_samples
        # The depth band of the last snapshot and what it was computed from (the fair, or
        # bid + ask for the mid): recomputed only when that changes.
        self._band_key: Fraction | int | None = None
        self._band: tuple[int, int] | None = None
        self._on_fill = on_fill
        self._on_order = on_order

    @property
    def active_jump(self) -> Jump | None:
        """The jump still collecting times (the last one, until the end)."""
        j = self.jumps[-1] if self.jumps else None
        return j if j is not None and j.closed_ns is None else None

    def feed(self, ev: Event) -> None:
        """Fold one event in (events in non-decreasing time; see the module docstring)."""
        ts = ev.ts_ns
        if self._prev_ts is not None and ts < self._prev_ts:
            raise ValueError(f"event at {ts} ns after one at {self._prev_ts} ns: out of order")
        self._prev_ts = ts
        self.advance(ts)
        st = self.state
        inside = ts >= self.start_ns
        if isinstance(ev, Book):
            st.bid, st.ask, st.bid_ex, st.ask_ex = ev.bid, ev.ask, ev.bid_ex, ev.ask_ex
        elif isinstance(ev, Quotes):
            st.bids, st.asks = ev.bids, ev.asks
            self._check_jump(ts)
        elif isinstance(ev, Fair):
            self._fair(ts, ev.price_ticks, inside)
        elif isinstance(ev, RateSeen):
            j = self.active_jump
            if j is not None and j.learned_ns is None:
                j.learned_ns = ts
        elif isinstance(ev, OwnFill):
            if inside:
                self._fill(ev)
        elif isinstance(ev, OrderAction):
            if inside and self._on_order is not None:
                self._on_order(ev)
        elif isinstance(ev, Holding):
            st.base_units = ev.base_units
        else:  # pragma: no cover - the Event union is closed
            raise TypeError(f"not a scorecard event: {ev!r}")

    def advance(self, to_ns: int) -> None:
        """Fold the span up to ``to_ns`` on the state in force (nothing before ``start_ns``)."""
        t0 = self.now_ns
        if to_ns <= t0:
            return
        st = self.state
        if self._on_samples is not None and self._next_sample < to_ns:
            first = self._next_sample
            n = -((first - to_ns) // self.sample_ns)  # the grid points in [first, to_ns)
            ob = self.settings.obligations
            checks = obligation_checks(st, ob, self.tick_unit_value, self._depth_band(st, ob))
            self._on_samples(first, n, st, checks)
            self._next_sample = first + n * self.sample_ns
        if self._on_segment is not None:
            self._on_segment(t0, to_ns, st)
        self.now_ns = to_ns

    def _depth_band(self, st: State, ob: ObligationSettings) -> tuple[int, int] | None:
        # The band around the reference: the fair, or the public mid (keyed by bid + ask).
        if ob.band_reference == "fair":
            key: Fraction | int | None = st.fair
        else:
            key = st.bid + st.ask if st.bid is not None and st.ask is not None else None
        if key is None:
            return None
        if key != self._band_key:
            ref = key if isinstance(key, Fraction) else Fraction(key, 2)
            self._band_key, self._band = key, band_bounds(ref, ob.depth_band_bps)
        return self._band

    def close(self, end_ns: int) -> None:
        """Fold up to ``end_ns`` and close the active jump's window there."""
        self.advance(end_ns)
        j = self.active_jump
        if j is not None:
            _close(j, max(end_ns, j.at_ns))

    # -- jumps ---------------------------------------------------------------------------

    def _fair(self, ts: int, fair: Fraction | None, inside: bool) -> None:
        self.state.fair = fair
        if fair is None:
            return
        prev, self._last_fair = self._last_fair, fair
        if prev is None or not inside:
            return
        if abs(fair - prev) * 10_000 >= Fraction(self.settings.jump_bps) * prev:
            j = self.active_jump
            if j is not None:
                _close(j, ts)
            self.jumps.append(Jump(ts, prev, fair))
            self._requote = band_bounds(fair, self.settings.requote_band_bps)
        self._check_jump(ts)

    def _check_jump(self, ts: int) -> None:
        j = self.active_jump
        if j is None:
            return
        st = self.state
        if wrong_side(st.bids, st.asks, j.to_ticks):
            j.pulled_ns = None  # back on the wrong side: not pulled yet
            if j.wrong_since is None:
                j.wrong_since = ts
            return
        if j.wrong_since is not None:
            j.wrong_ns += ts - j.wrong_since
            j.wrong_since = None
        if j.pulled_ns is None:
            j.pulled_ns = ts
        if j.requoted_ns is None:
            assert self._requote is not None
            lo, hi = self._requote
            if any(lo <= p for p, _ in st.bids) and any(p <= hi for p, _ in st.asks):
                j.requoted_ns = ts

    def _fill(self, f: OwnFill) -> None:
        j = self.active_jump
        if j is not None and f.ts_ns >= j.at_ns:
            fair = j.to_ticks
            over = (f.price_ticks - fair) if f.side is Side.BUY else (fair - f.price_ticks)
            if over > 0:
                j.wrong_fills += 1
                if j.learned_ns is not None and f.ts_ns > j.learned_ns:
                    j.wrong_fills_after_learn += 1
                j.wrong_units += f.qty_units
                j.wrong_cost_tu += over * f.qty_units
        if self._on_fill is not None:
            self._on_fill(f, self.state)


def _close(j: Jump, at_ns: int) -> None:
    j.closed_ns = at_ns
    if j.wrong_since is not None:
        j.wrong_ns += at_ns - j.wrong_since
        j.wrong_since = None

"""Risk: clamps desired quotes to hard limits and escalates normal → defend → freeze → halt.

Every call of :meth:`Risk.apply` evaluates the triggers on the current :class:`MarketState`
and the desired quotes, each trigger naming the level it asks for:

=================  ==================================================  ===============
trigger            condition                                            default level
=================  ==================================================  ===============
no_feed_health     the shell gave no :class:`FeedHealth` (unknown)      freeze
book_stale         no confirmation of the book for ``book_stale_s``     freeze
book_unsynced      the book lost its sequence (gap, resync)             freeze
book_empty         no order but ours on either side of the book         defend
book_crossed       best bid at or above best ask                        freeze
ws_down            a stream is disconnected                             freeze
no_fair            no fair value                                        freeze
fair_stale         fair state ``stale`` or older than ``fair_max_age``  freeze
fair_disputed      fair sources disagree                                defend
fair_jump          the reference jumped                                 freeze
peg_deviation      market mid this far from fair (two thresholds)       defend / freeze
inventory          excess inventory over the target                     defend
inventory_limit    holdings outside the hard min/max                    freeze
loss_from_peak     mark-to-fair equity below its peak (two thresholds)  defend / halt
reject_storm       rejects within ``reject_window_s`` (two thresholds)  freeze / halt
quotes_crossed     the strategy asked for a bid at or above its ask     freeze
kill               :meth:`Risk.kill` (operator, signal)                 halt
=================  ==================================================  ===============

Staleness and emptiness are read from the market's book *without our own orders*. An empty
market (the crowd pulled its book, a drought) is a ``market_empty`` policy, ``defend`` by
default: with a fresh fair value, quoting is then the desk's whole job, and pulling would
leave the book with nothing. A broken feed shows as ``book_unsynced`` / ``book_stale``, a
halted symbol as rejects.

The level is the highest any trigger asks for, reached at once. Going down needs hysteresis
twice over: a numeric trigger releases only once its value falls below ``release_ratio`` of
its threshold, and a lower level must hold for ``cooldown_s`` before risk steps down *one*
level (then another cooldown for the next), so a value flickering at a threshold cannot make
quotes flap. The exception is a level only :data:`SETTLED_TRIGGERS` held: a fair-value jump
ends by a decision (confirmed, acknowledged, rejected), not by a value drifting back, so the
level drops to the target at once and the desk quotes at the new fair without sitting out
cooldowns. A peg deviation the market showed before the bot knew of the step (measured
against the old fair) is settled with the jump when the fair re-anchors. ``halt`` latches:
only :meth:`Risk.resume` leaves it, to ``freeze``.

Whatever the level, what goes out is clamped: no quote outside the peg band, none that would
take, no set of bids that could, if all filled, push holdings above ``max_base_lots`` or cost
more quote than is held, no set of asks that could push them below ``min_base_lots``.
``defend`` also widens every quote by ``defend_widen_bps`` (up to the band's edge) and scales
its size by ``defend_size_factor``; ``freeze`` and ``halt`` pull every quote (``halt`` also
tells the shell to cancel everything on the venue and confirm it).

Each change of level is recorded as a :class:`Transition` with the reasons active at that
moment, in :attr:`Risk.transitions` for the journal and metrics.

**Starting.** A fresh risk layer (a process that just started) is ``starting`` for up to
``start_grace_s``: the feed is still connecting and the fair value still being fetched, and
that is no event. While the only triggers are those of inputs not there yet
(:data:`START_TRIGGERS`), nothing is quoted and the level does not move — no freeze, hence
no cooldowns to sit out once the inputs arrive. The first decision with every input healthy
quotes at once. Any other trigger, or the grace running out, ends ``starting`` and the normal
rules apply from there (a feed that never came freezes, as it would at any other time).
"""

from __future__ import annotations

import enum
import math
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pegbot.market import Market, Side
from pegbot.quoting import band_ticks, bps_ticks, frac
from pegbot.strategy import DesiredQuotes, MarketState, Quote
from pegbot.timeunits import NS_PER_S

__all__ = [
    "SETTLED_TRIGGERS",
    "START_TRIGGERS",
    "TRIGGERS",
    "Risk",
    "RiskLevel",
    "RiskParams",
    "RiskState",
    "Transition",
    "Trigger",
]

_UNLIMITED = 1 << 62

LevelName = Literal["normal", "defend", "freeze", "halt"]


class RiskLevel(enum.IntEnum):
    """Escalation levels, ordered."""

    NORMAL = 0
    DEFEND = 1
    FREEZE = 2
    HALT = 3

    @property
    def label(self) -> str:
        """Lower-case name, for logs and metric labels."""
        return self.name.lower()


#: Every trigger name (bounded: usable as a metric label value).
TRIGGERS: tuple[str, ...] = (
    "no_feed_health",
    "book_stale",
    "book_unsynced",
    "book_empty",
    "book_crossed",
    "ws_down",
    "no_fair",
    "fair_stale",
    "fair_disputed",
    "fair_jump",
    "peg_deviation",
    "inventory",
    "inventory_limit",
    "loss_from_peak",
    "reject_storm",
    "quotes_crossed",
    "kill",
)

#: Triggers an explicit decision ends (a jump confirmed, acknowledged or rejected): a level
#: only they held drops at once when they clear, without the cooldown.
SETTLED_TRIGGERS = frozenset({"fair_jump"})

#: Triggers of inputs that are simply not there yet at start-up (see the module docstring).
START_TRIGGERS = frozenset(
    {"no_feed_health", "book_stale", "book_unsynced", "book_empty", "ws_down", "no_fair"}
)


class RiskParams(BaseModel):
    """Risk limits and policy. Sizes in lots, amounts in the quote currency.

    Attributes:
        band_bps: Half-width of the peg band around fair no quote may leave.
        book_stale_s: Seconds without a confirmation of the book before ``book_stale``: a
            book message, or (Binance feed) a REST probe finding the venue's book unchanged.
        fair_max_age_s: Oldest acceptable fair value (None: trust the peg's own state).
        fair_disputed: Level for a disputed fair value (explicit policy).
        market_empty: Level when the book holds no order but ours (explicit policy).
        deviation_defend_bps: Mid–fair deviation that widens quotes.
        deviation_freeze_bps: Mid–fair deviation that pulls quotes (None: never).
        deviation_grace_s: For this long after the fair re-anchors on a confirmed jump, a
            deviation past ``deviation_freeze_bps`` only defends: the market follows an
            official step over minutes, and our quotes at the new fair are what lead it
            there. A market still that far away afterwards pulls quotes again.
        inventory_defend_lots: Excess inventory that widens quotes (None: never).
        max_base_lots: Most base the desk may hold (bids are trimmed to it).
        min_base_lots: Least base the desk may hold (asks are trimmed to it; 0 on spot).
        inventory_breach: Level when holdings are already outside the min/max.
        max_side_lots: Most lots quoted on one side in total (None: no cap).
        respect_balances: Trim bids to the quote balance.
        loss_defend: Drawdown of mark-to-fair equity from its peak that widens quotes.
        loss_halt: Drawdown that halts.
        reject_window_s: Window of the reject storm.
        rejects_freeze: Rejects within the window that pull quotes.
        rejects_halt: Rejects within the window that halt.
        release_ratio: A numeric trigger releases below this fraction of its threshold.
        cooldown_s: Time a lower level must hold before risk steps down one level.
        defend_widen_bps: How far ``defend`` moves each quote away from the touch.
        defend_size_factor: Size multiplier in ``defend``.
        start_grace_s: How long a fresh start may wait for its feed and fair value before
            their absence counts as a risk event (0: no grace).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    band_bps: float = Field(default=100.0, gt=0)
    book_stale_s: float = Field(default=10.0, gt=0)
    fair_max_age_s: float | None = Field(default=None, gt=0)
    fair_disputed: LevelName = "defend"
    market_empty: LevelName = "defend"
    deviation_defend_bps: float = Field(default=50.0, gt=0)
    deviation_freeze_bps: float | None = Field(default=300.0, gt=0)
    deviation_grace_s: float = Field(default=300.0, ge=0)
    inventory_defend_lots: int | None = Field(default=None, gt=0)
    max_base_lots: int | None = Field(default=None, ge=0)
    min_base_lots: int = 0
    inventory_breach: LevelName = "freeze"
    max_side_lots: int | None = Field(default=None, gt=0)
    respect_balances: bool = True
    loss_defend: float | None = Field(default=None, gt=0)
    loss_halt: float | None = Field(default=None, gt=0)
    reject_window_s: float = Field(default=60.0, gt=0)
    rejects_freeze: int = Field(default=10, gt=0)
    rejects_halt: int = Field(default=50, gt=0)
    release_ratio: float = Field(default=0.8, gt=0, le=1)
    cooldown_s: float = Field(default=30.0, ge=0)
    defend_widen_bps: float = Field(default=10.0, ge=0)
    defend_size_factor: float = Field(default=0.5, gt=0, le=1)
    start_grace_s: float = Field(default=10.0, ge=0)


@dataclass(frozen=True, slots=True)
class Trigger:
    """One active trigger.

    Attributes:
        name: One of :data:`TRIGGERS`.
        level: The level it asks for.
        detail: Human-readable value and threshold, for logs.
    """

    name: str
    level: RiskLevel
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Transition:
    """A change of level.

    Attributes:
        at_ns: When.
        from_level: Level before.
        to_level: Level after.
        reasons: Names of the triggers active then (``resume`` for an operator resume,
            ``cooldown`` for a step down).
        details: The triggers' details.
    """

    at_ns: int
    from_level: RiskLevel
    to_level: RiskLevel
    reasons: tuple[str, ...]
    details: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RiskState:
    """What risk decided, for the shell, the journal, metrics and the status display.

    Attributes:
        level: The current level.
        triggers: Triggers active now.
        since_ns: When the current level was entered.
        transition: The transition this call made, if any.
        target: The level the triggers ask for now (below ``level`` while cooling down).
        deviation_bps: Market deviation from fair, if known.
        drawdown: Equity below its peak (quote currency).
        rejects_in_window: Rejects counted in the storm window.
        dropped: Quotes removed by the clamps this call.
        starting: Still starting: waiting for the feed and fair value, quoting nothing, and
            not counting their absence as an event (``level`` stays where it was).
    """

    level: RiskLevel
    triggers: tuple[Trigger, ...]
    since_ns: int
    transition: Transition | None = None
    target: RiskLevel = RiskLevel.NORMAL
    deviation_bps: float | None = None
    drawdown: Fraction = Fraction(0)
    rejects_in_window: int = 0
    dropped: int = 0
    starting: bool = False

    @property
    def reasons(self) -> tuple[str, ...]:
        """Names of the active triggers."""
        return tuple(t.name for t in self.triggers)

    @property
    def cancel_all(self) -> bool:
        """The shell must cancel every order on the venue and confirm it."""
        return self.level is RiskLevel.HALT

    @property
    def quoting(self) -> bool:
        """Quotes may rest on the venue."""
        return self.level <= RiskLevel.DEFEND and not self.starting


class Risk:
    """The risk layer (see the module docstring). Deterministic; time comes from the state.

    Attributes:
        params: Limits and policy.
        market: The market (lot and tick sizes).
        transitions: Every level change so far, oldest first.
    """

    def __init__(self, params: RiskParams, market: Market, start_ns: int = 0) -> None:
        """Start in ``normal``."""
        self.params = params
        self.market = market
        self.transitions: list[Transition] = []
        self._level = RiskLevel.NORMAL
        self._since = start_ns
        self._below_since: int | None = None
        # The triggers that asked for the current level since it was entered: when all of
        # them were settled by a decision (SETTLED_TRIGGERS), the level drops without cooldown.
        self._held_by: set[str] = set()
        self._rebased_at: int | None = None  # the fair's last re-anchoring seen
        self._active: dict[str, RiskLevel] = {}
        self._killed: str | None = None
        self._peak: Fraction | None = None
        self._rejects: deque[tuple[int, int]] = deque()
        self._grace_ns = int(params.start_grace_s * NS_PER_S)
        self._starting = self._grace_ns > 0
        p = params
        self._band = frac(p.band_bps)
        self._release = frac(p.release_ratio)
        self._widen_bps = frac(p.defend_widen_bps)
        self._size_factor = frac(p.defend_size_factor)
        self._cooldown_ns = int(p.cooldown_s * NS_PER_S)
        self._window_ns = int(p.reject_window_s * NS_PER_S)
        self._units_per_lot = market.units_per_lot
        self._qty_unit = Fraction(market.qty_unit)
        self._tick = Fraction(market.tick_size)
        self._lot_cost = Fraction(market.tick_size) * Fraction(market.lot_size)  # per tick·lot
        self._band_cache: tuple[Fraction, int, int, int] | None = None
        # Thresholds as exact fractions, once, with their release values:
        # (threshold, release × threshold, level).
        dev = [(frac(p.deviation_defend_bps), RiskLevel.DEFEND)]
        if p.deviation_freeze_bps is not None:
            dev.append((frac(p.deviation_freeze_bps), RiskLevel.FREEZE))
        loss = []
        if p.loss_defend is not None:
            loss.append((frac(p.loss_defend), RiskLevel.DEFEND))
        if p.loss_halt is not None:
            loss.append((frac(p.loss_halt), RiskLevel.HALT))
        rejects = [
            (Fraction(p.rejects_freeze), RiskLevel.FREEZE),
            (Fraction(p.rejects_halt), RiskLevel.HALT),
        ]
        inventory = (
            []
            if p.inventory_defend_lots is None
            else [(Fraction(p.inventory_defend_lots), RiskLevel.DEFEND)]
        )
        self._dev_latch = self._with_release(dev)
        self._loss_latch = self._with_release(loss)
        self._reject_latch = self._with_release(rejects)
        self._inventory_latch = self._with_release(inventory)
        # One-entry caches of exact results keyed by their inputs: decisions come many
        # times a second with the same best prices, fair and holdings.
        self._dev_key: tuple[int | None, int | None, Fraction] | None = None
        self._dev_value: Fraction | None = None
        self._equity_key: tuple[int, int, Fraction] | None = None
        self._equity = Fraction(0)
        self._cash_key: int | None = None
        self._cash_lots = 0

    def _with_release(
        self, thresholds: list[tuple[Fraction, RiskLevel]]
    ) -> list[tuple[Fraction, Fraction, RiskLevel]]:
        return [(t, t * self._release, level) for t, level in thresholds]

    @property
    def level(self) -> RiskLevel:
        """The current level."""
        return self._level

    @property
    def starting(self) -> bool:
        """Still starting (see the module docstring)."""
        return self._starting

    # -- operator controls ----------------------------------------------------------------

    def kill(self, now_ns: int, reason: str = "operator") -> Transition | None:
        """Halt now and latch (``pegbot kill``, SIGTERM); returns the transition, if any."""
        self._killed = reason
        return self._move(now_ns, RiskLevel.HALT, ("kill",), (f"kill: {reason}",))

    def resume(self, now_ns: int) -> Transition | None:
        """Leave ``halt`` for ``freeze`` (``pegbot resume``); the peak and rejects restart."""
        if self._level is not RiskLevel.HALT:
            return None
        self._killed = None
        self._peak = None
        self._rejects.clear()
        self._active.clear()
        self._below_since = None
        self._held_by = {"resume"}
        return self._move(now_ns, RiskLevel.FREEZE, ("resume",))

    def drain_transitions(self) -> list[Transition]:
        """Return and forget the recorded transitions (for the journal)."""
        out, self.transitions = self.transitions, []
        return out

    def _move(
        self, now_ns: int, to: RiskLevel, reasons: tuple[str, ...], details: tuple[str, ...] = ()
    ) -> Transition | None:
        if to is self._level:
            return None
        self._starting = False  # a real change of level: the normal rules from here on
        t = Transition(now_ns, self._level, to, reasons, details)
        self.transitions.append(t)
        self._level, self._since = to, now_ns
        return t

    # -- the main call --------------------------------------------------------------------

    def apply(self, state: MarketState, desired: DesiredQuotes) -> tuple[DesiredQuotes, RiskState]:
        """Evaluate the triggers, move the level, and return what may be quoted.

        Args:
            state: The market state the strategy saw.
            desired: The strategy's quotes.

        Returns:
            The quotes to reconcile (empty in freeze and halt) and the risk state.
        """
        now = state.now_ns
        fair = state.fair
        if fair is not None and fair.rebased_at_ns != self._rebased_at:
            self._rebased_at = fair.rebased_at_ns
            self._rebased()
        triggers, deviation, drawdown, rejects = self._evaluate(state, desired)
        target = max((t.level for t in triggers), default=RiskLevel.NORMAL)
        if self._starting and not self._still_starting(now, triggers):
            self._starting = False
        if self._starting:
            # Inputs not there yet, within the grace: no quote, and no event either.
            transition = None
            out, dropped = DesiredQuotes((), note="starting"), len(desired.quotes)
        else:
            transition = self._step(now, target, triggers)
            out, dropped = self._clamp(state, desired)
        risk_state = RiskState(
            level=self._level,
            triggers=tuple(triggers),
            since_ns=self._since,
            transition=transition,
            target=target,
            deviation_bps=deviation,
            drawdown=drawdown,
            rejects_in_window=rejects,
            dropped=dropped,
            starting=self._starting,
        )
        return out, risk_state

    def _still_starting(self, now: int, triggers: list[Trigger]) -> bool:
        # Only inputs not there yet, and within the grace.
        waiting = bool(triggers) and all(t.name in START_TRIGGERS for t in triggers)
        return waiting and now - self._since < self._grace_ns

    def _rebased(self) -> None:
        # The fair value re-anchored on a confirmed jump: a deviation measured against the old
        # fair (the market moved first) is settled with the jump, its hysteresis forgotten.
        # A market still far from the new fair raises it again at once.
        self._active.pop("peg_deviation", None)
        if "peg_deviation" in self._held_by:
            self._held_by.discard("peg_deviation")
            self._held_by.add("fair_jump")

    def _step(self, now: int, target: RiskLevel, triggers: list[Trigger]) -> Transition | None:
        names = tuple(t.name for t in triggers)
        details = tuple(f"{t.name}: {t.detail}" if t.detail else t.name for t in triggers)
        if target > self._level:
            self._below_since = None
            self._held_by = {t.name for t in triggers if t.level >= target}
            return self._move(now, target, names, details)
        if target == self._level or self._level is RiskLevel.HALT:
            self._below_since = None
            self._held_by.update(t.name for t in triggers if t.level >= self._level)
            return None
        if self._held_by and self._held_by <= SETTLED_TRIGGERS:
            # A confirmed (or rejected) jump is a decision, not a value that could flicker
            # back: the cooldown would only keep the desk off the new fair for nothing.
            settled = tuple(f"{name} settled" for name in sorted(self._held_by))
            self._below_since = None
            self._held_by = {t.name for t in triggers if t.level >= target}
            return self._move(now, target, names or settled, details)
        if self._below_since is None:
            self._below_since = now
        if now - self._below_since < self._cooldown_ns:
            return None
        self._below_since = now  # the next step down needs a cooldown of its own
        self._held_by = {t.name for t in triggers if t.level >= self._level - 1}
        return self._move(now, RiskLevel(self._level - 1), names or ("cooldown",), details)

    # -- triggers -------------------------------------------------------------------------

    def _latch(
        self, name: str, value: Fraction, thresholds: list[tuple[Fraction, Fraction, RiskLevel]]
    ) -> RiskLevel | None:
        # Numeric hysteresis: a level stays on until the value falls below release × threshold
        # (each threshold comes with that release value, computed once).
        previous = self._active.get(name)
        hit: RiskLevel | None = None
        for threshold, release, level in thresholds:
            on = value >= threshold
            held = previous is not None and previous >= level and value >= release
            if (on or held) and (hit is None or level > hit):
                hit = level
        if hit is None:
            self._active.pop(name, None)
        else:
            self._active[name] = hit
        return hit

    def _evaluate(
        self, state: MarketState, desired: DesiredQuotes
    ) -> tuple[list[Trigger], float | None, Fraction, int]:
        p = self.params
        now = state.now_ns
        out: list[Trigger] = []
        add = out.append
        freeze = RiskLevel.FREEZE
        if self._killed is not None:
            add(Trigger("kill", RiskLevel.HALT, self._killed))

        feed = state.feed
        if feed is None:
            add(Trigger("no_feed_health", freeze))
        else:
            age = now - feed.book_ts_ns
            if age > p.book_stale_s * NS_PER_S:
                add(Trigger("book_stale", freeze, f"{age / NS_PER_S:.1f}s > {p.book_stale_s}s"))
            if not feed.book_synced:
                add(Trigger("book_unsynced", freeze))
            if not feed.ws_connected:
                add(Trigger("ws_down", freeze))
        # The market's book without our own orders: an emptied or moved market must not look
        # pegged because our own stale quotes still sit at the top.
        book = state.market_book
        bb, ba = book.best_bid, book.best_ask
        if bb is None and ba is None:
            add(Trigger("book_empty", RiskLevel[p.market_empty.upper()]))
        elif book.is_crossed:
            add(Trigger("book_crossed", freeze, f"{bb} >= {ba}"))

        fair = state.fair
        deviation: Fraction | None = None
        drawdown = Fraction(0)
        if fair is None:
            add(Trigger("no_fair", freeze))
        else:
            f = fair.price_ticks
            if fair.state == "stale":
                add(Trigger("fair_stale", freeze, "state stale"))
            elif p.fair_max_age_s is not None:
                age = max(fair.age_ns, now - fair.observed_at_ns)
                if age > p.fair_max_age_s * NS_PER_S:
                    add(
                        Trigger(
                            "fair_stale", freeze, f"{age / NS_PER_S:.0f}s > {p.fair_max_age_s}s"
                        )
                    )
            if fair.state == "disputed":
                add(Trigger("fair_disputed", RiskLevel[p.fair_disputed.upper()]))
            elif fair.state == "jump":
                add(Trigger("fair_jump", freeze))
            deviation = self._deviation_bps(state, f)
            if deviation is not None:
                hit = self._latch("peg_deviation", abs(deviation), self._dev_latch)
                if hit is not None:
                    detail = f"{float(deviation):+.1f} bps"
                    rebased = fair.rebased_at_ns
                    if (
                        hit is freeze
                        and rebased is not None
                        and now - rebased < p.deviation_grace_s * NS_PER_S
                    ):
                        hit, detail = RiskLevel.DEFEND, f"{detail} (following a confirmed jump)"
                    add(Trigger("peg_deviation", hit, detail))
            drawdown = self._drawdown(state, f)
            hit = self._latch("loss_from_peak", drawdown, self._loss_latch)
            if hit is not None:
                add(Trigger("loss_from_peak", hit, f"{float(drawdown):.4f} {self.market.quote}"))

        inv = state.inventory
        if self._inventory_latch:
            lots_excess = Fraction(abs(inv.excess_units), self._units_per_lot)
            hit = self._latch("inventory", lots_excess, self._inventory_latch)
            if hit is not None:
                add(Trigger("inventory", hit, f"{float(lots_excess):.0f} lots from target"))
        too_long = (
            p.max_base_lots is not None and inv.base_units > p.max_base_lots * self._units_per_lot
        )
        if too_long or inv.base_units < p.min_base_lots * self._units_per_lot:
            add(
                Trigger(
                    "inventory_limit",
                    RiskLevel[p.inventory_breach.upper()],
                    f"base {inv.base_units} units",
                )
            )

        rejects = self._rejects_in_window(now, feed.rejects_total if feed is not None else None)
        hit = self._latch("reject_storm", Fraction(rejects), self._reject_latch)
        if hit is not None:
            add(Trigger("reject_storm", hit, f"{rejects} in {p.reject_window_s}s"))

        best_bid, best_ask = desired.best_bid, desired.best_ask
        if best_bid is not None and best_ask is not None and best_bid >= best_ask:
            add(Trigger("quotes_crossed", freeze, f"{best_bid} >= {best_ask}"))
        return out, None if deviation is None else float(deviation), drawdown, rejects

    def _deviation_bps(self, state: MarketState, fair: Fraction) -> Fraction | None:
        # Mid against fair; with one side only, how far that side's touch is through fair.
        book = state.market_book
        bb, ba = book.best_bid, book.best_ask
        key = (bb, ba, fair)
        if key != self._dev_key:
            self._dev_key, self._dev_value = key, self._deviation_of(bb, ba, fair)
        return self._dev_value

    @staticmethod
    def _deviation_of(bb: int | None, ba: int | None, fair: Fraction) -> Fraction | None:
        if bb is not None and ba is not None:
            ref = Fraction(bb + ba, 2)
        elif bb is not None:
            ref = max(Fraction(bb), fair)
        elif ba is not None:
            ref = min(Fraction(ba), fair)
        else:
            return None
        return (ref - fair) * 10_000 / fair

    def _drawdown(self, state: MarketState, fair: Fraction) -> Fraction:
        inv = state.inventory
        key = (inv.quote_units, inv.base_units, fair)
        if key != self._equity_key:
            self._equity_key = key
            self._equity = (inv.quote_units + inv.base_units * fair * self._tick) * self._qty_unit
        equity = self._equity
        if self._peak is None or equity > self._peak:
            self._peak = equity
        return self._peak - equity

    def _rejects_in_window(self, now: int, total: int | None) -> int:
        # Samples of the monotone reject counter; the baseline is the newest sample at or
        # before the window start (counting errs toward more rejects, never fewer).
        if total is None:
            return 0
        samples = self._rejects
        if samples and total < samples[-1][1]:
            samples.clear()  # the counter was reset (a restart of the shell)
        samples.append((now, total))
        start = now - self._window_ns
        while len(samples) >= 2 and samples[1][0] <= start:
            samples.popleft()
        return total - samples[0][1]

    # -- clamps ---------------------------------------------------------------------------

    def _clamp(self, state: MarketState, desired: DesiredQuotes) -> tuple[DesiredQuotes, int]:
        level = self._level
        if level >= RiskLevel.FREEZE or state.fair is None:
            return DesiredQuotes((), note=f"risk {level.label}"), len(desired.quotes)
        p = self.params
        f = state.fair.price_ticks
        if self._band_cache is None or self._band_cache[0] != f:
            lo, hi = band_ticks(f, self._band)
            self._band_cache = (f, lo, hi, math.ceil(bps_ticks(f, self._widen_bps)))
        _, lo, hi, widen = self._band_cache
        if level is not RiskLevel.DEFEND:
            widen = 0
        book = state.book
        bb, ba = book.best_bid, book.best_ask
        inv = state.inventory
        upl = self._units_per_lot
        # Lots each side may still add: holdings stay within [min_base, max_base].
        bid_room = (
            _UNLIMITED
            if p.max_base_lots is None
            else (p.max_base_lots * upl - inv.base_units) // upl
        )
        ask_room = (inv.base_units - p.min_base_lots * upl) // upl
        if p.max_side_lots is not None:
            bid_room, ask_room = min(bid_room, p.max_side_lots), min(ask_room, p.max_side_lots)
        # What the quote balance pays for, in tick·lots: price × lots of every bid must fit.
        cash: int | None = None
        if p.respect_balances:
            if inv.quote_units != self._cash_key:
                self._cash_key = inv.quote_units
                self._cash_lots = math.floor(
                    Fraction(inv.quote_units) * self._qty_unit / self._lot_cost
                )
            cash = self._cash_lots
        kept: list[Quote] = []
        for side in (Side.BUY, Side.SELL):
            room = bid_room if side is Side.BUY else ask_room
            quotes = desired.bids if side is Side.BUY else desired.asks  # best first
            for q in quotes:
                price = q.price_ticks
                if not lo <= price <= hi or price <= 0:
                    continue
                lots = q.lots
                if level is RiskLevel.DEFEND:
                    # Wider, but never out of the band: in a depeg the bids that lean
                    # against it already sit far from fair, right behind the market's touch.
                    price = max(lo, price - widen) if side is Side.BUY else min(hi, price + widen)
                    lots = math.floor(lots * self._size_factor)
                if side is Side.BUY and ba is not None and price >= ba:
                    continue
                if side is Side.SELL and bb is not None and price <= bb:
                    continue
                if side is Side.BUY and cash is not None:
                    lots = min(lots, cash // price)
                lots = min(lots, room)
                if lots <= 0:
                    continue
                room -= lots
                if side is Side.BUY and cash is not None:
                    cash -= lots * price
                # Quotes are immutable: one that passes unchanged is passed on as it is.
                same = price == q.price_ticks and lots == q.lots
                kept.append(q if same else Quote(side, price, lots, q.level_id))
        dropped = len(desired.quotes) - len(kept)
        if level is RiskLevel.NORMAL:
            if not dropped and all(a is b for a, b in zip(kept, desired.quotes, strict=True)):
                return desired, 0
            return DesiredQuotes(tuple(kept), note=desired.note), dropped
        return DesiredQuotes(tuple(kept), note=f"risk {level.label}"), dropped

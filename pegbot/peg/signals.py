"""Mint/redeem arbitrage signals: when the issuer's primary market beats the exchange.

* Bids above fair by more than the all-in mint cost → ``mint_and_sell``: sell KGST on the
  exchange now, mint the same amount at par with the issuer.
* Asks below fair by more than the all-in redeem cost → ``buy_and_redeem``: buy KGST on the
  exchange, redeem it at par.

All edge arithmetic is exact (:class:`fractions.Fraction` of integer ticks and qty units), so
a level whose edge equals the threshold is in, and one a hair below is out, every time.
Edges are in bps of the *fair notional* (size × fair); the exchange fee is charged on the
exchange notional (size × price), as the venue does.

:class:`ArbSignaler` is pure: book, fair value, spendable balances and ``now_ns`` in,
state-transition events out. It never calls the clock or does I/O; sinks
(:mod:`pegbot.peg.sinks`) persist and deliver its events. The mint/redeem leg stays the
issuer's human process: a signal is *proposed*, a human *approves* or *rejects* it, and the
desk *executes* it or it *expires*.

One state machine covers a signal's whole life, the issuer leg included (:data:`TRANSITIONS`)::

    proposed ─► approved ─► executed ─► requested ─► confirmed ─► settled ─► deposited
       │           │                        │            │           │
       └──► expired / rejected              └────────────┴───────────┴──► failed

The signaler owns the *live* part (proposed, approved: expiry, caps, cooldowns); once a
signal is executed it leaves the signaler, and the desk (:mod:`pegbot.desk`) moves it through
the issuer leg, checking every step with :func:`check_transition`. ``executed`` means the
exchange leg is done (or, for a rebalance, that the desk is going ahead); ``requested`` the
mint or redemption was filed with the issuer; ``confirmed`` the issuer accepted it;
``settled`` tokens were minted or som paid; ``deposited`` the proceeds are back on the
exchange, which closes the round trip. ``failed`` is the issuer leg's end when it cannot
complete (refused, cancelled): the position it leaves is for a human.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Protocol

from pegbot.book import ASK, BID, Level
from pegbot.market import Market, Rounding
from pegbot.peg.fair import FairState, FairValue
from pegbot.timeunits import NS_PER_S

if TYPE_CHECKING:
    from pegbot.metrics import Metrics


class SignalBook(Protocol):
    """What the signaler reads of a book (:class:`pegbot.book.OrderBook` is one).

    The backtest passes its dense book view directly instead of copying it into an
    OrderBook at every decision.
    """

    @property
    def best_bid(self) -> int | None:
        """Best bid tick, None when the side is empty."""

    @property
    def best_ask(self) -> int | None:
        """Best ask tick, None when the side is empty."""

    @property
    def update_id(self) -> int:
        """The venue's sequence number of the book (0 when it has none)."""

    @property
    def local_ts(self) -> int:
        """Local receive time of the last change (ns)."""

    def levels(self, side: int) -> list[Level]:
        """Every level of ``side`` (BID or ASK), best first."""


_DAY_NS = 86_400 * NS_PER_S
_BPS = 10_000


class SignalKind(enum.StrEnum):
    """What a signal asks for: an arbitrage round trip, or an inventory rebalance.

    A rebalance (:mod:`pegbot.desk.rebalance`) is a mint or redemption with no exchange leg
    ("mint N, no immediate sale"); it shares the record, the approval path and the issuer leg.
    """

    MINT_AND_SELL = "mint_and_sell"
    BUY_AND_REDEEM = "buy_and_redeem"
    REBALANCE_MINT = "rebalance_mint"
    REBALANCE_REDEEM = "rebalance_redeem"

    @property
    def mints(self) -> bool:
        """The issuer leg mints KGST (else it redeems)."""
        return self in (SignalKind.MINT_AND_SELL, SignalKind.REBALANCE_MINT)

    @property
    def arbitrage(self) -> bool:
        """An arbitrage round trip (has an exchange leg), not a rebalance."""
        return self in ARB_KINDS


#: The kinds the signaler raises from the book (rebalances come from the desk).
ARB_KINDS: tuple[SignalKind, ...] = (SignalKind.MINT_AND_SELL, SignalKind.BUY_AND_REDEEM)


class SignalState(enum.StrEnum):
    """Life cycle (see the module docstring for the diagram)."""

    PROPOSED = "proposed"
    APPROVED = "approved"
    EXECUTED = "executed"
    EXPIRED = "expired"
    REJECTED = "rejected"
    REQUESTED = "requested"
    CONFIRMED = "confirmed"
    SETTLED = "settled"
    DEPOSITED = "deposited"
    FAILED = "failed"

    @property
    def live(self) -> bool:
        """Still waiting for a decision or for execution (the signaler's part)."""
        return self in (SignalState.PROPOSED, SignalState.APPROVED)

    @property
    def final(self) -> bool:
        """Nothing can follow (expired, rejected, deposited, failed)."""
        return not TRANSITIONS.get(self)


#: Every allowed transition: the one state machine of a signal, issuer leg included.
TRANSITIONS: dict[SignalState, frozenset[SignalState]] = {
    SignalState.PROPOSED: frozenset(
        {SignalState.APPROVED, SignalState.EXPIRED, SignalState.REJECTED}
    ),
    SignalState.APPROVED: frozenset(
        {SignalState.EXECUTED, SignalState.EXPIRED, SignalState.REJECTED}
    ),
    SignalState.EXECUTED: frozenset({SignalState.REQUESTED}),
    SignalState.REQUESTED: frozenset({SignalState.CONFIRMED, SignalState.FAILED}),
    SignalState.CONFIRMED: frozenset({SignalState.SETTLED, SignalState.FAILED}),
    SignalState.SETTLED: frozenset({SignalState.DEPOSITED, SignalState.FAILED}),
}


def check_transition(signal_id: str, from_state: SignalState, to: SignalState) -> None:
    """Raise :class:`SignalStateError` unless ``from_state → to`` is allowed.

    Args:
        signal_id: For the message.
        from_state: The state the signal is in.
        to: The state asked for.
    """
    if to not in TRANSITIONS.get(from_state, frozenset()):
        raise SignalStateError(
            f"signal {signal_id} is {from_state.value}: {from_state.value} → {to.value} "
            "is not allowed"
        )


#: Why an opportunity did not become a signal (bounded: metric label values).
SUPPRESS_REASONS = ("cooldown", "live_signal", "daily_cap", "inventory", "below_min_size")


class SignalStateError(ValueError):
    """An illegal transition (e.g. approving an expired signal) or an unknown signal id."""


@dataclass(frozen=True, slots=True)
class ArbCosts:
    """All-in costs of one round trip, each in bps unless named otherwise.

    Attributes:
        exchange_fee_bps: Taker fee on the exchange notional.
        mint_fee_bps: Issuer's mint fee on the par value.
        redeem_fee_bps: Issuer's redeem fee on the par value.
        transfer_cost_quote: Fixed cost per signal in the quote currency (gas, withdrawal and
            bank fees); it weighs less the larger the signal.
        fx_spread_bps: Converting USDT ↔ USD ↔ KGS to close the loop.
        settlement_days: Days until the mint/redeem leg settles.
        fx_vol_daily_bps: Daily volatility of USD/KGS (σ).
        haircut_sigmas: How many σ·√T of FX move to charge for settlement risk.
    """

    exchange_fee_bps: Decimal = Decimal(10)
    mint_fee_bps: Decimal = Decimal(0)
    redeem_fee_bps: Decimal = Decimal(0)
    transfer_cost_quote: Decimal = Decimal(0)
    fx_spread_bps: Decimal = Decimal(0)
    settlement_days: Decimal = Decimal(0)
    fx_vol_daily_bps: Decimal = Decimal(0)
    haircut_sigmas: Decimal = Decimal(1)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, Decimal):
                object.__setattr__(self, f.name, Decimal(str(value)))
            if getattr(self, f.name) < 0:
                raise ValueError(f"cost {f.name} must not be negative")

    @property
    def settlement_risk_bps(self) -> Fraction:
        """``k × σ_daily × √T``: what an FX move during settlement may cost."""
        root = self.settlement_days.sqrt()  # 28 significant digits; T is config, not a price
        return Fraction(self.haircut_sigmas * self.fx_vol_daily_bps * root)

    def par_bps(self, kind: SignalKind) -> Fraction:
        """Proportional costs charged on the par value (everything but exchange and fixed)."""
        issuer = self.mint_fee_bps if kind is SignalKind.MINT_AND_SELL else self.redeem_fee_bps
        return Fraction(issuer) + Fraction(self.fx_spread_bps) + self.settlement_risk_bps


@dataclass(frozen=True, slots=True)
class ArbConfig:
    """Thresholds, sizing caps and timing of the signaler.

    Attributes:
        min_edge_bps: A level is taken while its marginal net edge is at least this, and a
            signal needs an average net edge (fixed cost included) of at least this.
        hysteresis_bps: A proposed signal is withdrawn only once the best marginal edge falls
            below ``min_edge_bps − hysteresis_bps``, so a flickering book does not churn.
        cooldown_ns: Minimum time between two signals of the same kind.
        expiry_ns: A signal not executed by ``created + expiry`` expires.
        issuer_min_qty: Smallest mint/redeem the issuer accepts (base units).
        max_qty_per_signal: Size cap of one signal (base units); None = no cap.
        max_qty_per_day: Cap per kind per UTC day over live and executed signals; None = none.
    """

    min_edge_bps: Decimal = Decimal(5)
    hysteresis_bps: Decimal = Decimal(2)
    cooldown_ns: int = 60 * NS_PER_S
    expiry_ns: int = 300 * NS_PER_S
    issuer_min_qty: Decimal = Decimal(0)
    max_qty_per_signal: Decimal | None = None
    max_qty_per_day: Decimal | None = None

    def __post_init__(self) -> None:
        if self.hysteresis_bps < 0 or self.cooldown_ns < 0 or self.expiry_ns <= 0:
            raise ValueError("hysteresis and cooldown must be >= 0 and expiry > 0")


@dataclass(frozen=True, slots=True)
class SpendableBalances:
    """What the exchange leg may use: base (qty units) to sell, quote to buy with."""

    base_units: int | None = None
    quote: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Signal:
    """One arbitrage proposal and where it is in its life cycle.

    Prices are exact fractions of the quote currency; sizes are qty units of the market.
    ``costs_bps`` maps each cost (exchange_fee, mint_fee or redeem_fee, transfer, fx_spread,
    settlement_risk) to bps of the fair notional.
    """

    id: str
    kind: SignalKind
    venue: str
    symbol: str
    created_ns: int
    expires_ns: int
    state: SignalState
    updated_ns: int
    size_units: int
    vwap: Fraction
    limit_ticks: int
    levels: int
    fair: Fraction
    fair_ticks: int
    fair_age_ns: int
    fair_sources: tuple[str, ...]
    gross_edge_bps: Fraction
    costs_bps: dict[str, Fraction]
    net_edge_bps: Fraction
    expected_profit: Fraction
    bounds: dict[str, int | None]
    book_update_id: int
    book_ts_ns: int
    reason: str = ""

    def to_dict(self, market: Market) -> dict[str, Any]:
        """A JSON-ready record: Decimal strings at the boundary, ints for times and ticks."""
        size = market.units_to_qty(self.size_units)
        return {
            "id": self.id,
            "kind": self.kind.value,
            "venue": self.venue,
            "symbol": self.symbol,
            "state": self.state.value,
            "reason": self.reason,
            "created_ns": self.created_ns,
            "updated_ns": self.updated_ns,
            "expires_ns": self.expires_ns,
            "size": _s(Fraction(size), 8),
            "size_units": self.size_units,
            "notional_quote": _s(self.vwap * Fraction(size), 8),
            "vwap": _s(self.vwap, 10),
            "limit_price": market.format_price(self.limit_ticks),
            "levels": self.levels,
            "fair": _s(self.fair, 10),
            "fair_ticks": self.fair_ticks,
            "fair_age_ns": self.fair_age_ns,
            "fair_sources": list(self.fair_sources),
            "gross_edge_bps": _s(self.gross_edge_bps, 4),
            "costs_bps": {k: _s(v, 4) for k, v in self.costs_bps.items()},
            "net_edge_bps": _s(self.net_edge_bps, 4),
            "expected_profit": _s(self.expected_profit, 8),
            "bounds": dict(self.bounds),
            "book_update_id": self.book_update_id,
            "book_ts_ns": self.book_ts_ns,
        }


def _s(value: Fraction, places: int) -> str:
    q = round(Decimal(value.numerator) / Decimal(value.denominator), places)
    return format(q.normalize(), "f") if q else "0"


@dataclass(frozen=True, slots=True)
class SignalEvent:
    """A signal entering a state (``previous`` is None when it is first proposed)."""

    signal: Signal
    previous: SignalState | None
    at_ns: int


@dataclass(frozen=True, slots=True)
class SignalerStatus:
    """What the risk layer reads: are signals allowed, and if not, why.

    Attributes:
        enabled: False while the fair value is not ``ok``.
        fair_state: The fair value's state at the last evaluation.
        reason: Why signals are off ("" when enabled).
        since_ns: When ``enabled`` last changed.
    """

    enabled: bool
    fair_state: FairState
    reason: str
    since_ns: int


@dataclass
class _KindState:
    last_created_ns: int = -(1 << 62)
    used_day: int = -1
    used_units: int = 0
    suppressed: Counter[str] = field(default_factory=Counter)


class ArbSignaler:
    """Turns book + fair value into mint/redeem signals with sizing, costs and a life cycle."""

    def __init__(
        self,
        market: Market,
        costs: ArbCosts | None = None,
        config: ArbConfig | None = None,
        venue: str = "binance",
        metrics: Metrics | None = None,
    ) -> None:
        """Configure the signaler; ``metrics`` (optional) counts suppressed opportunities."""
        self.market = market
        self.costs = costs or ArbCosts()
        self.config = config or ArbConfig()
        self.venue = venue
        self.metrics = metrics
        self._signals: dict[str, Signal] = {}
        self._live_ids: set[str] = set()  # evaluate() runs per book update: keep this small
        self._thr_fair: Fraction | None = None
        self._thr: dict[tuple[SignalKind, bool], int] = {}
        self._kinds = {k: _KindState() for k in SignalKind}  # rebalances: no caps, no cooldown
        self._status = SignalerStatus(False, FairState.STALE, "no fair value yet", 0)
        self._tick = Fraction(market.tick_size)
        self._unit = Fraction(market.qty_unit)
        self._fee = Fraction(self.costs.exchange_fee_bps) / _BPS

    # -- queries --------------------------------------------------------------------------

    @property
    def status(self) -> SignalerStatus:
        """Whether signals are on, for the risk layer (issue 5) and the dashboard."""
        return self._status

    def signal(self, signal_id: str) -> Signal:
        """A signal by id (live or finished)."""
        try:
            return self._signals[signal_id]
        except KeyError:
            raise SignalStateError(f"unknown signal {signal_id!r}") from None

    def signals(self) -> list[Signal]:
        """Every signal this signaler knows, oldest first."""
        return sorted(self._signals.values(), key=lambda s: (s.created_ns, s.id))

    def live(self, kind: SignalKind | None = None) -> list[Signal]:
        """Proposed or approved signals, optionally of one kind, oldest first."""
        found = [self._signals[i] for i in self._live_ids]
        return sorted(
            (s for s in found if kind is None or s.kind is kind), key=lambda s: (s.created_ns, s.id)
        )

    def suppressed(self, kind: SignalKind) -> Counter[str]:
        """How often an edge existed but no signal was raised, by reason."""
        return self._kinds[kind].suppressed

    def trigger_ticks(self, fair: Fraction, kind: SignalKind, edge_bps: Fraction) -> int:
        """The worst tick at which one unit still earns ``edge_bps`` net of proportional costs.

        For ``mint_and_sell`` the lowest bid that qualifies, for ``buy_and_redeem`` the
        highest ask. It is also the defence-band edge a quoting strategy may use.
        """
        need = (edge_bps + self.costs.par_bps(kind)) / _BPS
        if kind is SignalKind.MINT_AND_SELL:
            # p(1 − fee) − fair ≥ fair·need
            ticks = math.ceil(fair * (1 + need) / (1 - self._fee) / self._tick)
        else:
            # fair − p(1 + fee) ≥ fair·need
            ticks = math.floor(fair * (1 - need) / (1 + self._fee) / self._tick)
        return ticks

    def marginal_edge_bps(self, fair: Fraction, kind: SignalKind, ticks: int) -> Fraction:
        """Net edge of one more unit at ``ticks``, proportional costs only, in bps of fair."""
        price = ticks * self._tick
        sign = 1 if kind is SignalKind.MINT_AND_SELL else -1
        per_unit = sign * (price - fair) - self._fee * price
        return per_unit / fair * _BPS - self.costs.par_bps(kind)

    # -- the decision ---------------------------------------------------------------------

    def evaluate(
        self,
        now_ns: int,
        book: SignalBook,
        fair: FairValue,
        balances: SpendableBalances | None = None,
    ) -> list[SignalEvent]:
        """Expire, withdraw and raise signals for the market at ``now_ns``.

        When the fair value is not tradable (stale, disputed, jump, or no price) no signal
        is raised, proposed ones are withdrawn (expired, with the fair state as reason) and
        :attr:`status` says so.
        """
        events = self._expire_due(now_ns)
        if not fair.tradable or fair.price is None:
            reason = f"fair value {fair.state.value}"
            self._set_status(False, fair.state, reason, now_ns)
            for sig in self.live():
                if sig.state is SignalState.PROPOSED:
                    events.append(self._move(sig, SignalState.EXPIRED, now_ns, reason))
            return events
        self._set_status(True, fair.state, "", now_ns)
        for kind in ARB_KINDS:
            events.extend(self._evaluate_kind(kind, now_ns, book, fair, balances))
        return events

    def _evaluate_kind(
        self,
        kind: SignalKind,
        now_ns: int,
        book: SignalBook,
        fair: FairValue,
        balances: SpendableBalances | None,
    ) -> list[SignalEvent]:
        assert fair.price is not None
        price = fair.price
        best = book.best_bid if kind is SignalKind.MINT_AND_SELL else book.best_ask
        live = self.live(kind) if self._live_ids else []
        if live:
            # Withdraw a proposal once the edge is clearly gone (hysteresis), not on flicker.
            gone = not self._reaches(kind, best, price, floor=True)
            events = []
            if gone:
                for sig in live:
                    if sig.state is SignalState.PROPOSED:
                        events.append(self._move(sig, SignalState.EXPIRED, now_ns, "edge_gone"))
            elif self._reaches(kind, best, price, floor=False):
                self._suppress(kind, "live_signal")
            return events
        if not self._reaches(kind, best, price, floor=False):
            return []
        state = self._kinds[kind]
        if now_ns - state.last_created_ns < self.config.cooldown_ns:
            self._suppress(kind, "cooldown")
            return []
        new = self._build(kind, now_ns, book, fair, balances)
        if new is None:
            return []
        state.last_created_ns = now_ns
        self._use_daily(kind, now_ns, new.size_units)
        self._signals[new.id] = new
        self._live_ids.add(new.id)
        return [SignalEvent(new, None, now_ns)]

    def _reaches(self, kind: SignalKind, best: int | None, fair: Fraction, floor: bool) -> bool:
        # The marginal edge falls monotonically away from the touch, so one integer compare
        # against a threshold tick decides; thresholds are recomputed only when fair changes.
        if best is None:
            return False
        if fair is not self._thr_fair and fair != self._thr_fair:
            min_edge = Fraction(self.config.min_edge_bps)
            floor_edge = min_edge - Fraction(self.config.hysteresis_bps)
            self._thr = {
                (k, f): self.trigger_ticks(fair, k, floor_edge if f else min_edge)
                for k in ARB_KINDS
                for f in (False, True)
            }
            self._thr_fair = fair
        trigger = self._thr[kind, floor]
        return best >= trigger if kind is SignalKind.MINT_AND_SELL else best <= trigger

    def _build(
        self,
        kind: SignalKind,
        now_ns: int,
        book: SignalBook,
        fair: FairValue,
        balances: SpendableBalances | None,
    ) -> Signal | None:
        assert fair.price is not None and fair.ticks is not None
        price = fair.price
        market = self.market
        min_edge = Fraction(self.config.min_edge_bps)
        side = BID if kind is SignalKind.MINT_AND_SELL else ASK
        levels = book.levels(side)
        depth = 0
        for ticks, qty in levels:
            if self.marginal_edge_bps(price, kind, ticks) < min_edge:
                break
            depth += qty
        caps: dict[str, int | None] = {
            "depth_units": depth,
            "signal_cap_units": _units(market, self.config.max_qty_per_signal),
            "daily_left_units": self._daily_left(kind, now_ns),
            "inventory_units": None,
        }
        cap = min(
            c for c in (depth, caps["signal_cap_units"], caps["daily_left_units"]) if c is not None
        )
        taken: list[tuple[int, int]] = []
        quote_left = None
        if balances is not None and kind is SignalKind.MINT_AND_SELL:
            if balances.base_units is not None:
                caps["inventory_units"] = balances.base_units
                cap = min(cap, balances.base_units)
        elif balances is not None and balances.quote is not None:
            quote_left = Fraction(balances.quote)
        remaining = cap
        for ticks, qty in levels:
            if remaining <= 0 or self.marginal_edge_bps(price, kind, ticks) < min_edge:
                break
            take = min(qty, remaining)
            if quote_left is not None:
                unit_cost = ticks * self._tick * self._unit * (1 + self._fee)
                take = min(take, math.floor(quote_left / unit_cost))
                quote_left -= take * unit_cost
            if take <= 0:
                break
            taken.append((ticks, take))
            remaining -= take
        if quote_left is not None:
            caps["inventory_units"] = sum(q for _, q in taken)
        size = sum(q for _, q in taken)
        # Orders are sized in lots: trim the last level down to a whole number of lots.
        lots = market.units_to_lots(size, rounding=Rounding.DOWN)
        excess = size - market.lots_to_units(lots)
        while excess > 0 and taken:
            t, q = taken.pop()
            if q > excess:
                taken.append((t, q - excess))
                excess = 0
            else:
                excess -= q
        size = sum(q for _, q in taken)
        min_units = max(
            _units(market, self.config.issuer_min_qty) or 0, _units(market, market.min_qty) or 0, 1
        )
        if size < min_units:
            limited = caps["inventory_units"] is not None and caps["inventory_units"] < min_units
            left = caps["daily_left_units"]
            reason = (
                "daily_cap"
                if left is not None and left < min_units
                else ("inventory" if limited else "below_min_size")
            )
            self._suppress(kind, reason)
            return None
        qty_exact = size * self._unit
        proceeds = sum(t * q for t, q in taken) * self._tick * self._unit
        vwap = proceeds / qty_exact
        par = qty_exact * price  # fair notional, the base of every bps figure
        sign = 1 if kind is SignalKind.MINT_AND_SELL else -1
        gross_bps = sign * (vwap / price - 1) * _BPS
        issuer_key = "mint_fee" if kind is SignalKind.MINT_AND_SELL else "redeem_fee"
        issuer_bps = self.costs.mint_fee_bps if sign > 0 else self.costs.redeem_fee_bps
        costs = {
            "exchange_fee": self._fee * proceeds / par * _BPS,
            issuer_key: Fraction(issuer_bps),
            "transfer": Fraction(self.costs.transfer_cost_quote) / par * _BPS,
            "fx_spread": Fraction(self.costs.fx_spread_bps),
            "settlement_risk": self.costs.settlement_risk_bps,
        }
        net_bps = gross_bps - sum(costs.values())
        if net_bps < min_edge:
            # Only the fixed transfer cost can push an all-qualifying walk below the bar.
            self._suppress(kind, "below_min_size")
            return None
        return Signal(
            id=f"{market.exchange_symbol}-{kind.value}-{now_ns}",
            kind=kind,
            venue=self.venue,
            symbol=market.symbol,
            created_ns=now_ns,
            expires_ns=now_ns + self.config.expiry_ns,
            state=SignalState.PROPOSED,
            updated_ns=now_ns,
            size_units=size,
            vwap=vwap,
            limit_ticks=taken[-1][0],
            levels=len(taken),
            fair=price,
            fair_ticks=fair.ticks,
            fair_age_ns=fair.age_ns or 0,
            fair_sources=tuple(q.name for q in fair.sources if q.fresh),
            gross_edge_bps=gross_bps,
            costs_bps=costs,
            net_edge_bps=net_bps,
            expected_profit=net_bps * par / _BPS,
            bounds=caps,
            book_update_id=book.update_id,
            book_ts_ns=book.local_ts,
        )

    # -- the life cycle -------------------------------------------------------------------

    def approve(self, signal_id: str, now_ns: int) -> SignalEvent:
        """A human approved the mint/redeem leg."""
        return self._transition(signal_id, SignalState.APPROVED, now_ns, "")

    def reject(self, signal_id: str, now_ns: int, reason: str = "rejected") -> SignalEvent:
        """A human (or the risk layer) declined it; its size returns to the daily cap."""
        return self._transition(signal_id, SignalState.REJECTED, now_ns, reason)

    def mark_executed(self, signal_id: str, now_ns: int, reason: str = "") -> SignalEvent:
        """Both legs are done; ``reason`` records how (e.g. the size and order that filled)."""
        return self._transition(signal_id, SignalState.EXECUTED, now_ns, reason)

    def propose(self, signal: Signal) -> SignalEvent:
        """Take a signal built elsewhere (a rebalance) into the same approval path.

        It is approved, rejected, executed and expired like an arbitrage signal, but counts
        against no daily cap or cooldown (those limit the signaler's own arbitrage).

        Raises:
            SignalStateError: The id is taken, or the signal is not a new proposal.
        """
        if signal.id in self._signals:
            raise SignalStateError(f"signal {signal.id} exists already")
        if signal.state is not SignalState.PROPOSED or signal.kind.arbitrage:
            raise SignalStateError(f"signal {signal.id}: only new rebalance proposals")
        self._signals[signal.id] = signal
        self._live_ids.add(signal.id)
        return SignalEvent(signal, None, signal.created_ns)

    def restore(self, signals: Iterable[Signal]) -> None:
        """Reload signals after a restart (from the journal) so caps and cooldowns hold."""
        for sig in signals:
            self._signals[sig.id] = sig
            if sig.state.live:
                self._live_ids.add(sig.id)
            state = self._kinds[sig.kind]
            state.last_created_ns = max(state.last_created_ns, sig.created_ns)
            counts = sig.state not in (SignalState.EXPIRED, SignalState.REJECTED)
            if counts and sig.kind.arbitrage:
                self._use_daily(sig.kind, sig.created_ns, sig.size_units)

    def _transition(self, signal_id: str, to: SignalState, now_ns: int, reason: str) -> SignalEvent:
        sig = self.signal(signal_id)
        if to is not SignalState.EXPIRED and sig.state.live and now_ns >= sig.expires_ns:
            self._move(sig, SignalState.EXPIRED, now_ns, "expired")
            raise SignalStateError(f"signal {signal_id} expired at {sig.expires_ns}")
        return self._move(sig, to, now_ns, reason)

    def _move(self, sig: Signal, to: SignalState, now_ns: int, reason: str) -> SignalEvent:
        if not to.live and to not in (
            SignalState.EXECUTED,
            SignalState.EXPIRED,
            SignalState.REJECTED,
        ):
            raise SignalStateError(f"signal {sig.id}: the issuer leg is the desk's, not ours")
        check_transition(sig.id, sig.state, to)
        new = dataclasses.replace(sig, state=to, updated_ns=now_ns, reason=reason)
        self._signals[sig.id] = new
        if not to.live:
            self._live_ids.discard(sig.id)
        if to in (SignalState.EXPIRED, SignalState.REJECTED) and sig.kind.arbitrage:
            self._use_daily(sig.kind, sig.created_ns, -sig.size_units)
        return SignalEvent(new, sig.state, now_ns)

    def _expire_due(self, now_ns: int) -> list[SignalEvent]:
        if not self._live_ids:
            return []
        return [
            self._move(s, SignalState.EXPIRED, now_ns, "expired")
            for s in self.live()
            if now_ns >= s.expires_ns
        ]

    # -- bookkeeping ----------------------------------------------------------------------

    def _set_status(self, enabled: bool, state: FairState, reason: str, now_ns: int) -> None:
        old = self._status
        since = old.since_ns if old.enabled == enabled else now_ns
        self._status = SignalerStatus(enabled, state, reason, since)

    def _suppress(self, kind: SignalKind, reason: str) -> None:
        self._kinds[kind].suppressed[reason] += 1
        if self.metrics is not None:
            self.metrics.arb_suppressed.labels(direction=kind.value, reason=reason).inc()

    def _use_daily(self, kind: SignalKind, at_ns: int, units: int) -> None:
        state = self._kinds[kind]
        day = at_ns // _DAY_NS
        if day > state.used_day:
            state.used_day, state.used_units = day, 0
        if day == state.used_day:
            state.used_units = max(0, state.used_units + units)

    def _daily_left(self, kind: SignalKind, now_ns: int) -> int | None:
        cap = _units(self.market, self.config.max_qty_per_day)
        if cap is None:
            return None
        state = self._kinds[kind]
        used = state.used_units if now_ns // _DAY_NS == state.used_day else 0
        return max(0, cap - used)


def _units(market: Market, qty: Decimal | None) -> int | None:
    if qty is None:
        return None
    return market.qty_to_units(qty, Rounding.DOWN)

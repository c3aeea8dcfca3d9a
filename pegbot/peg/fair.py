"""KGST's fair price in the quote currency, and how far to trust it.

``fair(KGST/USDT) = 1 / (KGS per USD × USD per USDT)``: one KGST is one som; a som is
``1 / usd_kgs`` dollars; a dollar is ``1 / usdt_usd`` USDT.

:class:`FairEstimator` is pure: observations go in (from the async pollers in
:mod:`pegbot.peg.poll`), and :meth:`FairEstimator.evaluate` turns them into a
:class:`FairValue` for a given ``now_ns``. The result carries its *state*, which the risk
layer and the arbitrage signaler consume:

* ``ok``: enough fresh sources that agree.
* ``stale``: too few fresh sources. The last good price is kept, with its age, but nobody
  should trade on it: a bot quoting around a rate that stopped updating is picked off when
  the real rate moves.
* ``disputed``: fresh sources disagree by more than the configured bps.
* ``jump``: the price stepped by more than the configured bps and the step is not confirmed
  yet: a real devaluation and a bad print look the same at first, so quotes stay pulled.

A jump is **confirmed** — the estimator re-anchors on the new level and the state is ``ok``
again — when, within ``jump_confirm_ns`` of the step, a second fresh USD/KGS source agrees
with the new level, or a source that reported it reads it again (a later fetch at the same
level). A jump nobody confirms in time stays held until an operator acknowledges it
(:meth:`FairEstimator.acknowledge_jump`, ``pegbot fair ack``) or rejects it
(:meth:`FairEstimator.reject_jump`, ``pegbot fair reject``: the new readings are set aside
and the sources' previous rates stand until they report something else). A step back to the
old level before confirmation retracts the jump. :attr:`FairValue.jump` describes the last
jump (pending or confirmed) for metrics and the scorecard.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from pegbot.market import Market
from pegbot.peg.fair_state import FairState as FairState  # re-exported: FairValue.state
from pegbot.peg.sources import PAIRS, USD_KGS, USDT_USD, RateObservation
from pegbot.timeunits import NS_PER_S


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """A configured rate source.

    Attributes:
        name: Unique name (a metric label).
        pair: :data:`~pegbot.peg.sources.USD_KGS` or :data:`~pegbot.peg.sources.USDT_USD`.
        max_age_ns: An observation older than this (by ``observed_at``) is stale; None
            means never (a static rate).
        max_effective_age_ns: A rate in force for longer than this (by ``effective_at``) is
            stale, e.g. NBKR not publishing for 4 days; None disables the check.
    """

    name: str
    pair: str = USD_KGS
    max_age_ns: int | None = 15 * 60 * NS_PER_S
    max_effective_age_ns: int | None = None

    def __post_init__(self) -> None:
        if self.pair not in PAIRS:
            raise ValueError(f"source {self.name}: unknown pair {self.pair!r}")


@dataclass(frozen=True, slots=True)
class FairConfig:
    """Thresholds of the fair-value state machine.

    Attributes:
        min_sources: Fresh USD/KGS sources needed for ``ok``.
        max_disagreement_bps: Above this spread between fresh sources (of either pair) the
            state is ``disputed``.
        jump_bps: A step of the fair price larger than this is a ``jump``.
        jump_confirm_ns: How long after a step a confirming reading still counts; past it
            an unconfirmed jump waits for an operator.
    """

    min_sources: int = 1
    max_disagreement_bps: Decimal = Decimal(50)
    jump_bps: Decimal = Decimal(200)
    jump_confirm_ns: int = 5 * 60 * NS_PER_S

    def __post_init__(self) -> None:
        if self.min_sources < 1:
            raise ValueError("min_sources must be at least 1")
        if self.max_disagreement_bps < 0 or self.jump_bps <= 0 or self.jump_confirm_ns <= 0:
            raise ValueError("fair thresholds must be positive")


@dataclass(frozen=True, slots=True)
class JumpStatus:
    """The last jump of the fair price.

    Attributes:
        from_price: The price before the step.
        to_price: The price after it.
        at_ns: When the step was first seen.
        confirmed_at_ns: When it was confirmed (None while pending, or once rejected).
        how: ``second_source``, ``next_reading`` or ``operator`` once confirmed;
            ``rejected`` once an operator set it aside; ``retracted`` when the rate stepped
            back; "" while pending.
    """

    from_price: Fraction
    to_price: Fraction
    at_ns: int
    confirmed_at_ns: int | None = None
    how: str = ""

    @property
    def pending(self) -> bool:
        """Waiting for a confirmation, an operator, or a step back."""
        return self.how == ""

    @property
    def step_bps(self) -> float:
        """The step in bps of the old price (signed)."""
        return float((self.to_price / self.from_price - 1) * 10_000)


@dataclass(frozen=True, slots=True)
class SourceQuote:
    """One source's rate as it entered (or failed to enter) a fair value."""

    name: str
    pair: str
    rate: Fraction
    observed_at_ns: int
    effective_at_ns: int
    fresh: bool


@dataclass(frozen=True, slots=True)
class FairValue:
    """The fair price at ``now_ns`` and everything needed to judge it.

    Attributes:
        now_ns: The time it was evaluated for.
        state: See :class:`FairState`.
        price: Exact fair price in the quote currency, None if no source ever answered.
        ticks: ``price`` rounded to the nearest tick (half to even), None without a price.
        usd_kgs: Median KGS per USD used.
        usdt_usd: Median USD per USDT used (1 if no such source is configured).
        observed_at_ns: The oldest ``observed_at`` of the observations used (0 if none).
        effective_at_ns: The newest ``effective_at`` of the USD/KGS observations used.
        disagreement_bps: Largest (max − min) / median × 1e4 over the pairs' fresh sources.
        sources: Every source's in-force observation, fresh or not.
        reasons: Why the state is not ``ok`` (human-readable, for logs).
        jump: The last jump, pending or settled (None: none since start).
    """

    now_ns: int
    state: FairState
    price: Fraction | None
    ticks: int | None
    usd_kgs: Fraction | None
    usdt_usd: Fraction
    observed_at_ns: int
    effective_at_ns: int
    disagreement_bps: float
    sources: tuple[SourceQuote, ...] = ()
    reasons: tuple[str, ...] = ()
    jump: JumpStatus | None = None

    @property
    def tradable(self) -> bool:
        """True only when the state is ``ok`` and there is a price: fail closed otherwise."""
        return self.state is FairState.OK and self.price is not None

    @property
    def age_ns(self) -> int | None:
        """Age of the oldest observation used, None without a price."""
        return None if self.price is None else self.now_ns - self.observed_at_ns

    def price_decimal(self, places: int = 10) -> Decimal | None:
        """The price rounded to ``places`` decimals, for display."""
        if self.price is None:
            return None
        return round(Decimal(self.price.numerator) / Decimal(self.price.denominator), places)

    @classmethod
    def fixed(cls, price: Fraction | Decimal | str, market: Market, now_ns: int = 0) -> FairValue:
        """An ``ok`` fair value at a given price (backtests with ``--fair PRICE``, tests)."""
        exact = Fraction(Decimal(price)) if isinstance(price, str) else Fraction(price)
        if exact <= 0:
            raise ValueError(f"fair price must be positive, got {price}")
        return cls(
            now_ns=now_ns,
            state=FairState.OK,
            price=exact,
            ticks=nearest_ticks(exact, market),
            usd_kgs=1 / exact,
            usdt_usd=Fraction(1),
            observed_at_ns=now_ns,
            effective_at_ns=now_ns,
            disagreement_bps=0.0,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (Decimal strings, ints)."""
        return {
            "state": self.state.value,
            "price": None if self.price is None else str(self.price_decimal(10)),
            "ticks": self.ticks,
            "usd_kgs": None if self.usd_kgs is None else str(_dec(self.usd_kgs, 6)),
            "usdt_usd": str(_dec(self.usdt_usd, 6)),
            "observed_at_ns": self.observed_at_ns,
            "effective_at_ns": self.effective_at_ns,
            "age_ns": self.age_ns,
            "disagreement_bps": round(self.disagreement_bps, 4),
            "sources": [q.name for q in self.sources if q.fresh],
            "reasons": list(self.reasons),
        }


def nearest_ticks(price: Fraction, market: Market) -> int:
    """``price`` in ticks of ``market``, rounded half to even."""
    return round(price / Fraction(market.tick_size))


def _dec(value: Fraction, places: int) -> Decimal:
    return round(Decimal(value.numerator) / Decimal(value.denominator), places)


def _median(values: Sequence[Fraction]) -> Fraction:
    # statistics.median averages the middle two exactly when given Fractions.
    return Fraction(statistics.median(values))


def _spread_bps(values: Sequence[Fraction], mid: Fraction) -> Fraction:
    return (max(values) - min(values)) / mid * 10_000 if len(values) > 1 else Fraction(0)


@dataclass
class _SourceBook:
    spec: SourceSpec
    # Observations sorted by effective_at; only the one in force and those pending are kept.
    observations: list[RateObservation] = field(default_factory=list)
    # The last rate in force before the current one (what a rejected jump falls back to).
    previous: RateObservation | None = None
    # Rates an operator set aside (a rejected jump): skipped until the source moves on.
    rejected: set[Fraction] = field(default_factory=set)
    errors: int = 0
    last_error: str = ""
    last_error_ns: int = 0


@dataclass
class _PendingJump:
    from_price: Fraction
    to_price: Fraction
    at_ns: int
    # Sources reporting the new level when it was first seen, and their fetch times.
    seen: dict[str, int]


class FairEstimator:
    """Median of configured sources → :class:`FairValue`, with stale/disputed/jump states.

    Pure: no clock, no I/O. Call :meth:`evaluate` with non-decreasing ``now_ns``; the jump
    detector compares each evaluation with the previous one.
    """

    def __init__(
        self, market: Market, sources: Iterable[SourceSpec], config: FairConfig | None = None
    ) -> None:
        """Configure the market (tick grid) and the sources that may report."""
        self.market = market
        self.config = config or FairConfig()
        self._books: dict[str, _SourceBook] = {}
        for spec in sources:
            if spec.name in self._books:
                raise ValueError(f"duplicate source name {spec.name!r}")
            self._books[spec.name] = _SourceBook(spec)
        if not any(b.spec.pair == USD_KGS for b in self._books.values()):
            raise ValueError("at least one USD/KGS source is needed")
        # The price the estimator is anchored on (the last one not held back by a jump).
        self._anchor: Fraction | None = None
        self._pending: _PendingJump | None = None
        self._last_jump: JumpStatus | None = None
        self._operator: tuple[str, int] | None = None  # ("ack" | "reject", at_ns)

    @property
    def source_names(self) -> tuple[str, ...]:
        """Configured source names, in configuration order."""
        return tuple(self._books)

    def observe(self, obs: RateObservation) -> None:
        """Add an observation from a configured source.

        Raises:
            KeyError: The source is not configured (its name would be an unbounded label).
            ValueError: The observation's pair differs from the configured one.
        """
        book = self._books.get(obs.source)
        if book is None:
            raise KeyError(f"observation from unconfigured source {obs.source!r}")
        if obs.pair != book.spec.pair:
            raise ValueError(f"{obs.source}: pair {obs.pair} but configured {book.spec.pair}")
        kept = []
        for o in book.observations:
            if o.effective_at_ns != obs.effective_at_ns:
                kept.append(o)
            elif o.rate != obs.rate and o.rate not in book.rejected:
                book.previous = o  # a correction in force from the same date: remember it
        if obs.rate not in book.rejected:
            book.rejected.clear()  # the source moved on from the rates set aside
        kept.append(obs)
        kept.sort(key=lambda o: o.effective_at_ns)
        book.observations = kept

    def record_error(self, source: str, now_ns: int, message: str) -> None:
        """Note a failed fetch; the last good observation stays and ages."""
        book = self._books[source]
        book.errors += 1
        book.last_error = message
        book.last_error_ns = now_ns

    def errors(self, source: str) -> tuple[int, str]:
        """How many fetches of ``source`` failed, and the last error message."""
        book = self._books[source]
        return book.errors, book.last_error

    @property
    def jump(self) -> JumpStatus | None:
        """The last jump (pending or settled), None if none since start."""
        return self._last_jump

    def acknowledge_jump(self, now_ns: int) -> bool:
        """A human accepts the new level (``pegbot fair ack``); False if no jump is pending.

        Takes effect at the next :meth:`evaluate`.
        """
        if self._pending is None:
            return False
        self._operator = ("ack", now_ns)
        return True

    def reject_jump(self, now_ns: int) -> bool:
        """A human calls the new level a bad print (``pegbot fair reject``).

        The readings at the new level are set aside: each source's previous rate stands
        until it reports something else. False if no jump is pending.
        """
        if self._pending is None:
            return False
        self._operator = ("reject", now_ns)
        return True

    def _in_force(self, book: _SourceBook, now_ns: int) -> RateObservation | None:
        current = None
        for obs in book.observations:
            if obs.effective_at_ns <= now_ns:
                current = obs
            else:
                break
        if current is not None:
            # Drop superseded observations; keep the one in force and any pending ones.
            i = book.observations.index(current)
            for old in book.observations[:i]:
                if old.rate not in book.rejected:
                    book.previous = old  # what a rejected jump falls back to
            del book.observations[:i]
        if current is not None and current.rate in book.rejected:
            prev = book.previous
            return prev if prev is not None and prev.rate not in book.rejected else None
        return current

    def _is_fresh(self, spec: SourceSpec, obs: RateObservation, now_ns: int) -> bool:
        if spec.max_age_ns is not None and now_ns - obs.observed_at_ns > spec.max_age_ns:
            return False
        return not (
            spec.max_effective_age_ns is not None
            and now_ns - obs.effective_at_ns > spec.max_effective_age_ns
        )

    def evaluate(self, now_ns: int) -> FairValue:
        """The fair value at ``now_ns``."""
        quotes: list[SourceQuote] = []
        for book in self._books.values():
            obs = self._in_force(book, now_ns)
            if obs is not None:
                quotes.append(
                    SourceQuote(
                        obs.source,
                        obs.pair,
                        obs.rate,
                        obs.observed_at_ns,
                        obs.effective_at_ns,
                        self._is_fresh(book.spec, obs, now_ns),
                    )
                )
        reasons: list[str] = []
        medians: dict[str, Fraction] = {}
        used: list[SourceQuote] = []
        spread = Fraction(0)
        state = FairState.OK
        for pair in PAIRS:
            pair_quotes = [q for q in quotes if q.pair == pair]
            configured = any(b.spec.pair == pair for b in self._books.values())
            if not configured:
                continue
            fresh = [q for q in pair_quotes if q.fresh]
            needed = self.config.min_sources if pair == USD_KGS else 1
            if len(fresh) < needed:
                state = FairState.STALE
                reasons.append(f"{pair}: {len(fresh)} fresh source(s), need {needed}")
                chosen = pair_quotes  # keep the last good rates, flagged stale
            else:
                chosen = fresh
            if not chosen:
                continue
            rates = [q.rate for q in chosen]
            medians[pair] = _median(rates)
            used.extend(chosen)
            pair_spread = _spread_bps([q.rate for q in fresh], medians[pair]) if fresh else 0
            spread = max(spread, Fraction(pair_spread))
        if spread > Fraction(self.config.max_disagreement_bps) and state is FairState.OK:
            state = FairState.DISPUTED
            reasons.append(
                f"sources disagree by {float(spread):.1f} bps > {self.config.max_disagreement_bps}"
            )
        usd_kgs = medians.get(USD_KGS)
        usdt_usd = medians.get(USDT_USD, Fraction(1))
        if usd_kgs is None:
            return FairValue(
                now_ns,
                FairState.STALE,
                None,
                None,
                None,
                usdt_usd,
                0,
                0,
                float(spread),
                tuple(quotes),
                (*reasons, "no USD/KGS rate yet"),
            )
        price = 1 / (usd_kgs * usdt_usd)
        if self._operator is not None and self._operator[0] == "reject":
            price, usd_kgs = self._reject(now_ns, usdt_usd, usd_kgs)
        state = self._check_jump(price, now_ns, state, reasons, quotes, usdt_usd)
        return FairValue(
            now_ns=now_ns,
            state=state,
            price=price,
            ticks=nearest_ticks(price, self.market),
            usd_kgs=usd_kgs,
            usdt_usd=usdt_usd,
            observed_at_ns=min(q.observed_at_ns for q in used),
            effective_at_ns=max(q.effective_at_ns for q in used if q.pair == USD_KGS),
            disagreement_bps=float(spread),
            sources=tuple(quotes),
            reasons=tuple(reasons),
            jump=self._last_jump,
        )

    # -- jumps ---------------------------------------------------------------------------

    def _step_bps(self, a: Fraction, b: Fraction) -> Fraction:
        return abs(b / a - 1) * 10_000

    def _check_jump(
        self,
        price: Fraction,
        now_ns: int,
        state: FairState,
        reasons: list[str],
        quotes: list[SourceQuote],
        usdt_usd: Fraction,
    ) -> FairState:
        threshold = Fraction(self.config.jump_bps)
        pending = self._pending
        if pending is None:
            anchor = self._anchor
            if anchor is not None and self._step_bps(anchor, price) > threshold:
                seen = {q.name: q.observed_at_ns for q in quotes if self._at(q, price, usdt_usd)}
                pending = self._pending = _PendingJump(anchor, price, now_ns, seen)
                self._last_jump = JumpStatus(anchor, price, now_ns)
            else:
                self._anchor = price
                return state
        elif self._step_bps(pending.from_price, price) <= threshold:
            # Back at the old level before anyone trusted the new one.
            self._settle(pending, "retracted", None)
            self._anchor = price
            return state
        elif self._step_bps(pending.to_price, price) > threshold:
            # Stepped again while pending: a new jump from the same anchor.
            seen = {q.name: q.observed_at_ns for q in quotes if self._at(q, price, usdt_usd)}
            pending = self._pending = _PendingJump(pending.from_price, price, now_ns, seen)
            self._last_jump = JumpStatus(pending.from_price, price, now_ns)
        how = self._confirmation(pending, price, now_ns, quotes, usdt_usd)
        if how:
            self._settle(pending, how, now_ns)
            self._anchor = price
            return state
        if state is FairState.OK:
            step = (price / pending.from_price - 1) * 10_000
            late = now_ns - pending.at_ns > self.config.jump_confirm_ns
            wait = "waiting for an operator (pegbot fair ack|reject)" if late else "unconfirmed"
            limit = self.config.jump_bps
            reasons.append(f"fair stepped {float(step):+.1f} bps (> {limit}): {wait}")
            return FairState.JUMP
        return state

    def _at(self, q: SourceQuote, price: Fraction, usdt_usd: Fraction) -> bool:
        # A fresh USD/KGS quote whose implied price is ``price`` within the agreement band.
        if q.pair != USD_KGS or not q.fresh:
            return False
        implied = 1 / (q.rate * usdt_usd)
        return self._step_bps(price, implied) <= Fraction(self.config.max_disagreement_bps)

    def _confirmation(
        self,
        pending: _PendingJump,
        price: Fraction,
        now_ns: int,
        quotes: list[SourceQuote],
        usdt_usd: Fraction,
    ) -> str:
        op = self._operator
        if op is not None and op[0] == "ack":
            self._operator = None
            return "operator"
        if now_ns - pending.at_ns > self.config.jump_confirm_ns:
            return ""
        at_level = [q for q in quotes if self._at(q, price, usdt_usd)]
        if len({q.name for q in at_level}) >= 2:
            return "second_source"
        for q in at_level:
            first = pending.seen.get(q.name)
            if first is not None and q.observed_at_ns > first:
                return "next_reading"
        return ""

    def _settle(self, pending: _PendingJump, how: str, at_ns: int | None) -> None:
        self._pending = None
        self._last_jump = JumpStatus(
            pending.from_price, pending.to_price, pending.at_ns, at_ns, how
        )

    def _reject(
        self, now_ns: int, usdt_usd: Fraction, usd_kgs: Fraction
    ) -> tuple[Fraction, Fraction]:
        # Set the new level's readings aside and re-evaluate the USD/KGS median without them.
        self._operator = None
        pending = self._pending
        if pending is None:
            return 1 / (usd_kgs * usdt_usd), usd_kgs
        for name in pending.seen:
            book = self._books[name]
            current = self._in_force(book, now_ns)
            if current is not None:
                book.rejected.add(current.rate)
        self._settle(pending, "rejected", None)
        rates = []
        for book in self._books.values():
            if book.spec.pair != USD_KGS:
                continue
            obs = self._in_force(book, now_ns)
            if obs is not None and self._is_fresh(book.spec, obs, now_ns):
                rates.append(obs.rate)
        if not rates:
            # Nothing left to quote on: keep the old anchor's rate (the state goes stale).
            kgs = 1 / (pending.from_price * usdt_usd)
            return pending.from_price, kgs
        kgs = _median(rates)
        price = 1 / (kgs * usdt_usd)
        self._anchor = price
        return price, kgs

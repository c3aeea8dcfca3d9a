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
* ``jump``: the price stepped by more than the configured bps; held for a while (or until a
  human acknowledges it) because a real devaluation and a bad print look the same at first.
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
        jump_hold_ns: How long the ``jump`` state is held after the step.
    """

    min_sources: int = 1
    max_disagreement_bps: Decimal = Decimal(50)
    jump_bps: Decimal = Decimal(200)
    jump_hold_ns: int = 30 * 60 * NS_PER_S

    def __post_init__(self) -> None:
        if self.min_sources < 1:
            raise ValueError("min_sources must be at least 1")
        if self.max_disagreement_bps < 0 or self.jump_bps <= 0 or self.jump_hold_ns < 0:
            raise ValueError("fair thresholds must be positive")


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
    errors: int = 0
    last_error: str = ""
    last_error_ns: int = 0


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
        self._last_price: Fraction | None = None
        self._jump_until_ns = -1
        self._jump_reason = ""

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
        kept = [o for o in book.observations if o.effective_at_ns != obs.effective_at_ns]
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

    def acknowledge_jump(self, now_ns: int) -> None:
        """A human accepts the new level: leave the ``jump`` state now."""
        self._jump_until_ns = min(self._jump_until_ns, now_ns - 1)

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
            del book.observations[:i]
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
                now_ns, FairState.STALE, None, None, None, usdt_usd, 0, 0, float(spread),
                tuple(quotes), (*reasons, "no USD/KGS rate yet"),
            )  # fmt: skip
        price = 1 / (usd_kgs * usdt_usd)
        state = self._check_jump(price, now_ns, state, reasons)
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
        )

    def _check_jump(
        self, price: Fraction, now_ns: int, state: FairState, reasons: list[str]
    ) -> FairState:
        last = self._last_price
        if last is not None and price != last:
            step = abs(price / last - 1) * 10_000
            if step > Fraction(self.config.jump_bps):
                self._jump_until_ns = now_ns + self.config.jump_hold_ns
                self._jump_reason = f"fair stepped {float(step):.1f} bps (> {self.config.jump_bps})"
        self._last_price = price
        if now_ns <= self._jump_until_ns and state is FairState.OK:
            reasons.append(self._jump_reason)
            return FairState.JUMP
        return state

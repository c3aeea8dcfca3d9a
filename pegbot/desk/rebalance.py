"""Inventory rebalancing: bands on the desk's exchange balances, and ladder capacity.

Pure functions first, one small stateful proposer after:

* :func:`propose_rebalance`: KGST and USDT balances, their bands (``min ≤ target ≤ max``)
  and the fair price in; a mint or redemption size out, or none. A mint moves value from
  USDT to KGST (the som it needs is bought with USDT), a redemption the other way, at fair.
  Nothing is proposed while both balances are inside their bands. Otherwise the size is
  the move ``x`` (in quote) closest to the *preferred* one among those that leave both
  balances inside their bands: preferred is, when both gaps to target point the same way,
  the smaller gap (both move toward target, neither overshoots), else 0 (the smallest move
  that brings the stray side back to its band edge). When no move keeps both inside (the
  desk is short of, or long, capital overall) nothing is proposed and the result says so:
  mint or redeem cannot fix that.
* :func:`ladder_capacity`: how many levels and lots of each side of the ladder the free
  balance funds (asks from base, bids from quote at their own prices).
* :class:`Rebalancer`: turns a proposal into a ``rebalance_mint``/``rebalance_redeem``
  :class:`~pegbot.peg.signals.Signal` and hands it to the signaler (:meth:`ArbSignaler.propose`),
  so it goes through the same approval path, sinks and issuer leg as an arbitrage signal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from pegbot.logging import event_log
from pegbot.market import Market, Rounding
from pegbot.metrics import Metrics
from pegbot.peg.signals import (
    ArbSignaler,
    Signal,
    SignalEvent,
    SignalKind,
    SignalState,
)

__all__ = [
    "Band",
    "Capacity",
    "RebalancePlan",
    "Rebalancer",
    "ladder_capacity",
    "propose_rebalance",
]

log = event_log(__name__)


@dataclass(frozen=True, slots=True)
class Band:
    """Where a balance should stay: ``min ≤ target ≤ max`` (in the asset's own units)."""

    min: Decimal
    target: Decimal
    max: Decimal

    def __post_init__(self) -> None:
        if not (0 <= self.min <= self.target <= self.max):
            raise ValueError(f"a band needs 0 <= min <= target <= max, got {self}")

    def contains(self, value: Decimal | Fraction) -> bool:
        """``min ≤ value ≤ max``."""
        return Fraction(self.min) <= Fraction(value) <= Fraction(self.max)


@dataclass(frozen=True, slots=True)
class RebalancePlan:
    """The outcome of one balance check.

    Attributes:
        kind: ``rebalance_mint`` or ``rebalance_redeem``; None when nothing is proposed.
        base: KGST to mint or redeem (> 0 when ``kind`` is set, else 0).
        infeasible: A balance is out of band and no mint or redemption can fix it.
        why: What is out of band, for the signal's reason and the logs.
    """

    kind: SignalKind | None
    base: Decimal
    infeasible: bool
    why: str


def propose_rebalance(
    kgst: Decimal,
    usdt: Decimal,
    kgst_band: Band,
    usdt_band: Band,
    fair: Fraction,
    step: Decimal = Decimal(1),
) -> RebalancePlan:
    """Size a mint or redemption that brings both balances back (see the module docstring).

    Args:
        kgst: KGST balance on the exchange.
        usdt: USDT balance on the exchange.
        kgst_band: KGST's band.
        usdt_band: USDT's band.
        fair: KGST's fair price in USDT (> 0).
        step: The issuer's size increment in KGST; the size is a whole number of steps.

    Returns:
        The plan (``kind`` None when both are inside their bands or nothing can help).
    """
    if fair <= 0 or step <= 0:
        raise ValueError("fair and step must be positive")
    k, u = Fraction(kgst) * fair, Fraction(usdt)  # both in quote
    out = [
        f"{name} {value} outside [{band.min}, {band.max}]"
        for name, value, band in (("KGST", kgst, kgst_band), ("USDT", usdt, usdt_band))
        if not band.contains(value)
    ]
    if not out:
        return RebalancePlan(None, Decimal(0), False, "")
    why = "; ".join(out)
    gk = Fraction(kgst_band.target) * fair - k  # > 0: KGST short of target
    gu = u - Fraction(usdt_band.target)  # > 0: USDT above target
    prefer = Fraction(0)
    if gk > 0 and gu > 0:
        prefer = min(gk, gu)
    elif gk < 0 and gu < 0:
        prefer = max(gk, gu)
    lo = max(Fraction(kgst_band.min) * fair - k, u - Fraction(usdt_band.max))
    hi = min(Fraction(kgst_band.max) * fair - k, u - Fraction(usdt_band.min))
    # In KGST, whole steps, rounded toward the inside of [lo, hi].
    unit = Fraction(step)
    n_lo = math.ceil(lo / fair / unit)
    n_hi = math.floor(hi / fair / unit)
    if n_lo > n_hi:
        return RebalancePlan(None, Decimal(0), True, why)
    n_pref = math.trunc(prefer / fair / unit)  # toward zero: never past the preferred move
    n = min(max(n_pref, n_lo), n_hi)
    if n == 0:  # pragma: no cover - 0 in range means both were inside their bands
        return RebalancePlan(None, Decimal(0), False, why)
    kind = SignalKind.REBALANCE_MINT if n > 0 else SignalKind.REBALANCE_REDEEM
    return RebalancePlan(kind, abs(n) * step, False, why)


@dataclass(frozen=True, slots=True)
class Capacity:
    """What one side of the ladder can still quote with the free balance.

    Attributes:
        levels: Ladder levels funded in full, from the top.
        lots: Lots funded at the ladder's prices (levels beyond the ladder repeat its last
            level's price).
    """

    levels: int
    lots: int


def ladder_capacity(
    market: Market,
    ladder: Sequence[tuple[int, int]],
    balance: Decimal,
    buying: bool,
) -> Capacity:
    """How much of one side of a ladder the free balance funds.

    Args:
        market: The market (lot size, tick size).
        ladder: ``(price_ticks, lots)`` per level, best first.
        balance: Free quote for the bid side (``buying``), free base for the ask side.
        buying: True for the bid side.

    Returns:
        Levels funded in full from the top, and lots funded in total.
    """
    if balance <= 0 or not ladder:
        return Capacity(0, 0)
    lot = Fraction(market.lots_to_qty(1))
    left = Fraction(balance)
    levels = lots = 0
    for ticks, n in ladder:
        per_lot = lot * Fraction(market.ticks_to_price(ticks)) if buying else lot
        can = min(n, math.floor(left / per_lot))
        lots += can
        left -= can * per_lot
        if can < n:
            return Capacity(levels, lots)
        levels += 1
    last = ladder[-1][0]
    per_lot = lot * Fraction(market.ticks_to_price(last)) if buying else lot
    return Capacity(levels, lots + math.floor(left / per_lot))


class Rebalancer:
    """Raises rebalance proposals into the signaler when a balance leaves its band.

    At most one live rebalance at a time: while one is proposed or approved, checks only
    refresh the metrics.

    Args:
        signaler: The signaler that owns the approval path.
        kgst_band: KGST's band.
        usdt_band: USDT's band.
        expiry_ns: How long a proposal waits for a decision.
        step: Issuer size increment (KGST).
        metrics: The bot's metrics (balances, bands, out-of-band flags, proposals).
    """

    def __init__(
        self,
        signaler: ArbSignaler,
        kgst_band: Band,
        usdt_band: Band,
        expiry_ns: int,
        step: Decimal = Decimal(1),
        metrics: Metrics | None = None,
    ) -> None:
        self.signaler = signaler
        self.kgst_band = kgst_band
        self.usdt_band = usdt_band
        self.expiry_ns = expiry_ns
        self.step = step
        self.metrics = metrics
        if metrics is not None:  # the bands are configuration: exported once, drawn beside
            for asset, band in (("KGST", kgst_band), ("USDT", usdt_band)):
                for bound in ("min", "target", "max"):
                    metrics.desk_band.labels(asset=asset, bound=bound).set(
                        float(getattr(band, bound))
                    )

    def check(self, now_ns: int, kgst: Decimal, usdt: Decimal, fair: Fraction) -> list[SignalEvent]:
        """Propose a rebalance if a balance is out of band; returns the events to publish."""
        plan = propose_rebalance(kgst, usdt, self.kgst_band, self.usdt_band, fair, self.step)
        m = self.metrics
        if m is not None:
            m.desk_balance.labels(asset="KGST").set(float(kgst))
            m.desk_balance.labels(asset="USDT").set(float(usdt))
            m.desk_out_of_band.labels(asset="KGST").set(0 if self.kgst_band.contains(kgst) else 1)
            m.desk_out_of_band.labels(asset="USDT").set(0 if self.usdt_band.contains(usdt) else 1)
        if plan.kind is None:
            if plan.infeasible:
                if m is not None:
                    m.rebalance_infeasible.inc()
                log.warning("rebalance_infeasible", "no mint or redemption fixes: %s", plan.why)
            return []
        if any(not s.kind.arbitrage for s in self.signaler.live()):
            return []
        sig = self._signal(now_ns, plan, fair)
        event = self.signaler.propose(sig)
        if m is not None:
            m.rebalance_proposals.labels(kind=plan.kind.value).inc()
        log.info(
            "rebalance_proposed",
            "%s %s KGST: %s",
            plan.kind.value,
            plan.base,
            plan.why,
            signal_id=sig.id,
            kind=plan.kind.value,
        )
        return [event]

    def _signal(self, now_ns: int, plan: RebalancePlan, fair: Fraction) -> Signal:
        assert plan.kind is not None
        market = self.signaler.market
        units = market.qty_to_units(plan.base, Rounding.DOWN)
        costs = self.signaler.costs
        fee = costs.mint_fee_bps if plan.kind.mints else costs.redeem_fee_bps
        fee_key = "mint_fee" if plan.kind.mints else "redeem_fee"
        cost_bps = {fee_key: Fraction(fee), "fx_spread": Fraction(costs.fx_spread_bps)}
        par = Fraction(plan.base) * fair
        transfer = Fraction(costs.transfer_cost_quote) / par * 10_000 if par else Fraction(0)
        cost_bps["transfer"] = transfer
        net = -sum(cost_bps.values(), Fraction(0))
        fair_ticks = market.price_to_ticks(
            Decimal(fair.numerator) / Decimal(fair.denominator), Rounding.DOWN
        )
        return Signal(
            id=f"{market.exchange_symbol}-{plan.kind.value}-{now_ns}",
            kind=plan.kind,
            venue=self.signaler.venue,
            symbol=market.symbol,
            created_ns=now_ns,
            expires_ns=now_ns + self.expiry_ns,
            state=SignalState.PROPOSED,
            updated_ns=now_ns,
            size_units=units,
            vwap=fair,
            limit_ticks=fair_ticks,
            levels=0,
            fair=fair,
            fair_ticks=fair_ticks,
            fair_age_ns=0,
            fair_sources=(),
            gross_edge_bps=Fraction(0),
            costs_bps=cost_bps,
            net_edge_bps=net,
            expected_profit=net * par / 10_000,
            bounds={"size_units": units},
            book_update_id=0,
            book_ts_ns=now_ns,
            reason=plan.why,
        )

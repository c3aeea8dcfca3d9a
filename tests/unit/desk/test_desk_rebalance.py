"""Rebalance sizing and ladder capacity: pure functions, with hypothesis properties."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pegbot.desk.rebalance import Band, Rebalancer, ladder_capacity, propose_rebalance
from pegbot.market import Market
from pegbot.metrics import Metrics
from pegbot.peg.signals import ArbSignaler, SignalKind, SignalState

KGST = Market.kgst_usdt()
FAIR = Fraction(100, 8745)
K_BAND = Band(Decimal(50_000), Decimal(100_000), Decimal(150_000))  # KGST
U_BAND = Band(Decimal(500), Decimal(1_000), Decimal(1_500))  # USDT


def after(kgst: Decimal, usdt: Decimal, kind: SignalKind | None, base: Decimal, fair: Fraction):
    sign = 0 if kind is None else (1 if kind.mints else -1)
    return Fraction(kgst) + sign * Fraction(base), Fraction(usdt) - sign * Fraction(base) * fair


def test_kgst_running_out_proposes_a_mint_toward_both_targets() -> None:
    plan = propose_rebalance(Decimal(20_000), Decimal(1_600), K_BAND, U_BAND, FAIR)
    assert plan.kind is SignalKind.REBALANCE_MINT and not plan.infeasible
    assert plan.why == "KGST 20000 outside [50000, 150000]; USDT 1600 outside [500, 1500]"
    k, u = after(Decimal(20_000), Decimal(1_600), plan.kind, plan.base, FAIR)
    # USDT is 600 above target, KGST 80000 (≈ 915 USDT) below: the smaller gap is USDT's.
    assert u >= Fraction(U_BAND.target) and abs(u - Fraction(U_BAND.target)) < FAIR
    assert K_BAND.contains(k) and U_BAND.contains(u)


def test_inside_the_bands_nothing_is_proposed_and_capital_short_is_infeasible() -> None:
    assert propose_rebalance(Decimal(60_000), Decimal(600), K_BAND, U_BAND, FAIR).kind is None
    short = propose_rebalance(Decimal(1_000), Decimal(510), K_BAND, U_BAND, FAIR)
    assert short.kind is None and short.infeasible


bands = st.tuples(st.integers(0, 200_000), st.integers(0, 200_000), st.integers(0, 200_000)).map(
    lambda t: Band(*(Decimal(x) for x in sorted(t)))
)
usd_bands = st.tuples(st.integers(0, 3_000), st.integers(0, 3_000), st.integers(0, 3_000)).map(
    lambda t: Band(*(Decimal(x) for x in sorted(t)))
)
balances = st.tuples(st.integers(0, 300_000), st.integers(0, 4_000))
fairs = st.fractions(min_value=Fraction(1, 200), max_value=Fraction(1, 50))


@settings(max_examples=400, deadline=None)
@given(kb=bands, ub=usd_bands, bal=balances, fair=fairs)
def test_rebalance_properties(kb: Band, ub: Band, bal: tuple[int, int], fair: Fraction) -> None:
    kgst, usdt = Decimal(bal[0]), Decimal(bal[1])
    plan = propose_rebalance(kgst, usdt, kb, ub, fair)
    inside = kb.contains(kgst) and ub.contains(usdt)
    if inside:  # never proposes inside the bands
        assert plan.kind is None and not plan.infeasible
        return
    if plan.kind is None:
        assert plan.infeasible
        # Truly infeasible: no whole number of KGST moved keeps both inside their bands.
        lo = (Fraction(kb.min) - Fraction(kgst)).__floor__()
        hi = (Fraction(kb.max) - Fraction(kgst)).__ceil__()
        for n in (lo, hi, *range(max(lo, -3), min(hi, 3) + 1)):
            k2, u2 = Fraction(kgst) + n, Fraction(usdt) - n * fair
            assert not (kb.contains(k2) and ub.contains(u2))
        return
    assert plan.base > 0 and plan.base == int(plan.base)
    k2, u2 = after(kgst, usdt, plan.kind, plan.base, fair)
    assert kb.contains(k2) and ub.contains(u2)  # both end inside their bands
    gk, gu = Fraction(kb.target) - Fraction(kgst), Fraction(usdt) - Fraction(ub.target)
    if (gk > 0 and gu > 0) or (gk < 0 and gu < 0):
        # Both gaps point the same way: the move goes toward both targets, and unless a band
        # forces a larger move, neither balance passes its target.
        assert plan.kind.mints == (gk > 0)
        if Fraction(plan.base) <= min(abs(gk), abs(gu) / fair):
            assert abs(Fraction(kb.target) - k2) <= abs(gk)
            assert abs(u2 - Fraction(ub.target)) <= abs(gu)


LADDER_ASK = [(1150, 2), (1151, 2), (1152, 4)]
LADDER_BID = [(1140, 2), (1139, 2), (1138, 4)]


def test_ladder_capacity_per_side() -> None:
    lot = KGST.lots_to_qty(1)
    asks = ladder_capacity(KGST, LADDER_ASK, lot * 5, buying=False)
    assert (asks.levels, asks.lots) == (2, 5)
    cost_first_two = lot * 2 * Decimal("0.01140") + lot * 2 * Decimal("0.01139")
    bids = ladder_capacity(KGST, LADDER_BID, cost_first_two, buying=True)
    assert (bids.levels, bids.lots) == (2, 4)
    rich = ladder_capacity(KGST, LADDER_ASK, lot * 20, buying=False)
    assert (rich.levels, rich.lots) == (3, 20)  # beyond the ladder: more of the last level
    assert ladder_capacity(KGST, LADDER_ASK, Decimal(0), buying=False).lots == 0


@given(a=st.integers(0, 10**7), b=st.integers(0, 10**7), buying=st.booleans())
def test_ladder_capacity_is_monotone_and_affordable(a: int, b: int, buying: bool) -> None:
    lo, hi = sorted((Decimal(a) / 100, Decimal(b) / 100))
    ladder = LADDER_BID if buying else LADDER_ASK
    c_lo, c_hi = (ladder_capacity(KGST, ladder, x, buying) for x in (lo, hi))
    assert c_lo.lots <= c_hi.lots and c_lo.levels <= c_hi.levels <= len(ladder)
    # What it says is funded costs no more than the balance.
    lot = KGST.lots_to_qty(1)
    n, cost = c_hi.lots, Decimal(0)
    for ticks, size in [*ladder, (ladder[-1][0], 10**12)]:
        take = min(n, size)
        cost += take * lot * (KGST.ticks_to_price(ticks) if buying else 1)
        n -= take
    assert cost <= hi


def test_rebalancer_raises_one_proposal_through_the_signalers_approval_path() -> None:
    signaler = ArbSignaler(KGST)
    metrics = Metrics()
    metrics.init_desk(["binance"])
    reb = Rebalancer(signaler, K_BAND, U_BAND, expiry_ns=3_600 * 10**9, metrics=metrics)
    assert reb.check(1, Decimal(100_000), Decimal(1_000), FAIR) == []
    [event] = reb.check(2, Decimal(20_000), Decimal(1_600), FAIR)
    sig = event.signal
    assert sig.kind is SignalKind.REBALANCE_MINT and sig.state is SignalState.PROPOSED
    assert event.previous is None and "KGST 20000" in sig.reason
    assert reb.check(3, Decimal(20_000), Decimal(1_600), FAIR) == []  # one live at a time
    assert signaler.approve(sig.id, 4).signal.state is SignalState.APPROVED
    sample = metrics.registry.get_sample_value
    assert sample("pegbot_desk_rebalance_proposals_total", {"kind": "rebalance_mint"}) == 1
    assert sample("pegbot_desk_balance_out_of_band", {"asset": "KGST"}) == 1
    assert sample("pegbot_desk_balance_base", {"asset": "USDT"}) == 1_600
    # The bands, for the dashboard to draw the balances against.
    bands = {b: sample("pegbot_desk_balance_band_base", {"asset": "KGST", "bound": b})
             for b in ("min", "target", "max")}  # fmt: skip
    assert bands == {"min": 50_000, "target": 100_000, "max": 150_000}
    with pytest.raises(ValueError):
        Band(Decimal(2), Decimal(1), Decimal(3))

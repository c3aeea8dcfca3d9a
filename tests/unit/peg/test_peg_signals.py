import dataclasses
from decimal import Decimal
from fractions import Fraction

import pytest

from pegbot.book import OrderBook
from pegbot.market import Market
from pegbot.metrics import Metrics
from pegbot.peg.fair import FairState, FairValue
from pegbot.peg.signals import (
    ArbConfig,
    ArbCosts,
    ArbSignaler,
    SignalKind,
    SignalState,
    SignalStateError,
    SpendableBalances,
)

KGST = Market.kgst_usdt()
UNIT = 10**8  # qty units per KGST
NS = 1_000_000_000
MINT = SignalKind.MINT_AND_SELL
REDEEM = SignalKind.BUY_AND_REDEEM
FAIR = FairValue.fixed(Fraction(100, 8745), KGST)  # 1 / 87.45 = 0.011435...


def book(bids: dict[int, int] | None = None, asks: dict[int, int] | None = None) -> OrderBook:
    b = OrderBook()
    b.apply_snapshot(
        [(t, q * UNIT) for t, q in (bids or {}).items()],
        [(t, q * UNIT) for t, q in (asks or {}).items()],
    )
    return b


def at(fair: FairValue, now: int) -> FairValue:
    return dataclasses.replace(fair, now_ns=now)


def signaler(costs: ArbCosts | None = None, **config: object) -> ArbSignaler:
    defaults: dict[str, object] = {"min_edge_bps": Decimal(0), "cooldown_ns": 0}
    defaults.update(config)
    return ArbSignaler(KGST, costs or ArbCosts(exchange_fee_bps=Decimal(0)), ArbConfig(**defaults))  # type: ignore[arg-type]


def test_exact_threshold_is_in_and_a_hair_above_is_out() -> None:
    # bid 0.01145 vs fair 1/87.45: gross = (0.01145 × 87.45 − 1) × 1e4 = 13.025 bps exactly.
    costs = ArbCosts(exchange_fee_bps=Decimal(0), mint_fee_bps=Decimal(10))
    b = book(bids={1145: 1000}, asks={1146: 1000})
    s = signaler(costs, min_edge_bps=Decimal("3.025"))
    assert s.marginal_edge_bps(FAIR.price, MINT, 1145) == Fraction("3.025")  # type: ignore[arg-type]
    assert s.trigger_ticks(FAIR.price, MINT, Fraction("3.025")) == 1145  # type: ignore[arg-type]
    events = s.evaluate(0, b, FAIR)
    assert len(events) == 1
    sig = events[0].signal
    assert sig.kind is MINT and sig.state is SignalState.PROPOSED and events[0].previous is None
    assert sig.net_edge_bps == Fraction("3.025") and sig.gross_edge_bps == Fraction("13.025")
    assert sig.size_units == 1000 * UNIT and sig.limit_ticks == 1145
    out = signaler(costs, min_edge_bps=Decimal("3.0251"))
    assert out.evaluate(0, b, FAIR) == []
    assert out.trigger_ticks(FAIR.price, MINT, Fraction("3.0251")) == 1146  # type: ignore[arg-type]


def test_one_tick_is_8_7_bps_at_1e_5_and_decides_the_signal() -> None:
    costs = ArbCosts(exchange_fee_bps=Decimal(10))
    s = signaler(costs)
    m1144 = s.marginal_edge_bps(FAIR.price, MINT, 1144)  # type: ignore[arg-type]
    m1145 = s.marginal_edge_bps(FAIR.price, MINT, 1145)  # type: ignore[arg-type]
    # gross differs by exactly 1e-5 × 87.45 × 1e4 = 8.745 bps; the fee takes 0.1 % of that.
    assert m1145 - m1144 == Fraction("8.745") * Fraction("0.999")
    assert m1144 < 0 <= m1145
    assert s.evaluate(0, book(bids={1144: 500}, asks={1146: 500}), FAIR) == []
    assert len(s.evaluate(0, book(bids={1145: 500}, asks={1146: 500}), FAIR)) == 1
    # The fair itself sits between ticks: 1143.51 → 1144 (nearest).
    assert FAIR.ticks == 1144


def test_walks_the_book_to_where_the_marginal_edge_reaches_the_threshold() -> None:
    costs = ArbCosts(exchange_fee_bps=Decimal(0), mint_fee_bps=Decimal(10))
    b = book(bids={1147: 100, 1146: 200, 1145: 300, 1144: 1000}, asks={1148: 50})
    sig = signaler(costs, min_edge_bps=Decimal("3.025")).evaluate(0, b, FAIR)[0].signal
    assert sig.size_units == 600 * UNIT and sig.levels == 3 and sig.limit_ticks == 1145
    assert sig.vwap == Fraction(1147 * 100 + 1146 * 200 + 1145 * 300, 600) / 100_000
    assert sig.bounds["depth_units"] == 600 * UNIT
    assert sum(sig.costs_bps.values()) == sig.gross_edge_bps - sig.net_edge_bps
    par = Fraction(600) * FAIR.price  # type: ignore[operator]
    assert sig.expected_profit == sig.net_edge_bps * par / 10_000
    d = sig.to_dict(KGST)
    assert d["size"] == "600" and d["limit_price"] == "0.01145" and d["kind"] == "mint_and_sell"
    assert set(d["costs_bps"]) == {
        "exchange_fee",
        "mint_fee",
        "transfer",
        "fx_spread",
        "settlement_risk",
    }


def test_caps_per_signal_inventory_and_lots() -> None:
    b = book(bids={1147: 100, 1146: 200, 1145: 300})
    s = signaler(max_qty_per_signal=Decimal(250))
    sig = s.evaluate(0, b, FAIR)[0].signal
    assert (
        sig.size_units == 250 * UNIT
        and sig.levels == 2
        and sig.bounds["signal_cap_units"] == 250 * UNIT
    )
    inv = signaler().evaluate(0, b, FAIR, SpendableBalances(base_units=int(120.5 * UNIT)))[0].signal
    assert inv.size_units == 120 * UNIT  # lot is 1 KGST: half a lot is dropped
    assert inv.bounds["inventory_units"] == int(120.5 * UNIT)


def test_daily_cap_counts_live_and_executed_and_frees_on_expiry() -> None:
    b = book(bids={1147: 1000})
    s = signaler(max_qty_per_day=Decimal(400), max_qty_per_signal=Decimal(250), expiry_ns=10 * NS)
    first = s.evaluate(0, b, FAIR)[0].signal
    s.approve(first.id, 1)
    s.mark_executed(first.id, 2)
    second = s.evaluate(3, b, FAIR)[0].signal
    assert second.size_units == 150 * UNIT and second.bounds["daily_left_units"] == 150 * UNIT
    assert s.evaluate(4, b, FAIR) == []  # second is live
    ev = s.evaluate(3 + 10 * NS, b, FAIR)  # second expires; its 150 return to the cap
    assert [e.signal.state for e in ev] == [SignalState.EXPIRED, SignalState.PROPOSED]
    assert ev[1].signal.size_units == 150 * UNIT
    s.reject(ev[1].signal.id, 4 + 10 * NS, "desk busy")
    next_day = 86_400 * NS
    assert s.evaluate(next_day, b, FAIR)[0].signal.size_units == 250 * UNIT


def test_daily_cap_exhausted_is_suppressed_with_a_reason() -> None:
    b = book(bids={1147: 1000})
    s = signaler(max_qty_per_day=Decimal(100))
    sig = s.evaluate(0, b, FAIR)[0].signal
    s.approve(sig.id, 1)
    s.mark_executed(sig.id, 2)
    assert s.evaluate(3, b, FAIR) == []
    assert s.suppressed(MINT)["daily_cap"] == 1


def test_buy_and_redeem_sizes_by_quote_inventory() -> None:
    costs = ArbCosts(exchange_fee_bps=Decimal(10), redeem_fee_bps=Decimal(1))
    b = book(bids={1140: 100}, asks={1141: 100, 1142: 100, 1143: 100})
    s = signaler(costs)
    fair = FAIR  # 1143.51 ticks: the 1143 ask is below fair but not by the costs
    sig = s.evaluate(0, b, fair)[0].signal
    assert sig.kind is REDEEM and sig.size_units == 200 * UNIT and sig.limit_ticks == 1142
    assert s.marginal_edge_bps(fair.price, REDEEM, 1143) < 0  # type: ignore[arg-type]
    poor = signaler(costs).evaluate(0, b, fair, SpendableBalances(quote=Decimal("1.5")))[0].signal
    # 1.5 USDT buys floor(1.5 / (0.01141 × 1.001)) = 131 KGST.
    assert poor.size_units == 131 * UNIT


def test_fixed_transfer_cost_needs_size() -> None:
    costs = ArbCosts(exchange_fee_bps=Decimal(0), transfer_cost_quote=Decimal("0.01"))
    small = signaler(costs, min_edge_bps=Decimal(5))
    assert small.evaluate(0, book(bids={1147: 100}), FAIR) == []  # 30.5 bps gross, 87 bps fixed
    assert small.suppressed(MINT)["below_min_size"] == 1
    sig = (
        signaler(costs, min_edge_bps=Decimal(5))
        .evaluate(0, book(bids={1147: 1000}), FAIR)[0]
        .signal
    )
    assert sig.costs_bps["transfer"] == Fraction("0.01") / (1000 * FAIR.price) * 10_000  # type: ignore[operator]


def test_issuer_minimum() -> None:
    s = signaler(issuer_min_qty=Decimal(1000))
    assert s.evaluate(0, book(bids={1147: 999}), FAIR) == []
    assert s.suppressed(MINT)["below_min_size"] == 1
    assert len(s.evaluate(1, book(bids={1147: 1000}), FAIR)) == 1


def test_settlement_risk_haircut() -> None:
    costs = ArbCosts(
        settlement_days=Decimal(4), fx_vol_daily_bps=Decimal(20), haircut_sigmas=Decimal(2)
    )
    assert costs.settlement_risk_bps == 80
    assert costs.par_bps(MINT) == 80


def test_hysteresis_stops_a_flickering_book_from_spamming() -> None:
    costs = ArbCosts(exchange_fee_bps=Decimal(0), mint_fee_bps=Decimal(10))
    hi, lo = book(bids={1145: 100}), book(bids={1144: 100})  # edge 3.025 vs -5.72 bps
    calm = signaler(costs, min_edge_bps=Decimal(3), hysteresis_bps=Decimal(9))
    spam = signaler(costs, min_edge_bps=Decimal(3), hysteresis_bps=Decimal(0))
    calm_events, spam_events = [], []
    for i in range(10):
        b = hi if i % 2 == 0 else lo
        calm_events += calm.evaluate(i, b, FAIR)
        spam_events += spam.evaluate(i, b, FAIR)
    assert [e.signal.state for e in calm_events] == [SignalState.PROPOSED]
    assert sum(e.signal.state is SignalState.PROPOSED for e in spam_events) == 5
    assert all(
        e.signal.reason == "edge_gone" for e in spam_events if e.signal.state is SignalState.EXPIRED
    )


def test_cooldown_between_signals_of_a_kind() -> None:
    s = signaler(cooldown_ns=60 * NS)
    b = book(bids={1147: 100})
    sig = s.evaluate(0, b, FAIR)[0].signal
    s.reject(sig.id, 1)
    assert s.evaluate(59 * NS, b, FAIR) == []
    assert s.suppressed(MINT)["cooldown"] == 1
    assert len(s.evaluate(60 * NS, b, FAIR)) == 1


def test_life_cycle_expiry_and_illegal_transitions() -> None:
    s = signaler(expiry_ns=10 * NS)
    sig = s.evaluate(0, book(bids={1147: 100}), FAIR)[0].signal
    with pytest.raises(SignalStateError, match="proposed → executed"):
        s.mark_executed(sig.id, 1)
    assert s.approve(sig.id, 2).signal.state is SignalState.APPROVED
    done = s.mark_executed(sig.id, 3, "filled 100 KGST (order x-1)")
    assert done.previous is SignalState.APPROVED and done.signal.state is SignalState.EXECUTED
    assert done.signal.reason == "filled 100 KGST (order x-1)"
    with pytest.raises(SignalStateError):
        s.reject(sig.id, 4)
    late = s.evaluate(20 * NS, book(bids={1147: 100}), FAIR)[0].signal
    with pytest.raises(SignalStateError, match="expired"):
        s.approve(late.id, late.expires_ns)
    assert s.signal(late.id).state is SignalState.EXPIRED
    with pytest.raises(SignalStateError, match="unknown"):
        s.approve("nope", 0)


@pytest.mark.parametrize("state", [FairState.STALE, FairState.DISPUTED, FairState.JUMP])
def test_no_signals_and_risk_is_told_when_fair_is_not_ok(state: FairState) -> None:
    metrics = Metrics()
    s = ArbSignaler(
        KGST,
        ArbCosts(exchange_fee_bps=Decimal(0)),
        ArbConfig(min_edge_bps=Decimal(0), cooldown_ns=0),
        metrics=metrics,
    )
    b = book(bids={1147: 100}, asks={1140: 100})
    assert not s.status.enabled and s.status.reason == "no fair value yet"
    live = s.evaluate(0, b, FAIR)
    assert {e.signal.kind for e in live} == {MINT, REDEEM}
    assert s.status.enabled and s.status.fair_state is FairState.OK and s.status.since_ns == 0
    bad = dataclasses.replace(FAIR, state=state)
    events = s.evaluate(5, b, bad)
    assert {(e.signal.state, e.signal.reason) for e in events} == {
        (SignalState.EXPIRED, f"fair value {state.value}")
    }
    assert len(events) == 2
    assert s.evaluate(6, b, bad) == [] and s.live() == []
    status = s.status
    assert not status.enabled and status.fair_state is state and status.since_ns == 5
    assert state.value in status.reason
    assert len(s.evaluate(7, b, FAIR)) == 2 and s.status.enabled and s.status.since_ns == 7


def test_no_price_at_all_means_no_signals() -> None:
    s = signaler()
    empty = dataclasses.replace(FAIR, price=None, ticks=None, state=FairState.STALE)
    assert s.evaluate(0, book(bids={1200: 100}), empty) == []
    assert not s.status.enabled


def test_restore_keeps_cooldown_and_daily_usage() -> None:
    s = signaler(cooldown_ns=60 * NS, max_qty_per_day=Decimal(150))
    sig = s.evaluate(0, book(bids={1147: 100}), FAIR)[0].signal
    again = signaler(cooldown_ns=60 * NS, max_qty_per_day=Decimal(150))
    again.restore([sig])
    assert again.live() == [sig]
    s.reject(sig.id, 1)
    fresh = signaler(cooldown_ns=60 * NS, max_qty_per_day=Decimal(150))
    fresh.restore([dataclasses.replace(sig, state=SignalState.EXECUTED)])
    assert fresh.evaluate(30 * NS, book(bids={1147: 100}), FAIR) == []  # cooldown
    assert fresh.evaluate(61 * NS, book(bids={1147: 100}), FAIR)[0].signal.size_units == 50 * UNIT

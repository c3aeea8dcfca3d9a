"""The crowd order-flow model, executed by a small price-time matcher of the test's own."""

from __future__ import annotations

import itertools
import statistics
import tomllib
from collections import deque
from decimal import Decimal
from fractions import Fraction

import pytest
from pydantic import ValidationError

from pegbot.market import Market, Side
from pegbot.sim.flow import (
    Action,
    Cancel,
    DepegShock,
    Drought,
    FlowConfig,
    FlowError,
    FxStep,
    MarketOrder,
    OrderFlow,
    PlaceLimit,
)
from pegbot.timeunits import NS_PER_S as NS

MARKET = Market.kgst_usdt()
START = 1_700_000_000 * NS
MIN = 60 * NS


class LocalBook:
    """Price-time matching of the crowd against itself, reporting back like the simulator."""

    def __init__(self, flow: OrderFlow) -> None:
        self.flow = flow
        self.levels: dict[Side, dict[int, deque[list[object]]]] = {Side.BUY: {}, Side.SELL: {}}
        self.where: dict[str, tuple[Side, int]] = {}
        self.trades: list[tuple[int, Side, int, int]] = []  # ts, aggressor, tick, units
        self.unknown_cancels = 0

    def best(self, side: Side) -> int | None:
        book = self.levels[side]
        if not book:
            return None
        return max(book) if side is Side.BUY else min(book)

    def apply(self, a: Action) -> None:
        if isinstance(a, PlaceLimit):
            left = self._match(a.ts_ns, a.side, a.qty_units, a.price_ticks, a.client_id)
            if left:
                self.levels[a.side].setdefault(a.price_ticks, deque()).append([a.client_id, left])
                self.where[a.client_id] = (a.side, a.price_ticks)
        elif isinstance(a, Cancel):
            if a.client_id not in self.where:
                # Filled earlier in the same batch: a venue answers "unknown order".
                self.unknown_cancels += 1
                return
            side, tick = self.where.pop(a.client_id)
            queue = self.levels[side][tick]
            for entry in queue:
                if entry[0] == a.client_id:
                    queue.remove(entry)
                    break
            if not queue:
                del self.levels[side][tick]
            self.flow.on_canceled(a.client_id)
        else:
            self._match(a.ts_ns, a.side, a.qty_units, None, None)

    def _match(self, ts: int, side: Side, qty: int, limit: int | None, taker: str | None) -> int:
        opp = self.levels[side.opposite]
        while qty and opp:
            tick = min(opp) if side is Side.BUY else max(opp)
            if limit is not None and (tick > limit if side is Side.BUY else tick < limit):
                break
            queue = opp[tick]
            while qty and queue:
                cid, left = queue[0]
                assert isinstance(cid, str) and isinstance(left, int)
                done = min(left, qty)
                qty -= done
                self.flow.on_filled(cid, done)
                if taker is not None:
                    self.flow.on_filled(taker, done)
                self.trades.append((ts, side, tick, done))
                if done == left:
                    queue.popleft()
                    del self.where[cid]
                else:
                    queue[0][1] = left - done
            if not queue:
                del opp[tick]
        return qty


def run(
    config: FlowConfig, minutes: float, sample_s: int = 10
) -> tuple[OrderFlow, LocalBook, list[Action], list[tuple[int, int | None, int | None]]]:
    flow = OrderFlow(config, MARKET, START)
    book = LocalBook(flow)
    actions: list[Action] = []
    samples: list[tuple[int, int | None, int | None]] = []
    end = START + int(minutes * MIN)
    t = START
    while t < end:
        t += sample_s * NS
        for a in flow.until(t):
            actions.append(a)
            book.apply(a)
        samples.append((t, book.best(Side.BUY), book.best(Side.SELL)))
    return flow, book, actions, samples


def fair_ticks(som_per_usd: str) -> Fraction:
    return 1 / (Fraction(som_per_usd) * Fraction(MARKET.tick_size))


def test_same_seed_same_stream_other_seed_other_stream() -> None:
    a = run(FlowConfig(seed=1), 10)[2]
    b = run(FlowConfig(seed=1), 10)[2]
    c = run(FlowConfig(seed=2), 10)[2]
    assert a == b
    assert a != c
    assert all(x.ts_ns <= y.ts_ns for x, y in itertools.pairwise(a))


def test_default_book_stays_at_fair_with_one_tick_spread() -> None:
    flow, book, actions, samples = run(FlowConfig(seed=3), 60)
    fair = fair_ticks("87.45")  # 1143.51 ticks
    assert flow.fair_ticks(START) == fair
    assert flow.touch_ticks(START) == (1143, 1144)
    after_warmup = [(bb, ba) for t, bb, ba in samples if t >= START + 5 * MIN]
    assert all(bb is not None and ba is not None for bb, ba in after_warmup)
    spreads = [ba - bb for bb, ba in after_warmup if bb is not None and ba is not None]
    assert statistics.median(spreads) == 1
    assert sum(s == 1 for s in spreads) >= 0.95 * len(spreads)
    mids = [Fraction(bb + ba, 2) for bb, ba in after_warmup if bb is not None and ba is not None]
    assert all(abs(m - fair) <= 1 for m in mids)
    # Trades happen at the touch around fair.
    assert book.trades and all(abs(tick - fair) < 2 for _, _, tick, _ in book.trades)
    # Rates: ~2 limit orders/s, ~0.1 market orders/s, cancels ∝ resting orders.
    secs = 60 * 60
    limits = [a for a in actions if isinstance(a, PlaceLimit) and a.ts_ns > START]
    markets = [a for a in actions if isinstance(a, MarketOrder)]
    cancels = [a for a in actions if isinstance(a, Cancel)]
    assert 1.85 < len(limits) / secs < 2.15
    assert 0.08 < len(markets) / secs < 0.12
    assert abs(sum(a.side is Side.BUY for a in markets) / len(markets) - 0.5) < 0.1
    resting_now = len(flow.resting)
    assert 0.7 < len(cancels) / secs / (resting_now / 120) < 1.4
    # Every crowd order passes the venue's filters, in whole lots.
    for a in limits[:500]:
        MARKET.check_order(a.price_ticks, MARKET.units_to_lots(a.qty_units))
    # The flow's idea of what rests is exactly what rests in the book.
    assert set(flow.resting) == set(book.where)


def test_fx_step_moves_the_crowd_to_the_new_fair() -> None:
    config = FlowConfig(
        seed=4, som_per_usd=Decimal(73), scenarios=[FxStep(at_ns=15 * MIN, som_per_usd=Decimal(85))]
    )
    flow, _book, actions, samples = run(config, 30)
    old, new = fair_ticks("73"), fair_ticks("85")  # 1369.86 → 1176.47 ticks
    step = START + 15 * MIN
    assert flow.fair_ticks(step - 1) == old and flow.fair_ticks(step) == new
    assert flow.fair_price(step) == Decimal(1) / Decimal(85)

    def mids(lo: int, hi: int) -> list[Fraction]:
        return [
            Fraction(bb + ba, 2)
            for t, bb, ba in samples
            if lo <= t < hi and bb is not None and ba is not None
        ]

    before = mids(START + 5 * MIN, step)
    after = mids(step + 2 * MIN, START + 30 * MIN)
    assert before and all(abs(m - old) <= 1 for m in before)
    assert after and all(abs(m - new) <= 1 for m in after)
    placed_after = [a.price_ticks for a in actions if isinstance(a, PlaceLimit) and a.ts_ns >= step]
    assert placed_after and all(abs(p - new) <= 17 for p in placed_after)
    # The sweep pulled every stale quote at the step itself.
    swept = [a for a in actions if isinstance(a, Cancel) and a.ts_ns == step]
    assert len(swept) > 50
    assert all(abs(r.price_ticks - new) <= 17 for r in flow.resting.values())


def test_drought_cuts_rates_and_sizes() -> None:
    drought = Drought(at_ns=20 * MIN, duration_ns=20 * MIN, rate_factor=0.2, size_factor=0.3)
    _, _, actions, _samples = run(FlowConfig(seed=5, scenarios=[drought]), 40)
    lo, hi = START + 20 * MIN, START + 40 * MIN
    normal = [a for a in actions if isinstance(a, PlaceLimit) and START < a.ts_ns < lo]
    dry = [a for a in actions if isinstance(a, PlaceLimit) and lo <= a.ts_ns < hi]
    ratio = len(dry) / len(normal)
    assert 0.15 < ratio < 0.25
    size_ratio = statistics.median(a.qty_units for a in dry) / statistics.median(
        a.qty_units for a in normal
    )
    assert 0.2 < size_ratio < 0.4
    markets_dry = [a for a in actions if isinstance(a, MarketOrder) and lo <= a.ts_ns < hi]
    markets_normal = [a for a in actions if isinstance(a, MarketOrder) and a.ts_ns < lo]
    assert len(markets_dry) < 0.5 * len(markets_normal)


def test_depeg_shock_pushes_the_price_off_fair_then_reverts() -> None:
    shock = DepegShock(
        at_ns=10 * MIN, bps=-100, ramp_ns=2 * MIN, hold_ns=10 * MIN, revert_ns=3 * MIN
    )
    flow, _book, actions, samples = run(FlowConfig(seed=6, scenarios=[shock]), 40)
    fair = fair_ticks("87.45")
    shocked = fair * Fraction(99, 100)  # 1132.07 ticks
    assert flow.reference_ticks(START + 15 * MIN) == shocked
    hold = [
        Fraction(bb + ba, 2)
        for t, bb, ba in samples
        if START + 13 * MIN <= t < START + 22 * MIN and bb is not None and ba is not None
    ]
    assert hold and all(abs(m - shocked) <= 1 for m in hold)
    late = [
        Fraction(bb + ba, 2)
        for t, bb, ba in samples
        if t >= START + 27 * MIN and bb is not None and ba is not None
    ]
    assert late and all(abs(m - fair) <= 1 for m in late)
    pushing = [
        a
        for a in actions
        if isinstance(a, MarketOrder) and START + 10 * MIN <= a.ts_ns < START + 22 * MIN
    ]
    assert sum(a.side is Side.SELL for a in pushing) >= 0.75 * len(pushing)


def test_callbacks_that_disagree_are_errors() -> None:
    flow = OrderFlow(FlowConfig(seed=7), MARKET, START)
    first = flow.pop()
    assert isinstance(first, PlaceLimit) and first.ts_ns == START
    with pytest.raises(FlowError):
        flow.on_filled("crowd-unknown", 1)
    with pytest.raises(FlowError):
        flow.on_filled(first.client_id, first.qty_units + 1)
    flow.on_filled(first.client_id, first.qty_units)
    assert first.client_id not in flow.resting
    with pytest.raises(FlowError):
        flow.on_canceled(first.client_id)


def test_quiet_flow_ends() -> None:
    config = FlowConfig.model_validate(
        {"rates": {"limit_per_s": 0, "market_per_s": 0, "initial_orders_per_side": 1}}
    )
    flow = OrderFlow(config, MARKET, START)
    first, second = flow.pop(), flow.pop()
    assert {first.side, second.side} == {Side.BUY, Side.SELL}  # type: ignore[union-attr]
    flow.on_filled(first.client_id, first.qty_units)  # type: ignore[union-attr]
    flow.on_filled(second.client_id, second.qty_units)  # type: ignore[union-attr]
    assert flow.peek_ts() is None
    with pytest.raises(FlowError):
        flow.pop()


def test_config_from_toml_and_unknown_keys_refused() -> None:
    text = """
seed = 9
som_per_usd = "73"
[rates]
limit_per_s = 0.5
[[scenarios]]
kind = "fx_step"
at_ns = 3_600_000_000_000
som_per_usd = "85"
[[scenarios]]
kind = "drought"
at_ns = 0
duration_ns = 60_000_000_000
"""
    config = FlowConfig.model_validate(tomllib.loads(text))
    assert config.som_per_usd == Decimal(73) and config.rates.limit_per_s == 0.5
    assert isinstance(config.scenarios[0], FxStep) and isinstance(config.scenarios[1], Drought)
    with pytest.raises(ValidationError):
        FlowConfig.model_validate({"rates": {"limit_rate": 1}})
    with pytest.raises(ValidationError):
        FlowConfig.model_validate({"scenarios": [{"kind": "meteor", "at_ns": 0}]})
    with pytest.raises(ValidationError):
        Drought(at_ns=0, duration_ns=0)


def test_fx_step_with_partial_sweep_gets_stale_quotes_picked_off() -> None:
    step = FxStep(at_ns=10 * MIN, som_per_usd=Decimal(85), stale_fraction=0.5)
    _, book, actions, samples = run(
        FlowConfig(seed=8, som_per_usd=Decimal(73), scenarios=[step]), 20
    )
    at = START + 10 * MIN
    swept = sum(isinstance(a, Cancel) and a.ts_ns == at for a in actions)
    full = run(
        FlowConfig(
            seed=8,
            som_per_usd=Decimal(73),
            scenarios=[step.model_copy(update={"stale_fraction": 1.0})],
        ),
        10.01,
    )[2]
    swept_full = sum(isinstance(a, Cancel) and a.ts_ns == at for a in full)
    assert 0.3 * swept_full < swept < 0.7 * swept_full
    # Sellers at the new fair hit the bids left at the old one: trades far above new fair.
    new = fair_ticks("85")
    picked = [tick for ts, side, tick, _ in book.trades if ts >= at and tick > new + 100]
    assert picked
    last = samples[-1]
    assert last[1] is not None and last[2] is not None
    assert abs(Fraction(last[1] + last[2], 2) - new) <= 1

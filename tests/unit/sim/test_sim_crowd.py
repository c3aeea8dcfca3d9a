"""The order-flow source driving the simulator's engine: a live book, trades, scenarios."""

from __future__ import annotations

from decimal import Decimal

from pegbot.sim.config import SimConfig
from pegbot.sim.crowd import CROWD_KEY, FlowSource
from pegbot.sim.exchange import Exchange
from pegbot.sim.flow import FlowConfig, FxStep
from pegbot.sim.model import PublicTrade

NS = 1_000_000_000
T0 = 1_750_000_000 * NS


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def run(config: FlowConfig, seconds: int) -> tuple[Exchange, FlowSource, list[PublicTrade]]:
    clock = Clock()
    ex = Exchange(SimConfig(depth_interval_ms=0), clock)
    trades: list[PublicTrade] = []
    ex.hooks.append(lambda ev: trades.append(ev) if isinstance(ev, PublicTrade) else None)
    src = FlowSource(config)
    src.attach(ex, T0)
    totals = ex.engine.ledger.totals(["KGST", "USDT"])
    for _ in range(seconds):
        clock.now += NS
        src.step(ex, clock.now)
        _, bids, asks = ex.engine.depth("KGSTUSDT", 1)
        if bids and asks:
            assert bids[0][0] < asks[0][0]
    assert ex.engine.ledger.totals(["KGST", "USDT"]) == totals
    return ex, src, trades


def test_quiet_day_keeps_a_two_sided_book_at_fair() -> None:
    ex, src, trades = run(FlowConfig(seed=3), 600)
    _, bids, asks = ex.engine.depth("KGSTUSDT", 5)
    assert len(bids) == 5 and len(asks) == 5
    # fair = 1/87.45 = 1143.5 ticks: the crowd's touch is 1143 / 1144.
    assert 1140 <= bids[0][0] <= 1144 and 1143 <= asks[0][0] <= 1147
    assert trades and src.actions > 500 and src.rejected == 0
    # The flow and the engine agree on what the crowd has resting.
    assert src.flow is not None
    resting = {o.client_order_id for o in ex.engine.open_orders(CROWD_KEY)}
    assert resting == set(src.flow.resting)


def test_fx_step_moves_the_market() -> None:
    step = FxStep(at_ns=120 * NS, som_per_usd=Decimal("85"))  # 1/85 = 1176.5 ticks
    ex, _, trades = run(FlowConfig(seed=5, scenarios=[step]), 400)
    _, bids, asks = ex.engine.depth("KGSTUSDT", 1)
    assert 1170 <= bids[0][0] < asks[0][0] <= 1182
    assert any(t.price >= 1170 for t in trades)

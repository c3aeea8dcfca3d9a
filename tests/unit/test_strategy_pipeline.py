"""The pure core end to end: strategy → risk → reconciler, with a venue that acks at once."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from pegbot.book import OrderBook
from pegbot.execution.reconciler import Actions, Reconciler
from pegbot.execution.risk import Risk, RiskLevel, RiskParams
from pegbot.market import Market, Side
from pegbot.quoting import band_ticks
from pegbot.strategy import (
    DesiredQuotes,
    FairView,
    FeedHealth,
    Inventory,
    LiveOrder,
    MarketState,
    load_strategy,
)

MARKET = Market.kgst_usdt()
UPL = MARKET.units_per_lot
SEC = 1_000_000_000


@dataclass
class InstantVenue:
    """Confirms every action at once; what the reconciler's output does to the live set."""

    live: dict[str, LiveOrder] = field(default_factory=dict)
    requests: int = 0

    def apply(self, actions: Actions) -> None:
        for r in actions.rebinds:
            o = self.live[r.client_id]
            self.live[r.client_id] = LiveOrder(
                o.client_id, r.level_id, o.side, o.price_ticks, o.lots
            )
        for c in actions.cancels:
            del self.live[c.client_id]
        for p in actions.places:
            q = p.quote
            self.live[p.client_id] = LiveOrder(
                p.client_id, q.level_id, q.side, q.price_ticks, q.lots
            )
        self.requests += actions.requests


def _book() -> OrderBook:
    book = OrderBook()
    book.apply_snapshot([(1143, 5 * 10**12), (1142, 10**13)], [(1144, 5 * 10**12), (1145, 10**13)])
    return book


def _run_tick(
    now: int,
    fair: FairView | None,
    base_lots: int,
    strategy_risk_rec: tuple[object, Risk, Reconciler],
    venue: InstantVenue,
) -> tuple[DesiredQuotes, RiskLevel]:
    strategy, risk, rec = strategy_risk_rec
    state = MarketState(
        now_ns=now,
        book=_book(),
        fair=fair,
        inventory=Inventory(base_lots * UPL, 10**6 * UPL, 1_000_000 * UPL),
        live_orders=tuple(venue.live.values()),
        mode="backtest",
        feed=FeedHealth(book_ts_ns=now),
    )
    desired = strategy.quote(state)  # type: ignore[attr-defined]
    allowed, rs = risk.apply(state, desired)
    venue.apply(rec.diff(allowed, state.live_orders, now))
    return allowed, rs.level


def test_ladder_through_risk_and_reconciler() -> None:
    strategy = load_strategy(
        "peg_ladder",
        MARKET,
        {"levels": 5, "first_bps": 10, "step_bps": 9, "size_lots": 20_000, "band_bps": 80,
         "price_skew_bps": 20, "inventory_range_lots": 500_000},
    )  # fmt: skip
    risk = Risk(RiskParams(band_bps=80, cooldown_s=5, max_base_lots=2_000_000), MARKET)
    rec = Reconciler(MARKET, "t1")  # the budget has tests of its own
    venue = InstantVenue()
    fair_ticks = Fraction(2287, 2)
    parts = (strategy, risk, rec)
    requests_per_tick = []
    for i in range(60):
        now = (i + 1) * SEC
        if i == 20:
            fair_ticks -= 1  # the som rate moved one tick
        base = 1_000_000 + (i - 30) * 20_000 if 30 <= i < 40 else 1_000_000
        fair = FairView.make(fair_ticks, "stale" if 45 <= i < 48 else "ok", 0, now)
        before = venue.requests
        allowed, level = _run_tick(now, fair, base, parts, venue)
        requests_per_tick.append(venue.requests - before)
        live = sorted((o.level_id, o.side, o.price_ticks, o.lots) for o in venue.live.values())
        want = sorted((q.level_id, q.side, q.price_ticks, q.lots) for q in allowed.quotes)
        assert live == want, f"tick {i}: the venue does not hold what was wanted"
        lo, hi = band_ticks(fair_ticks, Fraction(80))
        assert all(lo <= o.price_ticks <= hi for o in venue.live.values())
        bids = [o.price_ticks for o in venue.live.values() if o.side is Side.BUY]
        asks = [o.price_ticks for o in venue.live.values() if o.side is Side.SELL]
        if bids and asks:
            assert max(bids) < min(asks)
        if 45 <= i < 48:
            assert level is RiskLevel.FREEZE and not venue.live  # stale fair: quotes pulled
        if i in (10, 25):
            assert level is RiskLevel.NORMAL and len(venue.live) == 10
    assert requests_per_tick[0] == 10  # the first tick places the whole ladder
    assert all(n == 0 for n in requests_per_tick[1:20])  # nothing changes, nothing is sent
    assert requests_per_tick[20] <= 4  # a one-tick shift keeps most orders where they are
    assert [t.to_level for t in risk.transitions] == [
        RiskLevel.FREEZE,
        RiskLevel.DEFEND,
        RiskLevel.NORMAL,
    ]

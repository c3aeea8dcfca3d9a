"""CPU time of one pure-core decision: strategy → risk → reconciler, 5 levels a side.

The issue's tick-to-quote budget is p99 < 2 ms end to end (book message in → order request
out); this is the part of it spent deciding. Every tick moves the fair by a tick so that every
decision requotes. Thread CPU time, not wall time: on a shared 2-core machine the scheduler's
time slices would otherwise decide the p99.

    .venv/bin/python benchmarks/bench_core.py
"""

from __future__ import annotations

import time
from fractions import Fraction

from pegbot.book import OrderBook
from pegbot.execution.reconciler import Reconciler
from pegbot.execution.risk import Risk, RiskParams
from pegbot.market import Market
from pegbot.strategy import FairView, FeedHealth, Inventory, LiveOrder, MarketState, load_strategy

MARKET = Market.kgst_usdt()
UPL = MARKET.units_per_lot
SEC = 1_000_000_000
TICKS = 2_000


def main() -> None:
    strategy = load_strategy("peg_ladder", MARKET, {"levels": 5, "size_lots": 20_000})
    risk = Risk(RiskParams(), MARKET)
    rec = Reconciler(MARKET, "bench")
    book = OrderBook()
    book.apply_snapshot([(1143, 5 * 10**12), (1142, 10**13)], [(1144, 5 * 10**12), (1145, 10**13)])
    live: dict[str, LiveOrder] = {}
    times = []
    requests = 0
    for i in range(TICKS):
        now = (i + 1) * SEC
        fair = FairView.make(Fraction(2287, 2) + (i % 3), "ok", 0, now)
        t0 = time.thread_time_ns()
        state = MarketState(
            now_ns=now,
            book=book,
            fair=fair,
            inventory=Inventory(1_000_000 * UPL, 10**6 * UPL, 1_000_000 * UPL),
            live_orders=tuple(live.values()),
            mode="backtest",
            feed=FeedHealth(book_ts_ns=now),
        )
        allowed, _ = risk.apply(state, strategy.quote(state))
        actions = rec.diff(allowed, state.live_orders, now)
        times.append(time.thread_time_ns() - t0)
        # The venue acknowledges everything at once.
        for r in actions.rebinds:
            o = live[r.client_id]
            live[r.client_id] = LiveOrder(o.client_id, r.level_id, o.side, o.price_ticks, o.lots)
        for c in actions.cancels:
            del live[c.client_id]
        for p in actions.places:
            q = p.quote
            live[p.client_id] = LiveOrder(p.client_id, q.level_id, q.side, q.price_ticks, q.lots)
        requests += actions.requests
    times.sort()
    p50 = times[len(times) // 2] / 1e3
    p99 = times[int(len(times) * 0.99)] / 1e3
    print(
        f"core decision (peg_ladder 5x2, risk, reconciler): {TICKS} ticks, "
        f"p50 {p50:.0f} us, p99 {p99:.0f} us CPU; {requests / TICKS:.1f} requests/tick"
    )


if __name__ == "__main__":
    main()

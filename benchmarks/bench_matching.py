"""Events/s through FillEngine.on_depth / on_trade with a few resting orders of ours.

A KGST-like stream (tick 1e-5 around 0.0114, 1-tick spread, depth changes within 6 ticks of
the touch, about one trade per 12 depth changes) is generated up front, so only the engine is
timed. Four orders of ours rest at the touch and one tick behind it on each side; a filled
order is re-added at once (behind the current level), as a market maker would.

    .venv/bin/python benchmarks/bench_matching.py [--events N] [--json]
    .venv/bin/python benchmarks/bench_matching.py --crosscheck [--orders N]

``--crosscheck`` replays one random event stream at a single price through hftbacktest
(peer package, ``pip install 'pegbot[peers]'``) and through FillEngine, with one buy order of
ours re-placed whenever the last one filled, and reports in how many orders the two agree on
the exchange time of the fill, per queue model (no partial fills: hftbacktest's partial-fill
exchange aborts when a fill equals the remaining quantity, its issues #301/#312).
"""

from __future__ import annotations

import argparse
import json
import random
import time

from pegbot.matching import FillEngine, LogProbQueue, PowerProbQueue, QueueModel, RiskAverse

BID, ASK = 1, -1
UNIT = 10**8  # qty units per KGST
BEST_BID = 1143  # fair 1/87.45 = 0.011435 USDT = 1143.5 ticks


def make_events(n: int, seed: int = 7) -> list[tuple[int, int, int, int]]:
    """Rows of (kind, side, tick, qty): kind 0 depth (absolute qty), 1 trade (aggressor side)."""
    rng = random.Random(seed)
    out: list[tuple[int, int, int, int]] = []
    for _ in range(n):
        if rng.random() < 0.08:
            side = BID if rng.random() < 0.5 else ASK
            # A buyer lifts the best ask, a seller hits the best bid.
            tick = BEST_BID + 1 if side == BID else BEST_BID
            out.append((1, side, tick, rng.randint(1, 40_000) * 10**8))
        else:
            side = BID if rng.random() < 0.5 else ASK
            depth = rng.randint(0, 5)
            tick = BEST_BID - depth if side == BID else BEST_BID + 1 + depth
            out.append((0, side, tick, rng.randint(0, 2_000_000) * 10**8))
    return out


def run(events: list[tuple[int, int, int, int]], queue: QueueModel) -> tuple[float, int]:
    """Seconds spent and fills produced replaying ``events`` through a fresh engine."""
    eng = FillEngine(queue)
    levels = {BID: {t: 500_000 * 10**8 for t in range(BEST_BID - 6, BEST_BID + 1)}}
    levels[ASK] = {t: 500_000 * 10**8 for t in range(BEST_BID + 1, BEST_BID + 8)}
    spots = [(BID, BEST_BID), (BID, BEST_BID - 1), (ASK, BEST_BID + 1), (ASK, BEST_BID + 2)]
    next_id = 0
    live: dict[int, tuple[int, int]] = {}
    for side, tick in spots:
        eng.add(next_id, side, tick, 50_000 * 10**8, levels[side][tick], 0)
        live[next_id] = (side, tick)
        next_id += 1
    fills = 0
    on_depth, on_trade = eng.on_depth, eng.on_trade
    t0 = time.perf_counter()
    for ts, (kind, side, tick, qty) in enumerate(events):
        if kind == 0:
            levels[side][tick] = qty
            got = on_depth(side, tick, qty, ts)
        else:
            got = on_trade(side, tick, qty, ts)
        if got:
            for f in got:
                fills += 1
                if f.leaves_units == 0:
                    spot = live.pop(int(f.order_id))
                    eng.add(next_id, spot[0], spot[1], 50_000 * 10**8, levels[spot[0]][spot[1]], ts)
                    live[next_id] = spot
                    next_id += 1
    return time.perf_counter() - t0, fills


def crosscheck_events(n_orders: int, seed: int = 11) -> list[tuple[int, int, int, int]]:
    """(ts, kind, side, qty) rows at bid 100 (ask 101 fixed): kind 0 depth, 1 trade."""
    rng = random.Random(seed)
    rows: list[tuple[int, int, int, int]] = [(1, 0, BID, 30), (1, 0, ASK, 1_000_000)]
    level = 30
    ts = 150
    # About 40 events per order: enough for most orders to fill.
    for _ in range(n_orders * 40):
        r = rng.random()
        if r < 0.3 and level > 0:
            qty = rng.randint(1, max(1, level))
            rows.append((ts, 1, ASK, qty))  # a seller hits our bid level
            if rng.random() < 0.8:  # the depth update that reflects it
                ts += 100
                level -= qty
                rows.append((ts, 0, BID, level))
        else:
            level = max(0, level + rng.randint(-12, 15))
            rows.append((ts, 0, BID, level))
        ts += 100
    return rows


def crosscheck(n_orders: int) -> None:
    """Compare fill times with hftbacktest on the same stream (see the module docstring)."""
    import numpy as np
    from hftbacktest import (
        BUY_EVENT,
        DEPTH_EVENT,
        EXCH_EVENT,
        GTC,
        LIMIT,
        LOCAL_EVENT,
        SELL_EVENT,
        TRADE_EVENT,
        BacktestAsset,
        HashMapMarketDepthBacktest,
        event_dtype,
    )

    rows = crosscheck_events(n_orders)
    flags = EXCH_EVENT | LOCAL_EVENT
    data = np.array(
        [
            (
                (DEPTH_EVENT if kind == 0 else TRADE_EVENT)
                | flags
                | (BUY_EVENT if side == BID else SELL_EVENT),
                ts,
                ts,
                100.0 if (kind == 0 and side == BID) or kind == 1 else 101.0,
                float(qty),
                0,
                0,
                0.0,
            )
            for ts, kind, side, qty in rows
        ],
        dtype=event_dtype,
    )
    end = rows[-1][0]
    step = 1_000  # decide every 1 µs; events sit at ...50 ns, so never on a decision
    for name, setup, ours in [
        ("RiskAverse", lambda a: a.risk_adverse_queue_model(), RiskAverse()),
        ("PowerProbQueue(3)", lambda a: a.power_prob_queue_model(3.0), PowerProbQueue(3)),
    ]:
        asset = (
            BacktestAsset()
            .data([data])
            .linear_asset(1.0)
            .constant_order_latency(1, 1)
            .no_partial_fill_exchange()
            .trading_value_fee_model(0.0, 0.0)
            .tick_size(1.0)
            .lot_size(1.0)
        )
        hbt = HashMapMarketDepthBacktest([setup(asset)])
        theirs: dict[int, int] = {}
        oid, live = 0, False
        hbt.elapse(step)  # to the first event's time + step (the clock starts unset)
        start = hbt.current_timestamp
        while hbt.current_timestamp < end:
            if not live:
                oid += 1
                hbt.submit_buy_order(0, oid, 100.0, 10.0, GTC, LIMIT, False)
                live = True
            done = hbt.elapse(step) != 0  # 1: the data has ended (the clock stops)
            order = hbt.orders(0).get(oid)
            if order is not None and order.status == 3:  # FILLED
                theirs[oid] = order.exch_timestamp
                live = False
            if done:
                end = hbt.current_timestamp
                break
        hbt.close()
        # The same, through FillEngine: the order reaches the venue 1 ns after the decision.
        # Quantities in qty units of 1e-8, as pegbot's books hold them (hftbacktest: floats).
        eng = FillEngine(ours, partial_fills=False, lot_units=UNIT, round_half_lot=True)
        level = {BID: 0, ASK: 0}
        mine: dict[int, int] = {}
        oid, i, t = 0, 0, start
        while i < len(rows) and rows[i][0] <= t:
            ts, kind, side, qty = rows[i]
            level[side] = qty * UNIT
            eng.on_depth(side, 100 if side == BID else 101, qty * UNIT, ts)
            i += 1
        while t < end:
            if not eng:
                oid += 1
                while i < len(rows) and rows[i][0] <= t + 1:
                    ts, kind, side, qty = rows[i]
                    if kind == 0:
                        level[side] = qty * UNIT
                        eng.on_depth(side, 100 if side == BID else 101, qty * UNIT, ts)
                    i += 1
                eng.add(oid, BID, 100, 10 * UNIT, level[BID], t + 1)
            t += step
            while i < len(rows) and rows[i][0] <= t:
                ts, kind, side, qty = rows[i]
                if kind == 0:
                    level[side] = qty * UNIT
                    fills = eng.on_depth(side, 100 if side == BID else 101, qty * UNIT, ts)
                else:
                    fills = eng.on_trade(-1, 100, qty * UNIT, ts)
                for f in fills:
                    mine[int(f.order_id)] = f.ts_ns
                i += 1
        same = sum(1 for k, v in theirs.items() if mine.get(k) == v)
        print(
            f"{name:20s} hftbacktest filled {len(theirs)} orders, pegbot {len(mine)}; "
            f"same fill time for {same} of the first {min(len(theirs), len(mine))}"
        )


def main() -> None:
    """Run the benchmark and print events/s per queue model."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--crosscheck", action="store_true")
    parser.add_argument("--orders", type=int, default=300)
    args = parser.parse_args()
    if args.crosscheck:
        crosscheck(args.orders)
        return
    events = make_events(args.events)
    results = {}
    for name, model in [
        ("RiskAverse", RiskAverse()),
        ("PowerProbQueue(3)", PowerProbQueue(3)),
        ("LogProbQueue(1e8)", LogProbQueue(10**8)),
    ]:
        best = min(run(events, model) for _ in range(3))
        secs, fills = best
        results[name] = {"events_per_s": round(len(events) / secs), "fills": fills}
        if not args.json:
            print(f"{name:20s} {len(events) / secs / 1e6:6.2f} M events/s  ({fills} fills)")
    if args.json:
        print(json.dumps({"events": len(events), "models": results}))


if __name__ == "__main__":
    main()

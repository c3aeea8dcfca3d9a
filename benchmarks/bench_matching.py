"""Events/s through FillEngine.on_depth / on_trade with a few resting orders of ours.

A KGST-like stream (tick 1e-5 around 0.0114, 1-tick spread, depth changes within 6 ticks of
the touch, about one trade per 12 depth changes) is generated up front, so only the engine is
timed. Four orders of ours rest at the touch and one tick behind it on each side; a filled
order is re-added at once (behind the current level), as a market maker would.

    .venv/bin/python benchmarks/bench_matching.py [--events N] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import time

from pegbot.matching import FillEngine, LogProbQueue, PowerProbQueue, QueueModel, RiskAverse

BID, ASK = 1, -1
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


def main() -> None:
    """Run the benchmark and print events/s per queue model."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
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

"""hftbacktest 2.4.4 running the cross-check market maker, and the cross-check tolerance.

The peer side of ``bench_backtest.py`` and of ``tests/integration/test_backtest_crosscheck.py``:
the rules of ``backtests/hftbacktest_crosscheck.toml`` (``strategies/hftbacktest_mm.py``)
written as one loop over ``HashMapMarketDepthBacktest`` — risk-averse queue, no partial
fills, 10 ms constant latency, GTX post-only orders, maker 0 / taker 0.1 % by value — either
numba-compiled (hftbacktest's intended use) or as plain Python calling into hftbacktest's
compiled backtest object. hftbacktest is the ``peers`` extra, not a project dependency.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Any


def peak_rss_mb() -> float:
    # VmHWM starts afresh at exec; ru_maxrss would carry the parent's peak over.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_hftbacktest(
    npz: Path, rows: int, tick: float, lot: float, size: int, limit: int, compiled: bool = True
) -> dict[str, Any]:
    """One hftbacktest run of the same market maker (in this process).

    ``compiled=False`` runs the same loop as plain Python (``mm.py_func``) calling into
    hftbacktest's compiled backtest object: hftbacktest with a strategy in plain Python.
    """
    import numpy as np
    from hftbacktest import BacktestAsset, HashMapMarketDepthBacktest
    from hftbacktest.order import BUY, CANCELED, GTX, LIMIT, NEW
    from numba import njit

    @njit
    def mm(hbt: Any, size_lots: int, limit_lots: int, lot: float, tick: float, step: int) -> Any:
        oid = 0
        evals = 0
        while hbt.elapse(step) == 0:
            hbt.clear_inactive_orders(0)
            depth = hbt.depth(0)
            bb = depth.best_bid_tick
            ba = depth.best_ask_tick
            if bb < -(1 << 60) or ba > (1 << 60):
                continue
            evals += 1
            q = round(hbt.position(0) / lot)
            skew = round(2.0 * q / limit_lots)
            bid = min((bb + ba - 1) // 2 - skew, bb)
            ask = max((bb + ba + 2) // 2 - skew, ba)
            if ask <= bid:
                ask = bid + 1
            want_bid = q < limit_lots
            want_ask = q > -limit_lots
            have_bid = have_ask = False
            busy_bid = busy_ask = False
            values = hbt.orders(0).values()
            while values.has_next():
                o = values.get()
                if o.status != NEW or o.req == CANCELED:
                    continue  # gone, or its cancel is in flight
                keep = o.price_tick == (bid if o.side == BUY else ask) and (
                    want_bid if o.side == BUY else want_ask
                )
                if keep:
                    if o.side == BUY:
                        have_bid = True
                    else:
                        have_ask = True
                elif o.cancellable:
                    hbt.cancel(0, o.order_id, False)
                elif o.side == BUY:  # unacknowledged: holds its level, as in the reconciler
                    busy_bid = True
                else:
                    busy_ask = True
            if want_bid and not have_bid and not busy_bid:
                oid += 1
                hbt.submit_buy_order(0, oid, bid * tick, size_lots * lot, GTX, LIMIT, False)
            if want_ask and not have_ask and not busy_ask:
                oid += 1
                hbt.submit_sell_order(0, oid, ask * tick, size_lots * lot, GTX, LIMIT, False)
        depth = hbt.depth(0)
        return evals, depth.best_bid_tick, depth.best_ask_tick

    def make(data: Any) -> Any:
        asset = (
            BacktestAsset()
            .data([data])
            .linear_asset(1.0)
            .constant_order_latency(10_000_000, 10_000_000)
            .risk_adverse_queue_model()
            .no_partial_fill_exchange()
            .trading_value_fee_model(0.0, 0.001)
            .tick_size(tick)
            .lot_size(lot)
        )
        return HashMapMarketDepthBacktest([asset])

    data = np.load(npz)["data"]
    # hftbacktest keeps a pointer to the array: keep it alive until close().
    warm_data = np.ascontiguousarray(data[:20_000])
    warm = make(warm_data)  # compile outside the timed run
    mm(warm, size, limit, lot, tick, 100_000_000)
    warm.close()
    loop = mm if compiled else mm.py_func
    wall = time.perf_counter()
    cpu = time.process_time()
    hbt = make(data)
    evals, bb, ba = loop(hbt, size, limit, lot, tick, 100_000_000)
    wall = time.perf_counter() - wall
    cpu = time.process_time() - cpu
    sv = hbt.state_values(0)
    mid = (bb + ba) / 2 * tick
    out = {
        "engine": "hftbacktest",
        "rows": rows,
        "npz_events": len(data),
        "wall_s": wall,
        "cpu_s": cpu,
        "fills": int(sv.num_trades),
        "pnl": sv.balance + sv.position * mid - sv.fee,
        "fees": sv.fee,
        "volume": sv.trading_volume,
        "notional": sv.trading_value,
        "evaluations": int(evals),
        "peak_rss_mb": peak_rss_mb(),
    }
    hbt.close()
    return out


def agree(ours: dict[str, Any], theirs: dict[str, Any]) -> bool:
    """The cross-check tolerance (see the module docstring): same fills, PnL to float noise."""
    fills_ok = abs(ours["fills"] - theirs["fills"]) <= 0.001 * theirs["fills"]
    pnl_ok = abs(ours["pnl"] - theirs["pnl"]) <= 1e-9 * max(1.0, abs(theirs["notional"]))
    return bool(fills_ok and pnl_ok)

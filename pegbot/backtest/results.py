"""Backtest results: pandas tables (orders, fills, quotes, best prices, equity) and a summary.

:func:`tables` turns a :class:`~pegbot.backtest.engine.BacktestRun` into DataFrames,
:func:`summarize` computes the summary (PnL realised and marked at fair, fees, volume, fill
ratio, markouts, inventory, quote uptime, time near the peg, signals), and :func:`save` writes
them to a directory as Parquet plus ``summary.json``, which :mod:`pegbot.backtest.report`
reads back. Prices in the tables are ticks (exact) with a float column for plotting.

Marking: "at fair" uses the fixed fair price when the scenario has one, else the mid of the
tape's book (for ``fair.source = "mid"`` that *is* the fair value; for a rate series the mid is
the stated stand-in, see ``summary["mark"]``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pegbot.backtest.engine import BacktestRun

MARKOUTS_S = (1, 10, 60)
BANDS_BPS = (10, 50, 100)
_NS = 1_000_000_000
_EQUITY_POINTS = 4000


def tables(run: BacktestRun) -> dict[str, pd.DataFrame]:
    """The run as DataFrames: ``orders``, ``fills``, ``quotes``, ``bbo``, ``equity``."""
    m = run.market
    tick = float(m.tick_size)
    unit = float(m.qty_unit)
    rec = run.venue.records
    orders = pd.DataFrame(
        rec.orders, columns=["event", "ts_ns", "client_id", "side", "price_ticks", "qty_units"]
    )
    fills = pd.DataFrame(
        rec.fills,
        columns=[
            "ts_ns", "client_id", "side", "price_ticks", "qty_units", "maker", "fee",
            "leaves_units",
        ],
    )  # fmt: skip
    fills["fee"] = fills["fee"].map(float).astype("float64")
    fills["price"] = fills["price_ticks"] * tick
    fills["qty"] = fills["qty_units"] * unit
    quotes = pd.DataFrame(
        rec.quotes, columns=["ts_ns", "own_bid", "bid_units", "own_ask", "ask_units"]
    )
    bbo = pd.DataFrame({"ts_ns": run.bbo[0], "best_bid": run.bbo[1], "best_ask": run.bbo[2]})
    valid = (bbo["best_bid"] > -(1 << 61)) & (bbo["best_ask"] < (1 << 61))
    bbo["mid"] = np.where(valid, (bbo["best_bid"] + bbo["best_ask"]) / 2 * tick, np.nan)
    return {
        "orders": orders,
        "fills": fills,
        "quotes": quotes,
        "bbo": bbo,
        "equity": _equity(run, fills, bbo),
    }


def _mark_at(run: BacktestRun, bbo: pd.DataFrame, ts: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    # Fair price (quote currency) at each time: fixed, else the last mid at or before it.
    if run.fair_price is not None:
        return np.full(len(ts), float(run.fair_price))
    if not len(bbo):
        return np.full(len(ts), np.nan)
    idx = np.searchsorted(bbo["ts_ns"].to_numpy(), ts, side="right") - 1
    mid = bbo["mid"].to_numpy()
    out = np.where(idx >= 0, mid[np.clip(idx, 0, None)], np.nan)
    return out.astype("float64")


def _equity(run: BacktestRun, fills: pd.DataFrame, bbo: pd.DataFrame) -> pd.DataFrame:
    m = run.market
    tick_unit = float(m.tick_size) * float(m.qty_unit)
    unit = float(m.qty_unit)
    start, end = run.start_ns, max(run.end_ns, run.start_ns + 1)
    grid = np.linspace(start, end, _EQUITY_POINTS).astype(np.int64)
    ft = fills["ts_ns"].to_numpy(np.int64)
    sign = np.where(fills["side"].to_numpy() > 0, 1, -1)
    units = fills["qty_units"].to_numpy(np.int64)
    ticks = fills["price_ticks"].to_numpy(np.int64)
    # Event times: the grid and every fill, so each fill shows in the curve.
    ts = np.union1d(grid, ft)
    k = np.searchsorted(ft, ts, side="right")
    pos = np.concatenate(([0], np.cumsum(sign * units)))[k] + run.initial.base_units
    cash_steps = np.cumsum(-sign * units * ticks.astype("float64")) * tick_unit
    cash = np.concatenate(([0.0], cash_steps))[k] + run.initial.cash_tu * tick_unit
    fees = np.concatenate(([0.0], np.cumsum(fills["fee"].to_numpy("float64"))))[k]
    mark = _mark_at(run, bbo, ts)
    equity = cash + pos * unit * mark - fees
    # Trading PnL: what the fills changed, marked now; the starting holdings' own
    # revaluation is not the strategy's doing (it is in ``equity``).
    d_cash = cash - run.initial.cash_tu * tick_unit
    pnl = d_cash + (pos - run.initial.base_units) * unit * mark - fees
    return pd.DataFrame(
        {
            "ts_ns": ts,
            "inventory": (pos - run.target_base_units) * unit,
            "cash": cash,
            "fees": fees,
            "mark": mark,
            "equity": equity,
            "pnl": pnl,
        }
    )


def _realised(fills: pd.DataFrame, tick_unit: float) -> float:
    # Average-cost realised PnL (before fees) of the fills, in the quote currency.
    pos = 0
    cost = 0.0  # tick-units of the open position
    realised = 0.0
    for side, t, q in zip(
        fills["side"].tolist(),
        fills["price_ticks"].tolist(),
        fills["qty_units"].tolist(),
        strict=True,
    ):
        signed = q if side > 0 else -q
        if pos == 0 or (pos > 0) == (signed > 0):
            pos += signed
            cost += signed * t
            continue
        close = min(abs(signed), abs(pos))
        avg = cost / pos
        realised += close * (t - avg) * (1 if pos > 0 else -1)
        cost -= avg * close * (1 if pos > 0 else -1)
        pos += signed
        rest = abs(signed) - close
        if pos == 0:
            cost = 0.0
        if rest:  # the fill flipped the position: the rest opens at this price
            cost = pos * t
    return realised * tick_unit


def _time_weighted(ts: np.ndarray[Any, Any], values: np.ndarray[Any, Any], end: int) -> float:
    if not len(ts):
        return 0.0
    dt = np.diff(np.append(ts, max(end, int(ts[-1]))))
    total = dt.sum()
    return float((values * dt).sum() / total) if total > 0 else float(values[-1])


def summarize(run: BacktestRun, t: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """The summary of a run (see the module docstring); JSON-ready."""
    m = run.market
    tick = float(m.tick_size)
    unit = float(m.qty_unit)
    tick_unit = tick * unit
    fills, orders, quotes, bbo, eq = t["fills"], t["orders"], t["quotes"], t["bbo"], t["equity"]
    vol_units = int(fills["qty_units"].sum()) if len(fills) else 0
    # Floats: ticks × units of a day's fills overflows int64.
    notional = fills["price_ticks"].astype("float64") * fills["qty_units"].astype("float64")
    vol_quote = float(notional.sum()) * tick_unit
    sent = orders[orders["event"] == "sent"]
    placed_units = int(sent["qty_units"].sum()) if len(sent) else 0
    acct = run.venue.account
    end_mark = _mark_at(run, bbo, np.array([run.end_ns], dtype=np.int64))[0]
    start_mark = _mark_at(run, bbo, np.array([run.start_ns], dtype=np.int64))[0]
    d_base = (acct.base_units - run.initial.base_units) * unit
    d_cash = (acct.cash_tu - run.initial.cash_tu) * tick_unit
    pnl = d_cash + d_base * end_mark - float(acct.fees)
    markouts: dict[str, float | None] = {}
    if len(fills) and len(bbo):
        bt, mid = bbo["ts_ns"].to_numpy(), bbo["mid"].to_numpy()
        ft = fills["ts_ns"].to_numpy(np.int64)
        px = fills["price"].to_numpy()
        sgn = np.where(fills["side"].to_numpy() > 0, 1.0, -1.0)
        w = fills["qty"].to_numpy()
        for h in MARKOUTS_S:
            idx = np.searchsorted(bt, ft + h * _NS, side="right") - 1
            later = np.where(idx >= 0, mid[np.clip(idx, 0, None)], np.nan)
            bps = sgn * (later - px) / px * 10_000
            ok = np.isfinite(bps)
            markouts[f"{h}s_bps"] = float(np.average(bps[ok], weights=w[ok])) if ok.any() else None
            markouts[f"{h}s_quote"] = float(np.nansum(sgn * (later - px) * w))
    else:
        for h in MARKOUTS_S:
            markouts[f"{h}s_bps"] = None
            markouts[f"{h}s_quote"] = 0.0
    inv = eq["inventory"].to_numpy()
    qts = quotes["ts_ns"].to_numpy(np.int64)
    two_sided = ((quotes["own_bid"] > 0) & (quotes["own_ask"] > 0)).to_numpy().astype(float)
    span_end = run.end_ns
    uptime = 0.0
    if len(qts):
        # Before the first order the quote was absent: weight from the start of the tape.
        uptime = _time_weighted(
            np.concatenate(([run.start_ns], qts)), np.concatenate(([0.0], two_sided)), span_end
        )
    near: dict[str, float | None] = {}
    depth: dict[str, float] = {}
    fair_now = float(run.fair_price) if run.fair_price is not None else None
    for n_bps in BANDS_BPS:
        if fair_now is not None and len(bbo):
            mids = bbo["mid"].to_numpy()
            inside = (np.abs(mids - fair_now) / fair_now * 10_000 <= n_bps).astype(float)
            inside[~np.isfinite(mids)] = 0.0
            near[f"{n_bps}bps"] = _time_weighted(bbo["ts_ns"].to_numpy(), inside, span_end)
        else:
            near[f"{n_bps}bps"] = None
        if len(qts):
            ref = _mark_at(run, bbo, qts)
            ob = quotes["own_bid"].to_numpy() * tick
            oa = quotes["own_ask"].to_numpy() * tick
            bid_in = (np.abs(ob - ref) / ref * 10_000 <= n_bps) & (ob > 0)
            ask_in = (np.abs(oa - ref) / ref * 10_000 <= n_bps) & (oa > 0)
            units = (
                quotes["bid_units"].to_numpy() * bid_in + quotes["ask_units"].to_numpy() * ask_in
            )
            depth[f"{n_bps}bps_base"] = _time_weighted(qts, units * unit, span_end)
        else:
            depth[f"{n_bps}bps_base"] = 0.0
    reconciled = run.local.base_units == acct.base_units and run.local.cash_tu == acct.cash_tu
    return {
        "events": run.events,
        "wall_s": round(run.wall_s, 4),
        "events_per_s": round(run.events / run.wall_s, 1) if run.wall_s > 0 else None,
        "evaluations": run.evaluations,
        "start_ns": run.start_ns,
        "end_ns": run.end_ns,
        "fills": len(fills),
        "maker_fills": int(fills["maker"].sum()) if len(fills) else 0,
        "volume_base": vol_units * unit,
        "volume_quote": vol_quote,
        "fees_quote": float(acct.fees),
        "fees_quote_exact": str(acct.fees),
        "pnl_quote": pnl,
        "pnl_realised_quote": _realised(fills, tick_unit),
        "mark": "fixed fair" if run.fair_price is not None else "mid",
        "mark_start": start_mark,
        "mark_end": end_mark,
        "orders_sent": len(sent),
        "cancels_sent": int((orders["event"] == "cancel_sent").sum()),
        "rejects": int((orders["event"] == "rejected").sum()),
        "fill_ratio": vol_units / placed_units if placed_units else None,
        "markouts": markouts,
        "inventory_base": {
            "final": float(inv[-1]) if len(inv) else 0.0,
            "min": float(inv.min()) if len(inv) else 0.0,
            "max": float(inv.max()) if len(inv) else 0.0,
            "mean": _time_weighted(eq["ts_ns"].to_numpy(), inv, span_end) if len(inv) else 0.0,
        },
        "two_sided_uptime": uptime,
        "mid_near_fair": near,
        "our_depth_at_best": depth,
        "signals": run.signals,
        "risk_transitions": len(run.risk_transitions),
        "far_levels_skipped": run.far_levels,
        "reconciled": reconciled,
    }


def save(
    out_dir: str | Path,
    t: dict[str, pd.DataFrame],
    summary: dict[str, Any],
    scenario: dict[str, Any] | None = None,
) -> Path:
    """Write the tables as Parquet, ``summary.json`` and ``scenario.json`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, df in t.items():
        df.to_parquet(out / f"{name}.parquet", index=False)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    if scenario is not None:
        (out / "scenario.json").write_text(json.dumps(scenario, indent=2, default=str) + "\n")
    return out


def load(out_dir: str | Path) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Read back what :func:`save` wrote."""
    out = Path(out_dir)
    summary = json.loads((out / "summary.json").read_text())
    t = {p.stem: pd.read_parquet(p) for p in sorted(out.glob("*.parquet"))}
    return t, summary

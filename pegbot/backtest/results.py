"""Backtest results: pandas tables (orders, fills, quotes, best prices, equity) and a summary.

:func:`tables` turns a :class:`~pegbot.backtest.engine.BacktestRun` into DataFrames,
:func:`summarize` computes the summary (PnL realised and marked at fair, fees, volume, fill
ratio, markouts, inventory, quote uptime, the time the mid spent within ±N bps of fair, the
size of all our resting orders within ±N bps of fair, signals, and the peg scorecard of
:mod:`pegbot.scorecard` built from the venue's records), and :func:`save` writes
them to a directory as Parquet plus ``summary.json``, which :mod:`pegbot.backtest.report`
reads back. Prices in the tables are ticks (exact) with a float column for plotting.

Marking: "at fair" uses the fixed fair price when the scenario has one, the rate series' last
value (``run.fair_series``, filled by the scenario), else the mid of the tape's book (for
``fair.source = "mid"`` that *is* the fair value); ``summary["mark"]`` says which. The bands
around fair are exact: integer price bounds from the rational fair, integer ns per crossing.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pegbot.backtest.engine import BacktestRun
from pegbot.scorecard import Event, score
from pegbot.scorecard.records import (
    FILL_COLUMNS,
    ORDER_COLUMNS,
    ORDER_EVENTS,
    events_from_records,
)
from pegbot.timeunits import NS_PER_S

MARKOUTS_S = (1, 10, 60)
BANDS_BPS = (10, 50, 100)
_EQUITY_POINTS = 4000


def tables(run: BacktestRun) -> dict[str, pd.DataFrame]:
    """The run as DataFrames: ``orders``, ``fills``, ``quotes``, ``bbo``, ``equity``."""
    m = run.market
    tick = float(m.tick_size)
    unit = float(m.qty_unit)
    cols = run.venue.columns()  # numpy columns: no Python tuple per record
    orders = pd.DataFrame(cols["orders"])
    fills = pd.DataFrame(cols["fills"])
    fills["fee"] = fills["fee"].map(float).astype("float64")
    fills["price"] = fills["price_ticks"] * tick
    fills["qty"] = fills["qty_units"] * unit
    quotes = pd.DataFrame(cols["quotes"])
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
    # Fair price (quote currency) at each time: fixed, the rate series' last value, else the
    # last mid at or before it.
    if run.fair_price is not None:
        return np.full(len(ts), float(run.fair_price))
    if run.fair_series:
        st = np.array([t for t, _ in run.fair_series], dtype=np.int64)
        px = np.array([float(p) for _, p in run.fair_series], dtype="float64")
        j = np.searchsorted(st, ts, side="right") - 1
        return np.where(j >= 0, px[np.clip(j, 0, None)], np.nan)
    if not len(bbo):
        return np.full(len(ts), np.nan)
    idx = np.searchsorted(bbo["ts_ns"].to_numpy(), ts, side="right") - 1
    mid = bbo["mid"].to_numpy()
    out = np.where(idx >= 0, mid[np.clip(idx, 0, None)], np.nan)
    return out.astype("float64")


def _mark_name(run: BacktestRun) -> str:
    if run.fair_price is not None:
        return "fixed fair"
    if run.fair_series:
        return "series fair"
    if run.fair_source == "series":
        return "mid (rate series not attached)"
    return "mid"


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


def _fair_steps(run: BacktestRun) -> tuple[np.ndarray[Any, Any], list[Fraction]] | None:
    # The fair value as steps (start times, price in ticks); None for the tape's mid (it is
    # per book row, see _bands) or a series that was not attached.
    tick = Fraction(run.market.tick_size)
    if run.fair_price is not None:
        return np.array([run.start_ns], dtype=np.int64), [Fraction(run.fair_price) / tick]
    if run.fair_series:
        ts = np.array([t for t, _ in run.fair_series], dtype=np.int64)
        return ts, [p / tick for _, p in run.fair_series]
    return None


def _bands(
    run: BacktestRun, bbo: pd.DataFrame, n_bps: int, twice: bool
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]] | None:
    """Steps ``(start ns, lo, hi)``: a price ``x`` is within ±n bps of fair iff lo <= x <= hi.

    ``x`` is a price in ticks, or twice a price (``twice``; the mid is (bid + ask) / 2). Exact:
    integer bounds from the rational fair. Before the first step there is no fair (empty band).
    """
    n = Fraction(n_bps, 10_000)
    k = 2 if twice else 1
    steps = _fair_steps(run)
    if steps is not None:
        ts, fair = steps
        lo = np.array([math.ceil(k * f * (1 - n)) for f in fair], dtype=np.int64)
        hi = np.array([math.floor(k * f * (1 + n)) for f in fair], dtype=np.int64)
        return ts, lo, hi
    if run.fair_source != "mid" or twice:
        return None
    # Fair is the mid m2 / 2: |p - m2/2| <= n m2 / 2  <=>  m2 (1 - n) / 2 <= p <= m2 (1 + n) / 2.
    bb = bbo["best_bid"].to_numpy(np.int64)
    ba = bbo["best_ask"].to_numpy(np.int64)
    valid = (bb > -(1 << 61)) & (ba < (1 << 61))
    m2 = np.where(valid, bb + ba, 0)
    lo = -((-m2 * (10_000 - n_bps)) // 20_000)
    hi = (m2 * (10_000 + n_bps)) // 20_000
    lo = np.where(valid, lo, 1)  # a one-sided book has no mid: an empty band
    hi = np.where(valid, hi, 0)
    return bbo["ts_ns"].to_numpy(np.int64), lo, hi


def _inside_ns(
    steps: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]],
    end: int,
    price: np.ndarray[Any, Any],
    t_a: np.ndarray[Any, Any],
    t_b: np.ndarray[Any, Any],
) -> np.ndarray[Any, Any]:
    """For each k, the ns of ``[t_a[k], t_b[k])`` during which ``price[k]`` is in the band."""
    ts, lo, hi = steps
    out = np.zeros(len(price), dtype=np.int64)
    if not len(ts) or not len(price):
        return out
    seg_end = np.append(ts[1:], max(end, int(ts[-1])))
    for p in np.unique(price).tolist():
        sel = np.flatnonzero(price == p)
        a, b = t_a[sel], t_b[sel]
        # Only the steps these orders overlap: a quote price lives a short while, so the
        # total work stays near (orders alive at once) x (steps).
        j0 = max(int(np.searchsorted(ts, a.min(), side="right")) - 1, 0)
        j1 = max(int(np.searchsorted(ts, b.max(), side="left")), j0 + 1)
        t0, t1 = ts[j0:j1], seg_end[j0:j1]
        inside = (lo[j0:j1] <= p) & (p <= hi[j0:j1])
        cum = np.concatenate(([0], np.cumsum(np.where(inside, t1 - t0, 0))))
        # In-band ns from ts[j0] to each end of each piece (nothing before the first step).
        t = np.maximum(np.concatenate((b, a)), t0[0])
        j = np.clip(np.searchsorted(t0, t, side="right") - 1, 0, len(t0) - 1)
        upto = cum[j] + np.where(inside[j], np.minimum(t, t1[j]) - t0[j], 0)
        out[sel] = upto[: len(b)] - upto[len(b) :]
    return out


def mid_near_fair(run: BacktestRun, bbo: pd.DataFrame) -> tuple[dict[str, float | None], str]:
    """Share of the run's time the tape's mid spent within ±N bps of fair, per N.

    Returns ``({"10bps": share, ...}, note)``. Shares are None (and the note says why) when
    the fair *is* the mid (trivially 100 %, not a measurement) or is unknown. Time without a
    mid (one-sided book) or before the first fair counts as outside.
    """
    keys = [f"{n}bps" for n in BANDS_BPS]
    if run.fair_price is None and not run.fair_series:
        note = (
            "fair is the tape's mid: trivially 100 %, not measured"
            if run.fair_source == "mid"
            else "no fair timeline"
        )
        return dict.fromkeys(keys), note
    start, end = run.start_ns, run.end_ns
    if end <= start or not len(bbo):
        return dict.fromkeys(keys), "empty run"
    bt = bbo["ts_ns"].to_numpy(np.int64)
    bb = bbo["best_bid"].to_numpy(np.int64)
    ba = bbo["best_ask"].to_numpy(np.int64)
    valid = (bb > -(1 << 61)) & (ba < (1 << 61))
    m2 = bb + ba
    out: dict[str, float | None] = {}
    for n_bps, key in zip(BANDS_BPS, keys, strict=True):
        steps = _bands(run, bbo, n_bps, twice=True)
        assert steps is not None  # a fixed or series fair
        fts, lo, hi = steps
        # Piecewise constant on the union of book and fair changes.
        u = np.union1d(bt, fts)
        jb = np.searchsorted(bt, u, side="right") - 1
        jf = np.searchsorted(fts, u, side="right") - 1
        jbc, jfc = np.clip(jb, 0, None), np.clip(jf, 0, None)
        ok = (jb >= 0) & (jf >= 0) & valid[jbc]
        inside = ok & (lo[jfc] <= m2[jbc]) & (m2[jbc] <= hi[jfc])
        edges = np.clip(np.append(u, end), start, end)
        out[key] = float(np.diff(edges)[inside].sum()) / (end - start)
    return out, ""


def _event_in(orders: pd.DataFrame, names: tuple[str, ...]) -> np.ndarray[Any, Any]:
    """Rows of ``orders`` whose event is one of ``names``.

    Comparisons, not ``isin``: pandas' isin on arrow strings walks the column in Python.
    """
    mask = np.zeros(len(orders), dtype=bool)
    for name in names:
        mask |= (orders["event"] == name).to_numpy(dtype=bool)
    return mask


def _order_segments(
    orders: pd.DataFrame, fills: pd.DataFrame, end: int
) -> tuple[np.ndarray[Any, Any], ...]:
    """Our resting orders as constant pieces ``(side, price, units, from, to)``.

    From the venue's records: an order rests from its acceptance with its size, each fill
    takes its quantity off, an amend what it gave back, a cancel or an expiry the rest; what
    is left rests to the end of the run.
    """
    acc = orders[orders["event"] == "accepted"]
    if acc["client_id"].duplicated().any():
        raise ValueError("results: an order id was accepted twice; depth would be wrong")
    where = acc.set_index("client_id")
    can = orders[_event_in(orders, ("canceled", "amended", "expired"))]
    ev = pd.DataFrame(
        {
            "client_id": pd.concat([acc["client_id"], fills["client_id"], can["client_id"]]),
            "ts_ns": pd.concat([acc["ts_ns"], fills["ts_ns"], can["ts_ns"]]).astype(np.int64),
            "rank": np.repeat([0, 1, 2], [len(acc), len(fills), len(can)]),
            "delta": pd.concat([acc["qty_units"], -fills["qty_units"], -can["qty_units"]]).astype(
                np.int64
            ),
        }
    )
    ev["order"] = where.index.get_indexer(ev["client_id"])
    unknown = ev["order"] < 0
    if unknown.any():
        raise ValueError(f"results: {int(unknown.sum())} fills/cancels of orders never accepted")
    ev = ev.sort_values(["order", "ts_ns", "rank"], kind="mergesort")
    order = ev["order"].to_numpy(np.int64)
    ts = ev["ts_ns"].to_numpy(np.int64)
    units = ev.groupby("order", sort=False)["delta"].cumsum().to_numpy(np.int64)
    last = np.append(order[1:] != order[:-1], True)
    to = np.where(last, np.maximum(end, ts), np.append(ts[1:], 0))
    keep = (units > 0) & (to > ts)
    ix = order[keep]
    return (
        where["side"].to_numpy(np.int64)[ix],
        where["price_ticks"].to_numpy(np.int64)[ix],
        units[keep],
        ts[keep],
        to[keep],
    )


def depth_near_fair(
    run: BacktestRun, orders: pd.DataFrame, fills: pd.DataFrame, bbo: pd.DataFrame
) -> dict[str, float | None]:
    """Time-weighted size of ALL our resting orders within ±N bps of fair, in base units.

    Keys ``{N}bps_bid_base``, ``{N}bps_ask_base`` and ``{N}bps_base`` (both sides), averaged
    over the run's span; an order counts while its price is within the band of the fair at
    that time (fixed, rate series, or the tape's mid). None without a fair timeline. Exact in
    time (integer ns per band crossing); the sizes are summed in float64.
    """
    unit = float(run.market.qty_unit)
    out: dict[str, float | None] = {}
    start, end = run.start_ns, run.end_ns
    segs = _order_segments(orders, fills, end) if len(orders) else None
    for n_bps in BANDS_BPS:
        steps = _bands(run, bbo, n_bps, twice=False)
        names = [f"{n_bps}bps_bid_base", f"{n_bps}bps_ask_base", f"{n_bps}bps_base"]
        if steps is None:
            out.update(dict.fromkeys(names))
            continue
        if segs is None or end <= start:
            out.update(dict.fromkeys(names, 0.0))
            continue
        side, price, units, t_a, t_b = segs
        ns = _inside_ns(steps, end, price, t_a, t_b)
        weighted = units.astype("float64") * ns.astype("float64")
        bid = float(weighted[side > 0].sum()) / (end - start) * unit
        ask = float(weighted[side < 0].sum()) / (end - start) * unit
        out.update(zip(names, (bid, ask, bid + ask), strict=True))
    return out


def scorecard_events(run: BacktestRun, t: dict[str, pd.DataFrame]) -> list[Event]:
    """The run's records as the scorecard's event stream (:func:`events_from_records`)."""
    steps = _fair_steps(run)
    fair = list(zip(steps[0].tolist(), steps[1], strict=True)) if steps is not None else []
    o = t["orders"]
    o = o[_event_in(o, ORDER_EVENTS)]  # half the records are requests it would skip
    orders = zip(*(o[c].tolist() for c in ORDER_COLUMNS), strict=True)
    f = t["fills"]
    fills = zip(*(f[c].tolist() for c in FILL_COLUMNS), strict=True)
    bbo = (run.bbo[0].tolist(), run.bbo[1].tolist(), run.bbo[2].tolist())
    return events_from_records(orders, fills, bbo, fair, run.initial.base_units)


def scorecard(run: BacktestRun, t: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """The run's peg scorecard (:mod:`pegbot.scorecard`) from the venue's order records."""
    return score(run.market, scorecard_events(run, t), run.start_ns, run.end_ns).figures()


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
            idx = np.searchsorted(bt, ft + h * NS_PER_S, side="right") - 1
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
    near, near_note = mid_near_fair(run, bbo)
    depth = depth_near_fair(run, orders, fills, bbo)
    reconciled = run.local.base_units == acct.base_units and run.local.cash_tu == acct.cash_tu
    return {
        "events": run.events,
        "wall_s": round(run.wall_s, 4),
        "events_per_s": round(run.events / run.wall_s, 1) if run.wall_s > 0 else None,
        "evaluations": run.evaluations,
        # The replay split in two: the compiled core, and the Python around the decisions.
        "core_s": round(run.core_s, 4),
        "decision_us": (
            round((run.wall_s - run.core_s) / run.evaluations * 1e6, 2) if run.evaluations else None
        ),
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
        "mark": _mark_name(run),
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
        "mid_near_fair_note": near_note,
        "our_depth_near_fair": depth,
        "scorecard": scorecard(run, t),
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

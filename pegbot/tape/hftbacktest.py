"""hftbacktest ``.npz`` ↔ tape, so the same data can be cross-checked in hftbacktest.

hftbacktest (2.4) stores events as a numpy structured array (``event_dtype``: ``ev`` flags,
``exch_ts``, ``local_ts``, ``px`` and ``qty`` as float64, ``order_id``, ``ival``, ``fval``)
under the key ``data`` of an ``.npz``. Each event carries ``EXCH_EVENT`` and/or
``LOCAL_EVENT``: the exchange-side processor reads the ``EXCH`` events in ``exch_ts`` order and
the strategy side the ``LOCAL`` events in ``local_ts`` order.

Tape → npz:

* ``CLEAR`` → ``DEPTH_CLEAR_EVENT`` with no side flag (hftbacktest clears both sides),
  ``SNAPSHOT`` → ``DEPTH_SNAPSHOT_EVENT``, ``DIFF`` → ``DEPTH_EVENT``, ``TRADE`` →
  ``TRADE_EVENT``; side +1/-1 → ``BUY_EVENT``/``SELL_EVENT``.
* Prices and sizes become floats (``ticks × tick_size``, ``units × 10**-qty_decimals``).
* ``update_id`` goes to ``order_id`` and ``first_update_id`` to ``ival`` (hftbacktest ignores
  both for L2 events), so the round trip back to a tape is exact.
* A row without exchange time (``exch_ts == 0``, e.g. a spot REST snapshot) gets the
  exchange time of the row before it (or after it, at the start) and ``fval = 1`` marks that;
  reading the npz back restores 0.
* Where exchange order and local order disagree, a row is written twice (once ``EXCH``, once
  ``LOCAL``), as hftbacktest's own ``correct_event_order`` does; rows on which both orders
  agree are written once with both flags.

npz → tape: the ``LOCAL`` events in file order (all events by ``local_ts`` if no flags are
set). hftbacktest clears one side "up to a price" before a snapshot; a tape ``CLEAR`` empties
both sides, so the clears of one snapshot block (same ``local_ts``) collapse into one. Prices
and sizes must land on the given grid (within float rounding) or the conversion fails with the
row number. Event kinds a tape does not hold (BBO, L3, custom) are counted and skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pegbot.market import Market
from pegbot.tape.reader import Array, Columns, TapeReader
from pegbot.tape.schema import CLEAR, DIFF, SNAPSHOT, TRADE, TapeMeta
from pegbot.tape.writer import TapeWriter

# hftbacktest 2.4 constants (hftbacktest/types.py); kept here so that exporting does not
# need the package, and checked against it in the tests.
DEPTH_EVENT = 1
TRADE_EVENT = 2
DEPTH_CLEAR_EVENT = 3
DEPTH_SNAPSHOT_EVENT = 4
EXCH_EVENT = 1 << 31
LOCAL_EVENT = 1 << 30
BUY_EVENT = 1 << 29
SELL_EVENT = 1 << 28

#: hftbacktest's ``event_dtype`` (64 bytes, aligned).
EVENT_DTYPE = np.dtype(
    [
        ("ev", "u8"),
        ("exch_ts", "i8"),
        ("local_ts", "i8"),
        ("px", "f8"),
        ("qty", "f8"),
        ("order_id", "u8"),
        ("ival", "i8"),
        ("fval", "f8"),
    ],
    align=True,
)

_KIND_TO_EV = np.zeros(256, dtype=np.uint64)
_KIND_TO_EV[CLEAR] = DEPTH_CLEAR_EVENT
_KIND_TO_EV[SNAPSHOT] = DEPTH_SNAPSHOT_EVENT
_KIND_TO_EV[DIFF] = DEPTH_EVENT
_KIND_TO_EV[TRADE] = TRADE_EVENT

_EV_TO_KIND = {
    DEPTH_EVENT: DIFF,
    TRADE_EVENT: TRADE,
    DEPTH_CLEAR_EVENT: CLEAR,
    DEPTH_SNAPSHOT_EVENT: SNAPSHOT,
}


class NpzError(ValueError):
    """An npz that cannot be turned into a tape without guessing."""


def _fill_exch(exch: Array, local: Array) -> tuple[Array, Array]:
    """Exchange times with zeros filled from neighbours; and the mask of filled rows."""
    missing = exch == 0
    if not bool(missing.any()):
        return exch, missing
    have = np.flatnonzero(~missing)
    if len(have) == 0:
        return local.copy(), missing
    # Index of the last row at or before each row that has a time (forward fill) ...
    pos = np.maximum.accumulate(np.where(missing, 0, np.arange(len(exch))))
    filled = exch[pos]
    # ... and rows before the first timed row take the first time (backward fill).
    filled[: have[0]] = exch[have[0]]
    return filled, missing


def columns_to_events(cols: Columns, meta: TapeMeta) -> Array:
    """Tape columns (sorted by ``local_ts``) → hftbacktest events, flagged and ordered."""
    n = len(cols["kind"])
    exch, filled = _fill_exch(cols["exch_ts"], cols["local_ts"])
    base = _KIND_TO_EV[cols["kind"]]
    side = cols["side"]
    base = base | np.where(
        side > 0, np.uint64(BUY_EVENT), np.where(side < 0, np.uint64(SELL_EVENT), np.uint64(0))
    )
    ev = np.zeros(n, dtype=EVENT_DTYPE)
    ev["exch_ts"] = exch
    ev["local_ts"] = cols["local_ts"]
    ev["px"] = cols["price"] * float(meta.tick_size)
    ev["qty"] = cols["qty"] * (10.0**-meta.qty_decimals)
    ev["order_id"] = cols["update_id"].astype(np.uint64)
    ev["ival"] = cols["first_update_id"]
    ev["fval"] = filled.astype(np.float64)

    order = np.argsort(exch, kind="stable")
    idx = np.arange(n)
    # Row i may carry both flags when the first i+1 rows are the same set in both orders.
    both = (order == idx) & (np.maximum.accumulate(order) == idx)
    local_ev = ev.copy()
    local_ev["ev"] = base | np.where(
        both, np.uint64(EXCH_EVENT | LOCAL_EVENT), np.uint64(LOCAL_EVENT)
    )
    exch_only = order[~both[order]]
    exch_pos = np.flatnonzero(~both[order])
    exch_ev = ev[exch_only]
    exch_ev["ev"] = base[exch_only] | np.uint64(EXCH_EVENT)
    # Merge: a LOCAL copy of row i sorts at i, an EXCH copy at its position in exchange
    # order; both subsequences stay sorted on their own clocks.
    keys = np.concatenate([idx, exch_pos])
    merged = np.concatenate([local_ev, exch_ev])
    out: Array = merged[np.argsort(keys, kind="stable")]
    return out


def tape_to_npz(tape: str | Path, out: str | Path) -> int:
    """Write a tape as an hftbacktest ``.npz`` (key ``data``); return the event count."""
    reader = TapeReader(tape)
    events = columns_to_events(reader.read_all(), reader.meta)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as fh:
        np.savez_compressed(fh, data=events)
    return len(events)


def _to_grid(values: Array, unit: float, what: str, rows: Array) -> Array:
    scaled = values / unit
    units = np.rint(scaled)
    bad = np.abs(scaled - units) > 1e-6 + 1e-9 * np.abs(units)
    if bool(bad.any()):
        i = int(np.flatnonzero(bad)[0])
        raise NpzError(
            f"event row {int(rows[i])}: {what} {values[i]!r} is not a multiple of {unit!r}"
        )
    out: Array = units.astype(np.int64)
    return out


def events_to_columns(data: Array, market: Market) -> tuple[Columns, dict[str, Any]]:
    """Hftbacktest events → tape columns and the conversion counts.

    Raises:
        NpzError: A price or size off the market's grid, or events out of local order.
    """
    ev = data["ev"].astype(np.uint64)
    flagged = (ev & np.uint64(LOCAL_EVENT)) != 0
    if bool(flagged.any()):
        rows = np.flatnonzero(flagged)
    else:
        rows = np.argsort(data["local_ts"], kind="stable")
    sel = data[rows]
    code = (sel["ev"].astype(np.uint64) & np.uint64(0xFF)).astype(np.int64)
    known = np.isin(code, list(_EV_TO_KIND))
    stats: dict[str, Any] = {"converter": "hftbacktest-npz", "events": len(data)}
    skipped: dict[str, int] = {}
    for c in np.unique(code[~known]):
        skipped[f"event_{int(c)}"] = int((code[~known] == c).sum())
    sel, code, rows = sel[known], code[known], rows[known]
    kind = np.zeros(len(sel), dtype=np.uint8)
    for evc, k in _EV_TO_KIND.items():
        kind[code == evc] = k
    flags = sel["ev"].astype(np.uint64)
    side = np.where(
        (flags & np.uint64(BUY_EVENT)) != 0,
        1,
        np.where((flags & np.uint64(SELL_EVENT)) != 0, -1, 0),
    ).astype(np.int8)
    local = sel["local_ts"].astype(np.int64)
    if bool((local[1:] < local[:-1]).any()):
        raise NpzError("LOCAL events are not in local_ts order")
    # One tape CLEAR per snapshot block: later clears of the same block are dropped.
    keep = np.ones(len(sel), dtype=bool)
    last_clear = -1
    for c in np.flatnonzero(kind == CLEAR).tolist():
        if last_clear >= 0 and local[c] == local[last_clear]:
            between = kind[last_clear + 1 : c]
            if bool(np.isin(between, [CLEAR, SNAPSHOT]).all()):
                keep[c] = False
                continue
        last_clear = c
    stats["merged_clears"] = int((~keep).sum())
    sel, kind, side, local, rows = sel[keep], kind[keep], side[keep], local[keep], rows[keep]
    is_clear = kind == CLEAR
    price = _to_grid(np.where(is_clear, 0.0, sel["px"]), float(market.tick_size), "price", rows)
    qty = _to_grid(np.where(is_clear, 0.0, sel["qty"]), float(market.qty_unit), "qty", rows)
    exch = sel["exch_ts"].astype(np.int64)
    exch = np.where(sel["fval"] == 1.0, 0, exch)
    cols: Columns = {
        "exch_ts": exch,
        "local_ts": local,
        "kind": kind,
        "side": np.where(is_clear, 0, side).astype(np.int8),
        "price": price,
        "qty": qty,
        "first_update_id": sel["ival"].astype(np.int64),
        "update_id": sel["order_id"].astype(np.int64),
    }
    stats["skipped"] = skipped
    stats["rows"] = len(kind)
    return cols, stats


def npz_to_tape(
    inputs: list[str | Path],
    out: str | Path,
    market: Market,
    progress: Callable[[int, int], None] | None = None,
) -> TapeMeta:
    """Convert hftbacktest ``.npz`` files (in order) to one tape.

    ``progress`` is called with (input bytes converted, input bytes) after each file.
    """
    total = sum(Path(p).stat().st_size for p in inputs)
    done = 0
    meta = TapeMeta(
        exchange="",
        symbol=market.symbol,
        tick_size=market.tick_size,
        lot_size=market.lot_size,
        qty_decimals=market.qty_decimals,
        source=",".join(Path(p).name for p in inputs),
    )
    totals: dict[str, Any] = {"converter": "hftbacktest-npz", "rows": 0, "skipped": {}}
    with TapeWriter(out, meta) as writer:
        for path in inputs:
            with np.load(path) as npz:
                if "data" not in npz:
                    raise NpzError(f"{path}: no 'data' array (not an hftbacktest npz)")
                data = npz["data"]
            cols, stats = events_to_columns(data, market)
            writer.write(cols)
            totals["rows"] += stats["rows"]
            for k, v in stats["skipped"].items():
                totals["skipped"][k] = totals["skipped"].get(k, 0) + v
            totals["merged_clears"] = totals.get("merged_clears", 0) + stats["merged_clears"]
            done += Path(path).stat().st_size
            if progress is not None:
                progress(done, total)
        writer.meta.stats.update(totals)
    return writer.meta

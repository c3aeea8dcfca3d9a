"""What ``pegbot tape info`` and ``pegbot tape book`` show, as plain dicts (JSON-ready)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pegbot.tape.reader import TapeReader
from pegbot.tape.replay import replay
from pegbot.tape.schema import CLEAR, DIFF, SNAPSHOT, TRADE


def tape_info(path: str | Path) -> dict[str, Any]:
    """Row counts by kind, time span, grid and the converter's counts (gaps, skips, latency)."""
    reader = TapeReader(path)
    counts = np.zeros(256, dtype=np.int64)
    for cols in reader.iter_batches(["kind"]):
        counts += np.bincount(cols["kind"], minlength=256)
    start, end = reader.time_range()
    meta = reader.meta
    stats = meta.stats
    return {
        "path": str(path),
        "rows": reader.num_rows,
        "depth_rows": int(counts[SNAPSHOT] + counts[DIFF]),
        "diff_rows": int(counts[DIFF]),
        "snapshot_rows": int(counts[SNAPSHOT]),
        "trade_rows": int(counts[TRADE]),
        "clear_rows": int(counts[CLEAR]),
        "gaps": int(stats.get("gaps", 0)),
        "skipped": dict(stats.get("skipped", {})),
        "never_synced": bool(stats.get("never_synced", False)),
        "nonmonotonic_local_ts": int(stats.get("nonmonotonic_local_ts", 0)),
        "unknown_streams": dict(stats.get("unknown_streams", {})),
        "feed_latency_ms": dict(stats.get("feed_latency_ms", {})),
        "start_ns": start,
        "end_ns": end,
        "exchange": meta.exchange,
        "symbol": meta.symbol,
        "tick_size": str(meta.tick_size),
        "lot_size": str(meta.lot_size),
        "qty_decimals": meta.qty_decimals,
        "source": meta.source,
        "row_groups": reader.num_row_groups,
        "stats": stats,
    }


def book_at(path: str | Path, at_ns: int, depth: int) -> dict[str, Any]:
    """The book after every row with ``local_ts <= at_ns``; prices and sizes as strings."""
    book, rep, meta = replay(path, until_ns=at_ns)
    market = meta.market()
    return {
        "bids": [[market.format_price(t), market.format_qty(q)] for t, q in book.top(1, depth)],
        "asks": [[market.format_price(t), market.format_qty(q)] for t, q in book.top(-1, depth)],
        "update_id": book.update_id,
        "local_ts": book.local_ts,
        "exch_ts": book.exch_ts,
        "synced": rep.synced,
        "crossed": book.is_crossed,
    }

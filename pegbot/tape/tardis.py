"""Tardis.dev CSV (``incremental_book_L2`` and ``trades``, plain or ``.gz``) → tape.

Columns, per Tardis's documentation:

* ``incremental_book_L2``: ``exchange,symbol,timestamp,local_timestamp,is_snapshot,side,
  price,amount`` — ``timestamp`` (exchange) and ``local_timestamp`` in µs since the epoch,
  ``side`` ``bid``/``ask``, ``amount`` the absolute level size (0 removes). A run of
  ``is_snapshot=true`` rows after non-snapshot rows is a new snapshot: the book resets.
* ``trades``: ``exchange,symbol,timestamp,local_timestamp,id,side,price,amount`` — ``side``
  is the aggressor (``buy``/``sell``, or ``unknown``).

Both files are merged by ``local_timestamp``, trades first on a tie: a depth update that
reflects a trade must come after it, or a queue model counts the fill twice. Tardis has no
update ids, so depth rows carry 0 (a trade keeps its id when numeric). A new snapshot writes a
``CLEAR`` row first. A decreasing local timestamp is raised to the previous one and counted;
an off-grid price is an error naming ``file:line``; rows of another symbol, an unknown side or
an unparsable number are counted skips.
"""

from __future__ import annotations

import csv
import gzip
import heapq
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from pegbot.market import Market, MarketError, OffGridError
from pegbot.tape.schema import CLEAR, DIFF, SNAPSHOT, TRADE, TapeMeta
from pegbot.tape.writer import TapeWriter

BOOK_COLUMNS = [
    "exchange",
    "symbol",
    "timestamp",
    "local_timestamp",
    "is_snapshot",
    "side",
    "price",
    "amount",
]
TRADE_COLUMNS = [
    "exchange",
    "symbol",
    "timestamp",
    "local_timestamp",
    "id",
    "side",
    "price",
    "amount",
]

_SIDES = {"bid": 1, "buy": 1, "ask": -1, "sell": -1}


class TardisError(ValueError):
    """A Tardis file that cannot be converted; the message names ``file:line``."""


def _open(path: Path) -> TextIO:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


# A parsed row: (local_us, priority, lineno, path, fields). Trades sort before depth.
_Row = tuple[int, int, int, str, list[str]]


def _stored_position(fh: TextIO) -> int:
    # Bytes of the file as stored read so far (a GzipFile reads from its .fileobj); the text
    # layer reads ahead, so this runs a chunk ahead of the rows: fine for progress.
    binary = fh.buffer
    return int(getattr(binary, "fileobj", binary).tell())


def _rows(
    path: Path, priority: int, skipped: dict[str, int], read: dict[str, int] | None = None
) -> Iterator[_Row]:
    with _open(path) as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        expected = TRADE_COLUMNS if priority == 0 else BOOK_COLUMNS
        if header != expected:
            raise TardisError(f"{path}:1: expected header {','.join(expected)}, got {header}")
        for lineno, fields in enumerate(reader, start=2):
            if read is not None and lineno % 16_384 == 0:
                read[str(path)] = _stored_position(fh)
            if len(fields) != len(expected):
                skipped["malformed"] += 1
                continue
            try:
                local = int(fields[3])
            except ValueError:
                skipped["bad_timestamp"] += 1
                continue
            yield local, priority, lineno, str(path), fields


def _kind_of(path: Path) -> int:
    with _open(path) as fh:
        header = fh.readline().strip().split(",")
    if header == TRADE_COLUMNS:
        return 0
    if header == BOOK_COLUMNS:
        return 1
    raise TardisError(f"{path}:1: not a Tardis incremental_book_L2 or trades CSV: {header}")


def convert_tardis(
    inputs: list[str | Path],
    out: str | Path,
    market: Market,
    progress: Callable[[int, int], None] | None = None,
) -> TapeMeta:
    """Convert Tardis CSV files (book and/or trades, any order) of one symbol to a tape.

    ``progress`` is called with (input bytes read, input bytes) as rows are written.

    Raises:
        TardisError: A bad header or an off-grid price (named ``file:line``).
    """
    paths = [Path(p) for p in inputs]
    skipped: dict[str, int] = dict.fromkeys(
        ("malformed", "bad_timestamp", "other_symbol", "bad_side", "bad_number"), 0
    )
    read = dict.fromkeys(map(str, paths), 0)  # bytes read of each file, for progress
    total = sum(p.stat().st_size for p in paths)
    streams = [_rows(p, _kind_of(p), skipped, read) for p in paths]
    meta = TapeMeta(
        exchange="tardis",
        symbol=market.symbol,
        tick_size=market.tick_size,
        lot_size=market.lot_size,
        qty_decimals=market.qty_decimals,
        source=",".join(p.name for p in paths),
    )
    symbol = market.exchange_symbol.upper()
    cols: dict[str, list[int]] = {k: [] for k in _COLS}
    counts = {"rows": 0, "snapshots": 0, "trades": 0, "unknown_side_trades": 0}
    nonmono = 0
    last_local = -(1 << 63)
    in_snapshot = False
    with TapeWriter(out, meta) as writer:
        for local_us, prio, lineno, name, f in heapq.merge(*streams):
            if f[1].upper() != symbol:
                skipped["other_symbol"] += 1
                continue
            try:
                exch = int(f[2]) * 1_000
                price = market.price_to_ticks(f[6])
                qty = market.qty_to_units(f[7])
            except OffGridError as exc:
                raise TardisError(f"{name}:{lineno}: {exc}") from exc
            except (MarketError, ValueError):
                skipped["bad_number"] += 1
                continue
            local = local_us * 1_000
            if local < last_local:
                nonmono += 1
                local = last_local
            last_local = local
            if prio == 0:
                side = _SIDES.get(f[5], 0)
                if side == 0:
                    counts["unknown_side_trades"] += 1
                tid = int(f[4]) if f[4].isdigit() else 0
                _add(cols, exch, local, TRADE, side, price, qty, 0, tid)
                counts["trades"] += 1
                continue
            side = _SIDES.get(f[5], 0)
            if side == 0:
                skipped["bad_side"] += 1
                continue
            if f[4] == "true":
                if not in_snapshot:
                    in_snapshot = True
                    counts["snapshots"] += 1
                    _add(cols, exch, local, CLEAR, 0, 0, 0, 0, 0)
                _add(cols, exch, local, SNAPSHOT, side, price, qty, 0, 0)
            else:
                in_snapshot = False
                _add(cols, exch, local, DIFF, side, price, qty, 0, 0)
            if len(cols["kind"]) >= 1 << 18:
                counts["rows"] += len(cols["kind"])
                writer.write(cols)
                cols = {k: [] for k in _COLS}
                if progress is not None:
                    progress(sum(read.values()), total)
        counts["rows"] += len(cols["kind"])
        writer.write(cols)
        if progress is not None:
            progress(total, total)
        stats: dict[str, Any] = {
            "converter": "tardis",
            **counts,
            "gaps": 0,
            "skipped": skipped,
            "nonmonotonic_local_ts": nonmono,
        }
        writer.meta.stats.update(stats)
    return writer.meta


_COLS = (
    "exch_ts",
    "local_ts",
    "kind",
    "side",
    "price",
    "qty",
    "first_update_id",
    "update_id",
)


def _add(
    cols: dict[str, list[int]],
    exch: int,
    local: int,
    kind: int,
    side: int,
    price: int,
    qty: int,
    fid: int,
    uid: int,
) -> None:
    for name, value in zip(_COLS, (exch, local, kind, side, price, qty, fid, uid), strict=True):
        cols[name].append(value)

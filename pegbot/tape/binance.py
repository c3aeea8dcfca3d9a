"""Binance raw recordings (``<local_ts> <json>`` lines) → tape, through the one BookSync.

What goes in: the combined-stream envelope (``{"stream": ..., "data": ...}``) or plain
messages, spot or USD-M/COIN-M futures, local timestamps in ns or µs, REST depth snapshots
on their own lines. Files of one series are converted in order with the sync state carried
across, so a day boundary is not a gap.

What comes out, and the decisions behind it:

* **Only what the sync accepts.** Each ``depthUpdate`` goes through
  :class:`~pegbot.feeds.sync.BookSync`; rows are written only for the events it returns. A
  gap writes a ``CLEAR`` row and diffs are dropped until the next snapshot re-seeds the book.
  Diffs that never meet a snapshot (a file that starts mid-stream) are counted as
  ``skipped.depth_before_snapshot`` and ``never_synced`` is set: reported, not an error.
* **Time order.** Rows are in local receive order. Diffs buffered before a snapshot are
  written right after the snapshot rows with the snapshot's ``local_ts`` (that is when the
  book they belong to became known); their ``exch_ts`` is kept. A local timestamp lower than
  the one before it is raised to it and counted (``nonmonotonic_local_ts``). The local clock
  may be behind the exchange by seconds (it is, in the public 2024 files): nothing here
  assumes ``local_ts >= exch_ts``; the difference is reported as feed latency.
* **Off-grid prices are an error** (:class:`ConvertError` naming ``file:line``) for depth
  rows: skipping one level could leave a level on the book that the venue removed, and a
  wrong ``--tick-size`` would otherwise produce a silently wrong tape. An off-grid trade
  price is a counted skip (``skipped.off_grid_trade``): trades never touch the book.
* **Tolerated and counted:** a truncated gzip stream, a torn last line, non-JSON lines,
  lines without a timestamp, unknown streams (per name in ``unknown_streams``), other
  symbols, malformed messages, error replies, snapshots older than the buffer.
* ``bookTicker`` messages are not stored; they can be collected for checking the replayed
  book (see :func:`pegbot.tape.replay.check_book_tickers`).

Speed: with numba installed, the common lines (bookTicker, compact depth and trade
messages) are read by a compiled scanner (:mod:`pegbot.tape.binance_scan`, driven by
:mod:`pegbot.tape.binance_fast`); every line it declines goes to the exact per-line methods
of :mod:`pegbot.tape.binance_lines`, which are the reference. On that path each distinct
decimal string is converted once (exactly, through :class:`~pegbot.market.Market`) and then
looked up; message fields are repeated with numpy at flush time.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pegbot.market import Market
from pegbot.tape import binance_scan as _scan
from pegbot.tape.binance_fast import convert_fast
from pegbot.tape.binance_lines import SKIP_REASONS, ConvertError, LineConverter
from pegbot.tape.rawlines import RawCounters, iter_line_blocks
from pegbot.tape.schema import TapeMeta
from pegbot.tape.writer import TapeWriter

__all__ = ["SKIP_REASONS", "BinanceRawConverter", "ConvertError", "convert_binance_raw"]

# Files from this size on take the compiled scanner by default.
_FAST_MIN_BYTES = 1 << 20


class BinanceRawConverter(LineConverter):
    """Convert one or more raw files of one series to a tape.

    Args:
        market: The symbol and its grid (``tick_size``, ``qty_decimals``).
        writer: Where rows go; None to only count (benchmarks, dry runs).
        futures: Force futures (True) or spot (False) sync rules; None detects them from
            the data (``pu`` in diffs, ``T`` in snapshots).
        collect_tickers: Keep ``bookTicker`` tops in :attr:`tickers` for checks.
        chunk_rows: Rows gathered before they are handed to the writer.
        fast: Use the compiled scanner (:mod:`pegbot.tape.binance_scan`) for the common
            lines. None (default): when numba is installed, for files of at least 1 MiB
            (the first use compiles it, a few seconds, then cached; small files are quicker
            without). False forces the pure-Python path. Both give the same tape and stats.
        progress: Called with (input bytes read, input bytes in all files) as blocks are
            converted, by :meth:`convert_files`.
    """

    def __init__(
        self,
        market: Market,
        writer: TapeWriter | None = None,
        futures: bool | None = None,
        collect_tickers: bool = False,
        chunk_rows: int = 1 << 18,
        fast: bool | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        super().__init__(market, writer, futures, collect_tickers, chunk_rows)
        self.progress = progress
        self._bytes_done = 0  # of the files before this one
        self._bytes_total = 0
        # The compiled scanner needs numba, grids of 10**-d and an ASCII symbol.
        self._auto = fast is None
        self._fast = (
            (fast if fast is not None else _scan.AVAILABLE)
            and _scan.AVAILABLE
            and self._pdec is not None
            and self._qdec is not None
            and self.symbol.isascii()
        )

    # -- driving --------------------------------------------------------------------------

    def convert_files(self, paths: Iterable[str | Path]) -> dict[str, Any]:
        """Convert files in order (one series) and return the stats."""
        files = [Path(p) for p in paths]
        self._bytes_total = sum(f.stat().st_size for f in files)
        for f in files:
            self.convert_file(f)
            self._bytes_done += f.stat().st_size
        return self.finish()

    def _report(self, rc: RawCounters) -> None:
        # After each block: bytes read of the files so far, of all the files.
        if self.progress is not None:
            self.progress(self._bytes_done + rc.bytes_in, self._bytes_total)

    def convert_file(self, path: str | Path) -> None:
        """Convert one file, continuing the state left by the previous one."""
        # Parsed messages hold no reference cycles, but millions of young objects make the
        # cyclic collector rescan the buffered ones again and again; pause it meanwhile.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._convert_file(path)
        finally:
            if was_enabled:
                gc.enable()

    def _convert_file(self, path: str | Path) -> None:
        self._path = str(path)
        rc = RawCounters()
        if self._fast and (not self._auto or Path(path).stat().st_size >= _FAST_MIN_BYTES):
            convert_fast(self, path, rc)
        else:
            self._convert_slow(path, rc)
        self.skipped["truncated_gzip"] += rc.truncated_gzip
        self.skipped["corrupt_gzip"] += rc.corrupt_gzip
        self.files.append(
            {
                "path": Path(path).name,
                "lines": rc.lines,
                "truncated_gzip": rc.truncated_gzip,
                "corrupt_gzip": rc.corrupt_gzip,
            }
        )

    def _convert_slow(self, path: str | Path, rc: RawCounters) -> None:
        # The reference path: every line through orjson and the message methods.
        for base, lines, last_complete in iter_line_blocks(path, rc):
            self._lines(lines, base, last_complete)
            self._report(rc)
            if len(self._price) >= self.chunk_rows:
                self._flush()
            rc.lines += len(lines)


def convert_binance_raw(
    inputs: Iterable[str | Path],
    out: str | Path,
    market: Market,
    futures: bool | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TapeMeta:
    """Convert raw files of one series to a tape file; return the metadata written.

    ``progress`` is called with (input bytes read, input bytes) as the files are converted.

    Raises:
        ConvertError: Input that cannot be converted without guessing (named ``file:line``).
    """
    paths = [Path(p) for p in inputs]
    meta = TapeMeta(
        exchange="binance",
        symbol=market.symbol,
        tick_size=market.tick_size,
        lot_size=market.lot_size,
        qty_decimals=market.qty_decimals,
        source=",".join(p.name for p in paths),
    )
    with TapeWriter(out, meta) as writer:
        conv = BinanceRawConverter(market, writer, futures=futures, progress=progress)
        stats = conv.convert_files(paths)
        writer.meta.stats.update(stats)
    return writer.meta

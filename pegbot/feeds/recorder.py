"""The raw recorder behind ``pegbot record``: every message the venue sent, losslessly, to gzip.

Layout (the layout of the public hftbacktest collectors, which the tape converter reads):
one line per message, ``<local_receive_ns> <message>`` ending in a line feed; ``<message>`` is
the bytes of the WebSocket frame as received (the combined-stream envelope
``{"stream":..,"data":..}``) or the body of a REST depth snapshot
(``{"lastUpdateId":..,"bids":..,"asks":..}``).

Files rotate every UTC hour by the local receive time of the message:
``<symbol>_<YYYYMMDD>_<HH>.gz`` (``kgstusdt_20260722_13.gz`` holds 13:00:00-13:59:59.999).
A recorder restarted within an hour whose file exists starts a new one, ``<symbol>_<YYYYMMDD>_
<HH>_<NN>.gz`` with ``NN`` = 01, 02, ...; these names sort in time order. A file never
receives a second gzip member after a crash, so a torn member is always the file's last.

Durability: the gzip stream is flushed with ``Z_SYNC_FLUSH`` (and the file handed to the OS)
at least every ``flush_interval`` of the injected clock, so a killed process loses at most
that much; the last line may then be torn, which readers (:mod:`pegbot.tape.rawlines`)
tolerate. A clean close writes the gzip trailer.

The only change ever made to a message: line breaks inside it (JSON whitespace between
tokens; a raw line break cannot occur inside a JSON string) become spaces, so one message
stays one line. Each such message is counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from pegbot.feeds.binance import BinanceFeed, FeedConfig
from pegbot.logging import event_log
from pegbot.market import Market

log = event_log("pegbot.feeds.recorder")

HOUR_NS = 3_600_000_000_000
_LINE_BREAKS = bytes.maketrans(b"\r\n", b"  ")


def hour_file_name(symbol: str, hour_index: int, seq: int = 0) -> str:
    """The file name of the UTC hour ``hour_index`` (= local_ns // 3600e9) for ``symbol``."""
    stamp = datetime.fromtimestamp(hour_index * 3600, tz=UTC).strftime("%Y%m%d_%H")
    suffix = f"_{seq:02d}" if seq else ""
    return f"{symbol.lower()}_{stamp}{suffix}.gz"


@dataclass
class RecorderCounters:
    """What the recorder wrote; exported as ``pegbot_recorder_*`` metrics."""

    lines: int = 0
    bytes: int = 0
    files: int = 0
    flushes: int = 0
    line_breaks_replaced: int = 0
    last_write_ns: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return dict(self.__dict__)


class RawRecorder:
    """Writes ``<local_ns> <message>`` lines to hourly gzip files.

    Synchronous and clock-free: the caller passes each message's local time, and calls
    :meth:`tick` with the current time so quiet periods are flushed too.

    Args:
        out_dir: Directory of the files (created if missing).
        symbol: Venue symbol used in file names (``kgstusdt``).
        flush_interval_ns: Longest time written data may sit in memory.
        compresslevel: gzip level (6 is a fair trade of CPU for size at a few messages/s).
    """

    def __init__(
        self,
        out_dir: str | Path,
        symbol: str,
        *,
        flush_interval_ns: int = 500_000_000,
        compresslevel: int = 6,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.symbol = symbol.replace("/", "").lower()
        self.flush_interval_ns = flush_interval_ns
        self.compresslevel = compresslevel
        self.counters = RecorderCounters()
        self.paths: list[Path] = []
        self._hour: int | None = None
        self._raw: IO[bytes] | None = None
        self._gz: gzip.GzipFile | None = None
        self._dirty = False
        self._last_flush_ns = 0
        self.out_dir.mkdir(parents=True, exist_ok=True)

    @property
    def current_path(self) -> Path | None:
        """The file being written, if any."""
        return self.paths[-1] if self._gz is not None else None

    def write(self, local_ns: int, message: bytes) -> None:
        """Append one message received at ``local_ns``."""
        hour = local_ns // HOUR_NS
        # A clock stepping back keeps writing the current file rather than reopening an old hour.
        if self._gz is None or (self._hour is not None and hour > self._hour):
            self._open(hour)
        gz = self._gz
        assert gz is not None
        if b"\n" in message or b"\r" in message:
            message = message.translate(_LINE_BREAKS)
            self.counters.line_breaks_replaced += 1
        line = b"%d %s\n" % (local_ns, message)
        gz.write(line)
        self._dirty = True
        self.counters.lines += 1
        self.counters.bytes += len(line)
        self.counters.last_write_ns = local_ns
        self.tick(local_ns)

    def tick(self, now_ns: int) -> None:
        """Flush if data has been waiting for ``flush_interval_ns`` or more."""
        if self._dirty and now_ns - self._last_flush_ns >= self.flush_interval_ns:
            self.flush(now_ns)

    def flush(self, now_ns: int = 0) -> None:
        """Push everything written so far to the OS as complete gzip blocks."""
        if self._gz is not None and self._dirty:
            # Z_SYNC_FLUSH ends the deflate block on a byte boundary: a reader can decode
            # everything up to here even if the process dies before the trailer.
            self._gz.flush(zlib.Z_SYNC_FLUSH)
            self.counters.flushes += 1
        self._dirty = False
        self._last_flush_ns = now_ns

    def close(self) -> None:
        """Finish the current file (gzip trailer, fsync)."""
        if self._gz is None:
            return
        self._gz.close()
        assert self._raw is not None
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()
        self._gz = None
        self._raw = None
        self._dirty = False

    def _open(self, hour: int) -> None:
        self.close()
        seq = 0
        while True:
            path = self.out_dir / hour_file_name(self.symbol, hour, seq)
            try:
                raw = open(path, "xb")  # noqa: SIM115 - closed in close()
            except FileExistsError:
                seq += 1
                continue
            break
        self._raw = raw
        self._gz = gzip.GzipFile(
            filename="", mode="wb", fileobj=raw, compresslevel=self.compresslevel, mtime=0
        )
        self._hour = hour
        self.paths.append(path)
        self.counters.files += 1
        log.info("record_file", "recording file opened", path=str(path))

    def __enter__(self) -> RawRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def record(
    config: FeedConfig,
    out_dir: str | Path,
    *,
    duration: float | None = None,
    market: Market | None = None,
    clock: Callable[[], int] = time.time_ns,
    flush_interval: float = 0.5,
    feed_hook: Callable[[BinanceFeed, RawRecorder], None] | None = None,
) -> tuple[RawRecorder, BinanceFeed]:
    """Record ``config``'s streams into ``out_dir`` until ``duration`` seconds pass or cancel.

    The feed keeps the book in sync while recording, so a sequence gap fetches a new REST
    snapshot, which is recorded too: a converter can re-seed the book after any gap.

    Args:
        config: The feed to record.
        out_dir: Output directory.
        duration: Seconds to record (``None``: until cancelled).
        market: Market spec (``None``: loaded through ccxt).
        clock: Local time in ns; also decides the hourly rotation.
        flush_interval: Seconds between forced flushes (at most the data lost on a crash).
        feed_hook: Called with the feed and the recorder before the feed starts (signal
            handlers, metrics and tests attach here).

    Returns:
        The closed recorder and the stopped feed, for their counters.
    """
    recorder = RawRecorder(
        out_dir, config.stream_symbol, flush_interval_ns=int(flush_interval * 1e9)
    )
    feed = BinanceFeed(config, market, clock=clock, on_raw=recorder.write)
    if feed_hook is not None:
        feed_hook(feed, recorder)

    async def flusher() -> None:
        while True:
            await asyncio.sleep(flush_interval / 2)
            recorder.tick(clock())

    async def timer() -> None:
        if duration is not None:
            await asyncio.sleep(duration)
            feed.stop()

    flush_task = asyncio.create_task(flusher())
    timer_task = asyncio.create_task(timer())
    try:
        await feed.run()
    finally:
        for task in (flush_task, timer_task):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        recorder.close()
        log.info("record_stopped", "recording stopped", **recorder.counters.as_dict())
    return recorder, feed

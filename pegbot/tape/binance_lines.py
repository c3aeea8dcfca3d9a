"""Binance raw lines → tape rows, the exact way: one conversion's state and per-line methods.

This is the reference path of :mod:`pegbot.tape.binance` (every line through orjson and the
message methods below) and the state it fills: counters, the one
:class:`~pegbot.feeds.sync.BookSync`, and the column buffers handed to the writer. The compiled
driver (:mod:`pegbot.tape.binance_fast`) writes its common rows into the same buffers and sends
every line it declines to these methods, so both drivers depend on this module and neither on
the other.
"""

from __future__ import annotations

from array import array
from decimal import Decimal
from typing import Any

import numpy as np
import orjson

from pegbot.feeds.sync import BookSync, DepthEvent, SnapshotTooOldError
from pegbot.market import Market, MarketError
from pegbot.tape.rawlines import _MS_MIN, RawCounters, split_local_ts
from pegbot.tape.reader import Array
from pegbot.tape.replay import Top
from pegbot.tape.schema import CLEAR, DIFF, SNAPSHOT, TRADE
from pegbot.tape.writer import TapeWriter
from pegbot.timeunits import NS_PER_MS

#: Reasons a line or message can be skipped; all appear (as 0) in the stats.
SKIP_REASONS = (
    "truncated_gzip",
    "corrupt_gzip",
    "torn_line",
    "bad_json",
    "bad_timestamp",
    "malformed",
    "unknown_stream",
    "other_symbol",
    "error_message",
    "stale_snapshot",
    "old_snapshot",
    "off_grid_trade",
    "non_market_trade",
    "depth_before_snapshot",
)

_TICKER_MARK = b"@bookTicker"
# Ready-made side columns for a message's levels (bids first, then asks).
_SIDE_RUN = 4096
_BID_RUN = array("b", [1]) * _SIDE_RUN
_ASK_RUN = array("b", [-1]) * _SIDE_RUN
_CACHE_LIMIT = 1 << 21


class ConvertError(ValueError):
    """Input the converter must not guess about; the message names ``file:line``."""


def _pow10_decimals(unit: Decimal) -> int | None:
    """``d`` if ``unit == 10**-d`` (d >= 0), else None."""
    t = unit.normalize().as_tuple()
    if t.digits == (1,) and isinstance(t.exponent, int) and t.exponent <= 0:
        return -t.exponent
    return None


def _fast_units(s: str, d: int) -> int | None:
    # Exact plain-decimal parse onto a 10**-d grid; None sends the caller to the slow,
    # checking path (exponents, signs, off-grid digits, anything unusual).
    ip, _, fp = s.partition(".")
    # isdigit() alone accepts digits int() refuses (superscripts); isascii() rules them out.
    if not s.isascii() or not ip.isdigit() or (fp and not fp.isdigit()):
        return None
    if len(fp) > d:
        if fp[d:].strip("0"):
            return None
        fp = fp[:d]
    return int(ip + fp.ljust(d, "0"))


class _UnitCache(dict[str, int]):
    """Decimal string → integer units, converted exactly on first sight."""

    def __init__(self, convert: Any, unit: Decimal) -> None:
        super().__init__()
        self._convert = convert
        self._decimals = _pow10_decimals(unit)

    def __missing__(self, key: str) -> int:
        value: int | None = None
        if self._decimals is not None and type(key) is str:
            value = _fast_units(key, self._decimals)
        if value is None:
            value = self._convert(key)
            assert value is not None
        if len(self) >= _CACHE_LIMIT:
            self.clear()
        self[key] = value
        return value


# Payload of a depth event. From orjson: (line number, exchange ts ns, bids, asks).
# From the scanner: (line number, exchange ts ns, ticks, qty units, offset, n bids, n asks).
_Payload = tuple[Any, ...]


class LineConverter:
    """One conversion's state and its exact per-line path.

    :class:`~pegbot.tape.binance.BinanceRawConverter` drives it over files and documents the
    arguments (all of its own but ``fast``).
    """

    def __init__(
        self,
        market: Market,
        writer: TapeWriter | None = None,
        futures: bool | None = None,
        collect_tickers: bool = False,
        chunk_rows: int = 1 << 18,
    ) -> None:
        self.market = market
        self.writer = writer
        self.futures = futures
        self.collect_tickers = collect_tickers
        self.chunk_rows = chunk_rows
        self.symbol = market.exchange_symbol.upper()
        self.sync: BookSync[_Payload] | None = None
        self.tickers: list[tuple[int, Top]] = []
        self.skipped: dict[str, int] = dict.fromkeys(SKIP_REASONS, 0)
        self.unknown_streams: dict[str, int] = {}
        self.messages = {"depth": 0, "trade": 0, "snapshot": 0, "book_ticker": 0}
        self.files: list[dict[str, Any]] = []
        self.rows = 0
        self.nonmonotonic_local_ts = 0
        self.released_after_snapshot = 0
        self.gap_clears = 0
        self.units = {"ns": 0, "us": 0, "ms": 0}
        self._last_local = -(1 << 63)
        self._latency = array("q")
        self._ticks = _UnitCache(market.price_to_ticks, market.tick_size)
        self._units = _UnitCache(market.qty_to_units, market.qty_unit)
        self._pdec = _pow10_decimals(market.tick_size)
        self._qdec = _pow10_decimals(market.qty_unit)
        self._path = ""
        self._new_buffers()

    def _new_buffers(self) -> None:
        # Per-message columns (repeated per row at flush) and per-row columns.
        self._m_exch = array("q")
        self._m_local = array("q")
        self._m_kind = array("B")
        self._side = array("b")
        self._m_fid = array("q")
        self._m_uid = array("q")
        self._m_count = array("q")
        self._price = array("q")
        self._qty = array("q")

    # -- lines ----------------------------------------------------------------------------

    def _lines(self, lines: list[bytes], base: int, last_complete: bool) -> None:
        skip_tickers = not self.collect_tickers
        mark = _TICKER_MARK
        last_i = len(lines) - 1
        for i, line in enumerate(lines):
            if skip_tickers and mark in line[:60] and line.endswith(b"}}"):
                # Not stored and not asked for: count it without parsing (most lines).
                self.messages["book_ticker"] += 1
                continue
            self._line(line, base + i + 1, i == last_i and not last_complete)

    def _line(self, line: bytes, lineno: int, maybe_torn: bool) -> None:
        """One raw line (not a skipped bookTicker), the slow and exact way."""
        units = self.units
        skipped = self.skipped
        sp = line.find(b" ")
        try:
            value = int(line[:sp]) if sp > 0 else -1
        except ValueError:
            value = -1
        split = split_local_ts(value) if value >= 0 else None
        if split is None:
            if maybe_torn and value < _MS_MIN:
                skipped["torn_line"] += 1
            elif line.strip():
                skipped["bad_timestamp"] += 1
            return
        local, unit = split
        units[unit] += 1
        if local < self._last_local:
            self.nonmonotonic_local_ts += 1
            local = self._last_local
        else:
            self._last_local = local
        self._payload(line[sp + 1 :], lineno, local, maybe_torn)

    def _payload(self, payload: bytes, lineno: int, local: int, maybe_torn: bool) -> None:
        """The JSON of one line whose local time is known, the slow and exact way."""
        try:
            msg = orjson.loads(payload)
        except orjson.JSONDecodeError:
            self.skipped["torn_line" if maybe_torn else "bad_json"] += 1
            return
        try:
            self._message(msg, lineno, local)
        except ConvertError:
            raise
        except MarketError as exc:
            raise ConvertError(f"{self._path}:{lineno}: {exc}") from exc
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            self.skipped["malformed"] += 1

    def finish(self) -> dict[str, Any]:
        """Flush the last rows; return the stats (also what ``tape info`` shows)."""
        self._flush()
        sync = self.sync
        counters = sync.counters.as_dict() if sync is not None else {}
        applied = counters.get("applied", 0)
        dropped = counters.get("dropped_old", 0)
        self.skipped["depth_before_snapshot"] = self.messages["depth"] - applied - dropped
        lat = np.frombuffer(self._latency, dtype=np.int64) if len(self._latency) else None
        latency: dict[str, float | int] = {"n": 0}
        if lat is not None:
            q = np.percentile(lat, [0, 1, 50, 99, 100]) / NS_PER_MS
            latency = {
                "n": len(lat),
                "min": round(float(q[0]), 3),
                "p01": round(float(q[1]), 3),
                "p50": round(float(q[2]), 3),
                "p99": round(float(q[3]), 3),
                "max": round(float(q[4]), 3),
            }
        return {
            "converter": "binance-raw",
            "market": "futures" if self.futures else "spot",
            "files": self.files,
            "rows": self.rows,
            "messages": dict(self.messages),
            "gaps": counters.get("gaps", 0),
            "never_synced": counters.get("snapshots", 0) == 0 or applied == 0,
            "sync": counters,
            "skipped": dict(self.skipped),
            "unknown_streams": dict(self.unknown_streams),
            "nonmonotonic_local_ts": self.nonmonotonic_local_ts,
            "released_after_snapshot": self.released_after_snapshot,
            "timestamp_units": dict(self.units),
            "feed_latency_ms": latency,
        }

    # -- messages -------------------------------------------------------------------------

    def _message(self, msg: Any, lineno: int, local: int) -> None:
        data = msg.get("data")
        stream = msg.get("stream")
        if data is None or not isinstance(data, dict):
            data, stream = msg, None
        e = data.get("e")
        if e == "depthUpdate":
            self._depth(data, lineno, local)
        elif e == "trade":
            self._trade(data, local)
        elif "lastUpdateId" in data and "bids" in data:
            self._snapshot(data, lineno, local)
        elif e == "bookTicker" or (e is None and "u" in data and "B" in data and "A" in data):
            self._book_ticker(data)
        elif "code" in data and "msg" in data:
            self.skipped["error_message"] += 1
        else:
            name = str(stream or e or "unknown")
            # Keep the stream kind only (``btcusdt@aggTrade`` → ``aggTrade``): bounded keys.
            name = name.split("@", 1)[1] if "@" in name else name
            self.unknown_streams[name] = self.unknown_streams.get(name, 0) + 1
            self.skipped["unknown_stream"] += 1

    def _sync_for(self, futures: bool) -> BookSync[_Payload]:
        if self.sync is None:
            if self.futures is None:
                self.futures = futures
            self.sync = BookSync(futures=self.futures, max_buffer=100_000)
        return self.sync

    def _depth(self, data: dict[str, Any], lineno: int, local: int) -> None:
        if data["s"].upper() != self.symbol:
            self.skipped["other_symbol"] += 1
            return
        self.messages["depth"] += 1
        sync = self._sync_for("pu" in data)
        event_ms = data["E"]
        exch = data.get("T", event_ms) * NS_PER_MS
        self._latency.append(local - event_ms * NS_PER_MS)
        b, a = data["b"], data["a"]
        if type(b) is not list or type(a) is not list:
            raise TypeError("levels must be lists")
        event = DepthEvent(int(data["U"]), int(data["u"]), data.get("pu"), (lineno, exch, b, a))
        was_synced = sync.synced
        self._depth_out(event, sync.on_diff(event), was_synced, local)

    def _depth_out(
        self,
        event: DepthEvent[_Payload],
        out: list[DepthEvent[_Payload]],
        was_synced: bool,
        local: int,
    ) -> None:
        """Write what the sync returned for ``event`` (and a ``CLEAR`` if it found a gap)."""
        for ev in out:
            self._emit_depth(ev, local, DIFF)
        assert self.sync is not None
        if was_synced and not self.sync.synced:
            # A gap: the book is unknown until the next snapshot; say so in the tape.
            self.gap_clears += 1
            exch = event.payload[1]
            self._emit_marker(CLEAR, 0, exch, local, event.first_id, event.last_id)

    def _snapshot(self, data: dict[str, Any], lineno: int, local: int) -> None:
        sym = data.get("symbol")
        if sym is not None and str(sym).upper() != self.symbol:
            self.skipped["other_symbol"] += 1
            return
        self.messages["snapshot"] += 1
        sync = self._sync_for("T" in data)
        last_id = int(data["lastUpdateId"])
        bids, asks = data["bids"], data["asks"]
        if type(bids) is not list or type(asks) is not list:
            raise TypeError("levels must be lists")
        if sync.synced and last_id <= sync.last_update_id:
            # Older than the book we hold: re-seeding from it would undo applied diffs.
            self.skipped["old_snapshot"] += 1
            return
        try:
            released = sync.on_snapshot(last_id)
        except SnapshotTooOldError:
            self.skipped["stale_snapshot"] += 1
            return
        if not sync.synced:
            return
        exch = int(data.get("T", 0)) * NS_PER_MS
        self._emit_marker(CLEAR, 0, exch, local, last_id, last_id)
        self._emit_depth(
            DepthEvent(last_id, last_id, None, (lineno, exch, bids, asks)), local, SNAPSHOT
        )
        for ev in released:
            self.released_after_snapshot += 1
            self._emit_depth(ev, local, DIFF)

    def _trade(self, data: dict[str, Any], local: int) -> None:
        if data["s"].upper() != self.symbol:
            self.skipped["other_symbol"] += 1
            return
        x = data.get("X")
        if x is not None and x != "MARKET":
            # Futures insurance-fund and ADL fills are not market trades.
            self.skipped["non_market_trade"] += 1
            return
        self.messages["trade"] += 1
        self._latency.append(local - data["E"] * NS_PER_MS)
        try:
            tick = self._ticks[data["p"]]
        except MarketError:
            self.skipped["off_grid_trade"] += 1
            return
        qty = self._units[data["q"]]
        side = -1 if data["m"] else 1
        self._m_exch.append(data["T"] * NS_PER_MS)
        self._m_local.append(local)
        self._m_kind.append(TRADE)
        self._side.append(side)
        self._m_fid.append(0)
        self._m_uid.append(int(data["t"]))
        self._m_count.append(1)
        self._price.append(tick)
        self._qty.append(qty)

    def _book_ticker(self, data: dict[str, Any]) -> None:
        self.messages["book_ticker"] += 1
        if not self.collect_tickers:
            return
        s = data.get("s")
        if s is not None and str(s).upper() != self.symbol:
            return
        try:
            top: Top = (
                self._ticks[data["b"]],
                self._units[data["B"]],
                self._ticks[data["a"]],
                self._units[data["A"]],
            )
        except MarketError:
            return
        self.tickers.append((int(data["u"]), top))

    # -- rows -----------------------------------------------------------------------------

    def _emit_marker(self, kind: int, side: int, exch: int, local: int, fid: int, uid: int) -> None:
        self._m_exch.append(exch)
        self._m_local.append(local)
        self._m_kind.append(kind)
        self._side.append(side)
        self._m_fid.append(fid)
        self._m_uid.append(uid)
        self._m_count.append(1)
        self._price.append(0)
        self._qty.append(0)

    def _emit_depth(self, event: DepthEvent[_Payload], local: int, kind: int) -> None:
        payload = event.payload
        if len(payload) == 7:
            # From the scanner: the levels are integers already, bids then asks.
            _, exch, lp, lq, o, nb, na = payload
            n = nb + na
            if not n:
                return
            self._price += lp[o : o + n]
            self._qty += lq[o : o + n]
        else:
            lineno, exch, bids, asks = payload
            nb, na = len(bids), len(asks)
            if not nb + na:
                return
            ticks, units = self._ticks, self._units
            try:
                # Convert first: an off-grid level must not leave half a message behind.
                price = [ticks[p] for p, _ in bids]
                price += [ticks[p] for p, _ in asks]
                qty = [units[q] for _, q in bids]
                qty += [units[q] for _, q in asks]
            except MarketError as exc:
                raise ConvertError(f"{self._path}:{lineno}: {exc}") from exc
            except (ValueError, TypeError) as exc:
                raise ConvertError(f"{self._path}:{lineno}: bad depth level: {exc}") from exc
            self._price.extend(price)
            self._qty.extend(qty)
        side = self._side
        if nb <= _SIDE_RUN and na <= _SIDE_RUN:
            side.extend(_BID_RUN[:nb])
            side.extend(_ASK_RUN[:na])
        else:
            side.extend(array("b", [1]) * nb)
            side.extend(array("b", [-1]) * na)
        self._m_exch.append(exch)
        self._m_local.append(local)
        self._m_kind.append(kind)
        self._m_fid.append(event.first_id)
        self._m_uid.append(event.last_id)
        self._m_count.append(nb + na)

    def _report(self, rc: RawCounters) -> None:
        """After each block of lines (both drivers call it): the driver's progress hook."""

    def _flush(self) -> None:
        n_rows = len(self._price)
        if not n_rows:
            return
        counts = np.frombuffer(self._m_count, dtype=np.int64)
        if int(counts.sum()) != n_rows:
            raise AssertionError("converter row bookkeeping is inconsistent")

        def rep(a: array[int], dtype: str) -> Array:
            return np.repeat(np.frombuffer(a, dtype=dtype), counts)

        cols = {
            "exch_ts": rep(self._m_exch, "int64"),
            "local_ts": rep(self._m_local, "int64"),
            "kind": rep(self._m_kind, "uint8"),
            "side": np.frombuffer(self._side, dtype=np.int8).copy(),
            "price": np.frombuffer(self._price, dtype=np.int64).copy(),
            "qty": np.frombuffer(self._qty, dtype=np.int64).copy(),
            "first_update_id": rep(self._m_fid, "int64"),
            "update_id": rep(self._m_uid, "int64"),
        }
        self.rows += n_rows
        if self.writer is not None:
            self.writer.write(cols)
        # Fresh buffers: numpy views may still hold the old ones.
        self._new_buffers()

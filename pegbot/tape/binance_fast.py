"""The converter's fast driver: compiled scan per block, Python only where order matters.

:func:`convert_fast` reads a raw file in the same blocks as the slow path, lets
:func:`pegbot.tape.binance_scan.scan` classify and read every line, and then walks in Python
only over the lines that need it: each depth message goes through the converter's
:class:`~pegbot.feeds.sync.BookSync` (one state machine for live and replay), and each line
the scanner declined goes through the converter's exact slow methods.

Rows are written in line order, as on the slow path. The common case — a trade, or a depth
message the sync applies at once — is collected as a list of line indices and turned into
columns with numpy (a *run*; a short run with plain appends). Anything else that may write rows (a
snapshot, a gap's ``CLEAR``, events released after a snapshot, a declined line) is written
by the slow methods, after the pending run, so the order of rows is unchanged.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from pathlib import Path

import numpy as np

from pegbot.feeds.sync import DepthEvent, SyncState
from pegbot.tape import binance_scan as _scan
from pegbot.tape.binance_lines import LineConverter
from pegbot.tape.rawlines import RawCounters, iter_byte_blocks
from pegbot.tape.reader import Array
from pegbot.tape.schema import DIFF, TRADE
from pegbot.timeunits import NS_PER_MS

_I64_MAX = (1 << 63) - 1
_SYNCED = SyncState.SYNCED
# Scanner calls per block before the rest of the block goes the slow way.
_MAX_CALLS = 16
# Runs up to this many lines are written with plain appends rather than numpy.
_SMALL_RUN = 24


def convert_fast(conv: LineConverter, path: str | Path, rc: RawCounters) -> None:
    """Convert one file with the compiled scanner; same rows and counters as the slow path."""
    sym = np.frombuffer(conv.symbol.encode("ascii"), dtype=np.uint8)
    pdec, qdec = conv._pdec, conv._qdec
    assert pdec is not None and qdec is not None
    skip_tickers = not conv.collect_tickers
    for block, complete in iter_byte_blocks(path, rc):
        base = rc.lines
        if not complete or conv._last_local > _I64_MAX:
            # The last line without its newline (possibly torn), or a local time past int64
            # seen (the scanner cannot hold it): the slow way.
            lines = bytes(block).split(b"\n")
            if complete:
                lines.pop()
            conv._lines(lines, base, complete)
            rc.lines += len(lines)
        else:
            buf = np.frombuffer(block, dtype=np.uint8)
            nl = np.flatnonzero(buf == 10)  # line ends, found by numpy (faster than a loop)
            n_lines = len(nl)
            # Each level takes at least 9 bytes (["1","1"]); a trade takes one slot per line.
            lv_cap = len(block) // 9 + n_lines
            done = calls = 0
            while done < n_lines:
                calls += 1
                out = _scan.scan(
                    buf, nl, done, sym, pdec, qdec, skip_tickers, conv._last_local, lv_cap
                )
                n, pos, conv._last_local = out[0], out[1], out[2]
                conv.units["ns"] += out[3]
                conv.units["us"] += out[4]
                conv.units["ms"] += out[5]
                conv.nonmonotonic_local_ts += out[6]
                _Block(conv, block, base + done, n, *out[7:]).run()
                done += n
                if done < n_lines and (conv._last_local > _I64_MAX or calls >= _MAX_CALLS):
                    # A local time past int64, or a block full of lines the scanner stops
                    # at (each stop costs a new scan): the rest of the block the slow way.
                    conv._lines(bytes(block[pos:]).split(b"\n")[:-1], base + done, True)
                    break
            rc.lines += n_lines
        if len(conv._price) >= conv.chunk_rows:
            conv._flush()
        conv._report(rc)


class _Block:
    """One scanned stretch of lines and the rows it writes."""

    def __init__(
        self,
        conv: LineConverter,
        block: bytes | memoryview,
        base: int,
        n: int,
        n_levels: int,
        cls: Array,
        start: Array,
        end: Array,
        local: Array,
        ints: Array,
        lo: Array,
        lvp: Array,
        lvq: Array,
    ) -> None:
        self.conv = conv
        self.block = block
        self.base = base
        self.cls = cls[:n]
        self.start, self.end, self.local, self.ints, self.lo = start, end, local, ints, lo
        self.lvp, self.lvq = lvp[:n_levels], lvq[:n_levels]
        self.n = n
        self.emitted: list[int] = []
        self.trades = np.flatnonzero(self.cls == _scan.C_TRADE)
        self.trades_l: list[int] = self.trades.tolist()
        self.t_pos = 0  # trades before self.trades_l[t_pos] are written

    def run(self) -> None:
        conv, cls = self.conv, self.cls
        other = np.flatnonzero((cls != _scan.C_TICKER) & (cls != _scan.C_TRADE))
        n_depth = int(np.count_nonzero(cls == _scan.C_DEPTH))
        conv.messages["book_ticker"] += int(np.count_nonzero(cls == _scan.C_TICKER))
        conv.messages["depth"] += n_depth
        conv.messages["trade"] += len(self.trades)
        fast = (cls == _scan.C_DEPTH) | (cls == _scan.C_TRADE)
        if n_depth or len(self.trades):
            lat = self.local[: self.n][fast] - self.ints[: self.n][fast, 0] * NS_PER_MS
            conv._latency.frombytes(lat.tobytes())
        if not len(other):
            self._write_run(self.n)
            return
        c_l = cls[other].tolist()
        iv = self.ints[other]
        exch_l = (iv[:, 1] * NS_PER_MS).tolist()
        big_u, small_u, pu, has_pu, nb_l, na_l = iv[:, 2:8].T.tolist()
        # pu as the sync wants it: None where the message had none (spot).
        pu_l = pu if all(has_pu) else [p if h else None for p, h in zip(pu, has_pu, strict=True)]
        lineno_l = (other + (self.base + 1)).tolist()
        # Payload levels for events the sync keeps for later (released after a snapshot).
        lp = array("q")
        lp.frombytes(self.lvp.tobytes())
        lq = array("q")
        lq.frombytes(self.lvq.tobytes())
        emitted = self.emitted
        sync = conv.sync
        depth, synced = _scan.C_DEPTH, _SYNCED
        rows = zip(
            c_l,
            other.tolist(),
            lineno_l,
            big_u,
            small_u,
            pu_l,
            exch_l,
            self.lo[other].tolist(),
            nb_l,
            na_l,
            self.local[other].tolist(),
            strict=True,
        )
        for c, i, lineno, first, last, prev, exch, o, nb, na, local in rows:
            if c == depth:
                if sync is None:
                    sync = conv._sync_for(prev is not None)
                if sync.advance(first, last, prev):
                    emitted.append(i)  # the common case: applied at once, in a run
                    continue
                event = DepthEvent(first, last, prev, (lineno, exch, lp, lq, o, nb, na))
                was_synced = sync.state is synced
                out = sync.on_diff(event)
                if out and len(out) == 1 and out[0] is event:
                    emitted.append(i)  # the common case: applied at once, in a run
                elif out or (was_synced and sync.state is not synced):
                    self._write_run(i)
                    conv._depth_out(event, out, was_synced, local)
                continue
            line = bytes(self.block[self.start[i] : self.end[i]])
            if c == _scan.C_BADTS:
                if line.strip():
                    conv.skipped["bad_timestamp"] += 1
                continue
            self._write_run(i)
            if c == _scan.C_MSG:
                sp = line.find(b" ")
                conv._payload(line[sp + 1 :], lineno, local, False)
            else:  # C_STOP: the timestamp too is Python's to read
                conv._line(line, lineno, False)
        self._write_run(self.n)

    # -- writing runs -----------------------------------------------------------------------

    def _write_run(self, stop: int) -> None:
        """Write the pending rows of lines before ``stop``: trades and at-once depth messages."""
        t_end = bisect_left(self.trades_l, stop, self.t_pos)
        n_trades = t_end - self.t_pos
        if not n_trades and not self.emitted:
            return
        if n_trades + len(self.emitted) <= _SMALL_RUN:
            self._write_small(sorted(self.trades_l[self.t_pos : t_end] + self.emitted))
            self.t_pos = t_end
            self.emitted.clear()  # in place: run() holds this list
            return
        tr = self.trades[self.t_pos : t_end]
        if self.emitted:
            lines = np.sort(np.concatenate([tr, np.asarray(self.emitted, dtype=np.int64)]))
        else:
            lines = tr
        self.t_pos = t_end
        self.emitted.clear()
        iv = self.ints[lines]
        is_d = self.cls[lines] == _scan.C_DEPTH
        nb = iv[:, 6]
        cnt = np.where(is_d, nb + iv[:, 7], 1)
        if not cnt.all():
            # A depth message without levels writes no rows (as in the slow path).
            keep = cnt > 0
            lines, iv, is_d, nb, cnt = lines[keep], iv[keep], is_d[keep], nb[keep], cnt[keep]
            if not len(lines):
                return
        total = int(cnt.sum())
        offs = np.repeat(np.cumsum(cnt) - cnt, cnt)
        rank = np.arange(total, dtype=np.int64) - offs
        pos = rank + np.repeat(self.lo[lines], cnt)
        d_rows = np.repeat(is_d, cnt)
        side = np.where(
            d_rows,
            np.where(rank < np.repeat(nb, cnt), 1, -1),
            np.repeat(iv[:, 9], cnt),
        )
        conv = self.conv
        conv._m_exch.frombytes((iv[:, 1] * NS_PER_MS).tobytes())
        conv._m_local.frombytes(self.local[lines].tobytes())
        conv._m_kind.frombytes(np.where(is_d, DIFF, TRADE).astype(np.uint8).tobytes())
        conv._m_fid.frombytes(np.where(is_d, iv[:, 2], 0).tobytes())
        conv._m_uid.frombytes(np.where(is_d, iv[:, 3], iv[:, 8]).tobytes())
        conv._m_count.frombytes(cnt.astype(np.int64).tobytes())
        conv._side.frombytes(side.astype(np.int8).tobytes())
        conv._price.frombytes(self.lvp[pos].tobytes())
        conv._qty.frombytes(self.lvq[pos].tobytes())

    def _write_small(self, lines: list[int]) -> None:
        # A few lines between two slow-path writes: numpy's fixed cost would dominate.
        conv = self.conv
        for i in lines:
            _, exch, fid, uid, _, _, nb, na, tid, tside = self.ints[i].tolist()
            o = int(self.lo[i])
            conv._m_exch.append(exch * NS_PER_MS)
            conv._m_local.append(int(self.local[i]))
            if self.cls[i] == _scan.C_DEPTH:
                n = nb + na
                if not n:
                    del conv._m_exch[-1], conv._m_local[-1]
                    continue  # no levels, no rows (as in the slow path)
                conv._m_kind.append(DIFF)
                conv._m_fid.append(fid)
                conv._m_uid.append(uid)
                conv._m_count.append(n)
                conv._side.frombytes(b"\x01" * nb + b"\xff" * na)  # int8 1 and -1
                conv._price.frombytes(self.lvp[o : o + n].tobytes())
                conv._qty.frombytes(self.lvq[o : o + n].tobytes())
            else:
                conv._m_kind.append(TRADE)
                conv._m_fid.append(0)
                conv._m_uid.append(tid)
                conv._m_count.append(1)
                conv._side.append(tside)
                conv._price.append(int(self.lvp[o]))
                conv._qty.append(int(self.lvq[o]))

"""A tolerant reader of raw recordings: ``<local_ts> <json>`` lines, gzip or plain.

The recorder (``pegbot record``) and the public hftbacktest collectors write this layout. A
recorder that crashes leaves a gzip stream without its end marker and a last line cut in the
middle; a disk hiccup can leave a garbage line. None of that may stop a conversion or pass
silently, so each case is counted in :class:`RawCounters` and the readable lines still come
out.

Decompression is done here with :mod:`zlib` rather than :mod:`gzip` because ``gzip`` raises
on a truncated stream and loses what it had already decompressed; ``zlib.decompressobj``
hands over every byte it could recover. Concatenated gzip members (appended rotations) are
read one after the other. ``zlib_ng`` (the same API, faster) is used when installed.

Local timestamps come in two units in the public data (ns in 2024 files, µs in older
``.dat`` files); the unit is told by magnitude, line by line, and normalised to ns.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, cast

try:  # zlib-ng: the same API, about twice as fast to inflate (half the converter's time)
    from zlib_ng import zlib_ng as zlib
except ImportError:  # pragma: no cover
    import zlib  # type: ignore[no-redef]

# (zlib_ng's stubs call ``error`` an instance; it is the exception class.)
_INFLATE_ERROR = cast("type[Exception]", zlib.error)

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20

# Epoch magnitudes: 2001-09-09 is 1e9 s, so a present-day stamp in ns has 19 digits, in µs
# 16, in ms 13. Anything between the bands is not a timestamp we understand.
_NS_MIN = 10**17
_NS_MAX = 2**63
_US_MIN = 10**14
_MS_MIN = 10**11


class RawLine(NamedTuple):
    """One line of a raw recording.

    Attributes:
        lineno: 1-based line number in the decompressed file.
        local_ns: Local receive time, normalised to ns.
        payload: The JSON bytes after the timestamp (not parsed here).
        complete: False for a last line without a newline (possibly torn).
    """

    lineno: int
    local_ns: int
    payload: bytes
    complete: bool


@dataclass
class RawCounters:
    """What the reader had to tolerate.

    Attributes:
        lines: Lines read (including bad ones).
        truncated_gzip: 1 if the gzip stream ended without its end marker.
        corrupt_gzip: 1 if the compressed data was damaged (reading stopped there).
        bad_timestamp: Lines whose first field is not an integer epoch in s/ms/µs/ns.
        empty_lines: Blank lines (ignored).
        us_lines: Lines whose local timestamp was in microseconds.
        ms_lines: Lines whose local timestamp was in milliseconds.
        torn_lines: A last line, cut before its timestamp ended (dropped).
        bytes_in: Bytes of the file (compressed, as stored) read so far: progress.
    """

    lines: int = 0
    truncated_gzip: int = 0
    corrupt_gzip: int = 0
    bad_timestamp: int = 0
    empty_lines: int = 0
    us_lines: int = 0
    ms_lines: int = 0
    torn_lines: int = 0
    bytes_in: int = 0


def split_local_ts(value: int) -> tuple[int, str] | None:
    """An epoch timestamp in ns, µs or ms (told apart by magnitude) as ``(ns, unit)``.

    None when it is not a plausible epoch timestamp in any of these units, or when in ns it
    would not fit int64 (past the year 2262): no tape can hold it.
    """
    if value >= _NS_MIN:
        ns, unit = value, "ns"
    elif value >= _US_MIN:
        ns, unit = value * 1_000, "us"
    elif value >= _MS_MIN:
        ns, unit = value * 1_000_000, "ms"
    else:
        return None
    return (ns, unit) if ns < _NS_MAX else None


def local_ts_to_ns(value: int) -> int:
    """Normalise an epoch timestamp in ns, µs or ms to ns, told apart by magnitude.

    Raises:
        ValueError: The value is not a plausible epoch timestamp in any of these units.
    """
    split = split_local_ts(value)
    if split is None:
        raise ValueError(f"not an epoch timestamp in ms, µs or ns: {value}")
    return split[0]


def iter_chunks(path: Path, counters: RawCounters) -> Iterator[bytes]:
    """Yield the decompressed bytes of ``path`` (gzip or plain), tolerating a cut stream."""
    with open(path, "rb") as fh:
        head = fh.read(2)
        fh.seek(0)
        if head != _GZIP_MAGIC:
            while chunk := fh.read(_CHUNK):
                counters.bytes_in = fh.tell()
                yield chunk
            return
        dec = zlib.decompressobj(wbits=31)
        pending = fh.read(_CHUNK)
        while pending:
            counters.bytes_in = fh.tell()
            try:
                out = dec.decompress(pending)
            except _INFLATE_ERROR:
                counters.corrupt_gzip = 1
                return
            if out:
                yield out
            if dec.eof:
                # Another member may follow (appended files); else the file ended cleanly.
                pending = dec.unused_data or fh.read(_CHUNK)
                if not pending:
                    return
                dec = zlib.decompressobj(wbits=31)
            else:
                pending = fh.read(_CHUNK)
        tail = dec.flush()
        if tail:
            yield tail
        # Reaching EOF inside a member means the writer never finished it.
        counters.truncated_gzip = 1


def iter_line_blocks(
    path: str | Path, counters: RawCounters
) -> Iterator[tuple[int, list[bytes], bool]]:
    """Yield ``(lines before this block, lines, last line complete)`` blocks of raw lines.

    The fast path for converters that parse the timestamp themselves: one Python call per
    megabyte instead of one per line. ``counters`` gets the gzip flags only.
    """
    lineno = 0
    rest = b""
    for chunk in iter_chunks(Path(path), counters):
        data = rest + chunk if rest else chunk
        lines = data.split(b"\n")
        rest = lines.pop()
        if lines:
            yield lineno, lines, True
            lineno += len(lines)
    if rest:
        yield lineno, [rest], False


def iter_raw_lines(path: str | Path, counters: RawCounters | None = None) -> Iterator[RawLine]:
    """Yield the lines of a raw recording with their local time in ns.

    Lines whose timestamp cannot be read are counted in ``counters.bad_timestamp`` and
    skipped; blank lines are counted and skipped. The JSON is not parsed here: the caller
    decides what a bad payload means (a torn last line, or a corrupt line).

    Args:
        path: A ``.gz`` (any gzip file) or plain text file.
        counters: Filled in while reading; pass one to see what was tolerated.
    """
    c = counters if counters is not None else RawCounters()
    lineno = 0
    rest = b""
    for chunk in iter_chunks(Path(path), c):
        data = rest + chunk if rest else chunk
        lines = data.split(b"\n")
        rest = lines.pop()
        for line in lines:
            lineno += 1
            parsed = _split(line, lineno, True, c)
            if parsed is not None:
                yield parsed
    if rest:
        lineno += 1
        parsed = _split(rest, lineno, False, c)
        if parsed is not None:
            yield parsed


def _split(line: bytes, lineno: int, complete: bool, c: RawCounters) -> RawLine | None:
    c.lines += 1
    sp = line.find(b" ")
    try:
        value = int(line[:sp]) if sp > 0 else -1
    except ValueError:
        value = -1
    if value < 0:
        if not line.strip():
            c.empty_lines += 1
        elif not complete:
            c.torn_lines += 1
        else:
            c.bad_timestamp += 1
        return None
    split = split_local_ts(value)
    if split is None:
        if value < _MS_MIN and not complete:
            c.torn_lines += 1
        else:
            c.bad_timestamp += 1
        return None
    ns, unit = split
    if unit == "us":
        c.us_lines += 1
    elif unit == "ms":
        c.ms_lines += 1
    return RawLine(lineno, ns, line[sp + 1 :], complete)


def iter_byte_blocks(
    path: str | Path, counters: RawCounters
) -> Iterator[tuple[bytes | memoryview, bool]]:
    """Yield ``(block, complete)``: the blocks of :func:`iter_line_blocks`, not split.

    A complete block holds whole lines and ends with a newline; the last, incomplete line
    (possibly torn) comes alone with ``complete`` False. For scanners that find the line
    ends themselves (and count them: the caller numbers the lines). A block may be a
    memoryview (no copy of megabytes): read it before asking for the next one.
    """
    rest = b""
    for chunk in iter_chunks(Path(path), counters):
        data = rest + chunk if rest else chunk
        cut = data.rfind(b"\n") + 1
        if cut:
            rest = data[cut:]
            yield (memoryview(data)[:cut] if cut < len(data) else data), True
        else:
            rest = data
    if rest:
        yield rest, False

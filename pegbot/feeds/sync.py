"""Binance's snapshot-and-diff book sync as a pure state machine.

The rules (Binance's "how to manage a local order book correctly", spot and USD-M/COIN-M):

1. Buffer diff events until a REST snapshot arrives.
2. Drop buffered events the snapshot already contains (spot: ``u <= lastUpdateId``; futures:
   ``u < lastUpdateId``). The first event kept must straddle the snapshot (spot:
   ``U <= lastUpdateId + 1 <= u``; futures: ``U <= lastUpdateId <= u``). If the buffer starts
   after the snapshot, the snapshot is too old: fetch another.
3. Then each event must continue the previous one (spot: ``U <= last + 1``, normally equal;
   futures: ``pu == last``). Events wholly older than the book are ignored. Anything else is a
   gap: the book is wrong, so discard it, buffer again and fetch a new snapshot.

No I/O and no clock here: the live feed, the tape converter and the simulator's tests drive
the same object, so the rules exist once. The payload of an event is opaque.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field
from typing import Generic, NamedTuple, TypeVar

P = TypeVar("P")


class SyncState(enum.Enum):
    """Whether the book may be used."""

    #: Waiting for a snapshot; the book is unknown and must not be used.
    BUFFERING = "buffering"
    #: The book equals the venue's as of ``last_update_id``.
    SYNCED = "synced"


class DepthEvent(NamedTuple, Generic[P]):
    """The sequence ids of one diff message, and whatever the caller needs to apply it.

    A named tuple: immutable and about three times cheaper to build than a frozen dataclass,
    which matters at one event per depth message in the converter.

    Attributes:
        first_id: ``U``, the first update id in the message.
        last_id: ``u``, the last update id in the message.
        prev_last_id: ``pu`` (futures only): the ``u`` of the previous message.
        payload: The levels, or anything else the caller attaches.
    """

    first_id: int
    last_id: int
    prev_last_id: int | None
    payload: P


class SnapshotTooOldError(RuntimeError):
    """The snapshot predates the first buffered event: fetch a newer one."""


@dataclass
class SyncCounters:
    """What the sync has seen; exported as metrics and shown by ``pegbot tape info``."""

    applied: int = 0
    gaps: int = 0
    resyncs: int = 0
    snapshots: int = 0
    stale_snapshots: int = 0
    dropped_old: int = 0
    overlaps: int = 0
    buffer_overflow: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return dict(self.__dict__)


@dataclass
class BookSync(Generic[P]):
    """Decides, event by event, what may be applied to the local book.

    Args:
        futures: Use the futures rules (``pu`` chaining) instead of spot's.
        max_buffer: Events kept while waiting for a snapshot; the oldest go first.
    """

    futures: bool = False
    max_buffer: int = 10_000
    state: SyncState = SyncState.BUFFERING
    last_update_id: int = 0
    counters: SyncCounters = field(default_factory=SyncCounters)
    _buffer: deque[DepthEvent[P]] = field(default_factory=deque, repr=False)
    # After a snapshot with nothing buffered past it, the next event must straddle it.
    _awaiting_first: bool = field(default=False, repr=False)

    @property
    def synced(self) -> bool:
        """The book may be used."""
        return self.state is SyncState.SYNCED

    @property
    def buffered(self) -> int:
        """Events waiting for a snapshot."""
        return len(self._buffer)

    @property
    def first_buffered_id(self) -> int | None:
        """``U`` of the oldest buffered event: a snapshot must reach at least this far."""
        return self._buffer[0].first_id if self._buffer else None

    def reset(self) -> None:
        """Forget everything (a new connection): buffer again until the next snapshot."""
        self.state = SyncState.BUFFERING
        self._buffer.clear()
        self._awaiting_first = False

    def on_diff(self, event: DepthEvent[P]) -> list[DepthEvent[P]]:
        """Take one diff event; return the events to apply now, in order.

        After a gap this returns ``[]`` and :attr:`state` becomes ``BUFFERING``: the caller
        must discard its book and fetch a snapshot.
        """
        if self.state is SyncState.BUFFERING:
            self._push(event)
            return []
        last = self.last_update_id
        if self._awaiting_first:
            if self._is_old(event, last):
                self.counters.dropped_old += 1
                return []
            if self._straddles(event, last):
                self._awaiting_first = False
                return self._accept(event)
            return self._gap(event)
        if event.last_id <= last:
            # A duplicate or a message wholly inside what the book already holds.
            self.counters.dropped_old += 1
            return []
        if self.futures:
            if event.prev_last_id != last:
                return self._gap(event)
        elif event.first_id > last + 1:
            return self._gap(event)
        elif event.first_id <= last:
            # Overlaps what we have; quantities are absolute, so applying it is still right.
            self.counters.overlaps += 1
        return self._accept(event)

    def advance(self, first_id: int, last_id: int, prev_last_id: int | None) -> bool:
        """Accept a message that continues a synced book exactly, without building an event.

        The common case of :meth:`on_diff` (spot ``U == last + 1``; futures ``pu == last``).

        Returns True if the message was accepted (apply it now); False changes nothing, and the
        caller must take the message through :meth:`on_diff`, which decides everything else.
        """
        if self.state is not SyncState.SYNCED or self._awaiting_first:
            return False
        last = self.last_update_id
        if last_id <= last or last_id < first_id:
            return False
        if (prev_last_id != last) if self.futures else (first_id != last + 1):
            return False
        self.last_update_id = last_id
        self.counters.applied += 1
        return True

    def on_snapshot(self, last_update_id: int) -> list[DepthEvent[P]]:
        """Take a snapshot's ``lastUpdateId``; return the buffered events to apply after it.

        The caller seeds its book with the snapshot, then applies the returned events.

        Raises:
            SnapshotTooOldError: The buffer starts after the snapshot; fetch a newer one. The
                buffer is kept.
        """
        self.counters.snapshots += 1
        while self._buffer and self._is_old(self._buffer[0], last_update_id):
            self._buffer.popleft()
            self.counters.dropped_old += 1
        if self._buffer and not self._straddles(self._buffer[0], last_update_id):
            self.counters.stale_snapshots += 1
            raise SnapshotTooOldError(
                f"snapshot lastUpdateId {last_update_id} predates the first buffered event "
                f"U={self._buffer[0].first_id}"
            )
        self.state = SyncState.SYNCED
        self.last_update_id = last_update_id
        self._awaiting_first = not self._buffer
        pending = list(self._buffer)
        self._buffer.clear()
        out: list[DepthEvent[P]] = []
        for i, event in enumerate(pending):
            out.extend(self._accept(event) if i == 0 else self.on_diff(event))
            if self.state is SyncState.BUFFERING:
                # A gap inside the buffer: the snapshot is useless. The event after the gap
                # is buffered already; keep the rest behind it for the next snapshot.
                for later in pending[i + 1 :]:
                    self._push(later)
                # Nothing before the gap reaches the book either: take back their count.
                self.counters.applied -= len(out)
                return []
        return out

    # -- rules ----------------------------------------------------------------------------

    def _is_old(self, event: DepthEvent[P], snapshot_id: int) -> bool:
        if self.futures:
            return event.last_id < snapshot_id
        return event.last_id <= snapshot_id

    def _straddles(self, event: DepthEvent[P], snapshot_id: int) -> bool:
        if self.futures:
            return event.first_id <= snapshot_id <= event.last_id
        return event.first_id <= snapshot_id + 1 <= event.last_id

    def _accept(self, event: DepthEvent[P]) -> list[DepthEvent[P]]:
        self.last_update_id = event.last_id
        self.counters.applied += 1
        return [event]

    def _gap(self, event: DepthEvent[P]) -> list[DepthEvent[P]]:
        self.counters.gaps += 1
        self.counters.resyncs += 1
        self.state = SyncState.BUFFERING
        self._awaiting_first = False
        self._buffer.clear()
        # The event after the gap is the start of what the next snapshot must meet.
        self._push(event)
        return []

    def _push(self, event: DepthEvent[P]) -> None:
        if len(self._buffer) >= self.max_buffer:
            self._buffer.popleft()
            self.counters.buffer_overflow += 1
        self._buffer.append(event)

"""BookSync: Binance's snapshot + diff rules, spot and futures, case by case."""

from __future__ import annotations

import pytest

from pegbot.feeds.sync import BookSync, DepthEvent, SnapshotTooOldError, SyncState


def ev(first: int, last: int, pu: int | None = None, tag: str = "") -> DepthEvent[str]:
    return DepthEvent(first, last, pu, tag or f"{first}-{last}")


def tags(events: list[DepthEvent[str]]) -> list[str]:
    return [e.payload for e in events]


# -- spot ------------------------------------------------------------------------------------


def test_spot_buffers_until_the_snapshot() -> None:
    sync: BookSync[str] = BookSync()
    assert sync.state is SyncState.BUFFERING and not sync.synced
    assert sync.on_diff(ev(101, 105)) == []
    assert sync.on_diff(ev(106, 110)) == []
    assert sync.buffered == 2 and sync.first_buffered_id == 101
    assert sync.counters.applied == 0


def test_spot_drops_old_events_and_starts_at_the_straddling_one() -> None:
    sync: BookSync[str] = BookSync()
    for e in (ev(90, 99), ev(100, 104), ev(105, 109), ev(110, 112)):
        sync.on_diff(e)
    # Snapshot at 106: 90-99 is old (u <= 106? yes), 100-104 old, 105-109 straddles 107.
    out = sync.on_snapshot(106)
    assert tags(out) == ["105-109", "110-112"]
    assert sync.synced and sync.last_update_id == 112
    assert sync.counters.dropped_old == 2 and sync.counters.snapshots == 1
    assert sync.counters.applied == 2 and sync.buffered == 0


def test_spot_straddle_bounds_are_inclusive() -> None:
    # U == lastUpdateId + 1 (the normal case) and u == lastUpdateId + 1 both straddle.
    a: BookSync[str] = BookSync()
    a.on_diff(ev(101, 101))
    assert tags(a.on_snapshot(100)) == ["101-101"]
    b: BookSync[str] = BookSync()
    b.on_diff(ev(100, 100))  # u == lastUpdateId: already in the snapshot
    b.on_diff(ev(101, 103))
    assert tags(b.on_snapshot(100)) == ["101-103"]
    assert b.counters.dropped_old == 1


def test_spot_snapshot_too_old_keeps_the_buffer_for_a_newer_one() -> None:
    sync: BookSync[str] = BookSync()
    sync.on_diff(ev(105, 109))
    sync.on_diff(ev(110, 111))
    with pytest.raises(SnapshotTooOldError):
        sync.on_snapshot(103)  # 104 was never seen: the snapshot predates the stream
    assert sync.state is SyncState.BUFFERING and sync.buffered == 2
    assert sync.counters.stale_snapshots == 1
    assert tags(sync.on_snapshot(104)) == ["105-109", "110-111"]
    assert sync.synced and sync.last_update_id == 111


def test_spot_continuity_duplicates_and_overlaps() -> None:
    sync: BookSync[str] = BookSync()
    sync.on_diff(ev(101, 102))
    sync.on_snapshot(100)
    assert tags(sync.on_diff(ev(103, 104))) == ["103-104"]
    assert sync.on_diff(ev(103, 104)) == []  # duplicate
    assert sync.on_diff(ev(99, 100)) == []  # wholly old
    assert sync.counters.dropped_old == 2
    assert tags(sync.on_diff(ev(104, 106))) == ["104-106"]  # overlaps 104: still correct
    assert sync.counters.overlaps == 1
    assert sync.last_update_id == 106 and sync.synced
    assert sync.counters.gaps == 0


def test_spot_gap_drops_the_book_and_counts_a_resync() -> None:
    sync: BookSync[str] = BookSync()
    sync.on_diff(ev(101, 102))
    sync.on_snapshot(100)
    assert sync.on_diff(ev(104, 105)) == []  # 103 is missing
    assert sync.state is SyncState.BUFFERING
    assert sync.counters.gaps == 1 and sync.counters.resyncs == 1
    # The event after the gap is kept: the next snapshot must meet it.
    assert sync.first_buffered_id == 104
    sync.on_diff(ev(106, 107))
    assert tags(sync.on_snapshot(104)) == ["104-105", "106-107"]
    assert sync.synced and sync.last_update_id == 107


def test_spot_snapshot_with_nothing_buffered_waits_for_a_straddling_event() -> None:
    sync: BookSync[str] = BookSync()
    assert sync.on_snapshot(200) == []
    assert sync.synced and sync.last_update_id == 200
    assert sync.on_diff(ev(190, 200)) == []  # old: the snapshot has it
    assert tags(sync.on_diff(ev(195, 203))) == ["195-203"]  # straddles 201
    assert sync.last_update_id == 203
    other: BookSync[str] = BookSync()
    other.on_snapshot(200)
    assert other.on_diff(ev(202, 203)) == []  # 201 missing: a gap
    assert other.counters.gaps == 1 and other.state is SyncState.BUFFERING


def test_spot_gap_inside_the_buffer_makes_the_snapshot_useless() -> None:
    sync: BookSync[str] = BookSync()
    for e in (ev(101, 102), ev(103, 104), ev(107, 108), ev(109, 110)):
        sync.on_diff(e)
    assert sync.on_snapshot(100) == []
    assert sync.state is SyncState.BUFFERING and sync.counters.gaps == 1
    assert sync.first_buffered_id == 107 and sync.buffered == 2
    assert tags(sync.on_snapshot(107)) == ["107-108", "109-110"]


def test_buffer_overflow_drops_the_oldest_and_counts() -> None:
    sync: BookSync[str] = BookSync(max_buffer=3)
    for i in range(5):
        sync.on_diff(ev(100 + 2 * i, 101 + 2 * i))
    assert sync.buffered == 3 and sync.first_buffered_id == 104
    assert sync.counters.buffer_overflow == 2
    with pytest.raises(SnapshotTooOldError):
        sync.on_snapshot(101)


def test_reset_forgets_the_buffer_and_the_book() -> None:
    sync: BookSync[str] = BookSync()
    sync.on_diff(ev(101, 102))
    sync.on_snapshot(100)
    sync.reset()
    assert sync.state is SyncState.BUFFERING and sync.buffered == 0
    sync.on_diff(ev(500, 501))
    assert tags(sync.on_snapshot(499)) == ["500-501"]


# -- futures (pu chaining) -------------------------------------------------------------------


def test_futures_drop_and_straddle_rules() -> None:
    sync: BookSync[str] = BookSync(futures=True)
    sync.on_diff(ev(90, 99, 80))
    sync.on_diff(ev(100, 110, 99))  # u == lastUpdateId: kept (futures drop only u < id)
    sync.on_diff(ev(111, 120, 110))
    out = sync.on_snapshot(110)
    assert tags(out) == ["100-110", "111-120"]
    assert sync.counters.dropped_old == 1 and sync.last_update_id == 120


def test_futures_first_event_must_contain_the_snapshot_id() -> None:
    sync: BookSync[str] = BookSync(futures=True)
    sync.on_diff(ev(111, 120, 110))
    with pytest.raises(SnapshotTooOldError):
        sync.on_snapshot(110)  # U=111 > 110: spot would accept this, futures must not
    assert tags(sync.on_snapshot(111)) == ["111-120"]


def test_futures_continuity_is_pu_not_U() -> None:
    sync: BookSync[str] = BookSync(futures=True)
    sync.on_diff(ev(100, 110, 95))
    sync.on_snapshot(105)
    # Futures ids need not be contiguous: U may jump as long as pu is the last u.
    assert tags(sync.on_diff(ev(130, 140, 110))) == ["130-140"]
    assert sync.on_diff(ev(141, 150, 139)) == []  # pu mismatch: a gap
    assert sync.counters.gaps == 1 and sync.state is SyncState.BUFFERING


def test_futures_duplicate_is_ignored() -> None:
    sync: BookSync[str] = BookSync(futures=True)
    sync.on_diff(ev(100, 110, 95))
    sync.on_snapshot(105)
    assert sync.on_diff(ev(100, 110, 95)) == []
    assert sync.counters.dropped_old == 1 and sync.synced


def test_counters_as_dict() -> None:
    sync: BookSync[str] = BookSync()
    sync.on_diff(ev(1, 2))
    sync.on_snapshot(0)
    d = sync.counters.as_dict()
    assert d["applied"] == 1 and d["snapshots"] == 1 and set(d) >= {"gaps", "resyncs"}


def test_events_before_a_gap_inside_the_buffer_are_not_counted_as_applied() -> None:
    sync: BookSync[None] = BookSync()
    for first, last in ((101, 102), (103, 104), (107, 108)):
        sync.on_diff(DepthEvent(first, last, None, None))
    assert sync.on_snapshot(100) == []
    assert sync.counters.applied == 0
    assert sync.counters.gaps == 1
    assert not sync.synced

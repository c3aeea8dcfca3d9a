"""BookSync over random diff streams from a reference venue, with faults injected.

The venue applies single-level updates with consecutive ids; messages bundle runs of them with
the final absolute quantity of each touched level (as Binance does), and snapshots may be
taken at any id, including inside a message. Delivery drops, duplicates and reorders
messages, and snapshots arrive at random points with random (possibly stale) ids.

Properties, checked after every step:

* whenever BookSync says SYNCED, the book built from exactly what it returned equals the
  venue's book at ``last_update_id``;
* every gap is detected: while SYNCED, the ids the book has seen form one unbroken run
  from the snapshot to ``last_update_id``;
* it recovers: a fresh snapshot after the faults brings it back in sync.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from pegbot.feeds.sync import BookSync, DepthEvent, SnapshotTooOldError

Side = int  # +1 bid, -1 ask
Levels = dict[tuple[Side, int], int]


@dataclass(frozen=True)
class Venue:
    states: list[Levels]  # states[i] = book after update id i (id 0 = the initial book)
    messages: list[DepthEvent[Levels]]


@st.composite
def venues(draw: st.DrawFn, futures: bool) -> Venue:
    key = st.tuples(st.sampled_from([1, -1]), st.integers(1, 8))
    book: Levels = dict(draw(st.dictionaries(key, st.integers(1, 9), max_size=6)))
    states = [dict(book)]
    changed: list[tuple[Side, int]] = []  # changed[i - 1] = the level update id i set
    n_updates = draw(st.integers(1, 60))
    for _ in range(n_updates):
        k, q = draw(key), draw(st.integers(0, 9))
        if q:
            book[k] = q
        else:
            book.pop(k, None)
        states.append(dict(book))
        changed.append(k)
    cuts = sorted(draw(st.sets(st.integers(1, max(1, n_updates - 1)), max_size=n_updates)))
    bounds = sorted({0, *(c for c in cuts if c < n_updates), n_updates})
    messages = []
    prev_u = 0
    for lo, hi in itertools.pairwise(bounds):
        first, last = lo + 1, hi
        # A message carries the final absolute quantity of every level its updates touched.
        payload = {k: states[last].get(k, 0) for k in changed[first - 1 : last]}
        messages.append(DepthEvent(first, last, prev_u if futures else None, payload))
        prev_u = last
    return Venue(states, messages)


@st.composite
def deliveries(draw: st.DrawFn, n: int) -> list[tuple[str, int]]:
    """A delivery script: ('msg', index) and ('snap', update id) steps, faults injected."""
    order = list(range(n))
    script: list[tuple[str, int]] = []
    i = 0
    while i < len(order):
        fault = draw(st.sampled_from(["ok"] * 6 + ["drop", "dup", "swap"]))
        if fault == "drop":
            i += 1
            continue
        if fault == "swap" and i + 1 < len(order):
            script += [("msg", order[i + 1]), ("msg", order[i])]
            i += 2
            continue
        script.append(("msg", order[i]))
        if fault == "dup":
            script.append(("msg", order[draw(st.integers(max(0, i - 3), i))]))
        i += 1
        if draw(st.integers(0, 3)) == 0:
            script.append(("snap", -1))  # the id is drawn when it is used
    return script


def run(
    venue: Venue, script: list[tuple[str, int]], snap_ids: st.DataObject, futures: bool
) -> None:
    sync: BookSync[Levels] = BookSync(futures=futures)
    top = len(venue.states) - 1
    book: Levels = {}
    covered = -1  # the highest id such that the book has seen every id up to it
    holes = True  # no valid book yet
    delivered_max = 0

    def apply(events: list[DepthEvent[Levels]]) -> None:
        nonlocal covered, holes
        for e in events:
            if e.first_id > covered + 1:
                holes = True
            covered = max(covered, e.last_id)
            for k, q in e.payload.items():
                if q:
                    book[k] = q
                else:
                    book.pop(k, None)

    def check() -> None:
        if sync.synced:
            assert not holes, "a gap went unnoticed"
            assert covered == sync.last_update_id
            assert book == venue.states[sync.last_update_id]

    def snapshot(snap_id: int) -> None:
        nonlocal covered, holes, book
        gaps_before = sync.counters.gaps
        try:
            out = sync.on_snapshot(snap_id)
        except SnapshotTooOldError:
            assert not sync.synced
            return
        book = dict(venue.states[snap_id])
        covered, holes = snap_id, False
        apply(out)
        if not sync.synced:
            assert sync.counters.gaps == gaps_before + 1

    for kind, arg in script:
        if kind == "msg":
            event = venue.messages[arg]
            delivered_max = max(delivered_max, event.last_id)
            was_synced, gaps_before = sync.synced, sync.counters.gaps
            out = sync.on_diff(event)
            if was_synced and not sync.synced:
                assert sync.counters.gaps == gaps_before + 1 and out == []
                holes = True
            apply(out)
        elif not sync.synced:
            # A snapshot is taken "now": anywhere from well before to after what we've seen.
            snapshot(snap_ids.draw(st.integers(max(0, delivered_max - 5), top)))
        check()
    # Recovery: a snapshot of the venue's latest book always brings it back.
    if not sync.synced:
        snapshot(top)
        assert sync.synced
        check()


@settings(max_examples=200, deadline=None)
@given(data=st.data(), futures=st.booleans())
def test_synced_book_always_equals_the_venue(data: st.DataObject, futures: bool) -> None:
    venue = data.draw(venues(futures))
    script = data.draw(deliveries(len(venue.messages)))
    run(venue, script, data, futures)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), futures=st.booleans())
def test_clean_stream_syncs_once_and_never_gaps(data: st.DataObject, futures: bool) -> None:
    venue = data.draw(venues(futures))
    n = len(venue.messages)
    k = data.draw(st.integers(0, n - 1))
    # Buffer the first k+1 messages, snapshot at any id up to the last buffered one.
    sync: BookSync[Levels] = BookSync(futures=futures)
    for e in venue.messages[: k + 1]:
        sync.on_diff(e)
    first_u = venue.messages[0].first_id
    snap_id = data.draw(st.integers(first_u - 1, venue.messages[k].last_id))
    if futures and snap_id < first_u:
        snap_id = first_u
    out = sync.on_snapshot(snap_id)
    book = dict(venue.states[snap_id])
    for e in out + [x for m in venue.messages[k + 1 :] for x in sync.on_diff(m)]:
        for key, q in e.payload.items():
            if q:
                book[key] = q
            else:
                book.pop(key, None)
    assert sync.synced and sync.last_update_id == len(venue.states) - 1
    assert book == venue.states[-1]
    assert sync.counters.gaps == 0 and sync.counters.stale_snapshots == 0


@given(
    st.lists(
        st.tuples(st.integers(0, 40), st.integers(0, 6), st.one_of(st.none(), st.integers(0, 40))),
        max_size=40,
    ),
    st.booleans(),
    st.integers(0, 40),
)
def test_advance_agrees_with_on_diff(
    msgs: list[tuple[int, int, int | None]], futures: bool, snapshot: int
) -> None:
    # The fast path either declines (and changes nothing) or does exactly what on_diff does.
    fast: BookSync[None] = BookSync(futures=futures)
    slow: BookSync[None] = BookSync(futures=futures)
    for sync in (fast, slow):
        try:
            sync.on_snapshot(snapshot)
        except SnapshotTooOldError:
            return
    for first, span, prev in msgs:
        event = DepthEvent(first, first + span, prev, None)
        before = (fast.state, fast.last_update_id, fast.counters.as_dict())
        if fast.advance(event.first_id, event.last_id, event.prev_last_id):
            assert slow.on_diff(event) == [event]
        else:
            assert (fast.state, fast.last_update_id, fast.counters.as_dict()) == before
            fast.on_diff(event)
            slow.on_diff(event)
        assert (fast.state, fast.last_update_id) == (slow.state, slow.last_update_id)
        assert fast.counters == slow.counters

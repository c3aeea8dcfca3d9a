"""Bad input into the market data path: raw WebSocket bytes into BinanceFeed, ids into BookSync.

Nothing here may raise: every message the feed cannot use is counted (``bad_messages``,
``unknown_messages``) and, for a depth diff, forces a resync; whenever the feed says its
book is synced the book is uncrossed and at the sync's update id. BookSync never hands out
a diff that does not continue the book (spot rule ``U <= last + 1 < u + 1``).
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pegbot.feeds.binance import BinanceFeed, FeedConfig
from pegbot.feeds.model import BookLost, BookUpdate
from pegbot.feeds.sync import BookSync, DepthEvent, SnapshotTooOldError
from pegbot.market import Market

pytestmark = pytest.mark.timeout(120)

_DATA = Path(__file__).resolve().parents[1] / "data" / "binance_raw"

# -- inputs ----------------------------------------------------------------------------------


def _real_messages() -> list[bytes]:
    """Real combined-stream messages (repo fixtures, see tests/data/README.md)."""
    out = []
    with gzip.open(_DATA / "spot_nexousdt_20240724_L1-400.dat.gz", "rb") as fh:
        for line in fh.read().split(b"\n")[:120]:
            _, _, payload = line.partition(b" ")
            if payload.startswith(b"{"):
                out.append(payload)
    return out


REAL = _real_messages()
_NASTY = [
    "0.01140", "1000", "-1", "1e9", "NaN", "Infinity", "0x10", "١٢", "",
    "1e999999999", "9" * 400, "0.011400000000000000000000000000001", "1_000",
]  # fmt: skip

junk = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(_NASTY),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=8,
)
price = st.integers(min_value=1, max_value=3000).map(lambda t: f"{t / 100_000:.5f}") | junk
qty = st.integers(min_value=0, max_value=10**7).map(lambda u: f"{u}.00000000") | junk
level = st.tuples(price, qty).map(list) | junk
depth = st.fixed_dictionaries(
    {
        "e": st.just("depthUpdate"),
        "E": st.integers(min_value=0, max_value=2**45) | junk,
        "s": st.just("KGSTUSDT"),
        "U": st.integers(min_value=0, max_value=400) | junk,
        "u": st.integers(min_value=0, max_value=400) | junk,
        "b": st.lists(level, max_size=4) | junk,
        "a": st.lists(level, max_size=4) | junk,
    }
)
trade = st.fixed_dictionaries(
    {
        "e": st.just("trade"),
        "t": st.integers(min_value=0, max_value=2**40) | junk,
        "p": price,
        "q": qty,
        "m": st.booleans() | junk,
        "T": st.integers(min_value=0, max_value=2**45) | junk,
    }
)
envelope = st.one_of(
    depth.map(lambda d: {"stream": "kgstusdt@depth@100ms", "data": d}),
    trade.map(lambda d: {"stream": "kgstusdt@trade", "data": d}),
    depth,
    st.fixed_dictionaries({"result": junk, "id": junk}),
    st.dictionaries(st.text(max_size=6), junk, max_size=4),
    junk,
)


def _mutate(data: bytes, draw_ops: list[tuple[int, int, int]]) -> bytes:
    buf = bytearray(data)
    for kind, pos, val in draw_ops:
        if not buf:
            break
        i = pos % len(buf)
        if kind == 0:
            buf[i] = val
        elif kind == 1:
            del buf[i:]
        elif kind == 2:
            buf.insert(i, val)
        else:
            del buf[i]
    return bytes(buf)


messages = st.one_of(
    envelope.map(lambda m: orjson.dumps(m, option=orjson.OPT_NON_STR_KEYS)),
    st.binary(max_size=200),
    st.tuples(
        st.sampled_from(REAL),
        st.lists(
            st.tuples(st.integers(0, 3), st.integers(0, 10_000), st.integers(0, 255)), max_size=4
        ),
    ).map(lambda x: _mutate(*x)),
)

# -- the feed ----------------------------------------------------------------------------------


def _synced_feed(events: list[Any]) -> BinanceFeed:
    """A feed whose book was seeded from a snapshot (id 100), as after a resync."""
    cfg = FeedConfig(symbol="KGST/USDT", ws_url="ws://127.0.0.1:9", rest_url="http://127.0.0.1:9")
    feed = BinanceFeed(cfg, Market.kgst_usdt(), clock=lambda: 1, on_book=events.append)
    pending = feed.sync.on_snapshot(100)
    feed._seed(100, [(1130, 10**11)], [(1150, 10**11)], pending)
    assert feed.synced
    return feed


def _check_feed(feed: BinanceFeed) -> None:
    if feed.synced:
        assert not feed.book.is_crossed
        assert feed.sync.synced
        assert feed.book.update_id == feed.sync.last_update_id


@pytest.mark.parametrize("price", ["1e999999999", "9" * 400, "0.011400000000000000000000000000001"])
def test_absurd_numbers_are_bad_messages_not_crashes(price: str) -> None:
    # Found by this suite: decimal.Overflow escaped the feed (and ended the bot's TaskGroup),
    # and a price with more digits than Decimal's precision was rounded onto the grid.
    events: list[BookUpdate | BookLost] = []
    feed = _synced_feed(events)
    msg = {"e": "depthUpdate", "E": 1, "U": 101, "u": 101, "b": [[price, "1000"]], "a": []}
    feed._on_message(5, orjson.dumps({"stream": "kgstusdt@depth@100ms", "data": msg}))
    assert feed.counters.bad_messages == 1
    assert not feed.synced
    assert [type(e) for e in events] == [BookUpdate, BookLost]  # the seed, then the loss
    assert events[-1].reason == "bad_message"  # type: ignore[union-attr]


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(messages, min_size=1, max_size=12))
def test_feed_message_handler_never_raises(batch: list[bytes], reliability: Any) -> None:
    events: list[BookUpdate | BookLost] = []
    feed = _synced_feed(events)
    for i, data in enumerate(batch):
        feed._on_message(10 + i, data)
        _check_feed(feed)
    c = feed.counters
    assert c.messages == len(batch)
    assert c.bad_messages + c.unknown_messages <= len(batch)
    lost = [e for e in events if isinstance(e, BookLost)]
    assert len(lost) <= c.resyncs
    reliability.fuzzed("feed: WebSocket message handler", len(batch), c.bad_messages)


@settings(max_examples=300, deadline=None)
@given(
    diffs=st.lists(
        st.tuples(
            st.integers(min_value=90, max_value=140),
            st.integers(min_value=0, max_value=8),
            st.lists(st.tuples(st.integers(1100, 1180), st.integers(0, 3)), max_size=3),
            st.lists(st.tuples(st.integers(1100, 1180), st.integers(0, 3)), max_size=3),
        ),
        max_size=30,
    )
)
def test_feed_random_depth_ids_keep_the_book_consistent(
    diffs: list[tuple[int, int, list[tuple[int, int]], list[tuple[int, int]]]], reliability: Any
) -> None:
    events: list[BookUpdate | BookLost] = []
    feed = _synced_feed(events)
    for n, (first, span, bids, asks) in enumerate(diffs):
        msg = {
            "e": "depthUpdate",
            "E": 1_700_000_000_000 + n,
            "U": first,
            "u": first + span,
            "b": [[f"{t / 100_000:.5f}", f"{q * 1000}"] for t, q in bids],
            "a": [[f"{t / 100_000:.5f}", f"{q * 1000}"] for t, q in asks],
        }
        before = feed.sync.last_update_id
        feed._on_message(1000 + n, orjson.dumps({"stream": "kgstusdt@depth@100ms", "data": msg}))
        _check_feed(feed)
        if feed.synced and feed.book.update_id != before:
            # Applied: it continued the book.
            assert first <= before + 1 <= first + span
    reliability.fuzzed("feed: depth diffs with random update ids", len(diffs), feed.counters.gaps)


# -- BookSync alone ---------------------------------------------------------------------------

ops = st.lists(
    st.one_of(
        st.tuples(st.just("diff"), st.integers(-5, 60), st.integers(-5, 60)),
        st.tuples(st.just("snap"), st.integers(-5, 60), st.just(0)),
        st.tuples(st.just("reset"), st.just(0), st.just(0)),
    ),
    max_size=60,
)


@settings(max_examples=1500, deadline=None)
@given(ops=ops, futures=st.booleans())
def test_booksync_random_ids_only_hand_out_continuations(
    ops: list[tuple[str, int, int]], futures: bool, reliability: Any
) -> None:
    sync: BookSync[int] = BookSync(futures=futures, max_buffer=16)
    applied: list[DepthEvent[int]] = []
    book_id: int | None = None  # the id our imaginary book is at (None: unknown)
    prev_u = -10
    errors = 0
    for kind, a, b in ops:
        if kind == "diff":
            ev = DepthEvent(
                first_id=a, last_id=b, prev_last_id=prev_u if futures else None, payload=0
            )
            prev_u = b
            out = sync.on_diff(ev)
            if not sync.synced:
                book_id = None
        elif kind == "snap":
            try:
                out = sync.on_snapshot(a)
            except SnapshotTooOldError:
                errors += 1
                assert not sync.synced
                continue
            book_id = a if sync.synced else None
        else:
            sync.reset()
            book_id = None
            continue
        for ev in out:
            assert book_id is not None, "an event handed out while the book is unknown"
            if futures:
                assert ev.last_id >= book_id
            else:
                assert ev.first_id <= book_id + 1, "a gap was applied"
                assert ev.last_id > book_id, "an old diff was applied"
            book_id = ev.last_id
            applied.append(ev)
        if sync.synced:
            assert book_id == sync.last_update_id
        assert sync.buffered <= 16
    reliability.fuzzed("BookSync: random update ids", len(ops), errors)

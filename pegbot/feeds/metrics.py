"""Prometheus view of a feed's and a recorder's counters, read at scrape time.

The feed and the recorder count in plain dataclasses on their hot paths; this collector turns
them into ``pegbot_feed_*`` and ``pegbot_recorder_*`` metrics when Prometheus scrapes, so
nothing is counted twice and the hot path never touches prometheus_client. Register it on the
injectable registry of :class:`pegbot.metrics.Metrics` (or any ``CollectorRegistry``).

Labels are bounded: ``venue``, ``symbol`` and, for skips and snapshot failures, ``reason``.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from pegbot.feeds.binance import BinanceFeed
from pegbot.feeds.recorder import RawRecorder

# (metric name without _total, help, FeedCounters field)
_FEED_COUNTERS = (
    ("pegbot_feed_messages", "WebSocket messages received.", "messages"),
    ("pegbot_feed_received_bytes", "Bytes of WebSocket messages received.", "bytes"),
    ("pegbot_feed_depth_messages", "Depth diff messages received.", "depth_messages"),
    ("pegbot_feed_trades", "Public trades received.", "trades"),
    ("pegbot_feed_connects", "WebSocket connections opened.", "connects"),
    (
        "pegbot_feed_connect_failures",
        "Failed connection or market-load attempts.",
        "connect_failures",
    ),
    ("pegbot_feed_disconnects", "WebSocket connections lost or closed.", "disconnects"),
    ("pegbot_feed_snapshots", "REST depth snapshots fetched.", "snapshots"),
    ("pegbot_feed_gaps", "Sequence gaps detected in the depth stream.", "gaps"),
    ("pegbot_feed_probes", "REST probes of a quiet book (is it unchanged?).", "probes"),
    ("pegbot_feed_probe_errors", "REST probes that failed (nothing confirmed).", "probe_errors"),
    (
        "pegbot_feed_silent_gaps",
        "Probes that found the venue ahead of a silent stream (then resynced).",
        "silent_gaps",
    ),
    ("pegbot_feed_resyncs", "Times the book was discarded and rebuilt from a snapshot.", "resyncs"),
    ("pegbot_feed_crossed_books", "Times the book came out crossed (then resynced).", "crossed"),
    ("pegbot_feed_book_updates", "Book updates delivered to consumers.", "book_updates"),
    (
        "pegbot_feed_events_dropped",
        "Events dropped because a consumer was too slow.",
        "queue_dropped",
    ),
)

_RECORDER_COUNTERS = (
    ("pegbot_recorder_lines", "Raw lines written.", "lines"),
    ("pegbot_recorder_written_bytes", "Uncompressed bytes written.", "bytes"),
    ("pegbot_recorder_files", "Recording files opened.", "files"),
    ("pegbot_recorder_flushes", "Sync flushes of the gzip stream.", "flushes"),
)


class FeedCollector(Collector):
    """Exports one feed's counters (and optionally its recorder's).

    Args:
        feed: The feed to read.
        venue: ``venue`` label value (``binance``).
        recorder: A recorder whose counters to export too.
    """

    def __init__(
        self, feed: BinanceFeed, venue: str = "binance", recorder: RawRecorder | None = None
    ):
        self.feed = feed
        self.venue = venue
        self.recorder = recorder

    def register(self, registry: CollectorRegistry) -> FeedCollector:
        """Register on ``registry`` and return self."""
        registry.register(self)
        return self

    def describe(self) -> list[Metric]:
        """Nothing up front: the collector is read only at scrape time."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Build the metric families from the current counters."""
        labels = [self.venue, self.feed.config.symbol]
        names = ["venue", "symbol"]
        c = self.feed.counters
        for name, doc, attr in _FEED_COUNTERS:
            fam = CounterMetricFamily(name, doc, labels=names)
            fam.add_metric(labels, getattr(c, attr))
            yield fam
        skipped = CounterMetricFamily(
            "pegbot_feed_skipped_messages",
            "Messages not used, by reason (bad: unparseable or off-grid; unknown: other streams).",
            labels=[*names, "reason"],
        )
        skipped.add_metric([*labels, "bad"], c.bad_messages)
        skipped.add_metric([*labels, "unknown"], c.unknown_messages)
        yield skipped
        snap_fail = CounterMetricFamily(
            "pegbot_feed_snapshot_failures",
            "REST snapshots not used, by reason (error: request or parse; stale: too old).",
            labels=[*names, "reason"],
        )
        snap_fail.add_metric([*labels, "error"], c.snapshot_errors)
        snap_fail.add_metric([*labels, "stale"], c.stale_snapshots)
        yield snap_fail
        synced = GaugeMetricFamily(
            "pegbot_feed_book_synced", "1 while the book is in sync with the venue.", labels=names
        )
        synced.add_metric(labels, 1.0 if self.feed.synced else 0.0)
        yield synced
        for name, doc, value in (
            (
                "pegbot_feed_last_message_timestamp_seconds",
                "Receive time of the last message.",
                c.last_message_ns,
            ),
            (
                "pegbot_feed_last_book_update_timestamp_seconds",
                "Time of the last book update.",
                c.last_book_ns,
            ),
            (
                "pegbot_feed_last_confirmed_timestamp_seconds",
                "Time a REST probe last found the quiet book unchanged.",
                c.last_confirmed_ns,
            ),
        ):
            g = GaugeMetricFamily(name, doc, labels=names)
            g.add_metric(labels, value / 1e9)
            yield g
        if self.recorder is not None:
            r = self.recorder.counters
            for name, doc, attr in _RECORDER_COUNTERS:
                fam = CounterMetricFamily(name, doc, labels=names)
                fam.add_metric(labels, getattr(r, attr))
                yield fam
            g = GaugeMetricFamily(
                "pegbot_recorder_last_write_timestamp_seconds",
                "Receive time of the last line written.",
                labels=names,
            )
            g.add_metric(labels, r.last_write_ns / 1e9)
            yield g

"""The raw recorder: lossless lines, hourly rotation, crash tolerance (``pegbot record``)."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from _local_binance import LocalBinance, until
from websockets.exceptions import ConnectionClosed

from pegbot.feeds.binance import BinanceFeed, FeedConfig
from pegbot.feeds.recorder import HOUR_NS, RawRecorder, hour_file_name, record
from pegbot.market import Market
from pegbot.tape.rawlines import RawCounters, iter_raw_lines

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parents[2]
MARKET = Market.kgst_usdt()

# ``pegbot record`` as registered by pegbot.feeds.cli, on an app that is always a command group
# (while only one room registers a command, typer would otherwise run it without its name).
CLI = """
import typer
from pegbot.feeds.cli import register
app = typer.Typer()
app.callback()(lambda: None)
register(app)
app()
"""


def ns_at(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * 1_000_000_000


def read_dir(out: Path) -> tuple[list[tuple[Path, int, bytes, bool]], RawCounters]:
    counters = RawCounters()
    rows = []
    for path in sorted(out.glob("*.gz")):
        for line in iter_raw_lines(path, counters):
            rows.append((path, line.local_ns, line.payload, line.complete))
    return rows, counters


def is_snapshot(payload: bytes) -> bool:
    return payload.startswith(b'{"lastUpdateId"')


class StepClock:
    """A clock that moves 100 ms every time it is read."""

    def __init__(self, start_ns: int, step_ns: int = 100_000_000) -> None:
        self.now = start_ns
        self.step = step_ns

    def __call__(self) -> int:
        self.now += self.step
        return self.now


# -- RawRecorder on its own ---------------------------------------------------------------


def test_file_names_sort_in_time_order() -> None:
    hour = ns_at("2026-07-22T13:00:00") // HOUR_NS
    assert hour_file_name("KGSTUSDT", hour) == "kgstusdt_20260722_13.gz"
    names = [
        hour_file_name("kgstusdt", hour - 1),
        hour_file_name("kgstusdt", hour),
        hour_file_name("kgstusdt", hour, 1),
        hour_file_name("kgstusdt", hour, 2),
        hour_file_name("kgstusdt", hour + 1),
    ]
    assert names == sorted(names)
    assert names[2] == "kgstusdt_20260722_13_01.gz"


def test_recorder_flushes_readable_data_before_close(tmp_path: Path) -> None:
    t0 = ns_at("2026-07-22T10:15:00")
    rec = RawRecorder(tmp_path, "kgstusdt", flush_interval_ns=500_000_000)
    rec.write(t0, b'{"a":1}')
    path = rec.current_path
    assert path is not None
    rec.write(t0 + 100_000_000, b'{"a":2}')  # within the interval: may still sit in memory
    rec.tick(t0 + 600_000_000)  # the interval has passed: everything must be on disk
    rows = [(ln.local_ns, ln.payload, ln.complete) for ln in iter_raw_lines(path)]
    assert rows == [(t0, b'{"a":1}', True), (t0 + 100_000_000, b'{"a":2}', True)]
    rec.close()
    with gzip.open(path, "rb") as fh:  # closed properly: a plain gzip reader is happy
        assert fh.read() == b'%d {"a":1}\n%d {"a":2}\n' % (t0, t0 + 100_000_000)


def test_recorder_keeps_one_message_per_line_and_never_overwrites(tmp_path: Path) -> None:
    t0 = ns_at("2026-07-22T10:15:00")
    with RawRecorder(tmp_path, "kgstusdt") as rec:
        rec.write(t0, b'{"a":\n1,\r\n"b":"\xd1\x81\xd0\xbe\xd0\xbc"}')
    assert rec.counters.line_breaks_replaced == 1
    # A second recorder in the same hour (a restart) must not touch the first file.
    with RawRecorder(tmp_path, "kgstusdt") as rec2:
        rec2.write(t0 + 1, b"{}")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["kgstusdt_20260722_10.gz", "kgstusdt_20260722_10_01.gz"]
    rows, _ = read_dir(tmp_path)
    assert [r[2] for r in rows] == [b'{"a": 1,  "b":"\xd1\x81\xd0\xbe\xd0\xbc"}', b"{}"]
    assert json.loads(rows[0][2]) == {"a": 1, "b": "сом"}


def test_cut_files_read_back_as_a_prefix(tmp_path: Path) -> None:
    """Cut a recording at every byte: the reader returns a prefix, a torn line is flagged."""
    t0 = ns_at("2026-07-22T10:15:00")
    messages = [b'{"i":%d,"pad":"%s"}' % (i, b"x" * (i % 7)) for i in range(60)]
    rec = RawRecorder(tmp_path / "src", "kgstusdt", flush_interval_ns=0)
    for i, msg in enumerate(messages):
        rec.write(t0 + i, msg)
    path = rec.current_path
    assert path is not None
    data = path.read_bytes()  # flushed after every line, trailer not yet written
    rec.close()
    cut_path = tmp_path / "cut.gz"
    complete_counts = set()
    for cut in range(0, len(data) + 1, 3):
        cut_path.write_bytes(data[:cut])
        counters = RawCounters()
        lines = list(iter_raw_lines(cut_path, counters))
        done = [ln for ln in lines if ln.complete]
        assert [ln.payload for ln in done] == messages[: len(done)]
        assert [ln.local_ns for ln in done] == [t0 + i for i in range(len(done))]
        torn = [ln for ln in lines if not ln.complete]
        assert len(torn) <= 1
        if torn:
            assert messages[len(done)].startswith(torn[0].payload)
        complete_counts.add(len(done))
    assert max(complete_counts) == len(messages)
    assert len(complete_counts) > 20


# -- recording a live feed ------------------------------------------------------------------


async def test_record_is_lossless_and_rotates_at_the_hour(tmp_path: Path) -> None:
    async with LocalBinance() as server:
        venue = server.venue
        clock = StepClock(ns_at("2026-07-22T12:59:58"))
        feeds: list[BinanceFeed] = []
        cfg = FeedConfig(ws_url=server.ws_url, rest_url=server.rest_url, first_event_wait=0.1)
        task = asyncio.create_task(
            record(
                cfg, tmp_path, market=MARKET, clock=clock, feed_hook=lambda f, _: feeds.append(f)
            )
        )
        await server.wait_connections(1)
        frames: list[bytes] = []
        for i in range(40):
            if i % 5 == 4:
                frames.append(venue.trade("0.01144", str(i), buyer_maker=bool(i % 2)))
            else:
                frames.append(venue.diff(bids=[("0.01143", str(100 + i))]))
        # Frames the feed cannot use must still be recorded exactly.
        frames[7:7] = [
            b'{"stream": "kgstusdt@trade",  "data": {"e": "trade", '
            b'"note": "\xd1\x81\xd0\xbe\xd0\xbc"}}',
            b"not json",
            b'{"stream":"kgstusdt@bookTicker","data":{"u":1,"b":"0.01143"}}',
            b'{"stream":"x",\n"data":{}}',
        ]
        for frame in frames:
            await server.send(frame)
        await until(lambda: feeds[0].counters.messages == len(frames), what="all received")
        await until(lambda: feeds[0].synced, what="synced")
        feeds[0].stop()
        recorder, feed = await asyncio.wait_for(task, 10)

    rows, counters = read_dir(tmp_path)
    assert counters.truncated_gzip == 0 and counters.bad_timestamp == 0
    assert all(complete for *_, complete in rows)
    payloads = [p for _, _, p, _ in rows]
    ws_lines = [p for p in payloads if not is_snapshot(p)]
    expected = [f.replace(b"\n", b" ") for f in frames]
    assert ws_lines == expected
    assert [p for p in payloads if is_snapshot(p)] == server.depth_bodies
    assert len(server.depth_bodies) >= 1
    assert recorder.counters.line_breaks_replaced == 1
    assert feed.counters.bad_messages >= 2  # the odd trade and "not json", still recorded

    # Hourly rotation by the injected clock, every line in its own file's hour.
    names = [p.name for p in sorted(tmp_path.glob("*.gz"))]
    assert names == ["kgstusdt_20260722_12.gz", "kgstusdt_20260722_13.gz"]
    for path, local_ns, _, _ in rows:
        assert hour_file_name("kgstusdt", local_ns // HOUR_NS) == path.name
    stamps = [ns for _, ns, _, _ in rows]
    assert stamps == sorted(stamps)
    assert sum(1 for p, *_ in rows if p.name.endswith("_12.gz")) >= 5
    assert sum(1 for p, *_ in rows if p.name.endswith("_13.gz")) >= 5


async def test_record_survives_sigkill_losing_at_most_a_second(tmp_path: Path) -> None:
    out = tmp_path / "rec"
    async with LocalBinance() as server:
        venue = server.venue
        env = dict(os.environ, PYTHONPATH=str(REPO), NO_PROXY="127.0.0.1,localhost")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                CLI,
                "record",
                "--symbol",
                "KGST/USDT",
                "--out",
                str(out),
                "--ws-url",
                server.ws_url,
                "--rest-url",
                server.rest_url,
                "--depth-limit",
                "100",
                "--flush-interval",
                "0.5",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            await server.wait_connections(1, timeout=30)
            stop_sending = asyncio.Event()

            async def pump(keep: Callable[[], bool]) -> None:
                i = 0
                while keep():
                    i += 1
                    with contextlib.suppress(ConnectionClosed):
                        await server.send(venue.diff(asks=[("0.01145", str(1000 + i))]))
                    await asyncio.sleep(0.02)

            pumping = asyncio.create_task(pump(lambda: not stop_sending.is_set()))
            await until(lambda: len(server.depth_bodies) >= 1, timeout=10, what="snapshot")
            await asyncio.sleep(2.5)
            os.kill(proc.pid, signal.SIGKILL)
            killed_at = time.time()
            stop_sending.set()
            await pumping
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    rows, counters = read_dir(out)
    assert counters.truncated_gzip == 1  # killed: no gzip trailer, yet readable
    ws_lines = [p for _, _, p, complete in rows if complete and not is_snapshot(p)]
    sent = [frame for _, frame in server.sent]
    assert ws_lines == sent[: len(ws_lines)]  # nothing reordered, nothing invented
    must_have = [frame for t, frame in server.sent if t < killed_at - 1.0]
    assert len(must_have) > 40
    lost_s = killed_at - server.sent[len(ws_lines) - 1][0]
    print(f"recorded {len(ws_lines)}/{len(sent)} ; newest sent {lost_s:.3f} s before kill")
    assert len(ws_lines) >= len(must_have), (len(ws_lines), len(must_have), len(sent))
    assert [p for _, _, p, _ in rows if is_snapshot(p)] == server.depth_bodies[:1]


async def test_record_cli_stops_after_duration_and_closes_files(tmp_path: Path) -> None:
    out = tmp_path / "rec"
    async with LocalBinance() as server:
        env = dict(os.environ, PYTHONPATH=str(REPO), NO_PROXY="127.0.0.1,localhost")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CLI,
            "record",
            "--out",
            str(out),
            "--ws-url",
            server.ws_url,
            "--rest-url",
            server.rest_url,
            "--depth-limit",
            "20",
            "--duration",
            "2",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await server.wait_connections(1, timeout=30)
        for i in range(5):
            await server.send(server.venue.diff(bids=[("0.01143", str(10 + i))]))
        stdout, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0
    summary = json.loads(stdout)
    assert summary["recorder"]["lines"] == 6 and summary["feed"]["depth_messages"] == 5
    assert summary["sync"]["snapshots"] == 1 and summary["feed"]["gaps"] == 0
    assert server.depth_params[0] == {"symbol": "KGSTUSDT", "limit": "20"}
    rows, counters = read_dir(out)
    assert counters.truncated_gzip == 0  # closed cleanly: the gzip trailer is there
    assert [p for _, _, p, _ in rows if not is_snapshot(p)] == [f for _, f in server.sent]
    assert [str(p) for p in sorted(out.glob("*.gz"))] == summary["files"]


async def test_record_cli_finishes_the_file_on_sigterm(tmp_path: Path) -> None:
    out = tmp_path / "rec"
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    metrics_port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    async with LocalBinance() as server:
        env = dict(os.environ, PYTHONPATH=str(REPO), NO_PROXY="127.0.0.1,localhost")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CLI,
            "record",
            "--out",
            str(out),
            "--ws-url",
            server.ws_url,
            "--rest-url",
            server.rest_url,
            "--metrics-port",
            str(metrics_port),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await server.wait_connections(1, timeout=30)
        for i in range(3):
            await server.send(server.venue.diff(asks=[("0.01144", str(10 + i))]))
        await until(lambda: len(server.depth_bodies) == 1, timeout=10, what="snapshot")
        await asyncio.sleep(0.2)
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            text = await resp.text()
        assert 'pegbot_recorder_lines_total{symbol="KGST/USDT",venue="binance"} 4.0' in text
        assert 'pegbot_feed_book_synced{symbol="KGST/USDT",venue="binance"} 1.0' in text
        proc.send_signal(signal.SIGTERM)
        stdout, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0
    assert json.loads(stdout)["recorder"]["lines"] == 4
    rows, counters = read_dir(out)
    assert counters.truncated_gzip == 0
    assert [p for _, _, p, _ in rows if not is_snapshot(p)] == [f for _, f in server.sent]

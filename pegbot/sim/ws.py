"""Market streams: ``/ws``, ``/ws/<anything>`` and ``/stream`` with SUBSCRIBE / UNSUBSCRIBE.

Each connection has its own send queue and writer task, so one slow client never blocks the
engine, and the delay/reorder faults act per connection. ``/ws/<name>`` and
``/stream?streams=a/b`` subscribe at connect when the names are valid streams (ccxt.pro opens
``/ws/0``, ``/ws/1``...: a suffix that is not a stream name is ignored). ``/stream``
connections get the ``{"stream", "data"}`` wrapper. Pings come from aiohttp's heartbeat every
``ping_interval_s``; a client that does not answer is dropped.

Simplifications: ``@depth`` (1000 ms on Binance) carries the same diffs as ``@depth@100ms``,
pushed every ``depth_interval_ms``; a connection is closed after 20 control messages in a
second (Binance allows 5 and drops at once; the margin keeps bursts of ccxt subscriptions
working); the 24 h connection lifetime is not enforced.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from pegbot.logging import event_log

from .exchange import Exchange

log = event_log(__name__)

_STREAM = re.compile(r"^([a-z0-9]+)@(depth|depth@100ms|depth@1000ms|trade|bookTicker)$")
#: Binance's limits per connection.
MAX_STREAMS = 1024
MAX_INCOMING_PER_S = 5
#: Messages queued for one connection before it counts as a slow consumer and is closed
#: (Binance drops clients that do not keep up; an unbounded queue would only grow).
MAX_QUEUED = 10_000


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


class _Conn:
    def __init__(self, ws: web.WebSocketResponse, combined: bool) -> None:
        self.ws = ws
        self.combined = combined
        self.streams: set[str] = set()
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.slow = False


class StreamHub:
    """Subscriptions of all market-stream connections of one exchange."""

    def __init__(self, exchange: Exchange) -> None:
        self.ex = exchange
        self.subs: dict[str, set[_Conn]] = {}
        self.conns: set[_Conn] = set()
        self._closing: set[asyncio.Task[bool]] = set()
        exchange.streams = self

    def add_to(self, app: web.Application) -> None:
        """Register the stream routes."""
        app.router.add_get("/ws", self.handle)
        app.router.add_get("/ws/{tail:.*}", self.handle)
        app.router.add_get("/stream", self.handle)

    def has_subscribers(self, stream: str) -> bool:
        """Whether anyone listens to ``stream``."""
        return bool(self.subs.get(stream))

    def publish(self, stream: str, payload: dict[str, Any]) -> None:
        """Queue ``payload`` for every subscriber of ``stream``."""
        conns = self.subs.get(stream)
        if not conns:
            return
        raw = wrapped = ""
        slow: list[_Conn] = []
        for conn in conns:
            if conn.queue.qsize() >= MAX_QUEUED:
                slow.append(conn)
                continue
            if conn.combined:
                wrapped = wrapped or _dumps({"stream": stream, "data": payload})
                conn.queue.put_nowait(wrapped)
            else:
                raw = raw or _dumps(payload)
                conn.queue.put_nowait(raw)
        for conn in slow:
            self._drop_slow(conn)

    def _drop_slow(self, conn: _Conn) -> None:
        if conn.slow:
            return
        conn.slow = True
        self.ex.faults.count("ws_slow_consumer_dropped")
        log.warning(
            "ws_slow_consumer_dropped",
            "closing a market-stream client that fell %d messages behind",
            MAX_QUEUED,
        )
        for name in list(conn.streams):
            self._unsubscribe(conn, name)
        task = asyncio.get_running_loop().create_task(
            conn.ws.close(code=1008, message=b"slow consumer")
        )
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def valid_stream(self, name: str) -> bool:
        """A stream name this exchange serves."""
        m = _STREAM.match(name)
        return bool(m) and m is not None and m.group(1).upper() in self.ex.symbols

    async def drop_all(self) -> int:
        """Close every market-stream connection (a fault); returns how many."""
        conns = list(self.conns)
        for conn in conns:
            await conn.ws.close(code=1001, message=b"dropped by fault injection")
        return len(conns)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Serve one market-stream connection."""
        ws = web.WebSocketResponse(heartbeat=self.ex.config.ping_interval_s, max_msg_size=1 << 20)
        await ws.prepare(request)
        combined = request.path.startswith("/stream")
        conn = _Conn(ws, combined)
        self.conns.add(conn)
        initial: list[str] = []
        if combined:
            initial = [s for s in request.query.get("streams", "").split("/") if s]
        else:
            initial = [s for s in request.match_info.get("tail", "").split("/") if s]
        for name in initial:
            if self.valid_stream(name):
                self._subscribe(conn, name)
        writer = asyncio.create_task(self._writer(conn))
        window_start, in_window = 0.0, 0
        loop = asyncio.get_running_loop()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                now = loop.time()
                if now - window_start >= 1.0:
                    window_start, in_window = now, 0
                in_window += 1
                if in_window > MAX_INCOMING_PER_S * 4:
                    # Binance drops connections that flood it with control messages.
                    break
                self._control(conn, msg.data)
        finally:
            self.conns.discard(conn)
            for name in list(conn.streams):
                self._unsubscribe(conn, name)
            conn.queue.put_nowait(None)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        return ws

    def _control(self, conn: _Conn, data: str) -> None:
        try:
            req = orjson.loads(data)
            method = req["method"]
            rid = req.get("id")
        except (orjson.JSONDecodeError, KeyError, TypeError):
            conn.queue.put_nowait(
                _dumps({"error": {"code": 3, "msg": "Invalid JSON: malformed request"}})
            )
            return
        params = req.get("params") or []
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            bad = [p for p in params if not isinstance(p, str) or not self.valid_stream(p)]
            if bad or not isinstance(params, list):
                reply = {"error": {"code": 2, "msg": f"Invalid request: invalid stream {bad}"}}
                conn.queue.put_nowait(_dumps({**reply, "id": rid}))
                return
            if method == "SUBSCRIBE" and len(conn.streams | set(params)) > MAX_STREAMS:
                reply = {"error": {"code": 2, "msg": "Invalid request: too many streams"}}
                conn.queue.put_nowait(_dumps({**reply, "id": rid}))
                return
            for name in params:
                if method == "SUBSCRIBE":
                    self._subscribe(conn, name)
                else:
                    self._unsubscribe(conn, name)
            conn.queue.put_nowait(_dumps({"result": None, "id": rid}))
        elif method == "LIST_SUBSCRIPTIONS":
            conn.queue.put_nowait(_dumps({"result": sorted(conn.streams), "id": rid}))
        else:
            reply = {"error": {"code": 1, "msg": f"Invalid request: unknown method {method}"}}
            conn.queue.put_nowait(_dumps({**reply, "id": rid}))

    def _subscribe(self, conn: _Conn, name: str) -> None:
        conn.streams.add(name)
        self.subs.setdefault(name, set()).add(conn)

    def _unsubscribe(self, conn: _Conn, name: str) -> None:
        conn.streams.discard(name)
        subs = self.subs.get(name)
        if subs is not None:
            subs.discard(conn)
            if not subs:
                del self.subs[name]

    async def _writer(self, conn: _Conn) -> None:
        await write_loop(self.ex, conn.ws, conn.queue)


async def write_loop(
    ex: Exchange, ws: web.WebSocketResponse, queue: asyncio.Queue[str | None]
) -> None:
    """Send queued messages in order, applying the delay and reorder faults."""
    faults = ex.faults
    try:
        while True:
            item = await queue.get()
            if item is None:
                return
            if faults.ws_delay_ms:
                await asyncio.sleep(faults.ws_delay_ms / 1000)
            if faults.ws_reorder and not queue.empty() and faults.rng.random() < 0.5:
                nxt = queue.get_nowait()
                if nxt is None:
                    await ws.send_str(item)
                    ex.messages_pushed += 1
                    return
                faults.count("ws_reordered")
                await ws.send_str(nxt)
                ex.messages_pushed += 1
            await ws.send_str(item)
            ex.messages_pushed += 1
    except (ConnectionResetError, RuntimeError) as exc:
        log.debug("ws_writer_stopped", "market stream writer stopped: %s", exc)

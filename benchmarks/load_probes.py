"""Probes of the load benchmark: memory, queues and containers of the running bot.

Used by ``bench_load.py`` (which documents what they measure and why). They must not grow
the process they measure: each returns a fresh small value, nothing is kept here.
"""

from __future__ import annotations

import _sqlite3
import asyncio
import contextlib
import ctypes
import sys
import tracemalloc
from collections import deque
from pathlib import Path
from typing import Any


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process (this one by default) in MB, from ``/proc``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (n, ctypes.c_size_t)
        for n in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
            "fordblks", "keepcost",
        )
    ]  # fmt: skip


def native_mb() -> tuple[float, float]:
    """(malloc bytes in use, SQLite's own bytes) in MB; -1 where the C library says nothing.

    Python objects above 512 bytes, ccxt's JSON buffers and SQLite's page cache live in
    malloc; RSS growing while these stay flat is the allocator holding freed pages.
    """
    malloc_mb = sqlite_mb = -1.0
    with contextlib.suppress(OSError, AttributeError):
        fn = ctypes.CDLL(None).mallinfo2
        fn.restype = _MallInfo2
        info = fn()
        malloc_mb = (info.uordblks + info.hblkhd) / 2**20
    with contextlib.suppress(OSError, AttributeError):
        used = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used
        used.restype = ctypes.c_int64
        sqlite_mb = used() / 2**20
    return malloc_mb, sqlite_mb


_CONTAINERS = (list, dict, set, deque, asyncio.Queue)
_WALKED = ("pegbot", "ccxt", "prometheus_client", "websockets")


def size(value: object) -> int:
    """Entries of a container (an asyncio queue's ``qsize``)."""
    return value.qsize() if isinstance(value, asyncio.Queue) else len(value)  # type: ignore[arg-type]


def containers(roots: dict[str, object], depth: int = 3) -> dict[str, object]:
    """Every list/dict/set/deque/queue reachable through attributes of ``roots``, by path.

    A leak is a container that grows with the messages or orders: sampled over the run, the
    growing ones name themselves (``venue._client_ids``, ``ccxt.orders``, a metric's label
    sets...). Walks attributes of pegbot, ccxt, prometheus_client and websockets objects (and
    the values of dicts of them, e.g. ccxt's WebSocket clients) ``depth`` levels down.
    """
    out: dict[str, object] = {}
    seen: set[int] = set()

    def walk(path: str, obj: object, left: int) -> None:
        if id(obj) in seen or left < 0:
            return
        seen.add(id(obj))
        attrs = dict(getattr(obj, "__dict__", {}))
        for cls in type(obj).__mro__:  # slotted objects (the order tracker) have no __dict__
            for slot in getattr(cls, "__slots__", ()):
                if hasattr(obj, slot):
                    attrs[slot] = getattr(obj, slot)
        for name, value in list(attrs.items()):
            if isinstance(value, _CONTAINERS):
                out[f"{path}.{name}"] = value
                if isinstance(value, dict) and len(value) <= 16:
                    for key, item in list(value.items()):
                        if isinstance(item, _CONTAINERS):  # e.g. per-venue memories
                            out[f"{path}.{name}[{str(key)[-24:]}]"] = item
                        elif type(item).__module__.startswith(_WALKED):
                            walk(f"{path}.{name}[{str(key)[-24:]}]", item, left - 1)
            elif type(value).__module__.startswith(_WALKED):
                walk(f"{path}.{name}", value, left - 1)

    for name, root in roots.items():
        if root is not None:
            walk(name, root, depth)
    return out


def deep_bytes(obj: object) -> int:
    """Approximate bytes held by ``obj`` and everything it alone reaches (containers, slots)."""
    seen: set[int] = set()
    total = 0
    stack = [obj]
    while stack:
        o = stack.pop()
        if id(o) in seen or isinstance(o, type):
            continue
        seen.add(id(o))
        total += sys.getsizeof(o)
        if isinstance(o, dict):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, list | tuple | set | frozenset | deque):
            stack.extend(o)
        elif type(o).__module__.startswith("pegbot"):  # records; not into the wider world
            d = getattr(o, "__dict__", None)
            if isinstance(d, dict):
                stack.append(d)
            for slot in getattr(type(o), "__slots__", ()):
                if hasattr(o, slot):
                    stack.append(getattr(o, slot))
    return total


def queue_depths(runner: Any) -> dict[str, int]:
    """Everything that could back up between the socket and an order request, right now."""
    feed, venue = runner.feed, runner.venue
    ws = getattr(feed, "_ws", None)
    frames = getattr(getattr(ws, "recv_messages", None), "frames", None)
    fq = getattr(feed, "_queue", None)
    vq = getattr(venue, "_queue", None)
    loop = asyncio.get_running_loop()
    return {
        "ws_frames": len(frames) if frames is not None else 0,  # received, not yet read
        "feed_events": fq.qsize() if fq is not None else 0,
        "venue_events": vq.qsize() if vq is not None else 0,  # order/fill events not folded
        "inflight": runner.requests.in_flight,  # order requests sent, not answered
        "loop_ready": len(getattr(loop, "_ready", ())),  # callbacks waiting for the loop
    }


def heap_growth(before: Any, after: Any, top: int = 15) -> list[dict[str, Any]]:
    """Top allocation growth between two ``tracemalloc`` snapshots, by traceback.

    Each row: KiB and blocks gained, and where (innermost frame last; asyncio's own frames
    left out, they only say that a callback ran).
    """
    keep = [tracemalloc.Filter(False, tracemalloc.__file__)]
    stats = after.filter_traces(keep).compare_to(before.filter_traces(keep), "traceback")
    out = []
    for st in stats[:top]:
        frames = [
            f"{Path(f.filename).parent.name}/{Path(f.filename).name}:{f.lineno}"
            for f in st.traceback
            if "/asyncio/" not in f.filename
        ]
        out.append({"kb": st.size_diff / 1024, "count": st.count_diff, "where": frames[-5:]})
    return out


def growth(
    base: tuple[float, dict[str, int]], end: tuple[float, dict[str, int]], min_growth: int = 20
) -> dict[str, list[float]]:
    """Containers that grew from ``base`` to ``end``: path -> [len then, len at end, /min]."""
    span_min = max(1e-9, (end[0] - base[0]) / 60)
    out = {}
    for path, n in end[1].items():
        was = base[1].get(path, 0)
        if n > was + min_growth:  # a few live orders or headers come and go
            out[path] = [float(was), float(n), (n - was) / span_min]
    return dict(sorted(out.items(), key=lambda kv: -kv[1][2]))

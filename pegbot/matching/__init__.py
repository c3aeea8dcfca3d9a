"""Queue-position, latency and fill models for our orders resting beside an external book.

Shared by the backtester, the simulator's tape source and the paper venue, so that one set of
rules decides when an order of ours fills wherever it rests. Three rooms:

* :mod:`.queue` — how a depth change moves the quantity ahead of our order
  (:class:`RiskAverse` and the probability family);
* :mod:`.latency` — request and response latency (:class:`ConstantLatency`,
  :class:`InterpolatedLatency`);
* :mod:`.engine` — :class:`FillEngine`, which holds our orders by price and turns the
  external market's trades and depth changes into :class:`EngineFill` executions;
* :mod:`.compiled` — the same engine as numba functions over arrays, for the backtester's
  compiled exchange side (not imported here: it compiles on first use).

Everything is pure and deterministic (no clock, no randomness, integer ticks and units); the
per-event arithmetic of each model is a small module-level function of ints and floats,
defined once and compiled by numba where the backtester runs it per row.
"""

from __future__ import annotations

from .engine import (
    EngineFill,
    FillEngine,
    OrderId,
    OrderView,
    PlaceResult,
    amended_leaves,
    fill_fee,
    trade_reach,
)
from .latency import (
    ConstantLatency,
    InterpolatedLatency,
    LatencyDataError,
    LatencyModel,
    LatencyTables,
    interp,
)
from .queue import (
    LogProbQueue,
    LogProbQueue2,
    PowerProbQueue,
    PowerProbQueue2,
    PowerProbQueue3,
    ProbQueue,
    QueueModel,
    RiskAverse,
    capped_ahead,
    log_prob,
    log_prob2,
    power_prob,
    power_prob2,
    power_prob3,
    split_decrease,
)

__all__ = [
    "ConstantLatency",
    "EngineFill",
    "FillEngine",
    "InterpolatedLatency",
    "LatencyDataError",
    "LatencyModel",
    "LatencyTables",
    "LogProbQueue",
    "LogProbQueue2",
    "OrderId",
    "OrderView",
    "PlaceResult",
    "PowerProbQueue",
    "PowerProbQueue2",
    "PowerProbQueue3",
    "ProbQueue",
    "QueueModel",
    "RiskAverse",
    "amended_leaves",
    "capped_ahead",
    "fill_fee",
    "interp",
    "log_prob",
    "log_prob2",
    "power_prob",
    "power_prob2",
    "power_prob3",
    "split_decrease",
    "trade_reach",
]

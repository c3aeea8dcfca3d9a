"""The async shell around rate sources: poll on an interval, back off on failures.

A :class:`RatePoller` owns one source. Each successful fetch goes into the
:class:`~pegbot.peg.fair.FairEstimator`; each failure is recorded there (the last good rate
stays and ages until the estimator calls it stale) and counted by reason in metrics. After
``n`` consecutive failures the next attempt waits ``base × 2^(n-1)`` seconds, capped, so a
dead NBKR server is not hammered; the first success resets it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from pegbot.logging import event_log
from pegbot.metrics import Metrics
from pegbot.peg.fair import FairEstimator
from pegbot.peg.sources import RateObservation, RateSource, RateSourceError
from pegbot.timeunits import NS_PER_S

log = event_log(__name__)


class RatePoller:
    """Polls one source into a fair-value estimator."""

    def __init__(
        self,
        source: RateSource,
        estimator: FairEstimator,
        interval_s: float = 300.0,
        clock: Callable[[], int] = time.time_ns,
        backoff_base_s: float = 5.0,
        backoff_max_s: float = 600.0,
        metrics: Metrics | None = None,
        on_observation: Callable[[RateObservation], None] | None = None,
    ) -> None:
        """Configure polling; ``clock`` returns ns UTC (injected for tests and replays).

        ``on_observation`` is called after each successful fetch went into the estimator (the
        bot re-decides at once on a new rate instead of waiting for its timer).
        """
        if interval_s <= 0 or backoff_base_s <= 0:
            raise ValueError("interval and backoff must be positive")
        self.source = source
        self.estimator = estimator
        self.interval_s = interval_s
        self.clock = clock
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.metrics = metrics
        self.on_observation = on_observation
        self.failures = 0
        self.last_error: RateSourceError | None = None

    def next_delay_s(self) -> float:
        """Seconds until the next fetch: the interval, or the backoff after failures."""
        if self.failures == 0:
            return self.interval_s
        backoff = self.backoff_base_s * 2 ** (self.failures - 1)
        return float(min(self.backoff_max_s, backoff, self.interval_s * 2**10))

    async def poll_once(self) -> RateObservation | None:
        """Fetch once; returns the observation, or None after a recorded failure."""
        name = self.source.name
        try:
            obs = await self.source.fetch(self.clock())
        except RateSourceError as exc:
            self.failures += 1
            self.last_error = exc
            self.estimator.record_error(name, self.clock(), str(exc))
            if self.metrics is not None:
                self.metrics.reference_errors.labels(source=name, reason=exc.reason).inc()
            log.warning(
                "reference_error",
                "rate source failed",
                source=name,
                reason=exc.reason,
                error=str(exc),
                failures=self.failures,
            )
            return None
        self.estimator.observe(obs)
        self.failures = 0
        self.last_error = None
        if self.metrics is not None:
            self.metrics.reference_rate.labels(source=name).set(float(obs.rate))
            self.metrics.reference_updated.labels(source=name).set(obs.observed_at_ns / NS_PER_S)
        if self.on_observation is not None:
            self.on_observation(obs)
        return obs

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set."""
        while not stop.is_set():
            await self.poll_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.next_delay_s())

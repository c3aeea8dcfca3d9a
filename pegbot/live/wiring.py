"""Turns settings into the bot's parts: a venue per mode, rate sources and their pollers.

Kept apart from :mod:`pegbot.live.bot` so the loop reads as a loop, and so each mode's venue is
chosen in one place (DESIGN: "paper mode is a different venue, never ``if paper:`` inside the
live venue"):

=========  ===================================================================
mode       venue
=========  ===================================================================
dry-run    ``DryRunVenue`` — intended orders logged, nothing sent, no keys
paper      ``PaperVenue`` — virtual balances, fills against the live book
testnet    ``CcxtVenue`` in ccxt's sandbox, or at the URLs given (the simulator)
live       ``CcxtVenue`` at the exchange (only with the acknowledgement)
=========  ===================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pegbot.config import RateSourceSettings, Settings, VenueSettings
from pegbot.execution.dryrun import make_dryrun_venue
from pegbot.execution.paper import make_paper_venue
from pegbot.execution.venue import Venue
from pegbot.market import Market
from pegbot.metrics import Metrics
from pegbot.peg.fair import FairEstimator, SourceSpec
from pegbot.peg.poll import RatePoller
from pegbot.peg.sources import (
    FileSource,
    HttpJsonSource,
    NbkrSource,
    RateObservation,
    RateSource,
    StaticSource,
)
from pegbot.timeunits import NS_PER_S

__all__ = ["ExtraSource", "build_fair", "build_source", "make_venue"]

#: A ready-made rate source with its spec and poll interval (tests, the demo).
ExtraSource = tuple[RateSource, SourceSpec, float]


def _secret(value: Any) -> str:
    return "" if value is None else str(value.get_secret_value())


def make_venue(name: str, vs: VenueSettings, settings: Settings) -> Venue:
    """The venue of ``[venues.<name>]`` for the configured mode.

    Raises:
        ValueError: An unknown mode, or a URL is missing.
    """
    mode = settings.mode
    if mode in ("testnet", "live"):
        from pegbot.execution.ccxt_venue import make_ccxt_venue  # ccxt.pro only when trading

        override = vs.rest_url is not None
        if override and vs.ws_url is None:
            raise ValueError(f"venues.{name}: ws_url is needed with rest_url")
        return make_ccxt_venue(
            vs.exchange,
            vs.symbol,
            api_key=_secret(vs.api_key),
            secret=_secret(vs.api_secret),
            http_url=vs.rest_url,
            ws_url=vs.ws_url,
            sandbox=mode == "testnet" and not override,
            name=name,
            ws_orders=None if vs.order_entry is None else vs.order_entry == "ws",
        )
    if mode == "paper":
        return make_paper_venue(name=name, settings=vs, balances=vs.paper_balances)
    if mode == "dry-run":
        return make_dryrun_venue(name=name, settings=vs, balances=vs.paper_balances)
    raise ValueError(f"unknown mode {mode!r}")


def build_source(
    cfg: RateSourceSettings, http_session: Callable[[], Any] | None = None
) -> RateSource:
    """One rate source from its settings.

    Args:
        cfg: The source's settings.
        http_session: Returns the aiohttp session HTTP sources share (created on first use
            by the caller, which also closes it).

    Raises:
        ValueError: An HTTP source without a session.
    """
    if cfg.kind == "static":
        assert cfg.rate is not None
        return StaticSource(cfg.name, cfg.rate, cfg.pair)
    if cfg.kind == "file":
        assert cfg.path is not None
        return FileSource(cfg.name, cfg.path, cfg.pair)
    if http_session is None:
        raise ValueError(f"source {cfg.name}: an HTTP source needs a session")
    session = http_session()
    if cfg.kind == "nbkr":
        if cfg.url is None:
            return NbkrSource(session, cfg.name, timeout_s=cfg.timeout_s)
        return NbkrSource(session, cfg.name, cfg.url, cfg.timeout_s)
    assert cfg.url is not None and cfg.field is not None
    return HttpJsonSource(
        session, cfg.name, cfg.url, cfg.field, cfg.pair, cfg.invert, timeout_s=cfg.timeout_s
    )


def build_fair(
    settings: Settings,
    market: Market,
    clock: Callable[[], int],
    metrics: Metrics,
    http_session: Callable[[], Any] | None = None,
    extra: Sequence[ExtraSource] = (),
    on_observation: Callable[[RateObservation], None] | None = None,
) -> tuple[FairEstimator, list[RatePoller]]:
    """The fair-value estimator and one poller per configured source.

    Args:
        settings: The configuration (``[peg]``).
        market: The market the fair value is quoted in (its tick grid).
        clock: Wall clock, int ns UTC.
        metrics: Where the pollers report.
        http_session: Returns the shared aiohttp session of HTTP sources.
        extra: Ready-made sources (tests, the demo).
        on_observation: Called after each reading (the bot wakes its decision loops).
    """
    specs: list[SourceSpec] = []
    pollers: list[tuple[RateSource, float]] = []
    for cfg in settings.peg.sources:
        max_age = None if cfg.max_age_s is None else int(cfg.max_age_s * NS_PER_S)
        specs.append(SourceSpec(cfg.name, cfg.pair, max_age))
        pollers.append((build_source(cfg, http_session), cfg.interval_s))
    for source, spec, interval in extra:
        specs.append(spec)
        pollers.append((source, interval))
    estimator = FairEstimator(market, specs, settings.peg.fair.build())
    return estimator, [
        RatePoller(
            src,
            estimator,
            interval,
            clock=clock,
            metrics=metrics,
            backoff_base_s=min(5.0, interval),
            on_observation=on_observation,
        )
        for src, interval in pollers
    ]

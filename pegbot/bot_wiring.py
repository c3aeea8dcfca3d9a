"""Turns settings into the bot's parts: a venue per mode, rate sources and their pollers.

Kept apart from :mod:`pegbot.bot` so the loop reads as a loop, and so each mode's venue is
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

import importlib
from typing import TYPE_CHECKING, Any

from pegbot.config import RateSourceSettings, Settings, VenueSettings
from pegbot.peg.fair import FairEstimator, SourceSpec
from pegbot.peg.poll import RatePoller
from pegbot.peg.sources import FileSource, HttpJsonSource, NbkrSource, RateSource, StaticSource
from pegbot.timeunits import NS_PER_S

if TYPE_CHECKING:
    from pegbot.bot import Bot
    from pegbot.execution.venue import Venue

__all__ = ["build_fair", "build_source", "make_venue"]


def _secret(value: Any) -> str:
    return "" if value is None else str(value.get_secret_value())


def make_venue(name: str, vs: VenueSettings, settings: Settings) -> Venue:
    """The venue of ``[venues.<name>]`` for the configured mode.

    Raises:
        ValueError: The mode's venue is not available in this build, or a URL is missing.
    """
    mode = settings.mode
    if mode in ("testnet", "live"):
        from pegbot.execution.ccxt_venue import make_ccxt_venue

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
        )
    module_name, class_name = {
        "paper": ("pegbot.execution.paper", "make_paper_venue"),
        "dry-run": ("pegbot.execution.dryrun", "make_dryrun_venue"),
    }[mode]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ValueError(f"mode {mode}: {module_name} is not available in this build") from exc
    factory = getattr(module, class_name, None)
    if factory is None:
        raise ValueError(f"mode {mode}: {module_name} has no {class_name}")
    venue: Venue = factory(name=name, settings=vs, balances=vs.paper_balances)
    return venue


def build_source(cfg: RateSourceSettings, session_holder: Bot | None = None) -> RateSource:
    """One rate source from its settings (HTTP kinds share the bot's aiohttp session)."""
    if cfg.kind == "static":
        assert cfg.rate is not None
        return StaticSource(cfg.name, cfg.rate, cfg.pair)
    if cfg.kind == "file":
        assert cfg.path is not None
        return FileSource(cfg.name, cfg.path, cfg.pair)
    import aiohttp

    if session_holder is None:
        raise ValueError(f"source {cfg.name}: an HTTP source needs the bot's session")
    if session_holder.http_session is None:
        session_holder.http_session = aiohttp.ClientSession()
    session = session_holder.http_session
    if cfg.kind == "nbkr":
        if cfg.url is None:
            return NbkrSource(session, cfg.name, timeout_s=cfg.timeout_s)
        return NbkrSource(session, cfg.name, cfg.url, cfg.timeout_s)
    assert cfg.url is not None and cfg.field is not None
    return HttpJsonSource(
        session, cfg.name, cfg.url, cfg.field, cfg.pair, cfg.invert, timeout_s=cfg.timeout_s
    )


def build_fair(bot: Bot, extra: list[Any] | None = None) -> tuple[FairEstimator, list[RatePoller]]:
    """The fair-value estimator and one poller per configured source.

    Args:
        bot: The bot (settings, clock, metrics, the first venue's market).
        extra: Ready-made ``(RateSource, SourceSpec, interval_s)`` triples (tests, the demo).
    """
    s = bot.settings
    market = bot.runners[0].market
    specs: list[SourceSpec] = []
    pollers: list[tuple[RateSource, float]] = []
    for cfg in s.peg.sources:
        max_age = None if cfg.max_age_s is None else int(cfg.max_age_s * NS_PER_S)
        specs.append(SourceSpec(cfg.name, cfg.pair, max_age))
        pollers.append((build_source(cfg, bot), cfg.interval_s))
    for source, spec, interval in extra or []:
        specs.append(spec)
        pollers.append((source, interval))
    estimator = FairEstimator(market, specs, s.peg.fair.build())
    return estimator, [
        RatePoller(src, estimator, interval, clock=bot.clock, metrics=bot.metrics,
                   backoff_base_s=min(5.0, interval))
        for src, interval in pollers
    ]  # fmt: skip

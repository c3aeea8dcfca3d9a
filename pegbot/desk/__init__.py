"""The desk's loop: signal actions, the issuer leg, rebalancing proposals, the chain watcher.

==================== ==========================================================================
module               concern
==================== ==========================================================================
``store``            the desk's journal tables; decisions queued, issuer-leg facts recorded
``operator``         operator actions checked against the journal (``pegbot signals …``)
``watcher``          the running bot's hook: apply queued decisions, export every transition
``pnl``              a signal's realised round-trip PnL from its steps' figures
``issuer``           issuer adapters (manual, http) and the tracker that files and polls
``rebalance``        inventory bands, rebalance proposals, ladder capacity
``chain``            KGST supply and transfers over JSON-RPC (optional extra ``chain``)
``config``           the ``[desk]`` settings
``cli``              the operator commands
==================== ==========================================================================
"""

from __future__ import annotations

from typing import Any

from pegbot.desk.config import DeskSettings, IssuerSettings, RebalanceSettings
from pegbot.desk.issuer import HttpIssuer, IssuerAdapter, IssuerLegTracker, ManualIssuer
from pegbot.desk.operator import DeskError, SignalDesk
from pegbot.desk.pnl import ExchangeLeg, RoundTrip, round_trip
from pegbot.desk.rebalance import Band, Rebalancer, ladder_capacity, propose_rebalance
from pegbot.desk.store import DeskAction, DeskStore
from pegbot.desk.watcher import DeskWatcher
from pegbot.metrics import Metrics
from pegbot.peg.signals import ArbSignaler
from pegbot.timeunits import s_to_ns

__all__ = [
    "Band",
    "DeskAction",
    "DeskError",
    "DeskSettings",
    "DeskStore",
    "DeskWatcher",
    "ExchangeLeg",
    "HttpIssuer",
    "IssuerAdapter",
    "IssuerLegTracker",
    "ManualIssuer",
    "Rebalancer",
    "RoundTrip",
    "SignalDesk",
    "ladder_capacity",
    "make_issuer",
    "make_rebalancer",
    "propose_rebalance",
    "round_trip",
]


def make_issuer(settings: IssuerSettings, session: Any) -> IssuerAdapter:
    """The issuer adapter of ``[desk.issuer]`` (``session``: an aiohttp session for http)."""
    if settings.adapter == "manual":
        return ManualIssuer()
    assert settings.url is not None  # the settings validate it
    token = settings.token.get_secret_value() if settings.token else None
    return HttpIssuer(settings.url, session, token=token, timeout_s=settings.timeout_s)


def make_rebalancer(
    settings: RebalanceSettings, signaler: ArbSignaler, metrics: Metrics | None = None
) -> Rebalancer | None:
    """The rebalancer of ``[desk.rebalance]`` on ``signaler`` (None when disabled)."""
    if not settings.enabled or settings.kgst is None or settings.usdt is None:
        return None
    return Rebalancer(
        signaler,
        settings.kgst.build(),
        settings.usdt.build(),
        expiry_ns=s_to_ns(settings.expiry_s),
        step=settings.step,
        metrics=metrics,
    )

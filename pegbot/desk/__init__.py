"""The desk's loop: signal actions, the issuer leg, rebalancing proposals, the chain watcher."""

from pegbot.desk.metrics import DeskMetrics
from pegbot.desk.operator import DeskError, SignalDesk
from pegbot.desk.pnl import ExchangeLeg, RoundTrip, round_trip
from pegbot.desk.store import DeskAction, DeskStore
from pegbot.desk.watcher import DeskWatcher

__all__ = [
    "DeskAction",
    "DeskError",
    "DeskMetrics",
    "DeskStore",
    "DeskWatcher",
    "ExchangeLeg",
    "RoundTrip",
    "SignalDesk",
    "round_trip",
]

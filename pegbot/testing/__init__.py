"""Kit for strategy authors and pegbot's own tests: state factories, stubs, a simulator.

=============================  ============================================================
name                           what it gives
=============================  ============================================================
:func:`market_state`           a :class:`~pegbot.strategy.MarketState` in one line
:func:`book`, :func:`fair_view`,  its parts
:func:`inventory`
:class:`StubVenue`,            a venue, a feed and the bot's context in memory, to test a
:class:`StubFeed`,             :class:`~pegbot.live.runner.VenueRunner` without sockets
:class:`StubContext`
=============================  ============================================================

The running simulator for tests that speak Binance's API through ccxt is
:mod:`pegbot.sim.testing` (``SimHandle``, ``default_sim_config``), used by the ``sim``
fixture of ``tests/integration``.
"""

from pegbot.testing.state import DEFAULT_FAIR_TICKS, book, fair_view, inventory, market_state
from pegbot.testing.stubs import StubContext, StubFeed, StubVenue, stub_settings

__all__ = [
    "DEFAULT_FAIR_TICKS",
    "StubContext",
    "StubFeed",
    "StubVenue",
    "book",
    "fair_view",
    "inventory",
    "market_state",
    "stub_settings",
]

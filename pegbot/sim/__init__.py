"""A Binance-compatible spot exchange on 127.0.0.1 that unmodified ccxt and ccxt.pro drive.

Rooms inside: :mod:`.engine` (matching, accounts via :mod:`.accounts`, data in :mod:`.model`),
:mod:`.rest` (``/api/v3``), :mod:`.ws` (market streams), :mod:`.wsapi` (``/ws-api/v3``, user
data), :mod:`.ratelimit`, :mod:`.faults`, :mod:`.admin` (loopback admin and the NBKR
``daily.xml`` fixture), :mod:`.exchange` (state and event routing), :mod:`.server`
(:class:`~pegbot.sim.server.SimServer`), :mod:`.client` (ccxt clients pointed at it),
:mod:`.testing` (a handle for tests), and the market sources :mod:`.crowd` (the order-flow
model of :mod:`.flow`) and :mod:`.replay` (a tape). ``pegbot sim`` is in :mod:`.cli`.

Quick start::

    async with SimServer() as sim:                      # demo account, KGST/USDT
        ex = make_pro_client(sim.http_url, sim.ws_url)  # DEMO_API_KEY / DEMO_API_SECRET
        await ex.create_order("KGST/USDT", "limit", "buy", 1000, 0.0114)
"""

"""pegbot: keeps KGST, the Kyrgyz som stablecoin, at its peg."""

from pegbot import native

__version__ = "0.1.0"

# Before anything imports the decision path: its compiled build, when asked for
# (PEGBOT_NATIVE=1), built and fresh.
native.install()

"""pegbot: keeps KGST, the Kyrgyz som stablecoin, at its peg."""

__version__ = "0.1.0"

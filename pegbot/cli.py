"""The ``pegbot`` command. Commands stay thin: each room registers its own in its ``cli`` module."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="pegbot",
    help="Keeps KGST at its peg: quoting, arbitrage signals, recording, backtests.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Help is plain text: Rich markup would read "[costs]" in a help text as a style tag and
    # print nothing in its place. Click wraps paragraphs and prints brackets as written.
    rich_markup_mode=None,
)

# Each module exposes ``register(app)``; the order is the order of ``pegbot --help``.
_ROOMS = (
    "pegbot.live.cli",
    "pegbot.feeds.cli",
    "pegbot.tape.cli",
    "pegbot.peg.cli",
    "pegbot.desk.cli",
    "pegbot.sim.cli",
    "pegbot.backtest.cli",
    "pegbot.evaluate.cli",
)


@app.callback()
def _root() -> None:
    """Keeps ``pegbot`` a command group whatever the number of registered commands."""


for _room in _ROOMS:
    importlib.import_module(_room).register(app)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()

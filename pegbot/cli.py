"""The ``pegbot`` command. Commands stay thin: each room registers its own in its ``cli`` module."""

from __future__ import annotations

import importlib
import sys

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
# The bot's own commands. A process started as one of them (``pegbot run`` restarted by its
# supervisor after a crash) registers only its room: the other rooms' imports (the backtester,
# the tape viewer, the desk tools) would add a good part of a second to every restart.
_BOT_COMMANDS = frozenset({"run", "kill", "resume"})


@app.callback()
def _root() -> None:
    """Keeps ``pegbot`` a command group whatever the number of registered commands."""


def _rooms(argv: list[str]) -> tuple[str, ...]:
    return _ROOMS[:1] if len(argv) > 1 and argv[1] in _BOT_COMMANDS else _ROOMS


for _room in _rooms(sys.argv):
    importlib.import_module(_room).register(app)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()

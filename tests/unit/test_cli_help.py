"""Every command's and subcommand's ``--help`` reads as its author wrote it.

The bug this guards against: Rich markup took ``TOML with [costs], [signals], [fair].`` for
three style tags and ``pegbot signals --help`` printed ``TOML with , , .``. Two checks on the
rendered help of every command found by walking the app: no residue of markup that swallowed
its text (a space before a comma or full stop, empty brackets, parentheses or backticks,
leftover RST double backticks), and every bracketed, angled or starred part of each help
source is still there. The last test shows the checks fail on the original bug.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import pytest
import typer
import typer.main
from typer.testing import CliRunner

from pegbot.cli import app

runner = CliRunner()

# What markup leaves behind when it eats a word: "with , , ." or "( )" or "``".
RESIDUE = {
    "space before punctuation": re.compile(r" [,.;:](?=\s|$)", re.MULTILINE),
    "empty parentheses": re.compile(r"\(\s*\)"),
    "empty brackets": re.compile(r"\[\s*\]"),
    "empty or doubled backticks": re.compile(r"`\s*`"),
}
# The parts of a help source a markup language would take for itself.
MARKUP_LIKE = re.compile(r"\[[^\]\n]*\]|<[^>\n]*>|\*[^*\s][^*\n]*\*|`[^`\n]+`")


def _walk(cmd: Any, path: list[str]) -> list[tuple[list[str], Any]]:
    out = [(path, cmd)]
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        out += _walk(sub, [*path, name])
    return out


SIGNALS_CONFIG_HELP = "TOML with [costs], [signals], [fair]."
COMMANDS = _walk(typer.main.get_command(app), [])


def residue(rendered: str) -> list[str]:
    """Markup residue found in rendered help, as ``"what: text"``."""
    return [
        f"{what}: {m.group(0)!r}" for what, rx in RESIDUE.items() for m in rx.finditer(rendered)
    ]


def lost_parts(sources: list[str], rendered: str) -> list[str]:
    """Bracketed, angled, starred or backticked parts of the sources missing from the help."""
    flat = " ".join(rendered.split())
    return [
        part
        for text in sources
        for part in MARKUP_LIKE.findall(text)
        if " ".join(part.split()) not in flat
    ]


def _sources(cmd: Any) -> list[str]:
    texts = [cmd.help or ""]
    texts += [getattr(p, "help", None) or "" for p in cmd.params]
    return [t for t in texts if t]


def test_the_walk_finds_every_command() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"", "signals", "backtest", "sweep", "report", "convert", "tape", "tape info"} <= names
    assert len(names) >= 16


@pytest.mark.parametrize(
    ("path", "cmd"), COMMANDS, ids=[" ".join(p) or "pegbot" for p, _ in COMMANDS]
)
def test_help_reads_as_written(path: list[str], cmd: Any) -> None:
    result = runner.invoke(app, [*path, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout
    assert residue(result.stdout) == []
    assert lost_parts(_sources(cmd), result.stdout) == []


def test_signals_config_help_names_its_sections() -> None:
    out = runner.invoke(app, ["signals", "scan", "--help"], terminal_width=100).stdout
    assert SIGNALS_CONFIG_HELP in out


def test_the_checks_catch_rich_markup_eating_brackets() -> None:
    # The original bug, rebuilt: a Rich-markup app with the signals command's help text.
    demo = typer.Typer(rich_markup_mode="rich")

    @demo.command()
    def signals(config: Annotated[str, typer.Option(help=SIGNALS_CONFIG_HELP)] = "") -> None:
        """Run the signaler."""

    out = runner.invoke(demo, ["--help"], terminal_width=100).stdout
    assert "TOML with , , ." in out
    assert residue(out)
    assert lost_parts([SIGNALS_CONFIG_HELP], out) == ["[costs]", "[signals]", "[fair]"]

"""``python -m pegbot``: the same as the ``pegbot`` command."""

from pegbot.cli import main

main()

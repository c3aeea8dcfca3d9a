"""The backtester: the live bot's Strategy, Risk and Reconciler on recorded books.

Rooms inside:

* :mod:`~pegbot.backtest.core` — the compiled (numba) replay core: exchange-side and local
  books, the wake-up timer, returning to Python only when a decision or one of our orders
  can be affected;
* :mod:`~pegbot.backtest.engine` — the shell: the replay loop, decisions, the reconciler's
  contract, the shell's view of orders and inventory;
* :mod:`~pegbot.backtest.venue` — SimVenue: latency, :class:`pegbot.matching.FillEngine`
  fills, the venue's account;
* :mod:`~pegbot.backtest.book` — the strategy's read-only view of the dense book;
* :mod:`~pegbot.backtest.scenario` — TOML scenarios and ``--set`` overrides;
* :mod:`~pegbot.backtest.results` / :mod:`~pegbot.backtest.report` — tables, summary, HTML;
* :mod:`~pegbot.backtest.sweep` — grids and optuna over any ``concurrent.futures`` executor;
* :mod:`~pegbot.backtest.cli` — ``pegbot backtest``, ``pegbot report``, ``pegbot sweep``.

The simulator (:mod:`pegbot.sim`) and the backtester share :mod:`pegbot.matching` and never
import each other.
"""

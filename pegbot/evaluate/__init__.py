"""``pegbot evaluate``: the real bot against a scripted market, measured from the exchange.

A scenario (:mod:`pegbot.evaluate.scenario`) scripts the simulator's crowd, the official rate
and faults; the harness (:mod:`pegbot.evaluate.harness`) runs it with the bot as a separate
``pegbot run`` process, the observer (:mod:`pegbot.evaluate.observer`) records what the
exchange saw as scorecard events, and :mod:`pegbot.scorecard` scores them; the targets
(:mod:`pegbot.evaluate.targets`) say pass or fail, the report draws it.
"""

from .evaluation import Evaluation, evaluate
from .harness import RunResult, run_scenario
from .scenario import Scenario, ScenarioError, load_scenario
from .targets import Check, check_targets

__all__ = [
    "Check",
    "Evaluation",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "check_targets",
    "evaluate",
    "load_scenario",
    "run_scenario",
]

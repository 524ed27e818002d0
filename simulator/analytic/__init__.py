"""The closed-form evaluator (:mod:`simulator.analytic.closed_form`): the same cost tables as the engine,
first-come-first-served without contention, in closed form (fast enough for design-space sweeps)."""
from simulator.analytic.closed_form import evaluate, evaluate_variants

__all__ = ["evaluate", "evaluate_variants"]

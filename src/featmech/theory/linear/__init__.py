r"""The two-layer linear network f(x) = κUWx on m-dimensional inputs and c outputs, at any width (docs/theory.md §8).

- :mod:`~featmech.theory.linear.gram` — the Gram matrix of an init, its exact Wishart sampler, the reduction
  to width r ≤ c+m;
- :mod:`~featmech.theory.linear.model` — moments, hyperparameters, observables (:class:`LinearState`);
- :mod:`~featmech.theory.linear.flow` — gradient flow (:func:`solve`, :func:`solve_gram`);
- :mod:`~featmech.theory.linear.train` — GD / SGD / momentum / weight decay (:func:`simulate`,
  :func:`simulate_gram`).
"""

from featmech.theory.linear.flow import AUTO_LSODA_MAX, METHODS, LinearSolution, solve, solve_gram
from featmech.theory.linear.gram import LinearGram, gram_of, reduce, sample_gram
from featmech.theory.linear.model import LinearState
from featmech.theory.linear.train import LinearSimResult, draw_batches, simulate, simulate_gram

__all__ = ["AUTO_LSODA_MAX", "LinearGram", "LinearSolution", "LinearSimResult", "LinearState", "METHODS",
           "draw_batches", "gram_of", "reduce", "sample_gram", "simulate", "simulate_gram", "solve", "solve_gram"]
